//! The agent's configuration: one TOML file, `/etc/bwmon/bwmon.toml` by default.
//!
//! Every key is optional and has the default documented on its field here and in the example
//! file `etc/bwmon.toml`. Unknown keys are errors. Loading reports every problem it finds as
//! `file:line:column: field: message` (see [`diag`]); type and syntax errors stop at the first.
//!
//! Decisions worth knowing:
//! - `exempt_prefixes` with host bits set (`10.1.2.3/8`) are rejected, with the normalised prefix
//!   suggested, rather than silently widened.
//! - There is no inline SMTP password: only `email.smtp_password_file`, read when mail is sent,
//!   and credentials are refused with `smtp_tls = "none"`.
//! - Paths must be absolute.
pub mod checks;
pub mod diag;
mod raw;
mod validate;

use crate::policy::Attributes;
use crate::units::{Rate, UnitSystem, serialize_duration};
use diag::{FieldPath, Problem, Problems};
use ipnet::IpNet;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the agent looks for its configuration unless told otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/bwmon/bwmon.toml";

/// The validated configuration. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Interfaces whose egress is accounted and shaped. Default: none (the CLI decides what an
    /// empty list means, e.g. demo mode).
    pub interfaces: Vec<String>,
    /// Ceiling of all normal-class traffic together. Default: `hardware_max` (no node cap).
    pub node_cap: Rate,
    /// Line rate: the HTB root rate and the exempt-class ceiling. Default: `1gbit`.
    pub hardware_max: Rate,
    /// Length of a budget period. Default: `1d`.
    #[serde(serialize_with = "serialize_duration")]
    pub period: Duration,
    /// How often counters are read and the policy runs; less than `period`. Default: `5s`.
    #[serde(serialize_with = "serialize_duration")]
    pub sync_interval: Duration,
    /// What identifies a packet's slice. Default: `uid`.
    pub slice_id: SliceIdMode,
    /// Destinations counted in the exempt ("i2") class, as CIDR prefixes. Default: none.
    pub exempt_prefixes: Vec<IpNet>,
    /// The slice list the orchestrator writes. Default: `/etc/bwmon/slices.json`.
    pub slices_file: PathBuf,
    /// Where period totals survive restarts. Default: `/var/lib/bwmon`.
    pub state_dir: PathBuf,
    /// The status/control socket. Default: `/run/bwmon/control.sock`.
    pub control_socket: PathBuf,
    /// Where the kernel maps are pinned (bpffs). Default: `/sys/fs/bpf/bwmon`.
    pub bpf_pin_dir: PathBuf,
    /// Slots in the kernel maps, including the built-in `default` and `root` slots. Default: 16384.
    pub max_slices: u32,
    /// Entries of the dense xid → slot array; larger xids use the sparse map. Default: 65536.
    pub dense_xids: u32,
    /// Host name used in e-mails. Default: absent (the system host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Prefixes used when displaying rates and volumes. Default: `si`.
    pub units: UnitSystem,
    /// When a slice gets an HTB class of its own for exempt traffic. Default: `per_slice`.
    pub exempt_classes: ExemptClassMode,
    /// Node-wide slice attributes, overridden per slice. Default: all unset (built-in defaults).
    pub defaults: Attributes,
    pub email: EmailConfig,
    pub metrics: MetricsConfig,
    pub status: StatusConfig,
}

/// What identifies a packet's slice (`slice_id`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SliceIdMode {
    /// The owner uid of the sending socket.
    #[default]
    Uid,
    /// The sending socket's cgroup v2, mapped to a slice by the slice list.
    Cgroup,
    /// `skb->mark`, set by something else (e.g. nftables).
    Mark,
}

impl SliceIdMode {
    /// The value of the kernel program's `BWMON_MODE` global.
    pub fn kernel_mode(self) -> u32 {
        match self {
            SliceIdMode::Uid => bwmon_common::MODE_UID,
            SliceIdMode::Cgroup => bwmon_common::MODE_CGROUP,
            SliceIdMode::Mark => bwmon_common::MODE_MARK,
        }
    }
}

/// The `[email]` table: how slices are told they hit their threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmailConfig {
    /// Default: `log` (messages are only logged).
    pub transport: EmailTransport,
    /// Required when `transport = "smtp"`. Default: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_host: Option<String>,
    /// Default: 25 with `smtp_tls = "none"`, 587 with `starttls`, 465 with `tls`.
    pub smtp_port: u16,
    /// Default: `starttls`.
    pub smtp_tls: SmtpTls,
    /// Default: absent (no authentication). Needs `smtp_password_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_user: Option<String>,
    /// File holding the SMTP password (read at send time). Default: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the SMTP server's certificate, trusted besides the
    /// system's (read at send time). Default: absent (system trust only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender address. Default: absent, meaning `bwmon@<hostname>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Copied on every notice. Default: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_address: Option<String>,
    /// A slice's address, `{slice}` replaced by its name, besides its contacts. Default: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice_address_pattern: Option<String>,
    /// Used when `transport = "sendmail"`. Default: `/usr/sbin/sendmail`.
    pub sendmail_command: PathBuf,
}

