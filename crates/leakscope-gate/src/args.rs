//! `leakscope gate`'s flags. The CLI flattens [`GateArgs`] into its `gate` command beside the
//! detector thresholds (`--config`, `--stuck-after`, ...), which arrive as an analysis `Config`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use leakscope_analysis::{FindingKind, Severity};

use crate::input::parse_bounded_duration;
use crate::limits::{Limit, LimitKind};

/// The environment variable that names the target of every command (`snapshot`, `profile`,
/// `gate`, `doctor`, `attach`) when no ADDR is given; the gate also hands it to its load.
pub const ADDR_ENV: &str = "LEAKSCOPE_ADDR";

/// Watch a running service (or start one with `--run`) and fail when its tasks grow past limits
/// or leak.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// The agent: host:port or http://host:port [default: 127.0.0.1:6669; with --run, a free
    /// loopback port handed to the service as LEAKSCOPE_BIND]. The argument wins over
    /// LEAKSCOPE_ADDR
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true)]
    pub addr: Option<String>,

    /// How long to watch after the warmup (in run mode with --load: ignored, the load's run is
    /// the window). Growth is judged from the tasks' spawn times, so a service leaking a task a
    /// second fails within this default
    #[arg(long, value_name = "DUR", default_value = "20s", value_parser = parse_bounded_duration)]
    pub window: Duration,

    /// Watch this long first; the window's start counts are taken when it ends
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_bounded_duration)]
    pub warmup: Duration,

    /// Fail when live tasks peak above N: `N` for the total, `GLOB=N` for each spawn location
    /// matching GLOB (`'**=N'`: every location); repeatable
    #[arg(long, value_name = "[GLOB=]N", value_parser = |s: &str| Limit::parse(LimitKind::MaxTasks, s))]
    pub max_tasks: Vec<Limit>,

    /// Fail when live tasks grow by more than N over the window (end minus start); total or
    /// `GLOB=N` per location; repeatable
    #[arg(long, value_name = "[GLOB=]N", value_parser = |s: &str| Limit::parse(LimitKind::MaxGrowth, s))]
    pub max_growth: Vec<Limit>,

    /// Fail when the fitted trend of live tasks over the window exceeds R per second (`2/s`,
    /// `30/m`); total or `GLOB=R` per location; repeatable
    #[arg(long, value_name = "[GLOB=]R/s", value_parser = |s: &str| Limit::parse(LimitKind::MaxRate, s))]
    pub max_rate: Vec<Limit>,

    /// Fail on findings of these kinds, comma-separated, or `none`
    #[arg(
        long,
        value_name = "KINDS",
        default_value = "lost-waker,stuck,uncancelled,growth,deadlock"
    )]
    pub fail_on: FailOn,

    /// Only findings at least this severe fail (leak, suspect or warn)
    #[arg(long, value_name = "SEVERITY", default_value = "suspect", value_parser = parse_severity)]
    pub fail_severity: Severity,

    /// Before failing a limit, keep measuring (re-checking with backoff) for at most this long, so
    /// that a momentary burst is not a failure; in run mode, how long tasks may take to settle
    /// after the load
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_bounded_duration)]
    pub settle: Duration,

    /// Report format on stdout
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    pub format: Format,

    /// Also write a report to a file: FORMAT=PATH (e.g. junit=leakscope.xml); repeatable
    #[arg(long, value_name = "FORMAT=PATH")]
    pub report: Vec<ReportFile>,

    /// Spawn locations listed in reports, most tasks first
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// When the verdict is failing, also take a task dump so the report names what the tasks
    /// wait on at that moment. Off by default: wait points come from the agent's capture, with
    /// no pause. A dump stops every worker of the app while it runs (0.6-1.6 s at 100k tasks),
    /// re-polls every task, and can wedge a busy multi-thread runtime for good
    /// (tokio-rs/tokio#7478; also #8391, #6343); the agent refuses one while a runtime is
    /// stalled or its run queues are long, and the report says so
    #[arg(long)]
    pub task_dump: bool,

    /// Time between samples [default: a twentieth of the window, between 100ms and 1s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub interval: Option<Duration>,

    /// Run mode: start the service with this shell command (its agent is handed LEAKSCOPE_BIND),
    /// gate it, then stop it
    #[arg(long, value_name = "CMD", help_heading = "Run mode")]
    pub run: Option<String>,

    /// Run this shell command as the load once the warmup is over; then check the growth during
    /// it and that tasks settle back to the baseline after it
    #[arg(long, value_name = "CMD", requires = "run", help_heading = "Run mode")]
    pub load: Option<String>,

    /// How long the service's agent may take to answer [default: 30s]
    #[arg(long, value_name = "DUR", requires = "run", value_parser = parse_bounded_duration, help_heading = "Run mode")]
    pub startup_timeout: Option<Duration>,

    /// After the load, live tasks may stay this many above the baseline, in total and at each
    /// location [default: 5]
    #[arg(long, value_name = "N", requires = "load", help_heading = "Run mode")]
    pub settle_tolerance: Option<u64>,
}

impl GateArgs {
    /// Every limit given, in flag order.
    pub fn limits(&self) -> Vec<Limit> {
        self.max_tasks.iter().chain(&self.max_growth).chain(&self.max_rate).cloned().collect()
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        self.interval.unwrap_or_else(|| {
            (self.window / 20).clamp(Duration::from_millis(100), Duration::from_secs(1))
        })
    }
}

/// The finding kinds that fail the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailOn(pub Vec<FindingKind>);

