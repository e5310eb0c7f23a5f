//! The agent's full sync cycle and resident memory (privileged: runs the real `bwmon run` in a
//! network namespace of its own, with a veth pair to shape).
//!
//! For each size the agent starts with N slices (xids 10001..), builds its tree, and then syncs
//! every second: read all counters, run the policy, dump the kernel's HTB tree and diff it, write
//! the ledger and the class ids. The figure is the agent's own `sync_ms` (status), median of
//! `SAMPLES` steady-state syncs, and its VmRSS / VmHWM from /proc. The baseline is the same agent
//! with no slices (only `root` and `default`), run in the same process.
//!
//! `cargo bench -p bwmon --bench agent` (as root). `BWMON_BENCH_SLICES=1000,30000` sets the sizes;
//! `BWMON_BENCH_EXEMPT_CLASSES=when_limited` sets the config's `exempt_classes`.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bwmon::status::{self, Snapshot};

const SAMPLES: usize = 9;

struct Netns(String);

impl Netns {
    fn new(tag: usize) -> Result<Self> {
        let ns = Netns(format!("bwagentbench{}-{tag}", std::process::id()));
        run("ip", &["netns", "add", &ns.0])?;
        run(
            "ip",
            &[
                "-n", &ns.0, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
            ],
        )?;
        run("ip", &["-n", &ns.0, "link", "set", "veth0", "up"])?;
        run("ip", &["-n", &ns.0, "link", "set", "veth1", "up"])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(cmd).args(args).status()?;
    ensure!(status.success(), "{cmd} {args:?} failed");
    Ok(())
}

/// The agent process; SIGTERM and wait on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[derive(Clone, Copy)]
struct Figures {
    slices: usize,
    first_sync: Duration,
    sync_ms: f64,
    rss_kib: u64,
    hwm_kib: u64,
}

fn proc_status_kib(pid: u32, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .with_context(|| format!("{key} in /proc/{pid}/status"))
}

fn wait_for(socket: &Path, timeout: Duration, ok: impl Fn(&Snapshot) -> bool) -> Result<Snapshot> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = status::fetch(socket, Duration::from_secs(5))
            && ok(&s)
        {
            return Ok(s);
        }
        if Instant::now() > deadline {
            bail!("agent not ready after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn measure(slices: usize) -> Result<Figures> {
    let ns = Netns::new(slices)?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let list: Vec<String> = (0..slices)
        .map(|i| format!(r#"{{"name": "s{i}", "xid": {}}}"#, 10_001 + i))
        .collect();
    std::fs::write(
        d.join("slices.json"),
        format!(r#"{{"slices": [{}]}}"#, list.join(",\n")),
    )?;
    let exempt_classes =
        std::env::var("BWMON_BENCH_EXEMPT_CLASSES").unwrap_or_else(|_| "per_slice".into());
    let config = format!(
        "interfaces = [\"veth0\"]\nsync_interval = \"1s\"\nmax_slices = {}\n\
         exempt_classes = \"{exempt_classes}\"\n\
         slices_file = \"{d}/slices.json\"\nstate_dir = \"{d}/state\"\n\
         control_socket = \"{d}/control.sock\"\nbpf_pin_dir = \"/sys/fs/bpf/{ns}\"\n",
        (slices + 16).next_power_of_two().max(1024),
        d = d.display(),
        ns = ns.0,
    );
    std::fs::write(d.join("bwmon.toml"), config)?;
    let started = Instant::now();
    let agent = Agent(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_bwmon"),
                "run",
                "--config",
            ])
            .arg(d.join("bwmon.toml"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let socket = d.join("control.sock");
    let first = wait_for(&socket, Duration::from_secs(600), |s| s.agent.syncs >= 1)?;
    let first_sync = started.elapsed();
    ensure!(
        first.slices.len() == slices + 2,
        "{} slices listed",
        first.slices.len()
    );
    let mut samples = Vec::new();
    let mut seen = first.agent.syncs;
    while samples.len() < SAMPLES {
        let s = wait_for(&socket, Duration::from_secs(60), |s| s.agent.syncs > seen)?;
        seen = s.agent.syncs;
        samples.push(s.agent.sync_ms);
    }
    samples.sort_by(f64::total_cmp);
    let pid = first.agent.pid;
    let figures = Figures {
        slices,
        first_sync,
        sync_ms: samples[SAMPLES / 2],
        rss_kib: proc_status_kib(pid, "VmRSS:")?,
        hwm_kib: proc_status_kib(pid, "VmHWM:")?,
    };
    drop(agent);
    let _ = bwmon::accounting::teardown(Path::new(&format!("/sys/fs/bpf/{}", ns.0)));
    Ok(figures)
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let sizes: Vec<usize> = std::env::var("BWMON_BENCH_SLICES")
        .unwrap_or_else(|_| "1000,30000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let base = measure(0)?;
    println!(
        "agent sync cycle (read counters, policy, HTB dump + diff, ledger and class-id writes), \
         median of {SAMPLES} syncs; baseline = the same agent with no slices"
    );
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>11} {:>11} {:>10}",
        "slices", "first sync", "sync ms", "x base", "RSS MiB", "peak MiB", "x base RSS"
    );
    for f in std::iter::once(Ok(base)).chain(sizes.iter().map(|&n| measure(n))) {
        let f = f?;
        println!(
            "{:>8} {:>11.1}s {:>10.2} {:>9.1}x {:>11.1} {:>11.1} {:>9.1}x",
            f.slices,
            f.first_sync.as_secs_f64(),
            f.sync_ms,
            f.sync_ms / base.sync_ms.max(0.001),
            f.rss_kib as f64 / 1024.0,
            f.hwm_kib as f64 / 1024.0,
            f.rss_kib as f64 / base.rss_kib.max(1) as f64,
        );
    }
    Ok(())
}
