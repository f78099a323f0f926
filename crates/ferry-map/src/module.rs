//! Module files: parsing (never failing at the first problem) and compiling every expression once.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use minijinja::{Environment, Expression};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, Diags};
use crate::engine::{
    BUILTIN_FILTERS, BUILTIN_FUNCTIONS, Engine, FERRY_FILTERS, FERRY_FUNCTIONS, LocalTime, Shared,
};
use crate::lint;
use crate::path::{Segment, conflict, parse_path};

/// Where a module reads its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// SQL over the staged tables.
    pub query: String,
    /// Row key column(s); their values joined with `|` are the row's source key.
    pub key: Vec<String>,
    /// The column naming the patient, if rows belong to patients.
    pub patient: Option<String>,
}

/// A scope rule: rows for which `when` is true are excluded, with `reason`.
#[derive(Debug, Clone)]
pub struct Exclude {
    pub name: String,
    pub reason: String,
    pub(crate) when: usize,
}

/// One field: a FHIR path and its expression.
#[derive(Debug, Clone)]
pub struct Field {
    pub path: String,
    pub(crate) segments: Vec<Segment>,
    pub(crate) expr: usize,
    /// Byte offset of the field's key (its path) in the file, for diagnostics.
    pub(crate) at: usize,
}

impl Field {
    /// The path's segments (`name`, optional `[index]`).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

/// One target resource built from each row.
#[derive(Debug, Clone)]
pub struct Resource {
    pub resource_type: String,
    /// Distinguishes several resources of one type made from the same row; part of the id's key.
    pub name: Option<String>,
    pub(crate) when: Option<usize>,
    pub fields: Vec<Field>,
    /// Byte offset of the `[[resource]]` in the file, for diagnostics.
    pub(crate) at: usize,
}

/// A summary-document module: each patient's rows rendered into one readable HTML document,
/// attached to a FHIR `DocumentReference` (base64 data, SHA-1 hash, size), for data not worth
/// migrating discretely.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The document's title (heading, `description`, attachment title).
    pub title: String,
    /// The columns shown, in order; `None`: every column the query returns.
    pub columns: Option<Vec<String>>,
    /// Order of rows inside a document (after the patient column); the key breaks ties.
    pub order_by: Vec<String>,
    /// A minijinja HTML template (autoescaped); `None`: the built-in table.
    pub template: Option<String>,
    /// Fields of the `DocumentReference`, evaluated on the patient's first row (`content` is
    /// Ferry's).
    pub fields: Vec<Field>,
}

/// An expression's text and where it sits in the module file.
#[derive(Debug, Clone)]
pub(crate) struct ExprInfo {
    pub(crate) text: String,
    /// Byte offset of the expression's first character in the file.
    pub(crate) offset: usize,
    /// True when the file holds the expression verbatim (no escapes), so offsets inside it map
    /// one-to-one onto the file.
    pub(crate) exact: bool,
    /// The compiled expression this occurrence shares with every other occurrence of the same
    /// text in the module (evaluated once per row, however often it is written).
    pub(crate) slot: usize,
}

/// One compiled expression per distinct expression text, and its value when it does not depend
/// on the row (`'final'`, `ref('m', 'k')`): such values are computed once, when the module loads.
pub(crate) struct Exprs<'env> {
    pub(crate) compiled: Vec<Expression<'env, 'static>>,
    pub(crate) constants: Vec<Option<minijinja::Value>>,
    /// For an expression that is just `row.COLUMN`: the column, read without the engine.
    pub(crate) columns: Vec<Option<String>>,
    /// For an expression of a shape called without the engine: how ([`crate::engine::Direct`]).
    pub(crate) direct: Vec<Option<crate::engine::Direct>>,
}

self_cell::self_cell!(
    pub(crate) struct Compiled {
        owner: Arc<Environment<'static>>,
        #[covariant]
        dependent: Exprs,
    }
);

/// A module file's `[verify]`: the largest share of its rows that may be exceptions, and why
/// (a library module whose exceptions are expected by design says so where it is written).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleLimit {
    pub max_exception_rate: f64,
    pub reason: String,
    /// 1-based line of `max_exception_rate` in the module file.
    pub line: usize,
}

/// What a delta run does with the resources of a source row deleted from the legacy system
/// since its base (`deleted = ...` in `[module]`). Nothing is ever deleted silently: the default
/// only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletedPolicy {
    /// `"report"` (default): listed in the delta's books and ledger; the target keeps them.
    #[default]
    Report,
    /// `"delete"`: deleted on the target by the delta's load.
    Delete,
    /// `"entered-in-error"`: kept on the target with the status `entered-in-error` (only for
    /// resource types whose status has that code).
    EnteredInError,
}

impl DeletedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DeletedPolicy::Report => "report",
            DeletedPolicy::Delete => "delete",
            DeletedPolicy::EnteredInError => "entered-in-error",
        }
    }
}

