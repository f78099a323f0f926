//! The audit trail's table in the catalog (`trail_entry`, append-only, one row per operation),
//! the project's trail public key, and the recomputations the trail seals: a run's counts from
//! its own ledger file and a snapshot's content hash from its own file.
//!
//! The chain itself (canonical bytes, hashes, verification) is `ferry_core::trail`; this module
//! only stores and reads entries. An entry is appended inside one `BEGIN IMMEDIATE` transaction
//! that reads the head and inserts the next, so two processes never take the same sequence number.

use crate::StoreError;
use crate::catalog::Workspace;
use ferry_core::trail::{Entry, Facts};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

const TRAIL_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS trail_entry (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    facts     TEXT NOT NULL,
    prev      TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trail_key (
    public_key TEXT PRIMARY KEY,
    recorded_at TEXT NOT NULL
);
";

/// One module's counts recomputed from a run's own ledger file (`runs/run-NNNN.db`): lineage
/// rows (migrated source rows), and distinct source keys excluded and in exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerCounts {
    pub module: String,
    pub migrated: u64,
    pub excluded: u64,
    pub exceptions: u64,
    /// A delta run: rows carried over from its base, and rows deleted since.
    pub unchanged: u64,
    pub deleted: u64,
}

/// A snapshot's content recomputed from its file: per table (staged name, rows, sha256), and
/// the snapshot's content hash over them, by the same definition staging used.
#[derive(Debug, Clone)]
pub struct SnapshotContent {
    pub content_sha256: String,
    pub tables: Vec<(String, u64, String)>,
}

impl Workspace {
    fn ensure_trail_schema(&self) -> Result<(), StoreError> {
        self.catalog_ref()
            .execute_batch(TRAIL_SCHEMA)
            .map_err(|e| StoreError::sqlite(self.catalog_path(), e))
    }

    /// Appends the entry `make` builds from the current head (sequence, hash; `None` when the
    /// trail is empty), in one immediate transaction, and returns it.
    pub fn append_trail(
        &self,
        make: impl FnOnce(Option<(u64, &str)>) -> Entry,
    ) -> Result<Entry, StoreError> {
        self.ensure_trail_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let result = (|| -> Result<Entry, rusqlite::Error> {
            let head: Option<(i64, String)> = conn
                .query_row(
                    "SELECT seq, hash FROM trail_entry ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let entry = make(head.as_ref().map(|(s, h)| (*s as u64, h.as_str())));
            let facts = serde_json::to_string(&entry.facts).unwrap_or_default();
            conn.execute(
                "INSERT INTO trail_entry (seq, at, actor, operation, outcome, facts, prev, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    entry.seq as i64,
                    entry.at,
                    entry.actor,
                    entry.operation,
                    entry.outcome,
                    facts,
                    entry.prev,
                    entry.hash
                ],
            )?;
            Ok(entry)
        })();
        match result {
            Ok(entry) => {
                conn.execute_batch("COMMIT").map_err(err)?;
                Ok(entry)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(err(e))
            }
        }
    }

