//! Effective limits: a slice's attributes, falling back to the node defaults, then to built-ins.
//!
//! Units: attributes are in kbit/s (1 kbit = 1000 bit) and KByte (1 KByte = 1024 bytes); effective
//! limits are in bit/s and bytes, as `u64`, converted with saturating arithmetic.
//!
//! Rules, per class (normal / exempt):
//! - **class cap**: the node cap for the normal class, the hardware maximum for the exempt class.
//! - **max rate**: attribute, else node default, else the class cap; then clamped to the class cap
//!   (a higher ceiling could never be reached: the node-level class holds it back).
//! - **min rate**: attribute, else node default, else 0; clamped to 25% of the class cap. The seed
//!   clamps only the normal class (to 25% of the node cap); here the exempt class is clamped too,
//!   to 25% of the hardware maximum, so that guarantees can never promise a slice the whole link.
//! - **max below min**: after the clamps above, a max rate below the min rate is raised to the min
//!   rate (the guarantee wins; it is already bounded by 25% of the class cap). HTB requires
//!   `ceil >= rate`, and the capped ceiling is clamped to `[min, max]`, so this keeps that
//!   interval non-empty.
//! - **max bytes**: attribute, else node default, else 5662310 KByte (normal) / 17196646 KByte
//!   (exempt).
//! - **threshold**: the slice's own attribute; else, only if the slice does not set its own max
//!   bytes, the node default threshold; else 80% of the effective max bytes. A slice that sets
//!   its own volume gets 80% of *its* volume rather than a node threshold meant for another
//!   volume. The threshold is clamped to the max bytes.
//! - **share**: attribute, else node default, else 1; at least 1 (HTB quantum weight).
use serde::{Deserialize, Serialize};

use super::{Attributes, Class, PerClass};

/// Built-in normal-class volume per period, KByte (5.4 GiB).
pub const DEFAULT_MAX_KBYTE: u64 = 5_662_310;
/// Built-in exempt-class volume per period, KByte (16.4 GiB).
pub const DEFAULT_I2_MAX_KBYTE: u64 = 17_196_646;
/// Built-in share.
pub const DEFAULT_SHARE: u32 = 1;
/// Built-in period: one day.
pub const DEFAULT_PERIOD_SECS: u64 = 86_400;

const BITS_PER_KBIT: u64 = 1000;
const BYTES_PER_KBYTE: u64 = 1024;

/// Node-level inputs of the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// The node bandwidth cap, bit/s: the default max rate of the normal class.
    pub node_cap_bps: u64,
    /// The hardware maximum, bit/s: the default max rate of the exempt class.
    pub hardware_max_bps: u64,
    /// Length of a budget period, seconds (0 is treated as 1).
    pub period_secs: u64,
    /// The `[defaults]` table: node-wide attribute defaults.
    pub defaults: Attributes,
}

impl PolicyConfig {
    /// A configuration with the default period and no node defaults.
    pub fn new(node_cap_bps: u64, hardware_max_bps: u64) -> Self {
        PolicyConfig {
            node_cap_bps,
            hardware_max_bps,
            period_secs: DEFAULT_PERIOD_SECS,
            defaults: Attributes::default(),
        }
    }

    /// The period in seconds, never 0.
    pub fn period(&self) -> u64 {
        self.period_secs.max(1)
    }

    /// The node-level cap of a class, bit/s.
    pub fn class_cap_bps(&self, class: Class) -> u64 {
        match class {
            Class::Normal => self.node_cap_bps,
            Class::Exempt => self.hardware_max_bps,
        }
    }

    /// The effective limits of a slice with these attributes.
    pub fn limits(&self, attrs: &Attributes) -> PerClass<ClassLimits> {
        PerClass::from_fn(|class| self.class_limits(attrs, class))
    }

