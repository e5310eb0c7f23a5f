//! One policy pass and one ledger write over 10,000 and 100,000 slices, against baselines measured
//! in the same process. Run: `cargo bench -p bwmon --bench policy`.
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use bwmon::ledger::Ledger;
use bwmon::policy::{Attributes, PerClass, Policy, PolicyConfig, PolicyState, SliceInput};

const T0: u64 = 1_795_478_400;
const RUNS: usize = 9;

/// Median wall time of `RUNS` runs of `f(run)`.
fn median(mut f: impl FnMut(usize)) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|run| {
            let start = Instant::now();
            f(run);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Deterministic per-slice traffic: some slices cross their thresholds during the runs.
fn traffic(i: usize, run: usize) -> u64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .rotate_left(17);
    (x % 4_000_000) * (run as u64 + 1)
}

fn bench(n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("pl_slice{i:06}")).collect();
    let attrs: Vec<Attributes> = (0..8u64)
        .map(|k| Attributes {
            net_max_kbyte: Some(10_000 * (k + 1)),
            net_min_rate: Some(k * 100),
            ..Attributes::default()
        })
        .collect();
    let inputs = |run: usize| -> Vec<SliceInput<'_>> {
        (0..n)
            .map(|i| SliceInput {
                name: &names[i],
                xid: 1_000 + i as u32,
                attributes: &attrs[i % attrs.len()],
                counters: PerClass::new(traffic(i, run), traffic(i + 1, run) / 4),
            })
            .collect()
    };
    let runs: Vec<Vec<SliceInput<'_>>> = (0..=RUNS).map(inputs).collect();
    let mut policy = Policy::new(
        PolicyConfig::new(100_000_000, 1_000_000_000),
        PolicyState::default(),
    );
    policy.sync(T0, &runs[0]);

    // Baseline 1: copy each slice's counters into a vector.
    let mut copied = vec![PerClass::new(0u64, 0u64); n];
    let copy = median(|run| {
        for (slot, input) in copied.iter_mut().zip(&runs[run + 1]) {
            *slot = black_box(input.counters);
        }
    });
    // Baseline 2: store each slice's counters in a map keyed by name, as any name-keyed state must.
    let mut by_name: BTreeMap<String, PerClass<u64>> = names
        .iter()
        .map(|s| (s.clone(), PerClass::default()))
        .collect();
    let keyed = median(|run| {
        for input in &runs[run + 1] {
            if let Some(c) = by_name.get_mut(input.name) {
                *c = input.counters;
            }
        }
    });
    let mut decided = 0;
    let pass = median(|run| {
        let d = policy.sync(T0 + 60 * (run as u64 + 1), &runs[run + 1]);
        decided += black_box(d).ceilings.len();
    });
    assert_eq!(decided, n * RUNS);
    let capped = policy.status().iter().filter(|s| s.capped).count();

    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = Ledger::new(dir.path().join("ledger.json"));
    let state = policy.state().clone();
    let write = median(|_| ledger.save(&state).expect("ledger write"));
    let size = std::fs::metadata(ledger.path()).expect("ledger file").len();
    let load = median(|_| {
        black_box(ledger.load(T0).expect("ledger load"));
    });

    println!("{n:>7} slices ({capped} capped):");
    println!("  baseline copy counters       {:>9.3} ms", ms(copy));
    println!("  baseline map keyed by name   {:>9.3} ms", ms(keyed));
    println!(
        "  policy pass                  {:>9.3} ms  = {:.1} x copy, {:.1} x keyed map",
        ms(pass),
        pass.as_secs_f64() / copy.as_secs_f64(),
        pass.as_secs_f64() / keyed.as_secs_f64()
    );
    println!(
        "  ledger write (fsync'd)       {:>9.3} ms  ({:.1} MB, {:.1} x policy pass)",
        ms(write),
        size as f64 / 1e6,
        write.as_secs_f64() / pass.as_secs_f64()
    );
    println!("  ledger load                  {:>9.3} ms", ms(load));
}

fn main() {
    println!("median of {RUNS} runs");
    for n in [10_000, 100_000] {
        bench(n);
    }
}
