//! For every zoo scenario, the agent's raw data shows the expected state at the expected source
//! line (found by the zoo's `// zoo:*` markers), and `clean` shows none of it.

use crate::support::{Zoo, is_at, live_at, marker, markers, secs};
use leakscope_proto::v1::{DumpStatus, Snapshot, Task, TaskState, TaskTrace};
use std::collections::HashSet;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

fn idle(t: &Task) -> bool {
    t.state == TaskState::Idle as i32
}

/// Functions of a dump trace's backtraces, root first, joined for searching.
fn chain(trace: &TaskTrace) -> String {
    trace
        .backtraces
        .iter()
        .map(|bt| {
            bt.frames
                .iter()
                .map(|f| format!("{}@{}:{}", f.function, f.file, f.line))
                .collect::<Vec<_>>()
                .join(" > ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Takes a dump and returns the chains of the live tasks spawned at `at`.
async fn chains_at(zoo: &Zoo, at: &(String, u32)) -> Vec<String> {
    let snapshot = zoo.snapshot().await;
    let ids: HashSet<u64> = live_at(&snapshot, at).iter().map(|t| t.id).collect();
    let dump = zoo.dump().await;
    assert_eq!(dump.status, DumpStatus::Ok as i32, "{}", dump.message);
    dump.traces.iter().filter(|t| ids.contains(&t.task_id)).map(chain).collect()
}

#[tokio::test]
async fn hello_reports_full_capabilities_for_the_zoo() {
    let zoo = Zoo::start("clean", 5);
    let hello = zoo.hello().await;
    assert_eq!(hello.protocol_version, leakscope_proto::v1::PROTOCOL_VERSION);
    let caps = hello.capabilities.expect("capabilities");
    assert!(caps.tasks && caps.resources && caps.task_dump && caps.runtime_metrics, "{caps:?}");
    assert!(hello.missing.is_empty(), "{:?}", hello.missing);
}

#[tokio::test]
async fn unbounded_spawn_grows_at_its_spawn_line() {
    let zoo = Zoo::start("unbounded-spawn", 50);
    let at = marker("spawn", "unbounded-spawn");
    let first = zoo.until(WITHIN, |s| {
        let n = live_at(s, &at).len();
        if n >= 20 { Ok(n) } else { Err(format!("{n} live tasks at {at:?}")) }
    });
    let first = first.await;
    zoo.until(WITHIN, |s| {
        let n = live_at(s, &at).len();
        if n >= first + 50 { Ok(()) } else { Err(format!("{n} live, was {first}")) }
    })
    .await;
    // They are parked in a timer, and the agent says so.
    let snapshot = zoo.snapshot().await;
    let ids: HashSet<u64> = live_at(&snapshot, &at).iter().map(|t| t.id).collect();
    let timer_waits = snapshot
        .waits
        .iter()
        .filter(|w| ids.contains(&w.task_id))
        .filter(|w| snapshot.resources.iter().any(|r| r.id == w.resource_id && r.kind == 6))
        .count();
    assert!(timer_waits >= ids.len() / 2, "{timer_waits} of {} wait on a timer", ids.len());
}

#[tokio::test]
async fn send_blocked_tasks_idle_in_sender_send() {
    let zoo = Zoo::start("send-blocked", 30);
    let at = marker("spawn", "send-blocked");
    zoo.until(WITHIN, |s| {
        let stuck: Vec<_> = live_at(s, &at).into_iter().filter(|t| idle(t)).collect();
        if stuck.len() >= 10 { Ok(()) } else { Err(format!("{} idle producers", stuck.len())) }
    })
    .await;
    let snapshot = zoo.snapshot().await;
    for task in live_at(&snapshot, &at).iter().filter(|t| idle(t)) {
        assert!(task.waker_count >= 1, "the channel holds a waker: {task:?}");
    }
    // tokio instruments a bounded channel's inner semaphore: the wait is visible without a dump.
    let ids: HashSet<u64> = live_at(&snapshot, &at).iter().map(|t| t.id).collect();
    assert!(
        snapshot.waits.iter().any(|w| ids.contains(&w.task_id) && w.op == "Acquire::new"),
        "{:?}",
        snapshot.waits
    );
    // A bounded `Sender::send` waits for a permit of the channel's semaphore: on a release build,
    // where the send itself is inlined away, that permit wait is the leaf the dump keeps.
    let chains = chains_at(&zoo, &at).await;
    assert!(!chains.is_empty());
    let in_send = chains
        .iter()
        .filter(|c| c.contains("Sender") && c.contains("send") || c.contains("batch_semaphore"))
        .count();
    assert!(in_send * 10 >= chains.len() * 9, "not in Sender::send: {chains:#?}");
    assert!(
        !snapshot.waits.iter().any(|w| ids.contains(&w.task_id) && w.op == "Mutex::lock"),
        "a semaphore wait, not a lock"
    );
}

#[tokio::test]
async fn recv_never_closed_tasks_idle_in_receiver_recv() {
    let zoo = Zoo::start("recv-never-closed", 30);
    let at = marker("spawn", "recv-never-closed");
    zoo.until(WITHIN, |s| {
        let n = live_at(s, &at).into_iter().filter(|t| idle(t)).count();
        if n >= 10 { Ok(()) } else { Err(format!("{n} idle consumers")) }
    })
    .await;
    let chains = chains_at(&zoo, &at).await;
    assert!(!chains.is_empty());
    let in_recv = chains.iter().filter(|c| c.contains("recv")).count();
    assert!(in_recv * 10 >= chains.len() * 9, "not in Receiver::recv: {chains:#?}");
}

#[tokio::test]
async fn no_timeout_upstream_workers_idle_reading_a_socket() {
    let zoo = Zoo::start("no-timeout-upstream", 20);
    let at = marker("spawn", "no-timeout-upstream");
    zoo.until(WITHIN, |s| {
        let n = live_at(s, &at).into_iter().filter(|t| idle(t) && t.waker_count >= 1).count();
        if n >= 10 { Ok(()) } else { Err(format!("{n} idle workers")) }
    })
    .await;
    let chains = chains_at(&zoo, &at).await;
    assert!(!chains.is_empty());
    let reading = chains.iter().filter(|c| c.contains("read") && c.contains("tokio::")).count();
    assert!(reading * 10 >= chains.len() * 9, "not reading a socket: {chains:#?}");
}

#[tokio::test]
async fn missing_cancellation_tickers_outlive_their_request() {
    let zoo = Zoo::start("missing-cancellation", 30);
    let at = marker("spawn", "missing-cancellation");
    let orphans = zoo.until(WITHIN, |s: &Snapshot| {
        let live: HashSet<u64> =
            s.tasks.iter().filter(|t| t.dropped_nanos == 0).map(|t| t.id).collect();
        let orphans = live_at(s, &at)
            .into_iter()
            .filter(|t| {
                let span_closed = t.spawner_span.as_ref().is_some_and(|sp| sp.closed);
                let parent_gone = t.parent_task_id != 0 && !live.contains(&t.parent_task_id);
                span_closed
                    && parent_gone
                    && s.now_nanos.saturating_sub(t.created_nanos) > 500_000_000
            })
            .count();
        if orphans >= 10 { Ok(orphans) } else { Err(format!("{orphans} orphaned tickers")) }
    });
    assert!(orphans.await >= 10);
    let snapshot = zoo.snapshot().await;
    let ticker = live_at(&snapshot, &at).into_iter().find(|t| t.polls > 3).expect("a ticking task");
    assert_eq!(ticker.spawner_span.as_ref().unwrap().name, "request");
    assert!(ticker.wakes >= 3, "it keeps ticking: {ticker:?}");
}

#[tokio::test]
async fn lost_waker_tasks_have_no_live_waker() {
    let zoo = Zoo::start("lost-waker", 20);
    let at = marker("spawn", "lost-waker");
    zoo.until(WITHIN, |s| {
        let lost: Vec<_> = live_at(s, &at)
            .into_iter()
            .filter(|t| idle(t) && t.waker_count == 0 && t.polls >= 1)
            .collect();
        if lost.len() >= 10 { Ok(()) } else { Err(format!("{} lost", lost.len())) }
    })
    .await;
}

#[tokio::test]
async fn lock_held_across_await_queues_waiters_behind_a_holder() {
    let zoo = Zoo::start("lock-held-across-await", 20);
    let at = marker("spawn", "lock-held-across-await");
    zoo.until(WITHIN, |s| {
        let mutex = s
            .resources
            .iter()
            .find(|r| r.concrete_type == "Mutex" && r.locked && r.holder_task_id != 0)
            .ok_or("no held mutex")?;
        let holder =
            s.tasks.iter().find(|t| t.id == mutex.holder_task_id).ok_or("no holder task")?;
        if !is_at(s, holder.location_id, &at) {
            return Err(format!("holder spawned elsewhere: {holder:?}"));
        }
        let waiters: Vec<_> = s.waits.iter().filter(|w| w.resource_id == mutex.id).collect();
        if waiters.len() < 5 {
            return Err(format!("{} waiters", waiters.len()));
        }
        if !waiters.iter().all(|w| w.op == "Mutex::lock") {
            return Err(format!("{waiters:?}"));
        }
        let oldest =
            waiters.iter().map(|w| s.now_nanos.saturating_sub(w.since_nanos)).max().unwrap_or(0);
        if oldest < 500_000_000 {
            return Err(format!("oldest wait {:.2}s", secs(oldest)));
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn blocking_in_async_records_long_polls_at_its_task() {
    let zoo = Zoo::start("blocking-in-async", 10);
    let at = marker("spawn", "blocking-in-async");
    zoo.until(WITHIN, |s| {
        let long: Vec<_> = s.long_polls.iter().filter(|p| is_at(s, p.location_id, &at)).collect();
        if long.len() < 5 {
            return Err(format!("{} long polls at {at:?}", long.len()));
        }
        if long.iter().any(|p| p.duration_nanos < 40_000_000) {
            return Err(format!("a long poll under the 50 ms sleep: {long:?}"));
        }
        let stats = s.poll_stats.iter().find(|p| is_at(s, p.location_id, &at)).ok_or("no stats")?;
        if stats.long_polls < 5 {
            return Err(format!("{stats:?}"));
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn deadlock_shows_two_tasks_waiting_on_each_others_lock() {
    let zoo = Zoo::start("deadlock", 10);
    let spawn_lines = markers("spawn", "deadlock");
    zoo.until(WITHIN, |s| {
        let holder_of = |resource: u64| {
            s.resources.iter().find(|r| r.id == resource).map(|r| r.holder_task_id).unwrap_or(0)
        };
        let waits_on: Vec<(u64, u64)> = s
            .waits
            .iter()
            .filter(|w| w.op == "Mutex::lock")
            .map(|w| (w.task_id, holder_of(w.resource_id)))
            .filter(|(_, holder)| *holder != 0)
            .collect();
        let cycle = waits_on.iter().find(|(a, b)| waits_on.contains(&(*b, *a)));
        let Some((a, _)) = cycle else { return Err(format!("no cycle in {waits_on:?}")) };
        let task = s.tasks.iter().find(|t| t.id == *a).ok_or("cycle task not listed")?;
        if !spawn_lines.iter().any(|at| is_at(s, task.location_id, at)) {
            return Err(format!("cycle task spawned elsewhere: {task:?}"));
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn clean_shows_none_of_it() {
    let zoo = Zoo::start("clean", 40);
    // Let it serve for a while, sampling the live count as it goes.
    let mut counts = Vec::new();
    for _ in 0..8 {
        let snapshot = zoo.snapshot().await;
        counts.push(snapshot.tasks.iter().filter(|t| t.dropped_nanos == 0).count());
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
    let s = zoo.snapshot().await;
    let live: Vec<&Task> = s.tasks.iter().filter(|t| t.dropped_nanos == 0).collect();
    assert!(s.tasks.iter().any(|t| t.dropped_nanos != 0), "clean serves and finishes requests");
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 40, "live tasks should stay flat under steady load: {counts:?}");
    assert!(s.long_polls.is_empty(), "no blocking: {:?}", s.long_polls);
    for t in &live {
        let age = s.now_nanos.saturating_sub(t.created_nanos);
        assert!(
            !(idle(t) && t.waker_count == 0 && t.polls >= 1 && age > 1_000_000_000),
            "a task no waker can reach: {t:?}"
        );
        let idle_for = s.now_nanos.saturating_sub(t.last_poll_end_nanos.max(t.created_nanos));
        assert!(!(idle(t) && idle_for > 5_000_000_000), "idle over 5 s: {t:?}");
    }
    let held: HashSet<u64> = s.resources.iter().map(|r| r.holder_task_id).collect();
    for w in &s.waits {
        assert!(
            s.now_nanos.saturating_sub(w.since_nanos) < 5_000_000_000 || !held.contains(&w.task_id),
            "a long wait by a lock holder: {w:?}"
        );
    }
    let stats = s.stats.expect("stats");
    assert_eq!(stats.spans_dropped_total, 0);
}
