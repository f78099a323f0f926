//! Evolution: the same clinic some days later.
//!
//! An evolved snapshot replays the base snapshot row by row (every row comes from the same
//! per-patient streams, so an untouched row is byte-identical) and decides each base row's fate from
//! its own stream, keyed by (seed, days, table, primary key): kept, edited in place (primary key
//! unchanged) or deleted. A patient's fate (kept, deleted with every row they own, or, for a seeded
//! duplicate, merged into the original: the duplicate's row deleted and its rows re-pointed) comes
//! from the patient's own stream. New rows (new visits and per-patient rows of active patients, new
//! patients with all their rows) follow the base rows with ids after the base's last id, dated
//! between the base dump and the evolved one. Nothing is held but the current row and the current
//! table's change keys.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{ALLERGENS, CITIES, DISPOSITIONS, RESTRICTIONS, STREETS};
use crate::util::{
    DateShape, Pick, push_date, push_datetime, push_int, push_iso, push_pad, stream,
};
use crate::writer::{Row, TableDef};

/// Probabilities of an evolution, each over 7 days (scaled to the number of days as
/// `1 - (1 - rate)^(days / 7)`); the change manifest records the exact outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvolveRates {
    /// New patients, as a share of the base patient count (at least one new patient).
    pub new_patients: f64,
    /// Base rows edited in place (primary key unchanged), per row.
    pub edited_rows: f64,
    /// Base rows of patient tables deleted (entered in error, duplicates removed), per row; a
    /// deleted visit takes the rows recorded at it with it.
    pub deleted_rows: f64,
    /// Patients deleted with every row they own, per patient.
    pub deleted_patients: f64,
    /// Seeded duplicate patients merged into their original (duplicate's row deleted, its rows
    /// re-pointed to the original), per duplicate.
    pub merged_duplicates: f64,
    /// Active patients (not terminated) with a new visit (and its vitals, labs, notes...).
    pub new_visits: f64,
    /// Active patients with a new row in a per-patient table (appointments three times as often,
    /// immunizations twice).
    pub new_rows: f64,
}

impl Default for EvolveRates {
    fn default() -> Self {
        EvolveRates {
            new_patients: 0.02,
            edited_rows: 0.05,
            deleted_rows: 0.01,
            deleted_patients: 0.002,
            merged_duplicates: 0.10,
            new_visits: 0.10,
            new_rows: 0.03,
        }
    }
}

/// Largest number of days an evolution may span.
pub const MAX_DAYS_LATER: u32 = 3650;

/// What happens to a base patient (and the rows they own) in an evolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Kept,
    /// Deleted with every row they own.
    Deleted,
    /// A duplicate merged into the patient with this id: its row deleted, its rows re-pointed.
    Merged(u64),
    /// A patient of the evolution (not in the base).
    New,
}

// Purposes of the evolution's streams (the tag also carries the number of days).
const P_FATE: u64 = 1;
const P_NEW_CORE: u64 = 2;
const P_NEW_VISITS: u64 = 3;
/// + table position: a new visit's rows of an existing patient.
pub(crate) const P_VISIT_ROWS: u64 = 100;
/// + table position: new per-patient rows of an existing patient.
pub(crate) const P_NEW_ROWS: u64 = 200;
/// + table position: a base row's fate (indexed by its primary key).
const P_ROW: u64 = 300;

/// An evolution's parameters, with the rates scaled to its days.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evo {
    pub seed: u64,
    pub days: u32,
    /// Day (since 1970) of the base dump; new facts fall in `t0 + 1 ..= t1`.
    pub t0: i32,
    pub t1: i32,
    pub new_patients: u64,
    pub rates: EvolveRates,
    p_edit: f64,
    p_delete: f64,
    p_delete_patient: f64,
    p_merge: f64,
    pub p_visit: f64,
    p_row: f64,
}

