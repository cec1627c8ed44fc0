//! Every `doc` link a finding carries resolves: docs/leak-patterns.md has a section whose anchor
//! is the kind's name, and every in-page link of that file points at a heading it has.

use std::collections::HashMap;

use leakscope_analysis::{DOC_FILE, FindingKind};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    std::fs::read_to_string(format!("{path}{DOC_FILE}")).expect("docs/leak-patterns.md is readable")
}

/// The anchors of the file's headings as GitHub makes them: lower case, punctuation other than
/// `-` and `_` dropped, spaces to `-`, and `-1`, `-2`, … after repeats.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_default();
        anchors.push(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        *n += 1;
    }
    anchors
}

#[test]
fn every_finding_kind_has_its_section() {
    let anchors = anchors(&doc());
    for kind in FindingKind::ALL {
        let link = kind.doc();
        let (file, anchor) = link.split_once('#').expect("a link with an anchor");
        assert_eq!(file, DOC_FILE);
        assert!(anchors.iter().any(|a| a == anchor), "no section #{anchor} in {DOC_FILE}");
        assert!(!anchors.contains(&format!("{anchor}-1")), "#{anchor} is not unique");
    }
}

#[test]
fn in_page_links_resolve() {
    let text = doc();
    let anchors = anchors(&text);
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](#") {
        let link = &rest[at + 3..];
        let end = link.find(')').expect("a closed link");
        assert!(anchors.iter().any(|a| a == &link[..end]), "dangling link #{}", &link[..end]);
        rest = &link[end..];
    }
}
