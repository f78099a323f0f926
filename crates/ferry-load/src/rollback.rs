//! `ferry rollback --load L`: the server restored to what it held before the load, from the
//! journal's pre-images, in reverse order (children before parents).
//!
//! First every id Ferry wrote is read: if its current version is not the one Ferry wrote (or it
//! is gone), someone changed it since; the rollback then changes nothing and lists those ids.
//! Otherwise: absent before -> `DELETE`, present -> `PUT` of the prior JSON, deleted -> `DELETE`,
//! each with `If-Match` on the version Ferry wrote (a 412 stops the rollback and is listed).
//! Each restored id is marked in the journal, so an interrupted rollback resumes.

use crate::fhir::{self, EntryAnswer, Found};
use crate::http::retryable;
use crate::journal::{Entry, Journal, PreImage, State};
use crate::{LoadError, LoadEvent, Stats, Target};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackSummary {
    pub load: u64,
    /// Ids restored (deleted or put back).
    pub restored: u64,
    /// Ids that needed nothing (never written, or already restored).
    pub untouched: u64,
    /// Ids changed on the server since Ferry wrote them: type, id, what was found. Nothing was
    /// rolled back when this is not empty.
    pub conflicts: Vec<(String, String, String)>,
    pub requests: u64,
    pub duration_ms: u64,
}

