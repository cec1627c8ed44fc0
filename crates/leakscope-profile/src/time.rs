//! Wall-clock times for subtitles, in UTC, without a date-time dependency.

/// `2025-11-23 16:22:01 UTC` for nanoseconds since the Unix epoch; `unknown time` for 0.
pub fn utc(unix_nanos: i64) -> String {
    if unix_nanos <= 0 {
        return "unknown time".to_owned();
    }
    let secs = unix_nanos / 1_000_000_000;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_print_in_utc() {
        let check = |secs: i64, expected: &str| assert_eq!(utc(secs * 1_000_000_000), expected);
        check(1, "1970-01-01 00:00:01 UTC");
        check(951_782_400, "2000-02-29 00:00:00 UTC");
        check(1_763_915_000, "2025-11-23 16:23:20 UTC");
        check(4_107_542_399, "2100-02-28 23:59:59 UTC");
        check(0, "unknown time");
    }
}
