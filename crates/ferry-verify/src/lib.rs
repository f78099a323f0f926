//! `ferry verify`: an independent check of a run's output, and the go/no-go decision.
//!
//! Nothing here reuses the run engine's write path: the output is read back from the NDJSON files,
//! the source rows are re-read from the snapshot and re-mapped, and both are compared.
//!
//! 1. **Output pass** (one streaming pass over every NDJSON file): line counts and sha256 against
//!    the ledger; every line parsed and validated against FHIR R4; its references and its place in
//!    the file recorded in a scratch index (a temporary SQLite file, see
//!    [`ferry_store::VerifyIndex`]); comparative searches tallied.
//! 2. **Integrity** from the index: references whose target is not in the output; clinical
//!    resources without their Patient.
//! 3. **Round trip**, module by module: the module's query re-run on the run's snapshot, every row
//!    re-evaluated, its outcome compared with the ledger's, and every resource it produces compared
//!    field by field with the resource read back from the output (located through the index, so
//!    memory stays flat). Output resources that no row produces are reported too.
//! 4. **Comparative searches**: each search's SQL on the snapshot against its tally.
//! 5. **Go / no-go** from the thresholds; the verification is recorded in the ledger.
//!
//! Problems are reported by resource id, source key and path; values only on request.

pub mod json;
pub mod search;

use ferry_core::ValueRef;
use ferry_map::{Module, RowOutcome, RowSchema, RowView};
use ferry_store::{LedgerOutcome, QueryValue, StoreError, VerifyIndex, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use search::{ChecksError, Search, load_searches};

/// Go/no-go limits (`[verify]` in ferry.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Largest share of a module's source rows that may be exceptions (0.05 = 5%).
    pub max_exception_rate: f64,
    /// Dangling references plus clinical resources without their patient.
    pub max_integrity_errors: u64,
    /// Fields (and resources) that differ between the output and a re-evaluation.
    pub max_roundtrip_mismatches: u64,
    /// Resources that are not valid FHIR R4 (or not JSON).
    pub max_invalid: u64,
    /// Every comparative search must be within its tolerance.
    pub searches_must_pass: bool,
    /// Per-module overrides: `[verify.modules.problems] max_exception_rate = 0.10`.
    pub modules: BTreeMap<String, ModuleThresholds>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModuleThresholds {
    pub max_exception_rate: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_exception_rate: 0.05,
            max_integrity_errors: 0,
            max_roundtrip_mismatches: 0,
            max_invalid: 0,
            searches_must_pass: true,
            modules: BTreeMap::new(),
        }
    }
}

impl Thresholds {
    /// Checks the rates are between 0 and 1.
    pub fn check(&self) -> Result<(), String> {
        let bad = |r: f64| !(r.is_finite() && (0.0..=1.0).contains(&r));
        if bad(self.max_exception_rate) {
            return Err("[verify] max_exception_rate must be between 0 and 1 (0.05 = 5%)".into());
        }
        for (m, t) in &self.modules {
            if t.max_exception_rate.is_some_and(bad) {
                return Err(format!(
                    "[verify.modules.{m}] max_exception_rate must be between 0 and 1 (0.05 = 5%)"
                ));
            }
        }
        Ok(())
    }

    /// A module's exception-rate limit and where it was set: ferry.toml's
    /// `[verify.modules.NAME]` first, then the module file's own `[verify]` (with its reason),
    /// then ferry.toml's `[verify] max_exception_rate`.
    pub fn exception_rate_for(
        &self,
        module: &str,
        own: Option<&ferry_map::ModuleLimit>,
        file: &str,
    ) -> (f64, String) {
        if let Some(r) = self.modules.get(module).and_then(|m| m.max_exception_rate) {
            return (r, format!("ferry.toml [verify.modules.{module}]"));
        }
        if let Some(l) = own {
            return (
                l.max_exception_rate,
                format!("{file}:{} [verify]: {}", l.line, l.reason),
            );
        }
        (
            self.max_exception_rate,
            "ferry.toml [verify] (the project's default)".into(),
        )
    }
}

/// What to verify and how.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The run (default: the latest).
    pub run: Option<u64>,
    /// The project's mappings and concept maps (the output folder is the run's own).
    pub mappings: PathBuf,
    pub concept_maps: PathBuf,
    /// `checks/`: the comparative searches.
    pub checks: PathBuf,
    pub namespace: uuid::Uuid,
    /// The settings the mappings load with (local times, the project's systems), as the run
    /// had them.
    pub settings: ferry_map::Settings,
    pub thresholds: Thresholds,
    /// Put expected and found values in [`CheckResult::values`] (PHI; never recorded).
    pub show_values: bool,
    /// Examples kept per check.
    pub max_examples: usize,
    /// Modules whose key columns hold PHI: their examples withhold the key (unless
    /// `show_values`).
    pub withhold_keys: std::collections::BTreeSet<String>,
    /// The project folder: recorded output folders are relative to it.
    pub project_root: PathBuf,
    /// The accepted duplicate-patient merges the run applied (the binary reads them from
    /// `mappings/duplicates.toml`, as `ferry run` does).
    pub merges: Option<ferry_map::Merges>,
}

/// Progress, for a bar.
pub enum VerifyEvent<'a> {
    /// A phase starts; `total` is in its own unit (bytes for the output pass, rows after).
    Phase { name: &'a str, total: u64 },
    /// Position within the phase.
    Position(u64),
}

