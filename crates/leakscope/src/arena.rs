//! A lock-free arena of type-stable slots: the store behind every span the agent tracks.
//!
//! Why not `sharded-slab`: the agent must iterate every live record while the app keeps spawning,
//! and a slab hands out no shared iterator. Here memory is allocated in pages that are never freed
//! or moved, so a reader can always look at any slot; a slot's generation says whether it is live
//! and whose it is. Insert and remove are one CAS on a tagged free list (the tag defeats ABA), so
//! the app's spawn path never waits on a lock or on the agent.
//!
//! **Invariant:** every field of `T` is an atomic. Readers race with writers by design; atomics keep
//! that defined, and [`Arena::read`] discards a record whose generation changed while it was read.
//!
//! Pages come from the allocator zeroed ([`Zeroable`]) and are not written until a record lands
//! in them: the system maps the memory of a page's slots as they are first used, on the spawn
//! that uses them, instead of all of a page's slots (up to half the arena) on the spawn that
//! needed the page, and slots never used cost no memory.

use std::alloc::Layout;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A record that is valid, and its own default, when every byte of it is zero: each field an
/// atomic integer, boolean or pointer (the arena's invariant), or an array of them. The arena
/// asks the allocator for zeroed pages and never writes a slot before its first insert.
///
/// # Safety
///
/// An all-zero `Self` must be a valid value, equal to what `Default` would make.
pub(crate) unsafe trait Zeroable {}

/// Slots in the first page; page `k` holds `FIRST_PAGE << k`.
const FIRST_PAGE: usize = 256;
/// Enough pages for 2^32 slots.
const PAGES: usize = 24;

/// One slot: bookkeeping plus the record. Aligned to a cache line, so that two records never
/// share one: tasks spawned one after the other sit side by side, and two workers polling them
/// at once would otherwise take the line from each other on every poll (measured: the self-wake
/// poll workload ran at twice its cost in some memory layouts).
///
/// `repr(C)`: the generation comes first, so that a record can put its hottest fields on the
/// same cache line as the generation every lookup reads.
#[repr(C, align(64))]
pub(crate) struct Slot<T> {
    /// Odd while the slot holds a record; bumped on insert and on remove.
    generation: AtomicU32,
    /// Free-list link: index + 1 of the next free slot, 0 for none.
    next_free: AtomicU32,
    pub(crate) value: T,
}

/// Where a record lives: its slot index and the generation it was inserted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// The generation bits a key carries: 28, so that a packed key leaves the top four bits of a
/// `u64` to the caller (the registry's span and untracked flags and a span's kind) however often
/// a slot is reused. Slots compare generations under this mask; a reader would have to hold a key
/// across 2^27 reuses of its slot to mistake one record for another.
const GENERATION_MASK: u32 = 0x0fff_ffff;

impl Key {
    fn new(index: u32, generation: u32) -> Self {
        Self { index, generation: generation & GENERATION_MASK }
    }

    /// Packs the key into 60 bits (the top four are left to the caller), never zero.
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.generation & GENERATION_MASK) << 32) | (u64::from(self.index) + 1)
    }

    pub(crate) fn from_u64(raw: u64) -> Option<Self> {
        let low = (raw & 0xffff_ffff) as u32;
        let index = low.checked_sub(1)?;
        Some(Self::new(index, (raw >> 32) as u32))
    }
}

pub(crate) struct Arena<T> {
    pages: [AtomicPtr<Slot<T>>; PAGES],
    /// What the allocator returned for each page (the slots start at the first 64-byte boundary
    /// in it), to give it back.
    allocations: [AtomicPtr<u8>; PAGES],
    /// Tagged head of the free list: tag in the high 32 bits, index + 1 in the low.
    free_head: AtomicU64,
    /// Slots ever handed out from fresh pages.
    next_unused: AtomicU32,
    /// Slots on the free list, give or take the ones being pushed or popped right now. With
    /// [`Arena::lost`] it tells how many records are live: an insert into a fresh slot (every
    /// insert while the arena grows, as when an app spawns its millions of tasks) then costs one
    /// read-modify-write, not two, and none after the record's stores, which a locked operation
    /// would have had to wait for.
    free_len: AtomicI64,
    /// Fresh indices taken for a slot that could not be had (no memory for its page).
    lost: AtomicU32,
    allocated_slots: AtomicUsize,
}

