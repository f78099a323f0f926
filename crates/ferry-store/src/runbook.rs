//! Runbooks (`ferry runbook`): a timed rehearsal or go-live, its steps in order, each with its
//! state, times, who ran or confirmed it and what it produced.
//!
//! A runbook's plan (each step's definition as JSON) is recorded when it starts, so a resume
//! follows the checklist as it was started. Every change is one SQLite statement or
//! transaction: a kill leaves a step either as it was or as it became.

use crate::StoreError;
use crate::catalog::Workspace;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// The catalog tables of runbooks (schema version 4; `CREATE TABLE IF NOT EXISTS`).
pub(crate) const RUNBOOK_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runbook (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    finished_at TEXT,
    finished_ms INTEGER,
    actor       TEXT NOT NULL,
    file_sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runbook_step (
    runbook_id   INTEGER NOT NULL REFERENCES runbook(id),
    ordinal      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT,
    started_ms   INTEGER,
    finished_at  TEXT,
    duration_ms  INTEGER,
    actor        TEXT,
    confirmed_by TEXT,
    produced     TEXT,
    produced_id  INTEGER,
    message      TEXT,
    PRIMARY KEY (runbook_id, ordinal)
);
";

/// One runbook as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunbookRecord {
    pub id: u64,
    /// `rehearsal` or `go-live`.
    pub kind: String,
    /// `open`, `done` or `abandoned`.
    pub status: String,
    pub started_at: String,
    pub started_ms: u64,
    pub finished_at: Option<String>,
    pub finished_ms: Option<u64>,
    /// Who started it.
    pub actor: String,
    /// The sha256 of `runbook.toml` as it was when the runbook started.
    pub file_sha256: String,
}

/// One step of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RunbookStep {
    pub ordinal: u64,
    pub name: String,
    pub kind: String,
    /// The step's definition as started (JSON, no data values).
    #[serde(skip)]
    pub spec_json: String,
    /// `pending`, `running`, `waiting` (a manual step), `done`, `failed`, `skipped`.
    pub state: String,
    /// How many times it was started (an interrupted step is re-run).
    pub attempts: u64,
    pub started_at: Option<String>,
    pub started_ms: Option<u64>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// Who ran it (the session's actor).
    pub actor: Option<String>,
    /// Who confirmed a manual step (`--by NAME`).
    pub confirmed_by: Option<String>,
    /// What it produced: `snapshot`, `run`, `verification`, `load`, `target-verification`,
    /// `report` with `produced_id`.
    pub produced: Option<String>,
    pub produced_id: Option<u64>,
    /// Why it failed, or what a gate found.
    pub message: Option<String>,
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.map(|n| n.max(0) as u64)
}

