//! The run engine: every source row of every module through its mapping, each produced resource
//! validated against FHIR R4, written as NDJSON, and accounted for in the ledger.
//!
//! Per module a reader thread streams the module's query from the snapshot in batches, worker
//! threads evaluate, validate and serialize them, and the calling thread writes the results in
//! batch order, so the output is byte-identical whatever the thread timing. Every source row ends
//! as exactly one of migrated (with its resources' ids), excluded by a named rule, or an exception;
//! a module whose books do not balance fails the run.
//!
//! Every source row's content hash is recorded (`source_row`). A delta run (`RunOptions::base`)
//! compares each row with its base run by module, key and that hash: the reader thread looks the
//! key up in the base ([`ferry_store::DeltaBase`]); a discrete module's unchanged row is carried
//! over without being evaluated or written, a summary module's rows are evaluated and carried
//! when what they made is what the base made; the base's keys the snapshot no longer has are
//! recorded as deleted, with the module's `deleted` policy.

use ferry_core::{Value, ValueRef};
use ferry_map::{
    Diagnostic, Evaluated, Merges, Module, RowOutcome, RowSchema, RowView, dependency_order,
    reader_query,
};
use ferry_store::{
    DecisionUse, DeltaBase, ModuleBooks, PriorRow, RunOutput, RunSpec, SnapshotReader, StoreError,
    Workspace,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

mod shape;

/// Rows per batch between the threads.
const BATCH: usize = 512;

/// Most rows one patient may have in one summary document; the rest of that patient's rows are
/// exceptions asking for the module to be split (a patient's rows are held together in memory).
pub const MAX_SUMMARY_ROWS: usize = 20_000;

/// Where a project keeps its mappings and concept maps, and where this run writes.
#[derive(Debug, Clone)]
pub struct ProjectDirs {
    pub mappings: PathBuf,
    pub concept_maps: PathBuf,
    /// The run's own output folder: must not exist; it appears, whole, when the run finishes
    /// (the operations layer names it `output/run-NNNN` and publishes it).
    pub output: PathBuf,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `iteration`, `rehearsal` or `go-live`.
    pub kind: String,
    pub snapshot: Option<u64>,
    /// Only these modules (by name); all when `None`.
    pub modules: Option<Vec<String>>,
    /// The project's namespace for resource ids.
    pub namespace: uuid::Uuid,
    /// The project settings the mappings load with: where legacy local times without a zone
    /// go (`local_offset` or `time_zone`) and the project's own systems (`system_base`).
    pub settings: ferry_map::Settings,
    pub threads: usize,
    /// Also write FHIR transaction Bundles of at most this many entries (`bundles/` in the
    /// output folder).
    pub bundle_size: Option<usize>,
    /// Accepted duplicate-patient merges to apply.
    pub merges: Option<Merges>,
    /// The run's id, reserved by the caller under the project lock (`Workspace::next_run_id`).
    pub run_id: Option<u64>,
    /// The output folder as the ledger records it (relative to the project root); default: the
    /// folder's path as given.
    pub recorded_output: Option<String>,
    /// Polled between batches: a cancelled run records nothing and leaves no output.
    pub cancel: ferry_core::Cancel,
    /// A delta run: the run it is compared with (the caller checks that its mappings are the
    /// same).
    pub base: Option<u64>,
}

/// Progress, for a bar.
pub enum RunEvent<'a> {
    ModuleStarted { module: &'a str },
    Rows(u64),
}

#[derive(Debug, serde::Serialize)]
pub struct RunSummary {
    pub run: u64,
    pub snapshot: u64,
    pub output_dir: String,
    pub duration_ms: u64,
    pub modules: Vec<ModuleBooks>,
    pub outputs: Vec<RunOutput>,
    /// Transaction Bundles written beside the NDJSON (when asked for), in load order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bundles: Vec<ferry_fhir::BundleFile>,
    /// How often each reviewer decision was applied; `rows == 0`: it matched nothing.
    pub decisions: Vec<DecisionUse>,
    /// A delta run's base run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<u64>,
    /// A delta run: the resources no row makes any more (deleted rows', and those changed rows
    /// no longer make), by their modules' `deleted` policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired: Option<ferry_store::Retired>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the mappings have {} error(s); nothing was run. Fix them (run `ferry check`) and run again:\n{}", .0.len(), render(.0))]
    Diagnostics(Vec<Diagnostic>),
    #[error("no module named `{0}` in mappings/. Modules: {1}")]
    UnknownModule(String, String),
    #[error("no modules in `{0}`. Write one (see docs/mapping.md) or copy a library's modules")]
    NoModules(PathBuf),
    #[error(
        "module `{module}`: the books do not balance: {source_rows} source rows but {unchanged} unchanged + {migrated} migrated + {excluded} excluded + {exceptions} exceptions. This is a Ferry bug; the run is recorded as failed"
    )]
    Unbalanced {
        module: String,
        source_rows: u64,
        unchanged: u64,
        migrated: u64,
        excluded: u64,
        exceptions: u64,
    },
    #[error("module `{module}`: its query failed: {source}")]
    Query {
        module: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the output failed: {0}")]
    Output(#[from] ferry_fhir::NdjsonError),
    #[error("a worker thread stopped unexpectedly: {0}")]
    Worker(String),
    #[error("the run was cancelled; nothing was recorded and no output was written")]
    Cancelled,
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("  {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Loads the project's modules with the resource ids of this namespace (`ferry_map::load_modules`
/// with `ferry_fhir::id_fn`), for callers that have the project's namespace rather than an id
/// function.
pub fn load_modules(
    dirs: &ProjectDirs,
    namespace: uuid::Uuid,
    settings: impl Into<ferry_map::Settings>,
) -> (Vec<Module>, Vec<Diagnostic>) {
    ferry_map::load_modules(
        &dirs.mappings,
        &dirs.concept_maps,
        ferry_fhir::id_fn(namespace),
        settings,
    )
}

/// `ferry check`: loads every module (with the project's settings, as the run does) and
/// checks it against the snapshot ([`check_modules`]); returns the number of module files found
/// (loaded or not) and every diagnostic (errors and warnings), all at once. With `only`, just
/// the module files of those names are counted and checked (modules they `ref` need only
/// exist), and a name with no module file is an error naming the modules there are.
pub fn check(
    ws: &Workspace,
    dirs: &ProjectDirs,
    snapshot: Option<u64>,
    namespace: uuid::Uuid,
    settings: impl Into<ferry_map::Settings>,
    only: Option<&[String]>,
) -> Result<(usize, Vec<Diagnostic>), RunError> {
    let files = ferry_map::module_files(&dirs.mappings).unwrap_or_default();
    // A module file's name as `parse_module` reads it (`x.toml`, `x.module.toml`).
    let stem = |p: &Path| {
        let s = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        s.strip_suffix(".module").unwrap_or(s).to_string()
    };
    if let Some(wanted) = only {
        for w in wanted {
            if !files.iter().any(|f| stem(f) == *w) {
                let all: Vec<String> = files.iter().map(|f| stem(f)).collect();
                return Err(RunError::UnknownModule(w.clone(), all.join(", ")));
            }
        }
    }
    let (mut modules, mut diags) = load_modules(dirs, namespace, settings);
    let mut found = if files.is_empty() {
        modules.len()
    } else {
        files.len()
    };
    if let Some(wanted) = only {
        // Diagnostics of the other module files go; those of concept maps and settings stay.
        let others: Vec<String> = files
            .iter()
            .filter(|f| !wanted.contains(&stem(f)))
            .map(|f| f.display().to_string())
            .collect();
        diags.retain(|d| !others.contains(&d.file));
        modules.retain(|m| wanted.contains(&m.name));
        found = wanted.len();
    }
    let reader = ws.open_snapshot(snapshot)?;
    diags.extend(check_modules(&reader, &modules));
    Ok((found, diags))
}

/// The checks a loaded module must pass against a snapshot before any data moves; `ferry check`
/// reports them and `ferry run` refuses to start on any error among them. Per module: its
/// resource types are R4 resource types and every required element has a field; every field
/// path is an R4 element of the right cardinality and every constant has its element's type
/// (`Module::check_elements`); a `datetime` without a configured zone is a warning
/// (`Module::check_time_zone`); its query runs
/// and returns every column the module names; and its key identifies one row
/// ([`duplicate_key`]).
pub fn check_modules(reader: &SnapshotReader, modules: &[Module]) -> Vec<Diagnostic> {
    let validator = ferry_fhir::Validator::r4();
    let required = |ty: &str| validator.knows(ty).then(|| validator.required_elements(ty));
    let mut diags = Vec::new();
    for m in modules {
        diags.extend(m.check_required(&required));
        diags.extend(m.check_elements());
        diags.extend(m.check_time_zone());
        let cols = match reader.columns_of(&m.source.query) {
            Ok(cols) => cols,
            Err(e) => {
                diags.push(Diagnostic {
                    file: m.file.clone(),
                    line: 0,
                    column: 0,
                    severity: ferry_map::Severity::Error,
                    message: format!(
                        "the source query does not run on snapshot {}: {e}",
                        reader.id()
                    ),
                });
                continue;
            }
        };
        diags.extend(m.check_columns(&cols));
        if m.source.key.iter().all(|k| cols.contains(k)) {
            diags.extend(duplicate_key(reader, m));
        }
    }
    diags
}

/// A key value two rows of the module's query share, as an error naming the module, the key
/// and both rows' 1-based positions in the query; `None` when every key identifies one row.
/// SQLite groups the query's keys (`Module::duplicate_key_query`, one pass); only when it finds
/// a shared key does a second pass read the rows, in the query's order, through
/// `Module::row_key` itself until two of them have it.
pub fn duplicate_key(reader: &SnapshotReader, module: &Module) -> Option<Diagnostic> {
    let mut candidates = Vec::new();
    let sql = module.duplicate_key_query();
    let grouped = reader.query_rows(&sql, &mut |_, row| {
        if let Some(ValueRef::Text(k)) = row.first() {
            candidates.push((*k).to_string());
        }
        // SQLite's text of a floating-point key can differ from `row_key`'s: keep a few
        // candidates in case the first is not confirmed.
        candidates.len() < 8
    });
    if let Err(e) = grouped {
        return Some(module.key_error(format!(
            "module `{}`: the check that its key identifies one row failed on snapshot {}: {e}",
            module.name,
            reader.id()
        )));
    }
    for key in candidates {
        let mut rows: Vec<u64> = Vec::with_capacity(2);
        let mut schema: Option<Arc<RowSchema>> = None;
        let mut n = 0u64;
        let read = reader.query_rows(&module.source.query, &mut |names, values| {
            n += 1;
            let schema = schema.get_or_insert_with(|| RowSchema::new(names.iter().cloned()));
            let view = RowView { schema, values };
            if module.row_key(&view).is_ok_and(|k| k == key) {
                rows.push(n);
            }
            rows.len() < 2
        });
        if read.is_err() {
            continue;
        }
        if let [a, b] = rows[..] {
            // Never a PHI value (an SSN, an MRN) in an error: the rows' positions say which.
            let phi = module.source.key.iter().find(|c| {
                ferry_profile::phi::classify(&ferry_profile::phi::PhiInput {
                    table: "",
                    column: c,
                    inferred: ferry_profile::model::InferredType::Text,
                    formats: &[],
                    mean_len: None,
                    person_table: false,
                })
                .is_some()
            });
            let shown = match phi {
                Some(c) => format!("(withheld: `{c}` holds PHI)"),
                None => format!("`{key}`"),
            };
            return Some(module.key_error(format!(
                "module `{}`: key {shown} is not unique: rows {a} and {b} of the module's query both have it. A module's key must identify one row; add a column to `key = [...]`",
                module.name
            )));
        }
    }
    None
}

/// A batch of source rows on its way to the workers: (sequence number, columns, rows). For a
/// summary module a batch holds whole patients, except rows past [`MAX_SUMMARY_ROWS`], which
/// travel alone in batches flagged `overflow`.
struct WorkBatch {
    seq: u64,
    schema: Arc<RowSchema>,
    rows: Vec<Vec<Value>>,
    overflow: bool,
}

/// A worker's results for one batch, with each row's content hash and, in a delta, what the
/// base recorded of its key (`None`: a new key; empty outside a delta).
struct Done {
    seq: u64,
    results: Vec<RowResult>,
    shas: Vec<[u8; 16]>,
    priors: Vec<Option<PriorRow>>,
    /// A lookup in the base failed: the run stops with it.
    error: Option<StoreError>,
}

/// The resource a row produced: (resource type, id, canonical bytes, sha256).
type Produced = (String, String, Vec<u8>, String);

/// One problem of an exception row: (resource type, path, reason, raw value).
type ExceptionRecord = (Option<String>, Option<String>, String, Option<String>);

/// What one source row became, computed on a worker thread.
enum RowResult {
    Migrated {
        key: String,
        resources: Vec<Produced>,
        /// Resources this row went into that another row writes (a summary document):
        /// (resource type, id, sha256), for lineage only.
        shared: Vec<(String, String, String)>,
        /// The reviewers' decisions that changed the row (indexes into the module's).
        decisions: Vec<u32>,
    },
    Excluded {
        key: String,
        rule: String,
        reason: String,
    },
    Exception {
        key: String,
        errors: Vec<ExceptionRecord>,
    },
    /// A delta run: a discrete module's row unchanged since the base, not evaluated.
    Carried { key: String },
}

/// Runs the project's modules over a snapshot into `dirs.output` and records the run.
pub fn run(
    ws: &mut Workspace,
    dirs: &ProjectDirs,
    opts: &RunOptions,
    on_event: &dyn Fn(RunEvent<'_>),
) -> Result<RunSummary, RunError> {
    let started = std::time::Instant::now();
    let (mut modules, diags) = ferry_map::load_modules_with(
        &dirs.mappings,
        &dirs.concept_maps,
        ferry_fhir::id_fn(opts.namespace),
        opts.settings.clone(),
        opts.merges.as_ref(),
    );
    let mut errors: Vec<Diagnostic> = diags.into_iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        if modules.is_empty() {
            return Err(RunError::NoModules(dirs.mappings.clone()));
        }
        if let Some(wanted) = &opts.modules {
            for w in wanted {
                if !modules.iter().any(|m| &m.name == w) {
                    let all: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
                    return Err(RunError::UnknownModule(w.clone(), all.join(", ")));
                }
            }
        }
    }
    if let Some(wanted) = &opts.modules {
        modules.retain(|m| wanted.contains(&m.name));
    }
    let modules = dependency_order(modules);
    if errors.is_empty()
        && let Some(m) = &opts.merges
        && !m.to_survivor.is_empty()
        && !modules.iter().any(|x| x.name == m.module)
        && opts.modules.is_none()
    {
        let all: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
        return Err(RunError::UnknownModule(
            format!(
                "{} (the patient module of the accepted duplicate merges)",
                m.module
            ),
            all.join(", "),
        ));
    }
    // Exactly `ferry check`'s checks, before any data moves: every error at once.
    let snapshot = match ws.snapshot(opts.snapshot) {
        Ok(s) => s,
        Err(_) if !errors.is_empty() => return Err(RunError::Diagnostics(errors)),
        Err(e) => return Err(e.into()),
    };
    let checked = ws.open_snapshot(Some(snapshot.id))?;
    errors.extend(
        check_modules(&checked, &modules)
            .into_iter()
            .filter(|d| d.is_error()),
    );
    drop(checked);
    if !errors.is_empty() {
        return Err(RunError::Diagnostics(errors));
    }
    let files = hash_files(&[&dirs.mappings, &dirs.concept_maps]);
    let mut readers = Vec::new();
    for _ in &modules {
        readers.push(ws.open_snapshot(Some(snapshot.id))?);
    }
    let mut out = ferry_fhir::NdjsonWriter::create(&dirs.output)?;
    if let Some(n) = opts.bundle_size {
        out = out.with_bundles(n)?;
    }
    let recorded_output = opts
        .recorded_output
        .clone()
        .unwrap_or_else(|| dirs.output.display().to_string());
    let delta = match opts.base {
        Some(b) => Some(ws.delta_base(b)?),
        None => None,
    };
    let mut ledger = ws.begin_run(RunSpec {
        id: opts.run_id,
        kind: opts.kind.clone(),
        snapshot: snapshot.id,
        files,
        output_dir: recorded_output.clone(),
        base: opts.base,
    })?;
    let validator = ferry_fhir::Validator::r4();
    let mut all_books = Vec::new();
    let mut rows_done = 0u64;
    let mut uses: HashMap<String, u64> = HashMap::new();
    for (module, reader) in modules.iter().zip(readers) {
        on_event(RunEvent::ModuleStarted {
            module: &module.name,
        });
        let module_started = std::time::Instant::now();
        let mut books = ModuleBooks::empty(&module.name);
        let (work_tx, work_rx) = sync_channel::<WorkBatch>(4);
        let (done_tx, done_rx) = sync_channel::<Done>(8);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let threads = opts.threads.max(1);
        let checks = shape::LeafChecks::new(module, validator);
        let base_run = opts.base.unwrap_or(0);
        let delta_ref = delta.as_ref();
        let delta_path = delta_ref.map(|d| d.path());
        let result: Result<(), RunError> = std::thread::scope(|scope| {
            let cancel = &opts.cancel;
            let reader_handle = scope.spawn(move || read_batches(&reader, module, work_tx, cancel));
            for _ in 0..threads {
                let work_rx = Arc::clone(&work_rx);
                let done_tx = done_tx.clone();
                let worker = Worker {
                    module,
                    validator,
                    merge: opts.merges.as_ref(),
                    checks: &checks,
                    base: delta_path,
                };
                scope.spawn(move || work(worker, &work_rx, &done_tx));
            }
            drop(done_tx);
            // Collect in batch order.
            let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
            let mut next = 0u64;
            let mut failure: Option<RunError> = None;
            for done in done_rx.iter() {
                pending.insert(done.seq, done);
                while let Some(batch) = pending.remove(&next) {
                    next += 1;
                    rows_done += batch.results.len() as u64;
                    if failure.is_none() && opts.cancel.is_cancelled() {
                        failure = Some(RunError::Cancelled);
                    }
                    let mut to = Recorder {
                        module,
                        books: &mut books,
                        out: &mut out,
                        ledger: &mut ledger,
                        uses: &mut uses,
                        base_run,
                        base: delta_ref,
                    };
                    if failure.is_none()
                        && let Err(e) = to.record(batch)
                    {
                        failure = Some(e);
                    }
                    on_event(RunEvent::Rows(rows_done));
                }
            }
            let read = reader_handle
                .join()
                .map_err(|_| RunError::Worker("the reader thread panicked".into()))?;
            if opts.cancel.is_cancelled() {
                return Err(RunError::Cancelled);
            }
            match (read, failure) {
                (Err(e), _) => Err(e),
                (_, Some(e)) => Err(e),
                (Ok(n), None) => {
                    books.source_rows = n;
                    if !pending.is_empty() {
                        return Err(RunError::Worker("a batch was lost between threads".into()));
                    }
                    Ok(())
                }
            }
        });
        result?;
        if let Some(base) = &delta {
            let policy = module.deleted.as_str();
            books.deleted = base.unseen(&module.name, &mut |key, prior| {
                ledger.deleted(&module.name, key, prior, policy)
            })?;
        }
        books.duration_ms = module_started.elapsed().as_millis() as u64;
        if !books.balanced() {
            let e = RunError::Unbalanced {
                module: books.module.clone(),
                source_rows: books.source_rows,
                unchanged: books.unchanged,
                migrated: books.migrated,
                excluded: books.excluded,
                exceptions: books.exceptions,
            };
            ledger.module_books(books);
            let _ = ledger.commit(&format!("failed: {e}"));
            return Err(e);
        }
        ledger.module_books(books.clone());
        all_books.push(books);
    }
    if opts.cancel.is_cancelled() {
        return Err(RunError::Cancelled);
    }
    ferry_core::crash::point("run.before-output-finish");
    let (files, bundles) = out.finish_all()?;
    let mut outputs = Vec::new();
    for f in files {
        let o = RunOutput {
            resource_type: f.resource_type,
            file: f.file_name,
            resources: f.count,
            sha256: f.sha256,
        };
        ledger.output(o.clone());
        outputs.push(o);
    }
    let decisions = decision_uses(&modules, &uses);
    ledger.decision_uses(&decisions)?;
    let retired = match opts.base {
        Some(_) => Some(ledger.settle_retired()?),
        None => None,
    };
    let run = ledger.commit("ok")?;
    Ok(RunSummary {
        run,
        snapshot: snapshot.id,
        output_dir: recorded_output,
        duration_ms: started.elapsed().as_millis() as u64,
        modules: all_books,
        outputs,
        bundles,
        decisions,
        base: opts.base,
        retired,
    })
}

/// How often each decision about a module of this run (and each `map` decision) was applied.
fn decision_uses(modules: &[Module], uses: &HashMap<String, u64>) -> Vec<DecisionUse> {
    let Some(first) = modules.first() else {
        return Vec::new();
    };
    first
        .project_decisions()
        .list
        .iter()
        .filter(|d| {
            matches!(d.action, ferry_map::decisions::Action::Map { .. })
                || modules.iter().any(|m| m.name == d.module)
        })
        .map(|d| DecisionUse {
            decision: d.id.clone(),
            module: d.module.clone(),
            action: d.action.name().to_string(),
            rows: uses.get(&d.id).copied().unwrap_or(0),
        })
        .collect()
}

/// Streams the module's query in batches of owned rows. Returns the number of source rows.
fn read_batches(
    reader: &ferry_store::SnapshotReader,
    module: &Module,
    work: SyncSender<WorkBatch>,
    cancel: &ferry_core::Cancel,
) -> Result<u64, RunError> {
    let mut schema: Option<Arc<RowSchema>> = None;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
    let mut seq = 0u64;
    let mut closed = false;
    let summary = module.is_summary();
    // For summary modules: the patient column, the current patient and its row count.
    let mut patient_col: Option<usize> = None;
    let mut current: Option<Value> = None;
    let mut in_group = 0usize;
    let mut send = |rows: Vec<Vec<Value>>, schema: &Arc<RowSchema>, overflow: bool| {
        let b = WorkBatch {
            seq,
            schema: Arc::clone(schema),
            rows,
            overflow,
        };
        seq += 1;
        work.send(b).is_ok()
    };
    let query = reader_query(module);
    let (_, n) = reader
        .query_rows(&query, &mut |names, row| {
            if cancel.is_cancelled() {
                closed = true;
                return false;
            }
            let schema = schema.get_or_insert_with(|| RowSchema::new(names.iter().cloned()));
            let values: Vec<Value> = row.iter().map(|v| v.to_value()).collect();
            if summary {
                let col = *patient_col.get_or_insert_with(|| {
                    module
                        .source
                        .patient
                        .as_ref()
                        .and_then(|p| names.iter().position(|n| n == p))
                        .unwrap_or(usize::MAX)
                });
                let patient = values.get(col).cloned().unwrap_or(Value::Null);
                if current.as_ref() != Some(&patient) {
                    // A new patient: the batch may be cut here.
                    if batch.len() >= BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if !send(full, schema, false) {
                            closed = true;
                            return false;
                        }
                    }
                    current = Some(patient);
                    in_group = 0;
                }
                in_group += 1;
                if in_group > MAX_SUMMARY_ROWS {
                    if !send(vec![values], schema, true) {
                        closed = true;
                        return false;
                    }
                    return true;
                }
                batch.push(values);
                return true;
            }
            batch.push(values);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if !send(full, schema, false) {
                    closed = true;
                    return false;
                }
            }
            true
        })
        .map_err(|source| RunError::Query {
            module: module.name.clone(),
            source,
        })?;
    if cancel.is_cancelled() {
        return Err(RunError::Cancelled);
    }
    if closed {
        return Err(RunError::Worker("the workers stopped".into()));
    }
    if !batch.is_empty() {
        let schema = schema.unwrap_or_else(|| RowSchema::new(Vec::<String>::new()));
        if !send(batch, &schema, false) {
            return Err(RunError::Worker("the workers stopped".into()));
        }
    }
    Ok(n)
}

/// What a worker thread maps with.
#[derive(Clone, Copy)]
struct Worker<'a> {
    module: &'a Module,
    validator: &'a ferry_fhir::Validator,
    merge: Option<&'a Merges>,
    checks: &'a shape::LeafChecks,
    /// A delta run's base file (each worker reads it through its own connection).
    base: Option<&'a Path>,
}