impl EmailConfig {
    /// The sender: `from`, or `bwmon@<hostname>`.
    pub fn from_address(&self, hostname: &str) -> String {
        self.from
            .clone()
            .unwrap_or_else(|| format!("bwmon@{hostname}"))
    }

    /// The slice's pattern address, if a pattern is configured.
    pub fn slice_address(&self, slice: &str) -> Option<String> {
        self.slice_address_pattern
            .as_ref()
            .map(|pattern| pattern.replace("{slice}", slice))
    }
}

/// `exempt_classes`: when a slice's exempt traffic gets its own HTB class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptClassMode {
    /// Always: exempt traffic is shared between slices by their shares (the seed's layout).
    #[default]
    PerSlice,
    /// Only while the slice's exempt ceiling is limited; until then all slices' exempt packets
    /// share one class. Half the classes: for nodes with tens of thousands of slices.
    WhenLimited,
}

/// `email.transport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    Sendmail,
    #[default]
    Log,
}

/// `email.smtp_tls`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

impl SmtpTls {
    /// The port used when `smtp_port` is not given.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// The `[metrics]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MetricsConfig {
    /// Address of the Prometheus endpoint, e.g. `127.0.0.1:9746`. Default: absent (off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

/// The `[status]` table: who may use the control socket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusConfig {
    /// Group allowed to connect (socket mode 0660). Default: absent (root only, mode 0600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            transport: EmailTransport::default(),
            smtp_host: None,
            smtp_port: SmtpTls::default().default_port(),
            smtp_tls: SmtpTls::default(),
            smtp_user: None,
            smtp_password_file: None,
            smtp_ca_file: None,
            from: None,
            support_address: None,
            slice_address_pattern: None,
            sendmail_command: PathBuf::from("/usr/sbin/sendmail"),
        }
    }
}

/// 1 Gbit/s, the seed's `bwmax`.
pub const DEFAULT_HARDWARE_MAX: Rate = Rate::from_bits_per_sec(1_000_000_000);

impl Default for Config {
    fn default() -> Self {
        Config {
            interfaces: Vec::new(),
            node_cap: DEFAULT_HARDWARE_MAX,
            hardware_max: DEFAULT_HARDWARE_MAX,
            period: Duration::from_secs(86_400),
            sync_interval: Duration::from_secs(5),
            slice_id: SliceIdMode::default(),
            exempt_prefixes: Vec::new(),
            slices_file: PathBuf::from("/etc/bwmon/slices.json"),
            state_dir: PathBuf::from("/var/lib/bwmon"),
            control_socket: PathBuf::from("/run/bwmon/control.sock"),
            bpf_pin_dir: PathBuf::from("/sys/fs/bpf/bwmon"),
            max_slices: 16_384,
            dense_xids: 65_536,
            hostname: None,
            units: UnitSystem::default(),
            exempt_classes: ExemptClassMode::default(),
            defaults: Attributes::default(),
            email: EmailConfig::default(),
            metrics: MetricsConfig::default(),
            status: StatusConfig::default(),
        }
    }
}

impl Config {
    /// Parses and validates a config file's text; `file` is only used in error messages.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let invalid = |problems: Vec<Problem>| {
            ConfigError::Invalid(Problems {
                file: file.to_owned(),
                problems,
            })
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|error| {
            invalid(vec![diag::toml_problem(
                text,
                &error,
                &FieldPath::default(),
                hint,
            )])
        })?;
        let raw: raw::RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = FieldPath::from_serde(e.path());
            invalid(vec![diag::toml_problem(text, e.inner(), &path, hint)])
        })?;
        validate::validate(raw).map_err(|findings| {
            let locator = diag::TomlLocator::new(text);
            invalid(findings.locate(text, |path| locator.offset(path)))
        })
    }

    /// The host name for e-mails: `hostname`, or the system's (`/proc/sys/kernel/hostname`).
    pub fn effective_hostname(&self) -> std::io::Result<String> {
        match &self.hostname {
            Some(name) => Ok(name.clone()),
            None => Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?
                .trim()
                .to_owned()),
        }
    }
}

/// Extra advice appended to some parser messages.
fn hint(message: &str) -> Option<&'static str> {
    message.contains("unknown field `smtp_password`").then_some(
        " (passwords are not accepted inline: put it in a file readable only by root and set \
         smtp_password_file)",
    )
}

/// Reads, parses and validates a config file: what `bwmon check-config` runs.
pub fn check_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    Config::from_toml(&text, path)
}

/// Why a config file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, one `file:line:column: field: message` line each.
    #[error("{0}")]
    Invalid(Problems),
}
