//! The load journal: one SQLite file per load (`.ferry/loads/load-NNNN.db`, in the workspace:
//! pre-images hold PHI). Before a resource is sent its intent is committed; after the answer,
//! its outcome. A load killed at any instant therefore knows, per resource, whether it was
//! never sent, sent without a known answer (sent again on resume: a `PUT` to a fixed id is
//! idempotent in content), or done. The pre-image (absent, deleted, or present with its JSON,
//! version and hash) is recorded once, before Ferry's first write of the id, and never again:
//! it is what `ferry rollback` restores.

use crate::LoadError;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// Where a resource stands in a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Pre-image recorded, not sent yet.
    Pending,
    /// Sent; no answer recorded (a kill, a reset): sent again on resume.
    Intent,
    /// The server answered 2xx; `version` is what it wrote.
    Done,
    /// The server already held the same content: not sent.
    Unchanged,
    /// The server refused it (a 4xx other than 408/429); `outcome` holds its OperationOutcome.
    Failed,
    /// Not sent: someone changed (or deleted) it on the server since Ferry last wrote it, seen in
    /// its pre-image or answered 412 to `If-Match`. Waits for review; never overwritten.
    Conflict,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Intent => "intent",
            State::Done => "done",
            State::Unchanged => "unchanged",
            State::Failed => "failed",
            State::Conflict => "conflict",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "intent" => State::Intent,
            "done" => State::Done,
            "unchanged" => State::Unchanged,
            "failed" => State::Failed,
            "conflict" => State::Conflict,
            _ => State::Pending,
        }
    }
}

/// What the id held on the server before Ferry's first write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreImage {
    Absent,
    /// Deleted (read gave 410).
    Deleted,
    Present {
        version: Option<String>,
        hash: String,
        json: Vec<u8>,
    },
}

/// One resource's row.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: i64,
    pub resource_type: String,
    pub id: String,
    pub hash: String,
    pub state: State,
    pub pre: Option<PreImage>,
    pub status: Option<u16>,
    pub version: Option<String>,
    pub attempts: u32,
    pub rolled_back: bool,
}

/// A server's answer for one resource: (type, id, state, status, version, OperationOutcome JSON).
pub type Outcome<'a> = (&'a str, &'a str, State, u16, Option<String>, Option<String>);

pub struct Journal {
    conn: Connection,
    pub path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  hash TEXT NOT NULL,
  state TEXT NOT NULL,
  pre_state TEXT,
  pre_version TEXT,
  pre_hash TEXT,
  pre_json BLOB,
  status INTEGER,
  version TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  outcome TEXT,
  rolled_back INTEGER NOT NULL DEFAULT 0,
  UNIQUE (type, id)
);
CREATE TABLE IF NOT EXISTS resolution (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  action TEXT NOT NULL,
  by TEXT NOT NULL,
  why TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (type, id)
);
";

