//! The program: parse the arguments, run the command, turn the outcome into an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::Cli;
use crate::exit;

/// Runs `leakscope` with the process's arguments.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Runs `leakscope` with `args` (the first is the program name) and returns the exit code; errors
/// are printed to stderr as one line.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return exit::clap_error(&err),
    };
    match cli.command.run() {
        Ok(status) => status.into(),
        Err(err) => exit::report(&err),
    }
}
