//! `ferry load`, `ferry rollback` and `ferry verify --target`: a verified run into a live FHIR
//! server exactly once, undone from recorded pre-images, and checked on the server
//! (see `ferry_load`). Journals live in the workspace (`.ferry/loads/load-NNNN.db`: pre-images
//! are patient data).

use crate::{OpsError, Progress, Session};
use ferry_load::journal::{self, Journal};
use ferry_load::{LoadError, LoadEvent, Target};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to load where.
#[derive(Debug, Clone, Default)]
pub struct LoadRequest {
    /// `[targets.NAME]` in ferry.toml.
    pub target: String,
    /// The run (default: the latest).
    pub run: Option<u64>,
    /// Continue the last unfinished load to this target.
    pub resume: bool,
    /// Load a run whose last verification is not GO.
    pub unverified: bool,
    pub cancel: ferry_core::Cancel,
}

impl From<LoadError> for OpsError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Cancelled => OpsError::Cancelled,
            other => OpsError::Other(other.to_string()),
        }
    }
}

/// The target named `name`, checked, with its client.
pub fn target(session: &Session, name: &str) -> Result<Target, OpsError> {
    let targets = &session.project.config.targets;
    let Some(cfg) = targets.get(name) else {
        let known: Vec<&str> = targets.keys().map(String::as_str).collect();
        return Err(OpsError::Config(format!(
            "no target `{name}` in ferry.toml ({}); add a [targets.{name}] section with kind = \"fhir\" (or \"postgres\", \"mysql\") and url (docs/load.md)",
            if known.is_empty() {
                "it has no [targets.NAME] section".to_string()
            } else {
                format!("it has {}", known.join(", "))
            }
        )));
    };
    match cfg {
        crate::project::TargetSection::Fhir(cfg) => {
            Ok(Target::open(name, cfg, &session.project.root)?)
        }
        crate::project::TargetSection::Database(db) => {
            let snapshot = session
                .ws
                .snapshot(None)
                .map_or_else(|_| "N".to_string(), |s| s.id.to_string());
            Err(OpsError::Config(format!(
                "target `{name}` is a database (kind = \"{}\"): `ferry load --target {name} --snapshot {snapshot}` copies a staged snapshot's tables into it; runs, rollbacks and `verify --target` are for kind = \"fhir\" targets",
                db.kind
            )))
        }
    }
}

/// True when `[targets.NAME]` is a database (`kind = "postgres"` or `"mysql"`); an error when
/// there is no such target.
pub fn is_database_target(session: &Session, name: &str) -> Result<bool, OpsError> {
    match session.project.config.targets.get(name) {
        Some(crate::project::TargetSection::Database(_)) => Ok(true),
        Some(crate::project::TargetSection::Fhir(_)) => Ok(false),
        None => target(session, name).map(|_| false),
    }
}

/// The project tag's code: `ferry-` and the first 12 hex digits of the project's namespace.
pub fn project_tag(session: &Session) -> Result<String, OpsError> {
    let ns = session.project.namespace()?.simple().to_string();
    Ok(format!("ferry-{}", &ns[..12]))
}

pub(crate) fn loads_dir(session: &Session) -> PathBuf {
    session.project.workspace_dir().join("loads")
}

/// The run's NDJSON files (type, absolute path), as the ledger records them.
pub(crate) fn run_files(
    session: &Session,
    run: u64,
) -> Result<(ferry_store::RunInfo, Vec<(String, PathBuf)>), OpsError> {
    let info = session.ws.run(Some(run))?;
    let dir = session.project.resolve(&info.output_dir);
    let files = session
        .ws
        .run_outputs(info.id)?
        .into_iter()
        .map(|o| (o.resource_type, dir.join(o.file)))
        .collect();
    Ok((info, files))
}

