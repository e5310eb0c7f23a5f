//! An in-memory `TcBackend` that enforces the kernel's rules bwmon relies on (parents exist,
//! ids are unique, a class with children cannot go, deleting a class or qdisc takes everything
//! below it), for unit tests of the executor and of the agent.
use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::ShapingError;
use super::diff::{KernelTree, Op};
use super::executor::TcBackend;
use super::handle::Handle;
use super::htb::{BpfFilter, ClassInfo, LeafQdisc, QdiscInfo, Stats};
use super::netlink::describe;

#[derive(Debug, Default)]
pub struct FakeBackend {
    pub tree: KernelTree,
    /// Leaf qdisc kinds this "kernel" lacks (creating one fails with ENOENT).
    pub missing_kinds: BTreeSet<String>,
    /// Every op applied, in order.
    pub applied: Vec<Op>,
    /// Filters attached, with the program fd.
    pub filters: Vec<(BpfFilter, i32)>,
    /// Dumps asked for: of the qdiscs, and of some qdisc's classes.
    pub qdisc_reads: usize,
    pub class_reads: usize,
    next_auto: u16,
}

fn err(op: &Op, index: usize, errno: i32) -> ShapingError {
    let message = std::io::Error::from_raw_os_error(errno).to_string();
    ShapingError::Kernel {
        index,
        op: describe(op),
        errno,
        message,
        failed: 1,
    }
}

impl FakeBackend {
    fn class_exists(&self, id: Handle) -> bool {
        self.tree.classes.iter().any(|c| c.classid == id)
    }

    fn qdisc_exists(&self, h: Handle) -> bool {
        self.tree.qdiscs.iter().any(|q| q.handle == h)
    }

    /// Removes qdisc `h` with its classes and everything under them.
    fn drop_qdisc(&mut self, h: Handle) {
        self.tree.qdiscs.retain(|q| q.handle != h);
        let classes: Vec<Handle> = self
            .tree
            .classes
            .iter()
            .filter(|c| c.classid.qdisc() == h)
            .map(|c| c.classid)
            .collect();
        for c in classes {
            self.drop_class(c);
        }
    }

    fn drop_class(&mut self, id: Handle) {
        self.tree.classes.retain(|c| c.classid != id);
        let under: Vec<Handle> = self
            .tree
            .qdiscs
            .iter()
            .filter(|q| q.parent == id)
            .map(|q| q.handle)
            .collect();
        for q in under {
            self.drop_qdisc(q);
        }
    }

    fn apply_one(&mut self, op: &Op, i: usize) -> Result<(), ShapingError> {
        match op {
            Op::AddQdisc(qdisc) => {
                let root_taken = qdisc.parent == Handle::ROOT
                    && self.tree.root().is_some_and(|q| q.handle.0 != 0);
                if self.qdisc_exists(qdisc.handle) || root_taken {
                    return Err(err(op, i, libc::EEXIST));
                }
                if qdisc.parent == Handle::ROOT {
                    self.tree = KernelTree::default(); // grafted over the kernel's default root
                } else if !self.class_exists(qdisc.parent) {
                    return Err(err(op, i, libc::ENOENT));
                }
                self.tree.qdiscs.push(QdiscInfo::of_htb(qdisc, 0));
            }
            Op::SetLeaf { parent, leaf } => {
                if self.missing_kinds.contains(leaf.kind()) {
                    return Err(err(op, i, libc::ENOENT));
                }
                if !self.class_exists(*parent) {
                    return Err(err(op, i, libc::ENOENT));
                }
                let old: Vec<Handle> = self
                    .tree
                    .qdiscs
                    .iter()
                    .filter(|q| q.parent == *parent)
                    .map(|q| q.handle)
                    .collect();
                for h in old {
                    self.drop_qdisc(h);
                }
                self.next_auto += 1;
                self.tree.qdiscs.push(QdiscInfo {
                    ifindex: 0,
                    handle: Handle::new(0x8000 + self.next_auto, 0),
                    parent: *parent,
                    kind: leaf.kind().to_string(),
                    htb: None,
                    fifo_limit: match leaf {
                        LeafQdisc::Pfifo { limit } => Some(*limit),
                        LeafQdisc::Other { .. } => None,
                    },
                    stats: Stats::default(),
                });
            }
            Op::DelQdisc { parent, handle } => {
                let h = if *parent == Handle::ROOT {
                    self.tree.root().map(|q| q.handle)
                } else {
                    self.tree
                        .qdiscs
                        .iter()
                        .find(|q| q.handle == *handle && q.parent == *parent)
                        .map(|q| q.handle)
                };
                match h {
                    Some(h) => self.drop_qdisc(h),
                    None => return Err(err(op, i, libc::ENOENT)),
                }
            }
            Op::AddClass(c) => {
                if self.class_exists(c.classid) {
                    return Err(err(op, i, libc::EEXIST));
                }
                let parent_ok = if c.parent.minor() == 0 {
                    self.qdisc_exists(c.parent)
                } else {
                    self.class_exists(c.parent)
                };
                if !parent_ok || !self.qdisc_exists(c.classid.qdisc()) {
                    return Err(err(op, i, libc::ENOENT));
                }
                self.tree.classes.push(ClassInfo::of_htb(c, 0));
            }
            Op::ChangeClass(c) => match self
                .tree
                .classes
                .iter_mut()
                .find(|k| k.classid == c.classid)
            {
                Some(k) => k.htb = Some(*c),
                None => return Err(err(op, i, libc::ENOENT)),
            },
            Op::DelClass(id) => {
                if !self.class_exists(*id) {
                    return Err(err(op, i, libc::ENOENT));
                }
                if self.tree.classes.iter().any(|c| c.parent == *id) {
                    return Err(err(op, i, libc::EBUSY));
                }
                self.drop_class(*id);
            }
        }
        Ok(())
    }
}

impl TcBackend for FakeBackend {
    fn read_qdiscs(&mut self, _ifindex: u32) -> Result<Vec<QdiscInfo>, ShapingError> {
        self.qdisc_reads += 1;
        Ok(self.tree.qdiscs.clone())
    }

    fn read_classes(
        &mut self,
        _ifindex: u32,
        parent: Handle,
    ) -> Result<Vec<ClassInfo>, ShapingError> {
        self.class_reads += 1;
        Ok(self
            .tree
            .classes
            .iter()
            .filter(|c| parent.0 == 0 || c.classid.qdisc() == parent)
            .cloned()
            .collect())
    }

    fn apply(&mut self, _ifindex: u32, ops: &[Op]) -> Result<(), ShapingError> {
        let mut first = None;
        let mut failed = 0;
        for (i, op) in ops.iter().enumerate() {
            self.applied.push(op.clone());
            if let Err(e) = self.apply_one(op, i) {
                failed += 1;
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), |e| Err(e.batch_failed(failed)))
    }

    fn attach_filter(
        &mut self,
        _: u32,
        f: &BpfFilter,
        prog: BorrowedFd<'_>,
    ) -> Result<(), ShapingError> {
        if self.tree.root().is_none() {
            return Err(ShapingError::Kernel {
                index: 0,
                op: "attach filter".into(),
                errno: libc::EINVAL,
                message: "no root qdisc".into(),
                failed: 1,
            });
        }
        self.filters.push((f.clone(), prog.as_raw_fd()));
        Ok(())
    }
}
