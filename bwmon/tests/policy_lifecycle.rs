//! Sync-level rules: baselines, counters going backwards, periods, dead and restored slices,
//! special slices, notifications.
use bwmon::policy::{
    Attributes, Class, Decisions, Event, PerClass, Policy, PolicyConfig, PolicyState, SliceInput,
    SliceRecord,
};

const P: u64 = 86_400;
const T0: u64 = 1_795_478_400; // 2026-11-24 00:00:00 UTC
const CAP: u64 = 100_000_000;
const HW: u64 = 1_000_000_000;

fn policy() -> Policy {
    Policy::new(PolicyConfig::new(CAP, HW), PolicyState::default())
}

/// Normal: 1000 KByte = 1024000 bytes, threshold 819200. Exempt: 2000 KByte = 2048000 bytes,
/// threshold 1638400.
fn small() -> Attributes {
    Attributes {
        net_max_kbyte: Some(1_000),
        net_i2_max_kbyte: Some(2_000),
        ..Attributes::default()
    }
}

fn inp<'a>(name: &'a str, xid: u32, a: &'a Attributes, normal: u64, exempt: u64) -> SliceInput<'a> {
    SliceInput {
        name,
        xid,
        attributes: a,
        counters: PerClass::new(normal, exempt),
    }
}

fn rec<'a>(p: &'a Policy, name: &str) -> &'a SliceRecord {
    &p.state().live[name]
}

fn count(d: &Decisions, f: impl Fn(&Event) -> bool) -> usize {
    d.events.iter().filter(|e| f(e)).count()
}

#[test]
fn a_new_slice_starts_from_its_current_counters() {
    let (mut p, a) = (policy(), small());
    let d = p.sync(T0, &[inp("alice", 1001, &a, 5_000, 7_000)]);
    assert_eq!(
        d.events,
        vec![Event::NewSlice {
            name: "alice".into(),
            xid: 1001
        }]
    );
    assert_eq!(rec(&p, "alice").used, PerClass::new(0, 0));
    assert_eq!(rec(&p, "alice").period_start, T0);
    p.sync(T0 + 10, &[inp("alice", 1001, &a, 6_000, 7_500)]);
    // 6000 - 5000 = 1000; 7500 - 7000 = 500.
    assert_eq!(rec(&p, "alice").used, PerClass::new(1_000, 500));
}

#[test]
fn counters_going_backwards_keep_the_budget() {
    // Seed regression: `usedbytes < slice.bytes` triggered a reset, i.e. a fresh budget.
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    p.sync(T0 + 10, &[inp("alice", 1001, &a, 900_000, 0)]);
    assert!(rec(&p, "alice").capped.normal); // 900000 >= 819200
    // Maps re-created: the counter reads 100. Usage 900000 + 100 = 900100, still capped.
    let d = p.sync(T0 + 20, &[inp("alice", 1001, &a, 100, 0)]);
    let backwards = Event::CounterBackwards {
        name: "alice".into(),
        class: Class::Normal,
        last: 900_000,
        now: 100,
    };
    assert_eq!(d.events, vec![backwards]);
    assert_eq!(rec(&p, "alice").used.normal, 900_100);
    assert!(d.ceilings[0].classes.normal.capped);
    assert_eq!(count(&d, |e| matches!(e, Event::PeriodReset { .. })), 0);
    // And counting continues from the new value: 900100 + (200100 - 100) = 1100100.
    p.sync(T0 + 30, &[inp("alice", 1001, &a, 200_100, 0)]);
    assert_eq!(rec(&p, "alice").used.normal, 1_100_100);
}

#[test]
fn a_new_period_restarts_usage_lifts_caps_and_clears_the_notified_flag() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    let d = p.sync(T0 + 100, &[inp("alice", 1001, &a, 1_000_000, 0)]);
    assert_eq!(d.notifications.len(), 1);
    assert!(rec(&p, "alice").notified);
    // The sync 30 s after the end: the ended period gets the last delta (500 bytes), the new
    // one starts at the end of the old, T0 + P, with usage 0 from the counter 1000500.
    let d = p.sync(T0 + P + 30, &[inp("alice", 1001, &a, 1_000_500, 0)]);
    let reset = Event::PeriodReset {
        name: "alice".into(),
        used: PerClass::new(1_000_500, 0),
        new_start: T0 + P,
    };
    assert_eq!(d.events, vec![reset]);
    let r = rec(&p, "alice");
    assert_eq!(
        (r.used.normal, r.period_start, r.notified),
        (0, T0 + P, false)
    );
    assert_eq!(d.ceilings[0].classes.normal.ceil_bps, CAP);
    assert!(!d.ceilings[0].classes.normal.capped);
    p.sync(T0 + P + 60, &[inp("alice", 1001, &a, 1_000_600, 0)]);
    assert_eq!(rec(&p, "alice").used.normal, 100);
}

