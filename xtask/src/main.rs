//! The project's own chores, run as `cargo xtask <command>` (matklad's cargo-xtask pattern).

mod bench;
mod ci;
mod codegen;
mod deps;
mod docs;
mod package;
mod tools;

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
  package --install   package every publishable crate, install leakscope-cli from its
                      packaged crate as a registry user would (outside the workspace, with the
                      README's install flags), and check its demo with doctor and snapshot
                      (several minutes: a cold release build)
  tools               install what the tests run when it is missing: Go's toolchain for
                      `go tool pprof` (Debian's golang-go), `xmllint` for the JUnit
                      schemas (Debian's libxml2-utils) and `man` for the man page
                      (Debian's man-db); needs root
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
        ["package", "--install"] => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            package::install(&cargo, &workspace_root())
        }
        ["tools"] => tools::ensure_go()
            .and_then(|()| tools::ensure_xmllint())
            .and_then(|()| tools::ensure_man()),
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
