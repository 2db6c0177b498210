//! Asking the processor ahead of time for memory a coming request will touch.
//!
//! Serve's journal keeps the last 10,000 exchanges in a ring, and each new entry is packed into the
//! buffer of the oldest, let go of: memory 10,000 requests cold, so the request that touches it first
//! waits for main memory, for the entry and for each line of its buffer. Which entry the next request
//! lets go of is known, so when this one is recorded the journal asks for it: the fetch overlaps with
//! writing this answer and waiting for the next request, instead of stalling the next one
//! (bench/README.md, "This round, end").

/// The size of a cache line on the processors armsim runs on.
const LINE: usize = 64;

/// Asks the processor to bring the lines holding `value` into its caches. A hint: it changes no value
/// and cannot fault; where the target has no prefetch instruction armsim uses, it does nothing.
pub(crate) fn prefetch<T: ?Sized>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    for line in lines(start.addr(), std::mem::size_of_val(value)) {
        prefetch_line(start.with_addr(line));
    }
}

/// The address of each cache line that bytes `addr..addr + len` touch, once each.
fn lines(addr: usize, len: usize) -> impl Iterator<Item = usize> {
    let first = if len == 0 { addr } else { addr - addr % LINE };
    (first..addr + len).step_by(LINE)
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
    fn every_line_a_value_touches_is_asked_for_once() {
        let lines = |addr, len| lines(addr, len).collect::<Vec<_>>();
        assert_eq!(lines(64, 1), [64], "one byte, one line");
        assert_eq!(lines(64, 64), [64], "a whole line, aligned");
        assert_eq!(lines(63, 2), [0, 64], "two bytes across a boundary");
        assert_eq!(lines(1, 128), [0, 64, 128], "unaligned at both ends");
        assert_eq!(lines(0, 128), [0, 64]);
        assert_eq!(lines(100, 0), Vec::<usize>::new(), "nothing for nothing");
        // And the real thing, on values of every alignment: no fault, no change.
        let bytes: Vec<u8> = (0..=255).collect();
        for start in [0, 1, 63, 64, 200, 256] {
            prefetch(&bytes[start..]);
        }
        prefetch(&());
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
    }
}
