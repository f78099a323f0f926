//! The clinic itself: patients' core facts, visit plans and one row generator per table.
//!
//! Nothing here holds more than one patient at a time. Every fact comes from a ChaCha stream keyed
//! by (seed, entity index, purpose), so each table pass re-derives what it needs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;

use crate::data::*;
use crate::evolve::{Evo, Fate, P_NEW_ROWS, P_VISIT_ROWS};
use crate::schema::{AUDIOGRAMS, TABLE_NAMES};
use crate::util::{
    DateShape, Pick, days_from_civil, push_date, push_datetime, push_iso, push_pad, stream,
};
use crate::writer::{Row, TableDef};
use crate::{DefectKind, DuplicateKind, DuplicatePair, GenError};

// Purpose tags for the random streams.
const T_CORE: u64 = 1;
const T_ADDR: u64 = 2;
const T_VISITS: u64 = 3;
const T_EMPLOYER: u64 = 4;
const T_LOCATION: u64 = 5;
const T_PROVIDER: u64 = 6;
const T_PATIENT_ROW: u64 = 7;
/// Per-table streams: 100 + table position.
const T_TABLE: u64 = 100;

/// Rate of patients that are duplicates of an earlier patient.
pub(crate) const DUP_RATE: f64 = 0.02;
/// Rate, per patient and per orphan-carrying table, of one extra orphan row.
pub(crate) const ORPHAN_RATE: f64 = 0.004;
const MISSING_DOB_RATE: f64 = 0.01;
const MISSING_SEX_RATE: f64 = 0.01;
const VITALS_OOR_RATE: f64 = 0.006;
const AUDIO_OOR_RATE: f64 = 0.01;
const PFT_OOR_RATE: f64 = 0.01;
const LAB_UNMAPPED_RATE: f64 = 0.012;
const VACC_UNMAPPED_RATE: f64 = 0.02;
const PROB_FREE_RATE: f64 = 0.08;

/// Sink for one table pass: the generator fills `row` and calls `emit`.
pub(crate) trait Emit {
    fn row(&mut self) -> &mut Row;
    fn emit(&mut self) -> Result<(), GenError>;
    /// The id the next row of this table gets: one more than the ids handed out so far (rows
    /// an evolution deletes keep their ids, so later ids never move).
    fn next_id(&self) -> u64;
    /// The patient whose rows follow (an evolution deletes, re-points or keeps them).
    fn patient(&mut self, _id: u64, _fate: Fate) {}
    /// The rows that follow are new in an evolved snapshot (appended after every base row).
    fn begin_new(&mut self) {}
}

/// Defects recorded while generating (the ground truth for the manifest).
#[derive(Default)]
pub(crate) struct Defects {
    pub sets: BTreeMap<(DefectKind, &'static str, &'static str), Vec<u64>>,
    pub duplicates: Vec<DuplicatePair>,
}

impl Defects {
    fn add(&mut self, kind: DefectKind, table: &'static str, column: &'static str, key: u64) {
        self.sets
            .entry((kind, table, column))
            .or_default()
            .push(key);
    }
}

/// Sizes of the fixed reference tables, derived from the patient count.
pub(crate) struct World {
    pub seed: u64,
    pub n: u64,
    pub employers: u64,
    pub locations: u64,
    pub providers: u64,
    start: i32,
    end: i32,
    /// Set for an evolved snapshot.
    pub evo: Option<Evo>,
}

impl World {
    pub fn new(seed: u64, n: u64) -> World {
        World {
            seed,
            n,
            employers: (n / 400).clamp(6, 400),
            locations: (n / 5000).clamp(4, 40),
            providers: (n / 1000).clamp(8, 300),
            start: days_from_civil(2005, 1, 1),
            end: days_from_civil(2025, 12, 31),
            evo: None,
        }
    }
    /// The id of patient `i`: `i + 1` for the base patients; an evolution's new patients are
    /// numbered after the orphan rows' patient ids (`N+1 ..= 3N+1`), so an orphan stays an orphan.
    pub fn patient_id(&self, i: u64) -> u64 {
        if i < self.n {
            i + 1
        } else {
            3 * self.n + 2 + (i - self.n)
        }
    }
    /// The index of the patient with this id (the inverse of [`World::patient_id`]).
    pub fn patient_index(&self, id: u64) -> u64 {
        if id <= self.n {
            id.saturating_sub(1)
        } else {
            self.n + id.saturating_sub(3 * self.n + 2)
        }
    }
    /// Patients of the evolution (none without one).
    pub fn new_patients(&self) -> u64 {
        self.evo.map_or(0, |e| e.new_patients)
    }
    /// What the evolution does with a patient (always `Kept` without one).
    pub fn fate(&self, c: &Core) -> Fate {
        let Some(ev) = self.evo.as_ref() else {
            return Fate::Kept;
        };
        if c.index >= self.n {
            return Fate::New;
        }
        if ev.patient_deleted(c.index) {
            return Fate::Deleted;
        }
        if let Some((orig, _)) = c.dup
            && !ev.patient_deleted(self.patient_index(orig))
            && ev.duplicate_merged(c.index)
        {
            return Fate::Merged(orig);
        }
        Fate::Kept
    }
    /// A base patient who is kept and still employed gets new rows in an evolution.
    fn active(&self, c: &Core) -> bool {
        self.fate(c) == Fate::Kept && c.term.is_none()
    }
    fn rng(&self, index: u64, tag: u64) -> ChaCha8Rng {
        stream(self.seed, index, tag)
    }
    /// Departments of employer `e` (1-based): ids (e-1)*10+1 ..= (e-1)*10+count.
    pub fn depts_of(&self, e: u64) -> u64 {
        let mut r = self.rng(e, T_EMPLOYER);
        r.between(3, 8) as u64
    }
    pub fn max_dept_id(&self) -> u64 {
        (self.employers - 1) * 10 + self.depts_of(self.employers)
    }
    /// An id that no patient has.
    fn orphan_patient_id(&self, r: &mut ChaCha8Rng) -> i64 {
        (self.n + 1) as i64 + r.between(0, self.n as i64 * 2)
    }
}

/// The facts about one patient every table needs.
#[derive(Clone)]
pub(crate) struct Core {
    pub index: u64,
    pub id: u64,
    pub male: bool,
    pub first: Cow<'static, str>,
    pub last: Cow<'static, str>,
    pub dob: i32,
    pub ssn: Option<u32>,
    pub emp_no: u32,
    pub employer: u64,
    pub dept: u64,
    pub location: u64,
    pub hire: i32,
    pub term: Option<i32>,
    /// Last day facts about the patient can fall on (the base's end, or an evolution's).
    pub until: i32,
    pub job: &'static str,
    /// Index of the patient whose address this one shares (itself, or the original of a duplicate).
    pub addr_index: u64,
    pub dup: Option<(u64, DuplicateKind)>,
}

fn is_dup(w: &World, i: u64) -> bool {
    i > 0 && w.rng(i, T_CORE).chance(DUP_RATE)
}

fn base_core(w: &World, i: u64, r: &mut ChaCha8Rng) -> Core {
    let male = r.chance(0.56);
    let first: &'static str = match (male, r.chance(0.08)) {
        (true, false) => r.pick(FIRST_M),
        (true, true) => r.pick(FIRST_M_ACCENT),
        (false, false) => r.pick(FIRST_F),
        (false, true) => r.pick(FIRST_F_ACCENT),
    };
    let last: &'static str = if r.chance(0.08) {
        r.pick(LAST_ACCENT)
    } else {
        r.pick(LAST)
    };
    let dob = r.between(
        i64::from(days_from_civil(1950, 1, 1)),
        i64::from(days_from_civil(2003, 12, 31)),
    ) as i32;
    let ssn_area = r.between(1, 899) as u32;
    let ssn_area = if ssn_area == 666 { 667 } else { ssn_area };
    let ssn = ssn_area * 1_000_000 + r.between(1, 99) as u32 * 10_000 + r.between(1, 9999) as u32;
    let ssn = if r.chance(0.04) { None } else { Some(ssn) };
    let u: f64 = r.random_f();
    let employer = ((u * u * w.employers as f64) as u64).min(w.employers - 1) + 1;
    let dept = (employer - 1) * 10 + 1 + r.between(0, w.depts_of(employer) as i64 - 1) as u64;
    let location = r.between(1, w.locations as i64) as u64;
    let hire_lo = (dob + 18 * 365).max(days_from_civil(1985, 1, 1));
    let hire = r.between(i64::from(hire_lo), i64::from(days_from_civil(2024, 12, 31))) as i32;
    let term = if r.chance(0.15) {
        Some(r.between(i64::from(hire.max(w.start) + 180), i64::from(w.end)) as i32)
    } else {
        None
    };
    Core {
        index: i,
        id: w.patient_id(i),
        male,
        first: Cow::Borrowed(first),
        last: Cow::Borrowed(last),
        dob,
        ssn,
        emp_no: r.between(10_000, 999_999) as u32,
        employer,
        dept,
        location,
        hire,
        term,
        until: w.end,
        job: r.pick(JOB_TITLES),
        addr_index: i,
        dup: None,
    }
}

