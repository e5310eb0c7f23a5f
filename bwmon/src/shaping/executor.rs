//! The one place that changes the kernel: a small backend trait, and `Shaper`, which keeps one
//! interface's tree equal to what the policy wants (build → read → diff → apply).
use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd};

use tracing::warn;

use super::ShapingError;
use super::alloc::{ClassAllocator, SliceClasses};
use super::diff::{self, KernelTree, Op};
use super::handle::Handle;
use super::htb::{BpfFilter, ClassInfo, LeafQdisc, QdiscInfo};
use super::tree::{self, ROOT, SliceRates, TreeConfig};

/// Kernel access for one network namespace.
pub trait TcBackend {
    /// The interface's (visible) qdiscs.
    fn read_qdiscs(&mut self, ifindex: u32) -> Result<Vec<QdiscInfo>, ShapingError>;
    /// The classes of qdisc `parent` (`Handle(0)`: of every qdisc).
    fn read_classes(
        &mut self,
        ifindex: u32,
        parent: Handle,
    ) -> Result<Vec<ClassInfo>, ShapingError>;

    /// Every qdisc and class of the interface. The classes of a bwmon tree are read one HTB
    /// qdisc at a time: one dump of all classes costs the kernel, per reply buffer, a walk over
    /// every qdisc of the device, including the hidden default leaf qdisc of every HTB leaf class
    /// (quadratic: 4.2 s for 60,000 classes), while a dump limited to one qdisc finds it by
    /// handle. Any other tree is read with one dump of everything (`diff` replaces it whole).
    fn read(&mut self, ifindex: u32) -> Result<KernelTree, ShapingError> {
        let mut tree = KernelTree {
            qdiscs: self.read_qdiscs(ifindex)?,
            classes: Vec::new(),
        };
        let parents = if tree.is_bwmon() {
            htb_qdiscs(&tree.qdiscs)
        } else {
            vec![Handle(0)]
        };
        for parent in parents {
            let classes = self.read_classes(ifindex, parent)?;
            tree.classes.extend(classes);
        }
        Ok(tree)
    }

    /// Applies `ops` in order. Every op is tried (requests are pipelined); the first failure is
    /// returned as `ShapingError::Kernel` with its index.
    fn apply(&mut self, ifindex: u32, ops: &[Op]) -> Result<(), ShapingError>;
    /// Creates or replaces a direct-action cls_bpf filter running `prog`.
    fn attach_filter(
        &mut self,
        ifindex: u32,
        filter: &BpfFilter,
        prog: BorrowedFd<'_>,
    ) -> Result<(), ShapingError>;
}

/// What one `sync` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub changed: usize,
    pub deleted: usize,
    /// The root qdisc was (re)created: the tree was not bwmon's before.
    pub root_created: bool,
}

impl SyncReport {
    fn of(ops: &[Op]) -> Self {
        let mut r = SyncReport::default();
        for op in ops {
            match op {
                Op::AddQdisc(q) => {
                    r.added += 1;
                    r.root_created |= q.parent == Handle::ROOT;
                }
                Op::AddClass(_) | Op::SetLeaf { .. } => r.added += 1,
                Op::ChangeClass(_) => r.changed += 1,
                Op::DelClass(_) | Op::DelQdisc { .. } => r.deleted += 1,
            }
        }
        r
    }

    /// Both reports together (two attempts of one sync).
    fn then(self, next: SyncReport) -> SyncReport {
        SyncReport {
            added: self.added + next.added,
            changed: self.changed + next.changed,
            deleted: self.deleted + next.deleted,
            root_created: self.root_created || next.root_created,
        }
    }

    pub fn ops(&self) -> usize {
        self.added + self.changed + self.deleted
    }
}

/// The root qdisc's steering filter: maps `skb->priority = S:L` to the shard class `1:S`.
pub fn steering_filter() -> BpfFilter {
    BpfFilter {
        parent: ROOT,
        prio: 1,
        handle: 1,
        classid: ROOT,
        name: bwmon_common::SHARD_CLASSIFIER_NAME.to_string(),
    }
}

