//! `ferry audit`: a data-quality audit of a staged snapshot before migration.
//!
//! Checks (each a `check` name in [`Finding`]):
//!
//! | check | what | severity |
//! |---|---|---|
//! | `orphan` | a child row whose reference (e.g. `patient_id`) matches no parent key | error |
//! | `duplicate_patient` | probable duplicate patients (blocking + weighted score, see `dedup.rs`) | warning |
//! | `exact_duplicate_row` | rows equal in every column except the key | warning |
//! | `missing_required` | a required column NULL, blank or a zero date | error |
//! | `out_of_range` | a number outside its clinically plausible range ([`config::default_ranges`]) | error |
//! | `impossible_date` | written like a date, but no such day (February 30, month 13) | error |
//! | `future_date` | a date after `today` (birth dates: error; planned dates such as end or return dates are exempt) | warning |
//! | `zero_date` | a legacy zero date (`00/00/0000`) in a column that is not required | info |
//! | `mixed_formats` | dates written in more than one format in one column (`breakdown` has each format's count) | warning |
//! | `bad_check_digit` | NHS number (mod 11), NPI (Luhn with 80840) or Luhn failing its check digit | warning |
//! | `code_system_mismatch` | in a column mostly of one code system, values that fit neither it nor a related one | warning |
//!
//! Findings name tables, columns and row keys (the declared primary key, or the `rowid`); data
//! values appear only with [`AuditOptions::show_values`].
//!
//! Memory: every rule streams the table once (`SnapshotReader::scan`) and keeps counters plus at
//! most `example_keys` examples per finding, except: the orphan check keeps the key set of each
//! referenced parent table (8 bytes per integer key); the duplicate-patient check keeps one compact
//! record per patient (see `dedup.rs`); exact duplicate rows are found by SQLite (a sort that
//! spills to temporary files), so nothing of the table is held by this crate.
//!
//! Progress: [`audit_snapshot_with_progress`] reports [`AuditEvent`]s (a phase with its total in
//! rows, then positions every 4,096 rows) and stops with [`AuditError::Cancelled`] when its
//! optional `ferry_core::Cancel` is set, polled at the same points.

pub mod config;
mod dedup;
mod exact;
mod html;
mod keys;
mod table;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ferry_store::{QueryValue, Workspace};
use serde::{Deserialize, Serialize};

pub use config::{
    AuditConfig, CheckDigitRule, CheckDigitScheme, ColumnRef, DuplicateSettings, PatientConfig,
    RangeRule, Reference,
};
pub use html::write_audit_html;

/// How to run the audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Include data values in findings (`example_values`). Off by default: values are PHI.
    pub show_values: bool,
    /// Example row keys kept per finding.
    pub example_keys: usize,
    /// The date future dates are judged against, `(year, month, day)`; the system date (UTC) when
    /// not set.
    pub today: Option<(i32, u8, u8)>,
    pub config: AuditConfig,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            show_values: false,
            example_keys: 10,
            today: None,
            config: AuditConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem found, in one table (and column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: String,
    pub severity: Severity,
    pub table: String,
    pub column: Option<String>,
    /// Rows affected (pairs for duplicate checks).
    pub count: u64,
    /// Row keys (primary-key values joined with `|`, or `rowid N`); pairs as `a ~ b`.
    pub example_keys: Vec<String>,
    /// The values of `example_keys`, only with `show_values`.
    pub example_values: Vec<String>,
    /// What was found and what to do; never contains data values.
    pub message: String,
    /// Counts by category (each date format of a column, code systems...); names, never values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub breakdown: BTreeMap<String, u64>,
}

/// The audit of one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub snapshot: u64,
    pub findings: Vec<Finding>,
    pub checks_run: Vec<String>,
    pub duration_ms: u64,
    /// The date future dates were judged against (`YYYY-MM-DD`).
    pub today: String,
    /// The configuration used, with every inferred part filled in.
    pub config: AuditConfig,
}

impl AuditReport {
    /// Findings of one check.
    pub fn of<'a>(&'a self, check: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.check == check)
    }
}

/// Progress of [`audit_snapshot_with_progress`], for a bar: a phase with its total, then
/// positions within it (as `ferry_profile::ProfileEvent` and `ferry_verify::VerifyEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent<'a> {
    /// A phase starts: `reading parent keys` (total: rows of the referenced parent tables), then
    /// `auditing tables` (total: rows of every table, as recorded when staged).
    Phase { name: &'a str, total: u64 },
    /// Rows done within the phase: every 4,096 rows and at the end of each table.
    Position(u64),
}

/// Where events go, and the flag that stops the audit ([`AuditError::Cancelled`]), polled where
/// positions are reported.
#[derive(Clone, Copy)]
pub struct Progress<'a> {
    pub on_event: &'a (dyn Fn(AuditEvent<'_>) + Sync),
    pub cancel: Option<&'a ferry_core::Cancel>,
}

fn ignore(_: AuditEvent<'_>) {}

impl Progress<'static> {
    /// No events, no cancelling.
    pub fn none() -> Progress<'static> {
        Progress {
            on_event: &ignore,
            cancel: None,
        }
    }
}

impl Progress<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(ferry_core::Cancel::is_cancelled)
    }
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

/// Rows between two position reports (and cancel polls).
const PROGRESS_ROWS: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] ferry_store::StoreError),
    #[error("invalid audit configuration: {0}")]
    Config(String),
    #[error("cannot write {}: {source}; check that the folder exists and is writable", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the audit was cancelled; nothing was written")]
    Cancelled,
}

/// Every check this crate runs, in report order.
pub const CHECKS: &[&str] = &[
    "orphan",
    "duplicate_patient",
    "exact_duplicate_row",
    "missing_required",
    "out_of_range",
    "impossible_date",
    "future_date",
    "zero_date",
    "mixed_formats",
    "bad_check_digit",
    "code_system_mismatch",
];