trait RandF {
    fn random_f(&mut self) -> f64;
}
impl RandF for ChaCha8Rng {
    fn random_f(&mut self) -> f64 {
        rand::Rng::random::<f64>(self)
    }
}

/// Make a name typo that always changes the string: double or drop one character.
fn typo(name: &str, r: &mut ChaCha8Rng) -> String {
    let chars: Vec<char> = name.chars().collect();
    let pos = r.between(1, chars.len().max(2) as i64 - 1) as usize;
    let mut out = String::with_capacity(name.len() + 2);
    let drop = chars.len() > 4 && r.chance(0.5);
    for (k, ch) in chars.iter().enumerate() {
        if k == pos && drop {
            continue;
        }
        out.push(*ch);
        if k == pos && !drop {
            out.push(*ch);
        }
    }
    if out == name {
        out.push('e');
    }
    out
}

pub(crate) fn core(w: &World, i: u64) -> Core {
    let mut r = w.rng(i, T_CORE);
    let dup = i > 0 && r.chance(DUP_RATE);
    if !dup {
        let c = base_core(w, i, &mut r);
        return new_patient(w, c);
    }
    // Original: an earlier, non-duplicate patient (index 0 never is a duplicate).
    let back = r.between(1, i.min(5000) as i64) as u64;
    let mut j = i - back;
    while j > 0 && is_dup(w, j) {
        j -= 1;
    }
    let mut rj = w.rng(j, T_CORE);
    // Re-draw exactly what `core(w, j)` drew: index 0 never draws the duplicate chance.
    if j > 0 {
        let _ = rj.chance(DUP_RATE);
    }
    let mut c = base_core(w, j, &mut rj);
    c.index = i;
    c.id = w.patient_id(i);
    let (_, m, d) = crate::util::civil_from_days(c.dob);
    let mut kind = match r.between(0, 4) {
        0 => DuplicateKind::NameTypo,
        1 => DuplicateKind::SwappedFirstLast,
        2 => DuplicateKind::ChangedSurname,
        3 => DuplicateKind::MissingSsn,
        _ => DuplicateKind::TransposedDob,
    };
    if kind == DuplicateKind::TransposedDob && (d > 12 || d == m) {
        kind = DuplicateKind::MissingSsn;
    }
    match kind {
        DuplicateKind::NameTypo => {
            if r.chance(0.7) {
                c.last = Cow::Owned(typo(&c.last, &mut r));
            } else {
                c.first = Cow::Owned(typo(&c.first, &mut r));
            }
        }
        DuplicateKind::SwappedFirstLast => std::mem::swap(&mut c.first, &mut c.last),
        DuplicateKind::ChangedSurname => {
            let mut new = r.pick(LAST);
            if new == c.last {
                new = if new == "Smith" { "Jones" } else { "Smith" };
            }
            c.last = Cow::Borrowed(new);
        }
        DuplicateKind::MissingSsn => c.ssn = None,
        DuplicateKind::TransposedDob => {
            let (y, _, _) = crate::util::civil_from_days(c.dob);
            c.dob = days_from_civil(y, d, m);
        }
    }
    c.dup = Some((w.patient_id(j), kind));
    new_patient(w, c)
}

/// An evolution's new patient is a new hire: hired inside the evolution's window, not terminated.
fn new_patient(w: &World, mut c: Core) -> Core {
    if c.index >= w.n
        && let Some(ev) = w.evo.as_ref()
    {
        let mut r = ev.new_core_rng(c.index);
        c.hire = ev.window_day(&mut r);
        c.term = None;
        c.until = ev.t1;
    }
    c
}

/// One planned visit of a patient.
#[derive(Clone, Copy)]
pub(crate) struct Visit {
    pub day: i32,
    pub minute: u32,
    pub vtype: usize,
    pub provider: u64,
    pub location: u64,
    pub vitals: bool,
    pub labs: u32,
    pub audio: bool,
    pub pft: bool,
    pub vision: bool,
    pub note: bool,
}

#[derive(Default)]
pub(crate) struct Plan {
    pub visits: Vec<Visit>,
    pub orphan_visit: bool,
    pub orphan_lab: bool,
}

pub(crate) fn plan_visits(w: &World, c: &Core, p: &mut Plan) {
    let mut r = w.rng(c.index, T_VISITS);
    p.visits.clear();
    let n = if c.dup.is_some() {
        r.between(0, 2)
    } else if c.index >= w.n {
        r.between(1, 2)
    } else {
        r.between(2, 12)
    };
    let lo = c.hire.max(w.start);
    let hi = c.term.unwrap_or(c.until).min(c.until).max(lo);
    for k in 0..n {
        let hire_visit = k == 0 && c.hire >= w.start && c.dup.is_none();
        // An evolution's new hire has the pre-placement physical on the day of hire.
        let (lo, hi) = if hire_visit && c.index >= w.n {
            (c.hire, c.hire)
        } else {
            (lo, hi)
        };
        p.visits.push(draw_visit(w, c, &mut r, hire_visit, lo, hi));
    }
    p.visits.sort_by_key(|v| (v.day, v.minute));
    p.orphan_visit = r.chance(ORPHAN_RATE);
    p.orphan_lab = r.chance(ORPHAN_RATE);
}

/// An evolution's new visits of a base patient (none for most), dated inside its window.
fn plan_new_visits(w: &World, ev: &Evo, c: &Core, p: &mut Plan) {
    p.visits.clear();
    p.orphan_visit = false;
    p.orphan_lab = false;
    let mut r = ev.new_visits_rng(c.index);
    if !r.chance(ev.p_visit) {
        return;
    }
    let n = if r.chance(0.15) { 2 } else { 1 };
    for _ in 0..n {
        p.visits
            .push(draw_visit(w, c, &mut r, false, ev.t0 + 1, ev.t1));
    }
    p.visits.sort_by_key(|v| (v.day, v.minute));
}

/// One visit between days `lo` and `hi` (a pre-placement visit when `hire_visit`).
fn draw_visit(
    w: &World,
    c: &Core,
    r: &mut ChaCha8Rng,
    hire_visit: bool,
    lo: i32,
    hi: i32,
) -> Visit {
    {
        let vtype = if hire_visit {
            0
        } else {
            r.random_range_usize(1, VISIT_TYPES.len())
        };
        let (labs, audio, pft, vision) = match vtype {
            0 => (r.between(4, 10), true, r.chance(0.5), true),
            1 => (
                r.between(3, 10),
                r.chance(0.5),
                r.chance(0.4),
                r.chance(0.5),
            ),
            2 => (0, true, false, false),
            3 => (0, false, true, false),
            4 => (1, false, false, true),
            14 => (r.between(2, 8), false, false, false),
            _ => (
                if r.chance(0.3) { r.between(1, 3) } else { 0 },
                false,
                false,
                false,
            ),
        };
        Visit {
            day: r.between(i64::from(lo), i64::from(hi)) as i32,
            minute: r.between(7 * 60, 17 * 60) as u32,
            vtype,
            provider: r.between(1, w.providers as i64) as u64,
            location: if r.chance(0.8) {
                c.location
            } else {
                r.between(1, w.locations as i64) as u64
            },
            vitals: vtype != 14 && r.chance(0.9),
            labs: labs as u32,
            audio,
            pft,
            vision,
            note: r.chance(0.95),
        }
    }
}

trait RangeUsize {
    fn random_range_usize(&mut self, lo: usize, hi_exclusive: usize) -> usize;
}
impl RangeUsize for ChaCha8Rng {
    fn random_range_usize(&mut self, lo: usize, hi_exclusive: usize) -> usize {
        self.between(lo as i64, hi_exclusive as i64 - 1) as usize
    }
}

/// Tables with one independent row count per patient, and whether they carry orphans.
const PER_PATIENT: &[(&str, bool)] = &[
    ("allergies", true),
    ("appointments", false),
    ("documents", true),
    ("drug_screens", false),
    ("immunizations", true),
    ("lost_time", false),
    ("medications", true),
    ("problems", true),
    ("resp_fit_tests", false),
    ("tb_tests", true),
    ("work_restrictions", false),
];

fn table_tag(name: &str) -> u64 {
    T_TABLE + TABLE_NAMES.iter().position(|t| *t == name).unwrap_or(0) as u64
}

