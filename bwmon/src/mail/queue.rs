//! The mail queue: a tokio task that sends, and retries with exponential backoff.
//!
//! Not persisted: a notice is sent at most once per slice and period and the ledger records it
//! as sent when it is queued, so at shutdown every message still queued gets one last try within
//! the grace period and is otherwise logged whole at error level (nothing is dropped silently).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Mail, MailError, Mailer};

/// When failed sends are tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure; doubled after each further one.
    pub first: Duration,
    /// Longest delay between two tries.
    pub max: Duration,
    /// A message still unsent this long after it was queued is logged at error level and
    /// dropped.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 30 s doubling to 1 h; give up after 24 h.
    fn default() -> Self {
        RetryPolicy {
            first: Duration::from_secs(30),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The delay before the next try after `failures` (≥ 1) failed tries.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first
            .checked_mul(1u32 << doublings)
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// Counters of a queue since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Queued and not yet sent or dropped: `Health.mail_queue`.
    pub pending: u64,
    pub sent: u64,
    /// Failed tries (a message retried three times counts three).
    pub failures: u64,
    /// Messages given up on (logged at error level).
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    pending: AtomicU64,
    sent: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
}

enum Command {
    Send(Box<Mail>),
    Shutdown(Duration),
}

/// Queues mail for the queue's task; cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct MailSender {
    tx: mpsc::UnboundedSender<Command>,
    counters: Arc<Counters>,
}

impl MailSender {
    /// Queues `mail`. Fails only when the queue's task has stopped.
    pub fn send(&self, mail: Mail) -> Result<(), MailError> {
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Command::Send(Box::new(mail)))
            .map_err(|unsent| {
                self.counters.pending.fetch_sub(1, Ordering::Relaxed);
                if let Command::Send(mail) = unsent.0 {
                    log_lost(&mail, "the mail queue has stopped");
                }
                MailError::QueueClosed
            })
    }

    /// Messages queued and not yet sent or dropped.
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> QueueStats {
        let c = &self.counters;
        QueueStats {
            pending: c.pending.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The queue's task and a sender to it.
#[derive(Debug)]
pub struct MailQueue {
    sender: MailSender,
    task: JoinHandle<()>,
}

impl MailQueue {
    /// Starts the queue's task on the current tokio runtime.
    pub fn spawn<M: Mailer>(mailer: M, retry: RetryPolicy) -> MailQueue {
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            mailer,
            retry,
            counters: counters.clone(),
            waiting: Vec::new(),
        };
        MailQueue {
            sender: MailSender { tx, counters },
            task: tokio::spawn(worker.run(rx)),
        }
    }

    pub fn sender(&self) -> MailSender {
        self.sender.clone()
    }

    /// Gives every queued message one last try within `grace`, logs those left at error level,
    /// and stops the task. Returns the queue's final counters.
    pub async fn shutdown(self, grace: Duration) -> QueueStats {
        // If the task already ended there is nothing left to flush.
        let _ = self.sender.tx.send(Command::Shutdown(grace));
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the mail queue task failed");
        }
        self.sender.stats()
    }
}

struct Waiting {
    mail: Box<Mail>,
    queued: Instant,
    due: Instant,
    failures: u32,
}

struct Worker<M> {
    mailer: M,
    retry: RetryPolicy,
    counters: Arc<Counters>,
    waiting: Vec<Waiting>,
}

impl<M: Mailer> Worker<M> {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            let next_due = self.waiting.iter().map(|w| w.due).min();
            tokio::select! {
                biased;
                command = rx.recv() => match command {
                    Some(Command::Send(mail)) => {
                        let now = Instant::now();
                        self.waiting.push(Waiting { mail, queued: now, due: now, failures: 0 });
                    }
                    Some(Command::Shutdown(grace)) => return self.flush(grace).await,
                    None => return self.flush(Duration::ZERO).await,
                },
                () = sleep_until(next_due), if next_due.is_some() => self.send_due().await,
            }
        }
    }

    /// Tries every message that is due, in the order they were queued.
    async fn send_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.due <= now);
        self.waiting = later;
        for mut w in due {
            let Err(error) = self.try_send(&w.mail).await else {
                continue;
            };
            w.failures = w.failures.saturating_add(1);
            let now = Instant::now();
            if error.is_permanent() {
                self.drop_mail(&w.mail, &error.to_string());
            } else if now.duration_since(w.queued) >= self.retry.give_up_after {
                let why = format!("still failing after {} tries: {error}", w.failures);
                self.drop_mail(&w.mail, &why);
            } else {
                let delay = self.retry.delay(w.failures);
                tracing::warn!(
                    slice = %w.mail.slice,
                    attempt = w.failures,
                    error = %error,
                    retry_in_secs = delay.as_secs_f64(),
                    "e-mail not sent; will retry"
                );
                w.due = now + delay;
                self.waiting.push(w);
            }
        }
    }

    async fn try_send(&self, mail: &Mail) -> Result<(), MailError> {
        let result = self.mailer.send(mail).await;
        match &result {
            Ok(()) => {
                // The transport logs the delivery (the "log" transport logs the whole mail).
                tracing::debug!(slice = %mail.slice, "e-mail handed over");
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
                self.counters.pending.fetch_sub(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    fn drop_mail(&self, mail: &Mail, why: &str) {
        log_lost(mail, why);
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        self.counters.pending.fetch_sub(1, Ordering::Relaxed);
    }

    /// One last try for everything queued, within `grace`.
    async fn flush(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        for w in std::mem::take(&mut self.waiting) {
            let left = deadline.saturating_duration_since(Instant::now());
            let why = if left.is_zero() {
                "not sent before shutdown".to_owned()
            } else {
                match tokio::time::timeout(left, self.try_send(&w.mail)).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => format!("not sent before shutdown: {e}"),
                    Err(_) => "not sent before shutdown: timed out".to_owned(),
                }
            };
            self.drop_mail(&w.mail, &why);
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// A message given up on, logged whole so that it can be sent by hand.
fn log_lost(mail: &Mail, why: &str) {
    tracing::error!(
        slice = %mail.slice,
        from = %mail.from,
        to = %mail.to.join(", "),
        subject = %mail.subject,
        body = %mail.body,
        "e-mail given up: {why}"
    );
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
