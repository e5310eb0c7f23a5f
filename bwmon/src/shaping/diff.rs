//! Desired tree vs the kernel's → the fewest operations, in an order the kernel accepts. Pure.
//!
//! Order: (1) replace the root qdisc if it is not bwmon's (deleting it drops the old tree
//! whole, so nothing else of it is touched); (2) delete what is not desired, children before
//! parents, skipping everything inside a nested qdisc whose class goes (the kernel destroys it
//! with the class); (3) create what is missing, parents first; (4) change classes whose
//! parameters differ (`tc class change`: in place, queue and counters kept).
use std::collections::{HashMap, HashSet};

use super::handle::Handle;
use super::htb::{ClassInfo, HtbClass, HtbQdisc, LeafQdisc, QdiscInfo};
use super::tree::{BWMON_R2Q, DesiredTree, ROOT};

/// What the kernel reports for one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelTree {
    pub qdiscs: Vec<QdiscInfo>,
    pub classes: Vec<ClassInfo>,
}

impl KernelTree {
    /// The root qdisc, if any.
    pub fn root(&self) -> Option<&QdiscInfo> {
        self.qdiscs.iter().find(|q| q.parent == Handle::ROOT)
    }

    /// True if the root qdisc is bwmon's HTB.
    pub fn is_bwmon(&self) -> bool {
        self.root()
            .is_some_and(|q| q.handle == ROOT && q.htb.as_ref().is_some_and(|h| h.r2q == BWMON_R2Q))
    }
}

/// One change to the kernel's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create an HTB qdisc.
    AddQdisc(HtbQdisc),
    /// Put `leaf` under the leaf class `parent` (create, or change/replace what is there).
    SetLeaf {
        parent: Handle,
        leaf: LeafQdisc,
    },
    /// Delete the qdisc `handle` attached at `parent`.
    DelQdisc {
        parent: Handle,
        handle: Handle,
    },
    AddClass(HtbClass),
    ChangeClass(HtbClass),
    DelClass(Handle),
}

/// True if the kernel's class has the desired parameters.
fn same_class(want: &HtbClass, got: &ClassInfo) -> bool {
    got.htb.as_ref() == Some(want)
}

fn same_leaf(want: &LeafQdisc, got: &QdiscInfo) -> bool {
    match want {
        LeafQdisc::Pfifo { limit } => got.kind == "pfifo" && got.fifo_limit == Some(*limit),
        LeafQdisc::Other { kind } => got.kind == *kind,
    }
}