/// With probability `p`, a count in `lo..=hi`; otherwise 0.
fn sometimes(r: &mut ChaCha8Rng, p: f64, lo: i64, hi: i64) -> i64 {
    if r.chance(p) { r.between(lo, hi) } else { 0 }
}

/// The first draws of a per-patient table stream: (row count, orphan row?).
fn count_draw(name: &str, r: &mut ChaCha8Rng, dup: bool) -> (u64, bool) {
    let n = match name {
        "allergies" => {
            if r.chance(0.3) {
                0
            } else if r.chance(0.55) {
                1
            } else {
                r.between(2, 4)
            }
        }
        "appointments" => r.between(0, 5),
        "documents" => r.between(0, 3),
        "drug_screens" => r.between(0, 2),
        "immunizations" => r.between(1, 8),
        "lost_time" => sometimes(r, 0.1, 1, 2),
        "medications" => r.between(0, 5),
        "problems" => r.between(0, 4),
        "resp_fit_tests" => sometimes(r, 0.3, 1, 4),
        "tb_tests" => r.between(0, 3),
        "work_restrictions" => sometimes(r, 0.15, 1, 2),
        _ => 0,
    } as u64;
    let orphan_table = PER_PATIENT.iter().any(|(t, o)| *t == name && *o);
    let orphan = r.chance(ORPHAN_RATE) && orphan_table;
    (if dup { n / 3 } else { n }, orphan)
}

/// Exact number of ids every table hands out (its row count, or for an evolution its row count
/// plus its deleted rows), computed by a cheap pass over all patients. Needed before any data
/// because `CREATE TABLE ... AUTO_INCREMENT=` precedes the rows.
pub(crate) fn count_rows(w: &World) -> BTreeMap<&'static str, u64> {
    let mut m: BTreeMap<&'static str, u64> = TABLE_NAMES.iter().map(|t| (*t, 0)).collect();
    let add = |m: &mut BTreeMap<&'static str, u64>, t: &'static str, n: u64| {
        if let Some(v) = m.get_mut(t) {
            *v += n;
        }
    };
    // The sweeps only fail when their callback does, and these callbacks never do.
    let _ = visit_sweeps(w, |_, _, plan| {
        let v = &plan.visits;
        add(
            &mut m,
            "visits",
            v.len() as u64 + u64::from(plan.orphan_visit),
        );
        add(
            &mut m,
            "vitals",
            v.iter().filter(|x| x.vitals).count() as u64,
        );
        add(
            &mut m,
            "clinical_notes",
            v.iter().filter(|x| x.note).count() as u64,
        );
        add(
            &mut m,
            "lab_results",
            v.iter().map(|x| u64::from(x.labs)).sum::<u64>() + u64::from(plan.orphan_lab),
        );
        add(
            &mut m,
            "audiograms",
            v.iter().filter(|x| x.audio).count() as u64,
        );
        add(&mut m, "pft", v.iter().filter(|x| x.pft).count() as u64);
        add(
            &mut m,
            "vision_tests",
            v.iter().filter(|x| x.vision).count() as u64,
        );
        Ok(())
    });
    for (t, _) in PER_PATIENT {
        let _ = patient_sweeps(w, t, |_, _, n, orphan, _| {
            add(&mut m, t, n + u64::from(orphan));
            Ok(())
        });
    }
    add(&mut m, "patients", w.n + w.new_patients());
    add(&mut m, "employers", w.employers);
    add(&mut m, "locations", w.locations);
    add(&mut m, "providers", w.providers);
    add(
        &mut m,
        "departments",
        (1..=w.employers).map(|e| w.depts_of(e)).sum(),
    );
    m
}

/// Pick a legacy varchar date shape with the usual mix.
fn shape(r: &mut ChaCha8Rng) -> DateShape {
    let u = r.random_f();
    if u < 0.55 {
        DateShape::Mdy
    } else if u < 0.80 {
        DateShape::Iso
    } else if u < 0.92 {
        DateShape::DMonY
    } else if u < 0.95 {
        DateShape::Blank
    } else if u < 0.97 {
        DateShape::Zero
    } else {
        DateShape::Null
    }
}

/// A shape that always carries the date.
fn shape_present(r: &mut ChaCha8Rng) -> DateShape {
    let u = r.random_f();
    if u < 0.6 {
        DateShape::Mdy
    } else if u < 0.85 {
        DateShape::Iso
    } else {
        DateShape::DMonY
    }
}

fn date_cell(row: &mut Row, day: i32, s: DateShape) {
    row.with_opt(|b| {
        if s == DateShape::Null {
            return false;
        }
        push_date(b, day, s);
        true
    });
}

fn phone(b: &mut Vec<u8>, r: &mut ChaCha8Rng, area: u32) -> bool {
    let ex = r.between(200, 999) as u64;
    let num = r.between(0, 9999) as u64;
    let area = u64::from(area);
    match r.between(0, 9) {
        0..=2 => {
            b.push(b'(');
            push_pad(b, area, 3);
            b.extend_from_slice(b") ");
            push_pad(b, ex, 3);
            b.push(b'-');
            push_pad(b, num, 4);
        }
        3..=4 => {
            push_pad(b, area, 3);
            b.push(b'-');
            push_pad(b, ex, 3);
            b.push(b'-');
            push_pad(b, num, 4);
        }
        5 => {
            push_pad(b, area, 3);
            b.push(b'.');
            push_pad(b, ex, 3);
            b.push(b'.');
            push_pad(b, num, 4);
        }
        6 => {
            push_pad(b, area, 3);
            push_pad(b, ex, 3);
            push_pad(b, num, 4);
        }
        7 => {
            push_pad(b, ex, 3);
            b.push(b'-');
            push_pad(b, num, 4);
            b.extend_from_slice(b" x");
            push_pad(b, num % 300, 3);
        }
        8 => {
            b.extend_from_slice(b"+1 ");
            push_pad(b, area, 3);
            b.push(b' ');
            push_pad(b, ex, 3);
            b.push(b' ');
            push_pad(b, num, 4);
        }
        _ => return false,
    }
    true
}

fn area_code(zip3: u32) -> u32 {
    200 + (zip3 * 7) % 780
}

/// NULL or '' for a value that is absent (legacy systems store both).
fn absent(row: &mut Row, r: &mut ChaCha8Rng) {
    if r.chance(0.5) { row.null() } else { row.s("") }
}

// ---------------------------------------------------------------------------------------------
// Reference tables
// ---------------------------------------------------------------------------------------------

pub(crate) fn gen_employers(w: &World, e: &mut dyn Emit) -> Result<(), GenError> {
    for k in 1..=w.employers {
        let mut r = w.rng(k, T_EMPLOYER);
        let _ = r.between(3, 8); // depts_of draw
        let stem = EMPLOYER_STEMS[((k - 1) as usize) % EMPLOYER_STEMS.len()];
        let round = (k - 1) / EMPLOYER_STEMS.len() as u64;
        let suffix = r.pick(EMPLOYER_SUFFIX);
        let (city, st, zip3) = r.pick(CITIES);
        let row = e.row();
        row.begin();
        row.int(k as i64);
        row.with(|b| {
            b.push(b'E');
            push_pad(b, k, 4);
        });
        row.with(|b| {
            b.extend_from_slice(stem.as_bytes());
            if !suffix.is_empty() {
                b.push(b' ');
                b.extend_from_slice(suffix.as_bytes());
            }
            if round > 0 {
                b.extend_from_slice(b" - Plant ");
                push_pad(b, round + 1, 1);
            }
        });
        let num = r.between(1, 9999) as u64;
        let street = r.pick(STREETS);
        row.with(|b| {
            push_pad(b, num, 1);
            b.push(b' ');
            b.extend_from_slice(street.as_bytes());
        });
        row.s(city);
        row.s(st);
        let z = r.between(0, 99) as u64;
        row.with(|b| {
            push_pad(b, u64::from(zip3), 3);
            push_pad(b, z, 2);
        });
        row.with_opt(|b| phone(b, &mut r, area_code(zip3)));
        let accented = r.chance(0.3);
        let first = if accented {
            r.pick(FIRST_F_ACCENT)
        } else {
            r.pick(FIRST_F)
        };
        let last = if accented {
            r.pick(LAST_ACCENT)
        } else {
            r.pick(LAST)
        };
        if r.chance(0.15) {
            absent(row, &mut r);
        } else {
            row.with(|b| {
                b.extend_from_slice(first.as_bytes());
                b.push(b' ');
                b.extend_from_slice(last.as_bytes());
            });
        }
        e.emit()?;
    }
    Ok(())
}

