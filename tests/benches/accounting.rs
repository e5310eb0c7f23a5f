//! Kernel-side cost per packet (BPF_PROG_TEST_RUN, against an empty classifier loaded in the same
//! run) and the cost of reading every slot's counters (batch vs key by key). Needs root.
//!
//! `cargo xtask bench accounting` (`BWMON_BENCH_NO_EXEMPT=1` leaves the exempt tries empty, to
//! show what the 1,000-rule lookup costs).
use std::net::Ipv4Addr;

use anyhow::Result;
use aya::programs::{TestRun, TestRunOptions};
use bwmon::accounting::{Accounting, Options, SliceIdMode};
use bwmon_common::NOOP_PROGRAM_NAME;
use bwmon_tests::{frames, pins::PinDir};

const REPEAT: u32 = 2_000_000;
const ROUNDS: usize = 5;
const MAX_SLICES: u32 = 131_072;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 1,000 exempt rules: 900 IPv4 prefixes of /12 to /28 spread over the address space, 100 IPv6.
fn exempt_rules() -> Vec<(ipnet::IpNet, bool)> {
    let mut rules = Vec::new();
    let mut x: u32 = 0x9e37_79b9;
    for i in 0..1000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let net = if i < 900 {
            let len = 12 + (x % 17) as u8;
            ipnet::IpNet::V4(
                ipnet::Ipv4Net::new(Ipv4Addr::from(x | 0x0100_0000), len)
                    .expect("len <= 32")
                    .trunc(),
            )
        } else {
            let addr =
                std::net::Ipv6Addr::from(((u128::from(x) << 96) | 0x2001 << 112) ^ u128::from(i));
            ipnet::IpNet::V6(ipnet::Ipv6Net::new(addr, 48).expect("len <= 128").trunc())
        };
        rules.push((net, true));
    }
    rules
}

fn load(pins: &PinDir, bench_keys: Option<u32>, slices: u32) -> Result<Accounting> {
    let mut acc = Accounting::load(Options {
        mode: SliceIdMode::Uid,
        pin_dir: pins.path().to_owned(),
        max_slices: MAX_SLICES,
        dense_xids: MAX_SLICES,
        ebpf_log: false,
        bench_keys,
    })?;
    if std::env::var_os("BWMON_BENCH_NO_EXEMPT").is_none() {
        acc.set_exempt(&exempt_rules())?;
    }
    for xid in 0..slices {
        acc.set_xid_slot(xid, 2 + xid % (MAX_SLICES - 2))?;
    }
    Ok(acc)
}

/// Average ns per run of the loaded program named `name` (or bwmon's) over `REPEAT` runs.
fn ns_per_packet(acc: &mut Accounting, noop: bool, frame: &[u8]) -> Result<f64> {
    let opts = TestRunOptions {
        data_in: Some(frame),
        repeat: REPEAT,
        ..TestRunOptions::default()
    };
    let result = if noop {
        acc.classifier_mut(NOOP_PROGRAM_NAME)?.test_run(opts)?
    } else {
        acc.program()?.test_run(opts)?
    };
    Ok(result.duration.as_nanos() as f64)
}

fn per_packet() -> Result<()> {
    println!(
        "## Per-packet cost (BPF_PROG_TEST_RUN, repeat {REPEAT}, median of {ROUNDS}, 1,000 exempt rules)"
    );
    println!("| case | empty ns | bwmon ns | over empty |");
    println!("|---|---|---|---|");
    let miss = frames::udp4(Ipv4Addr::new(198, 18, 0, 2), 22);
    let cases: [(&str, Option<u32>, u32); 4] = [
        ("hot key (uid mode, one socket), 10 slices", None, 10),
        ("10 slices, key rotating", Some(10), 10),
        ("100,000 slices, key rotating", Some(100_000), 100_000),
        (
            "100,000 slices, key rotating, exempt hit",
            Some(100_000),
            100_000,
        ),
    ];
    for (i, (name, keys, slices)) in cases.into_iter().enumerate() {
        let pins = PinDir::new("bench");
        let mut acc = load(&pins, keys, slices)?;
        let frame = if i == 3 {
            // The first rule's network address: a longest-prefix hit.
            let (net, _) = exempt_rules()[0];
            match net {
                ipnet::IpNet::V4(n) => frames::udp4(n.network(), 22),
                ipnet::IpNet::V6(_) => miss.clone(),
            }
        } else {
            miss.clone()
        };
        let (mut empty, mut full) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            empty.push(ns_per_packet(&mut acc, true, &frame)?);
            full.push(ns_per_packet(&mut acc, false, &frame)?);
        }
        let (e, f) = (median(empty), median(full));
        println!(
            "| {name} | {e:.0} | {f:.0} | +{:.0} ns ({:.2}x) |",
            f - e,
            f / e
        );
    }
    Ok(())
}

fn read_all() -> Result<()> {
    println!("\n## Reading and summing all counters (median of {ROUNDS})");
    println!("| slots | batch ms | key by key ms | key by key / batch |");
    println!("|---|---|---|---|");
    let pins = PinDir::new("benchread");
    let acc = load(&pins, None, 0)?;
    for slots in [1_000u32, 10_000, 100_000] {
        let (mut batch, mut each) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let t = std::time::Instant::now();
            let a = acc.read_counters(slots)?;
            batch.push(t.elapsed().as_secs_f64() * 1e3);
            let t = std::time::Instant::now();
            let b = acc.read_counters_by_key(slots)?;
            each.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(a, b, "both reads see the same counters");
            assert_eq!(a.len(), slots as usize);
        }
        let (b, e) = (median(batch), median(each));
        println!("| {slots} | {b:.2} | {e:.2} | {:.1}x |", e / b);
    }
    Ok(())
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else to parse.
    per_packet()?;
    read_all()
}
