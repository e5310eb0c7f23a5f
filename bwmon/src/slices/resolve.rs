//! Turning a slice's `user` or `cgroup` into numbers, behind traits so tests need neither the
//! machine's users nor its cgroups.
use std::ffi::CString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The passwd database.
pub trait UserDb {
    /// The uid of user `name`; `Ok(None)` if there is no such user.
    fn uid(&self, name: &str) -> io::Result<Option<u32>>;
}

/// The cgroup v2 hierarchy.
pub trait CgroupResolver {
    /// The cgroup id (what `bpf_skb_cgroup_id` returns) of `path`, a cgroup written as in
    /// `/proc/<pid>/cgroup`: absolute within the hierarchy, e.g. `/system.slice/web.service`.
    fn cgroup_id(&self, path: &str) -> io::Result<u64>;
}

/// The system's passwd database, through `getpwnam_r` (so NSS modules are honoured).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemUserDb;

/// Largest buffer offered to `getpwnam_r` before giving up with `ERANGE`.
const MAX_PASSWD_BUFFER: usize = 1 << 20;

impl UserDb for SystemUserDb {
    fn uid(&self, name: &str) -> io::Result<Option<u32>> {
        let name =
            CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut buffer = vec![0u8; 1024];
        loop {
            // SAFETY: `passwd` is plain old data (integers and pointers); all-zero is a valid value
            // and getpwnam_r overwrites it before we read it.
            let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            // SAFETY: `name` is NUL-terminated; `entry`, `buffer` (with its true length) and
            // `result` are valid for writes and outlive the call; nothing else aliases them.
            let rc = unsafe {
                libc::getpwnam_r(
                    name.as_ptr(),
                    &mut entry,
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    &mut result,
                )
            };
            match rc {
                0 if result.is_null() => return Ok(None),
                0 => return Ok(Some(entry.pw_uid)),
                // "Not found" as some NSS back ends report it (getpwnam_r(3)).
                libc::ENOENT | libc::ESRCH => return Ok(None),
                libc::ERANGE if buffer.len() < MAX_PASSWD_BUFFER => {
                    let len = buffer.len() * 2;
                    buffer.resize(len, 0);
                }
                errno => return Err(io::Error::from_raw_os_error(errno)),
            }
        }
    }
}

/// The system's cgroup v2 hierarchy, at the mount found in `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemCgroups {
    root: PathBuf,
}

impl SystemCgroups {
    /// Finds the cgroup2 mount (e.g. `/sys/fs/cgroup` on a unified layout,
    /// `/sys/fs/cgroup/unified` on a hybrid one).
    pub fn discover() -> io::Result<SystemCgroups> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        cgroup2_mount(&mountinfo)
            .map(SystemCgroups::at)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "no cgroup2 file system is mounted")
            })
    }

    /// A hierarchy mounted at `root`.
    pub fn at(root: PathBuf) -> SystemCgroups {
        SystemCgroups { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl CgroupResolver for SystemCgroups {
    /// The inode number of the cgroup's directory, which is its cgroup id.
    fn cgroup_id(&self, path: &str) -> io::Result<u64> {
        let dir = self.root.join(path.trim_start_matches('/'));
        let metadata = std::fs::metadata(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        if !metadata.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a cgroup directory", dir.display()),
            ));
        }
        Ok(metadata.ino())
    }
}

/// The mount point of the first cgroup2 file system mounted at its root, from
/// `/proc/self/mountinfo` text (proc(5): `id parent major:minor root mountpoint options
/// [optional fields...] - fstype source superoptions`).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let fstype = right.split(' ').next()?;
        (fstype == "cgroup2" && fields.get(3) == Some(&"/"))
            .then(|| {
                fields
                    .get(4)
                    .map(|mount| PathBuf::from(unescape_octal(mount)))
            })
            .flatten()
    })
}

/// Undoes the kernel's `\ooo` escaping of spaces, tabs, newlines and backslashes in mountinfo.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_cgroup2_mount_of_a_hybrid_layout() {
        assert_eq!(
            cgroup2_mount(HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn skips_bind_mounts_of_a_sub_cgroup_and_unescapes_the_mount_point() {
        let text = "\
50 1 0:38 /sub /mnt/sub rw - cgroup2 cgroup2 rw
51 1 0:38 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw
";
        assert_eq!(cgroup2_mount(text), Some(PathBuf::from("/mnt/my cgroups")));
    }

    #[test]
    fn no_cgroup2_mount_is_none() {
        let text = "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        assert_eq!(cgroup2_mount(text), None);
        assert_eq!(cgroup2_mount(""), None);
    }

    #[test]
    fn system_users_resolve_root_and_not_an_absent_name() {
        assert_eq!(SystemUserDb.uid("root").unwrap(), Some(0));
        assert_eq!(SystemUserDb.uid("bwmon-no-such-user-x").unwrap(), None);
        assert!(SystemUserDb.uid("nul\0inside").is_err());
    }

    #[test]
    fn cgroup_ids_are_directory_inodes_and_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("web")).unwrap();
        std::fs::write(dir.path().join("cgroup.procs"), "").unwrap();
        let cgroups = SystemCgroups::at(dir.path().to_owned());
        let inode = std::fs::metadata(dir.path().join("web")).unwrap().ino();
        assert_eq!(cgroups.cgroup_id("/web").unwrap(), inode);
        assert!(cgroups.cgroup_id("/cgroup.procs").is_err());
        assert_eq!(
            cgroups.cgroup_id("/absent").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn discovers_this_machines_cgroup2_mount() {
        // Every machine this agent supports has a cgroup2 mount; its root cgroup has id 1.
        let cgroups = SystemCgroups::discover().unwrap();
        assert_eq!(cgroups.cgroup_id("/").unwrap(), 1);
    }
}