impl<T: Zeroable> Arena<T> {
    pub(crate) const fn new() -> Self {
        Self {
            pages: [const { AtomicPtr::new(std::ptr::null_mut()) }; PAGES],
            allocations: [const { AtomicPtr::new(std::ptr::null_mut()) }; PAGES],
            free_head: AtomicU64::new(0),
            next_unused: AtomicU32::new(0),
            free_len: AtomicI64::new(0),
            lost: AtomicU32::new(0),
            allocated_slots: AtomicUsize::new(0),
        }
    }

    /// Takes a free slot and lets `init` fill it, knowing the key it will have, before it
    /// becomes visible to readers. `None` when the arena is full (2^32 slots) or memory for a
    /// new page cannot be had.
    pub(crate) fn insert(&self, init: impl FnOnce(&T, Key)) -> Option<Key> {
        let (index, reused) = match self.pop_free() {
            Some(index) => (index, true),
            None => (self.fresh()?, false),
        };
        // A popped slot's page exists; a fresh one's was just made by `fresh`.
        let slot = self.slot_if_allocated(index)?;
        // A free slot is this thread's alone: its generation is even while it is free, and
        // `remove` changes only the odd generation its key names (a stale key's compare-exchange
        // fails). So a store publishes the record, with no read-modify-write. A slot never used before is at
        // generation 0 and is not read at all: its first touch must be a write, or the system
        // would map its page twice (the shared zero page, then a copy).
        let generation =
            if reused { slot.generation.load(Ordering::Relaxed).wrapping_add(1) } else { 1 };
        let key = Key::new(index, generation);
        init(&slot.value, key);
        // Even -> odd: the record is published.
        slot.generation.store(generation, Ordering::Release);
        Some(key)
    }

