//! The blocking profile, the counterpart of Go's block profile for what hurts an async runtime
//! most: polls that kept a worker thread from everything else, from the agent's long-poll
//! records.

use std::collections::BTreeMap;

use leakscope_analysis::{Model, TaskRecord};
use leakscope_proto::v1::{TaskKind, TaskState};

use super::frames::{model_profile, nanos, spawn_frame};
use super::tasks::TaskFilter;
use crate::profile::{Frame, Label, Profile, ValueType};
use crate::site;

/// The agent's default long-poll threshold, for models whose `Hello` did not say.
const DEFAULT_THRESHOLD_NANOS: u64 = 10_000_000;

/// Per spawn location, the polls longer than the agent's threshold since it started (from its
/// per-location statistics, which nothing evicts), as `spawn frame; blocking poll`; and each task
/// blocking right now (a poll running for longer than the threshold), as `spawn frame; blocking
/// now` (blocking-pool tasks left out: blocking is what they are for). Columns `long_polls/count` (default) and `blocked/nanoseconds`. The filter applies to
/// the tasks; a location's statistics are kept when any task there matches, or when the filter
/// has no ids and its text matches the location.
pub fn blocking_profile(model: &Model, filter: &TaskFilter) -> Profile {
    let mut profile = model_profile(
        model,
        "leakscope blocking profile",
        [ValueType::new("long_polls", "count"), ValueType::new("blocked", "nanoseconds")],
    );
    // A task for each location, to name how its tasks were spawned.
    let mut by_location: BTreeMap<u32, &TaskRecord> = BTreeMap::new();
    for task in model.tasks().filter(|t| filter.matches(model, t)) {
        by_location.entry(task.location_id).or_insert(task);
    }
    let label = |value: &str| vec![Label { key: "kind".into(), value: value.into() }];
    for stats in model.poll_stats().filter(|s| s.long_polls > 0) {
        let spawn = match by_location.get(&stats.location_id) {
            Some(task) => spawn_frame(model, task),
            None if filter.task_ids.is_none() => {
                let location = model.location(stats.location_id);
                let frame = Frame::new(site::SPAWN, location.file.clone(), location.line);
                let text = filter.text.as_deref().unwrap_or_default().to_lowercase();
                if !location.to_string().to_lowercase().contains(&text) {
                    continue;
                }
                frame
            }
            None => continue,
        };
        profile.add(
            vec![spawn, Frame::new(site::BLOCKING_POLL, "", 0)],
            vec![nanos(stats.long_polls), nanos(stats.long_poll_nanos)],
            label("finished"),
        );
    }
    let threshold = match model.target().long_poll_threshold_nanos {
        0 => DEFAULT_THRESHOLD_NANOS,
        n => n,
    };
    let now = model.now_nanos();
    for task in model.live_tasks().filter(|t| filter.matches(model, t)) {
        let running_for = now.saturating_sub(task.last_poll_start_nanos);
        // Blocking is what the blocking pool is for, as the agent's long-poll records agree.
        if task.kind == TaskKind::Blocking as i32
            || task.state != TaskState::Running as i32
            || task.last_poll_start_nanos == 0
            || running_for < threshold
        {
            continue;
        }
        profile.add(
            vec![spawn_frame(model, task), Frame::new(site::BLOCKING_NOW, "", 0)],
            vec![1, nanos(running_for)],
            label("running"),
        );
    }
    profile.normalize();
    profile
}
