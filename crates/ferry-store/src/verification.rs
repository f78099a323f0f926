//! Verification records (`ferry verify`) in the catalog, and the scratch index a verification
//! builds over a run's output and ledger so that it never holds the output in memory.
//!
//! A verification is recorded in the catalog table `verification` (run, start time, duration,
//! verdict and a JSON summary holding ids, keys and paths only, never values). The scratch index
//! is a temporary SQLite file under `runs/` with the run's ledger attached read-only; it is
//! deleted when the [`VerifyIndex`] is dropped.

use crate::StoreError;
use crate::catalog::Workspace;
use crate::ledger::RUN_DIR;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::PathBuf;

/// The catalog table; also in the ledger schema for new catalogs, created here for catalogs made
/// before it existed.
pub(crate) const VERIFICATION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verification (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES run(id),
    started_at   TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    verdict      TEXT NOT NULL,
    summary_json TEXT NOT NULL
);
";

/// Verifications on a target (`ferry verify --target`), kept apart from the file verifications
/// a load's "verified GO" gate reads.
const TARGET_VERIFICATION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS target_verification (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES run(id),
    target       TEXT NOT NULL,
    base_url     TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    verdict      TEXT NOT NULL,
    summary_json TEXT NOT NULL,
    actor        TEXT
);
";

/// Whether the catalog has table `name` (catalogs older than a table have none).
fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

/// One recorded `ferry verify --target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetVerificationRecord {
    pub id: u64,
    pub run_id: u64,
    /// The target's name in ferry.toml, and its base URL then.
    pub target: String,
    pub base_url: String,
    pub started_at: String,
    pub duration_ms: u64,
    /// `go` or `no-go`.
    pub verdict: String,
    /// Counts, read-back and search results: types, ids and numbers, never values.
    pub summary_json: String,
    pub actor: Option<String>,
}

/// One recorded `ferry verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationRecord {
    pub id: u64,
    pub run_id: u64,
    pub started_at: String,
    pub duration_ms: u64,
    /// `go` or `no-go`.
    pub verdict: String,
    /// The summary (see docs/verify.md): ids, keys and paths, never values.
    pub summary_json: String,
}

