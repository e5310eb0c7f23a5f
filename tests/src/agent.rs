//! The real `bwmon run` process, started inside a test namespace with its own config, pin
//! directory, state and control socket; killed and cleaned up when the guard drops.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bwmon::status::{self, Snapshot};

use crate::{netns::NetNs, pins::PinDir};

/// The `bwmon` binary next to the running test executable (`target/<profile>/bwmon`).
pub fn bwmon_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable path")?;
    let bin = profile_dir.join("bwmon");
    if !bin.is_file() {
        bail!(
            "{} is missing: build it with `cargo build -p bwmon` (nextest builds it)",
            bin.display()
        );
    }
    Ok(bin)
}

pub struct Agent {
    pub dir: tempfile::TempDir,
    pub pins: PinDir,
    ns: String,
    child: Option<Child>,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Agent {
    /// Writes `config_body` (TOML, without the paths, which this puts first) and `slices_json`,
    /// then starts the agent in `ns`.
    pub fn start(ns: &NetNs, config_body: &str, slices_json: &str) -> Result<Self> {
        Self::start_with_env(ns, config_body, slices_json, &[])
    }

    /// [`Agent::start`] with extra environment variables for the agent process.
    pub fn start_with_env(
        ns: &NetNs,
        config_body: &str,
        slices_json: &str,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let pins = PinDir::new("agent");
        let config = format!(
            "slices_file = \"{d}/slices.json\"\nstate_dir = \"{d}/state\"\ncontrol_socket = \"{d}/control.sock\"\nbpf_pin_dir = \"{p}\"\nmax_slices = 256\n{config_body}\n",
            d = dir.path().display(),
            p = pins.path().display()
        );
        std::fs::write(dir.path().join("bwmon.toml"), config)?;
        std::fs::write(dir.path().join("slices.json"), slices_json)?;
        let log = dir.path().join("agent.log");
        let mut agent = Self {
            dir,
            pins,
            ns: ns.name().to_owned(),
            child: None,
            log,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        agent.spawn()?;
        Ok(agent)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // nsenter (not `ip netns exec`, which remounts /sys and so hides the host's bpffs): the
        // agent pins into the test's directory on the real bpffs, as under systemd, so its
        // program and counters outlive it.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ns))
            .arg(bwmon_bin()?)
            .args(["run", "--config"])
            .arg(self.dir.path().join("bwmon.toml"))
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        // Ready once the first snapshot with a sync is served.
        self.wait_for(Duration::from_secs(20), |s| s.agent.syncs > 0)?;
        Ok(())
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    pub fn slices_file(&self) -> PathBuf {
        self.dir.path().join("slices.json")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn status(&self) -> Result<Snapshot> {
        Ok(status::fetch(&self.socket(), Duration::from_secs(2))?)
    }

    /// Polls the status until `cond` holds; fails with the agent's log after `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        cond: impl Fn(&Snapshot) -> bool,
    ) -> Result<Snapshot> {
        let start = Instant::now();
        loop {
            if let Ok(s) = self.status()
                && cond(&s)
            {
                return Ok(s);
            }
            if start.elapsed() > timeout {
                bail!(
                    "condition not reached in {timeout:?}; agent log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> Result<i32> {
        Ok(self.child.as_ref().context("agent not running")?.id() as i32)
    }

    pub fn signal(&self, sig: i32) -> Result<()> {
        // SAFETY: kill(2) on our own child's pid.
        if unsafe { libc::kill(self.pid()?, sig) } != 0 {
            bail!("kill: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// SIGTERM, then waits for the agent to exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> Result<bool> {
        self.signal(libc::SIGTERM)?;
        let mut child = self.child.take().context("agent not running")?;
        Ok(child.wait()?.success())
    }

    /// The agent's config file.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("bwmon.toml")
    }

    /// kill -9, then start again with the same files.
    pub fn crash_and_restart(&mut self) -> Result<()> {
        self.signal(libc::SIGKILL)?;
        if let Some(mut child) = self.child.take() {
            child.wait()?;
        }
        self.spawn()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
