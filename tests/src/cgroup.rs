//! Test cgroups under the cgroup v2 hierarchy, removed when the guard drops.
use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{Context, Result};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Where cgroup2 is mounted (`/sys/fs/cgroup/unified` on a hybrid layout).
pub fn v2_root() -> Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    info.lines()
        .find_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mount_point = pre.split_whitespace().nth(4)?;
            (post.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .context("cgroup2 is not mounted")
}

#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    pub fn new(tag: &str) -> Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = v2_root()?.join(format!("bwmon-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&path).with_context(|| format!("mkdir {}", path.display()))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The cgroup v2 id: the directory's inode number.
    pub fn id(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(&self.path)?.ino())
    }

    /// `cgroup.procs` of this cgroup (a child writes "0" there to move itself).
    pub fn procs(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Processes must have left; retry briefly while the last one exits.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