impl Workspace {
    /// Records a verification of `run_id`; returns its id.
    pub fn record_verification(
        &self,
        run_id: u64,
        started_at: &str,
        duration_ms: u64,
        verdict: &str,
        summary_json: &str,
    ) -> Result<u64, StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        conn.execute_batch(VERIFICATION_SCHEMA).map_err(err)?;
        conn.execute(
            "INSERT INTO verification (run_id, started_at, duration_ms, verdict, summary_json, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                run_id as i64,
                started_at,
                duration_ms as i64,
                verdict,
                summary_json,
                self.actor()
            ],
        )
        .map_err(err)?;
        Ok(conn.last_insert_rowid() as u64)
    }

    /// The verifications of a run, oldest first (none when the run was never verified).
    pub fn verifications(&self, run_id: u64) -> Result<Vec<VerificationRecord>, StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        if !table_exists(conn, "verification").map_err(err)? {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare(
                "SELECT id, run_id, started_at, duration_ms, verdict, summary_json
                 FROM verification WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([run_id as i64], |r| {
                Ok(VerificationRecord {
                    id: r.get::<_, i64>(0)? as u64,
                    run_id: r.get::<_, i64>(1)? as u64,
                    started_at: r.get(2)?,
                    duration_ms: r.get::<_, i64>(3)? as u64,
                    verdict: r.get(4)?,
                    summary_json: r.get(5)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Records a verification of `run_id` on a target; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn record_target_verification(
        &self,
        run_id: u64,
        target: &str,
        base_url: &str,
        started_at: &str,
        duration_ms: u64,
        verdict: &str,
        summary_json: &str,
    ) -> Result<u64, StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        conn.execute_batch(TARGET_VERIFICATION_SCHEMA)
            .map_err(err)?;
        conn.execute(
            "INSERT INTO target_verification
               (run_id, target, base_url, started_at, duration_ms, verdict, summary_json, actor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run_id as i64,
                target,
                base_url,
                started_at,
                duration_ms as i64,
                verdict,
                summary_json,
                self.actor()
            ],
        )
        .map_err(err)?;
        Ok(conn.last_insert_rowid() as u64)
    }

    /// The verifications of a run on targets, oldest first.
    pub fn target_verifications(
        &self,
        run_id: u64,
    ) -> Result<Vec<TargetVerificationRecord>, StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        if !table_exists(conn, "target_verification").map_err(err)? {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare(
                "SELECT id, run_id, target, base_url, started_at, duration_ms, verdict, summary_json, actor
                 FROM target_verification WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([run_id as i64], |r| {
                Ok(TargetVerificationRecord {
                    id: r.get::<_, i64>(0)? as u64,
                    run_id: r.get::<_, i64>(1)? as u64,
                    target: r.get(2)?,
                    base_url: r.get(3)?,
                    started_at: r.get(4)?,
                    duration_ms: r.get::<_, i64>(5)? as u64,
                    verdict: r.get(6)?,
                    summary_json: r.get(7)?,
                    actor: r.get(8)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Builds an empty scratch index for verifying `run`, with the run's ledger attached.
    pub fn verify_index(&self, run: u64) -> Result<VerifyIndex, StoreError> {
        let dir = self.root().join(RUN_DIR);
        let ledger = dir.join(format!("run-{run:04}.db"));
        if !ledger.exists() {
            return Err(StoreError::UnknownRun(run));
        }
        let path = dir.join(ferry_core::atomic::temp_name("verify.db"));
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).map_err(|e| StoreError::sqlite(&path, e))?;
        let index = VerifyIndex {
            path: path.clone(),
            conn,
        };
        let err = |e| StoreError::sqlite(&path, e);
        index
            .conn
            .execute_batch(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA cache_size = -65536; PRAGMA temp_store = FILE;
                 CREATE TABLE res (type TEXT NOT NULL, id TEXT NOT NULL, file INTEGER NOT NULL,
                                   offset INTEGER NOT NULL, len INTEGER NOT NULL,
                                   line INTEGER NOT NULL, seen INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE ref (from_type TEXT NOT NULL, from_id TEXT NOT NULL,
                                   path TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL);",
            )
            .map_err(err)?;
        // Only read: every statement below writes to `main`.
        index
            .conn
            .execute(
                "ATTACH DATABASE ?1 AS ledger",
                [ledger.to_string_lossy().into_owned()],
            )
            .map_err(|e| StoreError::sqlite(&ledger, e))?;
        index.conn.execute_batch("BEGIN;").map_err(err)?;
        Ok(index)
    }
}

/// Where one resource is in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLocation {
    /// The caller's number for the file.
    pub file: u32,
    pub offset: u64,
    pub len: u64,
    /// 1-based line number.
    pub line: u64,
    /// The index row, for [`VerifyIndex::mark_seen`].
    pub row: i64,
}

/// What the run's ledger says became of one source row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOutcome {
    /// Migrated into these (resource type, id).
    Migrated(Vec<(String, String)>),
    Excluded,
    Exception,
    /// A delta run carried the row over from its base unchanged: the base's row hash, outcome
    /// (`migrated`, `excluded`, `exception`) and resources (type, id, sha256).
    Carried {
        row_sha: Vec<u8>,
        outcome: String,
        resources: Vec<(String, String, String)>,
    },
    /// The ledger has no record of the row.
    Unknown,
}

/// A problem found by a query over the index: an id, key or path, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFinding {
    pub resource_type: String,
    pub resource_id: String,
    /// A path, module or key, depending on the query.
    pub detail: String,
}

/// A scratch index over a run's output and ledger (see the module docs). Loading happens in one
/// transaction; call [`VerifyIndex::finish_loading`] before querying.
pub struct VerifyIndex {
    path: PathBuf,
    conn: Connection,
}

impl VerifyIndex {
    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::sqlite(&self.path, e)
    }

    /// A resource at `offset..offset+len` of file number `file`, line `line`.
    pub fn add_resource(
        &self,
        resource_type: &str,
        id: &str,
        file: u32,
        offset: u64,
        len: u64,
        line: u64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO res (type, id, file, offset, len, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .and_then(|mut s| {
                s.execute(params![
                    resource_type,
                    id,
                    file,
                    offset as i64,
                    len as i64,
                    line as i64
                ])
            })
            .map_err(self.err())?;
        Ok(())
    }

    /// A relative reference `target_type/target_id` found at `path` in a resource.
    pub fn add_reference(
        &self,
        from_type: &str,
        from_id: &str,
        path: &str,
        target_type: &str,
        target_id: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO ref VALUES (?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut s| s.execute(params![from_type, from_id, path, target_type, target_id]))
            .map_err(self.err())?;
        Ok(())
    }

    /// Builds the indexes (output ids, ledger lineage and outcomes by key).
    pub fn finish_loading(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "CREATE INDEX res_id ON res (type, id);
                 CREATE TABLE lin AS SELECT module, source_key, resource_type, resource_id FROM ledger.lineage;
                 CREATE INDEX lin_key ON lin (module, source_key);
                 CREATE INDEX lin_id ON lin (resource_type, resource_id);
                 CREATE TABLE other AS
                     SELECT module, source_key, 'excluded' AS kind FROM ledger.exclusion
                     UNION SELECT module, source_key, 'exception' FROM ledger.exception;
                 CREATE INDEX other_key ON other (module, source_key);",
            )
            .map_err(self.err())?;
        // A delta run's carried rows, and the resources they name (in the base's output).
        let carried: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM ledger.sqlite_master WHERE name = 'carried_row'",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        let from = if carried > 0 {
            "ledger.carried_row"
        } else {
            "(SELECT '' AS module, '' AS source_key, x'' AS row_sha, '' AS outcome, NULL AS resources, 0 AS from_run WHERE 0)"
        };
        self.conn
            .execute_batch(&format!(
                "CREATE TABLE car AS SELECT module, source_key, row_sha, outcome, resources, from_run FROM {from};
                 CREATE INDEX car_key ON car (module, source_key);
                 CREATE TABLE car_res AS SELECT DISTINCT j.value ->> 0 AS type, j.value ->> 1 AS id,
                     j.value ->> 2 AS sha, car.from_run AS from_run, 0 AS found
                     FROM car, json_each(car.resources) j
                     WHERE car.resources IS NOT NULL AND car.outcome = 'migrated' AND j.value ->> 2 <> '';
                 CREATE INDEX car_res_id ON car_res (type, id, from_run);"
            ))
            .map_err(self.err())
    }

    /// Where `type/id` is in the output (the first occurrence).
    pub fn locate(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<ResourceLocation>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT file, offset, len, line, rowid FROM res WHERE type = ?1 AND id = ?2
                 ORDER BY rowid LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![resource_type, id], |r| {
                    Ok(ResourceLocation {
                        file: r.get::<_, i64>(0)? as u32,
                        offset: r.get::<_, i64>(1)? as u64,
                        len: r.get::<_, i64>(2)? as u64,
                        line: r.get::<_, i64>(3)? as u64,
                        row: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(self.err())
    }

    /// Marks an output resource as produced again by its module.
    pub fn mark_seen(&self, row: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE res SET seen = 1 WHERE rowid = ?1")
            .and_then(|mut s| s.execute([row]))
            .map_err(self.err())?;
        Ok(())
    }

    /// What the ledger recorded for one source row of a module.
    pub fn ledger_outcome(&self, module: &str, key: &str) -> Result<LedgerOutcome, StoreError> {
        let mut migrated = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT resource_type, resource_id FROM lin WHERE module = ?1 AND source_key = ?2
                     ORDER BY rowid",
                )
                .map_err(self.err())?;
            let rows = stmt
                .query_map(params![module, key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(self.err())?;
            for r in rows {
                migrated.push(r.map_err(self.err())?);
            }
        }
        if !migrated.is_empty() {
            return Ok(LedgerOutcome::Migrated(migrated));
        }
        let kind: Option<String> = self
            .conn
            .prepare_cached("SELECT kind FROM other WHERE module = ?1 AND source_key = ?2 LIMIT 1")
            .and_then(|mut s| s.query_row(params![module, key], |r| r.get(0)).optional())
            .map_err(self.err())?;
        if let Some(k) = kind {
            return Ok(if k == "excluded" {
                LedgerOutcome::Excluded
            } else {
                LedgerOutcome::Exception
            });
        }
        let carried: Option<(Vec<u8>, String, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT row_sha, outcome, resources FROM car WHERE module = ?1 AND source_key = ?2 LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![module, key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(self.err())?;
        Ok(match carried {
            Some((row_sha, outcome, resources)) => LedgerOutcome::Carried {
                row_sha,
                outcome,
                resources: resources
                    .as_deref()
                    .map(crate::ledger::lineage_entries)
                    .unwrap_or_default(),
            },
            None => LedgerOutcome::Unknown,
        })
    }

    /// A delta run: its carried rows that were exceptions in the base, per module (they are
    /// still open, so the exception rate counts them).
    pub fn carried_exceptions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT module, count(*) FROM car WHERE outcome = 'exception' GROUP BY module")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// A delta run: the runs whose output holds the resources it carried over.
    pub fn carried_runs(&self) -> Result<Vec<u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT from_run FROM car_res ORDER BY from_run")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(self.err())?;
        rows.map(|r| r.map(|n| n as u64))
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())
    }

    /// A resource of run `from_run`'s output that this delta carried over: the sha256 its
    /// lineage recorded (and it is marked found), or `None` when it is not carried.
    pub fn carried_resource(
        &self,
        from_run: u64,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE car_res SET found = 1 WHERE from_run = ?1 AND type = ?2 AND id = ?3
                 RETURNING sha",
            )
            .and_then(|mut s| {
                let mut rows = s.query(params![from_run as i64, resource_type, id])?;
                match rows.next()? {
                    Some(r) => Ok(Some(r.get(0)?)),
                    None => Ok(None),
                }
            })
            .map_err(self.err())
    }

    /// Carried resources not found in the output of the run that wrote them.
    pub fn carried_not_found(&self, limit: usize) -> Result<(u64, Vec<IndexFinding>), StoreError> {
        self.findings(
            "SELECT count(*) FROM car_res WHERE found = 0",
            "SELECT type, id, 'run ' || from_run FROM car_res WHERE found = 0 ORDER BY rowid LIMIT ?1",
            limit,
        )
    }

    /// The lineage of one output resource: (module, source key).
    pub fn lineage_of(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT module, source_key FROM lin WHERE resource_type = ?1 AND resource_id = ?2 LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![resource_type, id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(self.err())
    }

    fn findings(
        &self,
        count_sql: &str,
        list_sql: &str,
        limit: usize,
    ) -> Result<(u64, Vec<IndexFinding>), StoreError> {
        let n: i64 = self
            .conn
            .query_row(count_sql, [], |r| r.get(0))
            .map_err(self.err())?;
        let mut stmt = self.conn.prepare(list_sql).map_err(self.err())?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(IndexFinding {
                    resource_type: r.get(0)?,
                    resource_id: r.get(1)?,
                    detail: r.get(2)?,
                })
            })
            .map_err(self.err())?;
        let list = rows.collect::<Result<Vec<_>, _>>().map_err(self.err())?;
        Ok((n.max(0) as u64, list))
    }

    /// References whose target is not in the output: (count, first `limit` with the path).
    pub fn dangling_references(
        &self,
        limit: usize,
    ) -> Result<(u64, Vec<IndexFinding>), StoreError> {
        // A delta run's output refers to resources it carried over (in its base's output) too.
        const WHERE: &str = "FROM ref LEFT JOIN res ON res.type = ref.type AND res.id = ref.id
                             WHERE res.rowid IS NULL AND NOT EXISTS
                               (SELECT 1 FROM car_res c WHERE c.type = ref.type AND c.id = ref.id)";
        self.findings(
            &format!("SELECT count(*) {WHERE}"),
            &format!(
                "SELECT ref.from_type, ref.from_id, ref.path || ' -> ' || ref.type || '/' || ref.id {WHERE}
                 ORDER BY ref.rowid LIMIT ?1"
            ),
            limit,
        )
    }

    /// Ids that appear more than once in the output (detail: how many times).
    pub fn duplicate_ids(&self, limit: usize) -> Result<(u64, Vec<IndexFinding>), StoreError> {
        self.findings(
            "SELECT count(*) FROM (SELECT 1 FROM res GROUP BY type, id HAVING count(*) > 1)",
            "SELECT type, id, count(*) || ' times' FROM res GROUP BY type, id HAVING count(*) > 1
             ORDER BY min(rowid) LIMIT ?1",
            limit,
        )
    }

    /// Output resources no module produced again (detail: `file line N`, file by number).
    pub fn unseen_resources(&self, limit: usize) -> Result<(u64, Vec<IndexFinding>), StoreError> {
        self.findings(
            "SELECT count(*) FROM res WHERE seen = 0",
            "SELECT type, id, 'line ' || line FROM res WHERE seen = 0 ORDER BY rowid LIMIT ?1",
            limit,
        )
    }

    /// Lineage entries whose resource is not in the output (detail: the module, U+001F, the
    /// source key; the caller decides whether the key may be shown).
    pub fn lineage_not_in_output(
        &self,
        limit: usize,
    ) -> Result<(u64, Vec<IndexFinding>), StoreError> {
        const WHERE: &str =
            "FROM lin LEFT JOIN res ON res.type = lin.resource_type AND res.id = lin.resource_id
                             WHERE res.rowid IS NULL";
        self.findings(
            &format!("SELECT count(*) {WHERE}"),
            &format!(
                "SELECT lin.resource_type, lin.resource_id, lin.module || char(31) || lin.source_key {WHERE}
                 ORDER BY lin.rowid LIMIT ?1"
            ),
            limit,
        )
    }

    /// Distinct resources the lineage names, per resource type (several source rows can go into
    /// one resource: a summary document, a merged duplicate patient).
    pub fn lineage_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT resource_type, count(DISTINCT resource_id) FROM lin GROUP BY resource_type ORDER BY 1",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Per-row records of one module in the ledger: distinct keys migrated, excluded, exceptions.
    pub fn ledger_key_counts(&self, module: &str) -> Result<(u64, u64, u64), StoreError> {
        let one = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [module], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(self.err())
        };
        Ok((
            one("SELECT count(DISTINCT source_key) FROM lin WHERE module = ?1")?,
            one(
                "SELECT count(DISTINCT source_key) FROM other WHERE module = ?1 AND kind = 'excluded'",
            )?,
            one(
                "SELECT count(DISTINCT source_key) FROM other WHERE module = ?1 AND kind = 'exception'",
            )?,
        ))
    }
}

impl Drop for VerifyIndex {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK;");
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunSpec;

    fn spec() -> RunSpec {
        RunSpec {
            id: None,
            kind: "iteration".into(),
            snapshot: 1,
            files: Vec::new(),
            output_dir: "output".into(),
            base: None,
        }
    }

    /// A run with two patients migrated, one row excluded and one an exception.
    fn workspace_with_a_run() -> (tempfile::TempDir, Workspace, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let mut w = ws.begin_run(spec()).unwrap();
        w.lineage("patients", "1", "Patient", "p1", "x").unwrap();
        w.lineage("patients", "2", "Patient", "p2", "x").unwrap();
        w.lineage("problems", "7", "Condition", "c7", "x").unwrap();
        w.exclusion("problems", "8", "orphan", "no patient")
            .unwrap();
        w.exception(
            "problems",
            "9",
            None,
            Some("code"),
            "unmapped",
            Some("HTN?"),
        )
        .unwrap();
        let run = w.commit("ok").unwrap();
        (dir, ws, run)
    }

    #[test]
    fn verifications_are_recorded_and_listed_oldest_first() {
        let (_dir, mut ws, run) = workspace_with_a_run();
        let run2 = ws.begin_run(spec()).unwrap().commit("ok").unwrap();
        assert!(ws.verifications(run).unwrap().is_empty());
        let a = ws
            .record_verification(run, "2024-01-01T00:00:00Z", 10, "no-go", "{\"run\":1}")
            .unwrap();
        let b = ws
            .record_verification(run, "2024-01-02T00:00:00Z", 20, "go", "{\"run\":1}")
            .unwrap();
        ws.record_verification(run2, "2024-01-03T00:00:00Z", 5, "go", "{}")
            .unwrap();
        let v = ws.verifications(run).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].id, v[1].id), (a, b));
        assert_eq!(v[0].verdict, "no-go");
        assert_eq!(v[1].duration_ms, 20);
        assert_eq!(v[0].summary_json, "{\"run\":1}");
        assert_eq!(ws.verifications(run2).unwrap().len(), 1);
    }

    #[test]
    fn verify_index_of_an_unknown_run_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        assert!(matches!(ws.verify_index(7), Err(StoreError::UnknownRun(7))));
    }

    #[test]
    fn the_index_finds_dangling_references_missing_and_unseen_resources() {
        let (dir, ws, run) = workspace_with_a_run();
        let index = ws.verify_index(run).unwrap();
        // p2 was deleted from the output; c7 refers to p2; x9 is in the output only.
        index.add_resource("Patient", "p1", 0, 0, 10, 1).unwrap();
        index.add_resource("Condition", "c7", 1, 0, 20, 1).unwrap();
        index.add_resource("Condition", "x9", 1, 20, 20, 2).unwrap();
        index.add_resource("Condition", "x9", 1, 40, 20, 3).unwrap();
        index
            .add_reference("Condition", "c7", "subject.reference", "Patient", "p2")
            .unwrap();
        index
            .add_reference("Condition", "x9", "subject.reference", "Patient", "p1")
            .unwrap();
        index.finish_loading().unwrap();

        let (n, d) = index.dangling_references(10).unwrap();
        assert_eq!(n, 1);
        assert_eq!(d[0].resource_id, "c7");
        assert_eq!(d[0].detail, "subject.reference -> Patient/p2");
        let (n, m) = index.lineage_not_in_output(10).unwrap();
        assert_eq!((n, m[0].resource_id.as_str()), (1, "p2"));
        let (n, dup) = index.duplicate_ids(10).unwrap();
        assert_eq!((n, dup[0].resource_id.as_str()), (1, "x9"));

        let loc = index.locate("Condition", "c7").unwrap().unwrap();
        assert_eq!((loc.file, loc.offset, loc.len, loc.line), (1, 0, 20, 1));
        assert!(index.locate("Patient", "p2").unwrap().is_none());
        index.mark_seen(loc.row).unwrap();
        let p1 = index.locate("Patient", "p1").unwrap().unwrap();
        index.mark_seen(p1.row).unwrap();
        let (n, unseen) = index.unseen_resources(10).unwrap();
        assert_eq!(n, 2);
        assert_eq!(unseen[0].resource_id, "x9");

        assert_eq!(
            index.ledger_outcome("patients", "2").unwrap(),
            LedgerOutcome::Migrated(vec![("Patient".into(), "p2".into())])
        );
        assert_eq!(
            index.ledger_outcome("problems", "8").unwrap(),
            LedgerOutcome::Excluded
        );
        assert_eq!(
            index.ledger_outcome("problems", "9").unwrap(),
            LedgerOutcome::Exception
        );
        assert_eq!(
            index.ledger_outcome("problems", "10").unwrap(),
            LedgerOutcome::Unknown
        );
        assert_eq!(
            index.lineage_of("Condition", "c7").unwrap(),
            Some(("problems".into(), "7".into()))
        );
        assert_eq!(index.ledger_key_counts("problems").unwrap(), (1, 1, 1));
        assert_eq!(
            index.lineage_counts().unwrap(),
            vec![("Condition".into(), 1), ("Patient".into(), 2)]
        );
        drop(index);
        let left: Vec<_> = std::fs::read_dir(dir.path().join(RUN_DIR))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".verify.db"))
            .collect();
        assert!(left.is_empty(), "the scratch index is removed on drop");
    }
}
