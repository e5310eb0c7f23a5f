//! The ledger's versioned JSON layout and its migrations.
//!
//! - **Version 1** (current): `{"schema_version": 1, "state": <PolicyState>}`.
//! - **Version 0**: a bare `PolicyState` object with no envelope and no `schema_version`. No
//!   released writer produced it; it is the shape a hand-restored ledger (e.g. a state dumped by a
//!   tool) takes, and it keeps one real migration step in the chain so the path is exercised by
//!   tests before the day a version 2 needs it.
//!
//! A new version adds one arm to the private `step`; [`migrate`] chains steps up to the current version.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::SchemaError;
use crate::policy::PolicyState;

/// The version this bwmon writes.
pub const SCHEMA_VERSION: u64 = 1;

/// The key holding the version.
pub const VERSION_KEY: &str = "schema_version";

/// What is written.
#[derive(Serialize)]
pub(crate) struct Envelope<'a> {
    pub schema_version: u64,
    pub state: &'a PolicyState,
}

/// What is read, when the document is of the current version (the fast path: no intermediate
/// `Value` tree).
#[derive(Deserialize)]
pub(crate) struct CurrentEnvelope {
    pub schema_version: u64,
    pub state: PolicyState,
}

/// The version a document declares: its `schema_version`, or 0 if it has none.
pub fn version_of(doc: &Value) -> Result<u64, SchemaError> {
    match doc.get(VERSION_KEY) {
        None => Ok(0),
        Some(v) => v.as_u64().ok_or(SchemaError::BadVersion),
    }
}

/// Migrates a document of `version` to [`SCHEMA_VERSION`], one step at a time.
pub fn migrate(version: u64, doc: Value) -> Result<Value, SchemaError> {
    if version > SCHEMA_VERSION {
        return Err(SchemaError::FutureVersion {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    (version..SCHEMA_VERSION).try_fold(doc, |doc, v| step(v, doc))
}

/// One migration step, from `version` to `version + 1`.
fn step(version: u64, doc: Value) -> Result<Value, SchemaError> {
    let Value::Object(state) = doc else {
        return Err(SchemaError::NotAnObject { version });
    };
    // Version 0 -> 1: wrap the bare state in the envelope.
    let mut envelope = Map::new();
    envelope.insert(VERSION_KEY.to_owned(), Value::from(version + 1));
    envelope.insert("state".to_owned(), Value::Object(state));
    Ok(Value::Object(envelope))
}
