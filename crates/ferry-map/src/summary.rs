//! Summary documents: one patient's rows of a `[summary]` module rendered into a readable HTML
//! document and attached to a FHIR `DocumentReference` (base64 data, SHA-1 hash, size) — the
//! seeds' route for history not worth migrating as discrete data.
//!
//! The run engine hands over each patient's rows together (the query is ordered by the patient
//! column); every row still ends as exactly one outcome: excluded by a scope rule, an exception,
//! or migrated into the document (`RowOutcome::Migrated` with no resources of its own: the
//! document is returned once, beside the outcomes).

use base64::Engine as _;
use ferry_core::ValueRef;
use minijinja::Value;
use serde_json::{Value as Json, json};

use crate::eval::{FieldError, Memo, RowOutcome, RowView, context, to_mj};
use crate::module::{Module, SUMMARY_TEMPLATE_NAME, error_text};

/// The resource type summary documents are written as.
pub const SUMMARY_RESOURCE_TYPE: &str = "DocumentReference";

/// The built-in document: a heading and one table row per source row, in order.
pub const DEFAULT_SUMMARY_TEMPLATE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td { white-space: pre-wrap; }
p.meta { color: #555; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="meta">Historical record carried over from the legacy system (module <code>{{ module }}</code>, {{ rows | length }} row{{ "" if rows | length == 1 else "s" }}). It was not migrated as discrete data.</p>
<table>
<thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for r in rows %}<tr>{% for c in columns %}<td>{{ r[c] if r[c] is not none else "" }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
</body>
</html>
"#;

/// What became of one patient's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Summarized {
    /// One outcome per input row, in input order, with the row's source key (`(no key)` when it
    /// has none). A row in the document is `Migrated` with no resources of its own.
    pub rows: Vec<(String, RowOutcome)>,
    /// The document, when at least one row went into it and nothing failed.
    pub document: Option<Json>,
}

impl Module {
    /// True for a `[summary]` module: call [`Module::summarize`] per patient instead of
    /// [`Module::evaluate`] per row.
    pub fn is_summary(&self) -> bool {
        self.summary.is_some()
    }

    /// The columns a summary module's query must be ordered by: the patient column, then
    /// `order_by`, then the key (so the document's row order is deterministic).
    pub fn summary_order(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.source.patient {
            out.push(p.clone());
        }
        if let Some(s) = &self.summary {
            out.extend(s.order_by.iter().cloned());
        }
        out.extend(self.source.key.iter().cloned());
        out
    }

    /// The patient column's value of a row (`None` when NULL, empty or absent).
    pub fn patient_of(&self, row: &RowView<'_>) -> Option<String> {
        let p = self.source.patient.as_ref()?;
        let i = row.schema.columns().iter().position(|c| c == p)?;
        match row.values.get(i) {
            Some(ValueRef::Text(t)) if !t.trim().is_empty() => Some((*t).to_string()),
            _ => None,
        }
    }

    /// The runs of consecutive rows that share a patient value (as the run hands a summary
    /// module's rows over, ordered by patient), as index ranges covering every row in order.
    pub fn patient_runs(&self, rows: &[RowView<'_>]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let patient = rows.get(start).and_then(|r| self.patient_of(r));
            let mut end = start + 1;
            while end < rows.len() && rows.get(end).and_then(|r| self.patient_of(r)) == patient {
                end += 1;
            }
            out.push(start..end);
            start = end;
        }
        out
    }

