//! A global allocator that keeps hostile array lengths from aborting the host process.
//!
//! The generated decoders reserve `Vec::with_capacity(n)` for an array length `n` read from the
//! wire before reading any element. A garbage frame can claim two billion elements, asking for
//! tens of gigabytes; the system allocator refuses, and Rust aborts the whole Node process on a
//! refused allocation. Large requests are therefore served by a lazily-backed anonymous mapping
//! (`MAP_NORESERVE`): the reservation succeeds, only the pages actually written are ever backed,
//! and the decoder fails on the missing bytes a few elements later and frees the mapping.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at or above this size go to their own lazily-backed mapping.
const LARGE: usize = 1 << 30;
const PAGE: usize = 4096;

pub struct GuardedAllocator;

unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE && layout.align() <= PAGE {
            map(layout.size())
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE && layout.align() <= PAGE {
            // Fresh anonymous pages are zero already.
            map(layout.size())
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= LARGE && layout.align() <= PAGE {
            libc::munmap(ptr.cast(), layout.size());
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let large = |size: usize| size >= LARGE && layout.align() <= PAGE;
        if !large(layout.size()) && !large(new_size) {
            return System.realloc(ptr, layout, new_size);
        }
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

unsafe fn map(size: usize) -> *mut u8 {
    let ptr = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    );
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_huge_reservation_does_not_abort() {
        let v: Vec<[u8; 64]> = Vec::with_capacity(1 << 31);
        assert!(v.capacity() >= 1 << 31);
    }
}
