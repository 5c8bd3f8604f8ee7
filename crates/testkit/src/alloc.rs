//! A global allocator that counts the current thread's allocations, for tests that prove a
//! path allocates nothing. Each such test binary installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: switchyard_testkit::alloc::Counting = switchyard_testkit::alloc::Counting;
//! ```
//!
//! and compares [`allocations`] before and after the code under test. Counts are per thread,
//! so other tests running meanwhile do not disturb them.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting each allocation and reallocation.
#[derive(Debug)]
pub struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// How many allocations this thread has made so far (under [`Counting`]).
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}
