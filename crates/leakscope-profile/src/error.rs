//! Why reading, converting or writing a profile failed, phrased for a one-line message.

use std::path::PathBuf;

/// Every way a profile operation can fail. Each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A folded-stacks line that does not parse.
    #[error("folded stacks, line {line}: {reason}")]
    Folded {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Bytes that are not a pprof profile, or one that refers to ids it does not define.
    #[error("not a valid pprof profile: {0}")]
    Pprof(String),
    /// A file that could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A file that could not be written.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
    /// An output format that is not known (or not built in).
    #[error(
        "unknown profile format `{0}`: use .svg, .pb.gz or .folded (or --format svg|pprof|folded)"
    )]
    Format(String),
    /// Two profiles to compare that measure different things.
    #[error("the profiles measure different things: {before} against {after}")]
    Incompatible {
        /// The baseline's sample types.
        before: String,
        /// The comparison's sample types.
        after: String,
    },
    /// A sample type asked for that the profile does not have.
    #[error("the profile has no `{wanted}` values (it has {have})")]
    NoSuchValue {
        /// What was asked for.
        wanted: String,
        /// What it has.
        have: String,
    },
}
