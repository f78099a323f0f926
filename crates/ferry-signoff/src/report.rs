//! The sign-off report: everything the client signs, from the workspace's own records.
//!
//! [`gather`] reads the runs, their snapshots, books, exceptions, verifications and clinician
//! verdicts into a [`SignoffReport`] (plain data), [`decide`] gives go or no-go from it, and
//! [`render`] writes it as one self-contained HTML page. Exceptions are shown by module and
//! reason with counts only: no raw values and no source keys.

use crate::SignoffError;
use ferry_store::{FileRecord, ModuleBooks, Workspace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

const TEMPLATE: &str = include_str!("templates/report.html");

/// One verification of a run, as `ferry verify` records it (the verify ledger's
/// `VerificationRecord`).
#[derive(Debug, Clone)]
pub struct VerificationInput {
    pub id: u64,
    pub run_id: u64,
    pub started_at: String,
    pub duration_ms: u64,
    /// `go` or `no-go`.
    pub verdict: String,
    pub summary_json: String,
}

/// The whole report, in the order it is shown.
#[derive(Debug, Clone, Serialize)]
pub struct SignoffReport {
    pub project: String,
    pub generated_at: String,
    pub ferry_version: String,
    /// The runs, oldest first; the last is the one the decision is about.
    pub runs: Vec<RunView>,
    pub snapshots: Vec<SnapshotView>,
    pub checklist: Vec<ChecklistRow>,
    /// True when more than one run is compared (the checklist then has a delta column).
    pub compare: bool,
    pub decision: Decision,
    /// The runbook of the decided run (`ferry runbook`), beside earlier ones; set by the caller.
    pub runbook: Option<crate::runbook::RunbookSection>,
    pub style: String,
    pub signatures: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: u64,
    pub kind: String,
    /// A delta run's base run.
    pub base: Option<u64>,
    pub snapshot: u64,
    pub started_at: String,
    pub duration_ms: u64,
    pub status: String,
    pub ok: bool,
    pub modules: Vec<BooksRow>,
    pub totals: BooksRow,
    pub outputs: Vec<OutputRow>,
    pub exceptions: Vec<ExceptionRow>,
    pub exceptions_total: u64,
    /// How often each reviewer decision was applied (`mappings/decisions.toml`).
    pub decisions: Vec<ferry_store::DecisionUse>,
    /// Every verification of the run, oldest first; the last one counts.
    pub verifications: Vec<VerificationView>,
    /// The latest verification on each target the run was verified on (`ferry verify
    /// --target`), by target name.
    pub target_verifications: Vec<TargetVerificationView>,
    /// Every `ferry load` of the run, oldest first.
    pub loads: Vec<LoadView>,
    pub samples: Vec<SampleView>,
}

/// One `ferry load` of a run into a FHIR target, as its journal tells it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LoadView {
    pub load: u64,
    pub target: String,
    /// `loading` (unfinished), `loaded`, `loaded-with-failures`, `rolled-back`, `not-started`.
    pub status: String,
    pub started_at: String,
    /// Empty while unfinished.
    pub finished_at: String,
    /// Who started it.
    pub actor: String,
    /// Made with `--unverified`.
    pub unverified: bool,
    pub resources: u64,
    /// Written by Ferry (including the load's Provenance).
    pub written: u64,
    /// Already on the server with the same content.
    pub unchanged: u64,
    /// Refused by the server (OperationOutcomes in the journal).
    pub refused: u64,
    /// Sent or about to be sent, with no answer recorded (an unfinished load).
    pub unanswered: u64,
}

