//! The run ledger: each `ferry run` with its kind, snapshot, the hash of every mapping and concept
//! map file, each module's timing and books, the output files, and per-row lineage, exclusions and
//! exceptions.
//!
//! Small facts go in the catalog; per-row records (which can be millions, and hold PHI in raw
//! values of exceptions) go in one SQLite file per run, `runs/run-NNNN.db`, written to a temporary
//! file and moved into place with the catalog entry, atomically, as snapshots are.

use crate::StoreError;
use crate::catalog::Workspace;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::path::PathBuf;

pub(crate) const RUN_DIR: &str = "runs";

pub(crate) const LEDGER_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS run (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    snapshot_id   INTEGER NOT NULL,
    started_at    TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status        TEXT NOT NULL,
    output_dir    TEXT NOT NULL,
    db_file       TEXT NOT NULL,
    ferry_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_file (
    run_id INTEGER NOT NULL REFERENCES run(id),
    path   TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE TABLE IF NOT EXISTS run_module (
    run_id       INTEGER NOT NULL REFERENCES run(id),
    module       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    source_rows  INTEGER NOT NULL,
    migrated     INTEGER NOT NULL,
    excluded     INTEGER NOT NULL,
    exceptions   INTEGER NOT NULL,
    resources    INTEGER NOT NULL,
    PRIMARY KEY (run_id, module)
);
CREATE TABLE IF NOT EXISTS run_output (
    run_id        INTEGER NOT NULL REFERENCES run(id),
    resource_type TEXT NOT NULL,
    file          TEXT NOT NULL,
    resources     INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    PRIMARY KEY (run_id, resource_type)
);
CREATE TABLE IF NOT EXISTS verification (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES run(id),
    started_at   TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    verdict      TEXT NOT NULL,
    summary_json TEXT NOT NULL
);
";

const RUN_DB_SCHEMA: &str = "
CREATE TABLE lineage_row (module TEXT NOT NULL, source_key TEXT NOT NULL, resources TEXT NOT NULL);
CREATE VIEW lineage (module, source_key, resource_type, resource_id, content_sha256) AS
    SELECT r.module, r.source_key, j.value ->> 0, j.value ->> 1, j.value ->> 2
    FROM lineage_row r, json_each(r.resources) j;
CREATE TABLE exclusion (module TEXT NOT NULL, source_key TEXT NOT NULL, rule TEXT NOT NULL,
                        reason TEXT NOT NULL);
CREATE TABLE exception (module TEXT NOT NULL, source_key TEXT NOT NULL, resource_type TEXT,
                        path TEXT, reason TEXT NOT NULL, raw_value TEXT);
CREATE TABLE decided (module TEXT NOT NULL, source_key TEXT NOT NULL, decision TEXT NOT NULL);
CREATE TABLE decision_use (decision TEXT PRIMARY KEY, module TEXT NOT NULL, action TEXT NOT NULL,
                           rows INTEGER NOT NULL);
CREATE TABLE source_row (module TEXT NOT NULL, source_key TEXT NOT NULL, row_sha BLOB NOT NULL);
CREATE TABLE carried_row (module TEXT NOT NULL, source_key TEXT NOT NULL, row_sha BLOB NOT NULL,
                          outcome TEXT NOT NULL, resources TEXT, from_run INTEGER NOT NULL);
CREATE TABLE deleted_row (module TEXT NOT NULL, source_key TEXT NOT NULL, outcome TEXT NOT NULL,
                          resources TEXT, policy TEXT NOT NULL);
CREATE TABLE dropped_row (module TEXT NOT NULL, source_key TEXT NOT NULL, resources TEXT NOT NULL,
                          policy TEXT NOT NULL);
CREATE TABLE retired_resource (type TEXT NOT NULL, id TEXT NOT NULL, module TEXT NOT NULL,
                               source_key TEXT NOT NULL, policy TEXT NOT NULL,
                               PRIMARY KEY (type, id));
";

/// A delta run's resources that no source row makes any more, by the policy their module
/// states (`report`, `delete`, `entered-in-error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retired {
    pub report: u64,
    pub delete: u64,
    pub entered_in_error: u64,
}

impl Retired {
    pub fn total(&self) -> u64 {
        self.report + self.delete + self.entered_in_error
    }
}

/// One resource a delta retires (see [`Retired`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetiredResource {
    pub resource_type: String,
    pub id: String,
    pub module: String,
    pub source_key: String,
    pub policy: String,
}

/// What a delta run's base recorded of one source row (see [`DeltaBase`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorRow {
    /// [`ferry_core::content_hash::row_hash`] of the row's values in the base.
    pub row_sha: [u8; 16],
    /// `migrated`, `excluded` or `exception`.
    pub outcome: String,
    /// For `migrated`: the lineage's JSON array of `[type, id, sha256]`.
    pub resources: Option<String>,
    /// The run whose output holds those resources: the base, or the run the base carried the
    /// row from.
    pub from_run: u64,
}

/// A delta run's view of its base run: every source row the base recorded, by module and key,
/// in a scratch SQLite file (indexed by key; the base's own ledger is never changed), with a
/// mark for each key the delta's snapshot still has. Removed when dropped.
pub struct DeltaBase {
    pub run: u64,
    path: PathBuf,
    conn: Option<Connection>,
}

/// How often one reviewer decision was applied in a run (rows it changed or excluded); 0 means
/// it no longer matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionUse {
    pub decision: String,
    pub module: String,
    pub action: String,
    pub rows: u64,
}

