//! Naming what a task is parked in: from a task dump's backtrace, or from the waits and resources
//! the agent reports when there is no dump.
//!
//! A dump's backtrace runs from the task's root future to the tokio leaf it is parked in. The
//! leaf alone says too little (a bounded `Sender::send`, a `Mutex::lock` and a
//! `Semaphore::acquire` all end in `batch_semaphore::Acquire::poll`), so the classifier looks at
//! the library frames below the app's last frame and takes the *outermost* one it recognises: the
//! API the app called. Frames are matched by path substrings after dropping generic arguments,
//! because release builds lose inlined frames and the remaining names vary between tokio versions.

use std::fmt;
use std::str::FromStr;

use leakscope_proto::v1::{Backtrace, Frame, Resource, ResourceKind, Wait};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::location::SourceLocation;
use crate::names;

/// What a task is parked in, by the name of the API the app awaited.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WaitPoint {
    /// `mpsc::Sender::send` (or `reserve`) on a full bounded channel.
    MpscSend,
    /// `mpsc::Receiver::recv` (bounded or unbounded) on an empty channel.
    MpscRecv,
    /// `broadcast::Receiver::recv`.
    BroadcastRecv,
    /// `watch::Receiver::changed`.
    WatchChanged,
    /// `Notify::notified`.
    Notified,
    /// Awaiting a `oneshot::Receiver`.
    Oneshot,
    /// `Mutex::lock`.
    MutexLock,
    /// `RwLock::read`.
    RwLockRead,
    /// `RwLock::write`.
    RwLockWrite,
    /// `Semaphore::acquire`.
    SemaphoreAcquire,
    /// `Barrier::wait`.
    BarrierWait,
    /// A timer: `sleep`, `Interval::tick`, a `timeout`'s deadline.
    Sleep,
    /// Reading from a socket (TCP, UDP, Unix).
    SocketRead,
    /// Writing to a socket.
    SocketWrite,
    /// `accept` on a listener.
    Accept,
    /// `connect`.
    Connect,
    /// Awaiting another task's `JoinHandle` (or a `JoinSet`), including tokio's file system
    /// calls, which run on the blocking pool.
    JoinHandle,
    /// `yield_now` or a cooperative-budget yield.
    Yield,
    /// A signal (`ctrl_c`, `signal(SIGTERM)`).
    Signal,
    /// Not recognised; carries the leaf frame's function (or the wait's operation).
    Unknown(String),
}

impl WaitPoint {
    /// The human name, e.g. `mpsc::Sender::send`; `None` for [`WaitPoint::Unknown`].
    pub const fn known_name(&self) -> Option<&'static str> {
        Some(match self {
            Self::MpscSend => "mpsc::Sender::send",
            Self::MpscRecv => "mpsc::Receiver::recv",
            Self::BroadcastRecv => "broadcast::Receiver::recv",
            Self::WatchChanged => "watch::Receiver::changed",
            Self::Notified => "Notify::notified",
            Self::Oneshot => "oneshot::Receiver",
            Self::MutexLock => "Mutex::lock",
            Self::RwLockRead => "RwLock::read",
            Self::RwLockWrite => "RwLock::write",
            Self::SemaphoreAcquire => "Semaphore::acquire",
            Self::BarrierWait => "Barrier::wait",
            Self::Sleep => "sleep",
            Self::SocketRead => "socket read",
            Self::SocketWrite => "socket write",
            Self::Accept => "accept",
            Self::Connect => "connect",
            Self::JoinHandle => "JoinHandle",
            Self::Yield => "yield",
            Self::Signal => "signal",
            Self::Unknown(_) => return None,
        })
    }

    /// Whether something else owes this task progress: a peer that should drain a channel,
    /// release a lock, send on a oneshot, accept a connection. Parked here for long, the task is
    /// a suspect. The other points (receiving, accepting, notifications, sockets being read) are
    /// where healthy servers idle, so parking there long is only worth a warning.
    pub const fn owes_progress(&self) -> bool {
        matches!(
            self,
            Self::MpscSend
                | Self::Oneshot
                | Self::MutexLock
                | Self::RwLockRead
                | Self::RwLockWrite
                | Self::SemaphoreAcquire
                | Self::BarrierWait
                | Self::SocketWrite
                | Self::Connect
        )
    }

    /// Whether the task waits on a lock-like resource that a holder task can release.
    pub const fn is_lock(&self) -> bool {
        matches!(
            self,
            Self::MutexLock | Self::RwLockRead | Self::RwLockWrite | Self::SemaphoreAcquire
        )
    }

    /// What usually unsticks a task parked here; used in `stuck` findings.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::MpscSend => {
                "The receiver is not draining the channel: check that the consuming task is alive and not itself stuck, and bound the send with `tokio::time::timeout` or use `try_send`."
            }
            Self::MpscRecv | Self::BroadcastRecv | Self::WatchChanged => {
                "Nothing sends while senders stay alive: drop every sender when its work is done (the receiver then sees the channel close), or stop the task with a `CancellationToken`."
            }
            Self::Notified => {
                "Nobody calls `notify_one`/`notify_waiters`: make sure the notifier runs on every path, or stop the task with a `CancellationToken`."
            }
            Self::Oneshot => {
                "The `oneshot::Sender` is alive but never used: send or drop it on every path (including errors and early returns)."
            }
            Self::MutexLock | Self::RwLockRead | Self::RwLockWrite | Self::SemaphoreAcquire => {
                "A holder keeps the lock or permits for long: do not hold a guard across slow `.await`s, and bound the wait with `tokio::time::timeout`."
            }
            Self::BarrierWait => {
                "Fewer tasks than the barrier's size arrive: check the size against the number of participants."
            }
            Self::Sleep => {
                "The timer fires late or is very long: look for a blocked worker thread (see `blocking` findings) or a wrong duration unit."
            }
            Self::SocketRead | Self::Accept => {
                "The peer is silent: put an idle timeout on the connection (`tokio::time::timeout` around reads) and stop the task on shutdown."
            }
            Self::SocketWrite => {
                "The peer does not read: put a write timeout on the connection and drop slow clients."
            }
            Self::Connect => "The connect hangs: wrap it in `tokio::time::timeout`.",
            Self::JoinHandle => {
                "The awaited task does not finish: look at what that task is parked in."
            }
            Self::Yield => "The task keeps yielding: wait on a real event instead.",
            Self::Signal => {
                "The task waits for a signal: make sure it is stopped on shutdown if the signal never comes."
            }
            Self::Unknown(_) => {
                "Read the await chain the agent captured (`leakscope profile tasks` draws it; an opt-in task dump, `leakscope snapshot --task-dump` or `d` in the UI, pauses the app to take one), and bound the wait with `tokio::time::timeout` or stop the task with a `CancellationToken`."
            }
        }
    }

    /// How interesting this point is as *the* wait of a task parked in several at once (a
    /// `select!`): the work it waits for first (a channel's data, a socket, a lock), then a
    /// fan-out signal (a broadcast, a `watch`, a `Notify`, a process signal: in a `select!`
    /// usually the shutdown branch beside the work), then a timer (usually a timeout), then a
    /// yield, then whatever was not recognised.
    const fn rank(&self) -> u8 {
        match self {
            Self::BroadcastRecv | Self::WatchChanged | Self::Notified | Self::Signal => 1,
            Self::Sleep => 2,
            Self::Yield => 3,
            Self::Unknown(_) => 4,
            _ => 0,
        }
    }
}

