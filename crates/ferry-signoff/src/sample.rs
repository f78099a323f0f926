//! Clinician verification packets: chosen patients' legacy rows beside the resources a run made
//! of them, for a clinician to tick off.
//!
//! Choosing is seeded and deterministic, with bounded memory whatever the number of patients:
//! each patient gets a rank, the first 8 bytes of sha256(seed, key), and the lowest ranks win
//! (bottom-k). Up to half of the packet (rounded up) is drawn from patients with at least one
//! exception in the run, the rest from every patient, so the packet looks where problems are
//! without being only problems.
//!
//! Building a packet reads each module's source query once (keeping only the chosen patients'
//! rows), the run's per-row ledger once, and each output file once (checking its sha256 against
//! the ledger, so a packet never shows another run's output).

use crate::SignoffError;
use ferry_store::{RowFate, SnapshotReader, Workspace};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

const TEMPLATE: &str = include_str!("templates/packet.html");

/// What the packet needs to know of a mapping module.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub module: String,
    /// The module's SQL over the staged snapshot.
    pub query: String,
    /// Row key column(s); values joined with `|`, as the run does.
    pub key: Vec<String>,
    /// The column naming the patient (modules without one are not in packets).
    pub patient: Option<String>,
    /// The module's first resource type.
    pub resource_type: String,
}

impl ModuleSource {
    /// The module whose rows are the patients themselves (its key is its patient column).
    fn is_patient_module(&self) -> bool {
        self.resource_type == "Patient"
            || self
                .patient
                .as_ref()
                .is_some_and(|p| self.key == [p.clone()])
    }

    /// Where the module's items go in a patient's section: allergies, medications, problems,
    /// labs first, then everything else (by module name).
    fn group(&self) -> (u8, String) {
        let lower = self.module.to_ascii_lowercase();
        let rank = match self.resource_type.as_str() {
            _ if self.is_patient_module() => 0,
            "AllergyIntolerance" => 1,
            t if t.starts_with("Medication") => 2,
            "Condition" => 3,
            "DiagnosticReport" => 4,
            "Observation" if lower.contains("lab") => 4,
            _ => 5,
        };
        let title = match rank {
            0 => "Patient".to_string(),
            1 => "Allergies".to_string(),
            2 => "Medications".to_string(),
            3 => "Problems".to_string(),
            4 => "Labs".to_string(),
            _ => self.module.replace('_', " "),
        };
        (rank, title)
    }
}

/// The chosen patients, in packet order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub patients: Vec<String>,
    /// How many of them have an exception in the run.
    pub with_exceptions: usize,
}

/// Progress of [`choose_with_progress`] and [`build_packet_with_progress`], for a bar: a phase
/// with its total, then positions within it (as `ferry_verify::VerifyEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleEvent<'a> {
    /// A phase starts; `total` in its own unit: module queries for `choosing patients` and
    /// `reading legacy rows`, bytes for `reading output files`.
    Phase { name: &'a str, total: u64 },
    /// Position within the phase (after each module query, after each output file).
    Position(u64),
}

/// Where events go, and the flag that stops sampling ([`SignoffError::Cancelled`]), polled every
/// 4,096 rows of a module query and between queries and files.
#[derive(Clone, Copy)]
pub struct Progress<'a> {
    pub on_event: &'a (dyn Fn(SampleEvent<'_>) + Sync),
    pub cancel: Option<&'a ferry_core::Cancel>,
}

fn ignore(_: SampleEvent<'_>) {}

impl Progress<'static> {
    /// No events, no cancelling.
    pub fn none() -> Progress<'static> {
        Progress {
            on_event: &ignore,
            cancel: None,
        }
    }
}

impl Progress<'_> {
    fn phase(&self, name: &str, total: u64) {
        (self.on_event)(SampleEvent::Phase { name, total });
    }

    fn position(&self, n: u64) {
        (self.on_event)(SampleEvent::Position(n));
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(ferry_core::Cancel::is_cancelled)
    }

    fn check(&self) -> Result<(), SignoffError> {
        if self.cancelled() {
            Err(SignoffError::Cancelled)
        } else {
            Ok(())
        }
    }
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

