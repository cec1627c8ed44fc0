//! The one JSON line a measurement prints on stdout.

use serde::Serialize;
use serde_json::{Map, Value};
use std::io::Write as _;

/// One measurement's result.
///
/// `value` is the headline figure in `unit`; `detail` carries what explains it (sample counts,
/// whether memory settled, what the instrumentation says it dropped).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The workload's name (`spawn`, `poll`, ...).
    pub workload: &'static str,
    /// The instrumentation's name (`plain`, `console`, ...).
    pub mode: &'static str,
    /// The headline figure.
    pub value: f64,
    /// What `value` counts (`ns/task`, `bytes/task`, `req/s`, `tasks`).
    pub unit: &'static str,
    /// Supporting figures, by name.
    pub detail: Map<String, Value>,
}

impl Report {
    pub(crate) fn new(value: f64, unit: &'static str) -> Self {
        Self { workload: "", mode: "", value, unit, detail: Map::new() }
    }

    /// Adds one detail field.
    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// Prints the report as one line on stdout.
    pub(crate) fn print(&self) -> anyhow::Result<()> {
        let line = serde_json::to_string(self)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    }
}
