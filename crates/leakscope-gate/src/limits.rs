//! The gate's own limits on task counts — `--max-tasks`, `--max-growth`, `--max-rate` — for the
//! total and per spawn location, and checking measured counts against them. (Findings come from
//! `leakscope-analysis`; these are plain comparisons.)

use std::fmt;

use leakscope_analysis::{Glob, SourceLocation};
use serde::{Deserialize, Serialize};

/// Which measurement a limit bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// Live tasks at their peak in the window.
    MaxTasks,
    /// Live tasks at the end of the window minus at its start.
    MaxGrowth,
    /// The least-squares trend of live tasks over the window, per second.
    MaxRate,
}

impl LimitKind {
    /// The flag's name without dashes: `max-tasks`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MaxTasks => "max-tasks",
            Self::MaxGrowth => "max-growth",
            Self::MaxRate => "max-rate",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One limit from the command line: `N` bounds the total, `GLOB=N` each spawn location whose
/// `file` or `file:line:col` matches GLOB (`**=N`: every location).
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    /// What it bounds.
    pub kind: LimitKind,
    /// `None` for the total.
    pub locations: Option<Glob>,
    /// The bound: tasks, or tasks per second for [`LimitKind::MaxRate`].
    pub value: f64,
}

impl Limit {
    /// Parses `[GLOB=]N` (or `[GLOB=]R[/s|/m]` for rates).
    pub fn parse(kind: LimitKind, text: &str) -> Result<Self, String> {
        let (locations, value) = match text.rsplit_once('=') {
            Some((glob, _)) if glob.trim().is_empty() => {
                return Err(format!("`{text}`: the location glob before `=` is empty"));
            }
            Some((glob, value)) => (Some(Glob::new(glob.trim())), value.trim()),
            None => (None, text.trim()),
        };
        let value = match kind {
            LimitKind::MaxRate => parse_rate(value)?,
            LimitKind::MaxTasks | LimitKind::MaxGrowth => value
                .parse::<u64>()
                .map_err(|_| format!("`{value}` is not a whole number of tasks"))?
                as f64,
        };
        Ok(Self { kind, locations, value })
    }

    /// `total` or `each location matching GLOB`.
    pub fn scope(&self) -> String {
        match &self.locations {
            None => "total".to_owned(),
            Some(glob) => format!("each location matching {}", glob.as_str()),
        }
    }

    /// The bound as written back: `20`, `2/s`.
    pub fn allowed(&self) -> String {
        match self.kind {
            LimitKind::MaxRate => format!("{}/s", number(self.value)),
            LimitKind::MaxTasks | LimitKind::MaxGrowth => number(self.value),
        }
    }

    fn matches(&self, location: &SourceLocation) -> bool {
        self.locations
            .as_ref()
            .is_some_and(|glob| glob.matches(&location.file) || glob.matches(&location.to_string()))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ≤ {}", self.kind, self.scope(), self.allowed())
    }
}

/// `2`, `2/s`, `120/m`, `0.5/sec` to tasks per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    let (number, per) = match text.split_once('/') {
        Some((number, unit)) => {
            let per = match unit.trim() {
                "s" | "sec" => 1.0,
                "m" | "min" => 60.0,
                other => return Err(format!("unknown rate unit `/{other}` (use /s or /m)")),
            };
            (number.trim(), per)
        }
        None => (text, 1.0),
    };
    let rate: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a rate (e.g. 2/s, 30/m)"))?;
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!("`{text}` is not a rate (e.g. 2/s, 30/m)"));
    }
    Ok(rate / per)
}

/// A number without a trailing `.0`, and with at most two decimals.
pub(crate) fn number(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded == 0.0 {
        // Also for -0.0, which would print as `-0`.
        "0".to_owned()
    } else if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded}")
    }
}

/// Live tasks over the window: at its start, at their peak, at its end, and their trend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// When the window started (after the warmup).
    pub start: u64,
    /// The most at once during the window.
    pub peak: u64,
    /// When it ended (after any settling).
    pub end: u64,
    /// `end - start`.
    pub growth: i64,
    /// The least-squares trend over the window, tasks per second; `None` with fewer than two
    /// samples.
    pub rate_per_sec: Option<f64>,
}

