//! Where a problem in a TOML or JSON file is, and how a list of problems renders.
//!
//! Type and syntax errors come from the parsers (a byte span from `toml`, a line and column from
//! `serde_json`) with the field path that `serde_path_to_error` tracked. Semantic problems are
//! found on the parsed values and recorded as (field path, message); the path is then located by
//! re-reading the document with its spans (`toml::de::DeTable`, or borrowed
//! `serde_json::value::RawValue`s, whose slices point into the text). So every problem names the
//! file, the line and column of the offending value, and the field.
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A field path such as `slices[3].attributes.net_max_kbyte` or `email.smtp_host`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    pub fn key(&self, key: &str) -> FieldPath {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_owned()));
        next
    }

    pub fn index(&self, index: usize) -> FieldPath {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path `serde_path_to_error` tracked while deserializing.
    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> FieldPath {
        use serde_path_to_error::Segment as S;
        let segments = path.iter().filter_map(|segment| match segment {
            S::Seq { index } => Some(Segment::Index(*index)),
            S::Map { key } => Some(Segment::Key(key.clone())),
            S::Enum { variant } => Some(Segment::Key(variant.clone())),
            S::Unknown => None,
        });
        FieldPath(segments.collect())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (clamped to the text).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        LineIndex::new(text).position(offset)
    }
}

/// Start offsets of a text's lines, to turn many offsets into positions without rescanning.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let breaks = text.match_indices('\n').map(|(i, _)| i + 1);
        LineIndex {
            text,
            starts: std::iter::once(0).chain(breaks).collect(),
        }
    }

    pub(crate) fn position(&self, offset: usize) -> Position {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        // `starts[0]` is 0 <= end, so at least one line starts at or before `end`.
        let line = self.starts.partition_point(|&start| start <= end);
        let start = self.starts[line - 1];
        Position {
            line,
            column: self.text[start..end].chars().count() + 1,
        }
    }
}

/// One thing wrong with a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where the offending value (or syntax error) is; `None` only if it could not be located.
    pub position: Option<Position>,
    /// The field, e.g. `email.smtp_host`; `None` for syntax errors and top-level problems.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    /// Control characters in the field or message (which may quote the file) are escaped, so a
    /// problem always renders as one line.
    pub(crate) fn new(position: Option<Position>, field: &FieldPath, message: String) -> Problem {
        let field = (!field.is_root()).then(|| printable(&field.to_string()));
        Problem {
            position,
            field,
            message: printable(&message),
        }
    }
}

fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Every problem found in one file; renders one `file:line:column: field: message` line each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(Position { line, column }) = problem.position {
                write!(f, ":{line}:{column}")?;
            }
            if let Some(field) = &problem.field {
                write!(f, ": {field}")?;
            }
            write!(f, ": {}", problem.message)?;
        }
        Ok(())
    }
}

/// Semantic problems gathered while validating, each with the path of the offending value.
#[derive(Debug, Default)]
pub(crate) struct Findings(Vec<(FieldPath, String)>);

impl Findings {
    pub(crate) fn push(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.0.push((path.clone(), message.into()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Locates every finding with `locate` (path → byte offset in `text`), in file order.
    pub(crate) fn locate(
        self,
        text: &str,
        mut locate: impl FnMut(&FieldPath) -> Option<usize>,
    ) -> Vec<Problem> {
        let lines = LineIndex::new(text);
        let mut problems: Vec<Problem> = self
            .0
            .into_iter()
            .map(|(path, message)| {
                let position = locate(&path).map(|offset| lines.position(offset));
                Problem::new(position, &path, message)
            })
            .collect();
        problems.sort_by_key(|p| p.position.map(|pos| (pos.line, pos.column)));
        problems
    }
}

/// Finds where values are in a TOML document, parsing it once.
pub(crate) struct TomlLocator<'a> {
    root: Option<Spanned<DeValue<'a>>>,
}

impl<'a> TomlLocator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let root = DeTable::parse(text).ok().map(|table| {
            let span = table.span();
            Spanned::new(span, DeValue::Table(table.into_inner()))
        });
        TomlLocator { root }
    }

    /// Byte offset of the value at `path`, or of its nearest ancestor present in the document.
    pub(crate) fn offset(&self, path: &FieldPath) -> Option<usize> {
        let mut current = self.root.as_ref()?;
        for segment in path.segments() {
            let next = match segment {
                Segment::Key(key) => current.get_ref().get(key.as_str()),
                Segment::Index(index) => current.get_ref().get(*index),
            };
            match next {
                Some(next) => current = next,
                None => break,
            }
        }
        Some(current.span().start)
    }
}

/// Finds where values are in a JSON document, parsing each object or array on the way once
/// (a list of thousands of slices, each with a problem, is located in one pass).
pub(crate) struct JsonLocator<'a> {
    text: &'a str,
    root: Option<&'a RawValue>,
    /// The members of each container visited so far, by the container's offset.
    children: HashMap<usize, Children<'a>>,
}

