//! The policy's state: everything a sync needs from the previous one. It is the ledger's content,
//! so a restart from the ledger makes the same decisions as no restart.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PerClass;
use super::limits::ClassLimits;

/// Per-slice records, keyed by slice name, plus the time of the last sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyState {
    /// `now` of the last sync, unix seconds: detects backward clock steps.
    pub last_sync: Option<u64>,
    /// Slices in the current slice list.
    pub live: BTreeMap<String, SliceRecord>,
    /// Slices that left the list, kept until their period ends.
    pub dead: BTreeMap<String, SliceRecord>,
}

/// One slice's budget period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceRecord {
    /// The slice's id when last seen.
    pub xid: u32,
    /// Start of the current period, unix seconds.
    pub period_start: u64,
    /// Bytes used in the current period.
    pub used: PerClass<u64>,
    /// The kernel's cumulative counters at the last sync.
    pub last_counter: PerClass<u64>,
    /// Whether the slice was notified in the current period.
    pub notified: bool,
    /// Whether each class was capped at the last sync.
    pub capped: PerClass<bool>,
    /// The ceilings decided at the last sync, bit/s.
    pub ceil_bps: PerClass<u64>,
    /// The effective limits at the last sync.
    pub limits: PerClass<ClassLimits>,
}

impl SliceRecord {
    /// A record for a slice first seen at `now`, whose counters read `counters`: usage starts at 0
    /// from those values.
    pub(crate) fn fresh(
        xid: u32,
        now: u64,
        counters: PerClass<u64>,
        limits: PerClass<ClassLimits>,
    ) -> Self {
        SliceRecord {
            xid,
            period_start: now,
            used: PerClass::default(),
            last_counter: counters,
            notified: false,
            capped: PerClass::default(),
            ceil_bps: PerClass::new(limits.normal.max_rate_bps, limits.exempt.max_rate_bps),
            limits,
        }
    }
}