/// The resource types whose status (or `verificationStatus`) has the code `entered-in-error`,
/// and that element's path.
pub const ENTERED_IN_ERROR_STATUS: &[(&str, &str)] = &[
    ("AllergyIntolerance", "verificationStatus"),
    ("Appointment", "status"),
    ("CarePlan", "status"),
    ("CareTeam", "status"),
    ("Composition", "status"),
    ("Condition", "verificationStatus"),
    ("DiagnosticReport", "status"),
    ("DocumentReference", "status"),
    ("Encounter", "status"),
    ("FamilyMemberHistory", "status"),
    ("Flag", "status"),
    ("Goal", "lifecycleStatus"),
    ("Immunization", "status"),
    ("MedicationAdministration", "status"),
    ("MedicationRequest", "status"),
    ("MedicationStatement", "status"),
    ("Observation", "status"),
    ("Procedure", "status"),
    ("ServiceRequest", "status"),
];

/// A loaded, compiled module. Cheap to share across threads (`&Module` is `Sync`).
pub struct Module {
    pub name: String,
    pub description: Option<String>,
    /// The file it was read from, as given.
    pub file: String,
    pub source: Source,
    pub excludes: Vec<Exclude>,
    pub resources: Vec<Resource>,
    /// Set for a summary-document module (which then has no `[[resource]]`).
    pub summary: Option<Summary>,
    /// `load = "transaction"` in `[module]`: `ferry load` sends the resources made from one
    /// source row in one FHIR transaction (all land or none); default `batch`.
    pub load_together: bool,
    /// What a delta run does with the resources of rows deleted since its base.
    pub deleted: DeletedPolicy,
    /// The module's own go/no-go limit (`[verify]` in the module file), if it sets one.
    pub verify: Option<ModuleLimit>,
    pub(crate) exprs: Vec<ExprInfo>,
    pub(crate) compiled: Compiled,
    pub(crate) shared: Arc<Shared>,
    /// The reviewers' decisions on this module's rows (indexes into the engine's decisions).
    pub(crate) decisions: Vec<u32>,
    /// One per `[[resource]]`: writes its canonical bytes (`template.rs`).
    pub(crate) templates: Vec<crate::template::Template>,
    pub(crate) text: Arc<str>,
    key_offsets: Vec<usize>,
    patient_offset: Option<usize>,
    summary_offset: usize,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("source", &self.source)
            .field("resources", &self.resources.len())
            .finish()
    }
}

