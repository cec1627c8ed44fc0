//! Adopting leakscope in an app that has its own tracing (`tests/src/bin/adopt-*.rs`): with
//! `leakscope::layer()` in the app's subscriber, and with the app's subscriber carried by
//! `Builder::forward_to`, the app's fmt log lines still reach its output and the real `leakscope
//! snapshot` shows its tasks and names the planted leak at its line. An app that installs its own
//! subscriber first and then calls `leakscope::init()` gets one line of advice and keeps running.

use crate::support::{leakscope_binary, marked_line, output_text, release_binary};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// A running adoption app: its agent's address, its stdout lines as they come, and its stderr.
struct App {
    child: Child,
    addr: SocketAddr,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl App {
    fn start(bin: &str) -> App {
        let addr = free_addr();
        let mut child = Command::new(release_binary("leakscope-tests", bin))
            .env("LEAKSCOPE_BIND", addr.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the app starts");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = lines(child.stderr.take().expect("piped"));
        App { child, addr, stdout, stderr }
    }

    /// Reads stdout until a line contains `text`; panics after a minute.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no stdout line with {text:?}; saw {seen:?}; stderr {:?}", self.stderr_now());
    }

    /// The stderr lines printed so far.
    fn stderr_now(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    fn still_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A loopback port free right now (the app binds it through `LEAKSCOPE_BIND`, as users do).
fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("bound")
}

/// `leakscope snapshot ADDR --format json` watching a few seconds, stuck after 1 s.
fn snapshot(addr: SocketAddr) -> Value {
    let dir = std::env::temp_dir().join(format!("leakscope-e2e-adopt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let addr = addr.to_string();
    let args = ["snapshot", &addr, "--format", "json", "--wait", "3s", "--stuck-after", "1s"];
    let output = Command::new(leakscope_binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("leakscope runs");
    assert!(output.status.success(), "leakscope {args:?}: {}", output_text(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("not JSON ({err})"))
}

/// The app logs through its own subscriber, and the snapshot lists its tasks and names the
/// planted producers stuck in `send` at their spawn line.
fn check_adopted(bin: &str) {
    leakscope_binary();
    let app = App::start(bin);
    app.wait_for(&format!("{bin}: ready"));
    let logged = app.wait_for(&format!("{bin} planted its workers"));
    assert!(logged.contains("INFO") && logged.contains("stuck=3"), "not an fmt line: {logged}");
    app.wait_for(&format!("{bin} tick"));

    let report = snapshot(app.addr);
    let live = report["tasks"]["live"].as_u64().unwrap_or_default();
    assert!(live >= 3, "the snapshot shows {live} live tasks: {}", report["tasks"]);
    let file = format!("tests/src/bin/{bin}.rs");
    let line = marked_line(&file, "adopt: leak");
    let findings = report["findings"].as_array().expect("findings");
    let named = findings.iter().any(|f| {
        let location = f["location"].as_str().unwrap_or_default();
        let kinds = f["kinds"].as_array().map(Vec::as_slice).unwrap_or_default();
        location.contains(&format!("{file}:{line}:"))
            && kinds.iter().any(|k| k == "stuck")
            && f["count"].as_u64() == Some(3)
            && f["waiting_on"].to_string().contains("mpsc::Sender::send")
    });
    assert!(named, "no stuck finding for 3 tasks at {file}:{line}: {findings:#?}");

    // The app's logs kept flowing while it was read.
    app.wait_for(&format!("{bin} tick"));
    let stderr = app.stderr_now();
    assert!(stderr.iter().all(|l| !l.contains("leakscope")), "the agent complained: {stderr:?}");
}

#[test]
fn an_app_composing_the_layer_keeps_its_logs_and_is_read() {
    check_adopted("adopt-layer");
}

#[test]
fn an_app_forwarding_its_subscriber_keeps_its_logs_and_is_read() {
    check_adopted("adopt-forward");
}

#[test]
fn init_after_the_apps_own_subscriber_advises_in_one_line_and_the_app_runs_on() {
    let mut app = App::start("adopt-late-init");
    app.wait_for("adopt-late-init: ready");
    let logged = app.wait_for("adopt-late-init tick");
    assert!(logged.contains("INFO"), "not an fmt line: {logged}");
    // Later ticks prove the app is still running and logging after `init()`.
    for _ in 0..3 {
        app.wait_for("adopt-late-init tick");
    }
    assert!(app.still_running());
    let stderr = app.stderr_now();
    let advice: Vec<&String> = stderr.iter().filter(|l| l.contains("leakscope")).collect();
    assert_eq!(advice.len(), 1, "expected one line of advice: {stderr:?}");
    assert!(
        advice[0].contains("leakscope::layer()") && advice[0].contains("forward_to"),
        "the line does not say what to do: {}",
        advice[0]
    );
    // The agent still answers, with runtime metrics and no tasks.
    let report = snapshot(app.addr);
    assert!(report["tasks"]["runtime_alive"].as_u64().is_some(), "{}", report["tasks"]);
}
