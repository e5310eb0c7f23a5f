//! Shaping benchmark (privileged; makes its own network namespace with a veth pair):
//!
//! 1. 10,000 ceiling changes: bwmon's pipelined netlink path vs `tc -batch` vs one `tc` process
//!    per change (the seed's way; timed over 500 processes and extrapolated).
//! 2. Building the tree for N slices with bwmon's sharded layout (with per-slice exempt classes,
//!    and with `ExemptClasses::WhenLimited`, i.e. none while no slice is limited) vs the same
//!    number of classes added to a single HTB qdisc (quadratic; timed up to `FLAT_MAX` classes,
//!    extrapolated by n²). The ratio compares the single qdisc with the per-slice layout.
//!
//! `cargo bench -p bwmon --bench shaping` (as root). `BWMON_BENCH_SLICES=1000,30000,100000` sets
//! the tree sizes.
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bwmon::shaping::diff::Op;
use bwmon::shaping::handle::Handle;
use bwmon::shaping::htb::{HtbClass, HtbQdisc};
use bwmon::shaping::netlink::NetlinkBackend;
use bwmon::shaping::{
    ClassAllocator, ClassRates, ExemptClasses, Shaper, SliceRates, TcBackend, TreeConfig, alloc,
    executor,
};

const MBIT: u64 = 1_000_000;
const CHANGES: usize = 10_000;
const PER_PROCESS_SAMPLE: usize = 500;
/// Largest single-qdisc baseline actually run (classes).
const FLAT_MAX: usize = 10_000;
/// Largest tree built with per-slice exempt classes (slices); beyond, extrapolated by n².
const PER_SLICE_MAX: usize = 30_000;

struct Netns(String);

impl Netns {
    fn new() -> Result<Self> {
        let ns = Netns(format!("bwbench{}", std::process::id()));
        run("ip", &["netns", "add", &ns.0])?;
        run(
            "ip",
            &[
                "-n", &ns.0, "link", "add", "bw0", "type", "veth", "peer", "name", "bw1",
            ],
        )?;
        run("ip", &["-n", &ns.0, "link", "set", "bw0", "up"])?;
        Ok(ns)
    }

