//! `bwmon explain SLICE`: why a slice has its ceilings, and when they lift, in words.
use super::Class;
use super::clock::{elapsed, period_end};
use super::decide::{Policy, is_special};
use super::format::{format_bytes, format_duration, format_period, format_rate, format_time};
use super::limits::ClassLimits;
use super::state::SliceRecord;

impl Policy {
    /// Explains the ceilings decided for `name` at the last sync, with times relative to `now`;
    /// `None` if the policy has no record of that slice.
    pub fn explain(&self, name: &str, now: u64) -> Option<String> {
        let state = self.state();
        let period = self.config().period();
        let (record, live) = match state.live.get(name) {
            Some(r) => (r, true),
            None => (state.dead.get(name)?, false),
        };
        let end = period_end(record.period_start, period);
        let synced = state.last_sync.unwrap_or(now);
        let mut text = format!(
            "slice {name} (xid {}), as of the last sync at {}\n\
             period: {} to {} (budget per {}), {}\n",
            record.xid,
            format_time(synced),
            format_time(record.period_start),
            format_time(end),
            format_period(period),
            relative(end, now),
        );
        if !live {
            text.push_str(
                "not in the slice list: its usage is kept until the period ends, \
                 and restored if it comes back before then\n",
            );
        }
        let time_left = period
            .saturating_sub(elapsed(record.period_start, synced, period))
            .max(1);
        for class in Class::ALL {
            let line = class_line(name, record, class, time_left, &format_time(end));
            text.push_str(&format!("{}: {line}\n", class.label()));
        }
        text.push_str(if record.notified {
            "notified: yes, once for this period\n"
        } else {
            "notified: not in this period\n"
        });
        Some(text)
    }
}

/// "ends in 3h 0m 0s" / "ended 5s ago".
fn relative(when: u64, now: u64) -> String {
    match when.checked_sub(now) {
        Some(d) => format!("ends in {}", format_duration(d)),
        None => format!("ended {} ago", format_duration(now - when)),
    }
}

fn class_line(name: &str, record: &SliceRecord, class: Class, time_left: u64, end: &str) -> String {
    let l: &ClassLimits = record.limits.get(class);
    let used = *record.used.get(class);
    let ceil = *record.ceil_bps.get(class);
    let usage = format!(
        "{} used of {} (threshold {})",
        format_bytes(used),
        format_bytes(l.max_bytes),
        format_bytes(l.threshold_bytes)
    );
    let max = format_rate(l.max_rate_bps);
    let min = format_rate(l.min_rate_bps);
    if is_special(name) {
        return format!("{usage}; a special slice, accounted but never capped: ceiling {max}/s");
    }
    if used < l.threshold_bytes {
        return format!(
            "{usage}; below the threshold, so the ceiling is the max rate {max}/s; \
             it is lowered once {} more are sent in this period",
            format_bytes(l.threshold_bytes - used)
        );
    }
    if used >= l.max_bytes {
        return format!(
            "{usage}; the whole budget is used, so the ceiling is held at the min rate {}/s \
             until the period ends at {end}, then returns to {max}/s",
            format_rate(ceil)
        );
    }
    let left = l.max_bytes - used;
    let spread = format!(
        "{} left * 8 / {} left = {}/s",
        format_bytes(left),
        format_duration(time_left),
        format_rate(
            u64::try_from(u128::from(left) * 8 / u128::from(time_left)).unwrap_or(u64::MAX)
        )
    );
    if *record.capped.get(class) {
        format!(
            "{usage}; past the threshold, so the ceiling is the budget left over the time left, \
             {spread}, kept within [{min}/s, {max}/s]: {}/s. It is recomputed every sync \
             (it rises while the slice sends less than that) and returns to {max}/s when the \
             period ends at {end}",
            format_rate(ceil)
        )
    } else {
        format!(
            "{usage}; past the threshold, but the budget left over the time left, {spread}, is \
             not below the max rate, so the ceiling stays {max}/s; it is lowered as soon as \
             that figure falls below {max}/s"
        )
    }
}