/// Evaluates, validates and serializes batches until the reader is done.
fn work(worker: Worker<'_>, work: &Mutex<Receiver<WorkBatch>>, done: &SyncSender<Done>) {
    let Worker {
        module,
        validator,
        base,
        ..
    } = worker;
    let mut shapes = shape::ShapeCache::default();
    // A delta: this thread's own read-only connection to the base.
    let mut lookup_error: Option<StoreError> = None;
    let lookup = match base.map(ferry_store::DeltaLookup::open) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            lookup_error = Some(e);
            None
        }
        None => None,
    };
    loop {
        let next = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(batch) = next else {
            return;
        };
        let rows: Vec<Vec<ValueRef<'_>>> = batch
            .rows
            .iter()
            .map(|r| r.iter().map(ValueRef::from).collect())
            .collect();
        let views: Vec<RowView<'_>> = rows
            .iter()
            .map(|values| RowView {
                schema: &batch.schema,
                values,
            })
            .collect();
        // Each row's content hash and, in a delta, what the base recorded of its key.
        let shas: Vec<[u8; 16]> = rows
            .iter()
            .map(|r| ferry_core::content_hash::row_hash(r.iter().copied()))
            .collect();
        let mut priors: Vec<Option<PriorRow>> = Vec::new();
        let mut error = lookup_error.take();
        if let Some(l) = &lookup
            && error.is_none()
        {
            for v in &views {
                let key = module.row_key(v).unwrap_or_else(|_| "(no key)".to_string());
                match l.get(&module.name, &key) {
                    Ok(p) => priors.push(p),
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        }
        if base.is_some() && error.is_none() && priors.len() != views.len() {
            error = Some(StoreError::Writer(
                "the delta's base could not be read".into(),
            ));
        }
        let results = if error.is_some() {
            Vec::new()
        } else if batch.overflow {
            views
                .iter()
                .map(|v| RowResult::Exception {
                    key: module.row_key(v).unwrap_or_else(|_| "(no key)".to_string()),
                    errors: vec![(
                        Some(ferry_map::SUMMARY_RESOURCE_TYPE.to_string()),
                        Some("summary".into()),
                        format!(
                            "the patient has more than {MAX_SUMMARY_ROWS} rows in this summary module: split the module (e.g. by year with scope rules)"
                        ),
                        None,
                    )],
                })
                .collect()
        } else if module.is_summary() {
            let mut results = Vec::with_capacity(views.len());
            for run in module.patient_runs(&views) {
                if let Some(group) = views.get(run) {
                    results.extend(summarize_group(module, validator, group));
                }
            }
            results
        } else {
            views
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let unchanged = matches!(
                        (priors.get(i), shas.get(i)),
                        (Some(Some(p)), Some(sha)) if p.row_sha == *sha
                    );
                    if unchanged {
                        RowResult::Carried {
                            key: module.row_key(v).unwrap_or_else(|_| "(no key)".to_string()),
                        }
                    } else {
                        migrate_row(worker, &mut shapes, v)
                    }
                })
                .collect()
        };
        let d = Done {
            seq: batch.seq,
            results,
            shas,
            priors,
            error,
        };
        if done.send(d).is_err() {
            return;
        }
    }
}