/// `pass`, `warn` (problems within the threshold) or `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// `counts`, `round-trip`, `integrity`, `validity` or `search:<name>`.
    pub name: String,
    pub status: Status,
    pub summary: String,
    pub problems: u64,
    /// The first problems: resource id / key / path, never a value.
    pub examples: Vec<String>,
    /// Expected and found values (only with `show_values`; never recorded in the ledger).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// One threshold's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdResult {
    pub name: String,
    pub limit: String,
    pub actual: String,
    pub ok: bool,
    /// Where the limit was set (exception rates: ferry.toml or the module file, with its reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
}

/// A verification: the summary recorded in the ledger (see docs/verify.md).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub run: u64,
    /// `go` or `no-go`.
    pub verdict: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub checks: Vec<CheckResult>,
    pub thresholds: Vec<ThresholdResult>,
    /// The ledger's id of this verification.
    #[serde(skip)]
    pub record_id: u64,
}

impl Verification {
    pub fn is_go(&self) -> bool {
        self.verdict == "go"
    }

    /// The summary as recorded: without values.
    pub fn summary_json(&self) -> String {
        let mut clean = self.clone();
        for c in &mut clean.checks {
            c.values.clear();
        }
        serde_json::to_string(&clean).unwrap_or_else(|_| "{}".into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checks(#[from] ChecksError),
    #[error("ferry.toml: {0}")]
    Thresholds(String),
    #[error(
        "the mappings have {} error(s), so the output cannot be re-evaluated. Fix them (run `ferry check`) and verify again:\n{}",
        .0.len(),
        .0.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
    )]
    Mappings(Vec<ferry_map::Diagnostic>),
    #[error("module `{module}`: its query failed on snapshot {snapshot}: {source}")]
    Query {
        module: String,
        snapshot: u64,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Ndjson(ferry_fhir::NdjsonError),
    #[error("{path}: {action} failed: {source}. Check that the file exists and is readable")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Collects one check's problems.
struct Problems {
    name: String,
    count: u64,
    examples: Vec<String>,
    values: Vec<String>,
    max: usize,
}

impl Problems {
    fn new(name: &str, max: usize) -> Self {
        Problems {
            name: name.to_string(),
            count: 0,
            examples: Vec::new(),
            values: Vec::new(),
            max,
        }
    }

    fn add(&mut self, example: String) {
        self.count += 1;
        if self.examples.len() < self.max {
            self.examples.push(example);
        }
    }

    fn add_with_values(&mut self, example: String, values: Option<String>) {
        if self.examples.len() < self.max
            && let Some(v) = values
        {
            self.values.push(format!("{example}: {v}"));
        }
        self.add(example);
    }

    fn result(self, status: Status, summary: String) -> CheckResult {
        CheckResult {
            name: self.name,
            status,
            summary,
            problems: self.count,
            examples: self.examples,
            values: self.values,
        }
    }
}

/// One NDJSON file of the output.
struct OutputFile {
    resource_type: String,
    name: String,
    path: PathBuf,
    ledger: Option<(u64, String)>,
}

/// Verifies a run and records the verification in the ledger.
pub fn verify(
    ws: &Workspace,
    opts: &VerifyOptions,
    on_event: &dyn Fn(VerifyEvent<'_>),
) -> Result<Verification, VerifyError> {
    let started = Instant::now();
    let started_at = ferry_core::calendar::now_utc_rfc3339();
    opts.thresholds.check().map_err(VerifyError::Thresholds)?;
    let run = ws.run(opts.run)?;
    let books = ws.run_modules(run.id)?;
    let outputs = ws.run_outputs(run.id)?;
    let searches = load_searches(&opts.checks)?;
    let (modules, diags) = ferry_map::load_modules_with(
        &opts.mappings,
        &opts.concept_maps,
        ferry_fhir::id_fn(opts.namespace),
        opts.settings.clone(),
        opts.merges.as_ref(),
    );
    let errors: Vec<_> = diags.into_iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        return Err(VerifyError::Mappings(errors));
    }
    let reader = ws.open_snapshot(Some(run.snapshot))?;
    let index = ws.verify_index(run.id)?;
    let max = opts.max_examples.max(1);
    let mut counts = Problems::new("counts", max);
    let mut roundtrip = Problems::new("round-trip", max);
    let mut integrity = Problems::new("integrity", max);
    let mut validity = Problems::new("validity", max);

    // 1. The output pass.
    let output_dir = opts.project_root.join(&run.output_dir);
    let files = output_files(&output_dir, &outputs);
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    on_event(VerifyEvent::Phase {
        name: "reading the output",
        total: total_bytes,
    });
    let mut tallies: Vec<search::Tally> = searches.iter().map(|_| Default::default()).collect();
    let mut pass = OutputPass {
        index: &index,
        validator: ferry_fhir::Validator::r4(),
        searches: &searches,
        tallies: &mut tallies,
        counts: &mut counts,
        integrity: &mut integrity,
        validity: &mut validity,
        bytes_done: 0,
        resources: 0,
        references: 0,
        unchecked_references: 0,
    };
    for (n, f) in files.iter().enumerate() {
        pass.file(n as u32, f, on_event)?;
    }
    let (resources, references, unchecked) =
        (pass.resources, pass.references, pass.unchecked_references);
    index.finish_loading()?;
    let (dups, examples) = index.duplicate_ids(max)?;
    add_findings(&mut counts, dups, examples, |d| {
        format!(
            "{}/{}: in the output {}",
            d.resource_type, d.resource_id, d.detail
        )
    });
    let lineage = index.lineage_counts()?;
    for o in &outputs {
        let n = lineage
            .iter()
            .find(|(t, _)| *t == o.resource_type)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        if n != o.resources {
            counts.add(format!(
                "{}: the ledger lists {} output resources but its lineage {}",
                o.resource_type, o.resources, n
            ));
        }
    }
    let (missing, examples) = index.lineage_not_in_output(max)?;
    add_findings(&mut counts, missing, examples, |f| {
        let (m, key) = f.detail.split_once('\u{1f}').unwrap_or((&f.detail, ""));
        let withhold = !opts.show_values && opts.withhold_keys.contains(m);
        format!(
            "{}/{} (module `{m}` key {}): in the ledger's lineage, not in the output",
            f.resource_type,
            f.resource_id,
            shown(withhold, key)
        )
    });

    // 1b. A delta run: the resources it carried over, in the outputs of the runs that wrote them:
    // each found with the bytes its lineage recorded, and counted by the comparative searches.
    carried_pass(
        ws,
        opts,
        &index,
        &searches,
        &mut tallies,
        &mut counts,
        on_event,
    )?;

    // 2. Integrity.
    let (dangling, examples) = index.dangling_references(max)?;
    add_findings(&mut integrity, dangling, examples, |f| {
        format!(
            "{}/{} {}: not in the output",
            f.resource_type, f.resource_id, f.detail
        )
    });

    // 3. Round trip.
    let total_rows: u64 = books.iter().map(|b| b.source_rows).sum();
    on_event(VerifyEvent::Phase {
        name: "re-evaluating source rows",
        total: total_rows,
    });
    let mut files_open: Vec<Option<File>> =
        files.iter().map(|f| File::open(&f.path).ok()).collect();
    let mut rows_done = 0u64;
    let mut compared = 0u64;
    for b in &books {
        let Some(module) = modules.iter().find(|m| m.name == b.module) else {
            roundtrip.add(format!(
                "module `{}`: in the run but no longer in mappings/; its rows cannot be re-evaluated",
                b.module
            ));
            continue;
        };
        let mut ctx = RoundTrip {
            module,
            index: &index,
            files: &files,
            open: &mut files_open,
            problems: &mut roundtrip,
            show_values: opts.show_values,
            withhold_key: !opts.show_values && opts.withhold_keys.contains(&module.name),
            compared: 0,
            merge: opts.merges.as_ref(),
            group: Vec::new(),
            group_patient: None,
        };
        let mut failure: Option<VerifyError> = None;
        let mut schema: Option<Arc<RowSchema>> = None;
        // A summary module's rows come ordered by patient, as the run read them.
        let query = ferry_map::reader_query(module);
        let (_, rows) = reader
            .query_rows(&query, &mut |names, values| {
                let schema = schema.get_or_insert_with(|| RowSchema::new(names.iter().cloned()));
                rows_done += 1;
                if rows_done.is_multiple_of(1024) {
                    on_event(VerifyEvent::Position(rows_done));
                }
                let done = if module.is_summary() {
                    ctx.summary_row(schema, values)
                } else {
                    ctx.row(schema, values)
                };
                match done {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            })
            .map_err(|source| VerifyError::Query {
                module: module.name.clone(),
                snapshot: run.snapshot,
                source,
            })?;
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(schema) = &schema {
            ctx.flush_group(schema)?;
        }
        compared += ctx.compared;
        if rows != b.source_rows {
            counts.add(format!(
                "module `{}`: {} source rows re-counted in snapshot {}, the ledger says {}",
                b.module, rows, run.snapshot, b.source_rows
            ));
        }
        if rows != b.unchanged + b.migrated + b.excluded + b.exceptions {
            counts.add(format!(
                "module `{}`: {} source rows but {} unchanged + {} migrated + {} excluded + {} exceptions",
                b.module, rows, b.unchanged, b.migrated, b.excluded, b.exceptions
            ));
        }
    }
    let (unseen, examples) = index.unseen_resources(max)?;
    add_findings(&mut roundtrip, unseen, examples, |f| {
        format!(
            "{}/{} ({}.ndjson {}): in the output but no source row produces it",
            f.resource_type, f.resource_id, f.resource_type, f.detail
        )
    });
    let carried_exceptions = index.carried_exceptions()?;
    drop(index);

    // 4. Comparative searches.
    let mut search_results = Vec::new();
    for (s, tally) in searches.iter().zip(&tallies) {
        search_results.push(run_search(&reader, s, tally));
    }

    // 5. Thresholds and verdict.
    let t = &opts.thresholds;
    let mut thresholds = vec![ThresholdResult {
        name: "counts".into(),
        limit: "0 mismatches".into(),
        actual: counts.count.to_string(),
        ok: counts.count == 0,
        set_by: None,
    }];
    for b in &books {
        let own = modules.iter().find(|m| m.name == b.module);
        let file = own
            .map(|m| {
                Path::new(&m.file)
                    .strip_prefix(&opts.project_root)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| m.file.clone())
            })
            .unwrap_or_default();
        let (limit, set_by) =
            t.exception_rate_for(&b.module, own.and_then(|m| m.verify.as_ref()), &file);
        // A delta's carried exceptions are still open: they count.
        let carried = carried_exceptions
            .iter()
            .find(|(m, _)| *m == b.module)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let open = b.exceptions + carried;
        let rate = if b.source_rows == 0 {
            0.0
        } else {
            open as f64 / b.source_rows as f64
        };
        thresholds.push(ThresholdResult {
            name: format!("exception rate: {}", b.module),
            limit: format!("{:.1}%", limit * 100.0),
            actual: if carried > 0 {
                format!(
                    "{:.1}% ({} + {} carried from the base, of {} rows)",
                    rate * 100.0,
                    b.exceptions,
                    carried,
                    b.source_rows
                )
            } else {
                format!(
                    "{:.1}% ({} of {} rows)",
                    rate * 100.0,
                    b.exceptions,
                    b.source_rows
                )
            },
            ok: rate <= limit + 1e-12,
            set_by: Some(set_by),
        });
    }
    let limit_of = |name: &str, limit: u64, actual: u64| ThresholdResult {
        name: name.into(),
        limit: limit.to_string(),
        actual: actual.to_string(),
        ok: actual <= limit,
        set_by: None,
    };
    thresholds.push(limit_of(
        "round-trip mismatches",
        t.max_roundtrip_mismatches,
        roundtrip.count,
    ));
    thresholds.push(limit_of(
        "integrity errors",
        t.max_integrity_errors,
        integrity.count,
    ));
    thresholds.push(limit_of("invalid resources", t.max_invalid, validity.count));
    let failed_searches = search_results
        .iter()
        .filter(|s| s.status == Status::Fail)
        .count();
    if t.searches_must_pass {
        thresholds.push(ThresholdResult {
            name: "comparative searches".into(),
            limit: "all within tolerance".into(),
            actual: format!("{failed_searches} of {} failed", search_results.len()),
            ok: failed_searches == 0,
            set_by: None,
        });
    }

    let status = |count: u64, limit: u64| match (count, count <= limit) {
        (0, _) => Status::Pass,
        (_, true) => Status::Warn,
        _ => Status::Fail,
    };
    let file_count = files.len();
    let counts_status = status(counts.count, 0);
    let rt_status = status(roundtrip.count, t.max_roundtrip_mismatches);
    let int_status = status(integrity.count, t.max_integrity_errors);
    let val_status = status(validity.count, t.max_invalid);
    let rt_count = roundtrip.count;
    let int_count = integrity.count;
    let val_count = validity.count;
    let mut checks = vec![
        counts.result(
            counts_status,
            format!(
                "{} modules re-counted ({} source rows), {} output files against the ledger",
                books.len(),
                total_rows,
                file_count
            ),
        ),
        roundtrip.result(
            rt_status,
            format!(
                "{compared} resources re-evaluated and compared field by field; {rt_count} mismatches"
            ),
        ),
        integrity.result(
            int_status,
            format!(
                "{references} references checked ({unchecked} contained or absolute, not checked); {int_count} problems"
            ),
        ),
        validity.result(
            val_status,
            format!("{resources} resources validated against FHIR R4; {val_count} invalid"),
        ),
    ];
    checks.extend(search_results);
    let go = thresholds.iter().all(|t| t.ok);
    let mut v = Verification {
        run: run.id,
        verdict: if go { "go" } else { "no-go" }.into(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        checks,
        thresholds,
        record_id: 0,
    };
    v.record_id = ws.record_verification(
        v.run,
        &v.started_at,
        v.duration_ms,
        &v.verdict,
        &v.summary_json(),
    )?;
    Ok(v)
}

fn add_findings(
    p: &mut Problems,
    total: u64,
    examples: Vec<ferry_store::IndexFinding>,
    text: impl Fn(&ferry_store::IndexFinding) -> String,
) {
    let shown = examples.len() as u64;
    for f in &examples {
        p.add(text(f));
    }
    p.count += total.saturating_sub(shown);
}

/// The output files: the ledger's, plus any other `*.ndjson` in the folder.
/// A delta run's carried resources read back from the outputs of the runs that wrote them (no
/// other run: nothing to do).
fn carried_pass(
    ws: &Workspace,
    opts: &VerifyOptions,
    index: &VerifyIndex,
    searches: &[Search],
    tallies: &mut [search::Tally],
    counts: &mut Problems,
    on_event: &dyn Fn(VerifyEvent<'_>),
) -> Result<(), VerifyError> {
    use sha2::Digest;
    let runs = index.carried_runs()?;
    if runs.is_empty() {
        return Ok(());
    }
    let mut files = Vec::new();
    for r in &runs {
        let info = ws.run(Some(*r))?;
        let outputs = ws.run_outputs(*r)?;
        let dir = opts.project_root.join(&info.output_dir);
        for f in output_files(&dir, &outputs) {
            files.push((*r, f));
        }
    }
    let total: u64 = files
        .iter()
        .filter_map(|(_, f)| std::fs::metadata(&f.path).ok())
        .map(|m| m.len())
        .sum();
    on_event(VerifyEvent::Phase {
        name: "reading the carried resources",
        total,
    });
    let mut done = 0u64;
    for (run, f) in &files {
        let mut input = match ferry_fhir::NdjsonReader::open(&f.path) {
            Ok(r) => r,
            Err(ferry_fhir::NdjsonError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue;
            }
            Err(e) => return Err(VerifyError::Ndjson(e)),
        };
        loop {
            let line = match input.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(ferry_fhir::NdjsonError::LineTooLong { .. }) => break,
                Err(e) => return Err(VerifyError::Ndjson(e)),
            };
            done += line.len;
            let Ok(resource) = line.parse::<Value>() else {
                continue;
            };
            let (Some(rtype), Some(id)) = (
                resource.get("resourceType").and_then(Value::as_str),
                resource.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(sha) = index.carried_resource(*run, rtype, id)? else {
                continue;
            };
            if hex::encode(sha2::Sha256::digest(line.bytes)) != sha {
                counts.add(format!(
                    "{rtype}/{id} ({} of run {run}, line {}): carried over by this delta, but its bytes differ from what its lineage recorded",
                    f.name, line.number
                ));
            }
            for (s, t) in searches.iter().zip(tallies.iter_mut()) {
                s.observe(rtype, &resource, t);
            }
            if line.number.is_multiple_of(2048) {
                on_event(VerifyEvent::Position(done));
            }
        }
    }
    on_event(VerifyEvent::Position(done));
    let (missing, examples) = index.carried_not_found(counts.max)?;
    add_findings(counts, missing, examples, |f| {
        format!(
            "{}/{}: carried over by this delta, but not in the output of {}",
            f.resource_type, f.resource_id, f.detail
        )
    });
    Ok(())
}

fn output_files(dir: &Path, outputs: &[ferry_store::RunOutput]) -> Vec<OutputFile> {
    let mut files: Vec<OutputFile> = outputs
        .iter()
        .map(|o| OutputFile {
            resource_type: o.resource_type.clone(),
            name: o.file.clone(),
            path: dir.join(&o.file),
            ledger: Some((o.resources, o.sha256.clone())),
        })
        .collect();
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut extra: Vec<OutputFile> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let ty = name.strip_suffix(".ndjson")?.to_string();
                (!outputs.iter().any(|o| o.file == name)).then(|| OutputFile {
                    resource_type: ty,
                    path: e.path(),
                    name,
                    ledger: None,
                })
            })
            .collect();
        extra.sort_by(|a, b| a.name.cmp(&b.name));
        files.extend(extra);
    }
    files
}

struct OutputPass<'a> {
    index: &'a VerifyIndex,
    validator: &'static ferry_fhir::Validator,
    searches: &'a [Search],
    tallies: &'a mut [search::Tally],
    counts: &'a mut Problems,
    integrity: &'a mut Problems,
    validity: &'a mut Problems,
    bytes_done: u64,
    resources: u64,
    references: u64,
    unchecked_references: u64,
}

impl OutputPass<'_> {
    fn file(
        &mut self,
        number: u32,
        f: &OutputFile,
        on_event: &dyn Fn(VerifyEvent<'_>),
    ) -> Result<(), VerifyError> {
        let Some((ledger_count, ledger_sha)) = f.ledger.clone() else {
            self.counts.add(format!(
                "{}: in the output folder but not in the run's ledger",
                f.name
            ));
            return Ok(());
        };
        let io = |e: ferry_fhir::NdjsonError, action: &'static str| match e {
            ferry_fhir::NdjsonError::Io { path, source, .. } => VerifyError::Io {
                path,
                action,
                source,
            },
            other => VerifyError::Ndjson(other),
        };
        let mut input = match ferry_fhir::NdjsonReader::open(&f.path) {
            Ok(r) => r.with_sha256(),
            Err(ferry_fhir::NdjsonError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                self.counts.add(format!(
                    "{}: in the ledger ({} resources) but missing from the output folder",
                    f.name, ledger_count
                ));
                return Ok(());
            }
            Err(e) => return Err(io(e, "opening the output file")),
        };
        let mut lines = 0u64;
        loop {
            let line = match input.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(ferry_fhir::NdjsonError::LineTooLong { line, max, .. }) => {
                    // Not one resource Ferry writes; the rest of the file cannot be read line by
                    // line, so its counts and sha256 are not compared either.
                    self.validity.add(format!(
                        "{} line {line}: longer than {max} bytes, not one resource; the rest of the file was not read",
                        f.name
                    ));
                    on_event(VerifyEvent::Position(self.bytes_done));
                    return Ok(());
                }
                Err(e) => return Err(io(e, "reading the output file")),
            };
            lines += 1;
            let len = line.len;
            self.line(number, f, &line)?;
            self.bytes_done += len;
            if lines.is_multiple_of(2048) {
                on_event(VerifyEvent::Position(self.bytes_done));
            }
        }
        on_event(VerifyEvent::Position(self.bytes_done));
        if lines != ledger_count {
            self.counts.add(format!(
                "{}: {} lines in the output, the ledger says {} resources",
                f.name, lines, ledger_count
            ));
        }
        let sha = input.sha256().unwrap_or_default();
        if sha != ledger_sha {
            self.counts.add(format!(
                "{}: its sha256 differs from the ledger's (the file changed after the run)",
                f.name
            ));
        }
        Ok(())
    }

    fn line(
        &mut self,
        number: u32,
        f: &OutputFile,
        line: &ferry_fhir::Line<'_>,
    ) -> Result<(), VerifyError> {
        let at = format!("{} line {}", f.name, line.number);
        let resource: Value = match line.parse() {
            Ok(v) => v,
            Err(ferry_fhir::NdjsonError::NotJson {
                column, problem, ..
            }) => {
                self.validity.add(format!(
                    "{at}: not a JSON resource ({problem} at column {column})"
                ));
                return Ok(());
            }
            Err(e) => return Err(VerifyError::Ndjson(e)),
        };
        let rtype = resource.get("resourceType").and_then(Value::as_str);
        let id = resource.get("id").and_then(Value::as_str);
        let (Some(rtype), Some(id)) = (rtype, id) else {
            self.validity
                .add(format!("{at}: no \"resourceType\" or no \"id\""));
            return Ok(());
        };
        if rtype != f.resource_type {
            self.validity.add(format!(
                "{at}: a {rtype} in the file of {} resources",
                f.resource_type
            ));
        }
        self.resources += 1;
        self.index.add_resource(
            rtype,
            id,
            number,
            line.offset,
            line.bytes.len() as u64,
            line.number,
        )?;
        let issues = self.validator.validate(&resource);
        if let Some(first) = issues.first() {
            self.validity.add(format!(
                "{rtype}/{id} ({at}): {first}{}",
                if issues.len() > 1 {
                    format!(" (and {} more issues)", issues.len() - 1)
                } else {
                    String::new()
                }
            ));
        }
        for r in json::references(&resource) {
            match r.target {
                Some((t, target)) => {
                    self.references += 1;
                    self.index.add_reference(rtype, id, &r.path, &t, &target)?;
                }
                None => self.unchecked_references += 1,
            }
        }
        if let Some(element) = json::missing_patient(rtype, &resource) {
            self.integrity
                .add(format!("{rtype}/{id}: no Patient reference in `{element}`"));
        }
        for (s, t) in self.searches.iter().zip(self.tallies.iter_mut()) {
            s.observe(rtype, &resource, t);
        }
        Ok(())
    }
}

