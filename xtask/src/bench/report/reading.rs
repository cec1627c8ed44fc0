//! The reading of the figures: a few sentences per workload against its target, written from
//! the figures, and what a park and the wait capture cost.

use super::{Summary, Verdict, number, ratio, signed};
use crate::bench::{Mode, TARGETS, WORKLOADS, Workload};
use serde_json::Value;
use std::fmt::Write as _;

impl Summary {
    /// A short reading of the figures against the targets, written from the figures.
    pub(super) fn reading(&self) -> String {
        let mut out = String::new();
        let verdicts: Vec<(Workload, Option<Verdict>)> =
            TARGETS.iter().map(|&w| (w, self.verdict(w))).collect();
        let met = verdicts.iter().filter(|(_, v)| v.as_ref().is_some_and(|v| v.pass)).count();
        let _ = write!(
            out,
            "- In this run leakscope met {met} of the {} targets, judged with its wait capture on",
            verdicts.len()
        );
        let without: Vec<bool> = TARGETS
            .iter()
            .filter_map(|&w| self.verdict_of(w, Mode::LeakscopeNoCapture))
            .map(|v| v.pass)
            .collect();
        if !without.is_empty() {
            let _ = write!(
                out,
                " (without it, {} of the {} it was run for)",
                without.iter().filter(|pass| **pass).count(),
                without.len()
            );
        }
        out.push_str(".\n");
        for (workload, verdict) in &verdicts {
            match verdict {
                Some(v) if !v.pass => {
                    let _ = writeln!(
                        out,
                        "- **Missed: {}**: target {}, measured {}.",
                        workload.title(),
                        v.target,
                        v.measured
                    );
                }
                None => {
                    let _ = writeln!(out, "- **Not measured: {}.**", workload.title());
                }
                Some(_) => {}
            }
        }
        let ratio_of = |w: Workload, m: Mode| self.ratio_to_plain(w, m);
        let extra = |w: Workload, m: Mode| self.beyond_plain(w, m);
        let timed = [
            (Workload::Spawn, "Spawning and finishing a task", ""),
            (
                Workload::Poll,
                "A poll through `yield_now`",
                " (each includes a turn of tokio's I/O driver, and a waker clone at which \
                 leakscope captures a wait chain)",
            ),
            (Workload::SelfWake, "A poll with no driver turn (self-wake)", ""),
            (
                Workload::PingPong,
                "A park-and-wake round trip over mpsc (two polls, two parks, two wakes)",
                "",
            ),
        ];
        for (workload, what, note) in timed {
            if let (Some(plain), Some(l), Some(c), Some(lr), Some(cr)) = (
                self.median(workload, Mode::Plain),
                extra(workload, Mode::Leakscope),
                extra(workload, Mode::Console),
                ratio_of(workload, Mode::Leakscope),
                ratio_of(workload, Mode::Console),
            ) {
                let _ = writeln!(
                    out,
                    "- {what}: plain tokio {} ns{note}; leakscope adds {} ns ({}), \
                     console-subscriber {} ns ({}).",
                    number(plain),
                    number(l),
                    ratio(lr),
                    number(c),
                    ratio(cr)
                );
            }
        }
        if let Some(sentence) = self.park_cost() {
            out.push_str(&sentence);
        }
        if let Some(sentence) = self.capture_cost() {
            out.push_str(&sentence);
        }
        if let (Some(p), Some(l), Some(c)) = (
            self.median(Workload::Idle, Mode::Plain),
            extra(Workload::Idle, Mode::Leakscope),
            extra(Workload::Idle, Mode::Console),
        ) {
            let tasks = self.detail_u64(Workload::Idle, "tasks").unwrap_or(0);
            let _ = write!(
                out,
                "- With {} idle tasks, leakscope adds {} B per task to plain tokio's {} B (its \
                 task slot plus the slot of each task's oneshot, which also holds the receiver's \
                 async operation); console-subscriber adds {} B",
                number(tasks as f64),
                number(l),
                number(p),
                number(c),
            );
            if let Some(seen) =
                self.detail_median(Workload::Idle, Mode::Console, "console_api_seen_after")
            {
                let _ = write!(
                    out,
                    ", and a tokio-console attaching after the workload would have been shown {} \
                     of the {} tasks",
                    number(seen),
                    number(tasks as f64)
                );
            }
            match self.median_sample(Workload::Flood, Mode::Console) {
                Some(flood) if flood.u64("console_dropped_events").is_some_and(|d| d > 0) => {
                    let _ = write!(
                        out,
                        ". That many tasks overflow console-subscriber's event buffer: spawned \
                         as one burst with a watch attached, it dropped {} events and showed {} \
                         of the {} tasks. A task whose spawn event is dropped gets no record, so \
                         its memory figure at this size counts records for only part of the tasks",
                        number(flood.u64("console_dropped_events").unwrap_or(0) as f64),
                        number(flood.value),
                        number(flood.u64("spawned").unwrap_or(0) as f64),
                    );
                }
                Some(flood) => {
                    let _ = write!(
                        out,
                        ". Spawned as one burst with a watch attached, console-subscriber \
                         dropped no events and showed {} of the {} tasks",
                        number(flood.value),
                        number(flood.u64("spawned").unwrap_or(0) as f64),
                    );
                }
                None => {}
            }
            out.push_str(".\n");
        }
        if let (Some(l), Some(c)) =
            (ratio_of(Workload::Http, Mode::Leakscope), ratio_of(Workload::Http, Mode::Console))
        {
            let _ = write!(
                out,
                "- Under HTTP load leakscope serves {:.0}% of plain tokio's requests per second, \
                 console-subscriber {:.0}% (medians of the round-by-round ratios; the machine's \
                 other work moves single rounds by tens of percent, see every sample below)",
                100.0 * l,
                100.0 * c
            );
            let cpu = |m: Mode| self.detail_median(Workload::Http, m, "server_cpu_ns_per_request");
            if let (Some(plain), Some(ls), Some(cs)) =
                (cpu(Mode::Plain), cpu(Mode::Leakscope), cpu(Mode::Console))
            {
                let _ = write!(
                    out,
                    ". The serving process's CPU time per request, which other processes disturb \
                     less, was {} ns plain, {} ns under leakscope ({:+.0}%) and {} ns under \
                     console-subscriber ({:+.0}%)",
                    number(plain),
                    number(ls),
                    100.0 * (ls / plain - 1.0),
                    number(cs),
                    100.0 * (cs / plain - 1.0)
                );
            }
            out.push_str(".\n");
        }
        if let Some(sample) = self.median_sample(Workload::Burst, Mode::Console) {
            let seen = sample.value;
            let spawned = self.spawned().unwrap_or(0);
            let secs = sample.f64("console_api_seconds_after_burst").unwrap_or(0.0);
            let dropped = sample.u64("console_dropped_events").unwrap_or(0);
            let _ = write!(
                out,
                "- Of a burst of {} live tasks, tokio-console's view (console-api, folded as \
                 tokio-console folds it) showed {} {:.0} s after the burst{}; console-subscriber \
                 reported {} dropped events",
                number(spawned as f64),
                number(seen),
                secs,
                if sample.detail.get("console_api_settled") == Some(&Value::Bool(false)) {
                    ", still rising when the wait ended"
                } else {
                    ""
                },
                number(dropped as f64),
            );
            if dropped == 0 {
                out.push_str(", so the gap is its aggregator falling behind, not loss");
            }
            if secs > 0.0 && seen > 0.0 {
                let _ = write!(out, " (it learned of about {:.0} tasks a second)", seen / secs);
            }
            out.push_str(
                ". leakscope's agent writes a task's record on the spawn path, so its answer is \
                 complete as soon as the spawn returns.\n",
            );
        }
        if let Some(sample) = self.median_sample(Workload::Burst, Mode::LeakscopeConsole)
            && let Some(seen) = sample.u64("console_api_seen")
        {
            let _ = writeln!(
                out,
                "- With the `console` feature, the agent's own API reported {} of the burst and \
                 the console-api service on the same port {}: a tokio-console attached to the \
                 agent inherits console-subscriber's lag, and the feature costs about what \
                 console-subscriber costs (see its row), so it stays off by default.",
                number(sample.value),
                number(seen as f64)
            );
        }
        let dropped: u64 = WORKLOADS
            .iter()
            .filter_map(|&w| self.counter_max(w, Mode::Leakscope, "agent_spans_dropped_total"))
            .map(|(max, _)| max)
            .sum();
        let _ = writeln!(
            out,
            "- leakscope's agent dropped {} spans over the worst rounds of all workloads \
             (`spans_dropped_total`). `finished_evicted_total` counts finished tasks beyond the \
             retention bound that no client read; it grows with every task the spawn and HTTP \
             workloads finish and is not a loss of live data.",
            number(dropped as f64)
        );
        out
    }

