//! Go's own pprof (`go tool pprof`) reads every kind of profile this crate writes, and names each
//! spawn site, wait point and blocking site as a node of its own: `-top` lists nodes by function
//! name, the way pprof, Pyroscope and Parca group frames. Go's toolchain must be installed
//! (`cargo xtask tools` installs Debian's `golang-go`); without it these tests fail, saying so.

mod tool;

use std::path::{Path, PathBuf};

use tool::{top_nodes, traces};

use leakscope_profile::pprof::encode;
use leakscope_profile::{
    Profile, TaskFilter, blocking_profile, cpu_profile, diff, lock_wait_profile, read_bytes,
    task_wait_profile,
};
use leakscope_proto::v1::{CpuProfileResponse, CpuSample, Frame as WireFrame};

use crate::support::fixture;

/// A fresh directory, also Go's home and caches, so that pprof reads and writes nothing else.
fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("leakscope-go-pprof-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("binaries")).expect("a temporary directory");
    dir
}

/// Writes `profile` as `<name>.pb.gz` in `dir` and returns what `go tool pprof <report>` prints
/// for it, offline.
fn go_pprof(dir: &Path, name: &str, profile: &Profile, report: &str) -> String {
    let path = dir.join(format!("{name}.pb.gz"));
    std::fs::write(&path, encode(profile)).expect("the profile file");
    tool::run(dir, report, &path)
}

/// The header line of a report that starts with `key:`, without the key.
fn header<'a>(report: &'a str, key: &str) -> Option<&'a str> {
    report.lines().find_map(|line| line.strip_prefix(key)).map(str::trim)
}

/// Checks that `-top` lists exactly `nodes` (in any order) and that `-traces` has every one of
/// `stacks` (leaf first); returns the `-top` report.
fn check(dir: &Path, name: &str, profile: &Profile, nodes: &[&str], stacks: &[&[&str]]) -> String {
    let top = go_pprof(dir, name, profile, "-top");
    let mut listed = top_nodes(&top);
    listed.sort();
    let mut expected: Vec<String> = nodes.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(listed, expected, "the nodes of {name}:\n{top}");
    let report = go_pprof(dir, name, profile, "-traces");
    let found = traces(&report);
    for stack in stacks {
        assert!(
            found.iter().any(|f| f == stack),
            "{name}: no trace {stack:#?} in -traces:\n{report}"
        );
    }
    top
}

#[test]
fn task_wait_profile_names_each_spawn_site_and_wait_point() {
    let dir = scratch("tasks");
    let (model, dump) = fixture();
    let profile = task_wait_profile(&model, Some(&dump), &TaskFilter::all());
    let top = check(
        &dir,
        "tasks",
        &profile,
        &[
            // The leaves, each its own node, then the rest of the stacks.
            "wait: mpsc::Sender::send @ src/server.rs:12",
            "wait: Mutex::lock @ src/cache.rs:7",
            "state: running @ src/server.rs:40",
            "wait: unknown @ src/cache.rs:30",
            "state: running @ src/render.rs:5",
            "tokio::spawn @ src/server.rs:40",
            "tokio::spawn @ src/cache.rs:20",
            "tokio::spawn \"refresher\" @ src/cache.rs:30",
            "tokio::task::spawn_blocking @ src/render.rs:5",
            "tokio::sync::batch_semaphore::Acquire::poll",
            "tokio::sync::mpsc::bounded::Sender::send::{{closure}}",
            "tokio::sync::mutex::Mutex::lock::{{closure}}",
            "app::server::handle::{{closure}}",
            "app::cache::write::{{closure}}",
            // Not demangled into `::push::{{closure}}`.
            "<[u8; 8] as app::Sink>::push::{{closure}}",
        ],
        &[
            &[
                "wait: mpsc::Sender::send @ src/server.rs:12",
                "tokio::sync::batch_semaphore::Acquire::poll",
                "tokio::sync::mpsc::bounded::Sender::send::{{closure}}",
                "<[u8; 8] as app::Sink>::push::{{closure}}",
                "app::server::handle::{{closure}}",
                "tokio::spawn @ src/server.rs:40",
            ],
            &["wait: unknown @ src/cache.rs:30", "tokio::spawn \"refresher\" @ src/cache.rs:30"],
        ],
    );
    // Like Go's goroutine profile: the program, one count per sample.
    assert_eq!(header(&top, "File:"), Some("app"), "{top}");
    assert_eq!(header(&top, "Type:"), Some("tasks"), "{top}");
}

