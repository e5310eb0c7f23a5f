//! Unit tests of `tree`, `diff` and `executor` against the fake backend (which enforces the
//! kernel's ordering rules, so a wrongly ordered op list fails there).
use std::os::fd::AsFd;

use proptest::prelude::*;

use super::alloc::ClassAllocator;
use super::diff::{KernelTree, Op, diff};
use super::executor::{Shaper, TcBackend};
use super::fake::FakeBackend;
use super::handle::Handle;
use super::htb::{ClassInfo, HtbClass, LeafQdisc, QdiscInfo, Stats};
use super::tree::*;

const MBIT: u64 = 1_000_000;

fn slice(xid: u32, min: u64, ceil: u64, share: u32) -> SliceRates {
    SliceRates {
        xid,
        normal: ClassRates { min, ceil },
        exempt: ClassRates {
            min,
            ceil: 2 * ceil,
        },
        share,
    }
}

fn cfg() -> TreeConfig {
    TreeConfig {
        bwcap: 100 * MBIT,
        bwmax: 1000 * MBIT,
        leaf: None,
        exempt_classes: ExemptClasses::PerSlice,
    }
}

/// Builds, diffs against the fake's tree, applies; returns the ops.
fn step(
    fake: &mut FakeBackend,
    cfg: &TreeConfig,
    slices: &[SliceRates],
    alloc: &mut ClassAllocator,
) -> Vec<Op> {
    let desired = build(cfg, slices, alloc).unwrap();
    let ops = diff(&desired, &fake.tree);
    fake.apply(0, &ops).unwrap();
    assert_eq!(
        diff(&desired, &fake.tree),
        vec![],
        "converged after one apply"
    );
    ops
}

fn class_of(tree: &DesiredTree, id: Handle) -> HtbClass {
    *tree.classes.iter().find(|c| c.classid == id).unwrap()
}

#[test]
fn layout_follows_the_seed_with_shards() {
    let mut alloc = ClassAllocator::new(2).unwrap();
    let slices = [
        slice(0, 8, 10 * MBIT, 1),
        slice(1, MBIT, 20 * MBIT, 3),
        slice(9, 2 * MBIT, 500 * MBIT, 1),
    ];
    let t = build(&cfg(), &slices, &mut alloc).unwrap();
    // root, 2 normal + 2 exempt shard qdiscs
    assert_eq!(t.qdiscs.len(), 5);
    assert_eq!(t.qdiscs[0].default_minor, 4);
    assert!(t.qdiscs.iter().all(|q| q.r2q == BWMON_R2Q));
    // 4 fixed, 4 shard classes, 4 shard tops, 6 slice classes
    assert_eq!(t.classes.len(), 18);
    let (s0, s9) = (alloc.classes(0).unwrap(), alloc.classes(9).unwrap());
    assert_eq!(
        (s0.normal, s9.normal),
        (Handle::new(0x100, 1), Handle::new(0x101, 1))
    );
    let leaf = class_of(&t, alloc.classes(1).unwrap().normal);
    assert_eq!(
        (leaf.rate, leaf.ceil, leaf.quantum),
        (MBIT / 8, 20 * MBIT / 8, 3 * MTU_QUANTUM)
    );
    assert_eq!(leaf.parent, Handle::new(0x100, SHARD_TOP_MINOR));
    // Ceilings above the node cap are still capped by 1:2; exempt ones sit under 1:3.
    assert_eq!(class_of(&t, s9.normal).ceil, 500 * MBIT / 8);
    let shard0 = class_of(&t, Handle::new(1, 0x100));
    assert_eq!(shard0.parent, CAP_CLASS);
    assert_eq!(
        shard0.rate,
        (8 + MBIT) / 8,
        "shard rate = sum of its slices' min rates"
    );
    assert_eq!(shard0.ceil, 100 * MBIT / 8);
    assert_eq!(class_of(&t, Handle::new(1, 0x4001)).parent, EXEMPT_CLASS);
    assert_eq!(class_of(&t, Handle::new(1, 0x4001)).ceil, 1000 * MBIT / 8);
    // Shard quanta are proportional to the shares they hold (4 vs 1).
    assert_eq!(
        shard0.quantum,
        4 * class_of(&t, Handle::new(1, 0x101)).quantum
    );
    // The default class is node-capped; rates never below 1 byte/s, ceilings never below rates.
    assert_eq!(class_of(&t, UNCLASSIFIED_CLASS).parent, CAP_CLASS);
    assert!(t.classes.iter().all(|c| c.rate >= 1 && c.ceil >= c.rate));
    // Parents come before children.
    for (i, c) in t.classes.iter().enumerate() {
        let parent_at = t.classes.iter().position(|p| p.classid == c.parent);
        assert!(
            parent_at.is_none_or(|p| p < i),
            "{} before its parent",
            c.classid
        );
    }
}

