//! CPU profiles of the app's own process, taken on request: pprof-rs samples every thread's stack
//! on `SIGPROF` with frame-pointer unwinding, and a `leakscope-cpu` thread symbolises the samples
//! and hands them back to the `CpuProfile` call.
//!
//! Nothing runs until a client asks: no signal handler, no timer. One profile at a time (pprof-rs
//! has one global profiler; a second request is answered `BUSY` at once), for at most
//! [`MAX_DURATION`], with at most [`MAX_STACKS`] distinct stacks returned, so what the app holds
//! for a profile is bounded. A request whose client goes away stops the sampling early.
//!
//! Frame-pointer unwinding is the signal-safe choice (no DWARF parsing, no allocation in the
//! handler), and it has two consequences. The app needs frame pointers (`-C
//! force-frame-pointers=yes`, as this workspace's `.cargo/config.toml` sets), or the stacks stop
//! or wander where a function without one sits. And a frame-pointer walk starts from the return
//! address in the interrupted function's caller, so the interrupted function itself, the hot
//! leaf, is not in the walk; `decode_call` recovers it from the call instruction just
//! before that return address (a direct call, or one through the GOT). Samples whose program counter is in libc, libgcc, libpthread or the
//! vDSO are dropped by pprof-rs (those are built without frame pointers): CPU time spent there is
//! not in the profile.

use leakscope_proto::v1::{CpuProfileRequest, CpuProfileResponse, ProfileStatus};
use std::time::Duration;

/// Sampling time when the request leaves it at 0.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Longest sampling time the agent accepts; longer requests are cut to this.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(300);
/// Sampling frequency when the request leaves it at 0: 99 Hz, off the beat of periodic work.
pub(crate) const DEFAULT_FREQUENCY_HZ: u32 = 99;
/// Highest sampling frequency the agent accepts.
pub(crate) const MAX_FREQUENCY_HZ: u32 = 1000;
/// Distinct stacks returned at most; samples of the rarest stacks past this are counted in
/// `dropped_samples`.
#[cfg_attr(not(feature = "cpu"), expect(dead_code, reason = "the profiler is the `cpu` feature"))]
pub(crate) const MAX_STACKS: usize = 20_000;