impl fmt::Display for WaitPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.known_name(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Self::Unknown(what)) if !what.is_empty() => write!(f, "unknown ({what})"),
            (None, _) => f.write_str("unknown"),
        }
    }
}

/// Every recognised point, for parsing names back.
const KNOWN: [WaitPoint; 19] = [
    WaitPoint::MpscSend,
    WaitPoint::MpscRecv,
    WaitPoint::BroadcastRecv,
    WaitPoint::WatchChanged,
    WaitPoint::Notified,
    WaitPoint::Oneshot,
    WaitPoint::MutexLock,
    WaitPoint::RwLockRead,
    WaitPoint::RwLockWrite,
    WaitPoint::SemaphoreAcquire,
    WaitPoint::BarrierWait,
    WaitPoint::Sleep,
    WaitPoint::SocketRead,
    WaitPoint::SocketWrite,
    WaitPoint::Accept,
    WaitPoint::Connect,
    WaitPoint::JoinHandle,
    WaitPoint::Yield,
    WaitPoint::Signal,
];

impl FromStr for WaitPoint {
    type Err = std::convert::Infallible;

    /// Parses what [`Display`](fmt::Display) writes; any other text is an unknown point.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(point) = KNOWN.iter().find(|point| point.known_name() == Some(s)) {
            return Ok(point.clone());
        }
        let what = s.strip_prefix("unknown (").and_then(|rest| rest.strip_suffix(')'));
        Ok(Self::Unknown(match (what, s) {
            (Some(what), _) => what.to_owned(),
            (None, "unknown") => String::new(),
            (None, other) => other.to_owned(),
        }))
    }
}

impl Serialize for WaitPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WaitPoint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

/// The app's own frame nearest the leaf of a backtrace: the line that awaited.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserFrame {
    /// Function path, generic arguments and `{{closure}}` suffixes dropped.
    pub function: String,
    /// Its source location.
    pub location: SourceLocation,
}

impl fmt::Display for UserFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.function.is_empty() {
            write!(f, "{}", self.location)
        } else {
            write!(f, "{} at {}", self.function, self.location)
        }
    }
}

