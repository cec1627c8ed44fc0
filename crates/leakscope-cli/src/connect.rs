//! Reaching a target and starting its model: shared by every command that reads an app. Also
//! what every such command says about the target's health at once (a runtime the handshake
//! found stalled) and about the task dump a user asked for.

use std::time::Duration;

use leakscope_analysis::Model;
use leakscope_client::Connection;
use leakscope_gate::RuntimeStatus;
use leakscope_proto::v1::{DumpStatus, TaskDumpResponse};

/// An empty model for what `connection` reaches: identity and capabilities from its `Hello`.
/// What the source cannot show is decided by the analysis from that `Hello`
/// (`Sources::from_hello`), as for attach, gate and the test check.
pub(crate) fn model_for(connection: &Connection) -> Model {
    Model::from_hello(connection.hello())
}

/// Says on stderr, at once, which runtimes the handshake found stalled: a watch of several
/// seconds should not hide that the app is not running its tasks.
pub(crate) fn warn_stalled(connection: &Connection) {
    for line in stalled_at_handshake(connection.hello()) {
        eprintln!("leakscope: warning: {line}");
    }
}

/// One line per runtime the handshake reports stalled.
fn stalled_at_handshake(hello: &leakscope_proto::v1::HelloResponse) -> Vec<String> {
    hello
        .runtimes
        .iter()
        .filter(|r| r.stalled)
        .map(|r| {
            format!(
                "{} at the handshake: its workers are not running tasks (a blocking call, a busy \
                 loop, or a wedged runtime)",
                RuntimeStatus::from_metrics(r)
            )
        })
        .collect()
}

/// Takes the task dump the user asked for (`--task-dump`) within `timeout`. `Err` carries the
/// one-line outcome when no answer came back: the target cannot dump (`unsupported: …`) or the
/// request failed (`failed: …`). An answer is returned whatever its status.
pub(crate) async fn take_dump(
    connection: &mut Connection,
    timeout: Duration,
) -> Result<TaskDumpResponse, String> {
    match connection.dump(timeout).await {
        Ok(Some(dump)) => Ok(dump),
        Ok(None) => Err("unsupported: this target cannot take task dumps (console-subscriber, or \
                         an agent built without --cfg tokio_unstable or off Linux)"
            .to_owned()),
        Err(err) => Err(format!("failed: {err}")),
    }
}

/// `refused: <message>`, `timed-out: <message>`, …: why a dump did not succeed, in the words
/// the JSON's `target.dump` uses; `None` for a dump that did.
pub(crate) fn dump_failure(dump: &TaskDumpResponse) -> Option<String> {
    let status = DumpStatus::try_from(dump.status).unwrap_or(DumpStatus::Unspecified);
    if status == DumpStatus::Ok {
        return None;
    }
    let name = status.as_str_name().trim_start_matches("DUMP_STATUS_").to_lowercase();
    let name = name.replace('_', "-");
    Some(if dump.message.is_empty() { name } else { format!("{name}: {}", dump.message) })
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{DumpStatus, HelloResponse, RuntimeMetrics, TaskDumpResponse};

    use super::{dump_failure, stalled_at_handshake};

    #[test]
    fn unsuccessful_dumps_are_named_as_the_json_names_them() {
        let check = |status: DumpStatus, message: &str, expected: Option<&str>| {
            let dump = TaskDumpResponse {
                status: status as i32,
                message: message.into(),
                ..TaskDumpResponse::default()
            };
            assert_eq!(dump_failure(&dump).as_deref(), expected, "{status:?}");
        };
        check(DumpStatus::Ok, "", None);
        check(
            DumpStatus::Refused,
            "not attempted: a runtime is stalled",
            Some("refused: not attempted: a runtime is stalled"),
        );
        check(
            DumpStatus::TimedOut,
            "no dump within 2000 ms",
            Some("timed-out: no dump within 2000 ms"),
        );
        check(DumpStatus::NoRuntime, "", Some("no-runtime"));
        check(DumpStatus::Unsupported, "not Linux", Some("unsupported: not Linux"));
    }

    #[test]
    fn a_runtime_stalled_at_the_handshake_is_named() {
        let runtime = |id, stalled| RuntimeMetrics {
            runtime_id: id,
            flavor: "multi_thread".into(),
            workers: 1,
            heartbeat_age_nanos: if stalled { 2_500_000_000 } else { 50_000_000 },
            stalled,
            ..RuntimeMetrics::default()
        };
        let hello = HelloResponse {
            runtimes: vec![runtime(1, false), runtime(2, true)],
            ..HelloResponse::default()
        };
        let lines = stalled_at_handshake(&hello);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "runtime 2 (multi_thread, 1 worker): STALLED: heartbeat 2.5 s old at the handshake"
            ),
            "{lines:?}"
        );
    }
}
