//! One notice and its RFC 5322 form.
use std::time::SystemTime;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes};

use super::MailError;
use crate::config::EmailConfig;
use crate::policy::{Notification, is_special, render};

/// One e-mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// The slice it is about (for logs).
    pub slice: String,
    pub from: String,
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    /// Plain text, lines ending in `\n`.
    pub body: String,
}

/// Who is told about `slice`: its contacts, its pattern address (not for the built-in slices),
/// then the support address; each address once (compared without case).
pub fn recipients(email: &EmailConfig, slice: &str, contacts: &[String]) -> Vec<String> {
    let pattern = if is_special(slice) {
        None
    } else {
        email.slice_address(slice)
    };
    let mut out: Vec<String> = Vec::new();
    let candidates = contacts
        .iter()
        .cloned()
        .chain(pattern)
        .chain(email.support_address.clone());
    for address in candidates {
        let address = address.trim().to_owned();
        if !address.is_empty() && !out.iter().any(|a| a.eq_ignore_ascii_case(&address)) {
            out.push(address);
        }
    }
    out
}

impl Mail {
    /// The notice for `notification` on node `hostname`, dated `now` (unix seconds), sent to
    /// [`recipients`] of the slice with these `contacts`.
    pub fn notice(
        email: &EmailConfig,
        hostname: &str,
        contacts: &[String],
        notification: &Notification,
        now: u64,
    ) -> Mail {
        let message = render(notification, hostname, now);
        Mail {
            slice: notification.slice.clone(),
            from: email.from_address(hostname),
            reply_to: email.support_address.clone(),
            to: recipients(email, &notification.slice, contacts),
            subject: message.subject,
            body: message.body,
        }
    }

    /// The message as lettre builds it (headers validated and encoded), dated `date`.
    pub fn to_message(&self, date: SystemTime) -> Result<lettre::Message, MailError> {
        if self.to.is_empty() {
            return Err(MailError::NoRecipients {
                slice: self.slice.clone(),
            });
        }
        let mut to = Mailboxes::new();
        for address in &self.to {
            to.push(mailbox(address)?);
        }
        let mut builder = lettre::Message::builder()
            .from(mailbox(&self.from)?)
            .mailbox(lettre::message::header::To::from(to))
            .subject(self.subject.as_str())
            .date(date)
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .header(AutoSubmitted);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(mailbox(reply_to)?);
        }
        builder
            .body(self.body.clone())
            .map_err(|source| MailError::Build {
                slice: self.slice.clone(),
                source,
            })
    }
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::Address {
        address: address.to_owned(),
        source,
    })
}

/// `Auto-Submitted: auto-generated` (RFC 3834): auto-responders do not answer it.
#[derive(Clone, Copy, Debug)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim().eq_ignore_ascii_case("auto-generated") {
            Ok(AutoSubmitted)
        } else {
            Err(format!("unexpected Auto-Submitted value {s:?}").into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
