//! The analysis model the agent keeps for the clients it analyses for: `/metrics` and the
//! `Aggregate` and `GroupTasks` calls.
//!
//! The model follows the agent the way a `Watch` client does, in-process: each request applies
//! the update since the last one (the first one full), a part of at most
//! [`collect::DEFAULT_PART_RECORDS`] records at a time, yielding between parts. A scrape of an
//! app whose million tasks sit idle applies the few that moved, where a whole snapshot in one
//! message used to be built and applied on every scrape.
//!
//! One model serves every such client, so an app pays for one however many ask. `/metrics`
//! keeps it for good (its series have a history); without the HTTP endpoints it is dropped
//! [`AGGREGATE_KEEP`] after the last request that used it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use leakscope_analysis::{Model, Sources};

use crate::collect::{self, Collector, WatchState};

/// How long the model an `Aggregate` call built is kept after the last call that used it: long
/// enough for a person to page through a group's tasks, or for the next report of a CI job to
/// take a delta rather than a full update.
pub(crate) const AGGREGATE_KEEP: Duration = Duration::from_secs(30);

/// The agent's collector, and the model that follows it.
pub(crate) struct Follower {
    collector: Arc<Mutex<Collector>>,
    /// Held for a whole request's update and answer (an async lock: updates yield between
    /// parts, and a task dump is awaited), so that one request's update, dump and answer are not
    /// interleaved with another's.
    followed: tokio::sync::Mutex<Followed>,
    /// Whether the model is kept for good: the HTTP endpoints are on.
    kept: bool,
    /// How long an unused model is kept otherwise ([`AGGREGATE_KEEP`]).
    keep: Duration,
    /// Requests using the model now ([`InUse`]): a request that watches for a while is not
    /// left without its model between two updates.
    users: AtomicUsize,
    /// When the last request that used the model ended.
    last_used: Mutex<tokio::time::Instant>,
    /// A task waits to drop the model ([`InUse`]'s drop starts it).
    release_pending: AtomicBool,
}

/// A request's use of the model, from its start to its end (or its client leaving): when the
/// last use ends, the model is dropped [`AGGREGATE_KEEP`] later unless another request comes.
pub(crate) struct InUse(Arc<Follower>);

impl Drop for InUse {
    fn drop(&mut self) {
        let follower = &self.0;
        *follower.last_used.lock().unwrap_or_else(PoisonError::into_inner) =
            tokio::time::Instant::now();
        follower.users.fetch_sub(1, Ordering::AcqRel);
        if follower.kept {
            return;
        }
        // One release task at a time, however many requests end: a client asking again and
        // again must not pile up sleeping tasks. Always on the agent's runtime; a use ended
        // elsewhere leaves the model to the next use's end.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if follower.release_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let follower = Arc::clone(follower);
        runtime.spawn(async move {
            loop {
                let last_used = *follower.last_used.lock().unwrap_or_else(PoisonError::into_inner);
                tokio::time::sleep_until(last_used + follower.keep).await;
                let mut followed = follower.followed.lock().await;
                let last_used = *follower.last_used.lock().unwrap_or_else(PoisonError::into_inner);
                let in_use = follower.users.load(Ordering::Acquire) != 0;
                if !in_use && last_used.elapsed() >= follower.keep {
                    *followed = Followed::new();
                    follower.release_pending.store(false, Ordering::Release);
                    drop(followed);
                    give_back_freed_memory();
                    return;
                }
                drop(followed);
                if in_use {
                    // Its end sets `last_used`; look again a keep time from now at the latest.
                    tokio::time::sleep(follower.keep).await;
                }
            }
        });
    }
}

/// The model and what the agent has sent it so far.
pub(crate) struct Followed {
    pub(crate) model: Model,
    pub(crate) watch: WatchState,
    /// An update was begun and not finished: its request went away between two parts (the
    /// server drops a request's work when its client leaves). The watch state counts the
    /// update's tasks as sent, which the model may not have, so the next update is a full one.
    cut_short: bool,
    /// When the last update was applied, and how long it took to build and apply.
    last: Option<(Instant, Duration)>,
}

impl Followed {
    fn new() -> Self {
        Self {
            model: Model::new(Sources::none()),
            watch: WatchState::default(),
            cut_short: false,
            last: None,
        }
    }

    /// What the last update cost the agent's thread to build and apply (`WorkTimer`).
    pub(crate) fn last_work(&self) -> Duration {
        self.last.map_or(Duration::ZERO, |(_, work)| work)
    }

    /// How long ago the last update was applied.
    pub(crate) fn since_last(&self) -> Option<Duration> {
        self.last.map(|(at, _)| at.elapsed())
    }

    /// Bytes the model and the watch state hold, roughly: the task records dominate (the
    /// `/metrics` figure of the agent's own memory).
    #[cfg(feature = "http")]
    pub(crate) fn memory_bytes(&self) -> u64 {
        let model = &self.model;
        let tasks = model.tasks().count() * std::mem::size_of::<leakscope_analysis::TaskRecord>();
        let resources =
            model.resources().count() * std::mem::size_of::<leakscope_proto::v1::Resource>();
        (tasks + resources + self.watch.memory_bytes()) as u64
    }
}

