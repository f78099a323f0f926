//! `ferry conflicts`: the review queue of a delta's load. A conflict is a resource that someone
//! changed (or deleted) in the new EHR after Ferry loaded it. The delta's load did not overwrite
//! it. The listing names each one and the elements where Ferry's content and the EHR's differ
//! (paths, never values). A reviewer then keeps the EHR's version or has Ferry's content written
//! over it (`If-Match` on the version the server holds now). The resolution is recorded in the
//! load's journal with who and why, so `ferry rollback` of that load restores the EHR's edit.

use crate::load::{loads, loads_dir, project_tag, run_files, target};
use crate::{OpsError, Session};
use ferry_load::fhir::Found;
use ferry_load::journal::{self, Journal, PreImage, Resolution, State};
use serde_json::Value;
use std::time::{Duration, Instant};

/// One conflict, as a reviewer sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConflictInfo {
    pub load: u64,
    pub run: u64,
    pub resource_type: String,
    pub id: String,
    /// The server's version when the load found it changed (absent: deleted there).
    pub server_version: Option<String>,
    /// What the EHR's version and Ferry's differ in (element paths; `meta` aside).
    pub paths: Vec<String>,
    pub resolution: Option<Resolution>,
}

/// What a reviewer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// The EHR's version stays; Ferry's change is dropped.
    Keep,
    /// Ferry's content is written over the EHR's version.
    Overwrite,
}

/// The conflicts of the loads to `target_name` (of load `load` only, when given), oldest first.
pub fn list(
    session: &Session,
    target_name: &str,
    load: Option<u64>,
) -> Result<Vec<ConflictInfo>, OpsError> {
    target(session, target_name)?;
    let mut out = Vec::new();
    for l in loads(session)? {
        if l.target != target_name || load.is_some_and(|n| n != l.load) {
            continue;
        }
        let Some(run) = l.run else { continue };
        let j = Journal::open(&journal::journal_path(&loads_dir(session), l.load))?;
        let entries = j.conflict_entries()?;
        if entries.is_empty() {
            continue;
        }
        let wanted: Vec<(String, String)> = entries
            .iter()
            .map(|(e, _)| (e.resource_type.clone(), e.id.clone()))
            .collect();
        let intended = intended(session, run, &wanted)?;
        for (e, resolution) in entries {
            let (server_version, server) = match &e.pre {
                Some(PreImage::Present { version, json, .. }) => (
                    version.clone(),
                    serde_json::from_slice::<Value>(json).unwrap_or(Value::Null),
                ),
                _ => (None, Value::Null),
            };
            let ours = intended
                .iter()
                .find(|(t, i, _)| *t == e.resource_type && *i == e.id)
                .map(|(_, _, v)| v.clone())
                .unwrap_or(Value::Null);
            out.push(ConflictInfo {
                load: l.load,
                run,
                resource_type: e.resource_type.clone(),
                id: e.id.clone(),
                server_version,
                paths: ferry_load::conflicts::changed_paths(&ours, &server),
                resolution,
            });
        }
    }
    Ok(out)
}

/// Resolves the newest unresolved conflict on `resource` (`Type/id`) in the loads to the target,
/// and records it in the audit trail.
pub fn resolve(
    session: &mut Session,
    target_name: &str,
    resource: &str,
    how: Resolve,
    by: &str,
    why: &str,
    cancel: &ferry_core::Cancel,
) -> Result<ConflictInfo, OpsError> {
    let result = resolve_unsealed(session, target_name, resource, how, by, why, cancel);
    session.seal("conflicts resolve", result)
}

