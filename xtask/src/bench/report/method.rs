//! The "how measured" section: what each workload does and what its figure is, with the sizes
//! read from the processes' reports.

use super::{Summary, number};
use crate::bench::{Mode, Workload};

impl Summary {
    /// The "how measured" section; sizes are read from the processes' reports.
    pub(super) fn how_measured(&self) -> String {
        let rounds =
            |w: Workload| self.rounds_of(w, Mode::Plain).max(self.rounds_of(w, Mode::Leakscope));
        let known = |v: Option<u64>| v.map_or("?".to_owned(), |v| number(v as f64));
        let secs = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1} s"));
        let spawn_batch = known(self.detail_u64(Workload::Spawn, "batch"));
        let spawn_secs = secs(self.detail_f64(Workload::Spawn, "seconds"));
        let poll_secs = secs(self.detail_f64(Workload::Poll, "seconds"));
        let self_wake_secs = secs(self.detail_f64(Workload::SelfWake, "seconds"));
        let ping_pong_secs = secs(self.detail_f64(Workload::PingPong, "seconds"));
        let idle_tasks = known(self.detail_u64(Workload::Idle, "tasks"));
        let connections = known(self.detail_u64(Workload::Http, "connections"));
        let http_secs = secs(self.detail_f64(Workload::Http, "seconds"));
        let burst = known(self.spawned());
        let flood_secs = self
            .detail_median(Workload::Flood, Mode::Console, "console_api_seconds_after_burst")
            .map_or("some seconds".to_owned(), |v| format!("{v:.0} s"));
        let (self_wake_rounds, ping_pong_rounds) =
            (rounds(Workload::SelfWake), rounds(Workload::PingPong));
        let (spawn_rounds, poll_rounds, idle_rounds, http_rounds, burst_rounds) = (
            rounds(Workload::Spawn),
            rounds(Workload::Poll),
            rounds(Workload::Idle),
            rounds(Workload::Http),
            rounds(Workload::Burst),
        );
        format!(
            "## How measured

Every figure comes from a fresh process of `crates/leakscope-bench`, built with `cargo build \
--release` (the workspace's release profile, with line tables) and `--cfg tokio_unstable` for \
every mode, plain included, so only the installed instrumentation differs (the workspace's \
`-C force-frame-pointers=yes` too, which the agent's wait capture walks). `cargo xtask bench` \
runs each workload under each mode several times (spawn {spawn_rounds}, poll {poll_rounds}, \
self-wake poll {self_wake_rounds}, ping-pong {ping_pong_rounds}, idle {idle_rounds}, HTTP \
{http_rounds}, burst {burst_rounds} rounds). In every round plain tokio, leakscope and leakscope \
without wait capture run back to back, and so do the two console-api modes, the order rotating \
from round to round, so that a comparison with plain tokio, or of leakscope with and without the \
capture, is between runs made under nearly the same background load; a comparison is the median of the round-by-round comparisons, and the absolute \
figures are medians too. The app runtime is \
tokio's multi-thread runtime with one worker per core, built as `#[tokio::main]` builds it; the \
instrumentation is installed first, inside it, and no client is attached while a figure is \
measured (except in the burst, where asking is the point):

- **plain tokio**: nothing installed.
- **console-subscriber** (0.5): `ConsoleLayer::builder().server_addr(a free loopback \
  port).spawn()` on `tracing_subscriber::registry()`, every other setting at its default, as its \
  docs compose it.
- **leakscope**: `leakscope::Builder::new().bind(127.0.0.1:0).try_init()`. Everything it collects \
  is on, as it ships: tasks, wakers, resources and async operations, the app's spans, long polls, \
  retention of finished tasks, and the wait capture (at the waker clone inside a task's poll, a \
  frame-pointer walk of the polling thread's stack, interned as the task's await chain). The \
  targets are judged on this mode.
- **leakscope without wait capture**: the same call with `.wait_capture(false)` (what \
  `LEAKSCOPE_WAIT_CAPTURE=0` does), so that the capture's own cost is the difference between the \
  two. It runs in plain tokio's and leakscope's group, only for spawn, the polls, the ping-pong \
  and idle memory, where the capture is on the measured path; HTTP and the bursts are left out to \
  save time.
- **leakscope + `console` feature**: the same call in a build with `--features \
  leakscope/console`, which also serves console-api's `Instrument` service (console-subscriber's \
  aggregator) on the agent's port. It is measured only when it builds and the agent's `Hello` \
  reports `console_api`.

After each workload, with its tasks still alive, the process reads the agent's `AgentStats` \
through `Agent.GetSnapshot` (the counters of what it dropped, and the live tasks it lists), and \
folds the first update of a fresh console-api watch as tokio-console would (the tasks a \
tokio-console attaching then is shown, and console-subscriber's `dropped_events`). \
console-subscriber keeps counting dropped events until it builds an update, so that first update \
carries the count since start, unless an earlier first update was built and found larger than its \
4 MiB limit, which resets the count unsent: the table then shows a lower bound (\"≥\"). In the \
burst, the watch opened before the burst gives the count instead.

### 1. spawn+finish

A driver task spawns {spawn_batch} tasks that do nothing (`black_box` of a number), then awaits \
their join handles, in a loop for about {spawn_secs} after one untimed batch. Figure: wall time \
over tasks spawned, in ns per task.

### 2. poll (`yield_now` loop)

One task per worker loops on `tokio::task::yield_now().await`, looking at the clock every 1,000 \
yields, for about {poll_secs} after an untimed tenth of that. Figure: wall time divided by the \
polls each worker made, in ns per poll. Each yield is a whole trip through the scheduler, and \
tokio turns its I/O and timer driver before running a yielded task again, so plain tokio's figure \
includes that turn; the instrumentation adds its span enter and exit and its waker events on top. \
To defer the wake, tokio clones the task's waker inside the poll, which the leakscope agent takes \
for a wait registration: each of these polls also captures a wait chain. Supporting figure: \
the process's CPU time (user + system, all its threads, the instrumentation's included, from \
`/proc/self/stat` in 10 ms ticks) over the timed run, per poll; the machine's other work \
stretches it far less than it stretches wall time.

