use crate::StoreError;
use crate::writer::SnapshotWriter;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};

const CATALOG_FILE: &str = "catalog.db";
const SNAPSHOT_DIR: &str = "snapshots";
/// Bumped when the catalog's tables change; older catalogs are migrated in [`Workspace::open`].
const SCHEMA_VERSION: i64 = 5;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapshot (
    id              INTEGER PRIMARY KEY,
    label           TEXT,
    created_at      TEXT NOT NULL,
    duration_ms     INTEGER NOT NULL,
    db_file         TEXT NOT NULL,
    tables          INTEGER NOT NULL,
    rows            INTEGER NOT NULL,
    rejected_rows   INTEGER NOT NULL,
    input_bytes     INTEGER NOT NULL,
    content_sha256  TEXT NOT NULL,
    ferry_version   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_file (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    ordinal     INTEGER NOT NULL,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    encoding    TEXT,
    PRIMARY KEY (snapshot_id, ordinal)
);
CREATE TABLE IF NOT EXISTS snapshot_table (
    snapshot_id     INTEGER NOT NULL REFERENCES snapshot(id),
    ordinal         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    staged_name     TEXT NOT NULL,
    database_name   TEXT,
    source_file     TEXT NOT NULL,
    source_line     INTEGER NOT NULL,
    charset         TEXT,
    transcoded_from TEXT,
    primary_key     TEXT NOT NULL,
    rows            INTEGER NOT NULL,
    content_sha256  TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, ordinal)
);
CREATE TABLE IF NOT EXISTS snapshot_column (
    snapshot_id   INTEGER NOT NULL REFERENCES snapshot(id),
    table_ordinal INTEGER NOT NULL,
    ordinal       INTEGER NOT NULL,
    name          TEXT NOT NULL,
    staged_name   TEXT NOT NULL,
    declared_type TEXT,
    PRIMARY KEY (snapshot_id, table_ordinal, ordinal)
);
CREATE TABLE IF NOT EXISTS snapshot_note (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot(id),
    ordinal     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    file        TEXT NOT NULL,
    line        INTEGER,
    table_name  TEXT,
    column_name TEXT,
    message     TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, ordinal)
);
";

/// An open workspace.
pub struct Workspace {
    root: PathBuf,
    catalog: Connection,
    /// Who is acting: recorded with every snapshot, run and verification this handle writes.
    actor: String,
}

/// One snapshot as the catalog records it.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub id: u64,
    pub label: Option<String>,
    pub created_at: String,
    pub duration_ms: u64,
    pub tables: u64,
    pub rows: u64,
    pub rejected_rows: u64,
    pub input_bytes: u64,
    pub content_sha256: String,
    pub ferry_version: String,
    #[serde(skip)]
    pub db_file: PathBuf,
}

/// One input file of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    pub path: String,
    pub kind: String,
    pub bytes: u64,
    pub sha256: String,
    pub encoding: Option<String>,
}

/// One staged table of a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub name: String,
    pub staged_name: String,
    pub database: Option<String>,
    pub source_file: String,
    pub source_line: u64,
    pub charset: Option<String>,
    pub transcoded_from: Option<String>,
    pub primary_key: Vec<String>,
    pub rows: u64,
    pub content_sha256: String,
    pub columns: Vec<ColumnInfo>,
}

/// One column of a staged table.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub staged_name: String,
    pub declared_type: Option<String>,
}

/// One note recorded while staging (no data values).
#[derive(Debug, Clone, Serialize)]
pub struct NoteRecord {
    pub kind: String,
    pub file: String,
    pub line: Option<u64>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub message: String,
}

