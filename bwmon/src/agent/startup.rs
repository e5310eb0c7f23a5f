//! Building the core (load, attach, adopt, restore) and the tokio side's reload and stop logic.
use std::{
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    time::{Duration, SystemTime},
};

use super::{Command, core, health::HealthBook, notify::MailNotifier, slots::Slots, unix_now};
use crate::{
    accounting::{Accounting, AccountingError, Options},
    config::{Config, ExemptClassMode, SliceIdMode},
    ledger::{Ledger, LoadOutcome},
    policy::Policy,
    shaping::{ExemptClasses, Shaper, TreeConfig, netlink::NetlinkBackend},
    slices::{SliceList, SystemCgroups, SystemUserDb},
    status::Snapshot,
    systemd::NotifyState,
};
use tokio::sync::watch;

/// What the core is built from.
pub struct Setup {
    pub config: Config,
    /// Network namespace (under /run/netns) the core enters first: the demo's.
    pub netns: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Accounting(#[from] AccountingError),
    #[error("shaping {iface}: {source}")]
    Shaping {
        iface: String,
        #[source]
        source: crate::shaping::ShapingError,
    },
    #[error("class ids of {iface}: {source}")]
    Alloc {
        iface: String,
        #[source]
        source: crate::shaping::AllocError,
    },
    #[error("cannot use the ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("network namespace {ns}: {source}")]
    Netns {
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {iface} does not exist")]
    NoInterface { iface: String },
    #[error("control socket {path}: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the core thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the core thread stopped during start-up")]
    CoreDied,
    #[error("e-mail: {0}")]
    Mail(#[source] crate::mail::MailError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
}

fn enter_netns(ns: &str) -> Result<(), AgentError> {
    use std::os::fd::AsRawFd;
    let err = |source| AgentError::Netns {
        ns: ns.to_owned(),
        source,
    };
    let file = std::fs::File::open(Path::new("/run/netns").join(ns)).map_err(err)?;
    // SAFETY: setns on a namespace fd we hold; it changes only the calling (core) thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn ifindex(iface: &str) -> Result<u32, AgentError> {
    let name = std::ffi::CString::new(iface).map_err(|_| AgentError::NoInterface {
        iface: iface.to_owned(),
    })?;
    // SAFETY: a NUL-terminated name.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(AgentError::NoInterface {
            iface: iface.to_owned(),
        }),
        i => Ok(i),
    }
}

/// Loads the slice list, or an empty one with the reason it could not be used.
pub fn load_slices(path: &Path, mode: SliceIdMode) -> Result<SliceList, String> {
    let cgroups =
        SystemCgroups::discover().unwrap_or_else(|_| SystemCgroups::at("/sys/fs/cgroup".into()));
    SliceList::load(path, mode, &SystemUserDb, &cgroups).map_err(|e| e.to_string())
}

