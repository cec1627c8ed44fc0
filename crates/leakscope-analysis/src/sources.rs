//! What data the source of a model can provide, so a finding that cannot be evaluated is listed
//! as such instead of silently passing. Decided here once, from the handshake
//! ([`Sources::from_hello`]), for every command: snapshot, attach, gate and the test check list
//! the same kinds as not evaluated.

use leakscope_proto::v1::{Capabilities, HelloResponse};
use serde::{Deserialize, Serialize};

/// The kinds of data a source provides. Each detector names the ones it needs
/// ([`crate::Unevaluated`] says which were missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// Per-task records: state, polls, wakes, spawn location.
    pub tasks: bool,
    /// Live waker counts that can be trusted (clones minus drops).
    pub wakers: bool,
    /// `parent_task_id`: which task spawned which.
    pub parents: bool,
    /// `spawner_span`: the tracing span current at spawn, and whether it has closed.
    pub spawner_spans: bool,
    /// Resources (locks, semaphores, timers) and the waits on them.
    pub resources: bool,
    /// Which task holds each lock (`Resource.holder_task_id`): what a wait-for cycle is made of.
    pub lock_holders: bool,
    /// Individual long polls and per-location long-poll statistics.
    pub long_polls: bool,
    /// The size of each spawned future.
    pub future_sizes: bool,
    /// Task dumps: per-task backtraces down to the leaf each task is parked in.
    pub task_dump: bool,
}

impl Sources {
    /// Everything: a leakscope agent built with `--cfg tokio_unstable --cfg tokio_taskdump`.
    pub const fn all() -> Self {
        Self {
            tasks: true,
            wakers: true,
            parents: true,
            spawner_spans: true,
            resources: true,
            lock_holders: true,
            long_polls: true,
            future_sizes: true,
            task_dump: true,
        }
    }

    /// Nothing at all (an agent that could not instrument tasks, before `Hello`).
    pub const fn none() -> Self {
        Self {
            tasks: false,
            wakers: false,
            parents: false,
            spawner_spans: false,
            resources: false,
            lock_holders: false,
            long_polls: false,
            future_sizes: false,
            task_dump: false,
        }
    }

    /// What the source that sent this `Hello` provides: [`Sources::none`] without capabilities,
    /// else [`Sources::from_capabilities`].
    pub fn from_hello(hello: &HelloResponse) -> Self {
        hello.capabilities.as_ref().map_or(Self::none(), Self::from_capabilities)
    }

    /// From the capabilities a `Hello` reported: a leakscope agent's, or for an app running only
    /// console-subscriber (`console_subscriber`, set by leakscope-client), what console-api
    /// carries ([`Sources::console_api`]) within what the handshake says.
    pub fn from_capabilities(capabilities: &Capabilities) -> Self {
        if capabilities.console_subscriber {
            let console = Self::console_api();
            return Self {
                tasks: console.tasks && capabilities.tasks,
                wakers: console.wakers && capabilities.tasks,
                resources: console.resources && capabilities.resources,
                long_polls: console.long_polls && capabilities.tasks,
                future_sizes: console.future_sizes && capabilities.tasks,
                ..console
            };
        }
        let tasks = capabilities.tasks;
        Self {
            tasks,
            wakers: tasks,
            parents: tasks,
            spawner_spans: tasks,
            resources: capabilities.resources,
            lock_holders: capabilities.resources,
            long_polls: tasks,
            future_sizes: tasks,
            task_dump: capabilities.task_dump,
        }
    }

    /// An app that runs console-subscriber instead of leakscope: tasks, wakers, resources and
    /// future sizes (tokio's `size.bytes` field) come across console-api; parent tasks, spawner
    /// spans, lock holders (tokio reports that a lock is held, not by whom) and task dumps do
    /// not exist there. Long polls are sampled: leakscope-client turns each task's latest poll
    /// per update into a long-poll record when it was long, so `blocking` sees most but not all.
    pub const fn console_api() -> Self {
        Self {
            tasks: true,
            wakers: true,
            parents: false,
            spawner_spans: false,
            resources: true,
            lock_holders: false,
            long_polls: true,
            future_sizes: true,
            task_dump: false,
        }
    }
}

impl Default for Sources {
    /// [`Sources::all`]: a model fed by a leakscope agent that has everything.
    fn default() -> Self {
        Self::all()
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{Capabilities, HelloResponse};

    use super::Sources;

    fn check(capabilities: Option<Capabilities>, expected: Sources) {
        let hello = HelloResponse { capabilities, ..HelloResponse::default() };
        assert_eq!(Sources::from_hello(&hello), expected);
    }

    #[test]
    fn the_handshake_decides() {
        check(None, Sources::none());
        let agent = Capabilities {
            tasks: true,
            resources: true,
            task_dump: true,
            // An agent built with the `console` feature also serves console-api: still itself.
            console_api: true,
            ..Capabilities::default()
        };
        check(Some(agent), Sources::all());
        let console = Capabilities {
            tasks: true,
            resources: true,
            console_api: true,
            console_subscriber: true,
            ..Capabilities::default()
        };
        check(Some(console), Sources::console_api());
        let bare = Capabilities { runtime_metrics: true, ..Capabilities::default() };
        check(Some(bare), Sources { task_dump: false, ..Sources::none() });
    }
}
