//! What adding leakscope costs an app's build, beside console-subscriber: two minimal apps
//! (tokio with `rt-multi-thread` and `macros`, and one line: `leakscope::init()` or
//! `console_subscriber::init()`) generated in a temporary directory, leakscope by a path
//! dependency on this workspace's crate with its default features, console-subscriber from the
//! registry with its own. Each is resolved with this workspace's lockfile (the same versions of
//! the crates they share) and built with `--cfg tokio_unstable`, as both need.
//!
//! Two figures per app: the crates in its dependency tree (`cargo tree -e normal`, unique
//! `name version` pairs, the app itself left out) and the wall time of a cold
//! `cargo build --release` (a fresh target directory; crates already downloaded). `--quick` counts
//! the crates and leaves the builds out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One app's figures.
pub(super) struct AppBuild {
    pub(super) title: &'static str,
    /// Crates in its normal dependency tree, or why they were not counted.
    pub(super) crates: Result<usize, String>,
    /// Its cold release build's wall time; `None` when not measured (`--quick`).
    pub(super) cold_build: Option<Result<Duration, String>>,
}

/// The apps, by title, dependency line and the call in `main`.
const APPS: [(&str, &str, &str); 2] = [
    ("app + leakscope", "leakscope = { path = \"{root}/crates/leakscope\" }", "leakscope::init();"),
    ("app + console-subscriber", "console-subscriber = \"0.5\"", "console_subscriber::init();"),
];

/// A cold build still running after this is stopped and reported as failed.
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// Generates, counts and (unless `quick`) builds both apps.
pub(super) fn run(root: &Path, quick: bool) -> Vec<AppBuild> {
    let base = std::env::temp_dir().join(format!("leakscope-bench-apps-{}", std::process::id()));
    let builds = APPS
        .iter()
        .enumerate()
        .map(|(i, &(title, dependency, call))| {
            let dir = base.join(format!("app{i}"));
            let made = generate(root, &dir, &dependency.replace("{root}", &root_str(root)), call);
            match made {
                Err(err) => AppBuild {
                    title,
                    crates: Err(err.clone()),
                    cold_build: (!quick).then_some(Err(err)),
                },
                Ok(()) => {
                    eprintln!("bench: {title}: counting crates");
                    let crates = count_crates(&dir);
                    let cold_build = (!quick).then(|| {
                        eprintln!("bench: {title}: cold `cargo build --release`");
                        cold_build(&dir)
                    });
                    AppBuild { title, crates, cold_build }
                }
            }
        })
        .collect();
    let _ = std::fs::remove_dir_all(&base);
    builds
}

fn root_str(root: &Path) -> String {
    root.display().to_string().replace('\\', "/")
}

/// Writes the app's manifest, `main.rs` and this workspace's lockfile into `dir`.
fn generate(root: &Path, dir: &Path, dependency: &str, call: &str) -> Result<(), String> {
    let src = dir.join("src");
    std::fs::create_dir_all(&src)
        .map_err(|e| format!("failed to create {}: {e}", src.display()))?;
    let manifest = format!(
        "[package]\nname = \"bench-app\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
         [dependencies]\n{dependency}\n\
         tokio = {{ version = \"1.54\", features = [\"rt-multi-thread\", \"macros\"] }}\n\n\
         # Not part of any enclosing workspace.\n[workspace]\n"
    );
    let main = format!(
        "#[tokio::main]\nasync fn main() {{\n    {call}\n    tokio::spawn(async {{}}).await.unwrap();\n}}\n"
    );
    let write = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).map_err(|e| format!("failed to write {}: {e}", path.display()))
    };
    write(dir.join("Cargo.toml"), &manifest)?;
    write(src.join("main.rs"), &main)?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))
        .map_err(|e| format!("failed to copy the workspace's Cargo.lock: {e}"))?;
    Ok(())
}

