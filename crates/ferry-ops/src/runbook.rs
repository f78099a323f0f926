//! `ferry runbook`: a timed rehearsal or go-live, step by step, from `runbook.toml`
//! (docs/runbook.md).
//!
//! A runbook's plan is recorded in the catalog when it starts; then each step is marked
//! `running` (with its start time and who runs it), done, and marked `done` with what it
//! produced and how long it took. Ferry steps call the same operations the commands call
//! (`stage`, `check`, `run`, `verify`, `load`, `verify_target`, `report`) in this process, under
//! the one project lock, so locking, repair and the ledger behave as they do for the commands.
//! Gates judge the workspace's own records and stop the line with every reason; manual steps
//! wait for `ferry runbook confirm STEP --by NAME`.
//!
//! Interrupted at any instant, a runbook resumes at the step it stopped: a step left `running`
//! is run again. Re-running is safe for every kind: staging, checking, running, verifying and
//! reporting make a new record beside the old one (each atomic); a load knows the number of its
//! journal from the moment it is marked running, so a re-run resumes that journal (or adopts it
//! when it had finished) rather than starting another.

pub mod file;

/// The commented runbook `ferry init` writes: the seeds' go-live sequence.
pub const TEMPLATE: &str = include_str!("runbook/template.toml");

use crate::{OpsError, Progress, Session};
use ferry_map::{Diagnostic, Severity};
use ferry_store::{RunbookRecord, RunbookStep};
pub use file::{Action, Condition, RUNBOOK_FILE, RunbookFile, RunbookKind, Step};
use serde::Serialize;

/// One step as `status` and the report show it.
#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub ordinal: u64,
    pub name: String,
    pub kind: String,
    /// What the step does, in one line.
    pub what: String,
    /// `pending`, `running`, `waiting`, `done`, `failed`, `skipped`.
    pub state: String,
    pub attempts: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    /// Who ran it, or typed the confirmation.
    pub actor: Option<String>,
    /// Who confirmed a manual step.
    pub confirmed_by: Option<String>,
    /// `snapshot 3`, `run 4`, `verification 2`, `load 1`, ...
    pub produced: Option<String>,
    /// The number in `produced`.
    pub produced_id: Option<u64>,
    pub message: Option<String>,
    /// A manual step's owner and instruction.
    pub owner: Option<String>,
    pub instruction: Option<String>,
}

/// One runbook with its steps.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookView {
    pub id: u64,
    pub kind: String,
    /// `open`, `done` or `abandoned`.
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub actor: String,
    /// From the start to the end of the last finished step (or the runbook's end).
    pub window_ms: u64,
    pub steps: Vec<StepView>,
}

/// Where a `start` or `resume` stopped.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "stopped", rename_all = "kebab-case")]
pub enum Stopped {
    /// Every step is done (or not part of this kind of runbook).
    Done,
    /// A manual step waits for its confirmation.
    Waiting {
        step: String,
        owner: String,
        instruction: String,
    },
    /// A gate found what it requires does not hold.
    GateFailed { step: String, reasons: Vec<String> },
    /// A Ferry step failed.
    Failed { step: String, message: String },
}

/// What `start` or `resume` did.
#[derive(Debug, Clone, Serialize)]
pub struct RunbookOutcome {
    pub runbook: RunbookView,
    #[serde(flatten)]
    pub stopped: Stopped,
}

/// Step events, for a terminal to print as the runbook goes.
pub enum StepEvent<'a> {
    Started(&'a StepView),
    Finished(&'a StepView),
}

fn now() -> (String, u64) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    (ferry_core::calendar::utc_rfc3339(ms / 1000), ms)
}

