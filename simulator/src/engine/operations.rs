//! Where the engine keeps its operations: in slots that are reused, found by id through a table of
//! slot numbers, where consecutive operations sit side by side.
//!
//! Serve keeps up to 100,000 finished operations and forgets the oldest on every new one, so a POST
//! storm drops an operation long gone cold on every request. Kept each in an allocation of its own, as
//! a map's boxed value keyed by its id, that cost a POST in cache misses (callgrind's cache simulation
//! of 200,000 backup POSTs: 2.1 M misses of a 32 MB last level at 100,000 finished, 0.28 M at 1,000):
//! the forgotten id's text read again to hash it, the table's keys read again whenever it grew, and
//! the freed memory handed by the allocator to the next request and written cold. Here the queues
//! hold slot numbers and each slot the key its operation was filed under, so forgetting one reads no
//! id; the next operation takes the slot the forgotten one left, lines just read; the table holds slot
//! numbers and keys only (bench/README.md, "This round, last").
//!
//! The table's key for an id armsim made is the operation's counter, read back from the id's suffix
//! ([`super::ids::operation_counter`]), and the table places an entry by the low bits of its hash, so
//! the operation started now and the one forgotten now each land next to the one before them: a POST
//! touches lines the last POST touched, where a hash of the whole id sent each to a random line of a
//! table of 100,000 (forgetting alone was armsim's costliest function in a served POST's profile, 3.9%
//! of its samples, on two loads of the table; a POST's user time went from 4.85 to 4.40 µs, served).
//! Any other id (a world file's) is keyed by a hash of its text. Which key an id gets decides only
//! where it sits, never whether it is found: the id itself is compared. Starting an operation, the
//! engine has the counter it just used and hands it over ([`Operations::find_keyed`],
//! [`Operations::insert_keyed`]) rather than have it decoded from the new id twice: 503 instructions
//! fewer a backup POST inside `handle` (callgrind of the handle bench, 245.25 M → 240.22 M for 10,001).

use hashbrown::HashTable;

use super::model::Operation;

/// Where an operation is kept. Valid until the operation is forgotten, after which the engine holds
/// none: its queues hold an operation's slot from when it starts or finishes until it is forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Slot(u32);

#[cfg(test)]
impl Slot {
    pub(super) fn for_tests(n: u32) -> Self {
        Self(n)
    }
}

#[derive(Debug)]
struct Kept {
    /// The key of the operation's id, under which the table files its slot.
    key: u32,
    op: Operation,
}

/// A table entry: the slot, and its key, so that the table rehashes without reading a slot.
#[derive(Debug, Clone, Copy)]
struct Filed {
    slot: Slot,
    key: u32,
}

#[derive(Debug, Default)]
pub(super) struct Operations {
    slots: Vec<Option<Kept>>,
    /// Slots left by forgotten operations, the most recent last: the next operation takes it.
    free: Vec<Slot>,
    /// Slot numbers, by their operation's key.
    by_id: HashTable<Filed>,
    hasher: foldhash::fast::FixedState,
}

/// Where the table looks for a key. The table takes an entry's place from a hash's low bits and its
/// one-byte tag from its top seven: the key itself in the low bits keeps consecutive counters in
/// consecutive places, and its suffix (a scrambling of it) gives the tags their spread.
fn hash(key: u32) -> u64 {
    u64::from(key) | (u64::from(super::ids::operation_suffix(key) >> 25) << 57)
}

/// The suffix of an id armsim made: base64 of `{region}:{name}_{Kind}_{8 hex digits}`, whose last 16
/// characters hold the digits whatever the prefix's length. `None` for any other id. Decoded here, by
/// table, rather than by the `base64` crate, whose general decoder spent 280 instructions on these 16
/// characters (callgrind), on every poll's path; an `=` anywhere reads as zero, which can only change
/// where an id is filed.
fn suffix(id: &str) -> Option<u32> {
    let tail = id.as_bytes().last_chunk::<16>()?;
    let (mut bits, mut invalid) = (0u128, 0);
    for &c in tail {
        let v = BASE64[usize::from(c)];
        invalid |= v;
        bits = bits << 6 | u128::from(v & 0x3f);
    }
    // The 12 bytes the 16 characters hold, the last one or two of them padding when the id ends so.
    let padding = usize::from(tail[15] == b'=') + usize::from(tail[14] == b'=');
    let raw = bits.to_be_bytes();
    let (&underscore, digits) = raw.get(7 - padding..16 - padding)?.split_first()?;
    let mut value = 0u32;
    for &d in digits {
        let v = HEX[usize::from(d)];
        invalid |= v;
        value = value << 4 | u32::from(v & 0xf);
    }
    (invalid & NOT == 0 && underscore == b'_').then_some(value)
}