/// What a run is, recorded before it starts.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The id the run will have, reserved by the caller with [`Workspace::next_run_id`] while it
    /// holds the project lock (so its output folder can be named before the run is recorded);
    /// `None`: the next free id at commit.
    pub id: Option<u64>,
    /// `iteration`, `rehearsal`, `go-live` or `delta`.
    pub kind: String,
    pub snapshot: u64,
    /// Every mapping and concept-map file with its sha256.
    pub files: Vec<(String, String)>,
    /// The run's output folder as recorded: relative to the project root when inside it.
    pub output_dir: String,
    /// A delta run's base run.
    pub base: Option<u64>,
}

/// One module's books.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleBooks {
    pub module: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub source_rows: u64,
    pub migrated: u64,
    pub excluded: u64,
    pub exceptions: u64,
    pub resources: u64,
    /// Of `migrated`, the rows a reviewer's decision changed (`mappings/decisions.toml`).
    pub migrated_by_decision: u64,
    /// Of `excluded`, the rows a reviewer's decision excluded (rule `decision:ID`).
    pub excluded_by_decision: u64,
    /// A delta run: rows the same as in the base (by key and content hash), carried over from
    /// the base without new output.
    pub unchanged: u64,
    /// A delta run: rows whose key the base does not have.
    pub new_rows: u64,
    /// A delta run: rows whose key the base has with other content (or, in a summary module,
    /// whose patient's document changed).
    pub changed: u64,
    /// A delta run: the base's rows the snapshot no longer has (listed in `deleted_row`).
    pub deleted: u64,
}

impl ModuleBooks {
    /// A module's books before any row.
    pub fn empty(module: &str) -> ModuleBooks {
        ModuleBooks {
            module: module.to_string(),
            started_at: ferry_core::calendar::now_utc_rfc3339(),
            duration_ms: 0,
            source_rows: 0,
            migrated: 0,
            excluded: 0,
            exceptions: 0,
            resources: 0,
            migrated_by_decision: 0,
            excluded_by_decision: 0,
            unchanged: 0,
            new_rows: 0,
            changed: 0,
            deleted: 0,
        }
    }

    /// Source rows = unchanged + migrated + excluded + exceptions (`unchanged` is 0 but in a
    /// delta run, where new + changed = migrated + excluded + exceptions): the promise that
    /// nothing is lost.
    pub fn balanced(&self) -> bool {
        self.source_rows == self.unchanged + self.migrated + self.excluded + self.exceptions
            && (self.unchanged + self.new_rows + self.changed == 0
                || self.new_rows + self.changed == self.migrated + self.excluded + self.exceptions)
    }
}

/// One output file of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    pub resource_type: String,
    pub file: String,
    pub resources: u64,
    pub sha256: String,
}

/// A run as the catalog records it.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: u64,
    pub kind: String,
    pub snapshot: u64,
    pub started_at: String,
    pub duration_ms: u64,
    pub status: String,
    pub output_dir: String,
    pub ferry_version: String,
    /// Who ran it (recorded since workspace version 3).
    pub actor: Option<String>,
    /// A delta run's base run (since workspace version 5).
    pub base: Option<u64>,
}

/// Exceptions of one module and reason, for review.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionGroup {
    pub module: String,
    pub reason: String,
    pub count: u64,
    /// The distinct source rows among them (a row can fail several fields for one reason).
    pub rows: u64,
    /// The first source keys (at most 10).
    pub keys: Vec<String>,
    /// The first raw values, only when asked (PHI).
    pub raw_values: Vec<String>,
}

/// One exception record of a run: a field of a source row that could not be converted.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionRecord {
    pub module: String,
    pub source_key: String,
    /// The resource type being built; `None` for row-level problems (key, scope rules).
    pub resource_type: Option<String>,
    /// The FHIR path of the mapping's field (`valueQuantity.unit`), or `source.key`,
    /// `exclude.NAME`, `resource.when`.
    pub path: Option<String>,
    pub reason: String,
    /// The raw value, only when asked for (PHI).
    pub raw_value: Option<String>,
}

/// Writes one run's ledger. Nothing is visible until [`RunWriter::commit`]; dropping it discards
/// the run's records.
pub struct RunWriter<'w> {
    ws: &'w mut Workspace,
    spec: RunSpec,
    started_at: String,
    started: std::time::Instant,
    temp_path: PathBuf,
    conn: Option<Connection>,
    modules: Vec<ModuleBooks>,
    outputs: Vec<RunOutput>,
    committed: bool,
    /// Lineage rows not yet inserted: their three texts each (module, key, resources JSON), end
    /// to end in `lineage_text`; text `k` is `lineage_text[lineage_bounds[k]..lineage_bounds[k +
    /// 1]]`. Inserted [`LINEAGE_BATCH`] rows per statement.
    lineage_text: String,
    lineage_bounds: Vec<usize>,
    /// Lineage bytes inserted since the last background fsync of the recording database.
    unsynced: u64,
    writeback: ferry_core::writeback::Writeback,
    /// `source_row` records not yet inserted ([`LINEAGE_BATCH`] per statement).
    source_rows: Vec<(String, String, [u8; 16])>,
}

/// Lineage rows per INSERT statement.
const LINEAGE_BATCH: usize = 64;

impl Workspace {
    fn run_dir(&self) -> PathBuf {
        self.root().join(RUN_DIR)
    }