    /// The live record under `key`, or `None` if it was removed (and maybe reused) since.
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slot_if_allocated(key.index)?;
        let generation = slot.generation.load(Ordering::Acquire);
        (generation & GENERATION_MASK == key.generation & GENERATION_MASK && generation & 1 == 1)
            .then_some(&slot.value)
    }

    /// Removes the record under `key`; `false` if it was already removed.
    pub(crate) fn remove(&self, key: Key) -> bool {
        let Some(slot) = self.slot_if_allocated(key.index) else { return false };
        let current = slot.generation.load(Ordering::Acquire);
        if current & 1 == 0 || current & GENERATION_MASK != key.generation & GENERATION_MASK {
            return false;
        }
        if slot
            .generation
            .compare_exchange(current, current.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.push_free(key.index, slot);
        true
    }

    /// Calls `visit` for every live record. `visit` returns a copy of what it needs; the copy is
    /// kept only if the slot was not removed or reused while it was being read.
    pub(crate) fn for_each<R>(
        &self,
        mut visit: impl FnMut(Key, &T) -> Option<R>,
        mut keep: impl FnMut(R),
    ) {
        let end = self.next_unused.load(Ordering::Acquire);
        for index in 0..end {
            let Some(slot) = self.slot_if_allocated(index) else { continue };
            let before = slot.generation.load(Ordering::Acquire);
            if before & 1 == 0 {
                continue;
            }
            let key = Key::new(index, before);
            let Some(copy) = visit(key, &slot.value) else { continue };
            if slot.generation.load(Ordering::Acquire) == before {
                keep(copy);
            }
        }
    }

    /// Live records: slots handed out less those free again and those never had. Exact when no
    /// insert or remove is under way; off by the ones that are, never below 0.
    pub(crate) fn live(&self) -> usize {
        let handed_out = i64::from(self.next_unused.load(Ordering::Relaxed))
            - i64::from(self.lost.load(Ordering::Relaxed));
        (handed_out - self.free_len.load(Ordering::Relaxed)).max(0) as usize
    }

    /// Bytes held by allocated pages.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.allocated_slots.load(Ordering::Relaxed) * std::mem::size_of::<Slot<T>>()
    }

    fn pop_free(&self) -> Option<u32> {
        let mut head = self.free_head.load(Ordering::Acquire);
        loop {
            let index = (head as u32).checked_sub(1)?;
            let slot = self.slot_if_allocated(index)?;
            // The slot may be popped and reused by another thread meanwhile: then `next` is stale,
            // but the tag has moved on too and the CAS below fails.
            let next = slot.next_free.load(Ordering::Acquire);
            let tag = (head >> 32).wrapping_add(1);
            match self.free_head.compare_exchange_weak(
                head,
                (tag << 32) | u64::from(next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.free_len.fetch_sub(1, Ordering::Relaxed);
                    return Some(index);
                }
                Err(actual) => head = actual,
            }
        }
    }

    fn push_free(&self, index: u32, slot: &Slot<T>) {
        let mut head = self.free_head.load(Ordering::Acquire);
        loop {
            slot.next_free.store(head as u32, Ordering::Release);
            let tag = (head >> 32).wrapping_add(1);
            match self.free_head.compare_exchange_weak(
                head,
                (tag << 32) | (u64::from(index) + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.free_len.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(actual) => head = actual,
            }
        }
    }

    fn fresh(&self) -> Option<u32> {
        let index = self.next_unused.fetch_add(1, Ordering::AcqRel);
        if index == u32::MAX {
            self.next_unused.store(u32::MAX, Ordering::Release);
            return None;
        }
        if self.ensure_page(index).is_none() {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(index)
    }

    fn slot_if_allocated(&self, index: u32) -> Option<&Slot<T>> {
        let (page, offset) = locate(index)?;
        let base = self.pages[page].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a non-null page pointer comes from `ensure_page`, which allocated room for
        // `page_len(page)` slots, aligned, zeroed (a valid slot, `T: Zeroable`), and never frees
        // or moves them while `self` lives; `offset < page_len(page)` by `locate`.
        Some(unsafe { &*base.add(offset) })
    }

    fn ensure_page(&self, index: u32) -> Option<()> {
        let (page, _) = locate(index)?;
        if !self.pages[page].load(Ordering::Acquire).is_null() {
            return Some(());
        }
        let len = page_len(page);
        let layout = page_layout::<T>(len)?;
        // SAFETY: the layout's size is not zero (it has room for the alignment at least).
        let allocation = unsafe { std::alloc::alloc_zeroed(layout) };
        if allocation.is_null() {
            return None;
        }
        // The layout asks for the allocator's plain alignment and room for a slot's more, so
        // that a large page is the system's zeroed memory as it comes (`calloc`), which an
        // over-aligned request would have written through (std's `System` zeroes those itself).
        let fresh = allocation.wrapping_add(allocation.align_offset(align_of::<Slot<T>>()));
        let fresh = fresh.cast::<Slot<T>>();
        match self.pages[page].compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.allocations[page].store(allocation, Ordering::Release);
                self.allocated_slots.fetch_add(len, Ordering::Relaxed);
            }
            Err(_) => {
                // Another thread installed this page first; ours was never shared.
                // SAFETY: `allocation` came from `alloc_zeroed(layout)` just above.
                unsafe { std::alloc::dealloc(allocation, layout) };
            }
        }
        Some(())
    }
}

impl<T> Drop for Arena<T> {
    fn drop(&mut self) {
        for (page, allocation) in self.allocations.iter_mut().enumerate() {
            let allocation = *allocation.get_mut();
            if allocation.is_null() {
                continue;
            }
            // Slots hold atomics only: nothing to drop in them.
            if let Some(layout) = page_layout::<T>(page_len(page)) {
                // SAFETY: stored by `ensure_page` from `alloc_zeroed` with this layout;
                // `&mut self` means no reader remains.
                unsafe { std::alloc::dealloc(allocation, layout) };
            }
        }
    }
}

fn page_len(page: usize) -> usize {
    FIRST_PAGE << page
}

