//! Thresholds and suppressions, read from `leakscope.toml`; the caller merges command-line flags
//! over the result by setting fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::human;
use crate::error::ConfigError;
use crate::finding::FindingKind;
use crate::glob::Glob;
use crate::location::SourceLocation;

/// Every detector's thresholds and the suppressions.
///
/// Each section is named after its finding kind; durations are written `"30s"`, `"10ms"`, `"5m"`
/// or as a number of seconds. Every key is optional, and unknown keys are errors (a typo must not
/// silently keep a default):
///
/// ```toml
/// [stuck]
/// threshold = "1m"
///
/// [growth]
/// min-window = "2m"
/// min-increase = 50
///
/// [[suppress]]
/// kind = "uncancelled"
/// location = "src/background/**"
/// reason = "metrics flushers outlive the request on purpose"
///
/// [[suppress]]
/// task = "heartbeat-*"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// `lost-waker`.
    pub lost_waker: LostWakerConfig,
    /// `stuck`.
    pub stuck: StuckConfig,
    /// `uncancelled`.
    pub uncancelled: UncancelledConfig,
    /// `growth`.
    pub growth: GrowthConfig,
    /// `blocking`.
    pub blocking: BlockingConfig,
    /// `lock-contention`.
    pub lock_contention: LockContentionConfig,
    /// `deadlock`.
    pub deadlock: DeadlockConfig,
    /// `self-wake`.
    pub self_wake: SelfWakeConfig,
    /// `large-future`.
    pub large_future: LargeFutureConfig,
    /// `[[suppress]]` entries: a finding matching any of them is dropped (and counted in
    /// [`Report::suppressed`](crate::Report::suppressed)).
    #[serde(rename = "suppress")]
    pub suppressions: Vec<Suppression>,
}

/// `[lost-waker]`: idle, polled, and no live waker.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LostWakerConfig {
    /// How long the task must have been idle. Default 1 s: the agent records waker drops, wakes
    /// and poll ends as separate events, so one snapshot can fall between a wake that consumed
    /// the last waker and the scheduling it causes; a real lost waker lasts forever, so a second
    /// costs nothing.
    #[serde(with = "human")]
    pub grace: Duration,
}

impl Default for LostWakerConfig {
    fn default() -> Self {
        Self { grace: Duration::from_secs(1) }
    }
}

/// `[stuck]`: parked in one await for long.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StuckConfig {
    /// Parked at least this long. Default 30 s: far beyond any healthy request or lock hold, yet
    /// short enough that a watch finds the stuck task in the first minute.
    #[serde(with = "human")]
    pub threshold: Duration,
    /// A task sleeping in a pending timer is not stuck (the timer will fire; periodic jobs and
    /// back-offs idle that way), unless the timer was set for at least this long. Default 1 h:
    /// an hour-long sleep inside a task is most often a unit mistake or a "park forever" idiom.
    #[serde(with = "human")]
    pub long_timer: Duration,
}

impl Default for StuckConfig {
    fn default() -> Self {
        Self { threshold: Duration::from_secs(30), long_timer: Duration::from_secs(3_600) }
    }
}

/// `[uncancelled]`: alive long after the spawner ended.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct UncancelledConfig {
    /// How long after the spawner (parent task, or spawner span) ended. Default 30 s: a task
    /// that finishes its work shortly after its request is fine (a response flush, a cache
    /// write); half a minute later it has no request left to serve.
    #[serde(with = "human")]
    pub threshold: Duration,
}

impl Default for UncancelledConfig {
    fn default() -> Self {
        Self { threshold: Duration::from_secs(30) }
    }
}

/// `[growth]`: live tasks at a spawn location keep rising.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrowthConfig {
    /// The history must span at least this long. Default 30 s: shorter windows mistake a burst of
    /// requests for a trend.
    #[serde(with = "human")]
    pub min_window: Duration,
    /// And hold at least this many samples. Default 8: fewer points make R² meaningless.
    pub min_samples: usize,
    /// The fitted slope must be at least this, in tasks per second (over the whole window, and
    /// half of it over the recent half, so a pool that filled up and levelled off does not
    /// count). Default 0.05/s (3 a minute): slower growth is found by `min-increase` over a longer
    /// watch.
    pub min_slope_per_sec: f64,
    /// The live count must have risen by at least this many tasks, first sample to last.
    /// Default 10: a handful more is ordinary jitter (a connection pool warming up).
    pub min_increase: u32,
    /// The line must explain at least this share of the variance (R²). Default 0.8: a leak rises
    /// steadily; load that comes and goes fits a line badly.
    pub min_r_squared: f64,
    /// At first sight (one snapshot, no watch), a site accumulates when at least `min-increase`
    /// of its live tasks outlive every finished task of the site, were spawned steadily (their
    /// spawn times fit a line with `min-r-squared`, no gap over half the span) over at least this
    /// long, and the latest of them is recent (within half the span). Default 5 s: a pool or a
    /// batch of connections made at start-up is spawned within a second or two and then stops,
    /// while a site leaking even one task a second has ten in ten seconds.
    #[serde(with = "human")]
    pub min_spawn_span: Duration,
}