impl Module {
    /// The expression environment (function library) the module was compiled in.
    pub(crate) fn shared_env(&self) -> &Environment<'static> {
        self.compiled.borrow_owner()
    }

    /// The slot (distinct compiled expression) of expression occurrence `i`.
    pub(crate) fn slot(&self, i: usize) -> Option<usize> {
        self.exprs.get(i).map(|e| e.slot)
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.compiled.borrow_dependent().compiled.len()
    }

    pub(crate) fn expression(&self, slot: usize) -> Option<&Expression<'_, 'static>> {
        self.compiled.borrow_dependent().compiled.get(slot)
    }

    /// The value of a slot whose expression does not read the row.
    pub(crate) fn constant(&self, slot: usize) -> Option<&minijinja::Value> {
        self.compiled
            .borrow_dependent()
            .constants
            .get(slot)
            .and_then(Option::as_ref)
    }

    /// The column of a slot whose expression is just `row.COLUMN`.
    pub(crate) fn column_of(&self, slot: usize) -> Option<&str> {
        self.compiled
            .borrow_dependent()
            .columns
            .get(slot)
            .and_then(Option::as_deref)
    }

    /// How to call a slot's expression without the engine, for the shapes that allow it.
    pub(crate) fn direct_of(&self, slot: usize) -> Option<&crate::engine::Direct> {
        self.compiled
            .borrow_dependent()
            .direct
            .get(slot)
            .and_then(Option::as_ref)
    }

    pub(crate) fn expr_text(&self, i: usize) -> &str {
        self.exprs.get(i).map(|e| e.text.as_str()).unwrap_or("")
    }

    /// Required elements (as `required(resource type)` lists them, `name[x]` for a choice) that
    /// no field of a resource sets: every row would fail validation, so `ferry check` says so
    /// before data moves. A summary document's `content` is Ferry's own. `required` returns
    /// `None` for a type that is not a resource type of the target FHIR version.
    pub fn check_required(
        &self,
        required: &dyn Fn(&str) -> Option<Vec<String>>,
    ) -> Vec<Diagnostic> {
        let mut d = Diags::new(self.file.clone(), &self.text);
        let mut targets: Vec<(&str, &[Field], usize)> = self
            .resources
            .iter()
            .map(|r| (r.resource_type.as_str(), r.fields.as_slice(), r.at))
            .collect();
        if let Some(sm) = &self.summary {
            targets.push((
                crate::summary::SUMMARY_RESOURCE_TYPE,
                sm.fields.as_slice(),
                self.summary_offset,
            ));
        }
        for (ty, fields, at) in targets {
            let Some(names) = required(ty) else {
                d.error(at, format!("`{ty}` is not a FHIR R4 resource type"));
                continue;
            };
            for name in names {
                if self.summary.is_some() && name == "content" {
                    continue;
                }
                let set = fields.iter().any(|f| {
                    let Some(first) = f.segments.first() else {
                        return false;
                    };
                    match name.strip_suffix("[x]") {
                        Some(prefix) => first
                            .name
                            .strip_prefix(prefix)
                            .and_then(|rest| rest.chars().next())
                            .is_some_and(|c| c.is_ascii_uppercase()),
                        None => first.name == name,
                    }
                });
                if !set {
                    d.error(
                        at,
                        format!(
                            "`{ty}` requires `{name}` but no field sets it: every row would be an exception. Add a field for `{name}`"
                        ),
                    );
                }
            }
        }
        d.list
    }

    /// An error diagnostic at the module's `key` (its first column) in the module file.
    pub fn key_error(&self, message: impl Into<String>) -> Diagnostic {
        let mut d = Diags::new(self.file.clone(), &self.text);
        d.error(self.key_offsets.first().copied().unwrap_or(0), message);
        d.list.pop().unwrap_or_else(|| Diagnostic {
            file: self.file.clone(),
            line: 0,
            column: 0,
            severity: crate::diag::Severity::Error,
            message: String::new(),
        })
    }

    /// SQL over the module's query that returns the row keys held by more than one row
    /// (`ferry_key`, the key as [`Module::row_key`] makes it; `ferry_rows`, how many rows), so
    /// that a non-unique key is found before any data moves. It mirrors `row_key` exactly
    /// for the values a query gives: text as is (binary collation, whatever the column
    /// declares), integers as their decimal text (a query's `12` and `'12'` are the same key),
    /// several columns joined with `|` (so `('a|b', 'c')` and `('a', 'b|c')` are the same key);
    /// rows with a NULL, empty or binary key value are left out (they are exceptions, not
    /// keys). A floating-point value (only a query's own arithmetic makes one) is compared by
    /// SQLite's text of it: the same shortest digits as `row_key`'s text, but SQLite writes
    /// `-0.0` as `0.0` (so callers confirm each key with `row_key` before reporting it) and its
    /// own exponent form (`1.0e+20` where `row_key` has `1e20`, for magnitudes from 1e16 or
    /// below 1e-4), so such a real and a text spelling it `row_key`'s way are not found equal.
    pub fn duplicate_key_query(&self) -> String {
        let parts: Vec<String> = self
            .source
            .key
            .iter()
            .map(|c| {
                let c = format!("\"{}\"", c.replace('"', "\"\""));
                format!(
                    "CASE typeof({c}) WHEN 'text' THEN CASE WHEN length({c}) > 0 THEN {c} END \
                     WHEN 'integer' THEN CAST({c} AS TEXT) WHEN 'real' THEN CAST({c} AS TEXT) END"
                )
            })
            .collect();
        format!(
            "SELECT ferry_key, count(*) AS ferry_rows FROM (SELECT {} AS ferry_key FROM ({}\n) AS ferry_module) \
             WHERE ferry_key IS NOT NULL GROUP BY ferry_key COLLATE BINARY HAVING count(*) > 1",
            parts.join(" || '|' || "),
            self.source.query.trim().trim_end_matches(';'),
        )
    }

    /// The modules this one's expressions `ref(...)` (by literal name), sorted.
    pub fn references(&self) -> Vec<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        for e in &self.exprs {
            for r in lint::scan(&e.text).refs {
                if r.name != self.name {
                    out.insert(r.name);
                }
            }
        }
        out.into_iter().collect()
    }

    /// The primary resource type (the first `[[resource]]`), the target of `ref(module, key)`.
    pub fn primary_resource(&self) -> Option<&Resource> {
        self.resources.first()
    }

    /// Checks column references (`row.NAME`, `row['NAME']`, `source.key`, `source.patient`)
    /// against the columns the source query returns, e.g. from the staged schema.
    pub fn check_columns<S: AsRef<str>>(&self, columns: &[S]) -> Vec<Diagnostic> {
        let known: BTreeSet<&str> = columns.iter().map(|c| c.as_ref()).collect();
        let mut d = Diags::new(self.file.clone(), &self.text);
        let hint = || {
            let mut v: Vec<&str> = known.iter().copied().collect();
            v.truncate(40);
            v.join(", ")
        };
        for (k, off) in self.source.key.iter().zip(&self.key_offsets) {
            if !known.contains(k.as_str()) {
                d.error(
                    *off,
                    format!("unknown key column `{k}`: the query returns {}", hint()),
                );
            }
        }
        if let (Some(p), Some(off)) = (&self.source.patient, self.patient_offset)
            && !known.contains(p.as_str())
        {
            d.error(
                off,
                format!("unknown patient column `{p}`: the query returns {}", hint()),
            );
        }
        if let Some(sm) = &self.summary {
            let named = sm.columns.iter().flatten().chain(&sm.order_by);
            for c in named {
                if !known.contains(c.as_str()) {
                    d.error(
                        self.summary_offset,
                        format!(
                            "`[summary]` names unknown column `{c}`: the query returns {}",
                            hint()
                        ),
                    );
                }
            }
        }
        for e in &self.exprs {
            for c in lint::scan(&e.text).columns {
                if !known.contains(c.name.as_str()) {
                    let at = if e.exact {
                        e.offset + c.offset
                    } else {
                        e.offset
                    };
                    d.error(
                        at,
                        format!("unknown column `{}`: the query returns {}", c.name, hint()),
                    );
                }
            }
        }
        d.list
    }
}

