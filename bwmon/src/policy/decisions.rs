//! What a sync decides, as data: ceilings to program, notifications to send, events to log.
use serde::Serialize;

use super::{Class, PerClass};

/// The inputs for one slice at one sync.
#[derive(Clone, Copy, Debug)]
pub struct SliceInput<'a> {
    pub name: &'a str,
    pub xid: u32,
    pub attributes: &'a super::Attributes,
    /// Cumulative kernel byte counters of the slice (all CPUs summed), per class.
    pub counters: PerClass<u64>,
}

/// The outcome of one sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Decisions {
    /// One entry per slice of the input, in input order (duplicates skipped).
    pub ceilings: Vec<SliceDecision>,
    /// Slices to notify.
    pub notifications: Vec<Notification>,
    /// What happened, for the log.
    pub events: Vec<Event>,
}

/// The HTB parameters of one slice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SliceDecision {
    pub name: String,
    pub xid: u32,
    pub classes: PerClass<ClassDecision>,
}

/// The HTB parameters of one class of one slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClassDecision {
    /// Guaranteed rate (HTB `rate`), bit/s; always `<= ceil_bps`.
    pub rate_bps: u64,
    /// Ceiling (HTB `ceil`), bit/s.
    pub ceil_bps: u64,
    /// HTB quantum weight.
    pub share: u32,
    /// Whether the ceiling is lowered below the max rate.
    pub capped: bool,
}

/// A slice to tell that it was capped: what the message carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub slice: String,
    pub xid: u32,
    /// The classes capped at this sync (one or both).
    pub classes: Vec<CappedClass>,
    /// Period start, unix seconds.
    pub since: u64,
    /// Period end, unix seconds: when the caps lift.
    pub until: u64,
    /// Period length, seconds.
    pub period_secs: u64,
}

/// One capped class in a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CappedClass {
    pub class: Class,
    /// Bytes used in the period.
    pub used_bytes: u64,
    /// Bytes allowed per period.
    pub limit_bytes: u64,
    /// The new ceiling, bit/s.
    pub ceil_bps: u64,
}

/// Something worth logging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A slice seen for the first time (or after its dead record expired): fresh baseline.
    NewSlice { name: String, xid: u32 },
    /// A slice that came back within its period got its record back.
    Restored {
        name: String,
        xid: u32,
        used: PerClass<u64>,
        period_start: u64,
    },
    /// A slice left the slice list: its record is kept until its period ends.
    Died { name: String, xid: u32 },
    /// A dead slice's period ended: its record is dropped.
    DeadExpired { name: String },
    /// A period ended: `used` is what the ended period used; the new one starts at `new_start`.
    PeriodReset {
        name: String,
        used: PerClass<u64>,
        new_start: u64,
    },
    /// A kernel counter went backwards (maps re-created, reboot): usage is kept, and the new
    /// value counts as bytes sent since.
    CounterBackwards {
        name: String,
        class: Class,
        last: u64,
        now: u64,
    },
    /// A slice's xid changed: counters are re-baselined, usage is kept.
    XidChanged { name: String, old: u32, new: u32 },
    /// A class's ceiling was lowered below its max rate (was not at the previous sync).
    Capped {
        name: String,
        class: Class,
        used: u64,
        ceil_bps: u64,
    },
    /// The wall clock went back since the last sync: periods were shifted back as much.
    ClockBackwards { by_secs: u64 },
    /// The slice list named a slice twice: the later entries were ignored.
    DuplicateSlice { name: String, xid: u32 },
}

impl std::fmt::Display for Event {
    /// One line for the journal, naming the slice.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::format::{format_bytes, format_rate, format_time};
        let used = |u: &PerClass<u64>| {
            format!(
                "{} normal, {} exempt",
                format_bytes(u.normal),
                format_bytes(u.exempt)
            )
        };
        match self {
            Event::NewSlice { name, xid } => write!(f, "slice {name} (xid {xid}) is new"),
            Event::Restored {
                name,
                xid,
                used: u,
                period_start,
            } => write!(
                f,
                "slice {name} (xid {xid}) came back and keeps its usage ({}) of the period \
                 since {}",
                used(u),
                format_time(*period_start)
            ),
            Event::Died { name, xid } => write!(
                f,
                "slice {name} (xid {xid}) left the slice list; its usage is kept until its \
                 period ends"
            ),
            Event::DeadExpired { name } => {
                write!(f, "deleted slice {name}: its period ended, record dropped")
            }
            Event::PeriodReset {
                name,
                used: u,
                new_start,
            } => write!(
                f,
                "slice {name}: period ended having used {}; new period from {}, ceilings back \
                 to their maximum",
                used(u),
                format_time(*new_start)
            ),
            Event::CounterBackwards {
                name,
                class,
                last,
                now,
            } => write!(
                f,
                "slice {name}: the kernel's {} counter went back from {last} to {now} (maps \
                 re-created?); usage kept",
                class.label()
            ),
            Event::XidChanged { name, old, new } => write!(
                f,
                "slice {name}: xid changed from {old} to {new}; usage kept"
            ),
            Event::Capped {
                name,
                class,
                used,
                ceil_bps,
            } => write!(
                f,
                "slice {name} capped: {} used in its {} class, ceiling now {}/s",
                format_bytes(*used),
                class.label(),
                format_rate(*ceil_bps)
            ),
            Event::ClockBackwards { by_secs } => write!(
                f,
                "the clock went back {by_secs} s since the last sync; periods shifted back as much"
            ),
            Event::DuplicateSlice { name, xid } => write!(
                f,
                "slice {name} (xid {xid}) is listed twice; the later entries are ignored"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_as_a_line_naming_its_slice() {
        let used = PerClass::new(6_000_000_000, 1_000);
        let name = || "web".to_owned();
        let events = [
            Event::NewSlice {
                name: name(),
                xid: 7,
            },
            Event::Restored {
                name: name(),
                xid: 7,
                used,
                period_start: 0,
            },
            Event::Died {
                name: name(),
                xid: 7,
            },
            Event::DeadExpired { name: name() },
            Event::PeriodReset {
                name: name(),
                used,
                new_start: 86_400,
            },
            Event::CounterBackwards {
                name: name(),
                class: Class::Exempt,
                last: 9,
                now: 1,
            },
            Event::XidChanged {
                name: name(),
                old: 7,
                new: 8,
            },
            Event::Capped {
                name: name(),
                class: Class::Normal,
                used: 6_000_000_000,
                ceil_bps: 1_500_000,
            },
            Event::DuplicateSlice {
                name: name(),
                xid: 7,
            },
        ];
        for event in &events {
            let line = event.to_string();
            assert!(line.contains("web") && !line.contains('\n'), "{line}");
        }
        assert_eq!(
            events[7].to_string(),
            "slice web capped: 6.0 GB used in its normal class, ceiling now 1.5Mbit/s"
        );
        assert!(
            Event::ClockBackwards { by_secs: 5 }
                .to_string()
                .contains("went back 5 s")
        );
    }
}
