//! The BPF filesystem that holds bwmon's pinned maps and links.
use std::{ffi::CString, os::unix::ffi::OsStrExt, path::Path};

use super::AccountingError;

const BPF_FS_MAGIC: libc::c_long = 0xcafe4a11;

/// Whether `path` lies on a bpffs.
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path and `st` a properly sized out-parameter.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as libc::c_long == BPF_FS_MAGIC
    }
}

/// Makes sure `pin_dir` exists on a bpffs, mounting one at its mount point (the first existing
/// ancestor that is not bpffs, normally `/sys/fs/bpf`) when none is mounted.
pub fn ensure_pin_dir(pin_dir: &Path) -> Result<(), AccountingError> {
    let mount_point = pin_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    if !is_bpffs(mount_point) {
        let target =
            if mount_point == Path::new("/sys/fs/bpf") || pin_dir.starts_with("/sys/fs/bpf") {
                Path::new("/sys/fs/bpf")
            } else {
                return Err(AccountingError::NotBpffs {
                    path: pin_dir.to_owned(),
                });
            };
        mount_bpffs(target)?;
    }
    std::fs::create_dir_all(pin_dir).map_err(|source| AccountingError::Io {
        what: "create the pin directory",
        path: pin_dir.to_owned(),
        source,
    })
}

fn mount_bpffs(target: &Path) -> Result<(), AccountingError> {
    let io = |source| AccountingError::Io {
        what: "mount bpffs",
        path: target.to_owned(),
        source,
    };
    let dir = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| io(std::io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: all arguments are NUL-terminated strings that outlive the call; no data argument.
    let rc = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            dir.as_ptr(),
            c"bpf".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    tracing::info!(path = %target.display(), "mounted bpffs");
    Ok(())
}
