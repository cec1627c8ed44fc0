//! The lock-wait profile, the counterpart of Go's mutex profile: the tasks waiting on a tokio
//! `Mutex`, `RwLock` or `Semaphore` now, from the agent's wait records, with how long each has
//! waited and who holds the lock.

use leakscope_analysis::Model;
use leakscope_proto::v1::TaskDumpResponse;

use super::frames::{Dumped, await_chain, model_profile, nanos, spawn_frame, task_labels};
use super::tasks::TaskFilter;
use crate::profile::{Frame, Profile, ValueType};
use crate::site;

/// One stack per task waiting on a lock: its spawn frame, its await chain when `dump` has it, a
/// `lock: Mutex::lock` frame at the lock's creation, and, when the agent knows the holder, a
/// `held by tokio::spawn` frame at the holder's spawn location. Columns `contentions/count`
/// (default) and `delay/nanoseconds` (how long each has waited so far).
pub fn lock_wait_profile(
    model: &Model,
    dump: Option<&TaskDumpResponse>,
    filter: &TaskFilter,
) -> Profile {
    let mut profile = model_profile(
        model,
        "leakscope lock-wait profile",
        [ValueType::new("contentions", "count"), ValueType::new("delay", "nanoseconds")],
    );
    let dumped = Dumped::new(model, dump);
    let now = model.now_nanos();
    for task in model.live_tasks().filter(|t| filter.matches(model, t)) {
        let wait = model.task_wait(task.id);
        if !wait.point.is_lock() {
            continue;
        }
        let Some(resource) = wait.resource_id().and_then(|id| model.resource(id)) else { continue };
        let mut stack = vec![spawn_frame(model, task)];
        if let Some(traces) = dumped.of(task) {
            stack.extend(await_chain(traces).0);
        }
        let at = model.location(resource.location_id);
        stack.push(Frame::new(format!("{}{}", site::LOCK, wait.point), at.file.clone(), at.line));
        if let Some(holder) = Some(resource.holder_task_id)
            .filter(|&id| id != 0 && id != task.id)
            .and_then(|id| model.task(id))
        {
            let spawned = spawn_frame(model, holder);
            stack.push(Frame::new(
                format!("{}{}", site::HELD_BY, spawned.function),
                spawned.file,
                spawned.line,
            ));
        }
        let waited = wait.since_nanos().map_or(0, |since| now.saturating_sub(since));
        profile.add(stack, vec![1, nanos(waited)], task_labels(task, "wait"));
    }
    profile.normalize();
    profile
}
