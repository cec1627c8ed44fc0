//! The in-process leak check: `#[leakscope::test]` and `leakscope::testing::LeakCheck`.
//!
//! The attribute is checked the way a user meets it: this binary runs its own `workload` test in
//! a child process (`current_exe workload --exact`), clean (50 times, none may fail) and leaking
//! (it must fail, with the listing on its output). The function form is checked in process.
//!
//! CI runs this file with `--cfg tokio_unstable` (locations and wait points) and without it
//! (counts only, and the message says so); each build asserts what its mode offers.

use leakscope::testing::{LeakCheck, Leaks};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Set to `leak` to make [`workload`] leak.
const MODE: &str = "LEAKSCOPE_FIXTURE";

/// Some real work: tasks that finish at once, a little later, after the test body has returned,
/// on the blocking pool, and through a channel that is closed. With `LEAKSCOPE_FIXTURE=leak` it
/// also leaves three tasks behind: two receivers whose senders are forgotten, one sleeper.
#[leakscope::test(settle = "2s")]
async fn workload() {
    let leak = std::env::var(MODE).is_ok_and(|m| m == "leak");
    let mut joins = Vec::new();
    for i in 0..8_u64 {
        joins.push(tokio::spawn(async move { i * 2 }));
    }
    for handle in joins {
        handle.await.unwrap();
    }
    // Ends 30 ms after the body returns: the check must wait for it, not report it.
    tokio::spawn(tokio::time::sleep(Duration::from_millis(30)));
    let blocking = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)));
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    let consumer = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tx.send(1).await.unwrap();
    drop(tx);
    consumer.await.unwrap();
    blocking.await.unwrap();
    if leak {
        for _ in 0..2 {
            let (tx, mut rx) = mpsc::channel::<u32>(1);
            std::mem::forget(tx);
            tokio::spawn(async move { while rx.recv().await.is_some() {} }); // leak: recv
        }
        tokio::spawn(tokio::time::sleep(Duration::from_secs(3_600))); // leak: sleep
    }
}

/// Runs this binary's `workload` test in a child process.
fn run_workload(leak: bool) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args(["workload", "--exact", "--nocapture", "--test-threads=1"]);
    if leak {
        command.env(MODE, "leak");
    } else {
        command.env_remove(MODE);
    }
    command.output().expect("the test binary runs")
}

/// The line of this file carrying `// leak: <what>`.
fn marker(what: &str) -> u32 {
    let tag = format!("// leak: {what}");
    let source = include_str!("leak_test.rs");
    let line = source.lines().position(|l| l.trim_end().ends_with(&tag)).expect("marker present");
    line as u32 + 1
}

#[test]
fn a_leaking_test_fails_and_lists_its_tasks() {
    let out = run_workload(true);
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the leaking test passed:\n{text}");
    assert!(text.contains("test workload ... FAILED"), "{text}");
    assert!(
        text.contains("leakscope: 3 tasks spawned by this test are still alive after waiting"),
        "{text}"
    );
    if cfg!(tokio_unstable) {
        let recv = format!("2 × {}:{}:", file!(), marker("recv"));
        let sleep = format!("1 × {}:{}:", file!(), marker("sleep"));
        assert!(text.contains(&recv), "no {recv:?} in:\n{text}");
        assert!(text.contains(&sleep), "no {sleep:?} in:\n{text}");
        assert!(text.contains("parked in sleep"), "{text}");
        if cfg!(target_os = "linux") {
            // From a task dump of the test's runtime: the agent has no resource for `recv`.
            assert!(text.contains("parked in mpsc::Receiver::recv"), "{text}");
        }
        assert!(text.contains("ignore_location = \""), "{text}");
    } else {
        assert!(text.contains("On stable tokio leakscope can only count them"), "{text}");
        assert!(text.contains("--cfg tokio_unstable"), "{text}");
    }
}

