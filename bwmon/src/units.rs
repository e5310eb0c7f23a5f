//! Rates, durations and byte sizes: parsing what operators write and formatting what they read.
//!
//! Rates follow tc(8) exactly: `bit` or a bare number is bit/s, `kbit` = 1000 bit/s, `kibit` =
//! 1024 bit/s (likewise `mbit`/`mibit`, `gbit`/`gibit`, `tbit`/`tibit`), and `bps` is **bytes**
//! per second (`kbps` = 8000 bit/s, `kibps` = 8192 bit/s, ...). Units are case-insensitive.
//! Sizes use SI and IEC byte units (`kB` = 1000 bytes, `KiB` = 1024 bytes): unlike tc's own size
//! syntax, where `kb` means 1024 bytes, so that a size reads the same way it is displayed.
//! Durations are compounds of `d`, `h`, `m`, `s`, `ms` in decreasing order (`1h30m`, `250ms`) or a
//! bare number of seconds.
//!
//! Numbers are decimal, optionally with a fraction (`1.5mbit`); surrounding whitespace is ignored,
//! whitespace inside a value, signs, exponents and hexadecimal are rejected. A value must come to a
//! whole number of the base unit (bit/s, bytes, milliseconds) and fit in a `u64`, else it is an
//! error, never silently truncated or saturated.
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How values are displayed: decimal (SI, kB = 1000 B) or binary (IEC, KiB = 1024 B) prefixes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitSystem {
    #[default]
    Si,
    Iec,
}

/// What went wrong parsing a rate, size or duration. `input` is the text as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("empty {kind}")]
    Empty { kind: &'static str },
    #[error("{kind} {input:?} is negative")]
    Negative { kind: &'static str, input: String },
    #[error("{kind} {input:?} does not start with a decimal number")]
    InvalidNumber { kind: &'static str, input: String },
    #[error("{kind} {input:?} has an unknown unit {unit:?} (expected one of {expected})")]
    UnknownUnit {
        kind: &'static str,
        input: String,
        unit: String,
        expected: &'static str,
    },
    #[error("{kind} {input:?} is not a whole number of {base}")]
    NotWhole {
        kind: &'static str,
        input: String,
        base: &'static str,
    },
    #[error("{kind} {input:?} is too large (the limit is {max} {base})")]
    Overflow {
        kind: &'static str,
        input: String,
        max: u64,
        base: &'static str,
    },
    #[error("duration {input:?} repeats a unit or lists units out of order (write e.g. 1h30m)")]
    UnitOrder { input: String },
}

/// One family of units: its name in messages, its base unit and its suffixes with their scale.
struct Family {
    kind: &'static str,
    base: &'static str,
    expected: &'static str,
    suffixes: &'static [(&'static str, u128)],
}

const K: u128 = 1000;
const KI: u128 = 1024;

const RATES: Family = Family {
    kind: "rate",
    base: "bit/s",
    expected: "bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit, tibit, bps, kbps, mbps, gbps, \
               tbps, kibps, mibps, gibps, tibps",
    suffixes: &[
        ("", 1),
        ("bit", 1),
        ("kbit", K),
        ("mbit", K * K),
        ("gbit", K * K * K),
        ("tbit", K * K * K * K),
        ("kibit", KI),
        ("mibit", KI * KI),
        ("gibit", KI * KI * KI),
        ("tibit", KI * KI * KI * KI),
        ("bps", 8),
        ("kbps", 8 * K),
        ("mbps", 8 * K * K),
        ("gbps", 8 * K * K * K),
        ("tbps", 8 * K * K * K * K),
        ("kibps", 8 * KI),
        ("mibps", 8 * KI * KI),
        ("gibps", 8 * KI * KI * KI),
        ("tibps", 8 * KI * KI * KI * KI),
    ],
};

const SIZES: Family = Family {
    kind: "size",
    base: "bytes",
    expected: "B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB",
    suffixes: &[
        ("", 1),
        ("b", 1),
        ("kb", K),
        ("mb", K * K),
        ("gb", K * K * K),
        ("tb", K * K * K * K),
        ("pb", K * K * K * K * K),
        ("kib", KI),
        ("mib", KI * KI),
        ("gib", KI * KI * KI),
        ("tib", KI * KI * KI * KI),
        ("pib", KI * KI * KI * KI * KI),
    ],
};