fn exception_records(errors: Vec<ferry_map::FieldError>) -> Vec<ExceptionRecord> {
    errors
        .into_iter()
        .map(|e| {
            (
                (!e.resource_type.is_empty()).then_some(e.resource_type),
                Some(e.path),
                e.message,
                e.raw_value,
            )
        })
        .collect()
}

/// Validates and serializes one resource; an invalid one gives its issues as exception records.
fn produce(
    validator: &ferry_fhir::Validator,
    r: &serde_json::Value,
) -> Result<Produced, Vec<ExceptionRecord>> {
    let rtype = r
        .get("resourceType")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let issues = validator.validate(r);
    if !issues.is_empty() {
        return Err(issues_to_records(&rtype, issues));
    }
    let id = r
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let mut bytes = Vec::new();
    ferry_fhir::write_canonical(&mut bytes, r);
    let sha = shape::sha256_hex(&bytes);
    Ok((rtype, id, bytes, sha))
}

/// A resource's validation issues as exception records.
fn issues_to_records(rtype: &str, issues: Vec<ferry_fhir::Issue>) -> Vec<ExceptionRecord> {
    issues
        .into_iter()
        .map(|i| {
            (
                Some(rtype.to_string()),
                Some(i.path),
                format!("not valid FHIR R4: {}", i.message),
                None,
            )
        })
        .collect()
}

