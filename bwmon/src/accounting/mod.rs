//! Kernel-side accounting from user space: load the tc program, pin its maps and links in bpffs,
//! attach it (or adopt the one already attached), fill its maps and read its counters.
//!
//! Restarting the agent loses no counted byte: the maps and the tcx links are pinned, so the
//! program keeps counting while no agent runs, and a new agent reuses the pinned maps and swaps
//! its program into the pinned links atomically (`bpf_link_update`), never detaching.
mod attach;
pub mod batch;
pub mod bpffs;
pub mod exempt;
mod sys;

use std::path::PathBuf;

pub use crate::config::SliceIdMode;
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, IterableMap, MapData, MapError, PerCpuArray},
    programs::{ProgramError, SchedClassifier},
};
pub use bwmon_common::{Counters, SlotClass};
use bwmon_common::{
    GLOBAL_MODE, MAP_CGROUP_XID, MAP_COUNTERS, MAP_SLOT_CLASS, MAP_XID_SLOT, MAP_XID_SPARSE,
    PROGRAM_NAME,
};

pub use attach::{AttachOutcome, detach, teardown};
pub use exempt::{Change as ExemptChange, ExemptRule};

/// The eBPF object built by `cargo xtask build-ebpf`, embedded at build time (empty when the
/// agent was built without it).
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bwmon.bpf.o"));

/// Load-time settings.
#[derive(Clone, Debug)]
pub struct Options {
    pub mode: SliceIdMode,
    /// bpffs directory of the pinned maps and links (one per agent instance).
    pub pin_dir: PathBuf,
    /// Slots in the counter map (slices + `root` + `default`).
    pub max_slices: u32,
    /// xids below this are looked up in a dense array (no hash lookup per packet).
    pub dense_xids: u32,
    /// Kernel-side debug logs through aya-log (off: they cost nothing per packet).
    pub ebpf_log: bool,
    /// Benchmarks only: rotate over this many xids per packet instead of finding the slice.
    pub bench_keys: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountingError {
    #[error(
        "this bwmon binary was built without its eBPF object: run `cargo xtask build-ebpf`, then rebuild"
    )]
    NoObject,
    #[error("{path} is not on a bpffs and no bpffs can be mounted there")]
    NotBpffs { path: PathBuf },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot load the eBPF object (pins in {pin_dir}): {source}")]
    Load {
        pin_dir: PathBuf,
        #[source]
        source: Box<aya::EbpfError>,
    },
    #[error("the eBPF object has no {kind} named {name}")]
    Missing {
        kind: &'static str,
        name: &'static str,
    },
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("interface {iface}: {source}")]
    Link {
        iface: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot count possible CPUs ({path}): {source}")]
    Cpus {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("slot {slot} is beyond the counter map's {max} entries")]
    SlotOutOfRange { slot: u32, max: u32 },
    #[error("reading counters: {source}")]
    Read {
        #[source]
        source: std::io::Error,
    },
}

fn map_err(map: &'static str) -> impl FnOnce(MapError) -> AccountingError {
    move |source| AccountingError::Map {
        map,
        source: Box::new(source),
    }
}

/// The loaded program and its maps.
pub struct Accounting {
    ebpf: Ebpf,
    opts: Options,
    ncpus: usize,
    max_slots: u32,
    dense_xids: u32,
}

impl Accounting {
    /// Loads the embedded object, reusing the maps pinned in `opts.pin_dir` if there are any.
    pub fn load(opts: Options) -> Result<Self, AccountingError> {
        Self::load_object(EBPF_OBJECT, opts)
    }

