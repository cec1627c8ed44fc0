//! `leakscope attach --bench-frames N`: the session as usual, drawn off-screen, measured. Prints
//! one JSON object: time to the first full frame (connected, first analysis, the Tasks screen of
//! every live task sorted), the steady frame cost while updates keep arriving and the screens
//! are cycled, what the engine spends per update and per analysis, and the process's peak RSS.

use std::time::{Duration, Instant};

use leakscope_client::{Connection, Target};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use crate::attach::AttachError;
use crate::session::{Options, Session, TICK};
use crate::state::{Action, Tab};

/// The off-screen terminal's size.
const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;
/// How long to wait for the first analysis.
const FIRST_FRAME_LIMIT: Duration = Duration::from_secs(300);
/// The frame period the steady phase is paced at.
const FRAME: Duration = Duration::from_millis(16);

#[derive(Debug, Serialize)]
struct Figures {
    live_tasks: u64,
    width: u16,
    height: u16,
    first_frame_ms: f64,
    frames: usize,
    frame_ms: Stats,
    updates_applied: u64,
    engine_apply_ms: f64,
    engine_analysis_ms: f64,
    peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    mean: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        Self {
            mean: round(samples.iter().sum::<f64>() / samples.len() as f64),
            p50: round(at(0.5)),
            p99: round(at(0.99)),
            max: round(at(1.0)),
        }
    }
}

/// The process's peak resident set (`VmHWM`), on Linux.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub(crate) async fn run(
    connection: Connection,
    target: Target,
    options: Options,
    frames: u32,
    started: Instant,
) -> Result<(), AttachError> {
    let figures =
        measure(connection, target, options, frames, started).await.map_err(AttachError::Bench)?;
    let json =
        serde_json::to_string(&figures).map_err(|err| AttachError::Bench(err.to_string()))?;
    println!("{json}");
    Ok(())
}

async fn measure(
    connection: Connection,
    target: Target,
    options: Options,
    frames: u32,
    started: Instant,
) -> Result<Figures, String> {
    let mut session = Session::start(connection, target, options).map_err(|e| e.to_string())?;
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).map_err(|e| e.to_string())?;
    let mut tick = tokio::time::interval(TICK);
    session.app.handle(Action::Tab(Tab::Tasks));
    let deadline = started + FIRST_FRAME_LIMIT;
    // The first full frame: data analysed, and the task list built from it (sorted off the
    // screen's thread at this size: looked for every few milliseconds, as a tick would).
    let listed = |app: &crate::state::App| match app.page() {
        crate::state::Page::Tasks(page) => page.listed(),
        _ => true,
    };
    while session.app.data.report.is_none()
        || !session.app.data.lists.tasks
        || !listed(&session.app)
    {
        if Instant::now() > deadline {
            return Err("no analysis within 5 minutes".to_owned());
        }
        if session.app.data.report.is_some() && session.app.data.lists.tasks {
            tokio::time::sleep(Duration::from_millis(5)).await;
            session.app.tick(Instant::now());
            continue;
        }
        let event = session.next_data_event(&mut tick).await;
        session.handle(event).await;
    }
    session.app.tick(Instant::now());
    session.draw(&mut terminal).map_err(|e| e.to_string())?;
    let first_frame = started.elapsed();
    let first_observation = session.app.data.observations;

    // Steady state: every frame handles what arrived since the last one and draws; the screens
    // are cycled so each is measured, the task detail included.
    let cycle = [
        Action::Tab(Tab::Tasks),
        Action::Down,
        Action::Open,
        Action::Tab(Tab::Groups),
        Action::Open,
        Action::Tab(Tab::Overview),
        Action::Tab(Tab::Findings),
        Action::Tab(Tab::Resources),
        Action::Sort,
    ];
    let mut times = Vec::with_capacity(frames as usize);
    let mut next = Instant::now();
    for frame in 0..frames as usize {
        next += FRAME;
        tokio::time::sleep_until(next.into()).await;
        let start = Instant::now();
        while let Some(event) = poll_event(&mut session, &mut tick) {
            session.handle(event).await;
        }
        if frame % 20 == 0 {
            session.app.handle(cycle[(frame / 20) % cycle.len()]);
        }
        session.app.tick(Instant::now());
        session.draw(&mut terminal).map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let data = &session.app.data;
    Ok(Figures {
        live_tasks: data.live,
        width: WIDTH,
        height: HEIGHT,
        first_frame_ms: (first_frame.as_secs_f64() * 1e6).round() / 1e3,
        frames: times.len(),
        frame_ms: Stats::of(times),
        updates_applied: data.observations.saturating_sub(first_observation),
        engine_apply_ms: (data.analysis.apply_ms * 1e3).round() / 1e3,
        engine_analysis_ms: (data.analysis.took_ms * 1e3).round() / 1e3,
        peak_rss_bytes: peak_rss(),
    })
}

/// The next event that is already there, without waiting.
fn poll_event(
    session: &mut Session,
    tick: &mut tokio::time::Interval,
) -> Option<crate::event::Event> {
    use std::future::Future as _;
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let future = session.next_data_event(tick);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(event) => Some(event),
        std::task::Poll::Pending => None,
    }
}
