//! [`LeakCheck`]: run a test's future, wait for the tasks it spawned to finish, and report those
//! that do not. `#[leakscope::test]` expands to a call of it.

use super::inspect::{self, Baseline, Census, Filters, Scope};
use super::install;
use super::leaks::Leaks;
use super::tracker::Tracker;
use leakscope_analysis::Glob;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Builder, LocalOptions};
use tokio::time::Instant;

/// How long a task dump of the test's runtime may take for the listing, when one is asked for.
const DUMP_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest pause between two looks at the test's tasks.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// The leak check, configured; the function form of `#[leakscope::test]` for custom harnesses.
///
/// ```
/// use leakscope::testing::LeakCheck;
///
/// // A clean test: the task it spawns has ended by the time the check looks.
/// let value = LeakCheck::new()
///     .run(async {
///         tokio::spawn(async { 6 * 7 }).await.unwrap()
///     })
///     .expect("nothing leaked");
/// assert_eq!(value, 42);
///
/// // A leaking one: the check waits (here at most 100 ms), then reports the task.
/// let leaks = LeakCheck::new()
///     .settle(std::time::Duration::from_millis(100))
///     .run(async {
///         tokio::spawn(std::future::pending::<()>());
///     })
///     .unwrap_err();
/// assert_eq!(leaks.count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct LeakCheck {
    filters: Filters,
    settle: Duration,
    quiescence: Option<Duration>,
    task_dump: bool,
}

impl Default for LeakCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl LeakCheck {
    /// How long the check waits by default for the test's tasks to finish.
    pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

    /// No ignore rules, [`DEFAULT_SETTLE`](Self::DEFAULT_SETTLE), no quiescence wait, no task
    /// dump.
    pub fn new() -> Self {
        Self {
            filters: Filters::default(),
            settle: Self::DEFAULT_SETTLE,
            quiescence: None,
            task_dump: false,
        }
    }

    /// Allow tasks spawned at locations matching `glob` (against `file` and `file:line:col`;
    /// `*`, `**`, `?`) to outlive the test. Needs `--cfg tokio_unstable`.
    pub fn ignore_location(mut self, glob: &str) -> Self {
        self.filters.locations.push(Glob::new(glob));
        self
    }

    /// Allow tasks whose name matches `glob` to outlive the test. Needs `--cfg tokio_unstable`.
    pub fn ignore_name(mut self, glob: &str) -> Self {
        self.filters.names.push(Glob::new(glob));
        self
    }

    /// Wait at most this long, looking again with backoff (1 ms doubling to 100 ms), for the
    /// test's tasks to finish. Measured on tokio's clock, so a test with paused time waits in
    /// virtual time.
    pub fn settle(mut self, max: Duration) -> Self {
        self.settle = max;
        self
    }

    /// Judge once the test's tasks have not changed (none spawned, none ended) for `quiet`,
    /// instead of waiting out [`settle`](Self::settle) for tasks that will not end. Still bounded
    /// by `settle`.
    pub fn quiescence(mut self, quiet: Duration) -> Self {
        self.quiescence = Some(quiet);
        self
    }

    /// Also take a task dump of the test's runtime when it leaks, so the listing names wait
    /// points exactly at that moment. Off by default: the agent's captured await chains name
    /// them with no dump (with `--cfg tokio_unstable`, on Linux x86_64 or aarch64). A dump pauses
    /// the runtime's workers, re-polls every task (a task whose waker was lost can complete, and
    /// the evidence with it), and tokio's dump has open failures (tokio-rs/tokio#7478 wedges a
    /// busy multi-thread runtime; #8391 panics on some current-thread runtimes; #6343). It runs
    /// under a 2 s time limit; one that does not finish leaves the listing as it was.
    pub fn task_dump(mut self, take: bool) -> Self {
        self.task_dump = take;
        self
    }

    /// Runs `future` on a new current-thread runtime (with I/O and time), then checks.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be built, or `future` panics.
    pub fn run<F: Future>(self, future: F) -> Result<F::Output, Leaks> {
        let mut builder = Builder::new_current_thread();
        builder.enable_all();
        self.run_with(builder, future)
    }

    /// Runs `future` on a runtime built from `builder`, then checks the tasks spawned on it. The
    /// check installs its own task spawn and terminate hooks on `builder`, replacing any set.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be built, or `future` panics.
    pub fn run_with<F: Future>(self, mut builder: Builder, future: F) -> Result<F::Output, Leaks> {
        let recording = install::collector();
        let tracker = Arc::new(Tracker::default());
        tracker.attach(&mut builder);
        let runtime = builder.build().expect("failed to build the test's tokio runtime");
        runtime.block_on(self.guard(Scope::Runtime(&tracker), recording, future))
    }

