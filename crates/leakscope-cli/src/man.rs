//! `leakscope man`: the manual page in roff, generated from the same clap command line as
//! `--help` (clap_mangen): the whole page on stdout, or with `--out-dir` one page per command
//! (`leakscope.1`, `leakscope-snapshot.1`, `leakscope-profile-cpu.1`, ...) for `man` to find.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::exit::{CliError, ExitStatus};

/// The flags of `leakscope man` (its help text is on [`crate::Command::Man`]).
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write one page per command into DIR (created if missing) instead of the top page on stdout
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The command line as the pages describe it: built, without the `help` subcommand (a page for
/// `leakscope help` would only say to read the others).
fn command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The roff of `command`'s page.
fn render(command: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command).render(&mut out).expect("writing to a Vec cannot fail");
    out
}

/// The top page, `leakscope(1)`: clap_mangen's sections, with the after-help text replaced by
/// the ENVIRONMENT and EXIT STATUS sections man pages have (docs/cli.md says the same).
pub(crate) fn page() -> Vec<u8> {
    let man = clap_mangen::Man::new(command());
    let mut out = Vec::new();
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for section in sections {
        section(&man, &mut out).expect("writing to a Vec cannot fail");
    }
    man.render_subcommands_section(&mut out).expect("writing to a Vec cannot fail");
    out.extend_from_slice(TOP_PAGE_SECTIONS.as_bytes());
    man.render_version_section(&mut out).expect("writing to a Vec cannot fail");
    out
}

/// One of clap_mangen's section renderers.
type Section = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;

/// The top page's own sections, in roff.
const TOP_PAGE_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBLEAKSCOPE_ADDR\fR
The target of \fBsnapshot\fR, \fBprofile\fR, \fBgate\fR, \fBdoctor\fR and \fBattach\fR when no
\fIADDR\fR argument is given. An argument wins over it; without either, 127.0.0.1:6669.
\fBgate \-\-load\fR commands are given it (and \fBLEAKSCOPE_AGENT\fR, the same address).
.TP
\fBGITHUB_STEP_SUMMARY\fR
\fBgate\fR with GitHub output appends its Markdown summary to this file.
.SH EXIT STATUS
.TP
\fB0\fR
Success.
.TP
\fB1\fR
A check failed: \fBgate\fR limits exceeded, leaks found or tasks did not settle;
\fBdoctor\fR found something missing.
.TP
\fB2\fR
Usage, configuration, connection, protocol or terminal error, or an output that could not be
written; one line on stderr.
.TP
\fB3\fR
\fBgate \-\-run\fR: the service under the gate or its load failed.
.TP
\fB130\fR
Interrupted (Ctrl-C or SIGTERM).
"#;

/// Every page: (file name, roff), the top command first, then each subcommand depth first.
/// clap_mangen names a subcommand's page after its path (`leakscope-profile-cpu.1`).
pub(crate) fn pages() -> Vec<(String, Vec<u8>)> {
    fn walk(command: clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
        let man = clap_mangen::Man::new(command.clone());
        out.push((man.get_filename(), render(command.clone())));
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub.clone(), out);
        }
    }
    let mut out = Vec::new();
    walk(command(), &mut out);
    out
}

/// Runs `leakscope man`.
pub(crate) fn run(args: &ManArgs) -> Result<ExitStatus, CliError> {
    let Some(dir) = &args.out_dir else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&page()).and_then(|()| stdout.flush()).map_err(CliError::Output)?;
        return Ok(ExitStatus::Success);
    };
    leakscope_gate::check_directory(dir)
        .map_err(|reason| CliError::Usage(format!("--out-dir: {reason}")))?;
    let pages = pages();
    for (name, roff) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, roff).map_err(|source| CliError::WriteFile { path, source })?;
    }
    println!("leakscope: wrote {} pages to {}", pages.len(), Path::new(dir).display());
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn text(roff: &[u8]) -> String {
        String::from_utf8(roff.to_vec()).expect("roff is UTF-8")
    }

    #[test]
    fn the_page_is_stable() {
        insta::assert_snapshot!("man_leakscope", text(&page()));
    }

    #[test]
    fn the_page_has_the_sections_a_man_page_needs() {
        let page = text(&page());
        assert!(page.starts_with(".ie \\n(.g .ds Aq \\(aq") || page.contains("\n.TH "), "{page}");
        assert!(page.contains(".TH leakscope 1"), "title line");
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "ENVIRONMENT",
            "EXIT STATUS",
            "VERSION",
        ] {
            assert!(page.contains(&format!(".SH {section}")), "no .SH {section}");
        }
        assert!(page.contains("LEAKSCOPE_ADDR"), "the environment is documented");
    }

    #[test]
    fn there_is_one_page_per_command() {
        let names: Vec<String> = pages().into_iter().map(|(name, _)| name).collect();
        for expected in [
            "leakscope.1",
            "leakscope-snapshot.1",
            "leakscope-profile.1",
            "leakscope-profile-cpu.1",
            "leakscope-profile-diff.1",
            "leakscope-gate.1",
            "leakscope-attach.1",
            "leakscope-demo.1",
            "leakscope-doctor.1",
            "leakscope-completions.1",
            "leakscope-man.1",
        ] {
            assert!(names.iter().any(|n| n == expected), "no {expected} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "no page for `help`: {names:?}");
    }

    /// `man -l` renders the page; a roff error shows on stderr. Missing `man` fails: `cargo
    /// xtask tools` installs it (Debian's man-db), as `cargo xtask ci` does.
    #[test]
    fn man_renders_the_page() {
        let found = Command::new("man").arg("--version").output();
        assert!(
            found.is_ok_and(|out| out.status.success()),
            "man could not run: this test needs it; install it with `cargo xtask tools` \
             (Debian's man-db)"
        );
        let dir = std::env::temp_dir().join(format!("leakscope-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("leakscope.1");
        std::fs::write(&path, page()).unwrap();
        let out = Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // man marks bold and underlined text by overstriking (`N\x08N`); keep the last char.
        let mut shown = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\x08' {
                shown.pop();
            } else {
                shown.push(c);
            }
        }
        assert!(out.status.success(), "man -l: {}", String::from_utf8_lossy(&out.stderr));
        for expected in
            ["NAME", "SYNOPSIS", "snapshot", "ENVIRONMENT", "LEAKSCOPE_ADDR", "EXIT STATUS"]
        {
            assert!(shown.contains(expected), "no {expected} in {shown}");
        }
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "roff warnings");
        assert!(!shown.contains("BLEAKSCOPE_ADDRR"), "font escapes are escapes: {shown}");
    }
}