/// Recognised frames: a frame matches a rule when its function (generic arguments dropped)
/// contains every substring of one of the rule's alternatives. Within a frame, the first rule
/// wins, so more specific rules come first.
const RULES: &[(WaitPoint, &[&[&str]])] = &[
    (WaitPoint::Signal, &[&["tokio::signal::"]]),
    (WaitPoint::MpscSend, &[&["mpsc::bounded::Sender::send"], &["mpsc::bounded::Sender::reserve"]]),
    (
        WaitPoint::MpscRecv,
        &[
            &["mpsc::", "Receiver::recv"],
            &["mpsc::", "Receiver::poll_recv"],
            &["mpsc::chan::Rx::recv"],
            &["tokio::sync::mpsc::chan::recv"],
        ],
    ),
    (WaitPoint::BroadcastRecv, &[&["broadcast::Receiver::recv"], &["broadcast::Recv"]]),
    (
        WaitPoint::WatchChanged,
        &[&["watch::Receiver::changed"], &["watch::Receiver::wait_for"], &["watch::changed_impl"]],
    ),
    (
        WaitPoint::Oneshot,
        &[
            &["oneshot::Receiver"],
            &["oneshot::Inner::poll_recv"],
            &["tokio::sync::oneshot::poll_recv"],
        ],
    ),
    (WaitPoint::MutexLock, &[&["sync::mutex::Mutex::lock"], &["tokio::sync::mutex::{async_"]]),
    (WaitPoint::RwLockRead, &[&["rwlock::RwLock::read"]]),
    (WaitPoint::RwLockWrite, &[&["rwlock::RwLock::write"]]),
    (WaitPoint::BarrierWait, &[&["sync::barrier::Barrier::wait"]]),
    (
        WaitPoint::SemaphoreAcquire,
        &[
            &["sync::semaphore::Semaphore::acquire"],
            &["batch_semaphore::Semaphore::acquire"],
            &["batch_semaphore::Acquire"],
        ],
    ),
    (
        WaitPoint::Notified,
        &[
            &["notify::Notified"],
            &["sync::notify::Notify::notified"],
            &["tokio::sync::notify::poll_notified"],
        ],
    ),
    (
        WaitPoint::JoinHandle,
        &[
            &["task::join::JoinHandle"],
            &["tokio::runtime::task::join::"],
            // `JoinSet::join_next` parks in the set's notified list.
            &["tokio::util::idle_notified_set::"],
            &["task::join_set::JoinSet::join_"],
            &["JoinHandle as core::future"],
        ],
    ),
    (WaitPoint::Yield, &[&["task::yield_now"], &["consume_budget"]]),
    (
        WaitPoint::Sleep,
        &[
            &["time::sleep::Sleep"],
            &["time::sleep::sleep"],
            &["time::interval::Interval::tick"],
            &["time::interval::Interval::poll_tick"],
            &["time::entry::TimerEntry"],
            &["tokio::time::sleep::poll_elapsed"],
            &["tokio::time::interval::poll_tick"],
        ],
    ),
    (WaitPoint::Accept, &[&["tokio::net::", "accept"]]),
    (WaitPoint::Connect, &[&["tokio::net::", "connect"]]),
    (
        WaitPoint::SocketWrite,
        &[
            &["tokio::net::", "poll_write"],
            &["tokio::net::", "writable"],
            &["tokio::net::", "::send"],
            &["tokio::net::", "WriteHalf"],
            &["poll_evented::PollEvented::poll_write"],
            &["Registration::poll_write_ready"],
            &["Registration::poll_write_io"],
        ],
    ),
    (
        WaitPoint::SocketRead,
        &[
            &["tokio::net::", "poll_read"],
            &["tokio::net::", "readable"],
            &["tokio::net::", "::recv"],
            &["tokio::net::", "::peek"],
            &["tokio::net::", "ReadHalf"],
            &["poll_evented::PollEvented::poll_read"],
            &["Registration::poll_read_ready"],
            &["Registration::poll_read_io"],
        ],
    ),
];

/// Classifies one backtrace (frames root → leaf) by the API the app awaited; see the module
/// docs. An unrecognised leaf gives [`WaitPoint::Unknown`] with the leaf's function.
pub fn wait_point(frames: &[Frame]) -> WaitPoint {
    let start = user_frame_index(frames).map_or(0, |i| i + 1);
    let below = &frames[start..];
    below
        .iter()
        .enumerate()
        .find_map(|(at, frame)| {
            let function = qualified(frame);
            RULES
                .iter()
                .find(|(_, alternatives)| {
                    alternatives.iter().any(|needles| needles.iter().all(|n| function.contains(n)))
                })
                .map(|(point, _)| point.clone())
                .or_else(|| async_body(&function, &frame.function, &below[at + 1..]))
        })
        .unwrap_or_else(|| WaitPoint::Unknown(frames.last().map(describe).unwrap_or_default()))
}

/// Release builds with line tables only name an `async fn`'s body `{async_fn#0}`, qualified from
/// its file alone (`tokio::sync::mpsc::bounded::{async_fn#0}`): the module says which API it is
/// where the module has one parking `async fn`, and the frames below it, or the generic arguments
/// of the `poll` that wraps it (`…::rwlock::{impl#14}::write::{async_fn#0}…`), say it elsewhere.
fn async_body(function: &str, raw: &str, below: &[Frame]) -> Option<WaitPoint> {
    let body = |module: &str| {
        function.strip_prefix(module).is_some_and(|rest| rest.starts_with("{async_fn#"))
    };
    let below_has = |needle: &str| below.iter().any(|f| qualified(f).contains(needle));
    if body("tokio::sync::mpsc::bounded::") && below_has("tokio::sync::batch_semaphore::") {
        // `send`, `reserve` and their kin wait for a permit of the channel's capacity.
        return Some(WaitPoint::MpscSend);
    }
    if body("tokio::sync::semaphore::") {
        return Some(WaitPoint::SemaphoreAcquire);
    }
    if body("tokio::sync::barrier::") {
        return Some(WaitPoint::BarrierWait);
    }
    if body("tokio::sync::broadcast::") {
        return Some(WaitPoint::BroadcastRecv);
    }
    if body("tokio::sync::watch::") {
        return Some(WaitPoint::WatchChanged);
    }
    if (body("tokio::net::tcp::listener::") || body("tokio::net::unix::listener::"))
        && below_has("tokio::runtime::io::")
    {
        return Some(WaitPoint::Accept);
    }
    // tokio wraps a lock's body in a traced `poll` whose type names the method.
    let rwlock = |method: &str| {
        raw.contains("tokio::sync::rwlock::{impl#")
            && [format!("::{method}::{{async_fn"), format!("::{method}_owned::{{async_fn")]
                .iter()
                .any(|needle| raw.contains(needle.as_str()))
    };
    if rwlock("read") {
        return Some(WaitPoint::RwLockRead);
    }
    if rwlock("write") {
        return Some(WaitPoint::RwLockWrite);
    }
    None
}

