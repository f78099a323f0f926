//! `ferry exceptions decide`: a reviewer's decision on a class of exceptions, checked against
//! the run's exception records and appended to `mappings/decisions.toml` (text in git), which
//! every later run and `ferry verify` re-apply.

use std::io::Write as _;

use ferry_map::decisions::{self, Action, Decision};

use crate::{OpsError, Session};

/// What the reviewer decided, as given on the command line (or by the dashboard).
#[derive(Debug, Clone)]
pub struct DecideRequest {
    /// The run whose exceptions the decision is about (default: the latest).
    pub run: Option<u64>,
    pub module: String,
    pub element: Option<String>,
    pub value: Option<String>,
    pub reason: Option<String>,
    pub action: DecideAction,
    /// Who decided (default: the session's actor).
    pub by: Option<String>,
    pub why: String,
}

#[derive(Debug, Clone)]
pub enum DecideAction {
    Exclude,
    Default(String),
    Text(String),
    Map {
        code: String,
        display: Option<String>,
        system: Option<String>,
        /// The concept map; default: the one the covered lookups failed in.
        concept_map: Option<String>,
    },
}

/// The decision written, and how much of the run it covers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decided {
    pub id: String,
    pub file: String,
    pub module: String,
    pub action: String,
    pub run: u64,
    /// Exception records and distinct source rows of the run it covers.
    pub records: u64,
    pub rows: u64,
}

/// The decisions file: where it is, how messages name it, its text ("" when absent) and its
/// decisions; refused while it has errors (nothing is added to a broken file).
struct DecisionsFile {
    path: std::path::PathBuf,
    shown: String,
    text: String,
    list: Vec<Decision>,
}

impl DecisionsFile {
    fn read(session: &Session) -> Result<DecisionsFile, OpsError> {
        let path = session
            .project
            .mappings_dir()
            .join(decisions::DECISIONS_FILE);
        let shown = session.project.relative(&path);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(OpsError::io(&path, "reading", e)),
        };
        let (list, diags) = decisions::parse(&shown, &text);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(OpsError::Other(format!(
                "{d}\nFix mappings/decisions.toml first (`ferry check` lists every problem); nothing was written"
            )));
        }
        Ok(DecisionsFile {
            path,
            shown,
            text,
            list,
        })
    }

    /// Appends `new` (ids given in order), checks the whole file reads back, and replaces it
    /// atomically. Returns the ids.
    fn append(mut self, new: Vec<Decision>) -> Result<Vec<String>, OpsError> {
        let mut text = if self.text.is_empty() {
            decisions::FILE_HEADER.to_string()
        } else {
            std::mem::take(&mut self.text)
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let mut ids = Vec::new();
        for mut dec in new {
            dec.id = decisions::next_id(&self.list);
            text.push_str(&decisions::render(&dec));
            ids.push(dec.id.clone());
            self.list.push(dec);
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        let (back, diags) = decisions::parse(&self.shown, &text);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(OpsError::Other(format!(
                "the decisions would not load ({d}); nothing was written"
            )));
        }
        if back.len() != self.list.len() {
            return Err(OpsError::Other(
                "internal: the decisions did not read back; nothing was written".into(),
            ));
        }
        let mut f = ferry_core::atomic::AtomicFile::create(
            &self.path,
            ferry_core::atomic::Contents::Project,
        )?;
        f.write_all(text.as_bytes())
            .map_err(|e| OpsError::io(&self.path, "writing", e))?;
        f.commit()?;
        Ok(ids)
    }
}

/// The concept map a failed lookup's reason names.
fn failed_lookup(reason: &str) -> Option<&str> {
    reason
        .strip_prefix("code not in concept map `")
        .and_then(|m| m.strip_suffix('`'))
}

/// The exception records of `run` in `module` that `dec` covers: (records, rows), and the
/// concept maps of the failed lookups among them.
fn coverage(
    session: &Session,
    run: u64,
    dec: &Decision,
) -> Result<(u64, u64, std::collections::BTreeSet<String>), OpsError> {
    let mut records = 0u64;
    let mut keys = std::collections::HashSet::new();
    let mut maps = std::collections::BTreeSet::new();
    session.ws.exception_records(
        run,
        Some(&dec.module),
        true,
        &mut |r: ferry_store::ExceptionRecord| -> Result<(), OpsError> {
            let e = ferry_map::FieldError {
                resource_type: r.resource_type.unwrap_or_default(),
                path: r.path.unwrap_or_default(),
                expression: String::new(),
                message: r.reason,
                raw_value: r.raw_value,
            };
            if dec.covers(&e) {
                records += 1;
                keys.insert(r.source_key);
                if let Some(m) = failed_lookup(&e.message) {
                    maps.insert(m.to_string());
                }
            }
            Ok(())
        },
    )?;
    Ok((records, keys.len() as u64, maps))
}

