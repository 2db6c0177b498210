//! Deterministic ids: every GUID, operation suffix and key comes from (seed, counter), so a run with the
//! same seed and the same requests produces the same bytes.

/// SplitMix64: tiny, fast and good enough for ids (not for secrets that must resist guessing — keys
/// made here protect nothing real). Operation ids take their suffix from a counter of their own (see
/// [`operation_suffix`]).
#[derive(Debug, Clone)]
pub struct Ids(Position);

/// Where an [`Ids`] stands, all of its state: saved with a persisted world so a restarted simulator goes
/// on with fresh ids instead of repeating the ones it already handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// SplitMix64's state: GUIDs and keys.
    pub state: u64,
    /// The next operation's counter.
    pub operations: u32,
}

impl Position {
    /// A generator's position with its operation counter at the start its state gives: each seed counts
    /// its operations from a start of its own, so two seeds' ids differ, found by mixing the state
    /// rather than drawing from it (the GUIDs a seed makes are the same with or without operations).
    /// Also the position of a world saved before operations had a counter (its state only).
    pub fn of_state(state: u64) -> Self {
        Self {
            state,
            operations: mix(!state) as u32,
        }
    }
}

impl Ids {
    pub fn new(seed: u64) -> Self {
        Self::resume(Position::of_state(seed ^ 0x9E37_79B9_7F4A_7C15))
    }

    pub fn position(&self) -> Position {
        self.0
    }

    /// A generator that continues from a saved [`Ids::position`].
    pub fn resume(position: Position) -> Self {
        Self(position)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.state = self.0.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0.state)
    }

    /// Appends the next operation's suffix to `out` (eight hex digits, [`operation_suffix`] of its
    /// counter) and returns that counter.
    pub fn push_operation_suffix(&mut self, out: &mut String) -> u32 {
        let counter = self.0.operations;
        self.0.operations = counter.wrapping_add(1);
        push_hex(out, u64::from(operation_suffix(counter)), 8);
        counter
    }

    /// A version-4-shaped GUID. Two of these are made for every answer, so they are written digit by
    /// digit rather than through `format!`.
    pub fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let mut out = String::with_capacity(36);
        push_hex(&mut out, a >> 32, 8);
        out.push('-');
        push_hex(&mut out, (a >> 16) & 0xffff, 4);
        out.push_str("-4");
        push_hex(&mut out, a & 0x0fff, 3);
        out.push('-');
        push_hex(&mut out, ((b >> 48) & 0x3fff) | 0x8000, 4);
        out.push('-');
        push_hex(&mut out, b & 0xffff_ffff_ffff, 12);
        out
    }

    /// 64 random bytes in base64, the shape of a storage account key.
    pub fn storage_key(&mut self) -> String {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0..8).flat_map(|_| self.next_u64().to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An operation id's suffix, from the operation's counter: eight hex digits that look as random as
/// ARM's (`_Backup_75e6eaea`), and that [`operation_counter`] turns back into the counter, so the engine
/// files consecutive operations side by side (`engine/operations.rs`). A bijection of 32 bits (Chris
/// Wellons's `lowbias32`): no two counters share a suffix.
pub fn operation_suffix(counter: u32) -> u32 {
    let mut x = counter;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The counter whose suffix is `suffix`: the inverse of [`operation_suffix`].
pub fn operation_counter(suffix: u32) -> u32 {
    let mut x = suffix;
    x ^= x >> 16;
    x = x.wrapping_mul(0x4302_1123);
    x ^= (x >> 15) ^ (x >> 30);
    x = x.wrapping_mul(0x1d69_e2a5);
    x ^ (x >> 16)
}

/// Appends the low `digits` hex digits of `v`, lower case, zero-padded.
fn push_hex(out: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        let nibble = ((v >> (4 * i)) & 0xf) as u8;
        out.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_and_guid_shape() {
        let (mut a, mut b) = (Ids::new(7), Ids::new(7));
        assert_eq!(a.guid(), b.guid());
        let g = a.guid();
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "4");
        assert_ne!(Ids::new(8).guid(), Ids::new(7).guid());
        assert_eq!(a.storage_key().len(), 88);
    }

    #[test]
    fn hand_written_hex_matches_the_format_macro() {
        for seed in 0..200 {
            let (mut ids, mut raw) = (Ids::new(seed), Ids::new(seed));
            let (a, b) = (raw.next_u64(), raw.next_u64());
            let expected = format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                (a >> 32) as u32,
                (a >> 16) as u16,
                (a as u16) & 0x0fff,
                ((b >> 48) as u16 & 0x3fff) | 0x8000,
                b & 0xffff_ffff_ffff
            );
            assert_eq!(ids.guid(), expected);
            let (mut hex, v) = (String::new(), raw.next_u64());
            push_hex(&mut hex, v & 0xffff_ffff, 8);
            assert_eq!(hex, format!("{:08x}", v as u32));
        }
    }

    #[test]
    fn an_operation_suffix_turns_back_into_its_counter_and_no_two_counters_share_one() {
        let mut seen = std::collections::HashSet::new();
        let mut ids = Ids::new(7);
        for _ in 0..100_000 {
            let mut hex = String::new();
            let counter = ids.push_operation_suffix(&mut hex);
            let suffix = u32::from_str_radix(&hex, 16).expect("eight hex digits");
            assert_eq!(hex.len(), 8);
            assert_eq!(operation_counter(suffix), counter, "{hex}");
            assert!(seen.insert(suffix), "{hex} twice");
        }
        for x in [0, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff] {
            assert_eq!(operation_counter(operation_suffix(x)), x);
            assert_eq!(operation_suffix(operation_counter(x)), x);
        }
    }

    #[test]
    fn operation_counters_start_apart_per_seed_and_resume_where_they_stood() {
        let first = |seed| {
            let mut hex = String::new();
            Ids::new(seed).push_operation_suffix(&mut hex);
            hex
        };
        assert_ne!(first(7), first(8));
        let mut ids = Ids::new(7);
        let mut hex = String::new();
        ids.push_operation_suffix(&mut hex);
        let _ = ids.guid();
        let mut resumed = Ids::resume(ids.position());
        let (mut a, mut b) = (String::new(), String::new());
        assert_eq!(
            ids.push_operation_suffix(&mut a),
            resumed.push_operation_suffix(&mut b)
        );
        assert_eq!((a, ids.guid()), (b, resumed.guid()));
    }
}
