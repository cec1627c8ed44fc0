//! The `leakscope` binary's edges, run for real: durations past any clock refused in one line
//! within a second (issue 15's panics and hangs), `--interval` longer than `--wait` cut so the
//! watch still ends after `--wait`, output and report paths checked before any watching,
//! `LEAKSCOPE_ADDR` as every command's target (argument > variable > default) and handed to the
//! gate's load, each kind of failure with its own exit code, and the completion script and man
//! page the binary prints, read by bash and man.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Zoo, leakscope_binary, output_text, zoo_binary};

/// A fresh empty directory to run in (no stray `leakscope.toml`; room for output files).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leakscope-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Runs `leakscope args` in `dir` with `env` set (and `LEAKSCOPE_ADDR` unset unless `env` sets
/// it); the output and how long it took.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    // Built (once) before the clock starts.
    let binary = leakscope_binary();
    let started = Instant::now();
    let output = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_remove("LEAKSCOPE_ADDR")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("leakscope runs");
    (output, started.elapsed())
}

fn run(args: &[&str]) -> (Output, Duration) {
    run_in(&scratch("run"), args, &[])
}

/// Asserts `output` ended with `code`, nothing on stdout, and one `leakscope: ` line on stderr
/// (the last line, after whatever a started service printed) containing `fragment`.
fn assert_error(output: &Output, code: i32, fragment: &str) {
    let text = output_text(output);
    assert_eq!(output.status.code(), Some(code), "{text}");
    assert!(output.stdout.is_empty(), "no output without a result: {text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("leakscope: ")).collect();
    assert_eq!(ours.len(), 1, "one line: {text}");
    assert_eq!(stderr.lines().last(), Some(ours[0]), "the error comes last: {text}");
    assert!(ours[0].contains(fragment), "{fragment:?} not in {text}");
}

#[test]
fn durations_past_any_clock_are_one_line_usage_errors_within_a_second() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["snapshot", "127.0.0.1:1", "--wait", "18000000000000000000"],
            "`18000000000000000000` is longer than the longest duration leakscope takes (7d); \
             see 'leakscope snapshot --help'",
        ),
        (&["snapshot", "127.0.0.1:1", "--interval", "10000000000000000000"], "--interval <DUR>"),
        (&["snapshot", "127.0.0.1:1", "--interval", "99999999999s", "--wait", "1s"], "(7d)"),
        (&["snapshot", "--dump-timeout", "1e19", "--task-dump"], "--dump-timeout <DUR>"),
        (&["snapshot", "--first-update-timeout", "8d"], "`8d` is longer"),
        (&["snapshot", "--stuck-after", "99999999999999d"], "--stuck-after <DUR>"),
        (&["gate", "127.0.0.1:1", "--window", "18000000000000000000"], "--window <DUR>"),
        (&["gate", "--interval", "1e19"], "--interval <DUR>"),
        (&["gate", "--run", "true", "--startup-timeout", "1e300"], "--startup-timeout <DUR>"),
        (&["profile", "tasks", "-o", "t.svg", "--dump-timeout", "1e19"], "--dump-timeout"),
        (
            &["profile", "cpu", "-o", "c.svg", "--duration", "0s"],
            "would sample nothing: give a duration of more than 0 (at most 300s); see 'leakscope \
             profile cpu --help'",
        ),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
    ];
    for (args, fragment) in cases {
        let (output, took) = run(args);
        assert_error(&output, 2, fragment);
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
    }
}

