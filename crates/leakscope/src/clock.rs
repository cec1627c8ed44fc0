//! The agent's clock: nanoseconds since its origin, the unit of every time on the wire.
//!
//! The hot path reads it on every spawn, poll enter, poll exit, wake and close, so it must be
//! cheap. `Instant::now` (a vDSO `clock_gettime`) costs about 60 ns on the machines
//! docs/benchmarks.md was measured on, a large share of leakscope's added cost per poll. Where the
//! kernel keeps its own time with the CPU's time-stamp counter (clocksource `tsc`, which it
//! selects only when the counter is invariant and synchronised across cores), the clock reads the
//! counter directly instead, at about a third of that.
//!
//! The counter's rate is calibrated against `Instant` from the origin: first after 20 ms, so that
//! short-lived processes benefit too, then again after a second and after a minute, each time
//! with a longer baseline and so a smaller error (well under a part per million at the end). A
//! recalibration may move the clock by the earlier error, a few microseconds at most. Until the
//! first calibration, and wherever the counter is not the kernel's clocksource, `Instant` is read.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When the counter is (re)calibrated, counted from the origin.
const CALIBRATE_AT: [Duration; 3] =
    [Duration::from_millis(20), Duration::from_secs(1), Duration::from_secs(60)];

struct Origin {
    instant: Instant,
    unix: u64,
    /// The counter at `instant`, when the counter is usable.
    tsc: Option<u64>,
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

/// One calibration: `nanos + ((counter - tsc) * mult >> 32)`, good until `until` nanoseconds.
/// Written once before it is published, never after; atomics only so that it can be a static
/// and no calibration ever allocates or makes a thread wait.
struct Calibration {
    tsc: AtomicU64,
    nanos: AtomicU64,
    mult: AtomicU64,
    until: AtomicU64,
}

#[expect(
    clippy::declare_interior_mutable_const,
    reason = "only used to initialise the array below, each element its own atomic"
)]
const UNCALIBRATED: Calibration = Calibration {
    tsc: AtomicU64::new(0),
    nanos: AtomicU64::new(0),
    mult: AtomicU64::new(0),
    until: AtomicU64::new(0),
};

static CALIBRATIONS: [Calibration; CALIBRATE_AT.len()] = [UNCALIBRATED; CALIBRATE_AT.len()];
/// 0 before the first calibration, else one more than the index of the one in use.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Held by the one thread calibrating; the others read on with what they have.
static CALIBRATING: AtomicBool = AtomicBool::new(false);

fn origin() -> &'static Origin {
    ORIGIN.get_or_init(|| {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        if tsc::usable() {
            let (tsc, instant) = tsc::paired_with_instant();
            Origin { instant, unix, tsc: Some(tsc) }
        } else {
            Origin { instant: Instant::now(), unix, tsc: None }
        }
    })
}

/// Nanoseconds since the origin; never 0, so 0 can mean "never" in records.
#[inline]
pub(crate) fn now() -> u64 {
    let current = CURRENT.load(Ordering::Acquire);
    if let Some(cal) = current.checked_sub(1).and_then(|i| CALIBRATIONS.get(i)) {
        let since = tsc::read().saturating_sub(cal.tsc.load(Ordering::Relaxed));
        let scaled = (u128::from(since) * u128::from(cal.mult.load(Ordering::Relaxed))) >> 32;
        let nanos = cal.nanos.load(Ordering::Relaxed).saturating_add(scaled as u64);
        if nanos < cal.until.load(Ordering::Relaxed) {
            return nanos.max(1);
        }
        return calibrate(current, nanos);
    }
    calibrate(0, 0)
}

/// Calibrates the counter when the next point in [`CALIBRATE_AT`] has passed and no other
/// thread is at it; returns the time either way (`estimate`, the counter's reading, when another
/// thread is calibrating and there is one).
#[cold]
fn calibrate(current: usize, estimate: u64) -> u64 {
    let origin = origin();
    let Some(origin_tsc) = origin.tsc else {
        return (origin.instant.elapsed().as_nanos() as u64).max(1);
    };
    let due = CALIBRATE_AT.get(current).is_some_and(|at| origin.instant.elapsed() >= *at);
    if !due || CALIBRATING.swap(true, Ordering::Acquire) {
        return if current == 0 {
            (origin.instant.elapsed().as_nanos() as u64).max(1)
        } else {
            estimate.max(1)
        };
    }
    // Another thread may have published this calibration between our look and the swap.
    if CURRENT.load(Ordering::Acquire) != current {
        CALIBRATING.store(false, Ordering::Release);
        return now();
    }
    let (tsc, instant) = tsc::paired_with_instant();
    let nanos = instant.duration_since(origin.instant).as_nanos() as u64;
    let ticks = tsc.saturating_sub(origin_tsc);
    if ticks > 0 {
        let mult = ((u128::from(nanos) << 32) / u128::from(ticks)).min(u128::from(u64::MAX));
        let until = CALIBRATE_AT.get(current + 1).map_or(u64::MAX, |at| at.as_nanos() as u64);
        let cal = &CALIBRATIONS[current];
        cal.tsc.store(tsc, Ordering::Relaxed);
        cal.nanos.store(nanos, Ordering::Relaxed);
        cal.mult.store(mult as u64, Ordering::Relaxed);
        cal.until.store(until, Ordering::Relaxed);
        CURRENT.store(current + 1, Ordering::Release);
    } else if current == 0 {
        // A counter that did not move is no clock: never calibrate (the flag stays held).
        return nanos.max(1);
    }
    CALIBRATING.store(false, Ordering::Release);
    nanos.max(1)
}

