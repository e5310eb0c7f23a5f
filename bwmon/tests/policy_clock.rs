//! Wall-clock steps: no negative elapsed time, no division by zero, no endless period, no burst
//! of resets.
use bwmon::policy::{
    Attributes, Event, PerClass, Policy, PolicyConfig, PolicyState, SliceInput, SliceRecord,
};

const P: u64 = 86_400;
const T0: u64 = 1_795_478_400;

fn policy() -> Policy {
    Policy::new(
        PolicyConfig::new(100_000_000, 1_000_000_000),
        PolicyState::default(),
    )
}

/// Normal: 1024000 bytes, threshold 819200.
fn small() -> Attributes {
    Attributes {
        net_max_kbyte: Some(1_000),
        ..Attributes::default()
    }
}

fn inp(a: &Attributes, normal: u64) -> [SliceInput<'_>; 1] {
    [SliceInput {
        name: "alice",
        xid: 1001,
        attributes: a,
        counters: PerClass::new(normal, 0),
    }]
}

fn rec(p: &Policy) -> &SliceRecord {
    &p.state().live["alice"]
}

#[test]
fn a_backward_step_shifts_periods_and_preserves_elapsed_time() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &inp(&a, 0));
    // 50000 s in, at the threshold: (1024000 - 819200) * 8 / (86400 - 50000) = 45.0 -> 45.
    let d = p.sync(T0 + 50_000, &inp(&a, 819_200));
    assert_eq!(d.ceilings[0].classes.normal.ceil_bps, 45);
    // The clock steps back 30000 s. The period start moves back as much: elapsed is still
    // 50000 s, the ceiling unchanged, nothing negative.
    let d = p.sync(T0 + 20_000, &inp(&a, 819_200));
    assert_eq!(d.events, vec![Event::ClockBackwards { by_secs: 30_000 }]);
    assert_eq!(rec(&p).period_start, T0 - 30_000);
    assert_eq!(d.ceilings[0].classes.normal.ceil_bps, 45);
    // The period ends after 86400 s of elapsed time: at T0 - 30000 + 86400 = T0 + 56400.
    let d = p.sync(T0 + 56_399, &inp(&a, 819_200));
    assert!(d.events.is_empty());
    let d = p.sync(T0 + 56_400, &inp(&a, 819_200));
    let reset = Event::PeriodReset {
        name: "alice".into(),
        used: PerClass::new(819_200, 0),
        new_start: T0 + 56_400,
    };
    assert_eq!(d.events, vec![reset]);
}

#[test]
fn a_backward_step_before_the_period_start_never_makes_elapsed_negative() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &inp(&a, 0));
    p.sync(T0 + 10, &inp(&a, 0));
    // Back a whole year, far before the period started: the start follows, elapsed stays 10 s.
    let year = 365 * P;
    p.sync(T0 + 10 - year, &inp(&a, 819_200));
    assert_eq!(rec(&p).period_start, T0 - year);
    // Ceiling: 204800 * 8 / (86400 - 10) = 18.96 -> 18.
    assert_eq!(rec(&p).ceil_bps.normal, 18);
}

#[test]
fn a_backward_step_below_the_epoch_saturates() {
    let (mut p, a) = (policy(), small());
    p.sync(1_000, &inp(&a, 0));
    p.sync(2_000, &inp(&a, 0));
    let d = p.sync(5, &inp(&a, 0));
    assert_eq!(d.events, vec![Event::ClockBackwards { by_secs: 1_995 }]);
    assert_eq!(rec(&p).period_start, 0); // 1000 - 1995 saturates at 0
    let d = p.sync(P, &inp(&a, 0));
    assert_eq!(d.events.len(), 1, "the period still ends, at 0 + P");
}

#[test]
fn a_forward_jump_of_a_year_causes_one_reset_starting_now() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &inp(&a, 0));
    p.sync(T0 + 10, &inp(&a, 900_000));
    let later = T0 + 365 * P + 123;
    let d = p.sync(later, &inp(&a, 900_100));
    let resets: Vec<_> = d
        .events
        .iter()
        .filter(|e| matches!(e, Event::PeriodReset { .. }))
        .collect();
    assert_eq!(resets.len(), 1);
    assert_eq!(rec(&p).period_start, later);
    assert_eq!(rec(&p).used.normal, 0);
    let d = p.sync(later + 1, &inp(&a, 900_200));
    assert!(d.events.is_empty(), "no further reset: {:?}", d.events);
}

#[test]
fn a_forward_jump_within_the_period_counts_as_elapsed_time() {
    let (mut p, a) = (policy(), small());
    p.sync(T0, &inp(&a, 0));
    // 80000 s later at the threshold: 204800 * 8 / (86400 - 80000) = 256.
    let d = p.sync(T0 + 80_000, &inp(&a, 819_200));
    assert_eq!(d.ceilings[0].classes.normal.ceil_bps, 256);
}

#[test]
fn a_record_dated_in_the_future_is_re_anchored_at_now() {
    // A ledger written by a clock far ahead (hand-edited, or restored onto another node): the
    // period would otherwise last until that future date plus a day.
    let (mut p0, a) = (policy(), small());
    p0.sync(T0 + 1_000_000, &inp(&a, 0));
    let mut state = p0.state().clone();
    state.last_sync = None; // forget the clock, keep the record
    let mut p = Policy::new(p0.config().clone(), state);
    let d = p.sync(T0, &inp(&a, 819_200));
    assert_eq!(rec(&p).period_start, T0);
    // Elapsed 0: 204800 * 8 / 86400 = 18.96 -> 18.
    assert_eq!(d.ceilings[0].classes.normal.ceil_bps, 18);
}

#[test]
fn a_zero_period_is_one_second_not_a_division_by_zero() {
    let mut cfg = PolicyConfig::new(100_000_000, 1_000_000_000);
    cfg.period_secs = 0;
    let (mut p, a) = (Policy::new(cfg, PolicyState::default()), small());
    p.sync(T0, &inp(&a, 0));
    let d = p.sync(T0 + 1, &inp(&a, 900_000));
    assert_eq!(
        d.events.len(),
        1,
        "each second is a new period: {:?}",
        d.events
    );
    assert_eq!(rec(&p).period_start, T0 + 1);
}