struct RoundTrip<'a> {
    module: &'a Module,
    index: &'a VerifyIndex,
    files: &'a [OutputFile],
    open: &'a mut Vec<Option<File>>,
    problems: &'a mut Problems,
    show_values: bool,
    /// The module's key columns hold PHI: examples say so in place of the key.
    withhold_key: bool,
    compared: u64,
    /// Accepted merges.
    merge: Option<&'a ferry_map::Merges>,
    /// A summary module: the current patient's rows, and that patient.
    group: Vec<Vec<ferry_core::Value>>,
    group_patient: Option<Option<String>>,
}

/// A row key as an example shows it: withheld when the module's key columns hold PHI.
fn shown(withhold: bool, key: &str) -> &str {
    if withhold { WITHHELD_KEY } else { key }
}

/// What examples show in place of a key whose columns hold PHI.
pub const WITHHELD_KEY: &str = "(withheld: PHI key; --show-values shows it)";

fn outcome_name(o: &LedgerOutcome) -> &'static str {
    match o {
        LedgerOutcome::Migrated(_) => "migrated",
        LedgerOutcome::Excluded => "excluded",
        LedgerOutcome::Exception => "an exception",
        LedgerOutcome::Carried { .. } => "carried over from the base",
        LedgerOutcome::Unknown => "not recorded",
    }
}