/// What a page of `len` slots is allocated as: their bytes plus room to align the first, at
/// the alignment of a `u64`.
fn page_layout<T>(len: usize) -> Option<Layout> {
    let bytes = len.checked_mul(size_of::<Slot<T>>())?.checked_add(align_of::<Slot<T>>())?;
    Layout::from_size_align(bytes, align_of::<u64>()).ok()
}

/// Page and offset of a slot index: page `k` starts at `FIRST_PAGE * (2^k - 1)`.
fn locate(index: u32) -> Option<(usize, usize)> {
    let scaled = index as usize / FIRST_PAGE + 1;
    let page = (usize::BITS - 1 - scaled.leading_zeros()) as usize;
    if page >= PAGES {
        return None;
    }
    let start = FIRST_PAGE * ((1 << page) - 1);
    Some((page, index as usize - start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default)]
    struct Cell(AtomicU64);

    // SAFETY: one atomic integer, zero by default.
    unsafe impl Zeroable for Cell {}

    #[test]
    fn locate_maps_indices_to_pages() {
        let check =
            |index: u32, expected: (usize, usize)| assert_eq!(locate(index), Some(expected));
        check(0, (0, 0));
        check(255, (0, 255));
        check(256, (1, 0));
        check(767, (1, 511));
        check(768, (2, 0));
    }

    #[test]
    fn keys_round_trip_and_are_never_zero() {
        for key in [Key { index: 0, generation: 1 }, Key { index: 77, generation: 0x0fff_ffff }] {
            assert_ne!(key.to_u64(), 0);
            assert_eq!(Key::from_u64(key.to_u64()), Some(key));
        }
        assert_eq!(Key::from_u64(0), None);
    }

    #[test]
    fn a_slot_reused_two_billion_times_keeps_the_callers_top_bits_clear() {
        // Generations past 2^28 (a slot reused 2^27 times: hours of a busy app's churn) must not
        // reach bits 60 to 63, which the registry uses to mark spans, their kinds and untracked
        // ids.
        for generation in [0x1000_0001, 0x4000_0001, 0x8000_0001, u32::MAX] {
            let key = Key::new(u32::MAX - 1, generation);
            assert_eq!(key.to_u64() >> 60, 0, "{generation:#x}");
            assert_eq!(Key::from_u64(key.to_u64()), Some(key));
            assert_eq!(key.generation & 1, 1, "a live key stays odd");
        }
    }

    #[test]
    fn removed_keys_stop_resolving_even_when_the_slot_is_reused() {
        let arena = Arena::<Cell>::new();
        let a = arena.insert(|c, _| c.0.store(1, Ordering::Relaxed)).unwrap();
        assert!(arena.remove(a));
        assert!(!arena.remove(a), "a second remove of the same key must fail");
        let b = arena.insert(|c, _| c.0.store(2, Ordering::Relaxed)).unwrap();
        assert_eq!(a.index, b.index, "the freed slot is reused");
        assert!(arena.get(a).is_none());
        assert_eq!(arena.get(b).unwrap().0.load(Ordering::Relaxed), 2);
        assert_eq!(arena.live(), 1);
    }

    #[test]
    fn concurrent_insert_remove_keeps_every_record() {
        let arena = Arc::new(Arena::<Cell>::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let arena = arena.clone();
                std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..20_000u64 {
                        let key =
                            arena.insert(|c, _| c.0.store(t << 32 | i, Ordering::Relaxed)).unwrap();
                        if i % 2 == 0 {
                            assert!(arena.remove(key));
                        } else {
                            kept.push((key, t << 32 | i));
                        }
                    }
                    kept
                })
            })
            .collect();
        let kept: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(arena.live(), kept.len());
        for (key, value) in &kept {
            assert_eq!(arena.get(*key).unwrap().0.load(Ordering::Relaxed), *value);
        }
        let mut seen = 0;
        arena.for_each(|_, c| Some(c.0.load(Ordering::Relaxed)), |_| seen += 1);
        assert_eq!(seen, kept.len());
    }
}
