//! The task detail: stats, poll-time histogram, wakes and wakers, spawner and children, what it
//! waits on, its wait chain (captured as it parked, or from a task dump), and the findings on it with their
//! explanation and fix. One scrollable column of lines, so it works at 80x24.

use leakscope_analysis::{Finding, SourceLocation, WaitPoint, WaitSource, names};
use leakscope_proto::v1::{Backtrace, TaskKind, TaskState};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::{App, Focus, FocusWait, TaskPage};
use crate::view::{format, wrap};

/// Whether `finding` is about this task: it names the task, or it is at the task's spawn
/// location and (when it says) wait point.
fn applies(
    finding: &Finding,
    id: u64,
    location: &SourceLocation,
    point: Option<&WaitPoint>,
) -> bool {
    finding.task_ids.contains(&id)
        || (finding.location == *location
            && finding.waiting_on.as_ref().is_none_or(|p| Some(p) == point))
}

fn field(name: &str) -> Span<'static> {
    Span::styled(format!("{name:<12} "), format::dim())
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, page: &TaskPage) {
    // Wrapped here, not by the paragraph, so that continuation lines keep their indentation.
    let lines = wrap::wrap(lines(app, page.id), usize::from(area.width));
    let max = u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_sub(area.height);
    frame.render_widget(Paragraph::new(lines).scroll((page.scroll.min(max), 0)), area);
}

/// How far the detail can scroll in `area`: its wrapped height less the visible rows.
pub(crate) fn scroll_max(app: &App, page: &TaskPage, area: Rect) -> u16 {
    let lines = wrap::wrap(lines(app, page.id), usize::from(area.width));
    u16::try_from(lines.len()).unwrap_or(u16::MAX).saturating_sub(area.height)
}

