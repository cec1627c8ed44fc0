//! `leakscope doctor` against three builds of the zoo: the full release build, one without
//! `--cfg tokio_unstable`, and one without frame pointers. The two variants are built with their
//! own `RUSTFLAGS` into their own target directories (`target/doctor-stable`,
//! `target/doctor-nofp`), so the shared build cache is not thrashed and later runs rebuild only
//! what changed. Also the snapshot's text on stable tokio: the runtimes' live count and the
//! build line, never `tasks: 0 live`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

use crate::support::{
    agent_addr, leakscope_binary, output_text, release_binary, start_up_line, workspace_root,
    zoo_binary,
};

/// Builds the zoo's release binary with `rustflags` into `target/<dir>`; one build at a time, so
/// the variants do not fight over two cores.
fn zoo_variant(dir: &str, rustflags: &str) -> PathBuf {
    static BUILDS: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = workspace_root().join("target").join(dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "leakscope-zoo", "--target-dir"])
        .arg(&target)
        .env("RUSTFLAGS", rustflags)
        // What is checked is the flags, not the speed: less optimisation and more codegen units
        // keep a cold build of each variant to a few minutes (line tables stay, as in release).
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "64")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(workspace_root())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building the zoo into {dir}: {}", output_text(&output));
    target.join("release").join("leakscope-zoo")
}

/// A zoo process on a free port; killed on drop.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Running {
    fn start(binary: &Path, scenario: &str) -> Running {
        // Built first: a build of minutes must not eat into the zoo's `--duration`.
        leakscope_binary();
        let mut child = Command::new(binary)
            .args(["--scenario", scenario, "--rate", "50", "--duration", "120"])
            .env("LEAKSCOPE_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the zoo starts");
        let addr = agent_addr(&start_up_line(&mut child));
        Running { child, addr }
    }

    fn leakscope(&self, args: &[&str]) -> Output {
        Command::new(leakscope_binary())
            .args(args)
            .arg(self.addr.to_string())
            .output()
            .expect("leakscope runs")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Doctor's lines for `binary`, with its exit code.
fn doctor(binary: &Path) -> (Option<i32>, Vec<String>, String) {
    let zoo = Running::start(binary, "clean");
    let output = zoo.leakscope(&["doctor"]);
    let text = output_text(&output);
    let lines = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    (output.status.code(), lines, text)
}

/// The one line that starts with `status` and contains `what`.
fn line_of<'a>(lines: &'a [String], status: &str, what: &str, text: &str) -> &'a str {
    let found: Vec<&String> =
        lines.iter().filter(|l| l.starts_with(status) && l.contains(what)).collect();
    assert_eq!(found.len(), 1, "one `{status}` line with `{what}`:\n{text}");
    found[0]
}