/// Checks a decision against the run's exceptions and appends it to `mappings/decisions.toml`.
/// Refused, with nothing written, when it covers no exception of the run or the file would not
/// load.
pub fn decide(session: &Session, req: &DecideRequest) -> Result<Decided, OpsError> {
    let result = decide_unsealed(session, req);
    session.seal("exceptions decide", result)
}

fn decide_unsealed(session: &Session, req: &DecideRequest) -> Result<Decided, OpsError> {
    let run = session.ws.run(req.run)?;
    let file = DecisionsFile::read(session)?;
    if req.why.trim().is_empty() {
        return Err(OpsError::Other(
            "`--why` must say why (it is recorded with the decision for the sign-off)".into(),
        ));
    }
    let by = req.by.clone().unwrap_or_else(|| session.actor.name.clone());
    let mut dec = Decision {
        id: String::new(),
        module: req.module.clone(),
        element: req.element.clone(),
        value: req.value.clone(),
        reason: req.reason.clone(),
        action: Action::Exclude,
        by,
        at: ferry_core::calendar::now_utc_rfc3339(),
        why: req.why.clone(),
        line: 0,
    };
    if dec.element.is_none() && dec.value.is_none() && dec.reason.is_none() {
        return Err(OpsError::Other(
            "say which exceptions the decision covers: `--element`, `--value` or `--reason` (or several); `ferry exceptions --list` shows them".into(),
        ));
    }
    // What it covers, judged as an exclusion (every action covers the same records, except a
    // map, which covers the failed lookups of its value).
    let (records, rows, maps) = coverage(session, run.id, &dec)?;
    if records == 0 {
        let modules: Vec<String> = session
            .ws
            .run_modules(run.id)?
            .into_iter()
            .map(|m| m.module)
            .collect();
        let hint = if modules.contains(&req.module) {
            format!(
                "`ferry exceptions --run {} --module {} --list` shows its exceptions (`--show-values` their values)",
                run.id, req.module
            )
        } else {
            format!(
                "run {} has no module `{}`; its modules: {}",
                run.id,
                req.module,
                modules.join(", ")
            )
        };
        return Err(OpsError::Other(format!(
            "the decision covers no exception of run {} in module `{}`: nothing was written. {hint}",
            run.id, req.module
        )));
    }
    dec.action = match &req.action {
        DecideAction::Exclude => Action::Exclude,
        DecideAction::Default(v) => Action::Default(serde_json::Value::String(v.clone())),
        DecideAction::Text(p) => {
            let segments = ferry_map::parse_path(p)
                .map_err(|m| OpsError::Other(format!("`--text {p}`: {m}")))?;
            Action::Text {
                path: p.clone(),
                segments,
            }
        }
        DecideAction::Map {
            code,
            display,
            system,
            concept_map,
        } => {
            if dec.value.is_none() {
                return Err(OpsError::Other(
                    "`--map` needs the source `--value` it maps".into(),
                ));
            }
            let concept_map = match concept_map {
                Some(c) => c.clone(),
                None => match maps.len() {
                    1 => maps.iter().next().cloned().unwrap_or_default(),
                    0 => {
                        return Err(OpsError::Other(
                            "the covered exceptions are not failed concept-map lookups: name the concept map with `--concept-map`".into(),
                        ));
                    }
                    _ => {
                        return Err(OpsError::Other(format!(
                            "the covered lookups failed in several concept maps ({}): name one with `--concept-map`",
                            maps.into_iter().collect::<Vec<_>>().join(", ")
                        )));
                    }
                },
            };
            Action::Map {
                concept_map,
                code: code.clone(),
                display: display.clone(),
                system: system.clone(),
            }
        }
    };
    let (records, rows) = if matches!(dec.action, Action::Map { .. }) {
        let (r, k, _) = coverage(session, run.id, &dec)?;
        if r == 0 {
            return Err(OpsError::Other(format!(
                "no lookup of that value failed in that concept map in run {}: nothing was written",
                run.id
            )));
        }
        (r, k)
    } else {
        (records, rows)
    };
    let shown = file.shown.clone();
    let module = dec.module.clone();
    let action = dec.action.name().to_string();
    let id = file
        .append(vec![dec])?
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(Decided {
        id,
        file: shown,
        module,
        action,
        run: run.id,
        records,
        rows,
    })
}

