//! Per-row evaluation: every source row ends as exactly one [`RowOutcome`].

use std::collections::HashMap;
use std::sync::Arc;

use ferry_core::ValueRef;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use serde_json::{Value as Json, json};

use crate::funcs::FnError;
use crate::module::{Module, error_text};
use crate::path::Builder;

/// The column names of the rows a module's query returns, built once per query.
#[derive(Debug)]
pub struct RowSchema {
    columns: Vec<String>,
    index: HashMap<String, usize>,
}

impl RowSchema {
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Arc<Self> {
        let columns: Vec<String> = columns.into_iter().map(Into::into).collect();
        let mut index = HashMap::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            // The first of duplicate names wins (SQL allows `SELECT a, a`).
            index.entry(c.clone()).or_insert(i);
        }
        Arc::new(Self { columns, index })
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// One source row: the schema and the row's values in column order (borrowed, not copied).
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    pub schema: &'a Arc<RowSchema>,
    pub values: &'a [ValueRef<'a>],
}

/// Why one field (or rule) of a row could not be mapped. `message` holds no data value;
/// `raw_value` holds the offending input, when known, for the exception record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The resource type; empty for row-level problems (key, exclusion rules).
    pub resource_type: String,
    /// The FHIR path, or `source.key`, `exclude.NAME`, `resource.when`.
    pub path: String,
    pub expression: String,
    pub message: String,
    pub raw_value: Option<String>,
}

/// What became of one source row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    /// The resources produced, in module order.
    Migrated(Vec<Json>),
    /// Excluded by a named scope rule.
    Excluded { rule: String, reason: String },
    /// Every field error of the row (all of them, not just the first).
    Exception(Vec<FieldError>),
}

pub(crate) type EvalResult = Result<Value, (String, Option<String>)>;
/// One row's results by slot.
pub(crate) type Memo = Vec<Option<EvalResult>>;

/// Rule name used when no `[[resource]]` applies to a row (every `when` was false).
pub const NO_RESOURCE_RULE: &str = "no-resource-applies";

impl RowOutcome {
    /// A JSON form for golden files and the run ledger.
    pub fn to_json(&self) -> Json {
        match self {
            RowOutcome::Migrated(r) => json!({ "migrated": r }),
            RowOutcome::Excluded { rule, reason } => {
                json!({ "excluded": { "rule": rule, "reason": reason } })
            }
            RowOutcome::Exception(errs) => json!({
                "exception": errs.iter().map(|e| json!({
                    "resource_type": e.resource_type,
                    "path": e.path,
                    "expression": e.expression,
                    "message": e.message,
                    "raw_value": e.raw_value,
                })).collect::<Vec<_>>()
            }),
        }
    }
}

#[derive(Debug)]
struct RowObj {
    schema: Arc<RowSchema>,
    values: Arc<[Value]>,
}

impl Object for RowObj {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = *self.schema.index.get(key.as_str()?)?;
        self.values.get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self
            .schema
            .columns
            .iter()
            .map(|c| Value::from(c.as_str()))
            .collect();
        Enumerator::Iter(Box::new(names.into_iter()))
    }
}

#[derive(Debug)]
struct Root {
    row: Value,
}

impl Object for Root {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "row").then(|| self.row.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["row"])
    }
}

/// One row as expressions see it. The expression engine's context (`row.COLUMN`, every column
/// converted) is built only when an expression needs the engine; a bare `row.COLUMN` and the
/// engine-free calls read the column they name straight from the row.
pub(crate) struct Ctx<'a> {
    row: RowView<'a>,
    root: std::cell::OnceCell<Value>,
}

impl Ctx<'_> {
    /// The value of `row.<column>`; `None` when the query has no such column (the expression
    /// engine then says what that means).
    fn column(&self, column: &str) -> Option<Value> {
        let i = *self.row.schema.index.get(column)?;
        self.row.values.get(i).map(|v| to_mj(*v))
    }

    /// The engine's context, built on first use.
    fn root(&self) -> &Value {
        self.root.get_or_init(|| {
            let values: Arc<[Value]> = self.row.values.iter().map(|v| to_mj(*v)).collect();
            let row_obj = Value::from_object(RowObj {
                schema: self.row.schema.clone(),
                values,
            });
            Value::from_object(Root { row: row_obj })
        })
    }
}

pub(crate) fn context<'a>(row: &RowView<'a>) -> Ctx<'a> {
    Ctx {
        row: *row,
        root: std::cell::OnceCell::new(),
    }
}