pub(crate) fn gen_departments(w: &World, e: &mut dyn Emit) -> Result<(), GenError> {
    for emp in 1..=w.employers {
        let nd = w.depts_of(emp);
        let mut r = w.rng(emp, table_tag("departments"));
        let start = r.random_range_usize(0, DEPT_NAMES.len());
        for k in 0..nd {
            let (code, name) = DEPT_NAMES[(start + k as usize) % DEPT_NAMES.len()];
            let row = e.row();
            row.begin();
            row.int(((emp - 1) * 10 + k + 1) as i64);
            row.int(emp as i64);
            row.s(code);
            row.s(name);
            if r.chance(0.2) {
                absent(row, &mut r);
            } else {
                let cc = r.between(1000, 9999) as u64;
                row.with(|b| {
                    b.extend_from_slice(b"CC-");
                    push_pad(b, cc, 4);
                });
            }
            e.emit()?;
        }
    }
    Ok(())
}

pub(crate) fn gen_locations(w: &World, e: &mut dyn Emit) -> Result<(), GenError> {
    for k in 1..=w.locations {
        let mut r = w.rng(k, T_LOCATION);
        let name = LOCATIONS[((k - 1) as usize) % LOCATIONS.len()];
        let round = (k - 1) / LOCATIONS.len() as u64;
        let (city, st, zip3) = r.pick(CITIES);
        let row = e.row();
        row.begin();
        row.int(k as i64);
        row.with(|b| {
            b.extend_from_slice(b"LOC");
            push_pad(b, k, 2);
        });
        row.with(|b| {
            b.extend_from_slice(name.as_bytes());
            if round > 0 {
                b.extend_from_slice(b" (");
                b.extend_from_slice(city.as_bytes());
                b.push(b')');
            }
        });
        let num = r.between(1, 9999) as u64;
        let street = r.pick(STREETS);
        row.with(|b| {
            push_pad(b, num, 1);
            b.push(b' ');
            b.extend_from_slice(street.as_bytes());
        });
        row.s(city);
        row.s(st);
        let z = r.between(0, 99) as u64;
        row.with(|b| {
            push_pad(b, u64::from(zip3), 3);
            push_pad(b, z, 2);
        });
        e.emit()?;
    }
    Ok(())
}

