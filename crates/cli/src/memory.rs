//! Keeps the server's resident memory close to what it really holds.
//!
//! - Rust's allocations go to mimalloc (`main.rs`), told to commit its arena as it hands memory
//!   out ([`commit_allocator_memory_lazily`]).
//! - glibc's malloc still serves the C code linked in (SQLite). It serves blocks of 128 KiB and
//!   more with their own `mmap`, and, when such a block is freed, raises that threshold to the
//!   block's size (up to 32 MiB) and its trim threshold to twice that: one big freed block makes
//!   every later block below its size come from the heap, and freed heap stays with the process
//!   for good. Before mimalloc, one Argon2 hash (19 MiB) did that, and the 30-minute soak
//!   (`benches/src/bin/soak.rs`) saw the RSS climb by 22 MiB in steps with a live heap of 9 MiB.
//!   Setting the threshold explicitly turns that adjustment off, at glibc's own default.

/// `mi_option_arena_eager_commit` in mimalloc's `mi_option_e` (`mimalloc.h`), which the sys
/// crate names no constant for.
#[cfg(target_os = "linux")]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Makes mimalloc commit its arena's memory as it hands it out, not all at once. By default, on
/// Linux, it commits each arena (1 GiB) when it reserves it, and the server's resident memory per
/// idle stream was 19.5 KiB instead of glibc's 12.1 (delivery benchmark, 10,000 streams; 12.0
/// with this). It must run before the process's first allocation, which reserves the first
/// arena: hence a constructor, run by the loader before `main` ([`COMMIT_LAZILY`]).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // mi_option_set is a C function
extern "C" fn commit_allocator_memory_lazily() {
    // SAFETY: mi_option_set only sets one of mimalloc's options; this one takes 0, 1 or 2.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
}

/// [`commit_allocator_memory_lazily`] as an ELF constructor (`main` is too late: the runtime
/// allocates before it).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // placing a static in a named section
#[used]
#[unsafe(link_section = ".init_array")]
static COMMIT_LAZILY: extern "C" fn() = commit_allocator_memory_lazily;

/// glibc's default `M_MMAP_THRESHOLD`, kept from now on instead of raised.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Makes malloc hand big blocks back to the system when they are freed, for the rest of the
/// process, instead of keeping what the largest one freed so far took. Call it early, before the
/// first password hash.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // mallopt is a C function
pub(crate) fn return_freed_memory() {
    // SAFETY: mallopt only sets one of malloc's tuning parameters; this one takes any size.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Other allocators do not raise their thresholds like glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn return_freed_memory() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Bytes malloc holds in blocks of their own `mmap`.
    #[allow(unsafe_code)]
    fn mapped_bytes() -> usize {
        // SAFETY: mallinfo2 only reads malloc's statistics.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    /// A block of `bytes` from glibc's malloc itself (Rust's allocations go to mimalloc),
    /// written to and freed.
    #[allow(unsafe_code)]
    fn glibc_block<T>(bytes: usize, while_held: impl FnOnce() -> T) -> T {
        // SAFETY: the block is written within its size and freed once, after `while_held`.
        unsafe {
            let block = libc::malloc(bytes);
            assert!(!block.is_null());
            libc::memset(block, 1, bytes);
            let held = while_held();
            libc::free(block);
            held
        }
    }

    /// The constructor set the option (mimalloc's default is 2, eager on Linux).
    #[test]
    #[allow(unsafe_code)]
    fn mimalloc_commits_its_arena_lazily() {
        // SAFETY: mi_option_get only reads one of mimalloc's options.
        let eager = unsafe { libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT) };
        assert_eq!(eager, 0);
    }

    /// Without the fixed threshold, freeing the 20 MiB block (the size of an Argon2 hash's
    /// memory) raises it to 20 MiB, and the 4 MiB block then comes from the heap, where freeing
    /// it gives nothing back.
    #[test]
    fn a_freed_big_block_does_not_make_later_ones_stay_in_the_heap() {
        return_freed_memory();
        glibc_block(20 << 20, || ());
        // Other tests of this binary map and unmap blocks too: a few tries, one must see it.
        let mapped = (0..5).any(|_| {
            let before = mapped_bytes();
            let during = glibc_block(4 << 20, mapped_bytes);
            during >= before + (4 << 20)
        });
        assert!(mapped, "a 4 MiB block should have its own mapping");
    }
}
