//! `leakscope doctor`: connect to a target and say, one line per check, what its build lets
//! leakscope see and the exact fix for what it cannot. The checks are the analysis crate's
//! ([`leakscope_analysis::Facts::checks`]), the same facts snapshot, attach and the gate show on
//! one line.
//!
//! Exit codes: 0 when nothing is missing (a check the target could not answer, `unknown`, and an
//! opt-in left off, `off`, do not count); 1 when something is missing; 2 when the target cannot
//! be reached or spoken to.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::Args;
use leakscope_analysis::{Facts, Status};
use leakscope_client::{Backend, Connection, DEFAULT_ADDR, Target};
use leakscope_gate::ADDR_ENV;
use leakscope_proto::v1::HelloResponse;

use crate::exit::{CliError, ExitStatus};
use crate::runtime::block_on;

/// The flags of `leakscope doctor` (its help text is on [`crate::Command::Doctor`]).
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// The app to check: host:port or http://host:port (the argument wins over LEAKSCOPE_ADDR)
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true, default_value = DEFAULT_ADDR)]
    pub addr: String,
}

/// Runs `leakscope doctor`.
pub(crate) fn run(args: DoctorArgs) -> Result<ExitStatus, CliError> {
    let target = Target::parse(&args.addr)?;
    let connection = block_on(Connection::connect(&target))??;
    let facts = Facts::from_hello(connection.hello());
    let output = render(&target, connection.backend(), connection.hello(), &facts);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::Output)?;
    Ok(if facts.complete() { ExitStatus::Success } else { ExitStatus::CheckFailed })
}

/// The report: who was reached, then one line per check with its fix.
fn render(target: &Target, backend: Backend, hello: &HelloResponse, facts: &Facts) -> String {
    let mut out = String::new();
    let who = match (hello.process_name.as_str(), hello.pid) {
        ("", 0) => "an app".to_owned(),
        (name, pid) => format!("{name} (pid {pid})"),
    };
    let source = match backend {
        Backend::Leakscope => format!("leakscope agent {}", hello.agent_version),
        Backend::Console => hello.agent_version.clone(),
    };
    let _ = writeln!(out, "leakscope doctor: {who} at {target}, {source}");
    for check in facts.checks() {
        let status = match check.status {
            Status::Ok => "ok     ",
            Status::Missing => "MISSING",
            Status::Unknown => "unknown",
            Status::Off => "off    ",
        };
        let fix = check.fix.map(|fix| format!("; fix: {fix}")).unwrap_or_default();
        let _ = writeln!(out, "{status} {}{fix}", check.what);
    }
    let _ = writeln!(
        out,
        "{}",
        if facts.complete() {
            "leakscope sees everything this target offers"
        } else {
            "leakscope cannot see everything: apply the fixes above, rebuild and restart the app"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakscope_proto::v1::Capabilities;
    use leakscope_proto::v1::capabilities::Presence;

    #[test]
    fn each_check_is_one_line_with_its_fix() {
        let hello = HelloResponse {
            agent_version: "0.1.0".into(),
            pid: 7,
            process_name: "shop".into(),
            tokio_version: "1.54.0".into(),
            tokio_minimum: "1.54".into(),
            capabilities: Some(Capabilities {
                runtime_metrics: true,
                cpu_profile: true,
                frame_pointers: Presence::Absent as i32,
                line_tables: Presence::Present as i32,
                ..Capabilities::default()
            }),
            ..HelloResponse::default()
        };
        let facts = Facts::from_hello(&hello);
        let text = render(&Target::default(), Backend::Leakscope, &hello, &facts);
        insta::assert_snapshot!(text);
    }
}
