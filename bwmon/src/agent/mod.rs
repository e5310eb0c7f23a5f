//! `bwmon run`: the daemon. One OS thread (the *core*) owns the kernel handles and runs the sync
//! loop; the tokio side serves the control socket, watches the slice list, handles signals and
//! hands validated reloads to the core. A slow part (SMTP, a client) never stalls the sync.
mod control;
pub mod core;
mod health;
mod notify;
mod service;
pub mod slots;
mod startup;
pub mod state_files;

use std::{
    path::PathBuf,
    sync::{Arc, mpsc},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::sync::{oneshot, watch};

use crate::{
    config::Config,
    mail::{MailQueue, MailSender, RetryPolicy, Transport},
    metrics,
    slices::SliceList,
    status::Snapshot,
};

pub use service::Heartbeat;
pub use startup::{AgentError, Setup};

/// The xid the policy and the shaper know the `default` slice by (no packet carries it).
pub const DEFAULT_XID: u32 = u32::MAX;
/// How often the core checks whether a slice crossed a threshold between syncs.
pub const FAST_POLL: Duration = Duration::from_millis(200);

/// What the tokio side asks of the core.
pub enum Command {
    Slices(Box<SliceList>),
    SliceListProblem(String),
    Config(Box<Config>),
    ConfigProblem(String),
    Explain {
        slice: String,
        reply: oneshot::Sender<Option<String>>,
    },
    Shutdown,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs the core loop until `Shutdown`; publishes a snapshot after every sync.
fn core_loop(
    mut core: core::Core,
    rx: mpsc::Receiver<Command>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    heartbeat: Heartbeat,
) {
    let mut next_sync = Instant::now();
    loop {
        heartbeat.beat();
        let wait = next_sync
            .saturating_duration_since(Instant::now())
            .min(FAST_POLL);
        let mut sync_now = false;
        // Health changed without a sync: publish it at once (the next sync may be minutes away).
        let mut republish = false;
        match rx.recv_timeout(wait) {
            Ok(Command::Slices(list)) => {
                core.health.slice_list_problem = None;
                core.set_slices(*list);
                sync_now = true;
            }
            Ok(Command::SliceListProblem(p)) => {
                tracing::error!(problem = %p, "slice list rejected; keeping the last good one");
                core.health.slice_list_problem = Some(p);
                republish = true;
            }
            Ok(Command::Config(config)) => {
                core.set_config(*config);
                sync_now = true;
            }
            Ok(Command::ConfigProblem(p)) => {
                core.health
                    .error(format!("config rejected, keeping the last good one: {p}"));
                republish = true;
            }
            Ok(Command::Explain { slice, reply }) => {
                let _ = reply.send(core.policy.explain(&slice, unix_now()));
            }
            Ok(Command::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if sync_now || Instant::now() >= next_sync || core.crossed_threshold() {
            let snapshot = core.sync(unix_now());
            let _ = snapshots.send(Arc::new(snapshot));
            next_sync = Instant::now() + core.config.sync_interval;
        } else if republish {
            let _ = snapshots.send(Arc::new(core.snapshot(unix_now())));
        }
    }
    if let Err(error) = core.ledger.save(core.policy.state()) {
        tracing::error!(%error, "saving the ledger at exit");
    }
    tracing::info!("core stopped; accounting and shaping stay in place");
}

/// A started core: where to send commands, where snapshots appear, and its thread.
pub type Running = (
    mpsc::Sender<Command>,
    watch::Receiver<Arc<Snapshot>>,
    std::thread::JoinHandle<()>,
);

/// Starts the core on its own thread (after entering `netns`, if given) and waits until it has
/// loaded and attached everything. Notices go to `mail`; the core beats `heartbeat` each turn.
pub fn spawn_core(
    setup: Setup,
    mail: MailSender,
    heartbeat: Heartbeat,
) -> Result<Running, AgentError> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (snap_tx, snap_rx) = watch::channel(Arc::new(startup::empty_snapshot(&setup.config)));
    let handle = std::thread::Builder::new()
        .name("bwmon-core".into())
        .spawn(
            move || match startup::build_core(setup, mail, heartbeat.clone()) {
                Ok(core) => {
                    let _ = ready_tx.send(Ok(()));
                    core_loop(core, rx, snap_tx, heartbeat);
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                }
            },
        )
        .map_err(AgentError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((tx, snap_rx, handle)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(AgentError::CoreDied),
    }
}

/// How long queued notices get at shutdown before they are logged as unsent.
const MAIL_GRACE: Duration = Duration::from_secs(10);

/// The whole agent: core, mail queue, control socket, metrics, reloads, signals, systemd.
/// Returns when told to stop (signal or `stop_after`).
pub async fn serve(
    setup: Setup,
    config_path: Option<PathBuf>,
    stop_after: Option<Duration>,
) -> Result<(), AgentError> {
    let config = setup.config.clone();
    let transport = Transport::from_config(&config.email).map_err(AgentError::Mail)?;
    let mail = MailQueue::spawn(transport, RetryPolicy::default());
    let metrics = match config.metrics.listen {
        Some(addr) => Some(metrics::bind(addr).await?),
        None => None,
    };
    let heartbeat = Heartbeat::default();
    let (tx, snapshots, core) = spawn_core(setup, mail.sender(), heartbeat.clone())?;
    let socket = config.control_socket.clone();
    let listener = control::bind(&socket, config.status.group.as_deref())?;
    let mut tasks = vec![
        tokio::spawn(control::serve(listener, snapshots.clone(), tx.clone())),
        tokio::spawn(startup::watch_slices(
            config.slices_file.clone(),
            config.slice_id,
            tx.clone(),
        )),
        tokio::spawn(service::report(snapshots.clone())),
    ];
    if let Some(listener) = metrics {
        tracing::info!(addr = ?listener.local_addr().ok(), "metrics endpoint");
        let snapshots = snapshots.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = metrics::serve(listener, snapshots).await {
                tracing::error!(%error, "metrics endpoint stopped");
            }
        }));
    }
    if let Some(interval) = crate::systemd::watchdog_interval() {
        tasks.push(tokio::spawn(service::watchdog(interval, heartbeat)));
    }
    tracing::info!(socket = %socket.display(), "agent running");
    let stopped = startup::wait_for_stop(
        config_path,
        (config.slices_file.clone(), config.slice_id),
        tx.clone(),
        snapshots,
        stop_after,
    )
    .await;
    service::notify(&[crate::systemd::NotifyState::Stopping]);
    let _ = tx.send(Command::Shutdown);
    for task in &tasks {
        task.abort();
    }
    let _ = tokio::task::spawn_blocking(move || core.join()).await;
    let stats = mail.shutdown(MAIL_GRACE).await;
    tracing::info!(?stats, "mail queue stopped");
    let _ = std::fs::remove_file(&socket);
    stopped
}