/// How a reviewer resolved a conflict: `kept` (the EHR's edit stays) or `overwritten` (Ferry's
/// content was written over it, with `If-Match`), by whom, why and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolution {
    pub action: String,
    pub by: String,
    pub why: String,
    pub at: String,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> LoadError + '_ {
    move |e| LoadError::Journal {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl Journal {
    /// Opens (creating) the journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, LoadError> {
        if let Some(dir) = path.parent() {
            ferry_core::atomic::create_dir(dir, ferry_core::atomic::Contents::Phi).map_err(
                |e| LoadError::Journal {
                    path: dir.to_path_buf(),
                    message: e.to_string(),
                },
            )?;
        }
        let conn = Connection::open(path).map_err(sql(path))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000;",
        )
        .map_err(sql(path))?;
        conn.execute_batch(SCHEMA).map_err(sql(path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn set_info(&self, key: &str, value: &str) -> Result<(), LoadError> {
        self.conn
            .execute(
                "INSERT INTO info (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(sql(&self.path))?;
        Ok(())
    }

    /// Sets several keys in one commit (a load's description: all of it or none).
    pub fn set_infos(&mut self, items: &[(&str, &str)]) -> Result<(), LoadError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        for (k, v) in items {
            tx.execute(
                "INSERT INTO info (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )
            .map_err(sql(&path))?;
        }
        tx.commit().map_err(sql(&path))
    }

    pub fn info(&self, key: &str) -> Result<Option<String>, LoadError> {
        self.conn
            .query_row("SELECT value FROM info WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(sql(&self.path))
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        let pre_state: Option<String> = r.get(5)?;
        let pre = match pre_state.as_deref() {
            Some("absent") => Some(PreImage::Absent),
            Some("deleted") => Some(PreImage::Deleted),
            Some("present") => Some(PreImage::Present {
                version: r.get(6)?,
                hash: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                json: r.get::<_, Option<Vec<u8>>>(8)?.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Entry {
            seq: r.get(0)?,
            resource_type: r.get(1)?,
            id: r.get(2)?,
            hash: r.get(3)?,
            state: State::parse(&r.get::<_, String>(4)?),
            pre,
            status: r.get::<_, Option<i64>>(9)?.map(|s| s as u16),
            version: r.get(10)?,
            attempts: r.get::<_, i64>(11)? as u32,
            rolled_back: r.get::<_, i64>(12)? != 0,
        })
    }

    const COLUMNS: &'static str = "seq, type, id, hash, state, pre_state, pre_version, pre_hash, pre_json, status, version, attempts, rolled_back";

    pub fn get(&self, resource_type: &str, id: &str) -> Result<Option<Entry>, LoadError> {
        // Cached: a load asks this once per resource.
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, type, id, hash, state, pre_state, pre_version, pre_hash, pre_json, status, version, attempts, rolled_back
                 FROM entries WHERE type = ?1 AND id = ?2",
            )
            .map_err(sql(&self.path))?;
        st.query_row(params![resource_type, id], Self::row)
            .optional()
            .map_err(sql(&self.path))
    }

    /// The entries of `keys` (type, id), read in one transaction (one lock of the journal, not
    /// one per key).
    pub fn get_many(&self, keys: &[(&str, &str)]) -> Result<Vec<Option<Entry>>, LoadError> {
        let tx = self.conn.unchecked_transaction().map_err(sql(&self.path))?;
        let out = keys
            .iter()
            .map(|(t, id)| self.get(t, id))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(sql(&self.path))?;
        Ok(out)
    }

    /// Every entry in sending order (`reverse`: the opposite, for rollback).
    pub fn entries(&self, reverse: bool) -> Result<Vec<Entry>, LoadError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM entries ORDER BY seq {}",
                Self::COLUMNS,
                if reverse { "DESC" } else { "ASC" }
            ))
            .map_err(sql(&self.path))?;
        let rows = st.query_map([], Self::row).map_err(sql(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql(&self.path))
    }

    /// Counts by state.
    pub fn counts(&self) -> Result<Vec<(String, u64)>, LoadError> {
        let mut st = self
            .conn
            .prepare("SELECT state, count(*) FROM entries GROUP BY state ORDER BY state")
            .map_err(sql(&self.path))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql(&self.path))
    }

    /// Records pre-images (and the content hash to send) of ids seen for the first time, in one
    /// transaction; an id already in the journal keeps its first pre-image. An entry recorded
    /// with [`State::Intent`] counts its first attempt: the pre-image and the intent to send
    /// are committed together, before the request.
    pub fn record_pre_images(
        &mut self,
        items: &[(&str, &str, &str, PreImage, State)],
    ) -> Result<(), LoadError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO entries (type, id, hash, state, pre_state, pre_version, pre_hash, pre_json, attempts)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?4 = 'intent')
                     ON CONFLICT (type, id) DO NOTHING",
                )
                .map_err(sql(&path))?;
            for (t, id, hash, pre, state) in items {
                let (ps, pv, ph, pj) = match pre {
                    PreImage::Absent => ("absent", None, None, None),
                    PreImage::Deleted => ("deleted", None, None, None),
                    PreImage::Present {
                        version,
                        hash,
                        json,
                    } => (
                        "present",
                        version.as_deref(),
                        Some(hash.as_str()),
                        Some(json.as_slice()),
                    ),
                };
                st.execute(params![t, id, hash, state.as_str(), ps, pv, ph, pj])
                    .map_err(sql(&path))?;
            }
        }
        tx.commit().map_err(sql(&path))
    }

    /// Marks these entries as sent (intent), counting an attempt, before the request goes out.
    pub fn mark_intent(&mut self, items: &[(&str, &str, &str)]) -> Result<(), LoadError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE entries SET state = 'intent', hash = ?3, attempts = attempts + 1
                     WHERE type = ?1 AND id = ?2",
                )
                .map_err(sql(&path))?;
            for (t, id, hash) in items {
                st.execute(params![t, id, hash]).map_err(sql(&path))?;
            }
        }
        tx.commit().map_err(sql(&path))
    }

    /// Records the server's answers.
    pub fn record_outcomes(&mut self, items: &[Outcome<'_>]) -> Result<(), LoadError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE entries SET state = ?3, status = ?4, version = ?5, outcome = ?6
                     WHERE type = ?1 AND id = ?2",
                )
                .map_err(sql(&path))?;
            for (t, id, state, status, version, outcome) in items {
                st.execute(params![t, id, state.as_str(), status, version, outcome])
                    .map_err(sql(&path))?;
            }
        }
        tx.commit().map_err(sql(&path))
    }

    /// Every entry that was a conflict (still one, or resolved), with its resolution.
    pub fn conflict_entries(&self) -> Result<Vec<(Entry, Option<Resolution>)>, LoadError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {}, r.action, r.by, r.why, r.at FROM entries e
                 LEFT JOIN resolution r ON r.type = e.type AND r.id = e.id
                 WHERE e.state = 'conflict' OR r.type IS NOT NULL ORDER BY e.seq",
                Self::COLUMNS
                    .split(", ")
                    .map(|c| format!("e.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .map_err(sql(&self.path))?;
        let rows = st
            .query_map([], |r| {
                let e = Self::row(r)?;
                let action: Option<String> = r.get(13)?;
                let res = match action {
                    Some(action) => Some(Resolution {
                        action,
                        by: r.get(14)?,
                        why: r.get(15)?,
                        at: r.get(16)?,
                    }),
                    None => None,
                };
                Ok((e, res))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql(&self.path))
    }

    /// Records a reviewer's resolution of a conflict; `overwritten` also marks the entry done at
    /// the version the server gave Ferry's write (so rollback restores the EHR's edit).
    pub fn resolve(
        &mut self,
        resource_type: &str,
        id: &str,
        resolution: &Resolution,
        version: Option<&str>,
    ) -> Result<(), LoadError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql(&path))?;
        tx.execute(
            "INSERT INTO resolution (type, id, action, by, why, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                resource_type,
                id,
                resolution.action,
                resolution.by,
                resolution.why,
                resolution.at
            ],
        )
        .map_err(sql(&path))?;
        if resolution.action == "overwritten" {
            tx.execute(
                "UPDATE entries SET state = 'done', version = ?3, attempts = attempts + 1
                 WHERE type = ?1 AND id = ?2",
                params![resource_type, id, version],
            )
            .map_err(sql(&path))?;
        }
        tx.commit().map_err(sql(&path))
    }

    /// The resources in conflict (type, id): changed on the server since Ferry last wrote them.
    pub fn conflicts(&self) -> Result<Vec<(String, String)>, LoadError> {
        let mut st = self
            .conn
            .prepare("SELECT type, id FROM entries WHERE state = 'conflict' ORDER BY seq")
            .map_err(sql(&self.path))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql(&self.path))
    }

    /// The OperationOutcomes of refused resources (type, id, status, outcome JSON): PHI-free ids;
    /// the outcome may quote values, so callers show it only on request.
    pub fn failures(&self) -> Result<Vec<(String, String, u16, String)>, LoadError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT type, id, coalesce(status, 0), coalesce(outcome, '') FROM entries
                 WHERE state = 'failed' ORDER BY seq",
            )
            .map_err(sql(&self.path))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u16, r.get(3)?))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql(&self.path))
    }

    pub fn mark_rolled_back(&self, seq: i64) -> Result<(), LoadError> {
        self.conn
            .execute("UPDATE entries SET rolled_back = 1 WHERE seq = ?1", [seq])
            .map_err(sql(&self.path))?;
        Ok(())
    }

    /// Sets the version Ferry's write produced, learnt later (an intent answered by a read).
    pub fn set_done(&self, seq: i64, version: Option<&str>) -> Result<(), LoadError> {
        self.conn
            .execute(
                "UPDATE entries SET state = 'done', version = ?2 WHERE seq = ?1",
                params![seq, version],
            )
            .map_err(sql(&self.path))?;
        Ok(())
    }
}

