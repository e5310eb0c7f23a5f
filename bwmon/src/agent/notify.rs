//! Notifications the policy decided, handed to the mail queue (which never blocks the core).
use super::{
    core::{Notifier, Outgoing},
    unix_now,
};
use crate::{
    config::EmailConfig,
    mail::{Mail, MailSender},
};

/// Turns each notification into a [`Mail`] and queues it.
pub struct MailNotifier {
    sender: MailSender,
}

impl MailNotifier {
    pub fn new(sender: MailSender) -> Self {
        Self { sender }
    }
}

impl Notifier for MailNotifier {
    fn notify(&mut self, email: &EmailConfig, hostname: &str, out: Outgoing) {
        let mail = Mail::notice(
            email,
            hostname,
            &out.contacts,
            &out.notification,
            unix_now(),
        );
        tracing::debug!(slice = %mail.slice, to = %mail.to.join(", "), "notice queued");
        if let Err(error) = self.sender.send(mail) {
            // The queue logged the whole message; count it as an agent error too.
            tracing::error!(%error, slice = %out.notification.slice, "notice not queued");
        }
    }

    fn pending(&self) -> u64 {
        self.sender.pending()
    }
}