/// Builds the core; its netlink sockets beat `heartbeat` whenever the kernel answers, so a long
/// first build still feeds the watchdog while a stuck one does not.
pub fn build_core(
    setup: Setup,
    mail: crate::mail::MailSender,
    heartbeat: super::Heartbeat,
) -> Result<core::Core, AgentError> {
    let Setup { config, netns } = setup;
    if let Some(ns) = &netns {
        enter_netns(ns)?;
    }
    // Before anything is loaded or pinned: a typo in `interfaces` leaves nothing behind.
    for iface in &config.interfaces {
        ifindex(iface)?;
    }
    let now = unix_now();
    let mut health = HealthBook::new(now);
    let mut acc = Accounting::load(Options {
        mode: config.slice_id,
        pin_dir: config.bpf_pin_dir.clone(),
        max_slices: config.max_slices,
        dense_xids: config.dense_xids,
        ebpf_log: false,
        bench_keys: None,
    })?;
    let rules: Vec<_> = config.exempt_prefixes.iter().map(|n| (*n, true)).collect();
    acc.set_exempt(&rules)?;
    let mut shaped = Vec::new();
    for iface in &config.interfaces {
        let index = ifindex(iface)?;
        let outcome = acc.attach(iface)?;
        tracing::info!(iface, ?outcome, "accounting attached");
        let shaping_err = |source| AgentError::Shaping {
            iface: iface.clone(),
            source,
        };
        let mut backend = NetlinkBackend::new().map_err(shaping_err)?;
        let beat = heartbeat.clone();
        backend.on_progress(move || beat.beat());
        let alloc = core::load_allocator(&config, iface).map_err(|source| AgentError::Alloc {
            iface: iface.clone(),
            source,
        })?;
        let tree = TreeConfig {
            bwcap: config.node_cap.bits_per_sec(),
            bwmax: config.hardware_max.bits_per_sec(),
            leaf: None,
            exempt_classes: match config.exempt_classes {
                ExemptClassMode::PerSlice => ExemptClasses::PerSlice,
                ExemptClassMode::WhenLimited => ExemptClasses::WhenLimited,
            },
        };
        let mut shaper = Shaper::new(backend, index, tree, alloc);
        let shard = acc.classifier_mut(bwmon_common::SHARD_CLASSIFIER_NAME)?;
        let fd = shard.fd().map_err(|source| AccountingError::Program {
            name: bwmon_common::SHARD_CLASSIFIER_NAME,
            source: Box::new(source),
        })?;
        shaper
            .set_steering_program(std::os::fd::AsFd::as_fd(fd))
            .map_err(shaping_err)?;
        shaped.push(core::Shaped {
            iface: iface.clone(),
            shaper,
        });
    }
    std::fs::create_dir_all(&config.state_dir).map_err(|source| AgentError::Io {
        what: "create the state directory",
        path: config.state_dir.clone(),
        source,
    })?;
    let ledger = Ledger::new(config.state_dir.join("ledger.json"));
    let loaded = ledger.load(now)?;
    match &loaded.outcome {
        LoadOutcome::SetAside { moved_to, reason } => {
            let problem = format!(
                "{} was unusable ({reason:?}) and was moved to {}",
                ledger.path().display(),
                moved_to.display()
            );
            health.error(problem.clone());
            health.ledger_problem = Some(problem);
        }
        outcome => tracing::info!(?outcome, path = %ledger.path().display(), "ledger"),
    }
    let policy = Policy::new(core::policy_config(&config), loaded.state);
    let slices = match load_slices(&config.slices_file, config.slice_id) {
        Ok(list) => list,
        Err(problem) => {
            health.error(format!("slice list: {problem}"));
            health.slice_list_problem = Some(problem);
            SliceList::default()
        }
    };
    let adopted = acc.xid_slots()?;
    let slots = Slots::new(acc.max_slots(), adopted);
    let hostname = config
        .effective_hostname()
        .unwrap_or_else(|_| "localhost".to_owned());
    let notifier = Box::new(MailNotifier::new(mail));
    Ok(core::Core::new(
        config, slices, acc, shaped, policy, ledger, slots, health, notifier, hostname,
    ))
}

/// The snapshot served before the first sync.
pub fn empty_snapshot(config: &Config) -> Snapshot {
    let now = unix_now();
    Snapshot {
        schema: crate::status::SCHEMA_VERSION,
        now: crate::status::rfc3339(now),
        now_unix: now,
        node: core::node_view(config, config.hostname.as_deref().unwrap_or_default()),
        agent: HealthBook::new(now).view(),
        slices: Vec::new(),
        dead: Vec::new(),
    }
}

/// How long a reload may take before systemd is told READY=1 anyway.
const RELOAD_WAIT: Duration = Duration::from_secs(30);

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn send_slices(path: &Path, mode: SliceIdMode, tx: &mpsc::Sender<Command>) {
    let command = match load_slices(path, mode) {
        Ok(list) => Command::Slices(Box::new(list)),
        Err(problem) => Command::SliceListProblem(problem),
    };
    let _ = tx.send(command);
}

/// Reloads the slice list whenever the file changes (checked every second).
pub async fn watch_slices(path: PathBuf, mode: SliceIdMode, tx: mpsc::Sender<Command>) {
    let mut seen = mtime(&path);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = mtime(&path);
        if now != seen {
            seen = now;
            tracing::info!(path = %path.display(), "slice list changed");
            send_slices(&path, mode, &tx);
        }
    }
}

/// Waits for SIGINT/SIGTERM (or `stop_after`), reloading config and slice list on SIGHUP
/// (telling systemd RELOADING=1, then READY=1 once the core has published the outcome).
pub async fn wait_for_stop(
    config_path: Option<PathBuf>,
    slices: (PathBuf, SliceIdMode),
    tx: mpsc::Sender<Command>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    stop_after: Option<Duration>,
) -> Result<(), AgentError> {
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |kind| {
        signal(kind).map_err(|source| AgentError::Io {
            what: "handle",
            path: "signals".into(),
            source,
        })
    };
    let (mut hup, mut term, mut int) = (
        sig(SignalKind::hangup())?,
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
    );
    let deadline = async {
        match stop_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                super::service::notify(&[NotifyState::Reloading {
                    monotonic_usec: crate::systemd::monotonic_usec(),
                }]);
                snapshots.borrow_and_update();
                if let Some(path) = &config_path {
                    let command = match crate::config::check_file(path) {
                        Ok(config) => Command::Config(Box::new(config)),
                        Err(e) => Command::ConfigProblem(e.to_string()),
                    };
                    let _ = tx.send(command);
                }
                send_slices(&slices.0, slices.1, &tx);
                // The core syncs (or republishes its health) at once after a reload.
                let _ = tokio::time::timeout(RELOAD_WAIT, snapshots.changed()).await;
                super::service::notify(&[NotifyState::Ready]);
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = &mut deadline => return Ok(()),
        }
    }
}
