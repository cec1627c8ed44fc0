//! The `Aggregate` and `GroupTasks` calls: the analysis done by the agent, so that a client reads
//! a report of a few kilobytes (groups with their counts, states, oldest idle time and trend,
//! and the findings) and a group's tasks a page at a time, where a `Watch` client holds every
//! task of the app.
//!
//! Both read the [`Follower`]'s model, the one `/metrics` reads, with the same analysis the
//! clients run: a report from the agent is the report a client would have made from the same
//! updates.

use std::sync::Arc;
use std::time::Duration;

use leakscope_analysis::{Config, TaskOrder, analyze, group_tasks};
use leakscope_proto::v1::{
    AggregateRequest, AggregateResponse, GroupTask, GroupTaskOrder, GroupTasksRequest,
    GroupTasksResponse, MAX_AGGREGATE_WAIT_SECS,
};
use tonic::Status;

use crate::dump;
use crate::follow::Follower;

/// The longest window an `Aggregate` call watches for.
const MAX_WAIT: Duration = Duration::from_secs(MAX_AGGREGATE_WAIT_SECS);
/// The shortest interval between its updates.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Tasks a `GroupTasks` page holds when the request does not say, and at most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// Follows the agent's updates for the request's window, then analyses under its thresholds.
/// `default_interval` is the agent's watch interval.
pub(crate) async fn aggregate(
    follower: &Arc<Follower>,
    request: AggregateRequest,
    default_interval: Duration,
) -> Result<AggregateResponse, Status> {
    let config = thresholds(&request.config_json)?;
    let wait = Duration::from_nanos(request.wait_nanos);
    if wait > MAX_WAIT {
        return Err(Status::invalid_argument(format!(
            "wait {wait:?} is longer than the agent's limit of {MAX_WAIT:?}"
        )));
    }
    let interval = match request.interval_nanos {
        0 => default_interval,
        n => Duration::from_nanos(n).max(MIN_INTERVAL),
    };
    let _in_use = follower.start_use();
    let mut work = {
        let mut followed = follower.lock().await;
        follower.follow(&mut followed).await;
        followed.last_work()
    };
    // Updates until the first one at or past the window's end, spaced as a `Watch` stream's
    // deltas are: a large app's are spaced out so that building them takes a tenth of the time.
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        let step = crate::server::pace(interval, work).unwrap_or(interval);
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + step)).await;
        let mut followed = follower.lock().await;
        follower.follow(&mut followed).await;
        work = followed.last_work();
    }
    let mut followed = follower.lock().await;
    if request.dump_timeout_millis > 0 {
        let taken = dump::take(Duration::from_millis(request.dump_timeout_millis)).await;
        followed.model.apply_dump(taken);
    }
    let report = analyze(&followed.model, &config);
    let report_json = serde_json::to_vec(&report)
        .map_err(|err| Status::internal(format!("failed to encode the report: {err}")))?;
    Ok(AggregateResponse { report_json, runtimes: followed.model.runtimes().to_vec() })
}

/// A page of one group's tasks, from the model as of at most one watch interval ago (built when
/// there is none).
pub(crate) async fn tasks(
    follower: &Arc<Follower>,
    request: GroupTasksRequest,
    default_interval: Duration,
) -> GroupTasksResponse {
    let _in_use = follower.start_use();
    let mut followed = follower.lock().await;
    if followed.since_last().is_none_or(|since| since > default_interval) {
        follower.follow(&mut followed).await;
    }
    let order = match GroupTaskOrder::try_from(request.order).unwrap_or(GroupTaskOrder::Idle) {
        GroupTaskOrder::Idle => TaskOrder::Idle,
        GroupTaskOrder::Age => TaskOrder::Age,
        GroupTaskOrder::Polls => TaskOrder::Polls,
        GroupTaskOrder::Id => TaskOrder::Id,
    };
    let limit = match request.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let model = &followed.model;
    let now = model.now_nanos();
    let page = group_tasks(
        model,
        &request.location,
        &request.waiting_on,
        order,
        usize::try_from(request.offset).unwrap_or(usize::MAX),
        limit as usize,
    );
    let message = if page.total == 0 {
        format!("no live task spawned at {} waits on {}", request.location, request.waiting_on)
    } else {
        String::new()
    };
    GroupTasksResponse {
        total: page.total,
        tasks: page
            .tasks
            .iter()
            .map(|task| GroupTask {
                id: task.id,
                name: task.name.as_str().to_owned(),
                state: task.state,
                age_nanos: now.saturating_sub(task.created_nanos),
                idle_nanos: leakscope_analysis::names::idle_nanos(now, task),
                polls: task.polls,
            })
            .collect(),
        message,
    }
}

/// The request's thresholds: the defaults when it sends none.
fn thresholds(json: &str) -> Result<Config, Status> {
    if json.is_empty() {
        return Ok(Config::default());
    }
    let config: Config = serde_json::from_str(json)
        .map_err(|err| Status::invalid_argument(format!("bad thresholds: {err}")))?;
    config.validate().map_err(|err| Status::invalid_argument(format!("bad thresholds: {err}")))?;
    Ok(config)
}
