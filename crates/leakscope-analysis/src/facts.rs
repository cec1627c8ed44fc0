//! What a target can and cannot see, and the fix for each gap, decided once from its `Hello`:
//! `leakscope doctor` prints every [`Check`]; snapshot, attach and the gate print
//! [`Facts::summary`], the same facts on one line.

use leakscope_proto::v1::HelloResponse;
use leakscope_proto::v1::capabilities::Presence;
use serde::{Deserialize, Serialize};

/// The oldest tokio leakscope supports, as the workspace requires it; used when an agent does
/// not say its own (the end-to-end doctor test checks this against the workspace's Cargo.toml).
pub const TOKIO_MINIMUM: &str = "1.54";

/// The `.cargo/config.toml` lines that give an app everything leakscope reads.
pub const CARGO_CONFIG_FIX: &str =
    r#"[build] rustflags = ["--cfg", "tokio_unstable", "-C", "force-frame-pointers=yes"]"#;

/// What the handshake said about the target's build. `None` is "the target did not say" (an
/// older agent, a platform where the agent cannot check, or console-subscriber).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// The target runs console-subscriber, not leakscope's agent.
    pub console_subscriber: bool,
    /// Built with `--cfg tokio_unstable` (per-task records exist).
    pub tokio_unstable: bool,
    /// Another global tracing subscriber took tokio's instrumentation before `leakscope::init`.
    pub foreign_subscriber: bool,
    /// The app's code keeps frame pointers.
    pub frame_pointers: Option<bool>,
    /// The binary has line tables.
    pub line_tables: Option<bool>,
    /// The tokio version the app runs.
    pub tokio_version: Option<String>,
    /// The oldest tokio the agent supports.
    pub tokio_minimum: Option<String>,
    /// Task dumps work.
    pub task_dump: bool,
    /// Runtime metrics are served (a runtime is registered).
    pub runtime_metrics: bool,
    /// CPU profiles work on this platform.
    pub cpu_profile: bool,
}

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The target sees this.
    Ok,
    /// The target cannot see this; the check's fix says how to get it.
    Missing,
    /// The target did not say (an older agent, or it cannot check on its platform).
    Unknown,
    /// An opt-in the app did not turn on (CPU profiles are the `cpu` feature): not a gap in what
    /// leakscope needs to find leaks.
    Off,
}

/// One line of `leakscope doctor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// How it came out.
    pub status: Status,
    /// A short name for the one-line summary (`tokio_unstable`, `frame pointers`, …).
    pub label: &'static str,
    /// What the target sees or cannot see, and why, as one sentence.
    pub what: String,
    /// The exact change that gives the target what is missing; `None` when nothing can.
    pub fix: Option<String>,
}

