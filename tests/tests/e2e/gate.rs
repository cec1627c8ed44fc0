//! `leakscope gate`, the real binary, against real zoo processes: `clean` passes 50 runs out of
//! 50 (in every format); every leaking scenario fails, naming its spawn line, in every format
//! (the JUnit report parsed back); run mode starts the service, runs the load, checks settling
//! and stops the service; and failures to reach a verdict exit 2 with one line.
//!
//! Every gate here uses the same short window and the same limits, so that `clean` passing
//! means something: the leaking scenarios fail them.

use crate::support::{Zoo, leakscope_binary, marker, markers, output_text, zoo_binary};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One second of warmup, three of window, limits a healthy service at 20 requests per second
/// stays far below and every leak exceeds within the window.
const LIMITS: &[&str] = &[
    "--warmup",
    "1s",
    "--window",
    "3s",
    "--settle",
    "5s",
    "--max-tasks",
    "400",
    "--max-growth",
    "25",
    "--max-growth",
    "**=15",
    "--max-rate",
    "6/s",
    "--max-rate",
    "**=3/s",
];

/// A fresh empty directory (no stray `leakscope.toml`; room for report files).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakscope-gate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Runs `leakscope gate` with `args` in `dir`.
fn gate(dir: &Path, args: &[&str]) -> Output {
    Command::new(leakscope_binary())
        .arg("gate")
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("leakscope runs")
}

/// The path of a zoo marker as reports show it.
fn zoo_file(file: &str) -> String {
    format!("crates/leakscope-zoo/src/{file}")
}

/// Whether `location` (`file:line:col`) is at one of `at`.
fn is_at(location: &str, at: &[(String, u32)]) -> bool {
    at.iter().any(|(file, line)| location.starts_with(&format!("{}:{line}:", zoo_file(file))))
}

/// Every location a JSON report blames: failing limits, failing findings, settle violations.
fn blamed(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for check in report["limits"].as_array().into_iter().flatten() {
        for v in check["violations"].as_array().into_iter().flatten() {
            out.extend(v["location"].as_str().map(str::to_owned));
        }
    }
    for f in report["findings"].as_array().into_iter().flatten() {
        if f["fails"] == true {
            out.extend(f["location"].as_str().map(str::to_owned));
        }
    }
    for v in report["settle"]["violations"].as_array().into_iter().flatten() {
        out.extend(v["location"].as_str().map(str::to_owned));
    }
    out
}

/// JUnit: (tests, failures) of the suite, and the `file:line` of each failing test case.
fn junit(xml: &str) -> (u64, u64, Vec<String>) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("bad JUnit ({e}):\n{xml}"));
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).expect("a testsuite");
    let number = |name: &str| suite.attribute(name).and_then(|v| v.parse().ok()).expect(name);
    let failing = suite
        .children()
        .filter(|c| c.has_tag_name("testcase"))
        .filter(|c| c.children().any(|f| f.has_tag_name("failure")))
        .filter_map(|c| Some(format!("{}:{}", c.attribute("file")?, c.attribute("line")?)))
        .collect();
    (number("tests"), number("failures"), failing)
}

#[test]
fn clean_passes_fifty_runs_out_of_fifty_in_every_format() {
    // Built before the zoos start, whose lifetime is bounded.
    leakscope_binary();
    let zoos: Vec<Zoo> = (0..5).map(|_| Zoo::start("clean", 20)).collect();
    let dir = scratch("clean");
    let formats = ["text", "json", "junit", "github"];
    let started = Instant::now();
    let results: Vec<(usize, Output)> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..50)
            .map(|run| {
                let (addr, dir) = (zoos[run % zoos.len()].addr.to_string(), &dir);
                scope.spawn(move || {
                    // Half start at once, half a few seconds later: the load on the zoos varies.
                    if run >= 25 {
                        std::thread::sleep(Duration::from_secs(3));
                    }
                    let format = formats[run % formats.len()];
                    let mut args = vec![addr.as_str(), "--format", format];
                    args.extend_from_slice(LIMITS);
                    (run, gate(dir, &args))
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("a gate run")).collect()
    });
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, out)| !out.status.success())
        .map(|(run, out)| format!("run {run}: {}", output_text(out)))
        .collect();
    assert!(failed.is_empty(), "{} of 50 runs failed; first:\n{}", failed.len(), failed[0]);
    for (run, out) in &results {
        let stdout = String::from_utf8_lossy(&out.stdout);
        match formats[run % formats.len()] {
            "json" => {
                let report: Value = serde_json::from_str(&stdout).expect("JSON");
                assert_eq!(report["verdict"], "pass");
                assert!(
                    report["window"]["samples"].as_u64().unwrap() >= 10,
                    "{}",
                    report["window"]
                );
                assert!(report["total"]["peak"].as_u64().unwrap() > 0, "{}", report["total"]);
            }
            "junit" => {
                let (tests, failures, _) = junit(&stdout);
                // Five limits, and one case per default `--fail-on` kind (growth among them).
                assert_eq!((tests, failures), (10, 0), "{stdout}");
            }
            "github" => assert!(!stdout.contains("::error"), "{stdout}"),
            _ => assert!(stdout.starts_with("leakscope gate: PASS"), "{stdout}"),
        }
    }
    // Bounded: 50 gates of four seconds each, run 25 at a time.
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());
}