impl Default for GrowthConfig {
    fn default() -> Self {
        Self {
            min_window: Duration::from_secs(30),
            min_samples: 8,
            min_slope_per_sec: 0.05,
            min_increase: 10,
            min_r_squared: 0.8,
            min_spawn_span: Duration::from_secs(5),
        }
    }
}

/// `[blocking]`: polls that block a worker thread.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct BlockingConfig {
    /// A poll (finished, or still running now) at least this long blocks. Default 10 ms: tokio
    /// asks tasks to yield within 10–100 µs, so this is a hundredfold over, and it is the agent's
    /// default long-poll threshold, so every recorded long poll counts.
    #[serde(with = "human")]
    pub threshold: Duration,
    /// A spawn location is blamed when its long polls recur: at least this many in the last
    /// minute (default 3)...
    pub min_polls: u64,
    /// ... holding a worker for at least this percentage of that minute (default 1: 600 ms a
    /// minute). One poll that held a worker for ten times `threshold` is blamed on its own. A
    /// healthy server has rare long polls that are nobody's bug: the kernel growing the process's
    /// descriptor table inside `accept` waits for an RCU grace period, a first connection
    /// resolves a name; blocking that costs latency repeats with the load.
    pub min_percent: f64,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        Self { threshold: Duration::from_millis(10), min_polls: 3, min_percent: 1.0 }
    }
}

/// `[lock-contention]`: tasks queue on a tokio lock or semaphore.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockContentionConfig {
    /// A waiter parked at least this long. Default 1 s: a lock held across one slow `.await` (a
    /// network call) shows up; ordinary critical sections last microseconds.
    #[serde(with = "human")]
    pub threshold: Duration,
    /// Or at least this many waiters at once. Default 10: a few queued waiters are normal under
    /// load; ten mean the lock serialises the service.
    pub max_waiters: usize,
}

impl Default for LockContentionConfig {
    fn default() -> Self {
        Self { threshold: Duration::from_secs(1), max_waiters: 10 }
    }
}

/// `[deadlock]`: a cycle of tasks waiting on locks held by each other.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeadlockConfig {
    /// Every wait in the cycle must be at least this old. Default 1 s: a snapshot can catch a
    /// holder a moment before it releases; a real deadlock lasts forever.
    #[serde(with = "human")]
    pub min_wait: Duration,
}

impl Default for DeadlockConfig {
    fn default() -> Self {
        Self { min_wait: Duration::from_secs(1) }
    }
}

/// `[self-wake]`: tasks that mostly wake themselves (tokio-console's `SelfWakePercent` lint).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SelfWakeConfig {
    /// Self-wakes above this percentage of all wakes. Default 50, tokio-console's.
    pub min_percent: u32,
    /// Only tasks woken at least this often. Default 10: one `yield_now` in a young task is
    /// 100% self-wakes and means nothing (tokio-console has no such floor).
    pub min_wakes: u64,
}

impl Default for SelfWakeConfig {
    fn default() -> Self {
        Self { min_percent: 50, min_wakes: 10 }
    }
}

/// `[large-future]`: spawned futures of a kilobyte or more (tokio-console's `LargeFuture` lint).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct LargeFutureConfig {
    /// Futures of at least this many bytes. Default 1024, tokio-console's: each spawn copies the
    /// future, and every live task holds it for its whole life.
    pub min_bytes: u64,
}

impl Default for LargeFutureConfig {
    fn default() -> Self {
        Self { min_bytes: 1024 }
    }
}