fn scaled(rate: f64, days: u32) -> f64 {
    let r = rate.clamp(0.0, 1.0);
    1.0 - (1.0 - r).powf(f64::from(days) / 7.0)
}

impl Evo {
    pub fn new(seed: u64, n: u64, days: u32, rates: EvolveRates, t0: i32) -> Evo {
        let p_new = scaled(rates.new_patients, days);
        Evo {
            seed,
            days,
            t0,
            t1: t0 + days as i32,
            new_patients: ((n as f64 * p_new).round() as u64).max(1),
            rates,
            p_edit: scaled(rates.edited_rows, days),
            p_delete: scaled(rates.deleted_rows, days),
            p_delete_patient: scaled(rates.deleted_patients, days),
            p_merge: scaled(rates.merged_duplicates, days),
            p_visit: scaled(rates.new_visits, days),
            p_row: scaled(rates.new_rows, days),
        }
    }

    /// A stream of this evolution: distinct from every base stream (whose tags are below 1000)
    /// and from every other number of days.
    pub fn rng(&self, index: u64, purpose: u64) -> ChaCha8Rng {
        stream(
            self.seed,
            index,
            0x4556_4f00_0000_0000 | (u64::from(self.days) << 16) | purpose,
        )
    }

    /// A day inside the evolution's window.
    pub fn window_day(&self, r: &mut ChaCha8Rng) -> i32 {
        self.t0 + r.between(1, i64::from(self.days)) as i32
    }

    pub fn new_core_rng(&self, index: u64) -> ChaCha8Rng {
        self.rng(index, P_NEW_CORE)
    }

    pub fn new_visits_rng(&self, index: u64) -> ChaCha8Rng {
        self.rng(index, P_NEW_VISITS)
    }

    /// Whether base patient `index` is deleted (first draw of its fate stream).
    pub fn patient_deleted(&self, index: u64) -> bool {
        self.rng(index, P_FATE).chance(self.p_delete_patient)
    }

    /// Whether a duplicate patient `index` (not deleted) is merged (second draw).
    pub fn duplicate_merged(&self, index: u64) -> bool {
        let mut r = self.rng(index, P_FATE);
        let _ = r.chance(self.p_delete_patient);
        r.chance(self.p_merge)
    }

    /// How many new rows an active patient gets in a per-patient table.
    pub fn new_row_count(&self, table: &str, r: &mut ChaCha8Rng) -> u64 {
        let weight = match table {
            "appointments" => 3.0,
            "immunizations" => 2.0,
            "lost_time" | "work_restrictions" | "resp_fit_tests" => 0.5,
            _ => 1.0,
        };
        u64::from(r.chance((self.p_row * weight).min(1.0)))
    }
}

/// What an evolution does with one base row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Unchanged,
    /// Bit `i` set: column `i` changed.
    Changed(u64),
    Deleted(DeleteReason),
    New,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DeleteReason {
    /// The row's patient was deleted.
    PatientDeleted,
    /// The row is a merged duplicate patient.
    PatientMerged,
    /// The visit the row was recorded at was deleted.
    VisitDeleted,
    /// The row itself was deleted.
    RowDeleted,
}

impl DeleteReason {
    pub fn name(self) -> &'static str {
        match self {
            DeleteReason::PatientDeleted => "patient_deleted",
            DeleteReason::PatientMerged => "patient_merged",
            DeleteReason::VisitDeleted => "visit_deleted",
            DeleteReason::RowDeleted => "row_deleted",
        }
    }
}

fn cell_u64(row: &Row, i: usize) -> Option<u64> {
    let c = row.cells().get(i)?;
    if c.null || c.buf.is_empty() || !c.buf.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&c.buf).ok()?.parse().ok()
}

/// The per-table side of an evolution: column positions, the current patient, and the change keys.
pub(crate) struct TableEvo {
    evo: Evo,
    table: &'static str,
    /// Position of the table in dump order (stream tags).
    pos: u64,
    pid_col: Option<usize>,
    vid_col: Option<usize>,
    patient: (u64, Fate),
    new_phase: bool,
    before: Vec<(bool, Vec<u8>)>,
    pub log: TableLog,
}

