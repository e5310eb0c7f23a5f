//! Snapshots built by hand for the `top` tests, and a source that serves them in turn.
#![allow(dead_code)] // each test crate uses part of it

use std::collections::VecDeque;

use bwmon::status::{ClientError, Health, Node, SCHEMA_VERSION, SliceView, Snapshot, rfc3339};
use bwmon::top::SnapshotSource;

pub const T0: u64 = 1_796_169_600; // 2026-12-02T00:00:00Z
pub const GB: u64 = 1_000_000_000;

/// A slice with a 10 GB budget, threshold 8 GB, uncapped, 100 Mbit/s ceiling.
pub fn slice(name: &str, xid: u32, bytes: u64, sent: u64) -> SliceView {
    SliceView {
        name: name.to_owned(),
        xid,
        bytes,
        exempt_bytes: 0,
        byte_limit: 10 * GB,
        exempt_byte_limit: 20 * GB,
        threshold: 8 * GB,
        exempt_threshold: 16 * GB,
        ceil_bps: 100_000_000,
        exempt_ceil_bps: 1_000_000_000,
        capped: false,
        exempt_capped: false,
        period_start: rfc3339(T0),
        period_end: rfc3339(T0 + 86_400),
        period_start_unix: T0,
        period_end_unix: T0 + 86_400,
        notified: false,
        sent_bytes: sent,
        sent_exempt_bytes: 0,
    }
}

pub fn snapshot(now_unix: u64, slices: Vec<SliceView>) -> Snapshot {
    Snapshot {
        schema: SCHEMA_VERSION,
        now: rfc3339(now_unix),
        now_unix,
        node: Node {
            hostname: "planetlab-7.example.org".to_owned(),
            interfaces: vec!["eth0".to_owned()],
            node_cap_bps: 1_000_000_000,
            hardware_max_bps: 10_000_000_000,
            period_secs: 86_400,
            sync_interval_ms: 1000,
            units: "si".to_owned(),
            slice_id: "uid".to_owned(),
        },
        agent: Health {
            version: "0.1.0".to_owned(),
            pid: 4242,
            started: rfc3339(T0),
            last_sync: Some(rfc3339(now_unix)),
            last_sync_unix: Some(now_unix),
            sync_ms: 3.5,
            syncs: 100,
            errors: 0,
            last_error: None,
            ledger_problem: None,
            slice_list_problem: None,
            mail_queue: 0,
        },
        slices,
        dead: Vec::new(),
    }
}

/// Serves the given snapshots in turn (repeating the last), then fails if told to.
pub struct Scripted {
    pub snaps: VecDeque<Snapshot>,
    pub last: Option<Snapshot>,
    pub down: bool,
    pub explains: Vec<String>,
}

impl Scripted {
    pub fn new(snaps: Vec<Snapshot>) -> Self {
        Scripted {
            snaps: snaps.into(),
            last: None,
            down: false,
            explains: Vec::new(),
        }
    }
}

impl SnapshotSource for Scripted {
    fn fetch(&mut self) -> Result<Snapshot, ClientError> {
        if self.down {
            return Err(ClientError::Connect {
                path: "/run/bwmon/control.sock".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            });
        }
        if let Some(s) = self.snaps.pop_front() {
            self.last = Some(s);
        }
        self.last
            .clone()
            .ok_or_else(|| ClientError::Agent("no snapshot".to_owned()))
    }

    fn explain(&mut self, slice: &str) -> Result<String, ClientError> {
        self.explains.push(slice.to_owned());
        Ok(format!(
            "{slice} is capped at 10.0 Mbit/s until the period ends"
        ))
    }

    fn location(&self) -> String {
        "/run/bwmon/control.sock".to_owned()
    }
}