impl Workspace {
    fn runbook_tables(&self) -> Result<(), StoreError> {
        let path = self.catalog_path();
        self.catalog_ref()
            .execute_batch(RUNBOOK_SCHEMA)
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// Records a new runbook with its steps (all `pending`), refusing when one is open. Returns
    /// its id.
    pub fn begin_runbook(
        &mut self,
        kind: &str,
        file_sha256: &str,
        steps: &[(String, String, String)],
        at: (&str, u64),
    ) -> Result<u64, StoreError> {
        self.runbook_tables()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let actor = self.actor().to_string();
        let conn = self.catalog_mut();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let open: Option<i64> = tx
            .query_row(
                "SELECT id FROM runbook WHERE status = 'open' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if let Some(id) = open {
            return Err(StoreError::RunbookOpen(id as u64));
        }
        tx.execute(
            "INSERT INTO runbook (kind, status, started_at, started_ms, actor, file_sha256)
             VALUES (?1, 'open', ?2, ?3, ?4, ?5)",
            params![kind, at.0, at.1 as i64, actor, file_sha256],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        for (i, (name, step_kind, spec)) in steps.iter().enumerate() {
            tx.execute(
                "INSERT INTO runbook_step (runbook_id, ordinal, name, kind, spec_json, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
                params![id, (i + 1) as i64, name, step_kind, spec],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(id as u64)
    }

    /// Every runbook, oldest first.
    pub fn runbooks(&self) -> Result<Vec<RunbookRecord>, StoreError> {
        self.runbook_tables()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT id, kind, status, started_at, started_ms, finished_at, finished_ms, actor,
                        file_sha256
                 FROM runbook ORDER BY id",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunbookRecord {
                    id: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    status: r.get(2)?,
                    started_at: r.get(3)?,
                    started_ms: r.get::<_, i64>(4)?.max(0) as u64,
                    finished_at: r.get(5)?,
                    finished_ms: opt_u64(r.get(6)?),
                    actor: r.get(7)?,
                    file_sha256: r.get(8)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// The open runbook, if any.
    pub fn open_runbook(&self) -> Result<Option<RunbookRecord>, StoreError> {
        Ok(self.runbooks()?.into_iter().find(|r| r.status == "open"))
    }

    /// The steps of runbook `id`, in order.
    pub fn runbook_steps(&self, id: u64) -> Result<Vec<RunbookStep>, StoreError> {
        self.runbook_tables()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT ordinal, name, kind, spec_json, state, attempts, started_at, started_ms,
                        finished_at, duration_ms, actor, confirmed_by, produced, produced_id, message
                 FROM runbook_step WHERE runbook_id = ?1 ORDER BY ordinal",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([id as i64], |r| {
                Ok(RunbookStep {
                    ordinal: r.get::<_, i64>(0)? as u64,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    spec_json: r.get(3)?,
                    state: r.get(4)?,
                    attempts: r.get::<_, i64>(5)?.max(0) as u64,
                    started_at: r.get(6)?,
                    started_ms: opt_u64(r.get(7)?),
                    finished_at: r.get(8)?,
                    duration_ms: opt_u64(r.get(9)?),
                    actor: r.get(10)?,
                    confirmed_by: r.get(11)?,
                    produced: r.get(12)?,
                    produced_id: opt_u64(r.get(13)?),
                    message: r.get(14)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Writes a step's state, times, actor, confirmation, product and message as given (one
    /// statement).
    pub fn set_runbook_step(&self, runbook: u64, step: &RunbookStep) -> Result<(), StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        self.catalog_ref()
            .execute(
                "UPDATE runbook_step SET state = ?3, attempts = ?4, started_at = ?5,
                        started_ms = ?6, finished_at = ?7, duration_ms = ?8, actor = ?9,
                        confirmed_by = ?10, produced = ?11, produced_id = ?12, message = ?13
                 WHERE runbook_id = ?1 AND ordinal = ?2",
                params![
                    runbook as i64,
                    step.ordinal as i64,
                    step.state,
                    step.attempts as i64,
                    step.started_at,
                    step.started_ms.map(|n| n as i64),
                    step.finished_at,
                    step.duration_ms.map(|n| n as i64),
                    step.actor,
                    step.confirmed_by,
                    step.produced,
                    step.produced_id.map(|n| n as i64),
                    step.message,
                ],
            )
            .map_err(err)?;
        Ok(())
    }

    /// Sets every step from `ordinal` on back to `pending` (a resume `--from` an earlier step).
    pub fn reset_runbook_steps(&self, runbook: u64, ordinal: u64) -> Result<(), StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        self.catalog_ref()
            .execute(
                "UPDATE runbook_step SET state = 'pending', started_at = NULL, started_ms = NULL,
                        finished_at = NULL, duration_ms = NULL, actor = NULL, confirmed_by = NULL,
                        produced = NULL, produced_id = NULL, message = NULL
                 WHERE runbook_id = ?1 AND ordinal >= ?2",
                params![runbook as i64, ordinal as i64],
            )
            .map_err(err)?;
        Ok(())
    }

    /// Closes runbook `id` as `done` or `abandoned`.
    pub fn finish_runbook(&self, id: u64, status: &str, at: (&str, u64)) -> Result<(), StoreError> {
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        self.catalog_ref()
            .execute(
                "UPDATE runbook SET status = ?2, finished_at = ?3, finished_ms = ?4 WHERE id = ?1",
                params![id as i64, status, at.0, at.1 as i64],
            )
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<(String, String, String)> {
        vec![
            ("stage".into(), "stage".into(), "{}".into()),
            ("freeze".into(), "manual".into(), "{}".into()),
        ]
    }

    #[test]
    fn one_runbook_open_at_a_time_and_steps_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        ws.set_actor("ana");
        let id = ws
            .begin_runbook("rehearsal", "abc", &steps(), ("t0", 1000))
            .unwrap();
        let again = ws.begin_runbook("go-live", "abc", &steps(), ("t1", 2000));
        assert!(matches!(again, Err(StoreError::RunbookOpen(n)) if n == id));
        let mut s = ws.runbook_steps(id).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].state, "pending");
        s[0].state = "done".into();
        s[0].duration_ms = Some(42);
        s[0].produced = Some("snapshot".into());
        s[0].produced_id = Some(3);
        ws.set_runbook_step(id, &s[0]).unwrap();
        let back = ws.runbook_steps(id).unwrap();
        assert_eq!(back[0], s[0]);
        ws.reset_runbook_steps(id, 1).unwrap();
        assert_eq!(ws.runbook_steps(id).unwrap()[0].state, "pending");
        ws.finish_runbook(id, "done", ("t2", 3000)).unwrap();
        assert!(ws.open_runbook().unwrap().is_none());
        let r = &ws.runbooks().unwrap()[0];
        assert_eq!((r.actor.as_str(), r.finished_ms), ("ana", Some(3000)));
        ws.begin_runbook("go-live", "abc", &steps(), ("t3", 4000))
            .unwrap();
    }
}
