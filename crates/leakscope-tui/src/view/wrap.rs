//! Word wrapping that keeps a line's indentation: a continuation line starts under the text it
//! continues, not at column 0, so a long frame or path in a detail stays inside its section.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Where `line`'s continuation lines start: under the first character after its leading
/// spaces and bullet (`→ `, `· `), or, for a labelled line (a first span ending in a space
/// followed by others: `polls       `, `   SUSPECT `, `     fix: `), under the text after the
/// label.
fn hang(line: &Line<'_>) -> usize {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let spaces = text.chars().take_while(|c| *c == ' ').count();
    let rest: String = text.chars().skip(spaces).collect();
    let bullet =
        ["→ ", "· ", "- "].iter().find(|b| rest.starts_with(**b)).map_or(0, |b| b.chars().count());
    let mut indent = spaces + bullet;
    if let [first, _, ..] = line.spans.as_slice() {
        let label = first.content.as_ref();
        if label.ends_with(' ') && !label.trim().is_empty() {
            indent = indent.max(label.chars().count());
        }
    }
    indent
}

/// `line` cut into lines of at most `width` characters, at spaces where it can, each
/// continuation indented by [`hang`]. Styles are kept.
pub(crate) fn wrap_line(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let chars: Vec<(char, Style)> = line
        .spans
        .iter()
        .flat_map(|span| span.content.chars().map(move |c| (c, line.style.patch(span.style))))
        .collect();
    if width == 0 || chars.len() <= width {
        return vec![line];
    }
    // A continuation needs room for some text; on a very narrow screen it hangs less.
    let indent = hang(&line).min(width / 2);
    let mut out = Vec::new();
    let mut start = 0;
    let mut first = true;
    while start < chars.len() {
        let room = if first { width } else { width - indent };
        let end = if chars.len() - start <= room {
            chars.len()
        } else {
            // Break at the last space that fits, past the indentation and label (a first line
            // does not break inside its own indent); a word longer than the line is cut.
            let window = &chars[start..start + room + 1];
            let past = if first { indent } else { 0 };
            match window.iter().rposition(|(c, _)| *c == ' ') {
                Some(space) if space > past => start + space,
                _ => start + room,
            }
        };
        let mut spans = Vec::new();
        if !first {
            spans.push(Span::raw(" ".repeat(indent)));
        }
        spans.extend(spans_of(&chars[start..end]));
        out.push(Line::from(spans));
        start = end;
        // The space a line broke at starts no line.
        while start < chars.len() && chars[start].0 == ' ' {
            start += 1;
        }
        first = false;
    }
    out
}

/// Every line wrapped to `width` ([`wrap_line`]).
pub(crate) fn wrap(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    lines.into_iter().flat_map(|line| wrap_line(line, width)).collect()
}

/// Characters back into spans, one per run of the same style.
fn spans_of(chars: &[(char, Style)]) -> Vec<Span<'static>> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for &(c, s) in chars {
        if style.is_some_and(|current| current != s) {
            spans.push(Span::styled(std::mem::take(&mut text), style.unwrap_or_default()));
        }
        style = Some(s);
        text.push(c);
    }
    if !text.is_empty() {
        spans.push(Span::styled(text, style.unwrap_or_default()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use ratatui::text::{Line, Span};

    use super::wrap_line;

    /// `check(line, width, expected lines)`.
    fn check(line: Line<'static>, width: usize, expected: &[&str]) {
        let got: Vec<String> = wrap_line(line, width)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn continuations_keep_the_indentation() {
        check(Line::from("   short"), 20, &["   short"]);
        check(
            Line::from("   → tokio::sync::mpsc::bounded at src/sync/mpsc/bounded.rs:817"),
            40,
            &["   → tokio::sync::mpsc::bounded at", "     src/sync/mpsc/bounded.rs:817"],
        );
        // A labelled line continues under its value.
        check(
            Line::from(vec![Span::raw(" polls       "), Span::raw("1 · busy 19µs · mean 19µs")]),
            26,
            &[" polls       1 · busy 19µs", "             · mean 19µs"],
        );
        // A word longer than the line is cut, not lost.
        check(Line::from("  abcdefghij"), 6, &["  abcd", "  efgh", "  ij"]);
    }
}
