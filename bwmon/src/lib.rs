//! bwmon: per-slice byte accounting in eBPF and daily transfer budgets enforced with HTB.
pub mod accounting;
pub mod config;
pub mod demo;
pub mod ledger;
pub mod policy;
pub mod slices;
pub mod status;
pub mod top;
pub mod units;