const TOP_KEYS: &[&str] = &[
    "module", "source", "exclude", "resource", "summary", "verify",
];
const VERIFY_KEYS: &[&str] = &["max_exception_rate", "reason"];
const MODULE_KEYS: &[&str] = &[
    "name",
    "description",
    "fhir",
    "load",
    "deleted",
    "time_zone",
    "ambiguous_time",
    "nonexistent_time",
];
const SOURCE_KEYS: &[&str] = &["query", "key", "patient"];
const EXCLUDE_KEYS: &[&str] = &["name", "when", "reason"];
const RESOURCE_KEYS: &[&str] = &["type", "name", "when", "fields"];
const SUMMARY_KEYS: &[&str] = &["title", "columns", "order_by", "template", "fields"];

pub(crate) type Table<'i> = DeTable<'i>;

pub(crate) fn unknown_keys(t: &Table<'_>, allowed: &[&str], ctx: &str, d: &mut Diags<'_>) {
    for (k, _) in t.iter() {
        if !allowed.contains(&k.get_ref().as_ref()) {
            d.error(
                k.span().start,
                format!(
                    "unknown key `{}` in {ctx}: expected one of {}",
                    k.get_ref(),
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}

pub(crate) fn get<'a, 'i>(t: &'a Table<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    t.get(key)
}

/// The name summary templates are compiled under (its `.html` turns on HTML autoescaping).
pub(crate) const SUMMARY_TEMPLATE_NAME: &str = "summary.html";

/// An optional array of strings.
fn string_list(t: &Table<'_>, key: &str, d: &mut Diags<'_>) -> Option<Vec<String>> {
    let v = get(t, key)?;
    match v.get_ref() {
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) => out.push(s.to_string()),
                    other => d.error(
                        item.span().start,
                        format!(
                            "`{key}` lists column names (strings), not {}",
                            other.type_str()
                        ),
                    ),
                }
            }
            Some(out)
        }
        other => {
            d.error(
                v.span().start,
                format!(
                    "`{key}` must be an array of column names, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

/// A required or optional string value: (text, span of the value).
pub(crate) fn string(
    t: &Table<'_>,
    key: &str,
    ctx: &str,
    required: bool,
    at: usize,
    d: &mut Diags<'_>,
) -> Option<(String, Range<usize>)> {
    match get(t, key) {
        Some(v) => match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            other => {
                d.error(
                    v.span().start,
                    format!(
                        "`{key}` in {ctx} must be a string, not {}",
                        other.type_str()
                    ),
                );
                None
            }
        },
        None => {
            if required {
                d.error(at, format!("{ctx} needs `{key}`"));
            }
            None
        }
    }
}

pub(crate) fn table<'a, 'i>(
    v: &'a Spanned<DeValue<'i>>,
    what: &str,
    d: &mut Diags<'_>,
) -> Option<&'a Table<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            d.error(
                v.span().start,
                format!("{what} must be a table, not {}", other.type_str()),
            );
            None
        }
    }
}

/// Where the expression text starts inside a TOML string literal, and whether it is verbatim.
fn expr_location(file: &str, span: &Range<usize>, expr: &str) -> (usize, bool) {
    let lit = file.get(span.clone()).unwrap_or("");
    let mut skip = if lit.starts_with("\"\"\"") || lit.starts_with("'''") {
        3
    } else if lit.starts_with('"') || lit.starts_with('\'') {
        1
    } else {
        0
    };
    if skip == 3 {
        if lit.get(3..).is_some_and(|r| r.starts_with("\r\n")) {
            skip += 2;
        } else if lit.get(3..).is_some_and(|r| r.starts_with('\n')) {
            skip += 1;
        }
    }
    let start = span.start + skip;
    let exact = file.get(start..start + expr.len()) == Some(expr);
    (start, exact)
}

struct Builder<'t> {
    file_text: &'t str,
    exprs: Vec<ExprInfo>,
    /// Distinct expression texts, in slot order.
    slots: Vec<String>,
    slot_of: HashMap<String, usize>,
}

impl Builder<'_> {
    fn add(&mut self, text: String, span: &Range<usize>) -> usize {
        let (offset, exact) = expr_location(self.file_text, span, &text);
        let next = self.slots.len();
        let slot = *self.slot_of.entry(text.clone()).or_insert(next);
        if slot == next {
            self.slots.push(text.clone());
        }
        self.exprs.push(ExprInfo {
            text,
            offset,
            exact,
            slot,
        });
        self.exprs.len() - 1
    }
}

fn is_type_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_uppercase()) && c.all(|c| c.is_ascii_alphanumeric())
}

