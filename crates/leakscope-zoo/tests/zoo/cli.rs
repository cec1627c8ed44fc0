//! The command line, run as a process: help, usage errors, the start-up line, stopping by itself.

use crate::support::{Zoo, assert_golden, zoo_output};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[test]
fn help_is_stable() {
    let (status, help, stderr) = zoo_output(&["--help"]);
    assert!(status.success(), "{status}: {stderr}");
    assert_golden("help.txt", &help);
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    check_usage_error(&["--scenario", "nope"], "invalid value 'nope' for '--scenario <NAME>'");
    check_usage_error(&["--scenario", "clean", "--rate", "0"], "--rate <N>");
    check_usage_error(&["--rate", "5"], "--scenario <NAME>");
}

#[test]
fn announces_the_agent_and_stops_by_itself() {
    let mut zoo = Zoo::start(&["--scenario", "all", "--bind", "127.0.0.1:0", "--duration", "2"]);
    let line = zoo.first_line(Duration::from_secs(30));
    let agent = line
        .strip_prefix("leakscope-zoo: scenario=all agent=")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"));
    let agent: SocketAddr = agent.parse().expect("the line ends with IP:PORT");
    assert!(agent.ip().is_loopback(), "{agent}");
    assert_ne!(agent.port(), 0, "the real port, not the one asked for");
    // The agent is listening while the load runs.
    TcpStream::connect_timeout(&agent, Duration::from_secs(5)).expect("the agent accepts");

    let (status, stderr) = zoo.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}: {stderr}");
}

/// The agent's address: `--bind`, else `LEAKSCOPE_BIND` (how `leakscope gate --run` hands a
/// service its port), else 127.0.0.1:6669 (not started here: another process may hold it).
#[test]
fn the_agent_binds_to_the_flag_else_to_leakscope_bind() {
    let agent = |args: &[&str], bind: &str| {
        let mut argv = vec!["--scenario", "clean", "--duration", "2"];
        argv.extend_from_slice(args);
        let mut zoo = Zoo::start_with_env(&argv, &[("LEAKSCOPE_BIND", bind)]);
        let line = zoo.first_line(Duration::from_secs(30));
        let agent: SocketAddr = line
            .trim()
            .rsplit("agent=")
            .next()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"));
        let (status, stderr) = zoo.wait(Duration::from_secs(30));
        assert!(status.success(), "{status}: {stderr}");
        agent
    };
    // The environment alone decides: a port that was free a moment ago.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert_eq!(agent(&[], &free.to_string()), free);
    // The flag wins over the environment.
    let flagged = agent(&["--bind", "127.0.0.1:0"], "127.0.0.1:1");
    assert!(flagged.ip().is_loopback() && flagged.port() > 1, "{flagged}");
}

#[test]
fn a_bad_leakscope_bind_is_one_line_and_exit_one() {
    let zoo = Zoo::start_with_env(&["--scenario", "clean"], &[("LEAKSCOPE_BIND", "nowhere")]);
    let (status, stderr) = zoo.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("LEAKSCOPE_BIND"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

fn check_usage_error(args: &[&str], expected_in_stderr: &str) {
    let (status, _, stderr) = zoo_output(args);
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected_in_stderr), "{args:?}: {stderr}");
}
