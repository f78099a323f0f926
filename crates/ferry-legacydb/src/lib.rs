//! `ferry load --target NAME --snapshot N` for `kind = "postgres"` and `kind = "mysql"` targets:
//! a staged snapshot's tables copied into a schema (PostgreSQL) or database (MariaDB/MySQL) of
//! the target, values exactly as staged, each column in its declared type's counterpart only
//! where every value reads back as the same text ([`types`]), verified by reading the copy back
//! and computing the same row counts and content hashes staging recorded, and replacing the
//! previous copy atomically:
//!
//! - PostgreSQL ([`pg`]): one transaction creates a temporary schema, COPYs every table into it
//!   (binary COPY, encoded by `postgres-types`), reads it back, then drops the old schema and
//!   renames the new one. DDL is transactional, so a kill at any instant leaves the old copy or
//!   the new one.
//! - MariaDB/MySQL ([`mysql`]): DDL is not transactional, so the tables are loaded into a
//!   staging database (`<schema>__ferry_tmp`) by batched prepared multi-row INSERTs, read back,
//!   then one `RENAME TABLE` moves the old tables out and the new ones in; the leftovers are
//!   dropped after, or by the next copy.
//!
//! Ferry marks everything it creates with a `_ferry_copy` table (the snapshot, each table's rows
//! and content hash) and drops only schemas that hold nothing else: a schema of the same name
//! without that marker is an error, never dropped.
//!
//! Knows no project: `ferry-ops::legacydb` gives it the target's settings, the snapshot and
//! where to resolve file settings. The password comes from an environment variable or a file;
//! no message prints it, and no message prints a cell value (a server error about data is
//! reported by its code and the table and column, not its text).

pub mod config;
pub mod mysql;
pub mod pg;
pub mod types;

pub use config::DbTargetConfig;
pub use types::{Engine, Storage};

use ferry_core::content_hash::TableHasher;
use ferry_core::{Cancel, ValueRef};
use ferry_store::{SnapshotInfo, SnapshotReader, TableInfo};
use serde::Serialize;
use std::path::Path;

/// Why a copy failed. The previous copy in the target is unchanged in every case.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("target `{target}` in ferry.toml: {message}")]
    Config { target: String, message: String },
    #[error("target `{target}` ({server}): {message}")]
    Server {
        target: String,
        server: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] ferry_store::StoreError),
    #[error("cancelled; the previous copy in the target database is unchanged")]
    Cancelled,
}

/// Progress of a copy.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Phase { name: &'a str, total: Option<u64> },
    Position(u64),
    Message(&'a str),
}

/// What to copy where.
pub struct CopyRequest<'a> {
    /// `[targets.NAME]`.
    pub target: &'a str,
    pub config: &'a DbTargetConfig,
    /// Resolves relative `password_file` and `ca_file`.
    pub project_root: &'a Path,
    pub snapshot: &'a SnapshotInfo,
    pub tables: &'a [TableInfo],
    pub reader: &'a SnapshotReader,
    pub cancel: &'a Cancel,
    pub on_event: &'a (dyn Fn(Event<'_>) + Sync),
}

/// One column of the copy.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnPlan {
    /// The column's name in the copy (its staged name).
    pub name: String,
    pub declared_type: Option<String>,
    #[serde(flatten)]
    pub storage: Storage,
}

/// One table of the copy.
#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    /// The table's name in the copy (its staged name).
    pub name: String,
    /// The table as the source named it.
    pub source: String,
    pub columns: Vec<ColumnPlan>,
    /// As staging recorded them.
    pub rows: u64,
    pub content_sha256: String,
}

/// One table as read back from the copy.
#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    pub table: String,
    pub rows: u64,
    pub rows_read_back: u64,
    pub content_sha256: String,
    pub content_sha256_read_back: String,
    pub matches: bool,
    /// Columns stored in a typed column (the others are text, bytes or both).
    pub typed_columns: usize,
    pub columns: Vec<ColumnPlan>,
}