impl Counts {
    fn measure(&self, kind: LimitKind) -> Option<f64> {
        match kind {
            LimitKind::MaxTasks => Some(self.peak as f64),
            LimitKind::MaxGrowth => Some(self.growth as f64),
            LimitKind::MaxRate => self.rate_per_sec,
        }
    }
}

/// One limit, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitCheck {
    /// Which.
    pub limit: LimitKind,
    /// `total`, or `each location matching GLOB`.
    pub scope: String,
    /// The bound, as written (`20`, `2/s`).
    pub allowed: String,
    /// Whether nothing exceeded it.
    pub passed: bool,
    /// What exceeded it, worst first.
    pub violations: Vec<Violation>,
}

/// A count over its limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The spawn location, for a per-location limit.
    pub location: Option<SourceLocation>,
    /// The measured value.
    pub actual: f64,
    /// One sentence: what was measured against what.
    pub message: String,
}

/// Checks `limits` against the `total` and each location's counts.
pub(crate) fn check(
    limits: &[Limit],
    total: &Counts,
    locations: &[(SourceLocation, Counts)],
) -> Vec<LimitCheck> {
    limits
        .iter()
        .map(|limit| {
            let mut violations: Vec<Violation> = match &limit.locations {
                None => violation(limit, None, total).into_iter().collect(),
                Some(_) => locations
                    .iter()
                    .filter(|(location, _)| limit.matches(location))
                    .filter_map(|(location, counts)| violation(limit, Some(location), counts))
                    .collect(),
            };
            violations.sort_by(|a, b| b.actual.total_cmp(&a.actual));
            LimitCheck {
                limit: limit.kind,
                scope: limit.scope(),
                allowed: limit.allowed(),
                passed: violations.is_empty(),
                violations,
            }
        })
        .collect()
}

fn violation(
    limit: &Limit,
    location: Option<&SourceLocation>,
    counts: &Counts,
) -> Option<Violation> {
    let actual = counts.measure(limit.kind)?;
    if actual <= limit.value {
        return None;
    }
    let what =
        location.map_or_else(|| "live tasks in total".to_owned(), |l| format!("live tasks at {l}"));
    let message = match limit.kind {
        LimitKind::MaxTasks => {
            format!("{what} peaked at {} (limit {})", counts.peak, limit.allowed())
        }
        LimitKind::MaxGrowth => format!(
            "{what} grew by {} ({} → {}; limit {})",
            counts.growth,
            counts.start,
            counts.end,
            limit.allowed()
        ),
        LimitKind::MaxRate => {
            format!("{what} rose at {}/s (limit {})", signed(actual), limit.allowed())
        }
    };
    Some(Violation { location: location.cloned(), actual, message })
}