/// The keys of one table's changes, in the order rows were written (ascending).
#[derive(Default)]
pub(crate) struct TableLog {
    pub new: Vec<u64>,
    pub deleted: Vec<u64>,
    pub reasons: BTreeMap<&'static str, u64>,
    pub changed: BTreeMap<u64, Vec<u64>>,
    pub merged: Vec<(u64, u64)>,
}

const REFERENCE_TABLES: &[&str] = &["departments", "employers", "locations", "providers"];

impl TableEvo {
    pub fn new(evo: Evo, def: &'static TableDef, pos: u64) -> TableEvo {
        let col = |name: &str| def.cols.iter().position(|c| c.name == name);
        let reference = REFERENCE_TABLES.contains(&def.name);
        TableEvo {
            evo,
            table: def.name,
            pos,
            pid_col: if reference { None } else { col("patient_id") },
            vid_col: if def.name == "visits" {
                None
            } else {
                col("visit_id")
            },
            patient: (0, Fate::Kept),
            new_phase: false,
            before: Vec::new(),
            log: TableLog::default(),
        }
    }

    pub fn patient(&mut self, id: u64, fate: Fate) {
        self.patient = (id, fate);
    }

    pub fn begin_new(&mut self) {
        self.new_phase = true;
    }

    /// Whether the base visit `visit_id` is deleted by its own fate. Only asked for visits of
    /// a patient that is not deleted, so it agrees with the visits pass.
    fn visit_deleted(&self, visit_id: u64) -> bool {
        let pos = crate::schema::TABLE_NAMES
            .iter()
            .position(|t| *t == "visits")
            .unwrap_or(0) as u64;
        let mut r = self.evo.rng(visit_id, P_ROW + pos);
        r.random_unit() < self.evo.p_delete
    }

    /// Decide (and apply) the fate of the row about to be written.
    pub fn decide(&mut self, def: &TableDef, row: &mut Row) -> Outcome {
        let key = cell_u64(row, 0).unwrap_or(0);
        if self.new_phase {
            self.log.new.push(key);
            return Outcome::New;
        }
        let Some(pid_col) = self.pid_col else {
            return Outcome::Unchanged;
        };
        let (pid, fate) = self.patient;
        let owned = cell_u64(row, pid_col) == Some(pid);
        self.snapshot(row);
        let delete = |log: &mut TableLog, reason: DeleteReason| {
            log.deleted.push(key);
            *log.reasons.entry(reason.name()).or_default() += 1;
            Outcome::Deleted(reason)
        };
        if owned {
            match fate {
                Fate::Deleted => return delete(&mut self.log, DeleteReason::PatientDeleted),
                Fate::Merged(into) if self.table == "patients" => {
                    self.log.merged.push((pid, into));
                    return delete(&mut self.log, DeleteReason::PatientMerged);
                }
                Fate::Merged(into) => row.set_with(pid_col, |b| push_int(b, into as i64)),
                Fate::Kept | Fate::New => {}
            }
        }
        if let Some(vc) = self.vid_col
            && let Some(vid) = cell_u64(row, vc)
            && owned
            && self.visit_deleted(vid)
        {
            return delete(&mut self.log, DeleteReason::VisitDeleted);
        }
        let mut r = self.evo.rng(key, P_ROW + self.pos);
        let u = r.random_unit();
        let deletable = self.table != "patients";
        if deletable && u < self.evo.p_delete {
            return delete(&mut self.log, DeleteReason::RowDeleted);
        }
        if u < self.evo.p_delete + self.evo.p_edit {
            edit(self.table, def, row, &mut r, &self.evo);
        }
        let mut mask = 0u64;
        for (i, (cell, (null, buf))) in row.cells().iter().zip(&self.before).enumerate() {
            if cell.null != *null || (!cell.null && cell.buf != *buf) {
                mask |= 1 << i.min(63);
            }
        }
        if mask == 0 {
            Outcome::Unchanged
        } else {
            self.log.changed.entry(mask).or_default().push(key);
            Outcome::Changed(mask)
        }
    }

