//! Where a task waits, captured with no task dump.
//!
//! A parked task is one whose last poll left its waker with some leaf future: a channel, a timer,
//! a socket's readiness, a lock's wait list. tokio emits a `waker.clone` event at exactly that
//! moment, inside the task's own poll and on the polling thread, with the whole await chain on
//! the stack: the leaf future's `poll`, every `.await` of the app between it and the task's root
//! future, then tokio's harness. [`walk`] reads that chain from the frame pointers (return
//! addresses only, innermost first), the interner stores each distinct chain once, and the task's
//! slot keeps the chain's id. The agent thread symbolises a chain when a client first needs it
//! (`crate::symbols`), with the line tables' inlined frames, so a release build still shows the
//! app's own `.await` line.
//!
//! The walk is the only part on the app's path. It takes no lock and allocates nothing: it reads
//! at most [`MAX_FRAMES`] pairs of words, each inside this thread's stack between the walk's own
//! frame and the stack's top (bounds read once per thread), each frame strictly above the one
//! before, so a function built without frame pointers ends the walk early or gives a wrong chain,
//! never a fault.
//!
//! What it cannot see: a future that is not tokio's and keeps no tokio waker (it registers
//! nothing tokio reports), a wait re-registered without a new clone (tokio keeps a waker that
//! `will_wake` the same task, so the earlier chain stands, which names the same wait), and a
//! platform other than Linux on x86_64 or aarch64.

/// Return addresses kept per chain. The app's await chain sits between tokio's leaf and its
/// harness, about 10 frames below the walk's start; deeper async stacks (a web framework's
/// layers) still fit in 48.
pub(crate) const MAX_FRAMES: usize = 48;

/// Whether this build captures wait chains.
pub(crate) const SUPPORTED: bool =
    cfg!(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")));

/// Whether the agent was asked to capture ([`crate::Builder::wait_capture`]); set once, when the
/// collector is installed.
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether wait chains are captured: the platform supports it and the app did not turn it off.
#[inline]
pub(crate) fn enabled() -> bool {
    SUPPORTED && ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Turns the capture on or off, before any task runs.
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Return addresses of the calling thread's stack, innermost first, into `out`; how many.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(never)]
pub(crate) fn walk(out: &mut [usize; MAX_FRAMES]) -> usize {
    let marker = 0_u8;
    // An address inside this function's own frame: every frame read lies above it.
    let low = std::ptr::from_ref(&marker) as usize;
    let (stack_low, stack_top) = stack_bounds();
    // Off the thread's own stack (a coroutine or an alternate signal stack): the span up to the
    // top is not known to be mapped, so read nothing.
    if low < stack_low || low >= stack_top {
        return 0;
    }
    let word = size_of::<usize>();
    let mut fp = crate::probe::frame_pointer();
    let mut n = 0;
    while n < MAX_FRAMES {
        let inside = fp >= low
            && fp.is_multiple_of(word)
            && fp.checked_add(2 * word).is_some_and(|end| end <= stack_top);
        if !inside {
            break;
        }
        // SAFETY: `fp .. fp + 2 words` lies between this function's frame and the top of this
        // thread's stack, which is mapped memory for as long as this function runs.
        let (next, ret) = unsafe {
            (
                std::ptr::read_volatile(fp as *const usize),
                std::ptr::read_volatile((fp + word) as *const usize),
            )
        };
        if ret == 0 {
            break;
        }
        out[n] = ret;
        n += 1;
        // Frames of callers sit at higher addresses; anything else is not a frame-pointer chain.
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
pub(crate) fn walk(_out: &mut [usize; MAX_FRAMES]) -> usize {
    0
}

/// This thread's stack as (lowest address, top), read once per thread; `(0, 0)` when unknown,
/// which stops every walk.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn stack_bounds() -> (usize, usize) {
    use std::cell::Cell;
    thread_local! {
        static BOUNDS: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    }
    BOUNDS
        .try_with(|bounds| match bounds.get() {
            Some(known) => known,
            None => {
                let known = query_stack_bounds();
                bounds.set(Some(known));
                known
            }
        })
        .unwrap_or((0, 0))
}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
fn query_stack_bounds() -> (usize, usize) {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is read and destroyed once;
    // the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return (0, 0);
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if got != 0 || addr.is_null() {
            return (0, 0);
        }
        let low = addr as usize;
        (low, low.saturating_add(size))
    }
}

#[cfg(all(test, target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::{MAX_FRAMES, walk};

    #[inline(never)]
    fn nested(depth: u32, out: &mut [usize; MAX_FRAMES]) -> usize {
        if depth == 0 { walk(out) } else { std::hint::black_box(nested(depth - 1, out)) }
    }

    #[test]
    fn a_walk_sees_its_callers_on_any_thread() {
        let check = || {
            let mut out = [0; MAX_FRAMES];
            let n = nested(5, &mut out);
            // The walk itself, five levels of `nested`, and the test's own callers.
            assert!(n >= 6, "{n} frames: {:x?}", &out[..n]);
            let distinct: std::collections::HashSet<_> = out[..n].iter().collect();
            assert!(distinct.len() >= 2, "{:x?}", &out[..n]);
        };
        check();
        std::thread::spawn(check).join().expect("the walk works on a spawned thread");
    }
}
