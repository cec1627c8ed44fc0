//! `blocking`: polls that hold a runtime worker thread for at least the threshold (default
//! 10 ms), per spawn location. A blocked worker runs nothing else: every other task on it waits,
//! timers fire late, and on a `current_thread` runtime the whole app stalls.
//!
//! Evidence comes from three places: the agent's per-location long-poll statistics (since the
//! agent started), the recent individual long polls, and tasks caught RUNNING in one poll for at
//! least the threshold right now. A timed-out task dump is reported too: it means a worker did not
//! yield within the dump's timeout. Blocking tasks (`spawn_blocking`) are excluded: blocking is
//! what they are for.
//!
//! A location is blamed when its long polls recur (`min-polls` in the last minute, holding workers
//! for `min-percent` of it) or when one poll held a worker for [`SEVERE`] times the threshold. A
//! lone long poll is no bug on its own: a healthy accept loop's `accept` waits in the kernel for
//! an RCU grace period each time the descriptor table doubles, 10-20 ms a few times in a
//! server's life.

use std::collections::BTreeMap;

use leakscope_proto::v1::{DumpStatus, LocationPollStats, LongPoll, TaskKind, TaskState};

use crate::config::Config;
use crate::context::{Ctx, Tally, nanos};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::MAX_SAMPLE;
use crate::location::SourceLocation;
use crate::model::Model;

/// How far back recurring long polls are counted.
const RECENT_NANOS: u64 = 60_000_000_000;
/// The shortest span their share of time is taken over: an app's first seconds are not a
/// minute, but a single poll in its first second is no pattern either.
const MIN_SPAN_NANOS: u64 = 10_000_000_000;
/// One poll that held its worker this many times the threshold is blamed on its own.
pub(crate) const SEVERE: u64 = 10;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    let sources = model.sources();
    (!(sources.tasks || sources.long_polls)).then(|| {
        "needs per-task records or long-poll records, which this source does not provide".to_owned()
    })
}