#[test]
fn one_notification_per_slice_per_period() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    // Half a day in, normal usage at the threshold: left 1024000 - 819200 = 204800 bytes over
    // 43200 s: 204800 * 8 / 43200 = 37 bit/s.
    let d = p.sync(T0 + 43_200, &[inp("alice", 1001, &a, 819_200, 0)]);
    assert_eq!(d.notifications.len(), 1);
    let n = &d.notifications[0];
    assert_eq!(
        (n.slice.as_str(), n.xid, n.since, n.until, n.period_secs),
        ("alice", 1001, T0, T0 + P, P)
    );
    assert_eq!(n.classes.len(), 1);
    assert_eq!(n.classes[0].class, Class::Normal);
    assert_eq!(
        (
            n.classes[0].used_bytes,
            n.classes[0].limit_bytes,
            n.classes[0].ceil_bps
        ),
        (819_200, 1_024_000, 37)
    );
    // Later the exempt class is capped too: a Capped event, no second message.
    let d = p.sync(T0 + 43_260, &[inp("alice", 1001, &a, 819_200, 1_638_400)]);
    assert!(d.notifications.is_empty());
    assert_eq!(
        count(&d, |e| matches!(
            e,
            Event::Capped {
                class: Class::Exempt,
                ..
            }
        )),
        1
    );
    assert!(d.ceilings[0].classes.exempt.capped);
    // Next period, both classes capped in the same sync: one message naming both.
    p.sync(T0 + P, &[inp("alice", 1001, &a, 819_200, 1_638_400)]);
    let d = p.sync(T0 + P + 10, &[inp("alice", 1001, &a, 1_638_400, 3_276_800)]);
    assert_eq!(d.notifications.len(), 1);
    let classes: Vec<Class> = d.notifications[0].classes.iter().map(|c| c.class).collect();
    assert_eq!(classes, vec![Class::Normal, Class::Exempt]);
}

#[test]
fn root_and_default_are_accounted_but_never_capped() {
    let (mut p, a) = (policy(), small());
    let list = |n: u64| [inp("root", 0, &a, n, n), inp("default", 1, &a, n, n)];
    p.sync(T0, &list(0));
    let d = p.sync(T0 + 10, &list(50_000_000)); // 50 MB: far over both 1000 KByte budgets
    assert!(d.notifications.is_empty());
    for c in &d.ceilings {
        assert_eq!(
            (c.classes.normal.ceil_bps, c.classes.exempt.ceil_bps),
            (CAP, HW)
        );
        assert!(!c.classes.normal.capped && !c.classes.exempt.capped);
    }
    assert_eq!(rec(&p, "root").used, PerClass::new(50_000_000, 50_000_000));
    assert_eq!(count(&d, |e| matches!(e, Event::Capped { .. })), 0);
}

#[test]
fn a_slice_recreated_with_another_xid_gets_its_record_back() {
    // Seed regression: the restore path did `slices[newslice]['maxrate']` on a Slice object,
    // which raised, aborting the sync: a re-created slice was never capped again.
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    p.sync(T0 + 100, &[inp("alice", 1001, &a, 900_000, 0)]);
    assert!(rec(&p, "alice").notified);
    let d = p.sync(T0 + 200, &[]);
    assert_eq!(
        d.events,
        vec![Event::Died {
            name: "alice".into(),
            xid: 1001
        }]
    );
    assert!(p.state().dead.contains_key("alice"));
    // Back as xid 2002, whose counter reads 50: re-baselined there, usage kept.
    let d = p.sync(T0 + 300, &[inp("alice", 2002, &a, 50, 0)]);
    let restored = Event::Restored {
        name: "alice".into(),
        xid: 2002,
        used: PerClass::new(900_000, 0),
        period_start: T0,
    };
    assert_eq!(d.events, vec![restored]);
    let r = rec(&p, "alice");
    assert_eq!(
        (r.xid, r.used.normal, r.period_start, r.notified),
        (2002, 900_000, T0, true)
    );
    // Still capped, not notified again: (1024000 - 900000) * 8 / (86400 - 300) = 11.5 -> 11.
    assert_eq!(d.ceilings[0].classes.normal.ceil_bps, 11);
    assert!(d.notifications.is_empty());
    p.sync(T0 + 310, &[inp("alice", 2002, &a, 1_050, 0)]);
    assert_eq!(rec(&p, "alice").used.normal, 901_000);
}

