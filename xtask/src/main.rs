//! The project's own chores, run as `cargo xtask <command>` (matklad's cargo-xtask pattern).

mod bench;
mod ci;
mod codegen;
mod docs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  bench [--quick]     measure what the instrumentation costs against plain tokio and
                      console-subscriber and write docs/benchmarks.md (about 10 minutes,
                      20 on the first run, which installs tokio-console);
                      --quick is a ~1 minute smoke run that leaves the docs alone
  ci                  every check and test CI runs (what .ci/run calls)
  codegen [--check]   regenerate leakscope-proto's Rust code from its .proto files;
                      --check fails if the committed code is stale
  docs [leak-patterns|tui]
                      rewrite the real-output blocks of docs/leak-patterns.md (a snapshot of
                      each zoo scenario) and docs/tui.md (the UI's screens), or one of them
                      (about 2 minutes)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["bench"] => bench::run(false),
        ["bench", "--quick"] => bench::run(true),
        ["ci"] => ci::run(),
        ["docs"] => docs::run(None),
        ["docs", which] => docs::run(Some(which)),
        ["codegen"] => codegen::run(false),
        ["codegen", "--check"] => codegen::run(true),
        ["-h" | "--help" | "help"] => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found from this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
