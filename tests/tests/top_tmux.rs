//! `bwmon top` in a real terminal (tmux) against a fake agent on a Unix socket that speaks the
//! control protocol of `bwmon::status`: one slice crosses its threshold while we watch; keys sort,
//! filter, open the detail pane and quit; the terminal is restored afterwards.
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixListener,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bwmon::status::{Request, Response, SliceView, Snapshot};

#[path = "../../bwmon/tests/top_fixture/mod.rs"]
mod top_fixture;
use top_fixture::{GB, T0};

const MB: u64 = 1_000_000;

/// The fixture's slice, capped (20 Mbit/s, notified) once past its 8 GB threshold.
fn slice(name: &str, xid: u32, bytes: u64, sent: u64) -> SliceView {
    let capped = bytes >= 8 * GB;
    SliceView {
        ceil_bps: if capped { 20 * MB } else { 1000 * MB },
        exempt_ceil_bps: 1000 * MB,
        capped,
        notified: capped,
        ..top_fixture::slice(name, xid, bytes, sent)
    }
}

/// The agent's state after `k` syncs (one simulated second each): pl_hot sends 100 MB/s from
/// 7.5 GB and crosses its 8 GB threshold at the 5th.
fn snapshot(k: u64) -> Snapshot {
    let mut s = top_fixture::snapshot(
        T0 + 3600 + k,
        vec![
            slice("pl_web", 510, 2 * GB + k * 10 * MB, k * 10 * MB),
            slice("pl_hot", 511, 7_500 * MB + k * 100 * MB, k * 100 * MB),
            slice("pl_cdn", 512, 5 * GB + k * MB, k * MB),
            slice("pl_idle", 513, GB, 0),
        ],
    );
    s.node.hostname = "tmux-test-node".to_owned();
    s.node.sync_interval_ms = 100;
    s.agent.syncs = k;
    s
}