/// The handles of the HTB qdiscs among `qdiscs`, sorted.
fn htb_qdiscs(qdiscs: &[QdiscInfo]) -> Vec<Handle> {
    let mut handles: Vec<Handle> = qdiscs
        .iter()
        .filter(|q| q.kind == "htb" && q.handle.0 != 0)
        .map(|q| q.handle)
        .collect();
    handles.sort();
    handles
}

/// What the kernel holds once `desired` was applied without error, as a read would report it
/// (for everything `diff` compares; counters are zero).
fn applied_view(desired: &tree::DesiredTree, ifindex: u32) -> KernelTree {
    KernelTree {
        qdiscs: desired
            .qdiscs
            .iter()
            .map(|q| QdiscInfo::of_htb(q, ifindex))
            .collect(),
        classes: desired
            .classes
            .iter()
            .map(|c| ClassInfo::of_htb(c, ifindex))
            .collect(),
    }
}

/// Packets a pfifo leaf holds when the configured leaf kind is missing (the kernel's default
/// for a txqueuelen-1000 device).
pub const FALLBACK_PFIFO_LIMIT: u32 = 1000;

/// Keeps one interface's HTB tree in line with the slices' rates.
pub struct Shaper<B: TcBackend> {
    backend: B,
    ifindex: u32,
    config: TreeConfig,
    alloc: ClassAllocator,
    steering: Option<OwnedFd>,
    /// Where each slice's packets go, as of the last build.
    classes: HashMap<u32, SliceClasses>,
    /// The kernel's tree as last read, updated with what was applied since; `None` after an
    /// error or before the first sync (then it is read whole).
    view: Option<KernelTree>,
    /// Which shard qdisc `observe` re-reads next.
    cursor: usize,
}

impl<B: TcBackend> Shaper<B> {
    /// `alloc` is the saved allocator state (or a new one): it fixes each slice's class ids.
    pub fn new(backend: B, ifindex: u32, config: TreeConfig, alloc: ClassAllocator) -> Self {
        Shaper {
            backend,
            ifindex,
            config,
            alloc,
            steering: None,
            classes: HashMap::new(),
            view: None,
            cursor: 0,
        }
    }

    /// Makes the kernel's tree match `slices` (which must include `root` and `default`) and
    /// returns what changed. An existing bwmon tree is adopted as it is: only differences are
    /// applied, so queues and counters survive an agent restart. Slices not listed lose their
    /// classes and class ids.
    pub fn sync(&mut self, slices: &[SliceRates]) -> Result<SyncReport, ShapingError> {
        let (report, result) = self.sync_once(slices)?;
        match result {
            Err(ShapingError::Kernel {
                errno: libc::ENOENT,
                ref op,
                ..
            }) if matches!(&self.config.leaf, Some(LeafQdisc::Other { kind }) if op.contains(kind.as_str())) =>
            {
                warn!(
                    leaf = ?self.config.leaf,
                    "the kernel has no such leaf qdisc; falling back to pfifo limit {FALLBACK_PFIFO_LIMIT}"
                );
                self.config.leaf = Some(LeafQdisc::Pfifo {
                    limit: FALLBACK_PFIFO_LIMIT,
                });
                let (again, result) = self.sync_once(slices)?;
                result?;
                Ok(report.then(again))
            }
            other => other.map(|_| report),
        }
    }

    /// One build → read → diff → apply. The outer error is for what stops before applying; the
    /// inner one is the kernel's answer to the ops (the report counts the ops sent).
    fn sync_once(
        &mut self,
        slices: &[SliceRates],
    ) -> Result<(SyncReport, Result<(), ShapingError>), ShapingError> {
        let desired = tree::build(&self.config, slices, &mut self.alloc)?;
        self.classes = desired.steering.iter().copied().collect();
        let actual = self.observe()?;
        let ops = diff::diff(&desired, &actual);
        let report = SyncReport::of(&ops);
        let result = self.backend.apply(self.ifindex, &ops);
        self.view = match (&result, ops.is_empty()) {
            (Ok(()), true) => Some(actual),
            (Ok(()), false) => Some(applied_view(&desired, self.ifindex)),
            (Err(_), _) => None,
        };
        if report.root_created {
            // Even after a partial failure: the root exists and needs its filter.
            self.attach_steering()?;
        }
        Ok((report, result))
    }