/// A `[[suppress]]` entry. It matches a finding when every key it gives matches; at least one of
/// `kind`, `location` and `task` is required.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Suppression {
    /// Only findings of this kind.
    pub kind: Option<FindingKind>,
    /// A glob over the finding's location: it matches if it matches the file alone
    /// (`src/bg/**`) or `file:line:col` (`src/main.rs:4*`).
    pub location: Option<Glob>,
    /// A glob over the task name (tasks without a name never match).
    pub task: Option<Glob>,
    /// Why; shown nowhere but kept for the reader of the file.
    pub reason: Option<String>,
}

impl Suppression {
    /// Whether this entry hides a finding of `kind` at `location` about tasks named `task_name`.
    pub fn matches(
        &self,
        kind: FindingKind,
        location: &SourceLocation,
        task_name: Option<&str>,
    ) -> bool {
        let kind_matches = self.kind.is_none_or(|k| k == kind);
        let location_matches = self
            .location
            .as_ref()
            .is_none_or(|glob| glob.matches(&location.file) || glob.matches(&location.to_string()));
        let task_matches =
            self.task.as_ref().is_none_or(|glob| task_name.is_some_and(|name| glob.matches(name)));
        kind_matches && location_matches && task_matches
    }
}

impl Config {
    /// Reads a `leakscope.toml`. Missing keys keep their defaults; unknown keys, wrong types,
    /// out-of-range thresholds and suppressions that would match everything are errors.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types cannot: ranges, and that no suppression matches everything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(index) = self
            .suppressions
            .iter()
            .position(|s| s.kind.is_none() && s.location.is_none() && s.task.is_none())
        {
            return Err(ConfigError::MatchesEverything { index: index + 1 });
        }
        let growth = &self.growth;
        if !(0.0..=1.0).contains(&growth.min_r_squared) {
            return Err(ConfigError::OutOfRange {
                key: "growth.min-r-squared",
                reason: "R² lies between 0 and 1",
            });
        }
        if growth.min_samples < 2 {
            return Err(ConfigError::OutOfRange {
                key: "growth.min-samples",
                reason: "a line needs two samples",
            });
        }
        if !growth.min_slope_per_sec.is_finite() || growth.min_slope_per_sec <= 0.0 {
            return Err(ConfigError::OutOfRange {
                key: "growth.min-slope-per-sec",
                reason: "growth means a slope above zero",
            });
        }
        if !(self.blocking.min_percent > 0.0 && self.blocking.min_percent <= 100.0) {
            return Err(ConfigError::OutOfRange {
                key: "blocking.min-percent",
                reason: "a percentage above 0 and at most 100",
            });
        }
        if self.self_wake.min_percent > 100 {
            return Err(ConfigError::OutOfRange {
                key: "self-wake.min-percent",
                reason: "a percentage is at most 100",
            });
        }
        Ok(())
    }

    /// Whether a suppression hides a finding of `kind` at `location` about tasks named
    /// `task_name`.
    pub fn is_suppressed(
        &self,
        kind: FindingKind,
        location: &SourceLocation,
        task_name: Option<&str>,
    ) -> bool {
        self.suppressions.iter().any(|s| s.matches(kind, location, task_name))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Config;
    use crate::finding::FindingKind;
    use crate::location::SourceLocation;

    /// Parses `text` and checks `inspect(config)` (or the error message).
    fn check(text: &str, expected: Result<&str, &str>, inspect: impl Fn(&Config) -> String) {
        let got = Config::from_toml(text).map(|c| inspect(&c)).map_err(|e| e.to_string());
        match (&got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{text}"),
            (Err(got), Err(expected)) => {
                assert!(got.contains(expected), "{got:?} should contain {expected:?}")
            }
            _ => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn defaults_and_overrides() {
        check("", Ok("30s 1h 10ms 0"), |c| {
            format!(
                "{:?} {}h {:?} {}",
                c.stuck.threshold,
                c.stuck.long_timer.as_secs() / 3_600,
                c.blocking.threshold,
                c.suppressions.len()
            )
        });
        check("[stuck]\nthreshold = \"1m\"\n", Ok("60s 30s"), |c| {
            format!("{:?} {:?}", c.stuck.threshold, c.uncancelled.threshold)
        });
        check("[stuck]\nthreshold = 45\n[blocking]\nthreshold = 0.5\n", Ok("45s 500ms 3 1"), |c| {
            let b = &c.blocking;
            format!("{:?} {:?} {} {}", c.stuck.threshold, b.threshold, b.min_polls, b.min_percent)
        });
        check("[blocking]\nmin-polls = 1\nmin-percent = 0.5\n", Ok("1 0.5"), |c| {
            format!("{} {}", c.blocking.min_polls, c.blocking.min_percent)
        });
        check(
            "[growth]\nmin-window = \"2m\"\nmin-increase = 50\nmin-r-squared = 0.9\n",
            Ok("120s 50 0.9 8"),
            |c| {
                format!(
                    "{:?} {} {} {}",
                    c.growth.min_window,
                    c.growth.min_increase,
                    c.growth.min_r_squared,
                    c.growth.min_samples
                )
            },
        );
        check(
            "[lock-contention]\nmax-waiters = 3\n[self-wake]\nmin-percent = 80\n[large-future]\nmin-bytes = 4096\n",
            Ok("3 80 4096"),
            |c| {
                format!(
                    "{} {} {}",
                    c.lock_contention.max_waiters,
                    c.self_wake.min_percent,
                    c.large_future.min_bytes
                )
            },
        );
    }

    #[test]
    fn errors() {
        let none = |_: &Config| String::new();
        check("[stuck]\nthreshhold = \"1m\"\n", Err("unknown field `threshhold`"), none);
        check("[stuk]\n", Err("unknown field `stuk`"), none);
        check("[stuck]\nthreshold = \"1 fortnight\"\n", Err("unknown unit `fortnight`"), none);
        check("[stuck]\nthreshold = -1\n", Err("a negative duration"), none);
        check(
            "[[suppress]]\nreason = \"everything\"\n",
            Err("suppression #1: it names no kind"),
            none,
        );
        check("[[suppress]]\nkind = \"stuck\"\n[[suppress]]\n", Err("suppression #2"), none);
        check("[[suppress]]\nkind = \"leaky\"\n", Err("unknown variant `leaky`"), none);
        check("[[suppress]]\nlocation = \"\"\n", Err("an empty glob"), none);
        check("[growth]\nmin-r-squared = 1.5\n", Err("growth.min-r-squared"), none);
        check("[growth]\nmin-samples = 1\n", Err("growth.min-samples"), none);
        check("[growth]\nmin-slope-per-sec = 0\n", Err("growth.min-slope-per-sec"), none);
        check("[self-wake]\nmin-percent = 101\n", Err("self-wake.min-percent"), none);
        check("[blocking]\nmin-percent = 0\n", Err("blocking.min-percent"), none);
        check("not toml at all", Err("failed to parse leakscope.toml"), none);
    }

    #[test]
    fn suppressions_match_on_every_given_key() {
        let config = Config::from_toml(
            r#"
            [[suppress]]
            kind = "uncancelled"
            location = "src/bg/**"

            [[suppress]]
            task = "heartbeat-*"

            [[suppress]]
            location = "src/main.rs:4*"
            "#,
        )
        .unwrap();
        let at = |file: &str, line: u32| SourceLocation::new(file, line, 5);
        let cases = [
            (FindingKind::Uncancelled, at("src/bg/flush.rs", 3), None, true),
            // Near miss: right place, other kind.
            (FindingKind::Stuck, at("src/bg/flush.rs", 3), None, false),
            (FindingKind::Stuck, at("src/api.rs", 3), Some("heartbeat-7"), true),
            // Near miss: a task without a name never matches a task glob.
            (FindingKind::Stuck, at("src/api.rs", 3), None, false),
            (FindingKind::Stuck, at("src/api.rs", 3), Some("worker-7"), false),
            (FindingKind::Growth, at("src/main.rs", 42), None, true),
            (FindingKind::Growth, at("src/main.rs", 52), None, false),
        ];
        for (kind, location, name, expected) in cases {
            assert_eq!(
                config.is_suppressed(kind, &location, name),
                expected,
                "{kind} at {location} named {name:?}"
            );
        }
    }

    #[test]
    fn round_trips_through_toml_text() {
        let mut config = Config::default();
        config.stuck.threshold = Duration::from_millis(1_500);
        let text = toml_text(&config);
        assert_eq!(Config::from_toml(&text).unwrap(), config, "{text}");
    }

    /// Serializes through JSON to a TOML-compatible subset; the crate has no TOML writer.
    fn toml_text(config: &Config) -> String {
        let json = serde_json::to_value(config).unwrap();
        let mut out = String::new();
        for (section, table) in json.as_object().unwrap() {
            let Some(table) = table.as_object() else { continue };
            out.push_str(&format!("[{section}]\n"));
            for (key, value) in table {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        out
    }
}
