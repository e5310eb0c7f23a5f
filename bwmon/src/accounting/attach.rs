//! tcx attachment at egress, pinned so that it outlives the agent.
//!
//! tcx (kernel ≥ 6.6) is multi-program: bwmon's program coexists with any other tc program on the
//! interface, clsact or tcx. It is placed first so that nothing ahead of it can pass a packet
//! uncounted, and it returns "next" so that every program after it still runs.
use std::path::{Path, PathBuf};

use aya::programs::{
    LinkOrder, SchedClassifier, TcAttachType,
    links::{FdLink, PinnedLink},
    tc::{SchedClassifierLink, TcAttachOptions},
};

use super::{AccountingError, sys};

/// What `attach` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachOutcome {
    /// A new link was made and pinned.
    Attached,
    /// bwmon's pinned link was already on the interface; it now runs this agent's program.
    Adopted,
}

fn link_err(
    iface: &str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> AccountingError {
    let iface = iface.to_owned();
    move |source| AccountingError::Link { iface, source }
}

/// Pin of the egress link on interface `iface` whose index is `ifindex`: the index is part of the
/// name so that a link left on a deleted interface is never mistaken for one on its successor.
fn link_pin(pin_dir: &Path, iface: &str, ifindex: u32) -> PathBuf {
    pin_dir.join(format!("link-egress-{iface}-{ifindex}"))
}

fn stale_pins(pin_dir: &Path, iface: &str, keep: &Path) -> Vec<PathBuf> {
    let prefix = format!("link-egress-{iface}-");
    std::fs::read_dir(pin_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p != keep
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.strip_prefix(&prefix)
                        .is_some_and(|i| i.parse::<u32>().is_ok())
                })
        })
        .collect()
}

fn ifindex(iface: &str) -> Result<u32, AccountingError> {
    let name = std::ffi::CString::new(iface).map_err(|e| link_err(iface)(Box::new(e)))?;
    // SAFETY: `name` is a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(link_err(iface)(Box::new(std::io::Error::last_os_error())));
    }
    Ok(index)
}

pub(super) fn attach(
    program: &mut SchedClassifier,
    iface: &str,
    pin_dir: &Path,
) -> Result<AttachOutcome, AccountingError> {
    let index = ifindex(iface)?;
    let pin = link_pin(pin_dir, iface, index);
    for stale in stale_pins(pin_dir, iface, &pin) {
        tracing::warn!(pin = %stale.display(), iface, "removing the link of an interface that is gone");
        let _ = std::fs::remove_file(stale);
    }
    let err = link_err(iface);
    if pin.exists() {
        let pinned = PinnedLink::from_pin(&pin).map_err(|e| link_err(iface)(Box::new(e)))?;
        let fd_link: FdLink = pinned.into();
        let link =
            SchedClassifierLink::try_from(fd_link).map_err(|e| link_err(iface)(Box::new(e)))?;
        // The pin file keeps naming the same kernel link, which now runs this program.
        program.attach_to_link(link).map_err(|e| err(Box::new(e)))?;
        return Ok(AttachOutcome::Adopted);
    }
    let id = program
        .attach_with_options(
            iface,
            TcAttachType::Egress,
            TcAttachOptions::TcxOrder(LinkOrder::first()),
        )
        .map_err(|e| link_err(iface)(Box::new(e)))?;
    let link = program
        .take_link(id)
        .map_err(|e| link_err(iface)(Box::new(e)))?;
    let fd_link = FdLink::try_from(link).map_err(|e| link_err(iface)(Box::new(e)))?;
    fd_link.pin(&pin).map_err(|e| err(Box::new(e)))?;
    Ok(AttachOutcome::Attached)
}

/// Detaches bwmon from `iface`: removing the last reference to the pinned link detaches it.
pub fn detach(pin_dir: &Path, iface: &str) -> Result<bool, AccountingError> {
    let mut any = false;
    for pin in stale_pins(pin_dir, iface, Path::new("")) {
        remove(&pin)?;
        any = true;
    }
    Ok(any)
}

/// Removes everything bwmon pinned under `pin_dir`: links (which detaches the program) and maps
/// (which frees the counters), then the directory.
pub fn teardown(pin_dir: &Path) -> Result<usize, AccountingError> {
    let Ok(entries) = std::fs::read_dir(pin_dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        remove(&entry.path())?;
        removed += 1;
    }
    std::fs::remove_dir(pin_dir).map_err(|source| AccountingError::Io {
        what: "remove",
        path: pin_dir.to_owned(),
        source,
    })?;
    Ok(removed)
}

/// Removes a pin; a link is first detached explicitly (`BPF_LINK_DETACH`), because the last
/// reference of an unpinned link goes away only after an RCU grace period.
fn remove(path: &Path) -> Result<(), AccountingError> {
    let is_link = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("link-"));
    if is_link && let Err(source) = sys::detach_pinned_link(path) {
        tracing::warn!(path = %path.display(), %source, "cannot detach link; unpinning it");
    }
    std::fs::remove_file(path).map_err(|source| AccountingError::Io {
        what: "remove",
        path: path.to_owned(),
        source,
    })
}
