//! A real SMTP server for the e-mail tests: `tests/support/smtp_sink.py` (aiosmtpd) writing each
//! accepted message to a directory as JSON, optionally inside a test's network namespace.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::netns::NetNs;

/// The sink process; stopped (stdin closed, then killed) when dropped.
pub struct Sink(Child);

impl Sink {
    /// Listens on 127.0.0.1:`port` (inside `ns` if given), storing messages in `dir`.
    pub fn start(port: u16, dir: &Path, ns: Option<&NetNs>) -> Result<Sink> {
        Self::start_with(port, dir, ns, &[])
    }

    /// [`Sink::start`] with extra arguments for the script (e.g. `--tls starttls --cert C --key K`).
    pub fn start_with(
        port: u16,
        dir: &Path,
        ns: Option<&NetNs>,
        extra: &[&std::ffi::OsStr],
    ) -> Result<Sink> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/smtp_sink.py");
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.name(), "python3"]);
                c
            }
            None => Command::new("python3"),
        };
        let mut child = command
            .arg(script)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("python3 (with aiosmtpd: `cargo xtask setup`)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let sink = Sink(child);
        if line.trim() != "ready" {
            bail!("the SMTP sink did not start: {line:?}");
        }
        Ok(sink)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on the host's loopback now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The messages the sink stored in `dir`, oldest first: `{"mail_from", "rcpt_tos", "data"}`.
pub fn received(dir: &Path) -> Result<Vec<serde_json::Value>> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
        .collect();
    files.sort();
    files
        .iter()
        .map(|(_, p)| Ok(serde_json::from_str(&std::fs::read_to_string(p)?)?))
        .collect()
}

/// Waits until at least `n` messages arrived, then `settle` more for duplicates, and returns all.
pub fn wait_for(
    dir: &Path,
    n: usize,
    timeout: Duration,
    settle: Duration,
) -> Result<Vec<serde_json::Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        if received(dir)?.len() >= n {
            std::thread::sleep(settle);
            return received(dir);
        }
        if Instant::now() > deadline {
            bail!(
                "{} message(s) after {timeout:?}, expected {n}",
                received(dir)?.len()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private CA and a server certificate for 127.0.0.1 it signed, made with `openssl` in `dir`:
/// returns (CA certificate, server certificate, server key) paths.
pub fn test_ca(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let p = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("openssl")?;
        if !out.status.success() {
            bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=bwmon test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    std::fs::write(p("san.ext"), "subjectAltName = IP:127.0.0.1\n")?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ])?;
    Ok((p("ca.pem"), p("server.pem"), p("server.key")))
}
