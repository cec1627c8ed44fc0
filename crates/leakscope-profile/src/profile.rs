//! The profile model every builder fills and every format writes: stacks of frames, root first,
//! each with one value per sample type, in the manner of pprof's `profile.proto`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// A kind of value and its unit, as pprof names them: `tasks`/`count`, `wait`/`nanoseconds`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueType {
    /// What is measured: `samples`, `cpu`, `tasks`, `wait`, `contentions`, `delay`.
    pub kind: String,
    /// Its unit: `count` or `nanoseconds`.
    pub unit: String,
}

impl ValueType {
    /// A value type from its two names.
    pub fn new(kind: impl Into<String>, unit: impl Into<String>) -> Self {
        Self { kind: kind.into(), unit: unit.into() }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.unit)
    }
}

/// One frame of a stack: a function and where in the source it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    /// The function (or what stands for one: `tokio::spawn`, `wait: Mutex::lock`); may be empty
    /// when only the location is known.
    pub function: String,
    /// Its source file as the compiler recorded it; empty when unknown.
    pub file: String,
    /// 1-based line; 0 when unknown.
    pub line: u32,
}

impl Frame {
    /// A frame from its parts.
    pub fn new(function: impl Into<String>, file: impl Into<String>, line: u32) -> Self {
        Self { function: function.into(), file: file.into(), line }
    }
}

/// A string label on a sample, as pprof's `Label` with `str` set: `thread`, `state`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label's name.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// One stack and its values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Frames, root first: for a task, its spawn location first and what it waits on last.
    pub stack: Vec<Frame>,
    /// One value per [`Profile::sample_types`] entry.
    pub values: Vec<i64>,
    /// Labels, sorted by key.
    pub labels: Vec<Label>,
}

/// Which two value columns of a differential profile hold the before and after values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Differential {
    /// Index of the baseline's values.
    pub before: usize,
    /// Index of the comparison's values.
    pub after: usize,
}

/// A profile: sample types, samples, and what it is of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The value columns every sample carries, in order.
    pub sample_types: Vec<ValueType>,
    /// Index of the column shown by default (the flame graph's widths, folded counts).
    pub default_sample_type: usize,
    /// The samples; see [`Profile::normalize`] for a canonical order.
    pub samples: Vec<Sample>,
    /// What one sample stands for, as pprof's `period_type` and `period`: `cpu`/`nanoseconds`
    /// and 10 101 010 for a CPU profile at 99 Hz; `tasks`/`count` and 1 for a task-wait profile
    /// (Go's goroutine profile has `goroutine`/`count`, 1). The pprof encoder writes the default
    /// column and 1 when this is `None`.
    pub period: Option<(ValueType, i64)>,
    /// When the data was taken, nanoseconds since the Unix epoch (0 when unknown).
    pub time_nanos: i64,
    /// How long the data took to collect (a CPU profile's duration), in nanoseconds.
    pub duration_nanos: i64,
    /// The program the data is of, as its executable's file name (`leakscope-zoo`): pprof's
    /// mapping names it, and `go tool pprof` shows it as `File:` and names saved profiles after
    /// it. Empty when unknown.
    pub program: String,
    /// A one-line title: `leakscope task-wait profile`.
    pub title: String,
    /// A one-line subtitle: the target and the time.
    pub subtitle: String,
    /// Set for the difference of two profiles, naming its before and after columns.
    pub differential: Option<Differential>,
}

impl Profile {
    /// An empty profile with these value columns; the first is the default.
    pub fn new(sample_types: Vec<ValueType>) -> Self {
        Self { sample_types, ..Self::default() }
    }

    /// Adds a sample. `values` must have one entry per sample type.
    pub fn add(&mut self, stack: Vec<Frame>, values: Vec<i64>, mut labels: Vec<Label>) {
        debug_assert_eq!(values.len(), self.sample_types.len(), "one value per sample type");
        labels.sort();
        self.samples.push(Sample { stack, values, labels });
    }

    /// Index of the column named `kind` (`tasks`, `wait`) or `kind/unit`.
    pub fn sample_type_index(&self, name: &str) -> Option<usize> {
        self.sample_types.iter().position(|t| t.kind == name || t.to_string() == name)
    }

