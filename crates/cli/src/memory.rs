//! Keeps the server's resident memory close to what it really holds, on glibc.
//!
//! Rust's allocations go to mimalloc (`main.rs`); glibc's malloc still serves the C code linked
//! in, SQLite's page cache and statements, which this tunes.
//!
//! glibc's malloc serves blocks of 128 KiB and more with their own `mmap`, and, when such a block
//! is freed, raises that threshold to the block's size (up to 32 MiB) and its trim threshold to
//! twice that. One Argon2 hash (19 MiB of working memory: the admin password at bootstrap, any
//! password sign-in) therefore makes every later block below 19 MiB come from the heap and keeps up
//! to 38 MiB of freed heap from ever going back to the system. The resident set then only rises,
//! to the high-water mark of each load spike, while the live heap stays flat: the 30-minute soak
//! (`benches/src/bin/soak.rs`) saw the RSS climb by 22 MiB in steps with a live heap of 9 MiB.
//! Setting the threshold explicitly turns that adjustment off, at glibc's own default.

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
