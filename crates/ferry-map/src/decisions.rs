//! Reviewers' decisions on classes of exceptions (`mappings/decisions.toml`, text in git): what
//! to do with the rows a module could not convert, re-applied by every later run and by verify.
//!
//! A decision names a module and which of its exceptions it covers (`element`, the raw `value`,
//! part of the `reason`; every one given must match), and an action:
//!
//! - `exclude`: the row is excluded, by rule `decision:ID`, with the decision's `why`;
//! - `default`: the failing element takes the decision's `default` value;
//! - `text`: the failing element is left out and the raw value goes to `path` (for example
//!   `code.text`) of the same resource;
//! - `map`: the raw `value` maps to `code` (`display`, `system`) in concept map `concept_map`:
//!   the entry is added to that concept map when the project loads, so every lookup finds it.
//!
//! Each migrated row a decision changed records the decision's id in the run's lineage;
//! [`take_used`] gives the decisions one row's evaluation used.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::Value as Json;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, Diags};
use crate::eval::FieldError;
use crate::module::{Table, get, string, table, unknown_keys};
use crate::path::{Segment, parse_path};

/// The decisions file's name in `mappings/`.
pub const DECISIONS_FILE: &str = "decisions.toml";

/// The exclusion rule a decision's exclusions are recorded under: `decision:ID`.
pub fn exclusion_rule(id: &str) -> String {
    format!("decision:{id}")
}

const DECISION_KEYS: &[&str] = &[
    "id",
    "module",
    "element",
    "value",
    "reason",
    "action",
    "default",
    "path",
    "concept_map",
    "code",
    "display",
    "system",
    "by",
    "at",
    "why",
];

/// What a decision does with the exceptions it covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Exclude,
    Default(Json),
    Text {
        path: String,
        segments: Vec<Segment>,
    },
    Map {
        concept_map: String,
        code: String,
        display: Option<String>,
        system: Option<String>,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Exclude => "exclude",
            Action::Default(_) => "default",
            Action::Text { .. } => "text",
            Action::Map { .. } => "map",
        }
    }
}

/// One reviewer decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub id: String,
    pub module: String,
    /// `Type.path` as `ferry exceptions --list` shows it (or a row-level `source.key`,
    /// `exclude.NAME`, `resource.when`).
    pub element: Option<String>,
    /// The raw source value, exactly.
    pub value: Option<String>,
    /// Part of the exception's reason.
    pub reason: Option<String>,
    pub action: Action,
    pub by: String,
    pub at: String,
    pub why: String,
    /// 1-based line of the `[[decision]]` in the file.
    pub line: usize,
}

impl Decision {
    /// Whether this decision covers exception `e` of its module (a `map` decision covers the
    /// failed lookups of its value in its concept map, which it then makes succeed).
    pub fn covers(&self, e: &FieldError) -> bool {
        if let Action::Map { concept_map, .. } = &self.action {
            return e.raw_value.as_deref() == self.value.as_deref()
                && e.message == format!("code not in concept map `{concept_map}`");
        }
        if let Some(el) = &self.element {
            let full = if e.resource_type.is_empty() {
                e.path.clone()
            } else {
                format!("{}.{}", e.resource_type, e.path)
            };
            if *el != full && *el != e.path {
                return false;
            }
        }
        if let Some(v) = &self.value
            && e.raw_value.as_deref() != Some(v.as_str())
        {
            return false;
        }
        if let Some(r) = &self.reason
            && !e.message.contains(r.as_str())
        {
            return false;
        }
        true
    }
}

/// Every decision of a project, and the concept-map entries the `map` decisions add.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    pub list: Vec<Decision>,
    /// (concept map, normalised source value) -> index in `list`, for the `map` decisions.
    pub(crate) map_entries: HashMap<(String, String), u32>,
    /// The file they were read from (for messages).
    pub file: String,
}

