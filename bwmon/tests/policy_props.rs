//! Properties over random traffic, slice lifecycles, counter resets, clock moves and restarts.
use std::collections::BTreeMap;

use bwmon::ledger::Ledger;
use bwmon::policy::{
    Attributes, Class, Event, PerClass, Policy, PolicyConfig, PolicyState, SliceInput, is_special,
};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["root", "a", "b", "c", "d"];
const PERIOD: u64 = 20_000;
const START: u64 = 1_795_478_400;

#[derive(Clone, Debug)]
struct SliceStep {
    present: bool,
    other_xid: bool,
    add: (u64, u64),
    counters_reset: bool,
}

#[derive(Clone, Debug)]
struct Step {
    clock: i64,
    restart: bool,
    slices: Vec<SliceStep>,
}

fn attributes() -> impl Strategy<Value = Attributes> {
    (
        1u64..5_000,
        proptest::option::of(0u64..6_000),
        proptest::option::of(0u64..60_000_000),
        proptest::option::of(0u64..60_000_000),
        proptest::option::of(1u64..8_000),
        proptest::option::of(0u64..200_000_000),
    )
        .prop_map(|(max, thresh, min, maxr, i2max, i2min)| Attributes {
            net_max_kbyte: Some(max),
            net_thresh_kbyte: thresh,
            net_min_rate: min,
            net_max_rate: maxr,
            net_i2_max_kbyte: i2max,
            net_i2_min_rate: i2min,
            ..Attributes::default()
        })
}

fn slice_step() -> impl Strategy<Value = SliceStep> {
    let add = prop_oneof![
        6 => 0u64..400_000,
        2 => 0u64..5_000_000,
        1 => Just(u64::MAX / 3),
    ];
    (
        proptest::bool::weighted(0.85),
        proptest::bool::weighted(0.05),
        (add.clone(), add),
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(present, other_xid, add, counters_reset)| SliceStep {
            present,
            other_xid,
            add,
            counters_reset,
        })
}

fn step() -> impl Strategy<Value = Step> {
    let clock = prop_oneof![
        10 => 0i64..2_000,
        1 => -50_000i64..0,
        1 => 0i64..(3 * PERIOD as i64),
    ];
    (
        clock,
        proptest::bool::weighted(0.2),
        proptest::collection::vec(slice_step(), NAMES.len()),
    )
        .prop_map(|(clock, restart, slices)| Step {
            clock,
            restart,
            slices,
        })
}

fn config() -> impl Strategy<Value = PolicyConfig> {
    (
        prop_oneof![
            Just(10_000_000u64),
            Just(1_000_000_000),
            Just(100_000_000_000)
        ],
        prop_oneof![
            Just(1_000_000_000u64),
            Just(10_000_000_000),
            Just(400_000_000_000)
        ],
    )
        .prop_map(|(cap, hw)| {
            let mut c = PolicyConfig::new(cap, hw);
            c.period_secs = PERIOD;
            c
        })
}

fn restart(policy: &Policy, ledger: &Ledger) -> Policy {
    ledger.save(policy.state()).unwrap();
    let loaded = ledger.load(0).unwrap();
    Policy::new(policy.config().clone(), loaded.state)
}

/// The usage of `name` in a state, whether live or dead.
fn used_of(state: &PolicyState, name: &str) -> Option<PerClass<u64>> {
    state
        .live
        .get(name)
        .or_else(|| state.dead.get(name))
        .map(|r| r.used)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn policy_invariants_hold_and_a_restart_changes_nothing(
        cfg in config(),
        attrs in proptest::collection::vec(attributes(), NAMES.len()),
        steps in proptest::collection::vec(step(), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path().join("ledger.json"));
        let mut kept = Policy::new(cfg.clone(), PolicyState::default());
        let mut restarted = Policy::new(cfg.clone(), PolicyState::default());
        let mut counters = [PerClass::new(0u64, 0u64); NAMES.len()];
        let mut xids = [0u32, 1, 2, 3, 4];
        let mut notified_in_period: BTreeMap<&str, u32> = BTreeMap::new();
        let mut now = START;

        for step in &steps {
            now = now.saturating_add_signed(step.clock);
            let mut inputs = Vec::new();
            for (i, s) in step.slices.iter().enumerate() {
                let c = &mut counters[i];
                if s.counters_reset {
                    *c = PerClass::new(s.add.0, s.add.1);
                } else {
                    c.normal = c.normal.saturating_add(s.add.0);
                    c.exempt = c.exempt.saturating_add(s.add.1);
                }
                if s.other_xid {
                    xids[i] += 100;
                }
                if s.present {
                    inputs.push(SliceInput { name: NAMES[i], xid: xids[i], attributes: &attrs[i], counters: *c });
                }
            }
            let before = kept.state().clone();
            let d = kept.sync(now, &inputs);
            if step.restart {
                restarted = restart(&restarted, &ledger);
            }
            let d2 = restarted.sync(now, &inputs);
            // A restart from the ledger gives the same decisions as no restart.
            prop_assert_eq!(&d, &d2);
            prop_assert_eq!(kept.state(), restarted.state());

            let state = kept.state();
            for name in NAMES {
                let resets = d.events.iter().filter(|e| matches!(e, Event::PeriodReset { name: n, .. } if n == name)).count();
                prop_assert!(resets <= 1, "{} periods renewed at once", resets);
                let fresh = d.events.iter().any(|e| matches!(e,
                    Event::NewSlice { name: n, .. } | Event::DeadExpired { name: n } if n == name));
                if resets == 1 || fresh {
                    notified_in_period.insert(name, 0);
                }
                // Usage never decreases within a period, including across death and restoration.
                if let (Some(old), Some(new), 0, false) = (used_of(&before, name), used_of(state, name), resets, fresh) {
                    prop_assert!(new.normal >= old.normal && new.exempt >= old.exempt,
                        "{}: usage went from {:?} to {:?}", name, old, new);
                }
            }
            for n in &d.notifications {
                let count = notified_in_period.entry(NAMES.iter().find(|x| **x == n.slice).unwrap()).or_insert(0);
                *count += 1;
                prop_assert!(*count <= 1, "{} notified twice in one period", n.slice);
                prop_assert!(!is_special(&n.slice));
            }
            for c in &d.ceilings {
                let rec = &state.live[&c.name];
                for class in Class::ALL {
                    let (l, dec) = (rec.limits.get(class), c.classes.get(class));
                    // The ceiling is always within [min, max].
                    prop_assert!(l.min_rate_bps <= dec.ceil_bps && dec.ceil_bps <= l.max_rate_bps,
                        "{} {:?}: {} not in [{}, {}]", c.name, class, dec.ceil_bps, l.min_rate_bps, l.max_rate_bps);
                    prop_assert_eq!(dec.rate_bps, l.min_rate_bps);
                    if is_special(&c.name) {
                        prop_assert_eq!(dec.ceil_bps, l.max_rate_bps);
                    }
                }
            }
            // No negative elapsed time, no period that outlives its length, no stale dead record.
            for r in state.live.values() {
                prop_assert!(r.period_start <= now && now - r.period_start < PERIOD);
            }
            for r in state.dead.values() {
                prop_assert!(r.period_start <= now && now - r.period_start < PERIOD);
            }
        }
    }
}
