//! The slice list: resolution, every validation rule, and located errors.
use bwmon::config::SliceIdMode;
use bwmon::slices::{
    CgroupResolver, SliceList, SliceListError, SliceSource, UserDb, check_slice_name,
};
use std::collections::HashMap;
use std::io;
use std::path::Path;

const FILE: &str = "/etc/bwmon/slices.json";

struct Users(HashMap<&'static str, u32>);

impl UserDb for Users {
    fn uid(&self, name: &str) -> io::Result<Option<u32>> {
        if name == "broken" {
            return Err(io::Error::other("NSS back end unavailable"));
        }
        Ok(self.0.get(name).copied())
    }
}

struct Cgroups(HashMap<&'static str, u64>);

impl CgroupResolver for Cgroups {
    fn cgroup_id(&self, path: &str) -> io::Result<u64> {
        self.0
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

fn users() -> Users {
    Users(HashMap::from([("alice", 1001), ("bob", 1002), ("root", 0)]))
}

fn cgroups() -> Cgroups {
    Cgroups(HashMap::from([
        ("/web.slice", 4242),
        ("/db.slice/main", (1 << 32) + 77),
        ("/alias", 4242),
    ]))
}

fn load(text: &str, mode: SliceIdMode) -> Result<SliceList, SliceListError> {
    SliceList::from_json(text, Path::new(FILE), mode, &users(), &cgroups())
}

fn rendered_error(text: &str, mode: SliceIdMode) -> String {
    match load(text, mode) {
        Ok(list) => panic!("accepted {text:?} as {list:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts exactly one problem at `at` naming `field` whose message contains `fragment`.
fn assert_problem(text: &str, mode: SliceIdMode, at: &str, field: &str, fragment: &str) {
    let error = rendered_error(text, mode);
    assert_eq!(error.lines().count(), 1, "expected one problem: {error}");
    let prefix = if field.is_empty() {
        format!("{FILE}:{at}: ")
    } else {
        format!("{FILE}:{at}: {field}: ")
    };
    assert!(
        error.starts_with(&prefix),
        "{error:?} does not start with {prefix:?}"
    );
    assert!(error.contains(fragment), "{error:?} lacks {fragment:?}");
}

/// `{"slices": [<one>]}`: the slice object starts at column 13 of line 1.
fn one(slice: &str) -> String {
    format!("{{\"slices\": [{slice}]}}")
}

const UID: SliceIdMode = SliceIdMode::Uid;

const LIST: &str = r#"{
  "slices": [
    {"name": "web", "xid": 2001, "attributes": {"net_max_kbyte": 1000, "net_share": 2},
     "contacts": ["ops@example.org", "o.wner+bw@mail.example.org"]},
    {"name": "alice_1.x-y", "user": "alice"},
    {"name": "B", "xid": 4294967295}
  ]
}"#;

#[test]
fn a_valid_list_resolves_every_slice_in_order() {
    let list = load(LIST, UID).unwrap();
    let names: Vec<&str> = list.slices().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web", "alice_1.x-y", "B"]);
    let web = list.get("web").unwrap();
    assert_eq!(web.xid, 2001);
    assert_eq!(web.source, SliceSource::Xid);
    assert_eq!(web.attributes.net_max_kbyte, Some(1000));
    assert_eq!(web.attributes.net_share, Some(2));
    assert_eq!(web.attributes.net_thresh_kbyte, None);
    assert_eq!(
        web.contacts,
        ["ops@example.org", "o.wner+bw@mail.example.org"]
    );
    let alice = list.by_xid(1001).unwrap();
    assert_eq!(alice.name, "alice_1.x-y");
    assert_eq!(
        alice.source,
        SliceSource::User {
            name: "alice".into()
        }
    );
    assert!(alice.contacts.is_empty());
    assert_eq!(list.get("B").unwrap().xid, u32::MAX);
    assert!(list.get("nope").is_none());
    assert!(load(r#"{"slices": []}"#, UID).unwrap().slices().is_empty());
}

#[test]
fn cgroup_slices_resolve_to_their_id_and_its_low_32_bits() {
    let text = r#"{"slices": [
        {"name": "web", "cgroup": "/web.slice"},
        {"name": "db", "cgroup": "/db.slice/main", "contacts": ["db@example.org"]}
    ]}"#;
    let list = load(text, SliceIdMode::Cgroup).unwrap();
    let db = list.get("db").unwrap();
    assert_eq!(db.xid, 77);
    assert_eq!(
        db.source,
        SliceSource::Cgroup {
            path: "/db.slice/main".into(),
            id: (1 << 32) + 77
        }
    );
    assert_eq!(list.get("web").unwrap().xid, 4242);
}

#[test]
fn lists_round_trip_through_json() {
    let cgroup_list = r#"{"slices": [{"name": "web", "cgroup": "/web.slice"}]}"#;
    for (text, mode) in [(LIST, UID), (cgroup_list, SliceIdMode::Cgroup)] {
        let list = load(text, mode).unwrap();
        let json = list.to_json().unwrap();
        assert!(
            !json.contains("null"),
            "unset attributes are left out: {json}"
        );
        assert_eq!(load(&json, mode).unwrap(), list, "{json}");
    }
}

#[test]
fn syntax_and_type_errors_name_line_column_and_field() {
    assert_problem(
        &one(r#"{"name": "a", "xid": 1, "colour": "red"}"#),
        UID,
        "1:44",
        "slices[0].colour",
        "unknown field `colour`",
    );
    assert_problem(
        &one(r#"{"name": "a", "xid": 1, "attributes": {"net_maxkbyte": 5}}"#),
        UID,
        "1:65",
        "slices[0].attributes.net_maxkbyte",
        "unknown field `net_maxkbyte`",
    );
    assert_problem(
        "{\"slices\": [],\n \"version\": 2}",
        UID,
        "2:10",
        "version",
        "unknown field `version`",
    );
    assert_problem(
        "{\"slices\": [\n {\"name\": \"a\", \"xid\": -1}]}",
        UID,
        "2:24",
        "slices[0].xid",
        "expected u32",
    );
    assert_problem(
        &one(r#"{"name": "a", "xid": 4294967296}"#),
        UID,
        "1:43",
        "slices[0].xid",
        "expected u32",
    );
    assert_problem(
        &one(r#"{"name": "a", "xid": 1, "attributes": {"net_max_kbyte": "5"}}"#),
        UID,
        "1:71",
        "slices[0].attributes.net_max_kbyte",
        "invalid type: string",
    );
    assert_problem(
        &one(r#"{"name": "a", "xid": 1, "x\ny": 1}"#),
        UID,
        "1:42",
        "slices[0].x\\ny",
        "unknown field `x\\ny`",
    );
    assert_problem("{}", UID, "1:2", "", "missing field `slices`");
    assert_problem("{\"slices\": [", UID, "1:12", "", "EOF while parsing");
    assert_problem(
        "{\"slices\": []} []",
        UID,
        "1:16",
        "",
        "trailing characters",
    );
    assert_problem("", UID, "1:1", "", "EOF while parsing");
}

#[test]
fn names_are_checked() {
    let long = "n".repeat(65);
    for (name, fragment) in [
        ("", "not a valid slice name"),
        (long.as_str(), "not a valid slice name"),
        ("a b", "not a valid slice name"),
        ("a\\r\\nSubject: x", "not a valid slice name"),
        ("caf\\u00e9", "not a valid slice name"),
        ("-a", "not a valid slice name"),
        (".a", "not a valid slice name"),
        ("root", "reserved for a built-in slice"),
        ("Default", "reserved for a built-in slice"),
    ] {
        let text = one(&format!(r#"{{"name": "{name}", "xid": 5}}"#));
        assert_problem(&text, UID, "1:22", "slices[0].name", fragment);
    }
    assert!(check_slice_name(&"n".repeat(64)).is_ok());
    assert!(check_slice_name("_x.1-A").is_ok());
    assert!(check_slice_name("9lives").is_ok());
}

#[test]
fn names_and_xids_are_unique() {
    let text =
        "{\"slices\": [\n {\"name\": \"a\", \"xid\": 5},\n {\"name\": \"a\", \"xid\": 6}\n]}";
    assert_problem(
        text,
        UID,
        "3:11",
        "slices[1].name",
        "already defined at slices[0]",
    );
    let text = "{\"slices\": [\n {\"name\": \"a\", \"xid\": 1001},\n {\"name\": \"b\", \"user\": \"alice\"}\n]}";
    assert_problem(
        text,
        UID,
        "3:24",
        "slices[1].user",
        "slice \"b\": xid 1001 is already used by slices[0]",
    );
    let text =
        r#"{"slices": [{"name": "a", "cgroup": "/web.slice"}, {"name": "b", "cgroup": "/alias"}]}"#;
    assert_problem(
        text,
        SliceIdMode::Cgroup,
        "1:76",
        "slices[1].cgroup",
        "xid 4242 is already used",
    );
}

#[test]
fn exactly_one_identity_is_given() {
    for (slice, found) in [
        (r#"{"name": "a"}"#, "found none"),
        (
            r#"{"name": "a", "xid": 1, "user": "bob"}"#,
            "found xid and user",
        ),
        (
            r#"{"name": "a", "xid": 1, "user": "bob", "cgroup": "/x"}"#,
            "found xid and user and cgroup",
        ),
    ] {
        assert_problem(&one(slice), UID, "1:13", "slices[0]", found);
    }
}

#[test]
fn identities_must_suit_the_slice_id_mode() {
    let cases = [
        (
            r#"{"name": "a", "cgroup": "/web.slice"}"#,
            UID,
            "given by xid or user, not cgroup",
        ),
        (
            r#"{"name": "a", "user": "bob"}"#,
            SliceIdMode::Mark,
            "given by xid (the mark), not user",
        ),
        (
            r#"{"name": "a", "cgroup": "/web.slice"}"#,
            SliceIdMode::Mark,
            "not cgroup",
        ),
        (
            r#"{"name": "a", "xid": 7}"#,
            SliceIdMode::Cgroup,
            "given by cgroup, not xid",
        ),
        (
            r#"{"name": "a", "user": "bob"}"#,
            SliceIdMode::Cgroup,
            "given by cgroup, not user",
        ),
    ];
    for (slice, mode, fragment) in cases {
        let error = rendered_error(&one(slice), mode);
        assert!(error.contains(": slices[0]."), "{error}");
        assert!(error.contains(fragment), "{error:?} lacks {fragment:?}");
    }
    let marks = load(&one(r#"{"name": "a", "xid": 7}"#), SliceIdMode::Mark).unwrap();
    assert_eq!(marks.get("a").unwrap().xid, 7);
}

#[test]
fn xid_zero_is_reserved() {
    assert_problem(
        &one(r#"{"name": "a", "xid": 0}"#),
        UID,
        "1:34",
        "slices[0].xid",
        "xid 0 is the built-in root slice",
    );
    assert_problem(
        &one(r#"{"name": "a", "user": "root"}"#),
        UID,
        "1:35",
        "slices[0].user",
        "xid 0 is the built-in root slice",
    );
    assert_problem(
        &one(r#"{"name": "a", "xid": 0}"#),
        SliceIdMode::Mark,
        "1:34",
        "slices[0].xid",
        "mark 0 is unmarked traffic",
    );
}

#[test]
fn users_are_resolved_through_the_user_database() {
    assert_problem(
        &one(r#"{"name": "a", "user": "carol"}"#),
        UID,
        "1:35",
        "slices[0].user",
        "no user \"carol\" in the passwd database",
    );
    assert_problem(
        &one(r#"{"name": "a", "user": "broken"}"#),
        UID,
        "1:35",
        "slices[0].user",
        "cannot look up user \"broken\": NSS back end unavailable",
    );
    assert_problem(
        &one(r#"{"name": "a", "user": "x y"}"#),
        UID,
        "1:35",
        "slices[0].user",
        "not a valid user or group name",
    );
}

#[test]
fn cgroup_paths_are_checked_and_resolved() {
    for path in ["", "web.slice", "/", "/a//b", "/a/../b", "/a/./b", "/a/"] {
        let text = one(&format!(r#"{{"name": "a", "cgroup": "{path}"}}"#));
        assert_problem(
            &text,
            SliceIdMode::Cgroup,
            "1:37",
            "slices[0].cgroup",
            "is not a cgroup path below the root",
        );
    }
    assert_problem(
        &one(r#"{"name": "a", "cgroup": "/gone"}"#),
        SliceIdMode::Cgroup,
        "1:37",
        "slices[0].cgroup",
        "cannot resolve cgroup \"/gone\"",
    );
}

#[test]
fn contacts_must_be_addresses() {
    for (contact, fragment) in [
        ("", "no @"),
        ("owner", "no @"),
        ("a@b\\r\\nBcc: x@y", "control character"),
        ("a b@example.org", "not a valid e-mail address"),
        ("@example.org", "not a valid e-mail address"),
        ("a..b@example.org", "not a valid e-mail address"),
        ("a@-example.org", "invalid domain"),
        ("a@exa_mple.org", "invalid domain"),
        ("<a@example.org>", "not a valid e-mail address"),
    ] {
        let text = one(&format!(
            r#"{{"name": "a", "xid": 5, "contacts": ["ok@example.org", "{contact}"]}}"#
        ));
        assert_problem(&text, UID, "1:68", "slices[0].contacts[1]", fragment);
    }
}

#[test]
fn attributes_are_checked_where_they_are() {
    let text = "{\"slices\": [\n {\"name\": \"a\", \"xid\": 5, \"attributes\": {\n   \"net_max_kbyte\": 10,\n   \"net_thresh_kbyte\": 20}}]}";
    assert_problem(
        text,
        UID,
        "4:24",
        "slices[0].attributes.net_thresh_kbyte",
        "20 KByte exceeds net_max_kbyte (10 KByte)",
    );
    for (attribute, fragment) in [
        (
            "\"net_min_rate\": 10, \"net_max_rate\": 5",
            "exceeds net_max_rate",
        ),
        (
            "\"net_i2_min_rate\": 10, \"net_i2_max_rate\": 5",
            "exceeds net_i2_max_rate",
        ),
        (
            "\"net_i2_thresh_kbyte\": 10, \"net_i2_max_kbyte\": 5",
            "exceeds net_i2_max_kbyte",
        ),
        ("\"net_max_rate\": 0", "at least 1 kbit/s"),
        ("\"net_i2_max_rate\": 0", "at least 1 kbit/s"),
        ("\"net_share\": 0", "at least 1"),
        ("\"net_max_rate\": 18446744073709552", "too large"),
        ("\"net_max_kbyte\": 18014398509481984", "too large"),
    ] {
        let text = one(&format!(
            r#"{{"name": "a", "xid": 5, "attributes": {{{attribute}}}}}"#
        ));
        let error = rendered_error(&text, UID);
        assert!(error.contains(": slices[0].attributes.net_"), "{error}");
        assert!(error.contains(fragment), "{error:?} lacks {fragment:?}");
    }
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = r#"{"slices": [
  {"name": "a", "xid": 1},
  {"name": "a", "xid": 1, "contacts": ["x"]},
  {"name": "root", "user": "root"},
  {"name": "b\nc", "user": "bob", "xid": 3},
  {"name": "c", "cgroup": "/web.slice", "attributes": {"net_share": 0}}
]}"#;
    let error = load(text, UID).unwrap_err();
    let expected = [
        ":3:12: slices[1].name: slice \"a\" is already defined at slices[0]",
        ":3:24: slices[1].xid: slice \"a\": xid 1 is already used by slices[0]",
        ":3:40: slices[1].contacts[0]: slice \"a\": \"x\" is not an e-mail address (no @)",
        ":4:12: slices[2].name: \"root\" is reserved for a built-in slice",
        ":4:28: slices[2].user: slice \"root\": xid 0 is the built-in root slice",
        ":5:3: slices[3]: slice \"b\\nc\": give exactly one of xid, user or cgroup (found xid and user)",
        ":5:12: slices[3].name: \"b\\nc\" is not a valid slice name",
        ":6:27: slices[4].cgroup: slice \"c\": with slice_id = \"uid\" a slice is given by xid or user, not cgroup",
        ":6:69: slices[4].attributes.net_share: a share must be at least 1",
    ];
    let rendered = error.to_string();
    let lines: Vec<&str> = rendered.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{rendered}");
    for (line, expected) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("{FILE}{expected}")),
            "{line:?} vs {expected:?}"
        );
    }
}

#[test]
fn load_reads_the_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slices.json");
    let error = SliceList::load(&path, UID, &users(), &cgroups()).unwrap_err();
    assert!(matches!(error, SliceListError::Read { .. }));
    assert!(
        error.to_string().starts_with(&path.display().to_string()),
        "{error}"
    );
    std::fs::write(&path, LIST).unwrap();
    let list = SliceList::load(&path, UID, &users(), &cgroups()).unwrap();
    assert_eq!(list.slices().len(), 3);
    std::fs::write(&path, one(r#"{"name": "a", "xid": 0}"#)).unwrap();
    let error = SliceList::load(&path, UID, &users(), &cgroups()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:1:34: slices[0].xid: slice \"a\": xid 0 is the built-in root slice",
            path.display()
        )
    );
}

#[test]
fn problems_in_a_large_list_are_all_located() {
    let count = 4096;
    let entries: Vec<String> = (0..count)
        .map(|i| {
            format!("  {{\"name\": \"s{i}\", \"xid\": 0, \"contacts\": [\"a{i}@example.org\"]}}")
        })
        .collect();
    let text = format!("{{\"slices\": [\n{}\n]}}", entries.join(",\n"));
    let SliceListError::Invalid(problems) = load(&text, UID).unwrap_err() else {
        panic!("not a validation error")
    };
    assert_eq!(problems.problems.len(), count);
    for (i, problem) in problems.problems.iter().enumerate() {
        assert_eq!(
            problem.field.as_deref(),
            Some(format!("slices[{i}].xid").as_str())
        );
        let position = problem.position.unwrap();
        assert_eq!(
            (position.line, position.column),
            (i + 2, 24 + i.to_string().len())
        );
    }
}
