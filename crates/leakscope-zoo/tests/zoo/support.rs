//! Helpers shared by the tests: task counts, timed sampling, the zoo as a child process, golden
//! files.

use leakscope_zoo::{LoadOptions, Scenario};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Tasks alive on the current runtime.
pub(crate) fn alive() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Runs `scenario` with `opts`, recording the number of alive tasks every `every` while it runs.
pub(crate) async fn run_sampling(
    scenario: Scenario,
    opts: &LoadOptions,
    every: Duration,
) -> Vec<usize> {
    let scenarios = [scenario];
    let run = leakscope_zoo::run(&scenarios, opts);
    tokio::pin!(run);
    let mut ticks = tokio::time::interval(every);
    let mut samples = Vec::new();
    loop {
        tokio::select! {
            result = &mut run => {
                result.expect("the scenario starts");
                return samples;
            }
            _ = ticks.tick() => samples.push(alive()),
        }
    }
}

/// Waits until at most `target` tasks are alive, for at most `limit`; returns the last count.
///
/// Polled because the runtime has no "task released" event to await: a finished task is counted
/// until the runtime drops it from its list, a moment after whoever awaited it has moved on.
pub(crate) async fn settle_to(target: usize, limit: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    while alive() > target && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    alive()
}

/// The `leakscope-zoo` binary, run with `args` that make it exit before any load starts
/// (`--help`, a bad flag): its status, stdout and stderr.
pub(crate) fn zoo_output(args: &[&str]) -> (ExitStatus, String, String) {
    let output = zoo_command(args).output().expect("the zoo binary runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("output is UTF-8");
    (output.status, text(output.stdout), text(output.stderr))
}

fn zoo_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leakscope-zoo"));
    command
        .args(args)
        // The flags under test decide where the agent binds and whether it runs.
        .env_remove("LEAKSCOPE_BIND")
        .env_remove("LEAKSCOPE_DISABLE")
        .stdin(Stdio::null());
    command
}

/// The `leakscope-zoo` binary, started with `args`, killed when dropped.
pub(crate) struct Zoo {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Zoo {
    pub(crate) fn start(args: &[&str]) -> Zoo {
        Self::start_with_env(args, &[])
    }

    /// [`Zoo::start`] with these environment variables set.
    pub(crate) fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Zoo {
        let child = zoo_command(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the zoo binary starts");
        let mut zoo = Zoo { child, stdout: None };
        zoo.stdout = zoo.child.stdout.take().map(BufReader::new);
        zoo
    }

    /// The first line on stdout, waiting at most `limit` for it.
    pub(crate) fn first_line(&mut self, limit: Duration) -> String {
        let mut stdout = self.stdout.take().expect("first_line is called once");
        let line = within(limit, move || {
            let mut line = String::new();
            stdout.read_line(&mut line).map(|_| line)
        });
        line.expect("no first line in time").expect("stdout is readable")
    }

    /// Waits at most `limit` for the process to exit by itself; returns its status and stderr.
    pub(crate) fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + limit;
        // Polled: std offers no wait with a timeout, and a stuck child must fail the test, not
        // hang it.
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait succeeds") {
                break status;
            }
            assert!(Instant::now() < deadline, "the zoo did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("stderr is readable");
        }
        (status, stderr)
    }
}

impl Drop for Zoo {
    fn drop(&mut self) {
        // Only this test's own child, by its handle; a no-op once it has exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on its own thread and returns its result, or `None` if it takes longer than `limit`
/// (the thread is then left to finish on its own).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// Compares `actual` with the file `tests/zoo/snapshots/<name>`; with `ZOO_BLESS=1` in the
/// environment, writes it instead.
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/zoo/snapshots").join(name);
    if std::env::var_os("ZOO_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("the snapshot is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!("failed to read {}: {err}; run with ZOO_BLESS=1", path.display())
    });
    assert!(
        expected == actual,
        "{} differs; run with ZOO_BLESS=1 to accept\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
