//! How a worker thread spent a long poll: on a CPU, waiting for one, or off the CPU.
//!
//! A poll's wall-clock time is not its cost: on a busy machine the OS runs other processes on
//! the worker's CPU in the middle of a poll, and a poll that computed for 2 ms can take 15 ms of
//! wall time. Linux keeps per thread the time it ran and the time it waited runnable for a CPU
//! (`/proc/thread-self/schedstat`: run time, run-queue wait, time slices, in nanoseconds). Each
//! thread keeps one reading, refreshed at a poll's start when it is older than [`REFRESH`]; a
//! poll over the long-poll threshold reads again at its end, so the difference covers the poll
//! and at most [`REFRESH`] before it.
//!
//! Cost on the app's path: one comparison per poll, and per worker thread at most one `pread`
//! of a file it keeps open every [`REFRESH`] while it polls (about 1 µs, 500 times a second).
//! Reads and parses into a stack buffer; no allocation, no lock. Off Linux on x86_64 and aarch64,
//! or where the file cannot be read, nothing is measured and long polls carry no thread times.

use std::cell::Cell;

/// How old a thread's reading may be when a poll starts.
pub(crate) const REFRESH: u64 = 2_000_000;

/// A reading: when (on the agent's clock), run time and run-queue wait so far.
#[derive(Clone, Copy, Default)]
struct Reading {
    at: u64,
    run: u64,
    wait: u64,
}

/// What a long poll did with its wall time, estimated from the thread's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PollTimes {
    /// On a CPU: the app's code (or tokio's) ran.
    pub(crate) cpu: u64,
    /// Runnable but waiting for a CPU: other threads or processes ran.
    pub(crate) runqueue: u64,
}

/// The thread's `schedstat` file descriptor: -1 not opened yet, -2 unavailable. Closed when the
/// thread exits (blocking-pool threads come and go).
struct File(Cell<i32>);

impl Drop for File {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
        if self.0.get() >= 0 {
            // SAFETY: this thread opened the descriptor and nothing else uses it.
            unsafe { libc::close(self.0.get()) };
        }
    }
}

thread_local! {
    static FILE: File = const { File(Cell::new(-1)) };
    static LAST: Cell<Reading> = const { Cell::new(Reading { at: 0, run: 0, wait: 0 }) };
}

/// A poll starts at `now`: refreshes this thread's reading when it is older than [`REFRESH`].
#[inline]
pub(crate) fn poll_started(now: u64) {
    let _ = LAST.try_with(|last| {
        let at = last.get().at;
        if at == 0 || now.wrapping_sub(at) > REFRESH {
            refresh(last, now);
        }
    });
}

#[cold]
fn refresh(last: &Cell<Reading>, now: u64) {
    if let Some((run, wait)) = read() {
        last.set(Reading { at: now.max(1), run, wait });
    } else {
        // Unavailable: keep the time so the file is not tried again on every poll.
        last.set(Reading { at: now.max(1), run: 0, wait: 0 });
    }
}

/// A poll that started at `start` and took `duration` (over the threshold) ends: what it spent
/// on a CPU and waiting for one, or `None` when the thread's counters cannot be read.
#[cold]
pub(crate) fn long_poll_ended(start: u64, duration: u64) -> Option<PollTimes> {
    let before = LAST.try_with(Cell::get).ok()?;
    if before.at == 0 || before.at > start || (before.run == 0 && before.wait == 0) {
        return None;
    }
    let (run, wait) = read()?;
    // The window reaches back to the reading, before the poll: the thread was polling other
    // tasks then, on a CPU, so that part comes off the run time first.
    let before_poll = start - before.at;
    let cpu = run.saturating_sub(before.run).saturating_sub(before_poll).min(duration);
    let runqueue = wait.saturating_sub(before.wait).min(duration - cpu);
    Some(PollTimes { cpu, runqueue })
}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn read() -> Option<(u64, u64)> {
    let fd = FILE.try_with(|File(file)| {
        if file.get() == -1 {
            // SAFETY: a NUL-terminated path; the flags open it read-only, closed on exec.
            let fd = unsafe {
                libc::open(
                    c"/proc/thread-self/schedstat".as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                )
            };
            file.set(if fd < 0 { -2 } else { fd });
        }
        file.get()
    });
    let fd = fd.ok().filter(|fd| *fd >= 0)?;
    let mut buf = [0_u8; 96];
    // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` is this thread's open file.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    let n = usize::try_from(n).ok().filter(|n| *n > 0)?;
    parse(&buf[..n])
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn read() -> Option<(u64, u64)> {
    None
}

/// `run_ns wait_ns slices`: the first two numbers.
fn parse(text: &[u8]) -> Option<(u64, u64)> {
    let mut numbers = text.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).map(|w| {
        w.iter().try_fold(0_u64, |n, b| {
            b.is_ascii_digit().then(|| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))?
        })
    });
    Some((numbers.next()??, numbers.next()??))
}

#[cfg(test)]
mod tests {
    use super::{PollTimes, long_poll_ended, parse, poll_started};
    use std::time::{Duration, Instant};

    #[test]
    fn schedstat_lines_parse() {
        assert_eq!(parse(b"123 456 7\n"), Some((123, 456)));
        assert_eq!(parse(b"0 81561 1"), Some((0, 81561)));
        assert_eq!(parse(b"12a 4 1"), None);
        assert_eq!(parse(b"12"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"99999999999999999999999 1 1"), None, "overflow is no number");
    }

    fn now() -> u64 {
        crate::clock::now()
    }

    /// A poll that sleeps is off the CPU; one that spins is on it.
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[test]
    fn sleeping_and_spinning_polls_are_told_apart() {
        let measure = |work: &dyn Fn()| -> PollTimes {
            // Far past the refresh age, so the start takes a fresh reading.
            std::thread::sleep(Duration::from_millis(3));
            let start = now();
            poll_started(start);
            work();
            let end = now();
            long_poll_ended(start, end - start).expect("schedstat is readable here")
        };
        let slept = measure(&|| std::thread::sleep(Duration::from_millis(30)));
        assert!(slept.cpu < 10_000_000, "a sleep is not CPU time: {slept:?}");
        let spun = measure(&|| {
            let until = Instant::now() + Duration::from_millis(30);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        });
        assert!(spun.cpu + spun.runqueue > 20_000_000, "a spin runs or waits to: {spun:?}");
    }
}
