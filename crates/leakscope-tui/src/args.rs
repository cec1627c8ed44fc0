//! The command lines of `leakscope attach` and `leakscope demo` (clap `Args`, registered as
//! subcommands by the CLI).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use leakscope_client::DEFAULT_ADDR;

fn duration(text: &str) -> Result<Duration, String> {
    leakscope_analysis::parse_bounded_duration(text)
}

/// An existing directory, made absolute so that the status line can say the full path of what
/// is written there. Checked when the command line is read, not when `f` is pressed.
fn directory(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            std::path::absolute(&path).map_err(|err| format!("cannot resolve `{text}`: {err}"))
        }
        Ok(_) => Err(format!("`{text}` is not a directory")),
        Err(err) => Err(format!("cannot use `{text}`: {err}")),
    }
}

/// `leakscope attach`'s own flags (the CLI adds the thresholds). Attaching fails before the
/// screen is taken over when the address is wrong, nothing answers there, it is not a leakscope
/// agent or console-subscriber endpoint, or there is no terminal; once attached, a target that
/// goes away is retried until the user quits.
#[derive(Debug, Clone, clap::Args)]
pub struct AttachArgs {
    /// The app's leakscope agent (or console-subscriber) address: host:port or http://host:port
    /// (the argument wins over LEAKSCOPE_ADDR, the variable every command reads).
    #[arg(
        value_name = "ADDR",
        env = "LEAKSCOPE_ADDR",
        hide_env_values = true,
        default_value = DEFAULT_ADDR
    )]
    pub addr: String,

    /// How often the agent sends updates, e.g. 500ms or 2s (default: the agent's, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub interval: Option<Duration>,

    /// Where `f` writes its flame graphs (`leakscope-screen-<time>.svg`); an existing
    /// directory. The status line shows the full path of each one written.
    #[arg(long, value_name = "DIR", default_value = ".", value_parser = directory)]
    pub out_dir: PathBuf,

    /// Measure instead of showing: draw this many frames off-screen, print JSON timings and the
    /// process's peak memory, and exit (for `cargo xtask bench`).
    #[arg(long, value_name = "N", hide = true)]
    pub bench_frames: Option<u32>,
}

/// `leakscope demo`'s flags. The zoo's workloads run in a child process (this program again,
/// `demo --serve`, with its agent on `--bind`) that stops when the UI quits; findings use
/// [`demo_config`](crate::demo_config)'s short thresholds so they appear within a minute.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Requests per second of each workload.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,

    /// Where the zoo's agent listens (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub bind: SocketAddr,

    /// Serve the zoo in this process instead of attaching (how the demo starts its child).
    #[arg(long, hide = true)]
    pub serve: bool,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::AttachArgs;

    /// Attach to a running app and watch its tasks.
    #[derive(Parser)]
    #[command(name = "leakscope attach")]
    struct Cli {
        #[command(flatten)]
        attach: AttachArgs,
    }

    fn parse(args: &[&str]) -> Result<AttachArgs, String> {
        Cli::try_parse_from(std::iter::once("attach").chain(args.iter().copied()))
            .map(|cli| cli.attach)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn help_names_the_environment_variable_and_the_out_dir() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("[env: LEAKSCOPE_ADDR]"), "{help}");
        assert!(help.contains("--out-dir <DIR>"), "{help}");
        // No golden of the whole text here: clap wraps it only where the workspace's features
        // turn on `wrap_help`; the CLI's help goldens (`leakscope attach --help`) hold it.
    }

    #[test]
    fn the_out_dir_is_an_existing_directory_made_absolute() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(parse(&[]).unwrap().out_dir, here);
        let tmp = std::env::temp_dir();
        assert_eq!(parse(&["--out-dir", tmp.to_str().unwrap()]).unwrap().out_dir, tmp);
        let err = parse(&["--out-dir", "Cargo.toml"]).unwrap_err();
        assert!(err.contains("`Cargo.toml` is not a directory"), "{err}");
        let err = parse(&["--out-dir", "/nonexistent/leakscope"]).unwrap_err();
        assert!(err.contains("cannot use `/nonexistent/leakscope`"), "{err}");
    }

    /// The address is `LEAKSCOPE_ADDR` when set, else the default; run with the variable set
    /// by [`leakscope_addr_gives_the_target`].
    #[test]
    fn addr_follows_the_environment() {
        let expected = std::env::var("LEAKSCOPE_ADDR")
            .unwrap_or_else(|_| leakscope_client::DEFAULT_ADDR.to_owned());
        assert_eq!(parse(&[]).unwrap().addr, expected);
        // An address on the command line wins over the variable.
        assert_eq!(parse(&["127.0.0.1:9"]).unwrap().addr, "127.0.0.1:9");
    }

    /// This test binary again, with `LEAKSCOPE_ADDR` set (the variable is process-wide, so it is
    /// set for a child rather than changed under the other tests).
    #[test]
    fn leakscope_addr_gives_the_target() {
        let exe = std::env::current_exe().unwrap();
        let output = std::process::Command::new(exe)
            .args(["--exact", "args::tests::addr_follows_the_environment"])
            .env("LEAKSCOPE_ADDR", "127.0.0.1:7001")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}