/// One row of a discrete module.
fn migrate_row(
    worker: Worker<'_>,
    shapes: &mut shape::ShapeCache,
    view: &RowView<'_>,
) -> RowResult {
    let Worker {
        module,
        validator,
        merge,
        checks,
        ..
    } = worker;
    let key = module
        .row_key(view)
        .unwrap_or_else(|_| "(no key)".to_string());
    shapes.new_row();
    let outcome = module.evaluate_fields(view);
    // A merged duplicate patient: its row goes into the survivor's resource (written by the
    // survivor's own row); the lineage keeps this source key. Its content hash is on the
    // survivor's lineage row.
    if let (Evaluated::Migrated(_), Some(merges)) = (&outcome, merge)
        && let Some((_, rtype, id)) = merges.merged_resource(module, &key)
    {
        return RowResult::Migrated {
            key,
            resources: Vec::new(),
            shared: vec![(rtype, id, String::new())],
            decisions: Vec::new(),
        };
    }
    match outcome {
        Evaluated::Excluded { rule, reason } => RowResult::Excluded { key, rule, reason },
        Evaluated::Exception(errors) => RowResult::Exception {
            key,
            errors: exception_records(errors),
        },
        Evaluated::Migrated(resources) => {
            let mut invalid = Vec::new();
            let mut ok = Vec::with_capacity(resources.len());
            for r in &resources {
                match shape::produce_built(module, validator, checks, shapes, r) {
                    Ok(p) => ok.push(p),
                    Err(mut e) => invalid.append(&mut e),
                }
            }
            if invalid.is_empty() {
                let decisions = resources
                    .first()
                    .map(|b| b.decisions.clone())
                    .unwrap_or_default();
                RowResult::Migrated {
                    key,
                    resources: ok,
                    shared: Vec::new(),
                    decisions,
                }
            } else {
                // An invalid resource is an exception, never written: the whole row waits.
                RowResult::Exception {
                    key,
                    errors: invalid,
                }
            }
        }
    }
}

