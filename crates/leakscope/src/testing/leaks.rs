//! What a failed check reports: [`Leaks`], the test's tasks still alive, grouped by spawn
//! location and wait point.

use std::fmt;
use std::time::Duration;

/// The tasks a test left alive. Its `Display` is the message a failing `#[leakscope::test]`
/// panics with.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaks {
    pub(crate) count: usize,
    pub(crate) groups: Vec<LeakGroup>,
    pub(crate) findings: Vec<String>,
    pub(crate) waited: Duration,
    pub(crate) counts_only: Option<Box<str>>,
    pub(crate) wait_points_missing: Option<Box<str>>,
    pub(crate) ignores_unapplied: bool,
}

/// Leaked tasks spawned at one location and parked in one wait point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakGroup {
    /// Spawn location, `file:line:col`.
    pub location: String,
    /// What they are parked in (`mpsc::Receiver::recv`, `Mutex::lock`, `sleep`, ...); `None`
    /// when it is not known.
    pub waiting_on: Option<String>,
    /// The app's frame nearest to where they are parked (`function at file:line`), from a task
    /// dump.
    pub frame: Option<String>,
    /// The tasks' name, if they were given one.
    pub task_name: Option<String>,
    /// How many tasks.
    pub count: usize,
    /// Some of their ids.
    pub task_ids: Vec<u64>,
}

impl Leaks {
    /// How many of the test's tasks were still alive.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The tasks by spawn location and wait point, largest group first. Empty when the build can
    /// only count (see [`Leaks::counts_only`]).
    pub fn groups(&self) -> &[LeakGroup] {
        &self.groups
    }

    /// Findings of leakscope's detectors about the leaked tasks (a lost waker, a deadlock), one
    /// line each.
    pub fn findings(&self) -> &[String] {
        &self.findings
    }

    /// How long the check waited for the tasks to finish.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Why the tasks could only be counted (stable tokio), if so.
    pub fn counts_only(&self) -> Option<&str> {
        self.counts_only.as_deref()
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tasks = if self.count == 1 { "task" } else { "tasks" };
        let are = if self.count == 1 { "is" } else { "are" };
        write!(
            f,
            "leakscope: {} {tasks} spawned by this test {are} still alive after waiting {} for them to finish",
            self.count,
            secs(self.waited)
        )?;
        if let Some(reason) = &self.counts_only {
            write!(f, ". {reason}")?;
            if self.ignores_unapplied {
                f.write_str(
                    " (the ignore rules were not applied: they need task locations and names)",
                )?;
            }
            return Ok(());
        }
        f.write_str(":")?;
        for group in &self.groups {
            write!(f, "\n  {} × {}", group.count, group.location)?;
            match &group.waiting_on {
                Some(point) => write!(f, ", parked in {point}")?,
                None => f.write_str(", wait point unknown")?,
            }
            if let Some(name) = &group.task_name {
                write!(f, ", named {name:?}")?;
            }
            let ids: Vec<String> = group.task_ids.iter().map(u64::to_string).collect();
            let word = if ids.len() == 1 { "task" } else { "tasks" };
            write!(f, " ({word} {})", ids.join(", "))?;
            if let Some(frame) = &group.frame {
                write!(f, "\n      in {frame}")?;
            }
        }
        for finding in &self.findings {
            write!(f, "\n  {finding}")?;
        }
        if let Some(reason) = &self.wait_points_missing {
            write!(f, "\n  (wait points unknown: {reason})")?;
        }
        if let Some(group) = self.groups.first() {
            let file = group.location.split(':').next().unwrap_or_default();
            write!(
                f,
                "\n  a task meant to outlive the test can be allowed with \
                 #[leakscope::test(ignore_location = \"{file}\")] or ignore_name = \"...\""
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaks {}

fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 { format!("{ms}ms") } else { format!("{:.1}s", d.as_secs_f64()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(location: &str, waiting_on: Option<&str>, count: usize) -> LeakGroup {
        LeakGroup {
            location: location.into(),
            waiting_on: waiting_on.map(str::to_owned),
            frame: None,
            task_name: None,
            count,
            task_ids: (1..=count as u64).collect(),
        }
    }

    fn check(leaks: Leaks, expected: &str) {
        assert_eq!(leaks.to_string(), expected);
    }

    fn base() -> Leaks {
        Leaks {
            count: 3,
            groups: Vec::new(),
            findings: Vec::new(),
            waited: Duration::from_millis(1000),
            counts_only: None,
            wait_points_missing: None,
            ignores_unapplied: false,
        }
    }

    #[test]
    fn listings() {
        let mut full = base();
        full.groups = vec![
            group("src/a.rs:4:9", Some("mpsc::Receiver::recv"), 2),
            LeakGroup {
                task_name: Some("tick".into()),
                frame: Some("app::f at src/b.rs:9".into()),
                ..group("src/b.rs:7:5", None, 1)
            },
        ];
        full.findings = vec!["leak lost-waker at src/b.rs:7:5: nothing can wake it".into()];
        check(
            full,
            "leakscope: 3 tasks spawned by this test are still alive after waiting 1.0s for them to finish:\n  \
             2 × src/a.rs:4:9, parked in mpsc::Receiver::recv (tasks 1, 2)\n  \
             1 × src/b.rs:7:5, wait point unknown, named \"tick\" (task 1)\n      in app::f at src/b.rs:9\n  \
             leak lost-waker at src/b.rs:7:5: nothing can wake it\n  \
             a task meant to outlive the test can be allowed with #[leakscope::test(ignore_location = \"src/a.rs\")] or ignore_name = \"...\"",
        );
        let mut counted = base();
        counted.count = 1;
        counted.waited = Duration::from_millis(250);
        counted.counts_only = Some("stable tokio: only counted".into());
        counted.ignores_unapplied = true;
        check(
            counted,
            "leakscope: 1 task spawned by this test is still alive after waiting 250ms for them to finish. \
             stable tokio: only counted (the ignore rules were not applied: they need task locations and names)",
        );
    }
}