fn resolve_unsealed(
    session: &mut Session,
    target_name: &str,
    resource: &str,
    how: Resolve,
    by: &str,
    why: &str,
    cancel: &ferry_core::Cancel,
) -> Result<ConflictInfo, OpsError> {
    let (rtype, id) = resource.split_once('/').ok_or_else(|| {
        OpsError::Config(format!(
            "`{resource}` is not TYPE/ID (for example Patient/0b6f...); `ferry conflicts --target {target_name}` lists them"
        ))
    })?;
    if by.trim().is_empty() || why.trim().is_empty() {
        return Err(OpsError::Config(
            "a resolution needs who decided (`--by NAME`) and why (`--why TEXT`)".into(),
        ));
    }
    let tgt = target(session, target_name)?;
    let found = list(session, target_name, None)?
        .into_iter()
        .rev()
        .find(|c| c.resource_type == rtype && c.id == id && c.resolution.is_none())
        .ok_or_else(|| {
            OpsError::Config(format!(
                "no unresolved conflict on {resource} in the loads to `{target_name}`; `ferry conflicts --target {target_name}` lists them"
            ))
        })?;
    let path = journal::journal_path(&loads_dir(session), found.load);
    let mut j = Journal::open(&path)?;
    let entry = j
        .get(rtype, id)?
        .filter(|e| e.state == State::Conflict)
        .ok_or_else(|| {
            OpsError::Other(format!(
                "load {}: {resource} is no longer a conflict",
                found.load
            ))
        })?;
    let resolution = Resolution {
        action: match how {
            Resolve::Keep => "kept",
            Resolve::Overwrite => "overwritten",
        }
        .into(),
        by: by.to_string(),
        why: why.to_string(),
        at: ferry_core::calendar::now_utc_rfc3339(),
    };
    let mut version = None;
    if how == Resolve::Overwrite {
        let stats = ferry_load::Stats::default();
        let deadline = Instant::now() + Duration::from_secs(tgt.config.retry_for_secs);
        // The server must still hold what the reviewer was shown (the version the load found).
        let now =
            ferry_load::fhir::read_many(&tgt, &[resource.to_string()], deadline, &stats, cancel)?;
        let (current_version, current_hash) = match now.into_iter().next() {
            Some(Found::Resource(v)) => (
                v.pointer("/meta/versionId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Some(ferry_load::fhir::content_hash(&v)),
            ),
            _ => (None, None),
        };
        let shown = match &entry.pre {
            Some(PreImage::Present { hash, .. }) => Some(hash.clone()),
            _ => None,
        };
        if current_hash != shown {
            return Err(OpsError::Other(format!(
                "{resource} changed on `{target_name}` again since load {} found the conflict; nothing was written. Look at it in the EHR and resolve again",
                found.load
            )));
        }
        let mut ours = intended(session, found.run, &[(rtype.to_string(), id.to_string())])?
            .into_iter()
            .next()
            .map(|(_, _, v)| v)
            .ok_or_else(|| {
                OpsError::Other(format!(
                    "{resource} is not in run {}'s output any more; it cannot be written",
                    found.run
                ))
            })?;
        let tag = project_tag(session)?;
        ferry_load::fhir::tag(&mut ours, &tag, &format!("{tag}-run-{:04}", found.run));
        let mut request = serde_json::json!({"method": "PUT", "url": resource});
        if let Some(v) = &current_version {
            request["ifMatch"] = Value::String(format!("W/\"{v}\""));
        }
        let answers = ferry_load::fhir::batch(
            &tgt,
            vec![serde_json::json!({"fullUrl": resource, "resource": ours, "request": request})],
            deadline,
            &stats,
            cancel,
        )?;
        match answers.into_iter().next().flatten() {
            Some(a) if (200..300).contains(&a.status) => version = a.version,
            Some(a) => {
                return Err(OpsError::Other(format!(
                    "`{target_name}` refused to write {resource} (HTTP {}); nothing was recorded. `ferry conflicts --target {target_name}` shows it still unresolved",
                    a.status
                )));
            }
            None => {
                return Err(OpsError::Other(format!(
                    "`{target_name}` did not say whether it wrote {resource}; resolve it again (the write is an If-Match PUT: a repeat lands once)"
                )));
            }
        }
    }
    j.resolve(rtype, id, &resolution, version.as_deref())?;
    Ok(ConflictInfo {
        resolution: Some(resolution),
        ..found
    })
}

/// The resources `wanted` (type, id) as run `run` wrote them (`meta` aside), from its output.
fn intended(
    session: &Session,
    run: u64,
    wanted: &[(String, String)],
) -> Result<Vec<(String, String, Value)>, OpsError> {
    let (_, files) = run_files(session, run)?;
    let mut out = Vec::new();
    for (t, path) in files {
        if !wanted.iter().any(|(w, _)| *w == t) {
            continue;
        }
        let mut r = ferry_fhir::NdjsonReader::open(&path)
            .map_err(|e| OpsError::Other(format!("reading run {run}'s output: {e}")))?;
        while let Some(line) = r
            .next_line()
            .map_err(|e| OpsError::Other(format!("reading run {run}'s output: {e}")))?
        {
            let Ok(mut v) = line.parse::<Value>() else {
                continue;
            };
            let id = v
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if wanted.iter().any(|(w, i)| *w == t && *i == id) {
                if let Some(o) = v.as_object_mut() {
                    o.remove("meta");
                }
                out.push((t.clone(), id, v));
            }
        }
    }
    Ok(out)
}