/// The unmapped-values worksheet written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorksheetWritten {
    pub run: u64,
    pub file: String,
    /// Distinct (concept map, module, element, value) lines.
    pub values: usize,
    /// Source rows behind them.
    pub rows: u64,
}

const EXAMPLE_KEYS: usize = 3;

/// (concept map, module, element, source value).
type UnmappedKey = (String, String, String, String);

/// Writes the unmapped-values worksheet of a run (`.xlsx` by extension, else CSV): each value
/// a concept-map lookup could not map, by concept map, module and element, with its row count
/// and a few example keys (withheld for modules keyed by a PHI column), most frequent first.
pub fn worksheet(
    session: &Session,
    run: Option<u64>,
    out: &std::path::Path,
) -> Result<WorksheetWritten, OpsError> {
    let run = session.ws.run(run)?;
    let withheld = crate::ledger::phi_keyed_modules(session, run.snapshot);
    let mut groups: std::collections::BTreeMap<UnmappedKey, (u64, Vec<String>)> =
        std::collections::BTreeMap::new();
    session.ws.exception_records(
        run.id,
        None,
        true,
        &mut |r: ferry_store::ExceptionRecord| -> Result<(), OpsError> {
            let Some(map) = failed_lookup(&r.reason) else {
                return Ok(());
            };
            let Some(value) = r.raw_value else {
                return Ok(());
            };
            let element = match (r.resource_type.as_deref(), r.path.as_deref()) {
                (Some(t), Some(p)) if !t.is_empty() => format!("{t}.{p}"),
                (_, Some(p)) => p.to_string(),
                _ => String::new(),
            };
            let g = groups
                .entry((map.to_string(), r.module.clone(), element, value))
                .or_default();
            g.0 += 1;
            if g.1.len() < EXAMPLE_KEYS {
                if withheld.iter().any(|w| w.module == r.module) {
                    if g.1.is_empty() {
                        g.1.push(crate::ledger::WITHHELD.to_string());
                    }
                } else {
                    g.1.push(r.source_key);
                }
            }
            Ok(())
        },
    )?;
    let mut rows: Vec<ferry_report::worksheet::WorksheetRow> = groups
        .into_iter()
        .map(
            |((concept_map, module, element, source_value), (n, keys))| {
                ferry_report::worksheet::WorksheetRow {
                    concept_map,
                    module,
                    element,
                    source_value,
                    rows: n,
                    example_keys: keys.join(" "),
                    ..Default::default()
                }
            },
        )
        .collect();
    // Most frequent first; ties in name order (the map's order), so the file is deterministic.
    rows.sort_by_key(|r| std::cmp::Reverse(r.rows));
    ferry_report::worksheet::write(out, &rows).map_err(|e| OpsError::Other(e.to_string()))?;
    Ok(WorksheetWritten {
        run: run.id,
        file: out.display().to_string(),
        values: rows.len(),
        rows: rows.iter().map(|r| r.rows).sum(),
    })
}

/// A filled worksheet imported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorksheetImported {
    pub file: String,
    /// The `map` decisions written, by id.
    pub decisions: Vec<String>,
    /// Lines left without a code (not decided yet).
    pub skipped: usize,
}

/// Reads a filled unmapped-values worksheet and appends one `map` decision per line with a
/// `code`, after checking every line (the concept map exists and does not map the value yet,
/// the value's lookup failed in the run, no value is given two codes, each line says why or
/// `why` is given); any problem: every one is reported and nothing is written.
pub fn import_worksheet(
    session: &Session,
    file: &std::path::Path,
    run: Option<u64>,
    by: Option<String>,
    why: Option<String>,
) -> Result<WorksheetImported, OpsError> {
    let result = import_worksheet_unsealed(session, file, run, by, why);
    session.seal("exceptions import", result)
}

