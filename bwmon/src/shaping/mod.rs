//! HTB shaping over rtnetlink.
pub mod handle;
pub mod htb;
mod nl;

#[cfg(test)]
mod fixture_tests;
