//! Folded (collapsed) stacks: one line per stack, frames root first joined by `;`, then a space
//! and the count, the format of Brendan Gregg's `stackcollapse` scripts, inferno and speedscope.
//!
//! A frame is written `function (file:line)`, with registry and toolchain path prefixes cut so a
//! frame stays readable. Frames can contain `;` (`[u8; 8]`, `<[T; N] as Trait>`), which every
//! folded reader takes as a frame boundary; it is written as U+037E GREEK QUESTION MARK, which
//! looks the same, and read back as `;`. A differential profile is written as
//! `stack before after`, the input inferno's differential flame graphs take.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::error::ProfileError;
use crate::profile::{Frame, Profile, ValueType};

/// What a `;` inside a frame is written as.
pub const SEMICOLON_STAND_IN: char = '\u{037E}';

/// How a frame shows in folded stacks and flame graphs: `function (file:line)`.
pub fn frame_label(frame: &Frame) -> String {
    let function =
        frame.function.replace(';', &SEMICOLON_STAND_IN.to_string()).replace(['\n', '\r'], " ");
    let file = short_path(&frame.file).replace(';', &SEMICOLON_STAND_IN.to_string());
    match (function.is_empty(), file.is_empty(), frame.line) {
        (true, true, _) => "[unknown]".to_owned(),
        (false, true, _) => function,
        (true, false, 0) => file,
        (true, false, line) => format!("{file}:{line}"),
        (false, false, 0) => format!("{function} ({file})"),
        (false, false, line) => format!("{function} ({file}:{line})"),
    }
}

/// Reads a frame back from its label: the inverse of [`frame_label`] (for the shortened path).
pub fn parse_frame(label: &str) -> Frame {
    let label = label.replace(SEMICOLON_STAND_IN, ";");
    if label == "[unknown]" {
        return Frame::default();
    }
    if let Some((function, place)) =
        label.strip_suffix(')').and_then(|inner| inner.rsplit_once(" ("))
        && looks_like_path(place)
    {
        let (file, line) = split_line(place);
        return Frame::new(function, file, line);
    }
    if looks_like_path(&label) && !label.contains(' ') {
        let (file, line) = split_line(&label);
        return Frame::new("", file, line);
    }
    Frame::new(label, "", 0)
}

fn looks_like_path(text: &str) -> bool {
    let file = split_line(text).0;
    file.ends_with(".rs") || file.contains('/') || file.contains('\\')
}

fn split_line(place: &str) -> (&str, u32) {
    match place.rsplit_once(':') {
        Some((file, line)) if !file.is_empty() => match line.parse() {
            Ok(line) => (file, line),
            Err(_) => (place, 0),
        },
        _ => (place, 0),
    }
}

/// Cuts the machine-specific part of a path: the cargo registry's index directory
/// (`.../registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/...` becomes
/// `tokio-1.54.1/src/...`), git checkouts, and the toolchain's `/rustc/<commit>/` prefix.
pub fn short_path(file: &str) -> &str {
    for marker in ["/.cargo/registry/src/", "/cargo/registry/src/"] {
        if let Some(at) = file.find(marker) {
            let rest = &file[at + marker.len()..];
            // Past the index directory.
            return rest.split_once('/').map_or(rest, |(_, crate_path)| crate_path);
        }
    }
    if let Some(at) = file.find("/.cargo/git/checkouts/") {
        return &file[at + "/.cargo/git/checkouts/".len()..];
    }
    if let Some(rest) = file.strip_prefix("/rustc/") {
        return rest.split_once('/').map_or(rest, |(_, path)| path);
    }
    file
}

/// The folded lines of one value column, sorted, one per distinct stack; stacks whose value is
/// zero or negative are left out (a folded count cannot be negative). A differential profile
/// gives `stack before after` lines instead, whatever `value` is.
pub fn folded_lines(profile: &Profile, value: usize) -> Vec<String> {
    let mut stacks: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for sample in &profile.samples {
        let key = stack_label(&sample.stack);
        let entry = stacks.entry(key).or_default();
        match profile.differential {
            Some(diff) => {
                entry.0 += sample.values.get(diff.before).copied().unwrap_or(0);
                entry.1 += sample.values.get(diff.after).copied().unwrap_or(0);
            }
            None => entry.1 += sample.values.get(value).copied().unwrap_or(0),
        }
    }
    stacks
        .into_iter()
        .filter_map(|(stack, (before, after))| match profile.differential {
            Some(_) if before > 0 || after > 0 => {
                Some(format!("{stack} {} {}", before.max(0), after.max(0)))
            }
            None if after > 0 => Some(format!("{stack} {after}")),
            _ => None,
        })
        .collect()
}

