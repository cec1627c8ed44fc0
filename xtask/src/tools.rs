//! `cargo xtask tools`: the outside programs the tests run, installed when missing: Go's
//! toolchain, whose `go tool pprof` the profile tests read every pprof file with (Debian's
//! `golang-go`), and `xmllint`, which the gate's tests validate every JUnit report with against
//! the schemas in `crates/leakscope-gate/tests/schemas/` (Debian's `libxml2-utils`). Both come
//! through apt, as root and without questions.

use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};

/// One outside program: how to ask its version and which Debian package provides it.
struct Tool {
    /// The program's name on PATH.
    program: &'static str,
    /// The arguments that make it print its version and exit 0.
    version_args: &'static [&'static str],
    /// The Debian package that installs it.
    package: &'static str,
}

/// Makes sure `go` runs, installing Debian's `golang-go` when it does not.
pub(crate) fn ensure_go() -> Result<()> {
    ensure(&Tool { program: "go", version_args: &["version"], package: "golang-go" })
}

/// Makes sure `xmllint` runs, installing Debian's `libxml2-utils` when it does not.
pub(crate) fn ensure_xmllint() -> Result<()> {
    ensure(&Tool { program: "xmllint", version_args: &["--version"], package: "libxml2-utils" })
}

/// Makes sure `man` runs (the CLI's man page is rendered by it in a test), installing Debian's
/// `man-db` when it does not.
pub(crate) fn ensure_man() -> Result<()> {
    ensure(&Tool { program: "man", version_args: &["--version"], package: "man-db" })
}

/// Makes sure `tool` runs, installing its package when it does not. `apt-get update` runs only
/// when the install fails (a fresh image has no package lists; a warm one needs no network for
/// it).
fn ensure(tool: &Tool) -> Result<()> {
    let Tool { program, package, .. } = *tool;
    if let Some(version) = version(tool) {
        println!("==> tools: {version}");
        return Ok(());
    }
    println!("==> tools: `{program}` is missing; installing Debian's {package}");
    if !is_root() {
        bail!(
            "`{program}` is missing and installing {package} needs root: run `sudo apt-get \
             install -y {package}`, or `cargo xtask tools` as root"
        );
    }
    if !apt_get(&["install", "-y", package])? {
        println!("==> tools: the install failed; updating the package lists and retrying");
        if !apt_get(&["update"])? {
            bail!("apt-get update failed");
        }
        if !apt_get(&["install", "-y", package])? {
            bail!("apt-get install -y {package} failed");
        }
    }
    match version(tool) {
        Some(version) => {
            println!("==> tools: installed {version}");
            Ok(())
        }
        None => bail!("{package} is installed but `{program}` still does not run"),
    }
}

/// The first line of the tool's version output, or `None` when it is not on PATH or does not
/// run.
fn version(tool: &Tool) -> Option<String> {
    let out = Command::new(tool.program)
        .args(tool.version_args)
        // Never let a `go` line in some go.mod ask for a toolchain download.
        .env("GOTOOLCHAIN", "local")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // `xmllint --version` writes to stderr, `go version` to stdout.
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    let text = String::from_utf8_lossy(&text);
    Some(text.lines().next().unwrap_or_default().trim().to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs `apt-get ARGS` without questions; whether it succeeded.
fn apt_get(args: &[&str]) -> Result<bool> {
    println!("==> tools: apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .context("failed to run apt-get (is this a Debian or Ubuntu system?)")?;
    Ok(status.success())
}