/// Wall-clock time of the origin, in nanoseconds since the Unix epoch.
pub(crate) fn origin_unix_nanos() -> u64 {
    origin().unix
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod tsc {
    use std::time::Instant;

    /// Whether the kernel keeps time with the counter, and so vouches for it.
    pub(super) fn usable() -> bool {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|source| source.trim() == "tsc")
    }

    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` has no preconditions on x86_64; it only reads the counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// The counter and `Instant` read as close together as a few tries allow: the pair whose
    /// bracketing counter reads are nearest, so that a preemption between the reads cannot skew
    /// the calibration.
    pub(super) fn paired_with_instant() -> (u64, Instant) {
        let mut best: Option<(u64, u64, Instant)> = None;
        for _ in 0..8 {
            let before = read();
            let instant = Instant::now();
            let after = read();
            let width = after.saturating_sub(before);
            if best.as_ref().is_none_or(|(w, _, _)| width < *w) {
                best = Some((width, before + width / 2, instant));
            }
        }
        let (_, tsc, instant) = best.unwrap_or_else(|| (0, read(), Instant::now()));
        (tsc, instant)
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod tsc {
    use std::time::Instant;

    pub(super) fn usable() -> bool {
        false
    }

    #[inline]
    pub(super) fn read() -> u64 {
        0
    }

    pub(super) fn paired_with_instant() -> (u64, Instant) {
        (0, Instant::now())
    }
}

/// What building something cost the agent's thread: the CPU time the thread spent, where
/// that can be read, else the wall time. Wall time also counts the time the OS ran other
/// threads on the CPU: on a busy machine an update that takes 3 ms to build can take 30 ms of
/// wall time, and pacing on that would space a client's updates out for work the agent did not
/// do (`server::pace`).
#[derive(Clone, Copy)]
pub(crate) struct WorkTimer {
    cpu: Option<Duration>,
    wall: Instant,
}

impl WorkTimer {
    pub(crate) fn start() -> Self {
        Self { cpu: thread_cpu(), wall: Instant::now() }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall.elapsed(),
        }
    }
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Option<Duration> {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable `timespec`; the call only writes it.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) } == 0 {
            return Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work is what the thread computed: sleeping costs none, spinning costs what it spun.
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[test]
    fn work_is_the_threads_cpu_time_not_the_wall_time() {
        let timer = WorkTimer::start();
        std::thread::sleep(Duration::from_millis(300));
        assert!(timer.elapsed() < Duration::from_millis(100), "{:?}", timer.elapsed());
        let timer = WorkTimer::start();
        let spun = Instant::now();
        while spun.elapsed() < Duration::from_millis(50) {
            std::hint::spin_loop();
        }
        assert!(timer.elapsed() > Duration::from_millis(5), "{:?}", timer.elapsed());
    }

    #[test]
    fn the_clock_follows_instant_across_calibrations() {
        let first = now();
        assert!(first >= 1);
        // Cross the first two calibration points, comparing the clock's progress with
        // `Instant`'s after each.
        for at in &CALIBRATE_AT[..2] {
            std::thread::sleep(*at + Duration::from_millis(50));
            let a = (now(), Instant::now());
            std::thread::sleep(Duration::from_millis(100));
            let b = (now(), Instant::now());
            assert!(b.0 > a.0 && a.0 > first, "the clock moves forward");
            let clock = b.0 - a.0;
            let instant = (b.1 - a.1).as_nanos() as u64;
            // Generous: the test machine is shared and the reads are not paired.
            assert!(
                clock.abs_diff(instant) < 5_000_000,
                "clock {clock} ns against Instant {instant} ns"
            );
        }
        if tsc::usable() {
            assert!(CURRENT.load(Ordering::Acquire) >= 2, "the counter was calibrated twice");
        }
    }
}