impl Decisions {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, index: u32) -> Option<&Decision> {
        self.list.get(index as usize)
    }

    /// Indexes of the decisions of `module` that act on its rows (not `map` decisions, which
    /// act through their concept map).
    pub(crate) fn for_module(&self, module: &str) -> Vec<u32> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, d)| d.module == module && !matches!(d.action, Action::Map { .. }))
            .map(|(i, _)| i as u32)
            .collect()
    }
}

thread_local! {
    static USED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Records that the current row's evaluation used decision `index` (a `map` decision's entry
/// was looked up).
pub(crate) fn note_used(index: u32) {
    USED.with(|u| u.borrow_mut().push(index));
}

/// The decisions noted since the last call, sorted and deduplicated; clears the list.
pub(crate) fn take_used() -> Vec<u32> {
    USED.with(|u| {
        let mut v = std::mem::take(&mut *u.borrow_mut());
        v.sort_unstable();
        v.dedup();
        v
    })
}

fn json_of(v: &DeValue<'_>) -> Option<Json> {
    match v {
        DeValue::String(s) => Some(Json::String(s.to_string())),
        DeValue::Boolean(b) => Some(Json::Bool(*b)),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(Json::from),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number),
        _ => None,
    }
}

/// Parses `mappings/decisions.toml`: every decision that is well formed, and a diagnostic for
/// every problem (never stopping at the first).
pub fn parse(file: &str, text: &str) -> (Vec<Decision>, Vec<Diagnostic>) {
    let mut d = Diags::new(file, text);
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        d.error(at, format!("TOML: {}", e.message()));
    }
    let doc = doc.into_inner();
    unknown_keys(&doc, &["decision"], "the decisions file", &mut d);
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    if let Some(v) = get(&doc, "decision") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    let at = item.span().start;
                    if let Some(t) = table(item, "a `[[decision]]`", &mut d)
                        && let Some(dec) = parse_one(t, at, &mut d)
                    {
                        if !ids.insert(dec.id.clone()) {
                            d.error(
                                at,
                                format!(
                                    "decision `{}` is listed twice: give each decision its own id",
                                    dec.id
                                ),
                            );
                            continue;
                        }
                        out.push(dec);
                    }
                }
            }
            _ => d.error(
                v.span().start,
                "`decision` must be an array of tables, written `[[decision]]`",
            ),
        }
    }
    (out, d.list)
}

