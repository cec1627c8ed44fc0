//! Shared formatting: numbers, durations, truncation that keeps the end of a path, and the
//! colours of severities and states.

use leakscope_analysis::{Severity, format_secs};
use ratatui::style::{Color, Modifier, Style};

use crate::state::RowState;

/// `12345` → `12,345`.
pub(crate) fn count(n: u64) -> String {
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

/// Seconds as `850ms`, `3.5s`, `1m20s`; `-` for nothing.
pub(crate) fn secs(secs: f64) -> String {
    if secs <= 0.0 { "-".to_owned() } else { format_secs(secs) }
}

/// Nanoseconds as a short duration, with µs precision for polls.
pub(crate) fn nanos(nanos: u64) -> String {
    match nanos {
        0 => "0".to_owned(),
        1..1_000 => format!("{nanos}ns"),
        1_000..1_000_000 => format!("{:.0}µs", nanos as f64 / 1e3),
        _ => format_secs(nanos as f64 / 1e9),
    }
}

/// A rate: `+1.5/s`, `-0.2/s`, `-` when unknown or flat.
pub(crate) fn trend(per_sec: Option<f64>) -> String {
    match per_sec {
        Some(rate) if rate.abs() >= 0.005 => format!("{rate:+.2}/s"),
        _ => "-".to_owned(),
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `12.0 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", n as f64 / 1_073_741_824.0),
    }
}

/// The last `width` characters of `text`, with `…` in front when cut: the end of a path (file
/// and line) says more than its start.
pub(crate) fn tail(text: &str, width: usize) -> String {
    let chars = text.chars().count();
    if chars <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let skip = chars - (width - 1);
    std::iter::once('…').chain(text.chars().skip(skip)).collect()
}

/// The first `width` characters of `text`, with `…` at the end when cut.
pub(crate) fn head(text: &str, width: usize) -> String {
    let chars = text.chars().count();
    if chars <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    text.chars().take(width - 1).chain(std::iter::once('…')).collect()
}

/// A severity's label in tables.
pub(crate) fn severity_label(severity: Option<Severity>) -> &'static str {
    match severity {
        Some(Severity::Leak) => "LEAK",
        Some(Severity::Suspect) => "SUSP",
        Some(Severity::Warn) => "warn",
        None => "",
    }
}

/// A severity's colour.
pub(crate) fn severity_style(severity: Option<Severity>) -> Style {
    match severity {
        Some(Severity::Leak) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Some(Severity::Suspect) => Style::new().fg(Color::Yellow),
        Some(Severity::Warn) => Style::new().fg(Color::Cyan),
        None => Style::new(),
    }
}

/// A task state's short label.
pub(crate) fn state_label(state: RowState) -> &'static str {
    match state {
        RowState::Running => "run",
        RowState::Scheduled => "sched",
        RowState::Idle => "idle",
        RowState::Unknown => "?",
    }
}

/// The selected row's style.
pub(crate) fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Column headers' style.
pub(crate) fn header() -> Style {
    Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

/// Dim text (hints, units).
pub(crate) fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// A section title in a detail view.
pub(crate) fn section() -> Style {
    Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD)
}

#[cfg(test)]
mod tests {
    use super::{bytes, count, head, nanos, tail, trend};

    #[test]
    fn formats() {
        let cases: [(String, &str); 16] = [
            (count(0), "0"),
            (count(999), "999"),
            (count(1000), "1,000"),
            (count(1234567), "1,234,567"),
            (nanos(0), "0"),
            (nanos(850), "850ns"),
            (nanos(12_400), "12µs"),
            (nanos(3_500_000_000), "3.5s"),
            (trend(None), "-"),
            (trend(Some(0.001)), "-"),
            (trend(Some(1.5)), "+1.50/s"),
            (bytes(512), "512 B"),
            (bytes(1536), "1.5 KiB"),
            (tail("src/scenarios/send_blocked.rs:33:5", 12), "…ked.rs:33:5"),
            (head("mpsc::Sender::send", 8), "mpsc::S…"),
            (tail("short", 10), "short"),
        ];
        for (got, expected) in cases {
            assert_eq!(got, expected);
        }
    }
}
