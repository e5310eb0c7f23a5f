//! The real agent as a service: under a (test) service manager the notify socket gets READY=1
//! after the first sync, STATUS= lines, WATCHDOG=1 at half the watchdog interval, RELOADING=1
//! with MONOTONIC_USEC then READY=1 on SIGHUP, and STOPPING=1 on SIGTERM; and its metrics
//! endpoint, scraped over HTTP and read with Prometheus' own parser, agrees with `status`.
use std::{
    os::unix::net::UnixDatagram,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bwmon_tests::{
    agent::Agent,
    netns::{Pair, addr},
    traffic,
};

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
        first
            .lines()
            .any(|l| l.starts_with("STATUS=") && l.contains("slices")),
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

/// One sample: (name, labels, value).
type Sample = (String, std::collections::BTreeMap<String, String>, f64);

/// GET /metrics from inside the agent's namespace, parsed by `prometheus_client`.
fn scrape(pair: &Pair, port: u16) -> Result<Vec<Sample>> {
    use std::io::{Read, Write};
    let response = pair.a.run_in(move || {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port))?;
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        conn.read_to_string(&mut out)?;
        Ok(out)
    })?;
    let (head, body) = response.split_once("\r\n\r\n").context("HTTP head")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text"), "{head}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/openmetrics_parse.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(body.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "the parser refused:\n{body}");
    let families: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut samples = Vec::new();
    for family in families.as_array().context("families")? {
        let list = family["samples"].as_array().context("samples")?;
        for s in list {
            let labels = s[1]
                .as_object()
                .context("labels")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let name = s[0].as_str().context("name")?.to_owned();
            samples.push((name, labels, s[2].as_f64().context("value")?));
        }
    }
    Ok(samples)
}

fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Result<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
        .with_context(|| format!("no sample {name} {labels:?}"))
}

#[test]
fn the_metrics_endpoint_agrees_with_status() -> Result<()> {
    const PORT: u16 = 9746;
    let pair = Pair::new("mx1")?;
    let config = format!("{CONFIG}\n[metrics]\nlisten = \"127.0.0.1:{PORT}\"\n");
    let agent = Agent::start(&pair.a, &config, SLICES)?;
    let dst = std::net::SocketAddr::new(addr::B4.parse()?, 9);
    traffic::udp_paced_as(&pair.a, 4001, dst, 1000, 200, std::time::Duration::ZERO)?;
    let snap = agent.wait_for(Duration::from_secs(10), |s| {
        s.slices
            .iter()
            .any(|v| v.name == "alice" && v.bytes >= 200 * 1000)
    })?;
    // No more traffic: the next scrape sees the same figures (a sync in between changes none).
    let samples = scrape(&pair, PORT)?;
    let alice = snap
        .slices
        .iter()
        .find(|v| v.name == "alice")
        .context("alice")?;
    let normal = [("slice", "alice"), ("class", "normal")];
    assert_eq!(
        sample(&samples, "bwmon_slice_usage_bytes", &normal)?,
        alice.bytes as f64
    );
    assert_eq!(
        sample(&samples, "bwmon_slice_limit_bytes", &normal)?,
        alice.byte_limit as f64
    );
    assert_eq!(
        sample(&samples, "bwmon_slice_ceiling_bits_per_second", &normal)?,
        alice.ceil_bps as f64
    );
    assert_eq!(sample(&samples, "bwmon_slice_capped", &normal)?, 0.0);
    let syncs = sample(&samples, "bwmon_syncs_total", &[])?;
    assert!(syncs >= 1.0, "{syncs} syncs");
    Ok(())
}

#[test]
fn teardown_after_stop_removes_the_tree_and_the_pins() -> Result<()> {
    let pair = Pair::new("td1")?;
    let mut agent = Agent::start(&pair.a, CONFIG, SLICES)?;
    let qdiscs = || -> Result<String> {
        let out = std::process::Command::new("tc")
            .args(["-n", pair.a.name(), "qdisc", "show", "dev", "veth0"])
            .output()?;
        Ok(String::from_utf8(out.stdout)?)
    };
    assert!(qdiscs()?.contains("htb 1: root"), "{}", qdiscs()?);
    assert!(agent.stop()?, "clean exit");
    // Stopping leaves accounting and shaping in place (a restart adopts them)...
    assert!(qdiscs()?.contains("htb 1: root"));
    assert!(agent.pins.path().exists());
    // ... teardown removes both.
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", pair.a.name()))
        .arg(bwmon_tests::agent::bwmon_bin()?)
        .arg("teardown")
        .arg("--config")
        .arg(agent.config_file())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("removed bwmon's HTB tree from veth0"),
        "{stdout}"
    );
    assert!(!qdiscs()?.contains("htb"), "{}", qdiscs()?);
    assert!(!agent.pins.path().exists(), "pins removed");
    Ok(())
}
