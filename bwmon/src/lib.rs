//! bwmon: per-slice byte accounting in eBPF and daily transfer budgets enforced with HTB.
pub mod accounting;
pub mod agent;
pub mod config;
pub mod demo;
pub mod ledger;
pub mod mail;
pub mod metrics;
pub mod policy;
pub mod shaping;
pub mod slices;
pub mod status;
pub mod status_table;
pub mod systemd;
pub mod top;
pub mod units;
