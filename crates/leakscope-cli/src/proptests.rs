//! Property tests over the argument parsers: whatever a user types as a duration, a count, a
//! report spec, a limit or an address, parsing ends in a value or a one-line error, never a
//! panic; and every duration that parses is bounded, so the arithmetic the commands do with it
//! (deadlines, stall limits) cannot overflow.

use std::time::Duration;

use clap::Parser as _;
use leakscope_gate::{MAX_DURATION, ReportFile};
use proptest::prelude::*;

use crate::cli::{Cli, Command};

/// Text a user might type as a value: anything printable, numbers of every size with and
/// without units, floats in exponent form, and near-misses.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[0-9]{1,26}(\\.[0-9]{0,12})?(ns|us|µs|ms|s|m|h|d|x|)?",
        "([0-9]{1,6}(ns|us|ms|s|m|h|d)){1,4}",
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| x.to_string()),
        "-?[0-9]{0,3}(\\.[0-9]{0,3})?e-?[0-9]{1,4}(s|ms)?",
        "(\\*\\*|src/\\*\\.rs|[a-z/]{0,8})=[0-9]{0,22}(/s|/m|/h)?",
        "(text|json|junit|junit-github|github|xml|)=[ -~]{0,12}",
        "(http://|https://|)[a-z0-9.:\\[\\]]{0,20}(:[0-9]{0,7})?",
    ]
}

/// Parses `argv` after `leakscope`, renders an error as the one line the user sees, and checks
/// the bounds of what parsed.
fn parse(argv: &[&str]) {
    let full = std::iter::once("leakscope").chain(argv.iter().copied());
    match Cli::try_parse_from(full) {
        Ok(cli) => check_bounds(cli.command),
        Err(err) => {
            let line = crate::exit::clap_error_line(&err);
            assert!(!line.contains('\n'), "{argv:?}: {line}");
        }
    }
}

/// Every duration a command holds is at most `MAX_DURATION`, and the sums the commands make
/// from them fit in a deadline.
fn check_bounds(command: Command) {
    let now = tokio::time::Instant::now();
    let bounded = |d: Duration| {
        assert!(d <= MAX_DURATION, "{d:?}");
        // What the watches do with durations: deadlines, twice the interval, twenty intervals.
        let _ = now + d + d * 2;
        let _ = d * 20;
    };
    match command {
        Command::Snapshot(args) => {
            bounded(args.wait);
            bounded(args.dump_timeout);
            args.interval.into_iter().for_each(bounded);
            args.first_update_timeout.into_iter().for_each(bounded);
            let (interval, _) = args.watch_interval();
            if let Some(interval) = interval
                && !args.wait.is_zero()
            {
                assert!(interval <= args.wait, "the interval is cut to --wait");
            }
        }
        Command::Gate(gate) => {
            let g = &gate.gate;
            for d in [g.window, g.warmup, g.settle, g.interval()] {
                bounded(d);
            }
            g.startup_timeout.into_iter().for_each(bounded);
        }
        Command::Profile(profile) => {
            if let crate::ProfileKind::Cpu(args) = profile.kind {
                let (duration, _) = args.sampling_time();
                assert!(!duration.is_zero() && duration <= Duration::from_secs(300));
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_flags_never_panic(value in value()) {
        for flag in ["--wait", "--interval", "--dump-timeout", "--first-update-timeout",
                     "--groups", "--format", "--stuck-after"] {
            parse(&["snapshot", "127.0.0.1:1", &format!("{flag}={value}")]);
        }
        parse(&["snapshot", "--wait=1s", "--interval", &value]);
    }

    #[test]
    fn gate_flags_never_panic(value in value()) {
        for flag in ["--window", "--warmup", "--settle", "--interval", "--max-tasks",
                     "--max-growth", "--max-rate", "--fail-on", "--fail-severity", "--report",
                     "--top"] {
            parse(&["gate", &format!("{flag}={value}")]);
        }
        parse(&["gate", "--run", "true", &format!("--startup-timeout={value}")]);
        parse(&["gate", "--run", "true", "--load", "true", &format!("--settle-tolerance={value}")]);
    }

    #[test]
    fn profile_flags_never_panic(value in value()) {
        parse(&["profile", "cpu", "-o", "x.svg", &format!("--duration={value}")]);
        parse(&["profile", "cpu", "-o", "x.svg", &format!("--frequency={value}")]);
        parse(&["profile", "tasks", "-o", "x.svg", &format!("--dump-timeout={value}")]);
        parse(&["profile", "tasks", "-o", &value]);
        parse(&["completions", &value]);
    }

    #[test]
    fn report_specs_and_addresses_never_panic(value in value()) {
        if let Ok(report) = value.parse::<ReportFile>() {
            prop_assert!(!report.path.as_os_str().is_empty());
        }
        let _ = leakscope_client::Target::parse(&value);
        for kind in [leakscope_gate::LimitKind::MaxTasks, leakscope_gate::LimitKind::MaxGrowth,
                     leakscope_gate::LimitKind::MaxRate] {
            let _ = leakscope_gate::Limit::parse(kind, &value);
        }
        if let Ok(duration) = leakscope_gate::parse_bounded_duration(&value) {
            prop_assert!(duration <= MAX_DURATION);
        }
    }
}

#[test]
fn the_overflows_of_issue_15_are_one_line_errors() {
    let check = |argv: &[&str], expected: &str| {
        let full = std::iter::once("leakscope").chain(argv.iter().copied());
        let err = Cli::try_parse_from(full).expect_err("refused at parse time");
        let line = crate::exit::clap_error_line(&err);
        assert!(line.contains(expected), "{argv:?}: {line}");
        assert!(!line.contains('\n'));
    };
    check(
        &["snapshot", "127.0.0.1:1", "--wait", "18000000000000000000"],
        "invalid value '18000000000000000000' for '--wait <DUR>': `18000000000000000000` is longer \
         than the longest duration leakscope takes (7d)",
    );
    check(
        &["snapshot", "--interval", "10000000000000000000"],
        "`10000000000000000000` is longer than the longest duration leakscope takes (7d)",
    );
    check(&["snapshot", "--interval", "99999999999s", "--wait", "1s"], "`99999999999s` is longer");
    check(&["gate", "--window", "8d"], "for '--window <DUR>'");
    check(&["profile", "cpu", "-o", "x", "--duration", "0s"], "would sample nothing");
}
