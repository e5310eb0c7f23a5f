//! Test-only helpers for the shaping tests: a network-namespace pair guard (to be swapped for
//! `bwmon_tests::netns`), the real `bwmon_shard` classifier from the eBPF object, and a TCP
//! goodput meter. `ip` is used to set up namespaces (tests only).
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("run ip")?;
    ensure!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Two namespaces joined by a veth: `a` (sender side, `veth` shaped) and `b` (sink).
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    pub veth: &'static str,
}

pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(169, 254, 77, 1);
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(169, 254, 77, 2);

impl NetnsPair {
    pub fn new(tag: &str) -> Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "bws{}{}{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let pair = NetnsPair {
            a: format!("{id}a"),
            b: format!("{id}b"),
            veth: "bw0",
        };
        ip(&["netns", "add", &pair.a])?;
        ip(&["netns", "add", &pair.b])?; // Drop now cleans up whatever exists
        ip(&[
            "-n", &pair.a, "link", "add", "bw0", "type", "veth", "peer", "name", "bw1", "netns",
            &pair.b,
        ])?;
        for (ns, dev, addr) in [(&pair.a, "bw0", ADDR_A), (&pair.b, "bw1", ADDR_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// Runs `f` on a thread that has entered namespace `ns`.
    pub fn run_in<T: Send>(ns: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        std::thread::scope(|s| s.spawn(|| enter(ns).and_then(|_| f())).join())
            .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
    }

    pub fn ifindex(&self) -> Result<u32> {
        Self::run_in(&self.a, || {
            let name = std::ffi::CString::new(self.veth)?;
            // SAFETY: a valid NUL-terminated string.
            let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
            ensure!(idx != 0, "no {} in {}", self.veth, self.a);
            Ok(idx)
        })
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Moves the calling thread into the named network namespace.
pub fn enter(ns: &str) -> Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).context("open netns")?;
    // SAFETY: a valid namespace fd; only this thread changes namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    ensure!(rc == 0, "setns: {}", std::io::Error::last_os_error());
    Ok(())
}

/// The real `bwmon_shard` classifier from bwmon's eBPF object (loaded in a throw-away pin
/// directory that disappears with the guard).
pub struct ShardClassifier {
    acc: bwmon::accounting::Accounting,
    _pins: bwmon_tests::pins::PinDir,
}

impl ShardClassifier {
    pub fn as_fd(&mut self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        let prog = self
            .acc
            .classifier_mut(bwmon_common::SHARD_CLASSIFIER_NAME)
            .expect("the object has bwmon_shard");
        prog.fd().expect("loaded").as_fd()
    }
}

pub fn load_shard_classifier() -> Result<ShardClassifier> {
    let pins = bwmon_tests::pins::PinDir::new("shard");
    let mut acc =
        bwmon::accounting::Accounting::load(pins.options(bwmon::accounting::SliceIdMode::Uid))?;
    acc.classifier_mut(bwmon_common::SHARD_CLASSIFIER_NAME)?;
    Ok(ShardClassifier { acc, _pins: pins })
}

/// Sets SO_PRIORITY (values > 6 need CAP_NET_ADMIN).
fn set_priority(s: &TcpStream, prio: u32) -> Result<()> {
    let v = prio as libc::c_int;
    // SAFETY: a valid socket and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PRIORITY,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    ensure!(rc == 0, "SO_PRIORITY: {}", std::io::Error::last_os_error());
    Ok(())
}

/// Bytes received per `TICK` by each flow's sink, from a common start.
pub struct Timeline {
    pub ticks: Vec<Vec<u64>>,
}

pub const TICK: Duration = Duration::from_millis(100);

impl Timeline {
    /// Goodput of `flow` in bit/s between `from` and `to` (seconds since the start).
    pub fn rate(&self, flow: usize, from: f64, to: f64) -> f64 {
        let t = TICK.as_secs_f64();
        let (a, b) = ((from / t).round() as usize, (to / t).round() as usize);
        let bytes: u64 = self.ticks[flow].iter().skip(a).take(b - a).sum();
        bytes as f64 * 8.0 / (to - from)
    }
}

/// Runs one TCP flow per priority from `a` to `b` for `total`, calling `during` on this thread
/// while they run, and returns what each sink received per tick.
pub fn flows(
    pair: &NetnsPair,
    prios: &[u32],
    total: Duration,
    during: impl FnOnce(Instant) -> Result<()>,
) -> Result<Timeline> {
    let listeners = NetnsPair::run_in(&pair.b, || {
        prios
            .iter()
            .map(|_| TcpListener::bind(SocketAddrV4::new(ADDR_B, 0)).map_err(Into::into))
            .collect::<Result<Vec<_>>>()
    })?;
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let end = start + total;
    std::thread::scope(|s| {
        let senders: Vec<_> = ports
            .iter()
            .zip(prios)
            .map(|(port, prio)| {
                let ns = pair.a.clone();
                s.spawn(move || -> Result<()> {
                    enter(&ns)?;
                    let mut c = TcpStream::connect_timeout(
                        &SocketAddrV4::new(ADDR_B, *port).into(),
                        Duration::from_secs(2),
                    )?;
                    set_priority(&c, *prio)?;
                    c.set_write_timeout(Some(Duration::from_millis(200)))?;
                    let buf = vec![0u8; 64 * 1024];
                    while Instant::now() < end + Duration::from_millis(300) {
                        match c.write(&buf) {
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(_) => break,
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let sinks: Vec<_> = listeners
            .into_iter()
            .map(|l| {
                s.spawn(move || -> Result<Vec<u64>> {
                    l.set_nonblocking(true)?;
                    let mut c = loop {
                        match l.accept() {
                            Ok((c, _)) => break c,
                            Err(_) if Instant::now() < end => {
                                std::thread::sleep(Duration::from_millis(5))
                            }
                            Err(e) => return Err(e.into()),
                        }
                    };
                    c.set_nonblocking(false)?;
                    c.set_read_timeout(Some(Duration::from_millis(50)))?;
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut ticks = vec![0u64; (total.as_millis() / TICK.as_millis()) as usize + 1];
                    while Instant::now() < end {
                        let n = c.read(&mut buf).unwrap_or(0) as u64;
                        let at = (start.elapsed().as_millis() / TICK.as_millis()) as usize;
                        if let Some(t) = ticks.get_mut(at) {
                            *t += n;
                        }
                    }
                    Ok(ticks)
                })
            })
            .collect();
        during(start)?;
        let ticks = sinks
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("sink panicked"))?)
            .collect::<Result<Vec<_>>>()?;
        for h in senders {
            h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??;
        }
        Ok(Timeline { ticks })
    })
}