/// What Ferry last left on the server for one id: the version it wrote (or found holding its
/// content) and that content's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub version: Option<String>,
    pub hash: String,
}

/// The journals of earlier loads to one target, newest first: what Ferry last wrote there, for a
/// delta's `If-Match` and conflict check. Read-only; shared by the load's workers.
pub struct PriorLoads {
    journals: Vec<std::sync::Mutex<(Connection, PathBuf)>>,
}

impl PriorLoads {
    /// Opens these journals (newest first) read-only.
    pub fn open(paths: &[PathBuf]) -> Result<PriorLoads, LoadError> {
        let mut journals = Vec::new();
        for p in paths {
            let conn = Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(sql(p))?;
            journals.push(std::sync::Mutex::new((conn, p.clone())));
        }
        Ok(PriorLoads { journals })
    }

    pub fn is_empty(&self) -> bool {
        self.journals.is_empty()
    }

    /// What the newest load that wrote (or found) this id left on the server; entries rolled
    /// back, refused, in conflict or never answered are passed over.
    pub fn written(&self, resource_type: &str, id: &str) -> Result<Option<Written>, LoadError> {
        for j in &self.journals {
            let guard = j
                .lock()
                .map_err(|_| LoadError::Other("a journal lock was poisoned".into()))?;
            let (conn, path) = &*guard;
            let row: Option<(String, String, Option<String>, Option<String>)> = conn
                .prepare_cached(
                    "SELECT state, hash, version, pre_version FROM entries
                     WHERE type = ?1 AND id = ?2 AND rolled_back = 0",
                )
                .and_then(|mut st| {
                    st.query_row(params![resource_type, id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .optional()
                })
                .map_err(sql(path))?;
            match row {
                Some((state, hash, version, _)) if state == "done" => {
                    return Ok(Some(Written { version, hash }));
                }
                Some((state, hash, _, pre_version)) if state == "unchanged" => {
                    return Ok(Some(Written {
                        version: pre_version,
                        hash,
                    }));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

/// `load-NNNN.db` in `dir`, and the highest NNNN there.
pub fn journal_path(dir: &Path, load: u64) -> PathBuf {
    dir.join(format!("load-{load:04}.db"))
}

pub fn highest_load(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_prefix("load-")?
                        .strip_suffix(".db")?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pre_image_is_recorded_once_and_outcomes_follow_intents() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&journal_path(dir.path(), 1)).unwrap();
        j.record_pre_images(&[("Patient", "a", "h1", PreImage::Absent, State::Pending)])
            .unwrap();
        // A second sighting (a resume) must not replace the first pre-image.
        j.record_pre_images(&[(
            "Patient",
            "a",
            "h1",
            PreImage::Present {
                version: Some("1".into()),
                hash: "h1".into(),
                json: b"{}".to_vec(),
            },
            State::Pending,
        )])
        .unwrap();
        let e = j.get("Patient", "a").unwrap().unwrap();
        assert_eq!(e.pre, Some(PreImage::Absent));
        j.mark_intent(&[("Patient", "a", "h1")]).unwrap();
        assert_eq!(j.get("Patient", "a").unwrap().unwrap().state, State::Intent);
        j.record_outcomes(&[("Patient", "a", State::Done, 201, Some("1".into()), None)])
            .unwrap();
        let e = j.get("Patient", "a").unwrap().unwrap();
        assert_eq!(
            (e.state, e.version.as_deref(), e.attempts),
            (State::Done, Some("1"), 1)
        );
        assert_eq!(highest_load(dir.path()), 1);
        // Recorded with its intent: one attempt, committed with the pre-image.
        j.record_pre_images(&[("Patient", "b", "h2", PreImage::Deleted, State::Intent)])
            .unwrap();
        let e = j.get("Patient", "b").unwrap().unwrap();
        assert_eq!((e.state, e.attempts), (State::Intent, 1));
    }
}