    /// Starts recording a run.
    pub fn begin_run(&mut self, spec: RunSpec) -> Result<RunWriter<'_>, StoreError> {
        let dir = self.run_dir();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let temp_path = dir.join(ferry_core::atomic::temp_name("recording.db"));
        let conn = Connection::open(&temp_path).map_err(|e| StoreError::sqlite(&temp_path, e))?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;
             BEGIN; {RUN_DB_SCHEMA}"
        ))
        .map_err(|e| StoreError::sqlite(&temp_path, e))?;
        Ok(RunWriter {
            ws: self,
            spec,
            started_at: ferry_core::calendar::now_utc_rfc3339(),
            started: std::time::Instant::now(),
            temp_path,
            conn: Some(conn),
            modules: Vec::new(),
            outputs: Vec::new(),
            committed: false,
            lineage_text: String::new(),
            lineage_bounds: vec![0],
            unsynced: 0,
            writeback: ferry_core::writeback::Writeback::new(),
            source_rows: Vec::with_capacity(LINEAGE_BATCH),
        })
    }

    /// The base of a delta run: every source row run `run` recorded (its own rows and those it
    /// carried from its base), by module and key, with its content hash and outcome. Refused
    /// for a run recorded before row hashes were (it cannot be compared with).
    pub fn delta_base(&self, run: u64) -> Result<DeltaBase, StoreError> {
        let dir = self.run_dir();
        let ledger = dir.join(format!("run-{run:04}.db"));
        if !ledger.exists() {
            return Err(StoreError::UnknownRun(run));
        }
        let path = dir.join(ferry_core::atomic::temp_name("delta-base.db"));
        let conn = Connection::open(&path).map_err(|e| StoreError::sqlite(&path, e))?;
        let base = DeltaBase {
            run,
            path: path.clone(),
            conn: Some(conn),
        };
        let conn = base.conn()?;
        let err = |e| StoreError::sqlite(&path, e);
        conn.execute(
            "ATTACH DATABASE ?1 AS b",
            [format!("file:{}?mode=ro", ledger.to_string_lossy())],
        )
        .map_err(|e| StoreError::sqlite(&ledger, e))?;
        let has_hashes: i64 = conn
            .query_row(
                "SELECT count(*) FROM b.sqlite_master WHERE name = 'source_row'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sqlite(&ledger, e))?;
        if has_hashes == 0 {
            return Err(StoreError::Writer(format!(
                "run {run} was recorded by an older Ferry, without the row hashes a delta compares with: make a full run of its snapshot with `ferry run` and use that run as the base"
            )));
        }
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE base (module TEXT NOT NULL, source_key TEXT NOT NULL, row_sha BLOB NOT NULL,
                                outcome TEXT NOT NULL DEFAULT 'exception', resources TEXT,
                                from_run INTEGER NOT NULL,
                                PRIMARY KEY (module, source_key)) WITHOUT ROWID;
             BEGIN;
             INSERT OR REPLACE INTO base (module, source_key, row_sha, from_run)
                 SELECT module, source_key, row_sha, {run} FROM b.source_row;
             UPDATE base SET outcome = 'migrated', resources = l.resources
                 FROM b.lineage_row l WHERE base.module = l.module AND base.source_key = l.source_key;
             UPDATE base SET outcome = 'excluded'
                 FROM b.exclusion x WHERE base.module = x.module AND base.source_key = x.source_key;
             UPDATE base SET outcome = c.outcome, resources = c.resources, from_run = c.from_run
                 FROM b.carried_row c WHERE base.module = c.module AND base.source_key = c.source_key;
             COMMIT;
             DETACH DATABASE b;
             CREATE TEMP TABLE seen (module TEXT NOT NULL, source_key TEXT NOT NULL,
                                     PRIMARY KEY (module, source_key)) WITHOUT ROWID;
             BEGIN;"
        ))
        .map_err(err)?;
        Ok(base)
    }

    /// The resources a delta run retires (none for other runs), in (type, id) order.
    pub fn retired_resources(&self, run: u64) -> Result<Vec<RetiredResource>, StoreError> {
        let (conn, path) = self.open_run_db(run)?;
        let err = |e| StoreError::sqlite(&path, e);
        if !has_table(&conn, "retired_resource").map_err(err)? {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare("SELECT type, id, module, source_key, policy FROM retired_resource ORDER BY type, id")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RetiredResource {
                    resource_type: r.get(0)?,
                    id: r.get(1)?,
                    module: r.get(2)?,
                    source_key: r.get(3)?,
                    policy: r.get(4)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The id the next recorded run gets (one past the highest run id, or run ledger file, seen).
    pub fn next_run_id(&self) -> Result<u64, StoreError> {
        let path = self.catalog_path();
        let max: i64 = self
            .catalog_ref()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM run", [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(max as u64 + 1)
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT id, kind, snapshot_id, started_at, duration_ms, status, output_dir, ferry_version, actor, base_run
                 FROM run ORDER BY id",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunInfo {
                    id: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    snapshot: r.get::<_, i64>(2)? as u64,
                    started_at: r.get(3)?,
                    duration_ms: r.get::<_, i64>(4)? as u64,
                    status: r.get(5)?,
                    output_dir: r.get(6)?,
                    ferry_version: r.get(7)?,
                    actor: r.get(8)?,
                    base: r.get::<_, Option<i64>>(9)?.map(|b| b as u64),
                })
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// The run with this id, or the latest.
    pub fn run(&self, id: Option<u64>) -> Result<RunInfo, StoreError> {
        let runs = self.runs()?;
        match id {
            Some(id) => runs
                .into_iter()
                .find(|r| r.id == id)
                .ok_or(StoreError::UnknownRun(id)),
            None => runs.into_iter().last().ok_or(StoreError::NoRuns),
        }
    }

    /// The books of each module of a run.
    pub fn run_modules(&self, id: u64) -> Result<Vec<ModuleBooks>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT module, started_at, duration_ms, source_rows, migrated, excluded, exceptions, resources,
                        COALESCE(migrated_by_decision, 0), COALESCE(excluded_by_decision, 0),
                        unchanged, new_rows, changed, deleted
                 FROM run_module WHERE run_id = ?1 ORDER BY module",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok(ModuleBooks {
                    module: r.get(0)?,
                    started_at: r.get(1)?,
                    duration_ms: r.get::<_, i64>(2)? as u64,
                    source_rows: r.get::<_, i64>(3)? as u64,
                    migrated: r.get::<_, i64>(4)? as u64,
                    excluded: r.get::<_, i64>(5)? as u64,
                    exceptions: r.get::<_, i64>(6)? as u64,
                    resources: r.get::<_, i64>(7)? as u64,
                    migrated_by_decision: r.get::<_, i64>(8)? as u64,
                    excluded_by_decision: r.get::<_, i64>(9)? as u64,
                    unchanged: r.get::<_, i64>(10)? as u64,
                    new_rows: r.get::<_, i64>(11)? as u64,
                    changed: r.get::<_, i64>(12)? as u64,
                    deleted: r.get::<_, i64>(13)? as u64,
                })
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// The mapping and concept-map files a run was made with: (path, sha256), by path.
    pub fn run_files(&self, id: u64) -> Result<Vec<(String, String)>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog_ref()
            .prepare("SELECT path, sha256 FROM run_file WHERE run_id = ?1 ORDER BY path")
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([id as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// The output files of a run.
    pub fn run_outputs(&self, id: u64) -> Result<Vec<RunOutput>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT resource_type, file, resources, sha256 FROM run_output
                 WHERE run_id = ?1 ORDER BY resource_type",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok(RunOutput {
                    resource_type: r.get(0)?,
                    file: r.get(1)?,
                    resources: r.get::<_, i64>(2)? as u64,
                    sha256: r.get(3)?,
                })
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// The resources (type, id) made from each source row of `modules` in run `run` that made
    /// more than one, row by row in the order the run wrote them; `f` may stop the walk with
    /// an error. Streams: one row in memory at a time.
    pub fn resource_groups<E: From<StoreError>>(
        &self,
        run: u64,
        modules: &[String],
        f: &mut dyn FnMut(Vec<(String, String)>) -> Result<(), E>,
    ) -> Result<(), E> {
        let path = self.run_dir().join(format!("run-{run:04}.db"));
        if !path.exists() {
            return Err(StoreError::UnknownRun(run).into());
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = conn
            .prepare(
                "SELECT resources FROM lineage_row WHERE module = ?1
                 AND json_array_length(resources) > 1 ORDER BY rowid",
            )
            .map_err(err)?;
        for module in modules {
            let mut rows = stmt.query([module]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let text: String = row.get(0).map_err(err)?;
                let parsed: Vec<Vec<serde_json::Value>> =
                    serde_json::from_str(&text).map_err(|e| {
                        StoreError::Writer(format!(
                            "{}: lineage of module `{module}`: {e}",
                            path.display()
                        ))
                    })?;
                let group = parsed
                    .into_iter()
                    .filter_map(|r| {
                        Some((
                            r.first()?.as_str()?.to_string(),
                            r.get(1)?.as_str()?.to_string(),
                        ))
                    })
                    .collect();
                f(group)?;
            }
        }
        Ok(())
    }

    /// Every exception record of run `run` (of `module` only, when given), module by module in
    /// the order the run recorded them; raw values only when `with_values`. Streams.
    pub fn exception_records<E: From<StoreError>>(
        &self,
        run: u64,
        module: Option<&str>,
        with_values: bool,
        f: &mut dyn FnMut(ExceptionRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let path = self.run_dir().join(format!("run-{run:04}.db"));
        if !path.exists() {
            return Err(StoreError::UnknownRun(run).into());
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = conn
            .prepare(
                "SELECT module, source_key, resource_type, path, reason, raw_value FROM exception
                 WHERE ?1 IS NULL OR module = ?1 ORDER BY module, rowid",
            )
            .map_err(err)?;
        let mut rows = stmt.query([module]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let rec = ExceptionRecord {
                module: r.get(0).map_err(err)?,
                source_key: r.get(1).map_err(err)?,
                resource_type: r.get(2).map_err(err)?,
                path: r.get(3).map_err(err)?,
                reason: r.get(4).map_err(err)?,
                raw_value: if with_values {
                    r.get(5).map_err(err)?
                } else {
                    None
                },
            };
            f(rec)?;
        }
        Ok(())
    }

    /// How often each reviewer decision was applied in run `run`, in the decisions file's order
    /// (empty for a run made before decisions existed).
    pub fn decision_uses(&self, run: u64) -> Result<Vec<DecisionUse>, StoreError> {
        let (conn, path) = self.open_run_db(run)?;
        let err = |e| StoreError::sqlite(&path, e);
        let has: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE name = 'decision_use'")
            .and_then(|mut s| s.exists([]))
            .map_err(err)?;
        if !has {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare("SELECT decision, module, action, rows FROM decision_use ORDER BY rowid")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DecisionUse {
                    decision: r.get(0)?,
                    module: r.get(1)?,
                    action: r.get(2)?,
                    rows: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The decisions that changed migrated row `source_key` of `module` in run `run`.
    pub fn row_decisions(
        &self,
        run: u64,
        module: &str,
        source_key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let (conn, path) = self.open_run_db(run)?;
        let err = |e| StoreError::sqlite(&path, e);
        let has: bool = conn
            .prepare("SELECT 1 FROM sqlite_master WHERE name = 'decided'")
            .and_then(|mut s| s.exists([]))
            .map_err(err)?;
        if !has {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare(
                "SELECT decision FROM decided WHERE module = ?1 AND source_key = ?2 ORDER BY rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![module, source_key], |r| r.get(0))
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Exception records and the distinct source rows they belong to (the books' exceptions),
    /// of run `run` (of `module` only, when given).
    pub fn exception_totals(
        &self,
        run: u64,
        module: Option<&str>,
    ) -> Result<(u64, u64), StoreError> {
        let path = self.run_dir().join(format!("run-{run:04}.db"));
        if !path.exists() {
            return Err(StoreError::UnknownRun(run));
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        conn.query_row(
            "SELECT count(*), count(DISTINCT module || char(31) || source_key) FROM exception
             WHERE ?1 IS NULL OR module = ?1",
            [module],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// Exceptions of a run grouped by module and reason, largest groups first.
    pub fn exceptions(
        &self,
        run: u64,
        module: Option<&str>,
        with_values: bool,
    ) -> Result<Vec<ExceptionGroup>, StoreError> {
        let path = self.run_dir().join(format!("run-{run:04}.db"));
        if !path.exists() {
            return Err(StoreError::UnknownRun(run));
        }
        let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let err = |e| StoreError::sqlite(&path, e);
        let mut groups = Vec::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT module, reason, count(*) AS n, count(DISTINCT source_key) FROM exception
                     WHERE ?1 IS NULL OR module = ?1
                     GROUP BY module, reason ORDER BY count(DISTINCT source_key) DESC, n DESC, module, reason",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([module], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)? as u64,
                        r.get::<_, i64>(3)? as u64,
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (module, reason, count, distinct) = row.map_err(err)?;
                groups.push(ExceptionGroup {
                    module,
                    reason,
                    count,
                    rows: distinct,
                    keys: Vec::new(),
                    raw_values: Vec::new(),
                });
            }
        }
        // The first ten distinct rows (a row with several problems of one reason has several
        // exception records).
        let mut examples = conn
            .prepare(
                "SELECT source_key, raw_value FROM exception WHERE module = ?1 AND reason = ?2
                 GROUP BY source_key ORDER BY min(rowid) LIMIT 10",
            )
            .map_err(err)?;
        for g in &mut groups {
            let rows = examples
                .query_map(params![g.module, g.reason], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .map_err(err)?;
            for row in rows {
                let (key, raw) = row.map_err(err)?;
                g.keys.push(key);
                if with_values && let Some(raw) = raw {
                    g.raw_values.push(raw);
                }
            }
        }
        Ok(groups)
    }
}

impl RunWriter<'_> {
    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Writer("the run ledger is closed".into()))
    }

    /// A source row became this resource (see [`RunWriter::lineage_row`]).
    pub fn lineage(
        &mut self,
        module: &str,
        source_key: &str,
        resource_type: &str,
        resource_id: &str,
        content_sha256: &str,
    ) -> Result<(), StoreError> {
        self.lineage_row(
            module,
            source_key,
            &[(resource_type, resource_id, content_sha256)],
        )
    }

    /// A source row became these resources: (type, id, sha256 of its canonical bytes). Stored
    /// as one row per source row (`lineage_row`, the resources a JSON array of
    /// `[type, id, sha256]`), read through the `lineage` view, one row per resource in the
    /// order recorded: nine Observations of a vitals row cost one insert, not nine (one-row
    /// inserts were a sixth of a run's CPU).
    pub fn lineage_row(
        &mut self,
        module: &str,
        source_key: &str,
        resources: &[(&str, &str, &str)],
    ) -> Result<(), StoreError> {
        self.lineage_text.push_str(module);
        self.lineage_bounds.push(self.lineage_text.len());
        self.lineage_text.push_str(source_key);
        self.lineage_bounds.push(self.lineage_text.len());
        self.lineage_text.push('[');
        for (i, (t, id, sha)) in resources.iter().enumerate() {
            if i > 0 {
                self.lineage_text.push(',');
            }
            self.lineage_text.push('[');
            for (k, s) in [t, id, sha].into_iter().enumerate() {
                if k > 0 {
                    self.lineage_text.push(',');
                }
                if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
                    let quoted = serde_json::to_string(s).unwrap_or_default();
                    self.lineage_text.push_str(&quoted);
                } else {
                    // Nothing to escape (ids, types and hashes never need it).
                    self.lineage_text.push('"');
                    self.lineage_text.push_str(s);
                    self.lineage_text.push('"');
                }
            }
            self.lineage_text.push(']');
        }
        self.lineage_text.push(']');
        self.lineage_bounds.push(self.lineage_text.len());
        if self.lineage_bounds.len() > LINEAGE_BATCH * 3 {
            self.flush_lineage()?;
        }
        Ok(())
    }

    /// Inserts the buffered lineage rows: a full batch in one statement, fewer one by one.
    fn flush_lineage(&mut self) -> Result<(), StoreError> {
        let rows = (self.lineage_bounds.len() - 1) / 3;
        if rows == 0 {
            return Ok(());
        }
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| StoreError::Writer("the run ledger is closed".into()))?;
        let (text, bounds) = (&self.lineage_text, &self.lineage_bounds);
        let field = |row: usize, i: usize| -> &str {
            let k = row * 3 + i;
            match (bounds.get(k), bounds.get(k + 1)) {
                (Some(&a), Some(&b)) => text.get(a..b).unwrap_or(""),
                _ => "",
            }
        };
        let result = (|| -> rusqlite::Result<()> {
            if rows == LINEAGE_BATCH {
                let sql = format!(
                    "INSERT INTO lineage_row VALUES {}",
                    vec!["(?, ?, ?)"; LINEAGE_BATCH].join(", ")
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                for row in 0..rows {
                    for i in 0..3 {
                        stmt.raw_bind_parameter(row * 3 + i + 1, field(row, i))?;
                    }
                }
                stmt.raw_execute()?;
            } else {
                let mut stmt =
                    conn.prepare_cached("INSERT INTO lineage_row VALUES (?1, ?2, ?3)")?;
                for row in 0..rows {
                    stmt.execute(params![field(row, 0), field(row, 1), field(row, 2)])?;
                }
            }
            Ok(())
        })();
        result.map_err(|e| StoreError::sqlite(&self.temp_path, e))?;
        self.unsynced += self.lineage_text.len() as u64;
        if self.unsynced >= ferry_core::writeback::WRITEBACK_EVERY {
            self.unsynced = 0;
            if let Ok(f) = std::fs::File::open(&self.temp_path) {
                self.writeback.request(&f);
            }
        }
        self.lineage_text.clear();
        self.lineage_bounds.truncate(1);
        Ok(())
    }

    /// A migrated source row that reviewers' decisions changed: one record per decision.
    pub fn decided(
        &mut self,
        module: &str,
        source_key: &str,
        decision: &str,
    ) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        self.conn()?
            .prepare_cached("INSERT INTO decided VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![module, source_key, decision]))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(())
    }

    /// How often each of the project's decisions was applied in this run (0: not at all).
    pub fn decision_uses(&mut self, uses: &[DecisionUse]) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        let conn = self.conn()?;
        for u in uses {
            conn.prepare_cached("INSERT INTO decision_use VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut s| s.execute(params![u.decision, u.module, u.action, u.rows as i64]))
                .map_err(|e| StoreError::sqlite(&path, e))?;
        }
        Ok(())
    }

    /// A source row was excluded by a named rule.
    pub fn exclusion(
        &mut self,
        module: &str,
        source_key: &str,
        rule: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        self.conn()?
            .prepare_cached("INSERT INTO exclusion VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(params![module, source_key, rule, reason]))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(())
    }

    /// A source row (or one of its values) could not be converted.
    pub fn exception(
        &mut self,
        module: &str,
        source_key: &str,
        resource_type: Option<&str>,
        path_in_resource: Option<&str>,
        reason: &str,
        raw_value: Option<&str>,
    ) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        self.conn()?
            .prepare_cached("INSERT INTO exception VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .and_then(|mut s| {
                s.execute(params![
                    module,
                    source_key,
                    resource_type,
                    path_in_resource,
                    reason,
                    raw_value
                ])
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(())
    }

    pub fn module_books(&mut self, books: ModuleBooks) {
        self.modules.push(books);
    }

    pub fn output(&mut self, output: RunOutput) {
        self.outputs.push(output);
    }

    /// Every source row of the run with its content hash ([`ferry_core::content_hash::row_hash`]),
    /// whatever became of it: what a later delta run compares with.
    pub fn source_row(
        &mut self,
        module: &str,
        source_key: &str,
        row_sha: [u8; 16],
    ) -> Result<(), StoreError> {
        self.source_rows
            .push((module.to_string(), source_key.to_string(), row_sha));
        if self.source_rows.len() == LINEAGE_BATCH {
            self.flush_source_rows()?;
        }
        Ok(())
    }

    fn flush_source_rows(&mut self) -> Result<(), StoreError> {
        if self.source_rows.is_empty() {
            return Ok(());
        }
        let path = self.temp_path.clone();
        let rows = std::mem::take(&mut self.source_rows);
        let conn = self.conn()?;
        let result = (|| -> rusqlite::Result<()> {
            if rows.len() == LINEAGE_BATCH {
                let sql = format!(
                    "INSERT INTO source_row VALUES {}",
                    vec!["(?, ?, ?)"; LINEAGE_BATCH].join(", ")
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                for (i, (m, k, sha)) in rows.iter().enumerate() {
                    stmt.raw_bind_parameter(i * 3 + 1, m.as_str())?;
                    stmt.raw_bind_parameter(i * 3 + 2, k.as_str())?;
                    stmt.raw_bind_parameter(i * 3 + 3, &sha[..])?;
                }
                stmt.raw_execute()?;
            } else {
                let mut stmt = conn.prepare_cached("INSERT INTO source_row VALUES (?1, ?2, ?3)")?;
                for (m, k, sha) in &rows {
                    stmt.execute(params![m, k, &sha[..]])?;
                }
            }
            Ok(())
        })();
        result.map_err(|e| StoreError::sqlite(&path, e))?;
        let mut rows = rows;
        rows.clear();
        self.source_rows = rows;
        Ok(())
    }

    /// A delta run: a row the same as in the base, carried over with what the base made of it.
    pub fn carried(
        &mut self,
        module: &str,
        source_key: &str,
        prior: &PriorRow,
    ) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        self.conn()?
            .prepare_cached("INSERT INTO carried_row VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .and_then(|mut s| {
                s.execute(params![
                    module,
                    source_key,
                    &prior.row_sha[..],
                    prior.outcome,
                    prior.resources,
                    prior.from_run as i64
                ])
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(())
    }

    /// A delta run: a row of the base the snapshot no longer has, with the module's policy.
    pub fn deleted(
        &mut self,
        module: &str,
        source_key: &str,
        prior: &PriorRow,
        policy: &str,
    ) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        self.conn()?
            .prepare_cached("INSERT INTO deleted_row VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut s| {
                s.execute(params![
                    module,
                    source_key,
                    prior.outcome,
                    prior.resources,
                    policy
                ])
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(())
    }

    /// A delta run: a changed row that no longer makes some of the resources the base made of it
    /// (`resources`: the lineage JSON of those).
    pub fn dropped(
        &mut self,
        module: &str,
        source_key: &str,
        resources: &str,
        policy: &str,
    ) -> Result<(), StoreError> {
        let path = self.temp_path.clone();
        self.conn()?
            .prepare_cached("INSERT INTO dropped_row VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(params![module, source_key, resources, policy]))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(())
    }

    /// A delta run, after its last row: the resources of deleted rows and those changed rows no
    /// longer make, less any that a row of this run still makes or carries (a merged patient's
    /// survivor, a patient's summary document), recorded once each in `retired_resource`.
    pub fn settle_retired(&mut self) -> Result<Retired, StoreError> {
        self.flush_lineage()?;
        let path = self.temp_path.clone();
        let conn = self.conn()?;
        let err = |e| StoreError::sqlite(&path, e);
        conn.execute_batch(
            "CREATE TEMP TABLE live AS
                 SELECT j.value ->> 0 AS type, j.value ->> 1 AS id
                 FROM lineage_row, json_each(lineage_row.resources) j
                 UNION SELECT j.value ->> 0, j.value ->> 1
                 FROM carried_row, json_each(carried_row.resources) j
                 WHERE carried_row.resources IS NOT NULL;
             CREATE INDEX temp.live_id ON live (type, id);
             INSERT OR IGNORE INTO retired_resource
                 SELECT j.value ->> 0, j.value ->> 1, d.module, d.source_key, d.policy
                 FROM (SELECT module, source_key, resources, policy FROM deleted_row
                       WHERE resources IS NOT NULL
                       UNION ALL SELECT module, source_key, resources, policy FROM dropped_row) d,
                      json_each(d.resources) j
                 WHERE NOT EXISTS (SELECT 1 FROM live
                                   WHERE live.type = j.value ->> 0 AND live.id = j.value ->> 1);
             DROP TABLE temp.live;",
        )
        .map_err(err)?;
        let mut out = Retired::default();
        let mut stmt = conn
            .prepare("SELECT policy, count(*) FROM retired_resource GROUP BY policy")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(err)?;
        for row in rows {
            let (policy, n) = row.map_err(err)?;
            match policy.as_str() {
                "delete" => out.delete += n,
                "entered-in-error" => out.entered_in_error += n,
                _ => out.report += n,
            }
        }
        Ok(out)
    }

    /// Records the run (status `ok` or `failed: ...`) and returns its id.
    pub fn commit(mut self, status: &str) -> Result<u64, StoreError> {
        self.flush_lineage()?;
        self.flush_source_rows()?;
        let conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Writer("the run ledger is closed".into()))?;
        let temp = self.temp_path.clone();
        conn.execute_batch("COMMIT;")
            .map_err(|e| StoreError::sqlite(&temp, e))?;
        conn.close()
            .map_err(|(_, e)| StoreError::sqlite(&temp, e))?;
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&temp, e))?;
        let duration_ms = self.started.elapsed().as_millis() as i64;
        let run_dir = self.ws.run_dir();
        let catalog_path = self.ws.catalog_path();
        let spec = self.spec.clone();
        let started_at = self.started_at.clone();
        let modules = std::mem::take(&mut self.modules);
        let outputs = std::mem::take(&mut self.outputs);
        let actor = self.ws.actor().to_string();
        let catalog = self.ws.catalog_mut();
        let tx = catalog
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StoreError::sqlite(&catalog_path, e))?;
        let err = |e| StoreError::sqlite(&catalog_path, e);
        let next: i64 = tx
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM run", [], |r| r.get(0))
            .map_err(err)?;
        let id = match spec.id {
            None => next,
            Some(want) if want as i64 >= next => want as i64,
            Some(want) => return Err(StoreError::RunIdTaken(want)),
        };
        let db_file = format!("run-{id:04}.db");
        tx.execute(
            "INSERT INTO run (id, kind, snapshot_id, started_at, duration_ms, status, output_dir, db_file, ferry_version, actor, base_run)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                id,
                spec.kind,
                spec.snapshot as i64,
                started_at,
                duration_ms,
                status,
                spec.output_dir,
                db_file,
                env!("CARGO_PKG_VERSION"),
                actor,
                spec.base.map(|b| b as i64)
            ],
        )
        .map_err(err)?;
        for (p, sha) in &spec.files {
            tx.execute(
                "INSERT INTO run_file (run_id, path, sha256) VALUES (?1, ?2, ?3)",
                params![id, p, sha],
            )
            .map_err(err)?;
        }
        for m in &modules {
            tx.execute(
                "INSERT INTO run_module (run_id, module, started_at, duration_ms, source_rows, migrated, excluded, exceptions, resources, migrated_by_decision, excluded_by_decision, unchanged, new_rows, changed, deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    id,
                    m.module,
                    m.started_at,
                    m.duration_ms as i64,
                    m.source_rows as i64,
                    m.migrated as i64,
                    m.excluded as i64,
                    m.exceptions as i64,
                    m.resources as i64,
                    m.migrated_by_decision as i64,
                    m.excluded_by_decision as i64,
                    m.unchanged as i64,
                    m.new_rows as i64,
                    m.changed as i64,
                    m.deleted as i64
                ],
            )
            .map_err(err)?;
        }
        for o in &outputs {
            tx.execute(
                "INSERT INTO run_output (run_id, resource_type, file, resources, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, o.resource_type, o.file, o.resources as i64, o.sha256],
            )
            .map_err(err)?;
        }
        let final_path = run_dir.join(&db_file);
        std::fs::rename(&temp, &final_path).map_err(|e| StoreError::io(&final_path, e))?;
        ferry_core::crash::point("ledger.before-commit");
        if let Err(e) = tx.commit() {
            let _ = std::fs::remove_file(&final_path);
            return Err(StoreError::sqlite(&catalog_path, e));
        }
        self.committed = true;
        Ok(id as u64)
    }
}

/// Whether a run's ledger has this table (a run recorded by an older Ferry may not).
pub(crate) fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// (type, id) of each resource in a lineage JSON array of `[type, id, sha256]`.
pub fn lineage_ids(json: &str) -> Vec<(String, String)> {
    lineage_entries(json)
        .into_iter()
        .map(|(t, i, _)| (t, i))
        .collect()
}

/// (type, id, sha256) of each resource in a lineage JSON array of `[type, id, sha256]`.
pub fn lineage_entries(json: &str) -> Vec<(String, String, String)> {
    let parsed: Vec<Vec<serde_json::Value>> = serde_json::from_str(json).unwrap_or_default();
    parsed
        .into_iter()
        .filter_map(|r| {
            Some((
                r.first()?.as_str()?.to_string(),
                r.get(1)?.as_str()?.to_string(),
                r.get(2)?.as_str()?.to_string(),
            ))
        })
        .collect()
}

impl DeltaBase {
    fn conn(&self) -> Result<&Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Writer("the delta base is closed".into()))
    }

    /// The scratch file, for worker threads' own read-only connections ([`DeltaLookup::open`]).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The delta's snapshot has this key (called by the recording thread for every row); what
    /// the base has and the delta never marked is deleted ([`DeltaBase::unseen`]).
    pub fn mark_seen(&self, module: &str, source_key: &str) -> Result<(), StoreError> {
        self.conn()?
            .prepare_cached("INSERT OR IGNORE INTO temp.seen VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![module, source_key]))
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        Ok(())
    }

    /// The base's rows of `module` the delta did not see, in key order; `f` is called for each.
    pub fn unseen(
        &self,
        module: &str,
        f: &mut dyn FnMut(&str, &PriorRow) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let err = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = conn
            .prepare_cached(
                "SELECT source_key, row_sha, outcome, resources, from_run FROM base
                 WHERE module = ?1 AND NOT EXISTS
                   (SELECT 1 FROM temp.seen s WHERE s.module = base.module
                    AND s.source_key = base.source_key)
                 ORDER BY source_key",
            )
            .map_err(err)?;
        let mut rows = stmt.query([module]).map_err(err)?;
        let mut n = 0;
        while let Some(r) = rows.next().map_err(err)? {
            let key: String = r.get(0).map_err(err)?;
            let sha: Vec<u8> = r.get(1).map_err(err)?;
            let mut row_sha = [0u8; 16];
            if sha.len() == 16 {
                row_sha.copy_from_slice(&sha);
            }
            let prior = PriorRow {
                row_sha,
                outcome: r.get(2).map_err(err)?,
                resources: r.get(3).map_err(err)?,
                from_run: r.get::<_, i64>(4).map_err(err)? as u64,
            };
            f(&key, &prior)?;
            n += 1;
        }
        Ok(n)
    }
}

/// A worker's read-only view of a delta's base.
pub struct DeltaLookup {
    conn: Connection,
    path: PathBuf,
}

impl DeltaLookup {
    /// A read-only connection to a delta's base ([`DeltaBase::path`]), one per worker thread.
    pub fn open(path: &std::path::Path) -> Result<DeltaLookup, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(path, e))?;
        Ok(DeltaLookup {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// What the base recorded of this row, if it has its key.
    pub fn get(&self, module: &str, source_key: &str) -> Result<Option<PriorRow>, StoreError> {
        use rusqlite::OptionalExtension as _;
        self.conn
            .prepare_cached(
                "SELECT row_sha, outcome, resources, from_run FROM base
                 WHERE module = ?1 AND source_key = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![module, source_key], |r| {
                    let sha: Vec<u8> = r.get(0)?;
                    let mut row_sha = [0u8; 16];
                    if sha.len() == 16 {
                        row_sha.copy_from_slice(&sha);
                    }
                    Ok(PriorRow {
                        row_sha,
                        outcome: r.get(1)?,
                        resources: r.get(2)?,
                        from_run: r.get::<_, i64>(3)? as u64,
                    })
                })
                .optional()
            })
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }
}

impl Drop for DeltaBase {
    fn drop(&mut self) {
        self.conn = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for RunWriter<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.conn = None;
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lineage is buffered and inserted [`LINEAGE_BATCH`] rows per statement: every row must
    /// arrive whole and in order, across full batches and the rest written at commit.
    #[test]
    fn buffered_lineage_rows_arrive_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let mut w = ws
            .begin_run(RunSpec {
                id: None,
                kind: "iteration".into(),
                snapshot: 1,
                files: Vec::new(),
                output_dir: "output".into(),
                base: None,
            })
            .unwrap();
        let n = LINEAGE_BATCH * 2 + 5;
        let rows: Vec<[String; 5]> = (0..n)
            .map(|i| {
                [
                    format!("m{}", i % 3),
                    if i % 7 == 0 {
                        String::new()
                    } else {
                        format!("key-é-{i}")
                    },
                    "Observation".to_string(),
                    format!("id-{i}"),
                    "x".repeat(i % 70),
                ]
            })
            .collect();
        for r in &rows {
            w.lineage(&r[0], &r[1], &r[2], &r[3], &r[4]).unwrap();
        }
        let run = w.commit("ok").unwrap();
        let db = Connection::open(ws.run_dir().join(format!("run-{run:04}.db"))).unwrap();
        let mut stmt = db
            .prepare("SELECT module, source_key, resource_type, resource_id, content_sha256 FROM lineage")
            .unwrap();
        let back: Vec<[String; 5]> = stmt
            .query_map([], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back.len(), n);
        assert_eq!(back, rows);
    }
}