pub(crate) fn gen_providers(w: &World, e: &mut dyn Emit) -> Result<(), GenError> {
    for k in 1..=w.providers {
        let mut r = w.rng(k, T_PROVIDER);
        let male = r.chance(0.45);
        let acc = r.chance(0.15);
        let first = match (male, acc) {
            (true, false) => r.pick(FIRST_M),
            (true, true) => r.pick(FIRST_M_ACCENT),
            (false, false) => r.pick(FIRST_F),
            (false, true) => r.pick(FIRST_F_ACCENT),
        };
        let last = if acc {
            r.pick(LAST_ACCENT)
        } else {
            r.pick(LAST)
        };
        let row = e.row();
        row.begin();
        row.int(k as i64);
        row.s(last);
        row.s(first);
        row.s(r.pick(CREDENTIALS));
        if r.chance(0.2) {
            absent(row, &mut r);
        } else {
            let npi = r.between(100_000_000, 999_999_999) as u64;
            row.with(|b| {
                b.push(b'1');
                push_pad(b, npi, 9);
            });
        }
        row.s(if r.chance(0.85) { "Y" } else { "N" });
        e.emit()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Patients
// ---------------------------------------------------------------------------------------------

pub(crate) fn gen_patients(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for i in 0..w.n + w.new_patients() {
        let c = core(w, i);
        let fate = w.fate(&c);
        if i == w.n {
            e.begin_new();
        } else if i < w.n {
            e.patient(c.id, fate);
        }
        let mut r = w.rng(i, T_PATIENT_ROW);
        let mut ra = w.rng(c.addr_index, T_ADDR);
        // A pair is listed while both patients are in the snapshot (an evolution may delete the
        // original or merge the duplicate away).
        let original_kept = |orig: u64| {
            let j = w.patient_index(orig);
            j >= w.n || w.evo.as_ref().is_none_or(|ev| !ev.patient_deleted(j))
        };
        if let Some((orig, kind)) = c.dup
            && matches!(fate, Fate::Kept | Fate::New)
            && original_kept(orig)
        {
            d.duplicates.push(DuplicatePair {
                original_id: orig,
                duplicate_id: c.id,
                kind,
            });
        }
        let row = e.row();
        row.begin();
        row.int(c.id as i64);
        // MRN: a bijection of the id (7919 is coprime with 10), so it is unique.
        let mrn = (c.id * 7919) % 10_000_000;
        row.with(|b| {
            b.push(b'M');
            push_pad(b, mrn, 7);
        });
        match c.ssn {
            None => absent(row, &mut r),
            Some(s) => {
                let dashed = r.chance(0.85);
                row.with(|b| {
                    let s = u64::from(s);
                    push_pad(b, s / 1_000_000, 3);
                    if dashed {
                        b.push(b'-');
                    }
                    push_pad(b, (s / 10_000) % 100, 2);
                    if dashed {
                        b.push(b'-');
                    }
                    push_pad(b, s % 10_000, 4);
                });
            }
        }
        let emp_no = u64::from(c.emp_no);
        if r.chance(0.03) {
            absent(row, &mut r);
        } else if r.chance(0.5) {
            row.with(|b| push_pad(b, emp_no, 6));
        } else {
            row.with(|b| {
                b.push(b'E');
                push_pad(b, emp_no, 6);
            });
        }
        // Legacy upper-casing in some rows.
        if r.chance(0.1) {
            row.s(&c.last.to_uppercase());
            row.s(&c.first.to_uppercase());
        } else {
            row.s(&c.last);
            row.s(&c.first);
        }
        match r.between(0, 9) {
            0..=5 => {
                let l = b'A' + r.between(0, 25) as u8;
                row.with(|b| b.push(l));
            }
            6..=7 => row.null(),
            _ => row.s(""),
        }
        let missing_dob = c.dup.is_none() && r.chance(MISSING_DOB_RATE);
        if missing_dob {
            d.add(DefectKind::MissingRequired, "patients", "dob", c.id);
            match r.between(0, 2) {
                0 => row.null(),
                1 => row.s(""),
                _ => row.s("00/00/0000"),
            }
        } else {
            let s = shape_present(&mut r);
            date_cell(row, c.dob, s);
        }
        let missing_sex = c.dup.is_none() && r.chance(MISSING_SEX_RATE);
        if missing_sex {
            d.add(DefectKind::MissingRequired, "patients", "sex", c.id);
            absent(row, &mut r);
        } else {
            row.s(match (c.male, r.chance(0.05)) {
                (true, false) => "M",
                (false, false) => "F",
                (true, true) => "m",
                (false, true) => "f",
            });
        }
        let (city, st, zip3) = ra.pick(CITIES);
        let num = ra.between(1, 19999) as u64;
        let street = ra.pick(STREETS);
        row.with(|b| {
            push_pad(b, num, 1);
            b.push(b' ');
            b.extend_from_slice(street.as_bytes());
        });
        match ra.between(0, 9) {
            0 => {
                let apt = ra.between(1, 400) as u64;
                row.with(|b| {
                    b.extend_from_slice(b"Apt ");
                    push_pad(b, apt, 1);
                });
            }
            1 => row.s("c/o HR Dept."),
            2..=5 => row.null(),
            _ => row.s(""),
        }
        row.s(city);
        row.s(st);
        let z = ra.between(0, 99) as u64;
        let plus4 = ra.chance(0.2);
        let z4 = ra.between(1, 9999) as u64;
        row.with(|b| {
            push_pad(b, u64::from(zip3), 3);
            push_pad(b, z, 2);
            if plus4 {
                b.push(b'-');
                push_pad(b, z4, 4);
            }
        });
        let ac = area_code(zip3);
        row.with_opt(|b| phone(b, &mut r, ac));
        if r.chance(0.5) {
            absent(row, &mut r);
        } else {
            row.with_opt(|b| phone(b, &mut r, ac));
        }
        if r.chance(0.5) {
            absent(row, &mut r);
        } else {
            let first = c.first.clone();
            let last = c.last.clone();
            let n = r.between(1, 99) as u64;
            row.with(|b| {
                for ch in first.chars().take(1).chain(last.chars()) {
                    if ch.is_ascii_alphabetic() {
                        b.push(ch.to_ascii_lowercase() as u8);
                    }
                }
                push_pad(b, n, 1);
                b.extend_from_slice(b"@mail.example.com");
            });
        }
        row.int(c.employer as i64);
        row.int(c.dept as i64);
        row.int(c.location as i64);
        row.s(c.job);
        let s = shape(&mut r);
        date_cell(row, c.hire, s);
        match c.term {
            Some(t) => {
                let s = shape_present(&mut r);
                date_cell(row, t, s);
            }
            None => absent(row, &mut r),
        }
        row.s(match (c.term.is_some(), r.chance(0.03)) {
            (true, _) => "T",
            (false, true) => "I",
            (false, false) => "A",
        });
        let created = c.hire.max(days_from_civil(2004, 6, 1))
            + if c.dup.is_some() {
                r.between(30, 2000) as i32
            } else {
                0
            };
        // A new patient is created the day of hire.
        let created = if c.index >= w.n { c.hire } else { created };
        let cm = r.between(0, 1439) as u32;
        let cs = r.between(0, 59) as u32;
        row.with(|b| push_datetime(b, created, cm, cs));
        if r.chance(0.2) {
            row.null();
        } else {
            let md = created + r.between(0, 3000) as i32;
            let mm = r.between(0, 1439) as u32;
            row.with(|b| push_datetime(b, md.min(c.until), mm, cs));
        }
        e.emit()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Visit-driven tables
// ---------------------------------------------------------------------------------------------

/// Which walk over the patients a row comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sweep {
    /// The base snapshot's rows (every snapshot).
    Base,
    /// An evolution's new rows of base patients.
    Existing,
    /// An evolution's new patients.
    NewPatient,
}

/// Walks patients and their planned visits: the base patients, then (in an evolution) the new
/// visits of active base patients, then the new patients. Shared by the counting pre-pass and
/// every visit-driven table, so they agree on every visit id.
fn visit_sweeps(
    w: &World,
    mut f: impl FnMut(Sweep, &Core, &Plan) -> Result<(), GenError>,
) -> Result<(), GenError> {
    let mut plan = Plan::default();
    for i in 0..w.n {
        let c = core(w, i);
        plan_visits(w, &c, &mut plan);
        f(Sweep::Base, &c, &plan)?;
    }
    let Some(ev) = w.evo.as_ref() else {
        return Ok(());
    };
    for i in 0..w.n {
        let c = core(w, i);
        if !w.active(&c) {
            continue;
        }
        plan_new_visits(w, ev, &c, &mut plan);
        if !plan.visits.is_empty() {
            f(Sweep::Existing, &c, &plan)?;
        }
    }
    for i in w.n..w.n + ev.new_patients {
        let c = core(w, i);
        plan_visits(w, &c, &mut plan);
        f(Sweep::NewPatient, &c, &plan)?;
    }
    Ok(())
}

/// Walks patients and their planned visits, keeping the running visit id; `f` gets the
/// patient's stream for this table.
fn for_visits(
    w: &World,
    tag: u64,
    e: &mut dyn Emit,
    mut f: impl FnMut(&mut dyn Emit, &Core, &Plan, u64, ChaCha8Rng) -> Result<(), GenError>,
) -> Result<(), GenError> {
    let mut next_visit_id = 1u64;
    let mut new = false;
    visit_sweeps(w, |sweep, c, plan| {
        let r = match sweep {
            Sweep::Base => {
                e.patient(c.id, w.fate(c));
                w.rng(c.index, tag)
            }
            Sweep::Existing | Sweep::NewPatient => {
                if !new {
                    new = true;
                    e.begin_new();
                }
                match (sweep, w.evo.as_ref()) {
                    (Sweep::Existing, Some(ev)) => ev.rng(c.index, P_VISIT_ROWS + tag),
                    _ => w.rng(c.index, tag),
                }
            }
        };
        f(e, c, plan, next_visit_id, r)?;
        next_visit_id += plan.visits.len() as u64 + u64::from(plan.orphan_visit);
        Ok(())
    })
}

const VISIT_STATUS: &[&str] = &["CLOSED", "CLOSED", "CLOSED", "SIGNED", "OPEN", "C", ""];

pub(crate) fn gen_visits(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    let tag = table_tag("visits");
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        for (k, v) in plan.visits.iter().enumerate() {
            let row = e.row();
            row.begin();
            row.int((base + k as u64) as i64);
            row.int(c.id as i64);
            let sec = r.between(0, 59) as u32;
            row.with(|b| push_datetime(b, v.day, v.minute, sec));
            row.s(VISIT_TYPES[v.vtype]);
            row.s(r.pick(VISIT_REASONS));
            row.int(v.provider as i64);
            row.int(v.location as i64);
            if r.chance(0.05) {
                row.null();
            } else {
                row.s(r.pick(VISIT_STATUS));
            }
            if r.chance(0.4) {
                absent(row, &mut r);
            } else {
                row.s(r.pick(DISPOSITIONS));
            }
            e.emit()?;
        }
        if plan.orphan_visit {
            let id = base + plan.visits.len() as u64;
            d.add(DefectKind::Orphan, "visits", "patient_id", id);
            let pid = w.orphan_patient_id(&mut r);
            let day = r.between(i64::from(w.start), i64::from(w.end)) as i32;
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(pid);
            row.with(|b| push_datetime(b, day, 600, 0));
            row.s("Walk-in");
            row.s("");
            row.null();
            row.int(1);
            row.s("CLOSED");
            row.null();
            e.emit()?;
        }
        Ok(())
    })
}

pub(crate) fn gen_vitals(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    let tag = table_tag("vitals");
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        let height10 = if c.male {
            r.between(640, 760)
        } else {
            r.between(590, 700)
        };
        let mut weight10 = if c.male {
            r.between(1500, 2900)
        } else {
            r.between(1150, 2500)
        };
        for (k, v) in plan.visits.iter().enumerate() {
            if !v.vitals {
                continue;
            }
            let id = e.next_id();
            weight10 = (weight10 + r.between(-80, 80)).clamp(900, 4000);
            let mut h = height10;
            let mut wt = weight10;
            let mut sys = r.between(100, 168);
            let dia = r.between(60, 100).min(sys - 20);
            let mut pulse = r.between(52, 104);
            let mut temp = r.between(970, 995);
            if r.chance(VITALS_OOR_RATE) {
                let col = match r.between(0, 4) {
                    0 => {
                        sys = if r.chance(0.5) { 900 } else { 1200 };
                        "bp_sys"
                    }
                    1 => {
                        temp = if r.chance(0.5) { 9860 } else { 10000 };
                        "temp_f"
                    }
                    2 => {
                        pulse = if r.chance(0.5) { 0 } else { 720 };
                        "pulse"
                    }
                    3 => {
                        wt = if r.chance(0.5) { 0 } else { 18500 };
                        "weight_lb"
                    }
                    _ => {
                        h = if r.chance(0.5) { 60 } else { 7000 };
                        "height_in"
                    }
                };
                d.add(DefectKind::OutOfRange, "vitals", col, id);
            }
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int((base + k as u64) as i64);
            row.int(c.id as i64);
            row.with(|b| push_datetime(b, v.day, v.minute + 5, 0));
            row.fixed(h, 1);
            row.fixed(wt, 1);
            row.int(sys);
            row.int(dia);
            row.int(pulse);
            if r.chance(0.3) {
                row.null();
            } else {
                row.int(r.between(12, 20));
            }
            row.fixed(temp, 1);
            if r.chance(0.4) {
                row.null();
            } else {
                row.int(r.between(94, 100));
            }
            if h > 0 && h < 1000 && wt > 0 && r.chance(0.7) {
                // BMI = 703 * lb / in^2 (both with one implied decimal).
                let bmi10 = (703 * wt * 100) / (h * h);
                row.fixed(bmi10, 1);
            } else {
                row.null();
            }
            e.emit()?;
        }
        Ok(())
    })
}

fn lab_value(b: &mut Vec<u8>, v: f64, decimals: u8) {
    let p = 10f64.powi(i32::from(decimals));
    crate::util::push_fixed(b, (v * p).round() as i64, u32::from(decimals));
}

