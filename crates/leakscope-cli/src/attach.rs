//! `leakscope attach` and `leakscope demo`: the terminal UI (crate `leakscope-tui`), with the
//! thresholds every analysing command shares, and flame graphs of what is on screen written
//! through `leakscope-profile`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use leakscope_tui::{AttachError, FlamegraphHook};

use crate::exit::{CliError, ExitStatus};
use crate::thresholds::ThresholdArgs;

/// `attach`'s arguments: the UI's own, then the thresholds its findings are judged by.
#[derive(Debug, clap::Args)]
pub struct AttachCommand {
    /// The UI's flags.
    #[command(flatten)]
    pub attach: leakscope_tui::AttachArgs,
    /// Detector thresholds and suppressions.
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

impl AttachCommand {
    /// Runs the UI until the user quits.
    pub(crate) fn run(self) -> Result<ExitStatus, CliError> {
        let config = self.thresholds.load()?;
        leakscope_tui::attach(&self.attach, config, Some(flamegraph_writer()))
            .map_err(into_cli_error)?;
        Ok(ExitStatus::Success)
    }
}

/// Runs `leakscope demo`.
pub(crate) fn demo(args: leakscope_tui::DemoArgs) -> Result<ExitStatus, CliError> {
    let code = leakscope_tui::demo(&args, Some(flamegraph_writer())).map_err(into_cli_error)?;
    Ok(if code == ExitCode::SUCCESS { ExitStatus::Success } else { ExitStatus::Error })
}

fn into_cli_error(err: AttachError) -> CliError {
    CliError::from_attach(err)
}

/// Writes `leakscope-screen-<unix time>.svg` in the working directory from the folded stacks of
/// the tasks on screen.
fn flamegraph_writer() -> FlamegraphHook {
    Box::new(|stacks| {
        let text: String =
            stacks.iter().map(|(stack, count)| format!("{stack} {count}\n")).collect();
        let profile = leakscope_profile::folded::read_folded(&text).map_err(|e| e.to_string())?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let path = PathBuf::from(format!("leakscope-screen-{secs}.svg"));
        leakscope_profile::write_path(
            &profile,
            Path::new(&path),
            &leakscope_profile::WriteOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        Ok(path)
    })
}
