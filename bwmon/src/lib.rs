//! bwmon: per-slice byte accounting in eBPF and daily transfer budgets enforced with HTB.
pub mod policy;
pub mod shaping;
