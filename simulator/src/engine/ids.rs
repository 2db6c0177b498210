//! Deterministic ids: every GUID, operation suffix and key comes from (seed, counter), so a run with the
//! same seed and the same requests produces the same bytes.

/// SplitMix64: tiny, fast and good enough for ids (not for secrets that must resist guessing — keys
/// made here protect nothing real).
#[derive(Debug, Clone)]
pub struct Ids {
    state: u64,
}

impl Ids {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Where the generator stands: saved with a persisted world so a restarted simulator goes on with
    /// fresh ids instead of repeating the ones it already handed out.
    pub fn position(&self) -> u64 {
        self.state
    }

    /// A generator that continues from a saved [`Ids::position`].
    pub fn resume(position: u64) -> Self {
        Self { state: position }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Eight lower-case hex digits, as in operation ids (`_Backup_75e6eaea`).
    pub fn hex8(&mut self) -> String {
        let mut out = String::with_capacity(8);
        self.push_hex8(&mut out);
        out
    }

    /// [`Ids::hex8`], appended to `out`.
    pub fn push_hex8(&mut self, out: &mut String) {
        push_hex(out, self.next_u64() & 0xffff_ffff, 8);
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
        assert_ne!(Ids::new(8).hex8(), Ids::new(7).hex8());
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
            assert_eq!(ids.hex8(), format!("{:08x}", raw.next_u64() as u32));
        }
    }
}
