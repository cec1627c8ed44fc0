//! How the command's own allocations go back to the system.
//!
//! Against a million tasks the CLI builds and drops buffers of 8 to 50 MB on every update: the
//! model's vectors, the analysis's, a screen's list. glibc maps a buffer that large on its own
//! and unmaps it when freed, but only until the first such buffer is freed: it then raises its
//! threshold to that buffer's size (up to 32 MiB), and later ones of that size come from its
//! arenas, which keep freed memory mapped. With the Resources screen open on a million oneshots,
//! the CLI peaked at 557-574 MB that way, against 450-515 MB with fixed thresholds (three runs
//! each on an idle machine; docs/benchmarks.md has the bench's figure). So the command fixes both
//! thresholds at 128 KiB, glibc's default: large buffers stay mapped on their own, and free
//! memory at the top of a heap goes back to the system. Only the command does this: the agent lives in the app's
//! process, whose allocator is the app's business.

/// glibc's default mmap and trim threshold, fixed rather than left to grow.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const THRESHOLD: libc::c_int = 128 * 1024;

/// Fixes the allocator's thresholds (see the module's docs). Does nothing outside glibc.
pub(crate) fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes glibc's tuning parameters, and takes its own lock to do so;
    // any thread may call it at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::return_large_buffers;
    use std::hint::black_box;

    /// Whether glibc mapped the block at `block` on its own: bit 1 (`IS_MMAPPED`) of the size
    /// word glibc keeps just before every block it hands out.
    fn mapped_on_its_own(block: *const u8) -> bool {
        // SAFETY: `block` is the start of a live allocation from glibc's `malloc` (a `Vec<u8>`
        // through the system allocator), which always has its size word in the eight bytes
        // before it.
        let size_word = unsafe { block.cast::<usize>().sub(1).read_unaligned() };
        size_word & 2 != 0
    }

    #[test]
    fn a_large_buffer_is_mapped_on_its_own_even_after_a_larger_one_was_freed() {
        return_large_buffers();
        // Freeing a 16 MiB mapping would raise glibc's threshold to 16 MiB if it were left to
        // grow (it grows up to 32 MiB); the 1 MiB buffer after it would then come from an arena.
        drop(black_box(vec![1_u8; 16 << 20]));
        let buffer = black_box(vec![1_u8; 1 << 20]);
        assert!(mapped_on_its_own(buffer.as_ptr()), "a 1 MiB buffer came from an arena");
        let small = black_box(vec![1_u8; 1 << 10]);
        assert!(!mapped_on_its_own(small.as_ptr()), "a 1 KiB buffer was mapped on its own");
    }
}