#[test]
fn huge_shard_quanta_are_scaled_down_together() {
    let mut alloc = ClassAllocator::new(1000).unwrap();
    let slices: Vec<_> = (0..1500).map(|x| slice(x, 8, MBIT, 10)).collect();
    let t = build(&cfg(), &slices, &mut alloc).unwrap();
    let (a, b) = (
        class_of(&t, Handle::new(1, 0x100)).quantum,
        class_of(&t, Handle::new(1, 0x101)).quantum,
    );
    assert!(a as u64 <= MAX_QUANTUM && a == 2 * b, "{a} vs {b}");
}

#[test]
fn full_allocator_is_reported() {
    let mut alloc = ClassAllocator::with_max_shards(1, 2).unwrap();
    let slices = [
        slice(1, 8, MBIT, 1),
        slice(2, 8, MBIT, 1),
        slice(3, 8, MBIT, 1),
    ];
    let err = build(&cfg(), &slices, &mut alloc).unwrap_err();
    assert_eq!(
        err,
        super::AllocError::Full {
            xid: 3,
            capacity: 2
        }
    );
}

#[test]
fn from_scratch_root_first_then_parents_first() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let ops = step(
        &mut fake,
        &cfg(),
        &[slice(5, MBIT, 10 * MBIT, 1)],
        &mut alloc,
    );
    assert!(matches!(&ops[0], Op::AddQdisc(q) if q.parent == Handle::ROOT));
    assert!(
        ops.iter()
            .all(|o| matches!(o, Op::AddQdisc(_) | Op::AddClass(_)))
    );
    assert_eq!(ops.len(), 1 + 4 + 2 * 3 + 2);
}

#[test]
fn ceiling_change_is_one_in_place_change() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let mut slices = vec![slice(5, MBIT, 10 * MBIT, 1), slice(6, MBIT, 10 * MBIT, 1)];
    step(&mut fake, &cfg(), &slices, &mut alloc);
    slices[1].normal.ceil = 3 * MBIT;
    let ops = step(&mut fake, &cfg(), &slices, &mut alloc);
    let id = alloc.classes(6).unwrap().normal;
    assert!(
        matches!(ops.as_slice(), [Op::ChangeClass(c)] if c.classid == id && c.ceil == 3 * MBIT / 8)
    );
}

#[test]
fn removed_slice_loses_only_its_classes() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let slices = vec![slice(5, 8, 10 * MBIT, 1), slice(6, 8, 10 * MBIT, 1)];
    step(&mut fake, &cfg(), &slices, &mut alloc);
    let gone = alloc.classes(6).unwrap();
    let ops = step(&mut fake, &cfg(), &slices[..1], &mut alloc);
    let dels: Vec<_> = ops
        .iter()
        .filter(|o| matches!(o, Op::DelClass(_)))
        .collect();
    assert_eq!(
        dels,
        [&Op::DelClass(gone.normal), &Op::DelClass(gone.exempt)]
    );
    assert!(
        ops.iter()
            .all(|o| matches!(o, Op::DelClass(_) | Op::ChangeClass(_))),
        "{ops:?}"
    );
}

