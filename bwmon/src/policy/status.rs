//! The per-slice status view (`bwmon status --json`), read from the policy state.
use serde::{Deserialize, Serialize};

use super::clock::period_end;
use super::decide::Policy;
use super::state::SliceRecord;

/// One slice as of the last sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceStatus {
    pub name: String,
    pub xid: u32,
    /// Whether the slice is in the slice list (false: a dead record kept until `period_end`).
    pub live: bool,
    /// Normal-class bytes used in the period.
    pub bytes: u64,
    /// Exempt-class bytes used in the period.
    pub exempt_bytes: u64,
    pub byte_limit: u64,
    pub exempt_byte_limit: u64,
    /// Normal-class threshold, bytes.
    pub threshold: u64,
    /// Exempt-class threshold, bytes.
    pub exempt_threshold: u64,
    pub ceil_bps: u64,
    pub exempt_ceil_bps: u64,
    pub capped: bool,
    pub exempt_capped: bool,
    /// Unix seconds.
    pub period_start: u64,
    /// Unix seconds.
    pub period_end: u64,
    pub notified: bool,
}

impl Policy {
    /// Every slice, live ones first, each group sorted by name.
    pub fn status(&self) -> Vec<SliceStatus> {
        let period = self.config().period();
        let state = self.state();
        let live = state
            .live
            .iter()
            .map(|(n, r)| status_of(n, r, true, period));
        let dead = state
            .dead
            .iter()
            .map(|(n, r)| status_of(n, r, false, period));
        live.chain(dead).collect()
    }
}

fn status_of(name: &str, r: &SliceRecord, live: bool, period: u64) -> SliceStatus {
    SliceStatus {
        name: name.to_owned(),
        xid: r.xid,
        live,
        bytes: r.used.normal,
        exempt_bytes: r.used.exempt,
        byte_limit: r.limits.normal.max_bytes,
        exempt_byte_limit: r.limits.exempt.max_bytes,
        threshold: r.limits.normal.threshold_bytes,
        exempt_threshold: r.limits.exempt.threshold_bytes,
        ceil_bps: r.ceil_bps.normal,
        exempt_ceil_bps: r.ceil_bps.exempt,
        capped: r.capped.normal,
        exempt_capped: r.capped.exempt,
        period_start: r.period_start,
        period_end: period_end(r.period_start, period),
        notified: r.notified,
    }
}
