//! Run mode's child processes, the service and the load: each a shell command (`sh -c`) in a
//! process group of its own, so that stopping it stops whatever it started too. Their stdout goes
//! to the gate's stderr, keeping the gate's stdout for its report.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use crate::error::GateError;

/// How long a service gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running shell command; its process group is killed on drop if it is still running.
pub(crate) struct Child {
    command: String,
    child: tokio::process::Child,
    /// The process group (the shell's pid), while it may still have members.
    group: Option<u32>,
}

impl Child {
    /// Starts `command` under `sh -c` with `env` added.
    pub(crate) fn spawn(command: &str, env: &[(&str, String)]) -> Result<Self, GateError> {
        let mut shell = shell(command);
        shell
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::io::stderr())
            .kill_on_drop(true);
        #[cfg(unix)]
        shell.process_group(0);
        let child = shell
            .spawn()
            .map_err(|source| GateError::Spawn { command: command.to_owned(), source })?;
        let group = child.id();
        Ok(Self { command: command.to_owned(), child, group })
    }

    /// The command line, for messages.
    pub(crate) fn command(&self) -> &str {
        &self.command
    }

    /// Waits for the shell to exit.
    pub(crate) async fn wait(&mut self) -> Result<ExitStatus, GateError> {
        self.child
            .wait()
            .await
            .map_err(|source| GateError::Wait { command: self.command.clone(), source })
    }

    /// The exit status, if it has exited.
    pub(crate) fn try_status(&mut self) -> Result<Option<ExitStatus>, GateError> {
        self.child
            .try_wait()
            .map_err(|source| GateError::Wait { command: self.command.clone(), source })
    }

    /// Asks the whole group to stop (SIGTERM), and kills it if it has not within the grace.
    pub(crate) async fn stop(mut self) {
        signal_group(self.group, Signal::Terminate);
        if tokio::time::timeout(STOP_GRACE, self.child.wait()).await.is_err() {
            signal_group(self.group, Signal::Kill);
            let _ = self.child.wait().await;
        }
        // Members the shell left behind (a backgrounded server) go too.
        signal_group(self.group.take(), Signal::Kill);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        signal_group(self.group.take(), Signal::Kill);
    }
}

/// `sh -c command`, or `cmd /C command` on Windows.
fn shell(command: &str) -> tokio::process::Command {
    #[cfg(windows)]
    {
        let mut shell = tokio::process::Command::new("cmd");
        shell.args(["/C", command]);
        shell
    }
    #[cfg(not(windows))]
    {
        let mut shell = tokio::process::Command::new("sh");
        shell.args(["-c", command]);
        shell
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Terminate,
    Kill,
}

#[cfg(unix)]
fn signal_group(group: Option<u32>, signal: Signal) {
    let Some(pid) = group.and_then(|g| libc::pid_t::try_from(g).ok()) else { return };
    let signal = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) with a negative pid signals that process group; it touches no memory.
    // The group is the one `spawn` created for this child (process_group(0) makes the shell its
    // leader); an error (the group is already gone) is of no consequence.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Without process groups only the shell itself is stopped (by `kill_on_drop`).
#[cfg(not(unix))]
fn signal_group(_group: Option<u32>, _signal: Signal) {}

/// `exit status 3`, `signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => status.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_the_whole_group() {
        // The shell starts a grandchild in the background and waits on it; stopping the shell's
        // group must end both, or the sleep would outlive the gate.
        let marker = std::env::temp_dir().join(format!("leakscope-gate-{}", std::process::id()));
        let command = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let mut child = Child::spawn(&command, &[]).unwrap();
        let grandchild = loop {
            if let Ok(text) = std::fs::read_to_string(&marker)
                && let Ok(pid) = text.trim().parse::<i32>()
            {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(child.try_status().unwrap().is_none());
        child.stop().await;
        let _ = std::fs::remove_file(&marker);
        // The grandchild is gone (or a zombie about to be reaped by init): signal 0 fails or
        // its /proc entry says so.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            // SAFETY: signal 0 only checks that the process exists.
            let alive = unsafe { libc::kill(grandchild, 0) } == 0;
            let zombie = std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .is_ok_and(|stat| stat.split_whitespace().nth(2) == Some("Z"));
            if !alive || zombie {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the grandchild {grandchild} survived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn statuses_are_described() {
        let mut ok = Child::spawn("exit 3", &[("X", "1".into())]).unwrap();
        assert_eq!(describe(ok.wait().await.unwrap()), "exit status 3");
        let mut killed = Child::spawn("kill -9 $$", &[]).unwrap();
        assert_eq!(describe(killed.wait().await.unwrap()), "killed by signal 9");
        assert_eq!(killed.command(), "kill -9 $$");
    }
}
