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

fn check_usage_error(args: &[&str], expected_in_stderr: &str) {
    let (status, _, stderr) = zoo_output(args);
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected_in_stderr), "{args:?}: {stderr}");
}
