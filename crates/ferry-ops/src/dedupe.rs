//! `ferry dedupe` and `ferry dedupe review`: probable duplicate patients by probabilistic record
//! linkage (docs/dedupe.md), and reviewers' decisions on the clusters, kept in
//! `mappings/duplicates.toml` (source keys only) and applied by every later run.
//!
//! The outcomes carry source keys, probabilities and report paths; values stay in the PHI
//! reports (`reports/dedupe-NNNN.json` and `.html`).

use crate::{OpsError, Progress, Project, Session};
use ferry_link::{Decisions, LinkError, report, review};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

/// What to look for duplicates in.
#[derive(Debug, Clone, Default)]
pub struct DedupeRequest {
    /// The snapshot (default: the latest).
    pub snapshot: Option<u64>,
    /// Link pairs at or above this probability (default: `[dedupe] threshold`, else 0.9).
    pub threshold: Option<f64>,
    /// Match against a target's Patients (FHIR R4 NDJSON) instead of against each other.
    pub against: Option<PathBuf>,
    pub cancel: ferry_core::Cancel,
}

/// What `dedupe` found and wrote.
pub struct DedupeOutcome {
    pub snapshot: u64,
    pub table: String,
    pub key: String,
    pub records: u64,
    pub target_records: u64,
    pub threshold: f64,
    pub max_block: usize,
    pub duration_ms: u64,
    /// The comparisons chosen from column names when ferry.toml has no `[dedupe]` columns.
    pub chosen: Vec<String>,
    /// Whether the profile's PHI labels helped choose them.
    pub used_profile: bool,
    pub against: bool,
    pub set: ferry_link::RecordSet,
    pub linkage: ferry_link::engine::Linkage,
    pub clusters: Vec<ferry_link::Cluster>,
    pub warnings: Vec<ferry_link::engine::ModelWarning>,
    /// The reports (PHI).
    pub json: PathBuf,
    pub html: PathBuf,
}

impl DedupeOutcome {
    pub fn accepted(&self) -> usize {
        self.clusters
            .iter()
            .filter(|c| c.status == ferry_link::Status::Accepted)
            .count()
    }
}

fn link_error(e: LinkError) -> OpsError {
    match e {
        LinkError::Cancelled => OpsError::Cancelled,
        other => OpsError::Other(other.to_string()),
    }
}

/// The report's file stem: `dedupe-NNNN` or `dedupe-against-NNNN`.
pub fn report_stem(snapshot: u64, against: bool) -> String {
    if against {
        format!("dedupe-against-{snapshot:04}")
    } else {
        format!("dedupe-{snapshot:04}")
    }
}

/// The likely-PHI labels of `ferry profile`'s report of this snapshot (`reports/profile-NNNN.json`),
/// table -> column -> kind; empty when the snapshot was not profiled (or the report is unreadable:
/// the proposals then go by column names alone).
fn profile_phi_labels(
    project: &Project,
    snapshot: u64,
) -> HashMap<String, BTreeMap<String, ferry_profile::model::PhiKind>> {
    let Some(profile) = crate::profile::read_profile(project, snapshot) else {
        return HashMap::new();
    };
    profile
        .tables
        .iter()
        .map(|t| {
            let labels = t
                .columns
                .iter()
                .filter_map(|c| c.phi.map(|k| (c.name.clone(), k)))
                .collect();
            (t.name.clone(), labels)
        })
        .collect()
}

