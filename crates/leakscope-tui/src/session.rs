//! One attached session: the engine thread, the feed task and the UI state wired together, and
//! the one loop that reads [`Event`]s, updates the state, carries out its effects and draws.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use leakscope_analysis::Config;
use leakscope_client::{Connection, Target};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt as _;

use crate::engine::{self, Engine, EngineInput};
use crate::event::Event;
use crate::feed::{self, FeedCommand, LinkEvent};
use crate::state::{App, Data, Effect, Lists};
use crate::{input, terminal, view};

/// How often the screen refreshes without input (countdowns, messages, lists following data).
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// Writes a flamegraph of folded stacks (`frame;frame;frame`, count) and says where. The
/// profiling work installs one; without it `f` explains that flamegraphs are not available.
pub type FlamegraphHook = Box<dyn Fn(&[(String, u64)]) -> Result<PathBuf, String> + Send + Sync>;

/// How to run a session.
pub struct Options {
    /// Thresholds and suppressions.
    pub config: Config,
    /// The update interval to ask for (`None`: the agent's default).
    pub interval: Option<Duration>,
    /// Writes flamegraphs for `f`.
    pub flamegraph: Option<FlamegraphHook>,
}

/// The running parts of a session.
pub(crate) struct Session {
    pub(crate) app: App,
    engine: mpsc::Sender<EngineInput>,
    data: watch::Receiver<Arc<Data>>,
    link: mpsc::Receiver<LinkEvent>,
    commands: mpsc::Sender<FeedCommand>,
    flamegraph: Option<FlamegraphHook>,
    /// The lists last asked of the engine.
    lists: Lists,
}

impl Session {
    /// Starts the engine and the feed on an established connection.
    pub(crate) fn start(
        connection: Connection,
        target: Target,
        options: Options,
    ) -> io::Result<Self> {
        let address = target.to_string();
        let (engine_tx, engine_rx) = mpsc::channel(8);
        let (data_tx, data_rx) = watch::channel(Arc::new(Data::default()));
        let (link_tx, link_rx) = mpsc::channel(16);
        let (commands_tx, commands_rx) = mpsc::channel(4);
        engine::spawn(Engine::new(options.config, address.clone()), engine_rx, data_tx)?;
        tokio::spawn(feed::run(
            connection,
            target,
            options.interval,
            engine_tx.clone(),
            link_tx,
            commands_rx,
        ));
        let mut app = App::new(address, Instant::now());
        app.flamegraph = options.flamegraph.is_some();
        Ok(Self {
            app,
            engine: engine_tx,
            data: data_rx,
            link: link_rx,
            commands: commands_tx,
            flamegraph: options.flamegraph,
            lists: Lists::default(),
        })
    }

    /// Waits for the next event that is not terminal input.
    pub(crate) async fn next_data_event(&mut self, tick: &mut tokio::time::Interval) -> Event {
        tokio::select! {
            changed = self.data.changed() => match changed {
                Ok(()) => Event::Data(Arc::clone(&self.data.borrow_and_update())),
                Err(_) => Event::Terminate,
            },
            link = self.link.recv() => match link {
                Some(link) => Event::Link(link),
                None => Event::Terminate,
            },
            _ = tick.tick() => Event::Tick,
        }
    }

    /// Updates the state for one event; returns whether the screen needs drawing.
    pub(crate) async fn handle(&mut self, event: Event) -> bool {
        let app = &mut self.app;
        app.now = Instant::now();
        let redraw = match event {
            Event::Input(TermEvent::Key(key)) => match input::key(app.mode, key) {
                Some(action) => {
                    app.handle(action);
                    true
                }
                None => false,
            },
            Event::Input(TermEvent::Mouse(mouse)) => match input::mouse(mouse) {
                Some(action) => {
                    app.handle(action);
                    true
                }
                None => false,
            },
            Event::Input(TermEvent::Resize(..)) => true,
            Event::Input(_) => false,
            Event::Data(data) => {
                app.on_data(data);
                true
            }
            Event::Link(LinkEvent::Connected) => {
                app.connected();
                true
            }
            Event::Link(LinkEvent::Retrying { reason, attempt, retry_in }) => {
                app.retrying(reason, attempt, retry_in);
                true
            }
            Event::Link(LinkEvent::Dumped(result)) => {
                match result {
                    Ok(summary) => app.notice(summary),
                    Err(why) => app.notice(why),
                }
                true
            }
            Event::Tick => {
                app.tick(Instant::now());
                true
            }
            Event::Terminate => {
                app.quit = true;
                false
            }
        };
        self.effects().await;
        redraw
    }

    async fn effects(&mut self) {
        let lists = self.app.lists();
        if lists != self.lists && self.engine.send(EngineInput::Lists(lists)).await.is_ok() {
            self.lists = lists;
        }
        for effect in self.app.take_effects() {
            match effect {
                Effect::Dump => {
                    // A dump already queued answers this one too.
                    let _ = self.commands.try_send(FeedCommand::Dump);
                }
                Effect::Focus(id) => {
                    let _ = self.engine.send(EngineInput::Focus(id)).await;
                }
                Effect::Flamegraph(ids) => {
                    let (reply, stacks) = tokio::sync::oneshot::channel();
                    if self.engine.send(EngineInput::Flamegraph(ids, reply)).await.is_err() {
                        continue;
                    }
                    let Ok(stacks) = stacks.await else { continue };
                    if stacks.is_empty() {
                        self.app.notice("no tasks on screen to draw");
                        continue;
                    }
                    let result = self.flamegraph.as_ref().map(|write| write(&stacks));
                    match result {
                        Some(Ok(path)) => {
                            // The full path: the working directory is not on screen.
                            let path = std::path::absolute(&path).unwrap_or(path);
                            self.app.notice(format!("flamegraph written to {}", path.display()))
                        }
                        Some(Err(why)) => {
                            self.app.notice(format!("failed to write a flamegraph: {why}"))
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// Lays out and draws one frame.
    pub(crate) fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> io::Result<()> {
        let size = terminal.size().map_err(|e| io::Error::other(e.to_string()))?;
        let area = Rect::new(0, 0, size.width, size.height);
        self.app.set_geometry(view::geometry(area, &self.app));
        terminal
            .draw(|frame| view::draw(frame, &self.app))
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(())
    }
}

/// The interactive loop: takes over the terminal, runs until `q`, Ctrl-C or a signal, and gives
/// the terminal back on every way out.
pub(crate) async fn run(
    connection: Connection,
    target: Target,
    options: Options,
) -> io::Result<()> {
    let mut session = Session::start(connection, target, options)?;
    let mut screen = terminal::Screen::enter()?;
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut terminate = signals()?;
    session.draw(&mut screen.terminal)?;
    while !session.app.quit {
        let event = tokio::select! {
            next = input.next() => match next {
                Some(Ok(event)) => Event::Input(event),
                Some(Err(err)) => return Err(err),
                None => Event::Terminate,
            },
            () = terminate.recv() => Event::Terminate,
            event = session.next_data_event(&mut tick) => event,
        };
        if session.handle(event).await && !session.app.quit {
            session.draw(&mut screen.terminal)?;
        }
    }
    drop(screen);
    Ok(())
}

/// SIGTERM, SIGHUP and SIGINT as one event (SIGINT only arrives from `kill`: in raw mode
/// Ctrl-C is a key).
struct Signals {
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

fn signals() -> io::Result<Signals> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Signals {
        terminate: signal(SignalKind::terminate())?,
        hangup: signal(SignalKind::hangup())?,
        interrupt: signal(SignalKind::interrupt())?,
    })
}
