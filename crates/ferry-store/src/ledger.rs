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
";

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
}

impl ModuleBooks {
    /// Source rows = migrated + excluded + exceptions: the promise that nothing is lost.
    pub fn balanced(&self) -> bool {
        self.source_rows == self.migrated + self.excluded + self.exceptions
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
        })
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
                "SELECT id, kind, snapshot_id, started_at, duration_ms, status, output_dir, ferry_version, actor
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
                        COALESCE(migrated_by_decision, 0), COALESCE(excluded_by_decision, 0)
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
                })
            })
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

    /// Records the run (status `ok` or `failed: ...`) and returns its id.
    pub fn commit(mut self, status: &str) -> Result<u64, StoreError> {
        self.flush_lineage()?;
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
            "INSERT INTO run (id, kind, snapshot_id, started_at, duration_ms, status, output_dir, db_file, ferry_version, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
                actor
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
                "INSERT INTO run_module (run_id, module, started_at, duration_ms, source_rows, migrated, excluded, exceptions, resources, migrated_by_decision, excluded_by_decision)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
                    m.excluded_by_decision as i64
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