#[derive(Default)]
struct PerLocation {
    long_polls: u64,
    total_nanos: u64,
    max_nanos: u64,
    from_stats: bool,
    /// Long polls over the threshold, preempted ones included; `total_nanos` is their time.
    all_polls: u64,
    /// Of those, the ones with the worker thread's times, and how they spent it.
    timed: u64,
    cpu_nanos: u64,
    runqueue_nanos: u64,
    /// Long only because the OS ran other work meanwhile: not counted in `long_polls`.
    preempted: u64,
    /// Tasks seen in long polls, the most recent first.
    tasks: Vec<u64>,
    /// Tasks running in one poll right now, with how long.
    running: Vec<(u64, u64)>,
    /// Long polls in the last minute that held their worker for the threshold (the running ones
    /// included), and for how long in all.
    recent_polls: u64,
    recent_held_nanos: u64,
    /// The longest time one poll held its worker, its wait for a CPU taken out.
    max_held_nanos: u64,
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let threshold = nanos(ctx.config.blocking.threshold);
    let sources = ctx.model.sources();
    let mut by_location: BTreeMap<u32, PerLocation> = BTreeMap::new();
    if sources.long_polls {
        // A location counts when one of its polls held the worker for the threshold, time spent
        // waiting for a CPU taken out (agents that do not measure it: the wall time).
        let held = |s: &LocationPollStats| {
            if s.max_held_nanos > 0 { s.max_held_nanos } else { s.max_poll_nanos }
        };
        for stats in ctx.model.poll_stats().filter(|s| s.long_polls > 0 && held(s) >= threshold) {
            let entry = by_location.entry(stats.location_id).or_default();
            entry.all_polls = stats.long_polls;
            entry.long_polls = stats.long_polls.saturating_sub(stats.preempted_polls);
            entry.total_nanos = stats.long_poll_nanos;
            entry.max_nanos = stats.max_poll_nanos;
            entry.from_stats = true;
            entry.timed = stats.timed_polls;
            entry.cpu_nanos = stats.cpu_nanos;
            entry.runqueue_nanos = stats.runqueue_nanos;
            entry.preempted = stats.preempted_polls;
            entry.max_held_nanos = held(stats);
        }
        for poll in ctx.model.long_polls().iter().filter(|p| p.duration_nanos >= threshold) {
            let preempted = preempted(poll, threshold);
            let entry = by_location.entry(poll.location_id).or_default();
            let ended = poll.start_nanos.saturating_add(poll.duration_nanos);
            if !preempted && ended.saturating_add(RECENT_NANOS) >= ctx.now {
                let held = if poll.thread_times {
                    poll.duration_nanos.saturating_sub(poll.runqueue_nanos)
                } else {
                    poll.duration_nanos
                };
                entry.recent_polls += 1;
                entry.recent_held_nanos += held;
                entry.max_held_nanos = entry.max_held_nanos.max(held);
            }
            if !entry.from_stats {
                entry.all_polls += 1;
                entry.total_nanos += poll.duration_nanos;
                if poll.thread_times {
                    entry.timed += 1;
                    entry.cpu_nanos += poll.cpu_nanos;
                    entry.runqueue_nanos += poll.runqueue_nanos;
                }
                if preempted {
                    entry.preempted += 1;
                    continue;
                }
                entry.long_polls += 1;
                entry.max_nanos = entry.max_nanos.max(poll.duration_nanos);
            }
            if !preempted && !entry.tasks.contains(&poll.task_id) {
                entry.tasks.push(poll.task_id);
            }
        }
    }
    for live in
        ctx.live.iter().filter(|l| l.state == TaskState::Running && l.kind != TaskKind::Blocking)
    {
        let running = ctx.now.saturating_sub(live.task.last_poll_start_nanos);
        if running >= threshold {
            let entry = by_location.entry(live.task.location_id).or_default();
            entry.running.push((live.task.id, running));
            entry.max_nanos = entry.max_nanos.max(running);
            entry.recent_polls += 1;
            entry.recent_held_nanos += running;
            entry.max_held_nanos = entry.max_held_nanos.max(running);
        }
    }
    let mut findings = Vec::new();
    for (location_id, found) in by_location {
        if found.long_polls == 0 && found.running.is_empty() {
            // Every long poll here was the OS running other work: nothing of the app's blocked.
            continue;
        }
        let Some(why) = blamed(&found, ctx, threshold) else {
            continue;
        };
        let location = ctx.model.location(location_id);
        let first_task = found.running.first().map(|r| r.0).or(found.tasks.first().copied());
        let name = first_task.and_then(|id| ctx.task_name(id));
        if ctx.config.is_suppressed(FindingKind::Blocking, location, name) {
            tally.suppressed += 1;
            continue;
        }
        tally.mark_location(location, FindingKind::Blocking);
        let mut evidence = vec![Evidence::note(why)];
        if found.long_polls > 0 {
            evidence.push(Evidence::note(format!(
                "{} {} of at least {}, {} in all, the longest {}{}",
                found.long_polls,
                if found.long_polls == 1 { "poll" } else { "polls" },
                format_secs(Ctx::secs(threshold)),
                format_secs(Ctx::secs(found.total_nanos)),
                format_secs(Ctx::secs(found.max_nanos.max(threshold))),
                if found.from_stats { " (since the agent started)" } else { " (recent)" },
            )));
        }
        if let Some(note) = how_spent(&found) {
            evidence.push(Evidence::note(note));
        }
        if found.preempted > 0 {
            evidence.push(Evidence::note(format!(
                "{} more {} over the threshold only because the OS ran other work on the worker's \
                 CPU meanwhile (time waiting for a CPU taken out): not counted",
                found.preempted,
                if found.preempted == 1 { "poll was" } else { "polls were" },
            )));
        }
        for (id, running) in &found.running {
            evidence.push(Evidence::note(format!(
                "task {id} has been in one poll for {} right now",
                format_secs(Ctx::secs(*running))
            )));
        }
        let mut task_ids: Vec<u64> = found.running.iter().map(|r| r.0).collect();
        task_ids.extend(
            found.tasks.iter().filter(|id| !task_ids.contains(id)).copied().collect::<Vec<_>>(),
        );
        task_ids.truncate(MAX_SAMPLE);
        let count = found.long_polls + found.running.len() as u64;
        findings.push(Finding {
            kind: FindingKind::Blocking,
            severity: Severity::Warn,
            location: location.clone(),
            task_name: name.map(str::to_owned),
            count,
            oldest_secs: Ctx::secs(found.max_nanos),
            waiting_on: None,
            user_frame: None,
            task_ids,
            evidence,
            explanation: format!(
                "Tasks spawned at {location} blocked a runtime worker thread{}: {} of at least {}, the longest {}. Nothing else runs on that worker meanwhile.",
                match cause(&found) {
                    Some(Cause::Cpu) => " computing (on a CPU)",
                    Some(Cause::Syscall) => " in blocking system calls (off the CPU)",
                    None => "",
                },
                if count == 1 { "1 poll".to_owned() } else { format!("{count} polls") },
                format_secs(Ctx::secs(threshold)),
                format_secs(Ctx::secs(found.max_nanos)),
            ),
            fix: "Move blocking work off the async workers: `tokio::task::spawn_blocking` for blocking calls (std I/O, DNS, compression, CPU-heavy loops) or `block_in_place`; use tokio's async file and network APIs; don't hold a `std::sync::Mutex` across contention; break long loops with `tokio::task::yield_now`.".to_owned(),
            doc: FindingKind::Blocking.doc(),
        });
    }
    if let Some((DumpStatus::TimedOut, message)) = ctx.model.dump_status() {
        let location = SourceLocation::unknown();
        if ctx.config.is_suppressed(FindingKind::Blocking, &location, None) {
            tally.suppressed += 1;
        } else {
            findings.push(Finding {
                kind: FindingKind::Blocking,
                severity: Severity::Warn,
                location,
                task_name: None,
                count: 1,
                oldest_secs: 0.0,
                waiting_on: None,
                user_frame: None,
                task_ids: Vec::new(),
                evidence: vec![Evidence::note(if message.is_empty() { "task dump timed out".to_owned() } else { message.to_owned() })],
                explanation: "The last task dump timed out: a runtime worker did not yield within the dump's timeout, so it is blocked or busy-looping.".to_owned(),
                fix: "Look at the tasks RUNNING right now and at long polls; move the blocking work to `spawn_blocking`.".to_owned(),
                doc: FindingKind::Blocking.doc(),
            });
        }
    }
    findings
}

