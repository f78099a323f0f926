//! `ferry verify`: the independent verification of a run, and its go/no-go verdict.

use crate::{OpsError, Progress, Session};

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The run (default: the latest).
    pub run: Option<u64>,
    /// Put expected and found values of mismatches in the result (PHI; never recorded).
    pub show_values: bool,
    /// Problems listed per check.
    pub examples: usize,
    pub cancel: ferry_core::Cancel,
}

impl Default for VerifyRequest {
    fn default() -> Self {
        VerifyRequest {
            run: None,
            show_values: false,
            examples: 20,
            cancel: ferry_core::Cancel::new(),
        }
    }
}

/// Verifies a run and records the verification in the ledger.
pub fn verify(
    session: &mut Session,
    req: &VerifyRequest,
    progress: &dyn Progress,
) -> Result<ferry_verify::Verification, OpsError> {
    let result = verify_unsealed(session, req, progress);
    session.seal("verify", result)
}

fn verify_unsealed(
    session: &mut Session,
    req: &VerifyRequest,
    progress: &dyn Progress,
) -> Result<ferry_verify::Verification, OpsError> {
    let project = session.project.clone();
    let run = session.ws.run(req.run)?;
    if run.status != "ok" {
        return Err(OpsError::RunNotUsable {
            run: run.id,
            action: "verified",
            status: run.status,
            hint: "A failed run wrote no output; fix what failed and run again",
        });
    }
    // The books this verdict will rest on are the ones the run sealed, and its snapshot is
    // what was staged.
    crate::trail::check_run(session, run.id, false)?;
    let opts = ferry_verify::VerifyOptions {
        run: Some(run.id),
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        checks: project.checks_dir(),
        namespace: project.namespace()?,
        settings: project.config.project.map_settings(),
        thresholds: project.config.verify.clone(),
        show_values: req.show_values,
        max_examples: req.examples,
        withhold_keys: crate::ledger::phi_keyed_modules(session, run.snapshot)
            .into_iter()
            .map(|w| w.module)
            .collect(),
        merges: crate::run::merges(&project)?,
        project_root: project.root.clone(),
    };
    let cancel = req.cancel.clone();
    let v = ferry_verify::verify(&session.ws, &opts, &|e| {
        if cancel.is_cancelled() {
            return;
        }
        match e {
            ferry_verify::VerifyEvent::Phase { name, total } => progress.phase(name, Some(total)),
            ferry_verify::VerifyEvent::Position(n) => progress.position(n),
        }
    })?;
    Ok(v)
}