#[test]
fn emptied_shard_goes_with_one_delete_per_shard_class() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(2).unwrap();
    let slices: Vec<_> = (0..4).map(|x| slice(x, 8, MBIT, 1)).collect();
    step(&mut fake, &cfg(), &slices, &mut alloc);
    let ops = step(&mut fake, &cfg(), &slices[..2], &mut alloc);
    // Deleting 1:101 and 1:4001 takes their shard qdiscs and all classes inside with them.
    let dels: Vec<_> = ops
        .iter()
        .filter(|o| !matches!(o, Op::ChangeClass(_)))
        .collect();
    assert_eq!(
        dels,
        [
            &Op::DelClass(Handle::new(1, 0x101)),
            &Op::DelClass(Handle::new(1, 0x4001))
        ]
    );
}

fn foreign_class(id: Handle, parent: Handle) -> ClassInfo {
    let htb = HtbClass::from_bits(id, parent, 8, 8, 1600, 1600, 1514, 0);
    ClassInfo {
        ifindex: 0,
        classid: id,
        parent,
        kind: "htb".into(),
        htb: Some(htb),
        level: 0,
        leaf_qdisc: None,
        stats: Stats::default(),
    }
}

#[test]
fn strays_are_deleted_children_first_and_misplaced_classes_recreated() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let slices = [slice(5, 8, MBIT, 1)];
    step(&mut fake, &cfg(), &slices, &mut alloc);
    let (a, b) = (Handle::new(1, 0x50), Handle::new(1, 0x51));
    fake.tree.classes.push(foreign_class(a, CAP_CLASS));
    fake.tree.classes.push(foreign_class(b, a));
    // The unclassified class hanging under the wrong parent.
    fake.tree
        .classes
        .iter_mut()
        .find(|c| c.classid == UNCLASSIFIED_CLASS)
        .unwrap()
        .parent = EXEMPT_CLASS;
    let desired = build(&cfg(), &slices, &mut alloc).unwrap();
    let ops = diff(&desired, &fake.tree);
    let want_unclassified = class_of(&desired, UNCLASSIFIED_CLASS);
    assert_eq!(
        ops,
        vec![
            Op::DelClass(b),
            Op::DelClass(UNCLASSIFIED_CLASS),
            Op::DelClass(a),
            Op::AddClass(want_unclassified)
        ]
    );
}

fn qdisc(handle: Handle, parent: Handle, kind: &str) -> QdiscInfo {
    QdiscInfo {
        ifindex: 0,
        handle,
        parent,
        kind: kind.into(),
        htb: None,
        fifo_limit: None,
        stats: Stats::default(),
    }
}

#[test]
fn foreign_roots_are_replaced_whole() {
    let desired = build(
        &cfg(),
        &[slice(5, 8, MBIT, 1)],
        &mut ClassAllocator::new(4).unwrap(),
    )
    .unwrap();
    let mut kernel = KernelTree::default();
    kernel
        .qdiscs
        .push(qdisc(Handle(0), Handle::ROOT, "noqueue"));
    let ops = diff(&desired, &kernel);
    assert!(matches!(&ops[0], Op::AddQdisc(q) if q.handle == ROOT));
    assert_eq!(
        ops.len(),
        13,
        "everything created, nothing of the old tree touched"
    );
    kernel.qdiscs[0] = qdisc(ROOT, Handle::ROOT, "htb"); // someone else's 1: (no bwmon r2q)
    kernel.classes.push(foreign_class(Handle::new(1, 1), ROOT));
    let ops = diff(&desired, &kernel);
    assert_eq!(
        ops[0],
        Op::DelQdisc {
            parent: Handle::ROOT,
            handle: Handle(0)
        }
    );
    assert!(matches!(&ops[1], Op::AddQdisc(q) if q.handle == ROOT));
    assert_eq!(ops.len(), 14);
}

