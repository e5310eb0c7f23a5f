//! Effective limits and the ceiling formula, with the arithmetic worked out.
use bwmon::policy::ceiling::class_ceiling;
use bwmon::policy::{Attributes, Class, ClassLimits, PolicyConfig};

const NODE_CAP: u64 = 100_000_000; // 100 Mbit/s
const HW_MAX: u64 = 1_000_000_000; // 1 Gbit/s

fn config() -> PolicyConfig {
    PolicyConfig::new(NODE_CAP, HW_MAX)
}

#[test]
fn built_in_defaults_match_the_seed() {
    let l = config().limits(&Attributes::default());
    // 5662310 KByte * 1024 = 5798205440 bytes; threshold 80%: 5798205440 * 4 / 5 = 4638564352.
    assert_eq!(l.normal.max_bytes, 5_798_205_440);
    assert_eq!(l.normal.threshold_bytes, 4_638_564_352);
    // 17196646 KByte * 1024 = 17609365504 bytes; 80% = 14087492403.2 -> 14087492403.
    assert_eq!(l.exempt.max_bytes, 17_609_365_504);
    assert_eq!(l.exempt.threshold_bytes, 14_087_492_403);
    // Max rates: node cap (normal), hardware maximum (exempt); min 0; share 1.
    assert_eq!(l.normal.max_rate_bps, NODE_CAP);
    assert_eq!(l.exempt.max_rate_bps, HW_MAX);
    assert_eq!((l.normal.min_rate_bps, l.exempt.min_rate_bps), (0, 0));
    assert_eq!((l.normal.share, l.exempt.share), (1, 1));
}

#[test]
fn slice_attributes_win_over_node_defaults_which_win_over_built_ins() {
    let mut cfg = config();
    cfg.defaults = Attributes {
        net_max_kbyte: Some(2_000),
        net_thresh_kbyte: Some(1_800),
        net_max_rate: Some(50_000),
        net_share: Some(3),
        ..Attributes::default()
    };
    let node = cfg.limits(&Attributes::default());
    assert_eq!(node.normal.max_bytes, 2_000 * 1024);
    assert_eq!(node.normal.threshold_bytes, 1_800 * 1024);
    assert_eq!(node.normal.max_rate_bps, 50_000 * 1000);
    assert_eq!(node.normal.share, 3);
    // The exempt class has no node defaults here: built-ins.
    assert_eq!(node.exempt.max_bytes, 17_609_365_504);

    let own = cfg.limits(&Attributes {
        net_max_rate: Some(20_000),
        net_share: Some(7),
        ..Attributes::default()
    });
    assert_eq!(own.normal.max_rate_bps, 20_000_000);
    assert_eq!(own.normal.share, 7);
    assert_eq!(
        own.normal.threshold_bytes,
        1_800 * 1024,
        "node threshold kept"
    );
}

#[test]
fn a_slice_with_its_own_volume_gets_eighty_percent_of_it_not_the_node_threshold() {
    let mut cfg = config();
    cfg.defaults.net_thresh_kbyte = Some(9_000_000);
    let l = cfg.limits(&Attributes {
        net_max_kbyte: Some(1_000),
        ..Attributes::default()
    });
    // 1000 KByte = 1024000 bytes; 80% = 819200.
    assert_eq!(l.normal.max_bytes, 1_024_000);
    assert_eq!(l.normal.threshold_bytes, 819_200);
}

#[test]
fn threshold_above_the_volume_is_clamped_to_it() {
    let l = config().limits(&Attributes {
        net_max_kbyte: Some(100),
        net_thresh_kbyte: Some(500),
        ..Attributes::default()
    });
    assert_eq!(l.normal.threshold_bytes, 102_400);
    assert_eq!(l.normal.max_bytes, 102_400);
}

#[test]
fn min_rates_are_clamped_to_a_quarter_of_the_class_cap_in_both_classes() {
    let l = config().limits(&Attributes {
        net_min_rate: Some(50_000),       // 50 Mbit/s > 100 Mbit/s / 4 = 25 Mbit/s
        net_i2_min_rate: Some(500_000),   // 500 Mbit/s > 1 Gbit/s / 4 = 250 Mbit/s
        net_i2_max_rate: Some(2_000_000), // above the hardware maximum: clamped to it
        ..Attributes::default()
    });
    assert_eq!(l.normal.min_rate_bps, 25_000_000);
    assert_eq!(l.exempt.min_rate_bps, 250_000_000);
    assert_eq!(l.exempt.max_rate_bps, HW_MAX);
}