    fn snapshot(&mut self, row: &Row) {
        let cells = row.cells();
        self.before.resize_with(cells.len(), Default::default);
        for (slot, c) in self.before.iter_mut().zip(cells) {
            slot.0 = c.null;
            slot.1.clear();
            slot.1.extend_from_slice(&c.buf);
        }
    }
}

trait Unit {
    fn random_unit(&mut self) -> f64;
}
impl Unit for ChaCha8Rng {
    fn random_unit(&mut self) -> f64 {
        rand::Rng::random::<f64>(self)
    }
}

/// Set column `name` to `a`, or to `b` when it already holds `a` (an edit always changes something).
fn set_either(def: &TableDef, row: &mut Row, name: &str, a: &str, b: &str) {
    let Some(i) = def.cols.iter().position(|c| c.name == name) else {
        return;
    };
    let same = row
        .cells()
        .get(i)
        .is_some_and(|c| !c.null && c.buf == a.as_bytes());
    let v = if same { b } else { a };
    row.set_with(i, |buf| buf.extend_from_slice(v.as_bytes()));
}

fn set(def: &TableDef, row: &mut Row, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    if let Some(i) = def.cols.iter().position(|c| c.name == name) {
        row.set_with(i, f);
    }
}

fn get<'r>(def: &TableDef, row: &'r Row, name: &str) -> Option<&'r [u8]> {
    let i = def.cols.iter().position(|c| c.name == name)?;
    let c = row.cells().get(i)?;
    (!c.null).then_some(c.buf.as_slice())
}

