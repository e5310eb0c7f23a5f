//! The notification text, the status view and `explain`.
use bwmon::policy::{
    Attributes, CappedClass, Class, Notification, PerClass, Policy, PolicyConfig, PolicyState,
    SliceInput, render,
};

const P: u64 = 86_400;
const T0: u64 = 1_795_478_400; // Tue Nov 24 00:00:00 2026 UTC

fn small() -> Attributes {
    Attributes {
        net_max_kbyte: Some(1_000),
        net_i2_max_kbyte: Some(2_000),
        ..Attributes::default()
    }
}

fn inp<'a>(name: &'a str, a: &'a Attributes, normal: u64, exempt: u64) -> SliceInput<'a> {
    SliceInput {
        name,
        xid: 1001,
        attributes: a,
        counters: PerClass::new(normal, exempt),
    }
}

#[test]
fn a_two_class_notification_renders_one_message_with_each_class_own_ceiling() {
    let n = Notification {
        slice: "pl_alice".into(),
        xid: 1001,
        classes: vec![
            CappedClass {
                class: Class::Normal,
                used_bytes: 4_700_000_000,
                limit_bytes: 5_798_205_440,
                ceil_bps: 1_500_000,
            },
            CappedClass {
                class: Class::Exempt,
                used_bytes: 14_100_000_000,
                limit_bytes: 17_609_365_504,
                ceil_bps: 250_000_000,
            },
        ],
        since: T0,
        until: T0 + P,
        period_secs: P,
    };
    let m = render(&n, "node1.example.org", T0 + 3_600);
    assert_eq!(
        m.subject,
        "bwmon capped bandwidth of slice pl_alice on node1.example.org"
    );
    let expected = "\
The slice pl_alice has transmitted more than 4.7 GB from
node1.example.org to normal destinations
since Tue Nov 24 00:00:00 2026 GMT.

Its maximum normal burst rate will be capped at 1.5Mbit/s
until Wed Nov 25 00:00:00 2026 GMT.

Please reduce the average normal transmission rate
of the slice to 5.8 GB per day.

The slice pl_alice has transmitted more than 14.1 GB from
node1.example.org to exempt destinations
since Tue Nov 24 00:00:00 2026 GMT.

Its maximum exempt burst rate will be capped at 250.0Mbit/s
until Wed Nov 25 00:00:00 2026 GMT.

Please reduce the average exempt transmission rate
of the slice to 17.6 GB per day.

Tue Nov 24 01:00:00 2026 GMT node1.example.org bwcap pl_alice
";
    assert_eq!(m.body, expected);
}

#[test]
fn status_shows_usage_limits_ceilings_and_the_period() {
    let a = small();
    let mut p = Policy::new(
        PolicyConfig::new(100_000_000, 1_000_000_000),
        PolicyState::default(),
    );
    p.sync(T0, &[inp("alice", &a, 0, 0), inp("bob", &a, 0, 0)]);
    p.sync(
        T0 + 43_200,
        &[inp("alice", &a, 819_200, 10), inp("bob", &a, 5, 0)],
    );
    p.sync(T0 + 43_300, &[inp("alice", &a, 819_200, 10)]);
    let s = p.status();
    assert_eq!(s.len(), 2);
    let alice = serde_json::to_value(&s[0]).unwrap();
    let expected = serde_json::json!({
        "name": "alice", "xid": 1001, "live": true,
        "bytes": 819_200, "exempt_bytes": 10,
        "byte_limit": 1_024_000, "exempt_byte_limit": 2_048_000,
        "threshold": 819_200, "exempt_threshold": 1_638_400,
        // 204800 * 8 / (86400 - 43300) = 38.01 -> 38.
        "ceil_bps": 38, "exempt_ceil_bps": 1_000_000_000,
        "capped": true, "exempt_capped": false,
        "period_start": T0, "period_end": T0 + P,
        "notified": true,
    });
    assert_eq!(alice, expected);
    assert_eq!(
        (s[1].name.as_str(), s[1].live, s[1].bytes),
        ("bob", false, 5)
    );
}

#[test]
fn explain_says_why_and_until_when() {
    let a = small();
    let root = Attributes::default();
    let mut p = Policy::new(
        PolicyConfig::new(100_000_000, 1_000_000_000),
        PolicyState::default(),
    );
    let list = |n: u64, e: u64| [inp("alice", &a, n, e), inp("root", &root, 0, 0)];
    p.sync(T0, &list(0, 0));
    p.sync(T0 + 43_200, &list(819_200, 10));
    let text = p.explain("alice", T0 + 43_300).unwrap();
    let expect = [
        "slice alice (xid 1001), as of the last sync at Tue Nov 24 12:00:00 2026 GMT",
        "period: Tue Nov 24 00:00:00 2026 GMT to Wed Nov 25 00:00:00 2026 GMT (budget per day), ends in 11h 58m 20s",
        // 204800 bytes = 204.8 KB; 204800 * 8 / 43200 = 37 bit/s.
        "normal: 819.2 KB used of 1.0 MB (threshold 819.2 KB); past the threshold",
        "204.8 KB left * 8 / 12h 0m 0s left = 37bit/s, kept within [0bit/s, 100.0Mbit/s]: 37bit/s",
        "returns to 100.0Mbit/s when the period ends at Wed Nov 25 00:00:00 2026 GMT",
        // 1638400 - 10 = 1638390 bytes to go.
        "exempt: 10 bytes used of 2.0 MB (threshold 1.6 MB); below the threshold, so the ceiling is the max rate 1.0Gbit/s; it is lowered once 1.6 MB more are sent",
        "notified: yes, once for this period",
    ];
    for e in expect {
        assert!(text.contains(e), "missing {e:?} in:\n{text}");
    }
    let root_text = p.explain("root", T0 + 43_300).unwrap();
    assert!(root_text.contains("a special slice, accounted but never capped: ceiling 100.0Mbit/s"));
    assert_eq!(p.explain("nobody", T0), None);

    // Over budget, then gone from the list.
    p.sync(T0 + 43_400, &list(2_000_000, 10));
    let text = p.explain("alice", T0 + 43_400).unwrap();
    assert!(
        text.contains("the whole budget is used, so the ceiling is held at the min rate 0bit/s"),
        "{text}"
    );
    p.sync(T0 + 43_500, &[]);
    let text = p.explain("alice", T0 + P + 5).unwrap();
    assert!(text.contains("not in the slice list"), "{text}");
    assert!(text.contains("ended 5s ago"), "{text}");
}

#[test]
fn explain_past_the_threshold_but_not_capped() {
    // 10 GB budget, threshold 80%: early in the day the budget left spread over the time left
    // exceeds the 100 kbit/s max rate: 10240000 KByte * 1024 = 10485760000 bytes, threshold
    // 8388608000; (10485760000 - 8388608000) * 8 / 86390 s = 194203 bit/s > 100000 bit/s.
    let a = Attributes {
        net_max_kbyte: Some(10_240_000),
        net_max_rate: Some(100),
        ..Attributes::default()
    };
    let mut p = Policy::new(
        PolicyConfig::new(100_000_000, 1_000_000_000),
        PolicyState::default(),
    );
    p.sync(T0, &[inp("carol", &a, 0, 0)]);
    let d = p.sync(T0 + 10, &[inp("carol", &a, 8_388_608_000, 0)]);
    assert!(!d.ceilings[0].classes.normal.capped, "{d:?}");
    assert!(d.notifications.is_empty());
    let text = p.explain("carol", T0 + 10).unwrap();
    assert!(
        text.contains("is not below the max rate, so the ceiling stays 100.0Kbit/s"),
        "{text}"
    );
}
