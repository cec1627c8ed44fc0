//! The packaging check in `cargo xtask ci`: every crate meant to be linked or installed packages,
//! so `cargo install leakscope-cli` (the demo included) and `leakscope = "…"` can work from the
//! registry.
//!
//! Which crates are meant for the registry is read from `cargo metadata` (`publish` not set to
//! `false`). For those, it checks what the registry needs of a manifest (a description and a
//! license), that no one of them depends on a crate that cannot be published (what once kept
//! `leakscope-cli` off the registry: it needed the unpublishable UI and zoo crates), and then
//! runs `cargo package --no-verify` on all of them at once: cargo resolves each crate's
//! dependencies on the others against the crates it is packaging, as a registry would, and writes
//! the `.crate` files to `target/package/`. `--no-verify` skips compiling each package again from
//! its tarball; the workspace's own build and tests compile the same sources.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs the check with `cargo` in `root`.
pub(crate) fn check(cargo: &str, root: &Path) -> Result<()> {
    println!("==> package: every publishable crate packages");
    let metadata = metadata(cargo, root)?;
    let crates = publishable(&metadata)?;
    println!("    {}", crates.join(", "));
    let mut args = vec!["package", "--no-verify", "--allow-dirty"];
    for name in &crates {
        args.extend(["-p", name]);
    }
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(root)
        .status()
        .context("failed to run cargo package")?;
    if !status.success() {
        bail!("cargo package failed ({status})");
    }
    Ok(())
}

/// The flags a registry install needs for the demo to see everything (`leakscope doctor` exit 0):
/// the instrumentation behind `tokio_unstable`, frame pointers for wait capture and CPU stacks,
/// and line tables for `file:line`. The workspace sets them in `.cargo/config.toml` and its root
/// manifest; a crate from the registry carries neither, so the install line gives them.
pub(crate) const INSTALL_ENV: [(&str, &str); 2] = [
    ("RUSTFLAGS", "--cfg tokio_unstable -C force-frame-pointers=yes"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only"),
];

/// `cargo xtask package --install`: packages every publishable crate, then installs
/// `leakscope-cli` from its packaged tarball exactly as `cargo install leakscope-cli` would from
/// the registry (in a directory outside the workspace, so none of its configuration applies, with
/// [`INSTALL_ENV`]), its sibling crates taken from their tarballs too (`[patch.crates-io]`, since
/// they are not on crates.io yet). Then the installed binary runs its demo's zoo headless and
/// `leakscope doctor` and `leakscope snapshot` against it: doctor must see everything and the
/// snapshot must name leaks. Several minutes (a cold release build); not part of `ci`.
pub(crate) fn install(cargo: &str, root: &Path) -> Result<()> {
    check(cargo, root)?;
    let metadata = metadata(cargo, root)?;
    let crates = publishable(&metadata)?;
    let version = |name: &str| -> Result<String> {
        metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["version"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("no version for {name}"))
    };
    // The unpacked crates and the directory cargo runs in lie outside the workspace, as a
    // registry's would: neither its .cargo/config.toml nor its root manifest may help.
    let outside = std::env::temp_dir().join("leakscope-install-check");
    let sources = outside.join("src");
    if sources.exists() {
        std::fs::remove_dir_all(&sources).context("clearing the unpacked crates")?;
    }
    std::fs::create_dir_all(&sources)?;
    let work = root.join("target/install-check");
    let mut patches = Vec::new();
    let mut cli = None;
    for name in &crates {
        let dir = format!("{name}-{}", version(name)?);
        let tarball = root.join("target/package").join(format!("{dir}.crate"));
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&sources)
            .status()
            .context("failed to run tar")?;
        if !status.success() {
            bail!("tar could not unpack {}", tarball.display());
        }
        let path = sources.join(&dir);
        if name == "leakscope-cli" {
            cli = Some(path);
        } else {
            patches.push(format!("patch.crates-io.{name}.path={:?}", path.display().to_string()));
        }
    }
    let cli = cli.context("leakscope-cli is not among the publishable crates")?;
    let bin_root = work.join("root");
    let mut command = Command::new(cargo);
    command
        .arg("install")
        .arg("--path")
        .arg(&cli)
        .arg("--root")
        .arg(&bin_root)
        .arg("--target-dir")
        .arg(work.join("build"))
        .current_dir(&outside)
        .envs(INSTALL_ENV)
        .env_remove("CARGO_TARGET_DIR");
    for patch in &patches {
        command.arg("--config").arg(patch);
    }
    println!("==> install: leakscope-cli from its packaged crate, from {}", outside.display());
    for (key, value) in INSTALL_ENV {
        println!("    {key}={value:?}");
    }
    let started = Instant::now();
    let status = command.status().context("failed to run cargo install")?;
    if !status.success() {
        bail!("cargo install failed ({status})");
    }
    println!("    built in {:.0} s", started.elapsed().as_secs_f64());
    demo_check(&bin_root.join("bin/leakscope"))
}

