//! A busy app read with the default commands, over and over: it never stops answering, and every
//! parked task is named at its `.await` with no task dump.
//!
//! The target (`tests/src/bin/waits-target.rs`, release build) runs two workers busy with 3,000
//! interval tasks and 4,000 short tasks a second, an echo server, and five tasks parked at each
//! wait point. While a probe sends a message to the echo server every 20 ms and times the round
//! trip, the test runs, one after the other and with default options, 8 `leakscope snapshot
//! --format json`, 3 `leakscope profile tasks` and 3 `GET /debug/pprof/tasks?debug=2`. A command
//! that freezes the runtime (a task dump can) shows as a late or missing echo.
//!
//! Then the last snapshot must name each parked kind's wait point at its marked line, and the
//! agent's raw capture (read over gRPC) must reach every marked line.

use crate::support::{leakscope_binary, marked_line, release_binary, start_up_line};
use crate::waits::{Expect, Named, check_named, default_snapshot, leakscope_bounded, scratch_dir};
use leakscope_proto::v1::agent_client::AgentClient;
use leakscope_proto::v1::{Backtrace, Snapshot, SnapshotRequest};
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The target's source, as the compiler records it (relative to the workspace).
const TARGET_FILE: &str = "tests/src/bin/waits-target.rs";
/// The worst echo round trip allowed while the commands run.
const WORST_ROUND_TRIP: Duration = Duration::from_millis(250);
/// The probe's period.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// An echo not back within this is counted as unanswered (and the probe reconnects).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The probe stops by itself after this long, whatever happens to the test.
const PROBE_AT_MOST: Duration = Duration::from_secs(900);
/// Tasks per parked kind and tickers, as the target spawns them.
const PER_KIND: u64 = 5;
const TICKERS: u64 = 3_000;

/// The target's release binary, built once per test run.
fn target_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| release_binary("leakscope-tests", "waits-target"))
}

/// The running target; killed on drop.
struct Target {
    child: Child,
    agent: SocketAddr,
    http: SocketAddr,
    echo: SocketAddr,
}

impl Target {
    fn start() -> Target {
        let mut child = Command::new(target_binary())
            .args(["--duration", "600"])
            .env("LEAKSCOPE_BIND", "127.0.0.1:0")
            .env("LEAKSCOPE_HTTP_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the target starts");
        let line = start_up_line(&mut child);
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|t| t.strip_prefix(name)?.parse().ok())
                .unwrap_or_else(|| panic!("no {name}IP:PORT in the start-up line {line:?}"))
        };
        Target { agent: field("agent="), http: field("http="), echo: field("echo="), child }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("waitable").is_none()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The line of `// <tag>` in the target's source.
fn target_line(tag: &str) -> (String, u32) {
    (TARGET_FILE.to_owned(), marked_line(TARGET_FILE, tag))
}

/// Each parked kind of the target and what the analysis must name it.
fn target_expectations() -> Vec<Expect> {
    let kind = |what: &str, named: Named, count: u64| Expect {
        what: what.to_owned(),
        spawned_at: vec![target_line(&format!("spawn: {what}"))],
        named,
        awaits_at: Some(target_line(&format!("wait: {what}"))),
        count,
    };
    let is = |what: &str, name: &'static str| kind(what, Named::Is(name), PER_KIND);
    vec![
        // A ticker woken this very moment still counts in its group: the group is named by the
        // last wait, which is the same one. A few may be mid-poll, not parked; 97% is plenty.
        kind("interval", Named::Is("sleep"), TICKERS * 97 / 100),
        is("mpsc-recv", "mpsc::Receiver::recv"),
        is("mpsc-send", "mpsc::Sender::send"),
        is("notified", "Notify::notified"),
        is("oneshot", "oneshot::Receiver"),
        is("broadcast", "broadcast::Receiver::recv"),
        is("watch", "watch::Receiver::changed"),
        is("join-handle", "JoinHandle"),
        is("socket-read", "socket read"),
        is("socket-write", "socket write"),
        is("accept", "accept"),
        is("sleep", "sleep"),
        is("mutex", "Mutex::lock"),
        is("rwlock-write", "RwLock::write"),
        is("rwlock-read", "RwLock::read"),
        is("semaphore", "Semaphore::acquire"),
        is("barrier", "Barrier::wait"),
        // `biased`: the receiver registers first, and of two resources the analysis names the
        // first leaf.
        is("select", "mpsc::Receiver::recv"),
        // Not tokio's: the leaf is the future's own `poll`, which is also the app's frame
        // nearest the leaf (the line that keeps the waker).
        kind("stored-waker", Named::UnknownAppLeaf("poll"), PER_KIND),
    ]
}

/// Round trips to the echo server, every [`PROBE_EVERY`], until stopped.
struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Probed>,
}

#[derive(Default)]
struct Probed {
    round_trips: Vec<Duration>,
    unanswered: Vec<String>,
}