fn on_event<'a>(progress: &'a dyn Progress) -> impl Fn(LoadEvent<'_>) + Sync + 'a {
    move |e| match e {
        LoadEvent::Phase { name, total } => progress.phase(name, total),
        LoadEvent::Position(n) => progress.position(n),
        LoadEvent::Message(m) => progress.message(m),
    }
}

/// An unfinished load to `target` (journal status `loading`), newest first.
pub(crate) fn unfinished(
    session: &Session,
    target: &str,
) -> Result<Option<(u64, PathBuf)>, OpsError> {
    let dir = loads_dir(session);
    let mut n = journal::highest_load(&dir);
    while n > 0 {
        let path = journal::journal_path(&dir, n);
        if path.is_file() {
            let j = Journal::open(&path)?;
            if j.info("target")?.as_deref() == Some(target) {
                return Ok((j.info("status")?.as_deref() == Some("loading")).then_some((n, path)));
            }
        }
        n -= 1;
    }
    Ok(None)
}

/// Loads a run; see the module docs.
pub fn load(
    session: &mut Session,
    req: &LoadRequest,
    progress: &dyn Progress,
) -> Result<ferry_load::LoadSummary, OpsError> {
    let result = load_unsealed(session, req, progress);
    session.seal("load", result)
}

fn load_unsealed(
    session: &mut Session,
    req: &LoadRequest,
    progress: &dyn Progress,
) -> Result<ferry_load::LoadSummary, OpsError> {
    let target = target(session, &req.target)?;
    let open = unfinished(session, &req.target)?;
    let (load_id, path, run) = match (open, req.resume) {
        (Some((n, path)), true) => {
            let j = Journal::open(&path)?;
            let run = j
                .info("run")?
                .and_then(|r| r.parse::<u64>().ok())
                .ok_or_else(|| OpsError::Other(format!("the journal of load {n} names no run")))?;
            if let Some(r) = req.run
                && r != run
            {
                return Err(OpsError::Other(format!(
                    "load {n} to `{}` is unfinished and loads run {run}, not run {r}; `ferry load --target {} --resume` finishes it first",
                    req.target, req.target
                )));
            }
            (n, path, run)
        }
        (Some((n, _)), false) => {
            return Err(OpsError::Other(format!(
                "load {n} to `{}` did not finish (it was stopped or failed); `ferry load --target {} --resume` continues it, sending only what has no recorded answer",
                req.target, req.target
            )));
        }
        (None, true) => {
            return Err(OpsError::Other(format!(
                "no unfinished load to `{}`; `ferry load --target {}` starts one",
                req.target, req.target
            )));
        }
        (None, false) => {
            let run = session.ws.run(req.run)?;
            if run.status != "ok" {
                return Err(OpsError::RunNotUsable {
                    run: run.id,
                    action: "loaded",
                    status: run.status,
                    hint: "Run `ferry run` again",
                });
            }
            if !req.unverified {
                require_go(session, run.id)?;
            }
            let dir = loads_dir(session);
            let n = journal::highest_load(&dir) + 1;
            (n, journal::journal_path(&dir, n), run.id)
        }
    };
    let (info, files) = run_files(session, run)?;
    let prior = match info.base {
        Some(base) => Some(prior_loads(session, &req.target, load_id, run, base)?),
        None => None,
    };
    // A delta's retired resources whose module's policy acts on the target.
    let mut retire = Vec::new();
    if info.base.is_some() {
        for r in session.ws.retired_resources(run)? {
            let policy = match r.policy.as_str() {
                "delete" => ferry_load::RetirePolicy::Delete,
                "entered-in-error" => ferry_load::RetirePolicy::EnteredInError,
                _ => continue,
            };
            retire.push(ferry_load::Retire {
                resource_type: r.resource_type,
                id: r.id,
                policy,
            });
        }
    }
    let tag = project_tag(session)?;
    let plan = ferry_load::LoadPlan {
        load: load_id,
        files,
        journal: path,
        run_tag: format!("{tag}-run-{run:04}"),
        project_tag: tag,
        run,
        snapshot: info.snapshot,
        actor: session.actor.name.clone(),
        recorded: ferry_core::calendar::now_utc_rfc3339(),
        cancel: req.cancel.clone(),
        prior,
        retire,
    };
    if req.unverified {
        Journal::open(&plan.journal)?.set_info("unverified", "true")?;
    }
    let together = transaction_modules(session, run)?;
    let groups = RunGroups {
        ws: &session.ws,
        run,
        modules: together,
    };
    let events = on_event(progress);
    let groups: Option<&dyn ferry_load::Groups> = if groups.modules.is_empty() {
        None
    } else {
        Some(&groups)
    };
    Ok(ferry_load::load(&target, &plan, groups, &events)?)
}

/// A delta's load: the earlier finished loads to this target, newest first, which must include
/// one of the delta's base (a delta updates what the base's load wrote).
fn prior_loads(
    session: &Session,
    target: &str,
    this_load: u64,
    run: u64,
    base: u64,
) -> Result<ferry_load::journal::PriorLoads, OpsError> {
    let all = loads(session)?;
    let earlier: Vec<&LoadInfo> = all
        .iter()
        .rev()
        .filter(|l| l.target == target && l.load != this_load && l.status.starts_with("loaded"))
        .collect();
    if !earlier.iter().any(|l| l.run == Some(base)) {
        return Err(OpsError::Other(format!(
            "run {run} is a delta of run {base}, which has no finished load into `{target}`: load run {base} first (`ferry load --target {target} --run {base}`), then the delta"
        )));
    }
    let paths: Vec<PathBuf> = earlier
        .iter()
        .map(|l| session.project.resolve(&l.journal.to_string_lossy()))
        .collect();
    Ok(ferry_load::journal::PriorLoads::open(&paths)?)
}

/// The run's modules whose mapping says `load = "transaction"` (read from the mapping files
/// now: how to load is the load's setting, not the run's).
fn transaction_modules(session: &Session, run: u64) -> Result<Vec<String>, OpsError> {
    let ran: std::collections::BTreeSet<String> = session
        .ws
        .run_modules(run)?
        .into_iter()
        .map(|m| m.module)
        .collect();
    if ran.is_empty() {
        return Ok(Vec::new());
    }
    let modules = crate::check::load_modules(&session.project).map_err(|e| {
        OpsError::Other(format!(
            "cannot tell which modules load as transactions (`load = \"transaction\"`): {e}"
        ))
    })?;
    Ok(modules
        .into_iter()
        .filter(|m| m.load_together && ran.contains(&m.name))
        .map(|m| m.name)
        .collect())
}

/// The groups of a run: the resources each source row of a `load = "transaction"` module made,
/// streamed from the run's lineage.
struct RunGroups<'a> {
    ws: &'a ferry_store::Workspace,
    run: u64,
    modules: Vec<String>,
}