/// Why the location is blamed, or `None` when its long polls are rare and short: they recur
/// (enough of them in the last minute, holding workers long enough), or one was severe.
fn blamed(found: &PerLocation, ctx: &Ctx<'_>, threshold: u64) -> Option<String> {
    let config = &ctx.config.blocking;
    let span = ctx.now.clamp(MIN_SPAN_NANOS, RECENT_NANOS);
    let percent = found.recent_held_nanos as f64 * 100.0 / span as f64;
    if found.recent_polls >= config.min_polls.max(1) && percent >= config.min_percent {
        return Some(format!(
            "recurring: {} long polls in the last {} held workers for {} in all ({percent:.1}% of \
             one worker's time)",
            found.recent_polls,
            format_secs(Ctx::secs(span)),
            format_secs(Ctx::secs(found.recent_held_nanos)),
        ));
    }
    let severe = threshold.saturating_mul(SEVERE);
    (found.max_held_nanos >= severe).then(|| {
        format!(
            "severe: one poll held its worker for {}, at least {SEVERE} times the threshold",
            format_secs(Ctx::secs(found.max_held_nanos)),
        )
    })
}

/// A long poll that held its worker for less than `threshold` once the time it waited for a CPU
/// is taken out: the machine was busy, the code did not block.
fn preempted(poll: &LongPoll, threshold: u64) -> bool {
    poll.thread_times && poll.duration_nanos.saturating_sub(poll.runqueue_nanos) < threshold
}

