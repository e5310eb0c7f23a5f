//! Rates, sizes and durations: parsing (tc semantics) and formatting.
use bwmon::units::{
    Rate, UnitError, UnitSystem, format_bytes, format_duration, format_rate, parse_duration,
    parse_size,
};
use proptest::prelude::*;
use std::time::Duration;

fn bits(text: &str) -> u64 {
    Rate::parse(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .bits_per_sec()
}

#[test]
fn rates_follow_tc_units() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("8", 8),
        ("8bit", 8),
        ("500kbit", 500_000),
        ("10mbit", 10_000_000),
        ("1gbit", 1_000_000_000),
        ("2tbit", 2_000_000_000_000),
        ("1kibit", 1024),
        ("1mibit", 1_048_576),
        ("1gibit", 1_073_741_824),
        ("1tibit", 1_099_511_627_776),
        // bps is BYTES per second, as in tc(8).
        ("100bps", 800),
        ("1kbps", 8000),
        ("1mbps", 8_000_000),
        ("1gbps", 8_000_000_000),
        ("1tbps", 8_000_000_000_000),
        ("1kibps", 8192),
        ("1mibps", 8 * 1_048_576),
        ("1gibps", 8 * 1_073_741_824),
        ("1tibps", 8 * 1_099_511_627_776),
        ("1.5mbit", 1_500_000),
        ("0.5kbit", 500),
        ("1.25kibit", 1280),
        ("1.000kbit", 1000),
        ("007kbit", 7000),
    ];
    for (text, expected) in cases {
        assert_eq!(bits(text), *expected, "{text}");
    }
}

#[test]
fn rate_units_are_case_insensitive_and_whitespace_around_is_ignored() {
    assert_eq!(bits("10Mbit"), 10_000_000);
    assert_eq!(bits("10MBIT"), 10_000_000);
    assert_eq!(bits("1KiBps"), 8192);
    assert_eq!(bits("1GBps"), 8_000_000_000);
    assert_eq!(bits("  10mbit\t"), 10_000_000);
}

#[test]
fn rate_garbage_is_rejected_with_the_reason() {
    let invalid_number = [
        "mbit",
        "1..5kbit",
        "+5kbit",
        ".5kbit",
        "1.kbit",
        "x",
        "１０kbit",
    ];
    for text in invalid_number {
        assert!(
            matches!(Rate::parse(text), Err(UnitError::InvalidNumber { .. })),
            "{text}: {:?}",
            Rate::parse(text)
        );
    }
    let unknown_unit = ["10 mbit", "10kbs", "1e3", "0x10", "10mbitx", "10mb", "5%"];
    for text in unknown_unit {
        assert!(
            matches!(Rate::parse(text), Err(UnitError::UnknownUnit { .. })),
            "{text}: {:?}",
            Rate::parse(text)
        );
    }
    assert_eq!(Rate::parse(""), Err(UnitError::Empty { kind: "rate" }));
    assert_eq!(Rate::parse("   "), Err(UnitError::Empty { kind: "rate" }));
    assert!(matches!(
        Rate::parse("-1kbit"),
        Err(UnitError::Negative { .. })
    ));
    assert!(matches!(Rate::parse("-0"), Err(UnitError::Negative { .. })));
}

#[test]
fn rates_that_are_not_whole_bits_are_rejected() {
    for text in ["1.5bit", "0.1kibit", "1.0001kbit", "0.5"] {
        assert!(
            matches!(Rate::parse(text), Err(UnitError::NotWhole { .. })),
            "{text}"
        );
    }
}

#[test]
fn rates_overflowing_u64_are_rejected() {
    assert_eq!(bits("18446744073709551615"), u64::MAX);
    assert_eq!(bits("18446744073709551615bit"), u64::MAX);
    for text in [
        "18446744073709551616",
        "18446744073709552kbit",
        "2305843009213693952bps",
        "99999999999999999999999999999999999999999tbit",
        "1.0000000000000000000000000000000000000000001kbit",
    ] {
        assert!(
            matches!(Rate::parse(text), Err(UnitError::Overflow { .. })),
            "{text}: {:?}",
            Rate::parse(text)
        );
    }
    // The largest whole-kbit rate still fits.
    assert_eq!(bits("18446744073709551kbit"), 18_446_744_073_709_551_000);
}

