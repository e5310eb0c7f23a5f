use super::*;
use crate::policy::{CappedClass, Class};
use std::time::{Duration, UNIX_EPOCH};

fn config() -> EmailConfig {
    EmailConfig {
        from: Some("bwmon@node1.example.org".into()),
        support_address: Some("support@example.org".into()),
        slice_address_pattern: Some("{slice}@slices.example.org".into()),
        ..EmailConfig::default()
    }
}

fn notification(slice: &str) -> Notification {
    Notification {
        slice: slice.into(),
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
    }
}

fn mail(slice: &str, to: &[&str], subject: &str) -> Mail {
    Mail {
        slice: slice.into(),
        from: "bwmon@node1.example.org".into(),
        reply_to: None,
        to: to.iter().map(|s| s.to_string()).collect(),
        subject: subject.into(),
        body: "hello\n".into(),
    }
}

/// The header block of a formatted message, unfolded, as (name, value) pairs.
fn headers(message: &lettre::Message) -> Vec<(String, String)> {
    let text = String::from_utf8(message.formatted()).unwrap();
    let (head, _) = text.split_once("\r\n\r\n").expect("a header block");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            out.last_mut().expect("no fold before the first header").1 += line;
        } else {
            let (name, value) = line.split_once(':').expect("a header line has a colon");
            out.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    out
}

fn names(message: &lettre::Message) -> Vec<String> {
    let mut names: Vec<String> = headers(message).into_iter().map(|(n, _)| n).collect();
    names.sort();
    names
}

const EXPECTED_HEADERS: [&str; 8] = [
    "Auto-Submitted",
    "Content-Transfer-Encoding",
    "Content-Type",
    "Date",
    "From",
    "Message-ID",
    "Subject",
    "To",
];

fn date() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn recipients_are_contacts_then_pattern_then_support_without_duplicates() {
    let contacts = vec!["a@x.org".to_owned(), "SUPPORT@example.org".to_owned()];
    assert_eq!(
        recipients(&config(), "web", &contacts),
        ["a@x.org", "SUPPORT@example.org", "web@slices.example.org"]
    );
}

#[test]
fn a_slice_without_contacts_gets_its_pattern_address_and_support() {
    assert_eq!(
        recipients(&config(), "web", &[]),
        ["web@slices.example.org", "support@example.org"]
    );
}

#[test]
fn built_in_slices_get_no_pattern_address() {
    assert_eq!(recipients(&config(), "root", &[]), ["support@example.org"]);
    assert_eq!(
        recipients(&config(), "default", &[]),
        ["support@example.org"]
    );
}

#[test]
fn without_pattern_or_support_only_contacts_remain() {
    let email = EmailConfig::default();
    assert_eq!(recipients(&email, "web", &[]), Vec::<String>::new());
    assert_eq!(
        recipients(&email, "web", &[" c@x.org ".into()]),
        ["c@x.org"]
    );
}

#[test]
fn notice_renders_the_policy_message() {
    let n = notification("web");
    let m = Mail::notice(&config(), "node1", &["ops@x.org".into()], &n, 1_700_050_000);
    let rendered = render(&n, "node1", 1_700_050_000);
    assert_eq!(m.subject, rendered.subject);
    assert_eq!(m.body, rendered.body);
    assert_eq!(m.slice, "web");
    assert_eq!(m.from, "bwmon@node1.example.org");
    assert_eq!(m.reply_to.as_deref(), Some("support@example.org"));
    assert_eq!(
        m.to,
        ["ops@x.org", "web@slices.example.org", "support@example.org"]
    );
    let default_from = Mail::notice(&EmailConfig::default(), "node1", &[], &n, 0);
    assert_eq!(default_from.from, "bwmon@node1");
}