/// A realistic edit of one row (the primary key and the patient never change). Edits keep away
/// from the columns that carry seeded defects, so the evolved manifest's defect keys stay exact.
fn edit(table: &str, def: &TableDef, row: &mut Row, r: &mut ChaCha8Rng, evo: &Evo) {
    let day = evo.window_day(r);
    match table {
        "patients" => {
            match r.between(0, 3) {
                0 => {
                    // Moved house.
                    let (city, st, zip3) = r.pick(CITIES);
                    let num = r.between(1, 19999) as u64;
                    let street = r.pick(STREETS);
                    let z = r.between(0, 99) as u64;
                    set(def, row, "address1", |b| {
                        push_pad(b, num, 1);
                        b.push(b' ');
                        b.extend_from_slice(street.as_bytes());
                    });
                    set(def, row, "address2", |_| {});
                    set(def, row, "city", |b| b.extend_from_slice(city.as_bytes()));
                    set(def, row, "state", |b| b.extend_from_slice(st.as_bytes()));
                    set(def, row, "zip", |b| {
                        push_pad(b, u64::from(zip3), 3);
                        push_pad(b, z, 2);
                    });
                }
                1 => {
                    let ex = r.between(200, 999) as u64;
                    let num = r.between(0, 9999) as u64;
                    let area = r.between(201, 989) as u64;
                    set(def, row, "home_phone", |b| {
                        push_pad(b, area, 3);
                        b.push(b'-');
                        push_pad(b, ex, 3);
                        b.push(b'-');
                        push_pad(b, num, 4);
                    });
                }
                2 => {
                    let n = r.between(100, 999) as u64;
                    set(def, row, "email", |b| {
                        b.extend_from_slice(b"pt");
                        push_pad(b, n, 3);
                        b.extend_from_slice(b"@newmail.example.org");
                    });
                }
                _ => {
                    if get(def, row, "status") == Some(b"T") {
                        set_either(def, row, "job_title", "Retired", "Former employee");
                    } else {
                        set(def, row, "term_date", |b| push_date(b, day, DateShape::Mdy));
                        set(def, row, "status", |b| b.push(b'T'));
                    }
                }
            }
            let m = r.between(7 * 60, 18 * 60) as u32;
            let s = r.between(0, 59) as u32;
            set(def, row, "modified_dt", |b| push_datetime(b, day, m, s));
        }
        "allergies" => {
            if r.chance(0.5) {
                let (_, re) = r.pick(ALLERGENS);
                set_either(def, row, "reaction", re, "rash, itching");
            } else {
                set_either(def, row, "severity", "severe", "moderate");
            }
        }
        "appointments" => {
            if r.chance(0.7) {
                set_either(def, row, "status", "K", "C");
            } else {
                set_either(def, row, "comments", "pt rescheduled by phone", "confirmed");
            }
        }
        "audiograms" => set_either(def, row, "tech_initials", "QA", "RV"),
        "clinical_notes" => {
            if get(def, row, "signed") == Some(b"N") {
                set(def, row, "signed", |b| b.push(b'Y'));
            } else {
                if let Some(i) = def.cols.iter().position(|c| c.name == "note_text") {
                    row.append_with(i, |b| {
                        b.extend_from_slice(b"\nADDENDUM ");
                        push_iso(b, day);
                        b.extend_from_slice(b": results reviewed with pt.");
                    });
                }
            }
        }
        "documents" => {
            let pages = r.between(1, 12);
            set(def, row, "page_count", |b| push_int(b, pages + 12));
        }
        "drug_screens" => set_either(def, row, "mro_reviewed", "Y", "N"),
        "immunizations" => set_either(def, row, "site", "L deltoid", "R deltoid"),
        "lab_results" => {
            let range = get(def, row, "ref_range").and_then(parse_range);
            match range {
                Some((lo, hi, dec)) => {
                    let v = lo + r.random_unit() * (hi - lo);
                    set(def, row, "result_value", |b| push_decimal(b, v, dec));
                    set(def, row, "abnormal_flag", |_| {});
                }
                None => set_either(def, row, "abnormal_flag", "A", ""),
            }
        }
        "lost_time" => set_either(def, row, "osha_recordable", "Y", "N"),
        "medications" => {
            if get(def, row, "active") == Some(b"Y") {
                set(def, row, "stop_date", |b| push_iso(b, day));
                set(def, row, "active", |b| b.push(b'N'));
            } else {
                set_either(def, row, "prescriber", "PCP", "outside MD");
            }
        }
        "pft" => set_either(
            def,
            row,
            "interpretation",
            "Reviewed by MD - WNL",
            "Repeat advised",
        ),
        "problems" => set_either(def, row, "status", "Resolved", "Active"),
        "resp_fit_tests" => set_either(def, row, "size", "M", "L"),
        "tb_tests" => {
            let lot = r.between(10000, 99999) as u64;
            set(def, row, "lot_no", |b| {
                b.push(b'C');
                push_pad(b, lot, 5);
            });
        }
        "visits" => {
            if get(def, row, "status") != Some(b"CLOSED") {
                set(def, row, "status", |b| b.extend_from_slice(b"CLOSED"));
            } else {
                let d = r.pick(DISPOSITIONS);
                set_either(def, row, "disposition", d, "Follow up PRN");
            }
        }
        "vision_tests" => set_either(def, row, "corrected", "Y", "N"),
        "vitals" => {
            let spo2 = r.between(94, 100);
            let same = get(def, row, "spo2").is_some_and(|b| b == spo2.to_string().as_bytes());
            set(def, row, "spo2", |b| {
                push_int(b, if same { spo2 - 1 } else { spo2 })
            });
        }
        "work_restrictions" => {
            set(def, row, "end_date", |b| push_date(b, day, DateShape::Mdy));
            let t = r.pick(RESTRICTIONS);
            if get(def, row, "status") == Some(b"Lifted") {
                set_either(def, row, "restriction", t, "No restrictions");
            } else {
                set(def, row, "status", |b| b.extend_from_slice(b"Lifted"));
            }
        }
        _ => {}
    }
}

