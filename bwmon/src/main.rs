//! `bwmon`: the node agent and its command-line tools.
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use bwmon::{
    accounting::{self, Accounting, Options, SliceIdMode},
    demo,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Per-slice byte accounting in eBPF and daily transfer budgets with HTB"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent. With `--demo` (or no interface configured) it builds its own namespaces
    /// and traffic and shows the slices being counted.
    Run {
        /// Run the built-in demo topology.
        #[arg(long)]
        demo: bool,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Remove everything bwmon pinned (and so attached) under a bpffs directory.
    Teardown {
        #[arg(long, default_value = "/sys/fs/bpf/bwmon")]
        pin_dir: PathBuf,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Run { demo: _, duration } => run_demo(duration.map(Duration::from_secs)),
        Command::Teardown { pin_dir } => {
            let removed = accounting::teardown(&pin_dir)?;
            println!(
                "removed {removed} pinned objects from {}",
                pin_dir.display()
            );
            Ok(())
        }
    }
}

fn run_demo(duration: Option<Duration>) -> Result<()> {
    let topo = demo::Topology::create().context("building the demo topology")?;
    topo.enter_sender_ns()?;
    let pin_dir = PathBuf::from(format!("/sys/fs/bpf/bwmon-demo-{}", std::process::id()));
    let result = demo_loop(&topo, &pin_dir, duration);
    if let Err(error) = accounting::teardown(&pin_dir) {
        tracing::warn!(%error, "demo teardown");
    }
    drop(topo);
    result
}

fn demo_loop(
    topo: &demo::Topology,
    pin_dir: &std::path::Path,
    duration: Option<Duration>,
) -> Result<()> {
    let mut acc = Accounting::load(Options {
        mode: SliceIdMode::Uid,
        pin_dir: pin_dir.to_owned(),
        max_slices: 1024,
        dense_xids: 65_536,
        ebpf_log: false,
        bench_keys: None,
    })?;
    acc.set_exempt(&[(demo::EXEMPT_PREFIX.parse()?, true)])?;
    let mut slices: Vec<(&str, u32, u32)> = vec![("default", u32::MAX, 0), ("root", 0, 1)];
    for s in demo::senders() {
        if !slices.iter().any(|(n, _, _)| *n == s.name) {
            let slot = slices.len() as u32;
            acc.set_xid_slot(s.uid, slot)?;
            slices.push((s.name, s.uid, slot));
        }
    }
    let outcome = acc.attach(topo.ifname)?;
    tracing::info!(?outcome, iface = topo.ifname, ns = %topo.sender_ns, "accounting attached");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc_flag(stop)?;
    }
    let threads = topo.start_traffic(stop.clone());
    let start = Instant::now();
    let mut last = acc.read_counters(slices.len() as u32)?;
    while !stop.load(Ordering::Relaxed) && duration.is_none_or(|d| start.elapsed() < d) {
        std::thread::sleep(Duration::from_secs(1));
        let now = acc.read_counters(slices.len() as u32)?;
        println!(
            "\n{:>8} {:>6} {:>14} {:>14} {:>12} {:>12}",
            "slice", "xid", "bytes", "exempt bytes", "rate", "exempt rate"
        );
        for &(name, xid, slot) in &slices {
            let (n, l) = (now[slot as usize], last[slot as usize]);
            let xid = if xid == u32::MAX {
                "-".to_owned()
            } else {
                xid.to_string()
            };
            println!(
                "{name:>8} {xid:>6} {:>14} {:>14} {:>7} kbit/s {:>7} kbit/s",
                n.bytes[0],
                n.bytes[1],
                (n.bytes[0] - l.bytes[0]) * 8 / 1000,
                (n.bytes[1] - l.bytes[1]) * 8 / 1000,
            );
        }
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Sets `stop` on SIGINT/SIGTERM.
fn ctrlc_flag(stop: Arc<AtomicBool>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    Ok(())
}