enum Children<'a> {
    Object(BTreeMap<String, &'a RawValue>),
    Array(Vec<&'a RawValue>),
    Scalar,
}

impl<'a> JsonLocator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        JsonLocator {
            text,
            root: serde_json::from_str(text).ok(),
            children: HashMap::new(),
        }
    }

    /// Byte offset of the value at `path`, or of its nearest ancestor present in the document.
    pub(crate) fn offset(&mut self, path: &FieldPath) -> Option<usize> {
        let mut current = self.root?;
        for segment in path.segments() {
            let raw = current.get();
            let children = self
                .children
                .entry(offset_in(self.text, raw)?)
                .or_insert_with(|| {
                    if raw.starts_with('{') {
                        serde_json::from_str(raw).map_or(Children::Scalar, Children::Object)
                    } else if raw.starts_with('[') {
                        serde_json::from_str(raw).map_or(Children::Scalar, Children::Array)
                    } else {
                        Children::Scalar
                    }
                });
            let next = match (segment, &*children) {
                (Segment::Key(key), Children::Object(map)) => map.get(key).copied(),
                (Segment::Index(index), Children::Array(items)) => items.get(*index).copied(),
                _ => None,
            };
            match next {
                Some(next) => current = next,
                None => break,
            }
        }
        offset_in(self.text, current.get())
    }
}

/// Where `part`, a slice borrowed from `text`, starts in it.
fn offset_in(text: &str, part: &str) -> Option<usize> {
    (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)
}

/// A `toml` error (syntax, type or unknown key) with the path it occurred at.
pub(crate) fn toml_problem(
    text: &str,
    error: &toml::de::Error,
    path: &FieldPath,
    hint: impl Fn(&str) -> Option<&'static str>,
) -> Problem {
    let position = error
        .span()
        .map(|span| Position::of_offset(text, span.start));
    let mut message = error.message().trim_end().to_owned();
    if let Some(hint) = hint(&message) {
        message.push_str(hint);
    }
    Problem::new(position, path, message)
}

/// A `serde_json` error with the path it occurred at; the position suffix of its message is
/// moved into the problem's position.
pub(crate) fn json_problem(error: &serde_json::Error, path: &FieldPath) -> Problem {
    let mut message = error.to_string();
    let position = (error.line() > 0).then(|| {
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        if message.ends_with(&suffix) {
            message.truncate(message.len() - suffix.len());
        }
        Position {
            line: error.line(),
            column: error.column().max(1),
        }
    });
    let path = match error.classify() {
        serde_json::error::Category::Data => path.clone(),
        _ => FieldPath::default(),
    };
    Problem::new(position, &path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\r\nnamé = \"x\"\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        let x = text.find('"').unwrap();
        assert_eq!(
            Position::of_offset(text, x),
            Position { line: 2, column: 8 }
        );
        // Inside a multi-byte character, and past the end: clamped.
        let e = text.find('é').unwrap() + 1;
        assert_eq!(
            Position::of_offset(text, e),
            Position { line: 2, column: 4 }
        );
        assert_eq!(
            Position::of_offset(text, 999),
            Position { line: 3, column: 1 }
        );
    }

    #[test]
    fn paths_render_like_serde_path_to_error() {
        let path = FieldPath::default()
            .key("slices")
            .index(3)
            .key("attributes")
            .key("net_max_kbyte");
        assert_eq!(path.to_string(), "slices[3].attributes.net_max_kbyte");
        assert!(FieldPath::default().is_root());
    }

    #[test]
    fn locators_find_values_or_their_nearest_ancestor() {
        let toml = "[email]\ntransport = \"smtp\"\n";
        let transport = FieldPath::default().key("email").key("transport");
        let locator = TomlLocator::new(toml);
        assert_eq!(locator.offset(&transport), toml.find("\"smtp"));
        let absent = FieldPath::default().key("email").key("smtp_host");
        let email = FieldPath::default().key("email");
        assert_eq!(locator.offset(&absent), locator.offset(&email));
        assert!(
            locator
                .offset(&email)
                .is_some_and(|offset| offset < toml.find('\n').unwrap())
        );
        let json = "{\"slices\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}";
        let name = FieldPath::default().key("slices").index(1).key("name");
        let mut locator = JsonLocator::new(json);
        assert_eq!(locator.offset(&name), json.find("\"b\""));
        let missing = FieldPath::default().key("slices").index(7);
        assert_eq!(locator.offset(&missing), json.find('['));
        let through_a_string = name.key("deeper");
        assert_eq!(locator.offset(&through_a_string), json.find("\"b\""));
        assert_eq!(JsonLocator::new("not json").offset(&name), None);
    }

    #[test]
    fn problems_render_on_one_line_each_with_control_characters_escaped() {
        let field = FieldPath::default().key("a\nb");
        let problem = Problem::new(Some(Position { line: 2, column: 3 }), &field, "x\ry".into());
        let problems = Problems {
            file: "/f".into(),
            problems: vec![problem.clone(), problem],
        };
        assert_eq!(
            problems.to_string(),
            "/f:2:3: a\\nb: x\\ry\n/f:2:3: a\\nb: x\\ry"
        );
    }
}
