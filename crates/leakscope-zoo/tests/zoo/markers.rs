//! The source markers end-to-end tests rely on: each on the line it promises, in the file of the
//! scenario it names, after rustfmt has had its way with the code.

use leakscope_zoo::Scenario;
use std::path::PathBuf;

/// A marker found in a scenario file: its kind (`spawn`, `wait`, `blocking`, `lock`), the scenario it
/// names, and the code on its line.
struct Marker {
    kind: String,
    scenario: String,
    code: String,
}

fn markers_of(scenario: Scenario) -> Vec<Marker> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/scenarios")
        .join(format!("{}.rs", scenario.name().replace('-', "_")));
    let source = std::fs::read_to_string(&file)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", file.display()));
    source
        .lines()
        .filter_map(|line| {
            let (code, marker) = line.split_once("// zoo:")?;
            let (kind, scenario) = marker.trim().split_once(' ')?;
            Some(Marker {
                kind: kind.to_owned(),
                scenario: scenario.to_owned(),
                code: code.to_owned(),
            })
        })
        .collect()
}

/// Checks that `scenario`'s file has exactly `spawns`, `waits`, `blocking` and `locks` markers of
/// each kind, each naming `scenario` and sitting on the kind of line it promises.
fn check(scenario: Scenario, spawns: usize, waits: usize, blocking: usize, locks: usize) {
    let markers = markers_of(scenario);
    for marker in &markers {
        assert_eq!(marker.scenario, scenario.name(), "marker in {scenario}'s file names another");
        let on_its_line = match marker.kind.as_str() {
            "spawn" => marker.code.contains("tokio::spawn("),
            "wait" => marker.code.contains(".await") || marker.code.contains("Poll::Pending"),
            "blocking" => marker.code.contains("std::thread::sleep("),
            // Where the contended lock is made (`Mutex::new(`, or a `default()` that makes one).
            "lock" => marker.code.contains("Mutex::new(") || marker.code.contains("::default()"),
            other => panic!("{scenario}: unknown marker kind {other:?}"),
        };
        assert!(on_its_line, "{scenario}: `zoo:{}` marker on {:?}", marker.kind, marker.code);
    }
    let count = |kind: &str| markers.iter().filter(|m| m.kind == kind).count();
    assert_eq!(
        (count("spawn"), count("wait"), count("blocking"), count("lock")),
        (spawns, waits, blocking, locks),
        "{scenario}: (spawn, wait, blocking, lock) markers"
    );
}

#[test]
fn every_scenario_marks_its_lines() {
    check(Scenario::UnboundedSpawn, 1, 1, 0, 0);
    check(Scenario::NoTimeoutUpstream, 1, 1, 0, 0);
    check(Scenario::SendBlocked, 1, 1, 0, 0);
    check(Scenario::RecvNeverClosed, 1, 1, 0, 0);
    check(Scenario::MissingCancellation, 1, 1, 0, 0);
    check(Scenario::LostWaker, 1, 1, 0, 0);
    check(Scenario::LockHeldAcrossAwait, 1, 1, 0, 1);
    check(Scenario::BlockingInAsync, 1, 0, 1, 0);
    // Two mutex transfers and two channel handshakes; each pair shares its function.
    check(Scenario::Deadlock, 4, 2, 0, 0);
    check(Scenario::Clean, 0, 0, 0, 0);
}