pub(crate) fn gen_lab_results(
    w: &World,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    let tag = table_tag("lab_results");
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        let emit_lab = |e: &mut dyn Emit,
                        r: &mut ChaCha8Rng,
                        pid: i64,
                        visit: Option<u64>,
                        day: i32,
                        minute: u32,
                        d: &mut Defects| {
            let id = e.next_id();
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(pid);
            match visit {
                Some(v) => row.int(v as i64),
                None => row.null(),
            }
            row.with(|b| push_datetime(b, day, minute + 20, 0));
            let u = r.random_f();
            if u < LAB_UNMAPPED_RATE {
                let (code, name) = r.pick(LAB_UNMAPPED);
                d.add(DefectKind::UnmappedCode, "lab_results", "test_code", id);
                row.s(code);
                row.s(name);
                row.s(if r.chance(0.5) { "see report" } else { "" });
                absent(row, r);
                absent(row, r);
                row.null();
            } else if u < 0.12 {
                let (code, name, vals) = r.pick(LAB_QUAL);
                row.s(code);
                row.s(name);
                row.s(r.pick(vals));
                absent(row, r);
                row.s(if r.chance(0.5) { "NEG" } else { "" });
                absent(row, r);
            } else {
                let (code, name, unit, lo, hi, dec) = r.pick(LAB_CODES);
                let span = hi - lo;
                let v = lo - 0.15 * span + r.random_f() * 1.35 * span;
                let v = v.max(0.0);
                row.s(code);
                row.s(name);
                if code == "PBB" && v < 1.0 {
                    row.s("<1.0");
                } else {
                    row.with(|b| lab_value(b, v, dec));
                }
                if r.chance(0.1) {
                    let lower = unit.to_lowercase();
                    row.s(&lower);
                } else {
                    row.s(unit);
                }
                row.with(|b| {
                    lab_value(b, lo, dec);
                    b.push(b'-');
                    lab_value(b, hi, dec);
                });
                if v > hi {
                    row.s("H");
                } else if v < lo {
                    row.s("L");
                } else {
                    absent(row, r);
                }
            }
            e.emit()
        };
        for (k, v) in plan.visits.iter().enumerate() {
            for _ in 0..v.labs {
                emit_lab(
                    e,
                    &mut r,
                    c.id as i64,
                    Some(base + k as u64),
                    v.day,
                    v.minute,
                    d,
                )?;
            }
        }
        if plan.orphan_lab {
            let pid = w.orphan_patient_id(&mut r);
            d.add(DefectKind::Orphan, "lab_results", "patient_id", e.next_id());
            let day = r.between(i64::from(w.start), i64::from(w.end)) as i32;
            emit_lab(e, &mut r, pid, None, day, 480, d)?;
        }
        Ok(())
    })
}

const NOTE_TYPES: &[&str] = &["SOAP", "RN NOTE", "MANNOTE", "PHONE", "DOCNOTE", "Progress"];

fn build_note(r: &mut ChaCha8Rng, c: &Core, vtype: usize, out: &mut String) {
    out.clear();
    let nl = if r.chance(0.3) { "\r\n" } else { "\n" };
    let sections: [(&str, &[&str]); 4] = [
        ("S: ", SUBJECTIVE),
        ("O: ", OBJECTIVE),
        ("A: ", ASSESSMENT),
        ("P: ", PLAN),
    ];
    out.push_str(VISIT_TYPES[vtype]);
    out.push_str(" - ");
    out.push_str(if c.male { "male" } else { "female" });
    out.push_str(", employee of client #");
    out.push_str(&c.employer.to_string());
    out.push_str(nl);
    let reps = r.between(1, 4);
    for _ in 0..reps {
        for (head, lines) in sections {
            out.push_str(head);
            let n = r.between(1, 3);
            for k in 0..n {
                if k > 0 {
                    out.push(' ');
                }
                out.push_str(r.pick(lines));
            }
            out.push_str(nl);
            if head == "O: " && r.chance(0.7) {
                let sys = r.between(100, 160);
                let dia = r.between(60, 95);
                let p = r.between(55, 100);
                out.push_str("VS: BP ");
                out.push_str(&sys.to_string());
                out.push('/');
                out.push_str(&dia.to_string());
                out.push_str(", P ");
                out.push_str(&p.to_string());
                out.push_str(", T 98.");
                out.push_str(&r.between(0, 9).to_string());
                out.push_str(nl);
            }
        }
        if reps > 1 && r.chance(0.5) {
            out.push_str(nl);
            out.push_str(
                "ADDENDUM: pt called back, states \"feeling better\"; will keep f/u appt.",
            );
            out.push_str(nl);
        }
    }
    if r.chance(0.2) {
        out.push_str("\tcc: Safety Dept, 'HR file'");
        out.push_str(nl);
    }
    // Control characters pasted from old editors.
    if r.chance(0.004) {
        out.push('\u{1A}');
    }
    if r.chance(0.002) {
        out.push('\0');
    }
    out.push_str("-- electronically signed");
}

pub(crate) fn gen_clinical_notes(w: &World, e: &mut dyn Emit) -> Result<(), GenError> {
    let tag = table_tag("clinical_notes");
    let mut text = String::with_capacity(8192);
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        for (k, v) in plan.visits.iter().enumerate() {
            if !v.note {
                continue;
            }
            let id = e.next_id();
            build_note(&mut r, c, v.vtype, &mut text);
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(c.id as i64);
            row.int((base + k as u64) as i64);
            let m = v.minute + r.between(10, 300) as u32;
            row.with(|b| push_datetime(b, v.day, m.min(1439), 0));
            row.s(r.pick(NOTE_TYPES));
            row.int(v.provider as i64);
            row.s(&text);
            row.s(if r.chance(0.9) { "Y" } else { "N" });
            e.emit()?;
        }
        Ok(())
    })
}

pub(crate) fn gen_audiograms(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    let tag = table_tag("audiograms");
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        let noisy = r.chance(0.3);
        let mut first = true;
        for (k, v) in plan.visits.iter().enumerate() {
            if !v.audio {
                continue;
            }
            let id = e.next_id();
            let (y, _, _) = crate::util::civil_from_days(v.day);
            let (by, _, _) = crate::util::civil_from_days(c.dob);
            let age = i64::from((y - by).max(18));
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(c.id as i64);
            row.int((base + k as u64) as i64);
            row.with(|b| push_iso(b, v.day));
            row.s(if first {
                "BASELINE"
            } else if r.chance(0.1) {
                "RETEST"
            } else {
                "ANNUAL"
            });
            first = false;
            let bad = if r.chance(AUDIO_OOR_RATE) {
                Some(r.random_range_usize(0, 14))
            } else {
                None
            };
            for f in 0..14usize {
                let freq_idx = f % 7;
                let mut t = (age - 20).max(0) / 6 + r.between(-2, 3) * 5;
                if freq_idx >= 4 {
                    t += (age - 30).max(0) / 3;
                }
                if noisy && (freq_idx == 3 || freq_idx == 4 || freq_idx == 5) {
                    t += 15 + r.between(0, 5) * 5;
                }
                let mut t = ((t / 5) * 5).clamp(-10, 120);
                if bad == Some(f) {
                    t = if r.chance(0.5) { 999 } else { -99 };
                    if let Some(col) = AUDIOGRAMS.cols.get(5 + f) {
                        d.add(DefectKind::OutOfRange, "audiograms", col.name, id);
                    }
                }
                // A seeded out-of-range value is never blanked afterwards: the manifest lists
                // it (regression: at 10,000 patients one listed 999 was written as NULL).
                let blank = r.chance(0.005);
                if blank && bad != Some(f) {
                    row.null();
                } else {
                    row.int(t);
                }
            }
            row.s(if noisy && r.chance(0.2) { "Y" } else { "N" });
            let sn = r.between(10_000, 99_999) as u64;
            row.with(|b| {
                b.extend_from_slice(b"MA-");
                push_pad(b, sn, 5);
            });
            match r.between(0, 9) {
                0 => row.null(),
                1 => row.bytes(b""),
                _ => {
                    let n = r.between(8, 24) as usize;
                    row.with(|b| {
                        for _ in 0..n {
                            b.push(r.between(0, 255) as u8);
                        }
                    });
                }
            }
            let a = b'A' + r.between(0, 25) as u8;
            let z = b'A' + r.between(0, 25) as u8;
            row.with(|b| {
                b.push(a);
                b.push(z);
            });
            e.emit()?;
        }
        Ok(())
    })
}

pub(crate) fn gen_pft(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    let tag = table_tag("pft");
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        let pred = if c.male {
            r.between(400, 560)
        } else {
            r.between(290, 420)
        };
        for (k, v) in plan.visits.iter().enumerate() {
            if !v.pft {
                continue;
            }
            let id = e.next_id();
            let fvc = pred * r.between(72, 110) / 100;
            let mut fev1 = fvc * r.between(62, 86) / 100;
            let fev1_pred = pred * 81 / 100;
            let mut fvc_w = fvc;
            if r.chance(PFT_OOR_RATE) {
                // FEV1 and FVC keyed into each other's fields: ratio > 100%.
                std::mem::swap(&mut fvc_w, &mut fev1);
                d.add(DefectKind::OutOfRange, "pft", "fev1_fvc", id);
            }
            let ratio10 = if fvc_w > 0 { fev1 * 1000 / fvc_w } else { 0 };
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(c.id as i64);
            row.int((base + k as u64) as i64);
            row.with(|b| push_iso(b, v.day));
            row.fixed(fvc_w, 2);
            row.fixed(pred, 2);
            row.int(fvc_w * 100 / pred.max(1));
            row.fixed(fev1, 2);
            row.fixed(fev1_pred, 2);
            row.int(fev1 * 100 / fev1_pred.max(1));
            row.fixed(ratio10, 1);
            row.s(if ratio10 < 700 {
                "Obstructive pattern"
            } else if fvc_w * 100 / pred.max(1) < 80 {
                "Possible restriction - refer"
            } else if r.chance(0.5) {
                "Normal spirometry"
            } else {
                "WNL"
            });
            let a = b'A' + r.between(0, 25) as u8;
            row.with(|b| {
                b.push(a);
                b.extend_from_slice(b". Tech");
            });
            e.emit()?;
        }
        Ok(())
    })
}

