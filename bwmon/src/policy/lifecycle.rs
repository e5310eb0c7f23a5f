//! Slice lifecycle: new slices, slices that leave the list, slices that come back.
//!
//! - A **new** slice gets a fresh record: its period starts now and its usage starts from 0 at its
//!   current counter values.
//! - A slice that **leaves** the list moves to the dead table (keyed by name) with its usage,
//!   period start and notified flag, until its period ends; then the record is dropped.
//! - A slice that **comes back** within its period gets its record back, whatever its xid: deleting
//!   and re-creating a slice never resets its budget. With the same xid its counters continue
//!   from the last values seen (bytes the kernel counted meanwhile are the slice's); with another
//!   xid they are re-baselined at the current values (what that xid counted before is not this
//!   slice's).
//! - A live slice whose xid changes is re-baselined the same way, keeping its usage.
use std::collections::{BTreeMap, HashSet};

use super::PerClass;
use super::clock::period_end;
use super::decisions::{Event, SliceInput};
use super::limits::ClassLimits;
use super::state::{PolicyState, SliceRecord};

/// Drops the dead records whose period has ended by `now`.
pub(crate) fn expire_dead(state: &mut PolicyState, now: u64, period: u64, events: &mut Vec<Event>) {
    state.dead.retain(|name, record| {
        let keep = period_end(record.period_start, period) > now;
        if !keep {
            events.push(Event::DeadExpired { name: name.clone() });
        }
        keep
    });
}

/// Re-baselines a live record whose xid changed.
pub(crate) fn rebind(record: &mut SliceRecord, input: &SliceInput<'_>, events: &mut Vec<Event>) {
    if record.xid != input.xid {
        events.push(Event::XidChanged {
            name: input.name.to_owned(),
            old: record.xid,
            new: input.xid,
        });
        record.xid = input.xid;
        record.last_counter = input.counters;
    }
}

/// The record of a slice not live at the previous sync: taken back from the dead table, or fresh.
pub(crate) fn admit(
    dead: &mut BTreeMap<String, SliceRecord>,
    input: &SliceInput<'_>,
    now: u64,
    limits: PerClass<ClassLimits>,
    events: &mut Vec<Event>,
) -> SliceRecord {
    if let Some(mut record) = dead.remove(input.name) {
        events.push(Event::Restored {
            name: input.name.to_owned(),
            xid: input.xid,
            used: record.used,
            period_start: record.period_start,
        });
        if record.xid != input.xid {
            record.xid = input.xid;
            record.last_counter = input.counters;
        }
        return record;
    }
    events.push(Event::NewSlice {
        name: input.name.to_owned(),
        xid: input.xid,
    });
    SliceRecord::fresh(input.xid, now, input.counters, limits)
}

/// Moves the live records whose names are not in `listed` to the dead table (or drops them if
/// their period has already ended).
pub(crate) fn retire(
    state: &mut PolicyState,
    listed: &HashSet<&str>,
    now: u64,
    period: u64,
    events: &mut Vec<Event>,
) {
    // Every listed name is live by now: equal sizes mean nobody left.
    if state.live.len() == listed.len() {
        return;
    }
    let gone: Vec<String> = state
        .live
        .keys()
        .filter(|name| !listed.contains(name.as_str()))
        .cloned()
        .collect();
    for name in gone {
        if let Some(record) = state.live.remove(&name) {
            events.push(Event::Died {
                name: name.clone(),
                xid: record.xid,
            });
            if period_end(record.period_start, period) > now {
                state.dead.insert(name, record);
            } else {
                events.push(Event::DeadExpired { name });
            }
        }
    }
}
