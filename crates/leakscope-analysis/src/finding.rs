//! What the detectors report: a finding, its kind and severity, and the evidence behind it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::duration::format_secs;
use crate::location::SourceLocation;
use crate::wait_point::{UserFrame, WaitPoint};

/// The file the `doc` links of findings point into; one section per [`FindingKind`].
pub const DOC_FILE: &str = "docs/leak-patterns.md";

/// How sure a finding is that something leaks. Ordered: `Warn < Suspect < Leak`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Costs something (latency, memory, a blocked worker) but is not itself a leak.
    Warn,
    /// Looks like a leak; the app's intent decides (a task meant to live forever, a slow consumer).
    Suspect,
    /// Certain: the tasks can never finish on their own.
    Leak,
}

impl Severity {
    /// The name used in JSON and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Suspect => "suspect",
            Self::Leak => "leak",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Warn, Self::Suspect, Self::Leak]
            .into_iter()
            .find(|severity| severity.as_str() == s)
            .ok_or_else(|| format!("unknown severity `{s}` (use leak, suspect or warn)"))
    }
}

/// Which detector produced a finding. Each has a section in `docs/leak-patterns.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Idle with no live waker: nothing can ever wake the task.
    LostWaker,
    /// Parked in one await for longer than the threshold.
    Stuck,
    /// Still alive long after whatever spawned it ended.
    Uncancelled,
    /// Live tasks at one spawn location keep rising.
    Growth,
    /// Polls that block a worker thread.
    Blocking,
    /// Tasks queue on a tokio lock or semaphore.
    LockContention,
    /// Tasks wait on locks held by each other.
    Deadlock,
    /// Tasks that mostly wake themselves (tokio-console's lint).
    SelfWake,
    /// Spawned futures of a kilobyte or more (tokio-console's lint).
    LargeFuture,
}

impl FindingKind {
    /// Every kind, in the order detectors run.
    pub const ALL: [Self; 9] = [
        Self::Deadlock,
        Self::LostWaker,
        Self::Stuck,
        Self::Uncancelled,
        Self::Growth,
        Self::LockContention,
        Self::Blocking,
        Self::SelfWake,
        Self::LargeFuture,
    ];

    /// The kebab-case name used in JSON, in `leakscope.toml` and as the doc anchor.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LostWaker => "lost-waker",
            Self::Stuck => "stuck",
            Self::Uncancelled => "uncancelled",
            Self::Growth => "growth",
            Self::Blocking => "blocking",
            Self::LockContention => "lock-contention",
            Self::Deadlock => "deadlock",
            Self::SelfWake => "self-wake",
            Self::LargeFuture => "large-future",
        }
    }

    /// The link to this kind's section: `docs/leak-patterns.md#<name>`.
    pub fn doc(self) -> String {
        format!("{DOC_FILE}#{}", self.as_str())
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
            format!("unknown finding kind `{s}` (one of {})", names.join(", "))
        })
    }
}

/// One problem, usually covering several tasks that share a spawn location and wait point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The detector that found it.
    pub kind: FindingKind,
    /// How sure it is.
    pub severity: Severity,
    /// Where to look: the tasks' spawn location, or for lock findings the lock's creation site.
    pub location: SourceLocation,
    /// The name of the tasks (from `tokio::task::Builder::name`), when they have one.
    pub task_name: Option<String>,
    /// How many tasks it covers; for `blocking`, how many long polls were seen.
    pub count: u64,
    /// How long the oldest instance has lasted, in seconds: idle time (`lost-waker`), time parked
    /// (`stuck`, `lock-contention`, `deadlock`), time since the spawner ended (`uncancelled`), the
    /// observed window (`growth`), the longest poll (`blocking`), task age (`self-wake`,
    /// `large-future`).
    pub oldest_secs: f64,
    /// What the tasks are parked in, when known.
    pub waiting_on: Option<WaitPoint>,
    /// The app's own frame nearest the leaf the tasks are parked in (from the agent's captured
    /// await chain or a task dump).
    pub user_frame: Option<UserFrame>,
    /// Some of the task ids, the oldest first (at most [`crate::MAX_SAMPLE`]).
    pub task_ids: Vec<u64>,
    /// What the finding rests on: wait chains, resources, the spawner, numbers.
    pub evidence: Vec<Evidence>,
    /// One or two sentences saying what is wrong.
    pub explanation: String,
    /// What usually fixes it.
    pub fix: String,
    /// Link to the pattern's section in `docs/leak-patterns.md`.
    pub doc: String,
}