#[test]
fn what_the_agents_analysis_and_pages_cannot_do_is_one_line() {
    // Flags first, before anything connects (nothing listens at 127.0.0.1:1).
    let cases: &[(&[&str], &str)] = &[
        (
            &["snapshot", "127.0.0.1:1", "--in-agent", "--wait", "11m"],
            "--in-agent watches for at most 600s (the agent's limit); --wait 660s is longer",
        ),
        (&["snapshot", "127.0.0.1:1", "--order", "id"], "--tasks-of <N>"),
        (&["snapshot", "127.0.0.1:1", "--offset", "5"], "--tasks-of <N>"),
        (&["snapshot", "127.0.0.1:1", "--tasks-of", "0"], "--tasks-of <N>"),
        (&["snapshot", "127.0.0.1:1", "--tasks-of", "1", "--limit", "1001"], "--limit <N>"),
    ];
    for (args, fragment) in cases {
        let (output, took) = run(args);
        assert_error(&output, 2, fragment);
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
    }
    // Then what only the target can say: a group past the report's, from either side.
    let zoo = Zoo::start("clean", 20);
    let addr = zoo.addr.to_string();
    for extra in [&[][..], &["--in-agent"][..]] {
        let args = ["snapshot", &addr, "--wait", "0s", "--tasks-of", "999"];
        let (output, _) = run(&[&args[..], extra].concat());
        assert_error(&output, 2, "--tasks-of 999: the report has ");
    }
    // And a target that cannot analyse: console-subscriber has no such call.
    let app = crate::snapshot::ConsoleApp::start();
    let (output, _) = run(&["snapshot", &app.addr.to_string(), "--in-agent", "--wait", "0s"]);
    assert_error(&output, 2, "console-subscriber does not analyse for its clients");
}

#[test]
fn an_interval_longer_than_the_wait_is_cut_and_the_watch_ends_after_the_wait() {
    let zoo = Zoo::start("clean", 20);
    let addr = zoo.addr.to_string();
    let (output, took) =
        run(&["snapshot", &addr, "--interval", "7d", "--wait", "1s", "--format", "json"]);
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("leakscope: --interval 604800s is longer than --wait 1s; asking for updates every 1s instead"),
        "the cut is stated: {text}"
    );
    // About a second of watching, plus connecting and analysing: far from the 7 days asked.
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "took {took:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("the JSON report");
    assert_eq!(report["target"]["address"], addr.as_str(), "{text}");
}

#[test]
fn outputs_and_reports_are_checked_before_any_watching() {
    // A real agent, and windows long enough that reaching it would show.
    let zoo = Zoo::start("clean", 20);
    let addr = zoo.addr.to_string();
    let dir = scratch("paths");
    let gate = |report: &str| {
        let args = ["gate", &addr, "--warmup", "30s", "--window", "60s", "--report", report];
        run_in(&dir, &args, &[])
    };
    let (output, took) = gate("junit=/nonexistent/x.xml");
    assert_error(
        &output,
        2,
        "--report: cannot write /nonexistent/x.xml: No such file or directory",
    );
    assert!(took < Duration::from_secs(1), "refused before watching: {took:?}");
    let (output, took) = gate(&format!("json={}", dir.display()));
    assert_error(&output, 2, "it is a directory");
    assert!(took < Duration::from_secs(1), "{took:?}");
    // A profile's -o, before sampling (5 s of CPU) or reading the target.
    for kind in [&["cpu", "--duration", "5s"][..], &["tasks"], &["locks"], &["blocking"]] {
        let mut args = vec!["profile"];
        args.extend_from_slice(kind);
        args.extend_from_slice(&[&addr, "-o", "/nonexistent/p.svg"]);
        let (output, took) = run_in(&dir, &args, &[]);
        assert_error(&output, 2, "-o: cannot write /nonexistent/p.svg: No such file or directory");
        assert!(took < Duration::from_secs(1), "{args:?}: {took:?}");
    }
    // A report file that exists is kept as it is by the check (a bad flag later ends the run).
    let kept = dir.join("kept.json");
    std::fs::write(&kept, "old").unwrap();
    let report = format!("json={}", kept.display());
    let (output, _) = run_in(&dir, &["gate", "127.0.0.1:1", "--report", &report], &[]);
    assert_error(&output, 2, "cannot connect to 127.0.0.1:1");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old");
}

