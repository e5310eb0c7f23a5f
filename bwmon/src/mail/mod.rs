//! E-mail: telling a slice (and support) that it reached its threshold.
//!
//! - [`Mail`] is one notice: sender, recipients, subject and plain-text body. [`Mail::notice`]
//!   builds it from a policy [`Notification`] and the slice's contacts.
//! - [`Mailer`] sends a [`Mail`]; [`Transport`] is the configured one (SMTP, sendmail, or log
//!   only). Unit tests of the agent use a fake.
//! - [`MailQueue`] is a tokio task fed through a channel: the sync loop never waits for mail.
//!   Failed sends are retried with exponential backoff ([`RetryPolicy`]), each failure logged;
//!   a message still unsent after `give_up_after` is logged at error level, whole, and dropped.
//!
//! Recipients: the slice's contacts, its pattern address (`email.slice_address_pattern`, not for
//! the built-in `root` and `default` slices, as in the seed), and the support address, without
//! duplicates. Every header is produced by lettre's typed builder: addresses are parsed (a CR or
//! LF makes them invalid) and unstructured values such as the subject are RFC 2047-encoded, so no
//! value can add a header.
mod message;
mod queue;
mod transport;

pub use message::{Mail, recipients};
pub use queue::{MailQueue, MailSender, QueueStats, RetryPolicy};
pub use transport::Transport;

use std::future::Future;
use std::path::PathBuf;

/// Sends one e-mail.
pub trait Mailer: Send + Sync + 'static {
    fn send(&self, mail: &Mail) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid e-mail address {address:?}: {source}")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("no recipients for the notice of slice {slice}")]
    NoRecipients { slice: String },
    #[error("cannot build the message for slice {slice}: {source}")]
    Build {
        slice: String,
        #[source]
        source: lettre::error::Error,
    },
    #[error("email.smtp_host is required with transport = \"smtp\"")]
    NoSmtpHost,
    #[error("cannot read the SMTP password from {}: {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the SMTP CA certificate from {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("SMTP to {host}:{port}: {source}")]
    Smtp {
        host: String,
        port: u16,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("{}: {source}", command.display())]
    Sendmail {
        command: PathBuf,
        #[source]
        source: lettre::transport::sendmail::Error,
    },
    #[error("the mail queue has stopped")]
    QueueClosed,
}

impl MailError {
    /// Errors that retrying cannot fix: the message itself is unusable.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            MailError::Address { .. } | MailError::NoRecipients { .. } | MailError::Build { .. }
        )
    }
}