/// Today's date (UTC) from the system clock.
pub fn system_today() -> (i32, u8, u8) {
    ferry_core::calendar::today_utc()
}

/// Audits one snapshot (the latest when `snapshot` is `None`).
pub fn audit_snapshot(
    ws: &Workspace,
    snapshot: Option<u64>,
    opts: &AuditOptions,
) -> Result<AuditReport, AuditError> {
    audit_snapshot_with_progress(ws, snapshot, opts, &Progress::none())
}

/// [`audit_snapshot`] reporting progress ([`AuditEvent`]) and stopping with
/// [`AuditError::Cancelled`] when `progress.cancel` is set.
pub fn audit_snapshot_with_progress(
    ws: &Workspace,
    snapshot: Option<u64>,
    opts: &AuditOptions,
    progress: &Progress<'_>,
) -> Result<AuditReport, AuditError> {
    let started = Instant::now();
    let reader = ws.open_snapshot(snapshot)?;
    let id = reader.id();
    let tables = ws.tables(id)?;
    let mut cfg = opts.config.clone();
    cfg.fill(&tables);
    cfg.validate(&tables)?;
    let compiled = table::Compiled::new(&cfg)?;
    let today = opts.today.unwrap_or_else(system_today);
    let ctx = table::Ctx {
        show_values: opts.show_values,
        limit: opts.example_keys,
        today,
        cfg: &cfg,
        compiled: &compiled,
    };

    // Parent key sets for the orphan check.
    // Each (parent table, column) is read once: its table's rows make the phase's total.
    let mut parents: Vec<(&str, &str)> = cfg
        .references
        .iter()
        .flatten()
        .map(|r| (r.parent_table.as_str(), r.parent_column.as_str()))
        .collect();
    parents.sort_unstable();
    parents.dedup();
    let parent_rows: u64 = parents
        .iter()
        .filter_map(|(pt, pc)| {
            tables
                .iter()
                .find(|t| t.name == *pt && t.columns.iter().any(|c| c.name == *pc))
        })
        .map(|t| t.rows)
        .sum();
    (progress.on_event)(AuditEvent::Phase {
        name: "reading parent keys",
        total: parent_rows,
    });
    let mut done = 0u64;
    let mut key_sets: HashMap<(String, String), keys::KeySet> = HashMap::new();
    for r in cfg.references.iter().flatten() {
        let k = (r.parent_table.clone(), r.parent_column.clone());
        if key_sets.contains_key(&k) {
            continue;
        }
        let (Some(t), Some(c)) = (
            tables.iter().find(|t| t.name == r.parent_table),
            tables
                .iter()
                .find(|t| t.name == r.parent_table)
                .and_then(|t| t.columns.iter().find(|c| c.name == r.parent_column)),
        ) else {
            continue;
        };
        let mut set = keys::KeySet::default();
        let sql = format!(
            "SELECT {} FROM {}",
            exact::quote(&c.staged_name),
            exact::quote(&t.staged_name)
        );
        let mut n = 0u64;
        reader.query(&sql, &mut |_, row| {
            match row.first() {
                Some(QueryValue::Text(s)) => set.insert(s),
                Some(QueryValue::Integer(i)) => set.insert(&i.to_string()),
                Some(v @ QueryValue::Bytes(_)) => set.insert(&v.to_string()),
                _ => {}
            }
            n += 1;
            if n.is_multiple_of(PROGRESS_ROWS) {
                (progress.on_event)(AuditEvent::Position(done + n));
                return !progress.cancelled();
            }
            true
        })?;
        done += n;
        (progress.on_event)(AuditEvent::Position(done));
        if progress.cancelled() {
            return Err(AuditError::Cancelled);
        }
        set.finish();
        key_sets.insert(k, set);
    }

    let total_rows: u64 = tables.iter().map(|t| t.rows).sum();
    (progress.on_event)(AuditEvent::Phase {
        name: "auditing tables",
        total: total_rows,
    });
    let mut done = 0u64;
    let mut findings = Vec::new();
    for t in &tables {
        let mut audit = table::TableAudit::new(t, &ctx, &key_sets);
        let mut n = 0u64;
        reader.scan(&t.staged_name, None, &mut |rowid, row| {
            audit.row(rowid, row);
            n += 1;
            if n.is_multiple_of(PROGRESS_ROWS) {
                (progress.on_event)(AuditEvent::Position(done + n));
                return !progress.cancelled();
            }
            true
        })?;
        if progress.cancelled() {
            return Err(AuditError::Cancelled);
        }
        findings.extend(audit.finish());
        findings.extend(exact::exact_duplicates(&reader, t, &ctx)?);
        done += n;
        (progress.on_event)(AuditEvent::Position(done));
    }
    findings.sort_by(|a, b| {
        (a.severity, &a.table, &a.column, &a.check)
            .cmp(&(b.severity, &b.table, &b.column, &b.check))
    });
    let (y, m, d) = today;
    Ok(AuditReport {
        snapshot: id,
        findings,
        checks_run: CHECKS.iter().map(|s| s.to_string()).collect(),
        duration_ms: started.elapsed().as_millis() as u64,
        today: format!("{y:04}-{m:02}-{d:02}"),
        config: cfg,
    })
}

/// Writes the report as pretty JSON.
pub fn write_audit_json(report: &AuditReport, path: &Path) -> Result<(), AuditError> {
    let io = |e: std::io::Error| AuditError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let f = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, report).map_err(|e| io(std::io::Error::other(e)))?;
    std::io::Write::flush(&mut w).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_today_is_a_plausible_date() {
        let (y, _, _) = system_today();
        assert!(y >= 2024);
    }
}
