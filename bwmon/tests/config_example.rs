//! The example file shipped as `etc/bwmon.toml`: it parses, its "default" values are the
//! defaults, it documents every key, and its commented-out examples are valid too.
use bwmon::config::{Config, check_file};
use bwmon::policy::Attributes;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/bwmon.toml")
}

fn example_text() -> String {
    std::fs::read_to_string(example_path()).unwrap()
}

/// `key = ...` or `# key = ...`, as (section, key); section "" is the top level.
fn documented_keys(text: &str) -> BTreeSet<(String, String)> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let body = line.strip_prefix("# ").unwrap_or(line);
        if let Some((key, _)) = body.split_once(" = ")
            && is_key(key)
        {
            keys.insert((section.clone(), key.to_owned()));
        }
    }
    keys
}

fn is_key(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn every_attribute() -> Attributes {
    Attributes {
        net_min_rate: Some(1),
        net_max_rate: Some(1),
        net_i2_min_rate: Some(1),
        net_i2_max_rate: Some(1),
        net_max_kbyte: Some(1),
        net_i2_max_kbyte: Some(1),
        net_thresh_kbyte: Some(1),
        net_i2_thresh_kbyte: Some(1),
        net_share: Some(1),
        net_i2_share: Some(1),
    }
}

/// A config with every optional value present, so that serializing it names every key.
fn config_with_every_key() -> Config {
    let mut config = Config {
        hostname: Some("node1.example.org".into()),
        defaults: every_attribute(),
        ..Config::default()
    };
    let email = &mut config.email;
    email.smtp_host = Some("mail.example.org".into());
    email.smtp_user = Some("u".into());
    email.smtp_password_file = Some("/etc/pw".into());
    email.smtp_ca_file = Some("/etc/ca.pem".into());
    email.from = Some("a@example.org".into());
    email.support_address = Some("s@example.org".into());
    email.slice_address_pattern = Some("{slice}@example.org".into());
    config.metrics.listen = Some("127.0.0.1:9746".parse().unwrap());
    config.status.group = Some("bwmon".into());
    config
}

fn serialized_keys(config: &Config) -> BTreeSet<(String, String)> {
    let value = toml::Value::try_from(config).unwrap();
    let mut keys = BTreeSet::new();
    for (key, value) in value.as_table().unwrap() {
        match value.as_table() {
            Some(table) => {
                for inner in table.keys() {
                    keys.insert((key.clone(), inner.clone()));
                }
            }
            None => {
                keys.insert((String::new(), key.clone()));
            }
        }
    }
    keys
}

#[test]
fn the_example_parses_and_its_default_values_are_the_defaults() {
    let config = check_file(example_path()).unwrap();
    let expected = Config {
        interfaces: vec!["eth0".into()],
        exempt_prefixes: vec![
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        ..Config::default()
    };
    assert_eq!(config, expected);
}

#[test]
fn the_example_documents_every_key_and_no_other() {
    let all = serialized_keys(&config_with_every_key());
    assert_eq!(all.len(), 16 + 10 + 11 + 1 + 1, "{all:?}");
    let documented = documented_keys(&example_text());
    assert_eq!(documented, all);
}

#[test]
fn the_commented_out_examples_are_valid_too() {
    let uncommented: String = example_text()
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(body) if body.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => body,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = Config::from_toml(&uncommented, Path::new("uncommented.toml")).unwrap();
    assert_eq!(config.hostname.as_deref(), Some("node1.example.org"));
    assert_eq!(config.defaults.net_max_kbyte, Some(5_662_310));
    assert_eq!(config.defaults.net_i2_share, Some(1));
    assert_eq!(config.email.smtp_user.as_deref(), Some("bwmon"));
    assert_eq!(
        config.email.slice_address("web").as_deref(),
        Some("web@slices.example.org")
    );
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9746".parse().unwrap())
    );
    assert_eq!(config.status.group.as_deref(), Some("bwmon"));
}
