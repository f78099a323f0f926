//! Reviewers' decisions per source column, kept in the project as a TOML file that diffs cleanly
//! in git (`mappings/migration-map.toml` or wherever the CLI puts it).
//!
//! The file lists every column the last imported workbook held, one `[columns.TABLE."COLUMN"]`
//! section each, in sorted order; a section with no keys is a column nobody has decided yet. So the
//! file also records which columns existed at the last import, and a re-profiled snapshot can tell
//! new columns from old ones.
//!
//! ```toml
//! format = 1
//! snapshot = 3
//!
//! [columns.patients."dob"]
//! decision = "discrete"
//! target_resource = "Patient"
//! target_field = "birthDate"
//! reviewer = "J. Smith"
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ReportError;
use crate::fsutil::{Contents, write_atomic};

/// Bumped when the decisions file changes meaning.
pub const DECISIONS_FORMAT: u32 = 1;

/// One reviewer decision for one column. Every field is optional: an empty decision is a column
/// nobody has decided yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDecision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The FHIR resource the column goes to, e.g. `Patient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_resource: Option<String>,
    /// The element in that resource, e.g. `birthDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
}

impl ColumnDecision {
    /// True when no field is filled in.
    pub fn is_empty(&self) -> bool {
        self.decision.is_none()
            && self.target_resource.is_none()
            && self.target_field.is_none()
            && self.notes.is_none()
            && self.reviewer.is_none()
    }
}

/// How a column is migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Migrated as discrete FHIR data.
    Discrete,
    /// Put into a historical summary document.
    Summary,
    /// Kept in the archive of the legacy database only.
    Archive,
    /// Not migrated.
    Skip,
}

impl Decision {
    /// Every decision, in the order the workbook's dropdown offers them.
    pub const ALL: [Decision; 4] = [
        Decision::Discrete,
        Decision::Summary,
        Decision::Archive,
        Decision::Skip,
    ];

    /// How the workbook shows it: `discrete`, `summary document`, `archive`, `skip`.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Discrete => "discrete",
            Decision::Summary => "summary document",
            Decision::Archive => "archive",
            Decision::Skip => "skip",
        }
    }

    /// How the decisions file spells it: `discrete`, `summary`, `archive`, `skip`.
    pub fn key(self) -> &'static str {
        match self {
            Decision::Discrete => "discrete",
            Decision::Summary => "summary",
            Decision::Archive => "archive",
            Decision::Skip => "skip",
        }
    }

    /// Reads a workbook cell: the label or the key, ignoring case and surrounding spaces.
    pub fn from_label(s: &str) -> Option<Decision> {
        let s = s.trim();
        Decision::ALL
            .into_iter()
            .find(|d| d.label().eq_ignore_ascii_case(s) || d.key().eq_ignore_ascii_case(s))
    }
}

/// Table -> column -> decision. BTreeMaps so the file is deterministic and diffs cleanly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationMap {
    /// The snapshot whose profile the reviewed workbook was written from.
    pub snapshot: Option<u64>,
    pub columns: BTreeMap<String, BTreeMap<String, ColumnDecision>>,
}

impl MigrationMap {
    /// The decision for one column, if the map knows the column.
    pub fn get(&self, table: &str, column: &str) -> Option<&ColumnDecision> {
        self.columns.get(table)?.get(column)
    }

    /// How many columns the map knows.
    pub fn len(&self) -> usize {
        self.columns.values().map(BTreeMap::len).sum()
    }

    /// True when the map knows no column.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many columns have a decision (`discrete`, `summary`, `archive` or `skip`).
    pub fn decided(&self) -> usize {
        self.columns
            .values()
            .flat_map(BTreeMap::values)
            .filter(|d| d.decision.is_some())
            .count()
    }

    /// Sets the decision of one column.
    pub fn insert(&mut self, table: &str, column: &str, decision: ColumnDecision) {
        self.columns
            .entry(table.to_string())
            .or_default()
            .insert(column.to_string(), decision);
    }
}

