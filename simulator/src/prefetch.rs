//! Asking the processor ahead of time for memory a coming request will touch.
//!
//! Serve's journal keeps the last 10,000 exchanges in a ring, and each new entry is packed into the
//! buffer of the oldest, let go of: memory 10,000 requests cold, so the request that touches it first
//! waits for main memory, for the entry and for each line of its buffer. Which entry the next request
//! lets go of is known, so when this one is recorded the journal asks for it: the fetch overlaps with
//! writing this answer and waiting for the next request, instead of stalling the next one
//! (bench/README.md, "Prefetching the journal's next entry").

/// The size of a cache line on the processors armsim runs on.
const LINE: usize = 64;

/// Asks the processor to bring the lines holding `value` into its caches. A hint: it changes no value
/// and cannot fault; where the target has no prefetch instruction armsim uses, it does nothing.
pub(crate) fn prefetch<T: ?Sized>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    let len = std::mem::size_of_val(value);
    if len == 0 {
        return;
    }
    let first = start.wrapping_sub(start.addr() % LINE);
    let end = start.addr() + len;
    let mut line = first;
    while line.addr() < end {
        prefetch_line(line);
        line = line.wrapping_add(LINE);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn prefetch_line(p: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: `_mm_prefetch` is `unsafe` only for its `#[target_feature(enable = "sse")]`, and SSE is
    // part of the x86-64 baseline: every processor this code compiles for has it. A prefetch reads
    // nothing into the program and does not fault, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_line(_: *const u8) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_any_value_changes_nothing() {
        let bytes: Vec<u8> = (0..=255).collect();
        for start in [0, 1, 63, 64, 200] {
            prefetch(&bytes[start..]);
        }
        prefetch(&bytes[..0]);
        prefetch(&());
        prefetch(&bytes);
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
    }
}