/// A stack as one folded string.
pub fn stack_label(stack: &[Frame]) -> String {
    let labels: Vec<String> = stack.iter().map(frame_label).collect();
    if labels.is_empty() { "[empty]".to_owned() } else { labels.join(";") }
}

/// Writes the folded lines of one value column (see [`folded_lines`]).
pub fn write_folded(profile: &Profile, value: usize, out: &mut impl Write) -> io::Result<()> {
    for line in folded_lines(profile, value) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Reads folded stacks into a profile of `samples/count`. Blank lines and `#` comments are
/// skipped; a line without a non-negative integer count is an error naming the line.
pub fn read_folded(text: &str) -> Result<Profile, ProfileError> {
    let mut profile = Profile::new(vec![ValueType::new("samples", "count")]);
    profile.period = Some((ValueType::new("samples", "count"), 1));
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |reason: &str| ProfileError::Folded { line: index + 1, reason: reason.into() };
        let (stack, count) =
            line.rsplit_once(' ').ok_or_else(|| error("no count after the stack"))?;
        let count: i64 = count
            .parse()
            .ok()
            .filter(|c: &i64| *c >= 0)
            .ok_or_else(|| error("the count is not a non-negative integer"))?;
        let stack: Vec<Frame> = stack.trim_end().split(';').map(parse_frame).collect();
        profile.add(stack, vec![count], Vec::new());
    }
    profile.normalize();
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(frame: Frame, expected_label: &str) {
        let label = frame_label(&frame);
        assert_eq!(label, expected_label);
        assert!(!label.contains(';'), "a label must not contain `;`: {label}");
        let mut back = frame.clone();
        back.file = short_path(&frame.file).to_owned();
        if back.function.is_empty() && back.file.is_empty() {
            back.line = 0;
        }
        assert_eq!(parse_frame(&label), back, "round trip of {label}");
    }

    #[test]
    fn frames_label_and_parse_back() {
        check(
            Frame::new("app::handler::{{closure}}", "src/handler.rs", 42),
            "app::handler::{{closure}} (src/handler.rs:42)",
        );
        check(
            Frame::new("<[u8; 8] as app::Fill>::fill", "src/fill.rs", 3),
            "<[u8\u{37e} 8] as app::Fill>::fill (src/fill.rs:3)",
        );
        check(
            Frame::new(
                "tokio::sync::batch_semaphore::Acquire::poll",
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/sync/batch_semaphore.rs",
                601,
            ),
            "tokio::sync::batch_semaphore::Acquire::poll (tokio-1.54.1/src/sync/batch_semaphore.rs:601)",
        );
        check(
            Frame::new(
                "std::thread::sleep",
                "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/thread/mod.rs",
                9,
            ),
            "std::thread::sleep (library/std/src/thread/mod.rs:9)",
        );
        check(Frame::new("wait: mpsc::Sender::send", "", 0), "wait: mpsc::Sender::send");
        check(Frame::new("", "src/main.rs", 7), "src/main.rs:7");
        check(Frame::new("main", "src/main.rs", 0), "main (src/main.rs)");
        check(Frame::default(), "[unknown]");
        // A function that ends in a parenthesis is not mistaken for a location.
        check(Frame::new("call (deferred)", "", 0), "call (deferred)");
    }

    #[test]
    fn folded_text_round_trips_with_semicolons_inside_frames() {
        let text = "main (src/main.rs:1);<[u8\u{37e} 8] as Fill>::fill (src/f.rs:2) 7\n\
                    main (src/main.rs:1) 3\n";
        let profile = read_folded(text).unwrap();
        assert_eq!(profile.samples.len(), 2);
        let fill = profile.samples.iter().find(|s| s.stack.len() == 2).unwrap();
        assert_eq!(fill.stack[1].function, "<[u8; 8] as Fill>::fill");
        assert_eq!(fill.values, vec![7]);
        let written = folded_lines(&profile, 0).join("\n") + "\n";
        let mut sorted: Vec<&str> = text.lines().collect();
        sorted.sort();
        assert_eq!(written, sorted.join("\n") + "\n");
    }

    #[test]
    fn bad_lines_are_named() {
        let check_error = |text: &str, expected: &str| {
            assert_eq!(read_folded(text).unwrap_err().to_string(), expected, "{text:?}");
        };
        check_error("a;b 1\nnocount\n", "folded stacks, line 2: no count after the stack");
        check_error("a;b x\n", "folded stacks, line 1: the count is not a non-negative integer");
        check_error("a;b -3\n", "folded stacks, line 1: the count is not a non-negative integer");
        assert!(read_folded("# comment\n\n").unwrap().samples.is_empty());
    }
}