enum WalkError {
    Store(ferry_store::StoreError),
    Load(LoadError),
}

impl From<ferry_store::StoreError> for WalkError {
    fn from(e: ferry_store::StoreError) -> Self {
        WalkError::Store(e)
    }
}

impl ferry_load::Groups for RunGroups<'_> {
    fn walk(
        &self,
        f: &mut dyn FnMut(Vec<(String, String)>) -> Result<(), LoadError>,
    ) -> Result<(), LoadError> {
        match self
            .ws
            .resource_groups::<WalkError>(self.run, &self.modules, &mut |g| {
                f(g).map_err(WalkError::Load)
            }) {
            Ok(()) => Ok(()),
            Err(WalkError::Load(e)) => Err(e),
            Err(WalkError::Store(e)) => Err(LoadError::Other(e.to_string())),
        }
    }
}

/// Rolls load `load` back on its target.
pub fn rollback(
    session: &mut Session,
    target_name: &str,
    load: u64,
    cancel: &ferry_core::Cancel,
    progress: &dyn Progress,
) -> Result<ferry_load::rollback::RollbackSummary, OpsError> {
    let result = rollback_unsealed(session, target_name, load, cancel, progress);
    session.seal("rollback", result)
}

fn rollback_unsealed(
    session: &mut Session,
    target_name: &str,
    load: u64,
    cancel: &ferry_core::Cancel,
    progress: &dyn Progress,
) -> Result<ferry_load::rollback::RollbackSummary, OpsError> {
    let target = target(session, target_name)?;
    let path = journal::journal_path(&loads_dir(session), load);
    let events = on_event(progress);
    Ok(ferry_load::rollback::rollback(
        &target, load, &path, cancel, &events,
    )?)
}