/// `cargo` for a generated app: its own target directory and flags, nothing inherited from the
/// cargo running xtask.
fn cargo(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("RUSTFLAGS", "--cfg tokio_unstable")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdin(Stdio::null());
    cmd
}

fn count_crates(dir: &Path) -> Result<usize, String> {
    let out = cargo(dir)
        .args(["tree", "-e", "normal", "--prefix", "none"])
        .output()
        .map_err(|e| format!("failed to run cargo tree: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("cargo tree failed: {}", stderr.lines().next().unwrap_or_default()));
    }
    // The app itself is the first line.
    Ok(crate::deps::tree_count(&String::from_utf8_lossy(&out.stdout)).saturating_sub(1))
}

fn cold_build(dir: &Path) -> Result<Duration, String> {
    let started = Instant::now();
    let mut child = cargo(dir)
        .args(["build", "--release", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to run cargo build: {e}"))?;
    let stderr = child.stderr.take();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stderr {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        }
        text
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < BUILD_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} min", BUILD_TIMEOUT.as_secs() / 60));
            }
            Err(e) => return Err(format!("failed to wait for cargo build: {e}")),
        }
    };
    let elapsed = started.elapsed();
    let stderr = drain.join().unwrap_or_default();
    if !status.success() {
        let first = stderr.lines().find(|l| l.starts_with("error")).unwrap_or("cargo failed");
        return Err(first.trim().to_owned());
    }
    Ok(elapsed)
}

/// The report's section on what each app's build costs.
pub(super) fn section(builds: &[AppBuild]) -> String {
    let mut out = String::from(
        "## Adding leakscope to an app's build\n\n\
         Two minimal apps, tokio (`rt-multi-thread`, `macros`) and one line in `main`: \
         `leakscope::init()` (this workspace's crate, default features) or \
         `console_subscriber::init()` (crates.io, default features). Crates: unique crates in \
         `cargo tree -e normal`, the app left out. Cold build: `cargo build --release` in a fresh \
         target directory with `--cfg tokio_unstable`, crates already downloaded, on this \
         machine.\n\n| app | crates | cold release build |\n|---|---:|---:|\n",
    );
    for build in builds {
        let crates = match &build.crates {
            Ok(n) => n.to_string(),
            Err(err) => format!("failed: {}", err.replace('|', "/")),
        };
        let cold = match &build.cold_build {
            None => "not measured (`--quick`)".to_owned(),
            Some(Ok(time)) => format!("{:.0} s", time.as_secs_f64()),
            Some(Err(err)) => format!("failed: {}", err.replace('|', "/")),
        };
        let _ = writeln!(out, "| {} | {crates} | {cold} |", build.title);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_shows_counts_times_and_failures() {
        let builds = [
            AppBuild {
                title: "app + leakscope",
                crates: Ok(91),
                cold_build: Some(Ok(Duration::from_secs_f64(212.4))),
            },
            AppBuild {
                title: "app + console-subscriber",
                crates: Err("cargo tree failed: a|b".into()),
                cold_build: None,
            },
        ];
        let text = section(&builds);
        assert!(text.contains("| app + leakscope | 91 | 212 s |"), "{text}");
        assert!(
            text.contains(
                "| app + console-subscriber | failed: cargo tree failed: a/b | not measured (`--quick`) |"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_apps_name_their_dependency_and_call() {
        let root = Path::new("/w");
        let dir = std::env::temp_dir().join(format!("leakscope-bench-gen-{}", std::process::id()));
        let (_, dependency, call) = APPS[0];
        // The lockfile copy fails for a made-up root; the manifest and main are written first.
        let made = generate(root, &dir, &dependency.replace("{root}", &root_str(root)), call);
        assert!(made.is_err_and(|e| e.contains("Cargo.lock")));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("leakscope = { path = \"/w/crates/leakscope\" }"), "{manifest}");
        assert!(manifest.contains("[workspace]"), "{manifest}");
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        assert!(main.contains("leakscope::init();") && main.contains("#[tokio::main]"), "{main}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
