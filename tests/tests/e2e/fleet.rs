//! The agent's HTTP endpoints on zoo processes, as a fleet's scrapers see them: `/metrics` parsed
//! with a Prometheus text-format parser, `/debug/pprof/*` decoded as pprof.

use crate::support::{Zoo, marker};
use prometheus_parse::{Scrape, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const WITHIN: Duration = Duration::from_secs(30);

/// Starts `scenario` with the agent's HTTP endpoints on a free loopback port.
fn start(scenario: &str, rate: u32, env: &[(&str, &str)]) -> (Zoo, SocketAddr) {
    let mut env = env.to_vec();
    env.push(("LEAKSCOPE_HTTP_BIND", "127.0.0.1:0"));
    let zoo = Zoo::start_with(scenario, rate, &env);
    let http = zoo.http.expect("the start-up line names http=IP:PORT");
    (zoo, http)
}

/// GETs `path`; returns the status and the body.
async fn get(http: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(http).await.expect("the endpoint accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("the answer is read");
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, bytes[end + 4..].to_vec())
}

async fn scrape(http: SocketAddr) -> Scrape {
    let (status, body) = get(http, "/metrics").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("utf-8");
    let samples = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("it parses");
    assert_eq!(scrape.samples.len(), samples, "every sample line parsed");
    scrape
}

fn gauge(
    scrape: &Scrape,
    metric: &str,
    matches: impl Fn(&prometheus_parse::Sample) -> bool,
) -> Option<f64> {
    scrape.samples.iter().filter(|s| s.metric == metric).find(|s| matches(s)).map(|s| {
        match s.value {
            Value::Gauge(v) | Value::Counter(v) => v,
            _ => panic!("{metric} is a number"),
        }
    })
}

/// The live-task series at the marked spawn line.
fn at_marker(scrape: &Scrape, (file, line): &(String, u32)) -> Option<f64> {
    let suffix = format!("{file}:{line}:");
    gauge(scrape, "leakscope_location_tasks_alive", |s| {
        s.labels.get("location").is_some_and(|l| l.contains(&suffix))
    })
}

/// Scrapes until `check` accepts, for at most [`WITHIN`].
async fn until<T>(http: SocketAddr, mut check: impl FnMut(&Scrape) -> Result<T, String>) -> T {
    let deadline = Instant::now() + WITHIN;
    loop {
        match check(&scrape(http).await) {
            Ok(found) => return found,
            Err(why) if Instant::now() >= deadline => panic!("not within {WITHIN:?}: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[tokio::test]
async fn a_leaking_zoo_shows_a_rising_series_at_its_spawn_line() {
    let (_zoo, http) = start("unbounded-spawn", 50, &[]);
    let at = marker("spawn", "unbounded-spawn");
    let first = until(http, |s| match at_marker(s, &at) {
        Some(n) if n >= 10.0 => Ok(n),
        other => Err(format!("{other:?} at {at:?}")),
    })
    .await;
    let later = until(http, |s| match at_marker(s, &at) {
        Some(n) if n >= first + 20.0 => Ok(n),
        other => Err(format!("{other:?} at {at:?}, first {first}")),
    })
    .await;
    let scrape = scrape(http).await;
    let alive = gauge(&scrape, "leakscope_tasks_alive", |_| true).unwrap();
    assert!(alive >= later, "{alive} alive in total, {later} at the spawn line");
    let spawned = gauge(&scrape, "leakscope_tasks_spawned_total", |_| true).unwrap();
    assert!(spawned >= alive, "{spawned} spawned");
    let info = gauge(&scrape, "leakscope_agent_info", |s| s.labels.get("tasks") == Some("true"));
    assert_eq!(info, Some(1.0), "the zoo is built with tokio_unstable");
    // The zoo's runtime beats: not stalled, its heartbeat well under the stall threshold.
    let runtime_1 = |s: &prometheus_parse::Sample| s.labels.get("runtime") == Some("1");
    assert_eq!(gauge(&scrape, "leakscope_runtime_stalled", runtime_1), Some(0.0));
    let age = gauge(&scrape, "leakscope_runtime_heartbeat_age_seconds", runtime_1)
        .expect("the heartbeat's age");
    assert!((0.0..1.0).contains(&age), "{age}");
}

#[tokio::test]
async fn the_zoos_many_spawn_lines_stay_within_the_top_locations() {
    let (_zoo, http) = start("all", 20, &[("LEAKSCOPE_METRICS_TOP_LOCATIONS", "3")]);
    let series = until(http, |s| {
        let series: Vec<(String, f64)> = s
            .samples
            .iter()
            .filter(|s| s.metric == "leakscope_location_tasks_alive")
            .map(|s| {
                let value = match s.value {
                    Value::Gauge(v) => v,
                    _ => 0.0,
                };
                (s.labels.get("location").unwrap_or_default().to_owned(), value)
            })
            .collect();
        let other = series.iter().find(|(l, _)| l == "other").map_or(0.0, |(_, v)| *v);
        if other > 0.0 { Ok(series) } else { Err(format!("nothing in other yet: {series:?}")) }
    })
    .await;
    assert_eq!(series.len(), 4, "three named locations and other: {series:?}");
    assert_eq!(series[3].0, "other");
    let named: Vec<f64> = series[..3].iter().map(|(_, v)| *v).collect();
    assert!(named.windows(2).all(|w| w[0] >= w[1]), "largest first: {series:?}");
}

#[tokio::test]
async fn the_zoos_profiles_decode_as_pprof() {
    let (_zoo, http) = start("send-blocked", 30, &[]);
    let at = marker("spawn", "send-blocked");
    until(http, |s| match at_marker(s, &at) {
        Some(n) if n >= 5.0 => Ok(()),
        other => Err(format!("{other:?} at {at:?}")),
    })
    .await;

    let (status, body) = get(http, "/debug/pprof/tasks").await;
    assert_eq!(status, 200);
    let profile = leakscope_profile::pprof::decode(&body).expect("a valid task-wait profile");
    let parked: i64 = profile
        .samples
        .iter()
        .filter(|s| {
            s.stack.first().is_some_and(|f| f.file.ends_with(at.0.as_str()) && f.line == at.1)
        })
        .map(|s| s.values[0])
        .sum();
    assert!(parked >= 5, "tasks at the spawn line in the profile: {parked}");

    let suffix = format!("{}:{}:", at.0, at.1);
    // debug=2 takes no dump unless asked (dump=1), and names the blocked senders either way.
    for (query, dumped) in [("debug=2", false), ("debug=2&dump=1", true)] {
        let (status, body) = get(http, &format!("/debug/pprof/tasks?{query}")).await;
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(!text.starts_with("# no task dump"), dumped, "{query}:\n{text}");
        let blocked = text
            .split("\n\n")
            .filter(|p| p.lines().last().is_some_and(|l| l.contains(&suffix)))
            .filter(|p| p.contains("[waiting in mpsc::Sender::send"))
            .count();
        assert!(blocked >= 5, "{query} names the blocked senders:\n{text}");
    }

    let (status, body) = get(http, "/debug/pprof/profile?seconds=1").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let message = leakscope_profile::pprof::decode_proto(&body).expect("a valid CPU profile");
    assert_eq!(message.sample_type.len(), 2);
}