impl RoundTrip<'_> {
    /// One row of a summary module: rows are collected per patient and summarized together.
    fn summary_row(
        &mut self,
        schema: &Arc<RowSchema>,
        values: &[ValueRef<'_>],
    ) -> Result<(), VerifyError> {
        let view = RowView { schema, values };
        let patient = self.module.patient_of(&view);
        if self.group_patient.as_ref() != Some(&patient) {
            self.flush_group(schema)?;
            self.group_patient = Some(patient);
        }
        self.group
            .push(values.iter().map(|v| v.to_value()).collect());
        Ok(())
    }

    /// Summarizes the collected patient's rows and compares with the ledger and the output.
    fn flush_group(&mut self, schema: &Arc<RowSchema>) -> Result<(), VerifyError> {
        if self.group.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.group);
        let refs: Vec<Vec<ValueRef<'_>>> = rows
            .iter()
            .map(|r| r.iter().map(ValueRef::from).collect())
            .collect();
        let views: Vec<RowView<'_>> = refs
            .iter()
            .map(|values| RowView { schema, values })
            .collect();
        let summarized = self.module.summarize(&views);
        let m = self.module.name.clone();
        let mut document_checked = false;
        let same_rows = summarized.rows.len() == refs.len();
        for (n, (key, outcome)) in summarized.rows.into_iter().enumerate() {
            let ledger = self.index.ledger_outcome(&m, &key)?;
            if let LedgerOutcome::Carried {
                row_sha,
                outcome: was,
                resources,
            } = &ledger
            {
                let sha = match (same_rows, refs.get(n)) {
                    (true, Some(values)) => {
                        ferry_core::content_hash::row_hash(values.iter().copied())
                    }
                    _ => [0u8; 16],
                };
                let o = match (&outcome, &summarized.document) {
                    (RowOutcome::Migrated(_), Some(doc)) => RowOutcome::Migrated(vec![doc.clone()]),
                    (o, _) => o.clone(),
                };
                self.check_carried(&key, &sha, &o, row_sha, was, resources);
                continue;
            }
            match (&outcome, &ledger) {
                (RowOutcome::Migrated(_), LedgerOutcome::Migrated(ids)) => {
                    if let Some(doc) = &summarized.document {
                        if document_checked {
                            let id = doc.get("id").and_then(Value::as_str).unwrap_or("");
                            if !ids.iter().any(|(_, i)| i == id) {
                                self.problems.add(format!(
                                    "module `{m}` key {k}: its lineage does not name the patient's summary document {id}",
                                    k = shown(self.withhold_key, &key)
                                ));
                            }
                        } else {
                            document_checked = true;
                            self.compare(&key, doc, ids)?;
                        }
                    }
                }
                (RowOutcome::Migrated(_), LedgerOutcome::Exception)
                | (RowOutcome::Excluded { .. }, LedgerOutcome::Excluded)
                | (RowOutcome::Exception(_), LedgerOutcome::Exception) => {}
                (o, ledger) => self.problems.add(format!(
                    "module `{m}` key {k}: the run recorded it as {}, re-evaluation gives {}",
                    outcome_name(ledger),
                    match o {
                        RowOutcome::Migrated(_) => "migrated",
                        RowOutcome::Excluded { .. } => "excluded",
                        RowOutcome::Exception(_) => "an exception",
                    },
                    k = shown(self.withhold_key, &key)
                )),
            }
        }
        Ok(())
    }

    fn row(&mut self, schema: &Arc<RowSchema>, values: &[ValueRef<'_>]) -> Result<(), VerifyError> {
        let view = RowView { schema, values };
        let m = &self.module.name;
        let key = self
            .module
            .row_key(&view)
            .unwrap_or_else(|_| "(no key)".to_string());
        let outcome = self.module.evaluate(&view);
        let ledger = self.index.ledger_outcome(m, &key)?;
        if let LedgerOutcome::Carried {
            row_sha,
            outcome: was,
            resources,
        } = &ledger
        {
            let sha = ferry_core::content_hash::row_hash(values.iter().copied());
            self.check_carried(&key, &sha, &outcome, row_sha, was, resources);
            return Ok(());
        }
        // A merged duplicate patient: the run wrote no resource of its own for it; its lineage
        // must name the survivor's resource.
        if let (RowOutcome::Migrated(_), Some(merges)) = (&outcome, self.merge)
            && let Some((survivor, rtype, id)) = merges.merged_resource(self.module, &key)
        {
            let ok = matches!(&ledger, LedgerOutcome::Migrated(ids)
                if ids.iter().any(|(t, i)| *t == rtype && *i == id));
            if !ok {
                self.problems.add(format!(
                    "module `{m}` key {k}: merged into {s}, but its lineage does not name the survivor's {rtype}/{id}",
                    k = shown(self.withhold_key, &key),
                    s = shown(self.withhold_key, &survivor)
                ));
            }
            return Ok(());
        }
        let now = match &outcome {
            RowOutcome::Migrated(_) => "migrated",
            RowOutcome::Excluded { .. } => "excluded",
            RowOutcome::Exception(_) => "an exception",
        };
        match (outcome, &ledger) {
            (RowOutcome::Migrated(resources), LedgerOutcome::Migrated(ids)) => {
                for r in &resources {
                    self.compare(&key, r, ids)?;
                }
            }
            // An invalid resource is an exception in the run; the validity check covers output.
            (RowOutcome::Migrated(_), LedgerOutcome::Exception)
            | (RowOutcome::Excluded { .. }, LedgerOutcome::Excluded)
            | (RowOutcome::Exception(_), LedgerOutcome::Exception) => {}
            (_, ledger) => self.problems.add(format!(
                "module `{m}` key {k}: the run recorded it as {}, re-evaluation gives {now}",
                outcome_name(ledger),
                k = shown(self.withhold_key, &key)
            )),
        }
        Ok(())
    }

    /// A row a delta run carried over from its base: its content must be the base's (by row
    /// hash) and re-evaluation must give what the base recorded (outcome, and each resource by
    /// type, id and the sha256 of its canonical bytes). The resources are in the base's output,
    /// which the base's own verification read back.
    fn check_carried(
        &mut self,
        key: &str,
        sha: &[u8; 16],
        outcome: &RowOutcome,
        row_sha: &[u8],
        was: &str,
        resources: &[(String, String, String)],
    ) {
        let m = self.module.name.clone();
        let k = shown(self.withhold_key, key).to_string();
        if row_sha != sha.as_slice() {
            self.problems.add(format!(
                "module `{m}` key {k}: the delta carried it over from its base as unchanged, but its content differs from the base's"
            ));
            return;
        }
        if let (RowOutcome::Migrated(_), Some(merges)) = (outcome, self.merge)
            && let Some((_, rtype, id)) = merges.merged_resource(self.module, key)
        {
            if !resources.iter().any(|(t, i, _)| *t == rtype && *i == id) {
                self.problems.add(format!(
                    "module `{m}` key {k}: merged into {rtype}/{id}, but the base's lineage carried over does not name it"
                ));
            }
            return;
        }
        match (outcome, was) {
            (RowOutcome::Migrated(rs), "migrated") => {
                for r in rs {
                    self.check_carried_resource(key, r, resources);
                }
            }
            (RowOutcome::Migrated(_), "exception")
            | (RowOutcome::Excluded { .. }, "excluded")
            | (RowOutcome::Exception(_), "exception") => {}
            (o, was) => self.problems.add(format!(
                "module `{m}` key {k}: the base recorded it as {was}, re-evaluation gives {}",
                match o {
                    RowOutcome::Migrated(_) => "migrated",
                    RowOutcome::Excluded { .. } => "excluded",
                    RowOutcome::Exception(_) => "an exception",
                }
            )),
        }
    }

    /// One re-evaluated resource of a carried row against the base's lineage entry for it.
    fn check_carried_resource(
        &mut self,
        key: &str,
        expected: &Value,
        resources: &[(String, String, String)],
    ) {
        use sha2::Digest;
        let m = &self.module.name;
        let rtype = expected
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let id = expected.get("id").and_then(Value::as_str).unwrap_or("");
        let mut bytes = Vec::new();
        ferry_fhir::write_canonical(&mut bytes, expected);
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        match resources.iter().find(|(t, i, _)| t == rtype && i == id) {
            None => self.problems.add(format!(
                "{rtype}/{id} (module `{m}` key {k}): re-evaluation gives this resource, the base's lineage carried over does not list it",
                k = shown(self.withhold_key, key)
            )),
            Some((_, _, s)) if *s != sha => self.problems.add(format!(
                "{rtype}/{id} (module `{m}` key {k}): carried over from the base, but re-evaluation gives other content than the base wrote",
                k = shown(self.withhold_key, key)
            )),
            Some(_) => {}
        }
    }

    fn compare(
        &mut self,
        key: &str,
        expected: &Value,
        ids: &[(String, String)],
    ) -> Result<(), VerifyError> {
        let m = &self.module.name;
        let rtype = expected
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let id = expected.get("id").and_then(Value::as_str).unwrap_or("");
        if !ids.iter().any(|(t, i)| t == rtype && i == id) {
            self.problems.add(format!(
                "{rtype}/{id} (module `{m}` key {k}): re-evaluation gives this resource, the ledger's lineage does not list it",
                k = shown(self.withhold_key, key)
            ));
        }
        let Some(loc) = self.index.locate(rtype, id)? else {
            self.problems.add(format!(
                "{rtype}/{id} (module `{m}` key {k}): missing from the output",
                k = shown(self.withhold_key, key)
            ));
            return Ok(());
        };
        self.index.mark_seen(loc.row)?;
        self.compared += 1;
        let Some(found) = self.read(loc)? else {
            // Not JSON: already counted by the validity check.
            return Ok(());
        };
        for d in json::diff(expected, &found) {
            let path = if d.path.is_empty() {
                "(resource)"
            } else {
                &d.path
            };
            let values = self.show_values.then(|| {
                format!(
                    "expected {}, found {}",
                    d.expected.as_deref().unwrap_or("(absent)"),
                    d.found.as_deref().unwrap_or("(absent)")
                )
            });
            self.problems.add_with_values(
                format!(
                    "{rtype}/{id} {path} (module `{m}` key {k}): differs from the mapping",
                    k = shown(self.withhold_key, key)
                ),
                values,
            );
        }
        Ok(())
    }

    fn read(&mut self, loc: ferry_store::ResourceLocation) -> Result<Option<Value>, VerifyError> {
        let i = loc.file as usize;
        let (Some(Some(file)), Some(meta)) = (self.open.get_mut(i), self.files.get(i)) else {
            return Ok(None);
        };
        let io = |source| VerifyError::Io {
            path: meta.path.clone(),
            action: "reading back a resource",
            source,
        };
        // The length comes from our own index of this file; a file changed since is caught by
        // the sha256 check, and a short read is an error, not a panic.
        let Ok(len) = usize::try_from(loc.len) else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len];
        file.seek(SeekFrom::Start(loc.offset)).map_err(io)?;
        file.read_exact(&mut buf).map_err(io)?;
        Ok(serde_json::from_slice(&buf).ok())
    }
}

