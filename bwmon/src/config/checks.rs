//! Small syntax checks shared by the config file and the slice list.
use super::diag::{FieldPath, Findings};
use crate::policy::Attributes;

/// A deliberately basic e-mail address check: `local@domain`, ASCII only, no whitespace or
/// control characters (so no header injection), local part of RFC 5322 atom characters and dots,
/// domain of DNS labels. Returns why the address is rejected.
pub fn check_email_address(address: &str) -> Result<(), String> {
    const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";
    if address.chars().any(char::is_control) {
        return Err(format!(
            "e-mail address {address:?} contains a control character"
        ));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(format!("{address:?} is not an e-mail address (no @)"));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c));
    if !local_ok || address.len() > 254 {
        return Err(format!("{address:?} is not a valid e-mail address"));
    }
    check_hostname(domain).map_err(|_| format!("{address:?} has an invalid domain {domain:?}"))
}

/// A DNS name: dot-separated labels of ASCII letters, digits and inner hyphens, 1..=63 bytes each,
/// 253 bytes in all.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!("{name:?} is not a valid host name"));
    }
    Ok(())
}

/// A Linux interface name: 1..=15 bytes, no `/`, `:`, whitespace or control characters, not `.`
/// or `..` (the kernel's `dev_valid_name`, plus `:` which only old alias syntax uses).
pub fn check_ifname(name: &str) -> Result<(), String> {
    let bad_char = name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if name.is_empty() || name.len() > 15 || bad_char || name == "." || name == ".." {
        return Err(format!(
            "{name:?} is not a valid interface name (1 to 15 bytes, no '/', ':' or whitespace)"
        ));
    }
    Ok(())
}

/// A user or group name as the passwd and group databases portably allow: `[A-Za-z0-9_][A-Za-z0-9_.-]*`,
/// at most 32 bytes.
pub fn check_account_name(name: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid user or group name ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 32 bytes)"
        ))
    }
}

/// The largest kbit/s value whose bit/s fits in a `u64`.
const MAX_KBIT: u64 = u64::MAX / 1000;
/// The largest KByte value whose bytes fit in a `u64`.
const MAX_KBYTE: u64 = u64::MAX / 1024;

/// Consistency of one attributes table on its own (the slice's and the defaults' values are not
/// combined here): every ceiling at least 1 kbit/s and not below its guarantee, every threshold
/// at most its volume, shares at least 1, and no value whose bit/s or bytes overflow a `u64`.
pub(crate) fn check_attributes(attributes: &Attributes, path: &FieldPath, findings: &mut Findings) {
    let a = attributes;
    let rates = [
        ("net_min_rate", a.net_min_rate),
        ("net_max_rate", a.net_max_rate),
        ("net_i2_min_rate", a.net_i2_min_rate),
        ("net_i2_max_rate", a.net_i2_max_rate),
    ];
    for (field, value) in rates {
        if let Some(v) = value.filter(|v| *v > MAX_KBIT) {
            findings.push(
                &path.key(field),
                format!("{v} kbit/s is too large (at most {MAX_KBIT})"),
            );
        }
    }
    let volumes = [
        ("net_max_kbyte", a.net_max_kbyte),
        ("net_i2_max_kbyte", a.net_i2_max_kbyte),
        ("net_thresh_kbyte", a.net_thresh_kbyte),
        ("net_i2_thresh_kbyte", a.net_i2_thresh_kbyte),
    ];
    for (field, value) in volumes {
        if let Some(v) = value.filter(|v| *v > MAX_KBYTE) {
            findings.push(
                &path.key(field),
                format!("{v} KByte is too large (at most {MAX_KBYTE})"),
            );
        }
    }
    for (field, value) in [
        ("net_max_rate", a.net_max_rate),
        ("net_i2_max_rate", a.net_i2_max_rate),
    ] {
        if value == Some(0) {
            findings.push(&path.key(field), "a ceiling must be at least 1 kbit/s");
        }
    }
    let pairs = [
        (
            "net_min_rate",
            a.net_min_rate,
            "net_max_rate",
            a.net_max_rate,
            "kbit/s",
        ),
        (
            "net_i2_min_rate",
            a.net_i2_min_rate,
            "net_i2_max_rate",
            a.net_i2_max_rate,
            "kbit/s",
        ),
        (
            "net_thresh_kbyte",
            a.net_thresh_kbyte,
            "net_max_kbyte",
            a.net_max_kbyte,
            "KByte",
        ),
        (
            "net_i2_thresh_kbyte",
            a.net_i2_thresh_kbyte,
            "net_i2_max_kbyte",
            a.net_i2_max_kbyte,
            "KByte",
        ),
    ];
    for (low_name, low, high_name, high, unit) in pairs {
        if let (Some(low), Some(high)) = (low, high)
            && low > high
        {
            findings.push(
                &path.key(low_name),
                format!("{low} {unit} exceeds {high_name} ({high} {unit})"),
            );
        }
    }
    for (field, value) in [("net_share", a.net_share), ("net_i2_share", a.net_i2_share)] {
        if value == Some(0) {
            findings.push(&path.key(field), "a share must be at least 1");
        }
    }
}