/// The tokio requirement of the workspace's Cargo.toml (`tokio = { version = "1.54", ...`).
fn workspace_tokio_minimum() -> String {
    let manifest =
        std::fs::read_to_string(workspace_root().join("Cargo.toml")).expect("the manifest");
    let line =
        manifest.lines().find(|l| l.starts_with("tokio = ")).expect("the workspace declares tokio");
    line.split("version = \"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned()
}

#[test]
fn a_full_build_sees_everything_and_exits_zero() {
    let (code, lines, text) = doctor(zoo_binary());
    assert_eq!(code, Some(0), "{text}");
    assert!(lines[0].starts_with("leakscope doctor: leakscope-zoo (pid "), "{text}");
    line_of(&lines, "ok ", "built with --cfg tokio_unstable", &text);
    line_of(&lines, "ok ", "frame pointers present", &text);
    line_of(&lines, "ok ", "the binary has line tables", &text);
    line_of(&lines, "ok ", "task dumps: supported", &text);
    // The version the agent read from tokio's own line tables, and the minimum as Cargo.toml
    // states it.
    let minimum = workspace_tokio_minimum();
    let tokio = line_of(&lines, "ok ", "tokio 1.", &text);
    assert!(tokio.ends_with(&format!("(leakscope needs {minimum} or newer)")), "{text}");
    assert!(!lines.iter().any(|l| l.starts_with("MISSING") || l.starts_with("unknown")), "{text}");
    assert_eq!(lines.last().unwrap(), "leakscope sees everything this target offers", "{text}");
}

#[test]
fn without_tokio_unstable_doctor_gives_the_config_lines_and_snapshot_the_runtime_count() {
    let binary = zoo_variant("doctor-stable", "-C force-frame-pointers=yes");
    let (code, lines, text) = doctor(&binary);
    assert_eq!(code, Some(1), "{text}");
    let missing = line_of(&lines, "MISSING", "built without --cfg tokio_unstable", &text);
    assert!(
        missing.contains(
            r#"fix: in the app's .cargo/config.toml: [build] rustflags = ["--cfg", "tokio_unstable", "-C", "force-frame-pointers=yes"]"#
        ),
        "{text}"
    );
    line_of(&lines, "MISSING", "task dumps: unsupported, they need --cfg tokio_unstable", &text);
    line_of(&lines, "ok ", "frame pointers present", &text);
    line_of(&lines, "ok ", "the binary has line tables", &text);

    // The text snapshot: the live count the runtimes report, and the build line.
    let zoo = Running::start(&binary, "unbounded-spawn");
    let output = zoo.leakscope(&["snapshot", "--wait", "2s"]);
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("tasks: 0 live"), "{text}");
    let tasks = stdout.lines().find(|l| l.trim_start().starts_with("tasks: ")).expect(&text);
    let live: u64 = tasks
        .trim_start()
        .strip_prefix("tasks: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {tasks:?}"));
    // unbounded-spawn keeps a task per request alive, 50 a second, plus the load's own tasks.
    assert!(live >= 20, "{text}");
    assert!(tasks.contains("live (runtime metrics)"), "{text}");
    assert!(
        stdout.lines().any(|l| l.trim()
            == "build: missing tokio_unstable, task dumps; `leakscope doctor` gives the fixes"),
        "{text}"
    );
}

#[test]
fn without_frame_pointers_doctor_names_them_and_their_flag() {
    let binary = zoo_variant("doctor-nofp", "--cfg tokio_unstable -C force-frame-pointers=no");
    let (code, lines, text) = doctor(&binary);
    assert_eq!(code, Some(1), "{text}");
    let missing = line_of(&lines, "MISSING", "stack walks: no frame pointers", &text);
    assert!(missing.contains(r#"add "-C", "force-frame-pointers=yes" to the rustflags"#), "{text}");
    line_of(&lines, "ok ", "built with --cfg tokio_unstable", &text);
    line_of(&lines, "ok ", "the binary has line tables", &text);
    assert_eq!(lines.iter().filter(|l| l.starts_with("MISSING")).count(), 1, "{text}");
}

/// An app that installed its own global subscriber before `leakscope::init()`
/// (`tests/src/bin/adopt-late-init.rs`): tokio's instrumentation goes to the app's subscriber,
/// and doctor says so with the composition that fixes it.
#[test]
fn another_subscriber_first_is_named_with_the_layer_fix() {
    let binary = release_binary("leakscope-tests", "adopt-late-init");
    leakscope_binary();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(binary)
        .env("LEAKSCOPE_BIND", &addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the app starts");
    let line = start_up_line(&mut child);
    let app = Running { child, addr: addr.parse().unwrap() };
    assert_eq!(line.trim(), "adopt-late-init: ready");
    let output = app.leakscope(&["doctor"]);
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let lines: Vec<String> =
        String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    let missing = line_of(&lines, "MISSING", "another tracing subscriber was installed", &text);
    assert!(missing.contains("leakscope::layer()"), "{text}");
}

#[test]
fn an_unreachable_target_is_exit_two_with_one_line() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = Command::new(leakscope_binary())
        .args(["doctor", &format!("127.0.0.1:{port}")])
        .output()
        .expect("leakscope runs");
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(output.stdout.is_empty(), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{text}");
    assert!(stderr.starts_with("leakscope: "), "{text}");
}
