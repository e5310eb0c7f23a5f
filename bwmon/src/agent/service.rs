//! The agent's side of systemd's notify protocol: readiness after the first sync, a status
//! line after each one, and watchdog pings only while the core thread is alive.
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    status::Snapshot,
    systemd::{self, NotifyState},
};

/// When the core thread last went round its loop (`CLOCK_MONOTONIC`, µs). The watchdog pings
/// only while this is recent, so a core stuck in the kernel or in a deadlock gets restarted.
#[derive(Clone, Debug, Default)]
pub struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    pub fn beat(&self) {
        self.0.store(systemd::monotonic_usec(), Ordering::Relaxed);
    }

    /// How long ago the last beat was.
    pub fn age(&self) -> Duration {
        let last = self.0.load(Ordering::Relaxed);
        Duration::from_micros(systemd::monotonic_usec().saturating_sub(last))
    }
}

pub fn notify(states: &[NotifyState]) {
    if let Err(error) = systemd::notify(states) {
        tracing::warn!(%error, "systemd notify");
    }
}

/// One line for `systemctl status`.
pub fn status_line(s: &Snapshot) -> String {
    let capped = s
        .slices
        .iter()
        .filter(|v| v.capped || v.exempt_capped)
        .count();
    format!(
        "{} slices, {} capped, {} dead; last sync {:.1} ms; {} errors",
        s.slices.len(),
        capped,
        s.dead.len(),
        s.agent.sync_ms,
        s.agent.errors
    )
}

/// READY=1 once the first sync is published, then STATUS= after each; runs until the snapshot
/// channel closes.
pub async fn report(mut snapshots: watch::Receiver<Arc<Snapshot>>) {
    let mut ready = false;
    while snapshots.changed().await.is_ok() {
        let snapshot = snapshots.borrow_and_update().clone();
        if snapshot.agent.syncs == 0 {
            continue;
        }
        let line = status_line(&snapshot);
        if ready {
            notify(&[NotifyState::Status(&line)]);
        } else {
            tracing::info!(status = %line, "first sync done; ready");
            notify(&[NotifyState::Ready, NotifyState::Status(&line)]);
            ready = true;
        }
    }
}

/// Pings the watchdog at half its interval while the core's heartbeat is younger than the
/// interval.
pub async fn watchdog(interval: Duration, heartbeat: Heartbeat) {
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tick.tick().await;
        let age = heartbeat.age();
        if age < interval {
            notify(&[NotifyState::Watchdog]);
        } else {
            tracing::error!(
                silent_for = ?age,
                "the core thread is not responding; not pinging the watchdog"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_ages() {
        let h = Heartbeat::default();
        assert!(h.age() > Duration::from_secs(1), "never beaten is old");
        h.beat();
        assert!(h.age() < Duration::from_secs(1));
    }
}