/// A finished copy.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub target: String,
    pub engine: Engine,
    /// Host, port and database (never a password).
    pub server: String,
    pub schema: String,
    pub snapshot: u64,
    pub snapshot_sha256: String,
    /// The snapshot the replaced copy held, if there was one.
    pub replaced_snapshot: Option<u64>,
    pub tables: Vec<TableResult>,
    pub rows: u64,
    pub duration_ms: u64,
    /// Milliseconds spent copying rows in (the rest: planning, reading back, swapping).
    pub copy_ms: u64,
}

/// The reserved names in the copy.
pub const MARKER_TABLE: &str = "_ferry_copy";
pub const ROWID_COLUMN: &str = "_ferry_rowid";
pub const TEXT_FLAG_SUFFIX: &str = "__ferry_text";

/// Copies the snapshot into the target; see the crate docs.
pub fn copy_snapshot(req: &CopyRequest<'_>) -> Result<CopyReport, DbError> {
    let conn = config::Connection::from_config(req.target, req.config, req.project_root)?;
    match conn.engine {
        Engine::Postgres => pg::copy(req, &conn),
        Engine::Mysql => mysql::copy(req, &conn),
    }
}

/// Checks the settings (no connection): a password in the url, TLS off to another machine, an
/// unset password variable are errors before any work.
pub fn check_config(
    target: &str,
    config: &DbTargetConfig,
    project_root: &Path,
) -> Result<(), DbError> {
    config::Connection::from_config(target, config, project_root).map(|_| ())
}

/// Plans every table: one streaming pass over each staged table decides its columns' storage.
pub(crate) fn plan(req: &CopyRequest<'_>, engine: Engine) -> Result<Vec<TablePlan>, DbError> {
    let bad = |message: String| DbError::Config {
        target: req.target.to_string(),
        message,
    };
    let max_len = match engine {
        Engine::Postgres => 63,
        Engine::Mysql => 64,
    };
    let mut plans = Vec::with_capacity(req.tables.len());
    let total: u64 = req.tables.iter().map(|t| t.rows).sum();
    (req.on_event)(Event::Phase {
        name: "choosing column types",
        total: Some(total),
    });
    let mut done = 0u64;
    for t in req.tables {
        let long = |name: &str| match engine {
            Engine::Postgres => name.len() > max_len,
            Engine::Mysql => name.chars().count() > max_len,
        };
        if t.staged_name == MARKER_TABLE || t.staged_name.starts_with("_ferry") {
            return Err(bad(format!(
                "table `{}` of snapshot {} has a name Ferry reserves in the copy (`_ferry…`); rename it in the source, stage again and copy that snapshot",
                t.name, req.snapshot.id
            )));
        }
        if long(&t.staged_name) || t.staged_name.contains('\0') {
            return Err(bad(format!(
                "table `{}` has a name longer than {max_len} characters, which the target cannot hold; rename it in the source and stage again",
                t.name
            )));
        }
        let mut scans: Vec<types::ColumnScan> = t
            .columns
            .iter()
            .map(|c| types::ColumnScan::new(c.declared_type.as_deref()))
            .collect();
        let mut cancelled = false;
        req.reader.scan(&t.staged_name, None, &mut |_, row| {
            for (s, v) in scans.iter_mut().zip(row) {
                s.see(*v);
            }
            done += 1;
            if done.is_multiple_of(4096) {
                (req.on_event)(Event::Position(done));
                if req.cancel.is_cancelled() {
                    cancelled = true;
                    return false;
                }
            }
            true
        })?;
        if cancelled {
            return Err(DbError::Cancelled);
        }
        let mut columns = Vec::with_capacity(t.columns.len());
        for (c, s) in t.columns.iter().zip(&scans) {
            let flag = format!("{}{TEXT_FLAG_SUFFIX}", c.staged_name);
            if c.staged_name == ROWID_COLUMN
                || c.staged_name.ends_with(TEXT_FLAG_SUFFIX)
                || long(&flag)
                || c.staged_name.contains('\0')
            {
                return Err(bad(format!(
                    "table `{}`, column `{}`: the name is reserved by Ferry in the copy (`{ROWID_COLUMN}`, `…{TEXT_FLAG_SUFFIX}`) or longer than {} characters; rename the column in the source and stage again",
                    t.name,
                    c.name,
                    max_len - TEXT_FLAG_SUFFIX.len()
                )));
            }
            columns.push(ColumnPlan {
                name: c.staged_name.clone(),
                declared_type: c.declared_type.clone(),
                storage: s.storage(engine),
            });
        }
        plans.push(TablePlan {
            name: t.staged_name.clone(),
            source: t.name.clone(),
            columns,
            rows: t.rows,
            content_sha256: t.content_sha256.clone(),
        });
    }
    Ok(plans)
}

