//! A bpffs pin directory unique to one test, removed (detaching everything bwmon pinned there)
//! when the guard drops.
use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use bwmon::accounting::{Options, SliceIdMode};

static NEXT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
pub struct PinDir(PathBuf);

impl PinDir {
    pub fn new(tag: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(PathBuf::from(format!(
            "/sys/fs/bpf/bwmon-test-{tag}-{}-{n}",
            std::process::id()
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Load options for a test: small maps, this directory.
    pub fn options(&self, mode: SliceIdMode) -> Options {
        Options {
            mode,
            pin_dir: self.0.clone(),
            max_slices: 64,
            dense_xids: 8192,
            ebpf_log: false,
            bench_keys: None,
        }
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = bwmon::accounting::teardown(&self.0);
    }
}