#[test]
fn leakscope_addr_is_every_commands_target_and_the_argument_wins() {
    let zoo = Zoo::start("clean", 20);
    let addr = zoo.addr.to_string();
    let dir = scratch("env");
    let env = [("LEAKSCOPE_ADDR", addr.as_str())];

    let (output, _) = run_in(&dir, &["snapshot", "--wait", "0s", "--format", "json"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("the JSON report");
    assert_eq!(report["target"]["address"], addr.as_str());

    let (output, _) = run_in(&dir, &["doctor"], &env);
    let text = output_text(&output);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{text}");
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!("at {addr}")), "{text}");

    let (output, _) = run_in(&dir, &["profile", "tasks", "-o", "t.folded"], &env);
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(dir.join("t.folded").is_file(), "{text}");

    // The variable is read (nothing listens on port 1)...
    let nothing = [("LEAKSCOPE_ADDR", "127.0.0.1:1")];
    let (output, _) = run_in(&dir, &["snapshot", "--wait", "0s"], &nothing);
    assert_error(&output, 2, "cannot connect to 127.0.0.1:1");
    let (output, _) = run_in(&dir, &["gate", "--window", "1s", "--warmup", "0s"], &nothing);
    assert_error(&output, 2, "cannot connect to 127.0.0.1:1");
    // ...and an argument wins over it.
    let (output, _) =
        run_in(&dir, &["snapshot", &addr, "--wait", "0s", "--format", "json"], &nothing);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    // A bad value is the same one-line error as a bad argument.
    let (output, _) = run_in(&dir, &["doctor"], &[("LEAKSCOPE_ADDR", "https://x:1")]);
    assert_error(&output, 2, "invalid address");
}

/// The service of run mode: the zoo's `clean` workload on the port the gate hands it.
fn clean_service() -> String {
    format!(
        "exec '{}' --scenario clean --rate 20 --bind \"$LEAKSCOPE_BIND\" --duration 120",
        zoo_binary().display()
    )
}

#[test]
fn the_gates_load_is_handed_leakscope_addr_and_a_leakscope_command_needs_no_address() {
    let dir = scratch("load");
    // The load runs `leakscope snapshot` with no address, as a load script would.
    let load = format!(
        "test \"$LEAKSCOPE_ADDR\" = \"$LEAKSCOPE_AGENT\" && '{}' snapshot --wait 0s --format json \
         > load.json",
        leakscope_binary().display()
    );
    let service = clean_service();
    let args = [
        "gate",
        "--run",
        &service,
        "--load",
        &load,
        "--warmup",
        "1s",
        "--settle",
        "10s",
        "--settle-tolerance",
        "50",
        "--format",
        "json",
    ];
    let (output, _) = run_in(&dir, &args, &[]);
    let text = output_text(&output);
    assert!(matches!(output.status.code(), Some(0 | 1)), "a verdict: {text}");
    let gate: Value = serde_json::from_slice(&output.stdout).expect("the gate's JSON");
    let seen: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("load.json")).expect("the load's snapshot"),
    )
    .expect("the load's JSON");
    assert_eq!(seen["target"]["address"], gate["target"]["address"], "{text}");
}