const DURATION_UNITS: &[(&str, u128)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// A transmission rate in bit/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    pub const fn from_bits_per_sec(bits: u64) -> Self {
        Rate(bits)
    }

    pub const fn bits_per_sec(self) -> u64 {
        self.0
    }

    /// Parses a tc(8) rate (see the module documentation).
    pub fn parse(input: &str) -> Result<Self, UnitError> {
        parse_scaled(input, &RATES).map(Rate)
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        Rate::parse(s)
    }
}

/// The exact, tc-compatible spelling with the largest SI bit unit that divides the rate:
/// `1gbit`, `1500kbit`, `8bit`. `Rate::parse` gives the same rate back.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1_000_000_000_000, "tbit"),
            (1_000_000_000, "gbit"),
            (1_000_000, "mbit"),
            (1000, "kbit"),
        ];
        for (scale, name) in UNITS {
            if self.0 != 0 && self.0.is_multiple_of(scale) {
                return write!(f, "{}{name}", self.0 / scale);
            }
        }
        write!(f, "{}bit", self.0)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses a byte size in SI or IEC units (`10GB`, `9.5GiB`, `512`); see the module documentation.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    parse_scaled(input, &SIZES)
}

/// Parses a duration: `1d`, `5s`, `250ms`, `1h30m`, or a bare number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let kind = "duration";
    let text = input.trim();
    if text.is_empty() {
        return Err(UnitError::Empty { kind });
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let ms = digits_value(text, input, kind, "seconds")?.checked_mul(1000);
        return to_u64(ms, input, kind, "milliseconds").map(Duration::from_millis);
    }
    let mut rest = text;
    let mut total: u128 = 0;
    let mut last_rank = None;
    while !rest.is_empty() {
        let (number, tail) = split_number(rest, input, kind)?;
        if number.contains('.') {
            return Err(UnitError::NotWhole {
                kind,
                input: input.to_owned(),
                base: "units (write e.g. 1h30m instead of 1.5h)",
            });
        }
        let unit_len = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, after) = tail.split_at(unit_len);
        let unit_lower = unit.to_ascii_lowercase();
        let Some(rank) = DURATION_UNITS.iter().position(|(u, _)| *u == unit_lower) else {
            return Err(UnitError::UnknownUnit {
                kind,
                input: input.to_owned(),
                unit: unit.to_owned(),
                expected: "d, h, m, s, ms",
            });
        };
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(UnitError::UnitOrder {
                input: input.to_owned(),
            });
        }
        last_rank = Some(rank);
        let part =
            digits_value(number, input, kind, "milliseconds")?.checked_mul(DURATION_UNITS[rank].1);
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| overflow(input, kind, "milliseconds"))?;
        rest = after;
    }
    to_u64(Some(total), input, kind, "milliseconds").map(Duration::from_millis)
}

/// The compact spelling `parse_duration` reads back: `1d`, `1h30m`, `250ms`, `0s`. Sub-millisecond
/// parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, scale) in DURATION_UNITS {
        if ms >= *scale {
            out.push_str(&format!("{}{unit}", ms / scale));
            ms %= scale;
        }
    }
    out
}

/// Serde adapter writing a `Duration` as `format_duration` does.
pub fn serialize_duration<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*d))
}

/// A rate for people: `999 bit/s`, `1.5 Mbit/s` (SI) or `1.4 Mibit/s` (IEC).
pub fn format_rate(bits_per_sec: u64, units: UnitSystem) -> String {
    const SI: [&str; 7] = [
        "bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s", "Ebit/s",
    ];
    const IEC: [&str; 7] = [
        "bit/s", "Kibit/s", "Mibit/s", "Gibit/s", "Tibit/s", "Pibit/s", "Eibit/s",
    ];
    match units {
        UnitSystem::Si => human(bits_per_sec, K, &SI),
        UnitSystem::Iec => human(bits_per_sec, KI, &IEC),
    }
}

