//! The allocator of policy plugins ([`crate::export_policy!`] installs it).
//!
//! The host runs every evaluation in a fresh instance, so whatever a policy
//! allocates is given back wholesale when its instance is dropped: freeing
//! block by block, as the general-purpose allocator does, is work nobody
//! needs. The arena hands out memory by moving a pointer forward and frees
//! only the latest block (a string grown in place, a temporary dropped
//! before the next allocation); everything else is left until the instance
//! goes. Before the arena, a third of an evaluation inside the guest was the
//! allocator (the bindings lift ~30 strings and lists, each its own block).
//!
//! The arena is one region of [`ARENA_BYTES`] in the module's own
//! zero-initialised data, so part of the memory every instance starts
//! with: using it grows no memory (growing would cost the host a
//! `mprotect` now and another when the instance's slot is reset). What does
//! not fit (a policy that allocates more within one call) goes to the
//! system allocator, which frees, reuses and grows the memory as before,
//! through the host's memory cap: past the cap it fails and the guest
//! traps, as it would have without the arena.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// How large the arena is: several times what one evaluation of the
/// built-in policies allocates (one Wasm page), a small part of a policy's
/// memory cap.
pub const ARENA_BYTES: usize = 64 << 10;

/// Where the arena's region comes from.
pub trait Reserve {
    /// The address of `bytes` new, zeroed bytes, or `None` when refused.
    fn reserve(&self, bytes: usize) -> Option<usize>;
}

/// The arena's region in the module's zero-initialised data.
pub struct StaticRegion(std::cell::UnsafeCell<[u8; ARENA_BYTES]>);

impl StaticRegion {
    pub const fn new() -> StaticRegion {
        StaticRegion(std::cell::UnsafeCell::new([0; ARENA_BYTES]))
    }
}

impl Default for StaticRegion {
    fn default() -> Self {
        StaticRegion::new()
    }
}

// SAFETY: the region is only reached through the arena, which hands out
// each byte to one block at a time (see `GlobalAlloc for Arena`).
unsafe impl Sync for StaticRegion {}

impl Reserve for StaticRegion {
    fn reserve(&self, bytes: usize) -> Option<usize> {
        (bytes <= ARENA_BYTES).then(|| self.0.get().expose_provenance())
    }
}

/// A bump allocator over one region, the system allocator behind it.
/// Wasm components are single-threaded; the atomics only make it `Sync`,
/// as a global allocator must be (on wasm32 they are plain loads and
/// stores).
pub struct Arena<R = StaticRegion> {
    region: R,
    reserved: AtomicBool,
    start: AtomicUsize,
    next: AtomicUsize,
    end: AtomicUsize,
}

impl<R> Arena<R> {
    pub const fn new(region: R) -> Arena<R> {
        Arena {
            region,
            reserved: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
        }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        (self.start.load(Relaxed)..self.end.load(Relaxed)).contains(&ptr.addr())
    }
}

impl<R: Reserve> Arena<R> {
    /// The next `layout` of the arena, if it fits.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if !self.reserved.swap(true, Relaxed)
            && let Some(start) = self.region.reserve(ARENA_BYTES)
        {
            self.start.store(start, Relaxed);
            self.next.store(start, Relaxed);
            self.end.store(start + ARENA_BYTES, Relaxed);
        }
        let at = self
            .next
            .load(Relaxed)
            .checked_next_multiple_of(layout.align())?;
        let to = at.checked_add(layout.size())?;
        if to > self.end.load(Relaxed) {
            return None;
        }
        self.next.store(to, Relaxed);
        Some(std::ptr::with_exposed_provenance_mut(at))
    }
}

