//! The slice list: a JSON file the orchestrator writes, naming each slice, how its packets are
//! recognised, its budget attributes and whom to tell.
//!
//! ```json
//! {"slices": [
//!   {"name": "web", "xid": 1001, "attributes": {"net_max_kbyte": 1000}, "contacts": ["ops@example.org"]},
//!   {"name": "build", "user": "builder"},
//!   {"name": "db", "cgroup": "/system.slice/db.service"}
//! ]}
//! ```
//!
//! Each slice gives exactly one of `xid` (uid or mark mode), `user` (uid mode: a Unix user name,
//! resolved through the passwd database) or `cgroup` (cgroup mode: a cgroup v2 path as in
//! `/proc/<pid>/cgroup`; the slice's xid is the low 32 bits of the cgroup id, which are unique
//! among live cgroups). Names match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}` and are unique; `root` and
//! `default` are built in; xids are unique; xid 0 is the root slice in uid mode and unmarked
//! traffic in mark mode. Unknown keys are errors.
//!
//! Loading is pure apart from reading the file and the resolvers: the caller keeps its last good
//! list when it fails. Errors name the file, line, column and field path
//! (`slices[3].attributes.net_max_kbyte`), like the config file's.
mod resolve;
mod validate;

pub use resolve::{CgroupResolver, SystemCgroups, SystemUserDb, UserDb, cgroup2_mount};
pub use validate::check_slice_name;

use crate::config::SliceIdMode;
use crate::config::diag::{self, FieldPath, Problems};
use crate::policy::Attributes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Names a slice list may not use: the built-in slices.
pub const RESERVED_NAMES: [&str; 2] = ["root", "default"];

/// A validated slice list with every xid resolved, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceList {
    slices: Vec<Slice>,
}

/// One slice of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub name: String,
    /// The slice id the kernel program sees (uid, mark, or the xid its cgroup is mapped to).
    pub xid: u32,
    /// How the slice was given, with what it resolved to.
    pub source: SliceSource,
    pub attributes: Attributes,
    /// Addresses told when the slice reaches its threshold.
    pub contacts: Vec<String>,
}

/// How a slice is identified in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SliceSource {
    /// `"xid"`.
    Xid,
    /// `"user"`: the xid is the user's uid.
    User { name: String },
    /// `"cgroup"`: `id` is the cgroup id that `BW_CG_XID` maps to the xid.
    Cgroup { path: String, id: u64 },
}

impl SliceList {
    /// Reads and validates the slice list at `path` for slice-id `mode`.
    pub fn load(
        path: &Path,
        mode: SliceIdMode,
        users: &dyn UserDb,
        cgroups: &dyn CgroupResolver,
    ) -> Result<SliceList, SliceListError> {
        let text = std::fs::read_to_string(path).map_err(|source| SliceListError::Read {
            file: path.to_owned(),
            source,
        })?;
        SliceList::from_json(&text, path, mode, users, cgroups)
    }

    /// Validates a slice list's text; `file` is only used in error messages.
    pub fn from_json(
        text: &str,
        file: &Path,
        mode: SliceIdMode,
        users: &dyn UserDb,
        cgroups: &dyn CgroupResolver,
    ) -> Result<SliceList, SliceListError> {
        let invalid = |problems| {
            SliceListError::Invalid(Problems {
                file: file.to_owned(),
                problems,
            })
        };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let raw: RawFile = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = FieldPath::from_serde(e.path());
            invalid(vec![diag::json_problem(e.inner(), &path)])
        })?;
        deserializer
            .end()
            .map_err(|e| invalid(vec![diag::json_problem(&e, &FieldPath::default())]))?;
        let slices = validate::validate(raw, mode, users, cgroups).map_err(|findings| {
            let mut locator = diag::JsonLocator::new(text);
            invalid(findings.locate(text, |path| locator.offset(path)))
        })?;
        Ok(SliceList { slices })
    }

    /// The slices in file order.
    pub fn slices(&self) -> &[Slice] {
        &self.slices
    }

    pub fn get(&self, name: &str) -> Option<&Slice> {
        self.slices.iter().find(|slice| slice.name == name)
    }

    pub fn by_xid(&self, xid: u32) -> Option<&Slice> {
        self.slices.iter().find(|slice| slice.xid == xid)
    }

    /// The list in the file format, each slice identified as it was given and unset attributes
    /// left out (so loading the text again yields an equal list).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let slices = self
            .slices
            .iter()
            .map(|s| {
                let mut attributes = match serde_json::to_value(&s.attributes)? {
                    serde_json::Value::Object(map) => map,
                    _ => serde_json::Map::new(),
                };
                attributes.retain(|_, value| !value.is_null());
                Ok(OutSlice {
                    name: &s.name,
                    xid: matches!(s.source, SliceSource::Xid).then_some(s.xid),
                    user: match &s.source {
                        SliceSource::User { name } => Some(name),
                        _ => None,
                    },
                    cgroup: match &s.source {
                        SliceSource::Cgroup { path, .. } => Some(path),
                        _ => None,
                    },
                    attributes,
                    contacts: &s.contacts,
                })
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        serde_json::to_string_pretty(&serde_json::json!({ "slices": slices }))
    }
}

/// Why a slice list was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SliceListError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, one `file:line:column: field: message` line each.
    #[error("{0}")]
    Invalid(Problems),
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    slices: Vec<RawSlice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlice {
    name: String,
    xid: Option<u32>,
    user: Option<String>,
    cgroup: Option<String>,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    contacts: Vec<String>,
}

/// One slice as `to_json` writes it.
#[derive(Serialize)]
struct OutSlice<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    xid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a String>,
    attributes: serde_json::Map<String, serde_json::Value>,
    contacts: &'a [String],
}