fn import_worksheet_unsealed(
    session: &Session,
    file: &std::path::Path,
    run: Option<u64>,
    by: Option<String>,
    why: Option<String>,
) -> Result<WorksheetImported, OpsError> {
    let shown = file.display().to_string();
    let lines = ferry_report::worksheet::read(file).map_err(|problems| {
        OpsError::Other(format!(
            "the worksheet cannot be imported; nothing was written:\n{}",
            problems
                .iter()
                .map(|p| format!("  {shown}:{}: {}", p.at, p.message))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    })?;
    let run = session.ws.run(run)?;
    let (maps, _) = ferry_map::load_concept_maps(&session.project.concept_maps_dir());
    // What failed in the run: (concept map, module, value).
    let mut failed = std::collections::HashSet::new();
    session.ws.exception_records(
        run.id,
        None,
        true,
        &mut |r: ferry_store::ExceptionRecord| -> Result<(), OpsError> {
            if let (Some(map), Some(v)) = (failed_lookup(&r.reason), r.raw_value) {
                failed.insert((map.to_string(), r.module, v));
            }
            Ok(())
        },
    )?;
    let file_of_decisions = DecisionsFile::read(session)?;
    let by = by.unwrap_or_else(|| session.actor.name.clone());
    let at = ferry_core::calendar::now_utc_rfc3339();
    let mut problems = Vec::new();
    let mut skipped = 0usize;
    let mut seen: std::collections::HashMap<(String, String), (String, usize)> =
        std::collections::HashMap::new();
    let mut new = Vec::new();
    for (line, row) in &lines {
        let mut problem = |m: String| problems.push(format!("  {shown}:{line}: {m}"));
        if row.code.is_empty() {
            if !row.display.is_empty() || !row.system.is_empty() {
                problem("`display` or `system` is filled in but `code` is empty: give the code, or clear the line".into());
            }
            skipped += 1;
            continue;
        }
        let Some(cm) = maps.get(&row.concept_map) else {
            problem(format!(
                "no concept map `{}` in concept-maps/ (the worksheet's `concept_map` column must name one)",
                row.concept_map
            ));
            continue;
        };
        if row.source_value.is_empty() {
            problem("`source_value` is empty".into());
            continue;
        }
        if cm.get(&row.source_value).is_some() {
            problem(format!(
                "concept map `{}` already maps this value: clear the line's code",
                row.concept_map
            ));
            continue;
        }
        if !failed.contains(&(
            row.concept_map.clone(),
            row.module.clone(),
            row.source_value.clone(),
        )) {
            problem(format!(
                "no lookup of this value in concept map `{}` failed in module `{}` of run {}: is the worksheet from an older run? Write a new one with `ferry exceptions worksheet --run {} OUT`",
                row.concept_map, row.module, run.id, run.id
            ));
            continue;
        }
        let norm = (
            row.concept_map.clone(),
            row.source_value.trim().to_lowercase(),
        );
        if let Some((code, first)) = seen.get(&norm) {
            if *code != row.code {
                problem(format!(
                    "this value has code `{}` here but `{code}` on line {first}: give it one code",
                    row.code
                ));
            }
            continue;
        }
        seen.insert(norm, (row.code.clone(), *line));
        if !row.system.is_empty() && !row.system.contains(':') {
            problem(format!(
                "`system` `{}` is not a URI (e.g. `http://snomed.info/sct` or `urn:oid:...`)",
                row.system
            ));
            continue;
        }
        let why = if !row.why.is_empty() {
            row.why.clone()
        } else if let Some(w) = &why {
            w.clone()
        } else {
            problem("`why` is empty: say why on the line, or give `--why` for every line".into());
            continue;
        };
        let dec = Decision {
            id: String::new(),
            module: row.module.clone(),
            element: (!row.element.is_empty()).then(|| row.element.clone()),
            value: Some(row.source_value.clone()),
            reason: None,
            action: Action::Map {
                concept_map: row.concept_map.clone(),
                code: row.code.clone(),
                display: (!row.display.is_empty()).then(|| row.display.clone()),
                system: (!row.system.is_empty()).then(|| row.system.clone()),
            },
            by: by.clone(),
            at: at.clone(),
            why,
            line: 0,
        };
        new.push(dec);
    }
    if !problems.is_empty() {
        return Err(OpsError::Other(format!(
            "{} problem(s) in the worksheet; nothing was written:\n{}",
            problems.len(),
            problems.join("\n")
        )));
    }
    let ids = file_of_decisions.append(new)?;
    Ok(WorksheetImported {
        file: shown,
        decisions: ids,
        skipped,
    })
}
