//! `--format json`: the report, serialised whole.

use crate::report::GateReport;

pub(super) fn render(report: &GateReport) -> String {
    // Every field is plain data: serialising cannot fail.
    let mut out = serde_json::to_string_pretty(report).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fixture::{failing, passing};

    #[test]
    fn round_trips() {
        for report in [failing(), passing()] {
            let text = render(&report);
            let back: GateReport = serde_json::from_str(&text).unwrap();
            assert_eq!(back, report);
        }
        let json: serde_json::Value = serde_json::from_str(&render(&failing())).unwrap();
        assert_eq!(json["verdict"], "fail");
        assert_eq!(json["locations"][0]["location"], "crates/app/src/handler.rs:42:9");
        assert_eq!(json["locations"][0]["start"], 0);
        assert_eq!(json["locations"][0]["peak"], 68);
        assert_eq!(json["locations"][0]["end"], 68);
        assert_eq!(json["limits"][0]["limit"], "max-growth");
        assert_eq!(json["findings"][0]["kind"], "lost-waker");
        assert_eq!(json["findings"][0]["fails"], true);
    }
}
