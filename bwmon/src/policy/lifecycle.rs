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
use std::collections::BTreeMap;

use super::clock::period_end;
use super::decisions::{Event, SliceInput};
use super::limits::ClassLimits;
use super::state::{PolicyState, SliceRecord};
use super::PerClass;

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

/// The record of an input slice, taken out of the previous live table, out of the dead table, or
/// made fresh; with its name as an owned key.
pub(crate) fn obtain(
    previous_live: &mut BTreeMap<String, SliceRecord>,
    dead: &mut BTreeMap<String, SliceRecord>,
    input: &SliceInput<'_>,
    now: u64,
    limits: PerClass<ClassLimits>,
    events: &mut Vec<Event>,
) -> (String, SliceRecord) {
    if let Some((name, mut record)) = previous_live.remove_entry(input.name) {
        if record.xid != input.xid {
            events.push(Event::XidChanged {
                name: name.clone(),
                old: record.xid,
                new: input.xid,
            });
            record.xid = input.xid;
            record.last_counter = input.counters;
        }
        return (name, record);
    }
    if let Some((name, mut record)) = dead.remove_entry(input.name) {
        events.push(Event::Restored {
            name: name.clone(),
            xid: input.xid,
            used: record.used,
            period_start: record.period_start,
        });
        if record.xid != input.xid {
            record.xid = input.xid;
            record.last_counter = input.counters;
        }
        return (name, record);
    }
    events.push(Event::NewSlice {
        name: input.name.to_owned(),
        xid: input.xid,
    });
    let record = SliceRecord::fresh(input.xid, now, input.counters, limits);
    (input.name.to_owned(), record)
}

/// Moves the live records no longer in the list to the dead table (or drops them if their
/// period has already ended).
pub(crate) fn retire(
    gone: BTreeMap<String, SliceRecord>,
    dead: &mut BTreeMap<String, SliceRecord>,
    now: u64,
    period: u64,
    events: &mut Vec<Event>,
) {
    for (name, record) in gone {
        events.push(Event::Died {
            name: name.clone(),
            xid: record.xid,
        });
        if period_end(record.period_start, period) > now {
            dead.insert(name, record);
        } else {
            events.push(Event::DeadExpired { name });
        }
    }
}
