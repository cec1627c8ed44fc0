//! `--format json`: the report as one JSON document, the schema documented in
//! docs/json-schema.md.

use leakscope_analysis::{
    Finding, FindingKind, Group, Pending, Report, Target, TaskSummary, Unevaluated,
};
use leakscope_gate::RuntimeStatus;
use serde::Serialize;

use super::command::Observed;

/// Bumped when a field changes meaning or goes away; new fields keep it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The document: a version and the source's kind, then the analysis report's fields (`target`,
/// `tasks`, `groups`, `findings`, `unevaluated`, `suppressed`, `pending`), with the runtimes'
/// health added under `target` and each finding's `kinds`. A test checks that every field of [`Report`] is here.
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    backend: &'static str,
    analysed_by: &'static str,
    target: TargetDocument<'a>,
    tasks: &'a TaskSummary,
    groups: &'a [Group],
    findings: Vec<FindingDocument<'a>>,
    unevaluated: &'a [Unevaluated],
    suppressed: usize,
    pending: &'a [Pending],
}

/// A finding, and every kind it carries (`kinds`, its own first: findings at one spawn site and
/// wait point are one entry; the merged ones are also in its `evidence` as `also-found`).
#[derive(Serialize)]
struct FindingDocument<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    kinds: Vec<FindingKind>,
}

/// The report's `target`, and `runtimes`.
#[derive(Serialize)]
struct TargetDocument<'a> {
    #[serde(flatten)]
    target: &'a Target,
    runtimes: &'a [RuntimeStatus],
}

/// Pretty-printed, with a trailing newline.
pub(crate) fn render(observed: &Observed) -> String {
    let report: &Report = &observed.report;
    let document = Document {
        schema_version: JSON_SCHEMA_VERSION,
        backend: observed.backend.as_str(),
        analysed_by: observed.analysed_by.as_str(),
        target: TargetDocument { target: &report.target, runtimes: &observed.runtimes },
        tasks: &report.tasks,
        groups: &report.groups,
        findings: report
            .findings
            .iter()
            .map(|finding| FindingDocument { finding, kinds: finding.kinds() })
            .collect(),
        unevaluated: &report.unevaluated,
        suppressed: report.suppressed,
        pending: &report.pending,
    };
    let mut text = serde_json::to_string_pretty(&document)
        .expect("a report holds only strings, numbers, booleans and lists");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixture;
    use leakscope_client::Backend;

    #[test]
    fn json_is_stable() {
        insta::assert_snapshot!(render(&fixture::observed()));
    }

    #[test]
    fn every_field_of_the_report_is_in_the_document() {
        let observed = fixture::observed();
        let document: serde_json::Value = serde_json::from_str(&render(&observed)).unwrap();
        let report = serde_json::to_value(&observed.report).unwrap();
        for (key, value) in report.as_object().unwrap() {
            if key == "target" {
                for (key, value) in value.as_object().unwrap() {
                    assert_eq!(&document["target"][key], value, "target.{key}");
                }
            } else if key == "findings" {
                // Each finding is the report's, plus `kinds`.
                let mut findings = document[key].clone();
                for finding in findings.as_array_mut().unwrap() {
                    let kinds = finding.as_object_mut().unwrap().remove("kinds");
                    assert_eq!(
                        kinds.as_ref().and_then(|k| k[0].as_str()),
                        finding["kind"].as_str()
                    );
                }
                assert_eq!(&findings, value, "{key}");
            } else {
                assert_eq!(&document[key], value, "{key}");
            }
        }
        let runtime = &document["target"]["runtimes"][0];
        assert_eq!(runtime["id"], 1);
        assert_eq!(runtime["flavor"], "multi_thread");
        assert_eq!(runtime["workers"], 2);
        assert_eq!(runtime["stalled"], false);
        assert_eq!(runtime["heartbeat_age_secs"], 0.1);
    }

    #[test]
    fn json_has_the_documented_top_level_and_finding_fields() {
        let mut observed = fixture::observed();
        observed.backend = Backend::Console;
        let value: serde_json::Value = serde_json::from_str(&render(&observed)).unwrap();
        // serde_json's map sorts keys; the order in the text is the document's, checked above.
        let mut top: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "schema_version",
            "backend",
            "analysed_by",
            "target",
            "tasks",
            "groups",
            "findings",
            "unevaluated",
            "suppressed",
            "pending",
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
                "kinds",
            ] {
                assert!(finding.get(key).is_some(), "{key} missing from {finding}");
            }
        }
    }
}
