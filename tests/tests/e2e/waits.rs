//! Where parked tasks wait, named with no task dump: `leakscope snapshot --format json` with its
//! default options fills each group's `waiting_on` and `user_frame` from the await chains the
//! agent captured when the tasks registered their wakers.
//!
//! The checks here are shared with the stress test (`stress.rs`), which applies them to its own
//! target; the test here applies them to every zoo scenario that parks tasks, all in one
//! `--scenario all` process.

use crate::support::{Zoo, leakscope_binary, marker, markers, zoo_binary};
use serde_json::Value;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `leakscope` command may take before the test calls it hung. A default snapshot
/// watches for 5 s; the rest is start-up and reading a busy agent on a loaded two-core machine.
pub(crate) const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// What a finished `leakscope` command left.
pub(crate) struct Run {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
    pub(crate) took: Duration,
}

/// An empty directory for the commands to run in (no stray `leakscope.toml`).
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakscope-e2e-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Runs `leakscope args` and asserts it exits 0 within [`COMMAND_LIMIT`]; kills it otherwise.
pub(crate) fn leakscope_bounded(args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(leakscope_binary())
        .args(args)
        .current_dir(scratch_dir("waits"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leakscope runs");
    // Drained on threads so that a large answer cannot fill a pipe and stall the command.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break status;
        }
        if started.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("leakscope {args:?} still running after {COMMAND_LIMIT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let stdout = stdout.join().expect("stdout drained");
    let stderr = String::from_utf8_lossy(&stderr.join().expect("stderr drained")).into_owned();
    assert!(status.success(), "leakscope {args:?} failed ({status}) after {took:?}: {stderr}");
    Run { stdout, stderr, took }
}

/// `leakscope snapshot ADDR --format json` with the default options, bounded as
/// [`leakscope_bounded`]; the parsed document and how long it took.
pub(crate) fn default_snapshot(addr: SocketAddr) -> (Value, Duration) {
    let addr = addr.to_string();
    let run = leakscope_bounded(&["snapshot", &addr, "--format", "json"]);
    let json = serde_json::from_slice(&run.stdout).unwrap_or_else(|err| {
        panic!("not JSON ({err}): {}\n{}", String::from_utf8_lossy(&run.stdout), run.stderr)
    });
    (json, run.took)
}

/// `(file, line)` of a location, written `file:line:col`, `file:line`, or as an object with
/// `file` and `line`.
pub(crate) fn file_line(location: &Value) -> Option<(String, u32)> {
    if let Some(object) = location.as_object() {
        let line = object.get("line")?.as_u64()?;
        return Some((object.get("file")?.as_str()?.to_owned(), u32::try_from(line).ok()?));
    }
    let text = location.as_str()?;
    let (head, last) = text.rsplit_once(':')?;
    let last: u32 = last.parse().ok()?;
    match head.rsplit_once(':') {
        Some((file, line)) if line.parse::<u32>().is_ok() => {
            Some((file.to_owned(), line.parse().ok()?))
        }
        _ => Some((head.to_owned(), last)),
    }
}

fn at(location: &Value, (file, line): &(String, u32)) -> bool {
    file_line(location).is_some_and(|(f, l)| l == *line && f.ends_with(file.as_str()))
}

/// What a group must be named as.
#[derive(Clone, Debug)]
pub(crate) enum Named {
    /// Exactly this wait point.
    Is(&'static str),
    /// `unknown (<function>)`, the function being the app's own leaf (not tokio's, std's or
    /// core's) and ending in this.
    UnknownAppLeaf(&'static str),
}

impl Named {
    fn matches(&self, waiting_on: &str) -> bool {
        match self {
            Named::Is(name) => waiting_on == *name,
            Named::UnknownAppLeaf(suffix) => waiting_on
                .strip_prefix("unknown (")
                .and_then(|rest| rest.strip_suffix(')'))
                .is_some_and(|function| {
                    function.ends_with(suffix)
                        && !["tokio::", "std::", "core::", "alloc::", "<tokio::", "<core::"]
                            .iter()
                            .any(|library| function.starts_with(library))
                }),
        }
    }
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Named::Is(name) => f.write_str(name),
            Named::UnknownAppLeaf(suffix) => write!(f, "unknown (<app>…{suffix})"),
        }
    }
}

/// One parked kind: where its tasks were spawned, what they must be named as, and the line the
/// group's `user_frame` must point at (`None`: no user frame, as for a task that registered no
/// waker).
#[derive(Clone, Debug)]
pub(crate) struct Expect {
    pub(crate) what: String,
    pub(crate) spawned_at: Vec<(String, u32)>,
    pub(crate) named: Named,
    pub(crate) awaits_at: Option<(String, u32)>,
    /// At least this many tasks in the group.
    pub(crate) count: u64,
}

/// Where a group's `waiting_on` came from (`capture`, `dump`, `wait` or `unknown`; see
/// docs/json-schema.md).
fn wait_source(group: &Value) -> &str {
    group["wait_source"].as_str().unwrap_or("-")
}

/// Checks every expectation against `report`'s groups; returns the table of what was observed
/// (one row per expectation, then the groups at its spawn lines) and whether all held.
pub(crate) fn check_named(report: &Value, expected: &[Expect]) -> (String, bool) {
    let groups = report["groups"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut table = String::new();
    let mut all_ok = true;
    let dump = &report["target"]["dump"];
    if !dump.is_null() {
        all_ok = false;
        table.push_str(&format!("FAIL a task dump was taken with the default options: {dump}\n"));
    }
    for expect in expected {
        let here: Vec<&Value> = groups
            .iter()
            .filter(|g| expect.spawned_at.iter().any(|s| at(&g["location"], s)))
            .collect();
        let verdict = |g: &Value| -> Result<(), String> {
            let waiting_on = g["waiting_on"].as_str().unwrap_or_default();
            if !expect.named.matches(waiting_on) {
                return Err(format!("waiting_on {waiting_on:?}"));
            }
            let frame = &g["user_frame"];
            match (&expect.awaits_at, frame.is_null()) {
                (None, true) => {}
                (None, false) => return Err(format!("a user_frame {frame}")),
                (Some(_), true) => return Err("no user_frame".into()),
                (Some(line), false) if !at(&frame["location"], line) => {
                    return Err(format!("user_frame at {}", frame["location"]));
                }
                (Some(_), false) => {}
            }
            if expect.awaits_at.is_some() && wait_source(g) != "capture" {
                return Err(format!("wait_source {}", g["wait_source"]));
            }
            let count = g["count"].as_u64().unwrap_or(0);
            if count < expect.count {
                return Err(format!("{count} tasks"));
            }
            Ok(())
        };
        let results: Vec<Result<(), String>> = here.iter().map(|g| verdict(g)).collect();
        let ok = results.iter().any(Result::is_ok);
        all_ok &= ok;
        let awaits = expect.awaits_at.as_ref().map_or("-".to_owned(), |(_, line)| line.to_string());
        let status = if ok { "ok  " } else { "FAIL" };
        table.push_str(&format!(
            "{status} {:<22} want {} at line {awaits}, ≥{} tasks\n",
            expect.what, expect.named, expect.count
        ));
        if here.is_empty() {
            table.push_str("       no group at its spawn line\n");
        }
        for (g, result) in here.iter().zip(&results) {
            table.push_str(&format!(
                "       got {} at {} ×{} source={} {}\n",
                g["waiting_on"],
                g["user_frame"]["location"],
                g["count"],
                wait_source(g),
                result.as_ref().err().map_or("", String::as_str),
            ));
        }
    }
    (table, all_ok)
}

/// Expectations for the zoo's parking scenarios, from their `zoo:spawn` and `zoo:wait` markers.
fn zoo_expectations() -> Vec<Expect> {
    let one = |scenario: &str, named: &'static str| Expect {
        what: scenario.to_owned(),
        spawned_at: vec![marker("spawn", scenario)],
        named: Named::Is(named),
        awaits_at: Some(marker("wait", scenario)),
        count: 1,
    };
    let mut expected = vec![
        one("unbounded-spawn", "sleep"),
        one("no-timeout-upstream", "socket read"),
        one("send-blocked", "mpsc::Sender::send"),
        one("recv-never-closed", "mpsc::Receiver::recv"),
        one("missing-cancellation", "sleep"),
        one("lock-held-across-await", "Mutex::lock"),
    ];
    // Two kinds of deadlock, in the order of their lines: the transfers (spawned first) park in
    // the second `Mutex::lock`, the handshakes in the `oneshot` each holds the other's sender of.
    let mut spawns = markers("spawn", "deadlock");
    let mut waits = markers("wait", "deadlock");
    spawns.sort_by_key(|(_, line)| *line);
    waits.sort_by_key(|(_, line)| *line);
    assert_eq!((spawns.len(), waits.len()), (4, 2), "{spawns:?} {waits:?}");
    expected.push(Expect {
        what: "deadlock (transfer)".into(),
        spawned_at: spawns[..2].to_vec(),
        named: Named::Is("Mutex::lock"),
        awaits_at: Some(waits[0].clone()),
        count: 1,
    });
    expected.push(Expect {
        what: "deadlock (handshake)".into(),
        spawned_at: spawns[2..].to_vec(),
        named: Named::Is("oneshot::Receiver"),
        awaits_at: Some(waits[1].clone()),
        count: 1,
    });
    // A lost waker registers nothing: there is no chain to capture, and no wait is invented.
    expected.push(Expect {
        what: "lost-waker".into(),
        spawned_at: vec![marker("spawn", "lost-waker")],
        named: Named::Is("unknown"),
        awaits_at: None,
        count: 1,
    });
    expected
}

#[test]
fn every_parking_zoo_scenario_is_named_at_its_await_with_no_dump() {
    leakscope_binary();
    zoo_binary();
    let started = Instant::now();
    let expected = zoo_expectations();
    let zoo = Zoo::start("all", 20);
    let (report, took) = default_snapshot(zoo.addr);
    let (table, ok) = check_named(&report, &expected);
    println!("zoo snapshot took {took:?}, the test {:?}\n{table}", started.elapsed());
    assert!(ok, "not every parked group was named at its await:\n{table}");
}