/// A patient's rank for the seed: deterministic and uniform.
pub(crate) fn rank(seed: u64, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// The `k` lowest-ranked distinct keys, in bounded memory.
#[derive(Debug)]
pub(crate) struct BottomK {
    k: usize,
    seed: u64,
    set: BTreeSet<(u64, String)>,
}

impl BottomK {
    pub(crate) fn new(k: usize, seed: u64) -> Self {
        BottomK {
            k,
            seed,
            set: BTreeSet::new(),
        }
    }

    pub(crate) fn offer(&mut self, key: &str) {
        if self.k == 0 {
            return;
        }
        let r = rank(self.seed, key);
        if self.set.len() >= self.k
            && let Some((max, _)) = self.set.last()
            && r > *max
        {
            return;
        }
        self.set.insert((r, key.to_string()));
        while self.set.len() > self.k {
            self.set.pop_last();
        }
    }

    pub(crate) fn into_ranked(self) -> Vec<(u64, String)> {
        self.set.into_iter().collect()
    }
}

/// Text of a value for a key or a patient column: text, or a number a query computed; `None`
/// for NULL, empty text and bytes (the run makes such rows exceptions, keyed `(no key)`).
fn key_text(v: Option<&ferry_core::ValueRef<'_>>) -> Option<String> {
    match v {
        Some(ferry_core::ValueRef::Text(t)) if !t.is_empty() => Some((*t).to_string()),
        _ => None,
    }
}

fn row_key(names: &[String], values: &[ferry_core::ValueRef<'_>], key: &[String]) -> String {
    let mut parts = Vec::with_capacity(key.len());
    for k in key {
        let v = names
            .iter()
            .position(|n| n == k)
            .and_then(|i| values.get(i));
        match key_text(v) {
            Some(t) => parts.push(t),
            None => return "(no key)".to_string(),
        }
    }
    parts.join("|")
}

fn patient_of(names: &[String], values: &[ferry_core::ValueRef<'_>], col: &str) -> Option<String> {
    let i = names.iter().position(|n| n == col)?;
    key_text(values.get(i))
}

/// Streams module `m`'s query, polling `progress`'s cancel flag every 4,096 rows.
fn stream(
    reader: &SnapshotReader,
    m: &ModuleSource,
    progress: &Progress<'_>,
    on_row: &mut dyn FnMut(&[String], &[ferry_core::ValueRef<'_>]),
) -> Result<(), SignoffError> {
    let mut n = 0u64;
    reader
        .query_rows(&m.query, &mut |names, values| {
            on_row(names, values);
            n += 1;
            !(n.is_multiple_of(4096) && progress.cancelled())
        })
        .map_err(|source| SignoffError::Query {
            module: m.module.clone(),
            snapshot: reader.id(),
            source,
        })?;
    progress.check()
}

/// Chooses `n` patients of run `run` with `seed` (see the module documentation).
pub fn choose(
    ws: &Workspace,
    run: u64,
    sources: &[ModuleSource],
    n: usize,
    seed: u64,
) -> Result<Chosen, SignoffError> {
    choose_with_progress(ws, run, sources, n, seed, &Progress::none())
}

/// [`choose`] reporting a phase `choosing patients` (total: the module queries it runs) and a
/// position after each query; stops with [`SignoffError::Cancelled`] when cancelled.
pub fn choose_with_progress(
    ws: &Workspace,
    run: u64,
    sources: &[ModuleSource],
    n: usize,
    seed: u64,
    progress: &Progress<'_>,
) -> Result<Chosen, SignoffError> {
    let info = ws.run(Some(run))?;
    let reader = ws.open_snapshot(Some(info.snapshot))?;
    let with_patient: Vec<&ModuleSource> = sources.iter().filter(|m| m.patient.is_some()).collect();
    let patient_modules: Vec<&ModuleSource> = with_patient
        .iter()
        .copied()
        .filter(|m| m.is_patient_module())
        .collect();
    // Every patient: from the patient module(s), else from every module's patient column.
    let mut all = BottomK::new(n, seed);
    let pool = if patient_modules.is_empty() {
        &with_patient
    } else {
        &patient_modules
    };
    // Patients with an exception: the rows of modules that have exceptions.
    let mut exception_rows: HashMap<String, HashSet<String>> = HashMap::new();
    ws.exception_rows(run, &mut |module, key| {
        exception_rows
            .entry(module.to_string())
            .or_default()
            .insert(key.to_string());
    })?;
    let with_exceptions: Vec<&ModuleSource> = with_patient
        .iter()
        .copied()
        .filter(|m| exception_rows.contains_key(&m.module))
        .collect();
    progress.phase(
        "choosing patients",
        (pool.len() + with_exceptions.len()) as u64,
    );
    let mut queries = 0u64;
    for m in pool {
        let col = m.patient.as_deref().unwrap_or_default();
        stream(&reader, m, progress, &mut |names, values| {
            if let Some(p) = patient_of(names, values, col) {
                all.offer(&p);
            }
        })?;
        queries += 1;
        progress.position(queries);
    }
    let k_exc = n.div_ceil(2);
    let mut exc = BottomK::new(k_exc, seed);
    for m in &with_exceptions {
        let Some(keys) = exception_rows.get(&m.module) else {
            continue;
        };
        let col = m.patient.as_deref().unwrap_or_default();
        stream(&reader, m, progress, &mut |names, values| {
            if keys.contains(&row_key(names, values, &m.key))
                && let Some(p) = patient_of(names, values, col)
            {
                exc.offer(&p);
            }
        })?;
        queries += 1;
        progress.position(queries);
    }
    let exc = exc.into_ranked();
    let mut picked: BTreeMap<u64, String> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (r, k) in &exc {
        if seen.insert(k.clone()) {
            picked.insert(*r, k.clone());
        }
    }
    let with_exceptions = picked.len();
    for (r, k) in all.into_ranked() {
        if picked.len() >= n {
            break;
        }
        if seen.insert(k.clone()) {
            picked.insert(r, k);
        }
    }
    if picked.is_empty() {
        return Err(SignoffError::NoPatients { run });
    }
    Ok(Chosen {
        patients: picked.into_values().collect(),
        with_exceptions,
    })
}

/// A packet, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct Packet {
    pub id: u64,
    pub project: String,
    pub run: u64,
    pub run_kind: String,
    pub snapshot: u64,
    pub seed: u64,
    pub created_at: String,
    pub form_file: String,
    pub patients: Vec<PatientSection>,
    pub style: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatientSection {
    pub number: usize,
    pub key: String,
    pub groups: Vec<Group>,
    pub items: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub title: String,
    pub items: Vec<Item>,
}

/// One legacy row and what the run made of it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub module: String,
    pub source_key: String,
    /// `YYYY-MM-DD...` when one could be found (from the resource, else the legacy row).
    pub date: Option<String>,
    pub legacy: Vec<Field>,
    /// `migrated`, `excluded`, `exception` or `not in run`.
    pub fate: String,
    pub notes: Vec<String>,
    pub resources: Vec<ResourceView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceView {
    pub resource_type: String,
    pub id: String,
    /// Flattened `path: value` pairs (id, meta and text narrative left out).
    pub fields: Vec<Field>,
}

/// Resource fields giving a clinical date, in order of preference.
const DATE_PATHS: &[&[&str]] = &[
    &["effectiveDateTime"],
    &["effectivePeriod", "start"],
    &["onsetDateTime"],
    &["onsetPeriod", "start"],
    &["occurrenceDateTime"],
    &["performedDateTime"],
    &["performedPeriod", "start"],
    &["authoredOn"],
    &["recordedDate"],
    &["issued"],
    &["period", "start"],
    &["start"],
    &["date"],
    &["created"],
    &["dateAsserted"],
];

fn resource_date(r: &serde_json::Value) -> Option<String> {
    for path in DATE_PATHS {
        let mut v = r;
        let mut found = true;
        for seg in *path {
            match v.get(*seg) {
                Some(x) => v = x,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found && let Some(s) = v.as_str() {
            return Some(s.to_string());
        }
    }
    None
}

/// A legacy date in a few common shapes as `YYYY-MM-DD`; anything else is `None`.
pub(crate) fn legacy_date(s: &str) -> Option<String> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    // YYYY-MM-DD or YYYY/MM/DD (time after it ignored)
    if b.len() >= 10 && digits(0..4) && digits(5..7) && digits(8..10) {
        let sep_ok = matches!(b.get(4), Some(b'-' | b'/')) && b.get(4) == b.get(7);
        if sep_ok {
            return Some(format!("{}-{}-{}", &s[0..4], &s[5..7], &s[8..10]));
        }
    }
    // MM/DD/YYYY
    if b.len() >= 10
        && digits(0..2)
        && digits(3..5)
        && digits(6..10)
        && b.get(2) == Some(&b'/')
        && b.get(5) == Some(&b'/')
    {
        return Some(format!("{}-{}-{}", &s[6..10], &s[0..2], &s[3..5]));
    }
    // YYYYMMDD
    if b.len() == 8 && digits(0..8) {
        return Some(format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8]));
    }
    None
}

fn legacy_row_date(fields: &[Field]) -> Option<String> {
    fields
        .iter()
        .filter(|f| {
            let n = f.name.to_ascii_lowercase();
            n.contains("date") || n.ends_with("_on") || n.ends_with("_at") || n.ends_with("_dt")
        })
        .filter_map(|f| f.value.as_deref().and_then(legacy_date))
        .next()
}

/// `a.b[0].c: value` pairs of a resource, leaving out what a clinician does not check.
fn flatten(v: &serde_json::Value, prefix: &str, out: &mut Vec<Field>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                if prefix.is_empty()
                    && matches!(k.as_str(), "resourceType" | "id" | "meta" | "text")
                {
                    continue;
                }
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &p, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                flatten(x, &format!("{prefix}[{i}]"), out);
            }
        }
        serde_json::Value::String(s) => out.push(Field {
            name: prefix.to_string(),
            value: Some(s.clone()),
        }),
        serde_json::Value::Null => out.push(Field {
            name: prefix.to_string(),
            value: None,
        }),
        other => out.push(Field {
            name: prefix.to_string(),
            value: Some(other.to_string()),
        }),
    }
}

fn show(v: &ferry_core::ValueRef<'_>) -> Option<String> {
    match v {
        ferry_core::ValueRef::Null => None,
        ferry_core::ValueRef::Text(t) => Some((*t).to_string()),
        ferry_core::ValueRef::Bytes(b) => Some(format!("({} bytes)", b.len())),
    }
}

/// Reads the chosen patients' legacy rows, their fates in the run and the resources made of
/// them, into a packet (not yet recorded: `id` and `form_file` are filled by the caller).
pub fn build_packet(
    ws: &Workspace,
    project_root: &Path,
    project: &str,
    run: u64,
    sources: &[ModuleSource],
    patients: &[String],
    seed: u64,
) -> Result<Packet, SignoffError> {
    build_packet_with_progress(
        ws,
        project_root,
        project,
        run,
        sources,
        patients,
        seed,
        &Progress::none(),
    )
}

/// [`build_packet`] reporting two phases: `reading legacy rows` (total: the module queries, a
/// position after each) and `reading output files` (total: their bytes, a position after each
/// file); stops with [`SignoffError::Cancelled`] when cancelled.
#[allow(clippy::too_many_arguments)]
pub fn build_packet_with_progress(
    ws: &Workspace,
    project_root: &Path,
    project: &str,
    run: u64,
    sources: &[ModuleSource],
    patients: &[String],
    seed: u64,
    progress: &Progress<'_>,
) -> Result<Packet, SignoffError> {
    let info = ws.run(Some(run))?;
    let reader = ws.open_snapshot(Some(info.snapshot))?;
    let wanted: HashSet<&str> = patients.iter().map(String::as_str).collect();
    // 1. Legacy rows of the chosen patients, per (module, key).
    struct Row {
        patient: String,
        module: usize,
        key: String,
        fields: Vec<Field>,
    }
    let mut rows: Vec<Row> = Vec::new();
    progress.phase(
        "reading legacy rows",
        sources.iter().filter(|m| m.patient.is_some()).count() as u64,
    );
    let mut queries = 0u64;
    for (mi, m) in sources.iter().enumerate() {
        let Some(col) = m.patient.as_deref() else {
            continue;
        };
        stream(&reader, m, progress, &mut |names, values| {
            let Some(p) = patient_of(names, values, col) else {
                return;
            };
            if !wanted.contains(p.as_str()) {
                return;
            }
            rows.push(Row {
                patient: p,
                module: mi,
                key: row_key(names, values, &m.key),
                fields: names
                    .iter()
                    .zip(values)
                    .map(|(n, v)| Field {
                        name: n.clone(),
                        value: show(v),
                    })
                    .collect(),
            });
        })?;
        queries += 1;
        progress.position(queries);
    }
    // 2. What the run made of them.
    let row_ids: HashSet<(String, String)> = rows
        .iter()
        .filter_map(|r| {
            sources
                .get(r.module)
                .map(|m| (m.module.clone(), r.key.clone()))
        })
        .collect();
    let mut fates: HashMap<(String, String), Vec<RowFate>> = HashMap::new();
    ws.row_fates(
        run,
        &|m, k| row_ids.contains(&(m.to_string(), k.to_string())),
        &mut |m, k, f| {
            fates
                .entry((m.to_string(), k.to_string()))
                .or_default()
                .push(f)
        },
    )?;
    // 3. The resources, from the run's output files.
    let mut ids_by_type: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for f in fates.values().flatten() {
        if let RowFate::Migrated {
            resource_type,
            resource_id,
        } = f
        {
            ids_by_type
                .entry(resource_type.clone())
                .or_default()
                .insert(resource_id.clone());
        }
    }
    let outputs = ws.run_outputs(run)?;
    let out_dir = project_root.join(&info.output_dir);
    let mut resources: HashMap<String, serde_json::Value> = HashMap::new();
    let files: Vec<(&ferry_store::RunOutput, &HashSet<String>)> = ids_by_type
        .iter()
        .filter_map(|(rtype, ids)| {
            outputs
                .iter()
                .find(|o| &o.resource_type == rtype)
                .map(|o| (o, ids))
        })
        .collect();
    let size = |o: &ferry_store::RunOutput| {
        std::fs::metadata(out_dir.join(&o.file)).map_or(0, |m| m.len())
    };
    progress.phase(
        "reading output files",
        files.iter().map(|(o, _)| size(o)).sum(),
    );
    let mut bytes = 0u64;
    for (o, ids) in files {
        progress.check()?;
        read_resources(&out_dir.join(&o.file), &o.sha256, run, ids, &mut resources)?;
        bytes += size(o);
        progress.position(bytes);
    }
    // 4. Items per patient, grouped and in order.
    let mut sections = Vec::new();
    for (i, key) in patients.iter().enumerate() {
        let mut groups: BTreeMap<(u8, String), Vec<(usize, Item)>> = BTreeMap::new();
        for (seq, r) in rows.iter().enumerate().filter(|(_, r)| &r.patient == key) {
            let Some(m) = sources.get(r.module) else {
                continue;
            };
            let f = fates
                .get(&(m.module.clone(), r.key.clone()))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut item = Item {
                module: m.module.clone(),
                source_key: r.key.clone(),
                date: None,
                legacy: r.fields.clone(),
                fate: "not in run".into(),
                notes: Vec::new(),
                resources: Vec::new(),
            };
            for fate in f {
                match fate {
                    RowFate::Migrated {
                        resource_type,
                        resource_id,
                    } => {
                        item.fate = "migrated".into();
                        let mut fields = Vec::new();
                        if let Some(res) = resources.get(resource_id) {
                            if item.date.is_none() {
                                item.date = resource_date(res);
                            }
                            flatten(res, "", &mut fields);
                        } else {
                            item.notes.push(format!(
                                "{resource_type} {resource_id} is not in the run's output"
                            ));
                        }
                        item.resources.push(ResourceView {
                            resource_type: resource_type.clone(),
                            id: resource_id.clone(),
                            fields,
                        });
                    }
                    RowFate::Excluded { rule, reason } => {
                        item.fate = "excluded".into();
                        item.notes.push(format!("excluded by `{rule}`: {reason}"));
                    }
                    RowFate::Exception { path, reason } => {
                        item.fate = "exception".into();
                        item.notes.push(match path {
                            Some(p) => format!("exception at `{p}`: {reason}"),
                            None => format!("exception: {reason}"),
                        });
                    }
                }
            }
            if item.date.is_none() {
                item.date = legacy_row_date(&item.legacy);
            }
            groups.entry(m.group()).or_default().push((seq, item));
        }
        let mut out = Vec::new();
        let mut count = 0;
        for ((_, title), mut items) in groups {
            // Chronological; undated items last, in source order.
            items.sort_by(|(sa, a), (sb, b)| match (&a.date, &b.date) {
                (Some(x), Some(y)) => x.cmp(y).then(sa.cmp(sb)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => sa.cmp(sb),
            });
            count += items.len();
            out.push(Group {
                title,
                items: items.into_iter().map(|(_, it)| it).collect(),
            });
        }
        sections.push(PatientSection {
            number: i + 1,
            key: key.clone(),
            groups: out,
            items: count,
        });
    }
    Ok(Packet {
        id: 0,
        project: project.to_string(),
        run,
        run_kind: info.kind,
        snapshot: info.snapshot,
        seed,
        created_at: ferry_core::calendar::now_utc_rfc3339(),
        form_file: String::new(),
        patients: sections,
        style: crate::render::STYLE.to_string(),
    })
}

#[derive(serde::Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// One pass over an NDJSON file: keeps the resources whose id is wanted, and checks the file is
/// the one the run wrote (sha256 of its bytes).
fn read_resources(
    path: &Path,
    sha256: &str,
    run: u64,
    ids: &HashSet<String>,
    out: &mut HashMap<String, serde_json::Value>,
) -> Result<(), SignoffError> {
    let not_ferrys = |line: u64, message: String| SignoffError::Ndjson {
        path: path.to_path_buf(),
        line,
        message,
    };
    let read_error = |e: ferry_fhir::NdjsonError| match e {
        ferry_fhir::NdjsonError::Io { source, .. } => SignoffError::read(path, source),
        ferry_fhir::NdjsonError::LineTooLong { line, max, .. } => {
            not_ferrys(line, format!("a line longer than {max} bytes"))
        }
        ferry_fhir::NdjsonError::NotJson {
            line,
            column,
            problem,
            ..
        } => not_ferrys(line, format!("not JSON: {problem} at column {column}")),
        other => not_ferrys(0, other.to_string()),
    };
    let mut reader = match ferry_fhir::NdjsonReader::open(path) {
        Ok(r) => r.with_sha256(),
        Err(ferry_fhir::NdjsonError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(SignoffError::OutputChanged {
                path: path.to_path_buf(),
                run,
            });
        }
        Err(e) => return Err(read_error(e)),
    };
    while let Some(line) = reader.next_line().map_err(read_error)? {
        if line.bytes.is_empty() {
            continue;
        }
        let head: IdOnly<'_> = serde_json::from_slice(line.bytes).map_err(|e| {
            not_ferrys(
                line.number,
                format!(
                    "not JSON: {} at column {}",
                    ferry_fhir::json_problem(&e),
                    e.column()
                ),
            )
        })?;
        let Some(id) = head.id else {
            continue;
        };
        if ids.contains(id.as_ref()) {
            let v: serde_json::Value = line.parse().map_err(read_error)?;
            out.insert(id.into_owned(), v);
        }
    }
    if reader.sha256().as_deref() != Some(sha256) {
        return Err(SignoffError::OutputChanged {
            path: path.to_path_buf(),
            run,
        });
    }
    Ok(())
}