pub(crate) fn to_mj(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::from(()),
        ValueRef::Text(s) => Value::from(s),
        ValueRef::Bytes(b) => Value::from_bytes(b.to_vec()),
    }
}

/// Converts an expression result to JSON. `Ok(None)`: omit the element (none, blank text,
/// empty list or map).
pub(crate) fn to_json(v: &Value) -> Result<Option<Json>, String> {
    match v.kind() {
        ValueKind::Undefined => {
            Err("the expression is undefined (a misspelt column or attribute?)".into())
        }
        ValueKind::None => Ok(None),
        ValueKind::Bool => Ok(Some(Json::Bool(v.is_true()))),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                return Ok(Some(Json::from(i)));
            }
            let f = f64::try_from(v.clone()).map_err(|_| "a number out of range".to_string())?;
            serde_json::Number::from_f64(f)
                .map(|n| Some(Json::Number(n)))
                .ok_or_else(|| "not a finite number".to_string())
        }
        ValueKind::String => {
            let s = v.as_str().unwrap_or("");
            Ok(if s.trim().is_empty() {
                None
            } else {
                Some(Json::String(s.to_string()))
            })
        }
        ValueKind::Bytes => {
            Err("bytes cannot be written as a FHIR value: decode or encode them first".into())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut out = Vec::new();
            for item in v.try_iter().map_err(|e| error_text(&e))? {
                if let Some(j) = to_json(&item)? {
                    out.push(j);
                }
            }
            Ok(if out.is_empty() {
                None
            } else {
                Some(Json::Array(out))
            })
        }
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            for k in v.try_iter().map_err(|e| error_text(&e))? {
                let item = v.get_item(&k).map_err(|e| error_text(&e))?;
                if let Some(j) = to_json(&item)? {
                    out.insert(k.to_string(), j);
                }
            }
            Ok(if out.is_empty() {
                None
            } else {
                Some(Json::Object(out))
            })
        }
        other => Err(format!("a {other} value cannot be written as FHIR JSON")),
    }
}

fn fn_error_of(err: &minijinja::Error) -> Option<&FnError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(c) = cur {
        if let Some(f) = c.downcast_ref::<FnError>() {
            return Some(f);
        }
        cur = c.source();
    }
    None
}

impl Module {
    /// Evaluates expression occurrence `i` for the row in `root`. Each distinct expression is
    /// evaluated at most once per row (`memo`); constants not at all.
    pub(crate) fn run(&self, i: usize, ctx: &Ctx<'_>, memo: &mut Memo) -> EvalResult {
        let Some(slot) = self.slot(i) else {
            return Err(("internal: expression not compiled".into(), None));
        };
        if let Some(c) = self.constant(slot) {
            return Ok(c.clone());
        }
        if let Some(v) = self.column_of(slot).and_then(|c| ctx.column(c)) {
            return Ok(v);
        }
        if let Some(Some(done)) = memo.get(slot) {
            return done.clone();
        }
        // A shape called without the engine; on any error the engine runs it (same message).
        if let Some(d) = self.direct_of(slot)
            && let Some(v) = ctx.column(&d.column)
            && let Ok(out) = d.call(&self.shared, &v)
        {
            if let Some(m) = memo.get_mut(slot) {
                *m = Some(Ok(out.clone()));
            }
            return Ok(out);
        }
        let Some(expr) = self.expression(slot) else {
            return Err(("internal: expression not compiled".into(), None));
        };
        let result = expr
            .eval(ctx.root().clone())
            .map_err(|e| match fn_error_of(&e) {
                Some(f) => (f.message.clone(), f.raw.clone()),
                None => (error_text(&e), None),
            });
        if let Some(m) = memo.get_mut(slot) {
            *m = Some(result.clone());
        }
        result
    }

    pub(crate) fn field_error(
        &self,
        ty: &str,
        path: String,
        i: usize,
        (message, raw_value): (String, Option<String>),
    ) -> FieldError {
        FieldError {
            resource_type: ty.to_string(),
            path,
            expression: self.expr_text(i).to_string(),
            message,
            raw_value,
        }
    }

    /// The row's source key: its key columns' values joined with `|`. A NULL, empty or binary
    /// key value is an error (the row becomes an exception). [`Module::duplicate_key_query`] is
    /// the same equality in SQL: keep the two together.
    pub fn row_key(&self, row: &RowView<'_>) -> Result<String, String> {
        let mut parts = Vec::with_capacity(self.source.key.len());
        for k in &self.source.key {
            let Some(&i) = row.schema.index.get(k) else {
                return Err(format!("key column `{k}` is not in the query's result"));
            };
            match row.values.get(i) {
                Some(ValueRef::Text(t)) if !t.is_empty() => parts.push(*t),
                Some(ValueRef::Bytes(_)) => {
                    return Err(format!("key column `{k}` holds bytes, not text"));
                }
                _ => return Err(format!("key column `{k}` is NULL or empty")),
            }
        }
        Ok(parts.join("|"))
    }

