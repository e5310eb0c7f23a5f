//! The real agent under a (test) service manager: the notify socket gets READY=1 after the first
//! sync, STATUS= lines, WATCHDOG=1 at half the watchdog interval, RELOADING=1 with
//! MONOTONIC_USEC then READY=1 on SIGHUP, and STOPPING=1 on SIGTERM.
use std::{
    os::unix::net::UnixDatagram,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use bwmon_tests::{agent::Agent, netns::Pair};

const CONFIG: &str = r#"interfaces = ["veth0"]
sync_interval = "1s"
"#;
const SLICES: &str = r#"{"slices": [{"name": "alice", "xid": 4001}]}"#;

/// Every datagram received so far, in order.
#[derive(Clone, Default)]
struct Manager(Arc<Mutex<Vec<String>>>);

impl Manager {
    fn listen(socket: UnixDatagram) -> Manager {
        let got = Manager::default();
        let sink = got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.0.lock().expect("lock").push(text);
            }
        });
        got
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }

    /// Waits until a datagram after the first `skip` satisfies `ok`; returns its index.
    fn wait(&self, skip: usize, what: &str, ok: impl Fn(&str) -> bool) -> Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.all().iter().skip(skip).position(|d| ok(d)) {
                return Ok(skip + i);
            }
            if Instant::now() > deadline {
                bail!("no {what} after datagram {skip}: {:?}", self.all());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn has(datagram: &str, line: &str) -> bool {
    datagram.lines().any(|l| l == line)
}

#[test]
fn the_agent_speaks_the_notify_protocol_and_feeds_the_watchdog() -> Result<()> {
    let pair = Pair::new("sd1")?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notify.sock");
    let manager = Manager::listen(UnixDatagram::bind(&path)?);
    let socket = path.to_string_lossy().into_owned();
    let agent = Agent::start_with_env(
        &pair.a,
        CONFIG,
        SLICES,
        &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "600000")],
    )?;

    let ready = manager.wait(0, "READY=1", |d| has(d, "READY=1"))?;
    let first = &manager.all()[ready];
    assert!(
        first.lines().any(|l| l.starts_with("STATUS=") && l.contains("slices")),
        "{first:?}"
    );
    assert!(
        !manager.all()[..ready].iter().any(|d| has(d, "READY=1")),
        "READY=1 once"
    );

    // 600 ms watchdog: a ping every 300 ms.
    let mark = manager.all().len();
    std::thread::sleep(Duration::from_millis(1500));
    let pings = manager.all()[mark..]
        .iter()
        .filter(|d| has(d, "WATCHDOG=1"))
        .count();
    assert!((3..=7).contains(&pings), "{pings} pings in 1.5 s");

    let mark = manager.all().len();
    let before = bwmon::systemd::monotonic_usec();
    agent.signal(libc::SIGHUP)?;
    let reloading = manager.wait(mark, "RELOADING=1", |d| has(d, "RELOADING=1"))?;
    let usec: u64 = manager.all()[reloading]
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or("0")
        .parse()?;
    assert!(
        usec >= before && usec < before + 5_000_000,
        "MONOTONIC_USEC {usec} vs {before}"
    );
    manager.wait(reloading + 1, "READY=1 after the reload", |d| {
        has(d, "READY=1")
    })?;

    let mark = manager.all().len();
    agent.signal(libc::SIGTERM)?;
    manager.wait(mark, "STOPPING=1", |d| has(d, "STOPPING=1"))?;
    Ok(())
}
