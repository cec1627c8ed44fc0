//! The text forms of `/debug/pprof/tasks`, after Go's goroutine profile: `debug=1` groups live
//! tasks by spawn location and wait point with counts; `debug=2` lists every live task with a
//! `[waiting in mpsc::Receiver::recv, 10 minutes]` header and its await chain, leaf first.
//!
//! Both only present what the model and the analysis already say (groups, wait points); they
//! decide nothing themselves.

use leakscope_analysis::{Group, Model, Report, TaskRecord, WaitPoint};
use leakscope_profile::{Dumped, wait_chain};
use leakscope_proto::v1::{DumpStatus, TaskDumpResponse, TaskKind, TaskState};
use std::fmt::Write as _;

/// `debug=1`: a total, then one paragraph per group of tasks sharing a spawn location and wait
/// point, largest first. `dump` is the dump taken for this request, if one was: a failed one is
/// named, since the wait points then come from the agent's wait records only.
pub(crate) fn grouped(model: &Model, report: &Report, dump: Option<&TaskDumpResponse>) -> String {
    let mut out = String::new();
    let total: u64 = report.groups.iter().map(|g| g.count).sum();
    let _ = writeln!(out, "tasks profile: total {total}");
    if let Some(failed) = dump.filter(|d| d.status != DumpStatus::Ok as i32) {
        let _ = writeln!(out, "# the task dump failed: {}", failed.message);
    }
    for missing in &model.target().missing {
        let _ = writeln!(out, "# missing: {missing}");
    }
    for group in &report.groups {
        out.push('\n');
        group_paragraph(&mut out, group);
    }
    out
}

fn group_paragraph(out: &mut String, group: &Group) {
    let s = &group.states;
    let state = if s.idle > 0 {
        waiting_in(&group.waiting_on)
    } else if s.running > 0 && s.scheduled == 0 {
        "running".to_owned()
    } else if s.scheduled > 0 && s.running == 0 {
        "scheduled".to_owned()
    } else {
        "running or scheduled".to_owned()
    };
    let _ = writeln!(out, "{} @ {} [{state}]", group.count, group.location);
    if let Some(name) = &group.task_name {
        let _ = writeln!(out, "#\tname: {name}");
    }
    let states: Vec<String> = [
        (s.idle, "idle"),
        (s.running, "running"),
        (s.scheduled, "scheduled"),
        (s.unknown, "unknown"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, name)| format!("{n} {name}"))
    .collect();
    let _ = writeln!(out, "#\tstates: {}", states.join(", "));
    if let Some(idle) = duration(group.oldest_idle_secs) {
        let _ = writeln!(out, "#\toldest idle: {idle}");
    }
    if let Some(frame) = &group.user_frame {
        let _ = writeln!(out, "#\tin {frame}");
    }
    if let Some(trend) = group.trend_per_sec.filter(|t| t.abs() >= 0.005) {
        let _ = writeln!(out, "#\ttrend: {trend:+.2} tasks/s");
    }
    if !group.flags.is_empty() {
        let flags: Vec<&str> = group.flags.iter().map(|k| k.as_str()).collect();
        let _ = writeln!(out, "#\tflagged: {}", flags.join(", "));
    }
    let mut ids: Vec<String> = group.task_ids.iter().map(u64::to_string).collect();
    if (ids.len() as u64) < group.count {
        ids.push("...".to_owned());
    }
    let _ = writeln!(out, "#\ttasks: {}", ids.join(" "));
}

/// `debug=2`: every live task by id, each with a header naming its state and wait, its await
/// chain (from `dump` where it traced the task since its last poll, else as the agent captured
/// it; innermost frame first, as Go prints stacks), what it waits on, and where it was spawned.
/// `dump` is the dump taken for this request, if one was asked for (`dump=1`).
pub(crate) fn every_task(model: &Model, dump: Option<&TaskDumpResponse>) -> String {
    let mut out = String::new();
    let traces = Dumped::new(model, dump);
    match dump {
        None => out.push_str(
            "# no task dump: await chains are the agent's captures (dump=1 takes a dump too; it \
             pauses every worker of the app)\n\n",
        ),
        Some(d) if d.status != DumpStatus::Ok as i32 => {
            let _ = writeln!(out, "# the task dump failed: {}\n", d.message);
        }
        Some(_) => {}
    }
    for missing in &model.target().missing {
        let _ = writeln!(out, "# missing: {missing}");
    }
    for task in model.live_tasks() {
        task_paragraph(&mut out, model, &traces, task);
        out.push('\n');
    }
    out
}

