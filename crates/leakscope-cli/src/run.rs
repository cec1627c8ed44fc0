//! The program: parse the arguments, run the command, turn the outcome into an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::Cli;
use crate::exit;

/// Runs `leakscope` with the process's arguments.
pub fn main() -> ExitCode {
    crate::memory::return_large_buffers();
    run(std::env::args_os())
}

/// Runs `leakscope` with `args` (the first is the program name) and returns the exit code; errors
/// are printed to stderr as one line.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return exit::clap_error(&err, &command_path(&args)),
    };
    match cli.command.run() {
        Ok(status) => status.into(),
        Err(err) => exit::report(&err),
    }
}

/// The subcommand `args` name (`leakscope profile cpu`): each word that is a subcommand of the
/// one before, skipping flags, their values and positional arguments.
fn command_path(args: &[OsString]) -> String {
    let mut command = Cli::command();
    let mut path = vec!["leakscope".to_owned()];
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(arg).cloned() else { continue };
        path.push(sub.get_name().to_owned());
        command = sub;
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::command_path;

    fn check(args: &[&str], expected: &str) {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        assert_eq!(command_path(&args), expected, "{args:?}");
    }

    #[test]
    fn the_command_path_names_the_subcommand() {
        check(&["leakscope"], "leakscope");
        check(&["leakscope", "snapshot", "127.0.0.1:1", "--wait", "x"], "leakscope snapshot");
        check(
            &["leakscope", "profile", "cpu", "-o", "x", "--duration", "0"],
            "leakscope profile cpu",
        );
        check(&["leakscope", "gate", "--run", "snapshot"], "leakscope gate");
        check(&["leakscope", "frobnicate"], "leakscope");
    }
}