pub(crate) fn gen_vision(w: &World, e: &mut dyn Emit) -> Result<(), GenError> {
    let tag = table_tag("vision_tests");
    const ACUITY: &[&str] = &[
        "20/15", "20/20", "20/20", "20/25", "20/30", "20/40", "20/50", "20/70", "20/200",
    ];
    for_visits(w, tag, e, |e, c, plan, base, mut r| {
        for (k, v) in plan.visits.iter().enumerate() {
            if !v.vision {
                continue;
            }
            let id = e.next_id();
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(c.id as i64);
            row.int((base + k as u64) as i64);
            row.with(|b| push_iso(b, v.day));
            row.s(r.pick(ACUITY));
            row.s(r.pick(ACUITY));
            row.s(r.pick(ACUITY));
            let plates = r.between(8, 14) as u64;
            if r.chance(0.2) {
                absent(row, &mut r);
            } else {
                row.with(|b| {
                    push_pad(b, plates, 1);
                    b.extend_from_slice(b"/14");
                });
            }
            row.s(if r.chance(0.35) { "Y" } else { "N" });
            row.s(if r.chance(0.6) { "Titmus" } else { "Snellen" });
            e.emit()?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Per-patient tables
// ---------------------------------------------------------------------------------------------

/// The callback of [`patient_sweeps`]: (sweep, patient, rows, orphan row?, stream).
type PatientRows<'a> = dyn FnMut(Sweep, &Core, u64, bool, ChaCha8Rng) -> Result<(), GenError> + 'a;

/// Walks the patients of a per-patient table with their row counts and streams: the base
/// patients, then (in an evolution) the new rows of active base patients (a core whose
/// employment is the evolution's window, so their rows are dated inside it), then the new
/// patients. `f` gets (sweep, patient, rows, orphan row?, stream). Shared by the counting
/// pre-pass and the table pass.
fn patient_sweeps(
    w: &World,
    name: &'static str,
    mut f: impl FnMut(Sweep, &Core, u64, bool, ChaCha8Rng) -> Result<(), GenError>,
) -> Result<(), GenError> {
    let tag = table_tag(name);
    let full = |f: &mut PatientRows<'_>, sweep: Sweep, i: u64| {
        let c = core(w, i);
        let mut r = w.rng(i, tag);
        let (n, orphan) = count_draw(name, &mut r, c.dup.is_some());
        f(sweep, &c, n, orphan, r)
    };
    for i in 0..w.n {
        full(&mut f, Sweep::Base, i)?;
    }
    let Some(ev) = w.evo.as_ref() else {
        return Ok(());
    };
    for i in 0..w.n {
        let c = core(w, i);
        if !w.active(&c) {
            continue;
        }
        let mut r = ev.rng(i, P_NEW_ROWS + tag);
        let n = ev.new_row_count(name, &mut r);
        if n > 0 {
            let mut wc = c.clone();
            wc.hire = ev.t0 + 1;
            wc.term = None;
            wc.until = ev.t1;
            f(Sweep::Existing, &wc, n, false, r)?;
        }
    }
    for i in w.n..w.n + ev.new_patients {
        full(&mut f, Sweep::NewPatient, i)?;
    }
    Ok(())
}

/// Drives a per-patient table: counts drawn first, then `f` for each row, then an orphan row.
fn for_patients(
    w: &World,
    name: &'static str,
    e: &mut dyn Emit,
    d: &mut Defects,
    mut f: impl FnMut(&Core, &mut ChaCha8Rng, &mut Row, i64, u64, &mut Defects),
) -> Result<(), GenError> {
    let mut new = false;
    patient_sweeps(w, name, |sweep, c, n, orphan, mut r| {
        match sweep {
            Sweep::Base => e.patient(c.id, w.fate(c)),
            _ if !new => {
                new = true;
                e.begin_new();
            }
            _ => {}
        }
        // A base patient's new rows are never their first (no new "NKDA", doses go on).
        let first = i64::from(sweep == Sweep::Existing);
        for k in 0..n {
            let k = k as i64 + first;
            let id = e.next_id();
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(c.id as i64);
            f(c, &mut r, row, k, id, d);
            e.emit()?;
        }
        if orphan {
            let id = e.next_id();
            d.add(DefectKind::Orphan, name, "patient_id", id);
            let pid = w.orphan_patient_id(&mut r);
            let row = e.row();
            row.begin();
            row.int(id as i64);
            row.int(pid);
            f(c, &mut r, row, 0, id, d);
            e.emit()?;
        }
        Ok(())
    })
}

fn day_in_employment(w: &World, c: &Core, r: &mut ChaCha8Rng) -> i32 {
    let lo = c.hire.max(w.start);
    let hi = c.term.unwrap_or(c.until).min(c.until).max(lo);
    r.between(i64::from(lo), i64::from(hi)) as i32
}

pub(crate) fn gen_allergies(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for_patients(w, "allergies", e, d, |c, r, row, k, _, _| {
        if k == 0 && r.chance(0.5) {
            row.s(if r.chance(0.7) {
                "NKDA"
            } else {
                "No Known Allergies"
            });
            absent(row, r);
            absent(row, r);
        } else {
            let (a, re) = r.pick(ALLERGENS);
            row.s(a);
            if r.chance(0.2) {
                absent(row, r)
            } else {
                row.s(re)
            }
            if r.chance(0.4) {
                absent(row, r);
            } else {
                row.s(r.pick(&["mild", "moderate", "severe", "MOD", "Severe"]));
            }
        }
        let day = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, day, s);
        row.s(r.pick(&["RN", "jdoe", "MA", "ADMIN", "conv2009"]));
    })
}

pub(crate) fn gen_appointments(
    w: &World,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    for_patients(w, "appointments", e, d, |c, r, row, _, _, _| {
        let day = day_in_employment(w, c, r);
        let m = r.between(7 * 4, 16 * 4) as u32 * 15;
        row.with(|b| push_datetime(b, day, m, 0));
        row.s(r.pick(APPT_TYPES));
        row.int(r.between(1, w.providers as i64));
        row.int(c.location as i64);
        row.s(r.pick(&["S", "C", "K", "N", "K", "K"]));
        match r.between(0, 5) {
            0 => row.null(),
            1 | 2 => row.s(""),
            3 => row.s("pt called to resched, 'will call back'"),
            4 => row.s("bring glasses, DOT card"),
            _ => row.s("needs interpreter (Spanish)"),
        }
    })
}

pub(crate) fn gen_documents(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for_patients(w, "documents", e, d, |c, r, row, _, id, _| {
        let day = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, day, s);
        let (ty, ext, mime) = r.pick(DOC_TYPES);
        row.s(ty);
        row.with(|b| {
            b.extend_from_slice(b"\\\\fs01\\scans\\");
            push_pad(b, c.id, 7);
            b.push(b'_');
            push_pad(b, id, 8);
            b.push(b'.');
            b.extend_from_slice(ext.as_bytes());
        });
        row.s(mime);
        row.int(r.between(1, 12));
        if r.chance(0.05) {
            row.null();
        } else {
            row.with(|b| {
                for _ in 0..16 {
                    b.push(r.between(0, 255) as u8);
                }
            });
        }
        match r.between(0, 9) {
            0 => row.null(),
            1 => row.bytes(b""),
            _ => {
                let n = r.between(24, 160) as usize;
                row.with(|b| {
                    b.extend_from_slice(match ext {
                        "jpg" => b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
                        "pdf" => b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n",
                        _ => b"II*\x00\x08\x00\x00\x00",
                    });
                    for _ in 0..n {
                        b.push(r.between(0, 255) as u8);
                    }
                });
            }
        }
        row.s(r.pick(&["scan01", "scanner2", "MEDREC", "jsmith", ""]));
    })
}

pub(crate) fn gen_drug_screens(
    w: &World,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    for_patients(w, "drug_screens", e, d, |c, r, row, _, _, _| {
        let day = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, day, s);
        row.s(r.pick(&[
            "PRE-EMPLOYMENT",
            "RANDOM",
            "POST-ACCIDENT",
            "REASONABLE SUSP",
            "Pre-emp",
            "DOT RANDOM",
        ]));
        row.s(r.pick(&["5-PANEL", "10-PANEL", "DOT", "5 panel", "Breath alcohol"]));
        row.s(r.pick(&[
            "NEGATIVE",
            "NEGATIVE",
            "NEGATIVE",
            "Negative",
            "NEG",
            "POSITIVE",
            "DILUTE",
            "CANCELLED",
        ]));
        if r.chance(0.3) {
            absent(row, r)
        } else {
            row.s(r.pick(&["Y", "N"]))
        }
        let sp = r.between(1_000_000, 9_999_999) as u64;
        row.with(|b| {
            b.extend_from_slice(b"SP");
            push_pad(b, sp, 7);
        });
    })
}

