//! Two days of synthetic traffic for 50 slices through the policy and a fluid model of the shaper
//! (each slice sends `min(demand, ceiling)` every second; ceilings change only at syncs), with
//! syncs every N = 1, 5, 60 and 300 s. Checks, for every slice, class and period window, the bound
//! derived in `bwmon::policy::ceiling`:
//! `bytes <= R*N/8 + max(M, T + R*N/8) + m*P/8`, and that greedy senders still get their budget.
use bwmon::policy::ceiling::period_bytes_bound;
use bwmon::policy::{Attributes, Class, PerClass, Policy, PolicyConfig, PolicyState, SliceInput};

const P: u64 = 86_400;
const T0: u64 = 1_795_478_400;
const CAP: u64 = 100_000_000; // 100 Mbit/s node cap
const HW: u64 = 1_000_000_000; // 1 Gbit/s hardware maximum
const SLICES: usize = 50;
const WINDOWS: usize = 2;

/// Demand of slice `i` at second `t`, bit/s (`u64::MAX`: as much as the shaper allows).
fn demand(i: usize, class: Class, t: u64) -> u64 {
    let hour = t % P / 3_600;
    match (i % 5, class) {
        (0, _) => u64::MAX, // greedy, both classes
        (1, Class::Normal) if hour >= (i as u64 * 7) % 24 => u64::MAX, // greedy from some hour
        (2, _) if (t + i as u64 * 97) % 3_600 < 600 => u64::MAX, // 10 min bursts each hour
        (3, Class::Normal) => {
            // A 6 h triangle wave between 0 and the node cap.
            let phase = (t + i as u64 * 1_000) % 21_600;
            CAP * phase.min(21_600 - phase) / 10_800
        }
        (4, Class::Normal) => CAP / 1_000, // light: 100 kbit/s, 1.08 GB/day
        _ => 0,
    }
}

fn attributes(i: usize) -> Attributes {
    let budgets = [None, Some(500_000), Some(50_000), Some(2_000_000)]; // KByte
    let max = budgets[i % 4];
    Attributes {
        net_max_kbyte: max,
        net_thresh_kbyte: max.filter(|_| i.is_multiple_of(3)).map(|m| m / 2),
        net_min_rate: i.is_multiple_of(7).then_some(1_000), // 1 Mbit/s guaranteed
        net_i2_max_kbyte: i.is_multiple_of(2).then_some(1_000_000),
        ..Attributes::default()
    }
}

struct Outcome {
    /// Bytes sent per slice, class, window.
    sent: Vec<PerClass<[u64; WINDOWS]>>,
    policy: Policy,
}

fn simulate(interval: u64) -> Outcome {
    let names: Vec<String> = (0..SLICES).map(|i| format!("slice{i:02}")).collect();
    let attrs: Vec<Attributes> = (0..SLICES).map(attributes).collect();
    let mut policy = Policy::new(PolicyConfig::new(CAP, HW), PolicyState::default());
    let mut counters = vec![PerClass::new(0u64, 0u64); SLICES];
    let mut bits = vec![PerClass::new(0u64, 0u64); SLICES];
    let mut ceilings = vec![PerClass::new(0u64, 0u64); SLICES];
    let mut sent = vec![PerClass::new([0u64; WINDOWS], [0u64; WINDOWS]); SLICES];
    for t in 0..WINDOWS as u64 * P {
        if t % interval == 0 {
            let inputs: Vec<SliceInput<'_>> = (0..SLICES)
                .map(|i| SliceInput {
                    name: &names[i],
                    xid: 1000 + i as u32,
                    attributes: &attrs[i],
                    counters: counters[i],
                })
                .collect();
            let d = policy.sync(T0 + t, &inputs);
            for (i, c) in d.ceilings.iter().enumerate() {
                ceilings[i] = PerClass::new(c.classes.normal.ceil_bps, c.classes.exempt.ceil_bps);
            }
        }
        let window = (t / P) as usize;
        for i in 0..SLICES {
            for class in Class::ALL {
                let rate = demand(i, class, t).min(*ceilings[i].get(class));
                let acc = bits[i].get_mut(class);
                *acc += rate;
                let bytes = *acc / 8;
                *acc %= 8;
                *counters[i].get_mut(class) += bytes;
                sent[i].get_mut(class)[window] += bytes;
            }
        }
    }
    Outcome { sent, policy }
}

/// The worst case of one sync interval, over every slice, class and window.
#[derive(Debug, Default)]
struct Worst {
    /// Largest `bytes - M` among classes with no guaranteed rate, with the bound's `bound - M`.
    over_budget: (u64, u64, String),
    /// Largest `bytes / bound`.
    tightness: f64,
}

fn check(interval: u64) -> Worst {
    let Outcome { sent, policy } = simulate(interval);
    let state = policy.state();
    let mut worst = Worst::default();
    for (i, per_class) in sent.iter().enumerate() {
        let name = format!("slice{i:02}");
        let rec = &state.live[&name];
        // Periods stayed aligned on the first sync: the second started exactly at T0 + P.
        assert_eq!(rec.period_start, T0 + P, "{name}");
        for class in Class::ALL {
            let l = rec.limits.get(class);
            let bound = period_bytes_bound(l, P, interval);
            for (w, &bytes) in per_class.get(class).iter().enumerate() {
                let at = format!("N={interval}s {name} {class:?} window {w}");
                assert!(bytes <= bound, "{at}: {bytes} > bound {bound}");
                worst.tightness = worst.tightness.max(bytes as f64 / bound as f64);
                if l.min_rate_bps == 0 && bytes.saturating_sub(l.max_bytes) > worst.over_budget.0 {
                    worst.over_budget = (bytes - l.max_bytes, bound - l.max_bytes, at.clone());
                }
                // Greedy all-day senders with no guaranteed rate still get nearly all of their
                // budget: the cap spreads it, it does not strangle them.
                if i % 5 == 0 && l.min_rate_bps == 0 {
                    let floor = l.max_bytes / 100 * 99;
                    assert!(bytes >= floor, "{at}: only {bytes} of {}", l.max_bytes);
                }
            }
        }
    }
    worst
}

#[test]
fn bytes_per_period_stay_within_the_derived_bound_for_every_sync_interval() {
    let intervals = [1u64, 5, 60, 300];
    let results: Vec<Worst> = std::thread::scope(|s| {
        let handles: Vec<_> = intervals
            .iter()
            .map(|&n| s.spawn(move || check(n)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (n, w) in intervals.iter().zip(&results) {
        let (over, allowed, at) = &w.over_budget;
        println!(
            "N = {n:>3} s: largest bytes/bound {:.3}; largest excess over the budget (classes \
             with no min rate) {:.1} MB{}",
            w.tightness,
            *over as f64 / 1e6,
            if at.is_empty() {
                String::new()
            } else {
                format!(
                    " where the bound allows {:.1} MB ({at})",
                    *allowed as f64 / 1e6
                )
            }
        );
    }
    // A longer sync interval lets a slice overshoot more, as the bound says.
    assert!(results[3].over_budget.0 > results[0].over_budget.0);
}
