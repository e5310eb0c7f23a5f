//! The one place that changes the kernel: a small backend trait, and `Shaper`, which keeps one
//! interface's tree equal to what the policy wants (build → read → diff → apply).
use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd};

use tracing::warn;

use super::ShapingError;
use super::alloc::{ClassAllocator, SliceClasses};
use super::diff::{self, KernelTree, Op};
use super::handle::Handle;
use super::htb::{BpfFilter, LeafQdisc};
use super::tree::{self, ROOT, SliceRates, TreeConfig};

/// Kernel access for one network namespace.
pub trait TcBackend {
    /// Every qdisc and class of the interface.
    fn read(&mut self, ifindex: u32) -> Result<KernelTree, ShapingError>;
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
        let actual = self.backend.read(self.ifindex)?;
        let ops = diff::diff(&desired, &actual);
        let report = SyncReport::of(&ops);
        let result = self.backend.apply(self.ifindex, &ops);
        if report.root_created {
            // Even after a partial failure: the root exists and needs its filter.
            self.attach_steering()?;
        }
        Ok((report, result))
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

    pub fn backend_mut(&mut self) -> &mut B {
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
