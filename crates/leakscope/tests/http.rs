//! The agent's HTTP endpoints inside one process: a real runtime and real tasks, the agent with
//! `http_bind`, and real HTTP/1.1 over loopback. `/metrics` is read with a Prometheus
//! text-format parser, profiles with the pprof decoder.
//!
//! One agent serves the whole binary (the agent starts once per process); each test spawns its
//! tasks at its own source lines and looks only at those. CI runs this file with and without
//! `--cfg tokio_unstable`; each build asserts what its mode serves.

use leakscope::AgentHandle;
use leakscope_profile::pprof;
use prometheus_parse::{Scrape, Value};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Spawn locations `/metrics` names in this binary.
const TOP: usize = 4;

struct Agent {
    runtime: Runtime,
    handle: AgentHandle,
}

fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let handle = runtime.block_on(async {
            leakscope::Builder::new()
                .bind("127.0.0.1:0".parse().unwrap())
                .http_bind("127.0.0.1:0".parse().unwrap())
                .metrics_top_locations(TOP)
                .try_init()
                .expect("the agent starts")
        });
        Agent { runtime, handle }
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let agent = agent();
    agent.runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), future).await.expect("the test finishes")
    })
}

fn http_addr() -> SocketAddr {
    agent().handle.http_addr().expect("http_bind gives an HTTP address")
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a text body")
    }
}

/// Sends `raw` as is and reads the answer until the server closes the connection.
async fn exchange(raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(http_addr()).await.expect("the HTTP endpoint accepts");
    stream.write_all(raw).await.expect("the request is sent");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("the answer is read");
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8(bytes[..end].to_vec()).expect("an ascii head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect(status_line);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body = bytes[end + 4..].to_vec();
    let reply = Reply { status, headers, body };
    let head_only = raw.starts_with(b"HEAD ");
    if let Some(length) = reply.header("content-length").filter(|_| !head_only) {
        assert_eq!(length.parse::<usize>().unwrap(), reply.body.len(), "{head}");
    }
    reply
}

async fn get(path: &str) -> Reply {
    exchange(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n").as_bytes(),
    )
    .await
}

/// Scrapes `/metrics` and parses it, checking that the parser took every sample line (it skips
/// lines it cannot read) and that every family is typed and documented.
async fn scrape() -> Scrape {
    let reply = get("/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = reply.text();
    let lines: Vec<std::io::Result<String>> = text.lines().map(|l| Ok(l.to_owned())).collect();
    let scrape = Scrape::parse(lines.into_iter()).expect("the text format parses");
    let sample_lines = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
    assert_eq!(scrape.samples.len(), sample_lines, "every sample line parsed:\n{text}");
    for sample in &scrape.samples {
        assert!(scrape.docs.contains_key(&sample.metric), "no HELP for {}", sample.metric);
        let counter = matches!(sample.value, Value::Counter(_));
        assert_eq!(counter, sample.metric.ends_with("_total"), "{} is typed", sample.metric);
        assert!(
            matches!(sample.value, Value::Counter(_) | Value::Gauge(_)),
            "{} has a type: {:?}",
            sample.metric,
            sample.value
        );
    }
    scrape
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => panic!("{metric} is not a number"),
        })
}

