//! The config file: values, defaults, and errors that name file, line, column and field.
use bwmon::config::{
    Config, ConfigError, EmailTransport, ExemptClassMode, SliceIdMode, SmtpTls, check_file,
};
use bwmon::units::{Rate, UnitSystem};
use std::path::Path;
use std::time::Duration;

const FILE: &str = "/etc/bwmon/bwmon.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new(FILE))
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config, Config::default());
    assert!(config.interfaces.is_empty());
    assert_eq!(config.hardware_max, Rate::from_bits_per_sec(1_000_000_000));
    assert_eq!(config.node_cap, config.hardware_max);
    assert_eq!(config.period, Duration::from_secs(86_400));
    assert_eq!(config.sync_interval, Duration::from_secs(5));
    assert_eq!(config.slice_id, SliceIdMode::Uid);
    assert_eq!(config.max_slices, 16_384);
    assert_eq!(config.dense_xids, 65_536);
    assert_eq!(config.bpf_pin_dir, Path::new("/sys/fs/bpf/bwmon"));
    assert_eq!(config.slices_file, Path::new("/etc/bwmon/slices.json"));
    assert_eq!(config.state_dir, Path::new("/var/lib/bwmon"));
    assert_eq!(config.control_socket, Path::new("/run/bwmon/control.sock"));
    assert_eq!(config.units, UnitSystem::Si);
    assert_eq!(config.email.transport, EmailTransport::Log);
    assert_eq!(config.email.smtp_tls, SmtpTls::Starttls);
    assert_eq!(config.email.smtp_port, 587);
    assert_eq!(
        config.email.sendmail_command,
        Path::new("/usr/sbin/sendmail")
    );
    assert_eq!(config.metrics.listen, None);
    assert_eq!(config.status.group, None);
    assert_eq!(config.hostname, None);
}

const FULL: &str = r#"
interfaces = ["eth0", "veth-a1"]
node_cap = "10mbit"
hardware_max = 100000000
period = "1h30m"
sync_interval = 2
slice_id = "cgroup"
exempt_prefixes = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]
slices_file = "/srv/slices.json"
state_dir = "/srv/state"
control_socket = "/srv/ctl.sock"
bpf_pin_dir = "/sys/fs/bpf/other"
max_slices = 1000
dense_xids = 4096
hostname = "node1.example.org"
units = "iec"
exempt_classes = "when_limited"

[defaults]
net_max_kbyte = 1000
net_thresh_kbyte = 800
net_max_rate = 5000
net_min_rate = 100
net_share = 2

[email]
transport = "smtp"
smtp_host = "mail.example.org"
smtp_tls = "tls"
smtp_user = "bwmon"
smtp_password_file = "/etc/bwmon/smtp-password"
smtp_ca_file = "/etc/bwmon/smtp-ca.pem"
from = "bwmon@node1.example.org"
support_address = "support@example.org"
slice_address_pattern = "{slice}@slices.example.org"
sendmail_command = "/usr/lib/sendmail"

[metrics]
listen = "[::1]:9746"

[status]
group = "bwmon"
"#;

#[test]
fn every_key_is_read() {
    let c = parse(FULL).unwrap();
    assert_eq!(c.interfaces, ["eth0", "veth-a1"]);
    assert_eq!(c.node_cap.bits_per_sec(), 10_000_000);
    assert_eq!(c.hardware_max.bits_per_sec(), 100_000_000);
    assert_eq!(c.period, Duration::from_secs(5400));
    assert_eq!(c.sync_interval, Duration::from_secs(2));
    assert_eq!(c.slice_id, SliceIdMode::Cgroup);
    let prefixes: Vec<String> = c.exempt_prefixes.iter().map(|p| p.to_string()).collect();
    assert_eq!(prefixes, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]);
    assert_eq!(c.slices_file, Path::new("/srv/slices.json"));
    assert_eq!(c.state_dir, Path::new("/srv/state"));
    assert_eq!(c.control_socket, Path::new("/srv/ctl.sock"));
    assert_eq!(c.bpf_pin_dir, Path::new("/sys/fs/bpf/other"));
    assert_eq!((c.max_slices, c.dense_xids), (1000, 4096));
    assert_eq!(c.hostname.as_deref(), Some("node1.example.org"));
    assert_eq!(c.units, UnitSystem::Iec);
    assert_eq!(c.exempt_classes, ExemptClassMode::WhenLimited);
    assert_eq!(c.defaults.net_max_kbyte, Some(1000));
    assert_eq!(c.defaults.net_thresh_kbyte, Some(800));
    assert_eq!(c.defaults.net_max_rate, Some(5000));
    assert_eq!(c.defaults.net_min_rate, Some(100));
    assert_eq!(c.defaults.net_share, Some(2));
    assert_eq!(c.defaults.net_i2_max_kbyte, None);
    let e = &c.email;
    assert_eq!(e.transport, EmailTransport::Smtp);
    assert_eq!(e.smtp_host.as_deref(), Some("mail.example.org"));
    assert_eq!(e.smtp_tls, SmtpTls::Tls);
    assert_eq!(e.smtp_port, 465, "the tls default port");
    assert_eq!(e.smtp_user.as_deref(), Some("bwmon"));
    assert_eq!(
        e.smtp_password_file.as_deref(),
        Some(Path::new("/etc/bwmon/smtp-password"))
    );
    assert_eq!(
        e.smtp_ca_file.as_deref(),
        Some(Path::new("/etc/bwmon/smtp-ca.pem"))
    );
    assert_eq!(e.from.as_deref(), Some("bwmon@node1.example.org"));
    assert_eq!(e.support_address.as_deref(), Some("support@example.org"));
    assert_eq!(
        e.slice_address("web").as_deref(),
        Some("web@slices.example.org")
    );
    assert_eq!(e.from_address("ignored"), "bwmon@node1.example.org");
    assert_eq!(e.sendmail_command, Path::new("/usr/lib/sendmail"));
    assert_eq!(c.metrics.listen, Some("[::1]:9746".parse().unwrap()));
    assert_eq!(c.status.group.as_deref(), Some("bwmon"));
    assert_eq!(c.effective_hostname().unwrap(), "node1.example.org");
}

