//! The desired HTB tree of one interface. Pure.
//!
//! ```text
//! 1: htb default 4                           root qdisc (r2q = BWMON_R2Q marks it as bwmon's)
//! └─ 1:1      rate = ceil = bwmax             everything
//!    ├─ 1:2   ceil bwcap                      node cap: all normal traffic
//!    │  ├─ 1:4    ceil bwcap                  unclassified packets (HTB default class)
//!    │  └─ 1:S    ceil bwcap  ── S: htb       one per normal shard, S = 0x100 + shard
//!    │                           └─ S:ffff    rate = ceil = bwcap, lends to the slices
//!    │                              └─ S:L    a slice's normal class: rate min, ceil its ceiling
//!    └─ 1:3   ceil bwmax                      exempt traffic, not node-capped
//!       ├─ 1:5    ceil bwmax                  shared exempt class (`ExemptClasses::WhenLimited`)
//!       └─ 1:E    ceil bwmax  ── E: htb       one per exempt shard, E = 0x4000 + shard
//!                                └─ E:ffff    rate = ceil = bwmax
//!                                   └─ E:L    the slice's exempt class (same L)
//! ```
//!
//! The `S:ffff` class exists because an HTB class without a parent cannot borrow: a slice class at
//! the top of its shard qdisc would be held to its min rate. The shard's real limit is `1:S`.
//!
//! Packets are steered by `skb->priority = S:L` (set by the eBPF program). The root qdisc does not
//! know `S:L`, so it runs its one filter, a stateless cls_bpf program mapping `S:L` to `1:S`
//! (`tc_classid = priority >> 16` with the filter's class id `1:0`); the shard qdisc `S:` then
//! finds `S:L` directly. Shards keep class creation cheap: HTB walks every class of a qdisc for
//! each class added, so one qdisc of n classes costs O(n²) to build.
//!
//! What HTB guarantees across shards: every class is guaranteed its `rate` as long as its
//! ancestors' rates cover it, so each shard class gets the sum of its slices' min rates and the
//! cap (exempt) class the sum over its shards (at most bwcap, resp. bwmax): a slice's min rate
//! holds whichever shard it is in, and no normal class can exceed bwcap because all sit under
//! 1:2. Spare bandwidth is shared by deficit round robin between the *leaves of one qdisc*: in
//! `1:` between shard classes, by their quantum, which is proportional to the shares of the
//! shard's slices; inside a shard between its slices, by their quantum (share × MTU). So the split
//! is share-proportional when every slice is busy; a shard with idle slices still weighs by all
//! its shares, which favours busy slices in shards with many idle ones (bounded by their ceiling).
use super::alloc::{
    AllocError, ClassAllocator, EXEMPT_SHARD_BASE, NORMAL_SHARD_BASE, SliceClasses,
};
use super::handle::Handle;
use super::htb::{HtbClass, HtbQdisc, LeafQdisc};

pub const ROOT_MAJOR: u16 = 1;
pub const ROOT: Handle = Handle::new(ROOT_MAJOR, 0);
pub const TOP_CLASS: Handle = Handle::new(ROOT_MAJOR, 1);
pub const CAP_CLASS: Handle = Handle::new(ROOT_MAJOR, 2);
pub const EXEMPT_CLASS: Handle = Handle::new(ROOT_MAJOR, 3);
pub const UNCLASSIFIED_CLASS: Handle = Handle::new(ROOT_MAJOR, 4);
/// Minor of the class at the top of each shard qdisc (slice minors stay below it).
pub const SHARD_TOP_MINOR: u16 = 0xFFFF;
/// Exempt traffic of slices without an exempt class of their own (`ExemptClasses::WhenLimited`).
pub const SHARED_EXEMPT_CLASS: Handle = Handle::new(ROOT_MAJOR, 5);
/// r2q of every bwmon HTB qdisc. bwmon gives every class a quantum, so r2q is never used for
/// its purpose; this value ("bwm") tells bwmon's qdiscs from anyone else's.
pub const BWMON_R2Q: u32 = 0x0062_776d;
/// Smallest rate HTB accepts: 1 byte/s.
pub const MIN_RATE_BPS: u64 = 8;
/// Quantum per share: one Ethernet frame.
pub const MTU_QUANTUM: u32 = 1514;
/// Largest quantum bwmon sets (the kernel warns above it when it computes quanta itself).
pub const MAX_QUANTUM: u64 = 200_000;