/// The latest `ferry verify --target` of a run on one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetVerificationView {
    pub id: u64,
    pub target: String,
    pub base_url: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub actor: String,
    pub go: bool,
    /// How many times the run was verified on this target.
    pub count: usize,
    pub checks: Vec<CheckView>,
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct BooksRow {
    pub module: String,
    pub duration_ms: u64,
    pub source_rows: u64,
    pub migrated: u64,
    pub excluded: u64,
    pub exceptions: u64,
    pub resources: u64,
    pub balanced: bool,
    pub migrated_by_decision: u64,
    pub excluded_by_decision: u64,
    /// A delta run: rows carried over from its base, new, changed, and deleted since.
    pub unchanged: u64,
    pub new_rows: u64,
    pub changed: u64,
    pub deleted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputRow {
    pub resource_type: String,
    pub file: String,
    pub resources: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionRow {
    pub module: String,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotView {
    pub id: u64,
    pub label: Option<String>,
    pub created_at: String,
    pub duration_ms: u64,
    pub tables: u64,
    pub rows: u64,
    pub content_sha256: String,
    pub files: Vec<FileRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerificationView {
    pub id: u64,
    pub started_at: String,
    pub duration_ms: u64,
    pub verdict: String,
    pub go: bool,
    pub checks: Vec<CheckView>,
    pub thresholds: Vec<ThresholdView>,
    /// Set when the recorded summary could not be read (the verdict still counts).
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    pub name: String,
    pub status: String,
    pub summary: String,
    pub problems: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdView {
    pub name: String,
    pub limit: String,
    pub actual: String,
    pub ok: bool,
    /// Where the limit was set (empty for older verifications).
    pub set_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleView {
    pub packet: u64,
    pub seed: u64,
    pub created_at: String,
    pub patients: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub pending: usize,
    pub verdicts: Vec<VerdictRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerdictRow {
    pub patient_key: String,
    /// `accept`, `reject`, or `pending` (no verdict recorded yet).
    pub verdict: String,
    pub reviewer: String,
    pub comment: String,
    pub recorded_at: String,
}

/// One step of the migration checklist, with each run's cell side by side.
#[derive(Debug, Clone, Serialize)]
pub struct ChecklistRow {
    pub step: String,
    pub cells: Vec<Option<StepCell>>,
    /// Last run minus first run, when both have the step.
    pub delta_ms: Option<i64>,
    pub delta_count: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepCell {
    pub duration_ms: u64,
    /// Rows (stage: staged rows; module: source rows; verification: problems found).
    pub count: Option<u64>,
    pub status: String,
}

/// Go or no-go, with every reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Decision {
    pub go: bool,
    /// The run decided about (the last one given).
    pub run: u64,
    /// Why not (empty when go).
    pub blockers: Vec<String>,
    /// Worth a look, not blocking.
    pub cautions: Vec<String>,
}

/// The roles that sign.
const SIGNATURES: &[&str] = &[
    "Migration lead",
    "Clinical reviewer",
    "Client data owner",
    "Go-live approver",
];

/// Reads everything the report shows for `runs` (sorted and deduplicated; the last is the one
/// decided about). `verifications(run)` gives the run's verifications, oldest first.
pub fn gather(
    ws: &Workspace,
    project: &str,
    runs: &[u64],
    verifications: &dyn Fn(u64) -> Result<Vec<VerificationInput>, SignoffError>,
    loads: &dyn Fn(u64) -> Result<Vec<LoadView>, SignoffError>,
) -> Result<SignoffReport, SignoffError> {
    let mut ids: Vec<u64> = runs.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut views = Vec::new();
    let mut snapshots: BTreeMap<u64, SnapshotView> = BTreeMap::new();
    for id in &ids {
        let run = ws.run(Some(*id))?;
        if !snapshots.contains_key(&run.snapshot) {
            let s = ws.snapshot(Some(run.snapshot))?;
            snapshots.insert(
                s.id,
                SnapshotView {
                    id: s.id,
                    label: s.label.clone(),
                    created_at: s.created_at.clone(),
                    duration_ms: s.duration_ms,
                    tables: s.tables,
                    rows: s.rows,
                    content_sha256: s.content_sha256.clone(),
                    files: ws.files(s.id)?,
                },
            );
        }
        let modules: Vec<BooksRow> = ws.run_modules(run.id)?.iter().map(books_row).collect();
        let mut totals = BooksRow {
            module: "total".into(),
            balanced: true,
            ..BooksRow::default()
        };
        for m in &modules {
            totals.duration_ms += m.duration_ms;
            totals.source_rows += m.source_rows;
            totals.migrated += m.migrated;
            totals.excluded += m.excluded;
            totals.exceptions += m.exceptions;
            totals.resources += m.resources;
            totals.balanced &= m.balanced;
            totals.migrated_by_decision += m.migrated_by_decision;
            totals.excluded_by_decision += m.excluded_by_decision;
            totals.unchanged += m.unchanged;
            totals.new_rows += m.new_rows;
            totals.changed += m.changed;
            totals.deleted += m.deleted;
        }
        let outputs = ws
            .run_outputs(run.id)?
            .into_iter()
            .map(|o| OutputRow {
                resource_type: o.resource_type,
                file: o.file,
                resources: o.resources,
                sha256: o.sha256,
            })
            .collect();
        // A failed run may have no ledger file: its exceptions are then simply not shown.
        let exceptions: Vec<ExceptionRow> = match ws.exceptions(run.id, None, false) {
            Ok(groups) => groups
                .into_iter()
                .map(|g| ExceptionRow {
                    module: g.module,
                    reason: g.reason,
                    count: g.count,
                })
                .collect(),
            Err(ferry_store::StoreError::UnknownRun(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let exceptions_total = exceptions.iter().map(|e| e.count).sum();
        let verifications = verifications(run.id)?
            .iter()
            .map(verification_view)
            .collect();
        let target_verifications = target_verification_views(&ws.target_verifications(run.id)?);
        let loads = loads(run.id)?;
        let mut samples = Vec::new();
        for p in ws.sample_packets(Some(run.id))? {
            let recorded = ws.sample_verdicts(p.id)?;
            let mut by_key: BTreeMap<&str, &ferry_store::SampleVerdict> = BTreeMap::new();
            for v in &recorded {
                by_key.insert(v.patient_key.as_str(), v);
            }
            let verdicts: Vec<VerdictRow> = p
                .patients
                .iter()
                .map(|k| match by_key.get(k.as_str()) {
                    Some(v) => VerdictRow {
                        patient_key: k.clone(),
                        verdict: v.verdict.clone(),
                        reviewer: v.reviewer.clone(),
                        comment: v.comment.clone(),
                        recorded_at: v.recorded_at.clone(),
                    },
                    None => VerdictRow {
                        patient_key: k.clone(),
                        verdict: "pending".into(),
                        reviewer: String::new(),
                        comment: String::new(),
                        recorded_at: String::new(),
                    },
                })
                .collect();
            let count = |v: &str| verdicts.iter().filter(|r| r.verdict == v).count();
            samples.push(SampleView {
                packet: p.id,
                seed: p.seed,
                created_at: p.created_at.clone(),
                patients: p.patients.len(),
                accepted: count("accept"),
                rejected: count("reject"),
                pending: count("pending"),
                verdicts,
            });
        }
        views.push(RunView {
            id: run.id,
            kind: run.kind,
            base: run.base,
            snapshot: run.snapshot,
            started_at: run.started_at,
            duration_ms: run.duration_ms,
            ok: run.status == "ok",
            status: run.status,
            modules,
            totals,
            outputs,
            exceptions,
            exceptions_total,
            decisions: ws.decision_uses(run.id).unwrap_or_default(),
            verifications,
            target_verifications,
            loads,
            samples,
        });
    }
    let checklist = checklist(&views, &snapshots);
    let mut report = SignoffReport {
        project: project.to_string(),
        generated_at: ferry_core::calendar::now_utc_rfc3339(),
        ferry_version: env!("CARGO_PKG_VERSION").to_string(),
        compare: views.len() > 1,
        runs: views,
        snapshots: snapshots.into_values().collect(),
        checklist,
        decision: Decision {
            go: false,
            run: 0,
            blockers: Vec::new(),
            cautions: Vec::new(),
        },
        runbook: None,
        style: crate::render::STYLE.to_string(),
        signatures: SIGNATURES.to_vec(),
    };
    report.decision = decide(&report.runs);
    Ok(report)
}

fn books_row(m: &ModuleBooks) -> BooksRow {
    BooksRow {
        module: m.module.clone(),
        duration_ms: m.duration_ms,
        source_rows: m.source_rows,
        migrated: m.migrated,
        excluded: m.excluded,
        exceptions: m.exceptions,
        resources: m.resources,
        balanced: m.balanced(),
        migrated_by_decision: m.migrated_by_decision,
        excluded_by_decision: m.excluded_by_decision,
        unchanged: m.unchanged,
        new_rows: m.new_rows,
        changed: m.changed,
        deleted: m.deleted,
    }
}

/// Reads the verify ledger's summary JSON; what cannot be read is said, not guessed.
fn verification_view(v: &VerificationInput) -> VerificationView {
    let mut view = VerificationView {
        id: v.id,
        started_at: v.started_at.clone(),
        duration_ms: v.duration_ms,
        verdict: v.verdict.clone(),
        go: v.verdict == "go",
        checks: Vec::new(),
        thresholds: Vec::new(),
        unreadable: None,
    };
    let summary: serde_json::Value = match serde_json::from_str(&v.summary_json) {
        Ok(s) => s,
        Err(e) => {
            view.unreadable = Some(format!("the recorded summary is not JSON ({e})"));
            return view;
        }
    };
    let text = |x: &serde_json::Value| match x {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    if let Some(checks) = summary.get("checks").and_then(|c| c.as_array()) {
        for c in checks {
            view.checks.push(CheckView {
                name: c.get("name").map(text).unwrap_or_default(),
                status: c.get("status").map(text).unwrap_or_default(),
                summary: c.get("summary").map(text).unwrap_or_default(),
                problems: c.get("problems").and_then(|p| p.as_u64()).unwrap_or(0),
            });
        }
    } else {
        view.unreadable = Some("the recorded summary has no `checks` list".into());
    }
    if let Some(ts) = summary.get("thresholds").and_then(|c| c.as_array()) {
        for t in ts {
            view.thresholds.push(ThresholdView {
                name: t.get("name").map(text).unwrap_or_default(),
                limit: t.get("limit").map(text).unwrap_or_default(),
                actual: t.get("actual").map(text).unwrap_or_default(),
                ok: t.get("ok").and_then(|o| o.as_bool()).unwrap_or(false),
                set_by: t.get("set_by").map(text).unwrap_or_default(),
            });
        }
    }
    view
}

/// The latest verification per target, in target order, with its summary read back into rows.
fn target_verification_views(
    records: &[ferry_store::TargetVerificationRecord],
) -> Vec<TargetVerificationView> {
    let mut latest: BTreeMap<&str, (&ferry_store::TargetVerificationRecord, usize)> =
        BTreeMap::new();
    for r in records {
        let e = latest.entry(r.target.as_str()).or_insert((r, 0));
        e.0 = r;
        e.1 += 1;
    }
    latest
        .into_values()
        .map(|(r, count)| {
            let mut view = TargetVerificationView {
                id: r.id,
                target: r.target.clone(),
                base_url: r.base_url.clone(),
                started_at: r.started_at.clone(),
                duration_ms: r.duration_ms,
                actor: r.actor.clone().unwrap_or_default(),
                go: r.verdict == "go",
                count,
                checks: Vec::new(),
                unreadable: None,
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.summary_json) else {
                view.unreadable = Some("the recorded summary is not JSON".into());
                return view;
            };
            let u = |x: &serde_json::Value, k: &str| x.get(k).and_then(|n| n.as_u64()).unwrap_or(0);
            let status = |ok: bool| if ok { "pass" } else { "fail" }.to_string();
            let counts = v.get("counts").and_then(|c| c.as_array()).cloned().unwrap_or_default();
            let (run_n, server_n) = counts
                .iter()
                .fold((0, 0), |(a, b), c| (a + u(c, "run"), b + u(c, "server")));
            let off: Vec<String> = counts
                .iter()
                .filter(|c| u(c, "run") != u(c, "server"))
                .map(|c| {
                    format!(
                        "{} (run {}, server {})",
                        c.get("resource_type").and_then(|t| t.as_str()).unwrap_or("?"),
                        u(c, "run"),
                        u(c, "server")
                    )
                })
                .collect();
            view.checks.push(CheckView {
                name: "counts".into(),
                status: status(off.is_empty()),
                summary: format!(
                    "{} types: run {}, server {} (this project's resources, by tag){}",
                    counts.len(),
                    crate::render::thousands(run_n as i64),
                    crate::render::thousands(server_n as i64),
                    if off.is_empty() {
                        String::new()
                    } else {
                        format!("; differ: {}", off.join(", "))
                    }
                ),
                problems: off.len() as u64,
            });
            let problems = u(&v, "problem_count");
            view.checks.push(CheckView {
                name: "read back".into(),
                status: status(problems == 0),
                summary: format!(
                    "{} resources read back and compared with the run's output (server meta ignored), {} references resolved",
                    crate::render::thousands(u(&v, "read_back") as i64),
                    crate::render::thousands(u(&v, "references_checked") as i64)
                ),
                problems,
            });
            for srch in v.get("searches").and_then(|c| c.as_array()).into_iter().flatten() {
                let ok = srch.get("ok").and_then(|o| o.as_bool()).unwrap_or(false);
                view.checks.push(CheckView {
                    name: format!(
                        "search:{}",
                        srch.get("name").and_then(|n| n.as_str()).unwrap_or("?")
                    ),
                    status: status(ok),
                    summary: srch
                        .get("summary")
                        .and_then(|n| n.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    problems: u64::from(!ok),
                });
            }
            view
        })
        .collect()
}

/// The checklist: staging, each module, the verification and the whole run, per run side by
/// side. Modules appear in the order of the first run that has them.
fn checklist(runs: &[RunView], snapshots: &BTreeMap<u64, SnapshotView>) -> Vec<ChecklistRow> {
    let mut rows: Vec<ChecklistRow> = Vec::new();
    let n = runs.len();
    let mut push = |step: String, cells: Vec<Option<StepCell>>| {
        let (delta_ms, delta_count) = match (cells.first(), cells.last()) {
            (Some(Some(a)), Some(Some(b))) if n > 1 => (
                Some(b.duration_ms as i64 - a.duration_ms as i64),
                a.count.zip(b.count).map(|(a, b)| b as i64 - a as i64),
            ),
            _ => (None, None),
        };
        rows.push(ChecklistRow {
            step,
            cells,
            delta_ms,
            delta_count,
        });
    };
    push(
        "Stage the snapshot".into(),
        runs.iter()
            .map(|r| {
                snapshots.get(&r.snapshot).map(|s| StepCell {
                    duration_ms: s.duration_ms,
                    count: Some(s.rows),
                    status: format!("snapshot {}", s.id),
                })
            })
            .collect(),
    );
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        for m in &r.modules {
            if !names.contains(&m.module.as_str()) {
                names.push(&m.module);
            }
        }
    }
    for name in names {
        push(
            format!("Module {name}"),
            runs.iter()
                .map(|r| {
                    r.modules
                        .iter()
                        .find(|m| m.module == name)
                        .map(|m| StepCell {
                            duration_ms: m.duration_ms,
                            count: Some(m.source_rows),
                            status: if m.balanced { "balanced" } else { "UNBALANCED" }.into(),
                        })
                })
                .collect(),
        );
    }
    push(
        "Migration run (all modules, output written)".into(),
        runs.iter()
            .map(|r| {
                Some(StepCell {
                    duration_ms: r.duration_ms,
                    count: Some(r.totals.source_rows),
                    status: r.status.clone(),
                })
            })
            .collect(),
    );
    push(
        "Verification".into(),
        runs.iter()
            .map(|r| {
                r.verifications.last().map(|v| StepCell {
                    duration_ms: v.duration_ms,
                    count: Some(v.checks.iter().map(|c| c.problems).sum()),
                    status: v.verdict.clone(),
                })
            })
            .collect(),
    );
    rows
}

/// Go only when the last run finished, its books balance, its latest verification says go, its
/// latest verification on each target it was verified on says go, and no clinician rejected a
/// sampled chart of any run in the report.
pub fn decide(runs: &[RunView]) -> Decision {
    let mut d = Decision {
        go: false,
        run: 0,
        blockers: Vec::new(),
        cautions: Vec::new(),
    };
    let Some(last) = runs.last() else {
        d.blockers.push("no run to decide about".into());
        return d;
    };
    d.run = last.id;
    if !last.ok {
        d.blockers
            .push(format!("run {} did not finish: {}", last.id, last.status));
    }
    for m in last.modules.iter().filter(|m| !m.balanced) {
        d.blockers.push(format!(
            "run {}: the books of module {} do not balance",
            last.id, m.module
        ));
    }
    match last.verifications.last() {
        None => d.blockers.push(format!(
            "run {} was not verified: run `ferry verify --run {}`",
            last.id, last.id
        )),
        Some(v) if !v.go => {
            let mut why: Vec<String> = Vec::new();
            let failed: Vec<&str> = v
                .checks
                .iter()
                .filter(|c| c.status == "fail")
                .map(|c| c.name.as_str())
                .collect();
            if !failed.is_empty() {
                why.push(format!("failed checks {}", failed.join(", ")));
            }
            let unmet: Vec<&str> = v
                .thresholds
                .iter()
                .filter(|t| !t.ok)
                .map(|t| t.name.as_str())
                .collect();
            if !unmet.is_empty() {
                why.push(format!("thresholds not met: {}", unmet.join(", ")));
            }
            d.blockers.push(if why.is_empty() {
                format!(
                    "verification {} of run {} answered {}",
                    v.id, last.id, v.verdict
                )
            } else {
                format!(
                    "verification {} of run {} answered {}: {}",
                    v.id,
                    last.id,
                    v.verdict,
                    why.join("; ")
                )
            });
        }
        Some(_) => {}
    }
    for t in last.target_verifications.iter().filter(|t| !t.go) {
        let failed: Vec<&str> = t
            .checks
            .iter()
            .filter(|c| c.status == "fail")
            .map(|c| c.name.as_str())
            .collect();
        d.blockers.push(format!(
            "verification {} of run {} on target `{}` answered no-go{}",
            t.id,
            last.id,
            t.target,
            if failed.is_empty() {
                String::new()
            } else {
                format!(": failed checks {}", failed.join(", "))
            }
        ));
    }
    // The latest load of the run on each target: unfinished or with refused resources, the
    // target does not hold the run.
    let mut latest: BTreeMap<&str, &LoadView> = BTreeMap::new();
    for l in last.loads.iter().filter(|l| l.status != "not-started") {
        latest.insert(l.target.as_str(), l);
    }
    for l in latest.values() {
        match l.status.as_str() {
            "loading" => d.blockers.push(format!(
                "load {} of run {} into `{}` is unfinished ({} resources without an answer): `ferry load --target {} --resume` finishes it",
                l.load, last.id, l.target, l.unanswered, l.target
            )),
            "loaded-with-failures" => d.blockers.push(format!(
                "load {} of run {} into `{}`: the target refused {} resources (`ferry loads`; each OperationOutcome is in the load's journal)",
                l.load, last.id, l.target, l.refused
            )),
            _ => {}
        }
        if l.unverified {
            d.cautions.push(format!(
                "load {} of run {} into `{}` was made with --unverified",
                l.load, last.id, l.target
            ));
        }
    }
    for r in runs {
        for s in &r.samples {
            for v in s.verdicts.iter().filter(|v| v.verdict == "reject") {
                d.blockers.push(format!(
                    "sample packet {} (run {}): {} rejected the chart of patient {}",
                    s.packet,
                    r.id,
                    if v.reviewer.is_empty() {
                        "a reviewer"
                    } else {
                        v.reviewer.as_str()
                    },
                    v.patient_key
                ));
            }
            if s.pending > 0 {
                d.cautions.push(format!(
                    "sample packet {} (run {}): {} of {} charts have no verdict yet",
                    s.packet, r.id, s.pending, s.patients
                ));
            }
        }
    }
    if last.samples.is_empty() {
        d.cautions.push(format!(
            "no clinician sample of run {}: `ferry sample --run {}`",
            last.id, last.id
        ));
    }
    for r in &runs[..runs.len() - 1] {
        if r.verifications.is_empty() {
            d.cautions
                .push(format!("run {} ({}) was not verified", r.id, r.kind));
        }
    }
    if last.exceptions_total > 0 {
        d.cautions.push(format!(
            "run {} left {} source rows as exceptions (listed below by reason)",
            last.id,
            crate::render::thousands(last.totals.exceptions as i64)
        ));
    }
    for u in last.decisions.iter().filter(|u| u.rows == 0) {
        d.cautions.push(format!(
            "decision {} ({} in module {}) matched no row of run {}: review it in mappings/decisions.toml",
            u.decision, u.action, u.module, last.id
        ));
    }
    d.go = d.blockers.is_empty();
    d
}

/// The report as one HTML page.
pub fn render(report: &SignoffReport) -> Result<String, SignoffError> {
    crate::render::render("report.html", TEMPLATE, report)
}

/// Writes the report's HTML to `path` atomically.
pub fn write(report: &SignoffReport, path: &Path) -> Result<(), SignoffError> {
    let html = render(report)?;
    crate::fsutil::write_atomic(path, html.as_bytes(), ferry_core::atomic::Contents::Project)
}

/// `signoff-0003.html`, `signoff-0002-0003.html`.
pub fn file_name(runs: &[u64]) -> String {
    let mut ids = runs.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let parts: Vec<String> = ids.iter().map(|r| format!("{r:04}")).collect();
    format!("signoff-{}.html", parts.join("-"))
}

#[cfg(test)]
mod tests;
