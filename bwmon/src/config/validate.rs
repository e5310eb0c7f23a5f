//! From the raw file to a `Config`: interpret every value, check every rule, collect every
//! problem with the path of the value at fault.
use super::checks::{
    check_account_name, check_attributes, check_email_address, check_hostname, check_ifname,
};
use super::diag::{FieldPath, Findings};
use super::raw::{RawConfig, RawEmail, Scalar};
use super::{Config, EmailConfig, EmailTransport, ExemptClassMode, SliceIdMode, SmtpTls};
use crate::units::{Rate, UnitSystem, format_duration, parse_duration};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Upper bound of `max_slices` (slots of the kernel maps).
const MAX_SLOTS: i64 = 1 << 20;
/// Upper bound of `dense_xids` (a 64 MiB array of u32).
const MAX_DENSE_XIDS: i64 = 1 << 24;

pub(super) fn validate(raw: RawConfig) -> Result<Config, Findings> {
    let mut f = Findings::default();
    let root = FieldPath::default();
    let mut config = Config::default();

    if let Some(interfaces) = raw.interfaces {
        let path = root.key("interfaces");
        let mut seen = HashMap::new();
        for (i, name) in interfaces.iter().enumerate() {
            if let Err(e) = check_ifname(name) {
                f.push(&path.index(i), e);
            } else if let Some(first) = seen.insert(name.as_str(), i) {
                f.push(
                    &path.index(i),
                    format!("interface {name:?} is listed twice (also interfaces[{first}])"),
                );
            }
        }
        config.interfaces = interfaces;
    }

    // A cross-field rule is only checked when both values are valid.
    let hardware_max_given = raw.hardware_max.is_some();
    let hardware_max = rate(&mut f, &root.key("hardware_max"), raw.hardware_max);
    let node_cap = rate(&mut f, &root.key("node_cap"), raw.node_cap);
    if let Some(max) = hardware_max {
        config.hardware_max = max;
        config.node_cap = max;
    }
    if let Some(cap) = node_cap {
        if cap > config.hardware_max && (hardware_max.is_some() || !hardware_max_given) {
            f.push(
                &root.key("node_cap"),
                format!("{cap} exceeds hardware_max ({})", config.hardware_max),
            );
        }
        config.node_cap = cap;
    }

    let period_given = raw.period.is_some();
    let mut period_ok = true;
    if let Some(period) = duration(&mut f, &root.key("period"), raw.period) {
        if period < Duration::from_secs(1) {
            f.push(&root.key("period"), "the period must be at least 1s");
            period_ok = false;
        }
        config.period = period;
    } else if period_given {
        period_ok = false;
    }
    let sync_given = raw.sync_interval.is_some();
    let mut sync_ok = !sync_given;
    if let Some(interval) = duration(&mut f, &root.key("sync_interval"), raw.sync_interval) {
        if interval.is_zero() {
            f.push(&root.key("sync_interval"), "must be greater than 0");
        } else {
            sync_ok = true;
        }
        config.sync_interval = interval;
    }
    // Also when one side is the default: a 3s period with the 5s default interval is wrong too.
    if period_ok && sync_ok && config.sync_interval >= config.period {
        let key = if sync_given {
            "sync_interval"
        } else {
            "period"
        };
        f.push(
            &root.key(key),
            format!(
                "sync_interval {} is not shorter than the period ({})",
                format_duration(config.sync_interval),
                format_duration(config.period)
            ),
        );
    }

    if let Some(mode) = raw.slice_id {
        let path = root.key("slice_id");
        match mode.as_str() {
            "uid" => config.slice_id = SliceIdMode::Uid,
            "cgroup" => config.slice_id = SliceIdMode::Cgroup,
            "mark" => config.slice_id = SliceIdMode::Mark,
            _ => f.push(&path, choice_error(&mode, "uid, cgroup or mark")),
        }
    }

    if let Some(prefixes) = raw.exempt_prefixes {
        config.exempt_prefixes = exempt_prefixes(&mut f, &root.key("exempt_prefixes"), &prefixes);
    }

    let paths = [
        ("slices_file", raw.slices_file, &mut config.slices_file),
        ("state_dir", raw.state_dir, &mut config.state_dir),
        (
            "control_socket",
            raw.control_socket,
            &mut config.control_socket,
        ),
        ("bpf_pin_dir", raw.bpf_pin_dir, &mut config.bpf_pin_dir),
    ];
    for (key, value, slot) in paths {
        if let Some(path) = absolute_path(&mut f, &root.key(key), value) {
            *slot = path;
        }
    }

    let min_slots = i64::from(bwmon_common::FIRST_SLICE_SLOT) + 1;
    if let Some(n) = integer(
        &mut f,
        &root.key("max_slices"),
        raw.max_slices,
        min_slots,
        MAX_SLOTS,
    ) {
        config.max_slices = n;
    }
    if let Some(n) = integer(
        &mut f,
        &root.key("dense_xids"),
        raw.dense_xids,
        1,
        MAX_DENSE_XIDS,
    ) {
        config.dense_xids = n;
    }

    if let Some(name) = raw.hostname {
        if let Err(e) = check_hostname(&name) {
            f.push(&root.key("hostname"), e);
        }
        config.hostname = Some(name);
    }

    if let Some(units) = raw.units {
        match units.as_str() {
            "si" => config.units = UnitSystem::Si,
            "iec" => config.units = UnitSystem::Iec,
            _ => f.push(&root.key("units"), choice_error(&units, "si or iec")),
        }
    }

    if let Some(mode) = raw.exempt_classes {
        match mode.as_str() {
            "per_slice" => config.exempt_classes = ExemptClassMode::PerSlice,
            "when_limited" => config.exempt_classes = ExemptClassMode::WhenLimited,
            _ => f.push(
                &root.key("exempt_classes"),
                choice_error(&mode, "per_slice or when_limited"),
            ),
        }
    }

    if let Some(defaults) = raw.defaults {
        check_attributes(&defaults, &root.key("defaults"), &mut f);
        config.defaults = defaults;
    }

    config.email = email(&mut f, &root.key("email"), raw.email.unwrap_or_default());

    if let Some(listen) = raw.metrics.and_then(|m| m.listen) {
        match listen.parse::<SocketAddr>() {
            Ok(addr) => config.metrics.listen = Some(addr),
            Err(_) => f.push(
                &root.key("metrics").key("listen"),
                format!(
                    "{listen:?} is not an address:port (e.g. \"127.0.0.1:9746\", \"[::1]:9746\")"
                ),
            ),
        }
    }

    if let Some(group) = raw.status.and_then(|s| s.group) {
        if let Err(e) = check_account_name(&group) {
            f.push(&root.key("status").key("group"), e);
        }
        config.status.group = Some(group);
    }

    if f.is_empty() { Ok(config) } else { Err(f) }
}

