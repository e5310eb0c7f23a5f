//! Everything the kernel program and the agent must agree on: map names, value layouts, slot and
//! class numbering, the slice-id modes. `#[repr(C)]`, explicit padding, no `bool`; the sizes are
//! asserted below and in the unit tests, so a layout change breaks the build, not the counters.
#![no_std]

/// The tc egress program.
pub const PROGRAM_NAME: &str = "bwmon_egress";
/// The stateless cls_bpf classifier used below a nested HTB qdisc (see the shaping module).
pub const SHARD_CLASSIFIER_NAME: &str = "bwmon_shard";

/// Dense `ARRAY<u32 slot>` indexed by xid, for xids below its `max_entries`.
pub const MAP_XID_SLOT: &str = "BW_XID_SLOT";
/// Sparse `HASH<u32 xid, u32 slot>` for xids beyond the dense array.
pub const MAP_XID_SPARSE: &str = "BW_XID_SPARSE";
/// `HASH<u64 cgroup id, u32 xid>`, used in cgroup mode.
pub const MAP_CGROUP_XID: &str = "BW_CG_XID";
/// `ARRAY<SlotClass>` indexed by slot: where the slot's packets are steered.
pub const MAP_SLOT_CLASS: &str = "BW_SLOT_CLASS";
/// `PERCPU_ARRAY<u32>` of one entry: `MODE_BENCH`'s sequence number.
pub const MAP_BENCH_SEQ: &str = "BW_BENCH_SEQ";
/// `PERCPU_ARRAY<Counters>` indexed by slot.
pub const MAP_COUNTERS: &str = "BW_COUNTERS";
/// `LPM_TRIE<[u8; 4], u8>` of IPv4 prefixes: 1 = exempt, 0 = an exception carved out of a
/// shorter exempt prefix (longest prefix wins).
pub const MAP_EXEMPT_V4: &str = "BW_EXEMPT_V4";
/// `ARRAY<u8>` of 65,536 entries, one per IPv4 /16, in front of the IPv4 trie so that most
/// destinations skip the trie walk: `SUMMARY_NOT_EXEMPT`, `SUMMARY_EXEMPT` or `SUMMARY_LOOKUP`.
pub const MAP_EXEMPT_V4_SUMMARY: &str = "BW_EXEMPT_V4S";
/// The whole /16 is not exempt (no rule inside it, or a non-exempt rule covers it).
pub const SUMMARY_NOT_EXEMPT: u8 = 0;
/// The whole /16 is exempt.
pub const SUMMARY_EXEMPT: u8 = 1;
/// Rules longer than /16 fall inside it: ask the trie.
pub const SUMMARY_LOOKUP: u8 = 2;
/// `LPM_TRIE<[u8; 16], u8>` of IPv6 prefixes, as above.
pub const MAP_EXEMPT_V6: &str = "BW_EXEMPT_V6";
/// Every map the agent pins, in a fixed order.
pub const PINNED_MAPS: [&str; 8] = [
    MAP_XID_SLOT,
    MAP_XID_SPARSE,
    MAP_CGROUP_XID,
    MAP_SLOT_CLASS,
    MAP_COUNTERS,
    MAP_EXEMPT_V4,
    MAP_EXEMPT_V6,
    MAP_EXEMPT_V4_SUMMARY,
];

/// The read-only global holding the slice-id mode, set by the loader.
pub const GLOBAL_MODE: &str = "BWMON_MODE";

/// Slice id = owner uid of the sending socket.
pub const MODE_UID: u32 = 0;
/// Slice id = the xid that `BW_CG_XID` maps the socket's cgroup v2 id to.
pub const MODE_CGROUP: u32 = 1;
/// Slice id = `skb->mark`.
pub const MODE_MARK: u32 = 2;
/// Benchmarks only: slice id = a per-CPU sequence number modulo `BWMON_BENCH_KEYS`, so that
/// `BPF_PROG_TEST_RUN` replaying one packet still walks many slices. The verifier prunes it from
/// a program loaded in any other mode.
pub const MODE_BENCH: u32 = 3;
/// The read-only global holding the number of xids `MODE_BENCH` rotates over.
pub const GLOBAL_BENCH_KEYS: &str = "BWMON_BENCH_KEYS";
/// An empty classifier in the same object: the baseline of the per-packet benchmark.
pub const NOOP_PROGRAM_NAME: &str = "bwmon_noop";

/// Slot of the `default` slice: packets whose slice cannot be found. Slot 0 so that an unset
/// entry of the dense array means "unknown".
pub const SLOT_DEFAULT: u32 = 0;
/// Slot of the `root` slice (uid 0 in uid mode).
pub const SLOT_ROOT: u32 = 1;
/// First slot handed to an ordinary slice.
pub const FIRST_SLICE_SLOT: u32 = 2;

/// Major of the first normal-class shard qdisc (nested HTB), also the minor of the root class
/// that holds it. Shards of the exempt class start at `EXEMPT_SHARD_BASE`; all shard majors are
/// below `SHARD_MAJOR_END`, which the `bwmon_shard` classifier checks.
pub const NORMAL_SHARD_BASE: u16 = 0x100;
pub const EXEMPT_SHARD_BASE: u16 = 0x4000;
pub const SHARD_MAJOR_END: u16 = EXEMPT_SHARD_BASE + (EXEMPT_SHARD_BASE - NORMAL_SHARD_BASE);

/// Index of the normal (node-capped) class in `Counters` and `SlotClass`.
pub const CLASS_NORMAL: usize = 0;
/// Index of the exempt class.
pub const CLASS_EXEMPT: usize = 1;

/// The kernel's overflow uid, returned for packets with no full socket.
pub const OVERFLOW_UID: u32 = 65534;

/// Per-CPU counters of one slot: bytes as the shaper charges them (`wire_len`) and packets, for the
/// normal and the exempt class.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes: [u64; 2],
    pub packets: [u64; 2],
}

/// Where a slot's packets go: a tc class id (`major << 16 | minor`) per class; 0 = do not steer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotClass {
    pub classid: [u32; 2],
}

const _: () = assert!(core::mem::size_of::<Counters>() == 32);
const _: () = assert!(core::mem::size_of::<SlotClass>() == 8);
const _: () = assert!(SLOT_DEFAULT != SLOT_ROOT);
const _: () = assert!(FIRST_SLICE_SLOT > SLOT_ROOT && FIRST_SLICE_SLOT > SLOT_DEFAULT);
const _: () = assert!(CLASS_NORMAL != CLASS_EXEMPT && CLASS_NORMAL < 2 && CLASS_EXEMPT < 2);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: each type is `#[repr(C)]`, made only of integers and arrays of integers, with no
    // implicit padding (sizes asserted above), so every bit pattern is a valid value.
    unsafe impl aya::Pod for super::Counters {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SlotClass {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, size_of};

    #[test]
    fn layouts_are_fixed() {
        assert_eq!(size_of::<Counters>(), 32);
        assert_eq!(align_of::<Counters>(), 8);
        assert_eq!(size_of::<SlotClass>(), 8);
    }

    #[test]
    fn map_names_fit_the_kernel_limit() {
        // BPF_OBJ_NAME_LEN is 16 including the NUL.
        for name in PINNED_MAPS {
            assert!(name.len() <= 15, "{name} is too long for a BPF object name");
        }
        assert!(PROGRAM_NAME.len() <= 15);
        assert!(SHARD_CLASSIFIER_NAME.len() <= 15);
        assert!(NOOP_PROGRAM_NAME.len() <= 15);
        assert!(MAP_BENCH_SEQ.len() <= 15);
    }
}
