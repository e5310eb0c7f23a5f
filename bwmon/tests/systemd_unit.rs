//! `etc/bwmon.service` through `systemd-analyze verify` (with ExecStart pointing at a binary that
//! exists here), plus the settings the agent relies on.
use std::path::{Path, PathBuf};
use std::process::Command;

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/bwmon.service");
    std::fs::read_to_string(path).unwrap()
}

/// Writes `text` as `bwmon.service` in a fresh directory, the binary replaced by `/bin/true`.
fn staged(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("bwmon.service");
    std::fs::write(&path, text.replace("/usr/local/bin/bwmon", "/bin/true")).unwrap();
    path
}

fn verify(unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .expect("systemd-analyze (package systemd; `cargo xtask setup` installs it)");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn the_unit_verifies_without_complaints() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, output) = verify(&staged(dir.path(), &unit_text()));
    assert!(ok, "{output}");
    assert_eq!(output.trim(), "", "systemd-analyze complained");
}

#[test]
fn verify_does_catch_a_broken_unit() {
    // The check above can fail: a bad value and an unknown directive are reported.
    let dir = tempfile::tempdir().unwrap();
    let broken = unit_text().replace("Type=notify", "Type=notifyy\nNoSuchDirective=1");
    let (ok, output) = verify(&staged(dir.path(), &broken));
    assert!(!ok || !output.trim().is_empty(), "{output}");
    assert!(
        output.contains("notifyy") || output.contains("NoSuchDirective"),
        "{output}"
    );
}

/// `KEY=VALUE` lines of the unit, comments left out.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn the_unit_has_the_settings_the_agent_relies_on() {
    let s = settings(&unit_text());
    let get = |key: &str| {
        let values: Vec<&str> = s
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values.len(), 1, "{key}: {values:?}");
        values[0].to_owned()
    };
    assert_eq!(get("Type"), "notify");
    assert_eq!(get("NotifyAccess"), "main");
    assert_eq!(get("WatchdogSec"), "30s");
    assert_eq!(
        get("ExecStart"),
        "/usr/local/bin/bwmon run --config /etc/bwmon/bwmon.toml"
    );
    assert_eq!(get("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(get("Restart"), "on-failure");
    assert_eq!(get("StateDirectory"), "bwmon");
    assert_eq!(get("RuntimeDirectory"), "bwmon");
    assert_eq!(
        get("CapabilityBoundingSet"),
        "CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_CHOWN"
    );
    assert_eq!(get("ProtectSystem"), "strict");
    assert_eq!(get("ReadWritePaths"), "/sys/fs/bpf");
    assert_eq!(get("NoNewPrivileges"), "yes");
    assert_eq!(
        get("RestrictAddressFamilies"),
        "AF_UNIX AF_NETLINK AF_INET AF_INET6"
    );
    for key in [
        "ProtectHome",
        "PrivateTmp",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ] {
        assert_eq!(get(key), "yes", "{key}");
    }
    assert_eq!(get("SystemCallArchitectures"), "native");
}