/// Whether this build can take CPU profiles: pprof-rs's frame-pointer unwinder on Linux, with the
/// `cpu` feature on.
pub(crate) const SUPPORTED: bool = cfg!(all(
    feature = "cpu",
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

/// Takes one profile as the request asks, within the agent's limits.
pub(crate) async fn profile(request: CpuProfileRequest) -> CpuProfileResponse {
    let duration = match request.duration_nanos {
        0 => DEFAULT_DURATION,
        n => Duration::from_nanos(n).min(MAX_DURATION),
    };
    let frequency = match request.frequency_hz {
        0 => DEFAULT_FREQUENCY_HZ,
        n => n.min(MAX_FREQUENCY_HZ),
    };
    imp::profile(duration, frequency).await
}

fn status(status: ProfileStatus, message: impl Into<String>) -> CpuProfileResponse {
    CpuProfileResponse {
        status: status as i32,
        message: message.into(),
        ..CpuProfileResponse::default()
    }
}

#[cfg(not(all(
    feature = "cpu",
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod imp {
    use super::status;
    use leakscope_proto::v1::{CpuProfileResponse, ProfileStatus};
    use std::time::Duration;

    pub(super) async fn profile(_duration: Duration, _frequency: u32) -> CpuProfileResponse {
        let why = if cfg!(feature = "cpu") {
            "CPU profiles need Linux on x86_64 or aarch64 (pprof-rs's frame-pointer unwinder)"
        } else {
            "CPU profiles: the app was built without leakscope's `cpu` feature"
        };
        status(ProfileStatus::Unsupported, why)
    }
}

#[cfg(all(
    feature = "cpu",
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod imp {
    use super::{MAX_STACKS, status};
    use leakscope_proto::v1::{CpuProfileResponse, CpuSample, Frame, ProfileStatus};
    use std::collections::HashMap;
    use std::fs::File;
    use std::os::unix::fs::FileExt as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    /// Libraries built without frame pointers: a sample interrupted in them is dropped, and a
    /// walk stops when it reaches them.
    const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

    static IN_FLIGHT: AtomicBool = AtomicBool::new(false);

    /// The frame of samples whose stack could not be walked.
    const UNWALKED: &str = "[unknown: no frame-pointer stack]";

    /// Clears [`IN_FLIGHT`] when the profiling thread ends, however it ends.
    struct InFlight;

    impl Drop for InFlight {
        fn drop(&mut self) {
            IN_FLIGHT.store(false, Ordering::Release);
        }
    }

    pub(super) async fn profile(duration: Duration, frequency: u32) -> CpuProfileResponse {
        if IN_FLIGHT.swap(true, Ordering::AcqRel) {
            return status(ProfileStatus::Busy, "a CPU profile is already being taken");
        }
        let in_flight = InFlight;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        // Dropped with this future: a client that goes away stops the sampling early.
        let (cancel_tx, cancel_rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("leakscope-cpu".into()).spawn(move || {
            let _in_flight = in_flight;
            let _ = done_tx.send(sample(duration, frequency, &cancel_rx));
        });
        if let Err(err) = spawned {
            return status(
                ProfileStatus::Failed,
                format!("failed to start the profiling thread: {err}"),
            );
        }
        let response = done_rx.await;
        drop(cancel_tx);
        response.unwrap_or_else(|_| {
            status(ProfileStatus::Failed, "the profiling thread ended without a report")
        })
    }

    fn sample(
        duration: Duration,
        frequency: u32,
        cancel: &mpsc::Receiver<()>,
    ) -> CpuProfileResponse {
        let started = SystemTime::now();
        let start = Instant::now();
        let guard = match pprof::ProfilerGuardBuilder::default()
            .frequency(i32::try_from(frequency).unwrap_or(i32::MAX))
            .blocklist(&BLOCKLIST)
            .build()
        {
            Ok(guard) => guard,
            Err(pprof::Error::Running) => {
                return status(
                    ProfileStatus::Busy,
                    "pprof-rs is already profiling this process (the app runs its own profiler)",
                );
            }
            Err(err) => {
                return status(ProfileStatus::Failed, format!("failed to start pprof-rs: {err}"));
            }
        };
        // Waits out the duration, or less when the request is dropped (the sender disconnects).
        let _ = cancel.recv_timeout(duration);
        let elapsed = start.elapsed();
        // The raw samples are copied out while the profiler runs, then the guard stops the timer
        // and the handler; symbolising, the slow part, happens with sampling off.
        let report = guard.report().build_unresolved();
        drop(guard);
        let report = match report {
            Ok(report) => report,
            Err(err) => {
                return status(
                    ProfileStatus::Failed,
                    format!("failed to read pprof-rs's samples: {err}"),
                );
            }
        };
        let mut symbols = Symbolizer::new();
        let mut stacks: HashMap<(String, Vec<Frame>), u64> = HashMap::new();
        for (frames, &count) in &report.data {
            let length = frames.thread_name_length.min(frames.thread_name.len());
            let thread = String::from_utf8_lossy(&frames.thread_name[..length]).into_owned();
            // The agent never records itself.
            if thread.starts_with("leakscope-") || count <= 0 {
                continue;
            }
            let ips: Vec<usize> = frames.frames.iter().map(|frame| frame.ip).collect();
            let mut stack = symbols.stack(&ips);
            if stack.is_empty() {
                // The time was spent, but nothing could be walked or named: an app built without
                // frame pointers. Counted, so the profile's total stays the CPU time.
                stack.push(Frame { function: UNWALKED.into(), ..Frame::default() });
            }
            *stacks.entry((thread, stack)).or_default() += count.unsigned_abs() as u64;
        }
        let mut samples: Vec<CpuSample> = stacks
            .into_iter()
            .map(|((thread, frames), count)| CpuSample { frames, count, thread })
            .collect();
        samples.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| a.thread.cmp(&b.thread)).then_with(|| {
                let names = |s: &CpuSample| {
                    s.frames.iter().map(|f| (f.function.clone(), f.line)).collect::<Vec<_>>()
                };
                names(a).cmp(&names(b))
            })
        });
        let dropped_samples = samples.iter().skip(MAX_STACKS).map(|s| s.count).sum();
        samples.truncate(MAX_STACKS);
        CpuProfileResponse {
            status: ProfileStatus::Ok as i32,
            message: String::new(),
            started_unix_nanos: started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            duration_nanos: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            frequency_hz: frequency,
            samples,
            dropped_samples,
        }
    }

    /// Turns sampled addresses into frames, each address once.
    struct Symbolizer {
        /// The process's own memory, to read the call instruction before a return address
        /// without risking a fault on an unmapped page.
        memory: Option<File>,
        symbols: crate::symbols::Symbols,
    }

    impl Symbolizer {
        fn new() -> Self {
            Self {
                memory: File::open("/proc/self/mem").ok(),
                symbols: crate::symbols::Symbols::default(),
            }
        }

        /// Frames of one sample, root first. `ips` are return addresses, innermost first.
        fn stack(&mut self, ips: &[usize]) -> Vec<Frame> {
            let mut leaf_first: Vec<Frame> = Vec::new();
            if let Some(target) = ips.first().and_then(|&first| self.call_target(first)) {
                // The callee's entry: its outermost function is the one that ran. (`resolve`
                // looks one byte before the address it is given, as suits return addresses.)
                leaf_first.extend(self.resolve(target.wrapping_add(1)).into_iter().last());
            }
            for &ip in ips {
                // One byte before a return address is inside the call: the calling line and its
                // inlined frames.
                leaf_first.extend(self.resolve(ip));
            }
            leaf_first.reverse();
            leaf_first
        }

        /// Frames at the byte before `addr`, innermost (inlined) first.
        fn resolve(&mut self, addr: usize) -> Vec<Frame> {
            self.symbols.at(addr)
        }

        /// Where the call instruction just before `return_address` went, when its bytes say:
        /// read from `/proc/self/mem`, which fails cleanly on unmapped memory.
        fn call_target(&self, return_address: usize) -> Option<usize> {
            let memory = self.memory.as_ref()?;
            let mut code = [0_u8; CALL_LENGTH];
            let at = return_address.checked_sub(CALL_LENGTH)?;
            memory.read_exact_at(&mut code, at as u64).ok()?;
            match decode_call(return_address, code)? {
                Call::Direct(target) => Some(target),
                Call::Through(slot) => {
                    let mut pointer = [0_u8; size_of::<usize>()];
                    memory.read_exact_at(&mut pointer, slot as u64).ok()?;
                    Some(usize::from_ne_bytes(pointer))
                }
            }
        }
    }

    /// Bytes of code read before a return address: enough for the longest call decoded.
    #[cfg(target_arch = "x86_64")]
    const CALL_LENGTH: usize = 6;
    #[cfg(target_arch = "aarch64")]
    const CALL_LENGTH: usize = 4;

    /// A call instruction's target, as far as its bytes tell.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum Call {
        /// Called this address.
        Direct(usize),
        /// Called the address stored at this one (a GOT entry).
        Through(usize),
    }

    /// Decodes the call that ends just before `return_address` from the `code` bytes before it:
    /// `call rel32` (`e8`, direct) or `call [rip+disp32]` (`ff 15`, through the GOT, as rustc
    /// calls functions it cannot prove local). `None` for anything else: a call through a
    /// register or a vtable says nothing from its bytes.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn decode_call(return_address: usize, code: [u8; 6]) -> Option<Call> {
        let relative = |bytes: &[u8]| {
            let offset = i32::from_le_bytes(bytes.try_into().ok()?);
            Some(return_address.wrapping_add_signed(offset as isize))
        };
        match code {
            [_, 0xe8, ..] => relative(&code[2..]).map(Call::Direct),
            [0xff, 0x15, ..] => relative(&code[2..]).map(Call::Through),
            _ => None,
        }
    }

    /// Decodes the call that ends just before `return_address`: `bl imm26` on aarch64. `None`
    /// for anything else (`blr` through a register says nothing from its bytes).
    #[cfg(target_arch = "aarch64")]
    pub(super) fn decode_call(return_address: usize, code: [u8; 4]) -> Option<Call> {
        let insn = u32::from_le_bytes(code);
        if insn >> 26 != 0b10_0101 {
            return None;
        }
        // Sign-extend the 26-bit word offset.
        let words = ((insn << 6) as i32) >> 6;
        Some(Call::Direct((return_address - 4).wrapping_add_signed(words as isize * 4)))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[cfg(target_arch = "x86_64")]
        #[test]
        fn calls_are_decoded_from_their_bytes() {
            let check = |ret: usize, code: [u8; 6], expected: Option<Call>| {
                assert_eq!(decode_call(ret, code), expected, "{code:02x?} before {ret:#x}")
            };
            check(0x1000, [0x90, 0xe8, 0x10, 0x00, 0x00, 0x00], Some(Call::Direct(0x1010)));
            check(0x1000, [0x48, 0xe8, 0xf0, 0xff, 0xff, 0xff], Some(Call::Direct(0x0ff0)));
            check(0x1000, [0xff, 0x15, 0x3f, 0xf8, 0x1a, 0x00], Some(Call::Through(0x1b083f)));
            // `call *%rax` ends in `ff d0`: through a register, nothing to decode.
            check(0x1000, [0x90, 0x90, 0x90, 0x90, 0xff, 0xd0], None);
            check(0x1000, [0x48, 0x8b, 0x45, 0xf8, 0x90, 0xe8], None);
        }

        #[cfg(target_arch = "aarch64")]
        #[test]
        fn calls_are_decoded_from_their_bytes() {
            let check = |ret: usize, insn: u32, expected: Option<Call>| {
                assert_eq!(decode_call(ret, insn.to_le_bytes()), expected, "{insn:#x}")
            };
            check(0x1004, 0x9400_0004, Some(Call::Direct(0x1010)));
            check(0x1004, 0x97ff_fffc, Some(Call::Direct(0x0ff0)));
            // `blr x8`.
            check(0x1004, 0xd63f_0100, None);
        }

        #[test]
        fn a_profile_of_this_process_names_the_hot_function() {
            let stop = std::sync::Arc::new(AtomicBool::new(false));
            let spinner = {
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name("spinner".into())
                    .spawn(move || {
                        let mut x = 1_u64;
                        while !stop.load(Ordering::Relaxed) {
                            x = spin(x);
                        }
                        x
                    })
                    .expect("thread starts")
            };
            let (_tx, rx) = mpsc::channel();
            let response = sample(Duration::from_millis(600), 499, &rx);
            stop.store(true, Ordering::Relaxed);
            let _ = spinner.join();
            assert_eq!(response.status, ProfileStatus::Ok as i32, "{}", response.message);
            let spinning: u64 = response
                .samples
                .iter()
                .filter(|s| s.thread == "spinner")
                .filter(|s| s.frames.last().is_some_and(|f| f.function.ends_with("spin")))
                .map(|s| s.count)
                .sum();
            let all: u64 = response.samples.iter().map(|s| s.count).sum();
            assert!(
                spinning * 2 > all,
                "{spinning} of {all} samples end in spin (is this build without \
                 `-C force-frame-pointers=yes`?): {response:#?}"
            );
        }

        /// Hot and not inlined, so that it is the interrupted function of most samples; only
        /// primitive operators, so that even an unoptimised build calls nothing from it.
        #[inline(never)]
        fn spin(mut x: u64) -> u64 {
            let mut round = 0_u32;
            while round < 100_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                round += 1;
            }
            x
        }
    }
}