    /// Evaluates `fields` into their values, in field order (`None`: the element is omitted);
    /// failures go to `errors`.
    pub(crate) fn leaves(
        &self,
        ty: &str,
        fields: &[crate::module::Field],
        ctx: &Ctx<'_>,
        memo: &mut Memo,
        errors: &mut Vec<FieldError>,
    ) -> Vec<Option<Json>> {
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            let value = match self.run(f.expr, ctx, memo) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(self.field_error(ty, f.path.clone(), f.expr, e));
                    out.push(None);
                    continue;
                }
            };
            match to_json(&value) {
                Ok(j) => out.push(j),
                Err(m) => {
                    errors.push(self.field_error(ty, f.path.clone(), f.expr, (m, None)));
                    out.push(None);
                }
            }
        }
        out
    }

    /// Evaluates `fields` into a resource body; failures go to `errors`.
    pub(crate) fn build(
        &self,
        ty: &str,
        fields: &[crate::module::Field],
        ctx: &Ctx<'_>,
        memo: &mut Memo,
        errors: &mut Vec<FieldError>,
    ) -> Builder {
        let leaves = self.leaves(ty, fields, ctx, memo, errors);
        assemble_fields(fields, leaves, |f, m| {
            errors.push(self.field_error(ty, f.path.clone(), f.expr, (m.to_string(), None)));
        })
    }

    /// The scope rules: `Some` when a rule excludes the row (or cannot be evaluated).
    pub(crate) fn scope(&self, ctx: &Ctx<'_>, memo: &mut Memo) -> Option<RowOutcome> {
        for ex in &self.excludes {
            match self.run(ex.when, ctx, memo) {
                Ok(v) if v.is_undefined() => {
                    let e = (
                        "the rule is undefined (a misspelt column?)".to_string(),
                        None,
                    );
                    return Some(RowOutcome::Exception(vec![self.field_error(
                        "",
                        format!("exclude.{}", ex.name),
                        ex.when,
                        e,
                    )]));
                }
                Ok(v) if v.is_true() => {
                    return Some(RowOutcome::Excluded {
                        rule: ex.name.clone(),
                        reason: ex.reason.clone(),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    return Some(RowOutcome::Exception(vec![self.field_error(
                        "",
                        format!("exclude.{}", ex.name),
                        ex.when,
                        e,
                    )]));
                }
            }
        }

        None
    }

    /// Maps one source row. Thread-safe: call from as many threads as you like.
    pub fn evaluate(&self, row: &RowView<'_>) -> RowOutcome {
        match self.evaluate_fields(row) {
            Evaluated::Migrated(built) => {
                RowOutcome::Migrated(built.iter().map(|b| self.assemble(b)).collect())
            }
            Evaluated::Excluded { rule, reason } => RowOutcome::Excluded { rule, reason },
            Evaluated::Exception(errors) => RowOutcome::Exception(errors),
        }
    }

    /// The id of `resource` (one of this module's `[[resource]]`s) made from the row with source
    /// key `key`: the project's id function over (module, type, key, or `key#name` for a named
    /// resource). The one place a discrete resource's id is computed.
    pub fn resource_id(&self, resource: &crate::module::Resource, key: &str) -> String {
        match &resource.name {
            Some(n) => {
                (self.shared.config.ids)(&self.name, &resource.resource_type, &format!("{key}#{n}"))
            }
            None => (self.shared.config.ids)(&self.name, &resource.resource_type, key),
        }
    }

    /// Maps one source row into each resource's id and field values, not yet assembled:
    /// [`Module::render`] writes a resource's canonical bytes from them, [`Module::assemble`]
    /// its JSON. [`Module::evaluate`] is this followed by `assemble`.
    pub fn evaluate_fields(&self, row: &RowView<'_>) -> Evaluated {
        let key = match self.row_key(row) {
            Ok(k) => k,
            Err(message) => {
                let e = vec![FieldError {
                    resource_type: String::new(),
                    path: "source.key".into(),
                    expression: String::new(),
                    message,
                    raw_value: None,
                }];
                return self
                    .excluding_decision(&e)
                    .unwrap_or(Evaluated::Exception(e));
            }
        };
        // Forget what an earlier row (or the module's load) noted.
        let _ = crate::decisions::take_used();
        let ctx = context(row);
        let mut memo: Memo = vec![None; self.slot_count()];

        if let Some(outcome) = self.scope(&ctx, &mut memo) {
            return match outcome {
                RowOutcome::Excluded { rule, reason } => Evaluated::Excluded { rule, reason },
                RowOutcome::Exception(e) => match self.excluding_decision(&e) {
                    Some(d) => d,
                    None => Evaluated::Exception(e),
                },
                RowOutcome::Migrated(_) => Evaluated::Exception(Vec::new()),
            };
        }

        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(self.resources.len());
        // Decisions that changed this row, and an `exclude` decision that covers one of its
        // exceptions.
        let mut applied: Vec<u32> = Vec::new();
        let mut excluded_by: Option<u32> = None;
        for (index, r) in self.resources.iter().enumerate() {
            let ty = r.resource_type.as_str();
            if let Some(w) = r.when {
                match self.run(w, &ctx, &mut memo) {
                    Ok(v) if v.is_undefined() => {
                        let e = ("`when` is undefined (a misspelt column?)".to_string(), None);
                        errors.push(self.field_error(ty, "resource.when".into(), w, e));
                        continue;
                    }
                    Ok(v) if !v.is_true() => continue,
                    Ok(_) => {}
                    Err(e) => {
                        errors.push(self.field_error(ty, "resource.when".into(), w, e));
                        continue;
                    }
                }
            }
            let before = errors.len();
            let mut leaves = self.leaves(ty, &r.fields, &ctx, &mut memo, &mut errors);
            let mut extra = Vec::new();
            if errors.len() > before {
                match self.decide(r, &mut leaves, errors.get(before..).unwrap_or(&[])) {
                    Decide::Fixed(ids, added) => {
                        errors.truncate(before);
                        applied.extend(ids);
                        extra = added;
                    }
                    Decide::Exclude(i) => {
                        excluded_by.get_or_insert(i);
                        continue;
                    }
                    Decide::No => continue,
                }
            }
            let id = self.resource_id(r, &key);
            out.push(Built {
                resource: index,
                id,
                leaves,
                decisions: Vec::new(),
                extra,
            });
        }
        if let Some(i) = excluded_by {
            let _ = crate::decisions::take_used();
            return self.excluded_by_decision(i);
        }
        if !errors.is_empty() {
            return Evaluated::Exception(errors);
        }
        applied.extend(crate::decisions::take_used());
        if !applied.is_empty() {
            applied.sort_unstable();
            applied.dedup();
            for b in &mut out {
                b.decisions.clone_from(&applied);
            }
        }
        if out.is_empty() {
            return Evaluated::Excluded {
                rule: NO_RESOURCE_RULE.into(),
                reason: "no `[[resource]]` `when` condition held for this row".into(),
            };
        }
        Evaluated::Migrated(out)
    }

    /// The JSON of one evaluated resource (members in the module's field order).
    pub fn assemble(&self, built: &Built) -> Json {
        let Some(r) = self.resources.get(built.resource) else {
            return Json::Null;
        };
        let ty = r.resource_type.as_str();
        let mut b = assemble_fields(&r.fields, built.leaves.clone(), |_, _| {});
        for (segments, value) in &built.extra {
            // `decide` only adds an element that conflicts with no present field.
            let _ = b.set(segments, value.clone());
        }
        b.finish(vec![
            ("resourceType".into(), Json::String(ty.to_string())),
            ("id".into(), Json::String(built.id.clone())),
        ])
    }
}

/// What the reviewers' decisions make of one resource's field errors.
enum Decide {
    /// Every error is covered by a `default` or `text` decision: these, and the elements a
    /// `text` decision adds.
    Fixed(Vec<u32>, Vec<(Vec<crate::path::Segment>, Json)>),
    /// An `exclude` decision covers one of the errors.
    Exclude(u32),
    /// Some error is covered by no decision: the row stays an exception.
    No,
}

impl Module {
    /// Every reviewer decision of the project (`mappings/decisions.toml`).
    pub fn project_decisions(&self) -> &crate::decisions::Decisions {
        &self.shared.config.decisions
    }

    /// The decision at `index` (as [`Built::decisions`] holds them).
    pub fn decision(&self, index: u32) -> Option<&crate::decisions::Decision> {
        self.shared.config.decisions.get(index)
    }

    fn covering(&self, e: &FieldError) -> Option<(u32, &crate::decisions::Decision)> {
        self.decisions.iter().find_map(|&i| {
            let d = self.shared.config.decisions.get(i)?;
            d.covers(e).then_some((i, d))
        })
    }

    /// A row-level exception (key, scope rule) covered by an `exclude` decision.
    fn excluding_decision(&self, errors: &[FieldError]) -> Option<Evaluated> {
        if self.decisions.is_empty() {
            return None;
        }
        errors.iter().find_map(|e| match self.covering(e) {
            Some((i, d)) if d.action == crate::decisions::Action::Exclude => {
                Some(self.excluded_by_decision(i))
            }
            _ => None,
        })
    }

    fn excluded_by_decision(&self, i: u32) -> Evaluated {
        let (id, why) = self
            .decision(i)
            .map(|d| (d.id.as_str(), d.why.as_str()))
            .unwrap_or(("?", ""));
        Evaluated::Excluded {
            rule: crate::decisions::exclusion_rule(id),
            reason: why.to_string(),
        }
    }

    /// Applies the decisions covering `errors` (one resource's field errors) to its `leaves`.
    fn decide(
        &self,
        r: &crate::module::Resource,
        leaves: &mut [Option<Json>],
        errors: &[FieldError],
    ) -> Decide {
        use crate::decisions::Action;
        if self.decisions.is_empty() {
            return Decide::No;
        }
        let mut ids = Vec::new();
        let mut fills: Vec<(usize, Option<Json>)> = Vec::new();
        let mut texts: Vec<(&[crate::path::Segment], Json)> = Vec::new();
        for e in errors {
            let Some((i, d)) = self.covering(e) else {
                return Decide::No;
            };
            let Some(f) = r.fields.iter().position(|f| f.path == e.path) else {
                // Not a field (`resource.when`): only an exclusion can cover it.
                if d.action == Action::Exclude {
                    return Decide::Exclude(i);
                }
                return Decide::No;
            };
            match &d.action {
                Action::Exclude => return Decide::Exclude(i),
                Action::Default(v) => fills.push((f, Some(v.clone()))),
                Action::Text { segments, .. } => {
                    let Some(raw) = &e.raw_value else {
                        return Decide::No;
                    };
                    fills.push((f, None));
                    texts.push((segments, Json::String(raw.clone())));
                }
                // A map decision's entry is in its concept map: its lookups do not fail.
                Action::Map { .. } => return Decide::No,
            }
            ids.push(i);
        }
        for (f, v) in fills {
            if let Some(slot) = leaves.get_mut(f) {
                *slot = v;
            }
        }
        let mut extra = Vec::new();
        for (segments, value) in texts {
            if let Some(f) = r.fields.iter().position(|f| f.segments == segments) {
                if let Some(slot) = leaves.get_mut(f) {
                    *slot = Some(value);
                }
                continue;
            }
            let clash = r.fields.iter().zip(leaves.iter()).any(|(f, l)| {
                l.is_some() && crate::path::conflict(&f.segments, segments).is_some()
            }) || extra
                .iter()
                .any(|(s, _): &(Vec<crate::path::Segment>, Json)| {
                    crate::path::conflict(s, segments).is_some()
                });
            if clash {
                return Decide::No;
            }
            extra.push((segments.to_vec(), value));
        }
        Decide::Fixed(ids, extra)
    }
}

/// Sets each present field value into a [`Builder`]. Conflicting paths are rejected when the
/// module loads, so `conflict` only guards against misuse.
fn assemble_fields(
    fields: &[crate::module::Field],
    leaves: Vec<Option<Json>>,
    mut conflict: impl FnMut(&crate::module::Field, &'static str),
) -> Builder {
    let mut b = Builder::new();
    for (f, leaf) in fields.iter().zip(leaves) {
        if let Some(j) = leaf
            && let Err(m) = b.set(&f.segments, j)
        {
            conflict(f, m);
        }
    }
    b
}

/// One resource a row produced, before assembly: which `[[resource]]` of the module, its id,
/// and its fields' values in field order (`None`: omitted).
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub resource: usize,
    pub id: String,
    pub leaves: Vec<Option<Json>>,
    /// The reviewers' decisions that changed this row (indexes: [`Module::decision`]); empty
    /// for almost every row.
    pub decisions: Vec<u32>,
    /// Elements a `text` decision added that are not fields of the resource.
    pub extra: Vec<(Vec<crate::path::Segment>, Json)>,
}

/// What became of one source row, with the resources not yet assembled
/// ([`Module::evaluate_fields`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluated {
    Migrated(Vec<Built>),
    Excluded { rule: String, reason: String },
    Exception(Vec<FieldError>),
}