/// Node-wide limits and leaf options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeConfig {
    /// Node cap for normal traffic, bit/s.
    pub bwcap: u64,
    /// Hardware maximum, bit/s (caps exempt traffic and everything).
    pub bwmax: u64,
    /// Qdisc under each slice class; `None` keeps HTB's own pfifo (no extra qdisc, no handle).
    pub leaf: Option<LeafQdisc>,
    pub exempt_classes: ExemptClasses,
}

/// When a slice gets an exempt class of its own.
///
/// Creating classes is the expensive part of building a tree: besides HTB's walk over its own
/// qdisc (avoided by sharding), the kernel (6.18) adds every class's filter block to one global
/// list of indirect offload blocks, searched linearly on each addition
/// (`flow_indr_dev_setup_offload`), so building N classes costs O(N²) whatever the layout
/// (≈ 44 s for 60,000 classes on this VM, see the shaping benchmark). Halving N quarters it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExemptClasses {
    /// Always (the seed's layout): exempt traffic is shared between slices by their shares.
    PerSlice,
    /// Only while the slice's exempt ceiling is below bwmax; until then its exempt packets go
    /// to one shared class (`SHARED_EXEMPT_CLASS`, FIFO, ceil bwmax). Half the classes when
    /// no slice is limited; slices' exempt traffic then competes per flow, not per share.
    WhenLimited,
}

/// Min rate and current ceiling of one class of a slice, bit/s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassRates {
    pub min: u64,
    pub ceil: u64,
}

/// What the policy decided for one slice (the `root` and `default` slices included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceRates {
    pub xid: u32,
    pub normal: ClassRates,
    pub exempt: ClassRates,
    /// Relative weight for spare bandwidth (≥ 1).
    pub share: u32,
}

/// The desired tree, parents before children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredTree {
    pub qdiscs: Vec<HtbQdisc>,
    pub classes: Vec<HtbClass>,
    /// `(leaf class, qdisc)` pairs when `TreeConfig::leaf` is set.
    pub leaves: Vec<(Handle, LeafQdisc)>,
    /// Where each slice's packets go (`xid`, class ids): for the eBPF steering map.
    pub steering: Vec<(u32, SliceClasses)>,
}

/// Largest packet HTB sees on a GSO/TSO device (one 64 KiB super-packet).
const GSO_MAX: u64 = 64 * 1024;

/// Burst for `rate` bytes/s: 10 ms at that rate plus one GSO super-packet. `tc`'s default (rate /
/// HZ + MTU) is smaller than one such packet, so a flow that pauses briefly cannot catch up and
/// TCP ends up measurably below its ceiling.
fn burst(rate_bytes: u64) -> u64 {
    rate_bytes / 100 + GSO_MAX
}

/// A class with bwmon's bursts, rates normalised to whole bytes/s (≥ 1) and ceil ≥ rate.
fn class(classid: Handle, parent: Handle, rate_bps: u64, ceil_bps: u64, quantum: u32) -> HtbClass {
    let rate = rate_bps.max(MIN_RATE_BPS);
    let ceil = ceil_bps.max(rate);
    HtbClass::from_bits(
        classid,
        parent,
        rate,
        ceil,
        burst(rate / 8),
        burst(ceil / 8),
        quantum,
        0,
    )
}

fn htb_qdisc(handle: Handle, parent: Handle, default_minor: u32) -> HtbQdisc {
    HtbQdisc {
        handle,
        parent,
        default_minor,
        r2q: BWMON_R2Q,
        direct_qlen: None,
    }
}

fn leaf_quantum(share: u32) -> u32 {
    (share.max(1) as u64 * MTU_QUANTUM as u64).min(MAX_QUANTUM) as u32
}

/// Per-shard sums while building.
#[derive(Clone, Copy, Default)]
struct Shard {
    min: u64,
    quantum: u64,
    leaves: usize,
}

/// Quanta proportional to `weights`, scaled down together so the largest is at most MAX_QUANTUM.
fn scaled_quanta(weights: &[u64]) -> Vec<u32> {
    let max = weights.iter().copied().max().unwrap_or(0);
    let div = max.div_ceil(MAX_QUANTUM).max(1);
    weights
        .iter()
        .map(|w| (w / div).max(MTU_QUANTUM as u64) as u32)
        .collect()
}

