use super::*;
use std::sync::Mutex;

/// Fails the first `fail` tries of each run, records when each try happened.
#[derive(Clone, Default)]
struct Fake {
    fail: Arc<AtomicU64>,
    permanent: bool,
    tries: Arc<Mutex<Vec<(String, Instant)>>>,
    delivered: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn failing(n: u64) -> Fake {
        let fake = Fake::default();
        fake.fail.store(n, Ordering::SeqCst);
        fake
    }
    fn tries(&self) -> Vec<(String, Instant)> {
        self.tries.lock().unwrap().clone()
    }
    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }
}

impl Mailer for Fake {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.tries
            .lock()
            .unwrap()
            .push((mail.slice.clone(), Instant::now()));
        if self.permanent {
            return Err(MailError::NoRecipients {
                slice: mail.slice.clone(),
            });
        }
        let left = self.fail.load(Ordering::SeqCst);
        if left > 0 {
            self.fail.store(left - 1, Ordering::SeqCst);
            return Err(MailError::NoSmtpHost);
        }
        self.delivered.lock().unwrap().push(mail.slice.clone());
        Ok(())
    }
}

fn mail(slice: &str) -> Mail {
    Mail {
        slice: slice.into(),
        from: "bwmon@node1".into(),
        reply_to: None,
        to: vec!["a@x.org".into()],
        subject: "s".into(),
        body: "b\n".into(),
    }
}

/// Lets the queue's task run until it waits (time is paused: sleeps advance it instantly).
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn backoff_doubles_from_30s_to_one_hour() {
    let r = RetryPolicy::default();
    let secs: Vec<u64> = (1..=10).map(|n| r.delay(n).as_secs()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    assert_eq!(r.delay(0).as_secs(), 30);
    assert_eq!(r.delay(u32::MAX), r.max);
    let huge = RetryPolicy {
        first: Duration::from_secs(u64::MAX / 2),
        max: Duration::from_secs(u64::MAX),
        ..r
    };
    assert_eq!(huge.delay(40), huge.max, "overflow saturates to max");
}

#[tokio::test(start_paused = true)]
async fn a_message_is_sent_at_once() {
    let fake = Fake::default();
    let queue = MailQueue::spawn(fake.clone(), RetryPolicy::default());
    let start = Instant::now();
    queue.sender().send(mail("web")).unwrap();
    settle().await;
    assert_eq!(fake.delivered(), ["web"]);
    assert_eq!(fake.tries()[0].1, start);
    let stats = queue.sender().stats();
    assert_eq!(
        stats,
        QueueStats {
            pending: 0,
            sent: 1,
            failures: 0,
            dropped: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_on_the_backoff_schedule_and_sent_once() {
    let fake = Fake::failing(4);
    let queue = MailQueue::spawn(fake.clone(), RetryPolicy::default());
    let sender = queue.sender();
    let start = Instant::now();
    sender.send(mail("web")).unwrap();
    settle().await;
    assert_eq!(sender.pending(), 1, "queued while failing");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    settle().await;
    let offsets: Vec<u64> = fake
        .tries()
        .iter()
        .map(|(_, t)| t.duration_since(start).as_secs())
        .collect();
    assert_eq!(offsets, [0, 30, 90, 210, 450]);
    assert_eq!(fake.delivered(), ["web"]);
    let stats = queue.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        stats,
        QueueStats {
            pending: 0,
            sent: 1,
            failures: 4,
            dropped: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_message_unsent_after_give_up_after_is_dropped() {
    let fake = Fake::failing(u64::MAX);
    let retry = RetryPolicy {
        give_up_after: Duration::from_secs(6 * 3600),
        ..RetryPolicy::default()
    };
    let queue = MailQueue::spawn(fake.clone(), retry);
    let start = Instant::now();
    queue.sender().send(mail("web")).unwrap();
    tokio::time::sleep(Duration::from_secs(12 * 3600)).await;
    settle().await;
    let tries = fake.tries();
    let last = tries.last().unwrap().1.duration_since(start);
    // 0, 30, 90, 210, 450, 930, 1890, 3810, then hourly: the first try at or after 6 h
    // (21 810 s) gives up.
    assert_eq!(last.as_secs(), 21_810);
    assert_eq!(tries.len(), 13);
    let stats = queue.sender().stats();
    assert_eq!((stats.pending, stats.dropped, stats.sent), (0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let fake = Fake {
        permanent: true,
        ..Fake::default()
    };
    let queue = MailQueue::spawn(fake.clone(), RetryPolicy::default());
    queue.sender().send(mail("web")).unwrap();
    tokio::time::sleep(Duration::from_secs(7200)).await;
    settle().await;
    assert_eq!(fake.tries().len(), 1);
    assert_eq!(queue.sender().stats().dropped, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_message_does_not_hold_up_others() {
    let fake = Fake::failing(1);
    let queue = MailQueue::spawn(fake.clone(), RetryPolicy::default());
    let sender = queue.sender();
    sender.send(mail("a")).unwrap();
    settle().await;
    sender.send(mail("b")).unwrap();
    settle().await;
    assert_eq!(fake.delivered(), ["b"]);
    tokio::time::sleep(Duration::from_secs(31)).await;
    settle().await;
    assert_eq!(fake.delivered(), ["b", "a"]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_queued_messages_a_last_try() {
    let fake = Fake::failing(1);
    let queue = MailQueue::spawn(fake.clone(), RetryPolicy::default());
    queue.sender().send(mail("a")).unwrap();
    settle().await;
    assert!(fake.delivered().is_empty());
    let stats = queue.shutdown(Duration::from_secs(5)).await;
    assert_eq!(fake.delivered(), ["a"]);
    assert_eq!((stats.pending, stats.sent, stats.dropped), (0, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn shutdown_logs_and_counts_what_it_could_not_send() {
    let fake = Fake::failing(u64::MAX);
    let queue = MailQueue::spawn(fake.clone(), RetryPolicy::default());
    let sender = queue.sender();
    sender.send(mail("a")).unwrap();
    sender.send(mail("b")).unwrap();
    let stats = queue.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.pending, stats.sent, stats.dropped), (0, 0, 2));
    assert!(matches!(
        sender.send(mail("c")),
        Err(MailError::QueueClosed)
    ));
    assert_eq!(sender.pending(), 0);
}
