//! Source locations as findings show them: `file:line:col`.

use std::fmt;
use std::str::FromStr;

use leakscope_proto::v1::Location;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A place in the app's source: where a task was spawned, a resource created, or a frame sits.
///
/// It serializes as one string, `file:line:col` (`file:line` when the column is unknown, `<unknown>`
/// when nothing is), because that is what editors and terminals turn into links.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceLocation {
    /// Path as the compiler recorded it (relative to the crate root for the app's own code).
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: u32,
    /// 1-based; 0 when unknown.
    pub col: u32,
}

/// The text an unknown location shows as.
const UNKNOWN: &str = "<unknown>";

impl SourceLocation {
    /// A location from its parts.
    pub fn new(file: impl Into<String>, line: u32, col: u32) -> Self {
        Self { file: file.into(), line, col }
    }

    /// The location of something the agent could not place (location id 0).
    pub const fn unknown() -> Self {
        Self { file: String::new(), line: 0, col: 0 }
    }

    /// Whether nothing is known about this location.
    pub fn is_unknown(&self) -> bool {
        self.file.is_empty()
    }
}

impl From<&Location> for SourceLocation {
    fn from(location: &Location) -> Self {
        Self::new(location.file.clone(), location.line, location.col)
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_unknown(), self.line, self.col) {
            (true, _, _) => f.write_str(UNKNOWN),
            (false, 0, _) => f.write_str(&self.file),
            (false, line, 0) => write!(f, "{}:{line}", self.file),
            (false, line, col) => write!(f, "{}:{line}:{col}", self.file),
        }
    }
}

impl FromStr for SourceLocation {
    type Err = std::convert::Infallible;

    /// Parses what [`Display`](fmt::Display) writes. Numbers are taken from the right, so Windows
    /// paths (`C:\src\main.rs:3:9`) keep their drive letter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == UNKNOWN || s.is_empty() {
            return Ok(Self::unknown());
        }
        let mut parts = s.rsplitn(3, ':');
        let last = parts.next().and_then(|p| p.parse::<u32>().ok());
        let middle = parts.next();
        let rest = parts.next();
        Ok(match (last, middle.map(|m| (m, m.parse::<u32>().ok())), rest) {
            (Some(col), Some((_, Some(line))), Some(file)) => Self::new(file, line, col),
            (Some(line), Some((file, None)), None) => Self::new(file, line, 0),
            (Some(line), Some((middle, None)), Some(file)) => {
                Self::new(format!("{file}:{middle}"), line, 0)
            }
            _ => Self::new(s, 0, 0),
        })
    }
}

impl Serialize for SourceLocation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SourceLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::SourceLocation;

    /// Displays `location`, checks the text, and checks that parsing it gives `location` back.
    fn check(location: SourceLocation, expected: &str) {
        assert_eq!(location.to_string(), expected);
        assert_eq!(
            expected.parse::<SourceLocation>().unwrap(),
            location,
            "round trip of {expected}"
        );
    }

    #[test]
    fn displays_and_parses() {
        check(SourceLocation::new("src/main.rs", 12, 5), "src/main.rs:12:5");
        check(SourceLocation::new("src/main.rs", 12, 0), "src/main.rs:12");
        check(SourceLocation::new("src/main.rs", 0, 0), "src/main.rs");
        check(SourceLocation::unknown(), "<unknown>");
        check(SourceLocation::new(r"C:\app\src\main.rs", 3, 9), r"C:\app\src\main.rs:3:9");
        check(SourceLocation::new(r"C:\app\src\main.rs", 3, 0), r"C:\app\src\main.rs:3");
        // Near miss: a trailing non-number is part of the file name, not a line.
        check(SourceLocation::new("src/odd:name.rs", 0, 0), "src/odd:name.rs");
    }

    #[test]
    fn serializes_as_a_string() {
        let json = serde_json::to_string(&SourceLocation::new("a.rs", 1, 2)).unwrap();
        assert_eq!(json, r#""a.rs:1:2""#);
        let back: SourceLocation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, SourceLocation::new("a.rs", 1, 2));
    }
}