/// The app's frame nearest the leaf: the first frame from the leaf side that is not tokio, std,
/// core, alloc, futures or tracing machinery. `None` when every frame is machinery.
pub fn user_frame(frames: &[Frame]) -> Option<UserFrame> {
    let frame = &frames[user_frame_index(frames)?];
    Some(UserFrame {
        function: names::short_name(&frame.function),
        location: SourceLocation::new(frame.file.clone(), frame.line, frame.col),
    })
}

/// Classifies a task parked in several leaves at once (one backtrace per leaf, as a `select!`
/// gives): the most telling leaf wins (a resource over a timer over a yield over the
/// unrecognised), then the first in [`WaitPoint`]'s order, then the first backtrace. Never the
/// order of the backtraces alone: `tokio::select!` polls its branches in a random order, and the
/// same task must be named alike at every poll (one group, not one per branch). Returns the
/// point and that backtrace's user frame.
pub fn task_wait_point(backtraces: &[Backtrace]) -> (WaitPoint, Option<UserFrame>) {
    backtraces
        .iter()
        .map(|backtrace| (wait_point(&backtrace.frames), &backtrace.frames))
        .min_by(|(a, _), (b, _)| a.rank().cmp(&b.rank()).then_with(|| a.cmp(b)))
        .map(|(point, frames)| (point, user_frame(frames)))
        .unwrap_or_else(|| (WaitPoint::Unknown(String::new()), None))
}

/// Classifies a wait the agent saw through tokio's resource instrumentation, for when there is no
/// dump. An internal semaphore (one tokio uses inside another primitive) is taken to be a bounded
/// channel's `Sender::send`: a `Mutex` or `RwLock` waiter also has a wait on the lock itself,
/// which [`best_wait`] prefers.
pub fn wait_point_from_wait(wait: &Wait, resource: Option<&Resource>) -> WaitPoint {
    let op = wait.op.as_str();
    let Some(resource) = resource else {
        return from_op(op).unwrap_or_else(|| WaitPoint::Unknown(op.to_owned()));
    };
    match ResourceKind::try_from(resource.kind).unwrap_or(ResourceKind::Unspecified) {
        ResourceKind::Mutex => WaitPoint::MutexLock,
        ResourceKind::RwLock if op.to_ascii_lowercase().contains("write") => WaitPoint::RwLockWrite,
        ResourceKind::RwLock => WaitPoint::RwLockRead,
        ResourceKind::Semaphore if resource.internal => WaitPoint::MpscSend,
        ResourceKind::Semaphore => WaitPoint::SemaphoreAcquire,
        ResourceKind::Barrier => WaitPoint::BarrierWait,
        ResourceKind::Oneshot => WaitPoint::Oneshot,
        ResourceKind::Timer => WaitPoint::Sleep,
        ResourceKind::Other | ResourceKind::Unspecified => {
            from_op(op).or_else(|| from_op(&resource.concrete_type)).unwrap_or_else(|| {
                WaitPoint::Unknown(if op.is_empty() {
                    resource.concrete_type.clone()
                } else {
                    op.to_owned()
                })
            })
        }
    }
}

/// Picks the wait that best names what a task is parked in, among all its waits: a lock's own
/// wait over the internal semaphore underneath it, any resource over a timer. Returns the
/// point with the wait it came from.
pub fn best_wait<'a>(
    waits: impl IntoIterator<Item = (&'a Wait, Option<&'a Resource>)>,
) -> Option<(WaitPoint, &'a Wait)> {
    waits
        .into_iter()
        .map(|(wait, resource)| {
            let point = wait_point_from_wait(wait, resource);
            let internal = resource.is_some_and(|r| r.internal);
            // An internal semaphore ranks just after real resources: alone it is a channel send.
            let rank = (point.rank(), internal);
            (rank, point, wait)
        })
        .min_by_key(|(rank, _, _)| *rank)
        .map(|(_, point, wait)| (point, wait))
}

/// Names from tokio's async-op sources and concrete types, for resources of no known kind.
fn from_op(op: &str) -> Option<WaitPoint> {
    let lower = op.to_ascii_lowercase();
    Some(if lower.contains("rwlock") && lower.contains("write") {
        WaitPoint::RwLockWrite
    } else if lower.contains("rwlock") {
        WaitPoint::RwLockRead
    } else if lower.contains("mutex") {
        WaitPoint::MutexLock
    } else if lower.contains("semaphore") || lower.contains("acquire") {
        WaitPoint::SemaphoreAcquire
    } else if lower.contains("barrier") {
        WaitPoint::BarrierWait
    } else if lower.contains("sleep") || lower.contains("timer") || lower.contains("interval") {
        WaitPoint::Sleep
    } else {
        return None;
    })
}

/// Index of the app's frame nearest the leaf.
fn user_frame_index(frames: &[Frame]) -> Option<usize> {
    frames.iter().rposition(|frame| !names::is_library(frame))
}

