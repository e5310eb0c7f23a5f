//! Human-readable numbers and dates for messages and explanations.

/// Bytes in SI units, as the seed's message did ("5.8 GB"), without its mixed 1000/1024 steps.
pub fn format_bytes(bytes: u64) -> String {
    // Display only: the f64 rounding of huge values does not matter here.
    let b = bytes as f64;
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", b / 1e9)
    } else if bytes >= 1_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else if bytes >= 1_000 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

/// A rate in bit/s, the way tc prints it ("1.5Mbit"); append "/s" where it reads better.
pub fn format_rate(bps: u64) -> String {
    let r = bps as f64;
    if bps >= 1_000_000_000 {
        format!("{:.1}Gbit", r / 1e9)
    } else if bps >= 1_000_000 {
        format!("{:.1}Mbit", r / 1e6)
    } else if bps >= 1_000 {
        format!("{:.1}Kbit", r / 1e3)
    } else {
        format!("{bps}bit")
    }
}

/// A period length in words: "day", "hour", "2.5 days", "90.0 minutes", "30 seconds".
pub fn format_period(secs: u64) -> String {
    let s = secs as f64;
    match secs {
        86_400 => "day".to_owned(),
        3_600 => "hour".to_owned(),
        s2 if s2 > 86_400 => format!("{:.1} days", s / 86_400.0),
        s2 if s2 > 3_600 => format!("{:.1} hours", s / 3_600.0),
        s2 if s2 > 60 => format!("{:.1} minutes", s / 60.0),
        _ => format!("{secs} seconds"),
    }
}

/// A duration as "1d 2h 3m 4s", leaving out leading zero units.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

/// A unix time as `asctime` prints it in UTC, with the zone: "Thu Jan  1 00:00:00 1970 GMT".
pub fn format_time(unix: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[((days + 4) % 7) as usize];
    let month = MONTHS[(month - 1) as usize];
    format!(
        "{weekday} {month} {day:>2} {:02}:{:02}:{:02} {year} GMT",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm, for
/// non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_match_asctime() {
        assert_eq!(format_time(0), "Thu Jan  1 00:00:00 1970 GMT");
        // 2000-02-29 12:34:56 = 951827696 (date -u -d @951827696).
        assert_eq!(format_time(951_827_696), "Tue Feb 29 12:34:56 2000 GMT");
        // 2026-11-24 00:00:00 = 1795478400.
        assert_eq!(format_time(1_795_478_400), "Tue Nov 24 00:00:00 2026 GMT");
        // Never panics, even at the far end.
        assert!(format_time(u64::MAX).ends_with(" GMT"));
    }

    #[test]
    fn sizes_rates_periods() {
        assert_eq!(format_bytes(999), "999 bytes");
        assert_eq!(format_bytes(1_500), "1.5 KB");
        // The seed's default: 5662310 KByte * 1024 = 5798205440 bytes.
        assert_eq!(format_bytes(5_798_205_440), "5.8 GB");
        assert_eq!(format_rate(999), "999bit");
        assert_eq!(format_rate(1_500_000), "1.5Mbit");
        assert_eq!(format_rate(10_000_000_000), "10.0Gbit");
        assert_eq!(format_period(86_400), "day");
        assert_eq!(format_period(3_600), "hour");
        assert_eq!(format_period(2 * 86_400 + 43_200), "2.5 days");
        assert_eq!(format_period(5_400), "1.5 hours");
        assert_eq!(format_period(90), "1.5 minutes");
        assert_eq!(format_period(60), "60 seconds");
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(3_661), "1h 1m 1s");
        assert_eq!(format_duration(90_061), "1d 1h 1m 1s");
    }
}
