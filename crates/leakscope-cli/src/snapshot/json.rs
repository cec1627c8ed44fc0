//! `--format json`: the report as one JSON document, the schema documented in
//! docs/json-schema.md.

use leakscope_analysis::Report;
use leakscope_client::Backend;
use serde::Serialize;

/// Bumped when a field changes meaning or goes away; new fields keep it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The document: a version and the source's kind, then the analysis report's fields flattened in
/// (`target`, `tasks`, `groups`, `findings`, `unevaluated`, `suppressed`).
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    backend: &'static str,
    #[serde(flatten)]
    report: &'a Report,
}

/// Pretty-printed, with a trailing newline.
pub(crate) fn render(report: &Report, backend: Backend) -> String {
    let document =
        Document { schema_version: JSON_SCHEMA_VERSION, backend: backend.as_str(), report };
    let mut text = serde_json::to_string_pretty(&document)
        .expect("a report holds only strings, numbers, booleans and lists");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixture;

    #[test]
    fn json_is_stable() {
        insta::assert_snapshot!(render(&fixture::report(), Backend::Leakscope));
    }

    #[test]
    fn json_has_the_documented_top_level_and_finding_fields() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&fixture::report(), Backend::Console)).unwrap();
        // serde_json's map sorts keys; the order in the text is the document's, checked above.
        let mut top: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "schema_version",
            "backend",
            "target",
            "tasks",
            "groups",
            "findings",
            "unevaluated",
            "suppressed",
        ];
        top.sort_unstable();
        expected.sort_unstable();
        assert_eq!(top, expected);
        assert_eq!(value["backend"], "console");
        for finding in value["findings"].as_array().unwrap() {
            for key in [
                "kind",
                "severity",
                "location",
                "count",
                "oldest_secs",
                "waiting_on",
                "explanation",
                "fix",
                "doc",
            ] {
                assert!(finding.get(key).is_some(), "{key} missing from {finding}");
            }
        }
    }
}