impl Finding {
    /// Every kind this entry carries: its own first, then those of the findings merged into it
    /// ([`Evidence::AlsoFound`]), each once.
    pub fn kinds(&self) -> Vec<FindingKind> {
        let mut kinds = vec![self.kind];
        for evidence in &self.evidence {
            if let Evidence::AlsoFound { kind, .. } = evidence
                && !kinds.contains(kind)
            {
                kinds.push(*kind);
            }
        }
        kinds
    }

    /// Whether this entry carries `kind`, as its own or merged.
    pub fn has_kind(&self, kind: FindingKind) -> bool {
        self.severity_of(kind).is_some()
    }

    /// The severity at which this entry found `kind` (its own, or the worst merged finding of
    /// that kind); `None` when it does not carry it.
    pub fn severity_of(&self, kind: FindingKind) -> Option<Severity> {
        let own = (self.kind == kind).then_some(self.severity);
        let merged = self.evidence.iter().filter_map(|e| match e {
            Evidence::AlsoFound { kind: k, severity, .. } if *k == kind => Some(*severity),
            _ => None,
        });
        own.into_iter().chain(merged).max()
    }

    /// Its kinds joined by `+`, its own first: `stuck+growth`.
    pub fn kinds_label(&self) -> String {
        let kinds: Vec<&str> = self.kinds().iter().map(|k| k.as_str()).collect();
        kinds.join("+")
    }
}

/// A fact a finding rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Evidence {
    /// Who waits on what, held by whom (deadlocks, lock holders).
    WaitChain {
        /// In order: each link's holder is the next link's task.
        links: Vec<ChainLink>,
    },
    /// A resource the tasks wait on.
    Resource {
        /// Resource id.
        id: u64,
        /// `Mutex`, `RwLock`, `Semaphore`, ...
        kind: String,
        /// Where it was created.
        location: SourceLocation,
        /// Its state (holder, permits, readers).
        detail: String,
    },
    /// What spawned the task and when it ended.
    Spawner {
        /// The spawning task, when that is how the end was seen.
        parent_task_id: Option<u64>,
        /// Where the spawning task was itself spawned.
        parent_location: Option<SourceLocation>,
        /// The tracing span current at spawn, when that is how the end was seen.
        span: Option<String>,
        /// Seconds since the spawner ended.
        ended_secs_ago: f64,
        /// Whether the end was seen as it happened; if not, the time is measured from the task's
        /// spawn, the earliest the spawner could have ended.
        observed: bool,
    },
    /// A spawn site's tasks accumulating, seen at first sight from their spawn times and from
    /// the site's finished tasks.
    Accumulation {
        /// Live tasks spawned at the site.
        live: u64,
        /// The site's finished tasks the model holds (the agent retains finished tasks for 60 s,
        /// at most 4,096).
        finished: u64,
        /// The longest any of those lived, in seconds; `None` when none finished.
        longest_finished_secs: Option<f64>,
        /// Live tasks older than that: the ones accumulating.
        outliving: u64,
        /// Seconds between the first and the latest spawn of those.
        span_secs: f64,
        /// How many of them were spawned per second over that span.
        rate_per_sec: f64,
        /// Seconds since the latest of them was spawned.
        since_last_spawn_secs: f64,
        /// Their median age, in seconds.
        age_p50_secs: f64,
        /// Their 90th-percentile age, in seconds.
        age_p90_secs: f64,
        /// The oldest one's age, in seconds.
        age_max_secs: f64,
        /// When judged by the site's balance rather than by outliving: tasks spawned at the site
        /// since the oldest live one was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spawned_since_oldest: Option<u64>,
        /// And how many of the site's tasks finished in that time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        finished_since_oldest: Option<u64>,
    },
    /// Another detector's finding at the same spawn site and wait point, merged into this entry
    /// so that one thing to fix is one line.
    AlsoFound {
        /// Its kind.
        kind: FindingKind,
        /// Its severity (never above the entry's).
        severity: Severity,
        /// Its explanation.
        explanation: String,
    },
    /// Anything else, as a sentence or a number with its meaning.
    Note {
        /// The fact.
        text: String,
    },
}