/// The packet as one HTML page.
pub fn render_packet(packet: &Packet) -> Result<String, SignoffError> {
    crate::render::render("packet.html", TEMPLATE, packet)
}

/// Writes the packet's HTML to `path` atomically.
pub fn write_packet(packet: &Packet, path: &Path) -> Result<(), SignoffError> {
    let html = render_packet(packet)?;
    crate::fsutil::write_atomic(path, html.as_bytes(), ferry_core::atomic::Contents::Phi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn legacy_dates_in_common_shapes_sort_as_iso() {
        assert_eq!(legacy_date("2019-03-15").as_deref(), Some("2019-03-15"));
        assert_eq!(
            legacy_date("2019-03-15 10:22:00").as_deref(),
            Some("2019-03-15")
        );
        assert_eq!(legacy_date("03/15/2019").as_deref(), Some("2019-03-15"));
        assert_eq!(legacy_date("20190315").as_deref(), Some("2019-03-15"));
        assert_eq!(legacy_date("15.03.2019"), None);
        assert_eq!(legacy_date(""), None);
        assert_eq!(legacy_date("é/é/éééé"), None);
    }

    #[test]
    fn groups_put_allergies_medications_problems_labs_first() {
        let m = |name: &str, t: &str| ModuleSource {
            module: name.into(),
            query: String::new(),
            key: vec!["id".into()],
            patient: Some("patient_id".into()),
            resource_type: t.into(),
        };
        let mut g = [
            m("vitals", "Observation").group(),
            m("lab_results", "Observation").group(),
            m("problems", "Condition").group(),
            m("medications", "MedicationStatement").group(),
            m("allergies", "AllergyIntolerance").group(),
            m("immunizations", "Immunization").group(),
            m("patients", "Patient").group(),
        ];
        g.sort();
        let titles: Vec<&str> = g.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Patient",
                "Allergies",
                "Medications",
                "Problems",
                "Labs",
                "immunizations",
                "vitals"
            ]
        );
    }

    #[test]
    fn flatten_leaves_out_id_meta_and_narrative() {
        let v: serde_json::Value = serde_json::json!({
            "resourceType": "Observation", "id": "x", "meta": {"a": 1},
            "code": {"coding": [{"code": "2345-7"}], "text": "Glucose"},
            "valueQuantity": {"value": 5.4}
        });
        let mut out = Vec::new();
        flatten(&v, "", &mut out);
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["code.coding[0].code", "code.text", "valueQuantity.value"]
        );
        assert_eq!(out[2].value.as_deref(), Some("5.4"));
    }

    #[test]
    fn resource_date_prefers_the_clinical_date() {
        let v = serde_json::json!({"recordedDate": "2024-01-01", "onsetDateTime": "2019-05-01"});
        assert_eq!(resource_date(&v).as_deref(), Some("2019-05-01"));
        let v = serde_json::json!({"effectivePeriod": {"start": "2018-02-03"}});
        assert_eq!(resource_date(&v).as_deref(), Some("2018-02-03"));
        assert_eq!(resource_date(&serde_json::json!({})), None);
    }

    /// A project with a staged `patients` table of `n` rows and `visits` (two per patient for
    /// the first 10), and an ok run: one Patient resource for patient 1, an exception on visit 3.
    fn project_with_a_run(n: u64) -> (tempfile::TempDir, Workspace, Vec<ModuleSource>) {
        use ferry_core::{ColumnDef, Origin, Sink, TableDef, Value};
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let origin = Origin {
            file: "c.sql".into(),
            line: 1,
        };
        let cols = |names: &[&str]| names.iter().map(|c| ColumnDef::new(*c, None)).collect();
        let mut w = ws.begin_snapshot(None).unwrap();
        let p = w
            .table(TableDef::new(
                "patients",
                cols(&["id", "name"]),
                origin.clone(),
            ))
            .unwrap();
        for i in 1..=n {
            w.row(
                p,
                vec![Value::Text(i.to_string()), Value::Text(format!("n{i}"))],
            )
            .unwrap();
        }
        let v = w
            .table(TableDef::new("visits", cols(&["id", "pid"]), origin))
            .unwrap();
        for i in 1..=20u64 {
            w.row(
                v,
                vec![
                    Value::Text(i.to_string()),
                    Value::Text((i % 10 + 1).to_string()),
                ],
            )
            .unwrap();
        }
        w.commit().unwrap();
        let tables = ws.tables(1).unwrap();
        let staged = |t: &str| {
            tables
                .iter()
                .find(|x| x.name == t)
                .unwrap()
                .staged_name
                .clone()
        };
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let body = "{\"resourceType\":\"Patient\",\"id\":\"p1\"}\n";
        std::fs::write(out.join("Patient.ndjson"), body).unwrap();
        let mut run = ws
            .begin_run(ferry_store::RunSpec {
                id: None,
                kind: "iteration".into(),
                snapshot: 1,
                files: Vec::new(),
                output_dir: "out".into(),
                base: None,
            })
            .unwrap();
        run.lineage("patients", "1", "Patient", "p1", "00").unwrap();
        run.exception("visits", "3", None, None, "bad", None)
            .unwrap();
        run.output(ferry_store::RunOutput {
            resource_type: "Patient".into(),
            file: "Patient.ndjson".into(),
            resources: 1,
            sha256: hex::encode(Sha256::digest(body.as_bytes())),
        });
        run.commit("ok").unwrap();
        let sources = vec![
            ModuleSource {
                module: "patients".into(),
                query: format!("SELECT id, name FROM \"{}\"", staged("patients")),
                key: vec!["id".into()],
                patient: Some("id".into()),
                resource_type: "Patient".into(),
            },
            ModuleSource {
                module: "visits".into(),
                query: format!("SELECT id, pid FROM \"{}\"", staged("visits")),
                key: vec!["id".into()],
                patient: Some("pid".into()),
                resource_type: "Encounter".into(),
            },
        ];
        (dir, ws, sources)
    }

    #[test]
    fn sampling_reports_phases_with_totals_and_stops_when_cancelled() {
        let (dir, ws, sources) = project_with_a_run(10_000);
        let events = std::sync::Mutex::new(Vec::<String>::new());
        let on_event = |e: SampleEvent<'_>| {
            events.lock().unwrap().push(match e {
                SampleEvent::Phase { name, total } => format!("{name} {total}"),
                SampleEvent::Position(n) => n.to_string(),
            })
        };
        let progress = Progress {
            on_event: &on_event,
            cancel: None,
        };
        let chosen = choose_with_progress(&ws, 1, &sources, 3, 5, &progress).unwrap();
        assert_eq!(chosen, choose(&ws, 1, &sources, 3, 5).unwrap());
        assert_eq!(chosen.with_exceptions, 1);
        assert_eq!(*events.lock().unwrap(), ["choosing patients 2", "1", "2"]);
        events.lock().unwrap().clear();
        let keys = vec!["1".to_string(), "4".to_string()];
        let packet =
            build_packet_with_progress(&ws, dir.path(), "t", 1, &sources, &keys, 5, &progress)
                .unwrap();
        assert_eq!(packet.patients.len(), 2);
        assert_eq!(
            *events.lock().unwrap(),
            [
                "reading legacy rows 2",
                "1",
                "2",
                "reading output files 37",
                "37"
            ]
        );

        let cancel = ferry_core::Cancel::new();
        cancel.cancel();
        let stop = Progress {
            on_event: &|_| {},
            cancel: Some(&cancel),
        };
        let e = choose_with_progress(&ws, 1, &sources, 3, 5, &stop).unwrap_err();
        assert!(matches!(e, SignoffError::Cancelled), "{e}");
        assert_eq!(
            e.to_string(),
            "sampling was cancelled; nothing was recorded"
        );
        let e = build_packet_with_progress(&ws, dir.path(), "t", 1, &sources, &keys, 5, &stop)
            .unwrap_err();
        assert!(matches!(e, SignoffError::Cancelled), "{e}");
    }

    #[test]
    fn a_changed_output_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Observation.ndjson");
        std::fs::write(&p, "{\"resourceType\":\"Observation\",\"id\":\"a\"}\n").unwrap();
        let mut out = HashMap::new();
        let ids: HashSet<String> = ["a".to_string()].into();
        let e = read_resources(&p, "00", 3, &ids, &mut out).unwrap_err();
        assert!(
            matches!(e, SignoffError::OutputChanged { run: 3, .. }),
            "{e}"
        );
        let sha = hex::encode(Sha256::digest(std::fs::read(&p).unwrap()));
        read_resources(&p, &sha, 3, &ids, &mut out).unwrap();
        assert!(out.contains_key("a"));
    }

    #[test]
    fn a_broken_output_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Patient.ndjson");
        std::fs::write(&p, "{\"id\":\"a\"}\n{not json\n").unwrap();
        let e = read_resources(&p, "", 1, &HashSet::new(), &mut HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        // serde_json's own messages quote values ("invalid type: integer `987654321`"): only its
        // category and column are shown.
        std::fs::write(&p, "{\"id\":\"a\"}\n{\"id\":987654321}\n").unwrap();
        let e = read_resources(&p, "", 1, &HashSet::new(), &mut HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("column"), "{e}");
        assert!(!e.contains("987654321"), "{e}");
    }

    proptest! {
        /// Bottom-k keeps exactly the k lowest ranks, whatever the order keys arrive in and
        /// however often they repeat.
        #[test]
        fn bottom_k_is_order_independent(keys in proptest::collection::vec("[a-z0-9]{1,6}", 0..200), k in 0usize..30, seed in any::<u64>()) {
            let mut a = BottomK::new(k, seed);
            for key in &keys { a.offer(key); }
            let mut b = BottomK::new(k, seed);
            for key in keys.iter().rev() { b.offer(key); b.offer(key); }
            let a = a.into_ranked();
            prop_assert_eq!(&a, &b.into_ranked());
            let mut all: Vec<(u64, String)> = keys.iter().map(|k| (rank(seed, k), k.clone())).collect();
            all.sort();
            all.dedup();
            all.truncate(k);
            prop_assert_eq!(a, all);
        }

        #[test]
        fn legacy_date_never_panics(s in "\\PC{0,20}") {
            let _ = legacy_date(&s);
        }
    }
}
