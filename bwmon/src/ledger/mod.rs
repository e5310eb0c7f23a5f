//! The ledger: the policy state, persisted as versioned JSON after every sync.
//!
//! - **Save** replaces the file atomically (see `atomic`): a crash leaves the old or the new
//!   ledger, never a torn one.
//! - **Load**: a missing file gives a fresh state. A file that cannot be read, is not JSON, has an
//!   unknown (future) version or invalid content is never silently replaced by zeros: it is moved
//!   aside to `<name>.corrupt-<unix time>` and the result says where and why
//!   ([`LoadOutcome::SetAside`]), so the agent can log an error and report it in its status, then
//!   start fresh. If it cannot even be moved aside, loading fails: starting fresh would overwrite it.
//! - Older versions are migrated ([`schema::migrate`]).
//!
//! Reconciling with the kernel's counters after a restart needs nothing here: the policy's rule
//! for counters going backwards covers fresh maps after a reboot (smaller counters), and adopted
//! maps (larger counters) are ordinary deltas.
mod atomic;
mod error;
pub mod schema;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use error::{LedgerError, SchemaError, SetAsideReason};
pub use schema::{SCHEMA_VERSION, migrate};

use crate::policy::PolicyState;

/// The ledger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    path: PathBuf,
}

/// A loaded ledger: the state to resume from, and how it was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub state: PolicyState,
    pub outcome: LoadOutcome,
}

/// How the state was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    /// No ledger file: fresh state.
    Missing,
    /// Read a ledger written with `version` (migrated if older than [`SCHEMA_VERSION`]).
    Read { version: u64 },
    /// The file was unusable: moved to `moved_to`, fresh state.
    SetAside {
        moved_to: PathBuf,
        reason: SetAsideReason,
    },
}

impl Ledger {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Ledger { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the ledger; `now` (unix seconds) names a file set aside.
    pub fn load(&self, now: u64) -> Result<Loaded, LedgerError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Loaded {
                    state: PolicyState::default(),
                    outcome: LoadOutcome::Missing,
                });
            }
            Err(e) => {
                let reason = SetAsideReason::Unreadable {
                    error: e.to_string(),
                };
                return self.set_aside(now, reason);
            }
        };
        match decode(&bytes) {
            Ok((state, version)) => Ok(Loaded {
                state,
                outcome: LoadOutcome::Read { version },
            }),
            Err(reason) => self.set_aside(now, reason),
        }
    }

    /// Writes `state` as the new ledger, atomically and durably.
    pub fn save(&self, state: &PolicyState) -> Result<(), LedgerError> {
        let envelope = schema::Envelope {
            schema_version: SCHEMA_VERSION,
            state,
        };
        let bytes = serde_json::to_vec(&envelope).map_err(|source| LedgerError::Encode {
            path: self.path.clone(),
            source,
        })?;
        atomic::replace(&self.path, &bytes)
    }

    fn set_aside(&self, now: u64, reason: SetAsideReason) -> Result<Loaded, LedgerError> {
        let to = self.aside_path(now);
        if let Err(source) = fs::rename(&self.path, &to) {
            return Err(LedgerError::SetAside {
                path: self.path.clone(),
                to,
                reason,
                source,
            });
        }
        atomic::sync_dir(atomic::parent_dir(&self.path))?;
        Ok(Loaded {
            state: PolicyState::default(),
            outcome: LoadOutcome::SetAside {
                moved_to: to,
                reason,
            },
        })
    }

    /// `<path>.corrupt-<now>`, or `<path>.corrupt-<now>-<n>` if that exists already.
    fn aside_path(&self, now: u64) -> PathBuf {
        let base = format!("{}.corrupt-{now}", self.path.display());
        let free = |p: &PathBuf| !matches!(p.try_exists(), Ok(true));
        std::iter::once(PathBuf::from(&base))
            .chain((1u32..).map(|n| PathBuf::from(format!("{base}-{n}"))))
            .find(free)
            .unwrap_or_else(|| PathBuf::from(base))
    }
}

/// Parses, migrates and validates a ledger document: the state and the version it was written in.
fn decode(bytes: &[u8]) -> Result<(PolicyState, u64), SetAsideReason> {
    if let Ok(doc) = serde_json::from_slice::<schema::CurrentEnvelope>(bytes)
        && doc.schema_version == SCHEMA_VERSION
    {
        return Ok((doc.state, SCHEMA_VERSION));
    }
    // Anything else goes the slow way, which migrates or says precisely what is wrong.
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| SetAsideReason::NotJson {
        error: e.to_string(),
    })?;
    let version = schema::version_of(&doc)?;
    let mut doc = migrate(version, doc)?;
    let state = doc.get_mut("state").map(Value::take).unwrap_or(Value::Null);
    let state = serde_json::from_value(state).map_err(|e| SetAsideReason::Invalid {
        version,
        error: e.to_string(),
    })?;
    Ok((state, version))
}
