//! `--format junit` and `--format junit-github`: one test suite, one test case per limit, per
//! `--fail-on` kind and (run mode) for settling; failures carry what exceeded or leaked,
//! `system-out` the counts table. CI test reporters (GitHub, GitLab, Jenkins) show it like any
//! test run.
//!
//! Two flavours, because the consumers disagree. `junit` writes only what Jenkins xunit's strict
//! `junit-10.xsd` declares, so a validating consumer accepts it; `junit-github` adds the
//! attributes GitHub's reporters (`mikepenz/action-junit-report`, `dorny/test-reporter`) read to
//! annotate a line: `file` and `line` on each test case, `skipped` on `testsuites`. The schemas
//! both are tested against are in `tests/schemas/`.

use std::fmt::Write as _;

use leakscope_analysis::{Finding, SourceLocation};

use crate::limits::LimitCheck;
use crate::report::{GateReport, Mode, Verdict};

/// One `<testcase>`.
struct Case {
    classname: &'static str,
    name: String,
    location: Option<SourceLocation>,
    outcome: Outcome,
}

enum Outcome {
    Passed,
    Failed { kind: String, message: String, body: String },
    Skipped { message: String },
}

/// Which consumers' JUnit to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavour {
    /// Only what Jenkins xunit's `junit-10.xsd` declares; the location stays in the failure's
    /// message and text.
    Strict,
    /// Also `file`/`line` on test cases and `skipped` on `testsuites`, for GitHub's reporters.
    Github,
}

