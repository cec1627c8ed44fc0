//! The report's renderings, one module per `--format`. Each is a pure function of the
//! [`GateReport`], so it is tested on fixed reports.

mod github;
mod json;
mod junit;
mod text;

use crate::args::Format;
use crate::report::GateReport;

pub use github::step_summary;

/// `report` in `format`.
pub fn render(report: &GateReport, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Json => json::render(report),
        Format::Junit => junit::render(report, junit::Flavour::Strict),
        Format::JunitGithub => junit::render(report, junit::Flavour::Github),
        Format::Github => github::render(report),
    }
}

#[cfg(test)]
pub(crate) mod fixture;