    /// The kernel's tree for `diff`, read whole at first and after an error. Then, each sync:
    /// the qdiscs (read whole again if the tree's shape changed behind bwmon's back), the root
    /// qdisc's classes and one shard qdisc's classes in turn are re-read into the last view,
    /// which `sync_once` updates with what it applied. So every class is checked against the
    /// kernel once per (shards + 1) syncs, at the cost of two small dumps per sync instead of a
    /// dump of every class.
    fn observe(&mut self) -> Result<KernelTree, ShapingError> {
        let Some(mut view) = self.view.take() else {
            return self.backend.read(self.ifindex);
        };
        let qdiscs = self.backend.read_qdiscs(self.ifindex)?;
        let shape = htb_qdiscs(&qdiscs);
        let fresh = KernelTree {
            qdiscs,
            classes: Vec::new(),
        };
        if !fresh.is_bwmon() || shape != htb_qdiscs(&view.qdiscs) {
            return self.backend.read(self.ifindex);
        }
        let shards: Vec<Handle> = shape.into_iter().filter(|h| *h != ROOT).collect();
        let mut check = vec![ROOT];
        if !shards.is_empty() {
            check.push(shards[self.cursor % shards.len()]);
            self.cursor = self.cursor.wrapping_add(1);
        }
        for qdisc in check {
            let classes = self.backend.read_classes(self.ifindex, qdisc)?;
            view.classes.retain(|c| c.classid.qdisc() != qdisc);
            view.classes.extend(classes);
        }
        view.qdiscs = fresh.qdiscs;
        Ok(view)
    }

    /// Installs the root's steering program (the `bwmon_shard` classifier) now if the tree
    /// exists, and again whenever `sync` has to create the root qdisc.
    pub fn set_steering_program(&mut self, prog: BorrowedFd<'_>) -> Result<(), ShapingError> {
        self.steering = Some(prog.try_clone_to_owned().map_err(ShapingError::Socket)?);
        if self.backend.read(self.ifindex)?.is_bwmon() {
            self.attach_steering()?;
        }
        Ok(())
    }

    fn attach_steering(&mut self) -> Result<(), ShapingError> {
        if let Some(fd) = &self.steering {
            use std::os::fd::AsFd;
            self.backend
                .attach_filter(self.ifindex, &steering_filter(), fd.as_fd())?;
        }
        Ok(())
    }

    /// Removes bwmon's tree from the interface (the kernel puts its default qdisc back). Leaves
    /// any other root qdisc alone. Returns whether there was a tree to remove.
    pub fn teardown(&mut self) -> Result<bool, ShapingError> {
        self.view = None;
        teardown(&mut self.backend, self.ifindex)
    }

    /// Where a slice's packets must be steered as of the last `sync` (write `[normal.0,
    /// exempt.0]` into the eBPF map's `SlotClass.classid`). With `ExemptClasses::WhenLimited`
    /// the exempt id changes when the slice's exempt ceiling starts or stops being limited.
    pub fn classes(&self, xid: u32) -> Option<SliceClasses> {
        self.classes.get(&xid).copied()
    }

    /// The allocator state, to save with the agent's state.
    pub fn allocator(&self) -> &ClassAllocator {
        &self.alloc
    }

    /// The configuration in force (the leaf qdisc may have fallen back to pfifo).
    pub fn config(&self) -> &TreeConfig {
        &self.config
    }

    /// The backend without forgetting the view: a test changes the "kernel" behind bwmon's back.
    #[cfg(test)]
    pub(crate) fn backend_unobserved(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The backend; the next sync reads the kernel's tree whole (a test may change it).
    pub fn backend_mut(&mut self) -> &mut B {
        self.view = None;
        &mut self.backend
    }
}

/// Deletes bwmon's root qdisc (and so its whole tree) from `ifindex`, if the root is bwmon's.
pub fn teardown<B: TcBackend>(backend: &mut B, ifindex: u32) -> Result<bool, ShapingError> {
    if !backend.read(ifindex)?.is_bwmon() {
        return Ok(false);
    }
    backend.apply(
        ifindex,
        &[Op::DelQdisc {
            parent: Handle::ROOT,
            handle: Handle(0),
        }],
    )?;
    Ok(true)
}