/// What held the worker in the timed long polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// On a CPU: a busy loop, compression, parsing, hashing.
    Cpu,
    /// Off the CPU, not waiting for one: a blocking system call (sleep, file or network I/O,
    /// a `std` lock, DNS).
    Syscall,
}

/// The timed polls' time neither on a CPU nor waiting for one (their time taken as their share
/// of all long polls' time).
fn off_cpu(found: &PerLocation) -> u64 {
    let timed_total = (u128::from(found.total_nanos) * u128::from(found.timed))
        .checked_div(u128::from(found.all_polls))
        .map_or(0, |t| t as u64);
    timed_total.saturating_sub(found.cpu_nanos + found.runqueue_nanos)
}

fn cause(found: &PerLocation) -> Option<Cause> {
    // Nothing timed among the polls blamed: no claim about the cause.
    if found.timed <= found.preempted {
        return None;
    }
    Some(if found.cpu_nanos >= off_cpu(found) { Cause::Cpu } else { Cause::Syscall })
}

/// One line on how the timed long polls spent their time, from the worker threads' counters.
fn how_spent(found: &PerLocation) -> Option<String> {
    cause(found)?;
    Some(format!(
        "measured on the worker threads over {} timed long {}: {} on a CPU (code running), {} \
         off the CPU (blocking system calls: sleep, file or network I/O, a std lock), {} waiting \
         for a CPU",
        found.timed,
        if found.timed == 1 { "poll" } else { "polls" },
        format_secs(Ctx::secs(found.cpu_nanos)),
        format_secs(Ctx::secs(off_cpu(found))),
        format_secs(Ctx::secs(found.runqueue_nanos)),
    ))
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{
        DumpStatus, LocationPollStats, LongPoll, Task, TaskDumpResponse, TaskKind,
    };

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::support::{T, findings_of, model, nanos, snapshot};

    /// Observed at t = 100 s.
    fn check(
        tasks: Vec<Task>,
        stats: Vec<LocationPollStats>,
        polls: Vec<LongPoll>,
        expected: &[&str],
    ) {
        let mut snap = snapshot(100.0, tasks);
        snap.poll_stats = stats;
        snap.long_polls = polls;
        assert_eq!(findings_of(FindingKind::Blocking, &model(snap), &Config::default()), expected);
    }

    fn stats(location_id: u32, long_polls: u64, max_ms: f64) -> LocationPollStats {
        LocationPollStats {
            location_id,
            long_polls,
            long_poll_nanos: long_polls * nanos(max_ms / 1e3),
            max_poll_nanos: nanos(max_ms / 1e3),
            ..LocationPollStats::default()
        }
    }

    fn poll(task_id: u64, location_id: u32, ms: f64) -> LongPoll {
        LongPoll {
            task_id,
            location_id,
            start_nanos: nanos(90.0),
            duration_nanos: nanos(ms / 1e3),
            ..LongPoll::default()
        }
    }

    /// A poll of `ms` with the worker thread's times: `cpu_ms` on a CPU, `queued_ms` waiting
    /// for one.
    fn timed(task_id: u64, ms: f64, cpu_ms: f64, queued_ms: f64) -> LongPoll {
        LongPoll {
            thread_times: true,
            cpu_nanos: nanos(cpu_ms / 1e3),
            runqueue_nanos: nanos(queued_ms / 1e3),
            ..poll(task_id, 1, ms)
        }
    }

    fn explanation(polls: Vec<LongPoll>) -> Vec<String> {
        let mut snap = snapshot(100.0, vec![]);
        snap.long_polls = polls;
        let model = model(snap);
        crate::analyze(&model, &Config::default())
            .findings
            .into_iter()
            .filter(|f| f.kind == FindingKind::Blocking)
            .map(|f| {
                let notes: Vec<String> = f.evidence.iter().map(|e| e.to_string()).collect();
                format!("{} | {}", f.explanation, notes.join(" | "))
            })
            .collect()
    }

    /// `n` polls of `ms` at location 1 by tasks 4 and 5 in turn, each `cpu_ms` on a CPU and
    /// `queued_ms` waiting for one.
    fn timed_n(n: u64, ms: f64, cpu_ms: f64, queued_ms: f64) -> Vec<LongPoll> {
        (0..n).map(|i| timed(4 + i % 2, ms, cpu_ms, queued_ms)).collect()
    }

    #[test]
    fn preemption_is_not_blocking() {
        // 150 ms of wall time, 145 of them waiting for a CPU another process had: not blamed.
        check(vec![], vec![], vec![timed(4, 150.0, 3.0, 145.0)], &[]);
        // Stats that say every long poll was preempted: nothing either.
        let all_preempted = LocationPollStats {
            timed_polls: 5,
            preempted_polls: 5,
            cpu_nanos: nanos(0.01),
            runqueue_nanos: nanos(0.05),
            ..stats(1, 5, 140.0)
        };
        check(vec![], vec![all_preempted], vec![], &[]);
        // Over the analysis's threshold only with the wait for a CPU counted: a 450 ms poll that
        // waited 300 ms for a CPU beside a 12 ms one, judged at 400 ms, is nothing.
        let held_under = LocationPollStats {
            timed_polls: 2,
            preempted_polls: 0,
            max_held_nanos: nanos(0.15),
            ..stats(1, 2, 450.0)
        };
        let forty = Config {
            blocking: crate::config::BlockingConfig {
                threshold: std::time::Duration::from_millis(400),
                ..Default::default()
            },
            ..Config::default()
        };
        let mut snap = snapshot(100.0, vec![]);
        snap.poll_stats = vec![held_under];
        assert!(findings_of(FindingKind::Blocking, &model(snap), &forty).is_empty());
        // 30 ms with 12 waiting still held the worker 18 ms: forty of them in a minute are
        // blamed, the preempted one not.
        let mut polls = timed_n(40, 30.0, 18.0, 12.0);
        polls.push(timed(9, 15.0, 2.0, 13.0));
        check(vec![], vec![], polls, &["warn blocking src/l1.rs:10:5 ×40 30ms - [4, 5]"]);
    }

    #[test]
    fn the_finding_says_whether_the_code_computed_or_waited_in_a_system_call() {
        let [computed] = explanation(timed_n(20, 40.0, 38.0, 1.0)).try_into().unwrap();
        assert!(
            computed.contains("blocked a runtime worker thread computing (on a CPU)"),
            "{computed}"
        );
        assert!(computed.contains("20 timed long polls: 760ms on a CPU"), "{computed}");
        assert!(computed.contains("recurring: 20 long polls in the last 1m00s"), "{computed}");
        let mut slept = timed_n(20, 40.0, 0.5, 0.5);
        slept.push(timed(6, 15.0, 1.0, 13.0));
        let [slept] = explanation(slept).try_into().unwrap();
        assert!(slept.contains("in blocking system calls (off the CPU)"), "{slept}");
        assert!(slept.contains("1 more poll was over the threshold only because"), "{slept}");
        // Without thread times, nothing is claimed about the cause.
        let [plain] = explanation(vec![poll(4, 1, 400.0)]).try_into().unwrap();
        assert!(plain.contains("blocked a runtime worker thread: 1 poll"), "{plain}");
        assert!(plain.contains("severe: one poll held its worker for 400ms"), "{plain}");
    }

    #[test]
    fn long_polls_and_running_tasks() {
        // One poll of 230 ms since the agent started: severe on its own.
        check(
            vec![],
            vec![stats(1, 12, 230.0)],
            vec![poll(4, 1, 230.0)],
            &["warn blocking src/l1.rs:10:5 ×12 230ms - [4]"],
        );
        // Without statistics, the recent polls are counted.
        let recurring: Vec<LongPoll> = (0..30).map(|i| poll(4 + i % 2, 2, 40.0)).collect();
        check(vec![], vec![], recurring, &["warn blocking src/l2.rs:20:5 ×30 40ms - [4, 5]"]);
        // A task caught in one poll for 2.5 s right now.
        check(
            vec![T::new(3).running(97.5).build()],
            vec![],
            vec![],
            &["warn blocking src/l1.rs:10:5 ×1 2.5s - [3]"],
        );
    }

    #[test]
    fn near_misses() {
        // Polls under the threshold (the agent's threshold may be lower than ours).
        check(vec![], vec![stats(1, 3, 8.0)], vec![poll(4, 1, 8.0)], &[]);
        // Running for 5 ms.
        check(vec![T::new(3).running(99.995).build()], vec![], vec![], &[]);
        // spawn_blocking tasks block by design.
        check(vec![T::new(3).kind(TaskKind::Blocking).running(10.0).build()], vec![], vec![], &[]);
        // Idle tasks are not running.
        check(vec![T::new(3).idle(10.0).build()], vec![], vec![], &[]);
    }

    #[test]
    fn rare_short_long_polls_are_nobodys_bug() {
        // An accept loop whose `accept` waited 13 ms, off the CPU, for the kernel to grow the
        // descriptor table: once, or three times in a minute, is no pattern.
        check(vec![], vec![stats(1, 1, 13.0)], vec![timed(4, 13.0, 0.0, 0.0)], &[]);
        check(vec![], vec![stats(1, 3, 13.0)], timed_n(3, 13.0, 0.0, 0.0), &[]);
        // Two polls of 90 ms in a minute: under three polls, and 180 ms is under 1% of it.
        check(vec![], vec![], timed_n(2, 90.0, 1.0, 0.0), &[]);
        // Many long polls that ended over a minute ago: not recent, not blamed.
        let old: Vec<LongPoll> = (0..30)
            .map(|i| LongPoll { start_nanos: nanos(30.0), ..timed(4 + i % 2, 40.0, 1.0, 0.0) })
            .collect();
        check(vec![], vec![], old, &[]);
        // The same in a young app, 5 s old: the share is taken over at least 10 s.
        let mut young = snapshot(5.0, vec![]);
        young.long_polls = vec![LongPoll { start_nanos: nanos(4.0), ..timed(4, 13.0, 0.0, 0.0) }];
        assert!(findings_of(FindingKind::Blocking, &model(young), &Config::default()).is_empty());
        // Recurring by count and time with `min-polls = 1, min-percent = 0.01`: blamed.
        let eager = Config {
            blocking: crate::config::BlockingConfig {
                min_polls: 1,
                min_percent: 0.01,
                ..Default::default()
            },
            ..Config::default()
        };
        let mut snap = snapshot(100.0, vec![]);
        snap.long_polls = vec![timed(4, 13.0, 0.0, 0.0)];
        assert_eq!(findings_of(FindingKind::Blocking, &model(snap), &eager).len(), 1);
    }

    #[test]
    fn a_timed_out_dump_means_a_blocked_worker() {
        let mut m = model(snapshot(100.0, vec![]));
        m.apply_dump(TaskDumpResponse {
            status: DumpStatus::TimedOut as i32,
            message: "worker 1 did not yield in 2000 ms".into(),
            ..TaskDumpResponse::default()
        });
        assert_eq!(
            findings_of(FindingKind::Blocking, &m, &Config::default()),
            ["warn blocking <unknown> ×1 0s - []"]
        );
    }
}