#[test]
fn lock_wait_profile_names_the_lock_and_its_holder() {
    let dir = scratch("locks");
    let (model, dump) = fixture();
    let profile = lock_wait_profile(&model, Some(&dump), &TaskFilter::all());
    let top = check(
        &dir,
        "locks",
        &profile,
        &[
            "held by tokio::spawn \"refresher\" @ src/cache.rs:30",
            "lock: Mutex::lock @ src/cache.rs:7",
            "tokio::sync::mutex::Mutex::lock::{{closure}}",
            "app::cache::write::{{closure}}",
            "tokio::spawn @ src/cache.rs:20",
        ],
        &[&[
            "held by tokio::spawn \"refresher\" @ src/cache.rs:30",
            "lock: Mutex::lock @ src/cache.rs:7",
            "tokio::sync::mutex::Mutex::lock::{{closure}}",
            "app::cache::write::{{closure}}",
            "tokio::spawn @ src/cache.rs:20",
        ]],
    );
    assert_eq!(header(&top, "Type:"), Some("contentions"), "{top}");
}

#[test]
fn blocking_profile_names_each_blocking_site() {
    let dir = scratch("blocking");
    let (model, _) = fixture();
    let mut profile = blocking_profile(&model, &TaskFilter::all());
    // Two locations' blocking polls: each must stay its own node.
    let mut other = profile
        .samples
        .iter()
        .find(|s| s.stack.last().is_some_and(|f| f.function == "blocking poll"))
        .expect("the refresher's long polls")
        .clone();
    other.stack[0].line += 1;
    profile.samples.push(other);
    profile.normalize();
    profile.set_default("blocked");
    check(
        &dir,
        "blocking",
        &profile,
        &[
            "blocking poll @ src/cache.rs:30",
            "blocking poll @ src/cache.rs:31",
            "blocking now @ src/server.rs:40",
            "tokio::spawn \"refresher\" @ src/cache.rs:30",
            "tokio::spawn \"refresher\" @ src/cache.rs:31",
            "tokio::spawn @ src/server.rs:40",
        ],
        &[&["blocking poll @ src/cache.rs:31", "tokio::spawn \"refresher\" @ src/cache.rs:31"]],
    );
}

#[test]
fn cpu_profile_keeps_functions_whole_and_trait_methods_named() {
    let dir = scratch("cpu");
    let frame = |function: &str, file: &str, line| WireFrame {
        function: function.into(),
        file: file.into(),
        line,
        col: 1,
    };
    let worker = frame("tokio::runtime::scheduler::multi_thread::worker::run", "worker.rs", 500);
    // As the agent sends it, with generic arguments; every profile drops them, and pprof must
    // keep the rest (its demangler would cut `<F as ...>` away).
    let sent = "<F as core::ops::function::FnOnce<()>>::call_once<app::Job>";
    let call = "<F as core::ops::function::FnOnce>::call_once";
    let response = CpuProfileResponse {
        frequency_hz: 100,
        duration_nanos: 1_000_000_000,
        samples: vec![
            CpuSample {
                frames: vec![
                    worker.clone(),
                    frame(sent, "ops/function.rs", 250),
                    frame("app::hot", "src/hot.rs", 9),
                ],
                count: 30,
                thread: "worker".into(),
            },
            // The same function at another line is the same node.
            CpuSample {
                frames: vec![
                    worker,
                    frame(sent, "ops/function.rs", 250),
                    frame("app::hot", "src/hot.rs", 12),
                ],
                count: 10,
                thread: "worker".into(),
            },
        ],
        ..CpuProfileResponse::default()
    };
    let mut profile = cpu_profile(&response);
    profile.program = "app".into();
    let top = check(
        &dir,
        "cpu",
        &profile,
        &["app::hot", call, "tokio::runtime::scheduler::multi_thread::worker::run"],
        &[&["app::hot", call, "tokio::runtime::scheduler::multi_thread::worker::run"]],
    );
    // Like Go's CPU profile: CPU time by default, sampled every 10 ms.
    assert_eq!(header(&top, "Type:"), Some("cpu"), "{top}");
    assert!(top.contains("400ms, 100% of 400ms total"), "{top}");
}

#[test]
fn a_difference_names_its_sites_too() {
    let dir = scratch("diff");
    let (model, dump) = fixture();
    let after = task_wait_profile(&model, Some(&dump), &TaskFilter::all());
    let before = task_wait_profile(&model, Some(&dump), &TaskFilter::text("cache"));
    // Through pprof, as the command line reads files.
    let before = read_bytes(&encode(&before), None).unwrap();
    let after = read_bytes(&encode(&after), None).unwrap();
    let difference = diff(&before, &after).unwrap();
    let top = go_pprof(&dir, "diff", &difference, "-top");
    let nodes = top_nodes(&top);
    // What grew: the server's tasks, each at its own site; the cache's did not change.
    for node in [
        "tokio::spawn @ src/server.rs:40",
        "wait: mpsc::Sender::send @ src/server.rs:12",
        "state: running @ src/server.rs:40",
        "tokio::task::spawn_blocking @ src/render.rs:5",
    ] {
        assert!(nodes.iter().any(|n| n == node), "{node} in:\n{top}");
    }
    assert!(!nodes.iter().any(|n| n.contains("src/cache.rs")), "{top}");
    assert_eq!(header(&top, "Type:"), Some("tasks"), "{top}");
}
