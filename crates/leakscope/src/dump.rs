//! Task dumps: each task's await chain down to the tokio leaf it is parked in. Opt-in only.
//!
//! No command, endpoint or key of leakscope takes one unless the user asks (`--task-dump`, the
//! UI's `d` after a confirmation): a dump stops every worker while it runs (0.6 s to 1.6 s at
//! 100k tasks), re-polls every task (a task whose waker was lost can complete, and the evidence
//! with it), and can wedge a busy multi-thread runtime for good (tokio-rs/tokio#7478: `steal_all`
//! spins once the workers' local queues are long; #8391 and #6343 are other open failures). Wait
//! points come from the agent's capture (`crate::capture`) instead. When asked, the agent refuses
//! (`DUMP_STATUS_REFUSED`) while a runtime's heartbeat is late or its run queues are long; the
//! queue check races with the dump's start, which is why the dump stays opt-in.
//!
//! tokio's `Handle::dump` re-polls every task in a tracing mode and cannot finish while a worker
//! thread is blocked, so it always runs under a timeout and a blocked runtime comes back as
//! `DUMP_STATUS_TIMED_OUT`, never as a hang. At most one dump is in flight: one stuck behind a
//! blocked worker keeps running in the background (tokio would queue the next one behind it
//! anyway), and later requests are answered at once until it finishes.

use std::time::Duration;

/// Default timeout when the request leaves it at 0.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

#[cfg(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "s390x"
    )
))]
pub(crate) const SUPPORTED: bool = true;
#[cfg(not(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "s390x"
    )
)))]
pub(crate) const SUPPORTED: bool = false;

#[cfg(not(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "s390x"
    )
)))]
pub(crate) async fn take(_timeout: Duration) -> leakscope_proto::v1::TaskDumpResponse {
    use leakscope_proto::v1::{DumpStatus, TaskDumpResponse};
    TaskDumpResponse {
        status: DumpStatus::Unsupported as i32,
        message: "task dumps need the app built with --cfg tokio_unstable, on Linux \
                  (x86, x86_64, aarch64, s390x)"
            .into(),
        ..TaskDumpResponse::default()
    }
}

/// Without dump support the in-process leak check names wait points from resources only.
#[cfg(not(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "s390x"
    )
)))]
#[cfg_attr(
    not(feature = "testing"),
    expect(dead_code, reason = "only the `testing` check takes it")
)]
pub(crate) async fn of_current(
    _timeout: Duration,
) -> Option<leakscope_proto::v1::TaskDumpResponse> {
    None
}

#[cfg(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "s390x"
    )
))]
#[cfg_attr(
    not(feature = "testing"),
    expect(unused_imports, reason = "only the `testing` check takes `of_current`")
)]
pub(crate) use imp::{of_current, take};

#[cfg(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "s390x"
    )
))]
mod imp {
    use crate::clock;
    use crate::registry::DumpRunning;
    use leakscope_analysis::names::{is_capture_frame, qualify_inlined, strip_hash};
    use leakscope_proto::v1::{Backtrace, DumpStatus, Frame, TaskDumpResponse, TaskTrace};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tokio::runtime::{Dump, Handle, RuntimeFlavor};

    static IN_FLIGHT: AtomicBool = AtomicBool::new(false);

    /// Clears [`IN_FLIGHT`] when the background dump ends, however it ends.
    struct InFlight;

    impl Drop for InFlight {
        fn drop(&mut self) {
            IN_FLIGHT.store(false, Ordering::Release);
        }
    }

    pub(crate) async fn take(timeout: Duration) -> TaskDumpResponse {
        let Some((runtime_id, handle)) = crate::runtime::runtimes().into_iter().next() else {
            return status(DumpStatus::NoRuntime, "no tokio runtime is registered with the agent");
        };
        if crate::runtime::any_stalled() {
            return status(
                DumpStatus::Refused,
                "not attempted: a runtime is stalled (its heartbeat is late); a dump would wait \
                 on the same blocked worker, or wedge the runtime for good",
            );
        }
        if IN_FLIGHT.swap(true, Ordering::AcqRel) {
            return status(
                DumpStatus::TimedOut,
                "an earlier dump is still waiting: a runtime worker is blocked or busy-looping",
            );
        }
        // Created before the spawn so that a future dropped unpolled (a runtime shutting down) still
        // clears the flag.
        let guard = InFlight;
        let started = clock::now();
        let (tx, rx) = tokio::sync::oneshot::channel::<(Dump, Option<u64>)>();
        match handle.runtime_flavor() {
            RuntimeFlavor::CurrentThread => {
                // A current-thread runtime can only be dumped from inside itself. The task is
                // spawned from the agent thread, so the agent does not record it, and it is left
                // out of the dump by id.
                let (id_tx, id_rx) = tokio::sync::oneshot::channel::<u64>();
                let join = handle.spawn(async move {
                    let guard = guard;
                    let own_id = id_rx.await.ok();
                    let running = DumpRunning::start();
                    let dump = Handle::current().dump().await;
                    drop(running);
                    let _ = tx.send((dump, own_id));
                    drop(guard);
                });
                let _ = id_tx.send(task_id(&join.id()));
            }
            _ => {
                if let Err(queued) = wait_for_short_queues(&handle, timeout).await {
                    return status(
                        DumpStatus::Refused,
                        &format!(
                            "not attempted: {queued} tasks sit in the workers' run queues; tokio's \
                             dump can spin forever above {UNSAFE_QUEUED} (tokio-rs/tokio#7478)"
                        ),
                    );
                }
                tokio::spawn(async move {
                    let guard = guard;
                    let running = DumpRunning::start();
                    let dump = handle.dump().await;
                    drop(running);
                    let _ = tx.send((dump, None));
                    drop(guard);
                });
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok((dump, own_id))) => TaskDumpResponse {
                status: DumpStatus::Ok as i32,
                message: String::new(),
                taken_at_nanos: started,
                duration_nanos: clock::now().saturating_sub(started),
                traces: traces(&dump, own_id),
                runtime_id,
            },
            Ok(Err(_)) => status(DumpStatus::NoRuntime, "the runtime shut down during the dump"),
            Err(_) => TaskDumpResponse {
                status: DumpStatus::TimedOut as i32,
                message: format!(
                    "no dump within {} ms: a runtime worker is blocked (a long synchronous call or \
                     busy loop in async code)",
                    timeout.as_millis()
                ),
                taken_at_nanos: started,
                duration_nanos: clock::now().saturating_sub(started),
                traces: Vec::new(),
                runtime_id,
            },
        }
    }