/// A byte count for people: `512 B`, `10.0 GB` (SI) or `9.3 GiB` (IEC).
pub fn format_bytes(bytes: u64, units: UnitSystem) -> String {
    const SI: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    const IEC: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    match units {
        UnitSystem::Si => human(bytes, K, &SI),
        UnitSystem::Iec => human(bytes, KI, &IEC),
    }
}

/// Below one `base`: the exact integer. Above: one decimal, rounded half up, in the largest unit
/// whose rounded value stays below `base` (so 999,960 bit/s is `1.0 Mbit/s`, not `1000.0 kbit/s`).
fn human(value: u64, base: u128, names: &[&str; 7]) -> String {
    let v = u128::from(value);
    if v < base {
        return format!("{value} {}", names[0]);
    }
    let mut index = 1;
    let mut scale = base;
    while index + 1 < names.len() && v >= scale * base {
        index += 1;
        scale *= base;
    }
    let mut tenths = (v * 10 + scale / 2) / scale;
    if tenths >= base * 10 && index + 1 < names.len() {
        index += 1;
        scale *= base;
        tenths = (v * 10 + scale / 2) / scale;
    }
    format!("{}.{} {}", tenths / 10, tenths % 10, names[index])
}

/// `<decimal number><unit of family>` → value in the family's base unit.
fn parse_scaled(input: &str, family: &Family) -> Result<u64, UnitError> {
    let kind = family.kind;
    let text = input.trim();
    if text.is_empty() {
        return Err(UnitError::Empty { kind });
    }
    let (number, unit) = split_number(text, input, kind)?;
    let unit_lower = unit.to_ascii_lowercase();
    let Some((_, scale)) = family.suffixes.iter().find(|(s, _)| *s == unit_lower) else {
        return Err(UnitError::UnknownUnit {
            kind,
            input: input.to_owned(),
            unit: unit.to_owned(),
            expected: family.expected,
        });
    };
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    let mantissa = digits_value(&digits, input, kind, family.base)?;
    let divisor = 10u128
        .checked_pow(u32::try_from(frac_part.len()).unwrap_or(u32::MAX))
        .ok_or_else(|| overflow(input, kind, family.base))?;
    let scaled = mantissa
        .checked_mul(*scale)
        .ok_or_else(|| overflow(input, kind, family.base))?;
    if !scaled.is_multiple_of(divisor) {
        return Err(UnitError::NotWhole {
            kind,
            input: input.to_owned(),
            base: family.base,
        });
    }
    to_u64(Some(scaled / divisor), input, kind, family.base)
}

/// Splits `D+(.D+)?` off the front of `text`; the rest is returned as the unit.
fn split_number<'a>(
    text: &'a str,
    input: &str,
    kind: &'static str,
) -> Result<(&'a str, &'a str), UnitError> {
    if text.starts_with('-') {
        return Err(UnitError::Negative {
            kind,
            input: input.to_owned(),
        });
    }
    let invalid = || UnitError::InvalidNumber {
        kind,
        input: input.to_owned(),
    };
    let int_len = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if int_len == 0 {
        return Err(invalid());
    }
    let mut end = int_len;
    if let Some(after_dot) = text[int_len..].strip_prefix('.') {
        let frac_len = after_dot
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_dot.len());
        if frac_len == 0 {
            return Err(invalid());
        }
        end = int_len + 1 + frac_len;
    }
    Ok(text.split_at(end))
}

fn digits_value(
    digits: &str,
    input: &str,
    kind: &'static str,
    base: &'static str,
) -> Result<u128, UnitError> {
    digits.bytes().try_fold(0u128, |acc, b| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u128::from(b - b'0')))
            .ok_or_else(|| overflow(input, kind, base))
    })
}

fn to_u64(
    value: Option<u128>,
    input: &str,
    kind: &'static str,
    base: &'static str,
) -> Result<u64, UnitError> {
    value
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| overflow(input, kind, base))
}

fn overflow(input: &str, kind: &'static str, base: &'static str) -> UnitError {
    UnitError::Overflow {
        kind,
        input: input.to_owned(),
        max: u64::MAX,
        base,
    }
}
