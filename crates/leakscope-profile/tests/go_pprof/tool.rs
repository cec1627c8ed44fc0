//! Running Go's own pprof offline and reading its reports: shared by this crate's tests
//! (`tests/go_pprof`) and the end-to-end tests (`tests/tests/e2e/profile.rs`, through `#[path]`).

use std::path::Path;
use std::process::Command;

/// What `go tool pprof <report> <file>` prints, offline: Go's home, caches and binary search path
/// are in `dir`. Go's toolchain must be installed (`cargo xtask tools`, which CI runs first);
/// without it this panics saying so.
pub(crate) fn run(dir: &Path, report: &str, file: &Path) -> String {
    let output = Command::new("go")
        .args(["tool", "pprof", report, "-nodecount=1000"])
        .arg(file)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GOPATH", dir.join("go"))
        .env("GOCACHE", dir.join("go-cache"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("PPROF_BINARY_PATH", dir.join("binaries"))
        .env("PPROF_TMPDIR", dir)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "failed to run `go tool pprof` ({err}): these tests need Go's toolchain; install \
                 it with `cargo xtask tools` (Debian's golang-go)"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "go tool pprof {report} {file:?} failed: {stderr}\n{stdout}");
    assert!(!stderr.contains("rror"), "go tool pprof {report} {file:?} complained: {stderr}");
    stdout
}

/// The node names of a `-top` report, in its order: the text after the five numeric columns.
pub(crate) fn top_nodes(top: &str) -> Vec<String> {
    top.lines()
        .skip_while(|line| !line.trim_start().starts_with("flat"))
        .skip(1)
        .filter_map(|line| {
            let mut rest = line.trim_start();
            for _ in 0..5 {
                rest = rest.split_once(char::is_whitespace)?.1.trim_start();
            }
            Some(rest.to_owned())
        })
        .collect()
}

/// The stacks of a `-traces` report, each leaf first, as pprof prints them: after a sample's
/// labels (`state:  idle`), its value and leaf (`1   wait: ...`), then a function a line.
pub(crate) fn traces(report: &str) -> Vec<Vec<String>> {
    report
        .split("-----------+-------------------------------------------------------")
        .skip(1)
        .map(|block| {
            let mut stack = Vec::new();
            for line in block.lines().map(str::trim).filter(|line| !line.is_empty()) {
                match line.split_once(char::is_whitespace) {
                    Some((value, leaf))
                        if stack.is_empty() && value.starts_with(|c: char| c.is_ascii_digit()) =>
                    {
                        stack.push(leaf.trim().to_owned());
                    }
                    _ if !stack.is_empty() => stack.push(line.to_owned()),
                    _ => {}
                }
            }
            stack
        })
        .filter(|stack| !stack.is_empty())
        .collect()
}
