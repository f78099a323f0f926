//! Exact duplicate rows: rows equal in every column except the key.
//!
//! SQLite does the work with a window over all non-key columns (an external sort that spills to
//! temporary files), so this crate holds nothing of the table: it streams only the second and
//! later copies of each group, in source order.

use ferry_store::{QueryValue, SnapshotReader, TableInfo};

use crate::keys::Acc;
use crate::table::Ctx;
use crate::{AuditError, Finding, Severity};

/// Quotes an SQL identifier for SQLite.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn text(v: &QueryValue) -> String {
    match v {
        QueryValue::Null => "NULL".to_string(),
        other => other.to_string(),
    }
}

/// The column indices of a table's declared primary key (empty when it has none or a key column
/// is not staged).
pub(crate) fn pk_indices(t: &TableInfo) -> Vec<usize> {
    let idx: Vec<Option<usize>> = t
        .primary_key
        .iter()
        .map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect();
    if idx.iter().any(Option::is_none) {
        return Vec::new();
    }
    idx.into_iter().flatten().collect()
}

pub(crate) fn exact_duplicates(
    reader: &SnapshotReader,
    t: &TableInfo,
    ctx: &Ctx<'_>,
) -> Result<Option<Finding>, AuditError> {
    let pk = pk_indices(t);
    let others: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| !pk.contains(i))
        .map(|(_, c)| quote(&c.staged_name))
        .collect();
    if others.is_empty() || t.rows < 2 {
        return Ok(None);
    }
    let key_cols: Vec<String> = if pk.is_empty() {
        vec!["rowid".to_string()]
    } else {
        pk.iter()
            .filter_map(|&i| t.columns.get(i))
            .map(|c| quote(&c.staged_name))
            .collect()
    };
    let cur: Vec<String> = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} AS _k{i}"))
        .collect();
    let first: Vec<String> = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("first_value({k}) OVER w AS _f{i}"))
        .collect();
    let n = key_cols.len();
    let sql = format!(
        "SELECT * FROM (SELECT rowid AS _r, {}, {}, row_number() OVER w AS _n FROM {} \
         WINDOW w AS (PARTITION BY {} ORDER BY rowid)) WHERE _n > 1 ORDER BY _r",
        cur.join(", "),
        first.join(", "),
        quote(&t.staged_name),
        others.join(", ")
    );
    let mut acc = Acc::default();
    let join = |vals: &[QueryValue]| {
        let parts: Vec<String> = vals.iter().map(text).collect();
        let s = parts.join("|");
        if pk.is_empty() {
            format!("rowid {s}")
        } else {
            s
        }
    };
    reader.query(&sql, &mut |_, row| {
        let this = row.get(1..1 + n).unwrap_or_default();
        let orig = row.get(1 + n..1 + 2 * n).unwrap_or_default();
        acc.hit(
            ctx.limit,
            false,
            || format!("{} ~ {}", join(orig), join(this)),
            String::new,
        );
        true
    })?;
    if acc.count == 0 {
        return Ok(None);
    }
    Ok(Some(Finding {
        check: "exact_duplicate_row".into(),
        severity: Severity::Warning,
        table: t.name.clone(),
        column: None,
        count: acc.count,
        example_keys: acc.keys,
        example_values: Vec::new(),
        message: format!(
            "{} row(s) of `{}` repeat an earlier row in every column except the key; examples are `original ~ copy`. Keep one of each and move references to it",
            acc.count, t.name
        ),
        breakdown: Default::default(),
    }))
}
