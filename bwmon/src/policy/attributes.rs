//! Per-slice budget attributes, as the slice list and the `[defaults]` config table give them.
//!
//! Units are the seed's: rates in kbit/s (1 kbit = 1000 bit), volumes in KByte (1 KByte = 1024
//! bytes). Every field is optional: a missing one falls back to the node default, then to the
//! built-in default.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    /// Guaranteed rate of the normal class, kbit/s (clamped to 25% of the node cap).
    pub net_min_rate: Option<u64>,
    /// Ceiling of the normal class when not capped, kbit/s (default: the node cap).
    pub net_max_rate: Option<u64>,
    /// Guaranteed rate of the exempt class, kbit/s.
    pub net_i2_min_rate: Option<u64>,
    /// Ceiling of the exempt class when not capped, kbit/s (default: the hardware maximum).
    pub net_i2_max_rate: Option<u64>,
    /// Normal-class volume allowed per period, KByte.
    pub net_max_kbyte: Option<u64>,
    /// Exempt-class volume allowed per period, KByte.
    pub net_i2_max_kbyte: Option<u64>,
    /// Normal-class volume after which the ceiling is lowered, KByte (default 80% of max).
    pub net_thresh_kbyte: Option<u64>,
    /// Exempt-class threshold, KByte.
    pub net_i2_thresh_kbyte: Option<u64>,
    /// Share (HTB quantum weight) of the normal class.
    pub net_share: Option<u32>,
    /// Share of the exempt class.
    pub net_i2_share: Option<u32>,
}
