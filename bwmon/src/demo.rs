//! The built-in demo: when no interface is configured, bwmon builds its own topology — two
//! network namespaces joined by a veth — and sends traffic in it as a few Unix users, so a
//! newcomer sees the whole thing work on any machine with BPF. Everything it creates is removed
//! when it stops (Ctrl-C or the end of `--duration`).
use std::{
    net::{SocketAddr, UdpSocket},
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// Errors of the demo topology.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("`ip {args}` failed: {stderr}")]
    Ip { args: String, stderr: String },
    #[error("cannot run `ip`: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("namespace {ns}: {source}")]
    Enter {
        ns: String,
        #[source]
        source: std::io::Error,
    },
}

/// A demo slice: a Unix uid sending UDP at a steady rate, to a normal or an exempt destination.
#[derive(Clone, Debug)]
pub struct DemoSender {
    pub name: &'static str,
    pub uid: u32,
    pub dst: SocketAddr,
    pub bytes_per_sec: u64,
}

/// Names and addresses of the demo topology.
pub struct Topology {
    pub sender_ns: String,
    pub sink_ns: String,
    pub ifname: &'static str,
}

pub const EXEMPT_PREFIX: &str = "198.18.1.0/24";

/// The demo's slice list: small budgets, so that alice (normal class) and carol (exempt class)
/// cross their thresholds within a minute of traffic while bob stays well below his.
pub const SLICES_JSON: &str = r#"{"slices": [
  {"name": "alice", "xid": 4001, "contacts": ["alice@example.org"],
   "attributes": {"net_max_kbyte": 16000}},
  {"name": "bob", "xid": 4002, "attributes": {"net_max_kbyte": 1000000}},
  {"name": "carol", "xid": 4003, "attributes": {"net_i2_max_kbyte": 2500}}
]}"#;

/// The demo's configuration, with its files under `dir`.
pub fn config(dir: &std::path::Path, pid: u32) -> crate::config::Config {
    use crate::{config::Config, units::Rate};
    Config {
        interfaces: vec!["veth0".to_owned()],
        node_cap: Rate::from_bits_per_sec(20_000_000),
        hardware_max: Rate::from_bits_per_sec(100_000_000),
        period: Duration::from_secs(600),
        sync_interval: Duration::from_secs(1),
        exempt_prefixes: EXEMPT_PREFIX.parse().into_iter().collect(),
        slices_file: dir.join("slices.json"),
        state_dir: dir.join("state"),
        control_socket: dir.join("control.sock"),
        bpf_pin_dir: PathBuf::from(format!("/sys/fs/bpf/bwmon-demo-{pid}")),
        max_slices: 1024,
        // Notices go to the log (no mail on a demo box), addressed as a real node would.
        email: crate::config::EmailConfig {
            support_address: Some("support@demo.invalid".to_owned()),
            slice_address_pattern: Some("{slice}@slices.demo.invalid".to_owned()),
            ..Default::default()
        },
        ..Config::default()
    }
}

pub fn senders() -> Vec<DemoSender> {
    let dst = |ip: &str| SocketAddr::new(ip.parse().unwrap_or([198, 18, 0, 2].into()), 9);
    vec![
        DemoSender {
            name: "alice",
            uid: 4001,
            dst: dst("198.18.0.2"),
            bytes_per_sec: 400_000,
        },
        DemoSender {
            name: "bob",
            uid: 4002,
            dst: dst("198.18.0.2"),
            bytes_per_sec: 100_000,
        },
        DemoSender {
            name: "bob",
            uid: 4002,
            dst: dst("198.18.1.2"),
            bytes_per_sec: 200_000,
        },
        DemoSender {
            name: "carol",
            uid: 4003,
            dst: dst("198.18.1.2"),
            bytes_per_sec: 50_000,
        },
    ]
}

fn ip(args: &[&str]) -> Result<(), DemoError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(DemoError::Spawn)?;
    if !out.status.success() {
        return Err(DemoError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

impl Topology {
    /// Creates `bwdemo-<pid>-a` (senders) and `-b` (sink) joined by `veth0`.
    pub fn create() -> Result<Self, DemoError> {
        let pid = std::process::id();
        let topo = Self {
            sender_ns: format!("bwdemo-{pid}-a"),
            sink_ns: format!("bwdemo-{pid}-b"),
            ifname: "veth0",
        };
        ip(&["netns", "add", &topo.sender_ns])?;
        ip(&["netns", "add", &topo.sink_ns])?;
        let (a, b, i) = (topo.sender_ns.as_str(), topo.sink_ns.as_str(), topo.ifname);
        ip(&[
            "-n", a, "link", "add", i, "type", "veth", "peer", "name", i, "netns", b,
        ])?;
        for (ns, addrs) in [
            (a, &["198.18.0.1/24"][..]),
            (b, &["198.18.0.2/24", "198.18.1.2/24"][..]),
        ] {
            for addr in addrs {
                ip(&["-n", ns, "addr", "add", addr, "dev", i])?;
            }
            ip(&["-n", ns, "link", "set", i, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&["-n", a, "route", "add", "198.18.1.0/24", "dev", i])?;
        Ok(topo)
    }

    /// Starts one thread per sender; they stop when `stop` is set.
    pub fn start_traffic(&self, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
        senders()
            .into_iter()
            .map(|s| {
                let (ns, stop) = (self.sender_ns.clone(), stop.clone());
                std::thread::spawn(move || {
                    if let Err(error) = send_loop(&ns, &s, &stop) {
                        tracing::warn!(sender = s.name, %error, "demo traffic stopped");
                    }
                })
            })
            .collect()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.sender_ns, &self.sink_ns] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn enter(ns: &str) -> Result<(), DemoError> {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from("/run/netns").join(ns);
    let err = |source| DemoError::Enter {
        ns: ns.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    // SAFETY: setns on a namespace fd we hold; it changes only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sends 1000-byte datagrams as `s.uid` at `s.bytes_per_sec` until stopped.
fn send_loop(ns: &str, s: &DemoSender, stop: &AtomicBool) -> Result<(), DemoError> {
    enter(ns)?;
    let io = |source| DemoError::Enter {
        ns: ns.to_owned(),
        source,
    };
    // A socket belongs to the fsuid of the thread that creates it; fsuid is per thread.
    // SAFETY: changes only this thread's filesystem uid; restored right after.
    let previous = unsafe { libc::setfsuid(s.uid) };
    let socket = UdpSocket::bind("0.0.0.0:0");
    // SAFETY: as above.
    unsafe { libc::setfsuid(previous as u32) };
    let socket = socket.map_err(io)?;
    // A capped slice's queue fills up: drop what does not fit instead of blocking, so the
    // sender keeps its pace and stops when told.
    socket.set_nonblocking(true).map_err(io)?;
    let payload = [0x5a_u8; 1000];
    let per_tick = (s.bytes_per_sec / 10 / payload.len() as u64).max(1);
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..per_tick {
            let _ = socket.send_to(&payload, s.dst);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