pub(super) fn render(report: &GateReport, flavour: Flavour) -> String {
    let cases = cases(report);
    let failures = cases.iter().filter(|c| matches!(c.outcome, Outcome::Failed { .. })).count();
    let skipped = cases.iter().filter(|c| matches!(c.outcome, Outcome::Skipped { .. })).count();
    let time = report.window.warmup_secs + report.window.window_secs + report.window.settle_secs;
    let target = &report.target;
    let suite = format!(
        "leakscope gate: {} (pid {}) at {}",
        target.process_name, target.pid, target.address
    );

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // junit-10.xsd declares `skipped` on `testsuite` only.
    let suites_skipped = match flavour {
        Flavour::Strict => String::new(),
        Flavour::Github => format!(" skipped=\"{skipped}\""),
    };
    let _ = writeln!(
        out,
        "<testsuites name=\"leakscope gate\" tests=\"{}\" failures=\"{failures}\" errors=\"0\"{suites_skipped} time=\"{time:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">",
        escape(&suite),
        cases.len()
    );
    out.push_str("    <properties>\n");
    let verdict = match report.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
    };
    let mode = match target.mode {
        Mode::Attach => "attach",
        Mode::Run => "run",
    };
    let mut properties = vec![
        ("verdict", verdict.to_owned()),
        ("mode", mode.to_owned()),
        ("address", target.address.clone()),
        ("process", target.process_name.clone()),
        ("pid", target.pid.to_string()),
        ("warmup_secs", report.window.warmup_secs.to_string()),
        ("window_secs", report.window.window_secs.to_string()),
        ("samples", report.window.samples.to_string()),
    ];
    properties.extend(target.command.iter().map(|c| ("command", c.clone())));
    properties.extend(target.load.iter().map(|c| ("load", c.clone())));
    properties.extend(report.dump.iter().map(|d| ("task_dump", d.clone())));
    properties.extend(
        report.runtimes.iter().filter(|r| r.stalled).map(|r| ("stalled_runtime", r.to_string())),
    );
    for (name, value) in properties {
        let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", escape(&value));
    }
    out.push_str("    </properties>\n");
    for case in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            case.classname,
            escape(&case.name)
        );
        let location = case.location.as_ref().filter(|l| !l.is_unknown());
        if let (Flavour::Github, Some(location)) = (flavour, location) {
            let _ = write!(out, " file=\"{}\" line=\"{}\"", escape(&location.file), location.line);
        }
        match &case.outcome {
            Outcome::Passed => out.push_str("/>\n"),
            Outcome::Failed { kind, message, body } => {
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    escape(kind),
                    escape(message),
                    escape(body)
                );
            }
            Outcome::Skipped { message } => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(message)
                );
            }
        }
    }
    let _ = writeln!(out, "    <system-out>{}</system-out>", escape(&super::text::table(report)));
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn cases(report: &GateReport) -> Vec<Case> {
    let mut cases: Vec<Case> = report.limits.iter().map(limit_case).collect();
    for &kind in &report.fail_on {
        let failing: Vec<&Finding> =
            report.failing_findings().filter(|f| f.has_kind(kind)).collect();
        let name = format!("no {kind} findings at {} or worse", report.fail_severity);
        let unevaluated = report.unevaluated.iter().find(|u| u.starts_with(&format!("{kind}:")));
        let outcome = match (failing.first(), unevaluated) {
            (Some(first), _) => Outcome::Failed {
                kind: kind.as_str().to_owned(),
                message: format!(
                    "{} {kind} finding{}, first at {}",
                    failing.len(),
                    if failing.len() == 1 { "" } else { "s" },
                    first.location
                ),
                body: failing.iter().map(|f| describe(f)).collect::<Vec<_>>().join("\n\n"),
            },
            (None, Some(reason)) => Outcome::Skipped { message: reason.clone() },
            (None, None) => Outcome::Passed,
        };
        cases.push(Case {
            classname: "leakscope.gate.findings",
            name,
            location: failing.first().map(|f| f.location.clone()),
            outcome,
        });
    }
    if let Some(settle) = &report.settle {
        let outcome = if settle.passed {
            Outcome::Passed
        } else {
            Outcome::Failed {
                kind: "settle".to_owned(),
                message: format!(
                    "{} live tasks after the load against {} before it (tolerance {})",
                    settle.end, settle.baseline, settle.tolerance
                ),
                body: settle
                    .violations
                    .iter()
                    .map(|v| v.message.clone())
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        };
        cases.push(Case {
            classname: "leakscope.gate.settle",
            name: "tasks settle back after the load".to_owned(),
            location: settle.violations.iter().find_map(|v| v.location.clone()),
            outcome,
        });
    }
    cases
}

fn limit_case(check: &LimitCheck) -> Case {
    let outcome = match check.violations.first() {
        None => Outcome::Passed,
        Some(first) => Outcome::Failed {
            kind: check.limit.as_str().to_owned(),
            message: first.message.clone(),
            body: check.violations.iter().map(|v| v.message.clone()).collect::<Vec<_>>().join("\n"),
        },
    };
    Case {
        classname: "leakscope.gate.limits",
        name: format!("{} {} ≤ {}", check.limit, check.scope, check.allowed),
        location: check.violations.iter().find_map(|v| v.location.clone()),
        outcome,
    }
}

fn describe(finding: &Finding) -> String {
    let mut text = format!(
        "{} {} at {} ({} task{})\n{}\nfix: {}\nsee {}",
        finding.severity,
        finding.kinds_label(),
        finding.location,
        finding.count,
        if finding.count == 1 { "" } else { "s" },
        finding.explanation,
        finding.fix,
        finding.doc
    );
    for evidence in &finding.evidence {
        let _ = write!(text, "\n- {evidence}");
    }
    text
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot carry.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fixture::{failing, passing};
    use std::io::Write as _;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    /// Parses the XML back and renders each test case as `classname/name: outcome`.
    fn check(
        report: &GateReport,
        flavour: Flavour,
        expected_counts: (&str, &str, &str),
        expected: &[&str],
    ) {
        let xml = render(report, flavour);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let suites = doc.root_element();
        let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
        fn counts<'a>(n: roxmltree::Node<'a, '_>) -> [Option<&'a str>; 3] {
            ["tests", "failures", "skipped"].map(|name| n.attribute(name))
        }
        let (tests, failures, skipped) = expected_counts;
        assert_eq!(counts(suite), [Some(tests), Some(failures), Some(skipped)]);
        let suites_skipped = (flavour == Flavour::Github).then_some(skipped);
        assert_eq!(counts(suites), [Some(tests), Some(failures), suites_skipped]);
        let got: Vec<String> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|case| {
                let outcome = match case.children().find(|n| n.is_element()) {
                    None => "ok".to_owned(),
                    Some(f) if f.has_tag_name("failure") => format!(
                        "FAIL[{}] {}",
                        f.attribute("type").unwrap(),
                        f.attribute("message").unwrap()
                    ),
                    Some(s) => format!("skipped: {}", s.attribute("message").unwrap()),
                };
                let at = case
                    .attribute("file")
                    .map(|f| format!(" @{f}:{}", case.attribute("line").unwrap()))
                    .unwrap_or_default();
                format!(
                    "{}/{}{at}: {outcome}",
                    case.attribute("classname").unwrap(),
                    case.attribute("name").unwrap()
                )
            })
            .collect();
        assert_eq!(got, expected);
        let out = suite.children().find(|n| n.has_tag_name("system-out")).unwrap().text().unwrap();
        assert!(out.contains("start    peak     end"), "{out}");
        // Every report of a flavour is valid against that flavour's schema.
        if let Err(complaints) = validate(&xml, flavour) {
            panic!("{flavour:?} JUnit rejected by its schema:\n{complaints}\n{xml}");
        }
    }

    /// `tests/schemas/`'s schema for `flavour`.
    fn schema(flavour: Flavour) -> PathBuf {
        let name = match flavour {
            Flavour::Strict => "junit-strict.xsd",
            Flavour::Github => "junit-github.xsd",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemas").join(name)
    }

    /// Validates `xml` against `flavour`'s schema with libxml2's `xmllint`: `Ok`, or the
    /// validity errors, one a line. A missing `xmllint` or a schema that does not compile fails
    /// the test: this check must never pass by being skipped.
    fn validate(xml: &str, flavour: Flavour) -> Result<(), String> {
        let schema = schema(flavour);
        let mut child = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "xmllint could not run ({e}): the JUnit schema tests need it; install it \
                     with `cargo xtask tools` (Debian's libxml2-utils)"
                )
            });
        child.stdin.take().unwrap().write_all(xml.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => Ok(()),
            // xmllint's exit code for a document the schema rejects.
            Some(3) => Err(stderr
                .lines()
                .filter(|l| l.contains("validity error"))
                .collect::<Vec<_>>()
                .join("\n")),
            _ => panic!("xmllint --schema {} failed ({}):\n{stderr}", schema.display(), out.status),
        }
    }

    #[test]
    fn failing_report_strict() {
        check(
            &failing(),
            Flavour::Strict,
            ("6", "4", "1"),
            &[
                "leakscope.gate.limits/max-growth total ≤ 20: FAIL[max-growth] live tasks in total grew by 68 (14 → 82; limit 20)",
                "leakscope.gate.limits/max-rate each location matching ** ≤ 2/s: FAIL[max-rate] live tasks at crates/app/src/handler.rs:42:9 rose at +21.9/s (limit 2/s)",
                "leakscope.gate.limits/max-tasks total ≤ 1000: ok",
                "leakscope.gate.findings/no lost-waker findings at suspect or worse: FAIL[lost-waker] 1 lost-waker finding, first at crates/app/src/handler.rs:42:9",
                "leakscope.gate.findings/no deadlock findings at suspect or worse: skipped: deadlock: needs resources",
                "leakscope.gate.settle/tasks settle back after the load: FAIL[settle] 82 live tasks after the load against 14 before it (tolerance 5)",
            ],
        );
        // Names with markup survive the round trip.
        assert!(render(&failing(), Flavour::Strict).contains("&quot;conn &lt;&amp;&gt;&quot;"));
    }

    #[test]
    fn failing_report_github() {
        check(
            &failing(),
            Flavour::Github,
            ("6", "4", "1"),
            &[
                "leakscope.gate.limits/max-growth total ≤ 20: FAIL[max-growth] live tasks in total grew by 68 (14 → 82; limit 20)",
                "leakscope.gate.limits/max-rate each location matching ** ≤ 2/s @crates/app/src/handler.rs:42: FAIL[max-rate] live tasks at crates/app/src/handler.rs:42:9 rose at +21.9/s (limit 2/s)",
                "leakscope.gate.limits/max-tasks total ≤ 1000: ok",
                "leakscope.gate.findings/no lost-waker findings at suspect or worse @crates/app/src/handler.rs:42: FAIL[lost-waker] 1 lost-waker finding, first at crates/app/src/handler.rs:42:9",
                "leakscope.gate.findings/no deadlock findings at suspect or worse: skipped: deadlock: needs resources",
                "leakscope.gate.settle/tasks settle back after the load @crates/app/src/handler.rs:42: FAIL[settle] 82 live tasks after the load against 14 before it (tolerance 5)",
            ],
        );
    }

    #[test]
    fn passing_report() {
        for flavour in [Flavour::Strict, Flavour::Github] {
            check(
                &passing(),
                flavour,
                ("2", "0", "0"),
                &[
                    "leakscope.gate.limits/max-growth total ≤ 20: ok",
                    "leakscope.gate.findings/no lost-waker findings at suspect or worse: ok",
                ],
            );
        }
    }

    /// The strict schema refuses exactly what the GitHub flavour adds, as Jenkins xunit's
    /// junit-10.xsd does: the flavours differ where they must and the schema notices.
    #[test]
    fn the_strict_schema_rejects_the_github_attributes() {
        let complaints = validate(&render(&failing(), Flavour::Github), Flavour::Strict)
            .expect_err("the strict schema accepted file/line");
        for attribute in ["'skipped'", "'file'", "'line'"] {
            assert!(
                complaints.lines().any(|l| l.contains(&format!("attribute {attribute}"))),
                "{attribute} not refused:\n{complaints}"
            );
        }
    }

    /// Each schema checks what its comment says: documents it must refuse, and one it must take.
    #[test]
    fn the_schemas_check_what_they_state() {
        let doc = |suites: &str, case: &str, inner: &str| {
            format!(
                "<testsuites {suites}><testsuite name=\"s\" tests=\"1\" failures=\"0\" \
                 errors=\"0\"><properties><property name=\"p\" value=\"v\"/></properties>\
                 <testcase name=\"c\" {case}>{inner}</testcase></testsuite></testsuites>"
            )
        };
        let check = |flavour: Flavour, xml: &str, expected: Result<(), &str>| match (
            validate(xml, flavour),
            expected,
        ) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(expected)) => {
                assert!(got.contains(expected), "{flavour:?} {xml}: {got}")
            }
            (got, expected) => panic!("{flavour:?} {xml}: got {got:?}, expected {expected:?}"),
        };
        use Flavour::{Github, Strict};
        let plain = doc("tests=\"1\" time=\"1.5\"", "classname=\"k\" time=\"0\"", "");
        check(Strict, &plain, Ok(()));
        check(Github, &plain, Ok(()));
        let located = doc(
            "skipped=\"0\"",
            "file=\"src/a.rs\" line=\"3\"",
            "<failure message=\"m\" type=\"t\">why</failure>",
        );
        check(Github, &located, Ok(()));
        check(Strict, &located, Err("attribute 'skipped'"));
        check(Strict, &doc("", "line=\"3\"", ""), Err("attribute 'line'"));
        check(Strict, &doc("", "time=\"soon\"", ""), Err("'soon'"));
        check(Strict, &doc("", "", "<skipped/><system-out>x</system-out>"), Ok(()));
        check(Strict, &doc("", "", "<flakyFailure type=\"t\"/>"), Err("flakyFailure"));
        check(Strict, &plain.replace(" value=\"v\"", ""), Err("'value' is required"));
        check(Strict, &plain.replace(" failures=\"0\"", ""), Err("'failures' is required"));
        check(Strict, &plain.replace("tests=\"1\" time", "tests=\"-1\" time"), Err("'-1'"));
        check(Github, &doc("", "file=\"a.rs\" line=\"0\"", ""), Err("'0'"));
        check(Github, &doc("", "file=\"\" line=\"1\"", ""), Err("''"));
        check(Github, &doc("", "col=\"1\"", ""), Err("attribute 'col'"));
        check(Github, &plain.replace(" name=\"c\"", ""), Err("'name' is required"));
        check(Github, &plain.replace(" value=\"v\"/>", ">text</property>"), Ok(()));
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;\n");
    }
}