    /// The default column.
    pub fn default_type(&self) -> Option<&ValueType> {
        self.sample_types.get(self.default_sample_type)
    }

    /// Makes the column named `name` the default; false when there is none of that name.
    pub fn set_default(&mut self, name: &str) -> bool {
        match self.sample_type_index(name) {
            Some(index) => {
                self.default_sample_type = index;
                true
            }
            None => false,
        }
    }

    /// Records when the data was taken and makes the subtitle name the target and that time:
    /// `leakscope-zoo (pid 42) at 127.0.0.1:6669, 2025-11-23 16:22:01 UTC`.
    pub fn set_origin(&mut self, target: &str, unix_nanos: i64) {
        self.time_nanos = unix_nanos;
        let when = crate::time::utc(unix_nanos);
        self.subtitle = if target.is_empty() { when } else { format!("{target}, {when}") };
    }

    /// The sum of one column over all samples.
    pub fn total(&self, index: usize) -> i64 {
        self.samples.iter().map(|s| s.values.get(index).copied().unwrap_or(0)).sum()
    }

    /// Merges samples with the same stack and labels (adding their values) and sorts them by
    /// stack, then labels: the same data always gives the same profile, whatever order it came in.
    pub fn normalize(&mut self) {
        let mut merged: BTreeMap<(Vec<Frame>, Vec<Label>), Vec<i64>> = BTreeMap::new();
        let width = self.sample_types.len();
        for sample in self.samples.drain(..) {
            let values =
                merged.entry((sample.stack, sample.labels)).or_insert_with(|| vec![0; width]);
            for (total, value) in values.iter_mut().zip(sample.values) {
                *total = total.saturating_add(value);
            }
        }
        self.samples = merged
            .into_iter()
            .map(|((stack, labels), values)| Sample { stack, values, labels })
            .collect();
    }

    /// Samples ordered by one column, largest first (ties by stack): for summaries.
    pub fn heaviest(&self, index: usize) -> Vec<&Sample> {
        let mut samples: Vec<&Sample> = self.samples.iter().collect();
        samples.sort_by(|a, b| match b.values.get(index).cmp(&a.values.get(index)) {
            Ordering::Equal => a.stack.cmp(&b.stack),
            other => other,
        });
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str) -> Frame {
        Frame::new(name, "src/lib.rs", 1)
    }

    #[test]
    fn normalize_merges_equal_stacks_and_sorts() {
        let mut profile = Profile::new(vec![ValueType::new("tasks", "count")]);
        profile.add(vec![frame("b")], vec![1], vec![]);
        profile.add(vec![frame("a"), frame("c")], vec![2], vec![]);
        profile.add(vec![frame("b")], vec![3], vec![]);
        let thread = vec![Label { key: "thread".into(), value: "w".into() }];
        profile.add(vec![frame("b")], vec![5], thread);
        profile.normalize();
        let seen: Vec<(String, i64, usize)> = profile
            .samples
            .iter()
            .map(|s| {
                let names: Vec<&str> = s.stack.iter().map(|f| f.function.as_str()).collect();
                (names.join(";"), s.values[0], s.labels.len())
            })
            .collect();
        assert_eq!(
            seen,
            vec![("a;c".to_owned(), 2, 0), ("b".to_owned(), 4, 0), ("b".to_owned(), 5, 1)]
        );
        assert_eq!(profile.total(0), 11);
    }

    #[test]
    fn columns_are_found_by_kind_or_full_name() {
        let mut profile = Profile::new(vec![
            ValueType::new("tasks", "count"),
            ValueType::new("wait", "nanoseconds"),
        ]);
        assert_eq!(profile.sample_type_index("wait"), Some(1));
        assert_eq!(profile.sample_type_index("tasks/count"), Some(0));
        assert_eq!(profile.sample_type_index("cpu"), None);
        assert!(profile.set_default("wait/nanoseconds"));
        assert_eq!(
            profile.default_type().map(ToString::to_string),
            Some("wait/nanoseconds".into())
        );
        assert!(!profile.set_default("cpu"));
        assert_eq!(profile.default_sample_type, 1);
    }
}