fn email(f: &mut Findings, path: &FieldPath, raw: RawEmail) -> EmailConfig {
    let mut email = EmailConfig::default();
    let transport_given = raw.transport.is_some();
    if let Some(transport) = raw.transport {
        match transport.as_str() {
            "smtp" => email.transport = EmailTransport::Smtp,
            "sendmail" => email.transport = EmailTransport::Sendmail,
            "log" => email.transport = EmailTransport::Log,
            _ => f.push(
                &path.key("transport"),
                choice_error(&transport, "smtp, sendmail or log"),
            ),
        }
    }
    if let Some(tls) = raw.smtp_tls {
        match tls.as_str() {
            "none" => email.smtp_tls = SmtpTls::None,
            "starttls" => email.smtp_tls = SmtpTls::Starttls,
            "tls" => email.smtp_tls = SmtpTls::Tls,
            _ => f.push(
                &path.key("smtp_tls"),
                choice_error(&tls, "none, starttls or tls"),
            ),
        }
    }
    email.smtp_port = email.smtp_tls.default_port();
    if let Some(port) = raw.smtp_port {
        match u16::try_from(port) {
            Ok(port) if port > 0 => email.smtp_port = port,
            _ => f.push(
                &path.key("smtp_port"),
                format!("{port} is not a port (1 to 65535)"),
            ),
        }
    }
    if let Some(host) = raw.smtp_host {
        if host.parse::<std::net::IpAddr>().is_err()
            && let Err(e) = check_hostname(&host)
        {
            f.push(&path.key("smtp_host"), e);
        }
        email.smtp_host = Some(host);
    }
    if transport_given && email.transport == EmailTransport::Smtp && email.smtp_host.is_none() {
        f.push(
            &path.key("transport"),
            "transport \"smtp\" needs email.smtp_host",
        );
    }
    email.smtp_password_file =
        absolute_path(f, &path.key("smtp_password_file"), raw.smtp_password_file);
    email.smtp_ca_file = absolute_path(f, &path.key("smtp_ca_file"), raw.smtp_ca_file);
    if email.smtp_ca_file.is_some() && email.smtp_tls == SmtpTls::None {
        f.push(
            &path.key("smtp_ca_file"),
            "smtp_ca_file needs smtp_tls = \"starttls\" or \"tls\"",
        );
    }
    if let Some(user) = raw.smtp_user {
        if user.is_empty() || user.chars().any(char::is_control) {
            f.push(
                &path.key("smtp_user"),
                "must be non-empty, without control characters",
            );
        } else if email.smtp_password_file.is_none() {
            f.push(&path.key("smtp_user"), "smtp_user needs smtp_password_file");
        } else if email.smtp_tls == SmtpTls::None {
            f.push(
                &path.key("smtp_tls"),
                "refusing to send SMTP credentials without TLS",
            );
        }
        email.smtp_user = Some(user);
    } else if email.smtp_password_file.is_some() {
        f.push(
            &path.key("smtp_password_file"),
            "smtp_password_file needs smtp_user",
        );
    }
    for (key, value, slot) in [
        ("from", raw.from, &mut email.from),
        (
            "support_address",
            raw.support_address,
            &mut email.support_address,
        ),
    ] {
        if let Some(address) = value {
            if let Err(e) = check_email_address(&address) {
                f.push(&path.key(key), e);
            }
            *slot = Some(address);
        }
    }
    if let Some(pattern) = raw.slice_address_pattern {
        let key = path.key("slice_address_pattern");
        if pattern.matches("{slice}").count() != 1 {
            f.push(
                &key,
                format!("{pattern:?} must contain {{slice}} exactly once"),
            );
        } else if let Err(e) = check_email_address(&pattern.replace("{slice}", "slice")) {
            f.push(
                &key,
                format!("{pattern:?} does not make an e-mail address: {e}"),
            );
        }
        email.slice_address_pattern = Some(pattern);
    }
    if let Some(command) = absolute_path(f, &path.key("sendmail_command"), raw.sendmail_command) {
        email.sendmail_command = command;
    }
    email
}