/// A frame's function as the rules match it: generic arguments dropped, and a name without a
/// path qualified from its file. Release builds name inlined frames from line tables alone,
/// without their path (`recv`, `{async_fn#0}`), and with the type left out of others
/// (`tokio::sync::notify::poll_notified`); the file still says where they are:
/// `…/tokio-1.54.1/src/sync/mpsc/chan.rs` makes `recv` `tokio::sync::mpsc::chan::recv`. Agents
/// qualify bare names themselves; this serves dumps and older agents that did not.
fn qualified(frame: &Frame) -> String {
    names::clean_function(&frame.function, &frame.file)
}

/// How an unrecognised leaf shows: its function without closures, or its location.
fn describe(frame: &Frame) -> String {
    let function = names::short_name(&frame.function);
    if function.is_empty() {
        SourceLocation::new(frame.file.clone(), frame.line, frame.col).to_string()
    } else {
        function
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{Backtrace, ResourceKind};

    use super::{
        WaitPoint, best_wait, task_wait_point, user_frame, wait_point, wait_point_from_wait,
    };
    use crate::support::{frames, resource, wait};

    /// `frames` are `function@file:line` strings, root first; the expectation is the point's name
    /// and the user frame as `function at file:line:col` (or `-`).
    fn check(stack: &[&str], expected_point: &str, expected_user: &str) {
        let frames = frames(stack);
        let point = wait_point(&frames);
        assert_eq!(point.to_string(), expected_point, "wait point of {stack:#?}");
        let user = user_frame(&frames).map_or_else(|| "-".to_owned(), |u| u.to_string());
        assert_eq!(user, expected_user, "user frame of {stack:#?}");
        assert_eq!(point.to_string().parse::<WaitPoint>().unwrap(), point, "name round trip");
    }

    const TASK: &str = "tokio::runtime::task::core::Core<T,S>::poll@/home/u/.cargo/registry/src/tokio/src/runtime/task/core.rs:331";
    const HANDLER: &str = "app::handler::{{closure}}@src/handler.rs:42:9";

    /// Chains as the agent captures them from a release build with line tables only (names
    /// taken from a real capture, tokio 1.54): `async fn` bodies are `{async_fn#0}` qualified
    /// from their file, the app's own frame is a bare `{async_block#N}` in its file.
    #[test]
    fn release_builds_with_line_tables_only() {
        const ROOT: &str = "poll<tokio::runtime::task::trace::Root<app::main::{async_block_env#0}>>@/r/.cargo/registry/src/x/tracing-0.1.44/src/instrument.rs:321";
        const APP: &str = "{async_block#3}@/w/app/src/main.rs:25:40";
        let tokio = |entries: &[&str]| -> Vec<String> {
            entries
                .iter()
                .map(|e| {
                    let (function, file) = e.split_once('@').unwrap();
                    format!("{function}@/r/.cargo/registry/src/x/tokio-1.54.1/src/{file}")
                })
                .collect()
        };
        let check_release = |leaf: &[&str], point: &str| {
            let leaf = tokio(leaf);
            let mut stack = vec![ROOT, APP];
            stack.extend(leaf.iter().map(String::as_str));
            check(&stack, point, "/w/app/src/main.rs:25:40");
        };
        check_release(
            &[
                "tokio::sync::mpsc::bounded::{async_fn#0}<u32>@sync/mpsc/bounded.rs:817",
                "tokio::sync::mpsc::bounded::{async_fn#0}<u32>@sync/mpsc/bounded.rs:1117",
                "tokio::sync::batch_semaphore::poll@sync/batch_semaphore.rs:653",
                "tokio::sync::batch_semaphore::poll_acquire@sync/batch_semaphore.rs:554",
            ],
            "mpsc::Sender::send",
        );
        check_release(
            &[
                "tokio::sync::mpsc::bounded::{async_fn#0}<u32>@sync/mpsc/bounded.rs:245",
                "tokio::sync::mpsc::bounded::{closure#0}<u32>@sync/mpsc/bounded.rs:245",
                "recv<u32, tokio::sync::mpsc::bounded::Semaphore>@sync/mpsc/chan.rs:313",
                "tokio::sync::task::atomic_waker::register_by_ref@sync/task/atomic_waker.rs:172",
            ],
            "mpsc::Receiver::recv",
        );
        check_release(
            &[
                "tokio::sync::rwlock::{async_fn#0}<()>@sync/rwlock.rs:809",
                "poll<tokio::sync::rwlock::{impl#14}::write::{async_fn#0}::{async_block_env#0}<()>>@util/trace.rs:162",
                "tokio::sync::batch_semaphore::poll@sync/batch_semaphore.rs:653",
            ],
            "RwLock::write",
        );
        check_release(
            &[
                "tokio::sync::rwlock::{async_fn#0}<()>@sync/rwlock.rs:463",
                "poll<tokio::sync::rwlock::{impl#14}::read::{async_fn#0}::{async_block_env#0}<()>>@util/trace.rs:162",
                "tokio::sync::batch_semaphore::poll@sync/batch_semaphore.rs:653",
            ],
            "RwLock::read",
        );
        check_release(
            &[
                "tokio::sync::semaphore::{async_fn#0}@sync/semaphore.rs:626",
                "poll<tokio::sync::batch_semaphore::Acquire>@util/trace.rs:162",
                "tokio::sync::batch_semaphore::poll@sync/batch_semaphore.rs:653",
            ],
            "Semaphore::acquire",
        );
        check_release(
            &[
                "tokio::sync::barrier::{async_fn#0}@sync/barrier.rs:134",
                "tokio::sync::watch::{async_fn#0}<usize>@sync/watch.rs:837",
                "tokio::sync::notify::poll_notified@sync/notify.rs:1026",
            ],
            "Barrier::wait",
        );
        check_release(
            &[
                "tokio::sync::watch::{async_fn#0}<u32>@sync/watch.rs:837",
                "tokio::sync::notify::poll_notified@sync/notify.rs:1026",
            ],
            "watch::Receiver::changed",
        );
        check_release(
            &[
                "tokio::sync::broadcast::{async_fn#0}<u32>@sync/broadcast.rs:1503",
                "tokio::sync::broadcast::poll<u32>@sync/broadcast.rs:1668",
            ],
            "broadcast::Receiver::recv",
        );
        check_release(
            &[
                "tokio::net::tcp::listener::{async_fn#0}@net/tcp/listener.rs:167",
                "tokio::runtime::io::registration::{async_fn#0}@runtime/io/registration.rs:216",
                "tokio::runtime::io::scheduled_io::poll@runtime/io/scheduled_io.rs:510",
            ],
            "accept",
        );
        check_release(
            &[
                "tokio::net::tcp::stream::poll_read_priv@net/tcp/stream.rs:1457",
                "tokio::runtime::io::registration::poll_read_ready@runtime/io/registration.rs:121",
            ],
            "socket read",
        );
        check_release(
            &[
                "tokio::runtime::task::join::poll<()>@runtime/task/join.rs:340",
                "tokio::runtime::task::harness::try_read_output@runtime/task/harness.rs:380",
            ],
            "JoinHandle",
        );
    }

    #[test]
    fn channels() {
        check(
            &[
                TASK,
                HANDLER,
                "tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}}@tokio/src/sync/mpsc/bounded.rs:1",
                "tokio::sync::mpsc::bounded::Sender<T>::reserve_inner::{{closure}}@x:1",
                "tokio::sync::batch_semaphore::Acquire::poll@x:1",
            ],
            "mpsc::Sender::send",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[TASK, HANDLER, "tokio::sync::mpsc::chan::Rx<T,S>::recv@x:1"],
            "mpsc::Receiver::recv",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::sync::mpsc::unbounded::UnboundedReceiver<T>::recv::{{closure}}@x:1",
                "tokio::sync::mpsc::chan::Rx<T,S>::recv::{{closure}}@x:1",
            ],
            "mpsc::Receiver::recv",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "<tokio::sync::broadcast::Recv<T> as core::future::future::Future>::poll@x:1",
            ],
            "broadcast::Receiver::recv",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::sync::watch::Receiver<T>::changed::{{closure}}@x:1",
                "tokio::sync::watch::changed_impl::{{closure}}@x:1",
                "tokio::sync::notify::Notified::poll_notified@x:1",
            ],
            "watch::Receiver::changed",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::sync::notify::Notified::poll_notified@x:1"],
            "Notify::notified",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "<tokio::sync::oneshot::Receiver<T> as core::future::future::Future>::poll@x:1",
                "tokio::sync::oneshot::Inner<T>::poll_recv@x:1",
            ],
            "oneshot::Receiver",
            "app::handler at src/handler.rs:42:9",
        );
    }

    /// Release builds with line tables only: inlined frames lose their path or their type, and
    /// the file says where they are.
    #[test]
    fn release_build_frames() {
        const REGISTRY: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        let at = |function: &str, file: &str| format!("{function}@{REGISTRY}/{file}");
        check(
            &[&at(
                "recv<u64, tokio::sync::mpsc::bounded::Semaphore>",
                "tokio-1.54.1/src/sync/mpsc/chan.rs:308",
            )],
            "mpsc::Receiver::recv",
            "-",
        );
        check(
            &[
                &at("tokio::sync::notify::poll_notified", "tokio-1.54.1/src/sync/notify.rs:1026"),
                &at("tokio::sync::notify::poll_notified", "tokio-1.54.1/src/sync/notify.rs:1228"),
            ],
            "Notify::notified",
            "-",
        );
        check(
            &[
                &at("tokio::sync::oneshot::poll<&str>", "tokio-1.54.1/src/sync/oneshot.rs:1284"),
                &at(
                    "tokio::sync::oneshot::poll_recv<&str>",
                    "tokio-1.54.1/src/sync/oneshot.rs:1318",
                ),
            ],
            "oneshot::Receiver",
            "-",
        );
        check(
            &[
                &at("tokio::time::interval::poll_tick", "tokio-1.54.1/src/time/interval.rs:459"),
                &at("tokio::time::sleep::poll", "tokio-1.54.1/src/time/sleep.rs:457"),
                &at("tokio::time::sleep::poll_elapsed", "tokio-1.54.1/src/time/sleep.rs:384"),
            ],
            "sleep",
            "-",
        );
        check(
            &[
                "leakscope_zoo::scenarios::lock_held_across_await::{async_fn#0}@crates/leakscope-zoo/src/scenarios/lock_held_across_await.rs:36",
                &at(
                    "{async_block#0}<std::collections::hash::map::HashMap<u64, u64>>",
                    "tokio-1.54.1/src/sync/mutex.rs:436",
                ),
                &at(
                    "tokio::sync::batch_semaphore::poll",
                    "tokio-1.54.1/src/sync/batch_semaphore.rs:642",
                ),
            ],
            "Mutex::lock",
            "leakscope_zoo::scenarios::lock_held_across_await at crates/leakscope-zoo/src/scenarios/lock_held_across_await.rs:36",
        );
        // The semaphore's poll alone is ambiguous (a channel send, a lock, a semaphore): the
        // agent's wait record names it instead.
        check(
            &[&at(
                "tokio::sync::batch_semaphore::poll",
                "tokio-1.54.1/src/sync/batch_semaphore.rs:642",
            )],
            "unknown (tokio::sync::batch_semaphore::poll)",
            "-",
        );
        // A bare name in another crate's tree is qualified with that crate, which no rule names.
        check(
            &[&at("recv<u64>", "tokio-util-0.7.20/src/sync/mpsc/chan.rs:1")],
            "unknown (recv)",
            "-",
        );
    }

    #[test]
    fn locks() {
        let acquire = "tokio::sync::batch_semaphore::Acquire::poll@x:1";
        check(
            &[
                HANDLER,
                "tokio::sync::mutex::Mutex<T>::lock::{{closure}}@x:1",
                "tokio::sync::mutex::Mutex<T>::acquire::{{closure}}@x:1",
                acquire,
            ],
            "Mutex::lock",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::sync::rwlock::RwLock<T>::read::{{closure}}@x:1", acquire],
            "RwLock::read",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::sync::rwlock::RwLock<T>::write_owned::{{closure}}@x:1", acquire],
            "RwLock::write",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::sync::semaphore::Semaphore::acquire_owned::{{closure}}@x:1",
                acquire,
            ],
            "Semaphore::acquire",
            "app::handler at src/handler.rs:42:9",
        );
        // Release builds may inline everything above the leaf: the leaf alone still says semaphore.
        check(&[HANDLER, acquire], "Semaphore::acquire", "app::handler at src/handler.rs:42:9");
        check(
            &[HANDLER, "tokio::sync::barrier::Barrier::wait::{{closure}}@x:1"],
            "Barrier::wait",
            "app::handler at src/handler.rs:42:9",
        );
    }

    #[test]
    fn io_time_and_tasks() {
        check(
            &[
                HANDLER,
                "<tokio::io::util::read::Read<R> as core::future::future::Future>::poll@x:1",
                "<tokio::net::tcp::stream::TcpStream as tokio::io::async_read::AsyncRead>::poll_read@x:1",
                "tokio::io::poll_evented::PollEvented<E>::poll_read@x:1",
                "tokio::runtime::io::registration::Registration::poll_ready@x:1",
            ],
            "socket read",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::io::poll_evented::PollEvented<E>::poll_write@x:1"],
            "socket write",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::net::tcp::listener::TcpListener::accept::{{closure}}@x:1",
                "tokio::runtime::io::registration::Registration::poll_read_ready@x:1",
            ],
            "accept",
            "app::handler at src/handler.rs:42:9",
        );
        // Connecting waits for writability underneath; the outermost frame names it.
        check(
            &[
                HANDLER,
                "tokio::net::tcp::stream::TcpStream::connect::{{closure}}@x:1",
                "tokio::runtime::io::registration::Registration::poll_write_ready@x:1",
            ],
            "connect",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::net::udp::UdpSocket::recv_from::{{closure}}@x:1"],
            "socket read",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::time::sleep::Sleep::poll_elapsed@x:1"],
            "sleep",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::time::interval::Interval::tick::{{closure}}@x:1",
                "tokio::time::sleep::Sleep::poll_elapsed@x:1",
            ],
            "sleep",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "<tokio::runtime::task::join::JoinHandle<T> as core::future::future::Future>::poll@x:1",
            ],
            "JoinHandle",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::fs::read::{{closure}}@x:1",
                "<tokio::runtime::task::join::JoinHandle<T> as core::future::future::Future>::poll@x:1",
            ],
            "JoinHandle",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[HANDLER, "tokio::task::yield_now::yield_now::{{closure}}@x:1"],
            "yield",
            "app::handler at src/handler.rs:42:9",
        );
        check(
            &[
                HANDLER,
                "tokio::signal::ctrl_c::{{closure}}@x:1",
                "tokio::sync::watch::Receiver<T>::changed::{{closure}}@x:1",
            ],
            "signal",
            "app::handler at src/handler.rs:42:9",
        );
    }

    #[test]
    fn user_frames_and_unknown_leaves() {
        // Library wrappers above the leaf do not count as the app; the nearest app frame does.
        check(
            &[
                TASK,
                "app::main::{{closure}}@src/main.rs:10:5",
                "<tracing::instrument::Instrumented<T> as core::future::future::Future>::poll@x:1",
                "app::worker::run::{{closure}}::{{closure}}@src/worker.rs:77:13",
                "<core::pin::Pin<P> as core::future::future::Future>::poll@x:1",
                "<&mut F as core::future::future::Future>::poll@x:1",
                "tokio::sync::mpsc::chan::Rx<T,S>::recv@x:1",
            ],
            "mpsc::Receiver::recv",
            "app::worker::run at src/worker.rs:77:13",
        );
        // A hand-written future that parks without tokio: the leaf is the app's own frame.
        check(
            &[TASK, "<app::Forever as core::future::future::Future>::poll@src/forever.rs:9:1"],
            "unknown (<app::Forever as core::future::future::Future>::poll)",
            "<app::Forever as core::future::future::Future>::poll at src/forever.rs:9:1",
        );
        check(
            &[
                TASK,
                HANDLER,
                "<core::future::pending::Pending<T> as core::future::future::Future>::poll@x:1",
            ],
            "unknown (<core::future::pending::Pending as core::future::future::Future>::poll)",
            "app::handler at src/handler.rs:42:9",
        );
        // Symbol hashes are dropped.
        check(
            &[HANDLER, "tokio::sync::mutex::Mutex<T>::lock::h0123456789abcdef@x:1"],
            "Mutex::lock",
            "app::handler at src/handler.rs:42:9",
        );
        // Near miss: the app's own module named like tokio's is not tokio.
        check(
            &["app::sync::mutex::Mutex::lock@src/m.rs:3:3"],
            "unknown (app::sync::mutex::Mutex::lock)",
            "app::sync::mutex::Mutex::lock at src/m.rs:3:3",
        );
        // Frames without symbols: a registry path is machinery, an app path is the user's.
        check(
            &["@src/lib.rs:5:1", "@/home/u/.cargo/registry/src/x/lib.rs:9"],
            "unknown (/home/u/.cargo/registry/src/x/lib.rs:9)",
            "src/lib.rs:5:1",
        );
        check(&[], "unknown", "-");
        check(&[TASK], "unknown (tokio::runtime::task::core::Core::poll)", "-");
    }

    #[test]
    fn a_select_prefers_the_resource_over_its_timeout() {
        let recv =
            Backtrace { frames: frames(&[HANDLER, "tokio::sync::mpsc::chan::Rx<T,S>::recv@x:1"]) };
        let sleep =
            Backtrace { frames: frames(&[HANDLER, "tokio::time::sleep::Sleep::poll_elapsed@x:1"]) };
        let odd = Backtrace { frames: frames(&[HANDLER, "other::Thing::poll@o.rs:1"]) };
        let name = |traces: &[Backtrace]| task_wait_point(traces).0.to_string();
        assert_eq!(name(&[sleep.clone(), recv.clone()]), "mpsc::Receiver::recv");
        assert_eq!(name(&[odd.clone(), sleep.clone()]), "sleep");
        assert_eq!(name(&[odd]), "unknown (other::Thing::poll)");
        assert_eq!(name(&[]), "unknown");
    }

    fn check_wait(op: &str, kind: Option<(ResourceKind, bool)>, expected: &str) {
        let resource = kind.map(|(kind, internal)| {
            let mut r = resource(7, kind);
            r.internal = internal;
            r
        });
        let w = wait(1, 7, op, 0.0);
        assert_eq!(
            wait_point_from_wait(&w, resource.as_ref()).to_string(),
            expected,
            "{op} on {kind:?}"
        );
    }

    #[test]
    fn waits_without_a_dump() {
        check_wait("Mutex::lock", Some((ResourceKind::Mutex, false)), "Mutex::lock");
        check_wait("RwLock::write", Some((ResourceKind::RwLock, false)), "RwLock::write");
        check_wait("RwLock::read", Some((ResourceKind::RwLock, false)), "RwLock::read");
        check_wait(
            "Semaphore::acquire",
            Some((ResourceKind::Semaphore, false)),
            "Semaphore::acquire",
        );
        check_wait("Acquire::new", Some((ResourceKind::Semaphore, true)), "mpsc::Sender::send");
        check_wait("Barrier::wait", Some((ResourceKind::Barrier, false)), "Barrier::wait");
        check_wait("Receiver::await", Some((ResourceKind::Oneshot, false)), "oneshot::Receiver");
        check_wait("Sleep::new_timeout", Some((ResourceKind::Timer, false)), "sleep");
        check_wait("Mutex::lock", Some((ResourceKind::Other, false)), "Mutex::lock");
        check_wait("Thing::frob", Some((ResourceKind::Other, false)), "unknown (Thing::frob)");
        check_wait("Mutex::lock", None, "Mutex::lock");
        check_wait("Thing::frob", None, "unknown (Thing::frob)");
    }

    #[test]
    fn a_lock_wait_beats_its_internal_semaphore() {
        let mutex = resource(1, ResourceKind::Mutex);
        let mut internal = resource(2, ResourceKind::Semaphore);
        internal.internal = true;
        let timer = resource(3, ResourceKind::Timer);
        let (on_mutex, on_internal, on_timer) = (
            wait(9, 1, "Mutex::lock", 0.0),
            wait(9, 2, "Acquire::new", 0.0),
            wait(9, 3, "Sleep::new_timeout", 0.0),
        );
        let best =
            |waits: Vec<(&leakscope_proto::v1::Wait, Option<&leakscope_proto::v1::Resource>)>| {
                best_wait(waits).map(|(point, wait)| (point.to_string(), wait.resource_id))
            };
        assert_eq!(
            best(vec![(&on_internal, Some(&internal)), (&on_mutex, Some(&mutex))]),
            Some(("Mutex::lock".into(), 1))
        );
        assert_eq!(
            best(vec![(&on_timer, Some(&timer)), (&on_internal, Some(&internal))]),
            Some(("mpsc::Sender::send".into(), 2))
        );
        assert_eq!(best(vec![(&on_timer, Some(&timer))]), Some(("sleep".into(), 3)));
        assert_eq!(best(vec![]), None);
    }
}