/// The runbook file of the project, parsed: every error at once, with file:line:column.
pub fn load_file(project: &crate::Project) -> Result<(RunbookFile, String), OpsError> {
    let (parsed, diags, sha) = parse_project_file(project)?;
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    match parsed {
        Some(rb) if errors.is_empty() => Ok((rb, sha)),
        _ => Err(OpsError::Other(format!(
            "`{RUNBOOK_FILE}` has {} error(s); nothing was started. Fix them (docs/runbook.md describes the format; `ferry runbook check` lists them again):\n{}",
            errors.len(),
            errors
                .iter()
                .map(|d| format!("  {d}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

fn parse_project_file(
    project: &crate::Project,
) -> Result<(Option<RunbookFile>, Vec<Diagnostic>, String), OpsError> {
    let path = project.root.join(RUNBOOK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpsError::Config(format!(
                "no `{RUNBOOK_FILE}` in `{}`. A runbook lists the steps of a rehearsal or go-live; new projects get a commented one from `ferry init DIR`, and docs/runbook.md has the format and an example to copy",
                project.root.display()
            )));
        }
        Err(e) => return Err(OpsError::io(&path, "reading", e)),
    };
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    let (parsed, mut diags) = file::parse(RUNBOOK_FILE, &text);
    if let Some(rb) = &parsed {
        diags.extend(project_checks(project, rb));
    }
    Ok((parsed, diags, sha))
}

/// What the file names that the project must have: each load's and target verification's
/// `[targets.NAME]`, a FHIR target.
fn project_checks(project: &crate::Project, rb: &RunbookFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in &rb.steps {
        let target = match &step.action {
            Action::Load { target } | Action::VerifyTarget { target } => target,
            _ => continue,
        };
        let (line, column) = step.target_at.unwrap_or((0, 0));
        let problem = match project.config.targets.get(target) {
            Some(crate::project::TargetSection::Fhir(_)) => continue,
            Some(crate::project::TargetSection::Database(_)) => format!(
                "step `{}`: target `{target}` is a database; runbook loads and target verifications are for kind = \"fhir\" targets",
                step.name
            ),
            None => format!(
                "step `{}`: no `[targets.{target}]` in ferry.toml; add it (docs/load.md) or name another target",
                step.name
            ),
        };
        out.push(Diagnostic {
            file: RUNBOOK_FILE.to_string(),
            line,
            column,
            severity: Severity::Error,
            message: problem,
        });
    }
    out
}

/// What `ferry runbook check` found.
#[derive(Debug, Serialize)]
pub struct CheckOutcome {
    pub steps: Vec<StepView>,
    #[serde(serialize_with = "as_strings")]
    pub diagnostics: Vec<Diagnostic>,
}

fn as_strings<S: serde::Serializer>(d: &[Diagnostic], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(d.iter().map(|x| x.to_string()))
}

/// Parses `runbook.toml` and checks it against the project, changing nothing.
pub fn check_file(project: &crate::Project) -> Result<CheckOutcome, OpsError> {
    let (parsed, diagnostics, _) = parse_project_file(project)?;
    let steps = parsed
        .map(|rb| {
            rb.steps
                .iter()
                .enumerate()
                .map(|(i, s)| planned_view(i as u64 + 1, s))
                .collect()
        })
        .unwrap_or_default();
    Ok(CheckOutcome { steps, diagnostics })
}

fn planned_view(ordinal: u64, s: &Step) -> StepView {
    let (owner, instruction) = match &s.action {
        Action::Manual { owner, instruction } => (Some(owner.clone()), Some(instruction.clone())),
        _ => (None, None),
    };
    StepView {
        ordinal,
        name: s.name.clone(),
        kind: s.action.kind().to_string(),
        what: s.action.describe(),
        state: "pending".into(),
        attempts: 0,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        actor: None,
        confirmed_by: None,
        produced: None,
        produced_id: None,
        message: None,
        owner,
        instruction,
    }
}

fn spec(step: &RunbookStep) -> Result<Step, OpsError> {
    serde_json::from_str(&step.spec_json).map_err(|e| {
        OpsError::Other(format!(
            "the recorded plan of runbook step `{}` cannot be read ({e}); the catalog was changed by hand. `ferry runbook abandon` closes the runbook",
            step.name
        ))
    })
}

fn step_view(step: &RunbookStep) -> StepView {
    let planned = spec(step).ok();
    let mut v = match &planned {
        Some(s) => planned_view(step.ordinal, s),
        None => StepView {
            ordinal: step.ordinal,
            name: step.name.clone(),
            kind: step.kind.clone(),
            what: String::new(),
            state: String::new(),
            attempts: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            actor: None,
            confirmed_by: None,
            produced: None,
            produced_id: None,
            message: None,
            owner: None,
            instruction: None,
        },
    };
    v.state = step.state.clone();
    v.attempts = step.attempts;
    v.started_at = step.started_at.clone();
    v.finished_at = step.finished_at.clone();
    v.duration_ms = step.duration_ms;
    v.actor = step.actor.clone();
    v.confirmed_by = step.confirmed_by.clone();
    v.produced = match (&step.produced, step.produced_id) {
        (Some(what), Some(id)) if what != "check-errors" => Some(format!("{what} {id}")),
        (Some(_), Some(id)) => Some(format!("{id} check errors")),
        (Some(what), None) => Some(what.clone()),
        _ => None,
    };
    v.produced_id = step.produced_id;
    v.message = step.message.clone();
    v
}

/// The sign-off report's runbook section: the latest runbook whose run is one of `runs`,
/// beside the runbooks before it; a step of it that failed or waits is a caution.
pub(crate) fn report_section(
    ws: &ferry_store::Workspace,
    runs: &[u64],
    decision: &mut ferry_signoff::Decision,
) -> Result<Option<ferry_signoff::runbook::RunbookSection>, OpsError> {
    let all = history(ws)?;
    let Some(pos) = all.iter().rposition(|rb| {
        rb.steps.iter().any(|s| {
            s.kind == "run" && s.state == "done" && s.produced_id.is_some_and(|r| runs.contains(&r))
        })
    }) else {
        return Ok(None);
    };
    let current = &all[pos];
    for s in current
        .steps
        .iter()
        .filter(|s| s.state == "failed" || s.state == "waiting")
    {
        decision.cautions.push(format!(
            "runbook {} ({}): step `{}` {}{}",
            current.id,
            current.kind,
            s.name,
            if s.state == "failed" {
                "failed"
            } else {
                "waits for its confirmation"
            },
            s.message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    let input = |rb: &RunbookView| ferry_signoff::runbook::RunbookInput {
        id: rb.id,
        kind: rb.kind.clone(),
        status: rb.status.clone(),
        started_at: rb.started_at.clone(),
        actor: rb.actor.clone(),
        window_ms: rb.window_ms,
        steps: rb
            .steps
            .iter()
            .map(|s| ferry_signoff::runbook::RunbookStepInput {
                ordinal: s.ordinal,
                name: s.name.clone(),
                kind: s.kind.clone(),
                what: s.what.clone(),
                state: s.state.clone(),
                started_at: s.started_at.clone().unwrap_or_default(),
                finished_at: s.finished_at.clone().unwrap_or_default(),
                duration_ms: s.duration_ms,
                actor: s.actor.clone().unwrap_or_default(),
                confirmed_by: s.confirmed_by.clone().unwrap_or_default(),
                owner: s.owner.clone().unwrap_or_default(),
                produced: s.produced.clone().unwrap_or_default(),
                message: s.message.clone().unwrap_or_default(),
            })
            .collect(),
    };
    let earlier: Vec<_> = all[..pos].iter().map(input).collect();
    Ok(Some(ferry_signoff::runbook::section(
        input(current),
        &earlier,
    )))
}

/// A runbook as shown by `status` and the report.
pub fn view(ws: &ferry_store::Workspace, rb: &RunbookRecord) -> Result<RunbookView, OpsError> {
    let steps = ws.runbook_steps(rb.id)?;
    let last_end = steps
        .iter()
        .filter_map(|s| Some(s.started_ms? + s.duration_ms?))
        .max();
    let end = rb.finished_ms.or(last_end).unwrap_or(rb.started_ms);
    Ok(RunbookView {
        id: rb.id,
        kind: rb.kind.clone(),
        status: rb.status.clone(),
        started_at: rb.started_at.clone(),
        finished_at: rb.finished_at.clone(),
        actor: rb.actor.clone(),
        window_ms: end.saturating_sub(rb.started_ms),
        steps: steps.iter().map(step_view).collect(),
    })
}

/// Every runbook, oldest first.
pub fn history(ws: &ferry_store::Workspace) -> Result<Vec<RunbookView>, OpsError> {
    ws.runbooks()?.iter().map(|r| view(ws, r)).collect()
}

/// The open runbook, else the latest one; `None` when none was ever started.
pub fn status(session: &Session) -> Result<Option<RunbookView>, OpsError> {
    let all = session.ws.runbooks()?;
    let rb = all
        .iter()
        .find(|r| r.status == "open")
        .or_else(|| all.last());
    rb.map(|r| view(&session.ws, r)).transpose()
}

fn open_runbook(session: &Session) -> Result<RunbookRecord, OpsError> {
    session.ws.open_runbook()?.ok_or_else(|| {
        OpsError::Other(
            "no runbook is open: `ferry runbook start --kind rehearsal` starts one (or `--kind go-live`)"
                .into(),
        )
    })
}

/// What `start` and `resume` need besides the session.
pub struct Drive<'a> {
    pub cancel: ferry_core::Cancel,
    pub progress: &'a dyn Progress,
    pub events: &'a dyn Fn(StepEvent<'_>),
}

/// Starts a runbook of `kind` from `runbook.toml` (refused while another is open) and runs it
/// until it is done, a manual step waits, a gate fails or a step fails.
pub fn start(
    session: &mut Session,
    kind: RunbookKind,
    drive: &Drive<'_>,
) -> Result<RunbookOutcome, OpsError> {
    let (rb, sha) = load_file(&session.project)?;
    let mut plan = Vec::new();
    for s in &rb.steps {
        let json = serde_json::to_string(s).map_err(|e| OpsError::Other(e.to_string()))?;
        plan.push((s.name.clone(), s.action.kind().to_string(), json));
    }
    let (at, ms) = now();
    let id = session
        .ws
        .begin_runbook(kind.as_str(), &sha, &plan, (&at, ms))?;
    drive_runbook(session, id, drive)
}

/// Continues the open runbook at the step it stopped (a step left running is run again); with
/// `from`, every step from that one on is run again.
pub fn resume(
    session: &mut Session,
    from: Option<&str>,
    drive: &Drive<'_>,
) -> Result<RunbookOutcome, OpsError> {
    let rb = open_runbook(session)?;
    if let Some(name) = from {
        let steps = session.ws.runbook_steps(rb.id)?;
        let Some(step) = steps.iter().find(|s| s.name == name) else {
            return Err(unknown_step(rb.id, name, &steps));
        };
        session.ws.reset_runbook_steps(rb.id, step.ordinal)?;
    }
    drive_runbook(session, rb.id, drive)
}

fn unknown_step(id: u64, name: &str, steps: &[RunbookStep]) -> OpsError {
    OpsError::Other(format!(
        "runbook {id} has no step `{name}`; its steps are {} (`ferry runbook status`)",
        steps
            .iter()
            .map(|s| format!("`{}`", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Records that manual step `name` of the open runbook was done, by `by`.
pub fn confirm(session: &mut Session, name: &str, by: &str) -> Result<StepView, OpsError> {
    let result = confirm_unsealed(session, name, by);
    session.seal("runbook confirm", result)
}

fn confirm_unsealed(session: &mut Session, name: &str, by: &str) -> Result<StepView, OpsError> {
    let by = by.trim();
    if by.is_empty() {
        return Err(OpsError::Other(
            "`--by` names who confirms the step (e.g. `--by \"Dr Rivera\"`)".into(),
        ));
    }
    let rb = open_runbook(session)?;
    let steps = session.ws.runbook_steps(rb.id)?;
    let Some(step) = steps.iter().find(|s| s.name == name) else {
        return Err(unknown_step(rb.id, name, &steps));
    };
    if step.kind != "manual" {
        return Err(OpsError::Other(format!(
            "step `{name}` is a `{}` step: only manual steps are confirmed; Ferry runs the others (`ferry runbook resume`)",
            step.kind
        )));
    }
    match step.state.as_str() {
        "waiting" | "pending" => {}
        "done" => {
            return Err(OpsError::Other(format!(
                "step `{name}` was already confirmed by {} at {}",
                step.confirmed_by.as_deref().unwrap_or("someone"),
                step.finished_at.as_deref().unwrap_or("an unknown time")
            )));
        }
        "skipped" => {
            return Err(OpsError::Other(format!(
                "step `{name}` is not part of a {} runbook (its `only` says so)",
                rb.kind
            )));
        }
        other => {
            return Err(OpsError::Other(format!(
                "step `{name}` is {other} and cannot be confirmed"
            )));
        }
    }
    let (at, ms) = now();
    let mut s = step.clone();
    if s.started_ms.is_none() {
        // Confirmed before the runbook reached it: done at once.
        s.started_at = Some(at.clone());
        s.started_ms = Some(ms);
        s.attempts = 1;
    }
    s.state = "done".into();
    s.finished_at = Some(at);
    s.duration_ms = Some(ms.saturating_sub(s.started_ms.unwrap_or(ms)));
    s.actor = Some(session.actor.name.clone());
    s.confirmed_by = Some(by.to_string());
    s.message = None;
    session.ws.set_runbook_step(rb.id, &s)?;
    Ok(step_view(&s))
}

/// Closes the open runbook without finishing it (its steps stay as they are, for the record).
pub fn abandon(session: &mut Session) -> Result<RunbookView, OpsError> {
    let rb = open_runbook(session)?;
    let (at, ms) = now();
    session.ws.finish_runbook(rb.id, "abandoned", (&at, ms))?;
    let rb = session
        .ws
        .runbooks()?
        .into_iter()
        .find(|r| r.id == rb.id)
        .ok_or_else(|| OpsError::Other(format!("runbook {} vanished", rb.id)))?;
    view(&session.ws, &rb)
}

/// What the steps done so far established: the runbook's snapshot, run, load, check result and
/// the target it verified on.
#[derive(Default)]
struct Context {
    snapshot: Option<u64>,
    run: Option<u64>,
    load: Option<u64>,
    check_errors: Option<u64>,
    verified_target: Option<String>,
}

fn context(steps: &[RunbookStep], before: u64) -> Context {
    let mut c = Context::default();
    for s in steps
        .iter()
        .filter(|s| s.ordinal < before && s.state == "done")
    {
        match (s.produced.as_deref(), s.produced_id) {
            (Some("snapshot"), Some(n)) => c.snapshot = Some(n),
            (Some("run"), Some(n)) => c.run = Some(n),
            (Some("load"), Some(n)) => c.load = Some(n),
            (Some("check-errors"), Some(n)) => c.check_errors = Some(n),
            _ => {}
        }
        if s.kind == "verify-target"
            && let Ok(Step {
                action: Action::VerifyTarget { target },
                ..
            }) = spec(s)
        {
            c.verified_target = Some(target);
        }
    }
    c
}

fn drive_runbook(
    session: &mut Session,
    id: u64,
    drive: &Drive<'_>,
) -> Result<RunbookOutcome, OpsError> {
    let kind = session
        .ws
        .runbooks()?
        .into_iter()
        .find(|r| r.id == id)
        .and_then(|r| RunbookKind::parse(&r.kind))
        .ok_or_else(|| OpsError::Other(format!("runbook {id} has no kind the catalog knows")))?;
    loop {
        let steps = session.ws.runbook_steps(id)?;
        let Some(step) = steps
            .iter()
            .find(|s| s.state != "done" && s.state != "skipped")
            .cloned()
        else {
            let (at, ms) = now();
            session.ws.finish_runbook(id, "done", (&at, ms))?;
            return outcome(session, id, Stopped::Done);
        };
        let plan = spec(&step)?;
        let mut s = step.clone();
        if !plan.applies_to(kind) {
            s.state = "skipped".into();
            s.message = Some(format!("not part of a {} runbook", kind.as_str()));
            session.ws.set_runbook_step(id, &s)?;
            continue;
        }
        let ctx = context(&steps, step.ordinal);
        let (at, ms) = now();
        if let Action::Manual { owner, instruction } = &plan.action {
            if s.state != "waiting" {
                s.state = "waiting".into();
                s.started_at = Some(at);
                s.started_ms = Some(ms);
                s.attempts += 1;
                session.ws.set_runbook_step(id, &s)?;
                (drive.events)(StepEvent::Started(&step_view(&s)));
            }
            return outcome(
                session,
                id,
                Stopped::Waiting {
                    step: s.name.clone(),
                    owner: owner.clone(),
                    instruction: instruction.clone(),
                },
            );
        }
        let interrupted = s.state == "running";
        s.state = "running".into();
        s.started_at = Some(at);
        s.started_ms = Some(ms);
        s.attempts += 1;
        s.actor = Some(session.actor.name.clone());
        s.message = None;
        s.finished_at = None;
        s.duration_ms = None;
        // A load's journal number is known before it starts, so a re-run finds it.
        if matches!(plan.action, Action::Load { .. }) {
            if !(interrupted && s.produced.as_deref() == Some("load")) {
                let dir = crate::load::loads_dir(session);
                s.produced = Some("load".into());
                s.produced_id = Some(ferry_load::journal::highest_load(&dir) + 1);
            }
        } else {
            s.produced = None;
            s.produced_id = None;
        }
        session.ws.set_runbook_step(id, &s)?;
        (drive.events)(StepEvent::Started(&step_view(&s)));
        ferry_core::crash::point("runbook.step-started");
        let started = std::time::Instant::now();
        let result = match &plan.action {
            Action::Gate { require } => gate(session, &ctx, require),
            action => {
                perform(session, kind, &ctx, action, &s, drive).map(|r| r.map_err(|e| vec![e]))
            }
        };
        ferry_core::crash::point("runbook.step-done");
        let (at, _) = now();
        s.finished_at = Some(at);
        s.duration_ms = Some(started.elapsed().as_millis() as u64);
        let stopped = match result {
            Ok(Ok(Done { produced, message })) => {
                s.state = "done".into();
                if let Some((what, n)) = produced {
                    s.produced = Some(what.to_string());
                    s.produced_id = Some(n);
                }
                s.message = message;
                None
            }
            Ok(Err(reasons)) => {
                s.state = "failed".into();
                s.message = Some(reasons.join("; "));
                Some(if plan.action.kind() == "gate" {
                    Stopped::GateFailed {
                        step: s.name.clone(),
                        reasons,
                    }
                } else {
                    Stopped::Failed {
                        step: s.name.clone(),
                        message: reasons.join("; "),
                    }
                })
            }
            Err(e) => {
                s.state = "failed".into();
                s.message = Some(if e.is_cancelled() {
                    "cancelled".to_string()
                } else {
                    e.to_string()
                });
                session.ws.set_runbook_step(id, &s)?;
                (drive.events)(StepEvent::Finished(&step_view(&s)));
                if e.is_cancelled() {
                    return Err(e);
                }
                return outcome(
                    session,
                    id,
                    Stopped::Failed {
                        step: s.name.clone(),
                        message: e.to_string(),
                    },
                );
            }
        };
        session.ws.set_runbook_step(id, &s)?;
        (drive.events)(StepEvent::Finished(&step_view(&s)));
        if let Some(stopped) = stopped {
            return outcome(session, id, stopped);
        }
    }
}

fn outcome(session: &Session, id: u64, stopped: Stopped) -> Result<RunbookOutcome, OpsError> {
    let rb = session
        .ws
        .runbooks()?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| OpsError::Other(format!("runbook {id} vanished")))?;
    Ok(RunbookOutcome {
        runbook: view(&session.ws, &rb)?,
        stopped,
    })
}

/// A finished step: what it produced (kind and number) and a note.
struct Done {
    produced: Option<(&'static str, u64)>,
    message: Option<String>,
}

/// Runs one Ferry step. `Ok(Err(reason))`: the operation answered but the step did not do its
/// job (a load with refusals is still done: the gate `load-complete` judges it).
fn perform(
    session: &mut Session,
    kind: RunbookKind,
    ctx: &Context,
    action: &Action,
    step: &RunbookStep,
    drive: &Drive<'_>,
) -> Result<Result<Done, String>, OpsError> {
    let progress = drive.progress;
    let cancel = drive.cancel.clone();
    let run_id = |session: &Session| -> Result<u64, OpsError> {
        Ok(match ctx.run {
            Some(r) => r,
            None => session.ws.run(None)?.id,
        })
    };
    Ok(Ok(match action {
        Action::Stage {
            paths,
            label,
            encoding,
            delimiter,
            no_header,
        } => {
            let req = crate::stage::StageRequest {
                paths: paths.iter().map(|p| session.project.root.join(p)).collect(),
                label: label.clone(),
                encoding: encoding.clone(),
                delimiter: delimiter.clone(),
                no_header: *no_header,
                header_row: None,
                cancel,
            };
            let o = crate::stage::stage(session, &req, progress)?;
            Done {
                produced: Some(("snapshot", o.snapshot)),
                message: Some(format!("{} tables, {} rows", o.tables.len(), o.rows)),
            }
        }
        Action::Check => {
            let o = crate::check::check(session, ctx.snapshot, None)?;
            Done {
                produced: Some(("check-errors", o.errors as u64)),
                message: Some(format!(
                    "{} modules: {} errors, {} warnings",
                    o.modules, o.errors, o.warnings
                )),
            }
        }
        Action::Run {
            modules,
            threads,
            bundle_size,
            base,
        } => {
            let base = match base {
                None => None,
                Some(file::BaseRun::Run(n)) => Some(*n),
                Some(file::BaseRun::GoLive) => Some(
                    session
                        .ws
                        .runs()?
                        .into_iter()
                        .rev()
                        .find(|r| r.status == "ok" && (r.kind == "go-live" || r.kind == "delta"))
                        .map(|r| r.id)
                        .ok_or_else(|| {
                            OpsError::Config(
                                "the run step's `base = \"go-live\"` found no finished go-live run: run the go-live runbook first (`ferry runs` lists the runs)".into(),
                            )
                        })?,
                ),
            };
            let req = crate::run::RunRequest {
                kind: Some(if base.is_some() {
                    "delta".to_string()
                } else {
                    kind.as_str().to_string()
                }),
                snapshot: ctx.snapshot,
                modules: modules.clone(),
                bundle_size: *bundle_size,
                threads: *threads,
                cancel,
                base,
            };
            let o = crate::run::run(session, &req, progress)?;
            let rows: u64 = o.modules.iter().map(|m| m.source_rows).sum();
            Done {
                produced: Some(("run", o.run)),
                message: Some(format!("snapshot {}, {} source rows", o.snapshot, rows)),
            }
        }
        Action::Verify => {
            let req = crate::verify::VerifyRequest {
                run: Some(run_id(session)?),
                cancel,
                ..Default::default()
            };
            let v = crate::verify::verify(session, &req, progress)?;
            Done {
                produced: Some(("verification", v.record_id)),
                message: Some(format!(
                    "run {}: {}",
                    v.run,
                    if v.is_go() { "GO" } else { "NO-GO" }
                )),
            }
        }
        Action::Load { target } => {
            let n = step.produced_id.unwrap_or(0);
            let existing = crate::load::loads(session)?
                .into_iter()
                .find(|l| l.load == n && l.target == *target);
            let finished = existing
                .as_ref()
                .is_some_and(|l| l.status != "loading" && l.status != "not-started");
            if let (true, Some(l)) = (finished, &existing) {
                // The load finished before the runbook could record it.
                return Ok(Ok(Done {
                    produced: Some(("load", l.load)),
                    message: Some(format!("{} (recorded after an interruption)", l.status)),
                }));
            }
            // This step's own load, or one an earlier failed attempt left unfinished.
            let resume = existing.is_some_and(|l| l.status == "loading")
                || crate::load::unfinished(session, target)?.is_some();
            let req = crate::load::LoadRequest {
                target: target.clone(),
                run: if resume { None } else { Some(run_id(session)?) },
                resume,
                unverified: false,
                cancel,
            };
            let o = crate::load::load(session, &req, progress)?;
            Done {
                produced: Some(("load", o.load)),
                message: Some(format!(
                    "run {}: {} resources, {} sent, {} unchanged, {} refused{}",
                    o.run,
                    o.resources,
                    o.sent,
                    o.unchanged,
                    o.failed,
                    if resume { " (resumed)" } else { "" }
                )),
            }
        }
        Action::VerifyTarget { target } => {
            let run = run_id(session)?;
            let v = crate::load::verify_target(session, target, Some(run), &cancel, progress)?;
            let id = session
                .ws
                .target_verifications(run)?
                .into_iter()
                .filter(|t| t.target == *target)
                .map(|t| t.id)
                .max()
                .unwrap_or(0);
            Done {
                produced: Some(("target-verification", id)),
                message: Some(format!(
                    "run {run} on `{target}`: {}",
                    if v.go { "GO" } else { "NO-GO" }
                )),
            }
        }
        Action::Report { out } => {
            let run = run_id(session)?;
            let out = out.as_ref().map(|o| session.project.root.join(o));
            let r = crate::signoff::report(session, &[run], out.as_deref())?;
            Done {
                produced: None,
                message: Some(format!(
                    "{} (decision for run {}: {})",
                    session.project.relative(&r.path),
                    r.decided_run,
                    if r.go { "GO" } else { "NO-GO" }
                )),
            }
        }
        Action::Gate { .. } | Action::Manual { .. } => {
            return Err(OpsError::Other(format!(
                "step `{}` is not a Ferry step",
                step.name
            )));
        }
    }))
}

/// Judges a gate: every condition, every reason it fails.
fn gate(
    session: &Session,
    ctx: &Context,
    require: &[Condition],
) -> Result<Result<Done, Vec<String>>, OpsError> {
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    for c in require {
        match judge(session, ctx, *c)? {
            Ok(why) => passed.push(why),
            Err(why) => failed.push(why),
        }
    }
    Ok(if failed.is_empty() {
        Ok(Done {
            produced: None,
            message: Some(passed.join("; ")),
        })
    } else {
        Err(failed)
    })
}

fn judge(
    session: &Session,
    ctx: &Context,
    c: Condition,
) -> Result<Result<String, String>, OpsError> {
    let ws = &session.ws;
    let run = match ctx.run {
        Some(r) => Some(r),
        None => ws.runs()?.last().map(|r| r.id),
    };
    Ok(match c {
        Condition::CheckClean => match ctx.check_errors {
            None => Err("check-clean: no check step ran in this runbook".into()),
            Some(0) => Ok("check-clean: the check found no errors".into()),
            Some(n) => Err(format!(
                "check-clean: the check found {n} error(s) (`ferry check` lists them); fix the mappings, then `ferry runbook resume --from STEP` with the check step's name"
            )),
        },
        Condition::VerifyGo => {
            let Some(run) = run else {
                return Ok(Err("verify-go: no run to judge".into()));
            };
            match ws.verifications(run)?.into_iter().last() {
                None => Err(format!(
                    "verify-go: run {run} was never verified (`ferry verify --run {run}`)"
                )),
                Some(v) if v.verdict == "go" => Ok(format!(
                    "verify-go: verification {} of run {run} is GO",
                    v.id
                )),
                Some(v) => Err(format!(
                    "verify-go: verification {} of run {run} is NO-GO{} (`ferry verify --run {run}` shows why)",
                    v.id,
                    failing_checks(&v.summary_json)
                )),
            }
        }
        Condition::LoadComplete => {
            let Some(n) = ctx.load else {
                return Ok(Err(
                    "load-complete: no load step finished in this runbook".into()
                ));
            };
            let loads = crate::load::loads(session)?;
            match loads.iter().find(|l| l.load == n) {
                None => Err(format!("load-complete: load {n} has no journal")),
                Some(l) => {
                    let refused = l.states.get("failed").copied().unwrap_or(0);
                    let unanswered = l.states.get("intent").copied().unwrap_or(0)
                        + l.states.get("pending").copied().unwrap_or(0);
                    if l.status == "loaded" && refused == 0 && unanswered == 0 {
                        Ok(format!(
                            "load-complete: load {n} into `{}` wrote every resource",
                            l.target
                        ))
                    } else {
                        Err(format!(
                            "load-complete: load {n} into `{}` is {} ({refused} refused, {unanswered} without an answer; `ferry loads` shows it)",
                            l.target, l.status
                        ))
                    }
                }
            }
        }
        Condition::TargetGo => {
            let (Some(run), Some(target)) = (run, ctx.verified_target.as_deref()) else {
                return Ok(Err(
                    "target-go: no verify-target step finished in this runbook".into(),
                ));
            };
            match ws
                .target_verifications(run)?
                .into_iter()
                .rfind(|t| t.target == target)
            {
                None => Err(format!(
                    "target-go: run {run} was never verified on `{target}` (`ferry verify --target {target} --run {run}`)"
                )),
                Some(t) if t.verdict == "go" => {
                    Ok(format!("target-go: run {run} verified GO on `{target}`"))
                }
                Some(_) => Err(format!(
                    "target-go: the latest verification of run {run} on `{target}` is NO-GO{} (`ferry verify --target {target} --run {run}` shows why)",
                    failing_checks_target(&session.ws, run, target)
                )),
            }
        }
    })
}

/// `: failed checks a, b; thresholds not met: c` from a verification's recorded summary.
fn failing_checks(summary_json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(summary_json) else {
        return String::new();
    };
    let names = |key: &str, bad: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| bad(c))
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let checks = names("checks", &|c| c["status"] == "fail");
    let thresholds = names("thresholds", &|t| t["ok"] == false);
    let mut parts = Vec::new();
    if !checks.is_empty() {
        parts.push(format!("failed checks {}", checks.join(", ")));
    }
    if !thresholds.is_empty() {
        parts.push(format!("thresholds not met: {}", thresholds.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

fn failing_checks_target(ws: &ferry_store::Workspace, run: u64, target: &str) -> String {
    let Ok(all) = ws.target_verifications(run) else {
        return String::new();
    };
    let Some(t) = all.into_iter().rfind(|t| t.target == target) else {
        return String::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&t.summary_json) else {
        return String::new();
    };
    let mut parts = Vec::new();
    let problems = v["problem_count"].as_u64().unwrap_or(0);
    if problems > 0 {
        parts.push(format!("{problems} resources differ or are missing"));
    }
    if let Some(counts) = v["counts"].as_array() {
        let off: Vec<String> = counts
            .iter()
            .filter(|c| c["run"] != c["server"])
            .filter_map(|c| c["resource_type"].as_str().map(str::to_string))
            .collect();
        if !off.is_empty() {
            parts.push(format!("counts differ for {}", off.join(", ")));
        }
    }
    if let Some(searches) = v["searches"].as_array() {
        let off: Vec<String> = searches
            .iter()
            .filter(|s| s["ok"] == false)
            .filter_map(|s| s["name"].as_str().map(|n| format!("search:{n}")))
            .collect();
        if !off.is_empty() {
            parts.push(format!("failed {}", off.join(", ")));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runbook_ferry_init_writes_parses_and_follows_the_go_live_sequence() {
        let (rb, diags) = file::parse(RUNBOOK_FILE, TEMPLATE);
        assert!(diags.is_empty(), "{diags:?}");
        let kinds: Vec<&str> = rb.unwrap().steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(
            kinds,
            [
                "manual",
                "manual",
                "manual",
                "stage",
                "check",
                "run",
                "verify",
                "gate",
                "load",
                "verify-target",
                "gate",
                "manual",
                "manual",
                "report",
                "manual"
            ]
        );
    }
}
