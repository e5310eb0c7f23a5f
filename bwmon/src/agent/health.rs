//! The agent's own health, as the status snapshot and the metrics show it.
use std::time::Duration;

use crate::status::{Health, rfc3339};

#[derive(Clone, Debug)]
pub struct HealthBook {
    started: u64,
    last_sync: Option<u64>,
    sync_ms: f64,
    syncs: u64,
    errors: u64,
    last_error: Option<String>,
    pub ledger_problem: Option<String>,
    pub slice_list_problem: Option<String>,
    pub mail_queue: u64,
}

impl HealthBook {
    pub fn new(started: u64) -> Self {
        Self {
            started,
            last_sync: None,
            sync_ms: 0.0,
            syncs: 0,
            errors: 0,
            last_error: None,
            ledger_problem: None,
            slice_list_problem: None,
            mail_queue: 0,
        }
    }

    /// Counts and logs an error (once, here).
    pub fn error(&mut self, message: String) {
        tracing::error!("{message}");
        self.errors += 1;
        self.last_error = Some(message);
    }

    pub fn synced(&mut self, now: u64, took: Duration) {
        self.last_sync = Some(now);
        self.sync_ms = took.as_secs_f64() * 1e3;
        self.syncs += 1;
    }

    pub fn view(&self) -> Health {
        Health {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            started: rfc3339(self.started),
            last_sync: self.last_sync.map(rfc3339),
            last_sync_unix: self.last_sync,
            sync_ms: self.sync_ms,
            syncs: self.syncs,
            errors: self.errors,
            last_error: self.last_error.clone(),
            ledger_problem: self.ledger_problem.clone(),
            slice_list_problem: self.slice_list_problem.clone(),
            mail_queue: self.mail_queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_errors_and_syncs() {
        let mut h = HealthBook::new(0);
        h.error("boom".into());
        h.synced(60, Duration::from_millis(3));
        let v = h.view();
        assert_eq!((v.errors, v.syncs, v.last_sync_unix), (1, 1, Some(60)));
        assert_eq!(v.last_error.as_deref(), Some("boom"));
        assert_eq!(v.started, "1970-01-01T00:00:00Z");
        assert!((v.sync_ms - 3.0).abs() < 1e-9);
    }
}