/// Links the snapshot's patients (or them against a target export), clusters the links with the
/// reviewers' decisions, and writes the PHI reports. Changes nothing else.
pub fn dedupe(
    session: &mut Session,
    req: &DedupeRequest,
    progress: &dyn Progress,
) -> Result<DedupeOutcome, OpsError> {
    let started = Instant::now();
    let project = &session.project;
    let ws = &session.ws;
    let info = ws.snapshot(req.snapshot)?;
    let mut cfg = project.config.dedupe.clone().unwrap_or_default();
    if let Some(t) = req.threshold {
        cfg.threshold = t;
    }
    cfg.validate()
        .map_err(|e| OpsError::Config(e.to_string()))?;
    let tables = ws.tables(info.id)?;
    let labels = profile_phi_labels(project, info.id);
    let table_columns: Vec<ferry_link::TableColumns> = tables
        .iter()
        .map(|t| ferry_link::TableColumns {
            name: t.name.clone(),
            primary_key: t.primary_key.clone(),
            columns: t.columns.iter().map(|c| c.name.clone()).collect(),
            phi: labels.get(&t.name).cloned().unwrap_or_default(),
        })
        .collect();
    let chosen = cfg
        .fill_defaults(&table_columns)
        .map_err(|e| OpsError::Config(e.to_string()))?;
    let table = cfg.table.clone().unwrap_or_default();
    let key = cfg.key.clone().unwrap_or_default();
    let Some(t) = tables.iter().find(|t| t.name == table) else {
        return Err(OpsError::Config(format!(
            "table `{table}` (`[dedupe] table` in ferry.toml) is not in snapshot {}; `ferry snapshots {}` lists its tables",
            info.id, info.id
        )));
    };
    let names = ferry_link::StagedNames {
        table: t.staged_name.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.staged_name.clone()))
            .collect::<HashMap<_, _>>(),
    };
    let reader = ws.open_snapshot(Some(info.id))?;
    let on_event = |e: ferry_link::LinkEvent<'_>| match e {
        ferry_link::LinkEvent::Phase { name, total } => progress.phase(name, Some(total)),
        ferry_link::LinkEvent::Position(n) => progress.position(n),
    };
    let link_progress = ferry_link::Progress {
        on_event: &on_event,
        cancel: Some(&req.cancel),
    };
    let mut set = ferry_link::RecordSet::new();
    let records =
        ferry_link::read_snapshot_with_progress(&reader, &cfg, &names, &mut set, &link_progress)
            .map_err(|e| match e {
                LinkError::Cancelled => OpsError::Cancelled,
                e => OpsError::Other(format!(
                    "cannot read table `{table}` of snapshot {}: {e}",
                    info.id
                )),
            })?;
    let mut target_records = 0;
    if let Some(path) = &req.against {
        let (n, _) = ferry_link::read_fhir_patients(path, &mut set).map_err(|e| {
            OpsError::Other(format!(
                "cannot read the target export `{}`: {e}",
                path.display()
            ))
        })?;
        target_records = n;
    }
    let against = req.against.is_some();
    let opts = ferry_link::LinkOptions::from_config(&cfg, against)
        .map_err(|e| OpsError::Config(e.to_string()))?;
    let linkage =
        ferry_link::link_with_progress(&set, &opts, &link_progress).map_err(link_error)?;
    let clusters = if against {
        Vec::new()
    } else {
        let decisions = Decisions::load(&project.root).map_err(link_error)?;
        ferry_link::clusters(&set, &linkage, &decisions, &table)
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let fields = cfg.active_fields();
    let warnings = linkage.model.warnings();
    let rep = report::build(
        &set,
        &linkage,
        &clusters,
        &fields,
        info.id,
        req.against.as_ref().map(|p| p.display().to_string()),
        &table,
        &key,
        cfg.threshold,
        duration_ms,
    );
    let (json, html) = report::write(&rep, &project.reports_dir(), &report_stem(info.id, against))
        .map_err(link_error)?;
    drop(rep);
    Ok(DedupeOutcome {
        snapshot: info.id,
        table,
        key,
        records,
        target_records,
        threshold: cfg.threshold,
        max_block: cfg.max_block,
        duration_ms,
        chosen,
        used_profile: !labels.is_empty(),
        against,
        set,
        linkage,
        clusters,
        warnings,
        json,
        html,
    })
}

/// Which clusters to decide on.
#[derive(Debug, Clone, Default)]
pub struct ReviewRequest {
    /// The snapshot whose report to review (default: the report `dedupe` wrote last).
    pub snapshot: Option<u64>,
    pub accept: Vec<String>,
    pub reject: Vec<String>,
    pub accept_all_pending: bool,
    /// Who decides (default: the session's actor).
    pub by: Option<String>,
}

impl ReviewRequest {
    /// Whether it decides anything (else it only lists).
    pub fn decides(&self) -> bool {
        !(self.accept.is_empty() && self.reject.is_empty() && !self.accept_all_pending)
    }
}

/// The review's report, what changed and every cluster's status afterwards.
pub struct ReviewOutcome {
    pub snapshot: u64,
    pub report: PathBuf,
    /// When the report was written, when it was found as the latest.
    pub report_written: Option<String>,
    /// Whether the report was found as the latest (no `snapshot` asked for).
    pub found_latest: bool,
    /// The decisions recorded (none when only listing).
    pub recorded: Option<(review::ReviewOutcome, PathBuf)>,
    pub statuses: Vec<review::ClusterReview>,
}