fn task_paragraph(out: &mut String, model: &Model, traces: &Dumped<'_>, task: &TaskRecord) {
    let wait = model.task_wait(task.id);
    let state = TaskState::try_from(task.state).unwrap_or(TaskState::Unspecified);
    let header = match state {
        TaskState::Running => "running".to_owned(),
        TaskState::Scheduled => "scheduled".to_owned(),
        _ => {
            let idle =
                model.now_nanos().saturating_sub(task.last_poll_end_nanos.max(task.created_nanos));
            match duration(idle as f64 / 1e9) {
                Some(idle) => format!("{}, {idle}", waiting_in(&wait.point)),
                None => waiting_in(&wait.point),
            }
        }
    };
    let _ = write!(out, "task {}", task.id);
    if !task.name.is_empty() {
        let _ = write!(out, " {:?}", task.name);
    }
    let _ = writeln!(out, " [{header}]:");
    match traces.of(task).map(|traces| wait_chain(traces).0) {
        Some(frames) => {
            for frame in frames.iter().rev() {
                let function = if frame.function.is_empty() { "?" } else { &frame.function };
                let _ = writeln!(out, "{function}");
                if !frame.file.is_empty() {
                    let _ = writeln!(out, "\t{}:{}", frame.file, frame.line);
                }
            }
        }
        None if traces.taken() && state == TaskState::Idle => {
            out.push_str("(no await chain: the task was not in the dump or was polled since)\n");
        }
        None => {}
    }
    if let Some(resource) = wait.resource_id().and_then(|id| model.resource(id)) {
        let _ = write!(
            out,
            "waiting on {} created at {}",
            resource.concrete_type,
            model.location(resource.location_id)
        );
        if resource.holder_task_id != 0 {
            let _ = write!(out, ", held by task {}", resource.holder_task_id);
        }
        out.push('\n');
    }
    let how = match TaskKind::try_from(task.kind).unwrap_or(TaskKind::Unspecified) {
        TaskKind::Async | TaskKind::Unspecified => "tokio::spawn",
        TaskKind::Blocking => "tokio::task::spawn_blocking",
        TaskKind::BlockOn => "block_on",
        TaskKind::Local => "tokio::task::spawn_local",
    };
    let _ = write!(out, "created by {how} at {}", model.location(task.location_id));
    if task.parent_task_id != 0 {
        let _ = write!(out, " in task {}", task.parent_task_id);
    }
    out.push('\n');
}

/// `waiting in mpsc::Receiver::recv`, or `waiting` when nothing says where.
fn waiting_in(point: &WaitPoint) -> String {
    match point {
        WaitPoint::Unknown(what) if what.is_empty() => "waiting".to_owned(),
        WaitPoint::Unknown(what) => format!("waiting in {what}"),
        known => format!("waiting in {known}"),
    }
}

/// A wait as Go's goroutine headers put it, `10 minutes`, with seconds below a minute; `None`
/// under a second.
fn duration(secs: f64) -> Option<String> {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        s if s.is_nan() || s < 1.0 => None,
        s if s < 60.0 => Some(plural(s as u64, "second")),
        s => Some(plural((s / 60.0) as u64, "minute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fixture;

    #[test]
    fn grouped_text() {
        let (mut model, dump) = fixture::model();
        // Two of the three receivers are in the dump: their group splits off, named.
        model.apply_dump(dump);
        let report = leakscope_analysis::analyze(&model, &leakscope_analysis::Config::default());
        insta::assert_snapshot!(grouped(&model, &report, None));
    }

    #[test]
    fn every_task_text_with_a_dump() {
        let (mut model, dump) = fixture::model();
        model.apply_dump(dump.clone());
        insta::assert_snapshot!(every_task(&model, Some(&dump)));
    }

    #[test]
    fn every_task_text_without_a_dump() {
        let (model, _) = fixture::model();
        let failed = TaskDumpResponse {
            status: DumpStatus::TimedOut as i32,
            message: "no dump within 2000 ms: a runtime worker is blocked".into(),
            ..TaskDumpResponse::default()
        };
        let text = every_task(&model, Some(&failed));
        assert!(text.starts_with("# the task dump failed: no dump within 2000 ms"), "{text}");
        let report = leakscope_analysis::analyze(&model, &leakscope_analysis::Config::default());
        let text = grouped(&model, &report, Some(&failed));
        assert!(
            text.starts_with("tasks profile: total 7\n# the task dump failed: no dump within"),
            "{text}"
        );
        let text = every_task(&model, None);
        assert!(
            text.starts_with("# no task dump: await chains are the agent's captures"),
            "{text}"
        );
        assert!(!text.contains("no await chain:"), "{text}");
    }

    #[test]
    fn durations_read_like_go() {
        let check = |secs: f64, expected: Option<&str>| {
            assert_eq!(duration(secs).as_deref(), expected, "{secs}");
        };
        check(0.0, None);
        check(0.999, None);
        check(f64::NAN, None);
        check(1.0, Some("1 second"));
        check(59.9, Some("59 seconds"));
        check(60.0, Some("1 minute"));
        check(600.0, Some("10 minutes"));
        check(86_400.0, Some("1440 minutes"));
    }
}
