//! Stable class ids for slices in the sharded layout (see `tree`).
//!
//! Each slice gets a *position* `p`; its normal class is `(NORMAL_SHARD_BASE + p / shard_size):
//! (p % shard_size + 1)` and its exempt class `(EXEMPT_SHARD_BASE + p / shard_size):(same minor)`.
//! Positions are kept while the slice exists and reused (lowest first) after it goes, so class
//! ids survive agent restarts as long as this state is saved (it is `serde`-serialisable) and
//! handed back. Pure: no kernel access.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::handle::Handle;

/// Majors of the first normal and exempt shard qdiscs (shared with the kernel's `bwmon_shard`).
pub use bwmon_common::{EXEMPT_SHARD_BASE, NORMAL_SHARD_BASE};
/// Shards per class kind: exempt majors stay below 0x8000, where the kernel starts the handles it
/// picks itself for qdiscs added without one (leaf qdiscs), so the two never collide.
pub const MAX_SHARDS: u32 = (EXEMPT_SHARD_BASE - NORMAL_SHARD_BASE) as u32;
/// Default leaves per shard qdisc: adding classes to one HTB qdisc costs time quadratic in its
/// class count, 1,024 keeps each shard's share of that small (see the shaping benchmark).
pub const DEFAULT_SHARD_SIZE: u16 = 1024;

/// The class ids of one slice, to be written into the eBPF steering map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceClasses {
    pub normal: Handle,
    pub exempt: Handle,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllocError {
    #[error("no class id left for slice {xid}: all {capacity} positions are in use")]
    Full { xid: u32, capacity: u32 },
    #[error("invalid shard size {0}: must be 1..=65534")]
    ShardSize(u16),
}

/// Slice positions; save it with the agent's state to keep class ids across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassAllocator {
    shard_size: u16,
    max_shards: u32,
    by_xid: BTreeMap<u32, u32>,
    /// Released positions below `next`.
    free: BTreeSet<u32>,
    next: u32,
}

impl ClassAllocator {
    /// An empty allocator with `shard_size` leaves per shard and the full shard range.
    pub fn new(shard_size: u16) -> Result<Self, AllocError> {
        Self::with_max_shards(shard_size, MAX_SHARDS)
    }

    /// Same, limited to `max_shards` shards (to bound the tree, and for tests).
    pub fn with_max_shards(shard_size: u16, max_shards: u32) -> Result<Self, AllocError> {
        if shard_size == 0 || shard_size == u16::MAX {
            return Err(AllocError::ShardSize(shard_size));
        }
        Ok(Self {
            shard_size,
            max_shards: max_shards.min(MAX_SHARDS),
            by_xid: BTreeMap::new(),
            free: BTreeSet::new(),
            next: 0,
        })
    }

    /// How many slices fit.
    pub fn capacity(&self) -> u32 {
        self.max_shards * self.shard_size as u32
    }

    pub fn len(&self) -> usize {
        self.by_xid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_xid.is_empty()
    }

    /// The slice's position, assigning the lowest free one if it has none.
    pub fn assign(&mut self, xid: u32) -> Result<u32, AllocError> {
        if let Some(p) = self.by_xid.get(&xid) {
            return Ok(*p);
        }
        let p = match self.free.pop_first() {
            Some(p) => p,
            None if self.next < self.capacity() => {
                self.next += 1;
                self.next - 1
            }
            None => {
                return Err(AllocError::Full {
                    xid,
                    capacity: self.capacity(),
                });
            }
        };
        self.by_xid.insert(xid, p);
        Ok(p)
    }

    /// Frees the positions of every slice for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let gone: Vec<u32> = self.by_xid.keys().copied().filter(|x| !keep(*x)).collect();
        for xid in gone {
            if let Some(p) = self.by_xid.remove(&xid) {
                self.free.insert(p);
            }
        }
        while self.next > 0 && self.free.remove(&(self.next - 1)) {
            self.next -= 1;
        }
    }

    /// The slice's class ids, if it has a position.
    pub fn classes(&self, xid: u32) -> Option<SliceClasses> {
        self.by_xid.get(&xid).map(|p| self.classes_at(*p))
    }

    /// Shard index of a position.
    pub fn shard_of(&self, position: u32) -> u32 {
        position / self.shard_size as u32
    }

    fn classes_at(&self, position: u32) -> SliceClasses {
        let shard = self.shard_of(position) as u16;
        let minor = (position % self.shard_size as u32) as u16 + 1;
        SliceClasses {
            normal: Handle::new(NORMAL_SHARD_BASE + shard, minor),
            exempt: Handle::new(EXEMPT_SHARD_BASE + shard, minor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_sharded_class_ids() {
        let mut a = ClassAllocator::new(4).unwrap();
        for xid in [100, 200, 300, 400, 500] {
            a.assign(xid).unwrap();
        }
        assert_eq!(a.classes(100).unwrap().normal, Handle::new(0x100, 1));
        assert_eq!(a.classes(400).unwrap().exempt, Handle::new(0x4000, 4));
        assert_eq!(a.classes(500).unwrap().normal, Handle::new(0x101, 1));
        assert_eq!(a.classes(500).unwrap().exempt, Handle::new(0x4001, 1));
        assert_eq!(a.classes(600), None);
    }

    #[test]
    fn positions_are_stable_and_reused_lowest_first() {
        let mut a = ClassAllocator::new(8).unwrap();
        for xid in 0..5 {
            assert_eq!(a.assign(xid).unwrap(), xid);
        }
        assert_eq!(a.assign(3).unwrap(), 3, "existing slice keeps its position");
        a.retain(|x| x != 1 && x != 3);
        assert_eq!(a.len(), 3);
        assert_eq!(a.assign(10).unwrap(), 1);
        assert_eq!(a.assign(11).unwrap(), 3);
        assert_eq!(a.assign(12).unwrap(), 5);
        assert_eq!(
            a.classes(4).unwrap().normal.minor(),
            5,
            "others did not move"
        );
    }

    #[test]
    fn full_space_is_a_typed_error_and_frees_on_release() {
        let mut a = ClassAllocator::with_max_shards(2, 2).unwrap();
        for xid in 0..4 {
            a.assign(xid).unwrap();
        }
        assert_eq!(
            a.assign(9),
            Err(AllocError::Full {
                xid: 9,
                capacity: 4
            })
        );
        a.retain(|x| x != 2);
        assert_eq!(a.assign(9), Ok(2));
        assert_eq!(ClassAllocator::new(0), Err(AllocError::ShardSize(0)));
    }

    #[test]
    fn trailing_releases_shrink_and_state_round_trips() {
        let mut a = ClassAllocator::new(16).unwrap();
        for xid in 0..3 {
            a.assign(xid).unwrap();
        }
        a.retain(|x| x == 0);
        assert_eq!(a.assign(7).unwrap(), 1);
        let json = serde_json::to_string(&a).unwrap();
        let back: ClassAllocator = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.classes(7), a.classes(7));
    }
}