#[test]
fn a_clean_test_passes_fifty_times_out_of_fifty() {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..5)
            .map(|_| {
                scope.spawn(|| {
                    (0..10)
                        .map(|_| run_workload(false))
                        .filter(|out| !out.status.success())
                        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    });
    assert!(failures.is_empty(), "{} of 50 runs failed; first:\n{}", failures.len(), failures[0]);
}

#[leakscope::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attribute_takes_tokio_arguments() {
    assert_eq!(tokio::runtime::Handle::current().metrics().num_workers(), 2);
    let tasks: Vec<_> = (0..16).map(|i| tokio::spawn(async move { i })).collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[leakscope::test(start_paused = true, settle = "1m")]
async fn the_attribute_takes_paused_time() {
    tokio::spawn(tokio::time::sleep(Duration::from_secs(30)));
}

#[test]
fn paused_time_settles_in_virtual_time() {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(true);
    let started = Instant::now();
    // Ends half a minute of virtual time after the body returns; the check's backoff advances
    // the paused clock, so this passes at once.
    let result = LeakCheck::new().settle(Duration::from_secs(60)).run_with(builder, async {
        tokio::spawn(tokio::time::sleep(Duration::from_secs(30)));
    });
    assert_eq!(verdict(result), "ok");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // And a settle time shorter than the sleep, in virtual time too, reports it.
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(true);
    let result = LeakCheck::new().settle(Duration::from_secs(10)).run_with(builder, async {
        tokio::spawn(tokio::time::sleep(Duration::from_secs(30)));
    });
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[leakscope::test(settle = "5s")]
async fn the_attribute_passes_through_the_return_value() -> Result<(), String> {
    let value = tokio::spawn(async { 42 }).await.map_err(|e| e.to_string())?;
    assert_eq!(value, 42);
    Ok(())
}

/// Renders a check's result as `ok`, `N counted`, or `N: line L "name" ×count point; ...`
/// (groups sorted, lines of this file).
fn verdict(result: Result<(), Leaks>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(leaks) if leaks.counts_only().is_some() => format!("{} counted", leaks.count()),
        Err(leaks) => {
            let mut groups: Vec<String> = leaks
                .groups()
                .iter()
                .map(|g| {
                    let line = g
                        .location
                        .strip_prefix(concat!(file!(), ":"))
                        .and_then(|rest| rest.split(':').next())
                        .unwrap_or(&g.location);
                    let name =
                        g.task_name.as_deref().map(|n| format!(" {n:?}")).unwrap_or_default();
                    format!(
                        "line {line}{name} ×{} {}",
                        g.count,
                        g.waiting_on.as_deref().unwrap_or("unknown")
                    )
                })
                .collect();
            groups.sort();
            format!("{}: {}", leaks.count(), groups.join("; "))
        }
    }
}

fn quick() -> LeakCheck {
    LeakCheck::new().settle(Duration::from_millis(300))
}

#[test]
fn bounded_retries_wait_for_tasks_that_are_about_to_end() {
    let started = Instant::now();
    let result = quick().settle(Duration::from_secs(5)).run(async {
        tokio::spawn(tokio::time::sleep(Duration::from_millis(200)));
    });
    assert_eq!(verdict(result), "ok");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(190) && took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn quiescence_judges_once_nothing_changes() {
    let started = Instant::now();
    let result = LeakCheck::new()
        .settle(Duration::from_secs(10))
        .quiescence(Duration::from_millis(100))
        .run(async {
            tokio::spawn(std::future::pending::<()>());
        });
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_leak_fails_the_function_form_on_every_flavor() {
    for multi in [false, true] {
        let builder = if multi {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2).enable_all();
            b
        } else {
            let mut b = tokio::runtime::Builder::new_current_thread();
            b.enable_all();
            b
        };
        let result = quick().run_with(builder, async {
            tokio::spawn(std::future::pending::<()>());
        });
        let leaks = result.expect_err("a pending task leaks");
        assert_eq!(leaks.count(), 1, "multi_thread: {multi}");
    }
}

#[cfg(tokio_unstable)]
mod unstable {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::{Mutex, oneshot};

    #[test]
    fn leaks_are_grouped_by_location_and_wait_point() {
        let lock = Arc::new(Mutex::new(()));
        let result = quick().run(async move {
            let held = lock.clone().lock_owned().await;
            std::mem::forget(held);
            for _ in 0..3 {
                let lock = lock.clone();
                tokio::spawn(async move { drop(lock.lock().await) }); // leak: mutex
            }
            let (tx, rx) = oneshot::channel::<()>();
            std::mem::forget(tx);
            let named = tokio::task::Builder::new().name("waiter");
            named.spawn(async move { rx.await.is_ok() }).unwrap(); // leak: oneshot
            tokio::spawn(tokio::time::sleep(Duration::from_secs(60))); // leak: sleep-60
        });
        assert_eq!(
            verdict(result),
            format!(
                "5: line {} ×3 Mutex::lock; line {} \"waiter\" ×1 oneshot::Receiver; line {} ×1 sleep",
                marker("mutex"),
                marker("oneshot"),
                marker("sleep-60")
            )
        );
    }

    #[test]
    fn ignore_rules_let_tasks_outlive_the_test() {
        let leak_two = || async {
            tokio::spawn(std::future::pending::<()>()); // leak: ignored-location
            let named = tokio::task::Builder::new().name("heartbeat-1");
            named.spawn(std::future::pending::<()>()).unwrap(); // leak: ignored-name
        };
        let here = format!("{}:{}:*", file!(), marker("ignored-location"));
        let check = |check: LeakCheck, expected: &str| {
            assert_eq!(verdict(check.run(leak_two())), expected);
        };
        check(
            quick(),
            &format!(
                "2: line {} ×1 unknown; line {} \"heartbeat-1\" ×1 unknown",
                marker("ignored-location"),
                marker("ignored-name")
            ),
        );
        check(
            quick().ignore_location(&here),
            &format!("1: line {} \"heartbeat-1\" ×1 unknown", marker("ignored-name")),
        );
        check(
            quick().ignore_name("heartbeat-*"),
            &format!("1: line {} ×1 unknown", marker("ignored-location")),
        );
        check(quick().ignore_location("**/leak_test.rs"), "ok");
        // Near misses: another file, another name.
        check(
            quick().ignore_location("src/**").ignore_name("heartbeat"),
            &format!(
                "2: line {} ×1 unknown; line {} \"heartbeat-1\" ×1 unknown",
                marker("ignored-location"),
                marker("ignored-name")
            ),
        );
    }

    #[test]
    fn children_spawned_elsewhere_count_against_the_test() {
        let other = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let elsewhere = other.handle().clone();
        let result = quick().run(async move {
            // A task of the test's hands work to another runtime and ends; the work leaks.
            tokio::spawn(async move {
                elsewhere.spawn(std::future::pending::<()>()); // leak: elsewhere
            })
            .await
            .unwrap();
        });
        assert_eq!(verdict(result), format!("1: line {} ×1 unknown", marker("elsewhere")));
        drop(other);
    }

    #[test]
    fn tests_in_parallel_only_see_their_own_tasks() {
        let verdicts: Vec<String> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..6_usize)
                .map(|n| {
                    scope.spawn(move || {
                        verdict(quick().run(async move {
                            for _ in 0..n {
                                tokio::spawn(std::future::pending::<()>()); // leak: parallel
                            }
                            // Clean work alongside, so the runtimes are busy at the same time.
                            for i in 0..20 {
                                tokio::spawn(async move { i }).await.unwrap();
                            }
                        }))
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let line = marker("parallel");
        let expected: Vec<String> =
            (0..6)
                .map(|n| {
                    if n == 0 { "ok".to_owned() } else { format!("{n}: line {line} ×{n} unknown") }
                })
                .collect();
        assert_eq!(verdicts, expected);
    }

    #[test]
    fn check_inside_a_harness_runtime_counts_what_appeared_meanwhile() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // Alive before the check began: never counted.
            let before = tokio::spawn(std::future::pending::<()>()); // leak: before
            let result = quick()
                .check(async {
                    tokio::spawn(std::future::pending::<()>()); // leak: harness
                })
                .await;
            // `check` counts what appeared in the whole process meanwhile, so the tests of this
            // file that run beside it may add their own tasks: the task spawned here must be
            // among those counted, and the one alive before it must not.
            let verdict = verdict(result);
            assert!(
                verdict.contains(&format!("line {} ×1 unknown", marker("harness"))),
                "{verdict}"
            );
            assert!(!verdict.contains(&format!("line {} ", marker("before"))), "{verdict}");
            before.abort();
        });
    }
}

#[cfg(not(tokio_unstable))]
mod stable {
    use super::*;

    #[test]
    fn stable_tokio_counts_and_says_so() {
        let leaks = quick()
            .ignore_name("anything")
            .run(async {
                tokio::spawn(std::future::pending::<()>());
                tokio::spawn(std::future::pending::<()>());
            })
            .unwrap_err();
        assert_eq!(leaks.count(), 2);
        assert!(leaks.groups().is_empty());
        let message = leaks.to_string();
        assert!(message.contains("2 tasks spawned by this test are still alive"), "{message}");
        assert!(message.contains("On stable tokio leakscope can only count them"), "{message}");
        assert!(message.contains("the ignore rules were not applied"), "{message}");
    }
}