/// The installed binary's demo zoo, headless, then `doctor` and `snapshot` against it.
fn demo_check(leakscope: &Path) -> Result<()> {
    println!("==> install: {} demo, doctor, snapshot", leakscope.display());
    let mut demo = Command::new(leakscope)
        .args(["demo", "--serve", "--bind", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to start the installed demo")?;
    let result = (|| {
        let stdout = demo.stdout.take().context("the demo's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("agent="))
            .with_context(|| format!("the demo did not announce its agent: {line:?}"))?
            .to_owned();
        let run = |args: &[&str]| -> Result<(bool, String)> {
            let out = Command::new(leakscope).args(args).output()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            Ok((out.status.success(), text))
        };
        let (ok, doctor) = run(&["doctor", &addr])?;
        print!("{doctor}");
        if !ok {
            bail!("doctor found something missing in the installed demo");
        }
        let (ok, snapshot) = run(&["snapshot", &addr, "--wait", "10s"])?;
        let findings = snapshot.lines().find(|l| l.starts_with("FINDINGS")).unwrap_or_default();
        println!("    snapshot: {findings}");
        if !ok || !findings.contains("leak") {
            bail!("the installed demo's snapshot named no leak:\n{snapshot}");
        }
        Ok(())
    })();
    drop(demo.stdin.take());
    let _ = demo.kill();
    let _ = demo.wait();
    result
}

/// `cargo metadata --no-deps` of the workspace at `root`.
pub(crate) fn metadata(cargo: &str, root: &Path) -> Result<Value> {
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("failed to run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).context("failed to read cargo metadata's output")
}

/// The workspace's publishable crates, in metadata order; an error naming every manifest problem
/// that would keep one of them off the registry.
fn publishable(metadata: &Value) -> Result<Vec<String>> {
    let packages = metadata["packages"].as_array().context("cargo metadata has no packages")?;
    let is_publishable = |package: &Value| {
        // `publish = false` is an empty list; absent (null) means any registry.
        package["publish"].as_array().is_none_or(|registries| !registries.is_empty())
    };
    let name = |package: &Value| package["name"].as_str().unwrap_or_default().to_owned();
    let private: Vec<String> = packages.iter().filter(|p| !is_publishable(p)).map(name).collect();
    let mut problems = Vec::new();
    let mut crates = Vec::new();
    for package in packages.iter().filter(|p| is_publishable(p)) {
        let crate_name = name(package);
        for field in ["description", "license"] {
            if package[field].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{crate_name} has no `{field}`"));
            }
        }
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            // Dev-dependencies are stripped from a package; build and normal ones are not.
            if dependency["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep = dependency["name"].as_str().unwrap_or_default();
            if private.iter().any(|p| p == dep) {
                problems.push(format!("{crate_name} depends on {dep}, which has publish = false"));
            }
        }
        crates.push(crate_name);
    }
    if !problems.is_empty() {
        bail!("crates cannot be published: {}", problems.join("; "));
    }
    Ok(crates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(name: &str, publish: Value, deps: &[(&str, Option<&str>)]) -> Value {
        let dependencies: Vec<Value> =
            deps.iter().map(|(name, kind)| json!({ "name": name, "kind": kind })).collect();
        json!({
            "name": name,
            "publish": publish,
            "description": "d",
            "license": "MIT",
            "dependencies": dependencies,
        })
    }

    fn check(packages: Vec<Value>, expected: Result<&[&str], &str>) {
        let got = publishable(&json!({ "packages": packages })).map_err(|err| err.to_string());
        let expected = expected.map(|names| names.iter().map(|n| n.to_string()).collect());
        assert_eq!(got, expected.map_err(str::to_owned));
    }

    #[test]
    fn publishable_crates_and_what_keeps_them_off_the_registry() {
        check(
            vec![
                package("cli", Value::Null, &[("tui", None), ("insta", Some("dev"))]),
                package("tui", Value::Null, &[]),
                package("bench", json!([]), &[("cli", None)]),
                package("tests", json!([]), &[]),
            ],
            Ok(&["cli", "tui"]),
        );
        check(
            vec![package("cli", Value::Null, &[("tui", None)]), package("tui", json!([]), &[])],
            Err("crates cannot be published: cli depends on tui, which has publish = false"),
        );
        // A private crate only the tests use is fine.
        check(
            vec![
                package("cli", Value::Null, &[("zoo", Some("dev"))]),
                package("zoo", json!([]), &[]),
            ],
            Ok(&["cli"]),
        );
        let mut bare = package("agent", json!(["crates-io"]), &[]);
        bare["description"] = Value::Null;
        bare["license"] = json!("");
        check(
            vec![bare],
            Err("crates cannot be published: agent has no `description`; agent has no `license`"),
        );
    }
}
