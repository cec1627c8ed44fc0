//! `cargo xtask ci`: every check and test, in the order that fails fastest. `.ci/run` calls this,
//! and so does a developer before pushing.

use anyhow::{Context, Result, bail};
use std::process::Command;

pub(crate) fn run() -> Result<()> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let step = |name: &str, args: &[&str], env: &[(&str, &str)]| -> Result<()> {
        println!("==> {name}: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(args)
            // A run builds everything once: incremental state (about 2 GB of a clean clone's 10)
            // only costs disk, and one CI run failed for want of it.
            .env("CARGO_INCREMENTAL", "0")
            .envs(env.iter().copied())
            .current_dir(&root)
            .status()
            .with_context(|| format!("failed to run cargo for {name}"))?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        Ok(())
    };

    step("format", &["fmt", "--all", "--", "--check"], &[])?;
    step("generated code", &["xtask", "codegen", "--check"], &[])?;
    step("lints", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    invariant_no_ui_in_agent(&cargo, &root)?;
    crate::deps::check(&cargo, &root)?; // No unused dependency; the agent's tree within budget.
    crate::package::check(&cargo, &root)?; // Every publishable crate packages.
    // The end-to-end tests run the zoo's release build, as the issue asks: tokio's dumps lose
    // inlined frames there, and the tests must hold anyway.
    step("zoo (release)", &["build", "--release", "-p", "leakscope-zoo"], &[])?;
    crate::tools::ensure_go()?; // `go tool pprof` reads every profile the tests write.
    crate::tools::ensure_xmllint()?; // `xmllint --schema` checks every JUnit report.
    crate::tools::ensure_man()?; // `man -l` renders the CLI's man page.
    // The end-to-end tests that compile targets of their own (the doctor's zoo without
    // tokio_unstable and without frame pointers, README's app) first, one at a time: minutes of
    // compiling beside them would starve the timing-sensitive tests of the full run, which then
    // repeats them against the finished builds in seconds.
    step(
        "end-to-end tests with builds of their own",
        &["test", "-p", "leakscope-tests", "--test", "e2e", "--", "doctor::", "readme::"],
        &[("RUST_TEST_THREADS", "1")],
    )?;
    step("tests", &["test", "--workspace"], &[])?;
    // The opt-in console-api interop: tokio-console attaches to the agent's port.
    step(
        "console feature",
        &["test", "-p", "leakscope", "--features", "console", "--test", "console"],
        &[],
    )?;
    // The agent must build and serve what stable tokio offers without --cfg tokio_unstable.
    // RUSTFLAGS replaces .cargo/config.toml's flags, so the frame pointers CPU profiles need (and
    // the agent's own CPU-profile test checks) are asked for again. With `testing`, whose check
    // has a stable form of its own.
    step(
        "agent without tokio_unstable",
        &["test", "-p", "leakscope", "--features", "testing", "--target-dir", "target/stable"],
        &[("RUSTFLAGS", "--cfg leakscope_ci_stable -C force-frame-pointers=yes")],
    )?;
    println!("==> all checks passed");
    Ok(())
}

/// Architecture invariant: the library apps link never depends on the terminal UI stack, nor on
/// the flame-graph renderer (the agent returns samples; the CLI draws them).
fn invariant_no_ui_in_agent(cargo: &str, root: &std::path::Path) -> Result<()> {
    println!("==> invariant: leakscope does not depend on ratatui, crossterm or inferno");
    let out = Command::new(cargo)
        .args(["tree", "-p", "leakscope", "-e", "normal", "--prefix", "none", "--all-features"])
        .current_dir(root)
        .output()
        .context("failed to run cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let ui: Vec<&str> = tree
        .lines()
        .filter(|line| {
            ["ratatui ", "crossterm ", "inferno "].iter().any(|name| line.starts_with(name))
        })
        .collect();
    if !ui.is_empty() {
        bail!("leakscope depends on the UI or rendering stack: {}", ui.join(", "));
    }
    Ok(())
}
