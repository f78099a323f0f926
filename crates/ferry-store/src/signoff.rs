//! Clinician sample packets and their verdicts (`ferry sample`, `ferry sample record`), and the
//! per-row reads of a run's ledger that a packet needs.
//!
//! A packet is the list of patients chosen for review from one run, with the seed that chose
//! them; each verdict is one patient's accept / reject by a named reviewer, recorded with the time
//! it was recorded. Recording a patient's verdict again replaces the earlier one (the time says
//! when). Patient keys are legacy identifiers: the catalog lives in the PHI workspace.

use crate::StoreError;
use crate::catalog::Workspace;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// The catalog tables of packets and verdicts. Created on open and, for a workspace made before
/// they existed, on first use (`CREATE TABLE IF NOT EXISTS` is cheap).
pub(crate) const SIGNOFF_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sample_packet (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    seed        INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    packet_file TEXT NOT NULL,
    form_file   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_patient (
    packet_id   INTEGER NOT NULL REFERENCES sample_packet(id),
    ordinal     INTEGER NOT NULL,
    patient_key TEXT NOT NULL,
    PRIMARY KEY (packet_id, ordinal)
);
CREATE TABLE IF NOT EXISTS sample_verdict (
    packet_id   INTEGER NOT NULL REFERENCES sample_packet(id),
    patient_key TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    reviewer    TEXT NOT NULL,
    comment     TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    form_file   TEXT NOT NULL,
    PRIMARY KEY (packet_id, patient_key)
);
";

/// A clinician verification packet as the catalog records it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SamplePacket {
    pub id: u64,
    pub run_id: u64,
    pub seed: u64,
    pub created_at: String,
    /// The packet's HTML file and the verdict form, as written (relative to the project).
    pub packet_file: String,
    pub form_file: String,
    /// The sampled patients' keys, in packet order.
    pub patients: Vec<String>,
}

/// One patient's verdict as given on a filled form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictInput {
    pub patient_key: String,
    /// `accept` or `reject`.
    pub verdict: String,
    pub reviewer: String,
    pub comment: String,
}

/// One recorded verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SampleVerdict {
    pub packet_id: u64,
    pub patient_key: String,
    pub verdict: String,
    pub reviewer: String,
    pub comment: String,
    pub recorded_at: String,
    /// The form file it was read from.
    pub form_file: String,
}

/// What became of one source row in a run, from the run's ledger file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFate {
    Migrated {
        resource_type: String,
        resource_id: String,
    },
    Excluded {
        rule: String,
        reason: String,
    },
    /// An exception (the raw value is not read: it is PHI and the packet shows the legacy row).
    Exception {
        path: Option<String>,
        reason: String,
    },
}

impl Workspace {
    fn ensure_signoff_schema(&self) -> Result<(), StoreError> {
        let path = self.catalog_path();
        self.catalog_ref()
            .execute_batch(SIGNOFF_SCHEMA)
            .map_err(|e| StoreError::sqlite(&path, e))
    }