/// Gates `scenario` with every report format at once and checks each names `at`; returns the
/// directory the reports are in (`name`, unique among the tests).
fn leaking(name: &str, scenario: &str, rate: u32, extra: &[&str], at: &[(String, u32)]) -> PathBuf {
    leakscope_binary();
    let zoo = Zoo::start(scenario, rate);
    let dir = scratch(name);
    let addr = zoo.addr.to_string();
    let mut args = vec![
        addr.as_str(),
        "--format",
        "github",
        "--report",
        "json=gate.json",
        "--report",
        "junit-github=gate.xml",
        "--report",
        "text=gate.txt",
    ];
    args.extend_from_slice(LIMITS);
    args.extend_from_slice(extra);
    let out = gate(&dir, &args);
    assert_eq!(out.status.code(), Some(1), "{scenario}: {}", output_text(&out));

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gate.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"], "fail", "{scenario}");
    // A failing verdict takes no task dump unless `--task-dump` asks.
    if !extra.contains(&"--task-dump") {
        assert!(report["dump"].is_null(), "{scenario}: {}", report["dump"]);
    }
    let runtimes = report["runtimes"].as_array().expect("runtimes is a list");
    assert!(
        runtimes.iter().any(|r| r["id"] == 1 && r["stalled"].is_boolean()),
        "{scenario}: {runtimes:?}"
    );
    let blamed = blamed(&report);
    assert!(blamed.iter().any(|l| is_at(l, at)), "{scenario}: blamed {blamed:?}, expected {at:?}");
    // Every format carries the counts at start, peak and end of the spawn location.
    let row = report["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["location"].as_str().is_some_and(|l| is_at(l, at)))
        .unwrap_or_else(|| panic!("{scenario}: no row for {at:?}: {}", report["locations"]));
    for key in ["start", "peak", "end"] {
        assert!(row[key].is_u64(), "{scenario}: {row}");
    }

    let github = String::from_utf8_lossy(&out.stdout);
    let annotated = github.lines().filter(|l| l.starts_with("::error ")).any(|l| {
        at.iter().any(|(file, line)| l.contains(&format!("file={},line={line},", zoo_file(file))))
    });
    assert!(annotated, "{scenario}: no annotation on {at:?}:\n{github}");

    let (tests, failures, failing) = junit(&std::fs::read_to_string(dir.join("gate.xml")).unwrap());
    assert!(failures >= 1 && tests >= failures, "{scenario}: {tests} tests, {failures} failures");
    let on_line = |l: &String| at.iter().any(|(f, line)| *l == format!("{}:{line}", zoo_file(f)));
    assert!(failing.iter().any(on_line), "{scenario}: failing cases at {failing:?}, not {at:?}");

    let plain = std::fs::read_to_string(dir.join("gate.txt")).unwrap();
    assert!(plain.starts_with("leakscope gate: FAIL"), "{plain}");
    let (file, line) = &at[0];
    assert!(plain.contains(&format!("{}:", zoo_file(file))) && plain.contains("FAIL"), "{plain}");
    let _ = line;
    dir
}

#[test]
fn every_leaking_scenario_fails_naming_its_spawn_line_in_every_format() {
    let scenarios = [
        "unbounded-spawn",
        "no-timeout-upstream",
        "send-blocked",
        "recv-never-closed",
        "missing-cancellation",
        "lost-waker",
        "lock-held-across-await",
        "deadlock",
    ];
    std::thread::scope(|scope| {
        let runs: Vec<_> = scenarios
            .iter()
            .map(|scenario| {
                scope.spawn(move || {
                    leaking(scenario, scenario, 20, &[], &markers("spawn", scenario));
                })
            })
            .collect();
        // Blocking is no leak of tasks: it fails when asked to fail on it.
        runs.into_iter()
            .chain([scope.spawn(|| {
                leaking(
                    "blocking-in-async",
                    "blocking-in-async",
                    5,
                    &[
                        "--fail-on",
                        "blocking,lost-waker,stuck,uncancelled,deadlock",
                        "--fail-severity",
                        "warn",
                    ],
                    &[marker("spawn", "blocking-in-async")],
                );
            })])
            .collect::<Vec<_>>()
            .into_iter()
            .for_each(|run| run.join().expect("a scenario's checks"));
    });
}

/// `--task-dump`: a failing gate takes the dump, says what became of it in every format, and
/// its report still names the spawn line.
#[test]
fn a_failing_gate_takes_a_task_dump_only_when_asked() {
    let scenario = "recv-never-closed";
    let at = markers("spawn", scenario);
    let dir = leaking("task-dump", scenario, 20, &["--task-dump"], &at);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gate.json")).unwrap()).unwrap();
    assert_eq!(report["dump"], "ok", "{}", report["dump"]);
    let plain = std::fs::read_to_string(dir.join("gate.txt")).unwrap();
    assert!(plain.lines().any(|l| l == "  task dump ok"), "{plain}");
    let xml = std::fs::read_to_string(dir.join("gate.xml")).unwrap();
    assert!(xml.contains("<property name=\"task_dump\" value=\"ok\"/>"), "{xml}");
}

/// `--run` for the zoo's `scenario`, its agent on the address the gate hands it.
fn zoo_command(scenario: &str) -> String {
    format!(
        "exec '{}' --scenario {scenario} --rate 20 --bind \"$LEAKSCOPE_BIND\" --duration 120",
        zoo_binary().display()
    )
}

#[test]
fn run_mode_checks_the_load_and_that_tasks_settle_after_it() {
    leakscope_binary();
    let dir = scratch("run");
    let run = |scenario: &str| {
        let service = zoo_command(scenario);
        let mut args = vec!["--run", service.as_str(), "--load", "sleep 2", "--format", "json"];
        args.extend_from_slice(LIMITS);
        gate(&dir, &args)
    };
    let (clean, leaky) = std::thread::scope(|scope| {
        let clean = scope.spawn(|| run("clean"));
        let leaky = scope.spawn(|| run("unbounded-spawn"));
        (clean.join().unwrap(), leaky.join().unwrap())
    });

    assert_eq!(clean.status.code(), Some(0), "{}", output_text(&clean));
    let report: Value = serde_json::from_slice(&clean.stdout).expect("JSON");
    assert_eq!(report["target"]["mode"], "run");
    assert_eq!(report["target"]["load"], "sleep 2");
    assert_eq!(report["target"]["process_name"], "leakscope-zoo");
    assert_eq!(report["settle"]["passed"], true, "{}", report["settle"]);
    // The load's two seconds are the window.
    let window = report["window"]["window_secs"].as_f64().unwrap();
    assert!((1.5..4.0).contains(&window), "{window}");
    // The service was stopped: its agent no longer answers.
    let addr: std::net::SocketAddr = report["target"]["address"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "the service at {addr} outlived the gate");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(leaky.status.code(), Some(1), "{}", output_text(&leaky));
    let report: Value = serde_json::from_slice(&leaky.stdout).expect("JSON");
    assert_eq!(report["settle"]["passed"], false, "{}", report["settle"]);
    let at = markers("spawn", "unbounded-spawn");
    let unsettled: Vec<&str> = report["settle"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["location"].as_str())
        .collect();
    assert!(unsettled.iter().any(|l| is_at(l, &at)), "{unsettled:?}");
    assert!(report["settle"]["end"].as_u64() > report["settle"]["baseline"].as_u64());
}

/// `gate` with `args` exits 2 with one line on stderr containing `expected` (in run mode after
/// whatever the service printed, which goes to stderr too).
/// `code`: 2 for the gate's own errors (usage, connection), 3 when the service or load it
/// started failed (docs/cli.md).
fn check_error(args: &[&str], code: i32, expected: &str) {
    let out = gate(&scratch("errors"), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", output_text(&out));
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("leakscope: ")).collect();
    assert_eq!(ours.len(), 1, "{args:?}: {stderr}");
    assert!(ours[0].contains(expected), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().last(), Some(ours[0]), "{args:?}: the error comes last");
    assert!(out.stdout.is_empty(), "{args:?}: no report without a verdict");
}

#[test]
fn no_verdict_means_exit_two_or_three_and_one_line() {
    // The gate's own errors: 2. Nothing listens on port 1 of loopback.
    check_error(&["127.0.0.1:1", "--window", "1s"], 2, "cannot connect to 127.0.0.1:1");
    check_error(&["not an address"], 2, "invalid address");
    check_error(&["--max-growth", "lots"], 2, "not a whole number");
    check_error(&["--load", "true"], 2, "required arguments were not provided");
    // The service or load it started failed: 3, so CI tells a broken product from a broken
    // pipeline.
    check_error(&["--run", "exit 3"], 3, "exited (exit status 3) before its agent answered");
    let slow = ["--run", "sleep 30", "--startup-timeout", "1s"];
    check_error(&slow, 3, "no leakscope agent answered");
    let service = zoo_command("clean");
    check_error(
        &["--run", &service, "--load", "exit 4", "--warmup", "0s"],
        3,
        "the load `exit 4` failed (exit status 4)",
    );
}

/// The JUnit of real gates, passing and failing, in both flavours: `junit` (the default, what
/// `--format junit` prints) passes the strict schema that mirrors Jenkins xunit's junit-10.xsd;
/// `junit-github` passes its own schema, and names the spawn line in `file`/`line`, which the
/// strict schema refuses. Validated with libxml2's `xmllint` against
/// crates/leakscope-gate/tests/schemas/.
#[test]
fn junit_reports_of_both_flavours_pass_their_schemas() {
    /// `xmllint --schema` on `file`: `Ok`, or its validity errors. Missing `xmllint` fails.
    fn validate(file: &Path, schema: &str) -> Result<(), String> {
        let schema = crate::support::workspace_root()
            .join("crates/leakscope-gate/tests/schemas")
            .join(schema);
        let out = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&schema)
            .arg(file)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "xmllint could not run ({e}): this test needs it; install it with \
                     `cargo xtask tools` (Debian's libxml2-utils)"
                )
            });
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Ok(()),
            Some(3) => Err(stderr),
            _ => panic!("xmllint --schema {} failed ({}):\n{stderr}", schema.display(), out.status),
        }
    }

    leakscope_binary();
    let run = |scenario: &'static str| {
        let zoo = Zoo::start(scenario, 20);
        let dir = scratch(&format!("junit-{scenario}"));
        let addr = zoo.addr.to_string();
        let mut args = vec![
            addr.as_str(),
            "--format",
            "junit",
            "--report",
            "junit=strict.xml",
            "--report",
            "junit-github=github.xml",
        ];
        args.extend_from_slice(LIMITS);
        (scenario, gate(&dir, &args), dir)
    };
    let runs = std::thread::scope(|scope| {
        let clean = scope.spawn(|| run("clean"));
        let leaky = scope.spawn(|| run("unbounded-spawn"));
        [clean.join().unwrap(), leaky.join().unwrap()]
    });
    for (scenario, out, dir) in &runs {
        let expected = if *scenario == "clean" { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(expected), "{scenario}: {}", output_text(out));
        let (strict, github) = (dir.join("strict.xml"), dir.join("github.xml"));
        let strict_xml = std::fs::read_to_string(&strict).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), strict_xml, "{scenario}: stdout");
        if let Err(e) = validate(&strict, "junit-strict.xsd") {
            panic!("{scenario}: `junit` fails the strict schema:\n{e}\n{strict_xml}");
        }
        let github_xml = std::fs::read_to_string(&github).unwrap();
        if let Err(e) = validate(&github, "junit-github.xsd") {
            panic!("{scenario}: `junit-github` fails its schema:\n{e}\n{github_xml}");
        }
        assert!(!strict_xml.contains(" file=\""), "{scenario}: {strict_xml}");
    }

    // The failing report's GitHub flavour points a failing case at the leak's spawn line, and
    // that is exactly what the strict schema refuses.
    let (_, _, dir) = &runs[1];
    let github = dir.join("github.xml");
    let (tests, failures, failing) = junit(&std::fs::read_to_string(&github).unwrap());
    assert!(failures >= 1 && tests >= failures, "{tests} tests, {failures} failures");
    let at = markers("spawn", "unbounded-spawn");
    let on_line = |l: &String| at.iter().any(|(f, line)| *l == format!("{}:{line}", zoo_file(f)));
    assert!(failing.iter().any(on_line), "failing cases at {failing:?}, not {at:?}");
    let refused = validate(&github, "junit-strict.xsd").expect_err("strict took file/line");
    assert!(refused.contains("attribute 'file'"), "{refused}");
}
