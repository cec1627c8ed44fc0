//! Which tasks a test's runtime holds: with `--cfg tokio_unstable`, every task spawned on it,
//! learnt from tokio's runtime hooks as it happens; on stable tokio, only how many are alive.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The tasks of one test's runtime.
#[derive(Default)]
pub(crate) struct Tracker {
    inner: Mutex<Inner>,
    /// Bumped on every spawn and termination: unchanged means nothing happened.
    changes: AtomicU64,
}

#[derive(Default)]
struct Inner {
    /// Spawned and not yet terminated, with where.
    alive: HashMap<u64, &'static Location<'static>>,
    /// Every task ever spawned on the runtime, to recognise their children elsewhere.
    ever: HashSet<u64>,
}

impl Tracker {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Installs the hooks on `builder`. Replaces any spawn or terminate hook set before (tokio
    /// keeps one of each).
    #[cfg(tokio_unstable)]
    pub(crate) fn attach(self: &std::sync::Arc<Self>, builder: &mut tokio::runtime::Builder) {
        let on_spawn = self.clone();
        builder.on_task_spawn(move |meta| on_spawn.spawned(task_id(&meta.id()), meta.spawned_at()));
        let on_end = self.clone();
        builder.on_task_terminate(move |meta| on_end.terminated(task_id(&meta.id())));
    }

    /// Stable tokio has no hooks: the check counts through the runtime's metrics.
    #[cfg(not(tokio_unstable))]
    pub(crate) fn attach(self: &std::sync::Arc<Self>, _builder: &mut tokio::runtime::Builder) {}

    #[cfg_attr(not(tokio_unstable), expect(dead_code, reason = "called from tokio's hooks only"))]
    fn spawned(&self, id: u64, at: &'static Location<'static>) {
        self.with(|inner| {
            inner.alive.insert(id, at);
            inner.ever.insert(id);
        });
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg_attr(not(tokio_unstable), expect(dead_code, reason = "called from tokio's hooks only"))]
    fn terminated(&self, id: u64) {
        self.with(|inner| inner.alive.remove(&id));
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// The tasks alive on the runtime, by id, with their spawn locations.
    pub(crate) fn alive(&self) -> Vec<(u64, &'static Location<'static>)> {
        let mut alive: Vec<_> =
            self.with(|inner| inner.alive.iter().map(|(&id, &at)| (id, at)).collect());
        alive.sort_unstable_by_key(|(id, _)| *id);
        alive
    }

    /// Whether `id` was ever spawned on the runtime.
    pub(crate) fn spawned_here(&self, id: u64) -> bool {
        self.with(|inner| inner.ever.contains(&id))
    }

    /// A counter that moves whenever a task is spawned or ends.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

/// tokio offers no accessor for the number inside a task id; its `Display` is the number, and it
/// is the `task.id` the collector records.
#[cfg(tokio_unstable)]
fn task_id(id: &tokio::task::Id) -> u64 {
    id.to_string().parse().unwrap_or(0)
}

#[cfg(all(test, tokio_unstable))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn hooks_follow_spawns_and_ends() {
        let tracker = Arc::new(Tracker::default());
        let mut builder = tokio::runtime::Builder::new_current_thread();
        tracker.attach(&mut builder);
        let runtime = builder.enable_all().build().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let parked = runtime.spawn(async move {
            let _ = rx.await;
        });
        runtime.block_on(async { tokio::spawn(async {}).await.unwrap() });
        let alive = tracker.alive();
        assert_eq!(alive.len(), 1, "{alive:?}");
        assert_eq!(alive[0].0, task_id(&parked.id()));
        assert_eq!(alive[0].1.file(), file!());
        assert!(tracker.spawned_here(alive[0].0));
        let before = tracker.changes();
        assert_eq!(before, 3, "two spawns and one end");
        tx.send(()).unwrap();
        runtime.block_on(parked).unwrap();
        assert!(tracker.alive().is_empty());
        assert!(tracker.changes() > before);
    }
}