#[test]
fn a_slice_back_with_the_same_xid_is_charged_what_its_counters_grew_meanwhile() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    p.sync(T0 + 100, &[inp("alice", 1001, &a, 500_000, 0)]);
    p.sync(T0 + 200, &[]);
    p.sync(T0 + 300, &[inp("alice", 1001, &a, 650_000, 0)]);
    // 500000 + (650000 - 500000) = 650000.
    assert_eq!(rec(&p, "alice").used.normal, 650_000);
}

#[test]
fn dead_records_expire_at_their_period_end() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    p.sync(T0 + 100, &[inp("alice", 1001, &a, 900_000, 0)]);
    p.sync(T0 + 200, &[]);
    let d = p.sync(T0 + P - 1, &[]);
    assert!(d.events.is_empty());
    let d = p.sync(T0 + P, &[]);
    assert_eq!(
        d.events,
        vec![Event::DeadExpired {
            name: "alice".into()
        }]
    );
    assert!(p.state().dead.is_empty());
    // Coming back after that is a new slice with a fresh budget.
    let d = p.sync(T0 + P + 10, &[inp("alice", 1001, &a, 900_000, 0)]);
    assert_eq!(
        d.events,
        vec![Event::NewSlice {
            name: "alice".into(),
            xid: 1001
        }]
    );
    assert_eq!(rec(&p, "alice").used.normal, 0);
}

#[test]
fn a_slice_that_leaves_after_its_period_ended_is_dropped_at_once() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    let d = p.sync(T0 + 2 * P, &[]);
    let expected = vec![
        Event::Died {
            name: "alice".into(),
            xid: 1001,
        },
        Event::DeadExpired {
            name: "alice".into(),
        },
    ];
    assert_eq!(d.events, expected);
    assert!(p.state().dead.is_empty() && p.state().live.is_empty());
}

#[test]
fn an_xid_change_re_baselines_the_counters_and_keeps_usage() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &[inp("alice", 1001, &a, 0, 0)]);
    p.sync(T0 + 10, &[inp("alice", 1001, &a, 300_000, 0)]);
    let d = p.sync(T0 + 20, &[inp("alice", 7, &a, 42, 0)]);
    assert_eq!(
        d.events,
        vec![Event::XidChanged {
            name: "alice".into(),
            old: 1001,
            new: 7
        }]
    );
    assert_eq!(rec(&p, "alice").used.normal, 300_000);
    p.sync(T0 + 30, &[inp("alice", 7, &a, 1_042, 0)]);
    assert_eq!(rec(&p, "alice").used.normal, 301_000);
}

#[test]
fn a_duplicated_name_is_reported_and_only_its_first_entry_used() {
    let (mut p, a) = (policy(), small());
    let d = p.sync(T0, &[inp("alice", 1, &a, 0, 0), inp("alice", 2, &a, 0, 0)]);
    assert_eq!(d.ceilings.len(), 1);
    assert_eq!(d.ceilings[0].xid, 1);
    assert_eq!(
        count(&d, |e| *e
            == Event::DuplicateSlice {
                name: "alice".into(),
                xid: 2
            }),
        1
    );
}

#[test]
fn decisions_carry_rates_shares_and_ceilings_per_class() {
    let mut p = policy();
    let a = Attributes {
        net_min_rate: Some(1_000),
        net_i2_share: Some(4),
        ..Attributes::default()
    };
    let d = p.sync(T0, &[inp("bob", 5, &a, 0, 0)]);
    let c = &d.ceilings[0];
    assert_eq!((c.name.as_str(), c.xid), ("bob", 5));
    assert_eq!(
        (
            c.classes.normal.rate_bps,
            c.classes.normal.ceil_bps,
            c.classes.normal.share
        ),
        (1_000_000, CAP, 1)
    );
    assert_eq!(
        (
            c.classes.exempt.rate_bps,
            c.classes.exempt.ceil_bps,
            c.classes.exempt.share
        ),
        (0, HW, 4)
    );
}
