//! The executor's view of the kernel: read whole once, then kept up to date with what it applies
//! and re-checked a qdisc at a time; drift behind bwmon's back is repaired.
use super::alloc::ClassAllocator;
use super::diff::Op;
use super::executor::Shaper;
use super::fake::FakeBackend;
use super::handle::Handle;
use super::tree::*;

const MBIT: u64 = 1_000_000;

fn slices(n: u32) -> Vec<SliceRates> {
    (0..n)
        .map(|i| SliceRates {
            xid: 1000 + i,
            normal: ClassRates {
                min: 8,
                ceil: 10 * MBIT,
            },
            exempt: ClassRates {
                min: 8,
                ceil: 100 * MBIT,
            },
            share: 1,
        })
        .collect()
}

/// Shards of 2 slices: 6 slices make 3 normal and 3 exempt shard qdiscs.
fn shaper() -> Shaper<FakeBackend> {
    let cfg = TreeConfig {
        bwcap: 100 * MBIT,
        bwmax: 1000 * MBIT,
        leaf: None,
        exempt_classes: ExemptClasses::PerSlice,
    };
    Shaper::new(
        FakeBackend::default(),
        0,
        cfg,
        ClassAllocator::new(2).unwrap(),
    )
}

fn reads(s: &mut Shaper<FakeBackend>) -> (usize, usize) {
    let b = s.backend_unobserved();
    (b.qdisc_reads, b.class_reads)
}

fn shard_qdiscs(s: &mut Shaper<FakeBackend>) -> Vec<Handle> {
    s.backend_unobserved()
        .tree
        .qdiscs
        .iter()
        .filter(|q| q.handle != ROOT && q.kind == "htb")
        .map(|q| q.handle)
        .collect()
}

#[test]
fn a_steady_sync_reads_the_qdiscs_the_root_and_one_shard() {
    let mut s = shaper();
    let list = slices(6);
    s.sync(&list).unwrap();
    let shards = shard_qdiscs(&mut s).len();
    assert_eq!(shards, 6);
    let before = reads(&mut s);
    let report = s.sync(&list).unwrap();
    assert_eq!(report.ops(), 0);
    let after = reads(&mut s);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2));
    // A ceiling change is applied from the view and leaves the view right.
    let mut changed = list.clone();
    changed[3].normal.ceil = 5 * MBIT;
    assert_eq!(s.sync(&changed).unwrap().changed, 1);
    assert_eq!(s.sync(&changed).unwrap().ops(), 0);
}

#[test]
fn a_class_changed_behind_bwmons_back_is_repaired_within_one_rotation() {
    let mut s = shaper();
    let list = slices(6);
    s.sync(&list).unwrap();
    let shards = shard_qdiscs(&mut s).len();
    // Someone changes a slice's class in the kernel.
    let victim = s.classes(1004).unwrap().normal;
    let tree = &mut s.backend_unobserved().tree;
    let class = tree
        .classes
        .iter_mut()
        .find(|c| c.classid == victim)
        .unwrap();
    let want = class.htb.unwrap();
    class.htb.as_mut().unwrap().ceil = 1;
    let mut repaired_at = None;
    for i in 0..=shards {
        let before = s.backend_unobserved().applied.len();
        s.sync(&list).unwrap();
        let applied = &s.backend_unobserved().applied[before..];
        if applied.contains(&Op::ChangeClass(want)) {
            repaired_at = Some(i);
            break;
        }
        assert!(applied.is_empty(), "nothing else changes: {applied:?}");
    }
    assert!(
        repaired_at.is_some(),
        "repaired within {} syncs",
        shards + 1
    );
    let tree = &s.backend_unobserved().tree;
    let class = tree.classes.iter().find(|c| c.classid == victim).unwrap();
    assert_eq!(class.htb, Some(want));
}

#[test]
fn a_qdisc_removed_behind_bwmons_back_is_noticed_at_the_next_sync() {
    let mut s = shaper();
    let list = slices(6);
    s.sync(&list).unwrap();
    let shard = shard_qdiscs(&mut s)[2];
    let tree = &mut s.backend_unobserved().tree;
    tree.qdiscs.retain(|q| q.handle != shard);
    tree.classes.retain(|c| c.classid.qdisc() != shard);
    let report = s.sync(&list).unwrap();
    assert!(
        report.added >= 3,
        "the shard and its classes again: {report:?}"
    );
    assert_eq!(s.sync(&list).unwrap().ops(), 0);
}

#[test]
fn after_a_kernel_error_the_tree_is_read_whole_again() {
    let mut s = shaper();
    let list = slices(6);
    s.sync(&list).unwrap();
    // A class deleted behind bwmon's back makes the next ChangeClass fail (ENOENT).
    let victim = s.classes(1002).unwrap().normal;
    s.backend_unobserved()
        .tree
        .classes
        .retain(|c| c.classid != victim);
    let mut changed = list.clone();
    changed[2].normal.ceil = 5 * MBIT;
    assert!(s.sync(&changed).is_err(), "the change hits a missing class");
    let (qdiscs, classes) = reads(&mut s);
    let report = s.sync(&changed).unwrap();
    assert_eq!(
        report.added, 1,
        "re-created from a whole reading: {report:?}"
    );
    let after = reads(&mut s);
    assert_eq!(after.0 - qdiscs, 1);
    assert_eq!(after.1 - classes, 7, "root and the 6 shards");
}
