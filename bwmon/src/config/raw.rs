//! The config file as written: every key optional, values not yet interpreted, unknown keys
//! rejected. Rates, durations and choices stay strings here so that validation can report every
//! bad value at once instead of stopping at the first.
use crate::policy::Attributes;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub interfaces: Option<Vec<String>>,
    pub node_cap: Option<Scalar>,
    pub hardware_max: Option<Scalar>,
    pub period: Option<Scalar>,
    pub sync_interval: Option<Scalar>,
    pub slice_id: Option<String>,
    pub exempt_prefixes: Option<Vec<String>>,
    pub slices_file: Option<String>,
    pub state_dir: Option<String>,
    pub control_socket: Option<String>,
    pub bpf_pin_dir: Option<String>,
    pub max_slices: Option<i64>,
    pub dense_xids: Option<i64>,
    pub hostname: Option<String>,
    pub units: Option<String>,
    pub exempt_classes: Option<String>,
    pub defaults: Option<Attributes>,
    pub email: Option<RawEmail>,
    pub metrics: Option<RawMetrics>,
    pub status: Option<RawStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    pub transport: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<i64>,
    pub smtp_tls: Option<String>,
    pub smtp_user: Option<String>,
    pub smtp_password_file: Option<String>,
    pub smtp_ca_file: Option<String>,
    pub from: Option<String>,
    pub support_address: Option<String>,
    pub slice_address_pattern: Option<String>,
    pub sendmail_command: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatus {
    pub group: Option<String>,
}

/// A rate or duration as written: a string with units, or a bare integer.
#[derive(Debug)]
pub(super) enum Scalar {
    Text(String),
    Integer(i64),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string with a unit (such as \"10mbit\" or \"1h30m\") or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Integer)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}
