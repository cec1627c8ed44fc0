//! The names of the scenarios: [`Scenario`], parsed from and printed as its kebab-case name.

use std::fmt;
use std::str::FromStr;

/// One workload of the zoo. Every variant but [`Clean`](Scenario::Clean) leaks or stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// A slow task spawned per request with nothing bounding how many run at once.
    UnboundedSpawn,
    /// A worker stuck reading from an upstream that never answers, after its caller gave up.
    NoTimeoutUpstream,
    /// Producers stuck in `send` on a bounded channel whose consumer stopped reading.
    SendBlocked,
    /// Consumers stuck in `recv` on channels whose senders are kept but never used.
    RecvNeverClosed,
    /// A ticker started per request that nothing stops when the request ends.
    MissingCancellation,
    /// A hand-written future that returns `Pending` without keeping the waker.
    LostWaker,
    /// Tasks queued on a mutex whose holder awaits slow work with the guard held.
    LockHeldAcrossAwait,
    /// A blocking sleep and a CPU-bound loop inside async code, stalling a worker thread.
    BlockingInAsync,
    /// Pairs of tasks each waiting for the other: two mutexes locked in opposite orders, and two
    /// channels each side waits on before sending.
    Deadlock,
    /// The same kinds of work done right: bounded, timed out, cancelled, closed, non-blocking.
    Clean,
}

impl Scenario {
    /// Every scenario, in the order the docs present them.
    pub const ALL: [Scenario; 10] = [
        Scenario::UnboundedSpawn,
        Scenario::NoTimeoutUpstream,
        Scenario::SendBlocked,
        Scenario::RecvNeverClosed,
        Scenario::MissingCancellation,
        Scenario::LostWaker,
        Scenario::LockHeldAcrossAwait,
        Scenario::BlockingInAsync,
        Scenario::Deadlock,
        Scenario::Clean,
    ];

    /// The kebab-case name used on the command line, in spans and in source markers.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::UnboundedSpawn => "unbounded-spawn",
            Scenario::NoTimeoutUpstream => "no-timeout-upstream",
            Scenario::SendBlocked => "send-blocked",
            Scenario::RecvNeverClosed => "recv-never-closed",
            Scenario::MissingCancellation => "missing-cancellation",
            Scenario::LostWaker => "lost-waker",
            Scenario::LockHeldAcrossAwait => "lock-held-across-await",
            Scenario::BlockingInAsync => "blocking-in-async",
            Scenario::Deadlock => "deadlock",
            Scenario::Clean => "clean",
        }
    }

    /// One line saying what goes wrong, for `--help`.
    pub const fn summary(self) -> &'static str {
        match self {
            Scenario::UnboundedSpawn => "a slow task per request, unbounded",
            Scenario::NoTimeoutUpstream => "workers stuck reading from a silent upstream",
            Scenario::SendBlocked => "producers stuck sending to a consumer that stopped reading",
            Scenario::RecvNeverClosed => "consumers stuck receiving from senders never dropped",
            Scenario::MissingCancellation => "a ticker per request that nothing stops",
            Scenario::LostWaker => "a future that returns Pending without keeping the waker",
            Scenario::LockHeldAcrossAwait => "a mutex guard held across slow work",
            Scenario::BlockingInAsync => "thread::sleep and CPU-bound work on runtime threads",
            Scenario::Deadlock => "task pairs waiting on each other (mutexes, channels)",
            Scenario::Clean => "the same load done right: must never look leaky",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == s)
            .ok_or_else(|| UnknownScenario(s.to_owned()))
    }
}

/// A name that is not one of [`Scenario::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to find scenario {:?}; known scenarios:", self.0)?;
        for scenario in Scenario::ALL {
            write!(f, " {scenario}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownScenario {}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Option<Scenario>) {
        assert_eq!(name.parse::<Scenario>().ok(), expected, "parsing {name:?}");
        if let Some(scenario) = expected {
            assert_eq!(scenario.name(), name);
            assert_eq!(scenario.to_string(), name);
        }
    }

    #[test]
    fn names_round_trip() {
        for scenario in Scenario::ALL {
            check(scenario.name(), Some(scenario));
        }
    }

    #[test]
    fn parses_exactly_the_documented_names() {
        check("unbounded-spawn", Some(Scenario::UnboundedSpawn));
        check("no-timeout-upstream", Some(Scenario::NoTimeoutUpstream));
        check("send-blocked", Some(Scenario::SendBlocked));
        check("recv-never-closed", Some(Scenario::RecvNeverClosed));
        check("missing-cancellation", Some(Scenario::MissingCancellation));
        check("lost-waker", Some(Scenario::LostWaker));
        check("lock-held-across-await", Some(Scenario::LockHeldAcrossAwait));
        check("blocking-in-async", Some(Scenario::BlockingInAsync));
        check("deadlock", Some(Scenario::Deadlock));
        check("clean", Some(Scenario::Clean));
        check("all", None);
        check("Clean", None);
        check("unbounded_spawn", None);
        check("", None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Scenario::ALL.len());
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = "nope".parse::<Scenario>().unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("failed to find scenario \"nope\""), "{message}");
        for scenario in Scenario::ALL {
            assert!(message.contains(scenario.name()), "{message}");
        }
    }
}