#[test]
fn rate_errors_render_the_input_and_the_expected_units() {
    let message = Rate::parse("10kbs").unwrap_err().to_string();
    assert!(message.contains("\"10kbs\""), "{message}");
    assert!(message.contains("\"kbs\""), "{message}");
    assert!(message.contains("kibit"), "{message}");
    let message = Rate::parse("99999999999999999999").unwrap_err().to_string();
    assert!(message.contains("too large"), "{message}");
}

#[test]
fn rate_display_is_exact_and_tc_compatible() {
    let cases: &[(u64, &str)] = &[
        (0, "0bit"),
        (8, "8bit"),
        (1000, "1kbit"),
        (1_500_000, "1500kbit"),
        (10_000_000, "10mbit"),
        (1_000_000_000, "1gbit"),
        (3_000_000_000_000, "3tbit"),
        (1024, "1024bit"),
        (u64::MAX, "18446744073709551615bit"),
    ];
    for (value, text) in cases {
        assert_eq!(Rate::from_bits_per_sec(*value).to_string(), *text);
    }
}

#[test]
fn sizes_use_si_and_iec_byte_units() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("512", 512),
        ("512B", 512),
        ("1kB", 1000),
        ("1KB", 1000),
        ("1KiB", 1024),
        ("10GB", 10_000_000_000),
        ("9.5GiB", 10_200_547_328),
        ("2MB", 2_000_000),
        ("2MiB", 2_097_152),
        ("1TB", 1_000_000_000_000),
        ("1TiB", 1_099_511_627_776),
        ("1PB", 1_000_000_000_000_000),
        ("1PiB", 1_125_899_906_842_624),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_size(text), Ok(*expected), "{text}");
    }
    assert!(matches!(
        parse_size("1k"),
        Err(UnitError::UnknownUnit { .. })
    ));
    assert!(matches!(
        parse_size("1kbit"),
        Err(UnitError::UnknownUnit { .. })
    ));
    assert!(matches!(
        parse_size("-1GB"),
        Err(UnitError::Negative { .. })
    ));
    assert!(matches!(
        parse_size("0.1B"),
        Err(UnitError::NotWhole { .. })
    ));
    assert!(matches!(
        parse_size("20000PB"),
        Err(UnitError::Overflow { .. })
    ));
    assert_eq!(parse_size(""), Err(UnitError::Empty { kind: "size" }));
}

#[test]
fn durations_parse_compounds_and_bare_seconds() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("30", 30_000),
        ("1d", 86_400_000),
        ("5s", 5000),
        ("250ms", 250),
        ("1h30m", 5_400_000),
        ("1d2h3m4s5ms", 93_784_005),
        ("90m", 5_400_000),
        ("1H30M", 5_400_000),
        (" 2h ", 7_200_000),
    ];
    for (text, ms) in cases {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_millis(*ms)),
            "{text}"
        );
    }
}

#[test]
fn bad_durations_are_rejected() {
    for text in ["30m1h", "1h1h", "5s250s"] {
        assert!(
            matches!(parse_duration(text), Err(UnitError::UnitOrder { .. })),
            "{text}"
        );
    }
    for text in ["1y", "5 s", "1h 30m", "5sec", "5", "1d-1h"] {
        let result = parse_duration(text);
        if text == "5" {
            assert_eq!(result, Ok(Duration::from_secs(5)));
        } else {
            assert!(result.is_err(), "{text}: {result:?}");
        }
    }
    assert!(matches!(
        parse_duration("1y"),
        Err(UnitError::UnknownUnit { .. })
    ));
    assert!(matches!(
        parse_duration("1.5h"),
        Err(UnitError::NotWhole { .. })
    ));
    assert!(matches!(
        parse_duration("1.5"),
        Err(UnitError::NotWhole { .. })
    ));
    assert!(matches!(
        parse_duration("-5s"),
        Err(UnitError::Negative { .. })
    ));
    assert!(matches!(
        parse_duration("h"),
        Err(UnitError::InvalidNumber { .. })
    ));
    assert_eq!(
        parse_duration(""),
        Err(UnitError::Empty { kind: "duration" })
    );
    assert!(matches!(
        parse_duration("18446744073709551616"),
        Err(UnitError::Overflow { .. })
    ));
    assert!(matches!(
        parse_duration("18446744073709551615"),
        Err(UnitError::Overflow { .. })
    ));
    assert!(matches!(
        parse_duration("213503982334601d"),
        Err(UnitError::Overflow { .. })
    ));
    assert_eq!(
        parse_duration("18446744073709551615ms"),
        Ok(Duration::from_millis(u64::MAX))
    );
}