    /// A netlink backend living in the namespace, and the veth's ifindex.
    fn backend(&self) -> Result<(NetlinkBackend, u32)> {
        let ns = self.0.clone();
        std::thread::spawn(move || -> Result<(NetlinkBackend, u32)> {
            let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
            // SAFETY: a valid netns fd; only this short-lived thread switches namespace.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
            ensure!(rc == 0, "setns: {}", std::io::Error::last_os_error());
            let name = c"bw0";
            // SAFETY: a valid NUL-terminated name.
            let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
            Ok((NetlinkBackend::new()?, idx))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("netns thread panicked"))?
    }

    fn tc(&self, args: &[&str]) -> Result<()> {
        run("tc", &[&["-n", &self.0][..], args].concat())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("run {cmd}"))?;
    if !out.status.success() {
        bail!("{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn slices(n: usize, ceil: u64) -> Vec<SliceRates> {
    (0..n as u32)
        .map(|xid| SliceRates {
            xid,
            normal: ClassRates { min: 8, ceil },
            exempt: ClassRates {
                min: 8,
                ceil: 2 * ceil,
            },
            share: 1,
        })
        .collect()
}

fn config(exempt_classes: ExemptClasses) -> TreeConfig {
    TreeConfig {
        bwcap: 1000 * MBIT,
        bwmax: 10_000 * MBIT,
        leaf: None,
        exempt_classes,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Part 1: ceiling changes on a tree of `CHANGES` slices.
fn changes(ns: &Netns, report: &mut impl std::io::Write) -> Result<()> {
    let (backend, ifindex) = ns.backend()?;
    let mut shaper = Shaper::new(
        backend,
        ifindex,
        config(ExemptClasses::PerSlice),
        ClassAllocator::new(alloc::DEFAULT_SHARD_SIZE)?,
    );
    let mut s = slices(CHANGES, 50 * MBIT);
    shaper.sync(&s)?;

    // bwmon, apply only: 10k ChangeClass ops through the pipelined socket.
    let ids: Vec<Handle> = s
        .iter()
        .map(|x| shaper.classes(x.xid).map(|c| c.normal))
        .collect::<Option<_>>()
        .context("ids")?;
    let ops: Vec<Op> = ids
        .iter()
        .map(|id| {
            let parent = Handle::new(id.major(), bwmon::shaping::tree::SHARD_TOP_MINOR);
            Op::ChangeClass(HtbClass::from_bits(
                *id,
                parent,
                8,
                20 * MBIT,
                66_000,
                316_000,
                1514,
                0,
            ))
        })
        .collect();
    let t = Instant::now();
    shaper.backend_mut().apply(ifindex, &ops)?;
    let apply = t.elapsed();

    // bwmon, full sync: read the kernel's tree, diff, apply 10k changes.
    for x in &mut s {
        x.normal.ceil = 30 * MBIT;
    }
    let t = Instant::now();
    let r = shaper.sync(&s)?;
    let sync = t.elapsed();
    ensure!(r.changed == CHANGES, "{r:?}");
    let t = Instant::now();
    ensure!(shaper.sync(&s)?.ops() == 0, "no-op sync");
    let noop = t.elapsed();
    let t = Instant::now();
    let classes = shaper.backend_mut().read(ifindex)?.classes.len();
    let read = t.elapsed();

    // tc -batch with the same changes.
    let mut batch = String::new();
    for id in &ids {
        use std::fmt::Write as _;
        writeln!(
            batch,
            "class change dev bw0 parent {:x}:ffff classid {id} htb rate 8bit ceil 20mbit burst 66000b cburst 316000b quantum 1514",
            id.major()
        )?;
    }
    let file = std::env::temp_dir().join(format!("bwbench{}.tc", std::process::id()));
    std::fs::write(&file, &batch)?;
    let t = Instant::now();
    ns.tc(&["-batch", file.to_str().context("path")?])?;
    let tc_batch = t.elapsed();
    std::fs::remove_file(&file)?;

    // One tc process per change, like the seed: 500 timed, extrapolated to 10k.
    let t = Instant::now();
    for line in batch.lines().take(PER_PROCESS_SAMPLE) {
        ns.tc(&line.split(' ').collect::<Vec<_>>())?;
    }
    let per_process = t
        .elapsed()
        .mul_f64(CHANGES as f64 / PER_PROCESS_SAMPLE as f64);

    writeln!(
        report,
        "\n{CHANGES} ceiling changes on a {CHANGES}-slice tree"
    )?;
    writeln!(
        report,
        "  bwmon netlink apply (pipelined)   {:>9.3} s   1.0x",
        secs(apply)
    )?;
    writeln!(
        report,
        "  bwmon sync (dump+diff+apply)      {:>9.3} s   {:.1}x",
        secs(sync),
        secs(sync) / secs(apply)
    )?;
    writeln!(
        report,
        "  bwmon sync, nothing to change     {:>9.3} s",
        secs(noop)
    )?;
    writeln!(
        report,
        "  of which reading {classes} classes  {:>9.3} s",
        secs(read)
    )?;
    writeln!(
        report,
        "  tc -batch                         {:>9.3} s   {:.1}x",
        secs(tc_batch),
        secs(tc_batch) / secs(apply)
    )?;
    writeln!(
        report,
        "  tc process per change (500 run)   {:>9.3} s   {:.0}x (extrapolated)",
        secs(per_process),
        secs(per_process) / secs(apply)
    )?;
    executor::teardown(shaper.backend_mut(), ifindex)?;
    Ok(())
}

/// The same classes in one HTB qdisc: root 1:, a parent 1:1, `n` leaves under it.
fn flat(backend: &mut NetlinkBackend, ifindex: u32, n: usize) -> Result<Duration> {
    let q = HtbQdisc {
        handle: Handle::new(1, 0),
        parent: Handle::ROOT,
        default_minor: 0,
        r2q: 10,
        direct_qlen: None,
    };
    let top = Handle::new(1, 1);
    let mut ops = vec![
        Op::AddQdisc(q),
        Op::AddClass(HtbClass::from_bits(
            top,
            Handle::new(1, 0),
            MBIT,
            MBIT,
            66_000,
            66_000,
            1514,
            0,
        )),
    ];
    ops.extend((0..n).map(|i| {
        let id = Handle::new(1, i as u16 + 2);
        Op::AddClass(HtbClass::from_bits(
            id, top, 8, MBIT, 66_000, 66_000, 1514, 0,
        ))
    }));
    let t = Instant::now();
    backend.apply(ifindex, &ops)?;
    let took = t.elapsed();
    backend.apply(
        ifindex,
        &[Op::DelQdisc {
            parent: Handle::ROOT,
            handle: Handle(0),
        }],
    )?;
    Ok(took)
}

/// Part 2: building trees.
/// Builds the tree for `n` slices from scratch; returns (build, teardown, classes created).
fn build_once(ns: &Netns, n: usize, mode: ExemptClasses) -> Result<(Duration, Duration, usize)> {
    let (backend, ifindex) = ns.backend()?;
    let alloc = ClassAllocator::new(alloc::DEFAULT_SHARD_SIZE)?;
    let mut shaper = Shaper::new(backend, ifindex, config(mode), alloc);
    let mut s = slices(n, 50 * MBIT);
    if mode == ExemptClasses::WhenLimited {
        // Nobody limited yet (as at the start of a period): no per-slice exempt classes.
        for x in &mut s {
            x.exempt.ceil = config(mode).bwmax;
        }
    }
    let t = Instant::now();
    let r = shaper.sync(&s)?;
    let build = t.elapsed();
    ensure!(r.root_created && r.added > n, "{r:?}");
    let t = Instant::now();
    shaper.teardown()?;
    Ok((build, t.elapsed(), r.added))
}

/// The single-qdisc baseline for `classes` classes: run up to `FLAT_MAX`, else extrapolated by
/// n² from the largest run (`fit`).
fn flat_baseline(
    ns: &Netns,
    classes: usize,
    fit: &mut Option<(usize, f64)>,
) -> Result<(f64, &'static str)> {
    let run = classes.min(FLAT_MAX);
    if fit.is_none_or(|(m, _)| m < run) {
        let (mut b, i) = ns.backend()?;
        *fit = Some((run, secs(flat(&mut b, i, run)?)));
    }
    let (m, f) = fit.context("baseline measured")?;
    if m == classes {
        return Ok((f, ""));
    }
    let k = (classes as f64 / m as f64).powi(2);
    Ok((f * k, " (n² extrapolated)"))
}

/// Part 2: building trees.
fn builds(ns: &Netns, sizes: &[usize], report: &mut impl std::io::Write) -> Result<()> {
    writeln!(
        report,
        "\nbuilding the tree from scratch (sharded, {} slices per shard)",
        alloc::DEFAULT_SHARD_SIZE
    )?;
    writeln!(
        report,
        "  {:>7} | {:>8} {:>9} {:>9} | {:>8} {:>9} | {:>13} {:>6}",
        "slices", "created", "build s", "teardn s", "created", "build s", "one qdisc s", "ratio"
    )?;
    writeln!(
        report,
        "  {:>7} | {:^28} | {:^18} |",
        "", "exempt classes: per slice", "when limited"
    )?;
    let mut fit = None;
    let mut per_slice_fit: Option<(usize, Duration, Duration)> = None;
    for &n in sizes {
        let (build, teardown, classes) = match per_slice_fit {
            Some((m, b, t)) if n > PER_SLICE_MAX => {
                let k = (n as f64 / m as f64).powi(2);
                writeln!(
                    report,
                    "  (per-slice figures for {n} slices: n² extrapolated from {m})"
                )?;
                // root + 4 fixed classes; per shard and kind: class, qdisc, top class.
                (b.mul_f64(k), t.mul_f64(k), 2 * n + 6 * n.div_ceil(1024) + 5)
            }
            _ => {
                let r = build_once(ns, n, ExemptClasses::PerSlice)?;
                per_slice_fit = Some((n, r.0, r.1));
                r
            }
        };
        let (build_wl, _, classes_wl) = build_once(ns, n, ExemptClasses::WhenLimited)?;
        let (flat_secs, note) = flat_baseline(ns, classes, &mut fit)?;
        writeln!(
            report,
            "  {n:>7} | {classes:>8} {:>9.3} {:>9.3} | {classes_wl:>8} {:>9.3} | {flat_secs:>13.2} {:>5.1}x{note}",
            secs(build),
            secs(teardown),
            secs(build_wl),
            flat_secs / secs(build)
        )?;
    }
    Ok(())
}

fn main() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("shaping benchmark: needs root (network namespaces, HTB); skipped");
        return Ok(());
    }
    let sizes: Vec<usize> = std::env::var("BWMON_BENCH_SLICES")
        .unwrap_or_else(|_| "1000,5000,30000,100000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let ns = Netns::new()?;
    let mut out = std::io::stdout();
    changes(&ns, &mut out)?;
    builds(&ns, &sizes, &mut out)?;
    Ok(())
}
