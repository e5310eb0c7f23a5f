//! Privileged tests of `bwmon::shaping` against the real kernel: every test makes its own pair of
//! network namespaces joined by a veth, builds bwmon's HTB tree on the sender's end over
//! rtnetlink, and (for the rate tests) sends TCP from "slices" told apart by SO_PRIORITY, which
//! HTB classifies exactly like the `skb->priority` the eBPF program sets.
//! Run as root: `cargo test -p bwmon-tests --test shaping`.
#[path = "shaping/support.rs"]
mod support;

use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{Result, ensure};
use bwmon::shaping::htb::LeafQdisc;
use bwmon::shaping::netlink::NetlinkBackend;
use bwmon::shaping::tree::{CAP_CLASS, ROOT};
use bwmon::shaping::{ClassAllocator, ClassRates, Handle, Shaper, SliceRates, TcBackend, TreeConfig};
use support::{NetnsPair, flows, load_shard_classifier};

const MBIT: u64 = 1_000_000;
/// TCP payload per byte HTB charges: 1448-byte segments in 1514-byte frames.
const GOODPUT: f64 = 1448.0 / 1514.0;

fn slice(xid: u32, normal_ceil: u64, exempt_ceil: u64) -> SliceRates {
    SliceRates {
        xid,
        normal: ClassRates { min: 8, ceil: normal_ceil },
        exempt: ClassRates { min: 8, ceil: exempt_ceil },
        share: 1,
    }
}

/// A shaper on the pair's sender end with the test steering classifier attached.
fn shaper(pair: &NetnsPair, cfg: TreeConfig, alloc: ClassAllocator) -> Result<Shaper<NetlinkBackend>> {
    let backend = NetnsPair::run_in(&pair.a, || Ok(NetlinkBackend::new()?))?;
    let mut s = Shaper::new(backend, pair.ifindex()?, cfg, alloc);
    let prog = load_shard_classifier()?;
    s.set_steering_program(prog.as_fd())?;
    Ok(s)
}

fn config(bwcap: u64, bwmax: u64) -> TreeConfig {
    TreeConfig { bwcap, bwmax, leaf: None }
}

fn within(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= want * tol
}

#[test]
fn tree_is_built_then_adopted_without_changes_and_counters_keep_growing() -> Result<()> {
    let pair = NetnsPair::new("adopt")?;
    let slices = [slice(0, 50 * MBIT, 50 * MBIT), slice(1, 50 * MBIT, 50 * MBIT), slice(500, 20 * MBIT, 80 * MBIT)];
    // Shards of 2 slices: the three slices span two shards.
    let mut s = shaper(&pair, config(100 * MBIT, 1000 * MBIT), ClassAllocator::new(2)?)?;
    let first = s.sync(&slices)?;
    ensure!(first.root_created && first.added == 1 + 4 + 4 * 3 + 6, "{first:?}");
    ensure!(s.sync(&slices)?.ops() == 0, "a second sync changes nothing");
    let classid = s.classes(500).unwrap().normal;
    ensure!(classid == Handle::new(0x101, 1), "slice 500 is in the second shard: {classid}");

    let counter = |s: &mut Shaper<NetlinkBackend>| -> Result<u64> {
        let tree = s.backend_mut().read(pair.ifindex()?)?;
        Ok(tree.classes.iter().find(|c| c.classid == classid).map_or(0, |c| c.stats.bytes))
    };
    flows(&pair, &[classid.0], Duration::from_millis(800), |_| Ok(()))?;
    let before = counter(&mut s)?;
    ensure!(before > 1_000_000, "traffic reached the slice's class: {before}");

    // "Restart": a new backend and shaper from the saved allocator state adopt the tree.
    let saved = serde_json::to_string(s.allocator())?;
    drop(s);
    let mut s = shaper(&pair, config(100 * MBIT, 1000 * MBIT), serde_json::from_str(&saved)?)?;
    let again = s.sync(&slices)?;
    ensure!(again.ops() == 0 && !again.root_created, "adoption changed something: {again:?}");
    flows(&pair, &[classid.0], Duration::from_millis(800), |_| Ok(()))?;
    let after = counter(&mut s)?;
    ensure!(after > before + 1_000_000, "counters were not reset: {before} -> {after}");

    ensure!(s.teardown()?, "teardown found the tree");
    let tree = s.backend_mut().read(pair.ifindex()?)?;
    ensure!(!tree.is_bwmon() && tree.classes.is_empty(), "tree gone: {tree:?}");
    ensure!(!s.teardown()?, "nothing left to remove");
    Ok(())
}
