//! tc handles (`major:minor`, 16 bits each) and the unit conversions HTB uses.
use std::fmt;

use serde::{Deserialize, Serialize};

/// A qdisc handle (`major:0`) or class id (`major:minor`), as the kernel stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Handle(pub u32);

impl Handle {
    /// `TC_H_ROOT`: the "parent" of a root qdisc.
    pub const ROOT: Handle = Handle(super::nl::TC_H_ROOT);

    pub const fn new(major: u16, minor: u16) -> Self {
        Handle(((major as u32) << 16) | minor as u32)
    }
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }
    pub const fn minor(self) -> u16 {
        self.0 as u16
    }
    /// The qdisc this class belongs to (`major:0`).
    pub const fn qdisc(self) -> Self {
        Handle(self.0 & 0xFFFF_0000)
    }
}

impl fmt::Display for Handle {
    /// As `tc` prints it: hexadecimal `major:minor`, `major:` for a qdisc, `root`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::ROOT {
            write!(f, "root")
        } else if self.minor() == 0 {
            write!(f, "{:x}:", self.major())
        } else {
            write!(f, "{:x}:{:x}", self.major(), self.minor())
        }
    }
}

/// Kernel "psched" ticks per microsecond: `/proc/net/psched` gives t2us 1000 and us2t 64 (a tick is
/// 64 ns) on every kernel since 2.6.24, which is what `tc` reads to derive it.
const TICKS_PER_USEC: f64 = 1000.0 / 64.0;

/// Time to send `bytes` at `rate` bytes/s, in psched ticks, computed exactly as iproute2's
/// `tc_calc_xmittime` does (whole microseconds first, then ticks, both truncated), so that a class
/// written by bwmon and one written by `tc` with the same burst carry the same value. Saturates
/// where `tc` would wrap around.
pub fn xmit_ticks(rate: u64, bytes: u64) -> u32 {
    let usec = (1e6 * (bytes as f64 / rate.max(1) as f64)).min(u32::MAX as f64) as u32;
    (usec as f64 * TICKS_PER_USEC).min(u32::MAX as f64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_split_and_print_like_tc() {
        let h = Handle::new(0x100, 0x2a);
        assert_eq!((h.major(), h.minor(), h.0), (0x100, 0x2a, 0x0100_002a));
        assert_eq!(h.to_string(), "100:2a");
        assert_eq!(h.qdisc().to_string(), "100:");
        assert_eq!(Handle::ROOT.to_string(), "root");
    }

    #[test]
    fn xmit_ticks_matches_the_values_tc_sent() {
        // From the fixtures: burst 15k at 100mbit, 20k at 200mbit, 150k at 10gbit/40gbit,
        // 1600 at 1mbit, 200 bytes at 8 bit/s.
        assert_eq!(xmit_ticks(12_500_000, 15 * 1024), 19187);
        assert_eq!(xmit_ticks(25_000_000, 20 * 1024), 12796);
        assert_eq!(xmit_ticks(1_250_000_000, 150 * 1024), 1906);
        assert_eq!(xmit_ticks(5_000_000_000, 150 * 1024), 468);
        assert_eq!(xmit_ticks(125_000, 1600), 200_000);
        assert_eq!(xmit_ticks(1, 200), 3_125_000_000);
        assert_eq!(xmit_ticks(1, 1600), u32::MAX);
    }
}