pub(crate) fn is_rule_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses and compiles one module file. Never stops at the first problem: every diagnostic found
/// is returned; the module is returned only when there is no error.
///
/// `file` is the name used in diagnostics (and its stem must equal `[module].name`).
pub fn parse_module(file: &str, text: &str, engine: &Engine) -> (Option<Module>, Vec<Diagnostic>) {
    let mut d = Diags::new(file, text);
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in &errors {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        d.error(at, format!("TOML: {}", e.message()));
    }
    let doc = doc.into_inner();
    let mut b = Builder {
        file_text: text,
        exprs: Vec::new(),
        slots: Vec::new(),
        slot_of: HashMap::new(),
    };
    unknown_keys(&doc, TOP_KEYS, "the module file", &mut d);

    // [module]
    let stem = std::path::Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".toml").unwrap_or(n))
        .map(|n| n.strip_suffix(".module").unwrap_or(n))
        .unwrap_or("")
        .to_string();
    let mut name = stem.clone();
    let mut description = None;
    let mut load_together = false;
    let mut deleted = DeletedPolicy::Report;
    let mut deleted_at = 0usize;
    // The module's own local-time settings, compiled in an environment of their own.
    let mut module_engine = None;
    match get(&doc, "module") {
        Some(v) => {
            if let Some(t) = table(v, "`[module]`", &mut d) {
                unknown_keys(t, MODULE_KEYS, "`[module]`", &mut d);
                if let Some((n, span)) =
                    string(t, "name", "`[module]`", true, v.span().start, &mut d)
                {
                    if !stem.is_empty() && n != stem {
                        d.error(
                            span.start,
                            format!(
                                "module name `{n}` differs from its file name `{stem}`: rename one"
                            ),
                        );
                    }
                    if !is_rule_name(&n) {
                        d.error(
                            span.start,
                            "a module name may hold only letters, digits, `-` and `_`",
                        );
                    }
                    name = n;
                }
                description = string(t, "description", "`[module]`", false, 0, &mut d).map(|s| s.0);
                let _ = string(t, "fhir", "`[module]`", false, 0, &mut d);
                if let Some((l, span)) = string(t, "load", "`[module]`", false, 0, &mut d) {
                    match l.as_str() {
                        "batch" => {}
                        "transaction" => load_together = true,
                        other => d.error(
                            span.start,
                            format!(
                                "`load = \"{other}\"` in `[module]`: expected \"batch\" (default) or \"transaction\" (the resources made from one row land together or not at all)"
                            ),
                        ),
                    }
                }
                if let Some((p, span)) = string(t, "deleted", "`[module]`", false, 0, &mut d) {
                    deleted_at = span.start;
                    match p.as_str() {
                        "report" => {}
                        "delete" => deleted = DeletedPolicy::Delete,
                        "entered-in-error" => deleted = DeletedPolicy::EnteredInError,
                        other => d.error(
                            span.start,
                            format!(
                                "`deleted = \"{other}\"` in `[module]`: expected \"report\" (default: listed, the target keeps them), \"delete\" (deleted on the target) or \"entered-in-error\" (their status set to entered-in-error)"
                            ),
                        ),
                    }
                }
                let mut spans = Vec::new();
                let mut setting = |key: &'static str| {
                    string(t, key, "`[module]`", false, 0, &mut d).map(|(s, span)| {
                        spans.push((key, span.start));
                        s
                    })
                };
                let local = LocalTime {
                    local_offset: None,
                    time_zone: setting("time_zone"),
                    ambiguous_time: setting("ambiguous_time"),
                    nonexistent_time: setting("nonexistent_time"),
                };
                if local != LocalTime::default() {
                    match engine.with_local_time(&local) {
                        Ok(e) => module_engine = Some(e),
                        Err(e) => {
                            // The message names the setting it is about.
                            let at = spans
                                .iter()
                                .find(|(k, _)| e.message.starts_with(k))
                                .or(spans.first())
                                .map_or(v.span().start, |(_, at)| *at);
                            d.error(at, e.message)
                        }
                    }
                }
            }
        }
        None => d.error(0, "missing `[module]` (with `name` and `description`)"),
    }

    let engine = module_engine.as_ref().unwrap_or(engine);

    // [source]
    let mut source = Source {
        query: String::new(),
        key: Vec::new(),
        patient: None,
    };
    let mut key_offsets = Vec::new();
    let mut patient_offset = None;
    match get(&doc, "source") {
        Some(v) => {
            if let Some(t) = table(v, "`[source]`", &mut d) {
                unknown_keys(t, SOURCE_KEYS, "`[source]`", &mut d);
                let at = v.span().start;
                if let Some((q, span)) = string(t, "query", "`[source]`", true, at, &mut d) {
                    if q.trim().is_empty() {
                        d.error(span.start, "`query` is empty");
                    }
                    source.query = q;
                }
                match get(t, "key") {
                    Some(k) => match k.get_ref() {
                        DeValue::String(s) => {
                            source.key.push(s.to_string());
                            key_offsets.push(k.span().start);
                        }
                        DeValue::Array(a) if !a.is_empty() => {
                            for item in a.iter() {
                                match item.get_ref() {
                                    DeValue::String(s) => {
                                        source.key.push(s.to_string());
                                        key_offsets.push(item.span().start);
                                    }
                                    _ => {
                                        d.error(item.span().start, "`key` columns must be strings")
                                    }
                                }
                            }
                        }
                        _ => d.error(
                            k.span().start,
                            "`key` must be a column name or a list of them",
                        ),
                    },
                    None => d.error(at, "`[source]` needs `key` (the row key column or columns)"),
                }
                if let Some((p, span)) = string(t, "patient", "`[source]`", false, at, &mut d) {
                    source.patient = Some(p);
                    patient_offset = Some(span.start);
                }
            }
        }
        None => d.error(0, "missing `[source]` (with `query` and `key`)"),
    }

    // [[exclude]]
    let mut excludes = Vec::new();
    if let Some(v) = get(&doc, "exclude") {
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut seen = BTreeSet::new();
                for item in items.iter() {
                    let Some(t) = table(item, "`[[exclude]]`", &mut d) else {
                        continue;
                    };
                    let at = item.span().start;
                    unknown_keys(t, EXCLUDE_KEYS, "`[[exclude]]`", &mut d);
                    let n = string(t, "name", "`[[exclude]]`", true, at, &mut d);
                    let w = string(t, "when", "`[[exclude]]`", true, at, &mut d);
                    let r = string(t, "reason", "`[[exclude]]`", true, at, &mut d);
                    if let Some((n, span)) = &n {
                        if !is_rule_name(n) {
                            d.error(
                                span.start,
                                "a rule name may hold only letters, digits, `-` and `_`",
                            );
                        }
                        if !seen.insert(n.clone()) {
                            d.error(span.start, format!("a second exclusion rule named `{n}`"));
                        }
                    }
                    if let (Some((n, _)), Some((w, wspan)), Some((r, _))) = (n, w, r) {
                        let when = b.add(w, &wspan);
                        excludes.push(Exclude {
                            name: n,
                            reason: r,
                            when,
                        });
                    }
                }
            }
            _ => d.error(
                v.span().start,
                "write exclusion rules as `[[exclude]]` tables",
            ),
        }
    }

    // [[resource]]
    let mut resources = Vec::new();
    match get(&doc, "resource") {
        Some(v) => match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    let Some(t) = table(item, "`[[resource]]`", &mut d) else {
                        continue;
                    };
                    let at = item.span().start;
                    unknown_keys(t, RESOURCE_KEYS, "`[[resource]]`", &mut d);
                    let ty = string(t, "type", "`[[resource]]`", true, at, &mut d);
                    if let Some((ty, span)) = &ty
                        && !is_type_name(ty)
                    {
                        d.error(
                            span.start,
                            format!(
                                "`{ty}` is not a FHIR resource type name (e.g. `Immunization`)"
                            ),
                        );
                    }
                    let rname = string(t, "name", "`[[resource]]`", false, at, &mut d);
                    if let Some((n, span)) = &rname
                        && !is_rule_name(n)
                    {
                        d.error(
                            span.start,
                            "a resource name may hold only letters, digits, `-` and `_`",
                        );
                    }
                    let when = string(t, "when", "`[[resource]]`", false, at, &mut d)
                        .map(|(w, span)| b.add(w, &span));
                    let fields = parse_fields(
                        t,
                        at,
                        "`[[resource]]` needs `[resource.fields]`",
                        &mut b,
                        &mut d,
                    );
                    if fields.is_empty() && get(t, "fields").is_some() {
                        d.warning(at, "a resource with no fields");
                    }
                    if let Some((ty, _)) = ty {
                        resources.push(Resource {
                            resource_type: ty,
                            name: rname.map(|r| r.0),
                            when,
                            fields,
                            at,
                        });
                    }
                }
            }
            _ => d.error(
                v.span().start,
                "write target resources as `[[resource]]` tables",
            ),
        },
        None if get(&doc, "summary").is_none() => d.error(
            0,
            "no `[[resource]]`: a module must build at least one resource (or a `[summary]` document)",
        ),
        None => {}
    }

    // [summary]
    let mut summary = None;
    let summary_offset = get(&doc, "summary").map(|v| v.span().start).unwrap_or(0);
    if let Some(v) = get(&doc, "summary")
        && let Some(t) = table(v, "`[summary]`", &mut d)
    {
        let at = v.span().start;
        unknown_keys(t, SUMMARY_KEYS, "`[summary]`", &mut d);
        if !resources.is_empty() {
            d.error(
                at,
                "a module is either discrete (`[[resource]]`) or a `[summary]` document: split it into two modules over the same rows (scope rules choose which rows go where)",
            );
        }
        if source.patient.is_none() {
            d.error(
                at,
                "a `[summary]` module needs `[source] patient`: documents are made per patient",
            );
        }
        let title = string(t, "title", "`[summary]`", true, at, &mut d);
        let template = string(t, "template", "`[summary]`", false, at, &mut d).map(|(t, _)| t);
        if let Some(src) = &template
            && let Err(e) = engine
                .env
                .template_from_named_str(SUMMARY_TEMPLATE_NAME, src)
        {
            d.error(at, format!("`template`: {}", error_text(&e)));
        }
        let columns = string_list(t, "columns", &mut d);
        let order_by = string_list(t, "order_by", &mut d).unwrap_or_default();
        let fields = parse_fields(
            t,
            at,
            "`[summary]` needs `[summary.fields]` (at least `status` and `subject.reference`)",
            &mut b,
            &mut d,
        );
        for f in &fields {
            if f.segments.first().is_some_and(|s| s.name == "content") {
                d.error(
                    at,
                    format!(
                        "`{}`: `content` is written by Ferry (the rendered document)",
                        f.path
                    ),
                );
            }
        }
        if let Some((title, _)) = title {
            summary = Some(Summary {
                title,
                columns,
                order_by,
                template,
                fields,
            });
        }
    }
    // [verify]
    let mut verify = None;
    if let Some(v) = get(&doc, "verify")
        && let Some(t) = table(v, "`[verify]`", &mut d)
    {
        unknown_keys(t, VERIFY_KEYS, "`[verify]`", &mut d);
        let at = v.span().start;
        let reason = string(t, "reason", "`[verify]`", true, at, &mut d);
        let rate = match get(t, "max_exception_rate") {
            Some(r) => {
                let value = match r.get_ref() {
                    DeValue::Float(f) => f.to_string().parse::<f64>().ok(),
                    DeValue::Integer(i) => i.to_string().parse::<f64>().ok(),
                    _ => None,
                };
                match value {
                    Some(x) if x.is_finite() && (0.0..=1.0).contains(&x) => {
                        Some((x, r.span().start))
                    }
                    _ => {
                        d.error(
                            r.span().start,
                            "`max_exception_rate` must be a number between 0 and 1 (0.05 = 5%)",
                        );
                        None
                    }
                }
            }
            None => {
                d.error(at, "`[verify]` needs `max_exception_rate` (0.05 = 5%)");
                None
            }
        };
        if let (Some((x, offset)), Some((reason, rspan))) = (rate, reason) {
            if reason.trim().is_empty() {
                d.error(
                    rspan.start,
                    "`reason` is empty: say why this module's exceptions are expected",
                );
            }
            verify = Some(ModuleLimit {
                max_exception_rate: x,
                reason,
                line: crate::diag::LineIndex::new(text).position(offset).0,
            });
        }
    }

    if deleted == DeletedPolicy::EnteredInError {
        let summary_type = summary.as_ref().map(|_| crate::SUMMARY_RESOURCE_TYPE);
        for t in resources
            .iter()
            .map(|r| r.resource_type.as_str())
            .chain(summary_type)
        {
            if !ENTERED_IN_ERROR_STATUS.iter().any(|(ty, _)| *ty == t) {
                d.error(
                    deleted_at,
                    format!(
                        "`deleted = \"entered-in-error\"`: {t} has no status with the code entered-in-error; use \"delete\" or \"report\" for this module"
                    ),
                );
            }
        }
    }

    // Ids must differ between resources of one row.
    let mut ids = BTreeSet::new();
    for r in &resources {
        if !ids.insert((r.resource_type.clone(), r.name.clone())) {
            d.error(0, format!(
                "two `{}` resources share the same `name`: give each a distinct `name` so their ids differ",
                r.resource_type
            ));
        }
    }

    lint_expressions(&b.exprs, engine, &mut d);

    // Compile every distinct expression once; fold those that do not read the row.
    let mut compile_errors: Vec<(usize, String)> = Vec::new();
    let compiled = Compiled::new(engine.env.clone(), |env| {
        let mut compiled = Vec::with_capacity(b.slots.len());
        let mut constants = Vec::with_capacity(b.slots.len());
        let mut columns = Vec::with_capacity(b.slots.len());
        let mut direct = Vec::with_capacity(b.slots.len());
        for (slot, text) in b.slots.iter().enumerate() {
            match env.compile_expression_owned(text.clone()) {
                Ok(e) => {
                    let reads_row = e.undeclared_variables(false).contains("row");
                    // An expression that fails without a row is left to fail on each row, so
                    // its rows become exceptions exactly as before.
                    let constant = if reads_row {
                        None
                    } else {
                        e.eval(minijinja::Value::from(()))
                            .ok()
                            .filter(|v| !v.is_undefined())
                    };
                    compiled.push(e);
                    constants.push(constant);
                    columns.push(crate::engine::bare_column(text));
                    direct.push(crate::engine::Direct::parse(text));
                }
                Err(err) => {
                    // Report the error at every occurrence of the text.
                    for info in b.exprs.iter().filter(|i| i.slot == slot) {
                        let inner = err
                            .range()
                            .map(|r| r.start)
                            .or_else(|| line_offset(&info.text, err.line()))
                            .unwrap_or(0);
                        let at = if info.exact {
                            info.offset + inner
                        } else {
                            info.offset
                        };
                        compile_errors.push((at, error_text(&err)));
                    }
                }
            }
        }
        Exprs {
            compiled,
            constants,
            columns,
            direct,
        }
    });
    for (at, m) in compile_errors {
        d.error(at, format!("expression: {m}"));
    }

    let mut list = d.list;
    list.sort_by_key(|d| (d.line, d.column));
    if list.iter().any(Diagnostic::is_error) {
        return (None, list);
    }
    let decisions = engine.shared.config.decisions.for_module(&name);
    let mut module = Module {
        name,
        description,
        file: file.to_string(),
        source,
        excludes,
        resources,
        summary,
        load_together,
        deleted,
        verify,
        exprs: b.exprs,
        compiled,
        decisions,
        shared: engine.shared.clone(),
        text: Arc::from(text),
        key_offsets,
        patient_offset,
        summary_offset,
        templates: Vec::new(),
    };
    module.templates = module
        .resources
        .iter()
        .map(|r| crate::template::Template::new(&module, &r.resource_type, &r.fields))
        .collect();
    (Some(module), list)
}