/// Polls `check` until it accepts, for at most 20 s; panics with its last reason.
async fn until<T, F: std::future::Future<Output = Result<T, String>>>(
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(found) => return found,
            Err(why) if Instant::now() >= deadline => panic!("not within 20 s: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[test]
fn bad_requests_get_one_line_answers() {
    let check = |raw: &str, status: u16, body: &str| {
        let reply = block_on(exchange(raw.as_bytes()));
        let text = reply.text();
        assert_eq!((reply.status, text.as_str()), (status, body), "{raw:?}");
        assert_eq!(reply.header("connection"), Some("close"));
    };
    check(
        "GET /nope HTTP/1.1\r\n\r\n",
        404,
        "not found: /nope (served: /metrics, /debug/pprof/profile, /debug/pprof/tasks)\n",
    );
    check(
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        405,
        "method POST not allowed: use GET\n",
    );
    check("GET /metrics\r\n\r\n", 400, "bad request line: expected `GET /path HTTP/1.1`\n");
    check("hello\r\n\r\n", 400, "bad request line: expected `GET /path HTTP/1.1`\n");
    check(
        "GET /debug/pprof/profile?seconds=abc HTTP/1.1\r\n\r\n",
        400,
        "bad seconds=abc: expected a whole number from 1 to 300\n",
    );
    check(
        "GET /debug/pprof/profile?seconds=301 HTTP/1.1\r\n\r\n",
        400,
        "bad seconds=301: expected a whole number from 1 to 300\n",
    );
    check(
        "GET /debug/pprof/tasks?debug=9 HTTP/1.1\r\n\r\n",
        400,
        "bad debug=9: expected 0, 1 or 2\n",
    );
    let huge = format!("GET /metrics HTTP/1.1\r\nX-Padding: {}\r\n\r\n", "a".repeat(16 << 10));
    check(&huge, 431, "request head too large: at most 8 KiB\n");

    let head = block_on(exchange(b"HEAD /metrics HTTP/1.1\r\n\r\n"));
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body");
    assert!(head.header("content-length").is_some_and(|l| l != "0"), "{head:?}");

    let index = block_on(get("/debug/pprof/"));
    assert_eq!(index.status, 200);
    assert!(index.text().contains("/debug/pprof/tasks?debug=0|1|2"), "{}", index.text());
}

/// Every registered runtime's heartbeat is a metric: fresh, and not stalled, while the runtime
/// runs (the agent's own tests block a worker to see it stall).
#[test]
fn runtime_heartbeats_are_metrics() {
    block_on(async {
        let runtime = [("runtime", "1")];
        let scrape = until(|| async move {
            let scrape = scrape().await;
            match value(&scrape, "leakscope_runtime_heartbeat_age_seconds", &runtime) {
                Some(age) if age > 0.0 => Ok(scrape),
                other => Err(format!("heartbeat age: {other:?}")),
            }
        })
        .await;
        let age = value(&scrape, "leakscope_runtime_heartbeat_age_seconds", &runtime).unwrap();
        assert!(age < 1.0, "{age}");
        assert_eq!(value(&scrape, "leakscope_runtime_stalled", &runtime), Some(0.0));
    });
}

#[test]
fn a_silent_client_is_answered_408_and_closed() {
    let started = Instant::now();
    let reply = block_on(async {
        let mut stream = TcpStream::connect(http_addr()).await.unwrap();
        stream.write_all(b"GET /metrics HT").await.unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        String::from_utf8(bytes).unwrap()
    });
    assert!(reply.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{reply}");
    assert!(
        reply.ends_with("\r\n\r\nrequest timeout: send the request head within 5 s\n"),
        "{reply}"
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited < Duration::from_secs(30), "{waited:?}");
}

#[test]
fn a_non_loopback_http_address_needs_the_opt_in() {
    let err = leakscope::Builder::new()
        .bind("127.0.0.1:0".parse().unwrap())
        .http_bind("0.0.0.0:0".parse().unwrap())
        .try_init()
        .unwrap_err();
    assert!(matches!(err, leakscope::Error::NotLoopback(_)), "{err}");
    assert!(err.to_string().contains("LEAKSCOPE_ALLOW_REMOTE"), "{err}");
}

/// CPU time for the profiler to find, on a thread of the app's own, until `stop` is set.
fn burn(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::Builder::new()
        .name("burner".into())
        .spawn(move || {
            let mut x = 1_u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for i in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
                }
            }
            x
        })
        .unwrap()
}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
#[test]
fn cpu_profiles_are_pprof_and_one_at_a_time() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burner = burn(stop.clone());
    // Two at once: one is taken, the other is refused at once rather than queued.
    let (a, b) = block_on(async {
        tokio::join!(get("/debug/pprof/profile?seconds=2"), get("/debug/pprof/profile?seconds=2"))
    });
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text_lossy(), b.text_lossy());
    let refused = if a.status == 409 { &a } else { &b };
    assert_eq!(refused.text_lossy(), "a CPU profile is already being taken\n");

    // The profiler lets go of its slot just after it answers: ask until it is free.
    let reply = block_on(until(|| async move {
        let reply = get("/debug/pprof/profile?seconds=1").await;
        if reply.status == 409 { Err(reply.text_lossy()) } else { Ok(reply) }
    }));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(reply.status, 200, "{}", reply.text_lossy());
    assert_eq!(reply.header("content-type"), Some("application/octet-stream"));
    assert_eq!(reply.header("content-disposition"), Some("attachment; filename=\"profile\""));
    assert!(reply.body.starts_with(&[0x1f, 0x8b]), "gzip, as Go serves it");
    let message = pprof::decode_proto(&reply.body).expect("a valid pprof profile");
    let s = |i: i64| message.string_table[i as usize].as_str();
    let types: Vec<(&str, &str)> =
        message.sample_type.iter().map(|t| (s(t.r#type), s(t.unit))).collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    let period = message.period_type.expect("a period type");
    assert_eq!((s(period.r#type), s(period.unit)), ("cpu", "nanoseconds"));
    assert!(message.duration_nanos >= 900_000_000, "{}", message.duration_nanos);
    // CPU time by default, as in Go's CPU profiles.
    assert_eq!(s(message.default_sample_type), "cpu");
    let profile = pprof::decode(&reply.body).unwrap();
    assert_eq!(profile.default_type().map(|t| t.kind.as_str()), Some("cpu"));
    // The sampler walks frame pointers: `.cargo/config.toml` and the stable CI step ask for them.
    assert_sampled(&profile);
    burner.join().unwrap();
}

/// The busy thread shows in the profile, with most of its samples (the other threads idle; on a
/// loaded machine it may get little CPU time, so no count is asked for).
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn assert_sampled(profile: &leakscope_profile::Profile) {
    let total = profile.total(0);
    let burned: i64 = profile
        .samples
        .iter()
        .filter(|s| s.labels.iter().any(|l| l.key == "thread" && l.value == "burner"))
        .map(|s| s.values[0])
        .sum();
    let threads: Vec<(String, i64)> = profile
        .samples
        .iter()
        .map(|s| (s.labels.iter().map(|l| format!("{}={}", l.key, l.value)).collect(), s.values[0]))
        .collect();
    assert!(
        burned > 0 && burned * 2 > total,
        "the busy thread has most samples: {burned} of {total}; {threads:?}"
    );
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
#[test]
fn cpu_profiles_say_they_are_unsupported() {
    let reply = block_on(get("/debug/pprof/profile?seconds=1"));
    assert_eq!(reply.status, 501, "{}", reply.text_lossy());
}

impl Reply {
    fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(tokio_unstable)]
mod unstable {
    use super::*;
    use tokio::task::JoinHandle;

    /// A task that never finishes, spawned at the caller's line.
    #[track_caller]
    fn park() -> JoinHandle<()> {
        tokio::spawn(std::future::pending())
    }

    /// `leakscope_location_tasks_alive` of the series at `line` of this file.
    fn at_line(scrape: &Scrape, line: u32) -> Option<f64> {
        let suffix = format!("tests/http.rs:{line}:");
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "leakscope_location_tasks_alive")
            .find(|s| s.labels.get("location").is_some_and(|l| l.contains(&suffix)))
            .map(|s| match s.value {
                Value::Gauge(v) => v,
                _ => panic!("a gauge"),
            })
    }

    #[test]
    fn a_leak_shows_as_a_rising_location_series() {
        block_on(async {
            let mut leaked = Vec::new();
            let line = line!() + 3;
            let leak = |n: usize, leaked: &mut Vec<JoinHandle<()>>| {
                for _ in 0..n {
                    leaked.push(tokio::spawn(std::future::pending()));
                }
            };
            let mut seen = Vec::new();
            for wave in 1..=3_u32 {
                leak(20, &mut leaked);
                let expected = f64::from(wave * 20);
                let scrape = until(|| async move {
                    let scrape = scrape().await;
                    match at_line(&scrape, line) {
                        Some(v) if v == expected => Ok(scrape),
                        other => Err(format!("line {line}: {other:?}, expected {expected}")),
                    }
                })
                .await;
                let total = value(&scrape, "leakscope_tasks_alive", &[]).unwrap();
                let by_location: f64 = scrape
                    .samples
                    .iter()
                    .filter(|s| s.metric == "leakscope_location_tasks_alive")
                    .map(|s| match s.value {
                        Value::Gauge(v) => v,
                        _ => 0.0,
                    })
                    .sum();
                assert_eq!(total, by_location, "the location series add up to the total");
                assert!(total >= expected);
                seen.push(expected);
                let spawned = value(&scrape, "leakscope_tasks_spawned_total", &[]).unwrap();
                assert!(spawned >= total, "{spawned} spawned, {total} alive");
            }
            assert_eq!(seen, [20.0, 40.0, 60.0]);
            for task in &leaked {
                task.abort();
            }
            // Aborted, they leave the series.
            until(|| async move {
                match at_line(&scrape().await, line) {
                    None | Some(0.0) => Ok(()),
                    other => Err(format!("still {other:?}")),
                }
            })
            .await;
        });
    }

    #[test]
    fn label_cardinality_stays_bounded() {
        block_on(async {
            // Eight places, twice as many as the agent names here.
            let mut parked = Vec::new();
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            parked.extend([park(), park()]);
            let scrape = until(|| async move {
                let scrape = scrape().await;
                let total = value(&scrape, "leakscope_tasks_alive", &[]).unwrap_or(0.0);
                if total >= 16.0 { Ok(scrape) } else { Err(format!("{total} alive")) }
            })
            .await;
            let series: Vec<&str> = scrape
                .samples
                .iter()
                .filter(|s| s.metric == "leakscope_location_tasks_alive")
                .map(|s| s.labels.get("location").unwrap())
                .collect();
            assert_eq!(series.len(), TOP + 1, "the top {TOP} and other: {series:?}");
            assert_eq!(series.last(), Some(&"other"));
            let other = value(&scrape, "leakscope_location_tasks_alive", &[("location", "other")]);
            assert!(other.unwrap() >= 8.0, "at least four of the eight places are in other");
            parked.iter().for_each(JoinHandle::abort);
        });
    }

    #[test]
    fn findings_and_lock_waits_are_counted() {
        block_on(async {
            let mutex = std::sync::Arc::new(tokio::sync::Mutex::new(()));
            let held = mutex.clone().lock_owned().await;
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let m = mutex.clone();
                    tokio::spawn(async move { drop(m.lock().await) })
                })
                .collect();
            let scrape = until(|| async move {
                let scrape = scrape().await;
                match value(&scrape, "leakscope_lock_waiters", &[("lock", "Mutex")]) {
                    Some(n) if n >= 2.0 => Ok(scrape),
                    other => Err(format!("mutex waiters: {other:?}")),
                }
            })
            .await;
            assert!(value(&scrape, "leakscope_lock_wait_longest_seconds", &[]).unwrap() >= 0.0);
            for kind in ["lost-waker", "stuck", "growth", "deadlock"] {
                for severity in ["leak", "suspect", "warn"] {
                    let labels = [("kind", kind), ("severity", severity)];
                    assert!(value(&scrape, "leakscope_findings", &labels).is_some(), "{labels:?}");
                }
            }
            // One scrape has no history: growth is not evaluated yet.
            let info = value(&scrape, "leakscope_agent_info", &[("tasks", "true")]);
            assert_eq!(info, Some(1.0));
            assert!(value(&scrape, "leakscope_agent_memory_bytes", &[]).unwrap() > 0.0);
            drop(held);
            for w in waiters {
                w.await.unwrap();
            }
        });
    }

    #[test]
    fn the_task_profile_is_pprof_and_its_texts_name_the_waits() {
        block_on(async {
            // Three receivers nobody sends to, and two tasks queued on a held mutex.
            let recv_line = line!() + 4;
            let mut receivers = Vec::new();
            for _ in 0..3 {
                let (keep, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
                receivers.push((keep, tokio::spawn(async move { rx.recv().await })));
            }
            let mutex = std::sync::Arc::new(tokio::sync::Mutex::new(()));
            let held = mutex.clone().lock_owned().await;
            let lock_line = line!() + 4;
            let lockers: Vec<_> = (0..2)
                .map(|_| {
                    let m = mutex.clone();
                    tokio::spawn(async move { drop(m.lock().await) })
                })
                .collect();

            // debug=1: grouped by location and wait point, from the agent's wait records.
            until(|| async move {
                let text = get("/debug/pprof/tasks?debug=1").await.text();
                text.lines()
                    .find(|l| l.contains(&format!("tests/http.rs:{lock_line}:")))
                    .filter(|l| l.starts_with("2 @ ") && l.ends_with("[waiting in Mutex::lock]"))
                    .map(str::to_owned)
                    .ok_or(text)
            })
            .await;

            // debug=1 names the receivers' wait too: from the agent's capture with no dump, and
            // with one when asked (dump=1).
            for query in ["debug=1", "debug=1&dump=1"] {
                let text = get(&format!("/debug/pprof/tasks?{query}")).await.text();
                assert!(text.starts_with("tasks profile: total "), "{text}");
                assert!(!text.contains("# the task dump failed"), "{query}:\n{text}");
                let recv_group = text
                    .split("\n\n")
                    .find(|p| {
                        p.lines()
                            .next()
                            .is_some_and(|l| l.contains(&format!("http.rs:{recv_line}:")))
                    })
                    .unwrap_or_else(|| panic!("{query}: no group at line {recv_line}:\n{text}"));
                assert!(
                    recv_group.starts_with("3 @ ")
                        && recv_group.contains("[waiting in mpsc::Receiver::recv]"),
                    "{query}: {recv_group}\n\nin:\n{text}"
                );
                assert!(recv_group.contains("#\tstates: 3 idle"), "{recv_group}");
            }

            // debug=2: every task, with its header and await chain (the agent's capture: no
            // dump unless asked).
            let text = get("/debug/pprof/tasks?debug=2").await.text();
            assert!(text.starts_with("# no task dump: "), "{text}");
            let ids: Vec<String> =
                receivers.iter().map(|(_, handle)| handle.id().to_string()).collect();
            for id in &ids {
                let paragraph = text
                    .split("\n\n")
                    .find(|p| p.starts_with(&format!("task {id} [")))
                    .unwrap_or_else(|| panic!("no paragraph for task {id}:\n{text}"));
                let mut lines = paragraph.lines();
                let header = lines.next().unwrap();
                assert!(
                    header.starts_with(&format!("task {id} [waiting in mpsc::Receiver::recv")),
                    "{header}"
                );
                assert!(header.ends_with("]:"), "{header}");
                assert!(
                    paragraph.contains("recv"),
                    "the await chain reaches the receive:\n{paragraph}"
                );
                assert!(
                    paragraph.lines().any(|l| l.starts_with('\t') && l.contains("tests/http.rs:")),
                    "the chain names this test's frame:\n{paragraph}"
                );
                let last = paragraph.lines().last().unwrap();
                assert!(
                    last.starts_with("created by tokio::spawn at ")
                        && last.contains(&format!("tests/http.rs:{recv_line}:")),
                    "{last}"
                );
            }
            let lockers_text: Vec<&str> = text
                .split("\n\n")
                .filter(|p| p.contains(&format!("http.rs:{lock_line}:")))
                .collect();
            assert_eq!(lockers_text.len(), 2, "{text}");
            for paragraph in lockers_text {
                assert!(paragraph.contains("[waiting in Mutex::lock"), "{paragraph}");
                assert!(paragraph.contains("\nwaiting on Mutex created at "), "{paragraph}");
            }

            // debug=0: the task-wait profile as pprof protobuf.
            let reply = get("/debug/pprof/tasks").await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.header("content-type"), Some("application/octet-stream"));
            let message = pprof::decode_proto(&reply.body).expect("a valid pprof profile");
            let s = |i: i64| message.string_table[i as usize].as_str();
            let types: Vec<(&str, &str)> =
                message.sample_type.iter().map(|t| (s(t.r#type), s(t.unit))).collect();
            assert_eq!(types, [("tasks", "count"), ("wait", "nanoseconds")]);
            // As Go's goroutine profile: one count per sample, and the program as the mapping.
            let period = message.period_type.expect("a period type");
            assert_eq!((s(period.r#type), s(period.unit), message.period), ("tasks", "count", 1));
            let program = std::env::current_exe().unwrap();
            let program = program.file_name().unwrap().to_string_lossy();
            assert_eq!(s(message.mapping[0].filename), program);
            // Each spawn site and wait point is a function of its own, named after its site, so
            // that pprof does not merge every `tokio::spawn` into one node.
            let sites: Vec<&str> = message
                .function
                .iter()
                .map(|f| s(f.name))
                .filter(|name| name.starts_with("tokio::spawn @ "))
                .collect();
            let lock_site = format!("tests/http.rs:{lock_line}");
            assert!(
                sites.iter().any(|name| name.ends_with(&lock_site)),
                "the lockers' spawn site {lock_site} in {sites:?}"
            );
            assert!(sites.len() >= 2, "the test's spawn sites each a node: {sites:?}");
            let profile = pprof::decode(&reply.body).unwrap();
            let lockers_in_profile: i64 = profile
                .samples
                .iter()
                .filter(|s| {
                    s.stack.first().is_some_and(|f| {
                        f.function == "tokio::spawn"
                            && f.file.ends_with("tests/http.rs")
                            && f.line == lock_line
                    })
                })
                .filter(|s| s.stack.last().is_some_and(|f| f.function == "wait: Mutex::lock"))
                .map(|s| s.values[0])
                .sum();
            assert_eq!(lockers_in_profile, 2, "{:#?}", profile.samples);

            drop(held);
            for locker in lockers {
                locker.await.unwrap();
            }
            for (keep, handle) in receivers {
                drop(keep);
                assert_eq!(handle.await.unwrap(), None);
            }
        });
    }
}

#[cfg(not(tokio_unstable))]
mod stable {
    use super::*;

    #[test]
    fn without_tokio_unstable_metrics_serve_what_there_is() {
        block_on(async {
            let parked: Vec<_> =
                (0..5).map(|_| tokio::spawn(std::future::pending::<()>())).collect();
            let scrape = scrape().await;
            let alive = value(&scrape, "leakscope_tasks_alive", &[]).expect("tasks alive");
            assert!(alive >= 5.0, "the runtime's own count: {alive}");
            assert!(
                !scrape.samples.iter().any(|s| s.metric == "leakscope_location_tasks_alive"),
                "no per-location series without task records"
            );
            assert_eq!(value(&scrape, "leakscope_runtime_workers", &[("runtime", "1")]), Some(2.0));
            assert_eq!(value(&scrape, "leakscope_agent_info", &[("tasks", "false")]), Some(1.0));

            let reply = get("/debug/pprof/tasks").await;
            assert_eq!(reply.status, 200);
            let message = pprof::decode_proto(&reply.body).expect("a valid, empty pprof profile");
            assert!(message.sample.is_empty());
            let text = get("/debug/pprof/tasks?debug=1").await.text();
            assert!(text.starts_with("tasks profile: total 0\n# missing: "), "{text}");
            assert!(text.contains("tokio_unstable"), "{text}");
            drop(parked);
        });
    }
}
