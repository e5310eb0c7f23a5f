//! Notifications into the log (the "log" mail transport, and the demo's).
use super::{
    core::{Notifier, Outgoing},
    unix_now,
};
use crate::policy::render;

pub struct LogNotifier {
    hostname: String,
}

impl LogNotifier {
    pub fn new(hostname: String) -> Self {
        Self { hostname }
    }
}

impl Notifier for LogNotifier {
    fn notify(&mut self, out: Outgoing) {
        let message = render(&out.notification, &self.hostname, unix_now());
        tracing::info!(
            slice = %out.notification.slice,
            to = ?out.contacts,
            subject = %message.subject,
            body = %message.body,
            "notification"
        );
    }
}