pub(crate) fn gen_immunizations(
    w: &World,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    for_patients(w, "immunizations", e, d, |c, r, row, k, id, d| {
        if r.chance(VACC_UNMAPPED_RATE) {
            d.add(
                DefectKind::UnmappedCode,
                "immunizations",
                "vaccine_name",
                id,
            );
            row.s(r.pick(VACCINES_UNMAPPED));
        } else {
            row.s(r.pick(VACCINES).0);
        }
        match r.between(0, 3) {
            0 => row.null(),
            1 => row.s(""),
            _ => row.int(k + 1),
        }
        let day = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, day, s);
        if r.chance(0.3) {
            absent(row, r);
        } else {
            let a = b'A' + r.between(0, 25) as u8;
            let n = r.between(1000, 99999) as u64;
            row.with(|b| {
                b.push(a);
                b.push(b'C');
                push_pad(b, n, 5);
            });
        }
        row.s(r.pick(VACC_MFR));
        row.s(r.pick(INJ_SITES));
        row.s(r.pick(&["RN", "L. Peña, RN", "jdoe", "K. O'Neil LPN", "MA", ""]));
    })
}

pub(crate) fn gen_lost_time(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for_patients(w, "lost_time", e, d, |c, r, row, _, _, _| {
        let inj = day_in_employment(w, c, r);
        let start = inj + r.between(0, 2) as i32;
        let returned = r.chance(0.85);
        let days = r.between(1, 120);
        let s = shape(r);
        date_cell(row, inj, s);
        let s = shape(r);
        date_cell(row, start, s);
        if returned {
            let s = shape(r);
            date_cell(row, start + days as i32, s);
            row.int(days);
        } else {
            absent(row, r);
            row.null();
        }
        row.s(if r.chance(0.7) { "Y" } else { "N" });
        row.s(r.pick(BODY_PARTS));
        row.s(r.pick(&[
            "Slipped on wet floor in break room",
            "Struck by falling object, 'hard hat on'",
            "Lifting 50# bag, felt pain",
            "Caught hand in conveyor",
            "Chemical burn, \"caustic\" line",
            "MVA in company truck",
        ]));
    })
}

pub(crate) fn gen_medications(
    w: &World,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    for_patients(w, "medications", e, d, |c, r, row, _, _, _| {
        let (name, strength, sig) = r.pick(MEDS);
        row.s(name);
        if strength.is_empty() {
            absent(row, r)
        } else {
            row.s(strength)
        }
        row.s(sig);
        let start = day_in_employment(w, c, r);
        if r.chance(0.1) {
            row.null();
        } else {
            row.with(|b| push_iso(b, start));
        }
        let active = r.chance(0.6);
        if active {
            row.null();
        } else {
            let stop = start + r.between(7, 700) as i32;
            row.with(|b| push_iso(b, stop));
        }
        row.s(r.pick(&["Dr. Adams", "outside MD", "PCP", "J. Núñez, NP", "self", ""]));
        row.s(if active { "Y" } else { "N" });
    })
}

pub(crate) fn gen_problems(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for_patients(w, "problems", e, d, |c, r, row, _, id, d| {
        if r.chance(PROB_FREE_RATE) {
            d.add(DefectKind::UnmappedCode, "problems", "dx_code", id);
            let t = r.pick(PROBLEMS_FREE);
            row.s(t);
            row.null();
            row.s(t);
        } else {
            let (code, sys, desc) = r.pick(PROBLEMS);
            row.s(code);
            row.opt(sys);
            row.s(desc);
        }
        let day = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, day, s);
        match r.between(0, 6) {
            0 => row.s(""),
            1 => row.null(),
            2 => row.s("A"),
            3 => row.s("Resolved"),
            4 => row.s("R"),
            _ => row.s("Active"),
        }
    })
}

pub(crate) fn gen_resp_fit(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for_patients(w, "resp_fit_tests", e, d, |c, r, row, _, _, _| {
        let day = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, day, s);
        let (make, model) = r.pick(RESPIRATORS);
        row.s(make);
        row.s(model);
        row.s(r.pick(&["S", "M", "L", "Med", "Small", ""]));
        let qn = r.chance(0.5);
        row.s(if qn { "QNFT" } else { "QLFT" });
        if qn {
            row.int(r.between(50, 200) * if r.chance(0.05) { 0 } else { 1 });
        } else {
            row.null();
        }
        row.s(if r.chance(0.93) { "PASS" } else { "FAIL" });
        row.s(if qn {
            "PortaCount"
        } else if r.chance(0.5) {
            "Bitrex"
        } else {
            "Saccharin"
        });
    })
}

pub(crate) fn gen_tb_tests(w: &World, e: &mut dyn Emit, d: &mut Defects) -> Result<(), GenError> {
    for_patients(w, "tb_tests", e, d, |c, r, row, _, id, d| {
        let ty = r.pick(&["PPD", "PPD", "TST", "QFT", "T-SPOT", "CXR"]);
        row.s(ty);
        let placed = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, placed, s);
        let skin = ty == "PPD" || ty == "TST";
        if skin {
            let s = shape(r);
            date_cell(row, placed + r.between(2, 3) as i32, s);
            row.int(if r.chance(0.93) { 0 } else { r.between(5, 20) });
        } else {
            absent(row, r);
            row.null();
        }
        if r.chance(0.02) {
            d.add(DefectKind::MissingRequired, "tb_tests", "result", id);
            absent(row, r);
        } else {
            row.s(r.pick(&[
                "NEG",
                "Negative",
                "negative",
                "POS",
                "Indeterminate",
                "0 mm",
                "neg",
            ]));
        }
        if skin {
            let n = r.between(10000, 99999) as u64;
            row.with(|b| {
                b.push(b'C');
                push_pad(b, n, 5);
            });
            row.s(r.pick(&["L forearm", "LFA", "RFA", "R forearm"]));
        } else {
            row.null();
            row.null();
        }
    })
}

pub(crate) fn gen_work_restrictions(
    w: &World,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    for_patients(w, "work_restrictions", e, d, |c, r, row, _, _, _| {
        let start = day_in_employment(w, c, r);
        let s = shape(r);
        date_cell(row, start, s);
        if r.chance(0.25) {
            absent(row, r);
        } else {
            let s = shape(r);
            date_cell(row, start + r.between(3, 90) as i32, s);
        }
        let n = r.between(1, 3);
        let mut text = String::new();
        for k in 0..n {
            if k > 0 {
                text.push_str(if r.chance(0.5) { "; " } else { "\n" });
            }
            text.push_str(r.pick(RESTRICTIONS));
        }
        row.s(&text);
        row.s(r.pick(&["ACTIVE", "EXPIRED", "Lifted", "A", ""]));
        row.int(r.between(1, w.providers as i64));
    })
}

/// Write a table's rows with the matching generator.
pub(crate) fn generate_table(
    w: &World,
    def: &TableDef,
    e: &mut dyn Emit,
    d: &mut Defects,
) -> Result<(), GenError> {
    match def.name {
        "allergies" => gen_allergies(w, e, d),
        "appointments" => gen_appointments(w, e, d),
        "audiograms" => gen_audiograms(w, e, d),
        "clinical_notes" => gen_clinical_notes(w, e),
        "departments" => gen_departments(w, e),
        "documents" => gen_documents(w, e, d),
        "drug_screens" => gen_drug_screens(w, e, d),
        "employers" => gen_employers(w, e),
        "immunizations" => gen_immunizations(w, e, d),
        "lab_results" => gen_lab_results(w, e, d),
        "locations" => gen_locations(w, e),
        "lost_time" => gen_lost_time(w, e, d),
        "medications" => gen_medications(w, e, d),
        "patients" => gen_patients(w, e, d),
        "pft" => gen_pft(w, e, d),
        "problems" => gen_problems(w, e, d),
        "providers" => gen_providers(w, e),
        "resp_fit_tests" => gen_resp_fit(w, e, d),
        "tb_tests" => gen_tb_tests(w, e, d),
        "visits" => gen_visits(w, e, d),
        "vision_tests" => gen_vision(w, e),
        "vitals" => gen_vitals(w, e, d),
        "work_restrictions" => gen_work_restrictions(w, e, d),
        _ => Ok(()),
    }
}