// SAFETY: blocks of the arena are disjoint (the pointer only moves past a
// block, or back to the start of the latest one when it is freed), aligned
// as asked, and inside the reserved region; other blocks are the system
// allocator's, and each pointer goes back to whichever allocator made it.
unsafe impl<R: Reserve> GlobalAlloc for Arena<R> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(block) => block,
            // SAFETY: the caller's contract, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: the system allocator made it (see `owns`).
            return unsafe { System.dealloc(ptr, layout) };
        }
        // Only the latest block can be taken back.
        if ptr.addr() + layout.size() == self.next.load(Relaxed) {
            self.next.store(ptr.addr(), Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: the system allocator made it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let latest = ptr.addr() + layout.size() == self.next.load(Relaxed);
        if latest && ptr.addr() + new_size <= self.end.load(Relaxed) {
            // The latest block grows or shrinks where it is.
            self.next.store(ptr.addr() + new_size, Relaxed);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and, rounded up to the alignment,
        // does not overflow (the caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for `alloc`.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live, distinct, and at least
            // `layout.size()` long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, moved, layout.size()) };
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A region of ordinary memory standing in for the linear memory,
    /// which refuses once it has been reserved `limit` times.
    struct Heap {
        limit: usize,
        reserved: Cell<usize>,
    }

    impl Reserve for Heap {
        fn reserve(&self, bytes: usize) -> Option<usize> {
            if self.reserved.get() == self.limit {
                return None;
            }
            self.reserved.set(self.reserved.get() + 1);
            let region: &'static mut [u8] = vec![0u8; bytes].leak();
            Some(region.as_mut_ptr().expose_provenance())
        }
    }

    fn arena(limit: usize) -> Arena<Heap> {
        Arena::new(Heap {
            limit,
            reserved: Cell::new(0),
        })
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_keep_what_is_written() {
        let a = arena(1);
        let mut blocks = Vec::new();
        for (i, (size, align)) in [(3, 1), (8, 8), (5, 2), (32, 16), (1, 1), (24, 8)]
            .into_iter()
            .enumerate()
        {
            let l = layout(size, align);
            let p = unsafe { a.alloc(l) };
            assert!(a.owns(p), "block {i} comes from the arena");
            assert_eq!(p.addr() % align, 0, "block {i} is aligned");
            unsafe { p.write_bytes(i as u8, size) };
            blocks.push((p, l, i as u8));
        }
        for (p, l, fill) in &blocks {
            let bytes = unsafe { std::slice::from_raw_parts(*p, l.size()) };
            assert!(
                bytes.iter().all(|b| b == fill),
                "no block overwrote another"
            );
        }
    }

    #[test]
    fn the_latest_block_is_freed_and_grown_in_place() {
        let a = arena(1);
        let first = unsafe { a.alloc(layout(16, 8)) };
        let second = unsafe { a.alloc(layout(16, 8)) };
        unsafe { a.dealloc(second, layout(16, 8)) };
        let again = unsafe { a.alloc(layout(16, 8)) };
        assert_eq!(again, second, "the freed latest block is handed out again");

        unsafe { again.write_bytes(7, 16) };
        let grown = unsafe { a.realloc(again, layout(16, 8), 4096) };
        assert_eq!(grown, again, "the latest block grows where it is");
        let moved = unsafe { a.realloc(first, layout(16, 8), 64) };
        assert_ne!(moved, first, "an earlier block moves to grow");
        let kept = unsafe { std::slice::from_raw_parts(grown, 16) };
        assert!(kept.iter().all(|b| *b == 7), "growing keeps the contents");
    }

    #[test]
    fn what_does_not_fit_goes_to_the_system_allocator() {
        let a = arena(1);
        let big = layout(ARENA_BYTES + 1, 8);
        let p = unsafe { a.alloc(big) };
        assert!(!p.is_null() && !a.owns(p));
        unsafe { p.write_bytes(1, big.size()) };
        unsafe { a.dealloc(p, big) };
        // The arena itself is still there for what fits.
        assert!(a.owns(unsafe { a.alloc(layout(8, 8)) }));
    }

    #[test]
    fn a_refused_reservation_leaves_everything_to_the_system_allocator() {
        let a = arena(0);
        let l = layout(64, 8);
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null() && !a.owns(p));
        let p = unsafe { a.realloc(p, l, 256) };
        assert!(!p.is_null() && !a.owns(p));
        unsafe { a.dealloc(p, layout(256, 8)) };
    }
}
