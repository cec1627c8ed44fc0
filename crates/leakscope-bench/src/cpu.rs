//! The process's CPU time (user + system, all threads) from `/proc/self/stat`.

use std::time::Duration;

/// `/proc` reports CPU time in `USER_HZ` ticks, which Linux fixes at 100 a second on every
/// architecture this benchmark runs on.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time used so far, or `None` where `/proc` is unavailable.
pub(crate) fn used() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = parse_stat(&stat)?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// CPU time between two readings over `count` operations, in ns per operation; `None` when
/// either reading is missing or nothing was counted.
pub(crate) fn per(before: Option<Duration>, after: Option<Duration>, count: u64) -> Option<f64> {
    match (before, after) {
        (Some(before), Some(after)) if count > 0 => {
            Some(after.saturating_sub(before).as_nanos() as f64 / count as f64)
        }
        _ => None,
    }
}

/// `utime + stime` (fields 14 and 15) in ticks. The command name (field 2) is in parentheses and
/// may hold spaces, so fields are counted after its closing parenthesis.
fn parse_stat(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::{parse_stat, per};
    use std::time::Duration;

    fn check(stat: &str, expected: Option<u64>) {
        assert_eq!(parse_stat(stat), expected, "{stat:?}");
    }

    #[test]
    fn user_and_system_ticks_are_summed() {
        check(
            "4242 (leakscope-bench) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 31 0 0 20 0 3 0",
            Some(281),
        );
        check("7 (a) b) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14", Some(23));
        check("7 (x) R 1 2", None);
        check("no parenthesis", None);
    }

    #[test]
    fn cpu_time_is_shared_over_the_operations() {
        let check = |before: Option<u64>, after: Option<u64>, count: u64, expected: Option<f64>| {
            let ms = |v: Option<u64>| v.map(Duration::from_millis);
            assert_eq!(per(ms(before), ms(after), count), expected, "{before:?} {after:?} {count}");
        };
        check(Some(10), Some(30), 4, Some(5_000_000.0));
        check(Some(10), Some(10), 4, Some(0.0));
        check(Some(30), Some(10), 4, Some(0.0));
        check(None, Some(10), 4, None);
        check(Some(10), None, 4, None);
        check(Some(10), Some(30), 0, None);
    }
}
