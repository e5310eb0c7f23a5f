//! The sendmail transport against a stand-in `sendmail` script that records its arguments and
//! standard input; the SMTP transport against nothing listening.
use std::os::unix::fs::PermissionsExt;

use bwmon::config::{EmailConfig, EmailTransport, SmtpTls};
use bwmon::mail::{Mail, MailError, Mailer, Transport};

fn mail() -> Mail {
    Mail {
        slice: "web".into(),
        from: "bwmon@node1.example.org".into(),
        reply_to: Some("support@example.org".into()),
        to: vec!["ops@x.org".into(), "support@example.org".into()],
        subject: "bwmon capped bandwidth of slice web on node1".into(),
        body: "line one\nline two\n".into(),
    }
}

fn fake_sendmail(dir: &std::path::Path, exit: i32) -> std::path::PathBuf {
    let script = dir.join("sendmail");
    let text = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > {dir}/args\ncat > {dir}/stdin\nexit {exit}\n",
        dir = dir.display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn sendmail_gets_envelope_arguments_and_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let email = EmailConfig {
        transport: EmailTransport::Sendmail,
        sendmail_command: fake_sendmail(dir.path(), 0),
        ..EmailConfig::default()
    };
    let transport = Transport::from_config(&email).unwrap();
    transport.send(&mail()).await.unwrap();
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "-i",
            "-f",
            "bwmon@node1.example.org",
            "--",
            "ops@x.org",
            "support@example.org"
        ]
    );
    let stdin = std::fs::read_to_string(dir.path().join("stdin")).unwrap();
    let (head, body) = stdin.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains("\r\nTo: ops@x.org, support@example.org\r\n"),
        "{head}"
    );
    assert!(head.contains("Subject: bwmon capped bandwidth of slice web on node1"));
    assert_eq!(body, "line one\r\nline two\r\n");
}

#[tokio::test]
async fn a_failing_sendmail_is_an_error_naming_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let command = fake_sendmail(dir.path(), 75);
    let email = EmailConfig {
        transport: EmailTransport::Sendmail,
        sendmail_command: command.clone(),
        ..EmailConfig::default()
    };
    let error = Transport::from_config(&email)
        .unwrap()
        .send(&mail())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, MailError::Sendmail { command: c, .. } if *c == command),
        "{error}"
    );
    assert!(!error.is_permanent());
}

#[tokio::test]
async fn log_transport_accepts_valid_mail_and_refuses_bad_addresses() {
    let transport = Transport::from_config(&EmailConfig::default()).unwrap();
    assert!(matches!(transport, Transport::Log));
    transport.send(&mail()).await.unwrap();
    let mut bad = mail();
    bad.to = vec!["x@y.org\r\nBcc: evil@z.org".into()];
    assert!(matches!(
        transport.send(&bad).await,
        Err(MailError::Address { .. })
    ));
}

#[tokio::test]
async fn smtp_needs_a_host_and_reports_connection_failures() {
    let mut email = EmailConfig {
        transport: EmailTransport::Smtp,
        smtp_tls: SmtpTls::None,
        ..EmailConfig::default()
    };
    assert!(matches!(
        Transport::from_config(&email),
        Err(MailError::NoSmtpHost)
    ));
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    email.smtp_host = Some("127.0.0.1".into());
    email.smtp_port = port;
    let error = Transport::from_config(&email)
        .unwrap()
        .send(&mail())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, MailError::Smtp { host, port: p, .. } if host == "127.0.0.1" && *p == port),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreadable_password_file_is_reported() {
    let email = EmailConfig {
        transport: EmailTransport::Smtp,
        smtp_host: Some("127.0.0.1".into()),
        smtp_user: Some("bwmon".into()),
        smtp_password_file: Some("/nonexistent/bwmon-password".into()),
        ..EmailConfig::default()
    };
    let error = Transport::from_config(&email)
        .unwrap()
        .send(&mail())
        .await
        .unwrap_err();
    assert!(matches!(error, MailError::PasswordFile { .. }), "{error}");
}