#[test]
fn durations_format_compactly() {
    let cases: &[(u64, &str)] = &[
        (0, "0s"),
        (250, "250ms"),
        (5000, "5s"),
        (5_400_000, "1h30m"),
        (86_400_000, "1d"),
        (93_784_005, "1d2h3m4s5ms"),
    ];
    for (ms, text) in cases {
        assert_eq!(format_duration(Duration::from_millis(*ms)), *text);
    }
    assert_eq!(format_duration(Duration::from_micros(1500)), "1ms");
}

#[test]
fn rates_format_for_people() {
    let si: &[(u64, &str)] = &[
        (0, "0 bit/s"),
        (999, "999 bit/s"),
        (1000, "1.0 kbit/s"),
        (1_500_000, "1.5 Mbit/s"),
        (10_000_000, "10.0 Mbit/s"),
        (999_940, "999.9 kbit/s"),
        (999_960, "1.0 Mbit/s"),
        (1_000_000_000, "1.0 Gbit/s"),
        (u64::MAX, "18.4 Ebit/s"),
    ];
    for (value, text) in si {
        assert_eq!(format_rate(*value, UnitSystem::Si), *text, "{value}");
    }
    let iec: &[(u64, &str)] = &[
        (1023, "1023 bit/s"),
        (1024, "1.0 Kibit/s"),
        (1_500_000, "1.4 Mibit/s"),
        (1_048_575, "1.0 Mibit/s"),
    ];
    for (value, text) in iec {
        assert_eq!(format_rate(*value, UnitSystem::Iec), *text, "{value}");
    }
}

#[test]
fn bytes_format_for_people() {
    let cases: &[(u64, UnitSystem, &str)] = &[
        (512, UnitSystem::Si, "512 B"),
        (10_000_000_000, UnitSystem::Si, "10.0 GB"),
        (10_000_000_000, UnitSystem::Iec, "9.3 GiB"),
        (5_662_310 * 1024, UnitSystem::Iec, "5.4 GiB"),
        (1023, UnitSystem::Iec, "1023 B"),
        (1536, UnitSystem::Iec, "1.5 KiB"),
        (1_000, UnitSystem::Si, "1.0 kB"),
        (u64::MAX, UnitSystem::Si, "18.4 EB"),
        (u64::MAX, UnitSystem::Iec, "16.0 EiB"),
    ];
    for (value, units, text) in cases {
        assert_eq!(format_bytes(*value, *units), *text, "{value} {units:?}");
    }
}

proptest! {
    #[test]
    fn rate_display_round_trips(value in any::<u64>()) {
        let rate = Rate::from_bits_per_sec(value);
        prop_assert_eq!(Rate::parse(&rate.to_string()), Ok(rate));
    }

    #[test]
    fn duration_format_round_trips(ms in any::<u64>()) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn human_formats_stay_below_the_next_unit(value in any::<u64>()) {
        for (units, base) in [(UnitSystem::Si, 1000.0), (UnitSystem::Iec, 1024.0)] {
            let text = format_bytes(value, units);
            let number: f64 = text.split(' ').next().unwrap().parse().unwrap();
            prop_assert!(number < base || text.ends_with("EB") || text.ends_with("EiB"), "{}", text);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,40}") {
        let _ = Rate::parse(&text);
        let _ = parse_size(&text);
        let _ = parse_duration(&text);
    }
}