/// Records accept/reject decisions on a dedupe report's clusters in `mappings/duplicates.toml`
/// (atomically); a cluster rejected earlier stays rejected under `accept_all_pending`.
pub fn review(session: &mut Session, req: &ReviewRequest) -> Result<ReviewOutcome, OpsError> {
    let result = review_unsealed(session, req);
    session.seal("dedupe review", result)
}

fn review_unsealed(session: &mut Session, req: &ReviewRequest) -> Result<ReviewOutcome, OpsError> {
    let project = &session.project;
    let reports = project.reports_dir();
    let (path, written) = match req.snapshot {
        Some(s) => (
            reports.join(format!("{}.json", report_stem(s, false))),
            None,
        ),
        None => {
            let found = review::latest_report(&reports)
                .map_err(link_error)?
                .ok_or_else(|| {
                    link_error(LinkError::NoReport {
                        dir: reports.clone(),
                    })
                })?;
            (found.path, found.created_at)
        }
    };
    if !path.exists() {
        let s = req.snapshot.unwrap_or_default();
        return Err(OpsError::Other(format!(
            "no dedupe report `{}`; run `ferry dedupe --snapshot {s}` first",
            path.display()
        )));
    }
    let view = review::load_view(&path).map_err(link_error)?;
    let decisions = Decisions::load(&project.root).map_err(link_error)?;
    let (decisions, recorded) = if req.decides() {
        let lreq = review::ReviewRequest {
            accept: req.accept.clone(),
            reject: req.reject.clone(),
            accept_all_pending: req.accept_all_pending,
            by: req.by.clone().unwrap_or_else(|| session.actor.name.clone()),
            at: ferry_link::decisions::now_utc(),
        };
        let (new, outcome) = review::review(&view, &decisions, &lreq).map_err(link_error)?;
        let saved = new.save(&project.root).map_err(link_error)?;
        (new, Some((outcome, saved)))
    } else {
        (decisions, None)
    };
    Ok(ReviewOutcome {
        snapshot: view.snapshot,
        report: path,
        report_written: written,
        found_latest: req.snapshot.is_none(),
        recorded,
        statuses: review::statuses(&view, &decisions),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, NoProgress};

    /// A project with the generated clinic (300 patients) staged as snapshot 1.
    fn staged() -> (tempfile::TempDir, Session) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        crate::init::create_project(&dir, "dedupe-test", None).unwrap();
        let legacy = tmp.path().join("legacy");
        ferry_gen::generate(
            &ferry_gen::GenConfig {
                patients: 300,
                seed: 7,
                out_dir: legacy.clone(),
                sql: true,
                csv: false,
                gzip: false,
            },
            &mut |_| {},
        )
        .unwrap();
        let mut session =
            Session::writer(Project::load(&dir).unwrap(), Actor::new("rev-a"), "test").unwrap();
        crate::stage::stage(
            &mut session,
            &crate::stage::StageRequest {
                paths: vec![legacy.join("clinic.sql")],
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        (tmp, session)
    }

    #[test]
    fn a_cancelled_dedupe_writes_no_report_and_a_review_keeps_a_rejection_by_the_actor() {
        let (_tmp, mut session) = staged();
        let cancel = ferry_core::Cancel::new();
        cancel.cancel();
        let req = DedupeRequest {
            cancel,
            ..Default::default()
        };
        let err = dedupe(&mut session, &req, &NoProgress).err().unwrap();
        assert!(matches!(err, OpsError::Cancelled), "{err}");
        let reports = session.project.reports_dir();
        assert!(!reports.join("dedupe-0001.json").exists());

        let o = dedupe(&mut session, &DedupeRequest::default(), &NoProgress).unwrap();
        assert!(o.clusters.len() >= 2, "{} clusters", o.clusters.len());
        assert_eq!(o.json, reports.join("dedupe-0001.json"));
        let (first, second) = (o.clusters[0].id.clone(), o.clusters[1].id.clone());

        let rejected = review(
            &mut session,
            &ReviewRequest {
                reject: vec![first.clone()],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(rejected.found_latest);
        assert_eq!(rejected.snapshot, 1);
        let all = review(
            &mut session,
            &ReviewRequest {
                accept_all_pending: true,
                by: Some("rev-b".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let status = |id: &str| {
            all.statuses
                .iter()
                .find(|c| c.id == id)
                .map(|c| {
                    let d = c.status.decided().unwrap();
                    (c.status.name().to_string(), d.by.clone())
                })
                .unwrap()
        };
        assert_eq!(
            status(&first),
            ("rejected".to_string(), "rev-a".to_string())
        );
        assert_eq!(
            status(&second),
            ("accepted".to_string(), "rev-b".to_string())
        );
    }
}
