//! Flame graphs with inferno: the folded lines of one value column, a title and a subtitle,
//! colours chosen from each function's name (so a function keeps its colour between runs and
//! between profiles), optionally upside down (an icicle graph, roots on top).
//!
//! A differential profile gives inferno's differential graph: widths from the *after* profile,
//! red where a stack grew since *before*, blue where it shrank.

use std::io::{self, Write};

use inferno::flamegraph::{self, Direction, Options, Palette, color::MultiPalette};

use crate::folded::folded_lines;
use crate::profile::Profile;

/// How to draw a flame graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SvgOptions {
    /// Roots at the top, leaves hanging down.
    pub icicle: bool,
    /// Image width in pixels; inferno's default (1200) when `None`.
    pub width: Option<usize>,
}

/// Writes the flame graph of the profile's default value column.
pub fn write_svg(profile: &Profile, options: &SvgOptions, out: impl Write) -> io::Result<()> {
    let index = profile.default_sample_type;
    let unit = profile.sample_types.get(index).map(|t| t.unit.as_str()).unwrap_or("count");
    let mut lines = folded_lines(profile, index);
    // Nanoseconds make unreadable widths; microseconds keep enough precision for waits.
    let count_name = if unit == "nanoseconds" {
        let counts = if profile.differential.is_some() { 2 } else { 1 };
        lines = lines.iter().filter_map(|line| scale_line(line, counts, 1_000)).collect();
        "µs".to_owned()
    } else {
        profile.sample_types.get(index).map_or_else(|| "samples".to_owned(), |t| t.kind.clone())
    };
    let mut opts = Options::default();
    opts.title =
        if profile.title.is_empty() { "leakscope profile".into() } else { profile.title.clone() };
    opts.subtitle = (!profile.subtitle.is_empty()).then(|| profile.subtitle.clone());
    opts.count_name = count_name;
    opts.name_type = "Frame:".into();
    opts.colors = Palette::Multi(MultiPalette::Rust);
    opts.deterministic = true;
    opts.direction = if options.icicle { Direction::Inverted } else { Direction::Straight };
    opts.image_width = options.width;
    if lines.is_empty() {
        // inferno refuses an input without counts; an empty profile still gets a picture that
        // says so.
        return write_empty(&opts.title, opts.subtitle.as_deref(), out);
    }
    flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
}

/// A small SVG with the title, the subtitle and "no samples".
fn write_empty(title: &str, subtitle: Option<&str>, mut out: impl Write) -> io::Result<()> {
    let escape = |text: &str| {
        text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    };
    writeln!(out, r#"<?xml version="1.0" standalone="no"?>"#)?;
    writeln!(
        out,
        r#"<svg version="1.1" width="1200" height="120" xmlns="http://www.w3.org/2000/svg" font-family="Verdana" font-size="12">"#
    )?;
    writeln!(out, r##"<rect x="0" y="0" width="100%" height="100%" fill="#eeeeee"/>"##)?;
    writeln!(
        out,
        r#"<text x="600" y="24" font-size="17" text-anchor="middle">{}</text>"#,
        escape(title)
    )?;
    if let Some(subtitle) = subtitle {
        writeln!(
            out,
            r#"<text x="600" y="48" text-anchor="middle" fill="gray">{}</text>"#,
            escape(subtitle)
        )?;
    }
    writeln!(out, r#"<text x="600" y="84" text-anchor="middle">no samples</text>"#)?;
    writeln!(out, "</svg>")
}

/// Divides the last `counts` fields of a folded line (`stack count`, or `stack before after`) by
/// `by`, dropping the line when they all become zero.
fn scale_line(line: &str, counts: usize, by: i64) -> Option<String> {
    let mut fields: Vec<&str> = line.rsplitn(counts + 1, ' ').collect();
    let stack = fields.pop()?;
    let scaled: Vec<i64> = fields
        .iter()
        .rev()
        .map(|c| c.parse::<i64>().map(|c| c / by))
        .collect::<Result<_, _>>()
        .ok()?;
    if scaled.iter().all(|&c| c == 0) {
        return None;
    }
    let scaled: Vec<String> = scaled.iter().map(ToString::to_string).collect();
    Some(format!("{stack} {}", scaled.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::scale_line;

    #[test]
    fn lines_scale_and_vanish_below_one_unit() {
        let check = |line: &str, counts: usize, expected: Option<&str>| {
            assert_eq!(scale_line(line, counts, 1000).as_deref(), expected, "{line}")
        };
        check("a;b c 12000", 1, Some("a;b c 12"));
        check("a;frame 12 12000", 1, Some("a;frame 12 12"));
        check("a;b c 999", 1, None);
        check("a;b 5000 7000", 2, Some("a;b 5 7"));
        check("a;b 0 7000", 2, Some("a;b 0 7"));
        check("a;b x", 1, None);
    }
}
