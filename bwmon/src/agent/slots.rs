//! Which counter slot each xid uses. Slots 0 (`default`) and 1 (`root`) are fixed; the others are
//! handed out on first sight and kept while the policy still knows the slice (live or dead), so
//! that a slice recreated within its period finds its own counter again.
use std::collections::{BTreeMap, BTreeSet};

use bwmon_common::FIRST_SLICE_SLOT;

#[derive(Debug, thiserror::Error)]
#[error("all {capacity} counter slots are in use: raise `max_slices` (slice {xid} is not counted)")]
pub struct SlotsFull {
    pub xid: u32,
    pub capacity: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slots {
    by_xid: BTreeMap<u32, u32>,
    free: BTreeSet<u32>,
    next: u32,
    capacity: u32,
}

impl Slots {
    /// `capacity` slots in all; `adopted` are the assignments found in pinned maps.
    pub fn new(capacity: u32, adopted: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut by_xid = BTreeMap::new();
        for (xid, slot) in adopted {
            if slot >= FIRST_SLICE_SLOT && slot < capacity {
                by_xid.insert(xid, slot);
            }
        }
        let used: BTreeSet<u32> = by_xid.values().copied().collect();
        let next = used.last().map_or(FIRST_SLICE_SLOT, |s| s + 1);
        let free = (FIRST_SLICE_SLOT..next)
            .filter(|s| !used.contains(s))
            .collect();
        Self {
            by_xid,
            free,
            next,
            capacity,
        }
    }

    pub fn get(&self, xid: u32) -> Option<u32> {
        self.by_xid.get(&xid).copied()
    }

    /// The slot of `xid`, assigning one (lowest free first) if it has none.
    pub fn assign(&mut self, xid: u32) -> Result<(u32, bool), SlotsFull> {
        if let Some(slot) = self.get(xid) {
            return Ok((slot, false));
        }
        let slot = match self.free.pop_first() {
            Some(slot) => slot,
            None if self.next < self.capacity => {
                self.next += 1;
                self.next - 1
            }
            None => {
                return Err(SlotsFull {
                    xid,
                    capacity: self.capacity,
                });
            }
        };
        self.by_xid.insert(xid, slot);
        Ok((slot, true))
    }

    /// Frees the slots of xids `keep` rejects; returns the freed (xid, slot) pairs.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) -> Vec<(u32, u32)> {
        let gone: Vec<(u32, u32)> = self
            .by_xid
            .iter()
            .filter(|(x, _)| !keep(**x))
            .map(|(x, s)| (*x, *s))
            .collect();
        for (xid, slot) in &gone {
            self.by_xid.remove(xid);
            self.free.insert(*slot);
        }
        gone
    }

    /// Slots to read: one past the highest ever handed out.
    pub fn span(&self) -> u32 {
        self.next.max(FIRST_SLICE_SLOT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_lowest_free_and_reuses_freed_slots() {
        let mut s = Slots::new(5, []);
        assert_eq!(s.assign(100).unwrap(), (2, true));
        assert_eq!(s.assign(200).unwrap(), (3, true));
        assert_eq!(s.assign(100).unwrap(), (2, false));
        assert_eq!(s.retain(|x| x != 100), vec![(100, 2)]);
        assert_eq!(s.assign(300).unwrap(), (2, true));
        assert_eq!(s.assign(400).unwrap(), (4, true));
        let full = s.assign(500).unwrap_err();
        assert_eq!((full.xid, full.capacity), (500, 5));
        assert_eq!(s.span(), 5);
    }

    #[test]
    fn adopts_pinned_assignments_and_their_gaps() {
        // The root mapping (xid 0 → slot 1) is fixed, not adopted; slot 3 was freed earlier.
        let s = Slots::new(10, [(0, 1), (1001, 2), (1003, 4), (9, 99)]);
        assert_eq!(s.get(1001), Some(2));
        assert_eq!(s.get(0), None);
        assert_eq!(s.get(9), None, "beyond capacity");
        assert_eq!(s.span(), 5);
        let mut s = s;
        assert_eq!(s.assign(7).unwrap(), (3, true));
        assert_eq!(s.assign(8).unwrap(), (5, true));
    }
}
