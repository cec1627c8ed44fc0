//! Detector thresholds and suppressions: `leakscope.toml` (from `--config`, or `./leakscope.toml`
//! when present), then command-line flags over it. Shared by every command that analyses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use leakscope_analysis::{Config, ConfigError, FindingKind, Glob, Suppression};
use leakscope_gate::parse_bounded_duration;

use crate::exit::CliError;

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG: &str = "leakscope.toml";

/// Thresholds and suppressions. Each flag overrides the same key of the configuration file; the
/// defaults, and the reason for each, are documented on `leakscope_analysis::Config`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Thresholds (each overrides its key in leakscope.toml)")]
pub struct ThresholdArgs {
    /// Read thresholds and suppressions from this file [default: ./leakscope.toml if present]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// stuck: parked in one await at least this long [default: 30s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub stuck_after: Option<Duration>,
    /// stuck: a sleep set for at least this long counts as stuck too [default: 1h]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub long_timer: Option<Duration>,
    /// lost-waker: idle without a waker at least this long [default: 1s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub lost_waker_grace: Option<Duration>,
    /// uncancelled: alive this long after the spawner ended [default: 30s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub uncancelled_after: Option<Duration>,
    /// growth: observe at least this long before judging a trend [default: 30s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub growth_window: Option<Duration>,
    /// growth: with at least this many samples [default: 8]
    #[arg(long, value_name = "N")]
    pub growth_samples: Option<usize>,
    /// growth: and a rise of at least this many live tasks [default: 10]
    #[arg(long, value_name = "N")]
    pub growth_increase: Option<u32>,
    /// blocking: polls at least this long block a worker [default: 10ms]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub blocking_threshold: Option<Duration>,
    /// lock-contention: a waiter parked at least this long [default: 1s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub lock_wait: Option<Duration>,
    /// lock-contention: or at least this many waiters at once [default: 10]
    #[arg(long, value_name = "N")]
    pub lock_waiters: Option<usize>,
    /// deadlock: every wait in the cycle at least this old [default: 1s]
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub deadlock_wait: Option<Duration>,
    /// self-wake: self-wakes above this percentage of wakes [default: 50]
    #[arg(long, value_name = "PERCENT")]
    pub self_wake_percent: Option<u32>,
    /// large-future: spawned futures of at least this many bytes [default: 1024]
    #[arg(long, value_name = "BYTES")]
    pub large_future_bytes: Option<u64>,
    /// Hide findings: KIND, KIND@LOCATION-GLOB or @LOCATION-GLOB (repeatable)
    #[arg(long, value_name = "SPEC", value_parser = parse_suppression)]
    pub suppress: Vec<Suppression>,
}

impl ThresholdArgs {
    /// The configuration file (if any) with the flags applied over it, validated.
    pub fn load(&self) -> Result<Config, CliError> {
        let explicit = self.config.as_deref();
        let default = Path::new(DEFAULT_CONFIG);
        let path = explicit.or_else(|| default.is_file().then_some(default));
        let config = match path {
            Some(path) => read(path)?,
            None => Config::default(),
        };
        self.apply(config)
    }

    /// `config` with every given flag applied, validated.
    pub fn apply(&self, mut config: Config) -> Result<Config, CliError> {
        let set = |slot: &mut Duration, flag: Option<Duration>| {
            if let Some(value) = flag {
                *slot = value;
            }
        };
        set(&mut config.stuck.threshold, self.stuck_after);
        set(&mut config.stuck.long_timer, self.long_timer);
        set(&mut config.lost_waker.grace, self.lost_waker_grace);
        set(&mut config.uncancelled.threshold, self.uncancelled_after);
        set(&mut config.growth.min_window, self.growth_window);
        set(&mut config.blocking.threshold, self.blocking_threshold);
        set(&mut config.lock_contention.threshold, self.lock_wait);
        set(&mut config.deadlock.min_wait, self.deadlock_wait);
        if let Some(samples) = self.growth_samples {
            config.growth.min_samples = samples;
        }
        if let Some(increase) = self.growth_increase {
            config.growth.min_increase = increase;
        }
        if let Some(waiters) = self.lock_waiters {
            config.lock_contention.max_waiters = waiters;
        }
        if let Some(percent) = self.self_wake_percent {
            config.self_wake.min_percent = percent;
        }
        if let Some(bytes) = self.large_future_bytes {
            config.large_future.min_bytes = bytes;
        }
        config.suppressions.extend(self.suppress.iter().cloned());
        config.validate().map_err(|err| CliError::Usage(err.to_string()))?;
        Ok(config)
    }
}

