//! From the raw file to resolved slices, collecting every problem with its field path.
use super::{CgroupResolver, RESERVED_NAMES, RawFile, RawSlice, Slice, SliceSource, UserDb};
use crate::config::SliceIdMode;
use crate::config::checks::{check_account_name, check_attributes, check_email_address};
use crate::config::diag::{FieldPath, Findings};
use std::collections::HashMap;

pub(super) fn validate(
    raw: RawFile,
    mode: SliceIdMode,
    users: &dyn UserDb,
    cgroups: &dyn CgroupResolver,
) -> Result<Vec<Slice>, Findings> {
    let mut f = Findings::default();
    let list = FieldPath::default().key("slices");
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut xids: HashMap<u32, usize> = HashMap::new();
    let mut slices = Vec::with_capacity(raw.slices.len());
    for (i, s) in raw.slices.into_iter().enumerate() {
        let path = list.index(i);
        let label = format!("slice {:?}", s.name);
        match check_slice_name(&s.name) {
            Err(e) => f.push(&path.key("name"), e),
            Ok(()) => {
                if let Some(first) = names.insert(s.name.clone(), i) {
                    f.push(
                        &path.key("name"),
                        format!("{label} is already defined at slices[{first}]"),
                    );
                }
            }
        }
        let resolved = resolve(&s, mode, users, cgroups, &path, &label, &mut f);
        if let Some((xid, _)) = &resolved {
            if *xid == 0 {
                let why = match mode {
                    SliceIdMode::Mark => "mark 0 is unmarked traffic (the built-in default slice)",
                    _ => "xid 0 is the built-in root slice",
                };
                f.push(&path.key(source_key(&s)), format!("{label}: {why}"));
            } else if let Some(first) = xids.insert(*xid, i) {
                f.push(
                    &path.key(source_key(&s)),
                    format!("{label}: xid {xid} is already used by slices[{first}]"),
                );
            }
        }
        check_attributes(&s.attributes, &path.key("attributes"), &mut f);
        for (j, contact) in s.contacts.iter().enumerate() {
            if let Err(e) = check_email_address(contact) {
                f.push(&path.key("contacts").index(j), format!("{label}: {e}"));
            }
        }
        if let Some((xid, source)) = resolved {
            slices.push(Slice {
                name: s.name,
                xid,
                source,
                attributes: s.attributes,
                contacts: s.contacts,
            });
        }
    }
    if f.is_empty() { Ok(slices) } else { Err(f) }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`, not a built-in name (in any case). Names go into e-mail
/// subjects, logs and status output, so nothing else is allowed.
pub fn check_slice_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(format!(
            "{name:?} is not a valid slice name ([A-Za-z0-9_][A-Za-z0-9_.-]*, 1 to 64 characters)"
        ));
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!("{name:?} is reserved for a built-in slice"));
    }
    Ok(())
}

/// The key that identifies the slice (for locating xid problems).
fn source_key(s: &RawSlice) -> &'static str {
    if s.user.is_some() {
        "user"
    } else if s.cgroup.is_some() {
        "cgroup"
    } else {
        "xid"
    }
}

/// The slice's xid and source, or `None` after recording why not.
fn resolve(
    s: &RawSlice,
    mode: SliceIdMode,
    users: &dyn UserDb,
    cgroups: &dyn CgroupResolver,
    path: &FieldPath,
    label: &str,
    f: &mut Findings,
) -> Option<(u32, SliceSource)> {
    let given: Vec<&str> = [
        ("xid", s.xid.is_some()),
        ("user", s.user.is_some()),
        ("cgroup", s.cgroup.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, present)| present.then_some(key))
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none".to_owned()
        } else {
            given.join(" and ")
        };
        f.push(
            path,
            format!("{label}: give exactly one of xid, user or cgroup (found {found})"),
        );
        return None;
    }
    let key = given[0];
    let allowed = match mode {
        SliceIdMode::Uid => key != "cgroup",
        SliceIdMode::Mark => key == "xid",
        SliceIdMode::Cgroup => key == "cgroup",
    };
    if !allowed {
        let expected = match mode {
            SliceIdMode::Uid => "xid or user",
            SliceIdMode::Mark => "xid (the mark)",
            SliceIdMode::Cgroup => "cgroup",
        };
        let mode_name = format!("{mode:?}").to_lowercase();
        f.push(
            &path.key(key),
            format!(
                "{label}: with slice_id = \"{mode_name}\" a slice is given by {expected}, not {key}"
            ),
        );
        return None;
    }
    if let Some(xid) = s.xid {
        return Some((xid, SliceSource::Xid));
    }
    if let Some(user) = &s.user {
        return resolve_user(user, users, &path.key("user"), label, f);
    }
    let cgroup = s.cgroup.as_deref()?;
    resolve_cgroup(cgroup, cgroups, &path.key("cgroup"), label, f)
}

fn resolve_user(
    user: &str,
    users: &dyn UserDb,
    path: &FieldPath,
    label: &str,
    f: &mut Findings,
) -> Option<(u32, SliceSource)> {
    if let Err(e) = check_account_name(user) {
        f.push(path, format!("{label}: {e}"));
        return None;
    }
    match users.uid(user) {
        Ok(Some(uid)) => Some((
            uid,
            SliceSource::User {
                name: user.to_owned(),
            },
        )),
        Ok(None) => {
            f.push(
                path,
                format!("{label}: no user {user:?} in the passwd database"),
            );
            None
        }
        Err(e) => {
            f.push(path, format!("{label}: cannot look up user {user:?}: {e}"));
            None
        }
    }
}

fn resolve_cgroup(
    cgroup: &str,
    cgroups: &dyn CgroupResolver,
    path: &FieldPath,
    label: &str,
    f: &mut Findings,
) -> Option<(u32, SliceSource)> {
    let components_ok = cgroup.strip_prefix('/').is_some_and(|rest| {
        rest.split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
    });
    if !components_ok || cgroup.chars().any(char::is_control) {
        f.push(
            path,
            format!(
                "{label}: {cgroup:?} is not a cgroup path below the root (e.g. \"/system.slice/web.service\")"
            ),
        );
        return None;
    }
    match cgroups.cgroup_id(cgroup) {
        Ok(id) => {
            // The kernel's cgroup id is (generation << 32 | inode) on 64-bit; the inode part is
            // unique among live cgroups and never 0.
            let xid = u32::try_from(id & u64::from(u32::MAX)).unwrap_or(0);
            Some((
                xid,
                SliceSource::Cgroup {
                    path: cgroup.to_owned(),
                    id,
                },
            ))
        }
        Err(e) => {
            f.push(
                path,
                format!("{label}: cannot resolve cgroup {cgroup:?}: {e}"),
            );
            None
        }
    }
}