    /// [`run_with`](Self::run_with) on a [`LocalRuntime`](tokio::runtime::LocalRuntime), built
    /// from a current-thread `builder`.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be built, or `future` panics.
    pub fn run_local_with<F: Future>(
        self,
        mut builder: Builder,
        future: F,
    ) -> Result<F::Output, Leaks> {
        let recording = install::collector();
        let tracker = Arc::new(Tracker::default());
        tracker.attach(&mut builder);
        let runtime = builder
            .build_local(LocalOptions::default())
            .expect("failed to build the test's tokio runtime");
        runtime.block_on(self.guard(Scope::Runtime(&tracker), recording, future))
    }

    /// Runs `future` inside the current runtime (a harness's own), then checks every task that
    /// appeared in the process meanwhile, on any runtime; tasks alive when it began are ignored.
    /// Unlike [`run`](Self::run) it cannot tell tests apart: tasks spawned by anything running
    /// at the same time count too, so use it where tests run one at a time.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn check<F: Future>(self, future: F) -> Result<F::Output, Leaks> {
        let recording = install::collector();
        let baseline = Baseline::take(cfg!(tokio_unstable) && recording.is_ok());
        self.guard(Scope::Process(&baseline), recording, future).await
    }

    /// What `#[leakscope::test]` calls: [`run_with`](Self::run_with), panicking with the listing.
    #[doc(hidden)]
    #[track_caller]
    pub fn run_test<F: Future>(self, builder: Builder, future: F) -> F::Output {
        self.run_with(builder, future).unwrap_or_else(|leaks| panic!("{leaks}"))
    }

    /// What `#[leakscope::test(flavor = "local")]` calls.
    #[doc(hidden)]
    #[track_caller]
    pub fn run_local_test<F: Future>(self, builder: Builder, future: F) -> F::Output {
        self.run_local_with(builder, future).unwrap_or_else(|leaks| panic!("{leaks}"))
    }

    async fn guard<F: Future>(
        self,
        scope: Scope<'_>,
        collector: Result<(), &'static str>,
        future: F,
    ) -> Result<F::Output, Leaks> {
        let output = future.await;
        let recording = cfg!(tokio_unstable) && collector.is_ok();
        let started = Instant::now();
        let census = self.settle_down(&scope, recording).await;
        if census.count() == 0 {
            return Ok(output);
        }
        let waited = started.elapsed();
        Err(self.report(census, waited, recording, collector).await)
    }

    /// Looks at the test's tasks until none is left, or (with quiescence) until they stop
    /// changing, or the settle time is up; returns the last look.
    async fn settle_down(&self, scope: &Scope<'_>, recording: bool) -> Census {
        let start = Instant::now();
        let deadline = start + self.settle;
        // Tasks the test's last steps woke get to run before the first look.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let mut pause = Duration::from_millis(1);
        let mut last_change = (0, start);
        loop {
            let census = inspect::census(scope, &self.filters, recording);
            let now = Instant::now();
            if census.fingerprint != last_change.0 {
                last_change = (census.fingerprint, now);
            }
            let done = match self.quiescence {
                None => census.count() == 0,
                Some(quiet) => now.duration_since(last_change.1) >= quiet,
            };
            if done || now >= deadline {
                return census;
            }
            let left = deadline.duration_since(now);
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    async fn report(
        &self,
        census: Census,
        waited: Duration,
        recording: bool,
        collector: Result<(), &'static str>,
    ) -> Leaks {
        let mut leaks = Leaks {
            count: census.count(),
            groups: Vec::new(),
            findings: Vec::new(),
            waited,
            counts_only: None,
            wait_points_missing: None,
            ignores_unapplied: false,
        };
        if census.counted_only() {
            leaks.counts_only = Some(
                if cfg!(tokio_unstable) {
                    format!(
                        "leakscope can only count them: its collector is not installed ({})",
                        collector.err().unwrap_or("no records")
                    )
                } else {
                    "On stable tokio leakscope can only count them: build the tests with \
                 RUSTFLAGS=\"--cfg tokio_unstable\" to see where they were spawned and what \
                 they wait on"
                        .to_owned()
                }
                .into(),
            );
            leaks.ignores_unapplied = !self.filters.is_empty();
            return leaks;
        }
        let dump = if recording && self.task_dump {
            crate::dump::of_current(DUMP_TIMEOUT).await
        } else {
            None
        };
        let (groups, findings) = inspect::listing(&census, dump);
        leaks.groups = groups;
        leaks.findings = findings;
        if let Err(reason) = collector {
            leaks.wait_points_missing =
                Some(format!("the collector is not installed: {reason}").into());
        }
        leaks
    }
}
