//! Starting zoo processes, finding the zoo's marked source lines, and reading the agent.

use leakscope_proto::v1::agent_client::AgentClient;
use leakscope_proto::v1::{
    HelloRequest, HelloResponse, Location, Snapshot, SnapshotRequest, Task, TaskDumpRequest,
    TaskDumpResponse,
};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub(crate) fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace root")
}

/// Builds `package`'s release binary `bin` (a no-op when it is up to date) and returns its path.
pub(crate) fn release_binary(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", package, "--bin", bin])
        .current_dir(workspace_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {bin} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    target.join("release").join(bin)
}

/// The first line a started process prints on its (piped) stdout: its start-up line, naming its
/// addresses. Panics if none comes within a minute.
pub(crate) fn start_up_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("the process prints its start-up line")
}

/// The line of the one `// <tag>` comment in `file` (relative to the workspace root).
pub(crate) fn marked_line(file: &str, tag: &str) -> u32 {
    let source = std::fs::read_to_string(workspace_root().join(file)).expect("readable");
    let marker = format!("// {tag}");
    let lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end().ends_with(&marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "expected one `{marker}` in {file}: {lines:?}");
    lines[0] as u32
}

/// A command's exit status and output, for assertion messages.
pub(crate) fn output_text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The zoo's release binary, built once per test run (a no-op when CI built it already).
pub(crate) fn zoo_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| release_binary("leakscope-zoo", "leakscope-zoo"))
}

/// The `leakscope` command's release binary, built once per test run.
pub(crate) fn leakscope_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| release_binary("leakscope-cli", "leakscope"))
}

/// The agent's address in a zoo's start-up line (`... agent=IP:PORT`).
pub(crate) fn agent_addr(line: &str) -> SocketAddr {
    line.trim()
        .rsplit("agent=")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"))
}

/// A running zoo process; killed on drop.
pub(crate) struct Zoo {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// The agent's HTTP endpoints, when started with `LEAKSCOPE_HTTP_BIND`.
    pub(crate) http: Option<SocketAddr>,
}

impl Zoo {
    /// Starts `scenario` with its agent on a free loopback port and waits for its start-up line.
    pub(crate) fn start(scenario: &str, rate: u32) -> Zoo {
        Self::start_with(scenario, rate, &[])
    }

    pub(crate) fn start_with(scenario: &str, rate: u32, env: &[(&str, &str)]) -> Zoo {
        let mut child = Command::new(zoo_binary())
            .args(["--scenario", scenario, "--rate", &rate.to_string()])
            .args(["--bind", "127.0.0.1:0", "--duration", "180"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the zoo starts");
        let line = start_up_line(&mut child);
        let addr = agent_addr(&line);
        // `http=IP:PORT` comes before `agent=` when the agent serves HTTP.
        let http = line.split_whitespace().find_map(|t| t.strip_prefix("http=")?.parse().ok());
        Zoo { child, addr, http }
    }

    pub(crate) async fn client(&self) -> AgentClient<Channel> {
        AgentClient::connect(format!("http://{}", self.addr))
            .await
            .expect("the agent accepts connections")
            .max_decoding_message_size(512 << 20)
    }

    pub(crate) async fn hello(&self) -> HelloResponse {
        self.client().await.hello(HelloRequest::default()).await.expect("hello").into_inner()
    }

    pub(crate) async fn snapshot(&self) -> Snapshot {
        let request = SnapshotRequest { include_finished: true };
        self.client().await.get_snapshot(request).await.expect("snapshot").into_inner()
    }

    pub(crate) async fn dump(&self) -> TaskDumpResponse {
        let request = TaskDumpRequest { timeout_millis: 10_000 };
        self.client().await.task_dump(request).await.expect("task dump").into_inner()
    }

    /// Takes snapshots until `check` accepts one (returning what it found), for at most `within`.
    /// Panics with the last reason `check` gave.
    pub(crate) async fn until<T>(
        &self,
        within: Duration,
        mut check: impl FnMut(&Snapshot) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + within;
        let mut pause = Duration::from_millis(100);
        loop {
            let snapshot = self.snapshot().await;
            match check(&snapshot) {
                Ok(found) => return found,
                Err(why) if Instant::now() >= deadline => panic!("not within {within:?}: {why}"),
                Err(_) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

impl Drop for Zoo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of the zoo's sources that carry `// zoo:<kind> <scenario>`, as (file suffix, line).
pub(crate) fn markers(kind: &str, scenario: &str) -> Vec<(String, u32)> {
    let dir = workspace_root().join("crates/leakscope-zoo/src/scenarios");
    let tag = format!("// zoo:{kind} {scenario}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("zoo scenarios exist") {
        let path = entry.expect("readable").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        for (i, line) in text.lines().enumerate() {
            if line.trim_end().ends_with(&tag) {
                let file = format!("scenarios/{}", path.file_name().unwrap().to_string_lossy());
                found.push((file, i as u32 + 1));
            }
        }
    }
    assert!(!found.is_empty(), "no `{tag}` marker in the zoo");
    found
}

/// The one marker of this kind for this scenario.
pub(crate) fn marker(kind: &str, scenario: &str) -> (String, u32) {
    let mut all = markers(kind, scenario);
    assert_eq!(all.len(), 1, "expected one `zoo:{kind} {scenario}` marker: {all:?}");
    all.remove(0)
}

pub(crate) fn location(snapshot: &Snapshot, id: u32) -> Option<&Location> {
    snapshot.locations.iter().find(|l| l.id == id)
}

pub(crate) fn is_at(snapshot: &Snapshot, id: u32, (file, line): &(String, u32)) -> bool {
    location(snapshot, id).is_some_and(|l| l.line == *line && l.file.ends_with(file.as_str()))
}

/// Live tasks spawned at `at`.
pub(crate) fn live_at<'a>(snapshot: &'a Snapshot, at: &(String, u32)) -> Vec<&'a Task> {
    snapshot
        .tasks
        .iter()
        .filter(|t| t.dropped_nanos == 0 && is_at(snapshot, t.location_id, at))
        .collect()
}

pub(crate) fn secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}