fn parse_one(t: &Table<'_>, at: usize, d: &mut Diags<'_>) -> Option<Decision> {
    unknown_keys(t, DECISION_KEYS, "a `[[decision]]`", d);
    let ctx = "a `[[decision]]`";
    let id = string(t, "id", ctx, true, at, d);
    let module = string(t, "module", ctx, true, at, d);
    let action = string(t, "action", ctx, true, at, d);
    let by = string(t, "by", ctx, true, at, d);
    let when = string(t, "at", ctx, true, at, d);
    let why = string(t, "why", ctx, true, at, d);
    let element = string(t, "element", ctx, false, at, d).map(|s| s.0);
    let value = string(t, "value", ctx, false, at, d).map(|s| s.0);
    let reason = string(t, "reason", ctx, false, at, d).map(|s| s.0);
    let (id, module, (action_name, action_span), by, when, why) =
        (id?, module?, action?, by?, when?, why?);
    if !crate::module::is_rule_name(&id.0) {
        d.error(
            id.1.start,
            "a decision id may hold only letters, digits, `-` and `_` (e.g. `D-0001`)",
        );
        return None;
    }
    for (what, (text, span)) in [("by", &by), ("why", &why)] {
        if text.trim().is_empty() {
            d.error(span.start, format!("`{what}` must not be empty"));
        }
    }
    if chrono::DateTime::parse_from_rfc3339(&when.0).is_err() {
        d.error(
            when.1.start,
            "`at` must be an RFC 3339 time such as `2026-12-04T18:30:00Z`",
        );
    }
    let action = match action_name.as_str() {
        "exclude" => Action::Exclude,
        "default" => match get(t, "default") {
            Some(v) => match json_of(v.get_ref()) {
                Some(j) => Action::Default(j),
                None => {
                    d.error(
                        v.span().start,
                        "`default` must be a string, a number or a boolean",
                    );
                    return None;
                }
            },
            None => {
                d.error(at, "an `action = \"default\"` decision needs `default`");
                return None;
            }
        },
        "text" => {
            let (path, span) = string(t, "path", ctx, true, at, d)?;
            match parse_path(&path) {
                Ok(segments) => Action::Text { path, segments },
                Err(m) => {
                    d.error(span.start, format!("bad `path`: {m}"));
                    return None;
                }
            }
        }
        "map" => {
            let concept_map = string(t, "concept_map", ctx, true, at, d)?.0;
            let code = string(t, "code", ctx, true, at, d)?.0;
            if value.is_none() {
                d.error(
                    at,
                    "an `action = \"map\"` decision needs the source `value` it maps",
                );
                return None;
            }
            Action::Map {
                concept_map,
                code,
                display: string(t, "display", ctx, false, at, d).map(|s| s.0),
                system: string(t, "system", ctx, false, at, d).map(|s| s.0),
            }
        }
        other => {
            d.error(
                action_span.start,
                format!("unknown action `{other}`: expected `exclude`, `default`, `text` or `map`"),
            );
            return None;
        }
    };
    if element.is_none() && value.is_none() && reason.is_none() {
        d.error(
            at,
            "a decision must say which exceptions it covers: give `element`, `value` or `reason` (or several)",
        );
        return None;
    }
    let used_keys: &[&str] = match action {
        Action::Exclude => &[],
        Action::Default(_) => &["default"],
        Action::Text { .. } => &["path"],
        Action::Map { .. } => &["concept_map", "code", "display", "system"],
    };
    for k in [
        "default",
        "path",
        "concept_map",
        "code",
        "display",
        "system",
    ] {
        if !used_keys.contains(&k)
            && let Some(v) = get(t, k)
        {
            d.error(
                v.span().start,
                format!("`{k}` does not apply to `action = \"{action_name}\"`: remove it"),
            );
        }
    }
    let line = d.index.position(at).0;
    Some(Decision {
        id: id.0,
        module: module.0,
        element,
        value,
        reason,
        action,
        by: by.0,
        at: when.0,
        why: why.0,
        line,
    })
}

/// A TOML string literal (basic string, escaped).
fn lit(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The text of one `[[decision]]`, as `ferry exceptions decide` appends it.
pub fn render(dec: &Decision) -> String {
    let mut s = String::from("\n[[decision]]\n");
    let _ = writeln!(s, "id = {}", lit(&dec.id));
    let _ = writeln!(s, "module = {}", lit(&dec.module));
    for (k, v) in [
        ("element", &dec.element),
        ("value", &dec.value),
        ("reason", &dec.reason),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "{k} = {}", lit(v));
        }
    }
    let _ = writeln!(s, "action = {}", lit(dec.action.name()));
    match &dec.action {
        Action::Exclude => {}
        Action::Default(j) => {
            let v = match j {
                Json::String(t) => lit(t),
                other => other.to_string(),
            };
            let _ = writeln!(s, "default = {v}");
        }
        Action::Text { path, .. } => {
            let _ = writeln!(s, "path = {}", lit(path));
        }
        Action::Map {
            concept_map,
            code,
            display,
            system,
        } => {
            let _ = writeln!(s, "concept_map = {}", lit(concept_map));
            let _ = writeln!(s, "code = {}", lit(code));
            if let Some(v) = display {
                let _ = writeln!(s, "display = {}", lit(v));
            }
            if let Some(v) = system {
                let _ = writeln!(s, "system = {}", lit(v));
            }
        }
    }
    let _ = writeln!(s, "by = {}", lit(&dec.by));
    let _ = writeln!(s, "at = {}", lit(&dec.at));
    let _ = writeln!(s, "why = {}", lit(&dec.why));
    s
}

/// The header a new decisions file starts with.
pub const FILE_HEADER: &str = "# Reviewers' decisions on exceptions (docs/decisions.md). Every run and `ferry verify`\n# re-apply them; `ferry check` lists them; a decision that no longer matches anything is\n# reported after each run. Written by `ferry exceptions decide`; edit by hand with care.\n";