/// `lo-hi` of a numeric reference range, with the decimals it is written with.
fn parse_range(b: &[u8]) -> Option<(f64, f64, u32)> {
    let s = std::str::from_utf8(b).ok()?;
    let (lo, hi) = s.split_once('-')?;
    let dec = hi.split_once('.').map_or(0, |(_, f)| f.len() as u32);
    let (lo, hi): (f64, f64) = (lo.parse().ok()?, hi.parse().ok()?);
    (hi > lo).then_some((lo, hi, dec))
}

fn push_decimal(b: &mut Vec<u8>, v: f64, dec: u32) {
    let p = 10f64.powi(dec as i32);
    crate::util::push_fixed(b, (v * p).round() as i64, dec);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{LAB_RESULTS, PATIENTS, VISITS};

    fn evo(days: u32) -> Evo {
        Evo::new(42, 1000, days, EvolveRates::default(), 20_000)
    }

    #[test]
    fn rates_scale_with_days_and_seven_days_is_the_rate_itself() {
        assert!((scaled(0.05, 7) - 0.05).abs() < 1e-12);
        assert!((scaled(0.05, 14) - (1.0 - 0.95f64.powi(2))).abs() < 1e-12);
        assert!(scaled(0.05, 1) < 0.05 / 6.0);
        assert_eq!(scaled(0.0, 30), 0.0);
        assert_eq!(scaled(1.0, 1), 1.0);
        assert_eq!(evo(7).new_patients, 20);
        // At least one new patient, however small the clinic.
        assert_eq!(Evo::new(1, 3, 1, EvolveRates::default(), 0).new_patients, 1);
    }

    #[test]
    fn streams_differ_by_days_and_purpose() {
        let a = evo(7).rng(5, P_FATE).random_unit();
        let b = evo(8).rng(5, P_FATE).random_unit();
        let c = evo(7).rng(5, P_NEW_CORE).random_unit();
        let d = stream(42, 5, 1).random_unit();
        assert!(a != b && a != c && a != d);
        assert_eq!(a, evo(7).rng(5, P_FATE).random_unit());
        let e = evo(7);
        let mut r = e.rng(1, 9);
        for _ in 0..200 {
            let day = e.window_day(&mut r);
            assert!(day > e.t0 && day <= e.t1);
        }
    }

    fn row(cells: &[Option<&str>]) -> Row {
        let mut r = Row::default();
        r.begin();
        for c in cells {
            r.opt(*c);
        }
        r
    }

    fn text(r: &Row, def: &TableDef, name: &str) -> Option<String> {
        get(def, r, name).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn every_edit_changes_the_row_but_never_its_key() {
        // Whatever the row holds, the edit of each table changes at least one cell.
        let e = evo(7);
        for def in crate::schema::TABLES {
            if REFERENCE_TABLES.contains(&def.name) {
                continue;
            }
            for seed in 0..40u64 {
                let mut r = Row::default();
                r.begin();
                for (i, c) in def.cols.iter().enumerate() {
                    // Cells already holding the values edits write first.
                    match (i, c.name) {
                        (0, _) => r.int(7),
                        (_, "status") => r.s(if seed % 2 == 0 { "CLOSED" } else { "K" }),
                        (_, "signed" | "mro_reviewed" | "corrected" | "osha_recordable") => {
                            r.s(if seed % 2 == 0 { "Y" } else { "N" })
                        }
                        (_, "active") => r.s("Y"),
                        (_, "ref_range") => r.s("70-99"),
                        _ if seed % 3 == 0 => r.null(),
                        _ => r.s("x"),
                    }
                }
                let before: Vec<(bool, Vec<u8>)> =
                    r.cells().iter().map(|c| (c.null, c.buf.clone())).collect();
                let mut rng = e.rng(seed, 77);
                edit(def.name, def, &mut r, &mut rng, &e);
                let after: Vec<(bool, Vec<u8>)> =
                    r.cells().iter().map(|c| (c.null, c.buf.clone())).collect();
                assert_eq!(after[0], before[0], "{}: key changed", def.name);
                assert_ne!(after, before, "{} (seed {seed}): no change", def.name);
            }
        }
    }

    #[test]
    fn a_corrected_lab_value_falls_in_its_reference_range() {
        let e = evo(7);
        let cells: Vec<Option<&str>> = vec![
            Some("1"),
            Some("2"),
            Some("3"),
            Some("2019-01-01 08:20:00"),
            Some("GLU"),
            Some("Glucose"),
            Some("250"),
            Some("mg/dL"),
            Some("70-99"),
            Some("H"),
        ];
        for seed in 0..50 {
            let mut r = row(&cells);
            edit("lab_results", &LAB_RESULTS, &mut r, &mut e.rng(seed, 3), &e);
            let v: f64 = text(&r, &LAB_RESULTS, "result_value")
                .unwrap()
                .parse()
                .unwrap();
            assert!((70.0..=99.0).contains(&v), "{v}");
            assert_eq!(text(&r, &LAB_RESULTS, "abnormal_flag").as_deref(), Some(""));
        }
        assert_eq!(parse_range(b"0.5-1.25"), Some((0.5, 1.25, 2)));
        assert_eq!(parse_range(b"see report"), None);
        assert_eq!(parse_range(b"5-5"), None);
    }

    #[test]
    fn a_patient_edit_stamps_modified_dt_inside_the_window() {
        let e = evo(7);
        let mut cells: Vec<Option<&str>> = vec![Some("x"); PATIENTS.cols.len()];
        cells[0] = Some("12");
        let mut r = row(&cells);
        edit("patients", &PATIENTS, &mut r, &mut e.rng(1, 1), &e);
        let m = text(&r, &PATIENTS, "modified_dt").unwrap();
        let (y, mo, d) = crate::util::civil_from_days(e.t1);
        assert!(
            m.as_str() <= format!("{y:04}-{mo:02}-{d:02} 23:59:59").as_str(),
            "{m}"
        );
        assert_eq!(text(&r, &PATIENTS, "patient_id").as_deref(), Some("12"));
    }

    #[test]
    fn decide_deletes_a_deleted_patients_rows_and_repoints_a_merged_one() {
        let e = evo(7);
        let mut t = TableEvo::new(e, &VISITS, 19);
        let cells = [
            Some("5"),
            Some("9"),
            Some("2019-01-01 08:00:00"),
            Some("ANNUAL"),
            Some(""),
            Some("1"),
            Some("1"),
            Some("OPEN"),
            None,
        ];
        t.patient(9, Fate::Deleted);
        assert_eq!(
            t.decide(&VISITS, &mut row(&cells)),
            Outcome::Deleted(DeleteReason::PatientDeleted)
        );
        // An orphan row generated in that patient's stream is not the patient's: its own fate.
        let mut orphan = cells;
        orphan[1] = Some("2500");
        assert!(!matches!(
            t.decide(&VISITS, &mut row(&orphan)),
            Outcome::Deleted(DeleteReason::PatientDeleted)
        ));
        t.patient(9, Fate::Merged(3));
        let mut r = row(&cells);
        match t.decide(&VISITS, &mut r) {
            Outcome::Changed(mask) => assert!(mask & 2 != 0, "patient_id changed"),
            Outcome::Deleted(DeleteReason::RowDeleted) => {}
            other => panic!("{other:?}"),
        }
        t.begin_new();
        assert_eq!(t.decide(&VISITS, &mut row(&cells)), Outcome::New);
        assert_eq!(t.log.new, vec![5]);
        assert_eq!(t.log.deleted.first(), Some(&5));
    }
}
