//! Wake accounting through the real agent: a task's self-wakes (counted by the polling thread and
//! published by the poll's exit) and wakes from other tasks add up in `Task.wakes`, and each
//! sets the task's last wake time.

#![cfg(tokio_unstable)]

use leakscope_proto::v1::agent_client::AgentClient;
use leakscope_proto::v1::{SnapshotRequest, Task, TaskState};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Wakes its own task by reference `left` times, returning `Pending` each time, then is ready.
struct SelfWakes {
    left: u32,
}

impl Future for SelfWakes {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn task_id<T>(handle: &tokio::task::JoinHandle<T>) -> u64 {
    handle.id().to_string().parse().unwrap()
}

#[test]
fn self_wakes_and_other_wakes_add_up() {
    const SELF_WAKES: u32 = 1_000;
    const ROUNDS: u64 = 5;
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let agent =
            leakscope::Builder::new().bind("127.0.0.1:0".parse().unwrap()).try_init().unwrap();

        // Wakes itself SELF_WAKES times, then parks on a notification that never comes.
        let never = Arc::new(tokio::sync::Notify::new());
        let self_waker = tokio::spawn({
            let never = Arc::clone(&never);
            async move {
                SelfWakes { left: SELF_WAKES }.await;
                never.notified().await;
            }
        });
        // Woken by this task ROUNDS times, each time only once the agent shows it parked in
        // `recv`, so that every message must wake it.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let woken = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let mut client =
            AgentClient::connect(format!("http://{}", agent.local_addr())).await.unwrap();
        let find = |tasks: &[Task], id: u64| tasks.iter().find(|t| t.id == id).cloned();
        for round in 1..=ROUNDS {
            // Parked after `round` polls: its first, and one per message so far.
            let mut parked = false;
            for _ in 0..1_500 {
                let snap =
                    client.get_snapshot(SnapshotRequest::default()).await.unwrap().into_inner();
                parked = find(&snap.tasks, task_id(&woken))
                    .is_some_and(|t| t.polls == round && t.state == TaskState::Idle as i32);
                if parked {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(parked, "the receiver never parked for round {round}");
            tx.send(()).await.unwrap();
        }
        let (ids, mut seen) = ((task_id(&self_waker), task_id(&woken)), (None, None));
        // Until the self-waker has parked on `never` (the poll after its last self-wake ended),
        // so that nothing is in flight when its counts are read; bounded at 30 s.
        let settled = |t: &Task| {
            t.self_wakes >= u64::from(SELF_WAKES)
                && t.polls > u64::from(SELF_WAKES)
                && t.state == TaskState::Idle as i32
        };
        for _ in 0..1_500 {
            let snap = client.get_snapshot(SnapshotRequest::default()).await.unwrap().into_inner();
            seen = (find(&snap.tasks, ids.0), find(&snap.tasks, ids.1));
            if seen.0.as_ref().is_some_and(settled) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (Some(selfish), Some(woken_task)) = seen else {
            panic!("both tasks are in the snapshot: {seen:?}");
        };
        assert_eq!(selfish.self_wakes, u64::from(SELF_WAKES), "{selfish:?}");
        assert_eq!(selfish.wakes, u64::from(SELF_WAKES), "self-wakes are wakes: {selfish:?}");
        assert!(selfish.polls > u64::from(SELF_WAKES), "{selfish:?}");
        assert!(
            selfish.last_wake_nanos > 0 && selfish.last_wake_nanos <= selfish.last_poll_end_nanos,
            "the last self-wake is timed by its poll's end: {selfish:?}"
        );
        assert_eq!(woken_task.self_wakes, 0, "{woken_task:?}");
        assert!(woken_task.wakes >= ROUNDS, "each message woke it: {woken_task:?}");
        assert!(woken_task.last_wake_nanos > 0, "{woken_task:?}");
        self_waker.abort();
        woken.abort();
    });
}
