//! The quota policy: pure decisions from counters, limits and an injected clock.
//!
//! Each sync, [`Policy::sync`] takes the current slice list with each slice's cumulative kernel
//! byte counters and `now` (unix seconds), and returns [`Decisions`]: HTB rates and ceilings per
//! slice, notifications to send, events to log. Its [`PolicyState`] is the ledger's content.
//!
//! Units: attributes in kbit/s and KByte as in the seed (1 kbit = 1000 bit, 1 KByte = 1024
//! bytes); everything else in bit/s, bytes and seconds, as `u64`, with saturating or widened
//! arithmetic: nothing can overflow or divide by zero.
//!
//! Rules, by module: effective limits in [`limits`]; periods and clock steps in [`clock`]; the
//! threshold cap and its bound on bytes per period in [`ceiling`]; slice lifecycle (new, dead,
//! restored) in `lifecycle`; counters, period renewal and notifications in `decide`; the
//! message text in [`notify`]; the status view in [`status`]; `explain` in `explain`.
//!
//! This module imports no async runtime, BPF, netlink or mail code.
pub mod attributes;
pub mod ceiling;
mod class;
pub mod clock;
mod decide;
mod decisions;
mod explain;
pub mod format;
mod lifecycle;
pub mod limits;
pub mod notify;
mod state;
pub mod status;

pub use attributes::Attributes;
pub use class::{Class, PerClass};
pub use decide::{DEFAULT_SLICE, Policy, ROOT_SLICE, is_special};
pub use decisions::{
    CappedClass, ClassDecision, Decisions, Event, Notification, SliceDecision, SliceInput,
};
pub use limits::{ClassLimits, PolicyConfig};
pub use notify::{Message, render};
pub use state::{PolicyState, SliceRecord};
pub use status::SliceStatus;