/// `+2.5`, `-1`, `0`.
pub(crate) fn signed(value: f64) -> String {
    let text = number(value);
    if value > 0.0 && !text.starts_with('-') && text != "0" { format!("+{text}") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_parse(kind: LimitKind, text: &str, expected: Result<&str, &str>) {
        let got = Limit::parse(kind, text).map(|l| l.to_string());
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{text}"),
            (Err(got), Err(expected)) => assert!(got.contains(expected), "{text}: {got}"),
            (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn parses_limits() {
        use LimitKind::*;
        check_parse(MaxTasks, "500", Ok("max-tasks total ≤ 500"));
        check_parse(MaxGrowth, "**=10", Ok("max-growth each location matching ** ≤ 10"));
        check_parse(
            MaxGrowth,
            "src/ws/*.rs = 3",
            Ok("max-growth each location matching src/ws/*.rs ≤ 3"),
        );
        check_parse(MaxRate, "2/s", Ok("max-rate total ≤ 2/s"));
        check_parse(MaxRate, "0.5", Ok("max-rate total ≤ 0.5/s"));
        check_parse(MaxRate, "30/m", Ok("max-rate total ≤ 0.5/s"));
        check_parse(
            MaxRate,
            "src/a.rs:12*=1/min",
            Ok("max-rate each location matching src/a.rs:12* ≤ 0.02/s"),
        );
        check_parse(MaxTasks, "ten", Err("not a whole number"));
        check_parse(MaxTasks, "-1", Err("not a whole number"));
        check_parse(MaxGrowth, "=4", Err("glob before `=` is empty"));
        check_parse(MaxRate, "2/h", Err("unknown rate unit `/h`"));
        check_parse(MaxRate, "fast", Err("not a rate"));
        check_parse(MaxRate, "-2/s", Err("not a rate"));
    }

    fn counts(start: u64, peak: u64, end: u64, rate: Option<f64>) -> Counts {
        Counts { start, peak, end, growth: end as i64 - start as i64, rate_per_sec: rate }
    }

    /// `check_limits(limits, expected)`: renders each check as `ok|FAIL <limit>: <messages>`.
    fn check_limits(limits: &[(&str, LimitKind)], expected: &[&str]) {
        let limits: Vec<Limit> =
            limits.iter().map(|(text, kind)| Limit::parse(*kind, text).unwrap()).collect();
        let total = counts(10, 90, 80, Some(7.25));
        let locations = vec![
            (SourceLocation::new("src/leak.rs", 12, 5), counts(0, 70, 70, Some(7.0))),
            (SourceLocation::new("src/pool.rs", 3, 9), counts(8, 12, 8, Some(0.1))),
            (SourceLocation::new("src/new.rs", 1, 1), counts(0, 2, 2, None)),
        ];
        let got: Vec<String> = check(&limits, &total, &locations)
            .iter()
            .map(|c| {
                let messages: Vec<&str> = c.violations.iter().map(|v| v.message.as_str()).collect();
                format!(
                    "{} {} {} ≤ {}: {}",
                    if c.passed { "ok" } else { "FAIL" },
                    c.limit,
                    c.scope,
                    c.allowed,
                    messages.join("; ")
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn checks_totals_and_locations() {
        use LimitKind::*;
        check_limits(
            &[("100", MaxTasks), ("90", MaxTasks), ("89", MaxTasks)],
            &[
                "ok max-tasks total ≤ 100: ",
                "ok max-tasks total ≤ 90: ",
                "FAIL max-tasks total ≤ 89: live tasks in total peaked at 90 (limit 89)",
            ],
        );
        check_limits(
            &[("50", MaxGrowth), ("**=5", MaxGrowth), ("src/pool.rs=0", MaxGrowth)],
            &[
                "FAIL max-growth total ≤ 50: live tasks in total grew by 70 (10 → 80; limit 50)",
                "FAIL max-growth each location matching ** ≤ 5: live tasks at src/leak.rs:12:5 grew by 70 (0 → 70; limit 5)",
                "ok max-growth each location matching src/pool.rs ≤ 0: ",
            ],
        );
        check_limits(
            &[("**=0.05/s", MaxRate), ("src/*.rs:3*=0/s", MaxRate), ("10/s", MaxRate)],
            &[
                "FAIL max-rate each location matching ** ≤ 0.05/s: live tasks at src/leak.rs:12:5 rose at +7/s (limit 0.05/s); live tasks at src/pool.rs:3:9 rose at +0.1/s (limit 0.05/s)",
                "FAIL max-rate each location matching src/*.rs:3* ≤ 0/s: live tasks at src/pool.rs:3:9 rose at +0.1/s (limit 0/s)",
                "ok max-rate total ≤ 10/s: ",
            ],
        );
        // A glob that matches nothing passes; so does a location without a trend.
        check_limits(
            &[("src/none/**=0", MaxTasks), ("src/new.rs=0/s", MaxRate)],
            &[
                "ok max-tasks each location matching src/none/** ≤ 0: ",
                "ok max-rate each location matching src/new.rs ≤ 0/s: ",
            ],
        );
    }
}
