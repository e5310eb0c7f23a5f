//! Privileged tests of `bwmon::shaping` against the real kernel: every test makes its own pair of
//! network namespaces joined by a veth, builds bwmon's HTB tree on the sender's end over
//! rtnetlink, and (for the rate tests) sends TCP from "slices" told apart by SO_PRIORITY, which
//! HTB classifies exactly like the `skb->priority` the eBPF program sets.
//! Run as root: `cargo test -p bwmon-tests --test shaping`.
#[path = "shaping/support.rs"]
mod support;

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use bwmon::shaping::htb::{HtbClass, HtbQdisc, LeafQdisc};
use bwmon::shaping::netlink::NetlinkBackend;
use bwmon::shaping::tree::{CAP_CLASS, ExemptClasses, ROOT, SHARED_EXEMPT_CLASS};
use bwmon::shaping::{
    ClassAllocator, ClassRates, Handle, Op, Shaper, ShapingError, SliceRates, TcBackend, TreeConfig,
};
use support::{NetnsPair, flows, load_shard_classifier};

const MBIT: u64 = 1_000_000;
/// TCP payload per byte HTB charges: 1448-byte segments in 1514-byte frames.
const GOODPUT: f64 = 1448.0 / 1514.0;

fn slice(xid: u32, normal_ceil: u64, exempt_ceil: u64) -> SliceRates {
    SliceRates {
        xid,
        normal: ClassRates {
            min: 8,
            ceil: normal_ceil,
        },
        exempt: ClassRates {
            min: 8,
            ceil: exempt_ceil,
        },
        share: 1,
    }
}

/// A shaper on the pair's sender end with the test steering classifier attached.
fn shaper(
    pair: &NetnsPair,
    cfg: TreeConfig,
    alloc: ClassAllocator,
) -> Result<Shaper<NetlinkBackend>> {
    let backend = NetnsPair::run_in(&pair.a, || Ok(NetlinkBackend::new()?))?;
    let mut s = Shaper::new(backend, pair.ifindex()?, cfg, alloc);
    let mut prog = load_shard_classifier()?;
    s.set_steering_program(prog.as_fd())?;
    Ok(s)
}

fn config(bwcap: u64, bwmax: u64) -> TreeConfig {
    TreeConfig {
        bwcap,
        bwmax,
        leaf: None,
        exempt_classes: ExemptClasses::PerSlice,
    }
}

fn within(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= want * tol
}