/// Verifies run `run` (default: the latest) on the target.
pub fn verify_target(
    session: &mut Session,
    target_name: &str,
    run: Option<u64>,
    cancel: &ferry_core::Cancel,
    progress: &dyn Progress,
) -> Result<ferry_load::verify::TargetVerification, OpsError> {
    let target = target(session, target_name)?;
    let id = session.ws.run(run)?.id;
    let (_, files) = run_files(session, id)?;
    let tag = project_tag(session)?;
    // The Provenances of this project's loads to this target are on the server too.
    let dir = loads_dir(session);
    let mut provenances = 0u64;
    for n in 1..=journal::highest_load(&dir) {
        let p = journal::journal_path(&dir, n);
        if p.is_file() {
            let j = Journal::open(&p)?;
            let status = j.info("status")?.unwrap_or_default();
            if j.info("base")?.as_deref() == Some(target.base.as_str()) && status != "rolled-back" {
                provenances += 1;
            }
        }
    }
    let mut extra = BTreeMap::new();
    if provenances > 0 {
        extra.insert("Provenance".to_string(), provenances);
    }
    let searches = server_searches(session, id)?;
    let started_at = ferry_core::calendar::now_utc_rfc3339();
    let events = on_event(progress);
    let v = ferry_load::verify::verify(
        &target, id, &files, &tag, &extra, &searches, cancel, &events,
    )?;
    let summary = serde_json::to_string(&v).map_err(|e| OpsError::Other(e.to_string()))?;
    session.ws.record_target_verification(
        id,
        &target.name,
        &target.base,
        &started_at,
        v.duration_ms,
        if v.go { "go" } else { "no-go" },
        &summary,
    )?;
    Ok(v)
}

/// The comparative searches of `checks/` that have a `fhir_search`, with their SQL numbers on
/// run `run`'s snapshot.
fn server_searches(
    session: &Session,
    run: u64,
) -> Result<Vec<ferry_load::verify::ServerSearch>, OpsError> {
    let all = ferry_verify::load_searches(&session.project.checks_dir())
        .map_err(|e| OpsError::Config(e.to_string()))?;
    let wanted: Vec<_> = all
        .into_iter()
        .filter(|s| s.fhir_search.is_some())
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let snapshot = session.ws.run(Some(run))?.snapshot;
    let reader = session.ws.open_snapshot(Some(snapshot))?;
    Ok(wanted
        .into_iter()
        .map(|s| {
            let expected = ferry_verify::search_sql_number(&reader, &s);
            let allowed = expected.as_ref().map(|e| s.allowed(*e)).unwrap_or(0.0);
            let distinct = s.count_distinct.clone().map(|path| {
                Box::new(move |r: &serde_json::Value| {
                    ferry_verify::search::values_at(r, &path)
                        .into_iter()
                        .map(|v| v.to_string())
                        .collect()
                }) as ferry_load::verify::DistinctValues
            });
            ferry_load::verify::ServerSearch {
                name: s.name.clone(),
                description: s.description.clone(),
                query: s.fhir_search.clone().unwrap_or_default(),
                element: s
                    .count_distinct
                    .as_deref()
                    .and_then(|p| p.split('.').next())
                    .map(str::to_string),
                distinct,
                expected,
                allowed,
            }
        })
        .collect())
}

/// One load as its journal records it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadInfo {
    pub load: u64,
    pub target: String,
    pub run: Option<u64>,
    /// `loading` (unfinished: `ferry load --resume`), `loaded`, `loaded-with-failures`,
    /// `not-started` (killed as its journal was made; nothing sent),
    /// `rolled-back`.
    pub status: String,
    pub started_at: String,
    /// When it last ended (loaded, with failures or rolled back); `None` while unfinished.
    pub finished_at: Option<String>,
    /// Who started it.
    pub actor: Option<String>,
    /// Made with `--unverified`.
    pub unverified: bool,
    pub resources: Option<u64>,
    /// Resources by journal state (done, unchanged, failed, intent, pending).
    pub states: BTreeMap<String, u64>,
    pub journal: PathBuf,
}

