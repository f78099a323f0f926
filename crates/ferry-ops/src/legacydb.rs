//! `ferry load --target NAME --snapshot N` for a database target (`kind = "postgres"` or
//! `"mysql"`): the staged snapshot's tables copied into the target database by
//! `ferry_legacydb`, replacing the previous copy atomically, and the verified result recorded
//! in the workspace (`.ferry/legacydb/NAME/copy-NNNN.json`, written atomically).

use crate::project::TargetSection;
use crate::{OpsError, Progress, Session};
use ferry_legacydb::{CopyReport, DbError, Event};
use std::path::{Path, PathBuf};

/// What to copy where.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// `[targets.NAME]` in ferry.toml, of kind `postgres` or `mysql`.
    pub target: String,
    /// The snapshot (default: the latest).
    pub snapshot: Option<u64>,
    pub cancel: ferry_core::Cancel,
}

/// A verified copy and where its record is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopySummary {
    #[serde(flatten)]
    pub report: CopyReport,
    /// The JSON record in the workspace.
    pub record: PathBuf,
}

impl From<DbError> for OpsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Cancelled => OpsError::Cancelled,
            DbError::Store(s) => OpsError::Store(s),
            other => OpsError::Other(other.to_string()),
        }
    }
}

fn record_dir(session: &Session, target: &str) -> PathBuf {
    session
        .project
        .workspace_dir()
        .join("legacydb")
        .join(target)
}

/// The highest `copy-NNNN.json` number in `dir` (0 when none).
fn highest_record(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("copy-")?
                        .strip_suffix(".json")?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Copies a snapshot into a database target; see the module docs.
pub fn copy(
    session: &mut Session,
    req: &CopyRequest,
    progress: &dyn Progress,
) -> Result<CopySummary, OpsError> {
    let config = match session.project.config.targets.get(&req.target) {
        Some(TargetSection::Database(c)) => c.clone(),
        Some(TargetSection::Fhir(_)) => {
            let run = session
                .ws
                .run(None)
                .map_or_else(|_| "N".to_string(), |r| r.id.to_string());
            return Err(OpsError::Config(format!(
                "target `{}` is a FHIR server (kind = \"fhir\"): `ferry load --target {} --run {run}` loads a run into it; --snapshot is for kind = \"postgres\" or \"mysql\" targets",
                req.target, req.target
            )));
        }
        None => {
            return Err(crate::load::target(session, &req.target)
                .err()
                .unwrap_or_else(|| OpsError::Config(format!("no target `{}`", req.target))));
        }
    };
    ferry_legacydb::check_config(&req.target, &config, &session.project.root)?;
    let snapshot = session.ws.snapshot(req.snapshot)?;
    let tables = session.ws.tables(snapshot.id)?;
    let reader = session.ws.open_snapshot(Some(snapshot.id))?;
    let on_event = |e: Event<'_>| match e {
        Event::Phase { name, total } => progress.phase(name, total),
        Event::Position(n) => progress.position(n),
        Event::Message(m) => progress.message(m),
    };
    let report = ferry_legacydb::copy_snapshot(&ferry_legacydb::CopyRequest {
        target: &req.target,
        config: &config,
        project_root: &session.project.root,
        snapshot: &snapshot,
        tables: &tables,
        reader: &reader,
        cancel: &req.cancel,
        on_event: &on_event,
    })?;
    let dir = record_dir(session, &req.target);
    ferry_core::atomic::create_dir(&dir, ferry_core::atomic::Contents::Phi)
        .map_err(|e| OpsError::io(&dir, "creating the copy records folder", e))?;
    let record = dir.join(format!("copy-{:04}.json", highest_record(&dir) + 1));
    let mut doc = serde_json::to_value(&report).map_err(|e| OpsError::Other(e.to_string()))?;
    doc["actor"] = serde_json::Value::String(session.actor.name.clone());
    doc["recorded_at"] = serde_json::Value::String(ferry_core::calendar::now_utc_rfc3339());
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| OpsError::Other(e.to_string()))?;
    ferry_core::atomic::write(&record, ferry_core::atomic::Contents::Phi, &bytes)?;
    Ok(CopySummary { report, record })
}