#[test]
fn tree_is_built_then_adopted_without_changes_and_counters_keep_growing() -> Result<()> {
    let pair = NetnsPair::new("adopt")?;
    let slices = [
        slice(0, 50 * MBIT, 50 * MBIT),
        slice(1, 50 * MBIT, 50 * MBIT),
        slice(500, 20 * MBIT, 80 * MBIT),
    ];
    // Shards of 2 slices: the three slices span two shards.
    let mut s = shaper(
        &pair,
        config(100 * MBIT, 1000 * MBIT),
        ClassAllocator::new(2)?,
    )?;
    let first = s.sync(&slices)?;
    ensure!(
        first.root_created && first.added == 1 + 4 + 4 * 3 + 6,
        "{first:?}"
    );
    ensure!(s.sync(&slices)?.ops() == 0, "a second sync changes nothing");
    // The steering filter as the kernel reports it: cls_bpf, direct action, class major 1.
    let out = std::process::Command::new("tc")
        .args(["-n", &pair.a, "filter", "show", "dev", "bw0"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        text.contains("flowid 1: bwmon_shard direct-action"),
        "filter: {text}"
    );
    let classid = s.classes(500).unwrap().normal;
    ensure!(
        classid == Handle::new(0x101, 1),
        "slice 500 is in the second shard: {classid}"
    );

    let counter = |s: &mut Shaper<NetlinkBackend>| -> Result<u64> {
        let tree = s.backend_mut().read(pair.ifindex()?)?;
        Ok(tree
            .classes
            .iter()
            .find(|c| c.classid == classid)
            .map_or(0, |c| c.stats.bytes))
    };
    flows(&pair, &[classid.0], Duration::from_millis(800), |_| Ok(()))?;
    let before = counter(&mut s)?;
    ensure!(
        before > 1_000_000,
        "traffic reached the slice's class: {before}"
    );

    // "Restart": a new backend and shaper from the saved allocator state adopt the tree.
    let saved = s.allocator().clone();
    drop(s);
    let mut s = shaper(&pair, config(100 * MBIT, 1000 * MBIT), saved)?;
    let again = s.sync(&slices)?;
    ensure!(
        again.ops() == 0 && !again.root_created,
        "adoption changed something: {again:?}"
    );
    flows(&pair, &[classid.0], Duration::from_millis(800), |_| Ok(()))?;
    let after = counter(&mut s)?;
    ensure!(
        after > before + 1_000_000,
        "counters were not reset: {before} -> {after}"
    );

    ensure!(s.teardown()?, "teardown found the tree");
    let tree = s.backend_mut().read(pair.ifindex()?)?;
    ensure!(
        !tree.is_bwmon() && tree.classes.is_empty(),
        "tree gone: {tree:?}"
    );
    ensure!(!s.teardown()?, "nothing left to remove");
    Ok(())
}

/// One slice's ceiling holds, the other slice gets the rest of the node cap, and a lowered
/// ceiling takes effect within a second.
#[test]
fn ceilings_hold_share_the_cap_and_change_within_a_second() -> Result<()> {
    let pair = NetnsPair::new("ceil")?;
    let cap = 80 * MBIT;
    let mut slices = [slice(10, 30 * MBIT, 30 * MBIT), slice(11, cap, cap)];
    let mut s = shaper(&pair, config(cap, 1000 * MBIT), ClassAllocator::new(1024)?)?;
    s.sync(&slices)?;
    let (a, b) = (
        s.classes(10).unwrap().normal.0,
        s.classes(11).unwrap().normal.0,
    );
    let ifindex = pair.ifindex()?;
    let bytes_of = |s: &mut Shaper<NetlinkBackend>, id: u32| -> Result<u64> {
        let tree = s.backend_mut().read(ifindex)?;
        Ok(tree
            .classes
            .iter()
            .find(|c| c.classid.0 == id)
            .map_or(0, |c| c.stats.bytes))
    };
    let mut before_change = 0;
    let t = flows(&pair, &[a, b], Duration::from_millis(6500), |start| {
        std::thread::sleep(Duration::from_millis(3500).saturating_sub(start.elapsed()));
        slices[0].normal.ceil = 10 * MBIT;
        before_change = bytes_of(&mut s, a)?;
        let r = s.sync(&slices)?;
        ensure!(
            r.changed >= 1 && r.added == 0 && r.deleted == 0,
            "only changes: {r:?}"
        );
        Ok(())
    })?;
    let (a1, b1) = (t.rate(0, 1.0, 3.5), t.rate(1, 1.0, 3.5));
    let (a2, b2) = (t.rate(0, 4.5, 6.5), t.rate(1, 4.5, 6.5));
    let g = |bits: u64| bits as f64 * GOODPUT;
    ensure!(
        within(a1, g(30 * MBIT), 0.05),
        "slice at 30 Mbit/s ceiling got {a1:.0}"
    );
    ensure!(
        within(b1, g(50 * MBIT), 0.05),
        "other slice got {b1:.0}, want the rest of the cap"
    );
    ensure!(within(a2, g(10 * MBIT), 0.05), "after the change: {a2:.0}");
    ensure!(
        within(b2, g(70 * MBIT), 0.05),
        "other slice after the change: {b2:.0}"
    );
    // The change kept the class (and its counters): nothing was reset.
    let after = bytes_of(&mut s, a)?;
    ensure!(
        before_change > 5_000_000 && after > before_change + 2_000_000,
        "{before_change} -> {after}"
    );
    Ok(())
}

/// Exempt traffic is held by its own ceiling, not by the node cap; normal traffic of all slices
/// together is held by the node cap.
#[test]
fn exempt_class_is_not_node_capped_and_the_cap_holds_in_aggregate() -> Result<()> {
    let pair = NetnsPair::new("exempt")?;
    let cap = 20 * MBIT;
    let slices = [
        slice(20, 100 * MBIT, 60 * MBIT),
        slice(21, 100 * MBIT, 100 * MBIT),
    ];
    // Shards of one slice: the two normal classes are in different shard qdiscs.
    let mut s = shaper(&pair, config(cap, 1000 * MBIT), ClassAllocator::new(1)?)?;
    s.sync(&slices)?;
    let (c20, c21) = (s.classes(20).unwrap(), s.classes(21).unwrap());
    ensure!(c20.normal.major() != c21.normal.major(), "two shards");
    let t = flows(&pair, &[c20.exempt.0], Duration::from_millis(3500), |_| {
        Ok(())
    })?;
    let exempt = t.rate(0, 1.0, 3.5);
    ensure!(
        within(exempt, 60.0 * MBIT as f64 * GOODPUT, 0.05),
        "exempt flow got {exempt:.0}"
    );
    let t = flows(
        &pair,
        &[c20.normal.0, c21.normal.0],
        Duration::from_millis(3500),
        |_| Ok(()),
    )?;
    let (n20, n21) = (t.rate(0, 1.0, 3.5), t.rate(1, 1.0, 3.5));
    let want = cap as f64 * GOODPUT;
    ensure!(
        within(n20 + n21, want, 0.05),
        "normal flows {n20:.0} + {n21:.0}, cap {want:.0}"
    );
    ensure!(
        within(n20, want / 2.0, 0.25),
        "equal shares split the cap: {n20:.0} vs {n21:.0}"
    );
    Ok(())
}

/// A leaf kind the kernel lacks falls back to pfifo; pfifo leaves are then adopted as they are.
#[test]
fn missing_leaf_kind_falls_back_to_pfifo() -> Result<()> {
    let pair = NetnsPair::new("leaf")?;
    let mut cfg = config(50 * MBIT, 100 * MBIT);
    cfg.leaf = Some(LeafQdisc::Other {
        kind: "fq_codel".into(),
    });
    let slices = [
        slice(1, 10 * MBIT, 10 * MBIT),
        slice(2, 10 * MBIT, 10 * MBIT),
    ];
    let mut s = shaper(&pair, cfg, ClassAllocator::new(1024)?)?;
    s.sync(&slices)?;
    ensure!(
        s.config().leaf == Some(LeafQdisc::Pfifo { limit: 1000 }),
        "fell back: {:?}",
        s.config().leaf
    );
    let tree = s.backend_mut().read(pair.ifindex()?)?;
    let leaf_of = |c: Handle| {
        tree.qdiscs
            .iter()
            .find(|q| q.parent == c)
            .map(|q| (q.kind.clone(), q.fifo_limit))
    };
    for c in [s.classes(1).unwrap().normal, s.classes(2).unwrap().exempt] {
        ensure!(
            leaf_of(c) == Some(("pfifo".into(), Some(1000))),
            "leaf of {c}: {:?}",
            leaf_of(c)
        );
    }
    ensure!(s.sync(&slices)?.ops() == 0, "pfifo leaves adopted");
    Ok(())
}

/// A root qdisc that is not bwmon's is replaced on sync, and teardown leaves foreign roots alone.
#[test]
fn foreign_root_is_replaced_by_sync_and_left_alone_by_teardown() -> Result<()> {
    let pair = NetnsPair::new("foreign")?;
    let tc = |args: &[&str]| -> Result<()> {
        let st = std::process::Command::new("tc")
            .arg("-n")
            .arg(&pair.a)
            .args(args)
            .status()?;
        ensure!(st.success(), "tc {args:?}");
        Ok(())
    };
    // Someone else's HTB with bwmon's handle, default r2q.
    tc(&[
        "qdisc", "add", "dev", "bw0", "root", "handle", "1:", "htb", "default", "1",
    ])?;
    tc(&[
        "class", "add", "dev", "bw0", "parent", "1:", "classid", "1:1", "htb", "rate", "1mbit",
    ])?;
    let mut s = shaper(
        &pair,
        config(10 * MBIT, 100 * MBIT),
        ClassAllocator::new(1024)?,
    )?;
    ensure!(!s.teardown()?, "teardown must not touch a foreign root");
    let tree = s.backend_mut().read(pair.ifindex()?)?;
    ensure!(
        tree.root().is_some_and(|q| q.handle == ROOT) && tree.classes.len() == 1,
        "{tree:?}"
    );
    let r = s.sync(&[slice(7, MBIT, MBIT)])?;
    ensure!(r.root_created, "{r:?}");
    let tree = s.backend_mut().read(pair.ifindex()?)?;
    ensure!(
        tree.is_bwmon() && tree.classes.iter().any(|c| c.classid == CAP_CLASS),
        "replaced"
    );
    Ok(())
}

/// Kernel refusals come back typed, naming the first failing op with the kernel's message; the
/// ops after it in the same pipelined batch are still carried out.
#[test]
fn kernel_errors_name_the_failing_op_and_the_batch_goes_on() -> Result<()> {
    let pair = NetnsPair::new("err")?;
    let mut s = shaper(
        &pair,
        config(10 * MBIT, 100 * MBIT),
        ClassAllocator::new(16)?,
    )?;
    s.sync(&[slice(1, MBIT, MBIT)])?;
    let ifindex = pair.ifindex()?;
    let class = |id, parent| HtbClass::from_bits(id, parent, 8, MBIT, 1600, 1600, 1514, 0);
    // A class in a qdisc that does not exist. (A missing *parent class* is no error: HTB then
    // makes the class a top-level one.)
    let orphan = class(Handle::new(0x77, 1), Handle::new(0x77, 0));
    let fine = class(Handle::new(1, 0x71), CAP_CLASS);
    let ops = [Op::AddClass(orphan), Op::AddClass(fine), Op::AddClass(fine)];
    match s.backend_mut().apply(ifindex, &ops) {
        Err(ShapingError::Kernel {
            index,
            op,
            errno,
            message,
            failed,
        }) => {
            ensure!(
                index == 0 && failed == 2,
                "first of two failures: {index} {failed}"
            );
            ensure!(
                op.contains("77:1") && errno == libc::ENOENT && !message.is_empty(),
                "{op}: {message} ({errno})"
            );
        }
        other => bail!("expected a kernel error, got {other:?}"),
    }
    let tree = s.backend_mut().read(ifindex)?;
    ensure!(
        tree.classes.iter().any(|c| c.classid == fine.classid),
        "op 1 ran after op 0 failed"
    );
    // The kernel's extended ack message comes through (not just the errno's text).
    let root = HtbQdisc {
        handle: ROOT,
        parent: Handle::ROOT,
        default_minor: 4,
        r2q: 10,
        direct_qlen: None,
    };
    match s.backend_mut().apply(ifindex, &[Op::AddQdisc(root)]) {
        Err(ShapingError::Kernel {
            errno: libc::EEXIST,
            message,
            ..
        }) => {
            ensure!(!message.contains("os error"), "extended ack: {message}");
        }
        other => bail!("duplicate root: {other:?}"),
    }
    match s.backend_mut().apply(ifindex, &[Op::AddClass(fine)]) {
        Err(ShapingError::Kernel {
            errno: libc::EEXIST,
            ..
        }) => Ok(()),
        other => bail!("duplicate class: {other:?}"),
    }
}

/// With exempt classes only for limited slices, an unlimited slice's exempt packets go to the
/// shared class (found by the root qdisc directly), and a limited one gets its own class.
#[test]
fn shared_exempt_class_until_the_slice_is_limited() -> Result<()> {
    let pair = NetnsPair::new("shared")?;
    let mut cfg = config(20 * MBIT, 1000 * MBIT);
    cfg.exempt_classes = ExemptClasses::WhenLimited;
    let mut slices = [slice(3, 10 * MBIT, 1000 * MBIT)];
    let mut s = shaper(&pair, cfg, ClassAllocator::new(1024)?)?;
    s.sync(&slices)?;
    let shared = s.classes(3).unwrap().exempt;
    ensure!(shared == SHARED_EXEMPT_CLASS, "{shared}");
    flows(&pair, &[shared.0], Duration::from_millis(500), |_| Ok(()))?;
    let ifindex = pair.ifindex()?;
    let tree = s.backend_mut().read(ifindex)?;
    let bytes = tree
        .classes
        .iter()
        .find(|c| c.classid == shared)
        .map_or(0, |c| c.stats.bytes);
    ensure!(
        bytes > 1_000_000,
        "shared exempt class carried the flow: {bytes}"
    );
    slices[0].exempt.ceil = 30 * MBIT;
    let r = s.sync(&slices)?;
    let own = s.classes(3).unwrap().exempt;
    ensure!(
        own.major() >= 0x4000 && r.added == 4,
        "own exempt class {own}: {r:?}"
    );
    let t = flows(&pair, &[own.0], Duration::from_millis(3000), |_| Ok(()))?;
    let rate = t.rate(0, 1.0, 3.0);
    ensure!(
        within(rate, 30.0 * MBIT as f64 * GOODPUT, 0.05),
        "limited exempt flow: {rate:.0}"
    );
    Ok(())
}

/// The reader asks each HTB qdisc for its classes (one dump of all classes is quadratic in the
/// kernel); it must still see every class `tc class show` lists, across shards.
#[test]
fn per_qdisc_class_dumps_see_every_class_tc_lists() -> Result<()> {
    let pair = NetnsPair::new("perq")?;
    // Shards of 4 slices: 10 slices span three normal and three exempt shard qdiscs.
    let mut s = shaper(
        &pair,
        config(10 * MBIT, 100 * MBIT),
        ClassAllocator::new(4)?,
    )?;
    let slices: Vec<_> = (1001..1011).map(|xid| slice(xid, MBIT, MBIT)).collect();
    s.sync(&slices)?;
    let tree = s.backend_mut().read(pair.ifindex()?)?;
    let nested = tree.qdiscs.iter().filter(|q| q.handle != ROOT).count();
    ensure!(nested >= 6, "{nested} nested qdiscs");
    let out = std::process::Command::new("tc")
        .args(["-n", &pair.a, "class", "show", "dev", "bw0"])
        .output()?;
    ensure!(out.status.success(), "tc class show");
    let mut listed: Vec<String> = String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    let mut read: Vec<String> = tree.classes.iter().map(|c| c.classid.to_string()).collect();
    listed.sort();
    read.sort();
    ensure!(listed.len() > 20, "{listed:?}");
    assert_eq!(read, listed);
    // And a re-sync from that reading changes nothing.
    ensure!(s.sync(&slices)?.ops() == 0, "adopted as it is");
    Ok(())
}

/// The backend reports progress each time the kernel answers, so a long build can feed a
/// watchdog: building 300 slices (over 600 operations) answers in several windows.
#[test]
fn the_backend_reports_progress_while_building() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pair = NetnsPair::new("prog")?;
    let answers = Arc::new(AtomicUsize::new(0));
    let counter = answers.clone();
    let mut backend = NetnsPair::run_in(&pair.a, || Ok(NetlinkBackend::new()?))?;
    backend.on_progress(move || {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let mut s = Shaper::new(
        backend,
        pair.ifindex()?,
        config(10 * MBIT, 100 * MBIT),
        ClassAllocator::new(1024)?,
    );
    let slices: Vec<_> = (2000..2300).map(|xid| slice(xid, MBIT, MBIT)).collect();
    let report = s.sync(&slices)?;
    let answered = answers.load(Ordering::Relaxed);
    ensure!(report.ops() > 600, "{report:?}");
    // At least one answer per window of 128 requests, plus the dumps.
    ensure!(
        answered > report.ops() / 128,
        "{answered} answers for {} ops",
        report.ops()
    );
    Ok(())
}