/// The file as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    format: Option<u32>,
    snapshot: Option<u64>,
    #[serde(default)]
    columns: BTreeMap<String, BTreeMap<String, ColumnDecision>>,
}

/// Reads a decisions file. A missing file is an empty map (nothing imported yet).
pub fn read(path: &Path) -> Result<MigrationMap, ReportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MigrationMap::default()),
        Err(e) => return Err(ReportError::io(path, e)),
    };
    from_toml(&text).map_err(|e| match e {
        ParseError::Syntax {
            line,
            column,
            message,
        } => ReportError::DecisionsSyntax {
            path: path.to_path_buf(),
            line,
            column,
            message,
        },
        ParseError::Format(found) => ReportError::DecisionsFormat {
            path: path.to_path_buf(),
            found,
            supported: DECISIONS_FORMAT,
        },
    })
}

enum ParseError {
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    Format(u32),
}

fn from_toml(text: &str) -> Result<MigrationMap, ParseError> {
    let repr: FileRepr = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((1, 1));
        // The message alone: toml's Display quotes the offending line, which may hold notes.
        ParseError::Syntax {
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })?;
    if let Some(found) = repr.format
        && found > DECISIONS_FORMAT
    {
        return Err(ParseError::Format(found));
    }
    Ok(MigrationMap {
        snapshot: repr.snapshot,
        columns: repr.columns,
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Writes a decisions file atomically (a temporary file renamed over the old one).
pub fn write(path: &Path, map: &MigrationMap) -> Result<(), ReportError> {
    let text = to_toml(map);
    write_atomic(path, Contents::Project, |w| w.write_all(text.as_bytes()))
}

const HEADER: &str = "\
# Ferry migration map: the reviewers' decision for each column of the legacy database.
# Written by `ferry map import` from the reviewed workbook; keep it in git.
# One [columns.TABLE.\"COLUMN\"] section per column, sorted; a section without keys is a column
# nobody has decided yet.
#   decision        = \"discrete\" | \"summary\" | \"archive\" | \"skip\"
#                     (discrete FHIR data | summary document | archive only | not migrated)
#   target_resource = the FHIR resource, e.g. \"Patient\"
#   target_field    = the element in it, e.g. \"birthDate\"
#   notes, reviewer = free text
";

/// The decisions file's text: same map, same bytes.
pub fn to_toml(map: &MigrationMap) -> String {
    let mut out = String::from(HEADER);
    let _ = writeln!(out);
    let _ = writeln!(out, "format = {DECISIONS_FORMAT}");
    if let Some(s) = map.snapshot {
        let _ = writeln!(out, "snapshot = {s}");
    }
    for (table, columns) in &map.columns {
        for (column, d) in columns {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "[columns.{}.{}]",
                toml_key(table),
                toml_basic_string(column)
            );
            if let Some(dec) = d.decision {
                let _ = writeln!(out, "decision = \"{}\"", dec.key());
            }
            let fields = [
                ("target_resource", &d.target_resource),
                ("target_field", &d.target_field),
                ("notes", &d.notes),
                ("reviewer", &d.reviewer),
            ];
            for (name, value) in fields {
                if let Some(v) = value {
                    let _ = writeln!(out, "{name} = {}", toml_basic_string(v));
                }
            }
        }
    }
    out
}

/// A key bare when TOML allows it, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_string()
    } else {
        toml_basic_string(key)
    }
}

/// A TOML basic string on one line: newlines and other control characters escaped, so each
/// value stays on its own line and diffs cleanly.
fn toml_basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What changed between two maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Columns in the new map and not the old one: (table, column).
    pub added: Vec<(String, String)>,
    /// Columns in the old map and not the new one: (table, column).
    pub removed: Vec<(String, String)>,
    /// (table, column, what changed), one entry per field, e.g. `decision: skip -> discrete`.
    /// Notes are not quoted (`notes: edited`); other fields show old and new values.
    pub changed: Vec<(String, String, String)>,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What changed from `old` to `new`, in table and column order.
