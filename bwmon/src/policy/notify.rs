//! The text of a notification, from the seed's template.
//!
//! Differences from the seed: the exempt class's paragraph shows the exempt ceiling (the seed
//! printed the normal one), both capped classes share one message, sizes use consistent SI steps,
//! and the classes are called "normal" and "exempt" (the seed's "low bandwidth" / "high
//! bandwidth").
use super::decisions::Notification;
use super::format::{format_bytes, format_period, format_rate, format_time};

/// A rendered notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    /// Plain text, lines ending in `\n`.
    pub body: String,
}

/// Renders a notification for a node called `hostname`, dated `now` (unix seconds).
pub fn render(notification: &Notification, hostname: &str, now: u64) -> Message {
    let slice = &notification.slice;
    let since = format_time(notification.since);
    let until = format_time(notification.until);
    let period = format_period(notification.period_secs);
    let mut body = String::new();
    for capped in &notification.classes {
        let class = capped.class.label();
        body.push_str(&format!(
            "The slice {slice} has transmitted more than {bytes} from\n\
             {hostname} to {class} destinations\n\
             since {since}.\n\
             \n\
             Its maximum {class} burst rate will be capped at {rate}/s\n\
             until {until}.\n\
             \n\
             Please reduce the average {class} transmission rate\n\
             of the slice to {limit} per {period}.\n\
             \n",
            bytes = format_bytes(capped.used_bytes),
            rate = format_rate(capped.ceil_bps),
            limit = format_bytes(capped.limit_bytes),
        ));
    }
    body.push_str(&format!("{} {hostname} bwcap {slice}\n", format_time(now)));
    Message {
        subject: format!("bwmon capped bandwidth of slice {slice} on {hostname}"),
        body,
    }
}