#[test]
fn wrong_qdisc_under_a_shard_class_is_swapped() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let slices = [slice(5, 8, MBIT, 1)];
    step(&mut fake, &cfg(), &slices, &mut alloc);
    let shard = Handle::new(0x100, 0);
    fake.tree.classes.retain(|c| c.classid.qdisc() != shard);
    fake.tree.qdiscs.retain(|q| q.handle != shard);
    fake.tree.qdiscs.push(qdisc(
        Handle::new(0x9000, 0),
        Handle::new(1, 0x100),
        "pfifo",
    ));
    let ops = step(&mut fake, &cfg(), &slices, &mut alloc);
    assert_eq!(
        ops[0],
        Op::DelQdisc {
            parent: Handle::new(1, 0x100),
            handle: Handle::new(0x9000, 0)
        }
    );
    assert!(matches!(&ops[1], Op::AddQdisc(q) if q.handle == shard));
    assert_eq!(
        ops.len(),
        4,
        "qdisc, its top class, the slice class: {ops:?}"
    );
}

#[test]
fn leaf_qdiscs_are_set_changed_and_removed() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let slices = [slice(5, 8, MBIT, 1)];
    let mut c = cfg();
    c.leaf = Some(LeafQdisc::Pfifo { limit: 100 });
    let ops = step(&mut fake, &c, &slices, &mut alloc);
    let leaves: Vec<_> = ops
        .iter()
        .filter(|o| matches!(o, Op::SetLeaf { .. }))
        .collect();
    assert_eq!(leaves.len(), 3, "unclassified + two slice classes");
    c.leaf = Some(LeafQdisc::Pfifo { limit: 50 });
    let ops = step(&mut fake, &c, &slices, &mut alloc);
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|o| matches!(
        o,
        Op::SetLeaf {
            leaf: LeafQdisc::Pfifo { limit: 50 },
            ..
        }
    )));
    let ops = step(&mut fake, &cfg(), &slices, &mut alloc);
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|o| matches!(o, Op::DelQdisc { .. })));
}

#[test]
fn shaper_syncs_adopts_falls_back_attaches_and_tears_down() {
    let mut fake = FakeBackend::default();
    fake.missing_kinds.insert("sfq".into());
    let mut c = cfg();
    c.leaf = Some(LeafQdisc::Other { kind: "sfq".into() });
    let mut s = Shaper::new(fake, 3, c, ClassAllocator::new(8).unwrap());
    let prog = std::fs::File::open("/dev/null").unwrap();
    s.set_steering_program(prog.as_fd()).unwrap();
    assert!(
        s.backend_mut().filters.is_empty(),
        "no root yet: attached on creation"
    );
    let slices = [slice(0, 8, MBIT, 1), slice(1, 8, MBIT, 1)];
    let r = s.sync(&slices).unwrap();
    assert!(r.root_created && r.added > 0);
    assert_eq!(s.config().leaf, Some(LeafQdisc::Pfifo { limit: 1000 }));
    assert_eq!(s.backend_mut().filters.len(), 1);
    assert_eq!(s.backend_mut().filters[0].0.classid, ROOT);
    assert_eq!(s.sync(&slices).unwrap().ops(), 0);
    assert_eq!(s.classes(1).unwrap().exempt, Handle::new(0x4000, 2));
    assert!(s.teardown().unwrap());
    assert!(s.backend_mut().tree.qdiscs.is_empty());
    assert!(!s.teardown().unwrap());
}