/// The fake agent: serves `snapshot(k)` with `k` counting status requests; stops when dropped.
struct FakeAgent {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

fn answer(line: &str, served: &AtomicU64) -> Response {
    match serde_json::from_str::<Request>(line) {
        Ok(Request::Status) => {
            Response::Status(Box::new(snapshot(served.fetch_add(1, Ordering::SeqCst))))
        }
        Ok(Request::Explain { slice }) => Response::Explain {
            text: format!("{slice}: over its threshold, ceiling 20.0 Mbit/s until midnight"),
            slice,
        },
        Err(e) => Response::Error {
            message: e.to_string(),
        },
    }
}

impl FakeAgent {
    fn start(path: &Path) -> Result<Self> {
        let listener = UnixListener::bind(path).context("bind the fake agent's socket")?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let served = AtomicU64::new(0);
            while !flag.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let mut line = String::new();
                let mut reader = BufReader::new(&stream);
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut out = serde_json::to_vec(&answer(&line, &served)).unwrap_or_default();
                out.push(b'\n');
                let _ = (&stream).write_all(&out);
            }
        });
        Ok(FakeAgent {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A tmux server of our own (its own socket name) and a scratch directory; both removed on drop.
struct Tmux {
    server: String,
    dir: PathBuf,
}

impl Tmux {
    fn new(tag: &str) -> Result<Self> {
        let server = format!("bwmon-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&server);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Tmux { server, dir })
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .context("run tmux")?;
        if !out.status.success() {
            bail!("tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A shell in a `width`x`height` window running `bwmon top` on `socket`, which prints
    /// `top-exited=STATUS` when top exits.
    fn start_top(&self, socket: &Path, width: u16, height: u16) -> Result<()> {
        let (w, h) = (width.to_string(), height.to_string());
        self.run(&[
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-s",
            "top",
            "env",
            "PS1=$ ",
            "sh",
        ])?;
        let cmd = top_command(socket)?;
        self.keys(&[&format!("{cmd}; echo top-exited=$?"), "Enter"])
    }

    fn keys(&self, keys: &[&str]) -> Result<()> {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args).map(drop)
    }

    fn screen(&self) -> Result<String> {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits until the screen satisfies `ok`; fails with the last screen after 15 s.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
        self.wait_up_to(Duration::from_secs(15), what, ok)
    }

    fn wait_up_to(
        &self,
        timeout: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen()?;
            if ok(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; screen:\n{screen}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The command running `bwmon top` against `socket`.
fn top_command(socket: &Path) -> Result<String> {
    Ok(format!(
        "{} top --socket {} --interval 300ms",
        bwmon_tests::agent::bwmon_bin()?.display(),
        socket.display()
    ))
}

fn line_of(screen: &str, needle: &str) -> Option<usize> {
    screen.lines().position(|l| l.contains(needle))
}

#[test]
fn top_in_a_real_terminal_follows_the_agent_and_restores_the_terminal() -> Result<()> {
    let tmux = Tmux::new("top")?;
    let socket = tmux.dir.join("control.sock");
    let _agent = FakeAgent::start(&socket)?;
    tmux.start_top(&socket, 120, 40)?;

    // Live data, then pl_hot crossing its threshold and shown as CAPPED.
    tmux.wait_for("the table", |s| {
        s.contains("tmux-test-node") && s.contains("pl_hot")
    })?;
    let screen = tmux.wait_for("pl_hot CAPPED", |s| {
        s.lines()
            .any(|l| l.contains("pl_hot") && l.contains("CAPPED"))
    })?;
    assert!(screen.contains("1 capped"), "{screen}");
    // By rate (the default) pl_hot, at 800 Mbit/s, is first.
    assert!(
        line_of(&screen, "pl_hot") < line_of(&screen, "pl_web"),
        "{screen}"
    );
    assert!(screen.contains("800.0 Mbit/s"), "{screen}");

    // Sort by name (key 2), then reversed (S).
    tmux.keys(&["2"])?;
    let s = tmux.wait_for("sorted by name", |s| s.contains("Slice▲"))?;
    let order: Vec<_> = ["pl_cdn", "pl_hot", "pl_idle", "pl_web"]
        .iter()
        .map(|n| line_of(&s, n))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{s}");
    tmux.keys(&["S"])?;
    let s = tmux.wait_for("reversed", |s| s.contains("Slice▼"))?;
    assert!(line_of(&s, "pl_web") < line_of(&s, "pl_cdn"), "{s}");

    // Filter on "hot".
    tmux.keys(&["/", "h", "o", "t", "Enter"])?;
    let s = tmux.wait_for("the filter", |s| s.contains("filter \"hot\""))?;
    assert!(!s.contains("pl_web") && s.contains("pl_hot"), "{s}");

    // The detail pane with the agent's explanation.
    tmux.keys(&["Enter"])?;
    let s = tmux.wait_for("the detail pane", |s| s.contains("pl_hot xid 511"))?;
    assert!(
        s.contains("over its threshold, ceiling 20.0 Mbit/s until midnight"),
        "{s}"
    );
    tmux.keys(&["Escape"])?;
    tmux.wait_for("the detail pane closed", |s| !s.contains("pl_hot xid 511"))?;

    // A smaller terminal: redrawn to fit.
    tmux.run(&["resize-window", "-t", "top", "-x", "80", "-y", "24"])?;
    let s = tmux.wait_for("an 80-column frame", |s| {
        s.contains("Slice") && !s.contains("Xid") && s.lines().count() <= 24
    })?;
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");

    // Quit: the shell is back, out of the alternate screen, in cooked mode.
    tmux.keys(&["q"])?;
    tmux.wait_for("the shell", |s| s.contains("top-exited=0"))?;
    let alt = tmux.run(&["display-message", "-p", "-t", "top", "#{alternate_on}"])?;
    assert_eq!(alt.trim(), "0");
    tmux.keys(&[
        "stty -a | tr ' ;' '\\n\\n' | grep -qx icanon && echo cooked=yes",
        "Enter",
    ])?;
    tmux.wait_for("cooked mode", |s| s.contains("cooked=yes"))?;
    Ok(())
}

/// `bwmon run --demo` as a child process; SIGTERM (its clean stop) on drop.
struct Demo(std::process::Child);

impl Demo {
    fn start(log: &Path) -> Result<Demo> {
        let child = Command::new(bwmon_tests::agent::bwmon_bin()?)
            .args(["run", "--demo", "--duration", "180"])
            .stderr(std::fs::File::create(log)?)
            .stdout(std::process::Stdio::null())
            .spawn()?;
        Ok(Demo(child))
    }

    fn socket(&self) -> PathBuf {
        PathBuf::from(format!("/run/bwmon-demo-{}/control.sock", self.0.id()))
    }

    /// SIGTERM, then waits; returns whether it exited successfully.
    fn stop(&mut self) -> Result<bool> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        Ok(self.0.wait()?.success())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.stop();
        }
    }
}

#[test]
fn top_on_the_demo_agent_shows_alice_capped_after_she_crosses_her_threshold() -> Result<()> {
    let tmux = Tmux::new("demo")?;
    let mut demo = Demo::start(&tmux.dir.join("demo.log"))?;
    let socket = demo.socket();
    let started = Instant::now();
    while bwmon::status::fetch(&socket, Duration::from_secs(1)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "the demo agent did not come up:\n{}",
                std::fs::read_to_string(tmux.dir.join("demo.log"))?
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
    tmux.start_top(&socket, 120, 30)?;

    // All three demo slices, alice not yet capped (her 16 MB budget takes ~30 s at 400 kB/s).
    let first = tmux.wait_for("the demo slices", |s| {
        ["alice", "bob", "carol"].iter().all(|n| s.contains(n))
    })?;
    let alice_line = |s: &str| {
        s.lines()
            .find(|l| l.contains("alice") && l.contains("4001"))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(!alice_line(&first).contains("CAPPED"), "{first}");
    let capped = tmux.wait_up_to(Duration::from_secs(90), "alice CAPPED", |s| {
        alice_line(s).contains("CAPPED")
    })?;
    eprintln!("alice capped after {:?}:\n{capped}", started.elapsed());
    let status = bwmon::status::fetch(&socket, Duration::from_secs(2))?;
    let alice = status
        .slices
        .iter()
        .find(|v| v.name == "alice")
        .context("alice in status")?;
    assert!(alice.capped && alice.bytes >= alice.threshold, "{alice:?}");

    // Sort by name.
    tmux.keys(&["2"])?;
    let s = tmux.wait_for("sorted by name", |s| s.contains("Slice▲"))?;
    assert!(
        line_of(&s, "alice") < line_of(&s, "bob") && line_of(&s, "bob") < line_of(&s, "carol"),
        "{s}"
    );
    // Filter on "ali", then the detail pane with the agent's explanation.
    tmux.keys(&["/", "a", "l", "i", "Enter"])?;
    let s = tmux.wait_for("the filter", |s| s.contains("filter \"ali\""))?;
    assert!(!s.contains("carol") && s.contains("alice"), "{s}");
    tmux.keys(&["Enter"])?;
    let s = tmux.wait_for("alice's detail pane", |s| s.contains("alice xid 4001"))?;
    assert!(s.contains("past the threshold"), "{s}");

    tmux.keys(&["q"])?;
    tmux.wait_for("the shell", |s| s.contains("top-exited=0"))?;
    // The demo stops cleanly and removes its namespaces.
    assert!(demo.stop()?, "demo exit status");
    let left: Vec<_> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(&format!("-{}", demo.0.id())))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "demo namespaces left: {left:?}");
    Ok(())
}