    /// Loads a given object (tests and benchmarks load the one `xtask` built).
    pub fn load_object(object: &[u8], opts: Options) -> Result<Self, AccountingError> {
        if object.is_empty() {
            return Err(AccountingError::NoObject);
        }
        bpffs::ensure_pin_dir(&opts.pin_dir)?;
        let mode = match opts.bench_keys {
            Some(_) => bwmon_common::MODE_BENCH,
            None => opts.mode.kernel_mode(),
        };
        let bench_keys = opts.bench_keys.unwrap_or(1);
        let log_level: u8 = if opts.ebpf_log { 0xff } else { 0 };
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&opts.pin_dir)
            .override_global(GLOBAL_MODE, &mode, true)
            .override_global(bwmon_common::GLOBAL_BENCH_KEYS, &bench_keys, true)
            .override_global("AYA_LOG_LEVEL", &log_level, false)
            .map_max_entries(MAP_COUNTERS, opts.max_slices)
            .map_max_entries(MAP_SLOT_CLASS, opts.max_slices)
            .map_max_entries(MAP_XID_SLOT, opts.dense_xids.max(1))
            .map_max_entries(MAP_XID_SPARSE, opts.max_slices)
            .map_max_entries(MAP_CGROUP_XID, opts.max_slices)
            .load(object)
            .map_err(|source| AccountingError::Load {
                pin_dir: opts.pin_dir.clone(),
                source: Box::new(source),
            })?;
        if opts.ebpf_log
            && let Err(error) = aya_log::EbpfLogger::init(&mut ebpf)
        {
            tracing::warn!(%error, "kernel-side logging unavailable");
        }
        let program: &mut SchedClassifier = program_mut(&mut ebpf)?;
        program.load().map_err(|source| AccountingError::Program {
            name: PROGRAM_NAME,
            source: Box::new(source),
        })?;
        let ncpus = aya::util::nr_cpus()
            .map_err(|(path, source)| AccountingError::Cpus { path, source })?;
        let max_slots = max_entries(&ebpf, MAP_COUNTERS)?;
        let dense_xids = max_entries(&ebpf, MAP_XID_SLOT)?;
        if max_slots != opts.max_slices || dense_xids != opts.dense_xids.max(1) {
            tracing::warn!(
                max_slots,
                dense_xids,
                "adopted pinned maps sized differently from the config; they keep their size until `bwmon teardown`"
            );
        }
        let mut acc = Self {
            ebpf,
            opts,
            ncpus,
            max_slots,
            dense_xids,
        };
        acc.init_reserved()?;
        Ok(acc)
    }

    /// `root` is xid 0 in uid mode; in mark mode an unmarked packet belongs to `default`.
    fn init_reserved(&mut self) -> Result<(), AccountingError> {
        let root_slot = match self.opts.mode {
            SliceIdMode::Uid | SliceIdMode::Cgroup => bwmon_common::SLOT_ROOT,
            SliceIdMode::Mark => bwmon_common::SLOT_DEFAULT,
        };
        self.set_xid_slot(0, root_slot)
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Slots the counter map holds.
    pub fn max_slots(&self) -> u32 {
        self.max_slots
    }

    /// The loaded classifier, e.g. for `BPF_PROG_TEST_RUN`.
    pub fn program(&self) -> Result<&SchedClassifier, AccountingError> {
        self.ebpf
            .program(PROGRAM_NAME)
            .and_then(|p| p.try_into().ok())
            .ok_or(AccountingError::Missing {
                kind: "program",
                name: PROGRAM_NAME,
            })
    }

    /// Another classifier of the object (`bwmon_shard`, `bwmon_noop`), loaded on first use.
    pub fn classifier_mut(
        &mut self,
        name: &'static str,
    ) -> Result<&mut SchedClassifier, AccountingError> {
        let program: &mut SchedClassifier = self
            .ebpf
            .program_mut(name)
            .and_then(|p| p.try_into().ok())
            .ok_or(AccountingError::Missing {
                kind: "program",
                name,
            })?;
        if program.fd().is_err() {
            program.load().map_err(|source| AccountingError::Program {
                name,
                source: Box::new(source),
            })?;
        }
        Ok(program)
    }

    /// Attaches to `iface` at tc egress, or adopts bwmon's link already there.
    pub fn attach(&mut self, iface: &str) -> Result<AttachOutcome, AccountingError> {
        let pin_dir = self.opts.pin_dir.clone();
        attach::attach(program_mut(&mut self.ebpf)?, iface, &pin_dir)
    }

    /// Sends `xid`'s packets to `slot`.
    pub fn set_xid_slot(&mut self, xid: u32, slot: u32) -> Result<(), AccountingError> {
        if slot >= self.max_slots {
            return Err(AccountingError::SlotOutOfRange {
                slot,
                max: self.max_slots,
            });
        }
        if xid < self.dense_xids {
            let mut dense: Array<_, u32> = self.typed_map(MAP_XID_SLOT)?;
            dense.set(xid, slot, 0).map_err(map_err(MAP_XID_SLOT))
        } else {
            let mut sparse: HashMap<_, u32, u32> = self.typed_map(MAP_XID_SPARSE)?;
            sparse.insert(xid, slot, 0).map_err(map_err(MAP_XID_SPARSE))
        }
    }

    /// Forgets `xid`: its packets go to `default` again.
    pub fn clear_xid(&mut self, xid: u32) -> Result<(), AccountingError> {
        if xid < self.dense_xids {
            let mut dense: Array<_, u32> = self.typed_map(MAP_XID_SLOT)?;
            dense
                .set(xid, bwmon_common::SLOT_DEFAULT, 0)
                .map_err(map_err(MAP_XID_SLOT))
        } else {
            let mut sparse: HashMap<_, u32, u32> = self.typed_map(MAP_XID_SPARSE)?;
            match sparse.remove(&xid) {
                Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
                Err(e) => Err(map_err(MAP_XID_SPARSE)(e)),
            }
        }
    }

    /// Every xid → slot assignment in the maps (dense entries that are not `default`, then the
    /// sparse ones): what an agent adopting pinned maps starts from.
    pub fn xid_slots(&self) -> Result<Vec<(u32, u32)>, AccountingError> {
        let dense: Array<_, u32> = self.typed_map_ref(MAP_XID_SLOT)?;
        let mut all = Vec::new();
        for (xid, slot) in dense.iter().enumerate() {
            let slot = slot.map_err(map_err(MAP_XID_SLOT))?;
            if slot != bwmon_common::SLOT_DEFAULT {
                all.push((xid as u32, slot));
            }
        }
        let sparse: HashMap<_, u32, u32> = self.typed_map_ref(MAP_XID_SPARSE)?;
        for entry in sparse.iter() {
            all.push(entry.map_err(map_err(MAP_XID_SPARSE))?);
        }
        Ok(all)
    }

    /// Where `slot`'s packets are steered (class ids per class; 0 = leave `skb->priority`).
    pub fn set_slot_class(&mut self, slot: u32, class: SlotClass) -> Result<(), AccountingError> {
        let mut map: Array<_, SlotClass> = self.typed_map(MAP_SLOT_CLASS)?;
        map.set(slot, class, 0).map_err(map_err(MAP_SLOT_CLASS))
    }

    /// In cgroup mode: packets from cgroup `id` belong to `xid`.
    pub fn set_cgroup(&mut self, id: u64, xid: u32) -> Result<(), AccountingError> {
        let mut map: HashMap<_, u64, u32> = self.typed_map(MAP_CGROUP_XID)?;
        map.insert(id, xid, 0).map_err(map_err(MAP_CGROUP_XID))
    }

    pub fn remove_cgroup(&mut self, id: u64) -> Result<(), AccountingError> {
        let mut map: HashMap<_, u64, u32> = self.typed_map(MAP_CGROUP_XID)?;
        match map.remove(&id) {
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_err(MAP_CGROUP_XID)(e)),
        }
    }

    /// Makes the exempt tries hold exactly `rules` (changing only what differs).
    pub fn set_exempt(&mut self, rules: &[ExemptRule]) -> Result<ExemptChange, AccountingError> {
        exempt::sync(&mut self.ebpf, rules)
    }

    /// Counters of slots `0..slots`, summed over CPUs, with batch reads.
    pub fn read_counters(&self, slots: u32) -> Result<Vec<Counters>, AccountingError> {
        let map: PerCpuArray<_, Counters> = self.typed_map_ref(MAP_COUNTERS)?;
        let fd = map.map().fd();
        batch::read_percpu_counters(
            std::os::fd::AsFd::as_fd(fd),
            slots.min(self.max_slots),
            self.ncpus,
        )
        .map_err(|source| AccountingError::Read { source })
    }

    /// The same, one lookup per slot: the baseline the batch read is measured against.
    pub fn read_counters_by_key(&self, slots: u32) -> Result<Vec<Counters>, AccountingError> {
        let map: PerCpuArray<_, Counters> = self.typed_map_ref(MAP_COUNTERS)?;
        (0..slots.min(self.max_slots))
            .map(|slot| {
                let values = map.get(&slot, 0).map_err(map_err(MAP_COUNTERS))?;
                Ok(batch::sum(&values))
            })
            .collect()
    }

    fn typed_map<'a, M>(&'a mut self, name: &'static str) -> Result<M, AccountingError>
    where
        M: TryFrom<&'a mut aya::maps::Map, Error = MapError>,
    {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(AccountingError::Missing { kind: "map", name })?;
        M::try_from(map).map_err(map_err(name))
    }

    fn typed_map_ref<'a, M>(&'a self, name: &'static str) -> Result<M, AccountingError>
    where
        M: TryFrom<&'a aya::maps::Map, Error = MapError>,
    {
        let map = self
            .ebpf
            .map(name)
            .ok_or(AccountingError::Missing { kind: "map", name })?;
        M::try_from(map).map_err(map_err(name))
    }
}

fn program_mut(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, AccountingError> {
    ebpf.program_mut(PROGRAM_NAME)
        .and_then(|p| p.try_into().ok())
        .ok_or(AccountingError::Missing {
            kind: "program",
            name: PROGRAM_NAME,
        })
}

fn max_entries(ebpf: &Ebpf, name: &'static str) -> Result<u32, AccountingError> {
    let map = ebpf
        .map(name)
        .ok_or(AccountingError::Missing { kind: "map", name })?;
    let data: &MapData = match map {
        aya::maps::Map::PerCpuArray(d) | aya::maps::Map::Array(d) => d,
        _ => {
            return Err(AccountingError::Missing {
                kind: "array map",
                name,
            });
        }
    };
    Ok(data.info().map_err(map_err(name))?.max_entries())
}