### 2b. poll (self-wake, no driver turn)

As the `yield_now` loop, with a hand-written future instead that wakes its own task by reference \
(`cx.waker().wake_by_ref()`) and returns `Pending` once: tokio's harness sees the wake as the \
poll returns and puts the task at the back of its worker's local queue, and the worker takes it \
again with no driver turn between (tokio turns the driver every 61 scheduler ticks) and no waker \
clone. About {self_wake_secs} timed. Plain tokio's figure is then the scheduler's own cost of a \
poll, so the instrumentation's poll enter and exit and its `wake_by_ref` event show undiluted: \
this is the poll the issue 11 target is checked on, beside the `yield_now` loop's. The same \
supporting CPU figure as above.

### 2c. park and wake (mpsc ping-pong)

One pair of tasks per worker hands a number back and forth over two \
`tokio::sync::mpsc::unbounded_channel`s (unbounded, so the send never waits and no resource \
instrumentation of tokio's runs), looking at the clock every 1,000 round trips, for about \
{ping_pong_secs} after an untimed tenth of that. Each receive finds its channel empty, registers \
its task's waker with the channel and returns `Pending`; tokio clones the waker to register it, \
the event at which the leakscope agent walks the frame pointers and interns the await chain. The \
other task's send wakes it, on the same worker, so a round trip is two polls, two parks and two \
wakes with no driver turn (the workload counts the receives that returned `Pending`; the details \
give them per round trip). Figure: wall time divided by the round trips each pair made, in ns \
per round trip; supporting figure, the process's CPU time per round trip.

### 3. idle memory

RSS (`VmRSS` from `/proc/self/status`) is read once the process has started and settled; then \
{idle_tasks} tasks are spawned, each parked on its own `tokio::sync::oneshot` receiver (the \
senders are held), and once every task has been polled, RSS is read again after it has settled. \
Settled means the last five samples, 200 ms apart, differ by less than 2 MiB (bounded in time; \
the sample details say whether it settled). console-subscriber's aggregator works through its \
event channel on its own thread, which is why memory is given time to settle. Figure: RSS growth \
over the tasks, in bytes per task; the results table gives the growth beyond plain tokio's, which \
is what the instrumentation costs per live task.

### 3b. idle-sized burst, watched

Run once per mode after the idle rounds, because console-subscriber's count of dropped events \
cannot be read after them (see above): the idle workload's number of tasks, spawned as in the \
burst below with a console-api watch attached before, so that the watch receives every update. \
It gives what each instrumentation dropped while that many tasks arrived, and how many of them \
its API showed {flood_secs} later (leakscope: `GetSnapshot` once settled).

### 4. HTTP throughput

The measured process serves HTTP/1.1 with keep-alive on a loopback port: tokio TCP, a \
hand-written request parser, one task per connection, and per request an FNV hash of the path (a \
little work) and one spawned task that renders the body and is awaited. The load comes from a \
separate, uninstrumented process (the same binary with `--role client`, on a current-thread \
runtime): {connections} connections, each a loop of one request at a time that stops by itself \
after a warm-up and {http_secs} counted; both processes share the machine's cores. Figure: \
answered requests per second. Supporting figure: the serving process's CPU time (user + system, \
all its threads, the instrumentation's included, from `/proc/self/stat`) over the requests it \
answered, warm-up included.

### 5. burst accounting

{burst} tasks are spawned in one burst from one task, each parked on a oneshot receiver, and once \
all have been polled the instrumentation's own client is asked how many it sees alive at the \
burst's spawn location. leakscope: `Agent.GetSnapshot` over gRPC on loopback (the generated \
leakscope-proto client), counting tasks with `dropped_nanos == 0` whose location is the burst's, \
read every 200 ms until three reads agree; the target needs every round to see every task. \
console-subscriber (and the console-api service of leakscope's `console` feature): a console-api \
`Instrument.WatchUpdates` stream opened before the burst, as an attached tokio-console would be, \
folded the way tokio-console folds it (a new task is kept when its metadata is known and its \
stats came with it; alive means no `dropped_at`), until three updates agree or the wait bound \
passes (the supporting figures give how long after the burst the count was taken). \
console-subscriber's aggregator (0.5) drains its event channel once per publish interval, or \
sooner only when the channel nears its capacity, with a non-blocking receive that tokio's \
cooperative budget stops after 128 events; a burst too small to fill the channel is therefore \
learned 128 events a second. Plain tokio has nothing to ask.
"
        )
    }
}
