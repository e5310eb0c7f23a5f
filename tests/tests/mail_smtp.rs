//! E-mail end to end: a notice sent through the real lettre SMTP transport and the mail queue to
//! a real SMTP server (aiosmtpd, `tests/support/smtp_sink.py`) on loopback.
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use bwmon::config::{EmailConfig, EmailTransport, SmtpTls};
use bwmon::mail::{Mail, MailQueue, RetryPolicy, Transport};
use bwmon::policy::{CappedClass, Class, Notification};
use bwmon_tests::smtp::{Sink, free_port, received};

fn email(port: u16) -> EmailConfig {
    EmailConfig {
        transport: EmailTransport::Smtp,
        smtp_host: Some("127.0.0.1".into()),
        smtp_port: port,
        smtp_tls: SmtpTls::None,
        from: Some("bwmon@node1.example.org".into()),
        support_address: Some("support@example.org".into()),
        slice_address_pattern: Some("{slice}@slices.example.org".into()),
        ..EmailConfig::default()
    }
}

fn notice(email: &EmailConfig) -> Mail {
    let notification = Notification {
        slice: "web".into(),
        xid: 1001,
        classes: vec![CappedClass {
            class: Class::Normal,
            used_bytes: 6_000_000_000,
            limit_bytes: 5_000_000_000,
            ceil_bps: 1_500_000,
        }],
        since: 1_700_000_000,
        until: 1_700_086_400,
        period_secs: 86_400,
    };
    Mail::notice(
        email,
        "node1",
        &["ops@x.org".into()],
        &notification,
        1_700_050_000,
    )
}

async fn wait_for_one(dir: &Path, timeout: Duration) -> Result<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let got = received(dir)?;
        if !got.is_empty() || tokio::time::Instant::now() > deadline {
            // Let a duplicate, if any were coming, arrive before counting.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let got = received(dir)?;
            if got.len() != 1 {
                bail!("expected exactly one message, got {}: {got:?}", got.len());
            }
            return Ok(got[0].clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check(message: &serde_json::Value, mail: &Mail) {
    assert_eq!(message["mail_from"], "bwmon@node1.example.org");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["ops@x.org", "web@slices.example.org", "support@example.org"])
    );
    let data = message["data"].as_str().expect("data");
    let (head, body) = data.split_once("\r\n\r\n").expect("header block");
    assert!(
        head.contains("Subject: bwmon capped bandwidth of slice web on node1"),
        "{head}"
    );
    assert!(head.contains("To: ops@x.org, web@slices.example.org, support@example.org"));
    assert_eq!(body.replace("\r\n", "\n").trim_end(), mail.body.trim_end());
}

#[tokio::test]
async fn a_notice_arrives_once_with_its_recipients_and_body() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let _sink = Sink::start(port, dir.path(), None)?;
    let email = email(port);
    let mail = notice(&email);
    let queue = MailQueue::spawn(Transport::from_config(&email)?, RetryPolicy::default());
    queue.sender().send(mail.clone())?;
    let message = wait_for_one(dir.path(), Duration::from_secs(20)).await?;
    check(&message, &mail);
    let stats = queue.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.sent, stats.failures, stats.pending), (1, 0, 0));
    Ok(())
}

#[tokio::test]
async fn a_notice_queued_while_the_server_is_down_arrives_once_it_is_up() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let email = email(port);
    let mail = notice(&email);
    let retry = RetryPolicy {
        first: Duration::from_millis(200),
        max: Duration::from_millis(400),
        give_up_after: Duration::from_secs(60),
    };
    let queue = MailQueue::spawn(Transport::from_config(&email)?, retry);
    let sender = queue.sender();
    sender.send(mail.clone())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sender.stats().failures < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no failed tries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sender.pending(), 1, "still queued while the server is down");
    assert!(received(dir.path())?.is_empty());
    let _sink = Sink::start(port, dir.path(), None)?;
    let message = wait_for_one(dir.path(), Duration::from_secs(20)).await?;
    check(&message, &mail);
    let stats = queue.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.sent, stats.pending, stats.dropped), (1, 0, 0));
    assert!(stats.failures >= 2);
    Ok(())
}

/// STARTTLS and TLS from the first byte, to a server whose certificate a private CA signed:
/// trusted through `smtp_ca_file`, refused without it (the mail is not lost: it stays queued).
#[tokio::test]
async fn starttls_and_tls_to_a_server_signed_by_a_private_ca() -> Result<()> {
    use bwmon::mail::Mailer;
    let certs = tempfile::tempdir()?;
    let (ca, cert, key) = bwmon_tests::smtp::test_ca(certs.path())?;
    for (mode, tls) in [("starttls", SmtpTls::Starttls), ("tls", SmtpTls::Tls)] {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let _sink = Sink::start_with(
            port,
            dir.path(),
            None,
            &[
                "--tls".as_ref(),
                mode.as_ref(),
                "--cert".as_ref(),
                cert.as_os_str(),
                "--key".as_ref(),
                key.as_os_str(),
            ],
        )?;
        let mut email = EmailConfig {
            smtp_tls: tls,
            ..email(port)
        };
        let mail = notice(&email);
        // Without the CA the server is not trusted.
        let refused = Transport::from_config(&email)?.send(&mail).await;
        assert!(
            matches!(refused, Err(bwmon::mail::MailError::Smtp { .. })),
            "{mode}: {refused:?}"
        );
        assert!(received(dir.path())?.is_empty());
        email.smtp_ca_file = Some(ca.clone());
        let queue = MailQueue::spawn(Transport::from_config(&email)?, RetryPolicy::default());
        queue.sender().send(mail.clone())?;
        let message = wait_for_one(dir.path(), Duration::from_secs(20)).await?;
        check(&message, &mail);
        let stats = queue.shutdown(Duration::from_secs(5)).await;
        assert_eq!((stats.sent, stats.failures), (1, 0), "{mode}");
    }
    Ok(())
}
