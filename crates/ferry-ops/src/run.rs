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
        kind: req.kind.clone().unwrap_or_else(|| "iteration".to_string()),
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
