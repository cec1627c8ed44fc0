//! Output and input formats, chosen by file extension or by name: `.svg` (a flame graph),
//! `.pb.gz` (pprof), `.folded` (collapsed stacks).

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use crate::error::ProfileError;
use crate::folded::{read_folded, write_folded};
use crate::pprof;
use crate::profile::Profile;

/// A profile file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An inferno flame graph (`.svg`).
    Svg,
    /// A gzipped pprof protobuf (`.pb.gz`; also `.pb`, `.pprof`).
    Pprof,
    /// Collapsed stacks (`.folded`; also `.txt`).
    Folded,
}

impl Format {
    /// The format a path's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".svg") {
            Some(Self::Svg)
        } else if [".pb.gz", ".pb", ".pprof", ".prof"].iter().any(|ext| name.ends_with(ext)) {
            Some(Self::Pprof)
        } else if [".folded", ".collapsed", ".txt"].iter().any(|ext| name.ends_with(ext)) {
            Some(Self::Folded)
        } else {
            None
        }
    }

    /// The usual extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Svg => "svg",
            Self::Pprof => "pb.gz",
            Self::Folded => "folded",
        }
    }
}

impl FromStr for Format {
    type Err = ProfileError;

    /// `svg`, `pprof` (or `pb.gz`, `pb`), `folded`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().trim_start_matches('.') {
            "svg" => Ok(Self::Svg),
            "pprof" | "pb.gz" | "pb" => Ok(Self::Pprof),
            "folded" | "collapsed" => Ok(Self::Folded),
            other => Err(ProfileError::Format(other.to_owned())),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Svg => "svg",
            Self::Pprof => "pprof",
            Self::Folded => "folded",
        })
    }
}

/// How to write a profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// The format; from the path's extension when `None`.
    pub format: Option<Format>,
    /// Flame graph settings.
    #[cfg(feature = "svg")]
    pub svg: crate::svg::SvgOptions,
}

/// Writes a profile in a format. pprof output gets the whole profile; folded stacks and flame
/// graphs get the default value column (see [`Profile::set_default`]).
pub fn write_profile(
    profile: &Profile,
    format: Format,
    options: &WriteOptions,
    mut out: impl Write,
) -> Result<(), ProfileError> {
    let io_error = |source| ProfileError::Write { path: "output".into(), source };
    match format {
        Format::Pprof => out.write_all(&pprof::encode(profile)).map_err(io_error),
        Format::Folded => {
            write_folded(profile, profile.default_sample_type, &mut out).map_err(io_error)
        }
        #[cfg(feature = "svg")]
        Format::Svg => crate::svg::write_svg(profile, &options.svg, out).map_err(io_error),
        #[cfg(not(feature = "svg"))]
        Format::Svg => {
            let _ = options;
            Err(ProfileError::Format("svg (this build has no flame graphs)".into()))
        }
    }
}

/// Writes a profile to a file, in the format its extension (or `options.format`) names, and
/// returns the format used.
pub fn write_path(
    profile: &Profile,
    path: &Path,
    options: &WriteOptions,
) -> Result<Format, ProfileError> {
    let format = match options.format.or_else(|| Format::from_path(path)) {
        Some(format) => format,
        None => return Err(ProfileError::Format(path.display().to_string())),
    };
    let mut buffer = Vec::new();
    write_profile(profile, format, options, &mut buffer)?;
    fs::write(path, buffer)
        .map_err(|source| ProfileError::Write { path: path.to_owned(), source })?;
    Ok(format)
}

/// Reads a profile file: pprof (gzipped or not) or folded stacks, by extension or, failing that,
/// by content.
pub fn read_path(path: &Path) -> Result<Profile, ProfileError> {
    let bytes =
        fs::read(path).map_err(|source| ProfileError::Read { path: path.to_owned(), source })?;
    read_bytes(&bytes, Format::from_path(path))
}

/// Reads a profile from bytes; `hint` is the format the name suggested, if any.
pub fn read_bytes(bytes: &[u8], hint: Option<Format>) -> Result<Profile, ProfileError> {
    match hint {
        Some(Format::Pprof) => pprof::decode(bytes),
        Some(Format::Folded) => read_folded(&text(bytes)?),
        Some(Format::Svg) => {
            Err(ProfileError::Format("svg (a flame graph cannot be read back)".into()))
        }
        None if bytes.starts_with(&[0x1f, 0x8b]) => pprof::decode(bytes),
        None => match std::str::from_utf8(bytes) {
            Ok(text) => read_folded(text),
            Err(_) => pprof::decode(bytes),
        },
    }
}

fn text(bytes: &[u8]) -> Result<String, ProfileError> {
    String::from_utf8(bytes.to_vec()).map_err(|err| ProfileError::Folded {
        line: bytes[..err.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1,
        reason: "not UTF-8 text".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions_and_names() {
        let check = |path: &str, expected: Option<Format>| {
            assert_eq!(Format::from_path(Path::new(path)), expected, "{path}")
        };
        check("cpu.svg", Some(Format::Svg));
        check("out/Tasks.PB.GZ", Some(Format::Pprof));
        check("x.pprof", Some(Format::Pprof));
        check("tasks.folded", Some(Format::Folded));
        check("tasks.json", None);
        check("svg", None);
        assert_eq!("pb.gz".parse::<Format>().unwrap(), Format::Pprof);
        assert_eq!("folded".parse::<Format>().unwrap(), Format::Folded);
        assert_eq!(
            "png".parse::<Format>().unwrap_err().to_string(),
            "unknown profile format `png`: use .svg, .pb.gz or .folded (or --format svg|pprof|folded)"
        );
    }

    #[test]
    fn reading_sniffs_pprof_and_folded() {
        let folded = read_bytes(b"a;b 3\n", None).unwrap();
        assert_eq!(folded.total(0), 3);
        let encoded = pprof::encode(&folded);
        assert_eq!(
            read_bytes(&encoded, None).unwrap(),
            read_bytes(&encoded, Some(Format::Pprof)).unwrap()
        );
        assert_eq!(read_bytes(&encoded, None).unwrap().total(0), 3);
        let err = read_bytes(b"a;b 3\n\xff\n", Some(Format::Folded)).unwrap_err().to_string();
        assert_eq!(err, "folded stacks, line 2: not UTF-8 text");
    }
}