impl Workspace {
    /// Opens the workspace in `root`, creating it (and its catalog) if needed.
    pub fn open(root: &Path) -> Result<Workspace, StoreError> {
        std::fs::create_dir_all(root.join(SNAPSHOT_DIR))
            .map_err(|e| StoreError::io(root.to_path_buf(), e))?;
        let path = root.join(CATALOG_FILE);
        let catalog = Connection::open(&path).map_err(|e| StoreError::sqlite(&path, e))?;
        catalog
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        catalog
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let version: i64 = catalog
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        if version < SCHEMA_VERSION {
            catalog
                .execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} {} {} {} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
                    crate::ledger::LEDGER_SCHEMA,
                    crate::signoff::SIGNOFF_SCHEMA,
                    // Version 4: runbooks and their steps.
                    crate::runbook::RUNBOOK_SCHEMA
                ))
                .map_err(|e| StoreError::sqlite(&path, e))?;
            // Version 3: who acted, on snapshots, runs and verifications.
            for table in ["snapshot", "run", "verification"] {
                add_column(&catalog, table, "actor", "TEXT")
                    .map_err(|e| StoreError::sqlite(&path, e))?;
            }
            // Version 4: the rows reviewers' decisions migrated or excluded, per module.
            for column in ["migrated_by_decision", "excluded_by_decision"] {
                add_column(&catalog, "run_module", column, "INTEGER NOT NULL DEFAULT 0")
                    .map_err(|e| StoreError::sqlite(&path, e))?;
            }
            // Version 5: delta runs (their base, and the rows unchanged, new, changed, deleted).
            add_column(&catalog, "run", "base_run", "INTEGER")
                .map_err(|e| StoreError::sqlite(&path, e))?;
            for column in ["unchanged", "new_rows", "changed", "deleted"] {
                add_column(&catalog, "run_module", column, "INTEGER NOT NULL DEFAULT 0")
                    .map_err(|e| StoreError::sqlite(&path, e))?;
            }
        }
        let ws = Workspace {
            root: root.to_path_buf(),
            catalog,
            actor: "unknown".to_string(),
        };
        ws.sweep_stale_temp_files();
        Ok(ws)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sets who is acting; recorded with every snapshot, run and verification written.
    pub fn set_actor(&mut self, actor: &str) {
        self.actor = actor.to_string();
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub(crate) fn catalog_path(&self) -> PathBuf {
        self.root.join(CATALOG_FILE)
    }

    pub(crate) fn snapshot_dir(&self) -> PathBuf {
        self.root.join(SNAPSHOT_DIR)
    }

    pub(crate) fn catalog_ref(&self) -> &Connection {
        &self.catalog
    }

    pub(crate) fn catalog_mut(&mut self) -> &mut Connection {
        &mut self.catalog
    }

    /// Starts staging a new snapshot. Nothing is visible in the workspace until
    /// [`SnapshotWriter::commit`] succeeds; dropping the writer discards everything.
    pub fn begin_snapshot(
        &mut self,
        label: Option<String>,
    ) -> Result<SnapshotWriter<'_>, StoreError> {
        SnapshotWriter::begin(self, label)
    }

    /// Every snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog
            .prepare(
                "SELECT id, label, created_at, duration_ms, tables, rows, rejected_rows, input_bytes,
                        content_sha256, ferry_version, db_file
                 FROM snapshot ORDER BY id",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([], |r| self.snapshot_from_row(r))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// The snapshot with this id, or the latest when `id` is `None`.
    pub fn snapshot(&self, id: Option<u64>) -> Result<SnapshotInfo, StoreError> {
        let path = self.catalog_path();
        let sql =
            "SELECT id, label, created_at, duration_ms, tables, rows, rejected_rows, input_bytes,
                          content_sha256, ferry_version, db_file FROM snapshot";
        let found = match id {
            Some(id) => self
                .catalog
                .query_row(&format!("{sql} WHERE id = ?1"), [id as i64], |r| {
                    self.snapshot_from_row(r)
                })
                .optional(),
            None => self
                .catalog
                .query_row(&format!("{sql} ORDER BY id DESC LIMIT 1"), [], |r| {
                    self.snapshot_from_row(r)
                })
                .optional(),
        }
        .map_err(|e| StoreError::sqlite(&path, e))?;
        match (found, id) {
            (Some(info), _) => Ok(info),
            (None, Some(id)) => Err(StoreError::UnknownSnapshot(id)),
            (None, None) => Err(StoreError::NoSnapshots),
        }
    }

    fn snapshot_from_row(&self, r: &rusqlite::Row<'_>) -> rusqlite::Result<SnapshotInfo> {
        let db_file: String = r.get(10)?;
        Ok(SnapshotInfo {
            id: r.get::<_, i64>(0)? as u64,
            label: r.get(1)?,
            created_at: r.get(2)?,
            duration_ms: r.get::<_, i64>(3)? as u64,
            tables: r.get::<_, i64>(4)? as u64,
            rows: r.get::<_, i64>(5)? as u64,
            rejected_rows: r.get::<_, i64>(6)? as u64,
            input_bytes: r.get::<_, i64>(7)? as u64,
            content_sha256: r.get(8)?,
            ferry_version: r.get(9)?,
            db_file: self.snapshot_dir().join(db_file),
        })
    }

    /// The input files of a snapshot, in staging order.
    pub fn files(&self, id: u64) -> Result<Vec<FileRecord>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog
            .prepare(
                "SELECT path, kind, bytes, sha256, encoding FROM snapshot_file
                 WHERE snapshot_id = ?1 ORDER BY ordinal",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok(FileRecord {
                    path: r.get(0)?,
                    kind: r.get(1)?,
                    bytes: r.get::<_, i64>(2)? as u64,
                    sha256: r.get(3)?,
                    encoding: r.get(4)?,
                })
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// The staged tables of a snapshot with their columns, in staging order.
    pub fn tables(&self, id: u64) -> Result<Vec<TableInfo>, StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = self
            .catalog
            .prepare(
                "SELECT ordinal, name, staged_name, database_name, source_file, source_line, charset,
                        transcoded_from, primary_key, rows, content_sha256
                 FROM snapshot_table WHERE snapshot_id = ?1 ORDER BY ordinal",
            )
            .map_err(err)?;
        let mut tables: Vec<(i64, TableInfo)> = stmt
            .query_map([id as i64], |r| {
                let pk: String = r.get(8)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    TableInfo {
                        name: r.get(1)?,
                        staged_name: r.get(2)?,
                        database: r.get(3)?,
                        source_file: r.get(4)?,
                        source_line: r.get::<_, i64>(5)? as u64,
                        charset: r.get(6)?,
                        transcoded_from: r.get(7)?,
                        primary_key: serde_json::from_str(&pk).unwrap_or_default(),
                        rows: r.get::<_, i64>(9)? as u64,
                        content_sha256: r.get(10)?,
                        columns: Vec::new(),
                    },
                ))
            })
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut cols = self
            .catalog
            .prepare(
                "SELECT name, staged_name, declared_type FROM snapshot_column
                 WHERE snapshot_id = ?1 AND table_ordinal = ?2 ORDER BY ordinal",
            )
            .map_err(err)?;
        for (ordinal, table) in &mut tables {
            table.columns = cols
                .query_map(params![id as i64, *ordinal], |r| {
                    Ok(ColumnInfo {
                        name: r.get(0)?,
                        staged_name: r.get(1)?,
                        declared_type: r.get(2)?,
                    })
                })
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?;
        }
        Ok(tables.into_iter().map(|(_, t)| t).collect())
    }

    /// The notes recorded while staging a snapshot.
    pub fn notes(&self, id: u64) -> Result<Vec<NoteRecord>, StoreError> {
        let path = self.catalog_path();
        let mut stmt = self
            .catalog
            .prepare(
                "SELECT kind, file, line, table_name, column_name, message FROM snapshot_note
                 WHERE snapshot_id = ?1 ORDER BY ordinal",
            )
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok(NoteRecord {
                    kind: r.get(0)?,
                    file: r.get(1)?,
                    line: r.get::<_, Option<i64>>(2)?.map(|l| l as u64),
                    table: r.get(3)?,
                    column: r.get(4)?,
                    message: r.get(5)?,
                })
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// Removes temporary snapshot files left by a staging process that no longer runs
    /// (killed with SIGKILL, power loss). Best effort: a file still in use is kept.
    fn sweep_stale_temp_files(&self) {
        self.sweep_temporary_files();
    }

    /// Removes the temporary files of dead processes from the workspace (half-staged snapshots,
    /// run ledgers being recorded, verification indexes, and older Ferry's names for them);
    /// returns how many. Safe at any time: a live process's files are never touched.
    pub fn sweep_temporary_files(&self) -> usize {
        let mut n = 0;
        for dir in [self.snapshot_dir(), self.root.join(crate::ledger::RUN_DIR)] {
            n += ferry_core::atomic::sweep(&dir);
            // Older Ferry: `.staging-PID-N.db`, `.recording-PID.db`, `.verify-PID-N.db`.
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let rest = [".staging-", ".recording-", ".verify-"]
                    .iter()
                    .find_map(|p| name.strip_prefix(p));
                let Some(rest) = rest else { continue };
                let Some(pid) = rest.split(['-', '.']).next().and_then(|p| p.parse().ok()) else {
                    continue;
                };
                if !ferry_core::atomic::process_alive(pid)
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    n += 1;
                }
            }
        }
        n
    }

    /// Removes run ledger files (`runs/run-NNNN.db`) that no catalog entry names: a run killed
    /// between moving its ledger into place and the catalog commit. Call only while holding the
    /// project lock. Returns their run numbers.
    pub fn remove_unrecorded_run_files(&self) -> Result<Vec<u64>, StoreError> {
        let dir = self.root.join(crate::ledger::RUN_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let known: std::collections::HashSet<u64> = self.runs()?.iter().map(|r| r.id).collect();
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("run-")
                .and_then(|r| r.strip_suffix(".db"))
                .and_then(|d| d.parse::<u64>().ok())
            else {
                continue;
            };
            if !known.contains(&id) {
                std::fs::remove_file(entry.path()).map_err(|e| StoreError::io(entry.path(), e))?;
                removed.push(id);
            }
        }
        removed.sort();
        Ok(removed)
    }
}

/// Adds a column to a catalog table unless it is there already.
fn add_column(conn: &Connection, table: &str, column: &str, decl: &str) -> rusqlite::Result<()> {
    let exists = conn
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?
        .exists([column])?;
    if !exists {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}