/// The operations that turn `actual` into `desired`.
pub fn diff(desired: &DesiredTree, actual: &KernelTree) -> Vec<Op> {
    let mut ops = Vec::new();
    let empty = KernelTree::default();
    let actual = if actual.is_bwmon() {
        actual
    } else {
        // A kernel default root (handle 0) is simply grafted over; any other is deleted first
        // (a "replace" with the same handle and kind would only try to change it).
        if actual.root().is_some_and(|q| q.handle.0 != 0) {
            ops.push(Op::DelQdisc {
                parent: Handle::ROOT,
                handle: Handle(0),
            });
        }
        if let Some(root) = desired.qdiscs.iter().find(|q| q.parent == Handle::ROOT) {
            ops.push(Op::AddQdisc(root.clone()));
        }
        &empty
    };
    let want_classes: HashMap<Handle, &HtbClass> =
        desired.classes.iter().map(|c| (c.classid, c)).collect();
    let want_qdiscs: HashMap<Handle, &HtbQdisc> =
        desired.qdiscs.iter().map(|q| (q.handle, q)).collect();
    let want_leaves: HashMap<Handle, &LeafQdisc> =
        desired.leaves.iter().map(|(c, l)| (*c, l)).collect();
    let got_classes: HashMap<Handle, &ClassInfo> =
        actual.classes.iter().map(|c| (c.classid, c)).collect();
    // Qdiscs by the class they hang under (the root qdisc is kept: it is bwmon's).
    let got_by_parent: HashMap<Handle, &QdiscInfo> = actual
        .qdiscs
        .iter()
        .filter(|q| q.parent != Handle::ROOT && q.handle.0 != 0)
        .map(|q| (q.parent, q))
        .collect();

    // A class goes if it is not desired or hangs elsewhere (HTB cannot move a class).
    let goes = |c: &ClassInfo| {
        want_classes
            .get(&c.classid)
            .is_none_or(|w| w.parent != c.parent)
    };
    // A nested HTB qdisc stays only if desired at the same place.
    let qdisc_ok = |q: &QdiscInfo| {
        want_qdiscs
            .get(&q.handle)
            .is_some_and(|w| w.parent == q.parent && q.kind == "htb")
    };
    // Qdiscs that vanish with their parent class: majors to skip when deleting classes.
    let mut doomed: HashSet<u16> = HashSet::new();
    let gone: HashSet<Handle> = actual
        .classes
        .iter()
        .filter(|c| goes(c))
        .map(|c| c.classid)
        .collect();
    loop {
        let before = doomed.len();
        for q in got_by_parent.values() {
            let parent_goes = gone.contains(&q.parent) || doomed.contains(&q.parent.major());
            if parent_goes {
                doomed.insert(q.handle.major());
            }
        }
        if doomed.len() == before {
            break;
        }
    }
    let mut gone_classes: Vec<&ClassInfo> = actual
        .classes
        .iter()
        .filter(|c| gone.contains(&c.classid) && !doomed.contains(&c.classid.major()))
        .collect();
    // Deepest first: a class's depth is its distance to the top of its qdisc.
    let depth = |c: &ClassInfo| {
        let mut d = 0;
        let mut p = c.parent;
        while let Some(pc) = got_classes.get(&p) {
            d += 1;
            p = pc.parent;
        }
        d
    };
    gone_classes.sort_by_key(|c| (std::cmp::Reverse(depth(c)), c.classid));

    // Unwanted qdiscs under classes that stay: nested HTBs that are not desired there, and leaf
    // qdiscs when none is configured (the kernel puts its default pfifo back).
    for q in actual
        .qdiscs
        .iter()
        .filter(|q| q.parent != Handle::ROOT && q.handle.0 != 0)
    {
        if doomed.contains(&q.handle.major()) || gone.contains(&q.parent) {
            continue;
        }
        // A leaf qdisc of the wrong kind or limit is fixed in place by `SetLeaf` below.
        let wanted = if want_qdiscs.contains_key(&q.handle) {
            qdisc_ok(q)
        } else {
            want_leaves.contains_key(&q.parent)
        };
        if !wanted {
            ops.push(Op::DelQdisc {
                parent: q.parent,
                handle: q.handle,
            });
        }
    }
    ops.extend(gone_classes.iter().map(|c| Op::DelClass(c.classid)));

    // Creations, parents first; nested qdiscs and leaves right after their class.
    let exists = |h: Handle| got_classes.contains_key(&h) && !gone.contains(&h);
    let want_under: HashMap<Handle, &HtbQdisc> =
        desired.qdiscs.iter().map(|q| (q.parent, q)).collect();
    let mut changes = Vec::new();
    for c in &desired.classes {
        match got_classes.get(&c.classid) {
            Some(got) if exists(c.classid) => {
                if !same_class(c, got) {
                    changes.push(Op::ChangeClass(*c));
                }
            }
            _ => ops.push(Op::AddClass(*c)),
        }
        let nested_ok = got_by_parent
            .get(&c.classid)
            .is_some_and(|g| qdisc_ok(g) && exists(c.classid));
        if let Some(q) = want_under.get(&c.classid).filter(|_| !nested_ok) {
            ops.push(Op::AddQdisc((*q).clone()));
        }
        if let Some(leaf) = want_leaves.get(&c.classid) {
            let fine = exists(c.classid)
                && got_by_parent
                    .get(&c.classid)
                    .is_some_and(|g| same_leaf(leaf, g));
            if !fine {
                ops.push(Op::SetLeaf {
                    parent: c.classid,
                    leaf: (*leaf).clone(),
                });
            }
        }
    }
    ops.extend(changes);
    ops
}