    /// What leakscope adds to a park beyond the polls around it: the ping-pong's addition per
    /// round trip, less two self-wake polls' addition, per park. It is the waker's clone and drop
    /// events and the wait capture; a difference of two medians, so only a rough figure.
    pub(super) fn park_cost(&self) -> Option<String> {
        let round_trip = self.beyond_plain(Workload::PingPong, Mode::Leakscope)?;
        let poll = self.beyond_plain(Workload::SelfWake, Mode::Leakscope)?;
        let parks = self
            .detail_median(Workload::PingPong, Mode::Leakscope, "parks_per_round_trip")
            .filter(|p| *p > 0.0)?;
        let per_park = (round_trip - 2.0 * poll) / parks;
        let mut out = format!(
            "- Per park, leakscope adds about {} ns beyond what its two polls cost (the \
             round trip's {} ns less twice the self-wake poll's {} ns, over {:.1} parks per round \
             trip): the waker's clone and drop events and the wait capture, a frame-pointer walk \
             and a lookup of the chain in the thread's cache",
            number(per_park),
            number(round_trip),
            number(poll),
            parks
        );
        if let Some(chains) = self
            .median_sample(Workload::PingPong, Mode::Leakscope)
            .and_then(|s| s.u64("agent_wait_chains"))
        {
            let _ = write!(
                out,
                " (the agent held {} distinct chains after the workload)",
                number(chains as f64)
            );
        }
        out.push_str(".\n");
        Some(out)
    }