#[test]
fn a_service_that_fails_under_the_gate_exits_3_not_2() {
    let (output, took) = run(&["gate", "--run", "exit 3"]);
    assert_error(
        &output,
        3,
        "the service `exit 3` exited (exit status 3) before its agent answered",
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    let service = clean_service();
    let (output, _) = run(&["gate", "--run", &service, "--load", "exit 4", "--warmup", "0s"]);
    assert_error(&output, 3, "the load `exit 4` failed (exit status 4)");
    // The gate's own setup failing is still 2.
    let (output, _) = run(&["gate", "--load", "true"]);
    assert_error(&output, 2, "required arguments were not provided");
}

#[test]
fn attach_without_a_terminal_is_a_terminal_error() {
    let (output, took) = run(&["attach", "127.0.0.1:1"]);
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{text}");
    // Either the terminal check or the connection comes first; both are one line and code 2,
    // never "usage".
    assert!(
        stderr.contains("needs an interactive terminal") || stderr.contains("cannot connect"),
        "{text}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn the_completion_script_parses_in_bash_and_completes() {
    let dir = scratch("completions");
    let (output, _) = run_in(&dir, &["completions", "bash"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let script = dir.join("leakscope.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    let bash = |code: &str| {
        Command::new("bash")
            .args(["--noprofile", "--norc", "-c", code])
            .stdin(Stdio::null())
            .output()
            .expect("bash runs")
    };
    let parsed = bash(&format!("bash -n '{}'", script.display()));
    assert!(parsed.status.success(), "bash -n: {}", output_text(&parsed));
    let completed = bash(&format!(
        "source '{}'; COMP_WORDS=(leakscope gate --rep); COMP_CWORD=2; \
         _leakscope leakscope --rep gate; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    ));
    assert_eq!(String::from_utf8_lossy(&completed.stdout).trim(), "--report");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (output, _) = run_in(&dir, &["completions", shell], &[]);
        assert_eq!(output.status.code(), Some(0), "{shell}: {}", output_text(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("snapshot"), "{shell}");
    }
}

#[test]
fn the_man_page_renders_and_out_dir_writes_one_page_per_command() {
    let dir = scratch("man");
    let (output, _) = run_in(&dir, &["man"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let roff = String::from_utf8(output.stdout).expect("roff is UTF-8");
    for section in
        [".TH leakscope 1", ".SH NAME", ".SH SYNOPSIS", ".SH ENVIRONMENT", ".SH EXIT STATUS"]
    {
        assert!(roff.contains(section), "no {section}");
    }
    let page = dir.join("leakscope.1");
    std::fs::write(&page, &roff).unwrap();
    // man renders it where man is installed (it is on the build machines; a missing man leaves
    // the section checks above as the test).
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let shown = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs");
        let text: String = {
            let mut text = String::new();
            for c in String::from_utf8_lossy(&shown.stdout).chars() {
                if c == '\u{8}' {
                    text.pop();
                } else {
                    text.push(c);
                }
            }
            text
        };
        assert!(shown.status.success(), "{}", output_text(&shown));
        assert!(text.contains("LEAKSCOPE_ADDR") && text.contains("EXIT STATUS"), "{text}");
    }
    let pages = dir.join("pages/man1");
    let (output, _) = run_in(&dir, &["man", "--out-dir", pages.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in
        ["leakscope.1", "leakscope-gate.1", "leakscope-profile-cpu.1", "leakscope-man.1"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} not in {names:?}");
    }
    assert!(names.iter().all(|n| n.ends_with(".1")), "nothing else written: {names:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains(&format!("wrote {} pages", names.len())), "{said}");
    let (output, _) = run_in(&dir, &["man", "--out-dir", "/proc/version"], &[]);
    assert_error(&output, 2, "--out-dir: cannot write into /proc/version: it is not a directory");
}

#[test]
fn an_interrupted_gate_exits_130_with_one_line() {
    use std::io::{BufRead as _, BufReader};
    let service = clean_service();
    let mut gate = Command::new(leakscope_binary())
        .args(["gate", "--run", &service, "--warmup", "60s", "--window", "60s"])
        .current_dir(scratch("interrupt"))
        .env_remove("LEAKSCOPE_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("leakscope runs");
    // The service's start-up line reaches the gate's stderr once the gate is running (and
    // listening for signals): the moment to interrupt it.
    let mut stderr = BufReader::new(gate.stderr.take().expect("piped"));
    let mut seen = String::new();
    while !seen.contains("agent=") {
        seen.clear();
        assert!(stderr.read_line(&mut seen).expect("stderr") > 0, "the service never started");
    }
    let interrupt = Command::new("kill").args(["-INT", &gate.id().to_string()]).status();
    assert!(interrupt.expect("kill runs").success());
    let status = gate.wait().expect("the gate ends");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    assert_eq!(status.code(), Some(130), "{rest}");
    assert_eq!(rest.lines().filter(|l| l.starts_with("leakscope: ")).count(), 1, "{rest}");
    assert_eq!(rest.lines().last(), Some("leakscope: interrupted"), "{rest}");
}
