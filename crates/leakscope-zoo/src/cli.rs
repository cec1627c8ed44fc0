//! The `leakscope-zoo` command line: its flags, and the start-up line tests read the port from.
//!
//! Exit codes: 0 when the load has run for `--duration`; 1 when the agent or a scenario fails to
//! start (one line on stderr, `leakscope-zoo: ...`); 2 for a bad command line (clap's usage
//! error).

use crate::{LoadOptions, Scenario};
use clap::builder::PossibleValue;
use clap::{Parser, ValueEnum};
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Run real leaking tokio workloads for leakscope to find.
#[derive(Debug, Clone, Parser)]
#[command(name = "leakscope-zoo", version)]
pub struct Args {
    /// Which workload to run; `all` runs every one at once, each with its own load.
    #[arg(long, value_enum, value_name = "NAME")]
    pub scenario: Selection,

    /// Requests per second of the synthetic load (per scenario).
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,

    /// Address of the leakscope agent (port 0 picks a free one)
    ///
    /// Without it: `LEAKSCOPE_BIND` (as `leakscope gate --run` sets), else 127.0.0.1:6669.
    //
    // Kept under 90 columns: clap wraps long help only where a workspace build turns on its
    // `wrap_help` feature, and the golden help text must read the same either way.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,

    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    pub duration: u64,
}

impl Args {
    /// The load the flags ask for.
    pub fn load(&self) -> LoadOptions {
        LoadOptions { rate: self.rate, duration: Duration::from_secs(self.duration) }
    }

    /// Prints the start-up line, `leakscope-zoo: scenario=NAME agent=IP:PORT`, and flushes it.
    ///
    /// A closed stdout is not an error: the line is for whoever watches, the load is the point.
    pub fn announce(&self, agent: SocketAddr) -> io::Result<()> {
        self.announce_with_http(agent, None)
    }

    /// [`announce`](Self::announce), naming the agent's HTTP endpoints too when it serves them
    /// (`LEAKSCOPE_HTTP_BIND`): `scenario=NAME http=IP:PORT agent=IP:PORT`. The HTTP address
    /// comes first so that readers taking what follows `agent=` read the same line either way.
    pub fn announce_with_http(
        &self,
        agent: SocketAddr,
        http: Option<SocketAddr>,
    ) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match write_announcement(&mut out, self.scenario, agent, http).and_then(|()| out.flush()) {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

fn write_announcement(
    out: &mut impl Write,
    selection: Selection,
    agent: SocketAddr,
    http: Option<SocketAddr>,
) -> io::Result<()> {
    match http {
        Some(http) => {
            writeln!(out, "leakscope-zoo: scenario={selection} http={http} agent={agent}")
        }
        None => writeln!(out, "leakscope-zoo: scenario={selection} agent={agent}"),
    }
}

/// What `--scenario` names: one scenario, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Just this one.
    One(Scenario),
    /// Every scenario at once.
    All,
}

/// Every value `--scenario` accepts, in the order `--help` lists them.
static SELECTIONS: [Selection; Scenario::ALL.len() + 1] = {
    let mut all = [Selection::All; Scenario::ALL.len() + 1];
    let mut i = 0;
    while i < Scenario::ALL.len() {
        all[i] = Selection::One(Scenario::ALL[i]);
        i += 1;
    }
    all
};

impl Selection {
    /// The scenarios to run.
    pub fn scenarios(&self) -> &[Scenario] {
        match self {
            Selection::One(scenario) => std::slice::from_ref(scenario),
            Selection::All => &Scenario::ALL,
        }
    }

    /// The name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Selection::One(scenario) => scenario.name(),
            Selection::All => "all",
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ValueEnum for Selection {
    fn value_variants<'a>() -> &'a [Self] {
        &SELECTIONS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Selection::One(scenario) => scenario.summary(),
            Selection::All => "every scenario at once",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn check(argv: &[&str], expected: Result<(Selection, u32, &str, u64), clap::error::ErrorKind>) {
        let parsed =
            Args::try_parse_from(std::iter::once("leakscope-zoo").chain(argv.iter().copied()));
        let parsed = parsed
            .map(|args| {
                let bind = args.bind.map(|addr| addr.to_string()).unwrap_or_default();
                (args.scenario, args.rate, bind, args.duration)
            })
            .map_err(|err| err.kind());
        let expected = expected.map(|(s, r, b, d)| (s, r, b.to_owned(), d));
        assert_eq!(parsed, expected, "{argv:?}");
    }

    #[test]
    fn parses_flags() {
        use clap::error::ErrorKind::*;
        let clean = Selection::One(Scenario::Clean);
        // No `--bind`: the agent's own `LEAKSCOPE_BIND`, else 127.0.0.1:6669, decides.
        check(&["--scenario", "clean"], Ok((clean, 20, "", 1800)));
        check(&["--scenario", "all"], Ok((Selection::All, 20, "", 1800)));
        check(
            &["--scenario", "deadlock", "--rate", "5", "--bind", "127.0.0.1:0", "--duration", "3"],
            Ok((Selection::One(Scenario::Deadlock), 5, "127.0.0.1:0", 3)),
        );
        check(&[], Err(MissingRequiredArgument));
        check(&["--scenario", "nope"], Err(InvalidValue));
        check(&["--scenario", "clean", "--rate", "0"], Err(ValueValidation));
        check(&["--scenario", "clean", "--bind", "localhost"], Err(ValueValidation));
        check(&["--scenario", "clean", "--frobnicate"], Err(UnknownArgument));
    }

    #[test]
    fn every_scenario_and_all_are_accepted() {
        for selection in SELECTIONS {
            check(&["--scenario", selection.name()], Ok((selection, 20, "", 1800)));
        }
        assert_eq!(SELECTIONS.iter().filter(|s| **s == Selection::All).count(), 1);
    }

    #[test]
    fn selection_lists_its_scenarios() {
        assert_eq!(Selection::All.scenarios(), &Scenario::ALL);
        assert_eq!(Selection::One(Scenario::LostWaker).scenarios(), &[Scenario::LostWaker]);
    }

    #[test]
    fn announcement_is_the_documented_line() {
        let mut out = Vec::new();
        let agent = "127.0.0.1:41234".parse().unwrap();
        write_announcement(&mut out, Selection::One(Scenario::SendBlocked), agent, None).unwrap();
        assert_eq!(out, b"leakscope-zoo: scenario=send-blocked agent=127.0.0.1:41234\n");
        let mut out = Vec::new();
        let http = "127.0.0.1:41235".parse().ok();
        write_announcement(&mut out, Selection::All, agent, http).unwrap();
        assert_eq!(
            out,
            b"leakscope-zoo: scenario=all http=127.0.0.1:41235 agent=127.0.0.1:41234\n"
        );
    }

    #[test]
    fn command_is_well_formed() {
        Args::command().debug_assert();
    }
}
