//! `BPF_MAP_LOOKUP_BATCH` on per-CPU arrays: aya 0.14 has no batch operations, and reading
//! 100,000 slots key by key costs two syscalls each (PERFORMANCE-FACTS.md: 68 ms vs 25 ms).
use std::os::fd::{AsRawFd, BorrowedFd};

use bwmon_common::Counters;

/// Values per syscall: 256 is as fast as 4096 and keeps the buffers small.
const CHUNK: u32 = 256;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The `batch` member of the kernel's `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Reads and sums over CPUs the first `slots` entries of a `PERCPU_ARRAY<Counters>`.
/// `ncpus` is the number of possible CPUs (the kernel's per-CPU value stride).
pub fn read_percpu_counters(
    fd: BorrowedFd<'_>,
    slots: u32,
    ncpus: usize,
) -> std::io::Result<Vec<Counters>> {
    let mut out = Vec::with_capacity(slots as usize);
    let chunk = CHUNK as usize;
    let mut keys = vec![0u32; chunk];
    let mut values = vec![Counters::default(); chunk * ncpus];
    let mut cursor = 0u32;
    let mut first = true;
    while (out.len() as u32) < slots {
        let want = (slots - out.len() as u32).min(CHUNK);
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &cursor as *const u32 as u64
            },
            out_batch: &mut cursor as *mut u32 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: want,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: `attr` describes buffers that outlive the call: `keys` holds CHUNK u32 keys,
        // `values` CHUNK * ncpus values of the map's value size (Counters is 32 bytes, already a
        // multiple of 8, the kernel's per-CPU stride), `count` <= CHUNK; the cursor is a u32 key.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>(),
            )
        };
        let done = if rc < 0 {
            let err = std::io::Error::last_os_error();
            // ENOENT: the end of the map was reached; `count` says how many were copied.
            if err.raw_os_error() != Some(libc::ENOENT) {
                return Err(err);
            }
            true
        } else {
            false
        };
        for per_cpu in values.chunks(ncpus).take(attr.count as usize) {
            out.push(sum(per_cpu));
        }
        if done || attr.count == 0 {
            break;
        }
        first = false;
    }
    out.truncate(slots as usize);
    Ok(out)
}

/// Sums one slot's per-CPU values.
pub fn sum(per_cpu: &[Counters]) -> Counters {
    per_cpu.iter().fold(Counters::default(), |mut acc, c| {
        for class in 0..2 {
            acc.bytes[class] = acc.bytes[class].wrapping_add(c.bytes[class]);
            acc.packets[class] = acc.packets[class].wrapping_add(c.packets[class]);
        }
        acc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_cpu_and_class() {
        let a = Counters {
            bytes: [1, 10],
            packets: [2, 20],
        };
        let b = Counters {
            bytes: [100, 1000],
            packets: [200, 2000],
        };
        assert_eq!(
            sum(&[a, b]),
            Counters {
                bytes: [101, 1010],
                packets: [202, 2020]
            }
        );
        assert_eq!(sum(&[]), Counters::default());
    }

    #[test]
    fn attr_matches_the_kernel_layout() {
        // union bpf_attr's batch member: 6 u64-sized fields with count/map_fd packed in one.
        assert_eq!(std::mem::size_of::<BatchAttr>(), 56);
    }
}