    /// Every entry of the trail in stored order (an entry whose facts are not readable JSON
    /// keeps them as one fact `unreadable`, so its hash no longer holds).
    pub fn trail_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.ensure_trail_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT seq, at, actor, operation, outcome, facts, prev, hash FROM trail_entry
                 ORDER BY rowid",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                let facts_text: String = r.get(5)?;
                let facts: Facts = serde_json::from_str(&facts_text).unwrap_or_else(|_| {
                    Facts::from([("unreadable".to_string(), facts_text.clone())])
                });
                Ok(Entry {
                    seq: r.get::<_, i64>(0)?.max(0) as u64,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    operation: r.get(3)?,
                    outcome: r.get(4)?,
                    facts,
                    prev: r.get(6)?,
                    hash: r.get(7)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The trail public keys recorded in this workspace, oldest first.
    pub fn trail_public_keys(&self) -> Result<Vec<String>, StoreError> {
        self.ensure_trail_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = self
            .catalog_ref()
            .prepare("SELECT public_key FROM trail_key ORDER BY rowid")
            .map_err(err)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Records the trail public key (hex) if it is not recorded yet.
    pub fn record_trail_public_key(&self, key: &str) -> Result<(), StoreError> {
        self.ensure_trail_schema()?;
        self.catalog_ref()
            .execute(
                "INSERT OR IGNORE INTO trail_key (public_key, recorded_at) VALUES (?1, ?2)",
                params![key, ferry_core::calendar::now_utc_rfc3339()],
            )
            .map(|_| ())
            .map_err(|e| StoreError::sqlite(self.catalog_path(), e))
    }

    /// Each module's counts recomputed from the run's own ledger file, sorted by module.
    pub fn run_ledger_counts(&self, run: u64) -> Result<Vec<LedgerCounts>, StoreError> {
        let (conn, path) = self.open_run_db(run)?;
        // A delta run's carried and deleted rows (tables a run of an older Ferry lacks).
        let delta = crate::ledger::has_table(&conn, "carried_row")
            .and_then(|c| Ok(c && crate::ledger::has_table(&conn, "deleted_row")?))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let delta_rows = if delta {
            "UNION ALL
                     SELECT module, 0, 0, 0, count(*), 0 FROM carried_row GROUP BY module
                     UNION ALL
                     SELECT module, 0, 0, 0, 0, count(*) FROM deleted_row GROUP BY module"
        } else {
            ""
        };
        let mut stmt = conn
            .prepare(&format!(
                "SELECT module, sum(m), sum(x), sum(e), sum(u), sum(d) FROM (
                     SELECT module, count(*) AS m, 0 AS x, 0 AS e, 0 AS u, 0 AS d FROM lineage_row GROUP BY module
                     UNION ALL
                     SELECT module, 0, count(DISTINCT source_key), 0, 0, 0 FROM exclusion GROUP BY module
                     UNION ALL
                     SELECT module, 0, 0, count(DISTINCT source_key), 0, 0 FROM exception GROUP BY module
                     {delta_rows})
                 GROUP BY module ORDER BY module"
            ))
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LedgerCounts {
                    module: r.get(0)?,
                    migrated: r.get::<_, i64>(1)?.max(0) as u64,
                    excluded: r.get::<_, i64>(2)?.max(0) as u64,
                    exceptions: r.get::<_, i64>(3)?.max(0) as u64,
                    unchanged: r.get::<_, i64>(4)?.max(0) as u64,
                    deleted: r.get::<_, i64>(5)?.max(0) as u64,
                })
            })
            .map_err(|e| StoreError::sqlite(&path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// Recomputes a snapshot's content hash from its file: every table's rows in rowid order
    /// (staging's order), hashed as staging hashed them (`ferry_core::content_hash`), then the
    /// snapshot's hash over each table's staged name, row count and hash.
    pub fn recompute_snapshot_content(&self, id: u64) -> Result<SnapshotContent, StoreError> {
        let info = self.snapshot(Some(id))?;
        let tables = self.tables(id)?;
        if !info.db_file.exists() {
            return Err(StoreError::MissingSnapshotFile {
                id,
                path: info.db_file,
            });
        }
        let path = info.db_file.clone();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = rusqlite::Connection::open_with_flags(
            &info.db_file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        let mut content = Sha256::new();
        let mut out = Vec::with_capacity(tables.len());
        for t in &tables {
            let columns: Vec<String> = t
                .columns
                .iter()
                .map(|c| crate::quote_ident(&c.staged_name))
                .collect();
            let select = if columns.is_empty() {
                "NULL".to_string()
            } else {
                columns.join(", ")
            };
            let sql = format!(
                "SELECT {select} FROM {} ORDER BY rowid",
                crate::quote_ident(&t.staged_name)
            );
            let mut stmt = conn.prepare(&sql).map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            let mut hasher = ferry_core::content_hash::TableHasher::new();
            let mut n = 0u64;
            while let Some(row) = rows.next().map_err(err)? {
                n += 1;
                for i in 0..columns.len() {
                    use rusqlite::types::ValueRef as V;
                    match row.get_ref(i).map_err(err)? {
                        V::Null => hasher.push(ferry_core::ValueRef::Null),
                        V::Text(b) => match std::str::from_utf8(b) {
                            Ok(s) => hasher.push(ferry_core::ValueRef::Text(s)),
                            Err(_) => hasher.push(ferry_core::ValueRef::Bytes(b)),
                        },
                        V::Blob(b) => hasher.push(ferry_core::ValueRef::Bytes(b)),
                        // Staging stores no numbers: one here was written by hand.
                        V::Integer(i) => hasher.push(ferry_core::ValueRef::Bytes(&i.to_le_bytes())),
                        V::Real(f) => hasher.push(ferry_core::ValueRef::Bytes(&f.to_le_bytes())),
                    }
                }
            }
            let sha = hasher.finish();
            content.update(t.staged_name.as_bytes());
            content.update([0]);
            content.update(n.to_le_bytes());
            content.update(sha.as_bytes());
            out.push((t.staged_name.clone(), n, sha));
        }
        Ok(SnapshotContent {
            content_sha256: hex::encode(content.finalize()),
            tables: out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_chain_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        assert!(ws.trail_entries().unwrap().is_empty());
        for op in ["stage", "run"] {
            ws.append_trail(|head| {
                Entry::next(
                    head,
                    "2026-12-04T10:00:00Z".into(),
                    "ana".into(),
                    op.into(),
                    "ok".into(),
                    Facts::from([("snapshot".to_string(), "1".to_string())]),
                )
            })
            .unwrap();
        }
        let entries = ws.trail_entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].prev, entries[0].hash);
        assert_eq!(
            ferry_core::trail::verify_chain(&entries).unwrap(),
            Some((2, entries[1].hash.clone()))
        );
        ws.record_trail_public_key("ab").unwrap();
        ws.record_trail_public_key("ab").unwrap();
        assert_eq!(ws.trail_public_keys().unwrap(), vec!["ab".to_string()]);
    }
}