/// Reads and parses a configuration file; every error becomes one line naming the file.
fn read(path: &Path) -> Result<Config, CliError> {
    let failed = |reason: String| CliError::Config { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|err| failed(err.to_string()))?;
    Config::from_toml(&text).map_err(|err| failed(describe(&err, &text)))
}

/// A configuration error as one line: TOML's own error spans several (with a source snippet),
/// so it is reduced to its message and the line and column it points at.
fn describe(err: &ConfigError, text: &str) -> String {
    match err {
        ConfigError::Toml(toml) => {
            let message = toml.message().trim().replace('\n', " ");
            match toml.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {col}: {message}")
                }
                None => message,
            }
        }
        other => other.to_string(),
    }
}

/// `KIND`, `KIND@GLOB` or `@GLOB`.
fn parse_suppression(spec: &str) -> Result<Suppression, String> {
    let (kind, location) = match spec.split_once('@') {
        Some((kind, glob)) => (kind, Some(glob)),
        None => (spec, None),
    };
    let kind = match kind.trim() {
        "" => None,
        name => Some(name.parse::<FindingKind>()?),
    };
    let location = match location.map(str::trim) {
        Some("") => return Err("the location glob after `@` is empty".to_owned()),
        Some(glob) => Some(Glob::new(glob)),
        None => None,
    };
    if kind.is_none() && location.is_none() {
        return Err("expected KIND, KIND@LOCATION-GLOB or @LOCATION-GLOB".to_owned());
    }
    Ok(Suppression { kind, location, task: None, reason: Some("--suppress".to_owned()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_suppression(spec: &str, expected: Result<&str, &str>) {
        let got = parse_suppression(spec).map(|s| {
            format!(
                "{} {}",
                s.kind.map_or("*", FindingKind::as_str),
                s.location.as_ref().map_or("*", Glob::as_str)
            )
        });
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{spec}"),
            (Err(got), Err(expected)) => assert!(got.contains(expected), "{spec}: {got}"),
            (got, expected) => panic!("{spec}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn suppression_specs() {
        check_suppression("stuck", Ok("stuck *"));
        check_suppression("stuck@src/bg/**", Ok("stuck src/bg/**"));
        check_suppression("@src/main.rs:4*", Ok("* src/main.rs:4*"));
        check_suppression("stuk", Err("unknown finding kind `stuk`"));
        check_suppression("stuck@", Err("empty"));
        check_suppression("@", Err("empty"));
        check_suppression("", Err("expected KIND"));
    }

    fn check_config(text: &str, flags: &[&str], expected: Result<&str, &str>) {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            thresholds: ThresholdArgs,
        }
        let args = std::iter::once("test").chain(flags.iter().copied());
        let wrapper = Wrapper::try_parse_from(args).unwrap();
        let parsed = Config::from_toml(text).map_err(|err| describe(&err, text));
        let got = parsed
            .map_err(|reason| CliError::Config { path: "leakscope.toml".into(), reason })
            .and_then(|config| wrapper.thresholds.apply(config))
            .map(|c| {
                format!(
                    "stuck={:?} growth={:?}/{} suppress={}",
                    c.stuck.threshold,
                    c.growth.min_window,
                    c.growth.min_samples,
                    c.suppressions.len()
                )
            })
            .map_err(|err| err.to_string());
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected),
            (Err(got), Err(expected)) => {
                assert!(got.contains(expected), "{got}");
                assert!(!got.contains('\n'), "{got}");
            }
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn flags_override_the_file() {
        check_config("", &[], Ok("stuck=30s growth=30s/8 suppress=0"));
        check_config("[stuck]\nthreshold = \"1m\"\n", &[], Ok("stuck=60s growth=30s/8 suppress=0"));
        check_config(
            "[stuck]\nthreshold = \"1m\"\n[[suppress]]\nkind = \"growth\"\n",
            &["--stuck-after", "2s", "--growth-window", "3s", "--growth-samples", "4"],
            Ok("stuck=2s growth=3s/4 suppress=1"),
        );
        check_config(
            "",
            &["--suppress", "stuck", "--suppress", "@x.rs"],
            Ok("stuck=30s growth=30s/8 suppress=2"),
        );
        check_config(
            "[stuck]\nthreshhold = \"1m\"\n",
            &[],
            Err("failed to use leakscope.toml: line 2, column 1: unknown field `threshhold`"),
        );
        check_config("", &["--growth-samples", "1"], Err("growth.min-samples"));
    }
}
