//! Checks on what a user types, shared by the gate and every other `leakscope` command (the CLI
//! depends on this crate, not the other way round, so the one home is here): durations bounded
//! to [`MAX_DURATION`] at parse time (the parser lives beside `parse_duration` in
//! `leakscope-analysis`, which the terminal UI's flags use too), and output paths checked before
//! any watching starts.
//!
//! Why a bound: a duration is added to clocks and multiplied (a stall limit is twenty sampling
//! intervals), and `Duration` arithmetic panics on overflow. Refusing a duration past a week when
//! it is parsed keeps every such sum far from the limit, and says so in one line instead of a
//! panic (`--wait 18000000000000000000`) or a watch that never ends.

use std::fs::OpenOptions;
use std::path::Path;

pub use leakscope_analysis::{MAX_DURATION, MAX_DURATION_TEXT, parse_bounded_duration};

/// Checks that a file can be written at `path` without writing anything to it, so that a bad
/// report or output path fails at once rather than after the whole watch. An existing file is
/// opened for appending (nothing is truncated); a missing one is created and removed again.
/// The error is one line: the path and the system's reason.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("an empty path".to_owned());
    }
    if path.is_dir() {
        return Err(format!("cannot write {shown}: it is a directory"));
    }
    let existed = path.exists();
    match OpenOptions::new().append(true).create(true).open(path) {
        Ok(file) => {
            drop(file);
            if !existed {
                // Only a file this check created is removed; a failure leaves an empty file the
                // real write will fill.
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(err) => Err(format!("cannot write {shown}: {}", one_line_io(&err))),
    }
}

/// Checks that `dir` is a directory files can be created in (for `man --out-dir`), creating it
/// (and its parents) when it does not exist.
pub fn check_directory(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(format!("cannot write into {shown}: it is not a directory"));
    }
    std::fs::create_dir_all(dir)
        .map_err(|err| format!("cannot create {shown}: {}", one_line_io(&err)))?;
    let probe = dir.join(format!(".leakscope-write-check-{}", std::process::id()));
    check_writable(&probe).map_err(|_| format!("cannot write into {shown}: permission denied"))
}

/// The system's reason without its `(os error N)` suffix.
fn one_line_io(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(text: &str, expected: Result<Duration, &str>) {
        let got = parse_bounded_duration(text);
        match (got, expected) {
            (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{text}"),
            (Err(got), Err(expected)) => assert!(got.contains(expected), "{text}: {got}"),
            (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn durations_are_bounded_at_parse_time() {
        check("5s", Ok(Duration::from_secs(5)));
        check("0", Ok(Duration::ZERO));
        check("7d", Ok(MAX_DURATION));
        check("604800", Ok(MAX_DURATION));
        check("1m30s", Ok(Duration::from_secs(90)));
        check("7d1ns", Err("is longer than the longest duration leakscope takes (7d)"));
        check("18000000000000000000", Err("`18000000000000000000` is longer than"));
        check("10000000000000000000", Err("is longer than"));
        check("99999999999s", Err("`99999999999s` is longer than"));
        check("1e400", Err("is not a duration"));
        check("soon", Err("is not a duration"));
        check("-1s", Err("is not a duration"));
    }

    #[test]
    fn output_paths_are_checked_without_writing() {
        let dir = std::env::temp_dir().join(format!("leakscope-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fresh = dir.join("fresh.xml");
        assert_eq!(check_writable(&fresh), Ok(()));
        assert!(!fresh.exists(), "the check leaves no file behind");
        let kept = dir.join("kept.xml");
        std::fs::write(&kept, "old").unwrap();
        assert_eq!(check_writable(&kept), Ok(()));
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old", "nothing truncated");
        assert_eq!(
            check_writable(Path::new("/nonexistent/x.xml")),
            Err("cannot write /nonexistent/x.xml: No such file or directory".to_owned())
        );
        assert!(check_writable(&dir).unwrap_err().ends_with("it is a directory"));
        assert_eq!(check_writable(Path::new("")), Err("an empty path".to_owned()));
        let pages = dir.join("man/man1");
        assert_eq!(check_directory(&pages), Ok(()));
        assert!(pages.is_dir());
        assert_eq!(std::fs::read_dir(&pages).unwrap().count(), 0, "no probe left behind");
        assert!(check_directory(&kept).unwrap_err().ends_with("it is not a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
