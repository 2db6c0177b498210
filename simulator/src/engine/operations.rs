//! Where the engine keeps its operations: in slots that are reused, found by id through a table of
//! slot numbers.
//!
//! Serve keeps up to 100,000 finished operations and forgets the oldest on every new one, so a POST
//! storm drops an operation long gone cold on every request. Kept each in an allocation of its own, as
//! a map's boxed value keyed by its id, that cost a POST in cache misses (callgrind's cache simulation
//! of 200,000 backup POSTs: 2.1 M misses of a 32 MB last level at 100,000 finished, 0.28 M at 1,000):
//! the forgotten id's text read again to hash it, the table's keys read again whenever it grew, and
//! the freed memory handed by the allocator to the next request and written cold. Here the queues
//! hold slot numbers and each slot the hash its operation was filed under, so forgetting one reads no
//! id; the next operation takes the slot the forgotten one left, lines just read; the table holds slot
//! numbers only. 1.56 M misses; a POST in process 2.83 → 2.51 µs, served 5.00 → 4.72 µs of user time
//! (bench/README.md, "This round, last").

use hashbrown::HashTable;

use super::model::Operation;

/// Where an operation is kept. Valid until the operation is forgotten, after which the engine holds
/// none: its queues hold an operation's slot from when it starts or finishes until it is forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Slot(u32);

#[derive(Debug)]
struct Kept {
    /// The hash of the operation's id, under which the table files its slot.
    hash: u64,
    op: Operation,
}

#[derive(Debug, Default)]
pub(super) struct Operations {
    slots: Vec<Option<Kept>>,
    /// Slots left by forgotten operations, the most recent last: the next operation takes it.
    free: Vec<Slot>,
    /// Slot numbers, by their operation's id.
    by_id: HashTable<Slot>,
    hasher: foldhash::fast::FixedState,
}

impl Operations {
    fn hash(&self, id: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, id)
    }

    fn kept(&self, slot: Slot) -> Option<&Kept> {
        self.slots.get(slot.0 as usize)?.as_ref()
    }

    fn id_of(&self, slot: Slot) -> Option<&str> {
        self.kept(slot).map(|k| &*k.op.id)
    }

    /// The slot of the operation with id `id`.
    pub(super) fn find(&self, id: &str) -> Option<Slot> {
        let hash = self.hash(id);
        self.by_id
            .find(hash, |&s| self.id_of(s) == Some(id))
            .copied()
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
        let hash = self.hash(&op.id);
        let kept = Some(Kept { hash, op });
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
        let slots = &self.slots;
        self.by_id.insert_unique(hash, slot, |s| {
            slots
                .get(s.0 as usize)
                .and_then(Option::as_ref)
                .map_or(0, |k| k.hash)
        });
        slot
    }

    /// Forgets the operation in `slot`: its slot goes to the next operation.
    pub(super) fn forget(&mut self, slot: Slot) {
        let Some(hash) = self.kept(slot).map(|k| k.hash) else {
            return;
        };
        if let Ok(entry) = self.by_id.find_entry(hash, |&s| s == slot) {
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

    /// As serve's bound does: the oldest forgotten on every new one, long enough that the table
    /// grows, fills with the marks removals leave and is rehashed in place.
    #[test]
    fn under_churn_every_kept_operation_is_found_and_no_forgotten_one_and_slots_stay_bounded() {
        const KEPT: usize = 1_000;
        let mut ops = Operations::default();
        let mut live = std::collections::VecDeque::new();
        for n in 0..20_000usize {
            let id = format!("westus:contoso_Backup_{n:08x}");
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
                let forgotten = format!("westus:contoso_Backup_{:08x}", n.saturating_sub(KEPT + 1));
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