/// The `fields` table of a `[[resource]]` or `[summary]`: FHIR path -> expression, in file order,
/// with conflicting paths reported. `at` locates a missing table; `missing` says what to write.
fn parse_fields(
    t: &Table<'_>,
    at: usize,
    missing: &str,
    b: &mut Builder<'_>,
    d: &mut Diags<'_>,
) -> Vec<Field> {
    let mut fields: Vec<(usize, Field)> = Vec::new();
    match get(t, "fields") {
        Some(fv) => {
            if let Some(ft) = table(fv, "`fields`", d) {
                for (k, val) in ft.iter() {
                    let path = k.get_ref().to_string();
                    let segments = match parse_path(&path) {
                        Ok(s) => s,
                        Err(m) => {
                            d.error(k.span().start, format!("bad field path: {m}"));
                            continue;
                        }
                    };
                    let DeValue::String(e) = val.get_ref() else {
                        d.error(
                            val.span().start,
                            format!(
                                "field `{path}` must be an expression string (a literal is written `\"'text'\"`), not {}",
                                val.get_ref().type_str()
                            ),
                        );
                        continue;
                    };
                    let expr = b.add(e.to_string(), &val.span());
                    fields.push((
                        k.span().start,
                        Field {
                            path,
                            segments,
                            expr,
                            at: k.span().start,
                        },
                    ));
                }
            }
        }
        None => d.error(at, missing),
    }
    // File order, then conflicts between paths.
    fields.sort_by_key(|(off, _)| *off);
    for (i, (off, f)) in fields.iter().enumerate() {
        for (_, g) in fields.iter().take(i) {
            if let Some(why) = conflict(&g.segments, &f.segments) {
                d.error(
                    *off,
                    format!("field `{}` conflicts with `{}`: {why}", f.path, g.path),
                );
            }
        }
    }
    fields.into_iter().map(|(_, f)| f).collect()
}