impl Probe {
    fn start(echo: SocketAddr) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || probe(echo, &stopped));
        Probe { stop, thread }
    }

    fn finish(self) -> Probed {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the probe thread ends")
    }
}

fn connect(echo: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&echo, PROBE_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    Ok(stream)
}

fn probe(echo: SocketAddr, stop: &AtomicBool) -> Probed {
    let mut probed = Probed::default();
    let started = Instant::now();
    let mut stream = None;
    let mut next = Instant::now();
    let max_probes = (PROBE_AT_MOST.as_millis() / PROBE_EVERY.as_millis()) as u64;
    for seq in 0..max_probes {
        if stop.load(Ordering::Relaxed) || started.elapsed() > PROBE_AT_MOST {
            break;
        }
        let message = [seq.to_le_bytes(), (!seq).to_le_bytes()].concat();
        let sent = Instant::now();
        let answer = (|| -> std::io::Result<()> {
            let s = match &mut stream {
                Some(s) => s,
                None => stream.insert(connect(echo)?),
            };
            s.write_all(&message)?;
            let mut back = [0_u8; 16];
            s.read_exact(&mut back)?;
            if back[..] != message[..] {
                return Err(std::io::Error::other("the echo differs"));
            }
            Ok(())
        })();
        match answer {
            Ok(()) => probed.round_trips.push(sent.elapsed()),
            Err(err) => {
                probed.unanswered.push(format!("probe {seq} at {:?}: {err}", started.elapsed()));
                // A half-read answer would shift every later one: start over.
                stream = None;
            }
        }
        next += PROBE_EVERY;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    probed
}

/// `GET path` over HTTP/1.0 with a bounded wait; the status and the body.
fn http_get(http: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&http, Duration::from_secs(10)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {http}\r\n\r\n").expect("the request is sent");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("the answer is read");
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, bytes[end + 4..].to_vec())
}

/// The `q` quantile of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// The agent's raw snapshot, over gRPC.
fn raw_snapshot(agent: SocketAddr) -> Snapshot {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let read = async {
            let mut client = AgentClient::connect(format!("http://{agent}"))
                .await
                .expect("the agent accepts connections")
                .max_decoding_message_size(512 << 20);
            let request = SnapshotRequest { include_finished: false };
            client.get_snapshot(request).await.expect("snapshot").into_inner()
        };
        tokio::time::timeout(Duration::from_secs(60), read).await.expect("a snapshot within 60s")
    })
}

/// What the agent captured for each kind, with no analysis in between: every task of the kind
/// must have a chain through its marked line. The table also says what the analysis's own
/// classifier makes of the raw chains, to tell a capture problem from a naming one.
fn check_raw_capture(snapshot: &Snapshot, expected: &[Expect]) -> (String, bool) {
    let mut table = String::new();
    let mut all_ok = true;
    for expect in expected {
        let spawn = &expect.spawned_at[0];
        // The stored waker's leaf is its `poll`; the chain reaches the `.await` above it too.
        let through = if expect.what == "stored-waker" {
            target_line("wait: stored-waker-await")
        } else {
            expect.awaits_at.clone().expect("every target kind awaits at a marked line")
        };
        let tasks: Vec<_> = snapshot
            .tasks
            .iter()
            .filter(|t| t.dropped_nanos == 0)
            .filter(|t| {
                snapshot.locations.iter().any(|l| {
                    l.id == t.location_id && l.line == spawn.1 && l.file.ends_with(&spawn.0)
                })
            })
            .collect();
        let mut reaching = 0;
        let mut names = std::collections::BTreeMap::<String, u64>::new();
        for task in &tasks {
            let chains: Vec<Backtrace> = task
                .wait_chain_ids
                .iter()
                .filter_map(|id| snapshot.wait_chains.iter().find(|c| c.id == *id))
                .map(|c| Backtrace { frames: c.frames.clone() })
                .collect();
            let reaches = chains.iter().any(|c| {
                c.frames.iter().any(|f| f.line == through.1 && f.file.ends_with(TARGET_FILE))
            });
            reaching += u64::from(reaches);
            let named = if chains.is_empty() {
                "(no chain)".to_owned()
            } else {
                let (point, frame) = leakscope_analysis::task_wait_point(&chains);
                let line = frame.map_or(0, |f| f.location.line);
                format!("{point} @{line}")
            };
            *names.entry(named).or_default() += 1;
        }
        let ok = tasks.len() as u64 >= expect.count && reaching == tasks.len() as u64;
        all_ok &= ok;
        table.push_str(&format!(
            "{} {:<14} {reaching}/{} tasks reach line {}; classified from the raw chains: {names:?}\n",
            if ok { "ok  " } else { "FAIL" },
            expect.what,
            tasks.len(),
            through.1,
        ));
    }
    (table, all_ok)
}

