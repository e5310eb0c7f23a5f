//! E-mail from the real agent: a slice that passes its threshold is told once per period, through
//! the agent's lettre SMTP transport, by a real SMTP server (aiosmtpd) in the agent's namespace.
use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, Result, ensure};
use bwmon::status::{SliceView, Snapshot};
use bwmon_tests::{
    agent::Agent,
    frames::{ETH_LEN, IPV4_LEN, UDP_LEN},
    netns::{Pair, addr},
    smtp::{Sink, received, wait_for},
    traffic,
};

/// Inside the agent's namespace, so any fixed port is free.
const SMTP_PORT: u16 = 2525;

fn config() -> String {
    format!(
        r#"interfaces = ["veth0"]
node_cap = "50mbit"
hardware_max = "100mbit"
period = "20s"
sync_interval = "1s"
hostname = "node1.test"

[email]
transport = "smtp"
smtp_host = "127.0.0.1"
smtp_port = {SMTP_PORT}
smtp_tls = "none"
from = "bwmon@node1.test"
support_address = "support@example.org"
slice_address_pattern = "{{slice}}@slices.example.org"
"#
    )
}

/// alice: 2,000 KByte, threshold 80% = 1,638,400 bytes. carol never sends.
const SLICES: &str = r#"{"slices": [
  {"name": "alice", "xid": 4001, "attributes": {"net_max_kbyte": 2000}, "contacts": ["alice@example.org"]},
  {"name": "carol", "xid": 4003, "contacts": ["carol@example.org"]}]}"#;
const UID: u32 = 4001;
const THRESHOLD: u64 = 2000 * 1024 * 8 / 10;
const FRAME: u64 = (ETH_LEN + IPV4_LEN + UDP_LEN + 1000) as u64;

fn alice(s: &Snapshot) -> Option<&SliceView> {
    s.slices.iter().find(|v| v.name == "alice")
}

/// Sends 10% more than the threshold as alice, over about two seconds (lossy once capped).
fn cross(pair: &Pair) -> Result<()> {
    let dst = SocketAddr::new(addr::B4.parse()?, 9);
    let n = (THRESHOLD * 11 / 10 / FRAME) as usize;
    traffic::udp_paced_lossy_as(&pair.a, UID, dst, 1000, n, Duration::from_secs(2))?;
    Ok(())
}

fn check(message: &serde_json::Value) -> Result<()> {
    assert_eq!(message["mail_from"], "bwmon@node1.test");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!([
            "alice@example.org",
            "alice@slices.example.org",
            "support@example.org"
        ])
    );
    let data = message["data"].as_str().context("data")?;
    let (head, body) = data.split_once("\r\n\r\n").context("header block")?;
    assert!(
        head.contains("Subject: bwmon capped bandwidth of slice alice on node1.test"),
        "{head}"
    );
    assert!(head.contains("Reply-To: support@example.org"), "{head}");
    let body = body.replace("\r\n", "\n");
    assert!(
        body.starts_with("The slice alice has transmitted more than"),
        "{body}"
    );
    assert!(body.contains("node1.test to normal destinations"), "{body}");
    assert!(body.contains("Its maximum normal burst rate will be capped at"));
    assert!(
        body.contains("of the slice to 2.0 MB per 20 seconds"),
        "{body}"
    );
    assert!(
        body.trim_end().ends_with("node1.test bwcap alice"),
        "{body}"
    );
    Ok(())
}

#[test]
fn a_capped_slice_is_mailed_once_per_period_with_its_recipients_and_body() -> Result<()> {
    let pair = Pair::new("am1")?;
    let mailbox = tempfile::tempdir()?;
    let _sink = Sink::start(SMTP_PORT, mailbox.path(), Some(&pair.a))?;
    let agent = Agent::start(&pair.a, &config(), SLICES)?;

    // Period 1: cross, get exactly one message.
    cross(&pair)?;
    let first = agent.wait_for(Duration::from_secs(10), |s| {
        alice(s).is_some_and(|a| a.capped && a.notified)
    })?;
    let period_end = alice(&first).context("alice")?.period_end_unix;
    let got = wait_for(mailbox.path(), 1, Duration::from_secs(15), Duration::ZERO)?;
    check(&got[0])?;
    // More traffic in the same period, and the rest of the period: no second message.
    cross(&pair)?;
    agent.wait_for(Duration::from_secs(30), |s| s.now_unix > period_end + 1)?;
    let got = received(mailbox.path())?;
    ensure!(
        got.len() == 1,
        "one message in the first period, got {}: {got:?}",
        got.len()
    );

    // Period 2: the cap lifted; crossing again is told again, once.
    let renewed = agent.wait_for(Duration::from_secs(10), |s| {
        alice(s).is_some_and(|a| !a.capped && !a.notified && a.period_start_unix >= period_end)
    })?;
    let period_end = alice(&renewed).context("alice")?.period_end_unix;
    cross(&pair)?;
    let got = wait_for(
        mailbox.path(),
        2,
        Duration::from_secs(15),
        Duration::from_secs(1),
    )?;
    let now = agent.status()?.now_unix;
    ensure!(now < period_end, "the test outran its second period");
    ensure!(got.len() == 2, "two messages in two periods: {got:?}");
    check(&got[1])?;
    assert!(
        got.iter()
            .all(|m| !m["rcpt_tos"].to_string().contains("carol")),
        "carol never crossed"
    );
    let snap = agent.status()?;
    assert_eq!(snap.agent.mail_queue, 0, "nothing left queued");
    assert_eq!(snap.agent.errors, 0, "log:\n{}", agent.log());
    Ok(())
}
