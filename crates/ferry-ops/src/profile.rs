//! `ferry profile`, `ferry audit` and `ferry map import`: understanding a snapshot before
//! anything moves, and the reviewers' decisions read back.

use crate::{OpsError, Progress, Session};
use ferry_core::atomic::{self, Contents};
use std::path::PathBuf;

/// Where the migration map's decisions live in a project (diffs cleanly in git).
pub const DECISIONS_FILE: &str = "mappings/migration-map.toml";

/// What `profile` wrote.
#[derive(Debug, serde::Serialize)]
pub struct ProfileOutcome {
    pub snapshot: u64,
    pub tables: usize,
    pub columns: usize,
    pub phi_columns: usize,
    pub foreign_keys: usize,
    pub duration_ms: u64,
    pub rows: u64,
    pub json: PathBuf,
    pub html: PathBuf,
    pub xlsx: PathBuf,
    /// Whether sample values (PHI) are in the reports.
    pub samples: bool,
    #[serde(skip)]
    pub profile: ferry_profile::model::SnapshotProfile,
}

/// Profiles a snapshot and writes the migration map (.xlsx), the HTML report and JSON.
pub fn profile(
    session: &mut Session,
    snapshot: Option<u64>,
    options: &ferry_profile::ProfileOptions,
    progress: &dyn Progress,
) -> Result<ProfileOutcome, OpsError> {
    let result = profile_unsealed(session, snapshot, options, progress);
    session.seal("profile", result)
}

fn profile_unsealed(
    session: &mut Session,
    snapshot: Option<u64>,
    options: &ferry_profile::ProfileOptions,
    progress: &dyn Progress,
) -> Result<ProfileOutcome, OpsError> {
    let info = session.ws.snapshot(snapshot)?;
    progress.phase("profiling", Some(info.rows));
    let profile =
        ferry_profile::profile_snapshot(&session.ws, Some(info.id), options, &|e| match e {
            ferry_profile::ProfileEvent::TableStarted { table, .. } => {
                progress.message(&format!("table {table}"))
            }
            ferry_profile::ProfileEvent::Rows(n) => progress.position(n),
            ferry_profile::ProfileEvent::TableDone { .. } => {}
        })
        .map_err(|e| OpsError::Other(format!("cannot profile snapshot {}: {e}", info.id)))?;
    let project = &session.project;
    let reports = project.reports_dir();
    let stem = format!("profile-{:04}", info.id);
    let json = reports.join(format!("{stem}.json"));
    let html = reports.join(format!("{stem}.html"));
    let xlsx = reports.join(format!("migration-map-{:04}.xlsx", info.id));
    let decisions_path = project.root.join(DECISIONS_FILE);
    let existing = ferry_report::decisions::read(&decisions_path)
        .map_err(|e| OpsError::Other(format!("cannot read `{}`: {e}", decisions_path.display())))?;
    write_json(&json, &profile, phi_contents(options.samples))?;
    ferry_report::html::write_profile_html(&profile, &html)
        .map_err(|e| OpsError::Other(format!("cannot write `{}`: {e}", html.display())))?;
    ferry_report::xlsx::write_migration_map(&profile, &existing, &xlsx)
        .map_err(|e| OpsError::Other(format!("cannot write `{}`: {e}", xlsx.display())))?;
    Ok(ProfileOutcome {
        snapshot: info.id,
        tables: profile.tables.len(),
        columns: profile.column_count(),
        phi_columns: profile.phi_column_count(),
        foreign_keys: profile.foreign_keys.len(),
        duration_ms: profile.duration_ms,
        rows: profile.tables.iter().map(|t| t.rows).sum(),
        json,
        html,
        xlsx,
        samples: options.samples,
        profile,
    })
}

/// `ferry profile`'s report of this snapshot (`reports/profile-NNNN.json`), when there is a
/// readable one of that snapshot.
pub fn read_profile(
    project: &crate::Project,
    snapshot: u64,
) -> Option<ferry_profile::model::SnapshotProfile> {
    let path = project
        .reports_dir()
        .join(format!("profile-{snapshot:04}.json"));
    let text = std::fs::read_to_string(&path).ok()?;
    let profile: ferry_profile::model::SnapshotProfile = serde_json::from_str(&text).ok()?;
    (profile.snapshot == snapshot).then_some(profile)
}

fn phi_contents(samples: bool) -> Contents {
    if samples {
        Contents::Phi
    } else {
        Contents::Project
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
    contents: Contents,
) -> Result<(), OpsError> {
    atomic::write_with(path, contents, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })?;
    Ok(())
}

/// What `audit` found and wrote.
#[derive(Debug, serde::Serialize)]
pub struct AuditOutcome {
    pub json: PathBuf,
    pub html: PathBuf,
    pub report: ferry_audit::AuditReport,
}

/// Audits a snapshot's data quality; writes `reports/audit-NNNN.{json,html}`.
pub fn audit(
    session: &mut Session,
    snapshot: Option<u64>,
    options: &ferry_audit::AuditOptions,
    progress: &dyn Progress,
) -> Result<AuditOutcome, OpsError> {
    let info = session.ws.snapshot(snapshot)?;
    progress.phase("auditing", None);
    let report = ferry_audit::audit_snapshot(&session.ws, Some(info.id), options)
        .map_err(|e| OpsError::Other(format!("cannot audit snapshot {}: {e}", info.id)))?;
    let reports = session.project.reports_dir();
    let json = reports.join(format!("audit-{:04}.json", info.id));
    let html = reports.join(format!("audit-{:04}.html", info.id));
    write_json(&json, &report, phi_contents(options.show_values))?;
    ferry_audit::write_audit_html(&report, &html, phi_contents(options.show_values))
        .map_err(|e| OpsError::Other(format!("cannot write `{}`: {e}", html.display())))?;
    Ok(AuditOutcome { json, html, report })
}

/// What `map import` read and (unless a dry run) wrote.
#[derive(Debug, serde::Serialize)]
pub struct MapImport {
    pub file: String,
    pub dry_run: bool,
    /// Columns with a decision.
    pub decided: usize,
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
    pub changed: Vec<(String, String, String)>,
}

/// Reads the reviewers' decisions back from a migration map workbook into
/// `mappings/migration-map.toml`.
pub fn map_import(
    session: &mut Session,
    workbook: &std::path::Path,
    dry_run: bool,
) -> Result<MapImport, OpsError> {
    let path = session.project.root.join(DECISIONS_FILE);
    let old = ferry_report::decisions::read(&path)
        .map_err(|e| OpsError::Other(format!("cannot read `{}`: {e}", path.display())))?;
    let new = ferry_report::xlsx::import_migration_map(workbook).map_err(|e| {
        OpsError::Other(format!(
            "`{}` cannot be imported:\n{e}\nFix the workbook (or write a fresh one with `ferry profile`) and import again; nothing was changed",
            workbook.display()
        ))
    })?;
    let changes = ferry_report::decisions::diff(&old, &new);
    if !dry_run {
        ferry_report::decisions::write(&path, &new)
            .map_err(|e| OpsError::Other(format!("cannot write `{}`: {e}", path.display())))?;
    }
    let decided = new
        .columns
        .values()
        .flat_map(|cols| cols.values())
        .filter(|d| d.decision.is_some())
        .count();
    Ok(MapImport {
        file: DECISIONS_FILE.to_string(),
        dry_run,
        decided,
        added: changes.added,
        removed: changes.removed,
        changed: changes.changed,
    })
}
