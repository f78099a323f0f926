//! Reading the ledger: `ferry runs` and `ferry exceptions`.

use crate::{OpsError, Session};

/// One run for `ferry runs`.
#[derive(Debug, serde::Serialize)]
pub struct RunLine {
    #[serde(flatten)]
    pub info: ferry_store::RunInfo,
    pub resources: u64,
    pub source_rows: u64,
    pub exceptions: u64,
    /// The newest verification's verdict (`go` / `no-go`), if verified.
    pub verdict: Option<String>,
    /// Whether its output folder is there.
    pub output_present: bool,
}

/// Every recorded run, oldest first, with its books, latest verdict and whether its output
/// folder is still there.
pub fn runs(session: &Session) -> Result<Vec<RunLine>, OpsError> {
    let ws = &session.ws;
    let mut out = Vec::new();
    for info in ws.runs()? {
        let books = ws.run_modules(info.id)?;
        let verdict = ws.verifications(info.id)?.last().map(|v| v.verdict.clone());
        let output_present =
            info.status == "ok" && session.project.resolve(&info.output_dir).is_dir();
        out.push(RunLine {
            resources: books.iter().map(|b| b.resources).sum(),
            source_rows: books.iter().map(|b| b.source_rows).sum(),
            exceptions: books.iter().map(|b| b.exceptions).sum(),
            verdict,
            output_present,
            info,
        });
    }
    Ok(out)
}

/// A run's exceptions grouped by module and reason.
#[derive(Debug, serde::Serialize)]
pub struct Exceptions {
    pub run: u64,
    /// Source rows with exceptions: the books' `exceptions`, summed over modules.
    pub rows: u64,
    /// Exception records (a row can fail several fields).
    pub records: u64,
    pub groups: Vec<ferry_store::ExceptionGroup>,
    /// Modules whose key column holds PHI: their keys are withheld unless values were asked for.
    pub withheld_keys: Vec<WithheldKey>,
    /// How often each reviewer decision was applied in the run (`rows == 0`: matched nothing).
    pub decisions: Vec<ferry_store::DecisionUse>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WithheldKey {
    pub module: String,
    pub column: String,
    pub kind: ferry_profile::model::PhiKind,
}

/// Text shown in place of a key of a PHI column.
pub const WITHHELD: &str = "(withheld)";

/// A run's exceptions. Keys of a module whose key column is PHI (an SSN, a name, an MRN: by
/// its name, or by the profile's labels when the snapshot was profiled) are withheld unless
/// `show_values` (which also shows raw values).
pub fn exceptions(
    session: &Session,
    run: Option<u64>,
    module: Option<&str>,
    show_values: bool,
) -> Result<Exceptions, OpsError> {
    let ws = &session.ws;
    let run = ws.run(run)?;
    let mut groups = ws.exceptions(run.id, module, show_values)?;
    let mut withheld = Vec::new();
    if !show_values {
        withheld = phi_keyed_modules(session, run.snapshot);
        for g in &mut groups {
            if withheld.iter().any(|w| w.module == g.module) {
                for k in &mut g.keys {
                    *k = WITHHELD.to_string();
                }
            }
        }
    }
    let (records, rows) = ws.exception_totals(run.id, module)?;
    let decisions = ws
        .decision_uses(run.id)?
        .into_iter()
        .filter(|d| module.is_none_or(|m| d.module == m))
        .collect();
    Ok(Exceptions {
        run: run.id,
        rows,
        records,
        groups,
        withheld_keys: withheld,
        decisions,
    })
}

/// Every exception record of a run (of `module` only, when given), streamed to `f`, with the
/// keys of PHI-keyed modules withheld and raw values left out unless `show_values`. Returns the
/// run's id and the modules whose keys were withheld.
pub fn exception_records(
    session: &Session,
    run: Option<u64>,
    module: Option<&str>,
    show_values: bool,
    f: &mut dyn FnMut(ferry_store::ExceptionRecord) -> Result<(), OpsError>,
) -> Result<(u64, Vec<WithheldKey>), OpsError> {
    let ws = &session.ws;
    let run = ws.run(run)?;
    if let Some(m) = module {
        let ran = ws.run_modules(run.id)?;
        if !ran.iter().any(|b| b.module == m) {
            let names: Vec<String> = ran.into_iter().map(|b| b.module).collect();
            return Err(OpsError::Other(format!(
                "run {} has no module `{m}`; its modules are {}",
                run.id,
                names.join(", ")
            )));
        }
    }
    let withheld = if show_values {
        Vec::new()
    } else {
        phi_keyed_modules(session, run.snapshot)
    };
    ws.exception_records::<OpsError>(run.id, module, show_values, &mut |mut r| {
        if withheld.iter().any(|w| w.module == r.module) {
            r.source_key = WITHHELD.to_string();
        }
        f(r)
    })?;
    Ok((run.id, withheld))
}

/// The modules whose key columns hold PHI (by the column's name, or by the profile's labels of
/// `snapshot` when it was profiled): their keys are withheld from terminal output and reports.
pub fn phi_keyed_modules(session: &Session, snapshot: u64) -> Vec<WithheldKey> {
    let labels = profile_labels(session, snapshot);
    let modules = crate::check::load_modules(&session.project).unwrap_or_default();
    let mut withheld = Vec::new();
    for m in &modules {
        for col in &m.source.key {
            if let Some(kind) = phi_kind(col, &labels) {
                withheld.push(WithheldKey {
                    module: m.name.clone(),
                    column: col.clone(),
                    kind,
                });
            }
        }
    }
    withheld
}

/// The PHI kind of a column named `column`: by its name, else by the profile's label of a column
/// of that name.
pub fn phi_kind(
    column: &str,
    labels: &std::collections::HashMap<String, ferry_profile::model::PhiKind>,
) -> Option<ferry_profile::model::PhiKind> {
    let by_name = ferry_profile::phi::classify(&ferry_profile::phi::PhiInput {
        table: "",
        column,
        inferred: ferry_profile::model::InferredType::Text,
        formats: &[],
        mean_len: None,
        person_table: false,
    });
    by_name.or_else(|| labels.get(column).copied())
}

/// Column name -> PHI kind from `ferry profile`'s report of this snapshot, when there is one.
pub fn profile_labels(
    session: &Session,
    snapshot: u64,
) -> std::collections::HashMap<String, ferry_profile::model::PhiKind> {
    let Some(profile) = crate::profile::read_profile(&session.project, snapshot) else {
        return Default::default();
    };
    profile
        .tables
        .iter()
        .flat_map(|t| t.columns.iter())
        .filter_map(|c| c.phi.map(|k| (c.name.clone(), k)))
        .collect()
}
