//! `leakscope demo`: the leak zoo's workloads in a child process (this program again, with
//! `demo --serve`), and the terminal UI attached to it with the demo's short thresholds.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use leakscope_zoo::cli::{Args as ZooArgs, Selection};

use crate::args::DemoArgs;
use crate::attach::{AttachError, demo_config, runtime};
use crate::session::{FlamegraphHook, Options};

/// How long the child may take to start its agent.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The zoo runs until the UI quits; this only bounds a child whose parent vanished unnoticed.
const ZOO_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Runs `leakscope demo` until the user quits. With `--serve` (the child), serves the zoo
/// instead and returns the child's exit code.
pub fn demo(args: &DemoArgs, flamegraph: Option<FlamegraphHook>) -> Result<ExitCode, AttachError> {
    if args.serve {
        return Ok(serve(args));
    }
    let started = Instant::now();
    let mut zoo = Zoo::start(args).map_err(AttachError::Demo)?;
    let options = Options { config: demo_config(), interval: None, flamegraph };
    let result = runtime()?.block_on(crate::attach::run(&zoo.addr, options, None, started));
    zoo.stop();
    result.map(|()| ExitCode::SUCCESS)
}

/// The child process serving the zoo.
struct Zoo {
    child: Child,
    addr: String,
}

impl Zoo {
    fn start(args: &DemoArgs) -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|err| format!("failed to find this program to start the zoo: {err}"))?;
        let mut child = Command::new(exe)
            .args([
                "demo",
                "--serve",
                "--rate",
                &args.rate.to_string(),
                "--bind",
                &args.bind.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("failed to start the zoo: {err}"))?;
        let stdout = child.stdout.take().ok_or("failed to read the zoo's output")?;
        let mut stderr = child.stderr.take().ok_or("failed to read the zoo's errors")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            // Keep draining so the child never blocks on a full pipe.
            lines.for_each(drop);
        });
        let (err_tx, err_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Only what the child says before it is up is shown; later output would garble
            // the screen, so it is read and dropped.
            let mut text = String::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if text.len() < 4096 {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                let _ = err_tx.send(text.clone());
            }
        });
        let mut zoo = Zoo { child, addr: String::new() };
        let line = rx.recv_timeout(START_TIMEOUT).ok().flatten();
        let addr =
            line.as_deref().and_then(|l| l.rsplit("agent=").next()).filter(|a| !a.is_empty());
        match addr {
            Some(addr) if line.as_deref().is_some_and(|l| l.contains("agent=")) => {
                zoo.addr = addr.trim().to_owned();
                Ok(zoo)
            }
            _ => {
                zoo.stop();
                let said = err_rx.try_iter().last().unwrap_or_default();
                let said =
                    said.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output");
                Err(format!("the zoo did not start: {said}"))
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Zoo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The child: the agent on `--bind`, every zoo scenario, until stdin closes (the parent quit).
fn serve(args: &DemoArgs) -> ExitCode {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return child_error(format!("failed to start the tokio runtime: {err}")),
    };
    runtime.block_on(async {
        let agent = match leakscope::Builder::from_env().and_then(|b| b.bind(args.bind).try_init())
        {
            Ok(agent) => agent,
            Err(err) => {
                return child_error(format!("failed to start the agent on {}: {err}", args.bind));
            }
        };
        let zoo = ZooArgs {
            scenario: Selection::All,
            rate: args.rate,
            bind: Some(agent.local_addr()),
            duration: ZOO_DURATION.as_secs(),
        };
        if let Err(err) = zoo.announce(agent.local_addr()) {
            return child_error(format!("failed to announce the zoo: {err}"));
        }
        let _ = std::io::stdout().flush();
        match leakscope_zoo::run(zoo.scenario.scenarios(), &zoo.load()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("leakscope: the zoo failed: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The child's errors: one line on stderr (the parent shows it), exit code 2.
fn child_error(message: String) -> ExitCode {
    eprintln!("leakscope: {message}");
    ExitCode::from(2)
}
