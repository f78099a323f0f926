//! The load: the run's NDJSON files, type by type with referenced types first, in batch
//! Bundles of `PUT Type/id`, through the journal (see [`crate::journal`]).
//!
//! Per Bundle: ids new to the journal get their pre-image read from the server first (a batch of
//! `GET`s); a resource whose content the server already holds is recorded `unchanged` and not
//! sent; the rest are marked sent (committed), sent, and their answers recorded. Entries answered
//! 429/5xx inside a 200 batch response are resent alone; other 4xx are recorded as failed with
//! the server's OperationOutcome and never resent unchanged. Types go one after the other (so a
//! reference's target lands first); Bundles of one type go `concurrency` at a time.
//!
//! Groups that must land together (the resources one source row made, in a module with
//! `load = "transaction"`) are held back from the batches: while their types are read, their
//! entries go to a spool file beside the journal (`load-NNNN.spool.db`, rebuilt by each
//! invocation, removed at the end), and after the last of their types they are sent as
//! transaction Bundles of whole groups. A refused transaction of several groups is sent again
//! one group at a time, so one bad resource fails only its own group; a refused group's
//! resources end as failures with the server's OperationOutcome and none of them is written.

use crate::fhir::{self, Found};
use crate::http::retryable;
use crate::journal::{Journal, PreImage, State};
use crate::{LoadError, LoadEvent, Stats, Target};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The groups of resources that must land together, walked twice (once to know them, once to
/// send them); each group is the (type, id) of its resources.
pub trait Groups {
    fn walk(
        &self,
        f: &mut dyn FnMut(Vec<(String, String)>) -> Result<(), LoadError>,
    ) -> Result<(), LoadError>;
}

/// The 128-bit key of a grouped resource (16 bytes a resource in memory, not its id's text).
fn member_key(resource_type: &str, id: &str) -> u128 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(resource_type.as_bytes());
    h.update(b"/");
    h.update(id.as_bytes());
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    u128::from_le_bytes(k)
}

/// Grouped resources' entries held until their group is sent: a file beside the journal (so
/// memory stays bounded), rebuilt by each invocation, removed when the load returns.
struct Spool {
    path: PathBuf,
    conn: rusqlite::Connection,
    held: u64,
}

