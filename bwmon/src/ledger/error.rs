//! Ledger errors and the reasons a ledger file is set aside.
use std::io;
use std::path::PathBuf;

/// What can go wrong reading or writing the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger path {path} has no file name")]
    NoFileName { path: PathBuf },
    #[error("cannot encode the ledger for {path}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the temporary ledger {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot sync the ledger directory {path}")]
    SyncDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The ledger is unusable and could not be moved aside: starting fresh would overwrite it at
    /// the next save, so the caller must not.
    #[error("cannot move the unusable ledger {path} aside to {to} ({reason})")]
    SetAside {
        path: PathBuf,
        to: PathBuf,
        reason: SetAsideReason,
        #[source]
        source: io::Error,
    },
}

/// Why a ledger file could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetAsideReason {
    #[error("unreadable: {error}")]
    Unreadable { error: String },
    #[error("not JSON: {error}")]
    NotJson { error: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("invalid version {version} content: {error}")]
    Invalid { version: u64, error: String },
}

/// A ledger document this version of bwmon cannot migrate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema_version is not a non-negative integer")]
    BadVersion,
    #[error("schema version {found} is newer than the newest this bwmon knows ({supported})")]
    FutureVersion { found: u64, supported: u64 },
    #[error("a version {version} ledger must be a JSON object")]
    NotAnObject { version: u64 },
}