#[test]
fn formatted_message_has_exactly_the_expected_headers() {
    let n = notification("web");
    let m = Mail::notice(&config(), "node1", &["ops@x.org".into()], &n, 1_700_050_000);
    let message = m.to_message(date()).unwrap();
    let mut expected: Vec<&str> = EXPECTED_HEADERS.to_vec();
    expected.push("Reply-To");
    expected.sort();
    assert_eq!(names(&message), expected);
    let h = headers(&message);
    let get = |name: &str| h.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert_eq!(get("From"), "bwmon@node1.example.org");
    assert_eq!(
        get("To"),
        "ops@x.org, web@slices.example.org, support@example.org"
    );
    assert_eq!(
        get("Subject"),
        "bwmon capped bandwidth of slice web on node1"
    );
    assert_eq!(get("Date"), "Tue, 14 Nov 2023 22:13:20 +0000");
    assert_eq!(get("Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(get("Auto-Submitted"), "auto-generated");
    let envelope = message.envelope();
    let to: Vec<String> = envelope.to().iter().map(|a| a.to_string()).collect();
    assert_eq!(to, m.to);
    let text = String::from_utf8(message.formatted()).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, m.body.replace('\n', "\r\n"));
}

#[test]
fn crlf_in_the_subject_cannot_add_headers() {
    for nasty in [
        "web\r\nBcc: evil@x.org",
        "web\nBcc: evil@x.org",
        "web\rBcc: evil@x.org",
        "web\r\n\r\nfake body",
        "web\u{85}Bcc: evil@x.org",
    ] {
        let subject = format!("bwmon capped bandwidth of slice {nasty} on node1");
        let message = mail(nasty, &["a@x.org"], &subject)
            .to_message(date())
            .unwrap();
        assert_eq!(names(&message), EXPECTED_HEADERS, "for {nasty:?}");
        let text = String::from_utf8(message.formatted()).unwrap();
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            !head.contains("\nBcc") && !head.contains("fake body"),
            "{head}"
        );
    }
}

#[test]
fn a_notice_for_a_nasty_slice_name_keeps_its_headers() {
    let nasty = "web\r\nBcc: evil@x.org";
    let m = Mail::notice(
        &config(),
        "node1",
        &["a@x.org".into()],
        &notification(nasty),
        0,
    );
    // The pattern address made from the name is not an address: the message is refused.
    let error = m.to_message(date()).unwrap_err();
    assert!(matches!(error, MailError::Address { .. }), "{error}");
    assert!(error.is_permanent());
    let email = EmailConfig {
        slice_address_pattern: None,
        ..config()
    };
    let m = Mail::notice(
        &email,
        "node1",
        &["a@x.org".into()],
        &notification(nasty),
        0,
    );
    let message = m.to_message(date()).unwrap();
    let mut expected: Vec<&str> = EXPECTED_HEADERS.to_vec();
    expected.push("Reply-To");
    expected.sort();
    assert_eq!(names(&message), expected);
}

#[test]
fn addresses_with_line_breaks_or_junk_are_refused() {
    for bad in [
        "a@x.org\r\nBcc: evil@x.org",
        "a@x.org\nBcc: evil@x.org",
        "a@x.org, evil@x.org",
        "",
        "not an address",
        "a@x.org>\r\nX-Evil: 1",
    ] {
        let to = mail("web", &[bad], "s").to_message(date());
        assert!(
            matches!(to, Err(MailError::Address { ref address, .. }) if address == bad),
            "to {bad:?}: {to:?}"
        );
        let mut from = mail("web", &["a@x.org"], "s");
        from.from = bad.into();
        assert!(from.to_message(date()).is_err(), "from {bad:?}");
        let mut reply = mail("web", &["a@x.org"], "s");
        reply.reply_to = Some(bad.into());
        assert!(reply.to_message(date()).is_err(), "reply-to {bad:?}");
    }
}

#[test]
fn no_recipients_is_a_permanent_error() {
    let error = mail("web", &[], "s").to_message(date()).unwrap_err();
    assert!(matches!(error, MailError::NoRecipients { ref slice } if slice == "web"));
    assert!(error.is_permanent());
}

#[test]
fn display_names_are_accepted_in_from() {
    let mut m = mail("web", &["a@x.org"], "s");
    m.from = "Node One <bwmon@node1.example.org>".into();
    let message = m.to_message(date()).unwrap();
    let h = headers(&message);
    let from = &h.iter().find(|(n, _)| n == "From").unwrap().1;
    assert_eq!(from, "\"Node One\" <bwmon@node1.example.org>");
}