#[test]
fn exempt_classes_when_limited_come_and_go_with_the_limit() {
    let mut fake = FakeBackend::default();
    let mut alloc = ClassAllocator::new(4).unwrap();
    let mut c = cfg();
    c.exempt_classes = ExemptClasses::WhenLimited;
    let max = c.bwmax;
    let mut slices = vec![slice(5, 8, MBIT, 1), slice(6, 8, MBIT, 1)];
    for s in &mut slices {
        s.exempt.ceil = max;
    }
    let ops = step(&mut fake, &c, &slices, &mut alloc);
    let t = build(&c, &slices, &mut alloc).unwrap();
    assert_eq!(t.steering[0].1.exempt, SHARED_EXEMPT_CLASS);
    assert_eq!(class_of(&t, SHARED_EXEMPT_CLASS).parent, EXEMPT_CLASS);
    assert!(
        t.classes
            .iter()
            .all(|k| k.classid.major() < super::alloc::EXEMPT_SHARD_BASE)
    );
    assert_eq!(
        ops.len(),
        1 + 5 + 3 + 2,
        "root, fixed classes, one normal shard, two slices"
    );
    // Slice 6 gets limited: its own exempt class (and the shard holding it) appear.
    slices[1].exempt.ceil = MBIT;
    let ops = step(&mut fake, &c, &slices, &mut alloc);
    let own = alloc.classes(6).unwrap().exempt;
    let t = build(&c, &slices, &mut alloc).unwrap();
    assert_eq!(
        t.steering.iter().find(|(x, _)| *x == 6).unwrap().1.exempt,
        own
    );
    assert!(ops.contains(&Op::AddClass(class_of(&t, own))));
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, Op::AddClass(_) | Op::AddQdisc(_)))
            .count(),
        4
    );
    // Unlimited again: the exempt shard goes in one delete.
    slices[1].exempt.ceil = max;
    let ops = step(&mut fake, &c, &slices, &mut alloc);
    let dels: Vec<_> = ops
        .iter()
        .filter(|o| matches!(o, Op::DelClass(_)))
        .collect();
    assert_eq!(
        dels,
        [&Op::DelClass(Handle::new(
            1,
            super::alloc::EXEMPT_SHARD_BASE
        ))]
    );
}

proptest! {
    /// Any sequence of slice sets and rates converges in one apply that the fake "kernel"
    /// accepts in the order given, and changes nothing further.
    #[test]
    fn any_sequence_converges(steps in prop::collection::vec(
        prop::collection::vec((0u32..40, 0u64..50, 1u64..600, 1u32..5), 0..25), 1..6),
        shard in 1u16..6, leaf in any::<bool>(), when_limited in any::<bool>()) {
        let mut fake = FakeBackend::default();
        let mut alloc = ClassAllocator::new(shard).unwrap();
        let mut c = cfg();
        if when_limited {
            c.exempt_classes = ExemptClasses::WhenLimited;
        }
        for (i, set) in steps.iter().enumerate() {
            c.leaf = (leaf && i % 2 == 0).then_some(LeafQdisc::Pfifo { limit: 10 + i as u32 });
            let slices: Vec<_> = set.iter().map(|(x, m, ce, sh)| slice(*x, m * MBIT, ce * MBIT, *sh)).collect();
            let mut uniq = slices.clone();
            uniq.sort_by_key(|s| s.xid);
            uniq.dedup_by_key(|s| s.xid);
            step(&mut fake, &c, &uniq, &mut alloc);
            let t = build(&c, &uniq, &mut alloc).unwrap();
            for (_, ids) in &t.steering {
                for id in [ids.normal, ids.exempt] {
                    prop_assert!(fake.tree.classes.iter().any(|k| k.classid == id), "steered to {}", id);
                }
            }
            for s in &uniq {
                let ids = alloc.classes(s.xid).unwrap();
                let k = fake.tree.classes.iter().find(|k| k.classid == ids.normal).unwrap();
                prop_assert_eq!(k.htb.unwrap().ceil, (s.normal.ceil.max(s.normal.min).max(8)) / 8);
            }
        }
    }
}