impl Check {
    fn new(status: Status, label: &'static str, what: impl Into<String>) -> Self {
        Self { status, label, what: what.into(), fix: None }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// `Presence` on the wire to "did the target say, and what".
fn presence(value: i32) -> Option<bool> {
    match Presence::try_from(value) {
        Ok(Presence::Present) => Some(true),
        Ok(Presence::Absent) => Some(false),
        Ok(Presence::Unknown) | Err(_) => None,
    }
}

/// `"1.54.0"` or `"1.54"` to (1, 54, 0); `None` when it is not a version.
fn version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

impl Facts {
    /// The facts a `Hello` reports.
    pub fn from_hello(hello: &HelloResponse) -> Self {
        let caps = hello.capabilities.unwrap_or_default();
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            console_subscriber: caps.console_subscriber,
            // A foreign subscriber hides the tasks of a build that has them.
            tokio_unstable: caps.tasks || caps.foreign_subscriber,
            foreign_subscriber: caps.foreign_subscriber,
            frame_pointers: presence(caps.frame_pointers),
            line_tables: presence(caps.line_tables),
            tokio_version: text(&hello.tokio_version),
            tokio_minimum: text(&hello.tokio_minimum),
            task_dump: caps.task_dump,
            runtime_metrics: caps.runtime_metrics,
            cpu_profile: caps.cpu_profile,
        }
    }

    /// Every check, in the order `leakscope doctor` prints them.
    pub fn checks(&self) -> Vec<Check> {
        if self.console_subscriber {
            return vec![Check::new(
                Status::Missing,
                "leakscope agent (console-subscriber only)",
                "the app runs console-subscriber, not leakscope: no parent tasks, spawner spans, \
                 lock holders, task dumps, runtime metrics or wait points without a dump",
            )
            .fix(
                "link leakscope: leakscope::init() in main, or add leakscope::layer() to the \
                 subscriber that holds console_subscriber's layer (docs/adoption.md)",
            )];
        }
        let mut checks = Vec::new();
        checks.push(if !self.tokio_unstable {
            Check::new(
                Status::Missing,
                "tokio_unstable",
                "per-task records, resources and lock waits: the app was built without --cfg \
                 tokio_unstable (only the runtime metrics' live task count is seen)",
            )
            .fix(format!("in the app's .cargo/config.toml: {CARGO_CONFIG_FIX}"))
        } else if self.foreign_subscriber {
            Check::new(
                Status::Missing,
                "own subscriber",
                "per-task records: another tracing subscriber was installed before leakscope::init \
                 and receives tokio's instrumentation",
            )
            .fix(
                "compose them: tracing_subscriber::registry().with(leakscope::layer()) \
                 .with(<your layers>).init() instead of init() (docs/adoption.md)",
            )
        } else {
            Check::new(
                Status::Ok,
                "tokio_unstable",
                "per-task records, resources and lock waits: built with --cfg tokio_unstable",
            )
        });
        checks.push(match self.frame_pointers {
            Some(true) => Check::new(
                Status::Ok,
                "frame pointers",
                "stack walks: frame pointers present (wait points without a dump, CPU profiles)",
            ),
            Some(false) => Check::new(
                Status::Missing,
                "frame pointers",
                "stack walks: no frame pointers, so wait points need a task dump and CPU \
                 profiles stop at one frame ([unknown: no frame-pointer stack])",
            )
            .fix(format!(
                "add \"-C\", \"force-frame-pointers=yes\" to the rustflags in .cargo/config.toml: \
                 {CARGO_CONFIG_FIX}"
            )),
            None => Check::new(
                Status::Unknown,
                "frame pointers",
                "stack walks: the agent did not say whether the app keeps frame pointers",
            ),
        });
        checks.push(match self.line_tables {
            Some(true) => Check::new(
                Status::Ok,
                "line tables",
                "source lines: the binary has line tables (frames name file:line)",
            ),
            Some(false) => Check::new(
                Status::Missing,
                "line tables",
                "source lines: the binary has no line tables, so wait points, dumps and CPU \
                 profiles name functions but no file:line",
            )
            .fix("in the app's Cargo.toml: [profile.release] debug = \"line-tables-only\""),
            None => Check::new(
                Status::Unknown,
                "line tables",
                "source lines: the agent did not say whether the binary has line tables",
            ),
        });
        checks.push(self.tokio_check());
        if !self.runtime_metrics {
            checks.push(
                Check::new(
                    Status::Missing,
                    "runtime metrics",
                    "runtime metrics and task dumps: no tokio runtime is registered with the agent",
                )
                .fix(
                    "call leakscope::init() inside the runtime (in #[tokio::main]), or \
                     leakscope::register_runtime(tokio::runtime::Handle::current())",
                ),
            );
        } else if self.task_dump {
            checks.push(Check::new(
                Status::Ok,
                "task dumps",
                "task dumps: supported (taken only when asked, --task-dump or `d` in attach)",
            ));
        } else if !self.tokio_unstable {
            checks.push(
                Check::new(
                    Status::Missing,
                    "task dumps",
                    "task dumps: unsupported, they need --cfg tokio_unstable",
                )
                .fix(format!("in the app's .cargo/config.toml: {CARGO_CONFIG_FIX}")),
            );
        } else {
            checks.push(Check::new(
                Status::Missing,
                "task dumps",
                "task dumps: unsupported on this platform (tokio has them on Linux on x86, \
                 x86_64, aarch64 and s390x only); wait points still come from the capture",
            ));
        }
        checks.push(if self.cpu_profile {
            Check::new(Status::Ok, "CPU profiles", "CPU profiles: supported")
        } else {
            // The handshake does not say which of the two it is; both are opt-outs, not gaps.
            Check::new(
                Status::Off,
                "CPU profiles",
                "CPU profiles: not in this build (an opt-in: the leakscope crate's `cpu` \
                 feature, on Linux on x86_64 or aarch64 only)",
            )
            .fix("leakscope = { ..., features = [\"cpu\"] } in the app's Cargo.toml")
        });
        checks
    }

    /// The tokio version against the agent's minimum.
    fn tokio_check(&self) -> Check {
        let minimum = self.tokio_minimum.as_deref().unwrap_or(TOKIO_MINIMUM);
        let needs = format!("leakscope needs {minimum} or newer");
        match self.tokio_version.as_deref() {
            Some(running) => match (version(running), version(minimum)) {
                (Some(have), Some(need)) if have < need => Check::new(
                    Status::Missing,
                    "tokio version",
                    format!("tokio {running}: too old, {needs}"),
                )
                .fix(format!(
                    "in the app's Cargo.toml: tokio = \"{minimum}\", then cargo update -p tokio"
                )),
                _ => Check::new(Status::Ok, "tokio version", format!("tokio {running} ({needs})")),
            },
            None => Check::new(
                Status::Unknown,
                "tokio version",
                format!(
                    "tokio version: not known (read from line tables of a registry build); {needs}"
                ),
            ),
        }
    }

    /// Whether nothing is missing.
    pub fn complete(&self) -> bool {
        self.checks().iter().all(|check| check.status != Status::Missing)
    }

    /// The facts on one line, for snapshot, attach and gate headers: what is seen, or what is
    /// missing and where the fixes are.
    pub fn summary(&self) -> String {
        let checks = self.checks();
        let missing: Vec<&str> =
            checks.iter().filter(|c| c.status == Status::Missing).map(|c| c.label).collect();
        if missing.is_empty() {
            let seen: Vec<String> = checks
                .iter()
                .filter(|c| c.status == Status::Ok)
                .map(|c| match (c.label, &self.tokio_version) {
                    ("tokio version", Some(version)) => format!("tokio {version}"),
                    (label, _) => label.to_owned(),
                })
                .collect();
            let unsaid: Vec<&str> =
                checks.iter().filter(|c| c.status == Status::Unknown).map(|c| c.label).collect();
            if unsaid.is_empty() {
                format!("build: sees everything ({})", seen.join(", "))
            } else {
                // An older agent, or a platform where it cannot check: say what is not known
                // rather than claim everything.
                format!("build: sees {}; not reported: {}", seen.join(", "), unsaid.join(", "))
            }
        } else {
            format!("build: missing {}; `leakscope doctor` gives the fixes", missing.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakscope_proto::v1::Capabilities;

    /// A full Linux build of the agent.
    fn full() -> HelloResponse {
        HelloResponse {
            agent_version: "0.1.0".into(),
            tokio_version: "1.54.0".into(),
            tokio_minimum: "1.54".into(),
            capabilities: Some(Capabilities {
                tasks: true,
                resources: true,
                task_dump: true,
                runtime_metrics: true,
                cpu_profile: true,
                wait_capture: true,
                frame_pointers: Presence::Present as i32,
                line_tables: Presence::Present as i32,
                ..Capabilities::default()
            }),
            ..HelloResponse::default()
        }
    }

    fn with(change: impl FnOnce(&mut HelloResponse, &mut Capabilities)) -> Facts {
        let mut hello = full();
        let mut caps = hello.capabilities.take().unwrap_or_default();
        change(&mut hello, &mut caps);
        hello.capabilities = Some(caps);
        Facts::from_hello(&hello)
    }

    /// The statuses by label, and the summary line.
    fn check(facts: &Facts, expected: &[(&str, Status)], summary: &str) {
        let got: Vec<(&str, Status)> = facts.checks().iter().map(|c| (c.label, c.status)).collect();
        assert_eq!(got, expected);
        assert_eq!(facts.summary(), summary);
        assert_eq!(facts.complete(), !expected.iter().any(|(_, s)| *s == Status::Missing));
        for c in facts.checks() {
            assert!(!c.what.contains('\n') && !c.fix.unwrap_or_default().contains('\n'));
        }
    }

    use Status::{Missing, Off, Ok, Unknown};

    #[test]
    fn each_gap_is_named_with_its_fix() {
        check(
            &with(|_, _| {}),
            &[
                ("tokio_unstable", Ok),
                ("frame pointers", Ok),
                ("line tables", Ok),
                ("tokio version", Ok),
                ("task dumps", Ok),
                ("CPU profiles", Ok),
            ],
            "build: sees everything (tokio_unstable, frame pointers, line tables, tokio 1.54.0, \
             task dumps, CPU profiles)",
        );
        // Stable tokio: no per-task records, and no task dumps (the same fix).
        let stable = with(|_, c| {
            c.tasks = false;
            c.resources = false;
            c.task_dump = false;
        });
        check(
            &stable,
            &[
                ("tokio_unstable", Missing),
                ("frame pointers", Ok),
                ("line tables", Ok),
                ("tokio version", Ok),
                ("task dumps", Missing),
                ("CPU profiles", Ok),
            ],
            "build: missing tokio_unstable, task dumps; `leakscope doctor` gives the fixes",
        );
        assert!(
            stable.checks()[0].fix.as_deref().unwrap().contains("\"--cfg\", \"tokio_unstable\"")
        );
        let no_fp = with(|_, c| c.frame_pointers = Presence::Absent as i32);
        check(
            &no_fp,
            &[
                ("tokio_unstable", Ok),
                ("frame pointers", Missing),
                ("line tables", Ok),
                ("tokio version", Ok),
                ("task dumps", Ok),
                ("CPU profiles", Ok),
            ],
            "build: missing frame pointers; `leakscope doctor` gives the fixes",
        );
        assert!(no_fp.checks()[1].fix.as_deref().unwrap().contains("force-frame-pointers=yes"));
        let no_lines = with(|_, c| c.line_tables = Presence::Absent as i32);
        assert_eq!(no_lines.checks()[2].status, Missing);
        assert!(no_lines.checks()[2].fix.as_deref().unwrap().contains("line-tables-only"));
        let old = with(|h, _| h.tokio_version = "1.32.0".into());
        assert_eq!(old.checks()[3].status, Missing);
        assert_eq!(old.checks()[3].what, "tokio 1.32.0: too old, leakscope needs 1.54 or newer");
        let foreign = with(|_, c| {
            c.tasks = false;
            c.foreign_subscriber = true;
        });
        assert_eq!(foreign.checks()[0].label, "own subscriber");
        assert!(foreign.checks()[0].fix.as_deref().unwrap().contains("leakscope::layer()"));
        let mac = with(|_, c| {
            c.task_dump = false;
            c.cpu_profile = false;
            c.frame_pointers = 0;
            c.line_tables = 0;
        });
        check(
            &mac,
            &[
                ("tokio_unstable", Ok),
                ("frame pointers", Unknown),
                ("line tables", Unknown),
                ("tokio version", Ok),
                ("task dumps", Missing),
                ("CPU profiles", Off),
            ],
            "build: missing task dumps; `leakscope doctor` gives the fixes",
        );
        assert!(mac.checks()[4].fix.is_none());
        // CPU profiles are an opt-in: off is not a gap, and a build without them is complete.
        let lean = with(|_, c| c.cpu_profile = false);
        assert!(lean.complete());
        assert_eq!(
            lean.summary(),
            "build: sees everything (tokio_unstable, frame pointers, line tables, tokio 1.54.0, \
             task dumps)"
        );
        assert!(lean.checks()[5].fix.as_deref().unwrap().contains("features = [\"cpu\"]"));
    }

    #[test]
    fn an_older_agent_or_console_subscriber_is_said_so() {
        // An agent from before these facts: nothing about the build is known.
        let old = Facts::from_hello(&HelloResponse {
            capabilities: Some(Capabilities {
                tasks: true,
                runtime_metrics: true,
                task_dump: true,
                cpu_profile: true,
                ..Capabilities::default()
            }),
            ..HelloResponse::default()
        });
        let statuses: Vec<Status> = old.checks().iter().map(|c| c.status).collect();
        assert_eq!(statuses, [Ok, Unknown, Unknown, Unknown, Ok, Ok]);
        assert_eq!(
            old.summary(),
            "build: sees tokio_unstable, task dumps, CPU profiles; not reported: frame pointers, \
             line tables, tokio version"
        );
        assert!(old.checks()[3].what.contains("leakscope needs 1.54 or newer"));
        let console = Facts::from_hello(&HelloResponse {
            capabilities: Some(Capabilities {
                tasks: true,
                console_subscriber: true,
                ..Capabilities::default()
            }),
            ..HelloResponse::default()
        });
        check(
            &console,
            &[("leakscope agent (console-subscriber only)", Missing)],
            "build: missing leakscope agent (console-subscriber only); `leakscope doctor` gives the fixes",
        );
        let no_runtime = with(|_, c| {
            c.runtime_metrics = false;
            c.task_dump = false;
        });
        assert_eq!(no_runtime.checks()[4].label, "runtime metrics");
        assert!(no_runtime.checks()[4].fix.as_deref().unwrap().contains("register_runtime"));
    }

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(version("1.54.0"), Some((1, 54, 0)));
        assert_eq!(version("1.54"), Some((1, 54, 0)));
        assert!(version("1.9.0") < version("1.54"));
        assert_eq!(version("x"), None);
    }
}