    /// What the wait capture costs: leakscope less leakscope without it, round by round, for each
    /// workload both ran, and what leakscope costs without it.
    pub(super) fn capture_cost(&self) -> Option<String> {
        let adds = |w: Workload| self.capture_adds(w);
        let parts: Vec<String> = [
            (Workload::Spawn, " ns per spawned task", ""),
            (
                Workload::Poll,
                " ns per `yield_now` poll",
                " (each clones the task's waker, at which a chain is captured)",
            ),
            (
                Workload::SelfWake,
                " ns per self-wake poll",
                " (no waker is cloned, so nothing is captured: a difference here is not the \
                 capture's)",
            ),
            (Workload::PingPong, " ns per ping-pong round trip", ""),
            (
                Workload::Idle,
                " B per idle task",
                " (a task's slot holds its chain ids either way; only the interned chains, a few \
                 distinct ones, are extra)",
            ),
        ]
        .into_iter()
        .filter_map(|(workload, unit, note)| {
            let mut part = format!("{}{unit}{note}", signed(adds(workload)?));
            if workload == Workload::PingPong
                && let Some(parks) = self
                    .detail_median(workload, Mode::Leakscope, "parks_per_round_trip")
                    .filter(|p| *p > 0.0)
            {
                let per_park = adds(workload)? / parks;
                let _ = write!(part, ", about {} ns per park", signed(per_park));
            }
            Some(part)
        })
        .collect();
        if parts.is_empty() {
            return None;
        }
        let mut out = format!(
            "- The wait capture itself (leakscope less leakscope without it, the median of the \
             round-by-round differences; the two ran back to back): {}",
            parts.join("; ")
        );
        let negative = [
            Workload::Spawn,
            Workload::Poll,
            Workload::SelfWake,
            Workload::PingPong,
            Workload::Idle,
        ]
        .into_iter()
        .any(|w| adds(w).is_some_and(|d| number(d).starts_with('-')));
        if negative {
            out.push_str(
                ". The capture only adds work, so a negative difference is no saving: there the \
                 two modes differ by more than the capture costs, for reasons other than the \
                 capture (noise, or the processes' layout; see every sample below)",
            );
        }
        let without: Vec<String> = [
            (Workload::Spawn, "per spawned task"),
            (Workload::Poll, "per `yield_now` poll"),
            (Workload::SelfWake, "per self-wake poll"),
            (Workload::PingPong, "per round trip"),
        ]
        .into_iter()
        .filter_map(|(workload, what)| {
            let r = self.ratio_to_plain(workload, Mode::LeakscopeNoCapture)?;
            Some(format!("{} {what}", ratio(r)))
        })
        .chain(
            self.beyond_plain(Workload::Idle, Mode::LeakscopeNoCapture)
                .map(|extra| format!("{} B per idle task", signed(extra))),
        )
        .collect();
        if !without.is_empty() {
            let _ = write!(
                out,
                ". Without the capture leakscope costs {} against plain tokio",
                without.join(", ")
            );
        }
        let chains = |mode: Mode| {
            self.median_sample(Workload::PingPong, mode).and_then(|s| s.u64("agent_wait_chains"))
        };
        if let (Some(on), Some(off)) = (chains(Mode::Leakscope), chains(Mode::LeakscopeNoCapture)) {
            let _ = write!(
                out,
                " (after the ping-pong the agent held {} distinct chains with the capture on, {} \
                 with it off)",
                number(on as f64),
                number(off as f64)
            );
        }
        out.push_str(".\n");
        Some(out)
    }
}
