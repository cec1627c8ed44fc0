//! README.md, followed literally. Its adoption section (`Cargo.toml`, `src/main.rs` and
//! `.cargo/config.toml`, each marked `<!-- readme-test: NAME -->`) is written out exactly as
//! shown into a new project beside a link to this repository (where the README's path
//! dependency points), built with its own target directory (`target/readme-app`, kept between
//! runs), run, and read with `leakscope doctor` and `leakscope snapshot`. The gate command the
//! README runs on the zoo runs as written too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{
    leakscope_binary, marked_line, output_text, start_up_line, workspace_root, zoo_binary,
};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

/// The fenced block right after `<!-- readme-test: NAME -->`, without its fences.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- readme-test: {name} -->");
    let mut found = readme.match_indices(&marker);
    let (at, _) = found.next().unwrap_or_else(|| panic!("README.md has no `{marker}`"));
    assert!(found.next().is_none(), "README.md has `{marker}` twice");
    let mut lines = readme[at + marker.len()..].lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().unwrap_or_default();
    assert!(fence.starts_with("```"), "`{marker}` is not followed by a code block: {fence:?}");
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    body.join("\n") + "\n"
}

/// Writes `contents` to `path` unless it already holds exactly that (so cargo's fingerprints
/// keep a rebuild small).
fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).expect("a directory");
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("writable");
    }
}

/// `<tmp>/leakscope-readme/{my-app, leakscope -> this repository}`, with the README's files.
fn project() -> PathBuf {
    let readme = readme();
    let root = std::env::temp_dir().join("leakscope-readme");
    let app = root.join("my-app");
    let link = root.join("leakscope");
    std::fs::create_dir_all(&root).expect("a directory");
    if std::fs::read_link(&link).ok().as_deref() != Some(workspace_root()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(workspace_root(), &link).expect("a link to the repository");
    }
    write(&app.join("Cargo.toml"), &block(&readme, "Cargo.toml"));
    write(&app.join("src/main.rs"), &block(&readme, "main.rs"));
    write(&app.join(".cargo/config.toml"), &block(&readme, "config.toml"));
    // The workspace's lock file, so the app builds the versions CI tested, with no index update.
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).expect("Cargo.lock");
    if !app.join("Cargo.lock").exists() {
        write(&app.join("Cargo.lock"), &lock);
    }
    app
}

#[test]
fn the_adoption_snippet_builds_runs_and_answers_as_written() {
    let app = project();
    let target = workspace_root().join("target/readme-app");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(cargo)
        .args(["build", "--quiet", "--target-dir"])
        .arg(&target)
        // The app's own `.cargo/config.toml` must be all it takes.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(&app)
        .output()
        .expect("cargo runs");
    assert!(build.status.success(), "README's app does not build: {}", output_text(&build));

    leakscope_binary();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(target.join("debug/my-app"))
        .env("LEAKSCOPE_BIND", &addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the app starts");
    let line = start_up_line(&mut child);
    let guard = KillOnDrop(child);
    assert_eq!(line.trim(), "my-app: running");

    // The README's three files give the agent everything (in a debug build too: full debug info
    // carries the line tables).
    let doctor = Command::new(leakscope_binary()).args(["doctor", &addr]).output().unwrap();
    assert_eq!(doctor.status.code(), Some(0), "{}", output_text(&doctor));

    let snapshot = Command::new(leakscope_binary())
        .args(["snapshot", &addr, "--wait", "1s", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(snapshot.status.code(), Some(0), "{}", output_text(&snapshot));
    let report: Value = serde_json::from_slice(&snapshot.stdout).expect("JSON");
    // The four workers, at the README's `tokio::spawn` line of src/main.rs.
    let spawn_line = block(&readme(), "main.rs")
        .lines()
        .position(|l| l.trim_start().starts_with("tokio::spawn("))
        .expect("the snippet spawns")
        + 1;
    let workers: u64 = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| {
            g["location"]
                .as_str()
                .is_some_and(|l| l.ends_with(&format!("src/main.rs:{spawn_line}:9")))
        })
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    assert_eq!(workers, 4, "{}", report["groups"]);
    drop(guard);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The README's shell command that contains `needle`, its `\` continuations joined.
fn command(needle: &str) -> String {
    let readme = readme();
    let lines: Vec<&str> = readme.lines().collect();
    let start = lines.iter().position(|l| l.contains(needle)).expect("README shows the command");
    let mut command = String::new();
    for line in &lines[start..] {
        match line.trim_end().strip_suffix('\\') {
            Some(part) => command.push_str(part),
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    command
}

#[test]
fn the_gate_starts_the_zoo_as_the_readme_shows() {
    // The README runs both from target/release after its set-up command.
    let release = workspace_root().join("target/release");
    assert_eq!(zoo_binary(), release.join("leakscope-zoo"), "CARGO_TARGET_DIR moves the binaries");
    assert_eq!(leakscope_binary(), release.join("leakscope"));
    let gate = command("--scenario unbounded-spawn");
    assert!(gate.starts_with("./target/release/leakscope gate --run "), "{gate}");
    let output = Command::new("sh")
        .args(["-c", &gate])
        .current_dir(workspace_root())
        .env_remove("LEAKSCOPE_BIND")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("sh runs");
    let text = output_text(&output);
    // The zoo started on the port the gate handed it, and its leak fails the gate at its line.
    assert_eq!(output.status.code(), Some(1), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("leakscope gate: FAIL"), "{text}");
    let spawn = marked_line(
        "crates/leakscope-zoo/src/scenarios/unbounded_spawn.rs",
        "zoo:spawn unbounded-spawn",
    );
    assert!(stdout.contains(&format!("unbounded_spawn.rs:{spawn}:")), "{text}");
    assert!(
        stdout.lines().any(|l| l.trim().starts_with("build: sees everything")),
        "the gate's text names what the build lets it see: {text}"
    );
}