    fn class_limits(&self, attrs: &Attributes, class: Class) -> ClassLimits {
        let own = ClassAttrs::of(attrs, class);
        let node = ClassAttrs::of(&self.defaults, class);
        let cap = self.class_cap_bps(class);
        let kbit = |v: u64| v.saturating_mul(BITS_PER_KBIT);
        let kbyte = |v: u64| v.saturating_mul(BYTES_PER_KBYTE);

        let min_rate_bps = kbit(own.min_rate.or(node.min_rate).unwrap_or(0)).min(cap / 4);
        let max_rate_bps = own
            .max_rate
            .or(node.max_rate)
            .map_or(cap, kbit)
            .min(cap)
            .max(min_rate_bps);
        let builtin_max = match class {
            Class::Normal => DEFAULT_MAX_KBYTE,
            Class::Exempt => DEFAULT_I2_MAX_KBYTE,
        };
        let max_bytes = kbyte(own.max_kbyte.or(node.max_kbyte).unwrap_or(builtin_max));
        let thresh_kbyte = match own.max_kbyte {
            Some(_) => own.thresh_kbyte,
            None => own.thresh_kbyte.or(node.thresh_kbyte),
        };
        let threshold_bytes = thresh_kbyte
            .map_or_else(|| eighty_percent(max_bytes), kbyte)
            .min(max_bytes);
        let share = own.share.or(node.share).unwrap_or(DEFAULT_SHARE).max(1);
        ClassLimits {
            min_rate_bps,
            max_rate_bps,
            max_bytes,
            threshold_bytes,
            share,
        }
    }
}

/// 80% of `bytes`, rounded down, without overflow.
fn eighty_percent(bytes: u64) -> u64 {
    // bytes / 5 * 4 + (bytes % 5) * 4 / 5 == floor(bytes * 4 / 5), and no term can overflow.
    bytes / 5 * 4 + (bytes % 5) * 4 / 5
}

/// The effective limits of one class of one slice, in bit/s and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassLimits {
    /// Guaranteed rate (HTB `rate`), bit/s. Always `<= max_rate_bps`.
    pub min_rate_bps: u64,
    /// Ceiling when not capped (HTB `ceil`), bit/s.
    pub max_rate_bps: u64,
    /// Volume allowed per period, bytes.
    pub max_bytes: u64,
    /// Volume after which the ceiling is lowered, bytes. Always `<= max_bytes`.
    pub threshold_bytes: u64,
    /// HTB quantum weight, at least 1.
    pub share: u32,
}

/// The attributes that concern one class.
struct ClassAttrs {
    min_rate: Option<u64>,
    max_rate: Option<u64>,
    max_kbyte: Option<u64>,
    thresh_kbyte: Option<u64>,
    share: Option<u32>,
}

impl ClassAttrs {
    fn of(a: &Attributes, class: Class) -> Self {
        match class {
            Class::Normal => ClassAttrs {
                min_rate: a.net_min_rate,
                max_rate: a.net_max_rate,
                max_kbyte: a.net_max_kbyte,
                thresh_kbyte: a.net_thresh_kbyte,
                share: a.net_share,
            },
            Class::Exempt => ClassAttrs {
                min_rate: a.net_i2_min_rate,
                max_rate: a.net_i2_max_rate,
                max_kbyte: a.net_i2_max_kbyte,
                thresh_kbyte: a.net_i2_thresh_kbyte,
                share: a.net_i2_share,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::eighty_percent;

    #[test]
    fn eighty_percent_is_exact_and_never_overflows() {
        // 5662310 KByte * 1024 = 5798205440 bytes; * 0.8 = 4638564352.
        assert_eq!(eighty_percent(5_798_205_440), 4_638_564_352);
        assert_eq!(eighty_percent(9), 7); // 7.2 rounded down
        // u64::MAX = 18446744073709551615; * 4 / 5 = 14757395258967641292 (rounded down).
        assert_eq!(eighty_percent(u64::MAX), 14_757_395_258_967_641_292);
    }
}
