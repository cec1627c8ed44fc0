//! The command line: which workload, under which instrumentation, and how big.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::time::Duration;

/// One measurement: a workload under an instrumentation mode (`--role server`, the default), or
/// the uninstrumented HTTP load generator the `http` workload starts (`--role client`).
#[derive(Debug, Clone, Parser)]
#[command(name = "leakscope-bench", version, about)]
pub struct Args {
    /// What this process is.
    #[arg(long, value_enum, default_value_t = Role::Server)]
    pub role: Role,
    /// The instrumentation installed before the workload runs.
    #[arg(long, value_enum, default_value_t = Mode::Plain)]
    pub mode: Mode,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Workload::Spawn)]
    pub workload: Workload,
    /// Smaller, shorter runs for a smoke test; the figures are noisier.
    #[arg(long)]
    pub quick: bool,
    /// Tasks for `idle`, `flood` and `burst` (defaults: 100000, 100000 and 2000; `idle` and
    /// `flood` use 20000 with `--quick`).
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Measuring time in seconds for `spawn`, `poll`, `self-wake`, `ping-pong` and `http` (and
    /// the client's run).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// `burst`: how long a console-api view is watched for the count to settle, in seconds.
    #[arg(long)]
    pub watch_seconds: Option<f64>,
    /// Client role: the server to load.
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// `http`: keep-alive connections the load generator holds open.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Client role: warm-up before counting, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub warmup_ms: u64,
}

/// What a process is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Install the instrumentation and run a workload.
    Server,
    /// Generate HTTP load against `--addr`, uninstrumented, and print what it got.
    Client,
}

/// The instrumentation a measurement runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Plain tokio (still built with `--cfg tokio_unstable`, as the other modes are).
    Plain,
    /// console-subscriber's `ConsoleLayer` on a `tracing-subscriber` registry.
    Console,
    /// `leakscope::Builder::new().bind(127.0.0.1:0).try_init()`.
    Leakscope,
    /// As `leakscope`, with `.wait_capture(false)`: what the agent costs without capturing each
    /// parked task's await chain, so that the capture's own cost can be told apart.
    LeakscopeNoCapture,
    /// leakscope built with its `console` feature (needs this crate's `leakscope-console` feature).
    LeakscopeConsole,
    /// An app with its own subscriber: `registry().with(leakscope layer).with(fmt layer)`, the fmt
    /// layer writing INFO and above to a sink.
    LeakscopeLayer,
    /// An app whose own subscriber (a registry with the same fmt layer) is carried by the agent's:
    /// `Builder::forward_to(app).try_init()`.
    LeakscopeForward,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Console => "console",
            Mode::Leakscope => "leakscope",
            Mode::LeakscopeNoCapture => "leakscope-no-capture",
            Mode::LeakscopeConsole => "leakscope-console",
            Mode::LeakscopeLayer => "leakscope-layer",
            Mode::LeakscopeForward => "leakscope-forward",
        }
    }
}

/// What a process measures; see docs/benchmarks.md for how each is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Spawn trivial tasks in batches and await them: ns per task.
    Spawn,
    /// One task per worker doing nothing but `yield_now`: ns per poll, each with a turn of the
    /// I/O driver.
    Poll,
    /// One task per worker that wakes itself and returns `Pending`: ns per poll, with no driver
    /// turn between polls.
    SelfWake,
    /// A pair of tasks per worker passing a number back and forth over mpsc channels, each
    /// parking on every round: ns per round trip.
    PingPong,
    /// Tasks parked on oneshot receivers: extra RSS per live task.
    Idle,
    /// A loopback HTTP/1.1 keep-alive service under load: requests per second.
    Http,
    /// 2,000 idle tasks spawned in one burst: how many the instrumentation reports alive.
    Burst,
    /// The idle workload's task count spawned in one burst, console-api watched from before: what
    /// the instrumentation drops when that many tasks arrive at once.
    Flood,
    /// Ask the leakscope agent what it serves (used to learn whether `console` is implemented).
    Hello,
    /// Park the idle workload's tasks and hold them, with a little churn, until stdin closes: a
    /// target for the terminal UI's scale figures. Prints where to attach instead of a report.
    Hold,
}

impl Workload {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Spawn => "spawn",
            Workload::Poll => "poll",
            Workload::SelfWake => "self-wake",
            Workload::PingPong => "ping-pong",
            Workload::Idle => "idle",
            Workload::Http => "http",
            Workload::Burst => "burst",
            Workload::Flood => "flood",
            Workload::Hello => "hello",
            Workload::Hold => "hold",
        }
    }
}

impl Args {
    /// Measuring time for the time-boxed workloads. Short windows, many rounds: on a shared
    /// machine the median of many short runs moves less than that of a few long ones.
    pub(crate) fn measure_time(&self) -> Duration {
        let default = match (self.workload, self.quick) {
            (Workload::Http, false) => 2.0,
            (Workload::Http, true) => 1.0,
            (_, false) => 0.6,
            (_, true) => 0.3,
        };
        Duration::from_secs_f64(self.seconds.unwrap_or(default).clamp(0.05, 60.0))
    }

    /// How long the burst's console-api view may take to settle. console-subscriber's count of a
    /// burst keeps rising for about a minute, so this bound, not settling, ends its wait.
    pub(crate) fn watch_limit(&self) -> Duration {
        // The flood's count is not the point (its dropped events are), so it is not waited for.
        let default = match (self.workload, self.quick) {
            (Workload::Flood, _) => 2.0,
            (_, true) => 5.0,
            (_, false) => 10.0,
        };
        Duration::from_secs_f64(self.watch_seconds.unwrap_or(default).clamp(1.0, 300.0))
    }

    /// Task count for `idle`, `flood` and `burst`.
    pub(crate) fn task_count(&self) -> usize {
        let default = match (self.workload, self.quick) {
            (Workload::Idle | Workload::Flood | Workload::Hold, false) => 100_000,
            (Workload::Idle | Workload::Flood | Workload::Hold, true) => 20_000,
            _ => 2_000,
        };
        self.tasks.unwrap_or(default).clamp(1, 2_000_000)
    }

    /// The longest the idle workload waits for memory to stop growing, and the burst for its
    /// tasks to start and leakscope's answer to settle.
    pub(crate) fn settle_limit(&self) -> Duration {
        Duration::from_secs(if self.quick { 8 } else { 20 })
    }
}
