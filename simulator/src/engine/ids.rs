//! Deterministic ids: every GUID, operation suffix and key comes from (seed, counter), so a run with the
//! same seed and the same requests produces the same bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

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

    /// The next operation's counter and its suffix: eight hex digits, [`operation_suffix`] of the
    /// counter.
    pub fn next_operation_suffix(&mut self) -> (u32, [u8; 8]) {
        let counter = self.0.operations;
        self.0.operations = counter.wrapping_add(1);
        (counter, hex8(operation_suffix(counter)))
    }

    /// A version-4-shaped GUID.
    pub fn guid(&mut self) -> String {
        String::from_utf8_lossy(&self.guid_bytes()).into_owned()
    }

    /// [`Ids::guid`] as its ASCII bytes: two are made for every answer, as header values, which take
    /// bytes. Its digits are made eight at a time ([`hex8`]), not pushed one by one onto a `String`.
    pub fn guid_bytes(&mut self) -> [u8; 36] {
        let a = self.next_u64();
        let b = self.next_u64();
        let (a_hi, a_lo) = (hex8((a >> 32) as u32), hex8(a as u32));
        // The variant's two bits (10) over b's top 14.
        let b_hi = hex8(((b >> 32) as u32 & 0x3fff_ffff) | 0x8000_0000);
        let b_lo = hex8(b as u32);
        let mut out = *b"00000000-0000-4000-0000-000000000000";
        out[..8].copy_from_slice(&a_hi);
        out[9..13].copy_from_slice(&a_lo[..4]);
        out[15..18].copy_from_slice(&a_lo[5..]);
        out[19..23].copy_from_slice(&b_hi[..4]);
        out[24..28].copy_from_slice(&b_hi[4..]);
        out[28..].copy_from_slice(&b_lo);
        out
    }

    /// 64 random bytes in base64, the shape of a storage account key.
    pub fn storage_key(&mut self) -> String {
        let bytes: Vec<u8> = (0..8).flat_map(|_| self.next_u64().to_le_bytes()).collect();
        STANDARD.encode(bytes)
    }
}

/// What an operation id starts with, `{region}:{name}_{Kind}_`, for the service and kind the last one
/// was made for: the id is that stem and its eight-digit suffix in standard base64, and base64 encodes
/// each three bytes on their own, so the stem's whole three-byte groups are encoded once here and an id
/// is their encoding followed by that of the one or two bytes left over and the suffix. The next
/// operation of the same service and kind (a POST storm's, a DR drill's backups) then neither
/// canonicalises the region nor encodes the stem again: 420 of the instructions a backup POST spends
/// inside `handle` (callgrind, bench/README.md).
#[derive(Debug, Default)]
pub struct IdStem {
    /// What the stem was made from, as given.
    location: String,
    name: String,
    word: &'static str,
    /// The encoding of the stem's whole three-byte groups.
    head: String,
    /// The stem's last `len % 3` bytes, not yet encoded.
    rest: Vec<u8>,
}

impl IdStem {
    /// Makes this the stem of an id for the service `name` in `location`, of the kind whose id word is
    /// `word`, unless it already is.
    pub fn set(&mut self, location: &str, name: &str, word: &'static str) {
        if self.word == word && self.name == name && self.location == location {
            return;
        }
        let mut raw = String::new();
        crate::arm::region::push_canonical(&mut raw, location);
        for part in [":", name, "_", word, "_"] {
            raw.push_str(part);
        }
        let whole = raw.len() - raw.len() % 3;
        let (encoded, rest) = raw.as_bytes().split_at(whole);
        self.head.clear();
        STANDARD.encode_string(encoded, &mut self.head);
        self.rest.clear();
        self.rest.extend_from_slice(rest);
        self.location.clear();
        self.location.push_str(location);
        self.name.clear();
        self.name.push_str(name);
        self.word = word;
    }

    /// Writes into `out` the id that is this stem followed by `suffix`.
    pub fn write_id(&self, suffix: &[u8; 8], out: &mut String) {
        out.clear();
        out.push_str(&self.head);
        let mut tail = [0u8; 10];
        let n = self.rest.len();
        tail[..n].copy_from_slice(&self.rest);
        tail[n..n + 8].copy_from_slice(suffix);
        // Into a buffer on the stack, then appended: `encode_string`'s chunked writer into the
        // `String` cost a POST 111 instructions more (callgrind). Ten bytes are 16 characters.
        let mut encoded = [0u8; 16];
        let written = STANDARD
            .encode_slice(&tail[..n + 8], &mut encoded)
            .unwrap_or(0);
        // Never short: the tail is at most ten bytes (a stem leaves at most two over).
        debug_assert_eq!(written, (n + 8).div_ceil(3) * 4, "the id's tail was cut");
        out.push_str(std::str::from_utf8(&encoded[..written]).unwrap_or_default());
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

/// The eight hex digits of `v`, lower case, most significant first, made together in one `u64`: each
/// nibble spread into a byte of its own, then `'0'` added to each byte, and the further 39 that takes
/// a nibble above 9 to `'a'`.
fn hex8(v: u32) -> [u8; 8] {
    let mut x = u64::from(v);
    x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    let above_nine = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + above_nine * 39).to_be_bytes()
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

    fn v_for_hex8(seed: u64) -> u32 {
        // Every nibble from 0 to f in some position, and the edges.
        match seed {
            0 => 0,
            1 => u32::MAX,
            2 => 0x0123_4567,
            3 => 0x89ab_cdef,
            _ => mix(seed) as u32,
        }
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
            assert_eq!(
                hex8(v_for_hex8(seed)),
                *format!("{:08x}", v_for_hex8(seed)).as_bytes()
            );
        }
    }

    #[test]
    fn an_operation_suffix_turns_back_into_its_counter_and_no_two_counters_share_one() {
        let mut seen = std::collections::HashSet::new();
        let mut ids = Ids::new(7);
        for _ in 0..100_000 {
            let (counter, digits) = ids.next_operation_suffix();
            let hex = String::from_utf8_lossy(&digits);
            let suffix = u32::from_str_radix(&hex, 16).expect("eight hex digits");
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
        let first = |seed| Ids::new(seed).next_operation_suffix();
        assert_ne!(first(7), first(8));
        let mut ids = Ids::new(7);
        ids.next_operation_suffix();
        let _ = ids.guid();
        let mut resumed = Ids::resume(ids.position());
        assert_eq!(ids.next_operation_suffix(), resumed.next_operation_suffix());
        assert_eq!(ids.guid(), resumed.guid());
    }

    #[test]
    fn an_id_from_its_stem_is_the_whole_text_encoded() {
        let mut stem = IdStem::default();
        // Stems of every length modulo 3, a region to canonicalise, and a stem changed back and forth.
        for (location, name, word) in [
            ("West US", "contoso-apim", "Backup"),
            ("westus", "contoso-apim", "Backup"),
            ("westus", "contoso-apim", "Restore"),
            ("East US 2", "a", "Act"),
            ("East US 2", "ab", "Act"),
            ("East US 2", "abc", "Act"),
            ("West US", "contoso-apim", "Backup"),
        ] {
            stem.set(location, name, word);
            for suffix in [*b"00000000", *b"75e6eaea", *b"ffffffff"] {
                let mut id = String::from("left over from the last id");
                stem.write_id(&suffix, &mut id);
                let text = format!(
                    "{}:{name}_{word}_{}",
                    crate::arm::region::canonical(location),
                    String::from_utf8_lossy(&suffix)
                );
                assert_eq!(id, STANDARD.encode(&text), "{text}");
            }
        }
    }
}