#[test]
fn a_busy_app_keeps_answering_default_commands_and_every_wait_is_named() {
    leakscope_binary();
    target_binary();
    // Timed from here: the release builds above are shared with the other tests.
    let test_started = Instant::now();
    let expected = target_expectations();
    let mut target = Target::start();
    let addr = target.agent.to_string();
    let probe = Probe::start(target.echo);
    let mut took = Vec::new();

    let mut last_snapshot = None;
    for i in 0..8 {
        let (report, t) = default_snapshot(target.agent);
        took.push(format!("snapshot {i}: {t:?}"));
        last_snapshot = Some(report);
    }
    let out = scratch_dir("stress");
    for i in 0..3 {
        let path = out.join(format!("tasks-{i}.pb.gz"));
        let run = leakscope_bounded(&["profile", "tasks", &addr, "-o", path.to_str().unwrap()]);
        took.push(format!("profile tasks {i}: {:?}", run.took));
        let bytes = std::fs::read(&path).expect("the profile was written");
        let profile = leakscope_profile::pprof::decode(&bytes).expect("a valid task-wait profile");
        assert!(!profile.samples.is_empty(), "an empty task profile");
    }
    for i in 0..3 {
        let started = Instant::now();
        let (status, body) = http_get(target.http, "/debug/pprof/tasks?debug=2");
        took.push(format!("GET debug=2 {i}: {:?}", started.elapsed()));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(body.len() > 1000, "{}", String::from_utf8_lossy(&body));
    }
    // The agent's own analysis, asked for again and again, then pages of the largest group (the
    // tickers), which the agent sorts by id: the pages follow each other with no task twice.
    let mut in_agent = None;
    for i in 0..4 {
        let run = leakscope_bounded(&["snapshot", &addr, "--format", "json", "--in-agent"]);
        took.push(format!("snapshot --in-agent {i}: {:?}", run.took));
        let report: Value = serde_json::from_slice(&run.stdout).expect("a JSON report");
        assert_eq!(report["analysed_by"], "agent");
        in_agent = Some(report);
    }
    let mut paged: Vec<u64> = Vec::new();
    for i in 0..3 {
        let offset = (i * 200).to_string();
        let args = ["snapshot", &addr, "--format", "json", "--in-agent", "--wait", "0s"];
        let page = ["--tasks-of", "1", "--order", "id", "--offset", &offset, "--limit", "200"];
        let run = leakscope_bounded(&[&args[..], &page[..]].concat());
        took.push(format!("snapshot --in-agent --tasks-of 1 page {i}: {:?}", run.took));
        let page: Value = serde_json::from_slice(&run.stdout).expect("a JSON page");
        assert!(page["total"].as_u64().unwrap() >= TICKERS * 97 / 100, "{}", page["total"]);
        let ids = page["tasks"].as_array().expect("tasks").iter().map(|t| t["id"].as_u64());
        paged.extend(ids.map(|id| id.expect("an id")));
    }
    assert_eq!(paged.len(), 600);
    // Tickers live for good, so successive pages by id neither skip nor repeat one.
    assert!(paged.windows(2).all(|w| w[0] < w[1]), "pages out of order: {paged:?}");

    let probed = probe.finish();
    let mut sorted = probed.round_trips.clone();
    sorted.sort();
    assert!(!sorted.is_empty(), "no probe was answered: {:?}", probed.unanswered);
    let (worst, p99, p50) =
        (quantile(&sorted, 1.0), quantile(&sorted, 0.99), quantile(&sorted, 0.5));
    println!(
        "{} probes answered, {} not; round trip worst {worst:?}, p99 {p99:?}, p50 {p50:?}\n{}",
        sorted.len(),
        probed.unanswered.len(),
        took.join("\n")
    );
    assert!(probed.unanswered.is_empty(), "unanswered probes: {:#?}", probed.unanswered);
    assert!(target.alive(), "the target exited under the commands");
    assert!(worst < WORST_ROUND_TRIP, "worst round trip {worst:?} (p99 {p99:?})");

    // The capture first: it is the agent's part, and says whether a naming failure below is the
    // analysis's.
    let (raw, raw_ok) = check_raw_capture(&raw_snapshot(target.agent), &expected);
    let report = last_snapshot.expect("eight snapshots ran");
    let (named, named_ok) = check_named(&report, &expected);
    println!("raw capture:\n{raw}\nlast snapshot:\n{named}\ntook {:?}", test_started.elapsed());
    assert!(raw_ok, "the capture misses marked lines:\n{raw}");
    assert!(
        named_ok,
        "not every parked kind was named at its await:\n{named}\nraw capture:\n{raw}"
    );
    // The agent's analysis names them alike: it is the same analysis, over the same updates.
    let (named, named_ok) = check_named(&in_agent.expect("four reports"), &expected);
    assert!(named_ok, "the agent's report does not name every parked kind:\n{named}");
}
