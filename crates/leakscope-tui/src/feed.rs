//! The feed: one task that holds the connection, streams updates to the engine, takes task dumps
//! on request, and when the target goes away tells the screen and reconnects with backoff.

use std::time::Duration;

use leakscope_client::{Connection, Target};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;

use crate::engine::EngineInput;

/// How long a task dump may take before the agent gives up (a blocked worker never yields).
const DUMP_TIMEOUT: Duration = Duration::from_secs(5);
/// First reconnection delay; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// News for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// Connected (again) and watching.
    Connected,
    /// The connection is gone; the next attempt is in `retry_in`.
    Retrying { reason: String, attempt: u32, retry_in: Duration },
    /// A task dump finished (a summary) or failed (why).
    Dumped(Result<String, String>),
}

/// Requests from the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedCommand {
    /// Take a task dump.
    Dump,
}

/// The delay before reconnection attempt `attempt` (1-based).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(10);
    (FIRST_BACKOFF * factor).min(MAX_BACKOFF)
}

/// Runs until the screen goes away (its channels close).
pub(crate) async fn run(
    first: Connection,
    target: Target,
    interval: Option<Duration>,
    engine: mpsc::Sender<EngineInput>,
    link: mpsc::Sender<LinkEvent>,
    mut commands: mpsc::Receiver<FeedCommand>,
) {
    let mut connection = Some(first);
    let mut reason = String::new();
    let mut attempt = 0;
    loop {
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => {
                attempt += 1;
                let retry_in = backoff(attempt);
                let event = LinkEvent::Retrying { reason: reason.clone(), attempt, retry_in };
                if link.send(event).await.is_err() {
                    return;
                }
                let sleep = tokio::time::sleep(retry_in);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = &mut sleep => break,
                        command = commands.recv() => match command {
                            Some(FeedCommand::Dump) => {
                                let why = format!("cannot take a task dump: not connected ({reason})");
                                let _ = link.send(LinkEvent::Dumped(Err(why))).await;
                            }
                            None => return,
                        },
                    }
                }
                match Connection::connect(&target).await {
                    Ok(conn) => conn,
                    Err(err) => {
                        reason = err.to_string();
                        continue;
                    }
                }
            }
        };
        let hello = Box::new(conn.hello().clone());
        if engine.send(EngineInput::Hello(hello)).await.is_err() {
            return;
        }
        let mut updates = match conn.watch(interval).await {
            Ok(updates) => updates,
            Err(err) => {
                reason = err.to_string();
                continue;
            }
        };
        attempt = 0;
        if link.send(LinkEvent::Connected).await.is_err() {
            return;
        }
        reason = loop {
            tokio::select! {
                part = updates.next() => match part {
                    Some(Ok(part)) => {
                        if engine.send(EngineInput::Update(Box::new(part))).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(err)) => break err.to_string(),
                    None => break format!("{} closed the connection", conn.target()),
                },
                command = commands.recv() => match command {
                    Some(FeedCommand::Dump) => {
                        tokio::spawn(dump(conn.clone(), engine.clone(), link.clone()));
                    }
                    None => return,
                },
            }
        };
    }
}

/// Takes one task dump off the update path: the agent may take seconds.
async fn dump(
    mut conn: Connection,
    engine: mpsc::Sender<EngineInput>,
    link: mpsc::Sender<LinkEvent>,
) {
    let result = match conn.dump(DUMP_TIMEOUT).await {
        Ok(Some(dump)) => {
            let summary = summarize(&dump);
            let _ = engine.send(EngineInput::Dump(Box::new(dump))).await;
            Ok(summary)
        }
        Ok(None) => Err("this target cannot take task dumps".to_owned()),
        Err(err) => Err(err.to_string()),
    };
    let _ = link.send(LinkEvent::Dumped(result)).await;
}

fn summarize(dump: &leakscope_proto::v1::TaskDumpResponse) -> String {
    use leakscope_proto::v1::DumpStatus;
    let millis = dump.duration_nanos as f64 / 1e6;
    match DumpStatus::try_from(dump.status) {
        Ok(DumpStatus::Ok) => {
            let tasks = match dump.traces.len() {
                1 => "1 task".to_owned(),
                n => format!("{} tasks", leakscope_analysis::format_count(n as u64)),
            };
            format!("task dump: {tasks} traced in {millis:.0}ms")
        }
        Ok(DumpStatus::TimedOut) => {
            format!("task dump timed out: a worker thread is blocked or busy ({})", dump.message)
        }
        Ok(DumpStatus::Unsupported) => {
            format!("task dumps are not supported here: {}", dump.message)
        }
        Ok(DumpStatus::NoRuntime) => "task dump: no runtime registered with the agent".to_owned(),
        Ok(DumpStatus::Refused) => format!("task dump refused by the agent: {}", dump.message),
        _ => format!("task dump failed: {}", dump.message),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use leakscope_proto::v1::{DumpStatus, TaskDumpResponse};

    use super::{backoff, summarize};

    #[test]
    fn a_refused_dump_says_why() {
        let dump = TaskDumpResponse {
            status: DumpStatus::Refused as i32,
            message: "not attempted: a runtime is stalled".into(),
            ..TaskDumpResponse::default()
        };
        assert_eq!(
            summarize(&dump),
            "task dump refused by the agent: not attempted: a runtime is stalled"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let delays: Vec<Duration> = (1..=7).map(backoff).collect();
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff(u32::MAX), Duration::from_secs(5));
    }
}
