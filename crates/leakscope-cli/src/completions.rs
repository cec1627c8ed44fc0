//! `leakscope completions SHELL`: the shell completion script, generated from the same clap
//! command line as `--help` (clap_complete), so it never lists a flag that does not exist.

use std::io::Write as _;

use clap::CommandFactory as _;
pub use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::{CliError, ExitStatus};

/// The flags of `leakscope completions` (its help text is on [`crate::Command::Completions`]).
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub(crate) fn script(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "leakscope", &mut out);
    out
}

/// Runs `leakscope completions SHELL`: the script on stdout.
pub(crate) fn run(args: &CompletionsArgs) -> Result<ExitStatus, CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script(args.shell))
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn text(shell: Shell) -> String {
        String::from_utf8(script(shell)).expect("completion scripts are UTF-8")
    }

    #[test]
    fn scripts_are_stable() {
        insta::assert_snapshot!("completions_bash", text(Shell::Bash));
        insta::assert_snapshot!("completions_fish", text(Shell::Fish));
        insta::assert_snapshot!("completions_zsh", text(Shell::Zsh));
    }

    #[test]
    fn every_shell_names_every_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let script = text(shell);
            for command in
                ["snapshot", "profile", "gate", "attach", "demo", "doctor", "completions", "man"]
            {
                assert!(script.contains(command), "{shell}: no `{command}`");
            }
        }
    }

    /// Runs `script` in bash and returns its stdout; bash is part of the build machines (Debian),
    /// so its absence is a failure, not a skip.
    fn bash(script: &str) -> std::process::Output {
        Command::new("bash")
            .args(["--noprofile", "--norc", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("bash runs")
    }

    #[test]
    fn the_bash_script_parses_and_completes() {
        let dir =
            std::env::temp_dir().join(format!("leakscope-completions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("leakscope.bash");
        std::fs::write(&path, script(Shell::Bash)).unwrap();
        let parsed = bash(&format!("bash -n '{}'", path.display()));
        assert!(parsed.status.success(), "bash -n: {}", String::from_utf8_lossy(&parsed.stderr));
        // Complete `leakscope sn<TAB>` and `leakscope snapshot --wa<TAB>` as bash would.
        // bash calls a completion function with the command, the word being completed and the
        // word before it, and COMP_WORDS/COMP_CWORD set.
        let complete = |words: &str, current: usize| {
            let split: Vec<&str> = words.split(' ').collect();
            let (cur, prev) = (split[current], split[current - 1]);
            let out = bash(&format!(
                "source '{}'; COMP_WORDS=({words}); COMP_CWORD={current}; COMP_LINE='{words}'; \
                 COMP_POINT=${{#COMP_LINE}}; _leakscope leakscope '{cur}' '{prev}'; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                path.display()
            ));
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(complete("leakscope sn", 1), ["snapshot"]);
        assert_eq!(complete("leakscope snapshot --wa", 2), ["--wait"]);
        assert_eq!(complete("leakscope completions po", 2), ["powershell"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
