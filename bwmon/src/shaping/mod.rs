//! HTB shaping over rtnetlink: the policy decides each slice's ceilings, this module makes the
//! kernel enforce them.
//!
//! - `tree::build` turns node limits and per-slice rates into the desired HTB tree (layout and
//!   what HTB guarantees: see `tree`), with class ids from `alloc::ClassAllocator`;
//! - `diff::diff` compares it with the kernel's tree and yields the fewest operations;
//! - `executor::Shaper` runs build → read → diff → apply through a `TcBackend`:
//!   `netlink::NetlinkBackend` for the kernel, `fake::FakeBackend` for tests;
//! - `htb` encodes and decodes the netlink messages (no `tc` processes anywhere).
pub mod alloc;
pub mod diff;
pub mod executor;
pub mod fake;
pub mod handle;
pub mod htb;
pub mod netlink;
mod nl;
pub mod tree;

pub use alloc::{AllocError, ClassAllocator, SliceClasses};
pub use diff::{KernelTree, Op};
pub use executor::{Shaper, SyncReport, TcBackend};
pub use handle::Handle;
pub use tree::{ClassRates, ExemptClasses, SliceRates, TreeConfig};

/// Everything that can go wrong while shaping.
#[derive(Debug, thiserror::Error)]
pub enum ShapingError {
    #[error(transparent)]
    Alloc(#[from] AllocError),
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("interface {iface} does not exist")]
    NoInterface { iface: String },
    #[error("malformed netlink {0}")]
    Malformed(&'static str),
    /// The kernel refused operation `index` (`op` describes it); `failed` operations of the
    /// batch were refused in all.
    #[error("kernel refused to {op} (op {index}, {failed} failed): {message} (errno {errno})")]
    Kernel {
        index: usize,
        op: String,
        errno: i32,
        message: String,
        failed: usize,
    },
}

/// Removes bwmon's HTB tree from interface `iface` (in this network namespace), leaving any
/// other root qdisc alone. Returns whether there was a tree to remove.
pub fn remove_tree(iface: &str) -> Result<bool, ShapingError> {
    let name = std::ffi::CString::new(iface).map_err(|_| ShapingError::NoInterface {
        iface: iface.to_owned(),
    })?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(ShapingError::NoInterface {
            iface: iface.to_owned(),
        });
    }
    executor::teardown(&mut netlink::NetlinkBackend::new()?, index)
}

impl ShapingError {
    /// The first error of a batch, saying how many of its operations failed in all.
    pub(crate) fn batch_failed(self, failed: usize) -> ShapingError {
        match self {
            ShapingError::Kernel {
                index,
                op,
                errno,
                message,
                ..
            } => ShapingError::Kernel {
                index,
                op,
                errno,
                message,
                failed,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod executor_tests;
#[cfg(test)]
mod fixture_tests;
