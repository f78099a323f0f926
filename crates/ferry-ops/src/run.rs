//! `ferry run`: the project's modules over a snapshot into a new run folder, published only
//! after the ledger commits (see [`crate::layout`]).

use crate::layout::Layout;
use crate::{OpsError, Progress, Project, Session};

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// `iteration` (default), `rehearsal` or `go-live`.
    pub kind: Option<String>,
    /// The snapshot (default: the latest).
    pub snapshot: Option<u64>,
    /// Only these modules.
    pub modules: Option<Vec<String>>,
    /// Also write transaction Bundles of at most this many entries.
    pub bundle_size: Option<usize>,
    /// Worker threads (default 2).
    pub threads: Option<usize>,
    pub cancel: ferry_core::Cancel,
    /// A delta run: the run it is compared with (kind `delta`).
    pub base: Option<u64>,
}

/// Runs the project's modules; see the module docs.
pub fn run(
    session: &mut Session,
    req: &RunRequest,
    progress: &dyn Progress,
) -> Result<ferry_run::RunSummary, OpsError> {
    let result = run_unsealed(session, req, progress);
    session.seal("run", result)
}

fn run_unsealed(
    session: &mut Session,
    req: &RunRequest,
    progress: &dyn Progress,
) -> Result<ferry_run::RunSummary, OpsError> {
    let project = session.project.clone();
    let namespace = project.namespace()?;
    let kind = delta_kind(session, req, &project)?;
    let layout = Layout::of(&project);
    layout.prepare()?;
    // The id is reserved under the project lock: nobody else records a run meanwhile.
    let id = session
        .ws
        .next_run_id()?
        .max(layout.highest_run_folder() + 1);
    let ready = layout.ready_dir(id);
    let dirs = ferry_run::ProjectDirs {
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        output: ready.clone(),
    };
    let opts = ferry_run::RunOptions {
        kind,
        snapshot: req.snapshot,
        modules: req.modules.clone(),
        namespace,
        settings: project.config.project.map_settings(),
        threads: req.threads.unwrap_or(2),
        bundle_size: req.bundle_size,
        merges: merges(&project)?,
        run_id: Some(id),
        recorded_output: Some(project.relative(&layout.run_dir(id))),
        cancel: req.cancel.clone(),
        base: req.base,
    };
    progress.phase("running", None);
    let result = ferry_run::run(&mut session.ws, &dirs, &opts, &|e| match e {
        ferry_run::RunEvent::ModuleStarted { module } => {
            progress.message(&format!("module {module}"))
        }
        ferry_run::RunEvent::Rows(n) => progress.position(n),
    });
    match result {
        Ok(summary) => {
            layout.publish(summary.run)?;
            Ok(summary)
        }
        Err(e) => {
            // The output may be complete and waiting while the ledger failed to commit: it is
            // ours and unrecorded, so it goes.
            if ready.exists() && !session.ws.runs()?.iter().any(|r| r.id == id) {
                let _ = std::fs::remove_dir_all(&ready);
            }
            Err(e.into())
        }
    }
}

/// The run's kind; for a delta, its base checked first: a finished run of every module, made
/// with the mapping files the project has now (a delta carries the base's results for unchanged
/// rows, so the mappings must be the ones that made them).
fn delta_kind(session: &Session, req: &RunRequest, project: &Project) -> Result<String, OpsError> {
    let kind = req.kind.clone().unwrap_or_else(|| {
        if req.base.is_some() {
            "delta".to_string()
        } else {
            "iteration".to_string()
        }
    });
    let Some(base) = req.base else {
        if kind == "delta" {
            return Err(OpsError::Config(
                "a delta run needs its base: `ferry run --kind delta --base 1` compares the latest snapshot with run 1 (see `ferry runs`)".into(),
            ));
        }
        return Ok(kind);
    };
    if kind != "delta" {
        return Err(OpsError::Config(format!(
            "`--base` makes a delta run, but `--kind {kind}` was given: use `--kind delta` or leave `--kind` out"
        )));
    }
    if req.modules.is_some() {
        return Err(OpsError::Config(
            "a delta run covers every module of its base: leave `--modules` out".into(),
        ));
    }
    let info = session.ws.run(Some(base))?;
    if info.status != "ok" {
        return Err(OpsError::Config(format!(
            "run {base} did not finish (status: {}): a delta's base must be a finished run; see `ferry runs`",
            info.status
        )));
    }
    let then = session.ws.run_files(base)?;
    let now = ferry_run::hash_files(&[&project.mappings_dir(), &project.concept_maps_dir()]);
    let mut differ: Vec<String> = Vec::new();
    for (p, sha) in &now {
        match then.iter().find(|(q, _)| q == p) {
            Some((_, s)) if s == sha => {}
            Some(_) => differ.push(format!("{p} (changed)")),
            None => differ.push(format!("{p} (new)")),
        }
    }
    for (p, _) in &then {
        if !now.iter().any(|(q, _)| q == p) {
            differ.push(format!("{p} (removed)"));
        }
    }
    if !differ.is_empty() {
        return Err(OpsError::Config(format!(
            "the mappings changed since run {base}: {}. A delta carries run {base}'s results for unchanged rows, so it must use the same mappings: make a full run (`ferry run`) and use it as the base, or restore the files",
            differ.join(", ")
        )));
    }
    Ok(kind)
}

/// The accepted duplicate-patient merges of `mappings/duplicates.toml` (`ferry dedupe review`),
/// for `ferry run` and `ferry verify`; `None` when nothing was accepted.
pub fn merges(project: &Project) -> Result<Option<ferry_map::Merges>, OpsError> {
    let decisions_error = |e: ferry_link::LinkError| {
        OpsError::Other(format!("reading the duplicate-patient decisions: {e}"))
    };
    let map = ferry_link::load_merges(&project.root).map_err(decisions_error)?;
    if map.is_empty() {
        return Ok(None);
    }
    let decisions = ferry_link::Decisions::load(&project.root).map_err(decisions_error)?;
    let module = project
        .config
        .dedupe
        .as_ref()
        .and_then(|d| d.module.clone().or_else(|| d.table.clone()))
        .or(decisions.table)
        .ok_or_else(|| {
            OpsError::Config(
                "mappings/duplicates.toml has accepted merges but names no patient table: set `[dedupe] module = \"patients\"` in ferry.toml (the module that makes the Patient)".into(),
            )
        })?;
    let mut to_survivor = std::collections::HashMap::new();
    for s in map.survivors() {
        for m in map.members(s) {
            to_survivor.insert(m.clone(), s.to_string());
        }
    }
    Ok(Some(ferry_map::Merges {
        module,
        to_survivor,
    }))
}