impl FromStr for FailOn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "none" {
            return Ok(Self(Vec::new()));
        }
        let mut kinds = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let kind: FindingKind = name.parse()?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err("expected finding kinds, comma-separated, or `none`".to_owned());
        }
        Ok(Self(kinds))
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.0.iter().map(|k| k.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: verdict, counts table, limits, findings.
    Text,
    /// The whole report as one JSON document.
    Json,
    /// JUnit XML, one test case per limit and per failing finding kind, for CI test reporters;
    /// strict: only what Jenkins xunit's junit-10.xsd declares.
    Junit,
    /// The same JUnit XML plus the attributes GitHub's reporters read to annotate lines: `file`
    /// and `line` on each test case, `skipped` on `testsuites`.
    JunitGithub,
    /// GitHub Actions workflow commands: `::error file=…,line=…::` on the spawn locations, then
    /// the text report.
    Github,
}

/// `FORMAT=PATH` of `--report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// How to write it.
    pub format: Format,
    /// Where.
    pub path: PathBuf,
}

impl FromStr for ReportFile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (format, path) =
            s.split_once('=').ok_or_else(|| format!("`{s}`: expected FORMAT=PATH"))?;
        let format = Format::from_str(format.trim(), true).map_err(|_| {
            format!("`{format}`: unknown format (text, json, junit, junit-github, github)")
        })?;
        if path.trim().is_empty() {
            return Err(format!("`{s}`: the path after `=` is empty"));
        }
        Ok(Self { format, path: PathBuf::from(path.trim()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        gate: GateArgs,
    }

    /// Parses `argv` and renders the flags that matter, or the error kind.
    fn check(argv: &[&str], expected: Result<&str, clap::error::ErrorKind>) {
        let parsed = Harness::try_parse_from(std::iter::once("gate").chain(argv.iter().copied()));
        let got = parsed
            .map(|h| {
                let g = h.gate;
                let limits: Vec<String> = g.limits().iter().map(ToString::to_string).collect();
                format!(
                    "addr={:?} window={:?} warmup={:?} interval={:?} limits={limits:?} fail-on={} {} \
                     format={:?} reports={} run={:?} load={:?} task-dump={}",
                    g.addr,
                    g.window,
                    g.warmup,
                    g.interval(),
                    g.fail_on,
                    g.fail_severity,
                    g.format,
                    g.report.len(),
                    g.run,
                    g.load,
                    g.task_dump,
                )
            })
            .map_err(|e| e.kind());
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{argv:?}"),
            (Err(got), Err(expected)) => assert_eq!(got, expected, "{argv:?}"),
            (got, expected) => panic!("{argv:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn flags() {
        use clap::error::ErrorKind::*;
        check(
            &[],
            Ok("addr=None window=20s warmup=5s interval=1s limits=[] \
                fail-on=lost-waker,stuck,uncancelled,growth,deadlock suspect format=Text reports=0 \
                run=None load=None task-dump=false"),
        );
        check(
            &[
                "127.0.0.1:7000",
                "--window",
                "3s",
                "--warmup",
                "1s",
                "--max-growth",
                "20",
                "--max-rate",
                "**=2/s",
                "--max-tasks",
                "500",
                "--fail-on",
                "deadlock, lost-waker",
                "--format",
                "junit",
                "--report",
                "json=out.json",
                "--report",
                "github=a.txt",
                "--report",
                "junit-github=b.xml",
            ],
            Ok("addr=Some(\"127.0.0.1:7000\") window=3s warmup=1s interval=150ms \
                limits=[\"max-tasks total ≤ 500\", \"max-growth total ≤ 20\", \
                \"max-rate each location matching ** ≤ 2/s\"] fail-on=deadlock,lost-waker \
                suspect format=Junit reports=3 run=None load=None task-dump=false"),
        );
        check(
            &[
                "--run",
                "./svc",
                "--load",
                "k6 run x.js",
                "--fail-on",
                "none",
                "--fail-severity",
                "leak",
                "--task-dump",
            ],
            Ok("addr=None window=20s warmup=5s interval=1s limits=[] fail-on=none leak \
                format=Text reports=0 run=Some(\"./svc\") load=Some(\"k6 run x.js\") \
                task-dump=true"),
        );
        check(&["--load", "k6"], Err(MissingRequiredArgument));
        check(&["--fail-on", "leaky"], Err(ValueValidation));
        check(&["--fail-on", ","], Err(ValueValidation));
        check(&["--fail-severity", "fatal"], Err(ValueValidation));
        check(&["--max-growth", "lots"], Err(ValueValidation));
        check(&["--window", "soon"], Err(ValueValidation));
        check(&["--report", "junit"], Err(ValueValidation));
        check(&["--report", "xml=a.xml"], Err(ValueValidation));
        check(&["--format", "yaml"], Err(InvalidValue));
    }

    #[test]
    fn report_files() {
        let check = |s: &str, expected: Result<(Format, &str), &str>| {
            let got = s.parse::<ReportFile>().map(|r| (r.format, r.path));
            let expected = expected.map(|(f, p)| (f, PathBuf::from(p))).map_err(str::to_owned);
            assert_eq!(got, expected, "{s}");
        };
        check("junit=a.xml", Ok((Format::Junit, "a.xml")));
        check("junit-github=b.xml", Ok((Format::JunitGithub, "b.xml")));
        check("JUnit = c.xml", Ok((Format::Junit, "c.xml")));
        check(
            "junit_github=d.xml",
            Err("`junit_github`: unknown format (text, json, junit, junit-github, github)"),
        );
        check("junit= ", Err("`junit= `: the path after `=` is empty"));
    }
}
