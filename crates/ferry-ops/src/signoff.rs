//! `ferry sample` (clinician verification packets and their verdicts) and `ferry report` (the
//! sign-off report).

use crate::{OpsError, Progress, Project, Session};
use std::path::{Path, PathBuf};

fn signoff_err(e: ferry_signoff::SignoffError) -> OpsError {
    OpsError::Other(e.to_string())
}

/// A packet made by [`sample`].
#[derive(Debug, serde::Serialize)]
pub struct SampleOutcome {
    pub packet: u64,
    pub run: u64,
    pub run_kind: String,
    pub seed: u64,
    pub asked: usize,
    pub patients: usize,
    pub with_exceptions: usize,
    pub legacy_rows: usize,
    pub html: PathBuf,
    pub form: PathBuf,
    pub duration_ms: u64,
}

/// Chooses `patients` patients of a run (by `seed`, else a new one) and writes their packet and
/// verdict form.
pub fn sample(
    session: &mut Session,
    run: Option<u64>,
    patients: usize,
    seed: Option<u64>,
    progress: &dyn Progress,
) -> Result<SampleOutcome, OpsError> {
    let result = sample_unsealed(session, run, patients, seed, progress);
    session.seal("sample", result)
}

fn sample_unsealed(
    session: &mut Session,
    run: Option<u64>,
    patients: usize,
    seed: Option<u64>,
    progress: &dyn Progress,
) -> Result<SampleOutcome, OpsError> {
    let started = std::time::Instant::now();
    if patients == 0 {
        return Err(OpsError::Other("`--patients` must be at least 1".into()));
    }
    let project = session.project.clone();
    let ws = &mut session.ws;
    let run = ws.run(run)?;
    if run.status != "ok" {
        return Err(OpsError::RunNotUsable {
            run: run.id,
            action: "sampled",
            status: run.status,
            hint: "A failed run wrote no output; sample a run that finished",
        });
    }
    progress.phase("choosing patients", None);
    let sources = module_sources(&project)?;
    let seed = seed.unwrap_or_else(new_seed);
    let chosen =
        ferry_signoff::choose(ws, run.id, &sources, patients, seed).map_err(signoff_err)?;
    progress.phase("building the packet", None);
    let mut packet = ferry_signoff::build_packet(
        ws,
        &project.root,
        &project.name(),
        run.id,
        &sources,
        &chosen.patients,
        seed,
    )
    .map_err(signoff_err)?;
    let reports = project.reports_dir();
    let recorded = ws.record_sample_packet(run.id, seed, &chosen.patients, &|id| {
        (
            project.relative(&reports.join(format!("sample-{id:04}.html"))),
            project.relative(&reports.join(format!("sample-{id:04}-verdicts.csv"))),
        )
    })?;
    packet.id = recorded.id;
    packet.form_file = recorded.form_file.clone();
    let html = project.resolve(&recorded.packet_file);
    let form = project.resolve(&recorded.form_file);
    let written = ferry_signoff::sample::write_packet(&packet, &html)
        .and_then(|_| ferry_signoff::write_form(&recorded, &form));
    if let Err(e) = written {
        let _ = ws.forget_sample_packet(recorded.id);
        let _ = std::fs::remove_file(&html);
        return Err(OpsError::Other(format!(
            "the sample packet was not made: {e}"
        )));
    }
    Ok(SampleOutcome {
        packet: recorded.id,
        run: run.id,
        run_kind: run.kind,
        seed,
        asked: patients,
        patients: chosen.patients.len(),
        with_exceptions: chosen.with_exceptions,
        legacy_rows: packet.patients.iter().map(|p| p.items).sum(),
        html,
        form,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// What [`record_verdicts`] recorded.
#[derive(Debug, serde::Serialize)]
pub struct VerdictsOutcome {
    pub packet: u64,
    pub recorded: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub pending: usize,
    /// When, if anything was recorded.
    pub at: Option<String>,
}

/// Records the verdicts of a filled verdict form.
pub fn record_verdicts(session: &mut Session, file: &Path) -> Result<VerdictsOutcome, OpsError> {
    let result = record_verdicts_unsealed(session, file);
    session.seal("sample record", result)
}

fn record_verdicts_unsealed(
    session: &mut Session,
    file: &Path,
) -> Result<VerdictsOutcome, OpsError> {
    let ws = &mut session.ws;
    let form = {
        let ws_ref = &*ws;
        ferry_signoff::read_form(file, &|id| Ok(ws_ref.sample_packet(id)?)).map_err(signoff_err)?
    };
    let accepted = form
        .verdicts
        .iter()
        .filter(|v| v.verdict == "accept")
        .count();
    let mut out = VerdictsOutcome {
        packet: form.packet,
        recorded: form.verdicts.len(),
        accepted,
        rejected: form.verdicts.len() - accepted,
        pending: form.pending.len(),
        at: None,
    };
    if form.verdicts.is_empty() {
        return Ok(out);
    }
    let at = ws
        .record_sample_verdicts(
            form.packet,
            &form.verdicts,
            &session
                .project
                .relative(&std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf())),
        )
        .map_err(|e| {
            OpsError::Other(format!(
                "the verdicts of `{}` were not recorded: {e}",
                file.display()
            ))
        })?;
    out.at = Some(at);
    Ok(out)
}

/// The sign-off report written by [`report`].
#[derive(Debug, serde::Serialize)]
pub struct ReportOutcome {
    pub path: PathBuf,
    pub runs: Vec<(u64, String)>,
    pub go: bool,
    pub decided_run: u64,
    pub blockers: Vec<String>,
    pub cautions: Vec<String>,
    pub duration_ms: u64,
}

/// Writes the sign-off report for `runs` (default: the latest run); the last run is the one
/// go / no-go is decided for.
pub fn report(
    session: &mut Session,
    runs: &[u64],
    out: Option<&Path>,
) -> Result<ReportOutcome, OpsError> {
    let result = report_unsealed(session, runs, out);
    session.seal("report", result)
}

fn report_unsealed(
    session: &mut Session,
    runs: &[u64],
    out: Option<&Path>,
) -> Result<ReportOutcome, OpsError> {
    let started = std::time::Instant::now();
    let ws = &session.ws;
    let runs = if runs.is_empty() {
        vec![ws.run(None)?.id]
    } else {
        for r in runs {
            ws.run(Some(*r))?;
        }
        runs.to_vec()
    };
    // Books, verdicts and snapshots as sealed in the audit trail, or no report.
    for r in &runs {
        crate::trail::check_run(session, *r, true)?;
    }
    let all_loads = crate::load::loads(session)?;
    let mut report = ferry_signoff::gather_report(
        ws,
        &session.project.name(),
        &runs,
        &|run| verifications(ws, run),
        &|run| Ok(load_views(&all_loads, run)),
    )
    .map_err(signoff_err)?;
    report.runbook = crate::runbook::report_section(ws, &runs, &mut report.decision)?;
    let path = out.map(Path::to_path_buf).unwrap_or_else(|| {
        session
            .project
            .reports_dir()
            .join(ferry_signoff::report::file_name(&runs))
    });
    ferry_signoff::report::write(&report, &path)
        .map_err(|e| OpsError::Other(format!("the sign-off report was not written: {e}")))?;
    let d = &report.decision;
    Ok(ReportOutcome {
        path,
        runs: report.runs.iter().map(|r| (r.id, r.kind.clone())).collect(),
        go: d.go,
        decided_run: d.run,
        blockers: d.blockers.clone(),
        cautions: d.cautions.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The run's verifications from the verify ledger, oldest first.
fn verifications(
    ws: &ferry_store::Workspace,
    run: u64,
) -> Result<Vec<ferry_signoff::VerificationInput>, ferry_signoff::SignoffError> {
    Ok(ws
        .verifications(run)?
        .into_iter()
        .map(|v| ferry_signoff::VerificationInput {
            id: v.id,
            run_id: v.run_id,
            started_at: v.started_at,
            duration_ms: v.duration_ms,
            verdict: v.verdict,
            summary_json: v.summary_json,
        })
        .collect())
}

/// The project's modules as a packet needs them.
fn module_sources(project: &Project) -> Result<Vec<ferry_signoff::ModuleSource>, OpsError> {
    let modules = crate::check::load_modules(project)?;
    Ok(modules
        .iter()
        .map(|m| ferry_signoff::ModuleSource {
            module: m.name.clone(),
            query: m.source.query.clone(),
            key: m.source.key.clone(),
            patient: m.source.patient.clone(),
            resource_type: m
                .primary_resource()
                .map(|r| r.resource_type.clone())
                .unwrap_or_default(),
        })
        .collect())
}

/// A fresh seed when none is given (printed and recorded, so the choice can be repeated).
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0);
    (nanos ^ (std::process::id() as u64).rotate_left(32)) % 1_000_000
}

/// The loads of run `run`, as the sign-off report shows them.
fn load_views(loads: &[crate::load::LoadInfo], run: u64) -> Vec<ferry_signoff::LoadView> {
    loads
        .iter()
        .filter(|l| l.run == Some(run))
        .map(|l| {
            let state = |s: &str| l.states.get(s).copied().unwrap_or(0);
            ferry_signoff::LoadView {
                load: l.load,
                target: l.target.clone(),
                status: l.status.clone(),
                started_at: l.started_at.clone(),
                finished_at: l.finished_at.clone().unwrap_or_default(),
                actor: l.actor.clone().unwrap_or_default(),
                unverified: l.unverified,
                resources: l.resources.unwrap_or(0),
                written: state("done"),
                unchanged: state("unchanged"),
                refused: state("failed"),
                unanswered: state("intent") + state("pending"),
            }
        })
        .collect()
}