impl Follower {
    /// A follower with no model yet; `kept` when the model is to be kept for good.
    pub(crate) fn new(collector: Arc<Mutex<Collector>>, kept: bool) -> Self {
        Self {
            collector,
            followed: tokio::sync::Mutex::new(Followed::new()),
            kept,
            keep: AGGREGATE_KEEP,
            users: AtomicUsize::new(0),
            last_used: Mutex::new(tokio::time::Instant::now()),
            release_pending: AtomicBool::new(false),
        }
    }

    /// Marks the model in use until the guard is dropped (see [`InUse`]).
    pub(crate) fn start_use(self: &Arc<Self>) -> InUse {
        self.users.fetch_add(1, Ordering::AcqRel);
        InUse(Arc::clone(self))
    }

    /// The model, for one request's update and answer.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Followed> {
        self.followed.lock().await
    }

    /// Brings the model up to date: the update since the last request (retained finished tasks
    /// included, from which the model learns when spawners ended), part by part. The collector
    /// is locked for each part alone, as for a `Watch` stream, and the agent's other clients are
    /// served between parts. Returns whether the update was a full one.
    pub(crate) async fn follow(&self, followed: &mut Followed) -> bool {
        let started = crate::clock::WorkTimer::start();
        let config = self.collector().config().clone();
        if followed.cut_short {
            followed.watch = WatchState::default();
        }
        followed.cut_short = true;
        let Followed { model, watch, .. } = followed;
        // The agent's own `Hello`, as a client's model takes it: the same sources, build facts
        // and missing pieces in the report.
        model.set_hello(&crate::server::hello(&config));
        let mut plan = self.collector().begin(watch, collect::DEFAULT_PART_RECORDS);
        loop {
            let Some(part) = self.collector().next_part(&mut plan) else { break };
            model.apply_part(part);
            tokio::task::yield_now().await;
        }
        followed.cut_short = false;
        followed.last = Some((Instant::now(), started.elapsed()));
        plan.is_full()
    }

    pub(crate) fn collector(&self) -> MutexGuard<'_, Collector> {
        self.collector.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands the pages a dropped model freed back to the system: glibc keeps freed heap pages for
/// reuse, and of a million-task model's 420 MB it kept 80 MB in the app (by hand, 1M idle
/// tasks). Only glibc's own heap is trimmed; an app on another allocator loses nothing.
fn give_back_freed_memory() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    // SAFETY: `malloc_trim` only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future as _;
    use std::task::{Context, Waker};

    fn follower(kept: bool) -> Arc<Follower> {
        let collector = Collector::new(crate::builder::Config::default());
        Arc::new(Follower::new(Arc::new(Mutex::new(collector)), kept))
    }

    async fn request(follower: &Arc<Follower>) {
        let _in_use = follower.start_use();
        follower.follow(&mut *follower.lock().await).await;
    }

    #[test]
    fn an_update_cut_short_makes_the_next_one_full() {
        let follower = follower(true);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let mut followed = follower.lock().await;
            assert!(follower.follow(&mut followed).await, "the first update is full");
            assert!(!follower.follow(&mut followed).await, "then deltas");
            // A request that goes away after the first part: its future is dropped at the
            // yield that follows the part.
            {
                let mut cut = std::pin::pin!(follower.follow(&mut followed));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(cut.as_mut().poll(&mut cx).is_pending());
            }
            assert!(followed.cut_short);
            assert!(follower.follow(&mut followed).await, "full again after one was cut short");
            assert!(!followed.cut_short);
            assert!(!follower.follow(&mut followed).await);
        });
    }

    /// The model goes once no request has used it for the keep time, not before, and never
    /// when it is kept for good.
    #[test]
    fn an_unused_model_is_released_unless_kept() {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build();
        runtime.unwrap().block_on(async {
            let keep = AGGREGATE_KEEP;
            for kept in [false, true] {
                let follower = follower(kept);
                request(&follower).await;
                tokio::time::sleep(keep / 2).await;
                // Used again halfway: the first release finds it used since and leaves it.
                request(&follower).await;
                tokio::time::sleep(keep * 3 / 4).await;
                assert!(
                    follower.lock().await.since_last().is_some(),
                    "kept={kept}: used 22.5 s ago"
                );
                // A request in progress past the keep time keeps it too.
                let in_use = follower.start_use();
                tokio::time::sleep(keep * 2).await;
                assert!(follower.lock().await.since_last().is_some(), "kept={kept}: in use");
                drop(in_use);
                // One task waits to release it, whatever the number of requests that ended.
                assert_eq!(follower.release_pending.load(Ordering::Acquire), !kept);
                tokio::time::sleep(keep + Duration::from_secs(1)).await;
                assert_eq!(follower.lock().await.since_last().is_none(), !kept, "kept={kept}");
                assert!(!follower.release_pending.load(Ordering::Acquire));
                // Built again by the next request, and released again after it.
                request(&follower).await;
                tokio::time::sleep(keep + Duration::from_secs(1)).await;
                assert_eq!(follower.lock().await.since_last().is_none(), !kept, "kept={kept}");
            }
        });
    }
}