/// One patient's rows of a summary module: the document is written with the first row in it;
/// every row in it records the document in its lineage.
fn summarize_group(
    module: &Module,
    validator: &ferry_fhir::Validator,
    group: &[RowView<'_>],
) -> Vec<RowResult> {
    let summarized = module.summarize(group);
    let mut to_write: Option<Produced> = None;
    let mut shared = Vec::new();
    let mut invalid: Option<Vec<ExceptionRecord>> = None;
    match summarized.document.as_ref().map(|d| produce(validator, d)) {
        Some(Ok(p)) => {
            shared.push((p.0.clone(), p.1.clone(), p.3.clone()));
            to_write = Some(p);
        }
        Some(Err(e)) => invalid = Some(e),
        None => {}
    }
    let mut out = Vec::with_capacity(group.len());
    for (key, outcome) in summarized.rows {
        out.push(match outcome {
            RowOutcome::Excluded { rule, reason } => RowResult::Excluded { key, rule, reason },
            RowOutcome::Exception(errors) => RowResult::Exception {
                key,
                errors: exception_records(errors),
            },
            RowOutcome::Migrated(_) => {
                if let Some(e) = &invalid {
                    RowResult::Exception {
                        key,
                        errors: e.clone(),
                    }
                } else if let Some(p) = to_write.take() {
                    // The first row in the document writes it.
                    RowResult::Migrated {
                        key,
                        resources: vec![p],
                        shared: Vec::new(),
                        decisions: Vec::new(),
                    }
                } else if !shared.is_empty() {
                    RowResult::Migrated {
                        key,
                        resources: Vec::new(),
                        shared: shared.clone(),
                        decisions: Vec::new(),
                    }
                } else {
                    RowResult::Exception {
                        key,
                        errors: vec![(
                            Some(ferry_map::SUMMARY_RESOURCE_TYPE.to_string()),
                            Some("summary".into()),
                            "internal: a row went into a document that was not made".into(),
                            None,
                        )],
                    }
                }
            }
        });
    }
    out
}

/// Where a module's results go: its books, the output, the ledger.
struct Recorder<'a, 'w> {
    module: &'a Module,
    books: &'a mut ModuleBooks,
    out: &'a mut ferry_fhir::NdjsonWriter,
    ledger: &'a mut ferry_store::RunWriter<'w>,
    uses: &'a mut HashMap<String, u64>,
    /// A delta run's base (0 otherwise).
    base_run: u64,
    /// A delta run's base: each recorded key is marked seen in it.
    base: Option<&'a DeltaBase>,
}

/// Whether a row's result is what the base recorded of it (same outcome, same resources by
/// type, id and content hash): a summary module's row carried in a delta.
fn same_as_prior(r: &RowResult, prior: &PriorRow) -> bool {
    match r {
        RowResult::Migrated {
            resources, shared, ..
        } => {
            if prior.outcome != "migrated" {
                return false;
            }
            let now: Vec<(&str, &str, &str)> = resources
                .iter()
                .map(|(t, i, _, sha)| (t.as_str(), i.as_str(), sha.as_str()))
                .chain(
                    shared
                        .iter()
                        .map(|(t, i, sha)| (t.as_str(), i.as_str(), sha.as_str())),
                )
                .collect();
            let before = ferry_store::lineage_entries(prior.resources.as_deref().unwrap_or("[]"));
            now.len() == before.len()
                && now
                    .iter()
                    .zip(&before)
                    .all(|(a, b)| a.0 == b.0 && a.1 == b.1 && a.2 == b.2)
        }
        RowResult::Excluded { .. } => prior.outcome == "excluded",
        RowResult::Exception { .. } => prior.outcome == "exception",
        RowResult::Carried { .. } => true,
    }
}

impl Recorder<'_, '_> {
    /// Writes one batch's results to the output and the ledger, in order.
    fn record(&mut self, batch: Done) -> Result<(), RunError> {
        let delta = self.base_run != 0;
        let Done {
            results,
            shas,
            priors,
            error,
            ..
        } = batch;
        if let Some(e) = error {
            return Err(e.into());
        }
        let mut priors = priors.into_iter();
        for (i, r) in results.into_iter().enumerate() {
            let sha = shas.get(i).copied().unwrap_or_default();
            let prior = if delta { priors.next().flatten() } else { None };
            let key = match &r {
                RowResult::Migrated { key, .. }
                | RowResult::Excluded { key, .. }
                | RowResult::Exception { key, .. }
                | RowResult::Carried { key } => key.clone(),
            };
            self.ledger.source_row(&self.module.name, &key, sha)?;
            if let Some(b) = self.base {
                b.mark_seen(&self.module.name, &key)?;
            }
            if delta {
                match &prior {
                    Some(p)
                        if p.row_sha == sha
                            && (matches!(r, RowResult::Carried { .. }) || same_as_prior(&r, p)) =>
                    {
                        self.books.unchanged += 1;
                        self.ledger.carried(&self.module.name, &key, p)?;
                        continue;
                    }
                    Some(p) => {
                        self.books.changed += 1;
                        self.dropped(&key, &r, p)?;
                    }
                    None => self.books.new_rows += 1,
                }
            }
            self.result(r)?;
        }
        Ok(())
    }

    /// A changed row: the resources the base made of it that it no longer makes.
    fn dropped(&mut self, key: &str, r: &RowResult, prior: &PriorRow) -> Result<(), RunError> {
        if prior.outcome != "migrated" {
            return Ok(());
        }
        let now: Vec<(&str, &str)> = match r {
            RowResult::Migrated {
                resources, shared, ..
            } => resources
                .iter()
                .map(|(t, i, _, _)| (t.as_str(), i.as_str()))
                .chain(shared.iter().map(|(t, i, _)| (t.as_str(), i.as_str())))
                .collect(),
            _ => Vec::new(),
        };
        let lost: Vec<(String, String, String)> =
            ferry_store::lineage_entries(prior.resources.as_deref().unwrap_or("[]"))
                .into_iter()
                .filter(|(t, i, _)| !now.iter().any(|(a, b)| a == t && b == i))
                .collect();
        if lost.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(
            &lost
                .iter()
                .map(|(t, i, s)| [t.as_str(), i.as_str(), s.as_str()])
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|_| "[]".to_string());
        self.ledger
            .dropped(&self.module.name, key, &json, self.module.deleted.as_str())?;
        Ok(())
    }

    fn result(&mut self, r: RowResult) -> Result<(), RunError> {
        let (module, books) = (self.module, &mut *self.books);
        match r {
            RowResult::Migrated {
                key,
                resources,
                shared,
                decisions,
            } => {
                books.migrated += 1;
                if !decisions.is_empty() {
                    books.migrated_by_decision += 1;
                    for i in decisions {
                        if let Some(d) = module.decision(i) {
                            self.ledger.decided(&module.name, &key, &d.id)?;
                            *self.uses.entry(d.id.clone()).or_default() += 1;
                        }
                    }
                }
                let mut lineage: Vec<(&str, &str, &str)> =
                    Vec::with_capacity(resources.len() + shared.len());
                for (rtype, id, bytes, sha) in &resources {
                    self.out.write_line_with_id(rtype, Some(id), bytes)?;
                    lineage.push((rtype, id, sha));
                    books.resources += 1;
                }
                for (rtype, id, sha) in &shared {
                    lineage.push((rtype, id, sha));
                }
                self.ledger.lineage_row(&module.name, &key, &lineage)?;
            }
            RowResult::Excluded { key, rule, reason } => {
                books.excluded += 1;
                if let Some(id) = rule.strip_prefix("decision:") {
                    books.excluded_by_decision += 1;
                    *self.uses.entry(id.to_string()).or_default() += 1;
                }
                self.ledger.exclusion(&module.name, &key, &rule, &reason)?;
            }
            RowResult::Exception { key, errors } => {
                books.exceptions += 1;
                for (rtype, path, reason, raw) in errors {
                    self.ledger.exception(
                        &module.name,
                        &key,
                        rtype.as_deref(),
                        path.as_deref(),
                        &reason,
                        raw.as_deref(),
                    )?;
                }
            }
            RowResult::Carried { key } => {
                // Only a delta carries a row; outside one this is a bug, never a silent loss.
                books.exceptions += 1;
                self.ledger.exception(
                    &module.name,
                    &key,
                    None,
                    None,
                    "internal: a row was carried outside a delta run",
                    None,
                )?;
            }
        }
        Ok(())
    }
}

/// sha256 of every file in these folders (sorted), recorded with the run as `FOLDER/FILE`
/// (`mappings/vitals.toml`): paths relative to the project, so the ledger reads the same from
/// any directory and on any machine.
pub fn hash_files(dirs: &[&Path]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut paths: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(bytes) = std::fs::read(&p) {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((
                    format!("{folder}/{name}"),
                    hex::encode(Sha256::digest(&bytes)),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
