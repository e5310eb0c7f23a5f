//! Periods and the wall clock.
//!
//! The policy never reads a clock: every sync is given `now`, in unix seconds. Each slice's period
//! starts at its reset time (the sync that first saw it, or the end of its previous period) and
//! lasts the configured period `P`.
//!
//! Clock rules:
//! - **Elapsed time** in a period is `now - period_start`, clamped to `[0, P]`; it is never
//!   negative, and the ceiling's time left is at least one second, so there is never a division
//!   by zero.
//! - **Backward step**: when `now` is earlier than the previous sync, every period start (live
//!   and dead records) moves back by the size of the step (saturating at 0). The elapsed time of
//!   every period is thus preserved exactly: a clock set back by an hour neither lengthens nor
//!   shortens anyone's period, and no period can be pushed out of reach ("a period that never
//!   ends"). This applies to any step, however small; it keeps the invariant
//!   `period_start <= last sync`.
//! - **Forward step**: cannot be told apart from the agent having been stopped, so it counts as
//!   elapsed time. A period that has ended is renewed once per sync at most: the new period
//!   starts at the end of the old one if `now` falls within the next period, otherwise (the
//!   clock, or a stopped agent, skipped a whole period or more) at `now`. A jump of a year
//!   therefore causes one reset, not 365.
use super::state::PolicyState;

/// Absorbs a backward clock step since the last sync: returns its size in seconds, if any.
pub(crate) fn absorb_backward_step(state: &mut PolicyState, now: u64) -> Option<u64> {
    let last = state.last_sync?;
    let back = last.checked_sub(now).filter(|&b| b > 0)?;
    for record in state.live.values_mut().chain(state.dead.values_mut()) {
        record.period_start = record.period_start.saturating_sub(back);
    }
    Some(back)
}

/// Seconds elapsed in a period that started at `start`, clamped to `[0, period]`.
pub fn elapsed(start: u64, now: u64, period: u64) -> u64 {
    now.saturating_sub(start).min(period)
}

/// The end of a period that started at `start`.
pub fn period_end(start: u64, period: u64) -> u64 {
    start.saturating_add(period)
}

/// If the period that started at `start` has ended by `now`, the start of the new one.
pub(crate) fn renewed_start(start: u64, now: u64, period: u64) -> Option<u64> {
    if now.saturating_sub(start) < period {
        return None;
    }
    let end = period_end(start, period);
    Some(if now.saturating_sub(end) < period {
        end
    } else {
        now
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_follows_the_end_or_restarts_at_now() {
        // Period 100 s from 1000: still running at 1099.
        assert_eq!(renewed_start(1000, 1099, 100), None);
        // Ends at 1100: renewed from 1100, also when the sync is late (1150 < 1100 + 100).
        assert_eq!(renewed_start(1000, 1100, 100), Some(1100));
        assert_eq!(renewed_start(1000, 1150, 100), Some(1100));
        // 1200 is past the next period's end too: one reset, new period from now.
        assert_eq!(renewed_start(1000, 1200, 100), Some(1200));
        assert_eq!(renewed_start(1000, u64::MAX, 100), Some(u64::MAX));
    }

    #[test]
    fn elapsed_is_clamped() {
        assert_eq!(elapsed(1000, 900, 100), 0);
        assert_eq!(elapsed(1000, 1042, 100), 42);
        assert_eq!(elapsed(1000, 5000, 100), 100);
        assert_eq!(period_end(u64::MAX - 1, 100), u64::MAX);
    }
}
