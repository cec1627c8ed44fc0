//! Shared formatting: numbers, durations, truncation that keeps the end of a path, and the
//! colours of severities and states.

use leakscope_analysis::{Severity, format_secs};
use ratatui::style::{Color, Modifier, Style};

use crate::state::RowState;

/// `12345` → `12,345`.
pub(crate) use leakscope_analysis::format_count as count;

/// A count that can go below zero (a waker count the agent saw drop past its increments).
pub(crate) fn signed_count(n: i64) -> String {
    if n < 0 { format!("-{}", count(n.unsigned_abs())) } else { count(n.unsigned_abs()) }
}

/// A count and its noun, in the plural unless it is one: `1 task`, `1,629 tasks`, `2 Mutexes`.
/// Every count word on screen goes through here.
pub(crate) fn counted(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{} {}", count(n), plural(noun)) }
}

/// A noun's plural: `task` → `tasks`, `Mutex` → `Mutexes`, `child` → `children`, and a
/// qualifier in brackets kept after it (`semaphore (internal)` → `semaphores (internal)`).
pub(crate) fn plural(noun: &str) -> String {
    if let Some((head, rest)) = noun.split_once(" (") {
        return format!("{} ({rest}", plural(head));
    }
    if noun.ends_with("child") {
        return format!("{noun}ren");
    }
    let es = ["s", "x", "z", "ch", "sh"].iter().any(|end| noun.ends_with(end));
    if es { format!("{noun}es") } else { format!("{noun}s") }
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
    use super::{bytes, count, counted, head, nanos, tail, trend};

    #[test]
    fn formats() {
        let cases: [(String, &str); 24] = [
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
            (counted(0, "task"), "0 tasks"),
            (counted(1, "task"), "1 task"),
            (counted(1629, "task"), "1,629 tasks"),
            (counted(1, "live child"), "1 live child"),
            (counted(3, "live child"), "3 live children"),
            (counted(2, "Mutex"), "2 Mutexes"),
            (counted(1200, "timer"), "1,200 timers"),
            (counted(4, "semaphore (internal)"), "4 semaphores (internal)"),
        ];
        for (got, expected) in cases {
            assert_eq!(got, expected);
        }
    }
}
