//! The threshold cap, and the bound it achieves.
//!
//! # The rule
//! Below the threshold a class's ceiling is its max rate `R`. From the sync at which the bytes
//! used in the period reach the threshold `T`, the ceiling is
//! `clamp((M - used) * 8 / time_left, m, R)` bit/s, with `M` the max bytes, `m` the min rate and
//! `time_left = max(1, P - elapsed)` seconds; `used >= M` gives `m`. It is recomputed every sync.
//! Arithmetic is in `u128` and saturates into `u64`: no product can overflow.
//!
//! # What it guarantees: bytes per period as a function of the sync interval
//! Assume syncs at most `N` seconds apart (`N <= P`), a shaper that holds each ceiling exactly
//! until the next sync (a fluid model: HTB's own burst buffer adds a constant), exact monotonic
//! counters. Take one period window `W = [s, s + P)` and the first sync `t_r >= s`, where the
//! policy renews the period.
//! 1. **Head** `[s, t_r)`: shorter than `N`, sent under the previous period's ceiling `<= R`,
//!    and not counted in the new period's usage: at most `R*N/8` bytes.
//! 2. **Up to the threshold**: at the last sync before the threshold is seen, `used < T`; the
//!    ceiling is then `R` for at most `N` seconds, so when the cap starts,
//!    `used < T + R*N/8` (if it never starts, the same holds at the end of the window).
//! 3. **Capped**: at sync `k` the ceiling `c_k` either comes from the formula
//!    (`m <= c_k <= (M - used_k)*8/τ_k`, possibly lowered to `R`), and then the bytes until the
//!    next sync or the window's end (at most `τ_k` seconds away) are at most
//!    `c_k*τ_k/8 <= M - used_k`: usage does not pass `M`; or it is the min rate `m` (formula
//!    below `m`, or `used >= M`), and the interval adds at most `m*N/8`, summing to at most
//!    `m*P/8` over the window.
//!
//! Hence **bytes(W) <= R*N/8 + max(M, T + R*N/8) + m*P/8** ([`period_bytes_bound`]).
//! With the built-in `m = 0` and `T = 0.8*M`, and `R*N/8 <= 0.2*M`, that is `M + R*N/8`: one
//! sync interval of full-rate traffic over the budget. For a 100 Mbit/s cap and the default
//! 5.4 GiB per day: `N = 1 s` allows `M + 12.5 MB`, `N = 60 s` `M + 750 MB` (1.13 M), and
//! `N = 300 s`, where the threshold's margin no longer absorbs one interval,
//! `T + 2*R*N/8 = 4.64 GB + 7.5 GB`, about 2.09 M. The seed's comment promises "a little more than
//! twice" the daily limit; in fact its bugs make it unbounded: a counter that goes backwards (an
//! HTB re-created, a reboot) or a version mismatch of its data file grants a fresh budget, and a
//! slice re-created within its period crashes the restore code, so no slice is capped at all.
//! The simulation test (`tests/policy_sim.rs`) checks this bound for `N` = 1, 5, 60 and 300 s.
//!
//! **Choosing the sync interval**: the overshoot stays within the threshold's margin when
//! `R*N/8 <= M - T`, i.e. `N <= 8*(M - T)/R`: 92 s for the normal class at 100 Mbit/s with the
//! default volume, but only 28 s for the exempt class at a 1 Gbit/s hardware maximum with its
//! default 16.4 GiB. Beyond that, each second of sync interval lets a greedy slice send `R/8`
//! bytes more per period (the head term applies whatever `N`).
use super::limits::ClassLimits;

/// The ceiling of one class, bit/s: the max rate below the threshold, else the budget left
/// spread over the time left, clamped to `[min rate, max rate]`.
///
/// `elapsed` is clamped to `[0, period]` by the caller or not: at or past the period's end the
/// time left counts as one second (no division by zero).
pub fn class_ceiling(limits: &ClassLimits, used: u64, elapsed: u64, period: u64) -> u64 {
    if used < limits.threshold_bytes {
        return limits.max_rate_bps;
    }
    let left = limits.max_bytes.saturating_sub(used);
    let time_left = period.saturating_sub(elapsed).max(1);
    let spread = u128::from(left) * 8 / u128::from(time_left);
    let spread = u64::try_from(spread).unwrap_or(u64::MAX);
    // Not `clamp`: it would panic if min > max; limits guarantee min <= max, and max() then
    // min() keeps the result <= max even if that were ever violated.
    spread.max(limits.min_rate_bps).min(limits.max_rate_bps)
}

/// The upper bound derived above on the bytes one class of a slice can send in one period window,
/// with syncs at most `sync_interval` seconds apart: `R*N/8 + max(M, T + R*N/8) + m*P/8`,
/// saturating.
pub fn period_bytes_bound(limits: &ClassLimits, period: u64, sync_interval: u64) -> u64 {
    let bytes_at = |rate: u64, secs: u64| {
        u64::try_from(u128::from(rate) * u128::from(secs) / 8).unwrap_or(u64::MAX)
    };
    let interval = bytes_at(limits.max_rate_bps, sync_interval);
    let capped_from = limits
        .max_bytes
        .max(limits.threshold_bytes.saturating_add(interval));
    interval
        .saturating_add(capped_from)
        .saturating_add(bytes_at(limits.min_rate_bps, period))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ClassLimits {
        ClassLimits {
            min_rate_bps: 8_000,
            max_rate_bps: 100_000_000,
            max_bytes: 1_000_000,
            threshold_bytes: 800_000,
            share: 1,
        }
    }

    #[test]
    fn bound_adds_the_interval_the_threshold_overshoot_and_the_min_rate() {
        // R*N/8 = 100e6*1/8 = 12.5e6; max(M, T + 12.5e6) = 13.3e6; m*P/8 = 8000*100/8 = 1e5.
        assert_eq!(
            period_bytes_bound(&limits(), 100, 1),
            12_500_000 + 13_300_000 + 100_000
        );
        // Saturates instead of overflowing.
        let huge = ClassLimits {
            max_rate_bps: u64::MAX,
            ..limits()
        };
        assert_eq!(period_bytes_bound(&huge, u64::MAX, u64::MAX), u64::MAX);
    }
}
