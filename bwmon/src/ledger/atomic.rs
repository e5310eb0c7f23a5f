//! Crash-safe file replacement: a crash at any instant leaves the old file or the new one.
//!
//! The new content goes to a temporary file in the same directory (same filesystem, so the
//! rename is atomic), is flushed to disk, renamed over the target, and the directory is flushed
//! so the rename itself is durable. One writer at a time: the temporary name is fixed, and a
//! leftover from a crash is simply overwritten.
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::LedgerError;

/// The directory holding `path` ("." for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The temporary file used while replacing `path`.
pub(crate) fn temp_path(path: &Path) -> Result<PathBuf, LedgerError> {
    let name = path.file_name().ok_or_else(|| LedgerError::NoFileName {
        path: path.to_owned(),
    })?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(".tmp");
    Ok(parent_dir(path).join(temp))
}

/// Replaces `path` with `bytes` atomically and durably.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let temp = temp_path(path)?;
    let written = File::create(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(source) = written {
        // Best effort: the temporary file is garbage either way and the target is untouched.
        let _ = fs::remove_file(&temp);
        return Err(LedgerError::Write { path: temp, source });
    }
    if let Err(source) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(LedgerError::Rename {
            from: temp,
            to: path.to_owned(),
            source,
        });
    }
    sync_dir(parent_dir(path))
}

/// Flushes a directory's entries (after a rename in it).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| LedgerError::SyncDir {
            path: dir.to_owned(),
            source,
        })
}