/// The detail's lines.
pub(crate) fn lines(app: &App, id: u64) -> Vec<Line<'static>> {
    let data = &app.data;
    let focus = data.focus.as_deref().filter(|f| f.task.as_ref().is_some_and(|t| t.id == id));
    let Some(focus) = focus else {
        return vec![
            Line::from(vec![Span::styled(format!(" Task {id} "), format::section())]),
            Line::from(Span::styled(" loading…", format::dim())),
        ];
    };
    let Some(task) = &focus.task else { return Vec::new() };
    let now = data.now_nanos;
    let ago = |at: u64| {
        if at == 0 {
            "never".to_owned()
        } else {
            format!("{} ago", format::secs(now.saturating_sub(at) as f64 / 1e9))
        }
    };
    let state = match TaskState::try_from(task.state) {
        _ if task.dropped_nanos != 0 => "finished".to_owned(),
        Ok(TaskState::Idle) => {
            format!("idle for {}", format::secs(names::idle_nanos(now, task) as f64 / 1e9))
        }
        Ok(TaskState::Running) => format!(
            "running for {}",
            format::secs(now.saturating_sub(task.last_poll_start_nanos) as f64 / 1e9)
        ),
        Ok(TaskState::Scheduled) => "scheduled".to_owned(),
        Ok(TaskState::Done) => "done".to_owned(),
        _ => "state unknown".to_owned(),
    };
    let kind = match TaskKind::try_from(task.kind) {
        Ok(TaskKind::Blocking) => "spawn_blocking",
        Ok(TaskKind::BlockOn) => "block_on",
        Ok(TaskKind::Local) => "spawn_local",
        _ => "spawn",
    };
    let mut lines = Vec::new();
    let mut title = vec![Span::styled(format!(" Task {id} "), format::section())];
    if !task.name.is_empty() {
        title.push(Span::styled(
            format!("\"{}\" ", task.name),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    title.push(Span::raw(state));
    lines.push(Line::from(title));
    lines.push(Line::from(vec![
        field(" spawned at"),
        Span::raw(format!("{} ({kind})", focus.location)),
    ]));
    let mean = task.busy_nanos.checked_div(task.polls).unwrap_or(0);
    lines.push(Line::from(vec![
        field(" polls"),
        Span::raw(format!(
            "{} · busy {} · mean {} · last poll {} · {}",
            format::count(task.polls),
            format::nanos(task.busy_nanos),
            format::nanos(mean),
            ago(task.last_poll_end_nanos),
            format::counted(task.long_polls, "long poll")
        )),
    ]));
    lines.push(Line::from(vec![
        field(" age"),
        Span::raw(format!(
            "{} · future {}",
            format::secs(now.saturating_sub(task.created_nanos) as f64 / 1e9),
            format::bytes(task.size_bytes)
        )),
    ]));
    lines.push(Line::from(vec![
        field(" wakes"),
        Span::raw(format!(
            "{} (self {}) · last wake {} · live wakers {}",
            format::count(task.wakes),
            format::count(task.self_wakes),
            ago(task.last_wake_nanos),
            format::signed_count(task.waker_count)
        )),
    ]));
    if task.waker_count == 0 && task.dropped_nanos == 0 {
        lines.push(Line::from(Span::styled(
            "              no live waker: nothing can wake this task again",
            Style::new().fg(Color::Red),
        )));
    }

    lines.push(Line::default());
    lines.push(Line::from(Span::styled(" Waiting on", format::section())));
    match &focus.wait {
        Some(wait) => {
            let source = match wait.source {
                WaitSource::Dump => "from the task dump",
                WaitSource::Capture => "captured at its waker registration",
                WaitSource::Wait => "from the agent's resource waits",
                WaitSource::Unknown => "not captured: it has not parked on a tokio leaf",
            };
            let mut text = format!("   {} ({source})", wait.point);
            if let Some(since) = wait.since_nanos() {
                text.push_str(&format!(
                    " for {}",
                    format::secs(now.saturating_sub(since) as f64 / 1e9)
                ));
            }
            lines.push(Line::from(Span::styled(text, Style::new().add_modifier(Modifier::BOLD))));
            if let Some(frame) = &wait.user_frame {
                lines.push(Line::from(format!("   at {frame}")));
            }
        }
        None => lines.push(Line::from("   nothing: the task has finished")),
    }
    for FocusWait { wait, resource, label } in &focus.waits {
        let location = resource
            .as_ref()
            .map(|r| data.strings.location(r.location_id).to_string())
            .unwrap_or_default();
        // No operation name on a oneshot or a timer: the label says it.
        let op = if wait.op.is_empty() { "waits" } else { wait.op.as_str() };
        let mut text = format!("   {op} on {label} {} ({location})", wait.resource_id);
        if let Some(holder) = resource.as_ref().map(|r| r.holder_task_id).filter(|h| *h != 0) {
            text.push_str(&format!(" held by task {holder}"));
        }
        lines.push(Line::from(text));
    }

    lines.push(Line::default());
    chain(&mut lines, app, focus, id);

    lines.push(Line::default());
    lines.push(Line::from(Span::styled(" Spawner and children", format::section())));
    match &focus.parent {
        Some((parent, location, ended)) => {
            let ended = match ended {
                Some(secs) => format!(", which finished {} ago", format::secs(*secs)),
                None => ", still alive".to_owned(),
            };
            lines.push(Line::from(format!("   spawned by task {parent} ({location}){ended}")));
        }
        None => lines.push(Line::from("   spawned outside any task")),
    }
    if let Some(span) = &task.spawner_span
        && span.span_id != 0
    {
        let state = if span.closed { "closed" } else { "open" };
        lines.push(Line::from(format!("   in span `{}` ({state})", span.name)));
    }
    let (children, first) = &focus.children;
    if *children == 0 {
        lines.push(Line::from("   no live children"));
    } else {
        let ids: Vec<String> = first.iter().map(u64::to_string).collect();
        let more = if *children > first.len() { ", …" } else { "" };
        lines.push(Line::from(format!(
            "   {}: {}{more}",
            format::counted(*children as u64, "live child"),
            ids.join(", ")
        )));
    }

    lines.push(Line::default());
    histogram(&mut lines, focus);

    lines.push(Line::default());
    lines.push(Line::from(Span::styled(" Findings", format::section())));
    let point = focus.wait.as_ref().map(|w| &w.point);
    let findings: Vec<&Finding> = data
        .report
        .as_ref()
        .map(|r| r.findings.iter().filter(|f| applies(f, id, &focus.location, point)).collect())
        .unwrap_or_default();
    if findings.is_empty() {
        let text =
            if data.report.is_some() { "   none" } else { "   waiting for the first analysis…" };
        lines.push(Line::from(text));
    }
    for finding in findings {
        crate::view::findings::describe(&mut lines, finding);
    }
    lines
}

/// The wait chain, root first, the app's frames bold: the await chains the agent captured when
/// the task parked, then the task's chain in the latest task dump, if one was taken.
fn chain(lines: &mut Vec<Line<'static>>, app: &App, focus: &Focus, id: u64) {
    let data = &app.data;
    if !focus.captured.is_empty() {
        lines.push(Line::from(vec![
            Span::styled(" Wait chain", format::section()),
            Span::styled(" (captured when it parked; no task dump needed)", format::dim()),
        ]));
        frames(lines, &focus.captured);
    }
    let Some(dump) = &data.dump else {
        if focus.captured.is_empty() {
            lines.push(Line::from(Span::styled(" Wait chain", format::section())));
            lines.push(Line::from(Span::styled(
                "   none captured: it has not parked on a tokio leaf (d takes a task dump, after \
                 a confirmation)",
                format::dim(),
            )));
        }
        return;
    };
    let age = format::secs(data.now_nanos.saturating_sub(dump.taken_at_nanos) as f64 / 1e9);
    let title = if focus.captured.is_empty() { " Wait chain" } else { " Wait chain in the dump" };
    lines.push(Line::from(vec![
        Span::styled(title, format::section()),
        Span::styled(
            format!(
                " (task dump {age} ago: {}, took {})",
                dump.status,
                format::nanos(dump.duration_nanos)
            ),
            format::dim(),
        ),
    ]));
    match dump.traces.get(&id) {
        Some(traces) => frames(lines, traces),
        None => lines.push(Line::from(Span::styled(
            "   not in the latest dump (spawned since, or it was running)",
            format::dim(),
        ))),
    }
}

/// Chains' frames, one line each, numbered by branch when there are several.
fn frames(lines: &mut Vec<Line<'static>>, traces: &[Backtrace]) {
    for (n, trace) in traces.iter().enumerate() {
        if traces.len() > 1 {
            lines.push(Line::from(format!("   branch {}", n + 1)));
        }
        // The scheduler's and the capture's own frames say nothing about the wait.
        let telling = trace.frames.iter().filter(|f| {
            let function = f.function.trim_start_matches('<');
            !(names::is_runtime_frame(function)
                || names::is_capture_frame(function)
                || function.starts_with("tracing::instrument::")
                || function.starts_with("tokio::loom::"))
        });
        for frame in telling {
            let style = if names::is_library(frame) {
                format::dim()
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            };
            let mut text = format!("   → {}", names::clean_function(&frame.function, &frame.file));
            if !frame.file.is_empty() {
                text.push_str(&format!(" at {}:{}", frame.file, frame.line));
            }
            lines.push(Line::from(Span::styled(text, style)));
        }
    }
}

fn histogram(lines: &mut Vec<Line<'static>>, focus: &Focus) {
    lines.push(Line::from(vec![
        Span::styled(" Poll times", format::section()),
        Span::styled(" (mean per update while watched; long polls exactly)", format::dim()),
    ]));
    let max = focus.poll_histogram.iter().copied().max().unwrap_or(0);
    if max == 0 {
        lines.push(Line::from("   no polls seen"));
    } else {
        let first = focus.poll_histogram.iter().position(|&n| n > 0).unwrap_or(0);
        let last = focus.poll_histogram.iter().rposition(|&n| n > 0).unwrap_or(0);
        for i in first..=last {
            let n = focus.poll_histogram[i];
            let bar = "█".repeat(((n * 30).div_ceil(max)) as usize);
            lines.push(Line::from(vec![
                Span::styled(format!("   {:>8} ", Focus::bucket_label(i)), format::dim()),
                Span::styled(bar, Style::new().fg(Color::Cyan)),
                Span::raw(format!(" {}", format::count(n))),
            ]));
        }
    }
    for poll in &focus.long_polls {
        lines.push(Line::from(Span::styled(
            format!("   long poll of {}", format::nanos(poll.duration_nanos)),
            Style::new().fg(Color::Yellow),
        )));
    }
}
