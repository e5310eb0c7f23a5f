//! `bwmon`: the node agent and its command-line tools.
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, Result, bail};
use bwmon::{accounting, agent, config, demo, status};
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
    /// Run the agent. With `--demo`, or when the config names no interface, it builds its own
    /// namespaces, slices and traffic, and removes them when it stops.
    Run {
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Run the built-in demo topology.
        #[arg(long)]
        demo: bool,
        /// Stop after this many seconds (default: until SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Print the live per-slice state from the running agent.
    Status {
        #[command(flatten)]
        target: Target,
        /// The snapshot as JSON (schema in the README).
        #[arg(long)]
        json: bool,
    },
    /// The live per-slice view (read-only): rates, budgets, ceilings, projections.
    Top {
        #[command(flatten)]
        target: Target,
        /// Time between refreshes, e.g. `1s`, `500ms`.
        #[arg(long, default_value = "1s", value_parser = parse_interval)]
        interval: Duration,
        /// Print one frame as text and exit (rates from two snapshots `--interval` apart).
        #[arg(long)]
        once: bool,
        /// Width and height of the `--once` frame.
        #[arg(long, default_value_t = 120)]
        width: u16,
        #[arg(long, default_value_t = 40)]
        height: u16,
    },
    /// Say in words why a slice has its ceiling and when it lifts.
    Explain {
        slice: String,
        #[command(flatten)]
        target: Target,
    },
    /// Validate a config file; every error names its line and field.
    CheckConfig {
        #[arg(default_value = config::DEFAULT_CONFIG_PATH)]
        file: PathBuf,
    },
    /// Remove bwmon from the node: the HTB tree of each configured interface (only if it is
    /// bwmon's), then everything pinned (and so attached) under the bpffs directory. Stop the
    /// agent first.
    Teardown {
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// The bpffs directory (overrides the config's `bpf_pin_dir`).
        #[arg(long)]
        pin_dir: Option<PathBuf>,
    },
}

/// Which agent to ask: its control socket, given directly or through its config.
#[derive(clap::Args)]
struct Target {
    #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// The control socket (overrides the config's).
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl Target {
    fn socket(&self) -> Result<PathBuf> {
        if let Some(socket) = &self.socket {
            return Ok(socket.clone());
        }
        if self.config.exists() {
            return Ok(config::check_file(&self.config)?.control_socket);
        }
        Ok(config::Config::default().control_socket)
    }
}

/// Errors print as one line of causes (`bwmon: a: b: c`), without a backtrace.
fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match execute(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bwmon: {}", one_line(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause once (many messages already quote their source).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

fn execute(command: Command) -> Result<()> {
    match command {
        Command::Run {
            config,
            demo,
            duration,
        } => run(&config, demo, duration.map(Duration::from_secs)),
        Command::Status { target, json } => {
            let snapshot = status::fetch(&target.socket()?, Duration::from_secs(5))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&snapshot)?);
            } else {
                print!("{}", bwmon::status_table::render(&snapshot));
            }
            Ok(())
        }
        Command::Top {
            target,
            interval,
            once,
            width,
            height,
        } => {
            let mut opts = bwmon::top::TopOptions::new(target.socket()?);
            opts.interval = interval;
            opts.once = once;
            opts.width = width;
            opts.height = height;
            Ok(bwmon::top::run(opts)?)
        }
        Command::Explain { slice, target } => {
            match status::request(
                &target.socket()?,
                &status::Request::Explain { slice },
                Duration::from_secs(5),
            )? {
                status::Response::Explain { text, .. } => println!("{text}"),
                _ => bail!("unexpected answer"),
            }
            Ok(())
        }
        Command::CheckConfig { file } => {
            let config = config::check_file(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}: ok ({} interface(s), slice list {})",
                file.display(),
                config.interfaces.len(),
                config.slices_file.display()
            );
            Ok(())
        }
        Command::Teardown { config, pin_dir } => {
            let config = if config.exists() {
                config::check_file(&config).map_err(|e| anyhow::anyhow!("{e}"))?
            } else {
                config::Config::default()
            };
            for iface in &config.interfaces {
                if bwmon::shaping::remove_tree(iface)
                    .with_context(|| format!("removing the HTB tree of {iface}"))?
                {
                    println!("removed bwmon's HTB tree from {iface}");
                }
            }
            let pin_dir = pin_dir.unwrap_or(config.bpf_pin_dir);
            let removed = accounting::teardown(&pin_dir)?;
            println!(
                "removed {removed} pinned objects from {}",
                pin_dir.display()
            );
            Ok(())
        }
    }
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match bwmon::units::parse_duration(text) {
        Ok(d) if d >= Duration::from_millis(100) => Ok(d),
        Ok(_) => Err("at least 100ms".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn run(config_path: &Path, demo: bool, duration: Option<Duration>) -> Result<()> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "bwmon run needs root (the systemd unit then limits it to CAP_BPF, CAP_NET_ADMIN, \
             CAP_PERFMON and CAP_CHOWN)"
        );
    }
    let loaded = if config_path.exists() {
        Some(config::check_file(config_path).map_err(|e| anyhow::anyhow!("{e}"))?)
    } else if demo {
        None
    } else {
        bail!(
            "{} does not exist (use --config FILE, or --demo)",
            config_path.display()
        );
    };
    match loaded {
        Some(config) if !demo && !config.interfaces.is_empty() => {
            let setup = agent::Setup {
                config,
                netns: None,
            };
            runtime()?.block_on(agent::serve(setup, Some(config_path.to_owned()), duration))?;
            Ok(())
        }
        _ => run_demo(duration),
    }
}

fn run_demo(duration: Option<Duration>) -> Result<()> {
    let pid = std::process::id();
    let dir = PathBuf::from(format!("/run/bwmon-demo-{pid}"));
    std::fs::create_dir_all(&dir)?;
    let config = demo::config(&dir, pid);
    std::fs::write(&config.slices_file, demo::SLICES_JSON)?;
    let topo = demo::Topology::create().context("building the demo topology")?;
    let pin_dir = config.bpf_pin_dir.clone();
    eprintln!(
        "bwmon demo: slices alice, bob, carol send traffic from namespace {}; watch with\n  bwmon status --socket {}\n  bwmon top --socket {}",
        topo.sender_ns,
        config.control_socket.display(),
        config.control_socket.display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = topo.start_traffic(stop.clone());
    let setup = agent::Setup {
        config,
        netns: Some(topo.sender_ns.clone()),
    };
    let result = runtime().and_then(|rt| Ok(rt.block_on(agent::serve(setup, None, duration))?));
    stop.store(true, Ordering::Relaxed);
    for t in traffic {
        let _ = t.join();
    }
    drop(topo);
    if let Err(error) = accounting::teardown(&pin_dir) {
        tracing::warn!(%error, "demo teardown");
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}