/// Compares what was read back with what staging recorded.
pub(crate) fn result(plan: &TablePlan, rows: u64, hasher: TableHasher) -> TableResult {
    let sha = hasher.finish();
    TableResult {
        table: plan.name.clone(),
        rows: plan.rows,
        rows_read_back: rows,
        matches: rows == plan.rows && sha == plan.content_sha256,
        content_sha256: plan.content_sha256.clone(),
        content_sha256_read_back: sha,
        typed_columns: plan
            .columns
            .iter()
            .filter(|c| matches!(c.storage, Storage::Typed(_)))
            .count(),
        columns: plan.columns.clone(),
    }
}

/// The verification failure message (names tables only).
pub(crate) fn mismatch_message(results: &[TableResult]) -> Option<String> {
    let bad: Vec<String> = results
        .iter()
        .filter(|r| !r.matches)
        .map(|r| {
            format!(
                "`{}` (read back {} rows of {}, content hash {})",
                r.table,
                r.rows_read_back,
                r.rows,
                if r.content_sha256 == r.content_sha256_read_back {
                    "matches"
                } else {
                    "differs"
                }
            )
        })
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "the copy read back differs from the snapshot in {} table(s): {}. Nothing was replaced; the previous copy is unchanged. Please report this with `ferry snapshots` output",
            bad.len(),
            bad.join(", ")
        )
    })
}

/// What [`stream_rows`] calls for each staged row (its rowid and values).
pub(crate) type OnRow<'f, E> = dyn FnMut(i64, &[ValueRef<'_>]) -> Result<(), E> + 'f;

/// Streams a staged table's rows, stopping on cancel or on the first error `on_row` returns.
pub(crate) fn stream_rows<E>(
    req: &CopyRequest<'_>,
    table: &str,
    done: &mut u64,
    on_row: &mut OnRow<'_, E>,
) -> Result<Result<(), E>, DbError> {
    let mut failure: Option<E> = None;
    let mut cancelled = false;
    req.reader.scan(table, None, &mut |rowid, row| {
        if let Err(e) = on_row(rowid, row) {
            failure = Some(e);
            return false;
        }
        *done += 1;
        if done.is_multiple_of(1024) {
            (req.on_event)(Event::Position(*done));
            if req.cancel.is_cancelled() {
                cancelled = true;
                return false;
            }
        }
        true
    })?;
    if cancelled {
        return Err(DbError::Cancelled);
    }
    Ok(match failure {
        Some(e) => Err(e),
        None => Ok(()),
    })
}

/// A marker row: one per copied table.
pub(crate) struct MarkerRow<'a> {
    pub table: &'a str,
    pub source: &'a str,
    pub rows: i64,
    pub sha: &'a str,
    pub columns: String,
}

pub(crate) fn marker_rows(plans: &[TablePlan]) -> Vec<MarkerRow<'_>> {
    plans
        .iter()
        .map(|p| MarkerRow {
            table: &p.name,
            source: &p.source,
            rows: p.rows as i64,
            sha: &p.content_sha256,
            columns: serde_json::to_string(&p.columns).unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn now() -> String {
    ferry_core::calendar::now_utc_rfc3339()
}
