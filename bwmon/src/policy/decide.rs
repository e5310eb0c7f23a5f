//! One sync: counters in, decisions out.
//!
//! Per slice, in this order: take its record (see `lifecycle`), add the counter deltas to its
//! usage, renew its period if it has ended, compute its ceilings, decide on a notification.
//!
//! - **Counters going backwards** (maps re-created, node rebooted): the usage already counted is
//!   kept and the new value counts as the bytes sent since (delta = new value). The seed reset
//!   the budget instead.
//! - **New period**: the deltas up to now are added to the ended period (reported in
//!   [`Event::PeriodReset`]); then usage restarts from 0 at the current counters, ceilings return to
//!   the max rates, the notified flag is cleared.
//! - **Notifications**: one per slice per period, strictly. When a class gets capped and the slice
//!   has not been notified in this period, one notification names every class capped at that sync
//!   (both, if both were capped at once). A class capped later in the same period gets no second
//!   message, only an [`Event::Capped`] in the log: the slice already knows it is over budget,
//!   and the status and `explain` views show the new cap.
//! - The special slices `root` and `default` are accounted like any other but never capped and
//!   never notified: their ceilings are always their max rates.
use std::collections::HashSet;

use super::ceiling::class_ceiling;
use super::clock::{absorb_backward_step, elapsed, period_end, renewed_start};
use super::decisions::{
    CappedClass, ClassDecision, Decisions, Event, Notification, SliceDecision, SliceInput,
};
use super::lifecycle::{admit, expire_dead, rebind, retire};
use super::limits::{ClassLimits, PolicyConfig};
use super::state::{PolicyState, SliceRecord};
use super::{Class, PerClass};

/// The slice that owns traffic of uid 0: accounted, never capped.
pub const ROOT_SLICE: &str = "root";
/// The slice that owns traffic no slice could be found for: accounted, never capped.
pub const DEFAULT_SLICE: &str = "default";

/// Whether a slice is one of the special, never-capped slices.
pub fn is_special(name: &str) -> bool {
    name == ROOT_SLICE || name == DEFAULT_SLICE
}

/// The quota policy: its configuration and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    config: PolicyConfig,
    state: PolicyState,
}

impl Policy {
    /// A policy resuming from `state` (e.g. loaded from the ledger, or `PolicyState::default()`).
    pub fn new(config: PolicyConfig, state: PolicyState) -> Self {
        Policy { config, state }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Replaces the configuration (a reload); it applies from the next sync.
    pub fn set_config(&mut self, config: PolicyConfig) {
        self.config = config;
    }

    /// The state to persist in the ledger after a sync.
    pub fn state(&self) -> &PolicyState {
        &self.state
    }

    /// One sync at `now` (unix seconds) over the current slice list and its counters.
    pub fn sync(&mut self, now: u64, slices: &[SliceInput<'_>]) -> Decisions {
        let period = self.config.period();
        let mut out = Decisions::default();
        if let Some(by_secs) = absorb_backward_step(&mut self.state, now) {
            out.events.push(Event::ClockBackwards { by_secs });
        }
        expire_dead(&mut self.state, now, period, &mut out.events);

        let mut listed = HashSet::with_capacity(slices.len());
        out.ceilings.reserve(slices.len());
        for input in slices {
            if !listed.insert(input.name) {
                out.events.push(Event::DuplicateSlice {
                    name: input.name.to_owned(),
                    xid: input.xid,
                });
                continue;
            }
            let limits = self.config.limits(input.attributes);
            let decision = if let Some(record) = self.state.live.get_mut(input.name) {
                rebind(record, input, &mut out.events);
                settle(record, input, limits, now, period, &mut out)
            } else {
                let mut record = admit(&mut self.state.dead, input, now, limits, &mut out.events);
                let decision = settle(&mut record, input, limits, now, period, &mut out);
                self.state.live.insert(input.name.to_owned(), record);
                decision
            };
            out.ceilings.push(decision);
        }
        retire(&mut self.state, &listed, now, period, &mut out.events);
        self.state.last_sync = Some(now);
        out
    }
}

/// Accounts one slice's counters, renews its period, decides its ceilings and notification.
fn settle(
    record: &mut SliceRecord,
    input: &SliceInput<'_>,
    limits: PerClass<ClassLimits>,
    now: u64,
    period: u64,
    out: &mut Decisions,
) -> SliceDecision {
    let name = input.name;
    record.limits = limits;
    for class in Class::ALL {
        let counter = *input.counters.get(class);
        let last = *record.last_counter.get(class);
        let delta = match counter.checked_sub(last) {
            Some(delta) => delta,
            None => {
                out.events.push(Event::CounterBackwards {
                    name: name.to_owned(),
                    class,
                    last,
                    now: counter,
                });
                counter
            }
        };
        let used = record.used.get_mut(class);
        *used = used.saturating_add(delta);
        *record.last_counter.get_mut(class) = counter;
    }

    // A record can only start after `now` if it was written by a clock we cannot trust.
    record.period_start = record.period_start.min(now);
    if let Some(new_start) = renewed_start(record.period_start, now, period) {
        out.events.push(Event::PeriodReset {
            name: name.to_owned(),
            used: record.used,
            new_start,
        });
        record.period_start = new_start;
        record.used = PerClass::default();
        record.notified = false;
        record.capped = PerClass::default();
    }

    let elapsed = elapsed(record.period_start, now, period);
    let special = is_special(name);
    let mut newly_capped = Vec::new();
    let classes = PerClass::from_fn(|class| {
        let limits = record.limits.get(class);
        let used = *record.used.get(class);
        let ceil_bps = if special {
            limits.max_rate_bps
        } else {
            class_ceiling(limits, used, elapsed, period)
        };
        let capped = ceil_bps < limits.max_rate_bps;
        if capped && !*record.capped.get(class) {
            out.events.push(Event::Capped {
                name: name.to_owned(),
                class,
                used,
                ceil_bps,
            });
            newly_capped.push(CappedClass {
                class,
                used_bytes: used,
                limit_bytes: limits.max_bytes,
                ceil_bps,
            });
        }
        *record.capped.get_mut(class) = capped;
        *record.ceil_bps.get_mut(class) = ceil_bps;
        ClassDecision {
            rate_bps: limits.min_rate_bps,
            ceil_bps,
            share: limits.share,
            capped,
        }
    });

    if !newly_capped.is_empty() && !record.notified {
        record.notified = true;
        out.notifications.push(Notification {
            slice: name.to_owned(),
            xid: record.xid,
            classes: newly_capped,
            since: record.period_start,
            until: period_end(record.period_start, period),
            period_secs: period,
        });
    }
    SliceDecision {
        name: name.to_owned(),
        xid: record.xid,
        classes,
    }
}
