//! Durations as people read and write them: `850ms`, `12s`, `4m12s`, `1h05m`.

use std::time::Duration;

/// Formats a number of seconds compactly for explanations and tables: `850ms`, `2.5s`, `42s`,
/// `4m12s`, `1h05m`, `2d03h`. Precision drops as the value grows, because a leak that is four
/// minutes old does not need its milliseconds.
pub fn format_secs(secs: f64) -> String {
    if !secs.is_finite() || secs <= 0.0 {
        return "0s".to_owned();
    }
    if secs < 1.0 {
        return format!("{:.0}ms", secs * 1000.0);
    }
    if secs < 10.0 {
        let text = format!("{secs:.1}");
        return format!("{}s", text.trim_end_matches(".0"));
    }
    // Truncation to whole seconds is the intent from here on.
    let whole = secs as u64;
    match whole {
        0..60 => format!("{whole}s"),
        60..3_600 => format!("{}m{:02}s", whole / 60, whole % 60),
        3_600..86_400 => format!("{}h{:02}m", whole / 3_600, whole % 3_600 / 60),
        _ => format!("{}d{:02}h", whole / 86_400, whole % 86_400 / 3_600),
    }
}

/// "longer than 12ms", or "as long as 1ms" for a bound under half a millisecond, which
/// [`format_secs`] would print as a meaningless "longer than 0ms".
pub(crate) fn longer_than(secs: f64) -> String {
    if secs < 0.0005 {
        "as long as 1ms".to_owned()
    } else {
        format!("longer than {}", format_secs(secs))
    }
}

/// The longest duration any `leakscope` flag takes: 7 days (a soak test's window fits; a typo of
/// twenty digits does not).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// `MAX_DURATION` as users write it, for messages and help.
pub const MAX_DURATION_TEXT: &str = "7d";

/// Parses a duration flag (`500ms`, `20s`, `1m30s`, `2h`, `1d`, or bare seconds) and refuses one
/// longer than [`MAX_DURATION`]. The error is one line, for clap to print after the flag's name.
pub fn parse_bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > MAX_DURATION {
        return Err(format!(
            "`{}` is longer than the longest duration leakscope takes ({MAX_DURATION_TEXT})",
            text.trim()
        ));
    }
    Ok(duration)
}

/// Parses a duration written as one or more `<number><unit>` parts (`10ms`, `30s`, `1.5s`, `5m`,
/// `1h30m`, `2d`; units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`) or a bare number of seconds.
///
/// The error is a lowercase sentence naming what was wrong, for [`crate::ConfigError`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return from_secs(secs, text);
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err("an empty duration".to_owned());
    }
    while !rest.is_empty() {
        let number_len =
            rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let unit_len = rest[number_len..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - number_len);
        let (number, unit) = (&rest[..number_len], &rest[number_len..number_len + unit_len]);
        let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration"))?;
        let scale = match unit.trim() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3_600.0,
            "d" => 86_400.0,
            other => {
                return Err(format!(
                    "`{text}` has unknown unit `{other}` (use ns, us, ms, s, m, h or d)"
                ));
            }
        };
        total += value * scale;
        rest = &rest[number_len + unit_len..];
    }
    from_secs(total, text)
}

fn from_secs(secs: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a duration"))
}

/// Serde support for `Duration` fields written as human durations (see [`parse_duration`]); a
/// bare TOML number means seconds.
pub(crate) mod human {
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let nanos = value.as_nanos();
        let text = if nanos.is_multiple_of(1_000_000_000) {
            format!("{}s", value.as_secs())
        } else if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", value.as_millis())
        } else {
            format!("{nanos}ns")
        };
        serializer.serialize_str(&text)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(HumanDuration)
    }

    struct HumanDuration;

    impl Visitor<'_> for HumanDuration {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"30s\", \"10ms\" or a number of seconds")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            super::parse_duration(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v).map(Duration::from_secs).map_err(|_| E::custom("a negative duration"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v).map_err(|_| E::custom(format!("{v} is not a duration")))
        }
    }
}

/// A count with thousands separators, as tables and messages show it: `1234567` → `1,234,567`.
pub fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bound_under_a_millisecond_is_not_zero() {
        assert_eq!(super::longer_than(0.0001), "as long as 1ms");
        assert_eq!(super::longer_than(0.012), "longer than 12ms");
        assert_eq!(super::longer_than(42.0), "longer than 42s");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        let grouped = |n| super::format_count(n);
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    use std::time::Duration;

    use super::{format_secs, parse_duration};

    fn check(secs: f64, expected: &str) {
        assert_eq!(format_secs(secs), expected, "format_secs({secs})");
    }

    #[test]
    fn formats() {
        check(0.0, "0s");
        check(-1.0, "0s");
        check(f64::NAN, "0s");
        check(0.0123, "12ms");
        check(0.85, "850ms");
        check(1.0, "1s");
        check(2.54, "2.5s");
        check(9.96, "10s");
        check(42.7, "42s");
        check(59.99, "59s");
        check(60.0, "1m00s");
        check(252.0, "4m12s");
        check(3_599.0, "59m59s");
        check(3_900.0, "1h05m");
        check(183_600.0, "2d03h");
    }

    fn check_parse(text: &str, expected: Result<Duration, &str>) {
        assert_eq!(
            parse_duration(text),
            expected.map_err(str::to_owned),
            "parse_duration({text:?})"
        );
    }

    #[test]
    fn parses() {
        check_parse("30", Ok(Duration::from_secs(30)));
        check_parse("1.5", Ok(Duration::from_millis(1_500)));
        check_parse("10ms", Ok(Duration::from_millis(10)));
        check_parse("30s", Ok(Duration::from_secs(30)));
        check_parse("5m", Ok(Duration::from_secs(300)));
        check_parse("1h30m", Ok(Duration::from_secs(5_400)));
        check_parse("4m12s", Ok(Duration::from_secs(252)));
        check_parse("2d", Ok(Duration::from_secs(172_800)));
        check_parse("250us", Ok(Duration::from_micros(250)));
        check_parse(" 7s ", Ok(Duration::from_secs(7)));
        check_parse("", Err("an empty duration"));
        check_parse(
            "10 parsecs",
            Err("`10 parsecs` has unknown unit `parsecs` (use ns, us, ms, s, m, h or d)"),
        );
        check_parse("s", Err("`s` is not a duration"));
        check_parse("-3", Err("`-3` is not a duration"));
    }
}
