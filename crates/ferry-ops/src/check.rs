//! `ferry check` (every module checked before data moves) and the module loading the other
//! operations share.

use crate::{OpsError, Project, Session};

/// The project's modules, or every load error at once.
pub fn load_modules(project: &Project) -> Result<Vec<ferry_map::Module>, OpsError> {
    let dirs = ferry_run::ProjectDirs {
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        output: project.output_dir(),
    };
    let (modules, diags) = ferry_run::load_modules(
        &dirs,
        project.namespace()?,
        project.config.project.map_settings(),
    );
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("  {d}"))
        .collect();
    if !errors.is_empty() {
        return Err(OpsError::Other(format!(
            "the mappings have {} error(s). Fix them (`ferry check` lists them with file:line) and run again:\n{}",
            errors.len(),
            errors.join("\n")
        )));
    }
    Ok(modules)
}

/// What `check` found.
#[derive(Debug, serde::Serialize)]
pub struct CheckOutcome {
    pub modules: usize,
    pub errors: usize,
    pub warnings: usize,
    #[serde(serialize_with = "as_strings")]
    pub diagnostics: Vec<ferry_map::Diagnostic>,
    /// The reviewers' decisions in `mappings/decisions.toml` (each run re-applies them).
    pub decisions: Vec<DecisionLine>,
}

/// One decision as `ferry check` lists it (no source value: it can be PHI).
#[derive(Debug, serde::Serialize)]
pub struct DecisionLine {
    pub id: String,
    pub module: String,
    pub action: String,
    pub element: Option<String>,
    pub by: String,
    pub at: String,
    pub why: String,
}

/// The decisions file's decisions, for listing (its problems are among the diagnostics).
fn decision_lines(project: &Project) -> Vec<DecisionLine> {
    let path = project
        .mappings_dir()
        .join(ferry_map::decisions::DECISIONS_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let (list, _) = ferry_map::decisions::parse(&project.relative(&path), &text);
    list.into_iter()
        .map(|d| DecisionLine {
            action: d.action.name().to_string(),
            id: d.id,
            module: d.module,
            element: d.element,
            by: d.by,
            at: d.at,
            why: d.why,
        })
        .collect()
}

fn as_strings<S: serde::Serializer>(d: &[ferry_map::Diagnostic], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(d.iter().map(|x| x.to_string()))
}

/// Checks every module (or only the modules named in `modules`) against a snapshot's staged
/// schema; all problems at once.
pub fn check(
    session: &Session,
    snapshot: Option<u64>,
    modules: Option<&[String]>,
) -> Result<CheckOutcome, OpsError> {
    let project = &session.project;
    let dirs = ferry_run::ProjectDirs {
        mappings: project.mappings_dir(),
        concept_maps: project.concept_maps_dir(),
        output: project.output_dir(),
    };
    let (modules, diagnostics) = ferry_run::check(
        &session.ws,
        &dirs,
        snapshot,
        project.namespace()?,
        project.config.project.map_settings(),
        modules,
    )?;
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    Ok(CheckOutcome {
        modules,
        errors,
        warnings: diagnostics.len() - errors,
        diagnostics,
        decisions: decision_lines(project),
    })
}