pub fn diff(old: &MigrationMap, new: &MigrationMap) -> Changes {
    let mut changes = Changes::default();
    let empty = BTreeMap::new();
    let tables: std::collections::BTreeSet<&String> =
        old.columns.keys().chain(new.columns.keys()).collect();
    for table in tables {
        let o = old.columns.get(table).unwrap_or(&empty);
        let n = new.columns.get(table).unwrap_or(&empty);
        let columns: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for column in columns {
            match (o.get(column), n.get(column)) {
                (None, Some(_)) => changes.added.push((table.clone(), column.clone())),
                (Some(_), None) => changes.removed.push((table.clone(), column.clone())),
                (Some(a), Some(b)) => {
                    for what in field_changes(a, b) {
                        changes.changed.push((table.clone(), column.clone(), what));
                    }
                }
                (None, None) => {}
            }
        }
    }
    changes
}

fn field_changes(a: &ColumnDecision, b: &ColumnDecision) -> Vec<String> {
    let mut out = Vec::new();
    if a.decision != b.decision {
        out.push(format!(
            "decision: {} -> {}",
            a.decision.map_or("(none)", Decision::key),
            b.decision.map_or("(none)", Decision::key)
        ));
    }
    let shown = [
        ("target resource", &a.target_resource, &b.target_resource),
        ("target field", &a.target_field, &b.target_field),
        ("reviewer", &a.reviewer, &b.reviewer),
    ];
    for (name, x, y) in shown {
        if x != y {
            out.push(format!(
                "{name}: {} -> {}",
                x.as_deref().unwrap_or("(none)"),
                y.as_deref().unwrap_or("(none)")
            ));
        }
    }
    match (&a.notes, &b.notes) {
        (None, Some(_)) => out.push("notes: added".to_string()),
        (Some(_), None) => out.push("notes: removed".to_string()),
        (Some(x), Some(y)) if x != y => out.push("notes: edited".to_string()),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_labels_parse_back_in_any_case() {
        for d in Decision::ALL {
            assert_eq!(Decision::from_label(d.label()), Some(d));
            assert_eq!(Decision::from_label(d.key()), Some(d));
            assert_eq!(
                Decision::from_label(&format!("  {}  ", d.label().to_uppercase())),
                Some(d)
            );
        }
        assert_eq!(Decision::from_label("maybe"), None);
        assert_eq!(Decision::from_label(""), None);
    }

    #[test]
    fn control_characters_are_escaped_on_one_line() {
        let s = toml_basic_string("a\"b\\c\nd\u{1}\u{7f}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001\\u007F\"");
        let parsed: toml::Table = toml::from_str(&format!("k = {s}")).unwrap();
        assert_eq!(parsed["k"].as_str(), Some("a\"b\\c\nd\u{1}\u{7f}"));
    }

    #[test]
    fn table_keys_are_bare_only_when_toml_allows() {
        assert_eq!(toml_key("patients"), "patients");
        assert_eq!(toml_key("lab-results_2"), "lab-results_2");
        assert_eq!(toml_key("dbo.patients"), "\"dbo.patients\"");
        assert_eq!(toml_key(""), "\"\"");
        assert_eq!(toml_key("pätients"), "\"pätients\"");
    }

    #[test]
    fn syntax_errors_give_line_and_column_without_the_line_text() {
        let text = "format = 1\n[columns.t.\"c\"]\nnotes = \"Jane Doe\nunterminated\n";
        match from_toml(text) {
            Err(ParseError::Syntax {
                line,
                column,
                message,
            }) => {
                assert!((3..=4).contains(&line), "line {line}");
                assert!(column >= 1);
                assert!(!message.contains("Jane"), "{message}");
            }
            _ => panic!("expected a syntax error"),
        }
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = "[columns.t.\"c\"]\ndesicion = \"skip\"\n";
        assert!(matches!(
            from_toml(text),
            Err(ParseError::Syntax { line: 2, .. })
        ));
    }

    #[test]
    fn newer_format_is_rejected() {
        assert!(matches!(
            from_toml("format = 99\n"),
            Err(ParseError::Format(99))
        ));
    }
}
