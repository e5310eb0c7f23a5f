//! Installs what building and testing need, only what is missing, so it is cheap to run always.
//!
//! The eBPF chain is the one `shared/TOOLCHAIN.md` verified: nightly + rust-src, and a bpf-linker
//! built against the nightly toolchain's own LLVM (no system LLVM of the right major exists).
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

use crate::run;

/// Debian packages the tests use, by the command that tells whether each is there.
const APT: [(&str, &str); 8] = [
    ("iperf3", "iperf3"),
    ("nsenter", "util-linux"),
    ("openssl", "openssl"),
    ("systemd-analyze", "systemd"),
    ("ping", "iputils-ping"),
    ("strace", "strace"),
    ("tmux", "tmux"),
    ("tc", "iproute2"),
];
/// Python modules the tests use: a real SMTP server for the e-mail tests, and the Prometheus
/// project's OpenMetrics parser for the metrics tests.
const PIP: [(&str, &str); 2] = [
    ("aiosmtpd", "aiosmtpd"),
    ("prometheus_client", "prometheus_client"),
];

pub fn all() -> Result<()> {
    apt_packages()?;
    python_modules()?;
    ebpf_toolchain()
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn have_command(name: &str) -> bool {
    succeeds("sh", &["-c", &format!("command -v {name}")])
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT
        .iter()
        .filter(|(cmd, _)| !have_command(cmd))
        .map(|(_, p)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!("missing packages {missing:?}: run `cargo xtask setup` as root (or install them)");
    }
    let root = Path::new("/");
    run(root, "apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run(root, "apt-get", &args)
}

fn python_modules() -> Result<()> {
    for (module, package) in PIP {
        if !succeeds("python3", &["-c", &format!("import {module}")]) {
            run(
                Path::new("/"),
                "python3",
                &["-m", "pip", "install", "-q", package],
            )?;
        }
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn ebpf_toolchain() -> Result<()> {
    if !succeeds("rustc", &["+nightly", "--version"]) {
        bail!(
            "the nightly toolchain is missing: `rustup toolchain install nightly` (the eBPF crate needs -Z build-std)"
        );
    }
    let installed = output(
        "rustup",
        &["component", "list", "--toolchain", "nightly", "--installed"],
    )?;
    if !installed.lines().any(|l| l.starts_with("rust-src")) {
        run(
            Path::new("."),
            "rustup",
            &["component", "add", "rust-src", "--toolchain", "nightly"],
        )?;
    }
    if succeeds("bpf-linker", &["--version"]) {
        return Ok(());
    }
    install_bpf_linker()
}

fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
}

/// bpf-linker against the nightly toolchain's libLLVM: its build script only needs
/// `PREFIX/bin/llvm-config` to exist and `PREFIX/lib/libLLVM.so`; the binary's rpath points at
/// `PREFIX/lib`, so the prefix lives under CARGO_HOME, not in a temporary directory.
fn install_bpf_linker() -> Result<()> {
    let sysroot = PathBuf::from(output("rustc", &["+nightly", "--print", "sysroot"])?.trim());
    let lib = sysroot.join("lib");
    let soname = fs::read_dir(&lib)
        .with_context(|| format!("read {}", lib.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so."))
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
    let major = soname
        .trim_start_matches("libLLVM.so.")
        .split('.')
        .next()
        .context("cannot read the LLVM major from the soname")?
        .to_owned();
    let prefix = cargo_home().join("bwmon-llvm");
    fs::create_dir_all(prefix.join("bin"))?;
    fs::create_dir_all(prefix.join("lib"))?;
    let config = prefix.join("bin/llvm-config");
    if !config.exists() {
        fs::write(
            &config,
            "#!/bin/sh\n# placeholder: bpf-linker's build script checks it exists\n",
        )?;
    }
    for name in ["libLLVM.so", soname.as_str()] {
        let link = prefix.join("lib").join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(lib.join(&soname), &link)
            .with_context(|| format!("symlink {}", link.display()))?;
    }
    eprintln!(
        "+ LLVM_PREFIX={} cargo install bpf-linker (LLVM {major})",
        prefix.display()
    );
    let feature = format!("llvm-{major}");
    let status = Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--no-default-features",
            "--features",
            &feature,
        ])
        .env("LLVM_PREFIX", &prefix)
        .status()
        .context("cannot start cargo install")?;
    if !status.success() {
        bail!("installing bpf-linker against {soname} failed");
    }
    Ok(())
}