impl Evidence {
    pub(crate) fn note(text: impl Into<String>) -> Self {
        Self::Note { text: text.into() }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WaitChain { links } => {
                for (i, link) in links.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" → ")?;
                    }
                    write!(f, "{link}")?;
                }
                Ok(())
            }
            Self::Resource { id, kind, location, detail } => {
                write!(f, "{kind} {id} created at {location}: {detail}")
            }
            Self::Spawner { parent_task_id, parent_location, span, ended_secs_ago, observed } => {
                let ago = format_secs(*ended_secs_ago);
                let when = if *observed { "" } else { " at most" };
                match (parent_task_id, span) {
                    (Some(parent), _) => {
                        write!(f, "spawned by task {parent}")?;
                        if let Some(location) = parent_location {
                            write!(f, " ({location})")?;
                        }
                        write!(f, ", which finished{when} {ago} ago")
                    }
                    (None, Some(span)) => {
                        write!(f, "spawned in span `{span}`, which closed{when} {ago} ago")
                    }
                    (None, None) => write!(f, "spawner ended{when} {ago} ago"),
                }
            }
            Self::Accumulation {
                live,
                finished,
                longest_finished_secs,
                outliving,
                span_secs,
                rate_per_sec,
                since_last_spawn_secs,
                age_p50_secs,
                age_p90_secs,
                age_max_secs,
                spawned_since_oldest,
                finished_since_oldest,
            } => {
                write!(
                    f,
                    "{outliving} of {live} live tasks spawned steadily over {} ({rate_per_sec:.2}/s, \
                     the latest {} ago), ages p50 {} / p90 {} / max {}; ",
                    format_secs(*span_secs),
                    format_secs(*since_last_spawn_secs),
                    format_secs(*age_p50_secs),
                    format_secs(*age_p90_secs),
                    format_secs(*age_max_secs),
                )?;
                if let (Some(spawned), Some(done)) = (spawned_since_oldest, finished_since_oldest) {
                    return write!(
                        f,
                        "since the oldest was spawned the site spawned {spawned} tasks and \
                         finished only {done}"
                    );
                }
                match longest_finished_secs {
                    None => write!(f, "none of the site's tasks has finished"),
                    Some(longest) => write!(
                        f,
                        "{finished} finished, none of which lived {}",
                        crate::duration::longer_than(*longest)
                    ),
                }
            }
            Self::AlsoFound { kind, severity, explanation } => {
                write!(f, "also {severity} {kind}: {explanation}")
            }
            Self::Note { text } => f.write_str(text),
        }
    }
}

/// One step of a wait chain: a task parked on a resource, and who holds that resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The waiting task.
    pub task_id: u64,
    /// Where it was spawned.
    pub task_location: SourceLocation,
    /// The operation it is parked in (`Mutex::lock`, ...).
    pub waits_on: String,
    /// The resource.
    pub resource_id: u64,
    /// Where the resource was created.
    pub resource_location: SourceLocation,
    /// The task holding the resource, when known.
    pub held_by: Option<u64>,
}

impl fmt::Display for ChainLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} ({}) waits in {} on resource {} ({})",
            self.task_id,
            self.task_location,
            self.waits_on,
            self.resource_id,
            self.resource_location
        )?;
        match self.held_by {
            Some(holder) => write!(f, " held by task {holder}"),
            None => f.write_str(", holder unknown"),
        }
    }
}