#[test]
fn node_cap_defaults_to_hardware_max() {
    let config = parse("hardware_max = \"10gbit\"").unwrap();
    assert_eq!(config.hardware_max.bits_per_sec(), 10_000_000_000);
    assert_eq!(config.node_cap, config.hardware_max);
}

#[test]
fn serializing_and_parsing_again_gives_the_same_config() {
    for config in [Config::default(), parse(FULL).unwrap()] {
        let text = toml::to_string(&config).unwrap();
        assert_eq!(parse(&text).unwrap(), config, "{text}");
    }
}

#[test]
fn smtp_port_defaults_follow_smtp_tls_and_an_explicit_port_wins() {
    let port = |text: &str| parse(text).unwrap().email.smtp_port;
    assert_eq!(port("[email]\nsmtp_tls = \"none\""), 25);
    assert_eq!(port("[email]\nsmtp_tls = \"starttls\""), 587);
    assert_eq!(port("[email]\nsmtp_tls = \"tls\""), 465);
    assert_eq!(port("[email]\nsmtp_tls = \"tls\"\nsmtp_port = 2525"), 2525);
}

#[test]
fn defaults_that_need_the_system_are_resolved_by_helpers() {
    let config = Config::default();
    let system = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(config.effective_hostname().unwrap(), system.trim());
    assert_eq!(config.email.from_address("node7"), "bwmon@node7");
    assert_eq!(config.email.slice_address("web"), None);
    assert_eq!(SliceIdMode::Uid.kernel_mode(), bwmon_common::MODE_UID);
    assert_eq!(SliceIdMode::Cgroup.kernel_mode(), bwmon_common::MODE_CGROUP);
    assert_eq!(SliceIdMode::Mark.kernel_mode(), bwmon_common::MODE_MARK);
}

#[test]
fn every_semantic_problem_is_reported_in_file_order() {
    let text = "\
node_cap = \"2gbit\"
period = \"0s\"
sync_interval = \"2d\"
slice_id = \"pid\"
exempt_prefixes = [\"10.1.2.3/8\", \"x\"]
[email]
transport = \"smtp\"
[defaults]
net_thresh_kbyte = 10
net_max_kbyte = 5
";
    let error = parse(text).unwrap_err();
    let ConfigError::Invalid(problems) = &error else {
        panic!("{error}")
    };
    let fields: Vec<&str> = problems
        .problems
        .iter()
        .map(|p| p.field.as_deref().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "node_cap",
            "period",
            "slice_id",
            "exempt_prefixes[0]",
            "exempt_prefixes[1]",
            "email.transport",
            "defaults.net_thresh_kbyte",
        ],
        "{error}"
    );
    let lines: Vec<usize> = problems
        .problems
        .iter()
        .map(|p| p.position.unwrap().line)
        .collect();
    assert_eq!(lines, [1, 2, 4, 5, 5, 7, 9]);
    let rendered = error.to_string();
    assert_eq!(rendered.lines().count(), 7);
    assert!(rendered.lines().all(|l| l.starts_with(FILE)), "{rendered}");
}

#[test]
fn check_file_reads_the_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let error = check_file(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&missing.display().to_string()),
        "{error}"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "\n\nperiod = \"1w\"\n").unwrap();
    let error = check_file(&bad).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}:3:10: period: duration \"1w\" has an unknown unit \"w\" (expected one of d, h, m, s, ms)",
            bad.display()
        )
    );
}