#[test]
fn a_max_rate_below_the_min_rate_is_raised_to_it() {
    let l = config().limits(&Attributes {
        net_min_rate: Some(5_000), // 5 Mbit/s, under the 25 Mbit/s clamp
        net_max_rate: Some(1_000), // 1 Mbit/s < 5 Mbit/s
        net_share: Some(0),        // not a valid weight: 1
        ..Attributes::default()
    });
    assert_eq!(l.normal.min_rate_bps, 5_000_000);
    assert_eq!(l.normal.max_rate_bps, 5_000_000);
    assert_eq!(l.normal.share, 1);
}

#[test]
fn huge_attributes_saturate_instead_of_overflowing() {
    let huge = Attributes {
        net_min_rate: Some(u64::MAX),
        net_max_rate: Some(u64::MAX),
        net_max_kbyte: Some(u64::MAX),
        net_i2_max_kbyte: Some(u64::MAX / 1000),
        ..Attributes::default()
    };
    let cfg = PolicyConfig::new(u64::MAX, u64::MAX);
    let l = cfg.limits(&huge);
    assert_eq!(l.normal.max_bytes, u64::MAX);
    assert_eq!(l.normal.max_rate_bps, u64::MAX);
    assert_eq!(l.normal.min_rate_bps, u64::MAX / 4);
    assert_eq!(l.exempt.max_bytes, u64::MAX); // (u64::MAX / 1000) * 1024 saturates
    assert_eq!(cfg.class_cap_bps(Class::Exempt), u64::MAX);
}

fn small() -> ClassLimits {
    ClassLimits {
        min_rate_bps: 0,
        max_rate_bps: NODE_CAP,
        max_bytes: 1_024_000,
        threshold_bytes: 819_200,
        share: 1,
    }
}

#[test]
fn below_the_threshold_the_ceiling_is_the_max_rate() {
    assert_eq!(class_ceiling(&small(), 819_199, 43_200, 86_400), NODE_CAP);
}

#[test]
fn at_the_threshold_the_budget_left_is_spread_over_the_time_left() {
    // left = 1024000 - 819200 = 204800 bytes; time left = 86400 - 43200 = 43200 s;
    // 204800 * 8 / 43200 = 37.9 -> 37 bit/s.
    assert_eq!(class_ceiling(&small(), 819_200, 43_200, 86_400), 37);
    // A min rate of 1000 bit/s lifts it.
    let l = ClassLimits {
        min_rate_bps: 1_000,
        ..small()
    };
    assert_eq!(class_ceiling(&l, 819_200, 43_200, 86_400), 1_000);
    // Little time left: 204800 * 8 / 1 s = 1638400 bit/s, under the max rate.
    assert_eq!(class_ceiling(&small(), 819_200, 86_399, 86_400), 1_638_400);
}

#[test]
fn used_beyond_the_volume_gives_the_min_rate_not_a_negative_rate() {
    // Seed: (maxbyte - bytesused) * 8 / ... went negative and relied on the min-rate check.
    let l = ClassLimits {
        min_rate_bps: 8_000,
        ..small()
    };
    assert_eq!(class_ceiling(&l, 5_000_000, 1_000, 86_400), 8_000);
    assert_eq!(class_ceiling(&small(), u64::MAX, 1_000, 86_400), 0);
}

#[test]
fn at_or_past_the_period_end_there_is_no_division_by_zero() {
    // Seed: period - timeused == 0 raised ZeroDivisionError; past it the rate went negative.
    // Time left counts as 1 s: 204800 * 8 / 1 = 1638400 bit/s.
    assert_eq!(class_ceiling(&small(), 819_200, 86_400, 86_400), 1_638_400);
    assert_eq!(class_ceiling(&small(), 819_200, 999_999, 86_400), 1_638_400);
    // Period 0 (a misconfiguration): still no division by zero.
    assert_eq!(class_ceiling(&small(), 819_200, 0, 0), 1_638_400);
}

#[test]
fn rates_beyond_32_bits_are_exact() {
    // 100 Gbit/s node; 10^12 bytes left over 1000 s: 8 * 10^12 / 1000 = 8e9 bit/s > u32::MAX.
    let l = ClassLimits {
        min_rate_bps: 0,
        max_rate_bps: 100_000_000_000,
        max_bytes: 2_000_000_000_000,
        threshold_bytes: 1_000_000_000_000,
        share: 1,
    };
    let c = class_ceiling(&l, 1_000_000_000_000, 85_400, 86_400);
    assert_eq!(c, 8_000_000_000);
    assert!(c > u64::from(u32::MAX));
}

#[test]
fn products_beyond_64_bits_saturate_then_clamp() {
    // u64::MAX bytes left * 8 overflows u64: computed in u128, saturated, clamped to the max.
    let l = ClassLimits {
        min_rate_bps: 0,
        max_rate_bps: u64::MAX - 1,
        max_bytes: u64::MAX,
        threshold_bytes: 0,
        share: 1,
    };
    assert_eq!(class_ceiling(&l, 0, 86_399, 86_400), u64::MAX - 1);
}