/// The number a comparative search's SQL gives on the snapshot, or what is wrong with it (a
/// message naming the checks file). Shared by `ferry verify` and `ferry verify --target`.
pub fn search_sql_number(reader: &ferry_store::SnapshotReader, s: &Search) -> Result<f64, String> {
    let mut first: Option<QueryValue> = None;
    let sql = reader.query(&s.sql, &mut |_, row| {
        first = row.first().cloned();
        false
    });
    match (&sql, &first) {
        (Err(e), _) => Err(format!(
            "its SQL failed on the snapshot: {e} (fix `sql` in {})",
            s.file.display()
        )),
        (Ok(_), Some(QueryValue::Integer(i))) => Ok(*i as f64),
        (Ok(_), Some(QueryValue::Real(r))) => Ok(*r),
        (Ok(_), Some(QueryValue::Text(t))) => t.trim().parse::<f64>().map_err(|_| {
            format!(
                "its SQL returned text, not a number (fix `sql` in {})",
                s.file.display()
            )
        }),
        (Ok(_), _) => Err(format!(
            "its SQL returned no number (it must return one row with a number; fix `sql` in {})",
            s.file.display()
        )),
    }
}

fn run_search(
    reader: &ferry_store::SnapshotReader,
    s: &Search,
    tally: &search::Tally,
) -> CheckResult {
    let name = format!("search:{}", s.name);
    let fhir = s.result(tally);
    let number = search_sql_number(reader, s);
    let (status, summary, problems) = match number {
        Err(msg) => (Status::Fail, msg, 1),
        Ok(sql) => {
            let allowed = s.allowed(sql);
            let ok = (fhir - sql).abs() <= allowed + 1e-9;
            (
                if ok { Status::Pass } else { Status::Fail },
                format!(
                    "{}snapshot (SQL) {}, output (FHIR) {}, difference {}, allowed {}",
                    s.description
                        .as_deref()
                        .map(|d| format!("{d}: "))
                        .unwrap_or_default(),
                    num(sql),
                    num(fhir),
                    num((fhir - sql).abs()),
                    num(allowed)
                ),
                u64::from(!ok),
            )
        }
    };
    CheckResult {
        name,
        status,
        summary,
        problems,
        examples: Vec::new(),
        values: Vec::new(),
    }
}

use ferry_core::num;