impl Spool {
    fn create(journal: &std::path::Path) -> Result<Spool, LoadError> {
        let path = journal.with_extension("spool.db");
        let bad = |e: rusqlite::Error| LoadError::Journal {
            path: path.clone(),
            message: e.to_string(),
        };
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| LoadError::Journal {
                path: path.clone(),
                message: format!("cannot remove the last invocation's spool: {e}"),
            })?;
        }
        let conn = rusqlite::Connection::open(&path).map_err(bad)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE item (type TEXT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL,
                                entry BLOB NOT NULL, PRIMARY KEY (type, id)) WITHOUT ROWID;",
        )
        .map_err(bad)?;
        Ok(Spool {
            path,
            conn,
            held: 0,
        })
    }

    fn err(&self, e: rusqlite::Error) -> LoadError {
        LoadError::Journal {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn batch(&self, sql: &str) -> Result<(), LoadError> {
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }

    fn put(&mut self, item: &Item) -> Result<(), LoadError> {
        let mut st = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO item VALUES (?1, ?2, ?3, ?4)")
            .map_err(|e| self.err(e))?;
        st.execute(rusqlite::params![
            item.resource_type,
            item.id,
            item.hash,
            item.entry
        ])
        .map_err(|e| self.err(e))?;
        self.held += 1;
        Ok(())
    }

    fn get(&self, resource_type: &str, id: &str) -> Result<Option<Item>, LoadError> {
        use rusqlite::OptionalExtension as _;
        let mut st = self
            .conn
            .prepare_cached("SELECT hash, entry FROM item WHERE type = ?1 AND id = ?2")
            .map_err(|e| self.err(e))?;
        st.query_row([resource_type, id], |r| {
            Ok(Item {
                resource_type: resource_type.to_string(),
                id: id.to_string(),
                hash: r.get(0)?,
                entry: r.get(1)?,
                expected: None,
            })
        })
        .optional()
        .map_err(|e| self.err(e))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Ferry made it; nothing in it is lost (the run's files hold every resource).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What to load.
pub struct LoadPlan {
    /// The load's number (its journal is `load-NNNN.db`).
    pub load: u64,
    /// The run's NDJSON files: (resource type, path).
    pub files: Vec<(String, PathBuf)>,
    /// Journal file.
    pub journal: PathBuf,
    /// Code of the project tag (the project's namespace, shortened).
    pub project_tag: String,
    /// Code of the run tag (`PROJECT-run-NNNN`).
    pub run_tag: String,
    pub run: u64,
    pub snapshot: u64,
    /// Who loads (the Provenance's agent).
    pub actor: String,
    /// When (UTC, RFC 3339), the Provenance's `recorded`.
    pub recorded: String,
    pub cancel: ferry_core::Cancel,
    /// A delta's load: what earlier loads to this target wrote. Each resource Ferry wrote before
    /// is sent with `If-Match` on that version, and one changed or deleted on the server since
    /// (its pre-image no longer holds Ferry's content, or a 412) is a conflict, never overwritten.
    pub prior: Option<crate::journal::PriorLoads>,
    /// A delta's load: resources no source row makes any more whose module's policy acts on
    /// the target, applied after the delta's own resources.
    pub retire: Vec<Retire>,
}

/// One resource a delta retires on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retire {
    pub resource_type: String,
    pub id: String,
    pub policy: RetirePolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetirePolicy {
    /// `DELETE Type/id`.
    Delete,
    /// The resource as the server holds it, with its status set to `entered-in-error`.
    EnteredInError,
}

/// The content hash a journal records for a `DELETE`: no resource hashes to it.
pub const DELETED_HASH: &str = "deleted";

/// Sets a resource's status to `entered-in-error` (the element and code system R4 gives its
/// type); `false` for a type without that code.
pub fn mark_entered_in_error(resource: &mut Value) -> bool {
    let t = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(obj) = resource.as_object_mut() else {
        return false;
    };
    let coded = |system: &str| json!({"coding": [{"system": system, "code": "entered-in-error", "display": "Entered in Error"}]});
    match t.as_str() {
        "AllergyIntolerance" => {
            obj.insert(
                "verificationStatus".into(),
                coded("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"),
            );
            // R4: clinicalStatus SHALL NOT be present when the verification is entered-in-error.
            obj.remove("clinicalStatus");
        }
        "Condition" => {
            obj.insert(
                "verificationStatus".into(),
                coded("http://terminology.hl7.org/CodeSystem/condition-ver-status"),
            );
            obj.remove("clinicalStatus");
        }
        "Goal" => {
            obj.insert("lifecycleStatus".into(), json!("entered-in-error"));
        }
        "Appointment"
        | "CarePlan"
        | "CareTeam"
        | "Composition"
        | "DiagnosticReport"
        | "DocumentReference"
        | "Encounter"
        | "FamilyMemberHistory"
        | "Flag"
        | "Immunization"
        | "MedicationAdministration"
        | "MedicationRequest"
        | "MedicationStatement"
        | "Observation"
        | "Procedure"
        | "ServiceRequest" => {
            obj.insert("status".into(), json!("entered-in-error"));
        }
        _ => return false,
    }
    true
}

/// What a load did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadSummary {
    pub load: u64,
    pub run: u64,
    pub target: String,
    /// Resources in the run (the Provenance not included).
    pub resources: u64,
    /// Written by this invocation.
    pub sent: u64,
    /// The server already held the same content.
    pub unchanged: u64,
    /// Done by an earlier invocation of this load (a resume).
    pub already_done: u64,
    /// Refused by the server (see the journal's outcomes).
    pub failed: u64,
    pub requests: u64,
    pub retries: u64,
    pub entry_retries: u64,
    /// Resources that belong to groups sent as transactions (all of a group lands or none).
    pub grouped: u64,
    /// Transaction Bundles the server committed or refused.
    pub transactions: u64,
    pub duration_ms: u64,
    pub journal: PathBuf,
    /// Refused resources: type, id, status (no values).
    pub failures: Vec<(String, String, u16)>,
    /// Not sent: changed or deleted on the server since Ferry last wrote them (type, id); they
    /// wait for review in the journal (state `conflict`).
    pub conflicts: Vec<(String, String)>,
    /// A delta's load: resources deleted, and marked entered-in-error, on the target.
    pub deleted: u64,
    pub marked_entered_in_error: u64,
    pub provenance: String,
    /// Resources per type in loading order.
    pub types: Vec<(String, u64)>,
}

struct Item {
    resource_type: String,
    id: String,
    hash: String,
    /// The batch entry `{"fullUrl":..,"resource":..,"request":{"method":"PUT",..}}`, serialized
    /// once however often it is resent.
    entry: Vec<u8>,
    /// What an earlier load left on the server for this id (a delta's load): sent with
    /// `If-Match` on its version.
    expected: Option<crate::journal::Written>,
}

impl Item {
    fn new(
        resource_type: &str,
        id: String,
        body: &Value,
        expected: Option<crate::journal::Written>,
    ) -> Result<Item, LoadError> {
        let hash = fhir::content_hash(body);
        let url = format!("{resource_type}/{id}");
        let mut entry = Vec::with_capacity(1024);
        entry.extend_from_slice(br#"{"fullUrl":"#);
        serde_json::to_writer(&mut entry, &url).map_err(|e| LoadError::Other(e.to_string()))?;
        entry.extend_from_slice(br#","resource":"#);
        serde_json::to_writer(&mut entry, body).map_err(|e| LoadError::Other(e.to_string()))?;
        entry.extend_from_slice(br#","request":{"method":"PUT","url":"#);
        serde_json::to_writer(&mut entry, &url).map_err(|e| LoadError::Other(e.to_string()))?;
        if let Some(v) = expected.as_ref().and_then(|w| w.version.as_deref()) {
            entry.extend_from_slice(br#","ifMatch":"#);
            serde_json::to_writer(&mut entry, &format!("W/\"{v}\""))
                .map_err(|e| LoadError::Other(e.to_string()))?;
        }
        entry.extend_from_slice(b"}}");
        Ok(Item {
            resource_type: resource_type.to_string(),
            id,
            hash,
            entry,
            expected,
        })
    }
}

#[derive(Default)]
struct Tally {
    sent: u64,
    unchanged: u64,
    already: u64,
    failed: u64,
    conflicts: u64,
    deleted: u64,
    marked: u64,
}

/// The order to load types in: a type after the types it references (cycles broken by name).
pub fn type_order(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: BTreeSet<String> = edges.keys().cloned().collect();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                edges
                    .get(*t)
                    .is_none_or(|deps| deps.iter().all(|d| d == *t || !left.contains(d)))
            })
            .cloned()
            .collect();
        let next = if ready.is_empty() {
            // A cycle: take the type with the fewest unmet references.
            let t = left
                .iter()
                .min_by_key(|t| {
                    edges
                        .get(*t)
                        .map(|d| d.iter().filter(|x| left.contains(*x)).count())
                        .unwrap_or(0)
                })
                .cloned();
            t.into_iter().collect()
        } else {
            ready
        };
        for t in next {
            left.remove(&t);
            done.push(t);
        }
    }
    done
}

/// Relative references (`Type/id`) anywhere in `v`.
pub fn references(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "reference" {
                    if let Some(s) = x.as_str() {
                        let mut parts = s.split('/');
                        if let (Some(t), Some(id), None) =
                            (parts.next(), parts.next(), parts.next())
                            && t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        {
                            out.push((t.to_string(), id.to_string()));
                        }
                    }
                } else {
                    references(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

/// The types of the relative references (`"reference":"Type/id"`) in one line of compact JSON.
pub fn referenced_types(line: &[u8], found: &mut dyn FnMut(&[u8])) {
    const KEY: &[u8] = b"\"reference\":";
    let mut rest = line;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[at + KEY.len()..];
        let value = rest.trim_ascii_start();
        let Some(value) = value.strip_prefix(b"\"") else {
            continue;
        };
        let end = value
            .iter()
            .position(|&c| !c.is_ascii_alphanumeric())
            .unwrap_or(value.len());
        if end > 0 && value[0].is_ascii_uppercase() && value.get(end) == Some(&b'/') {
            found(&value[..end]);
        }
    }
}

fn read_lines(
    path: &PathBuf,
    f: &mut dyn FnMut(Value) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    let bad = |message: String| LoadError::Output {
        path: path.clone(),
        message,
    };
    let mut r = ferry_fhir::NdjsonReader::open(path).map_err(|e| bad(e.to_string()))?;
    while let Some(line) = r.next_line().map_err(|e| bad(e.to_string()))? {
        let v: Value = line.parse().map_err(|e| bad(e.to_string()))?;
        f(v)?;
    }
    Ok(())
}

/// Loads the plan's files into `target`; see the module docs. Resumable: run again with the
/// same journal and it sends only what has no recorded answer.
pub fn load(
    target: &Target,
    plan: &LoadPlan,
    groups: Option<&dyn Groups>,
    on_event: &(dyn Fn(LoadEvent<'_>) + Sync),
) -> Result<LoadSummary, LoadError> {
    let started = Instant::now();
    let mut journal = Journal::open(&plan.journal)?;
    let started_at = journal
        .info("started_at")?
        .unwrap_or_else(|| plan.recorded.clone());
    let actor = journal.info("actor")?.unwrap_or_else(|| plan.actor.clone());
    // One commit: a kill leaves a journal that says all of this or nothing (`ferry loads`
    // shows the latter as not started; nothing was sent).
    journal.set_infos(&[
        ("run", &plan.run.to_string()),
        ("target", &target.name),
        ("base", &target.base),
        ("run_tag", &plan.run_tag),
        ("project_tag", &plan.project_tag),
        ("started_at", &started_at),
        ("actor", &actor),
        ("status", "loading"),
    ])?;

    // Pass 1: counts and which types reference which.
    on_event(LoadEvent::Phase {
        name: "reading the run",
        total: None,
    });
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut files_of: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (t, path) in &plan.files {
        files_of.entry(t.clone()).or_default().push(path.clone());
        edges.entry(t.clone()).or_default();
        // A scan of the text, not a parse: this pass only orders the types, and a false
        // sighting only adds an ordering edge.
        let bad = |message: String| LoadError::Output {
            path: path.clone(),
            message,
        };
        let mut r = ferry_fhir::NdjsonReader::open(path).map_err(|e| bad(e.to_string()))?;
        let e = edges.entry(t.clone()).or_default();
        while let Some(line) = r.next_line().map_err(|e| bad(e.to_string()))? {
            if line.bytes.is_empty() {
                continue;
            }
            *counts.entry(t.clone()).or_default() += 1;
            referenced_types(line.bytes, &mut |rt| {
                if rt != t.as_bytes() && !e.iter().any(|x| x.as_bytes() == rt) {
                    e.insert(String::from_utf8_lossy(rt).into_owned());
                }
            });
        }
    }
    // Only references to types in the run order the load.
    let known: BTreeSet<String> = edges.keys().cloned().collect();
    for deps in edges.values_mut() {
        deps.retain(|d| known.contains(d));
    }
    let order = type_order(&edges);
    let total: u64 = counts.values().sum();
    journal.set_info("resources", &total.to_string())?;

    // Groups that must land together: which resources they hold, and the type (in loading
    // order) after which they go.
    let mut members: std::collections::HashSet<u128> = std::collections::HashSet::new();
    let mut member_types: BTreeSet<String> = BTreeSet::new();
    if let Some(g) = groups {
        g.walk(&mut |group| {
            for (t, id) in &group {
                members.insert(member_key(t, id));
                if !member_types.contains(t) {
                    member_types.insert(t.clone());
                }
            }
            Ok(())
        })?;
    }
    let groups_after: Option<String> = order
        .iter()
        .rev()
        .find(|t| member_types.contains(*t))
        .cloned();
    let mut spool = match &groups_after {
        Some(_) => Some(Spool::create(&plan.journal)?),
        None => None,
    };

    let stats = Stats::default();
    let deadline = Instant::now() + Duration::from_secs(target.config.retry_for_secs);
    let journal = Mutex::new(journal);
    let tally = Mutex::new(Tally::default());
    let mut patients: Vec<String> = Vec::new();
    on_event(LoadEvent::Phase {
        name: "loading",
        total: Some(total + 1),
    });
    let size = target.config.bundle_size;
    let progress = |what: &str, n: u64| {
        let done = stats.done.fetch_add(n, Ordering::Relaxed) + n;
        let retries =
            stats.retries.load(Ordering::Relaxed) + stats.entry_retries.load(Ordering::Relaxed);
        if retries > 0 {
            on_event(LoadEvent::Message(&format!("{what}, {retries} retries")));
        }
        on_event(LoadEvent::Position(done));
    };
    for t in &order {
        on_event(LoadEvent::Message(t));
        let work = |chunk: Vec<Item>| -> Result<(), LoadError> {
            let n = chunk.len() as u64;
            load_chunk(
                target,
                &journal,
                chunk,
                deadline,
                &stats,
                &tally,
                &plan.cancel,
            )?;
            progress(t, n);
            Ok(())
        };
        if let Some(sp) = &spool {
            sp.batch("BEGIN")?;
        }
        pool(
            target.config.concurrency,
            &plan.cancel,
            &mut |send| {
                let mut chunk = Vec::with_capacity(size);
                for path in files_of.get(t).into_iter().flatten() {
                    read_lines(path, &mut |mut v| {
                        let id = v
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        if id.is_empty() {
                            return Err(LoadError::Output {
                                path: path.clone(),
                                message: format!("a {t} without an id; re-run `ferry run`"),
                            });
                        }
                        if t == "Patient" {
                            patients.push(id.clone());
                        }
                        fhir::tag(&mut v, &plan.project_tag, &plan.run_tag);
                        let expected = match &plan.prior {
                            Some(p) => p.written(t, &id)?,
                            None => None,
                        };
                        let item = Item::new(t, id, &v, expected)?;
                        if let Some(sp) = spool.as_mut()
                            && members.contains(&member_key(t, &item.id))
                        {
                            return sp.put(&item); // sent with its group
                        }
                        chunk.push(item);
                        if chunk.len() >= size {
                            send(std::mem::replace(&mut chunk, Vec::with_capacity(size)))?;
                        }
                        Ok(())
                    })?;
                }
                if !chunk.is_empty() {
                    send(chunk)?;
                }
                Ok(())
            },
            &work,
        )?;
        if let Some(sp) = &spool {
            sp.batch("COMMIT")?;
        }
        if groups_after.as_ref() == Some(t)
            && let (Some(g), Some(sp)) = (groups, spool.take())
        {
            on_event(LoadEvent::Message("groups, as transactions"));
            load_groups(
                target, plan, g, &sp, &journal, deadline, &stats, &tally, &progress,
            )?;
        }
    }

    // A delta's retired resources, by their modules' policies.
    if !plan.retire.is_empty() {
        on_event(LoadEvent::Message("retiring what no row makes any more"));
        for chunk in plan.retire.chunks(size.max(1)) {
            retire_chunk(
                target,
                plan.prior.as_ref(),
                &journal,
                chunk,
                deadline,
                &stats,
                &tally,
                &plan.cancel,
            )?;
        }
    }

    // The Provenance of this load: who, when, which run and snapshot, and its Patients.
    let provenance_id = format!("ferry-load-{}-{:04}", plan.project_tag, plan.load);
    let mut targets: Vec<Value> = patients
        .iter()
        .map(|id| json!({"reference": format!("Patient/{id}")}))
        .collect();
    if targets.is_empty()
        && let Some(t) = order.first()
    {
        // No Patients: the Provenance points at the first resource type's first resource.
        let mut first = None;
        if let Some(path) = files_of.get(t).and_then(|f| f.first()) {
            let _ = read_lines(path, &mut |v| {
                if first.is_none() {
                    first = v.get("id").and_then(Value::as_str).map(str::to_string);
                }
                Ok(())
            });
        }
        if let Some(id) = first {
            targets.push(json!({"reference": format!("{t}/{id}")}));
        }
    }
    let mut prov = json!({
        "resourceType": "Provenance",
        "id": provenance_id,
        "target": targets,
        "recorded": plan.recorded,
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE", "display": "create"}]},
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "performer"}]},
            "who": {"display": plan.actor}
        }, {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler"}]},
            "who": {"display": format!("Ferry {}", env!("CARGO_PKG_VERSION"))}
        }],
        "entity": [{
            "role": "source",
            "what": {
                "identifier": {"system": fhir::RUN_TAG, "value": plan.run_tag},
                "display": format!("Ferry run {} of snapshot {}", plan.run, plan.snapshot)
            }
        }]
    });
    fhir::tag(&mut prov, &plan.project_tag, &plan.run_tag);
    load_chunk(
        target,
        &journal,
        vec![Item::new("Provenance", provenance_id.clone(), &prov, None)?],
        deadline,
        &stats,
        &tally,
        &plan.cancel,
    )?;
    on_event(LoadEvent::Position(total + 1));

    let mut journal = journal
        .into_inner()
        .map_err(|_| LoadError::Other("the journal lock was poisoned".into()))?;
    let failures: Vec<(String, String, u16)> = journal
        .failures()?
        .into_iter()
        .map(|(t, id, s, _)| (t, id, s))
        .collect();
    journal.set_infos(&[
        (
            "status",
            if failures.is_empty() {
                "loaded"
            } else {
                "loaded-with-failures"
            },
        ),
        ("finished_at", &ferry_core::calendar::now_utc_rfc3339()),
    ])?;
    let conflicts = journal.conflicts()?;
    let tally = tally.into_inner().unwrap_or_default();
    Ok(LoadSummary {
        load: plan.load,
        run: plan.run,
        target: target.name.clone(),
        resources: total,
        sent: tally.sent,
        unchanged: tally.unchanged,
        already_done: tally.already,
        failed: failures.len() as u64,
        requests: stats.requests.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        entry_retries: stats.entry_retries.load(Ordering::Relaxed),
        grouped: members.len() as u64,
        transactions: stats.transactions.load(Ordering::Relaxed),
        duration_ms: started.elapsed().as_millis() as u64,
        journal: plan.journal.clone(),
        failures,
        conflicts,
        deleted: tally.deleted,
        marked_entered_in_error: tally.marked,
        provenance: provenance_id,
        types: order
            .iter()
            .map(|t| (t.clone(), counts.get(t).copied().unwrap_or(0)))
            .collect(),
    })
}

/// What a producer of chunks is handed: a `send` that fails once the load must stop.
type SendChunk<'a, C> = &'a mut dyn FnMut(C) -> Result<(), LoadError>;

/// Runs `work` on the chunks `produce` hands to its `send`, `concurrency` at a time. The first
/// error of a worker stops the producer (its `send` fails) and is the one returned.
fn pool<C: Send>(
    concurrency: usize,
    cancel: &ferry_core::Cancel,
    produce: &mut dyn FnMut(SendChunk<'_, C>) -> Result<(), LoadError>,
    work: &(dyn Fn(C) -> Result<(), LoadError> + Sync),
) -> Result<(), LoadError> {
    let failed: Mutex<Option<LoadError>> = Mutex::new(None);
    let (tx, rx) = std::sync::mpsc::sync_channel::<C>(concurrency);
    let rx = Mutex::new(rx);
    std::thread::scope(|scope| -> Result<(), LoadError> {
        for _ in 0..concurrency.max(1) {
            let (rx, failed) = (&rx, &failed);
            scope.spawn(move || {
                loop {
                    let chunk = match rx.lock() {
                        Ok(r) => match r.recv() {
                            Ok(c) => c,
                            Err(_) => break,
                        },
                        Err(_) => break,
                    };
                    if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        continue; // drain: a worker failed, the load stops
                    }
                    if let Err(e) = work(chunk)
                        && let Ok(mut f) = failed.lock()
                    {
                        f.get_or_insert(e);
                    }
                }
            });
        }
        let result = produce(&mut |c: C| {
            if failed.lock().map(|f| f.is_some()).unwrap_or(true) || cancel.is_cancelled() {
                return Err(LoadError::Cancelled);
            }
            tx.send(c)
                .map_err(|_| LoadError::Other("a loading worker stopped".into()))
        });
        drop(tx);
        result
    })
    .or_else(|e| match e {
        // A worker's error is the one to report; `Cancelled` here only stopped the producer.
        LoadError::Cancelled => Ok(()),
        other => Err(other),
    })?;
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancel.is_cancelled() {
        return Err(LoadError::Cancelled);
    }
    Ok(())
}

/// Sends the groups as transaction Bundles of whole groups (up to `bundle_size` entries; a
/// larger group goes alone), `concurrency` at a time.
#[allow(clippy::too_many_arguments)]
fn load_groups(
    target: &Target,
    plan: &LoadPlan,
    groups: &dyn Groups,
    spool: &Spool,
    journal: &Mutex<Journal>,
    deadline: Instant,
    stats: &Stats,
    tally: &Mutex<Tally>,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<(), LoadError> {
    let size = target.config.bundle_size;
    let mut claimed = 0u64;
    let work = |chunk: Vec<Vec<Item>>| -> Result<(), LoadError> {
        let n = chunk.iter().map(|g| g.len() as u64).sum();
        load_tx_chunk(target, journal, chunk, deadline, stats, tally, &plan.cancel)?;
        progress("groups", n);
        Ok(())
    };
    pool(
        target.config.concurrency,
        &plan.cancel,
        &mut |send| {
            let mut pending: Vec<Vec<Item>> = Vec::new();
            let mut entries = 0usize;
            groups.walk(&mut |group| {
                let mut items = Vec::with_capacity(group.len());
                for (t, id) in &group {
                    match spool.get(t, id)? {
                        Some(item) => items.push(item),
                        None => {
                            return Err(LoadError::Other(format!(
                                "run {}'s lineage names {t}/{id}, which its output files do not hold; re-run `ferry run`",
                                plan.run
                            )));
                        }
                    }
                }
                claimed += items.len() as u64;
                if entries + items.len() > size && !pending.is_empty() {
                    send(std::mem::take(&mut pending))?;
                    entries = 0;
                }
                entries += items.len();
                pending.push(items);
                Ok(())
            })?;
            if !pending.is_empty() {
                send(pending)?;
            }
            Ok(())
        },
        &work,
    )?;
    if claimed != spool.held {
        // Only a collision of two 128-bit member keys could do this; never lose the rest.
        return Err(LoadError::Other(format!(
            "{} resources were held for groups but {claimed} were sent in them; `ferry load --resume` sends the rest",
            spool.held
        )));
    }
    Ok(())
}

/// As [`load_chunk`], for whole groups sent in transaction Bundles.
fn load_tx_chunk(
    target: &Target,
    journal: &Mutex<Journal>,
    groups: Vec<Vec<Item>>,
    deadline: Instant,
    stats: &Stats,
    tally: &Mutex<Tally>,
    cancel: &ferry_core::Cancel,
) -> Result<(), LoadError> {
    if cancel.is_cancelled() {
        return Err(LoadError::Cancelled);
    }
    let flat: Vec<(usize, &Item)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, items)| items.iter().map(move |i| (g, i)))
        .collect();
    let mut send: Vec<Vec<&Item>> = vec![Vec::new(); groups.len()];
    let mut known: Vec<&Item> = Vec::new();
    let mut new: Vec<(usize, &Item)> = Vec::new();
    let (mut already, mut failed_before, mut unchanged) = (0u64, 0u64, 0u64);
    {
        let keys: Vec<(&str, &str)> = flat
            .iter()
            .map(|(_, i)| (i.resource_type.as_str(), i.id.as_str()))
            .collect();
        let found = lock(journal)?.get_many(&keys)?;
        for (&(g, item), entry) in flat.iter().zip(found) {
            match entry {
                Some(e)
                    if e.hash == item.hash && matches!(e.state, State::Done | State::Unchanged) =>
                {
                    already += 1
                }
                Some(e) if e.hash == item.hash && e.state == State::Failed => failed_before += 1,
                Some(_) => {
                    known.push(item);
                    send[g].push(item);
                }
                None => new.push((g, item)),
            }
        }
    }
    if !new.is_empty() {
        let items: Vec<&Item> = new.iter().map(|(_, i)| *i).collect();
        let pres = pre_images(target, &items, deadline, stats, cancel)?;
        let mut rows = Vec::with_capacity(new.len());
        for (&(g, item), pre) in new.iter().zip(pres) {
            let same = matches!(&pre, PreImage::Present { hash, .. } if *hash == item.hash);
            let state = if same {
                unchanged += 1;
                State::Unchanged
            } else {
                send[g].push(item);
                State::Intent
            };
            rows.push((
                item.resource_type.as_str(),
                item.id.as_str(),
                item.hash.as_str(),
                pre,
                state,
            ));
        }
        lock(journal)?.record_pre_images(&rows)?;
    }
    if !known.is_empty() {
        let intents: Vec<(&str, &str, &str)> = known
            .iter()
            .map(|i| (i.resource_type.as_str(), i.id.as_str(), i.hash.as_str()))
            .collect();
        lock(journal)?.mark_intent(&intents)?;
    }
    send.retain(|g| !g.is_empty());
    let sent: u64 = send.iter().map(|g| g.len() as u64).sum();
    let failed = if send.is_empty() {
        0
    } else {
        send_transaction(target, journal, &send, deadline, stats, cancel)?
    };
    if let Ok(mut t) = tally.lock() {
        t.sent += sent - failed;
        t.unchanged += unchanged;
        t.already += already;
        t.failed += failed + failed_before;
    }
    Ok(())
}

/// Sends `groups` in one transaction and records the outcome; a refused transaction of several
/// groups is sent again one group at a time. Returns how many resources were refused.
fn send_transaction(
    target: &Target,
    journal: &Mutex<Journal>,
    groups: &[Vec<&Item>],
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<u64, LoadError> {
    let items: Vec<&Item> = groups.iter().flatten().copied().collect();
    let entries: Vec<&[u8]> = items.iter().map(|i| i.entry.as_slice()).collect();
    stats.transactions.fetch_add(1, Ordering::Relaxed);
    match fhir::transaction_raw(target, &entries, deadline, stats, cancel)? {
        fhir::TxAnswer::Committed(answers) => {
            let mut failed = 0u64;
            let outcomes: Vec<_> = items
                .iter()
                .zip(answers)
                .map(|(item, a)| match a {
                    // A transaction is all or nothing: a committed one wrote every entry.
                    Some(a) if !(200..300).contains(&a.status) => {
                        failed += 1;
                        (
                            item.resource_type.as_str(),
                            item.id.as_str(),
                            State::Failed,
                            a.status,
                            None,
                            a.outcome.map(|o| o.to_string()),
                        )
                    }
                    Some(a) => (
                        item.resource_type.as_str(),
                        item.id.as_str(),
                        State::Done,
                        a.status,
                        a.version,
                        None,
                    ),
                    None => (
                        item.resource_type.as_str(),
                        item.id.as_str(),
                        State::Done,
                        200,
                        None,
                        None,
                    ),
                })
                .collect();
            lock(journal)?.record_outcomes(&outcomes)?;
            Ok(failed)
        }
        fhir::TxAnswer::Refused { .. } if groups.len() > 1 => {
            let mut failed = 0;
            for g in groups {
                failed += send_transaction(
                    target,
                    journal,
                    std::slice::from_ref(g),
                    deadline,
                    stats,
                    cancel,
                )?;
            }
            Ok(failed)
        }
        fhir::TxAnswer::Refused { status, outcome } => {
            let outcome = outcome.map(|o| o.to_string());
            let outcomes: Vec<_> = items
                .iter()
                .map(|item| {
                    (
                        item.resource_type.as_str(),
                        item.id.as_str(),
                        State::Failed,
                        status,
                        None,
                        outcome.clone(),
                    )
                })
                .collect();
            lock(journal)?.record_outcomes(&outcomes)?;
            Ok(items.len() as u64)
        }
    }
}

fn lock<'a>(j: &'a Mutex<Journal>) -> Result<std::sync::MutexGuard<'a, Journal>, LoadError> {
    j.lock()
        .map_err(|_| LoadError::Other("the journal lock was poisoned".into()))
}

/// Reads the pre-images of `items`.
fn pre_images(
    target: &Target,
    items: &[&Item],
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Vec<PreImage>, LoadError> {
    let paths: Vec<String> = items
        .iter()
        .map(|i| format!("{}/{}", i.resource_type, i.id))
        .collect();
    Ok(fhir::read_many(target, &paths, deadline, stats, cancel)?
        .into_iter()
        .map(|f| match f {
            Found::Resource(r) => PreImage::Present {
                version: r
                    .pointer("/meta/versionId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                hash: fhir::content_hash(&r),
                json: serde_json::to_vec(&r).unwrap_or_default(),
            },
            Found::Absent => PreImage::Absent,
            Found::Deleted => PreImage::Deleted,
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn load_chunk(
    target: &Target,
    journal: &Mutex<Journal>,
    chunk: Vec<Item>,
    deadline: Instant,
    stats: &Stats,
    tally: &Mutex<Tally>,
    cancel: &ferry_core::Cancel,
) -> Result<(), LoadError> {
    if cancel.is_cancelled() {
        return Err(LoadError::Cancelled);
    }
    let mut send: Vec<&Item> = Vec::new();
    let mut new: Vec<&Item> = Vec::new();
    let (mut already, mut failed_before, mut conflicts) = (0u64, 0u64, 0u64);
    {
        let keys: Vec<(&str, &str)> = chunk
            .iter()
            .map(|i| (i.resource_type.as_str(), i.id.as_str()))
            .collect();
        let found = lock(journal)?.get_many(&keys)?;
        for (item, entry) in chunk.iter().zip(found) {
            match entry {
                Some(e)
                    if e.hash == item.hash && matches!(e.state, State::Done | State::Unchanged) =>
                {
                    already += 1
                }
                // Refused before, and unchanged since: never resent unchanged.
                Some(e) if e.hash == item.hash && e.state == State::Failed => failed_before += 1,
                // Changed on the server since Ferry's last write: it waits for review.
                Some(e) if e.state == State::Conflict => conflicts += 1,
                Some(_) => send.push(item),
                None => new.push(item),
            }
        }
    }
    let mut unchanged = 0u64;
    // Entries already in the journal get their intent marked below; new ones get it with
    // their pre-image, in the same commit.
    let known = send.len();
    if !new.is_empty() {
        let pres = pre_images(target, &new, deadline, stats, cancel)?;
        let mut rows = Vec::with_capacity(new.len());
        for (item, pre) in new.iter().zip(pres) {
            let same = matches!(&pre, PreImage::Present { hash, .. } if *hash == item.hash);
            // Ferry wrote this id before: the server must still hold what Ferry left there.
            let edited = item.expected.as_ref().is_some_and(|w| match &pre {
                PreImage::Present { hash, .. } => *hash != w.hash,
                PreImage::Absent | PreImage::Deleted => true,
            });
            let state = if same {
                unchanged += 1;
                State::Unchanged
            } else if edited {
                conflicts += 1;
                State::Conflict
            } else {
                send.push(item);
                State::Intent
            };
            rows.push((
                item.resource_type.as_str(),
                item.id.as_str(),
                item.hash.as_str(),
                pre,
                state,
            ));
        }
        lock(journal)?.record_pre_images(&rows)?;
    }
    let sent = send.len() as u64;
    let mut failed = 0u64;
    let mut refused_412 = 0u64;
    let mut attempt = 0u32;
    while !send.is_empty() {
        let marked = if attempt == 0 {
            &send[..known]
        } else {
            &send[..]
        };
        if !marked.is_empty() {
            let intents: Vec<(&str, &str, &str)> = marked
                .iter()
                .map(|i| (i.resource_type.as_str(), i.id.as_str(), i.hash.as_str()))
                .collect();
            lock(journal)?.mark_intent(&intents)?;
        }
        let entries: Vec<&[u8]> = send.iter().map(|i| i.entry.as_slice()).collect();
        let answers = fhir::batch_raw(target, &entries, false, deadline, stats, cancel)?;
        let mut outcomes = Vec::new();
        let mut again: Vec<&Item> = Vec::new();
        for (item, answer) in send.iter().zip(answers) {
            match answer {
                Some(a) if (200..300).contains(&a.status) => outcomes.push((
                    item.resource_type.as_str(),
                    item.id.as_str(),
                    State::Done,
                    a.status,
                    a.version,
                    None,
                )),
                // `If-Match` failed: changed on the server between the pre-image and the write.
                Some(a) if a.status == 412 && item.expected.is_some() => {
                    conflicts += 1;
                    refused_412 += 1;
                    outcomes.push((
                        item.resource_type.as_str(),
                        item.id.as_str(),
                        State::Conflict,
                        a.status,
                        None,
                        a.outcome.map(|o| o.to_string()),
                    ))
                }
                Some(a) if !retryable(a.status) => {
                    failed += 1;
                    outcomes.push((
                        item.resource_type.as_str(),
                        item.id.as_str(),
                        State::Failed,
                        a.status,
                        None,
                        a.outcome.map(|o| o.to_string()),
                    ))
                }
                _ => again.push(item),
            }
        }
        lock(journal)?.record_outcomes(&outcomes)?;
        if again.is_empty() {
            break;
        }
        attempt += 1;
        stats
            .entry_retries
            .fetch_add(again.len() as u64, Ordering::Relaxed);
        fhir::wait_to_retry(
            target,
            attempt,
            format!("{} entries answered 429/5xx", again.len()),
            deadline,
            cancel,
        )?;
        send = again;
    }
    if let Ok(mut t) = tally.lock() {
        t.sent += sent - failed - refused_412;
        t.unchanged += unchanged;
        t.already += already;
        t.failed += failed + failed_before;
        t.conflicts += conflicts;
    }
    Ok(())
}

/// Applies one chunk of a delta's retired resources: each that an earlier load wrote and the
/// server still holds as Ferry left it is deleted or marked entered-in-error, with `If-Match`;
/// one edited on the server since is a conflict; one already gone needs nothing. Journalled as
/// every write is (pre-image and intent before the request, the answer after), so it resumes
/// and rolls back.
#[allow(clippy::too_many_arguments)]
fn retire_chunk(
    target: &Target,
    prior: Option<&crate::journal::PriorLoads>,
    journal: &Mutex<Journal>,
    chunk: &[Retire],
    deadline: Instant,
    stats: &Stats,
    tally: &Mutex<Tally>,
    cancel: &ferry_core::Cancel,
) -> Result<(), LoadError> {
    if cancel.is_cancelled() {
        return Err(LoadError::Cancelled);
    }
    let Some(prior) = prior else {
        return Ok(());
    };
    // What an earlier load of this target wrote: only that is retired.
    let mut todo: Vec<(&Retire, crate::journal::Written)> = Vec::new();
    {
        let keys: Vec<(&str, &str)> = chunk
            .iter()
            .map(|r| (r.resource_type.as_str(), r.id.as_str()))
            .collect();
        let found = lock(journal)?.get_many(&keys)?;
        for (r, entry) in chunk.iter().zip(found) {
            if entry.is_some() {
                continue; // decided by an earlier invocation of this load (a resume)
            }
            if let Some(w) = prior.written(&r.resource_type, &r.id)? {
                todo.push((r, w));
            }
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    let paths: Vec<String> = todo
        .iter()
        .map(|(r, _)| format!("{}/{}", r.resource_type, r.id))
        .collect();
    let found = fhir::read_many(target, &paths, deadline, stats, cancel)?;
    let mut rows: Vec<(String, String, String, PreImage, State)> = Vec::new();
    let mut send: Vec<(&Retire, Vec<u8>)> = Vec::new();
    let mut conflicts = 0u64;
    for ((r, w), f) in todo.iter().zip(found) {
        let url = format!("{}/{}", r.resource_type, r.id);
        let (pre, server) = match f {
            Found::Resource(v) => (
                PreImage::Present {
                    version: v
                        .pointer("/meta/versionId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    hash: fhir::content_hash(&v),
                    json: serde_json::to_vec(&v).unwrap_or_default(),
                },
                Some(v),
            ),
            Found::Absent => (PreImage::Absent, None),
            Found::Deleted => (PreImage::Deleted, None),
        };
        let Some(mut body) = server else {
            // Already gone from the target: nothing to retire.
            rows.push((
                r.resource_type.clone(),
                r.id.clone(),
                DELETED_HASH.into(),
                pre,
                State::Unchanged,
            ));
            continue;
        };
        if !matches!(&pre, PreImage::Present { hash, .. } if *hash == w.hash) {
            conflicts += 1;
            rows.push((
                r.resource_type.clone(),
                r.id.clone(),
                w.hash.clone(),
                pre,
                State::Conflict,
            ));
            continue;
        }
        let if_match = w
            .version
            .as_deref()
            .map(|v| format!("W/\"{v}\""))
            .unwrap_or_default();
        let (hash, entry) = match r.policy {
            RetirePolicy::Delete => (
                DELETED_HASH.to_string(),
                json!({"request": {"method": "DELETE", "url": url, "ifMatch": if_match}}),
            ),
            RetirePolicy::EnteredInError => {
                if let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) {
                    meta.remove("versionId");
                    meta.remove("lastUpdated");
                }
                if !mark_entered_in_error(&mut body) {
                    return Err(LoadError::Other(format!(
                        "{url}: a {} has no entered-in-error status; its module's `deleted` policy must be \"delete\" or \"report\"",
                        r.resource_type
                    )));
                }
                (
                    fhir::content_hash(&body),
                    json!({"fullUrl": url, "resource": body, "request": {"method": "PUT", "url": url, "ifMatch": if_match}}),
                )
            }
        };
        rows.push((
            r.resource_type.clone(),
            r.id.clone(),
            hash,
            pre,
            State::Intent,
        ));
        send.push((r, serde_json::to_vec(&entry).unwrap_or_default()));
    }
    {
        let refs: Vec<(&str, &str, &str, PreImage, State)> = rows
            .iter()
            .map(|(t, i, h, p, s)| (t.as_str(), i.as_str(), h.as_str(), p.clone(), *s))
            .collect();
        lock(journal)?.record_pre_images(&refs)?;
    }
    let (mut deleted, mut marked) = (0u64, 0u64);
    let mut attempt = 0u32;
    let mut pending: Vec<&(&Retire, Vec<u8>)> = send.iter().collect();
    while !pending.is_empty() {
        let entries: Vec<&[u8]> = pending.iter().map(|(_, e)| e.as_slice()).collect();
        let answers = fhir::batch_raw(target, &entries, false, deadline, stats, cancel)?;
        let mut outcomes = Vec::new();
        let mut again = Vec::new();
        for (item, answer) in pending.iter().zip(answers) {
            let (r, _) = item;
            match answer {
                Some(a) if (200..300).contains(&a.status) => {
                    match r.policy {
                        RetirePolicy::Delete => deleted += 1,
                        RetirePolicy::EnteredInError => marked += 1,
                    }
                    outcomes.push((
                        r.resource_type.as_str(),
                        r.id.as_str(),
                        State::Done,
                        a.status,
                        a.version,
                        None,
                    ));
                }
                Some(a) if a.status == 412 => {
                    conflicts += 1;
                    outcomes.push((
                        r.resource_type.as_str(),
                        r.id.as_str(),
                        State::Conflict,
                        a.status,
                        None,
                        a.outcome.map(|o| o.to_string()),
                    ));
                }
                Some(a) if !retryable(a.status) => outcomes.push((
                    r.resource_type.as_str(),
                    r.id.as_str(),
                    State::Failed,
                    a.status,
                    None,
                    a.outcome.map(|o| o.to_string()),
                )),
                _ => again.push(*item),
            }
        }
        lock(journal)?.record_outcomes(&outcomes)?;
        if again.is_empty() {
            break;
        }
        attempt += 1;
        stats
            .entry_retries
            .fetch_add(again.len() as u64, Ordering::Relaxed);
        fhir::wait_to_retry(
            target,
            attempt,
            format!("{} retirements answered 429/5xx", again.len()),
            deadline,
            cancel,
        )?;
        pending = again;
    }
    if let Ok(mut t) = tally.lock() {
        t.conflicts += conflicts;
        t.deleted += deleted;
        t.marked += marked;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_types_come_first_and_cycles_do_not_hang() {
        let mut e: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut add = |a: &str, b: &[&str]| {
            e.insert(a.into(), b.iter().map(|s| s.to_string()).collect());
        };
        add("Observation", &["Patient", "Encounter"]);
        add("Encounter", &["Patient", "Practitioner"]);
        add("Patient", &["Organization"]);
        add("Organization", &["Organization"]);
        add("Practitioner", &[]);
        add("A", &["B"]);
        add("B", &["A"]);
        let order = type_order(&e);
        let pos = |t: &str| order.iter().position(|x| x == t).unwrap();
        assert!(pos("Organization") < pos("Patient"));
        assert!(pos("Patient") < pos("Encounter"));
        assert!(pos("Practitioner") < pos("Encounter"));
        assert!(pos("Encounter") < pos("Observation"));
        assert_eq!(order.len(), 7);
    }

    #[test]
    fn referenced_types_are_read_off_the_text() {
        let line = br##"{"a":{"reference":"Patient/1"},"b":[{"reference": "Encounter/x-2"}],"c":{"reference":"http://h/Patient/3"},"d":{"reference":"#c"},"e":"reference"}"##;
        let mut found = Vec::new();
        referenced_types(line, &mut |t| {
            found.push(String::from_utf8_lossy(t).into_owned())
        });
        assert_eq!(found, vec!["Patient", "Encounter"]);
    }

    #[test]
    fn references_are_found_anywhere_and_only_relative_ones() {
        let v = json!({"subject": {"reference": "Patient/1"}, "x": [{"y": {"reference": "Encounter/2"}}],
            "z": {"reference": "http://other/Patient/3"}, "w": {"reference": "#contained"}});
        let mut out = Vec::new();
        references(&v, &mut out);
        out.sort();
        assert_eq!(
            out,
            vec![
                ("Encounter".to_string(), "2".to_string()),
                ("Patient".to_string(), "1".to_string())
            ]
        );
    }
}
