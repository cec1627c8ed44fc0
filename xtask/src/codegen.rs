//! `cargo xtask codegen [--check]`: generate leakscope-proto's Rust code with the protoc binary
//! vendored from crates.io, so that building the workspace never needs `protoc`.

use anyhow::{Context, Result, bail};
use std::fs;

/// Generated files, relative to the proto crate, that `--check` compares.
const GENERATED: &[&str] = &["src/generated/leakscope.v1.rs"];

pub(crate) fn run(check: bool) -> Result<()> {
    let crate_dir = crate::workspace_root().join("crates/leakscope-proto");
    let out = tempdir()?;
    let protoc =
        protoc_bin_vendored::protoc_bin_path().context("failed to find the vendored protoc")?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    // Boxed: most tasks have no spawner span, and a client holds a million `Task`s; inline, the
    // field took 40 of a task record's 216 bytes.
    config.boxed(".leakscope.v1.Task.spawner_span");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .out_dir(&out)
        .compile_with_config(
            config,
            &[crate_dir.join("proto/leakscope/v1/agent.proto")],
            &[crate_dir.join("proto")],
        )
        .context("failed to generate code from agent.proto")?;

    let mut stale = Vec::new();
    for rel in GENERATED {
        let file = std::path::Path::new(rel).file_name().expect("generated paths name files");
        let fresh = fs::read_to_string(out.join(file))
            .with_context(|| format!("protoc did not produce {}", file.to_string_lossy()))?;
        let committed_path = crate_dir.join(rel);
        let committed = fs::read_to_string(&committed_path).unwrap_or_default();
        if committed != fresh {
            if check {
                stale.push(*rel);
            } else {
                fs::create_dir_all(committed_path.parent().expect("has a parent"))?;
                fs::write(&committed_path, fresh)?;
                println!("wrote crates/leakscope-proto/{rel}");
            }
        }
    }
    let _ = fs::remove_dir_all(&out);
    if !stale.is_empty() {
        bail!("generated code is stale: {}; run `cargo xtask codegen`", stale.join(", "));
    }
    if check {
        println!("generated code is up to date");
    }
    Ok(())
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("leakscope-codegen-{}", std::process::id()));
    fs::create_dir_all(&dir).context("failed to create a temporary directory")?;
    Ok(dir)
}
