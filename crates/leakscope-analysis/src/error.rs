//! Errors of this crate: only reading a configuration can fail.

/// A `leakscope.toml` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not TOML, or a key, value or section is unknown or of the wrong type.
    #[error("failed to parse leakscope.toml: {0}")]
    Toml(#[from] toml::de::Error),
    /// A `[[suppress]]` entry without `kind`, `location` or `task` would hide every finding.
    #[error(
        "failed to accept suppression #{index}: it names no kind, location or task, so it would hide every finding"
    )]
    MatchesEverything {
        /// 1-based position of the entry in the file.
        index: usize,
    },
    /// A threshold is outside its meaningful range.
    #[error("failed to accept `{key}`: {reason}")]
    OutOfRange {
        /// The offending key, as `section.key`.
        key: &'static str,
        /// Why the value cannot be used.
        reason: &'static str,
    },
}
