//! The config file's rules: each one rejected with its file, line, column and field.
use bwmon::config::{Config, ConfigError};
use std::path::Path;
use std::time::Duration;

const FILE: &str = "/etc/bwmon/bwmon.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new(FILE))
}

fn rendered_error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("accepted {text:?} as {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `text` is rejected with exactly one problem, at `line:column`, naming `field`,
/// whose message contains `fragment`.
fn assert_problem(text: &str, at: &str, field: &str, fragment: &str) {
    let error = rendered_error(text);
    assert_eq!(error.lines().count(), 1, "expected one problem: {error}");
    let prefix = format!("{FILE}:{at}: {field}: ");
    assert!(
        error.starts_with(&prefix),
        "{error:?} does not start with {prefix:?}"
    );
    assert!(error.contains(fragment), "{error:?} lacks {fragment:?}");
}

#[test]
fn unknown_keys_are_errors_at_every_level() {
    assert_problem(
        "interfaces = []\nbogus = 1\n",
        "2:1",
        "bogus",
        "unknown field `bogus`",
    );
    assert_problem(
        "[email]\nsmtp_hots = \"x\"\n",
        "2:1",
        "email.smtp_hots",
        "unknown field",
    );
    assert_problem(
        "[metrics]\nport = 1\n",
        "2:1",
        "metrics.port",
        "unknown field",
    );
    assert_problem(
        "[status]\nmode = 1\n",
        "2:1",
        "status.mode",
        "unknown field",
    );
    assert_problem(
        "[defaults]\nnet_maxkbyte = 1\n",
        "2:1",
        "defaults.net_maxkbyte",
        "unknown field",
    );
    assert_problem("[nope]\n", "1:2", "nope", "unknown field `nope`");
}

#[test]
fn an_inline_password_is_refused_with_advice() {
    assert_problem(
        "[email]\nsmtp_password = \"hunter2\"\n",
        "2:1",
        "email.smtp_password",
        "set smtp_password_file",
    );
}

#[test]
fn type_and_syntax_errors_are_located() {
    assert_problem(
        "[email]\ntransport = 5\n",
        "2:13",
        "email.transport",
        "expected a string",
    );
    assert_problem(
        "[defaults]\nnet_max_kbyte = -1\n",
        "2:17",
        "defaults.net_max_kbyte",
        "-1",
    );
    assert_problem("period = 1.5\n", "1:10", "period", "an integer");
    assert_problem(
        "interfaces = \"eth0\"\n",
        "1:14",
        "interfaces",
        "expected a sequence",
    );
    let error = rendered_error("interfaces = [\"eth0\"\nperiod = \"1d\"\n");
    assert_eq!(
        error,
        format!("{FILE}:2:1: missing comma between array elements, expected `,`")
    );
    let error = rendered_error("a = 1\na = 2\n");
    assert!(error.starts_with(&format!("{FILE}:2:1: ")), "{error}");
    assert!(error.contains("duplicate key"), "{error}");
}

#[test]
fn rates_and_durations_are_checked() {
    assert_problem(
        "node_cap = \"10mbs\"",
        "1:12",
        "node_cap",
        "unknown unit \"mbs\"",
    );
    assert_problem("hardware_max = \"\"", "1:16", "hardware_max", "empty rate");
    assert_problem(
        "hardware_max = -5",
        "1:16",
        "hardware_max",
        "-5 is negative",
    );
    assert_problem(
        "hardware_max = \"0kbit\"",
        "1:16",
        "hardware_max",
        "greater than 0",
    );
    assert_problem(
        "hardware_max = \"99999999999tbit\"",
        "1:16",
        "hardware_max",
        "too large",
    );
    assert_problem(
        "hardware_max = \"100mbit\"\nnode_cap = \"1gbit\"",
        "2:12",
        "node_cap",
        "1gbit exceeds hardware_max (100mbit)",
    );
    // Without hardware_max, node_cap is compared with its default.
    assert_problem(
        "node_cap = \"2gbit\"",
        "1:12",
        "node_cap",
        "exceeds hardware_max (1gbit)",
    );
    assert_problem("period = 0", "1:10", "period", "at least 1s");
    assert_problem("period = \"500ms\"", "1:10", "period", "at least 1s");
    assert_problem("period = \"1x\"", "1:10", "period", "unknown unit");
    assert_problem(
        "sync_interval = \"0s\"",
        "1:17",
        "sync_interval",
        "greater than 0",
    );
    assert_problem(
        "period = \"1h\"\nsync_interval = \"1h\"",
        "2:17",
        "sync_interval",
        "1h is not shorter than the period (1h)",
    );
    assert_problem(
        "period = 3",
        "1:10",
        "period",
        "sync_interval 5s is not shorter than the period (3s)",
    );
    let c = parse("node_cap = 1000\nhardware_max = \"1.5kbit\"\nperiod = 60").unwrap();
    assert_eq!(c.node_cap.bits_per_sec(), 1000);
    assert_eq!(c.hardware_max.bits_per_sec(), 1500);
    assert_eq!(c.period, Duration::from_secs(60));
}

#[test]
fn interfaces_and_prefixes_are_checked() {
    assert_problem(
        "interfaces = [\"eth0\", \"eth1\", \"eth0\"]",
        "1:31",
        "interfaces[2]",
        "listed twice (also interfaces[0])",
    );
    assert_problem(
        "interfaces = [\"a-very-long-interface\"]",
        "1:15",
        "interfaces[0]",
        "not a valid interface name",
    );
    assert_problem(
        "interfaces = [\"\"]",
        "1:15",
        "interfaces[0]",
        "not a valid interface",
    );
    assert_problem(
        "interfaces = [\"eth0:1\"]",
        "1:15",
        "interfaces[0]",
        "not a valid interface",
    );
    assert_problem(
        "exempt_prefixes = [\"10.1.2.3/8\"]",
        "1:20",
        "exempt_prefixes[0]",
        "host bits set; did you mean \"10.0.0.0/8\"?",
    );
    assert_problem(
        "exempt_prefixes = [\"2001:db8::1/32\"]",
        "1:20",
        "exempt_prefixes[0]",
        "did you mean \"2001:db8::/32\"?",
    );
    assert_problem(
        "exempt_prefixes = [\"10.0.0.1\"]",
        "1:20",
        "exempt_prefixes[0]",
        "not a CIDR prefix",
    );
    assert_problem(
        "exempt_prefixes = [\"10.0.0.0/33\"]",
        "1:20",
        "exempt_prefixes[0]",
        "not a CIDR prefix",
    );
    assert_problem(
        "exempt_prefixes = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/8\",\n]",
        "3:3",
        "exempt_prefixes[1]",
        "listed twice",
    );
}

#[test]
fn choices_paths_and_ranges_are_checked() {
    assert_problem(
        "slice_id = \"pid\"",
        "1:12",
        "slice_id",
        "expected uid, cgroup or mark",
    );
    assert_problem("units = \"binary\"", "1:9", "units", "expected si or iec");
    assert_problem(
        "exempt_classes = \"never\"",
        "1:18",
        "exempt_classes",
        "expected per_slice or when_limited",
    );
    assert_problem(
        "state_dir = \"var/lib\"",
        "1:13",
        "state_dir",
        "not an absolute path",
    );
    assert_problem(
        "slices_file = \"\"",
        "1:15",
        "slices_file",
        "not an absolute path",
    );
    assert_problem(
        "max_slices = 2",
        "1:14",
        "max_slices",
        "out of range (3 to 1048576)",
    );
    assert_problem(
        "max_slices = 99999999999",
        "1:14",
        "max_slices",
        "out of range",
    );
    assert_problem(
        "dense_xids = 0",
        "1:14",
        "dense_xids",
        "out of range (1 to 16777216)",
    );
    assert_problem(
        "hostname = \"bad host\"",
        "1:12",
        "hostname",
        "not a valid host name",
    );
    assert_problem(
        "[metrics]\nlisten = \"9746\"",
        "2:10",
        "metrics.listen",
        "address:port",
    );
    assert_problem(
        "[status]\ngroup = \"wheel staff\"",
        "2:9",
        "status.group",
        "not a valid",
    );
    assert_problem(
        "[defaults]\nnet_thresh_kbyte = 10\nnet_max_kbyte = 5",
        "2:20",
        "defaults.net_thresh_kbyte",
        "10 KByte exceeds net_max_kbyte (5 KByte)",
    );
    assert_problem(
        "[defaults]\nnet_i2_share = 0",
        "2:16",
        "defaults.net_i2_share",
        "at least 1",
    );
}

#[test]
fn email_settings_are_checked() {
    let e = |body: &str| format!("[email]\n{body}");
    assert_problem(
        &e("transport = \"smpt\""),
        "2:13",
        "email.transport",
        "smtp, sendmail or log",
    );
    assert_problem(
        &e("transport = \"smtp\""),
        "2:13",
        "email.transport",
        "needs email.smtp_host",
    );
    assert_problem(
        &e("smtp_tls = \"ssl\""),
        "2:12",
        "email.smtp_tls",
        "none, starttls or tls",
    );
    assert_problem(&e("smtp_port = 0"), "2:13", "email.smtp_port", "not a port");
    assert_problem(
        &e("smtp_port = 70000"),
        "2:13",
        "email.smtp_port",
        "not a port",
    );
    assert_problem(
        &e("smtp_host = \"mail host\""),
        "2:13",
        "email.smtp_host",
        "host name",
    );
    assert_problem(
        &e("smtp_user = \"u\""),
        "2:13",
        "email.smtp_user",
        "needs smtp_password_file",
    );
    assert_problem(
        &e("smtp_password_file = \"/etc/pw\""),
        "2:22",
        "email.smtp_password_file",
        "needs smtp_user",
    );
    assert_problem(
        &e("smtp_tls = \"none\"\nsmtp_user = \"u\"\nsmtp_password_file = \"/etc/pw\""),
        "2:12",
        "email.smtp_tls",
        "without TLS",
    );
    assert_problem(
        &e("smtp_tls = \"none\"\nsmtp_ca_file = \"/etc/ca.pem\""),
        "3:16",
        "email.smtp_ca_file",
        "needs smtp_tls",
    );
    assert_problem(
        &e("smtp_ca_file = \"ca.pem\""),
        "2:16",
        "email.smtp_ca_file",
        "absolute",
    );
    assert_problem(&e("from = \"bwmon\""), "2:8", "email.from", "no @");
    assert_problem(
        &e("support_address = \"a@b\\r\\nBcc: x@y\""),
        "2:19",
        "email.support_address",
        "control character",
    );
    assert_problem(
        &e("slice_address_pattern = \"ops@example.org\""),
        "2:25",
        "email.slice_address_pattern",
        "{slice} exactly once",
    );
    assert_problem(
        &e("slice_address_pattern = \"{slice}@bad domain\""),
        "2:25",
        "email.slice_address_pattern",
        "does not make an e-mail address",
    );
    assert_problem(
        &e("sendmail_command = \"sendmail\""),
        "2:20",
        "email.sendmail_command",
        "absolute",
    );
    let c = parse(&e("transport = \"smtp\"\nsmtp_host = \"192.0.2.25\"")).unwrap();
    assert_eq!(c.email.smtp_host.as_deref(), Some("192.0.2.25"));
}