/// Builds the desired tree for `slices`, giving new slices positions in `alloc` and releasing
/// the positions of slices no longer listed. Shards without slices get no classes.
pub fn build(
    cfg: &TreeConfig,
    slices: &[SliceRates],
    alloc: &mut ClassAllocator,
) -> Result<DesiredTree, AllocError> {
    let listed: std::collections::HashSet<u32> = slices.iter().map(|s| s.xid).collect();
    alloc.retain(|x| listed.contains(&x));
    let mut placed = Vec::with_capacity(slices.len());
    for s in slices {
        placed.push((s, alloc.assign(s.xid)?));
    }
    placed.sort_by_key(|(_, p)| *p);
    let (cap, max) = (
        cfg.bwcap.max(MIN_RATE_BPS),
        cfg.bwmax.max(cfg.bwcap).max(MIN_RATE_BPS),
    );
    let shards = placed
        .last()
        .map_or(0, |(_, p)| alloc.shard_of(*p) as usize + 1);
    let (mut normal, mut exempt) = (
        vec![Shard::default(); shards],
        vec![Shard::default(); shards],
    );
    let mut leaves = Vec::with_capacity(2 * placed.len());
    let mut steering = Vec::with_capacity(placed.len());
    for (s, p) in &placed {
        let mut ids = alloc.classes(s.xid).ok_or(AllocError::Full {
            xid: s.xid,
            capacity: 0,
        })?;
        let shard = alloc.shard_of(*p) as usize;
        let q = leaf_quantum(s.share);
        let own_exempt = cfg.exempt_classes == ExemptClasses::PerSlice || s.exempt.ceil < max;
        if !own_exempt {
            ids.exempt = SHARED_EXEMPT_CLASS;
        }
        let both = [
            (&mut normal[shard], ids.normal, s.normal),
            (&mut exempt[shard], ids.exempt, s.exempt),
        ];
        for (sum, id, r) in both.into_iter().take(if own_exempt { 2 } else { 1 }) {
            sum.min += r.min.max(MIN_RATE_BPS);
            sum.quantum += q as u64;
            sum.leaves += 1;
            let parent = Handle::new(id.major(), SHARD_TOP_MINOR);
            leaves.push(class(id, parent, r.min, r.ceil, q));
        }
        steering.push((s.xid, ids));
    }
    let sum = |v: &[Shard]| v.iter().map(|s| s.min).sum::<u64>();
    let mut tree = DesiredTree {
        qdiscs: vec![htb_qdisc(
            ROOT,
            Handle::ROOT,
            UNCLASSIFIED_CLASS.minor() as u32,
        )],
        classes: vec![
            class(TOP_CLASS, ROOT, max, max, MTU_QUANTUM),
            class(
                CAP_CLASS,
                TOP_CLASS,
                (sum(&normal) + MIN_RATE_BPS).min(cap),
                cap,
                MTU_QUANTUM,
            ),
            class(
                EXEMPT_CLASS,
                TOP_CLASS,
                sum(&exempt).min(max),
                max,
                MTU_QUANTUM,
            ),
            class(
                UNCLASSIFIED_CLASS,
                CAP_CLASS,
                MIN_RATE_BPS,
                cap,
                MTU_QUANTUM,
            ),
        ],
        leaves: Vec::new(),
        steering,
    };
    if cfg.exempt_classes == ExemptClasses::WhenLimited {
        tree.classes.push(class(
            SHARED_EXEMPT_CLASS,
            EXEMPT_CLASS,
            MIN_RATE_BPS,
            max,
            MTU_QUANTUM,
        ));
    }
    let kinds = [
        (NORMAL_SHARD_BASE, CAP_CLASS, cap, &normal),
        (EXEMPT_SHARD_BASE, EXEMPT_CLASS, max, &exempt),
    ];
    for (base, parent, ceil, sums) in kinds {
        let quanta = scaled_quanta(&sums.iter().map(|s| s.quantum).collect::<Vec<_>>());
        for (i, (s, q)) in sums
            .iter()
            .zip(quanta)
            .enumerate()
            .filter(|(_, (s, _))| s.leaves > 0)
        {
            let major = base + i as u16;
            let id = Handle::new(ROOT_MAJOR, major);
            tree.classes.push(class(id, parent, s.min, ceil, q));
            tree.qdiscs.push(htb_qdisc(Handle::new(major, 0), id, 0));
            let top = Handle::new(major, SHARD_TOP_MINOR);
            tree.classes
                .push(class(top, Handle::new(major, 0), ceil, ceil, MTU_QUANTUM));
        }
    }
    if let Some(leaf) = &cfg.leaf {
        tree.leaves.push((UNCLASSIFIED_CLASS, leaf.clone()));
        if cfg.exempt_classes == ExemptClasses::WhenLimited {
            tree.leaves.push((SHARED_EXEMPT_CLASS, leaf.clone()));
        }
        tree.leaves
            .extend(leaves.iter().map(|c| (c.classid, leaf.clone())));
    }
    tree.classes.extend(leaves);
    Ok(tree)
}
