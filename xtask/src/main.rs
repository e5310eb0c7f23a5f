//! `cargo xtask`: build the eBPF object (installing its toolchain when missing), run every test,
//! run the benchmarks. Every step is idempotent: a fresh machine and a warm one run the same
//! commands.
mod setup;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "bwmon's build, test and benchmark tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the build and the tests need (apt packages, rust-src, bpf-linker, Python
    /// test servers). Idempotent.
    Setup,
    /// Build the eBPF object (target/bpfel-unknown-none/release/bwmon), installing the
    /// toolchain first if needed.
    BuildEbpf,
    /// Everything CI checks: setup, eBPF build, fmt, clippy (user and eBPF crates), and every
    /// test including the privileged end-to-end ones (needs root).
    Test {
        /// Extra arguments for `cargo nextest run` (e.g. a filter).
        #[arg(trailing_var_arg = true)]
        nextest_args: Vec<String>,
    },
    /// Build everything and run the agent on its built-in demo topology (needs root).
    Demo {
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Run the benchmarks (needs root); results print as tables with ratios.
    Bench {
        /// Only the benchmarks whose name contains this.
        filter: Option<String>,
    },
}

fn main() -> Result<()> {
    let root = workspace_root();
    match Cli::parse().task {
        Task::Setup => setup::all(),
        Task::BuildEbpf => build_ebpf(&root),
        Task::Test { nextest_args } => test(&root, &nextest_args),
        Task::Bench { filter } => bench(&root, filter.as_deref()),
        Task::Demo { duration } => {
            build_ebpf(&root)?;
            let mut args = vec![
                "run",
                "--release",
                "-q",
                "-p",
                "bwmon",
                "--",
                "run",
                "--demo",
            ];
            let secs = duration.map(|d| d.to_string());
            if let Some(secs) = &secs {
                args.extend(["--duration", secs]);
            }
            run(&root, "cargo", &args)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_owned()
}

/// Runs a command in `dir`, echoing it, and fails if it fails.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

const EBPF_ARGS: [&str; 6] = [
    "+nightly",
    "build",
    "-Zbuild-std=core",
    "--target=bpfel-unknown-none",
    "--release",
    "-p=bwmon-ebpf",
];

fn build_ebpf(root: &Path) -> Result<()> {
    setup::ebpf_toolchain()?;
    run(root, "cargo", &EBPF_ARGS)?;
    let object = root.join("target/bpfel-unknown-none/release/bwmon");
    if !object.is_file() {
        bail!(
            "the eBPF build finished but {} is missing",
            object.display()
        );
    }
    eprintln!("eBPF object: {}", object.display());
    Ok(())
}

fn test(root: &Path, nextest_args: &[String]) -> Result<()> {
    setup::all()?;
    build_ebpf(root)?;
    run(root, "cargo", &["fmt", "--all", "--check"])?;
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--exclude=bwmon-ebpf",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        root,
        "cargo",
        &[
            "+nightly",
            "clippy",
            "-Zbuild-std=core",
            "--target=bpfel-unknown-none",
            "--release",
            "-p=bwmon-ebpf",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let mut args: Vec<&str> = vec!["nextest", "run", "--workspace", "--exclude=bwmon-ebpf"];
    args.extend(nextest_args.iter().map(String::as_str));
    run(root, "cargo", &args)?;
    // Doc tests are not run by nextest.
    run(
        root,
        "cargo",
        &["test", "--workspace", "--exclude=bwmon-ebpf", "--doc"],
    )
}

fn bench(root: &Path, filter: Option<&str>) -> Result<()> {
    build_ebpf(root)?;
    let benches = [
        ("bwmon-tests", "accounting"),
        ("bwmon", "policy"),
        ("bwmon", "shaping"),
        ("bwmon", "agent"),
        ("bwmon", "top"),
    ];
    let manifest_has = |package: &str, bench: &str| {
        let dir = if package == "bwmon" { "bwmon" } else { "tests" };
        root.join(dir)
            .join("benches")
            .join(format!("{bench}.rs"))
            .is_file()
    };
    for (package, bench) in benches {
        if filter.is_some_and(|f| !bench.contains(f)) || !manifest_has(package, bench) {
            continue;
        }
        run(root, "cargo", &["bench", "-p", package, "--bench", bench])?;
    }
    Ok(())
}
