//! `leakscope profile`, the real binary, against the zoo: the CPU flame graph of
//! `blocking-in-async` names its hot function under its caller; the task-wait profile of
//! `send-blocked` has the stuck producers' stack with as many tasks as the agent reports; its
//! pprof output decodes as a well-formed profile; the difference of `clean` and a leaking run
//! shows the leaking stack; Go's own pprof (`go tool pprof -top`, `-traces`) reads the task,
//! lock, blocking and CPU profiles of a zoo running every scenario and lists each spawn site,
//! wait point and blocking site as a node of its own; and bad targets and outputs exit with code
//! 2 and one line.

use crate::support::{Zoo, leakscope_binary, live_at, marker, markers};
use leakscope_profile::pprof::decode_proto;
use leakscope_profile::{Profile, read_path};
use leakscope_proto::v1::TaskState;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

/// A fresh directory for one test's output files.
fn out_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakscope-profile-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Runs `leakscope profile <args>` off the test's runtime (it blocks until the profile is done).
async fn profile(args: Vec<String>) -> Output {
    let binary = leakscope_binary();
    tokio::task::spawn_blocking(move || {
        Command::new(binary).arg("profile").args(&args).output().expect("leakscope runs")
    })
    .await
    .expect("the command's thread")
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn check_success(output: &Output) {
    assert!(
        output.status.success(),
        "leakscope profile failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The folded lines of a file, as (frames, count).
fn folded(path: &Path) -> Vec<(Vec<String>, u64)> {
    std::fs::read_to_string(path)
        .expect("the folded file")
        .lines()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("a count");
            (stack.split(';').map(str::to_owned).collect(), count.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn cpu_flame_graph_of_blocking_in_async_shows_the_hot_function_under_its_caller() {
    leakscope_binary();
    let zoo = Zoo::start("blocking-in-async", 20);
    let hello = zoo.hello().await;
    assert!(hello.capabilities.is_some_and(|c| c.cpu_profile), "{hello:?}");
    let dir = out_dir("cpu");
    let (svg, stacks) = (dir.join("cpu.svg"), dir.join("cpu.folded"));
    let addr = zoo.addr.to_string();
    for out in [&svg, &stacks] {
        let output = profile(args(&[
            "cpu",
            &addr,
            "--duration",
            "3s",
            "--frequency",
            "499",
            "-o",
            out.to_str().unwrap(),
        ]))
        .await;
        check_success(&output);
    }
    let svg = std::fs::read_to_string(&svg).expect("the SVG");
    assert!(svg.starts_with("<?xml") && svg.contains("</svg>"), "an SVG document");
    assert!(svg.contains("leakscope CPU profile"), "titled");
    assert!(svg.contains("burn_cpu"), "the hot function is in the flame graph");
    // The interrupted function is the leaf, with the task's own code right above it: the
    // recovered leaf and a whole frame-pointer walk.
    let stacks = folded(&stacks);
    let total: u64 = stacks.iter().map(|(_, n)| n).sum();
    let hot: u64 = stacks
        .iter()
        .filter(|(frames, _)| {
            let n = frames.len();
            n >= 2
                && frames[n - 1].contains("blocking_in_async::burn_cpu")
                && frames[n - 2].contains("blocking_in_async.rs")
        })
        .map(|(_, n)| n)
        .sum();
    assert!(hot >= 10 && hot * 2 >= total, "{hot} of {total} samples in burn_cpu: {stacks:#?}");
    let rooted = stacks
        .iter()
        .filter(|(frames, _)| frames.last().is_some_and(|f| f.contains("burn_cpu")))
        .all(|(frames, _)| frames.iter().any(|f| f.contains("tokio::runtime::")));
    assert!(rooted, "the walk reaches the runtime above the task: {stacks:#?}");
}

#[tokio::test]
async fn task_wait_profile_of_send_blocked_counts_the_stuck_producers() {
    leakscope_binary();
    let zoo = Zoo::start("send-blocked", 30);
    let at = marker("spawn", "send-blocked");
    let stuck = |s: &leakscope_proto::v1::Snapshot| {
        live_at(s, &at).into_iter().filter(|t| t.state == TaskState::Idle as i32).count()
    };
    let before = zoo
        .until(WITHIN, |s| match stuck(s) {
            n if n >= 20 => Ok(n),
            n => Err(format!("{n} idle producers")),
        })
        .await;
    let dir = out_dir("tasks");
    let (stacks, pprof) = (dir.join("tasks.folded"), dir.join("tasks.pb.gz"));
    let addr = zoo.addr.to_string();
    // No task dump: the await chains are the agent's captures.
    for out in [&stacks, &pprof] {
        let output = profile(args(&["tasks", &addr, "-o", out.to_str().unwrap()])).await;
        check_success(&output);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("task dump"), "{stderr}");
    }
    let after = live_at(&zoo.snapshot().await, &at).len();

    // The expected stack: spawned at the marked line, parked in the channel's permit wait (the
    // leaf a release build's dump keeps), named as a bounded send.
    let spawned_there = |frame: &str| {
        frame.starts_with("tokio::spawn (") && frame.ends_with(&format!("{}:{})", at.0, at.1))
    };
    let stacks = folded(&stacks);
    let producers: Vec<&(Vec<String>, u64)> =
        stacks.iter().filter(|(frames, _)| spawned_there(&frames[0])).collect();
    let expected: Vec<&&(Vec<String>, u64)> = producers
        .iter()
        .filter(|(frames, _)| {
            frames.last().is_some_and(|f| f == "wait: mpsc::Sender::send")
                && frames.iter().any(|f| f.contains("batch_semaphore"))
        })
        .collect();
    let count: u64 = expected.iter().map(|(_, n)| n).sum();
    assert!(
        before as u64 <= count && count <= after as u64,
        "{count} tasks in the expected stack; the agent had {before} stuck before and {after} \
         live after: {stacks:#?}"
    );
    // Everything spawned there waits in the send, but for a newcomer or two not parked yet.
    let all: u64 = producers.iter().map(|(_, n)| n).sum();
    assert!(all - count <= 3, "{all} producers, {count} in the expected stack: {stacks:#?}");

    // The pprof file of the same profile is well-formed and carries the same kind of data.
    let bytes = std::fs::read(&pprof).expect("the pprof file");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzipped");
    let message = decode_proto(&bytes).expect("a valid pprof profile");
    let s = |i: i64| message.string_table[i as usize].as_str();
    assert_eq!(s(0), "");
    let types: Vec<(&str, &str)> =
        message.sample_type.iter().map(|t| (s(t.r#type), s(t.unit))).collect();
    assert_eq!(types, [("tasks", "count"), ("wait", "nanoseconds")]);
    assert_eq!(s(message.default_sample_type), "tasks");
    assert!(!message.location.is_empty() && !message.function.is_empty());
    assert!(message.location.iter().all(|l| l.id != 0 && !l.line.is_empty()));
    let decoded: Profile = read_path(&pprof).expect("readable back");
    let tasks = decoded.total(0) as u64;
    assert!(tasks >= before as u64, "{tasks} tasks in the pprof profile, {before} stuck before");
    assert_eq!(wait_sources(&decoded, &at, "dump"), 0, "no task dump unless asked");
    assert!(wait_sources(&decoded, &at, "capture") >= before as i64, "captured chains");

    // `--task-dump` still takes one: the producers' chains then come from it.
    let dumped = dir.join("tasks-dumped.pb.gz");
    let output = profile(args(&[
        "tasks",
        &addr,
        "--task-dump",
        "--dump-timeout",
        "10s",
        "-o",
        dumped.to_str().unwrap(),
    ]))
    .await;
    check_success(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("did not succeed"), "{stderr}");
    // The producers' chains come from the dump now, not the capture: labelled `dump`, or `wait`
    // where the dump's leaf (a release build keeps only `batch_semaphore::poll`) names nothing and
    // the agent's wait record names the send. Newcomers spawned after the dump may differ.
    let decoded: Profile = read_path(&dumped).expect("readable back");
    let dumped_chains = wait_sources(&decoded, &at, "dump") + wait_sources(&decoded, &at, "wait");
    assert!(dumped_chains >= before as i64, "{dumped_chains}: {:#?}", decoded.samples);
    assert!(wait_sources(&decoded, &at, "capture") <= 3, "{:#?}", decoded.samples);
}

/// Tasks spawned at `at` whose sample is labelled `wait_source=<source>`.
fn wait_sources(profile: &Profile, at: &(String, u32), source: &str) -> i64 {
    profile
        .samples
        .iter()
        .filter(|s| {
            s.stack.first().is_some_and(|f| f.file.ends_with(at.0.as_str()) && f.line == at.1)
        })
        .filter(|s| s.labels.iter().any(|l| l.key == "wait_source" && l.value == source))
        .map(|s| s.values[0])
        .sum()
}

#[tokio::test]
async fn diff_of_clean_against_a_leaking_run_shows_the_leaking_stack() {
    leakscope_binary();
    let (clean, leaking) = (Zoo::start("clean", 20), Zoo::start("send-blocked", 30));
    let at = marker("spawn", "send-blocked");
    leaking
        .until(WITHIN, |s| match live_at(s, &at).len() {
            n if n >= 20 => Ok(()),
            n => Err(format!("{n} live producers")),
        })
        .await;
    let dir = out_dir("diff");
    let (before, after) = (dir.join("clean.folded"), dir.join("leaking.pb.gz"));
    for (zoo, out) in [(&clean, &before), (&leaking, &after)] {
        let addr = zoo.addr.to_string();
        check_success(&profile(args(&["tasks", &addr, "-o", out.to_str().unwrap()])).await);
    }
    let (svg, stacks) = (dir.join("diff.svg"), dir.join("diff.folded"));
    for out in [&svg, &stacks] {
        let output = profile(args(&[
            "diff",
            before.to_str().unwrap(),
            after.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]))
        .await;
        check_success(&output);
    }
    let spawned_there = |line: &str| {
        line.split(';').next().is_some_and(|root| {
            root.starts_with("tokio::spawn (") && root.ends_with(&format!("{}:{})", at.0, at.1))
        })
    };
    let text = std::fs::read_to_string(&stacks).expect("the diff");
    let grown: Vec<(u64, u64)> = text
        .lines()
        .filter(|line| spawned_there(line))
        .filter_map(|line| {
            let mut fields = line.rsplitn(3, ' ');
            let after = fields.next()?.parse().ok()?;
            let before = fields.next()?.parse().ok()?;
            Some((before, after))
        })
        .collect();
    let grew: u64 = grown.iter().map(|(b, a)| a - b).sum();
    assert!(
        grown.iter().all(|(b, _)| *b == 0) && grew >= 20,
        "the leaking stack is new in the diff: {grown:?}\n{text}"
    );
    let svg = std::fs::read_to_string(&svg).expect("the SVG");
    assert!(svg.contains("mpsc::Sender::send") && svg.contains("send_blocked.rs"), "drawn");
    assert!(svg.contains("difference"), "titled as a difference");
}

#[tokio::test]
async fn unusable_targets_and_outputs_exit_2_with_one_line() {
    let dir = out_dir("errors");
    let svg = dir.join("x.svg");
    let check = |output: Output, expected: &str| {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("leakscope: ") && stderr.contains(expected), "{stderr}");
    };
    // Port 1 on loopback: nothing listens there.
    check(
        profile(args(&["tasks", "127.0.0.1:1", "-o", svg.to_str().unwrap()])).await,
        "cannot connect to 127.0.0.1:1",
    );
    let png = dir.join("x.png");
    std::fs::write(dir.join("a.folded"), "main 1\n").unwrap();
    let a = dir.join("a.folded");
    check(
        profile(args(&[
            "diff",
            a.to_str().unwrap(),
            a.to_str().unwrap(),
            "-o",
            png.to_str().unwrap(),
        ]))
        .await,
        "unknown profile format",
    );
    check(
        profile(args(&[
            "diff",
            a.to_str().unwrap(),
            "/nonexistent/b.folded",
            "-o",
            svg.to_str().unwrap(),
        ]))
        .await,
        "failed to read /nonexistent/b.folded",
    );
    std::fs::write(dir.join("bad.folded"), "main one\n").unwrap();
    check(
        profile(args(&[
            "diff",
            a.to_str().unwrap(),
            dir.join("bad.folded").to_str().unwrap(),
            "-o",
            svg.to_str().unwrap(),
        ]))
        .await,
        "folded stacks, line 1",
    );
    check(profile(args(&["cpu", "--frequency", "0", "-o", "x.svg"])).await, "--frequency");
    // A duration of 0 would be the agent's default of 10 s; one past any duration never panics.
    check(profile(args(&["cpu", "--duration", "0s", "-o", "x.svg"])).await, "sample nothing");
    check(profile(args(&["cpu", "--duration", "1e400", "-o", "x.svg"])).await, "--duration");
    // Past the agent's limit: cut to 300 s and said before anything connects (here to nothing).
    let cut = profile(args(&["cpu", "127.0.0.1:1", "--duration", "99999999999s", "-o", "x.svg"]));
    let cut = cut.await;
    assert_eq!(cut.status.code(), Some(2), "{cut:?}");
    let stderr = String::from_utf8_lossy(&cut.stderr);
    let first =
        "leakscope: --duration 99999999999s is past the agent's limit; sampling for 300s instead";
    assert_eq!(stderr.lines().next(), Some(first), "{stderr}");
    assert!(stderr.contains("cannot connect to 127.0.0.1:1"), "{stderr}");
}

#[path = "../../../crates/leakscope-profile/tests/go_pprof/tool.rs"]
mod go_tool;
use go_tool::{top_nodes, traces};

/// What `go tool pprof <report> <file>` prints, offline, in `dir`.
fn go_pprof(dir: &Path, report: &str, file: &Path) -> String {
    go_tool::run(dir, report, file)
}

/// The pprof node of a spawn site: `tokio::spawn @ <...>scenarios/send_blocked.rs:33`.
fn is_spawn_node(node: &str, (file, line): &(String, u32)) -> bool {
    node.starts_with("tokio::spawn @ ") && node.ends_with(&format!("{file}:{line}"))
}

#[tokio::test]
async fn go_pprof_names_each_site_of_a_zoo_running_every_scenario() {
    leakscope_binary();
    let zoo = Zoo::start("all", 20);
    let leaking = ["send-blocked", "recv-never-closed", "missing-cancellation", "lost-waker"];
    let spawns: Vec<(String, u32)> = leaking.iter().map(|s| marker("spawn", s)).collect();
    let locked = marker("spawn", "lock-held-across-await");
    let blocking = marker("spawn", "blocking-in-async");
    zoo.until(WITHIN, |s| {
        let short: Vec<String> = spawns
            .iter()
            .chain([&locked])
            .filter(|at| live_at(s, at).len() < 3)
            .map(|at| format!("{}:{}", at.0, at.1))
            .collect();
        if short.is_empty() { Ok(()) } else { Err(format!("fewer than 3 live tasks at {short:?}")) }
    })
    .await;
    // The blocking scenario's long polls are counted per location once one has happened.
    zoo.until(WITHIN, |s| {
        let polls: u64 = s
            .poll_stats
            .iter()
            .filter(|p| crate::support::is_at(s, p.location_id, &blocking))
            .map(|p| p.long_polls)
            .sum();
        if polls > 0 { Ok(()) } else { Err("no long poll at the blocking scenario yet".into()) }
    })
    .await;
    let dir = out_dir("go-pprof");
    let addr = zoo.addr.to_string();
    let file = |kind: &str| dir.join(format!("{kind}.pb.gz"));
    for kind in ["tasks", "locks", "blocking"] {
        check_success(&profile(args(&[kind, &addr, "-o", file(kind).to_str().unwrap()])).await);
    }
    check_success(
        &profile(args(&["cpu", &addr, "--duration", "2s", "-o", file("cpu").to_str().unwrap()]))
            .await,
    );

    // Tasks: every leaking scenario's spawn line is a node of its own, none a bare
    // `tokio::spawn`, and the send-blocked producers' traces end in the send's wait point.
    let top = go_pprof(&dir, "-top", &file("tasks"));
    let nodes = top_nodes(&top);
    assert!(top.contains("Type: tasks"), "{top}");
    // The mapping names the program, as in Go's profiles, not the profile's title.
    assert!(top.starts_with("File: leakscope-zoo\n"), "{top}");
    for at in &spawns {
        assert!(nodes.iter().any(|n| is_spawn_node(n, at)), "no node for {at:?}:\n{top}");
    }
    let deadlock_sites = markers("spawn", "deadlock");
    let deadlocked = deadlock_sites.iter().filter(|at| nodes.iter().any(|n| is_spawn_node(n, at)));
    assert!(deadlocked.count() >= 2, "the deadlock's spawn lines are nodes of their own:\n{top}");
    let spawn_nodes = nodes.iter().filter(|n| n.starts_with("tokio::spawn")).count();
    assert!(spawn_nodes >= spawns.len() + 2, "{spawn_nodes} spawn nodes:\n{top}");
    assert!(!nodes.iter().any(|n| n == "tokio::spawn"), "{top}");
    assert!(!nodes.iter().any(|n| n.starts_with("::")), "no demangled-away type:\n{top}");
    let report = go_pprof(&dir, "-traces", &file("tasks"));
    let sends = traces(&report)
        .into_iter()
        .filter(|stack| stack.last().is_some_and(|root| is_spawn_node(root, &spawns[0])))
        .filter(|stack| stack[0].starts_with("wait: mpsc::Sender::send @ "))
        .count();
    assert!(sends > 0, "send-blocked's producers wait in the send:\n{report}");

    // Locks: the waiters of lock-held-across-await, at their spawn line, on a named lock.
    let top = go_pprof(&dir, "-top", &file("locks"));
    let nodes = top_nodes(&top);
    assert!(top.contains("Type: contentions"), "{top}");
    assert!(nodes.iter().any(|n| is_spawn_node(n, &locked)), "{top}");
    assert!(nodes.iter().any(|n| n.starts_with("lock: Mutex::lock @ ")), "{top}");
    let report = go_pprof(&dir, "-traces", &file("locks"));
    assert!(
        traces(&report).iter().any(|stack| stack.last().is_some_and(|r| is_spawn_node(r, &locked))),
        "{report}"
    );

    // Blocking: the blocking poll is named after its scenario's spawn line.
    let top = go_pprof(&dir, "-top", &file("blocking"));
    let nodes = top_nodes(&top);
    let site = format!("{}:{}", blocking.0, blocking.1);
    assert!(nodes.iter().any(|n| n.starts_with("blocking poll @ ") && n.ends_with(&site)), "{top}");
    let report = go_pprof(&dir, "-traces", &file("blocking"));
    assert!(traces(&report).iter().any(|s| s.last().is_some_and(|r| is_spawn_node(r, &blocking))));

    // CPU: CPU time by default, as Go's; real functions keep their full names.
    let top = go_pprof(&dir, "-top", &file("cpu"));
    assert!(top.contains("Type: cpu"), "{top}");
    // Named from the handshake, as the task profiles are.
    assert!(top.starts_with("File: leakscope-zoo\n"), "{top}");
    let nodes = top_nodes(&top);
    assert!(!nodes.is_empty(), "{top}");
    assert!(!nodes.iter().any(|n| n.starts_with("::")), "no demangled-away type:\n{top}");
    assert!(!traces(&go_pprof(&dir, "-traces", &file("cpu"))).is_empty());
}
