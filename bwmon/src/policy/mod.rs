//! The quota policy: pure decisions from counters, limits and an injected clock.
pub mod attributes;

pub use attributes::Attributes;