/// The next free id (`D-0001`, `D-0002`, ...) after the decisions in `list`.
pub fn next_id(list: &[Decision]) -> String {
    let n = list
        .iter()
        .filter_map(|d| d.id.strip_prefix("D-")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("D-{:04}", n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(ty: &str, path: &str, message: &str, raw: Option<&str>) -> FieldError {
        FieldError {
            resource_type: ty.into(),
            path: path.into(),
            expression: String::new(),
            message: message.into(),
            raw_value: raw.map(Into::into),
        }
    }

    const GOOD: &str = r#"
[[decision]]
id = "D-0001"
module = "allergies"
element = "AllergyIntolerance.reaction[0].severity"
value = "MOD"
action = "default"
default = "moderate"
by = "Dr Lee"
at = "2026-12-04T18:30:00Z"
why = "MOD is moderate in the legacy system"

[[decision]]
id = "D-0002"
module = "vitals"
reason = "out of range"
action = "exclude"
by = "Dr Lee"
at = "2026-12-04T18:31:00Z"
why = "device error readings"
"#;

    #[test]
    fn a_well_formed_file_parses_and_round_trips_through_render() {
        let (list, diags) = parse("decisions.toml", GOOD);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].line, 2);
        assert_eq!(
            list[0].action,
            Action::Default(Json::String("moderate".into()))
        );
        let text: String = list.iter().map(render).collect();
        let (again, diags) = parse("decisions.toml", &text);
        assert!(diags.is_empty(), "{diags:?}");
        let strip = |v: &[Decision]| -> Vec<Decision> {
            v.iter()
                .cloned()
                .map(|mut d| {
                    d.line = 0;
                    d
                })
                .collect()
        };
        assert_eq!(strip(&again), strip(&list));
        assert_eq!(next_id(&list), "D-0003");
    }

    #[test]
    fn covers_matches_every_given_key() {
        let (list, _) = parse("decisions.toml", GOOD);
        let d = &list[0];
        let e = err(
            "AllergyIntolerance",
            "reaction[0].severity",
            "code not in concept map `allergy-severity`",
            Some("MOD"),
        );
        assert!(d.covers(&e));
        assert!(!d.covers(&FieldError {
            raw_value: Some("SEV".into()),
            ..e.clone()
        }));
        assert!(!d.covers(&FieldError {
            path: "code.text".into(),
            ..e.clone()
        }));
        let ex = &list[1];
        assert!(ex.covers(&err(
            "Observation",
            "valueQuantity.value",
            "value out of range",
            None
        )));
        assert!(!ex.covers(&err(
            "Observation",
            "valueQuantity.value",
            "not a number",
            None
        )));
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let bad = r#"
[[decision]]
id = "D-0001"
module = "m"
action = "explode"
by = "x"
at = "yesterday"
why = "y"

[[decision]]
id = "D-0002"
module = "m"
action = "exclude"
by = "x"
at = "2026-12-04T18:30:00Z"
why = "y"

[[decision]]
id = "D-0003"
module = "m"
value = "A"
action = "exclude"
code = "x"
colour = "red"
by = "x"
at = "2026-12-04T18:30:00Z"
why = "y"
"#;
        let (list, diags) = parse("decisions.toml", bad);
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        let all = text.join("\n");
        assert!(
            all.contains("decisions.toml:5:10: error: unknown action `explode`"),
            "{all}"
        );
        assert!(
            all.contains(":7:6: error: `at` must be an RFC 3339 time"),
            "{all}"
        );
        assert!(
            all.contains("decisions.toml:10:1: error: a decision must say which exceptions"),
            "{all}"
        );
        assert!(all.contains(":24:1: error: unknown key `colour`"), "{all}");
        assert!(all.contains(":23:8: error: `code` does not apply"), "{all}");
        assert_eq!(list.len(), 1, "{list:?}");
    }
    /// Each action applied to the rows it covers, through the project loader as the run and
    /// verify load it; rows nothing covers stay exceptions.
    #[test]
    fn decisions_change_the_rows_they_cover_and_only_those() {
        use crate::{Evaluated, RowSchema, RowView};
        use ferry_core::ValueRef;
        let dir = tempfile::tempdir().unwrap();
        let maps = dir.path().join("mappings");
        let cms = dir.path().join("concept-maps");
        std::fs::create_dir_all(&maps).unwrap();
        std::fs::create_dir_all(&cms).unwrap();
        std::fs::write(
            cms.join("sev.csv"),
            "source,target,display\nMILD,mild,Mild\n",
        )
        .unwrap();
        std::fs::write(
            cms.join("kind.csv"),
            "source,target,display\nFOOD,food,Food\n",
        )
        .unwrap();
        std::fs::write(
            maps.join("allergies.toml"),
            r#"[module]
name = "allergies"
[source]
query = "SELECT 1"
key = "k"
[[resource]]
type = "AllergyIntolerance"
[resource.fields]
"patient.reference" = "'Patient/1'"
"category[0]" = "row.kind | lookup('kind')"
"reaction[0].manifestation[0].text" = "'rash'"
"reaction[0].severity" = "row.sev | lookup('sev')"
"recordedDate" = "row.noted | date"
"#,
        )
        .unwrap();
        std::fs::write(
            maps.join(DECISIONS_FILE),
            r#"
[[decision]]
id = "D-0001"
module = "allergies"
element = "AllergyIntolerance.reaction[0].severity"
value = "MOD"
action = "default"
default = "moderate"
by = "Dr Lee"
at = "2026-12-04T18:30:00Z"
why = "MOD is moderate"

[[decision]]
id = "D-0002"
module = "allergies"
element = "AllergyIntolerance.category[0]"
value = "DRUG"
action = "map"
concept_map = "kind"
code = "medication"
by = "Dr Lee"
at = "2026-12-04T18:30:00Z"
why = "DRUG is a medication allergy"

[[decision]]
id = "D-0003"
module = "allergies"
element = "AllergyIntolerance.recordedDate"
action = "exclude"
by = "Dr Lee"
at = "2026-12-04T18:30:00Z"
why = "undated entries are not migrated"

[[decision]]
id = "D-0004"
module = "allergies"
element = "AllergyIntolerance.category[0]"
value = "PET"
action = "text"
path = "code.text"
by = "Dr Lee"
at = "2026-12-04T18:30:00Z"
why = "keep the legacy kind as text"
"#,
        )
        .unwrap();
        let ids: std::sync::Arc<crate::IdFn> =
            std::sync::Arc::new(|m: &str, t: &str, k: &str| format!("{m}.{t}.{k}"));
        let (modules, diags) = crate::load_modules(&maps, &cms, ids, crate::LocalTime::default());
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let m = &modules[0];
        let schema = RowSchema::new(["k", "kind", "sev", "noted"]);
        let eval = |vals: [&str; 4]| {
            let v: Vec<ValueRef<'_>> = vals.iter().map(|s| ValueRef::Text(s)).collect();
            let out = m.evaluate_fields(&RowView {
                schema: &schema,
                values: &v,
            });
            let decided: Vec<String> = match &out {
                Evaluated::Migrated(b) => b[0]
                    .decisions
                    .iter()
                    .map(|&i| m.decision(i).unwrap().id.clone())
                    .collect(),
                _ => Vec::new(),
            };
            let json = match &out {
                Evaluated::Migrated(b) => Some(m.assemble(&b[0])),
                _ => None,
            };
            (out, decided, json)
        };
        // Nothing to decide: no decision recorded.
        let (_, d, j) = eval(["1", "FOOD", "MILD", "2020-01-02"]);
        assert!(d.is_empty());
        assert_eq!(j.unwrap()["reaction"][0]["severity"], "mild");
        // default
        let (_, d, j) = eval(["2", "FOOD", "MOD", "2020-01-02"]);
        assert_eq!(d, ["D-0001"]);
        assert_eq!(j.unwrap()["reaction"][0]["severity"], "moderate");
        // map (through the concept map), with default on the same row
        let (_, d, j) = eval(["3", "DRUG", "MOD", "2020-01-02"]);
        assert_eq!(d, ["D-0001", "D-0002"]);
        assert_eq!(j.unwrap()["category"][0], "medication");
        // text: the element left out, the raw value at `path`
        let (_, d, j) = eval(["4", "PET", "MILD", "2020-01-02"]);
        assert_eq!(d, ["D-0004"]);
        let j = j.unwrap();
        assert_eq!(j["code"]["text"], "PET");
        assert!(j.get("category").is_none(), "{j}");
        // exclude
        let (out, _, _) = eval(["5", "FOOD", "MILD", "not a date"]);
        assert_eq!(
            out,
            Evaluated::Excluded {
                rule: "decision:D-0003".into(),
                reason: "undated entries are not migrated".into()
            }
        );
        // a value no decision covers stays an exception, and a covered error beside an
        // uncovered one does not change the row
        let (out, _, _) = eval(["6", "FOOD", "SEV", "2020-01-02"]);
        assert!(matches!(out, Evaluated::Exception(_)), "{out:?}");
        let (out, _, _) = eval(["7", "OTHER", "MOD", "2020-01-02"]);
        assert!(
            matches!(out, Evaluated::Exception(ref e) if e.len() == 2),
            "{out:?}"
        );
    }

    #[test]
    fn a_decision_about_what_the_project_lacks_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let maps = dir.path().join("mappings");
        std::fs::create_dir_all(&maps).unwrap();
        std::fs::write(
            maps.join("m.toml"),
            "[module]\nname = \"m\"\n[source]\nquery = \"SELECT 1\"\nkey = \"k\"\n[[resource]]\ntype = \"Patient\"\n[resource.fields]\n\"gender\" = \"row.g | lookup('sex')\"\n",
        )
        .unwrap();
        std::fs::write(
            maps.join(DECISIONS_FILE),
            "[[decision]]\nid = \"D-1\"\nmodule = \"nope\"\nvalue = \"x\"\naction = \"exclude\"\nby = \"a\"\nat = \"2026-12-04T18:30:00Z\"\nwhy = \"b\"\n\n\
             [[decision]]\nid = \"D-2\"\nmodule = \"m\"\nelement = \"Patient.gendr\"\naction = \"default\"\ndefault = \"unknown\"\nby = \"a\"\nat = \"2026-12-04T18:30:00Z\"\nwhy = \"b\"\n\n\
             [[decision]]\nid = \"D-3\"\nmodule = \"m\"\nvalue = \"x\"\naction = \"map\"\nconcept_map = \"gender\"\ncode = \"male\"\nby = \"a\"\nat = \"2026-12-04T18:30:00Z\"\nwhy = \"b\"\n\n\
             [[decision]]\nid = \"D-4\"\nmodule = \"m\"\nvalue = \"x\"\naction = \"text\"\npath = \"nam.text\"\nby = \"a\"\nat = \"2026-12-04T18:30:00Z\"\nwhy = \"b\"\n",
        )
        .unwrap();
        let cms = dir.path().join("concept-maps");
        std::fs::create_dir_all(&cms).unwrap();
        std::fs::write(cms.join("sex.csv"), "source,target,display\nM,male,Male\n").unwrap();
        let ids: std::sync::Arc<crate::IdFn> =
            std::sync::Arc::new(|m: &str, t: &str, k: &str| format!("{m}.{t}.{k}"));
        let (_, diags) = crate::load_modules(&maps, &cms, ids, crate::LocalTime::default());
        let all: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        let all = all.join("\n");
        assert!(
            all.contains(":1:1: error: decision `D-1` is about module `nope`"),
            "{all}"
        );
        assert!(
            all.contains(":10:1: error: decision `D-2`: module `m` has no field `Patient.gendr`"),
            "{all}"
        );
        assert!(
            all.contains(":20:1: error: decision `D-3` maps into concept map `gender`"),
            "{all}"
        );
        assert!(
            all.contains(":31:1: error: decision `D-4`: `nam.text` is not an element of Patient"),
            "{all}"
        );
    }
}