    /// Records a new packet (its files are named after the id it returns) in one transaction.
    pub fn record_sample_packet(
        &mut self,
        run_id: u64,
        seed: u64,
        patients: &[String],
        file_for_id: &dyn Fn(u64) -> (String, String),
    ) -> Result<SamplePacket, StoreError> {
        self.ensure_signoff_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let created_at = ferry_core::calendar::now_utc_rfc3339();
        let tx = self
            .catalog_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let id: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(id), 0) + 1 FROM sample_packet",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let (packet_file, form_file) = file_for_id(id as u64);
        tx.execute(
            "INSERT INTO sample_packet (id, run_id, seed, created_at, packet_file, form_file)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                run_id as i64,
                seed as i64,
                created_at,
                packet_file,
                form_file
            ],
        )
        .map_err(err)?;
        for (i, key) in patients.iter().enumerate() {
            tx.execute(
                "INSERT INTO sample_patient (packet_id, ordinal, patient_key) VALUES (?1, ?2, ?3)",
                params![id, i as i64, key],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(SamplePacket {
            id: id as u64,
            run_id,
            seed,
            created_at,
            packet_file,
            form_file,
            patients: patients.to_vec(),
        })
    }

    /// Removes a packet recorded by [`Workspace::record_sample_packet`] whose files could not be
    /// written (it has no verdicts yet).
    pub fn forget_sample_packet(&mut self, id: u64) -> Result<(), StoreError> {
        self.ensure_signoff_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let tx = self.catalog_mut().transaction().map_err(err)?;
        tx.execute(
            "DELETE FROM sample_verdict WHERE packet_id = ?1",
            [id as i64],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM sample_patient WHERE packet_id = ?1",
            [id as i64],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM sample_packet WHERE id = ?1", [id as i64])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Every packet (of one run, or of all), oldest first.
    pub fn sample_packets(&self, run_id: Option<u64>) -> Result<Vec<SamplePacket>, StoreError> {
        self.ensure_signoff_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        let mut stmt = conn
            .prepare(
                "SELECT id, run_id, seed, created_at, packet_file, form_file FROM sample_packet
                 WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id",
            )
            .map_err(err)?;
        let mut packets: Vec<SamplePacket> = stmt
            .query_map([run_id.map(|r| r as i64)], |r| {
                Ok(SamplePacket {
                    id: r.get::<_, i64>(0)? as u64,
                    run_id: r.get::<_, i64>(1)? as u64,
                    seed: r.get::<_, i64>(2)? as u64,
                    created_at: r.get(3)?,
                    packet_file: r.get(4)?,
                    form_file: r.get(5)?,
                    patients: Vec::new(),
                })
            })
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        for p in &mut packets {
            p.patients = patients_of(conn, p.id).map_err(err)?;
        }
        Ok(packets)
    }

    /// One packet, or `None` when there is no packet with this id.
    pub fn sample_packet(&self, id: u64) -> Result<Option<SamplePacket>, StoreError> {
        self.ensure_signoff_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let conn = self.catalog_ref();
        let found = conn
            .query_row(
                "SELECT id, run_id, seed, created_at, packet_file, form_file FROM sample_packet
                 WHERE id = ?1",
                [id as i64],
                |r| {
                    Ok(SamplePacket {
                        id: r.get::<_, i64>(0)? as u64,
                        run_id: r.get::<_, i64>(1)? as u64,
                        seed: r.get::<_, i64>(2)? as u64,
                        created_at: r.get(3)?,
                        packet_file: r.get(4)?,
                        form_file: r.get(5)?,
                        patients: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(err)?;
        match found {
            Some(mut p) => {
                p.patients = patients_of(conn, p.id).map_err(err)?;
                Ok(Some(p))
            }
            None => Ok(None),
        }
    }

    /// Stores verdicts of one packet's patients in one transaction (a patient's earlier verdict
    /// is replaced). Returns the time recorded.
    pub fn record_sample_verdicts(
        &mut self,
        packet_id: u64,
        verdicts: &[VerdictInput],
        form_file: &str,
    ) -> Result<String, StoreError> {
        self.ensure_signoff_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let recorded_at = ferry_core::calendar::now_utc_rfc3339();
        let tx = self
            .catalog_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        for v in verdicts {
            tx.execute(
                "INSERT OR REPLACE INTO sample_verdict
                 (packet_id, patient_key, verdict, reviewer, comment, recorded_at, form_file)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    packet_id as i64,
                    v.patient_key,
                    v.verdict,
                    v.reviewer,
                    v.comment,
                    recorded_at,
                    form_file
                ],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(recorded_at)
    }

    /// The verdicts recorded for a packet, in the packet's patient order.
    pub fn sample_verdicts(&self, packet_id: u64) -> Result<Vec<SampleVerdict>, StoreError> {
        self.ensure_signoff_schema()?;
        let path = self.catalog_path();
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = self
            .catalog_ref()
            .prepare(
                "SELECT v.packet_id, v.patient_key, v.verdict, v.reviewer, v.comment, v.recorded_at,
                        v.form_file
                 FROM sample_verdict v
                 LEFT JOIN sample_patient p ON p.packet_id = v.packet_id AND p.patient_key = v.patient_key
                 WHERE v.packet_id = ?1 ORDER BY p.ordinal, v.patient_key",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map([packet_id as i64], |r| {
                Ok(SampleVerdict {
                    packet_id: r.get::<_, i64>(0)? as u64,
                    patient_key: r.get(1)?,
                    verdict: r.get(2)?,
                    reviewer: r.get(3)?,
                    comment: r.get(4)?,
                    recorded_at: r.get(5)?,
                    form_file: r.get(6)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    pub(crate) fn open_run_db(
        &self,
        run: u64,
    ) -> Result<(Connection, std::path::PathBuf), StoreError> {
        let path = self
            .root()
            .join(crate::ledger::RUN_DIR)
            .join(format!("run-{run:04}.db"));
        if !path.exists() {
            return Err(StoreError::UnknownRun(run));
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok((conn, path))
    }

    /// Streams the (module, source key) of every row of a run that became an exception, once
    /// per row.
    pub fn exception_rows(
        &self,
        run: u64,
        on_row: &mut dyn FnMut(&str, &str),
    ) -> Result<(), StoreError> {
        let (conn, path) = self.open_run_db(run)?;
        let err = |e| StoreError::sqlite(&path, e);
        let mut stmt = conn
            .prepare("SELECT DISTINCT module, source_key FROM exception")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let module: String = r.get(0).map_err(err)?;
            let key: String = r.get(1).map_err(err)?;
            on_row(&module, &key);
        }
        Ok(())
    }

    /// Streams what became of the source rows of a run that `wanted(module, source_key)`
    /// selects: one call per resource written, per exclusion and per exception record, in the
    /// order the run recorded them. One pass over each of the run's per-row tables.
    pub fn row_fates(
        &self,
        run: u64,
        wanted: &dyn Fn(&str, &str) -> bool,
        on_fate: &mut dyn FnMut(&str, &str, RowFate),
    ) -> Result<(), StoreError> {
        let (conn, path) = self.open_run_db(run)?;
        let err = |e| StoreError::sqlite(&path, e);
        for (sql, kind) in [
            (
                // `lineage` is a view in the order recorded (no rowid of its own).
                "SELECT module, source_key, resource_type, resource_id FROM lineage",
                0,
            ),
            (
                "SELECT module, source_key, rule, reason FROM exclusion ORDER BY rowid",
                1,
            ),
            (
                "SELECT module, source_key, path, reason FROM exception ORDER BY rowid",
                2,
            ),
        ] {
            let mut stmt = conn.prepare(sql).map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(r) = rows.next().map_err(err)? {
                let module = r.get_ref(0).map_err(err)?.as_str().unwrap_or_default();
                let key = r.get_ref(1).map_err(err)?.as_str().unwrap_or_default();
                if !wanted(module, key) {
                    continue;
                }
                let (module, key) = (module.to_string(), key.to_string());
                let fate = match kind {
                    0 => RowFate::Migrated {
                        resource_type: r.get(2).map_err(err)?,
                        resource_id: r.get(3).map_err(err)?,
                    },
                    1 => RowFate::Excluded {
                        rule: r.get(2).map_err(err)?,
                        reason: r.get(3).map_err(err)?,
                    },
                    _ => RowFate::Exception {
                        path: r.get(2).map_err(err)?,
                        reason: r.get(3).map_err(err)?,
                    },
                };
                on_fate(&module, &key, fate);
            }
        }
        Ok(())
    }
}

fn patients_of(conn: &Connection, packet: u64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT patient_key FROM sample_patient WHERE packet_id = ?1 ORDER BY ordinal",
    )?;
    let rows = stmt.query_map([packet as i64], |r| r.get(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn packets_get_increasing_ids_and_keep_patient_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let names = |id: u64| {
            (
                format!("sample-{id:04}.html"),
                format!("verdicts-{id:04}.csv"),
            )
        };
        let a = ws
            .record_sample_packet(3, 7, &keys(&["12", "5", "40"]), &names)
            .unwrap();
        let b = ws
            .record_sample_packet(4, 7, &keys(&["1"]), &names)
            .unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(a.packet_file, "sample-0001.html");
        let all = ws.sample_packets(None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].patients, keys(&["12", "5", "40"]));
        assert_eq!(ws.sample_packets(Some(4)).unwrap(), vec![b.clone()]);
        assert_eq!(ws.sample_packet(2).unwrap(), Some(b));
        assert_eq!(ws.sample_packet(9).unwrap(), None);
        ws.forget_sample_packet(1).unwrap();
        assert_eq!(ws.sample_packets(None).unwrap().len(), 1);
    }

    #[test]
    fn recording_a_verdict_again_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let p = ws
            .record_sample_packet(1, 0, &keys(&["b", "a"]), &|id| {
                (format!("p{id}"), format!("f{id}"))
            })
            .unwrap();
        let v = |k: &str, verdict: &str| VerdictInput {
            patient_key: k.into(),
            verdict: verdict.into(),
            reviewer: "Dr One".into(),
            comment: String::new(),
        };
        ws.record_sample_verdicts(p.id, &[v("a", "accept"), v("b", "accept")], "f1")
            .unwrap();
        ws.record_sample_verdicts(p.id, &[v("a", "reject")], "f1b")
            .unwrap();
        let got = ws.sample_verdicts(p.id).unwrap();
        assert_eq!(got.len(), 2);
        // Packet order: b first, then a.
        assert_eq!(got[0].patient_key, "b");
        assert_eq!(got[1].verdict, "reject");
        assert_eq!(got[1].form_file, "f1b");
    }

    /// A catalog made before these tables existed gets them on first use.
    #[test]
    fn an_older_catalog_without_the_tables_gets_them_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ws = Workspace::open(dir.path()).unwrap();
            ws.catalog_ref()
                .execute_batch(
                    "DROP TABLE sample_verdict; DROP TABLE sample_patient; DROP TABLE sample_packet;",
                )
                .unwrap();
        }
        let ws = Workspace::open(dir.path()).unwrap();
        assert!(ws.sample_packets(None).unwrap().is_empty());
    }

    #[test]
    fn row_fates_gives_only_the_wanted_rows_with_what_became_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let mut w = ws
            .begin_run(crate::RunSpec {
                id: None,
                kind: "rehearsal".into(),
                snapshot: 1,
                files: vec![],
                output_dir: "output".into(),
                base: None,
            })
            .unwrap();
        w.lineage("labs", "1", "Observation", "id-1", "h").unwrap();
        w.lineage("labs", "2", "Observation", "id-2", "h").unwrap();
        w.exclusion("labs", "3", "dup", "a duplicate").unwrap();
        w.exception(
            "labs",
            "4",
            Some("Observation"),
            Some("code"),
            "unmapped",
            Some("PHI"),
        )
        .unwrap();
        w.exception(
            "labs",
            "4",
            Some("Observation"),
            Some("unit"),
            "unmapped",
            None,
        )
        .unwrap();
        w.exception("meds", "1", None, None, "bad", None).unwrap();
        let run = w.commit("ok").unwrap();
        let mut got = Vec::new();
        ws.row_fates(run, &|m, k| m == "labs" && k != "2", &mut |m, k, f| {
            got.push((m.to_string(), k.to_string(), f))
        })
        .unwrap();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0].2,
            RowFate::Migrated {
                resource_type: "Observation".into(),
                resource_id: "id-1".into()
            }
        );
        assert!(matches!(&got[1].2, RowFate::Excluded { rule, .. } if rule == "dup"));
        assert!(matches!(&got[3].2, RowFate::Exception { path: Some(p), .. } if p == "unit"));
        let mut exc = Vec::new();
        ws.exception_rows(run, &mut |m, k| exc.push(format!("{m}/{k}")))
            .unwrap();
        exc.sort();
        assert_eq!(exc, vec!["labs/4", "meds/1"], "one per row, not per record");
    }

    #[test]
    fn row_fates_of_a_missing_run_is_unknown_run() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let e = ws
            .row_fates(5, &|_, _| true, &mut |_, _, _| {})
            .unwrap_err();
        assert!(matches!(e, StoreError::UnknownRun(5)), "{e}");
    }
}