    /// Renders one patient's rows (all with the same patient value) into a `DocumentReference`.
    /// Thread-safe. Not for discrete modules (every row becomes an exception saying so).
    pub fn summarize(&self, rows: &[RowView<'_>]) -> Summarized {
        let mut out: Vec<(String, RowOutcome)> = Vec::with_capacity(rows.len());
        let Some(summary) = &self.summary else {
            for r in rows {
                let key = self.row_key(r).unwrap_or_else(|_| "(no key)".into());
                out.push((key, row_level("module", "not a `[summary]` module".into())));
            }
            return Summarized {
                rows: out,
                document: None,
            };
        };
        // Scope rules and keys, row by row; the rest go into the document.
        let mut included: Vec<usize> = Vec::new();
        let mut patient: Option<String> = None;
        for (i, r) in rows.iter().enumerate() {
            let key = match self.row_key(r) {
                Ok(k) => k,
                Err(m) => {
                    out.push(("(no key)".into(), row_level("source.key", m)));
                    continue;
                }
            };
            let ctx = context(r);
            let mut memo: Memo = vec![None; self.slot_count()];
            if let Some(o) = self.scope(&ctx, &mut memo) {
                out.push((key, o));
                continue;
            }
            let Some(p) = self.patient_of(r) else {
                out.push((
                    key,
                    row_level(
                        "source.patient",
                        "the patient column is NULL or empty: a summary document belongs to a patient"
                            .into(),
                    ),
                ));
                continue;
            };
            match &patient {
                None => patient = Some(p),
                Some(q) if *q == p => {}
                Some(_) => {
                    out.push((
                        key,
                        row_level(
                            "source.patient",
                            "internal: rows of two patients were given to one document".into(),
                        ),
                    ));
                    continue;
                }
            }
            out.push((key, RowOutcome::Migrated(Vec::new())));
            included.push(i);
        }
        let (Some(first), Some(patient)) = (included.first(), patient) else {
            return Summarized {
                rows: out,
                document: None,
            };
        };

        let doc = self.document(summary, rows, &included, *first, &patient);
        match doc {
            Ok(document) => Summarized {
                rows: out,
                document: Some(document),
            },
            Err(errors) => {
                for (_, o) in out.iter_mut() {
                    if matches!(o, RowOutcome::Migrated(_)) {
                        *o = RowOutcome::Exception(errors.clone());
                    }
                }
                Summarized {
                    rows: out,
                    document: None,
                }
            }
        }
    }

    fn document(
        &self,
        summary: &crate::module::Summary,
        rows: &[RowView<'_>],
        included: &[usize],
        first: usize,
        patient: &str,
    ) -> Result<Json, Vec<FieldError>> {
        let ty = SUMMARY_RESOURCE_TYPE;
        let fail = |path: &str, message: String| {
            vec![FieldError {
                resource_type: ty.into(),
                path: path.into(),
                expression: String::new(),
                message,
                raw_value: None,
            }]
        };
        let Some(first_row) = rows.get(first) else {
            return Err(fail("summary", "internal: no first row".into()));
        };
        let all_columns = first_row.schema.columns();
        let columns: Vec<&str> = match &summary.columns {
            Some(c) => c.iter().map(String::as_str).collect(),
            None => all_columns.iter().map(String::as_str).collect(),
        };
        let mut indices = Vec::with_capacity(columns.len());
        for c in &columns {
            match all_columns.iter().position(|a| a == c) {
                Some(i) => indices.push(i),
                None => {
                    return Err(fail(
                        "summary.columns",
                        format!("the query returns no column `{c}`"),
                    ));
                }
            }
        }
        let table: Vec<Value> = included
            .iter()
            .filter_map(|&i| rows.get(i))
            .map(|r| {
                let map = columns
                    .iter()
                    .zip(&indices)
                    .map(|(c, &i)| {
                        let v = match r.values.get(i) {
                            Some(ValueRef::Bytes(b)) => {
                                Value::from(format!("(binary data, {} bytes)", b.len()))
                            }
                            Some(v) => to_mj(*v),
                            None => Value::from(()),
                        };
                        (c.to_string(), v)
                    })
                    .collect::<std::collections::BTreeMap<String, Value>>();
                Value::from(map)
            })
            .collect();
        let ctx = minijinja::context! {
            title => summary.title.clone(),
            module => self.name.clone(),
            patient => patient.to_string(),
            columns => columns.iter().map(|c| c.to_string()).collect::<Vec<String>>(),
            rows => table,
        };
        let src = summary
            .template
            .as_deref()
            .unwrap_or(DEFAULT_SUMMARY_TEMPLATE);
        let html = self
            .shared_env()
            .render_named_str(SUMMARY_TEMPLATE_NAME, src, ctx)
            .map_err(|e| fail("summary.template", error_text(&e)))?;

        // The resource's own fields, from the patient's first row.
        let ctx = context(first_row);
        let mut memo: Memo = vec![None; self.slot_count()];
        let mut errors = Vec::new();
        let b = self.build(ty, &summary.fields, &ctx, &mut memo, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let bytes = html.as_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        let attachment = json!({
            "contentType": "text/html; charset=utf-8",
            "data": b64.encode(bytes),
            "size": bytes.len(),
            "hash": crate::funcs::attach::sha1_base64(bytes),
            "title": summary.title,
        });
        let id = (self.shared.config.ids)(&self.name, ty, patient);
        let mut doc = b.finish(vec![
            ("resourceType".into(), Json::String(ty.into())),
            ("id".into(), Json::String(id)),
        ]);
        if let Some(obj) = doc.as_object_mut() {
            obj.insert(
                "content".into(),
                Json::Array(vec![json!({ "attachment": attachment })]),
            );
            obj.entry("description")
                .or_insert_with(|| Json::String(summary.title.clone()));
        }
        Ok(doc)
    }
}

fn row_level(path: &str, message: String) -> RowOutcome {
    RowOutcome::Exception(vec![FieldError {
        resource_type: String::new(),
        path: path.into(),
        expression: String::new(),
        message,
        raw_value: None,
    }])
}