    /// A dump of the runtime the caller runs in (from its `block_on` or one of its tasks), for
    /// the in-process leak check; `None` when it does not finish within `timeout`.
    #[cfg_attr(
        not(feature = "testing"),
        expect(dead_code, reason = "only the `testing` check takes it")
    )]
    pub(crate) async fn of_current(timeout: Duration) -> Option<TaskDumpResponse> {
        let started = clock::now();
        let running = DumpRunning::start();
        let dump = tokio::time::timeout(timeout, Handle::current().dump()).await.ok();
        drop(running);
        let dump = dump?;
        Some(TaskDumpResponse {
            status: DumpStatus::Ok as i32,
            message: String::new(),
            taken_at_nanos: started,
            duration_nanos: clock::now().saturating_sub(started),
            traces: traces(&dump, None),
            runtime_id: 0,
        })
    }

    /// tokio's multi-thread dump first steals every worker's run queue into one local queue,
    /// and loops until the workers' queues are empty; once that queue is half full (128 tasks)
    /// stealing stops succeeding and the loop spins forever, wedging the app's workers for good
    /// (tokio-rs/tokio#7478, seen here with `unbounded-spawn` under load). The agent only asks for
    /// a dump while the queues hold far fewer tasks than that.
    const UNSAFE_QUEUED: usize = 128;
    const SAFE_QUEUED: usize = 32;

    /// Waits (polling, within `timeout`) until the workers' local run queues are short enough
    /// for a dump to be safe; `Err` with the queued count when they do not get there.
    async fn wait_for_short_queues(handle: &Handle, timeout: Duration) -> Result<(), usize> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let metrics = handle.metrics();
            let queued: usize =
                (0..metrics.num_workers()).map(|w| metrics.worker_local_queue_depth(w)).sum();
            if queued <= SAFE_QUEUED {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(queued);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn status(status: DumpStatus, message: &str) -> TaskDumpResponse {
        TaskDumpResponse {
            status: status as i32,
            message: message.into(),
            ..TaskDumpResponse::default()
        }
    }

    fn task_id(id: &tokio::task::Id) -> u64 {
        // tokio offers no public accessor; its Display is the number.
        id.to_string().parse().unwrap_or(0)
    }

    fn traces(dump: &Dump, own_id: Option<u64>) -> Vec<TaskTrace> {
        dump.tasks()
            .iter()
            .filter_map(|task| {
                let id = task_id(&task.id());
                if Some(id) == own_id {
                    return None;
                }
                let backtraces = task
                    .trace()
                    .resolve_backtraces()
                    .iter()
                    .map(|bt| Backtrace { frames: frames(bt) })
                    .collect();
                Some(TaskTrace { task_id: id, backtraces })
            })
            .collect()
    }

    /// Frames root first, without the dump machinery at the leaf end.
    fn frames(bt: &tokio::runtime::dump::Backtrace) -> Vec<Frame> {
        let mut out: Vec<Frame> = bt
            .frames()
            .flat_map(|frame| {
                // One machine frame may hold several inlined functions, innermost first, the
                // last being the function they were inlined into.
                let mut inlined: Vec<Frame> = frame
                    .symbols()
                    .map(|sym| Frame {
                        function: sym
                            .name_demangled()
                            .map(|name| strip_hash(name).to_owned())
                            .unwrap_or_default(),
                        file: sym.filename().map(|p| p.display().to_string()).unwrap_or_default(),
                        line: sym.lineno().unwrap_or(0),
                        col: sym.colno().unwrap_or(0),
                    })
                    .collect();
                qualify_inlined(&mut inlined);
                inlined
            })
            .collect();
        // Captured leaf first; the first frames are tokio's capture itself.
        let machinery =
            out.iter().position(|f| !is_capture_frame(&f.function)).unwrap_or(out.len());
        out.drain(..machinery);
        out.reverse();
        out
    }
}
