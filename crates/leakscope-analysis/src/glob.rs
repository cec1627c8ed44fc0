//! Shell-style globs for suppressions: `src/worker/*.rs`, `**/vendor/**`, `metrics-?`.
//!
//! Written here rather than taken from `globset` because suppressions only need `*`, `**` and `?`
//! against short strings, and a 60-line matcher costs less than a regex engine in every build of
//! the CLI, the UI and the gate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A compiled glob pattern.
///
/// `*` matches any run of characters except `/`, `**` any run including `/` (and `**/` may match
/// nothing, so `**/main.rs` matches `main.rs`), `?` one character except `/`. Everything else,
/// `:` included, matches itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    Star,
    /// `**`: anything, separators included.
    Globstar,
    /// `**/`: nothing, or anything ending in a separator.
    GlobstarDir,
}

impl Glob {
    /// Compiles `pattern`. Every string is a valid pattern.
    pub fn new(pattern: &str) -> Self {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '?' => Token::AnyChar,
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    if chars.peek() == Some(&'/') {
                        chars.next();
                        Token::GlobstarDir
                    } else {
                        Token::Globstar
                    }
                }
                '*' => Token::Star,
                c => Token::Char(c),
            };
            tokens.push(token);
        }
        Self { pattern: pattern.to_owned(), tokens }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // `reach[i]` says whether the tokens consumed so far can end at text position `i`; the
        // table walk is O(tokens × text) with no backtracking blow-up.
        let mut reach = vec![false; text.len() + 1];
        reach[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            for i in 0..=text.len() {
                if !reach[i] {
                    continue;
                }
                match token {
                    Token::Char(c) => {
                        if text.get(i) == Some(c) {
                            next[i + 1] = true;
                        }
                    }
                    Token::AnyChar => {
                        if text.get(i).is_some_and(|&t| t != '/') {
                            next[i + 1] = true;
                        }
                    }
                    Token::Star => {
                        next[i] = true;
                        let mut j = i;
                        while j < text.len() && text[j] != '/' {
                            j += 1;
                            next[j] = true;
                        }
                    }
                    Token::Globstar => next[i..].iter_mut().for_each(|n| *n = true),
                    Token::GlobstarDir => {
                        next[i] = true;
                        for j in i..text.len() {
                            if text[j] == '/' {
                                next[j + 1] = true;
                            }
                        }
                    }
                }
            }
            reach = next;
        }
        reach[text.len()]
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.pattern)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pattern)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(deserializer)?;
        if pattern.is_empty() {
            return Err(serde::de::Error::custom(
                "an empty glob matches nothing; leave the key out",
            ));
        }
        Ok(Self::new(&pattern))
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn check(pattern: &str, text: &str, expected: bool) {
        assert_eq!(Glob::new(pattern).matches(text), expected, "{pattern:?} against {text:?}");
    }

    #[test]
    fn matches() {
        check("src/main.rs", "src/main.rs", true);
        check("src/main.rs", "src/main.rsx", false);
        check("src/*.rs", "src/main.rs", true);
        check("src/*.rs", "src/net/main.rs", false);
        check("src/**", "src/net/main.rs", true);
        check("src/**/*.rs", "src/net/io/main.rs", true);
        check("src/**/*.rs", "src/main.rs", true);
        check("**/main.rs", "main.rs", true);
        check("**/main.rs", "src/app/main.rs", true);
        check("**/main.rs", "src/app/notmain.rs", false);
        check("src/main.rs:*", "src/main.rs:12:5", true);
        check("src/main.rs:12:*", "src/main.rs:13:5", false);
        check("metrics-?", "metrics-1", true);
        check("metrics-?", "metrics-12", false);
        check("?", "/", false);
        check("*", "", true);
        check("", "", true);
        check("", "x", false);
        check("a*b*c", "aXbYc", true);
        check("a*b*c", "aXbY", false);
        check("**", "anything/at/all", true);
    }

    #[test]
    fn deserializes_from_a_string_and_rejects_empty() {
        let glob: Glob = serde_json::from_str(r#""src/**""#).unwrap();
        assert_eq!(glob.as_str(), "src/**");
        assert!(serde_json::from_str::<Glob>(r#""""#).is_err());
    }
}