/// Rolls the load journalled at `journal_path` back on `target`.
pub fn rollback(
    target: &Target,
    load: u64,
    journal_path: &Path,
    cancel: &ferry_core::Cancel,
    on_event: &(dyn Fn(LoadEvent<'_>) + Sync),
) -> Result<RollbackSummary, LoadError> {
    let started = Instant::now();
    if !journal_path.is_file() {
        return Err(LoadError::Other(format!(
            "load {load} has no journal (`{}`); `ferry loads` lists the project's loads",
            journal_path.display()
        )));
    }
    let mut journal = Journal::open(journal_path)?;
    if let Some(base) = journal.info("base")?
        && base != target.base
    {
        return Err(LoadError::Other(format!(
            "load {load} went to `{base}`, not to target `{}` (`{}`); name the target it went to",
            target.name, target.base
        )));
    }
    let stats = Stats::default();
    let deadline = Instant::now() + Duration::from_secs(target.config.retry_for_secs);
    let all = journal.entries(true)?;
    let mut todo: Vec<Entry> = Vec::new();
    let mut untouched = 0u64;
    for e in all {
        if e.rolled_back || !matches!(e.state, State::Done | State::Intent) {
            untouched += 1;
        } else {
            todo.push(e);
        }
    }
    on_event(LoadEvent::Phase {
        name: "checking the target",
        total: Some(todo.len() as u64),
    });
    // 1. Every id as it is now.
    let mut conflicts = Vec::new();
    let mut apply: Vec<(Entry, String)> = Vec::new();
    let size = target.config.bundle_size;
    let mut checked = 0u64;
    for group in todo.chunks(size) {
        let current = read_current(target, group, deadline, &stats, cancel)?;
        for (e, now) in group.iter().zip(current) {
            match (e.state, now) {
                (State::Done, Some((v, _))) if Some(&v) == e.version.as_ref() => {
                    apply.push((e.clone(), v))
                }
                (State::Done, Some((_, _))) if e.version.is_none() => conflicts.push((
                    e.resource_type.clone(),
                    e.id.clone(),
                    "the server did not say which version Ferry wrote".into(),
                )),
                (State::Done, Some((v, _))) => conflicts.push((
                    e.resource_type.clone(),
                    e.id.clone(),
                    format!(
                        "now version {v}, Ferry wrote version {}",
                        e.version.clone().unwrap_or_default()
                    ),
                )),
                // Ferry deleted it (a delta's retired resource): it comes back as it was.
                (State::Done, None) if e.hash == crate::load::DELETED_HASH => {
                    apply.push((e.clone(), String::new()))
                }
                (State::Done, None) => conflicts.push((
                    e.resource_type.clone(),
                    e.id.clone(),
                    "deleted on the server since the load".into(),
                )),
                // Sent without a recorded answer: did it land?
                (State::Intent, Some((v, hash))) if hash == e.hash => {
                    journal.set_done(e.seq, Some(&v))?;
                    apply.push((e.clone(), v));
                }
                (State::Intent, Some((_, hash))) if matches!(&e.pre, Some(PreImage::Present { hash: h, .. }) if *h == hash) =>
                {
                    journal.mark_rolled_back(e.seq)?;
                    untouched += 1;
                }
                // A delete sent without a recorded answer, and the resource is gone: it landed.
                (State::Intent, None)
                    if e.hash == crate::load::DELETED_HASH
                        && matches!(e.pre, Some(PreImage::Present { .. })) =>
                {
                    journal.set_done(e.seq, None)?;
                    apply.push((e.clone(), String::new()));
                }
                (State::Intent, None)
                    if matches!(e.pre, Some(PreImage::Absent | PreImage::Deleted)) =>
                {
                    journal.mark_rolled_back(e.seq)?;
                    untouched += 1;
                }
                (State::Intent, _) => conflicts.push((
                    e.resource_type.clone(),
                    e.id.clone(),
                    "neither Ferry's content nor what was there before".into(),
                )),
                _ => untouched += 1,
            }
        }
        checked += group.len() as u64;
        on_event(LoadEvent::Position(checked));
    }
    if !conflicts.is_empty() {
        return Ok(RollbackSummary {
            load,
            restored: 0,
            untouched,
            conflicts,
            requests: stats.requests.load(Ordering::Relaxed),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }
    // 2. Restore, in reverse loading order.
    on_event(LoadEvent::Phase {
        name: "rolling back",
        total: Some(apply.len() as u64),
    });
    let mut restored = 0u64;
    for group in apply.chunks(size) {
        let mut pending: Vec<&(Entry, String)> = group.iter().collect();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let entries = pending
                .iter()
                .map(|(e, v)| restore_entry(e, v))
                .collect::<Result<Vec<_>, _>>()?;
            let answers = fhir::batch(target, entries, deadline, &stats, cancel)?;
            let mut again = Vec::new();
            for (k, item) in pending.iter().enumerate() {
                let (e, _) = item;
                match answers.get(k).cloned().flatten() {
                    Some(EntryAnswer { status, .. })
                        if (200..300).contains(&status)
                            || (matches!(status, 404 | 410)
                                && !matches!(e.pre, Some(PreImage::Present { .. }))) =>
                    {
                        journal.mark_rolled_back(e.seq)?;
                        restored += 1;
                    }
                    Some(EntryAnswer { status: 412, .. }) => conflicts.push((
                        e.resource_type.clone(),
                        e.id.clone(),
                        "changed on the server during the rollback (412)".into(),
                    )),
                    Some(a) if !retryable(a.status) => {
                        return Err(LoadError::Server {
                            target: target.name.clone(),
                            status: a.status,
                            what: format!("restoring {}/{}", e.resource_type, e.id),
                            hint: "; the rollback stopped; what is restored is marked in the journal, and `ferry rollback` again continues",
                        });
                    }
                    _ => again.push(*item),
                }
            }
            if !conflicts.is_empty() {
                break;
            }
            if again.is_empty() {
                break;
            }
            attempt += 1;
            fhir::wait_to_retry(
                target,
                attempt,
                format!("{} restores answered 429/5xx", again.len()),
                deadline,
                cancel,
            )?;
            pending = again;
        }
        on_event(LoadEvent::Position(restored));
        if !conflicts.is_empty() {
            break;
        }
    }
    if conflicts.is_empty() {
        journal.set_infos(&[
            ("status", "rolled-back"),
            ("finished_at", &ferry_core::calendar::now_utc_rfc3339()),
        ])?;
    }
    Ok(RollbackSummary {
        load,
        restored,
        untouched,
        conflicts,
        requests: stats.requests.load(Ordering::Relaxed),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The request undoing Ferry's write of `e` (which is now at version `v`).
fn restore_entry(e: &Entry, v: &str) -> Result<Value, LoadError> {
    let url = format!("{}/{}", e.resource_type, e.id);
    let if_match = format!("W/\"{v}\"");
    Ok(match &e.pre {
        Some(PreImage::Present { json, .. }) => {
            let mut prior: Value = serde_json::from_slice(json).map_err(|err| {
                LoadError::Other(format!(
                    "the journal's pre-image of {url} is not JSON ({err}); it cannot be restored"
                ))
            })?;
            // The server writes its own meta (version, lastUpdated); the prior tags and
            // profiles are content and go back.
            if let Some(meta) = prior.get_mut("meta").and_then(Value::as_object_mut) {
                meta.remove("versionId");
                meta.remove("lastUpdated");
            }
            if v.is_empty() {
                // Deleted by Ferry: no version to match; the resource is put back as it was.
                json!({"resource": prior, "request": {"method": "PUT", "url": url}})
            } else {
                json!({"resource": prior, "request": {"method": "PUT", "url": url, "ifMatch": if_match}})
            }
        }
        _ => json!({"request": {"method": "DELETE", "url": url, "ifMatch": if_match}}),
    })
}

/// Each entry's current (version, content hash), or `None` when absent or deleted.
fn read_current(
    target: &Target,
    group: &[Entry],
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Vec<Option<(String, String)>>, LoadError> {
    let paths: Vec<String> = group
        .iter()
        .map(|e| format!("{}/{}", e.resource_type, e.id))
        .collect();
    Ok(fhir::read_many(target, &paths, deadline, stats, cancel)?
        .into_iter()
        .map(|f| match f {
            Found::Resource(r) => Some((
                r.pointer("/meta/versionId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                fhir::content_hash(&r),
            )),
            Found::Absent | Found::Deleted => None,
        })
        .collect())
}