fn line_offset(text: &str, line: Option<usize>) -> Option<usize> {
    let line = line?;
    if line <= 1 {
        return Some(0);
    }
    text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)
}

/// An error's kind and detail, without minijinja's "(in <expression>:1)" suffix.
pub(crate) fn error_text(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    }
}

/// The placeholder systems the module library once carried (`http://` and `https://`).
const PLACEHOLDER_SYSTEM: &str = "://ferry.example";

fn lint_expressions(exprs: &[ExprInfo], engine: &Engine, d: &mut Diags<'_>) {
    let config = engine.config();
    for e in exprs {
        let at = |off: usize| if e.exact { e.offset + off } else { e.offset };
        let s = lint::scan(&e.text);
        for f in &s.filters {
            let n = f.name.as_str();
            if !FERRY_FILTERS.contains(&n) && !BUILTIN_FILTERS.contains(&n) {
                d.error(
                    at(f.offset),
                    format!(
                        "unknown filter `{n}`; Ferry's filters are {}",
                        FERRY_FILTERS.join(", ")
                    ),
                );
            }
        }
        for c in &s.calls {
            let n = c.name.as_str();
            if !FERRY_FUNCTIONS.contains(&n) && !BUILTIN_FUNCTIONS.contains(&n) && n != "lookup" {
                d.error(
                    at(c.offset),
                    format!(
                        "unknown function `{n}`; functions are {}",
                        FERRY_FUNCTIONS.join(", ")
                    ),
                );
            }
            if n == "lookup" {
                d.error(
                    at(c.offset),
                    "`lookup` is a filter: write `row.code | lookup('map-name')`",
                );
            }
        }
        for l in &s.lookups {
            if config.concept_maps.get(&l.name).is_none() {
                d.error(
                    at(l.offset),
                    format!(
                        "no concept map `{}`: add concept-maps/{}.csv or concept-maps/{}.json",
                        l.name, l.name, l.name
                    ),
                );
            }
        }
        for sys in &s.systems {
            if let Err(m) = config.systems.resolve(&sys.name) {
                d.error(at(sys.offset), m);
            }
        }
        for (i, _) in e.text.match_indices(PLACEHOLDER_SYSTEM) {
            let scheme = e
                .text
                .get(..i)
                .and_then(|t| t.rfind(|c: char| !c.is_ascii_alphabetic()))
                .map_or(0, |j| j + 1);
            d.warning(
                at(scheme),
                "`http://ferry.example` is the module library's placeholder, not your organisation's system: write `system('sid/...')` or `system('CodeSystem/...')`, so that ferry.toml's `system_base` names it",
            );
        }
        for r in &s.refs {
            if !config.targets.contains_key(&r.name) {
                d.error(
                    at(r.offset),
                    format!("`ref` to unknown module `{}`", r.name),
                );
            }
        }
    }
}

/// Reads just `[module].name` (or the file stem) and the first `[[resource]]`'s `type` and `name`,
/// for building `ref` targets before the modules are compiled. `None` when the file does not say.
pub(crate) fn peek_primary(stem: &str, text: &str) -> Option<(String, String, Option<String>)> {
    let (doc, _) = DeTable::parse_recoverable(text);
    let doc = doc.into_inner();
    let name = doc
        .get("module")
        .and_then(|m| m.get_ref().as_table())
        .and_then(|m| m.get("name"))
        .and_then(|n| n.get_ref().as_str().map(str::to_string))
        .unwrap_or_else(|| stem.to_string());
    let first = doc
        .get("resource")?
        .get_ref()
        .as_array()?
        .first()?
        .get_ref()
        .as_table()?;
    let ty = first.get("type")?.get_ref().as_str()?.to_string();
    let rname = first
        .get("name")
        .and_then(|n| n.get_ref().as_str().map(str::to_string));
    Some((name, ty, rname))
}

#[allow(dead_code)]
fn _assert_sync() {
    fn is_sync<T: Sync + Send>() {}
    is_sync::<Module>();
}