/// Every load of the project, oldest first.
pub fn loads(session: &Session) -> Result<Vec<LoadInfo>, OpsError> {
    let dir = loads_dir(session);
    let mut out = Vec::new();
    for n in 1..=journal::highest_load(&dir) {
        let path = journal::journal_path(&dir, n);
        if !path.is_file() {
            continue;
        }
        let j = Journal::open(&path)?;
        out.push(LoadInfo {
            load: n,
            target: j.info("target")?.unwrap_or_default(),
            run: j.info("run")?.and_then(|r| r.parse().ok()),
            // A journal without a target was killed as it was made: nothing was sent.
            status: match (j.info("target")?, j.info("status")?) {
                (None, _) => "not-started".into(),
                (_, Some(s)) => s,
                (_, None) => "loading".into(),
            },
            started_at: j.info("started_at")?.unwrap_or_default(),
            finished_at: j.info("finished_at")?,
            actor: j.info("actor")?,
            unverified: j.info("unverified")?.as_deref() == Some("true"),
            resources: j.info("resources")?.and_then(|r| r.parse().ok()),
            states: j.counts()?.into_iter().collect(),
            journal: session.project.relative(&path).into(),
        });
    }
    Ok(out)
}

/// What `ferry import-manifest` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManifestInfo {
    pub run: u64,
    pub path: PathBuf,
    pub files: usize,
    pub resources: u64,
}

/// Writes the Bulk Data `$import` manifest of run `run` (default: the latest) to `out` (default
/// `reports/import-manifest-run-NNNN.json`): each NDJSON file of the run at `files_url`/its name.
/// Refuses a run whose last verification is not GO unless `unverified`.
pub fn import_manifest(
    session: &mut Session,
    run: Option<u64>,
    files_url: &str,
    incremental: bool,
    unverified: bool,
    out: Option<&std::path::Path>,
) -> Result<ManifestInfo, OpsError> {
    if !(files_url.starts_with("https://") || files_url.starts_with("file:")) {
        return Err(OpsError::Config(format!(
            "--files-url `{files_url}` must be an https:// URL (where the server will fetch the NDJSON files) or a file: URL"
        )));
    }
    let info = session.ws.run(run)?;
    if !unverified {
        require_go(session, info.id)?;
    }
    let outputs = session.ws.run_outputs(info.id)?;
    let files: Vec<ferry_load::manifest::ManifestFile> = outputs
        .iter()
        .map(|o| ferry_load::manifest::ManifestFile {
            resource_type: o.resource_type.clone(),
            file: o.file.clone(),
            resources: o.resources,
            sha256: o.sha256.clone(),
        })
        .collect();
    let tag = project_tag(session)?;
    let source = format!("urn:ferry:run:{tag}-run-{:04}", info.id);
    let manifest = ferry_load::manifest::import_manifest(
        &files,
        files_url,
        &source,
        if incremental {
            "IncrementalLoad"
        } else {
            "InitialLoad"
        },
    );
    let path = match out {
        Some(p) => session.project.root.join(p),
        None => session
            .project
            .reports_dir()
            .join(format!("import-manifest-run-{:04}.json", info.id)),
    };
    let mut bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| OpsError::Other(e.to_string()))?;
    bytes.push(b'\n');
    ferry_core::atomic::write(&path, ferry_core::atomic::Contents::Project, &bytes)?;
    Ok(ManifestInfo {
        run: info.id,
        path: session.project.relative(&path).into(),
        files: files.len(),
        resources: files.iter().map(|f| f.resources).sum(),
    })
}

/// A run whose last verification is not GO is loaded (or handed to a server) only when asked.
fn require_go(session: &Session, run: u64) -> Result<(), OpsError> {
    match session.ws.verifications(run)?.into_iter().last() {
        Some(v) if v.verdict == "go" => Ok(()),
        Some(v) => Err(OpsError::Other(format!(
            "run {run}'s last verification ({}) is {}: Ferry loads only a run that verified GO. Fix what `ferry verify --run {run}` reports, or pass --unverified to load it anyway (recorded)",
            v.id, v.verdict
        ))),
        None => Err(OpsError::Other(format!(
            "run {run} was never verified: run `ferry verify --run {run}` first (or pass --unverified to load it anyway)"
        ))),
    }
}