/// What one character of standard base64 stands for (`=`, padding, for zero); `NOT` where none.
const BASE64: [u8; 256] = {
    let mut t = table(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    t[b'=' as usize] = 0;
    t
};
/// What one hex digit stands for, in either case; `NOT` where none.
const HEX: [u8; 256] = {
    let mut t = table(b"0123456789abcdef");
    let mut i = 10;
    while i < 16 {
        t[(b'A' + i - 10) as usize] = i;
        i += 1;
    }
    t
};
/// In [`BASE64`] and [`HEX`]: not a character of theirs. A bit no value has, so that or-ing every
/// value read tells at the end whether one was not.
const NOT: u8 = 0x80;

/// A table of what each byte stands for: `i` for the byte at `i` of `alphabet`, else [`NOT`].
const fn table(alphabet: &[u8]) -> [u8; 256] {
    let mut t = [NOT; 256];
    let mut i = 0;
    while i < alphabet.len() {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
}

impl Operations {
    /// The key an id is filed under: its counter when armsim made it, else a hash of its text.
    pub(super) fn key(&self, id: &str) -> u32 {
        match suffix(id) {
            Some(s) => super::ids::operation_counter(s),
            // Truncated: a key is 32 bits; the table tells ids apart by comparing them.
            None => std::hash::BuildHasher::hash_one(&self.hasher, id) as u32,
        }
    }

    fn kept(&self, slot: Slot) -> Option<&Kept> {
        self.slots.get(slot.0 as usize)?.as_ref()
    }

    fn id_of(&self, slot: Slot) -> Option<&str> {
        self.kept(slot).map(|k| &*k.op.id)
    }

    /// The slot of the operation with id `id`.
    pub(super) fn find(&self, id: &str) -> Option<Slot> {
        self.find_keyed(self.key(id), id)
    }

    /// As [`Self::find`], for an id whose key the caller has: the counter of an id it just made
    /// ([`super::ids::Ids::next_operation_suffix`]), which spares reading it back from the id's text.
    pub(super) fn find_keyed(&self, key: u32, id: &str) -> Option<Slot> {
        debug_assert_eq!(key, self.key(id), "{id} is filed under another key");
        self.by_id
            .find(hash(key), |f| {
                f.key == key && self.id_of(f.slot) == Some(id)
            })
            .map(|f| f.slot)
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    pub(super) fn get(&self, id: &str) -> Option<&Operation> {
        self.find(id).and_then(|s| self.at(s))
    }

    pub(super) fn at(&self, slot: Slot) -> Option<&Operation> {
        self.kept(slot).map(|k| &k.op)
    }

    pub(super) fn at_mut(&mut self, slot: Slot) -> Option<&mut Operation> {
        self.slots
            .get_mut(slot.0 as usize)?
            .as_mut()
            .map(|k| &mut k.op)
    }

    /// Keeps `op`, whose id no kept operation has (the caller checks), and says where.
    pub(super) fn insert(&mut self, op: Operation) -> Slot {
        self.insert_keyed(self.key(&op.id), op)
    }

    /// As [`Self::insert`], for an operation whose id's key the caller has (see [`Self::find_keyed`]).
    pub(super) fn insert_keyed(&mut self, key: u32, op: Operation) -> Slot {
        debug_assert_eq!(
            key,
            self.key(&op.id),
            "{} is filed under another key",
            op.id
        );
        let kept = Some(Kept { key, op });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot.0 as usize] = kept;
                slot
            }
            None => {
                // More than 4 billion operations at once cannot be kept in memory anyway.
                let slot = Slot(u32::try_from(self.slots.len()).unwrap_or(u32::MAX));
                self.slots.push(kept);
                slot
            }
        };
        self.by_id
            .insert_unique(hash(key), Filed { slot, key }, |f| hash(f.key));
        slot
    }

    /// Forgets the operation in `slot`: its slot goes to the next operation.
    pub(super) fn forget(&mut self, slot: Slot) {
        let Some(key) = self.kept(slot).map(|k| k.key) else {
            return;
        };
        if let Ok(entry) = self.by_id.find_entry(hash(key), |f| f.slot == slot) {
            entry.remove();
        }
        self.slots[slot.0 as usize] = None;
        self.free.push(slot);
    }

    /// Every kept operation, in no meaningful order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Operation> {
        self.slots.iter().flatten().map(|k| &k.op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Timestamp;
    use crate::engine::model::OperationKind;

    fn op(id: &str) -> Operation {
        let text: Arc<str> = Arc::from("x");
        Operation::started(
            Arc::from(id),
            OperationKind::Backup,
            text.clone(),
            text.clone(),
            text.clone(),
            text,
            Timestamp::from_millis(0),
        )
    }

    #[test]
    fn an_operation_is_found_by_id_until_forgotten_and_the_next_takes_its_slot() {
        let mut ops = Operations::default();
        let a = ops.insert(op("a"));
        let b = ops.insert(op("b"));
        assert_ne!(a, b);
        assert_eq!(ops.find("a"), Some(a));
        assert_eq!(ops.get("b").map(|o| &*o.id), Some("b"));
        assert_eq!(ops.find("c"), None);

        ops.forget(a);
        assert_eq!(ops.find("a"), None, "forgotten");
        assert!(ops.at(a).is_none());
        assert_eq!(ops.find("b"), Some(b), "the other is still found");

        let c = ops.insert(op("c"));
        assert_eq!(c, a, "the forgotten operation's slot is the next one's");
        assert_eq!(ops.get("c").map(|o| &*o.id), Some("c"));
        assert_eq!(ops.find("a"), None, "the slot's old id does not find it");
        assert_eq!(ops.iter().count(), 2);

        ops.forget(a);
        ops.forget(a);
        assert_eq!(ops.iter().count(), 1, "forgetting twice forgets once");
        assert_eq!(ops.find("b"), Some(b));
    }

    /// An id as the engine makes it: base64 of `{region}:{name}_{Kind}_{suffix}`.
    fn made(name: &str, counter: u32) -> String {
        use base64::Engine as _;
        let suffix = super::super::ids::operation_suffix(counter);
        base64::engine::general_purpose::STANDARD
            .encode(format!("westus:{name}_Backup_{suffix:08x}"))
    }

    #[test]
    fn an_id_armsim_made_is_keyed_by_its_counter_and_any_other_by_its_text() {
        let ops = Operations::default();
        // Names of three lengths: the id's text ends with no `=`, one or two.
        for name in ["contoso", "contoso1", "contoso12"] {
            for counter in [0, 1, 41, 0x8000_0000, u32::MAX] {
                let id = made(name, counter);
                assert_eq!(ops.key(&id), counter, "{id}");
            }
        }
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for other in [
            String::new(),
            "an id of a world file".to_string(),
            b64("westus:contoso_Backup_0000zzzz"),
            b64("westus:contoso-Backup-00000029"),
        ] {
            assert_eq!(suffix(&other), None, "{other}");
            assert_eq!(
                ops.key(&other),
                ops.key(&other.clone()),
                "a key is the same each time"
            );
        }
    }

    proptest::proptest! {
        /// The hand-written decoding reads what the `base64` crate encoded, for names of any length
        /// and any counter; and any text at all gets a key, the same each time.
        #[test]
        fn the_suffix_is_read_back_from_any_id_armsim_makes(
            name in "[a-z0-9-]{1,50}",
            counter in proptest::num::u32::ANY,
            other in "\\PC{0,80}",
        ) {
            let id = made(&name, counter);
            proptest::prop_assert_eq!(suffix(&id), Some(super::super::ids::operation_suffix(counter)));
            let ops = Operations::default();
            proptest::prop_assert_eq!(ops.key(&other), ops.key(&other));
        }
    }

    #[test]
    fn operations_with_ids_of_every_kind_are_found_side_by_side() {
        let mut ops = Operations::default();
        let ids = [
            made("contoso", 7),
            made("fabrikam", 7),
            made("contoso", 8),
            "an id of a world file".to_string(),
        ];
        let slots: Vec<Slot> = ids.iter().map(|id| ops.insert(op(id))).collect();
        for (id, slot) in ids.iter().zip(&slots) {
            assert_eq!(ops.find(id), Some(*slot), "{id}");
        }
        assert_eq!(ops.find(&made("contoso", 9)), None);
        ops.forget(slots[0]);
        assert_eq!(ops.find(&ids[0]), None);
        assert_eq!(
            ops.find(&ids[1]),
            Some(slots[1]),
            "same counter, other service: still kept"
        );
    }

    /// As serve's bound does: the oldest forgotten on every new one, long enough that the table
    /// grows, fills with the marks removals leave and is rehashed in place; with ids as armsim makes
    /// them (filed by counter) and others (filed by a hash of their text).
    #[test]
    fn under_churn_every_kept_operation_is_found_and_no_forgotten_one_and_slots_stay_bounded() {
        const KEPT: usize = 1_000;
        let mut ops = Operations::default();
        let mut live = std::collections::VecDeque::new();
        let id_of = |n: usize| match n % 4 {
            0 => format!("westus:contoso_Backup_{n:08x}"),
            _ => made("contoso", n as u32),
        };
        for n in 0..20_000usize {
            let id = id_of(n);
            live.push_back((ops.insert(op(&id)), id));
            if live.len() > KEPT {
                if let Some((slot, _)) = live.pop_front() {
                    ops.forget(slot);
                }
            }
            if n % 997 == 0 || n == 19_999 {
                for (slot, id) in &live {
                    assert_eq!(ops.find(id), Some(*slot), "{id} after {n} inserts");
                }
                let forgotten = id_of(n.saturating_sub(KEPT + 1));
                if n > KEPT {
                    assert_eq!(ops.find(&forgotten), None, "{forgotten} after {n} inserts");
                }
            }
        }
        assert_eq!(ops.iter().count(), KEPT);
        assert_eq!(ops.by_id.len(), KEPT, "the table holds the kept ones only");
        assert_eq!(ops.slots.len(), KEPT + 1, "slots are reused, not added");
    }
}