fn exempt_prefixes(f: &mut Findings, path: &FieldPath, prefixes: &[String]) -> Vec<IpNet> {
    let mut out = Vec::new();
    let mut seen = HashMap::new();
    for (i, text) in prefixes.iter().enumerate() {
        let Ok(net) = text.trim().parse::<IpNet>() else {
            f.push(
                &path.index(i),
                format!("{text:?} is not a CIDR prefix (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")"),
            );
            continue;
        };
        if net.trunc() != net {
            f.push(
                &path.index(i),
                format!(
                    "{text:?} has host bits set; did you mean \"{}\"?",
                    net.trunc()
                ),
            );
        } else if let Some(first) = seen.insert(net, i) {
            f.push(
                &path.index(i),
                format!("{net} is listed twice (also exempt_prefixes[{first}])"),
            );
        }
        out.push(net);
    }
    out
}

fn rate(f: &mut Findings, path: &FieldPath, value: Option<Scalar>) -> Option<Rate> {
    let parsed = match value? {
        Scalar::Integer(n) => u64::try_from(n)
            .map(Rate::from_bits_per_sec)
            .map_err(|_| format!("{n} is negative")),
        Scalar::Text(text) => Rate::parse(&text).map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(rate) if rate.bits_per_sec() == 0 => {
            f.push(path, "must be greater than 0");
            None
        }
        Ok(rate) => Some(rate),
        Err(e) => {
            f.push(path, e);
            None
        }
    }
}

fn duration(f: &mut Findings, path: &FieldPath, value: Option<Scalar>) -> Option<Duration> {
    let parsed = match value? {
        Scalar::Integer(n) => u64::try_from(n)
            .map(Duration::from_secs)
            .map_err(|_| format!("{n} is negative")),
        Scalar::Text(text) => parse_duration(&text).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| f.push(path, e)).ok()
}

fn integer(
    f: &mut Findings,
    path: &FieldPath,
    value: Option<i64>,
    min: i64,
    max: i64,
) -> Option<u32> {
    let n = value?;
    match u32::try_from(n) {
        Ok(v) if (min..=max).contains(&n) => Some(v),
        _ => {
            f.push(path, format!("{n} is out of range ({min} to {max})"));
            None
        }
    }
}

fn absolute_path(f: &mut Findings, path: &FieldPath, value: Option<String>) -> Option<PathBuf> {
    let value = value?;
    if !value.starts_with('/') || value.contains('\0') {
        f.push(path, format!("{value:?} is not an absolute path"));
        return None;
    }
    Some(PathBuf::from(value))
}

fn choice_error(value: &str, expected: &str) -> String {
    format!("unknown value {value:?} (expected {expected})")
}
