//! The FHIR pieces a loader needs: content hashes (server-added `meta` ignored), tags, Bundle
//! requests and batch-response entries, and exchanges retried by the field's rules.

use crate::http::{Response, SendError, backoff, retryable};
use crate::target::Target;
use crate::{LoadError, Stats};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::time::Instant;

/// The tag system naming the project (every resource Ferry loads carries it).
pub const PROJECT_TAG: &str = "urn:ferry:project";
/// The tag system naming the run a resource came from.
pub const RUN_TAG: &str = "urn:ferry:run";

/// SHA-256 of the canonical JSON of `resource` without `meta` (which servers rewrite).
pub fn content_hash(resource: &Value) -> String {
    let mut out = Vec::with_capacity(2048);
    ferry_fhir::write_canonical_without(&mut out, resource, Some("meta"));
    hex::encode(Sha256::digest(&out))
}

/// Adds the project and run tags to `meta.tag` (replacing earlier Ferry tags).
pub fn tag(resource: &mut Value, project: &str, run: &str) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let meta = obj
        .entry("meta")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let tags = meta
        .entry("tag")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(arr) = tags.as_array_mut() {
        arr.retain(|t| {
            let s = t.get("system").and_then(Value::as_str);
            s != Some(PROJECT_TAG) && s != Some(RUN_TAG)
        });
        arr.push(json!({"system": PROJECT_TAG, "code": project}));
        arr.push(json!({"system": RUN_TAG, "code": run}));
    }
}

/// The version in an ETag (`W/"3"` -> `3`) or a `.../_history/3` location.
pub fn version_of(etag: Option<&str>, location: Option<&str>) -> Option<String> {
    if let Some(e) = etag {
        let v = e.trim().trim_start_matches("W/").trim_matches('"');
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    let loc = location?;
    let i = loc.find("/_history/")?;
    let v = loc[i + "/_history/".len()..].split('/').next()?;
    (!v.is_empty()).then(|| v.to_string())
}

/// The status code at the start of a batch-response entry's `response.status` ("201 Created").
pub fn entry_status(entry: &Value) -> Option<u16> {
    let s = entry.pointer("/response/status")?.as_str()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The per-entry answer of a batch response.
#[derive(Debug, Clone)]
pub struct EntryAnswer {
    pub status: u16,
    pub version: Option<String>,
    pub resource: Option<Value>,
    pub outcome: Option<Value>,
}

/// Posts a batch Bundle of `entries` (request objects with optional resources) and returns one
/// answer per entry, in order; `None` where the server's answer did not say (resent later).
/// Retries the whole Bundle on transport errors, 408/429/5xx and unreadable answers until the
/// deadline. Any other status of the Bundle itself is an error naming it.
pub fn batch(
    target: &Target,
    entries: Vec<Value>,
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Vec<Option<EntryAnswer>>, LoadError> {
    let raw: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| serde_json::to_vec(e).map_err(|e| LoadError::Other(e.to_string())))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
    batch_raw(target, &refs, true, deadline, stats, cancel)
}

/// As [`batch`], with each entry already serialized (a load serializes a resource once, however
/// often it is resent). `keep_resources`: return the resources the server echoes (reads need
/// them; writes do not, and skipping them saves parsing every resource twice).
pub fn batch_raw(
    target: &Target,
    entries: &[&[u8]],
    keep_resources: bool,
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Vec<Option<EntryAnswer>>, LoadError> {
    let n = entries.len();
    let body = bundle_body("batch", entries);
    let resp = exchange(
        target,
        "POST",
        "",
        Some(&body),
        None,
        deadline,
        stats,
        cancel,
    )?;
    if !(200..300).contains(&resp.status) {
        // The Bundle itself was refused (a batch answers per entry): resending it unchanged
        // would be refused again.
        return Err(LoadError::Server {
            target: target.name.clone(),
            status: resp.status,
            what: format!("a batch Bundle of {n} entries"),
            hint: "; the Bundle itself was refused (check the server's limits, e.g. a smaller bundle_size in ferry.toml), then `ferry load --resume`",
        });
    }
    let answers: Vec<Option<EntryAnswer>> = if keep_resources {
        parse_batch_response::<Value>(&resp.body, |r| r)
    } else {
        parse_batch_response::<serde::de::IgnoredAny>(&resp.body, |_| Value::Null)
    };
    let mut out = answers;
    out.resize_with(n, || None);
    out.truncate(n);
    Ok(out)
}

fn bundle_body(kind: &str, entries: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + entries.iter().map(|e| e.len() + 1).sum::<usize>());
    body.extend_from_slice(br#"{"resourceType":"Bundle","type":""#);
    body.extend_from_slice(kind.as_bytes());
    body.extend_from_slice(br#"","entry":["#);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.extend_from_slice(b"]}");
    body
}

/// What the server did with a transaction Bundle.
#[derive(Debug, Clone)]
pub enum TxAnswer {
    /// Committed: every entry was written; one answer per entry, in order (`None` where the
    /// response did not say).
    Committed(Vec<Option<EntryAnswer>>),
    /// Refused as a whole (nothing was written): the status and the server's OperationOutcome.
    Refused { status: u16, outcome: Option<Value> },
}

/// Posts a transaction Bundle of `entries` (serialized batch entries): all are written or none.
/// Transport errors and 408/429/5xx answers are retried as [`exchange`] does (a transaction
/// that failed was not applied, so sending it again is safe).
pub fn transaction_raw(
    target: &Target,
    entries: &[&[u8]],
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<TxAnswer, LoadError> {
    let n = entries.len();
    let body = bundle_body("transaction", entries);
    let resp = exchange(
        target,
        "POST",
        "",
        Some(&body),
        None,
        deadline,
        stats,
        cancel,
    )?;
    if (200..300).contains(&resp.status) {
        let mut out = parse_batch_response::<serde::de::IgnoredAny>(&resp.body, |_| Value::Null);
        out.resize_with(n, || None);
        out.truncate(n);
        return Ok(TxAnswer::Committed(out));
    }
    let outcome = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .filter(|v| v.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome"));
    Ok(TxAnswer::Refused {
        status: resp.status,
        outcome,
    })
}

#[derive(serde::Deserialize)]
struct BatchResponse<R> {
    #[serde(default = "Vec::new")]
    entry: Vec<BatchEntry<R>>,
}

#[derive(serde::Deserialize)]
struct BatchEntry<R> {
    #[serde(default = "Option::default")]
    resource: Option<R>,
    #[serde(default)]
    response: Option<BatchEntryResponse>,
}

#[derive(serde::Deserialize)]
struct BatchEntryResponse {
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    outcome: Option<Value>,
}

/// The entries of a batch-response Bundle (an unreadable answer has none: all are resent).
fn parse_batch_response<R: serde::de::DeserializeOwned>(
    body: &[u8],
    keep: impl Fn(R) -> Value,
) -> Vec<Option<EntryAnswer>> {
    let Ok(parsed) = serde_json::from_slice::<BatchResponse<R>>(body) else {
        return Vec::new();
    };
    parsed
        .entry
        .into_iter()
        .map(|e| {
            let r = e.response?;
            let status = match r.status.as_ref()? {
                Value::String(s) => s.split_whitespace().next()?.parse().ok()?,
                Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
                _ => return None,
            };
            Some(EntryAnswer {
                status,
                version: version_of(r.etag.as_deref(), r.location.as_deref()),
                resource: e.resource.map(&keep).filter(|v| !v.is_null()),
                outcome: r.outcome,
            })
        })
        .collect()
}

/// What a read by id found.
#[derive(Debug, Clone)]
pub enum Found {
    Resource(Value),
    /// 404: never there.
    Absent,
    /// 410: deleted.
    Deleted,
}

/// Reads `paths` (`Type/id`) with batch Bundles of `GET`s; entries answered 408/429/5xx (or not
/// at all) are asked again with backoff until the deadline; another status is an error.
pub fn read_many(
    target: &Target,
    paths: &[String],
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Vec<Found>, LoadError> {
    let mut out: Vec<Option<Found>> = vec![None; paths.len()];
    let mut attempt = 0u32;
    loop {
        let ask: Vec<usize> = (0..paths.len()).filter(|&i| out[i].is_none()).collect();
        if ask.is_empty() {
            break;
        }
        let entries = ask
            .iter()
            .map(|&i| json!({"request": {"method": "GET", "url": paths[i]}}))
            .collect();
        let answers = batch(target, entries, deadline, stats, cancel)?;
        let mut again = 0u64;
        for (&i, answer) in ask.iter().zip(answers) {
            match answer {
                Some(EntryAnswer {
                    status: 200,
                    resource: Some(r),
                    ..
                }) => out[i] = Some(Found::Resource(r)),
                Some(EntryAnswer { status: 404, .. }) => out[i] = Some(Found::Absent),
                Some(EntryAnswer { status: 410, .. }) => out[i] = Some(Found::Deleted),
                Some(a) if !crate::http::retryable(a.status) && a.status != 200 => {
                    return Err(LoadError::Server {
                        target: target.name.clone(),
                        status: a.status,
                        what: format!("reading {}", paths[i]),
                        hint: "",
                    });
                }
                _ => again += 1,
            }
        }
        if again > 0 {
            attempt += 1;
            stats
                .entry_retries
                .fetch_add(again, std::sync::atomic::Ordering::Relaxed);
            wait_to_retry(
                target,
                attempt,
                format!("{again} reads answered 429/5xx"),
                deadline,
                cancel,
            )?;
        }
    }
    Ok(out
        .into_iter()
        .map(|f| f.unwrap_or(Found::Absent))
        .collect())
}

/// One request, retried on transport errors and 408/429/5xx with backoff and jitter (or the
/// server's `Retry-After`) until `deadline`; the first other answer is returned as it is, and a
/// 401/403 is an error at once.
#[allow(clippy::too_many_arguments)]
pub fn exchange(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    if_match: Option<&str>,
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Response, LoadError> {
    let url = target.url(path);
    let mut attempt = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Err(LoadError::Cancelled);
        }
        stats
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (why, wait_hint) = match target.client.send(method, &url, body, if_match) {
            Ok(r) if r.status == 401 || r.status == 403 => {
                return Err(LoadError::Refused {
                    target: target.name.clone(),
                    status: r.status,
                    check: target.credentials_hint(),
                });
            }
            Ok(r) if retryable(r.status) => (format!("HTTP {}", r.status), r.retry_after),
            Ok(r) => return Ok(r),
            Err(SendError::Transport(t)) => (t.0, None),
            Err(SendError::Auth(e)) => return Err(e),
        };
        attempt += 1;
        stats
            .retries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let wait = backoff(attempt, wait_hint);
        if Instant::now() + wait > deadline {
            return Err(LoadError::GaveUp {
                target: target.name.clone(),
                last: why,
                attempts: attempt,
            });
        }
        sleep_unless_cancelled(wait, cancel)?;
    }
}

/// Waits before retry `attempt` of entries the server answered 429/5xx (`what` says which, for
/// the message), or gives up when the wait would pass the deadline.
pub fn wait_to_retry(
    target: &Target,
    attempt: u32,
    what: String,
    deadline: Instant,
    cancel: &ferry_core::Cancel,
) -> Result<(), LoadError> {
    let wait = backoff(attempt, None);
    if Instant::now() + wait > deadline {
        return Err(LoadError::GaveUp {
            target: target.name.clone(),
            last: what,
            attempts: attempt,
        });
    }
    sleep_unless_cancelled(wait, cancel)
}

/// Sleeps, waking every 100 ms to honour a cancel.
pub fn sleep_unless_cancelled(
    d: std::time::Duration,
    cancel: &ferry_core::Cancel,
) -> Result<(), LoadError> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if cancel.is_cancelled() {
            return Err(LoadError::Cancelled);
        }
        std::thread::sleep((end - Instant::now()).min(std::time::Duration::from_millis(100)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_meta_and_key_order() {
        let a = json!({"resourceType": "Patient", "id": "x", "gender": "female", "meta": {"versionId": "1"}});
        let b = json!({"gender": "female", "id": "x", "resourceType": "Patient"});
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = json!({"gender": "male", "id": "x", "resourceType": "Patient"});
        assert_ne!(content_hash(&a), content_hash(&c));
    }

    #[test]
    fn tags_replace_earlier_ferry_tags_and_keep_others() {
        let mut r = json!({"resourceType": "Patient", "meta": {"tag": [
            {"system": "urn:other", "code": "k"}, {"system": RUN_TAG, "code": "old"}]}});
        tag(&mut r, "p1", "p1-run-0002");
        let tags = r.pointer("/meta/tag").unwrap().as_array().unwrap();
        assert_eq!(tags.len(), 3);
        assert!(tags.iter().any(|t| t["code"] == "p1-run-0002"));
        assert!(!tags.iter().any(|t| t["code"] == "old"));
    }

    #[test]
    fn versions_come_from_etags_or_locations_and_statuses_from_their_first_word() {
        assert_eq!(version_of(Some("W/\"3\""), None).as_deref(), Some("3"));
        assert_eq!(
            version_of(None, Some("Patient/a/_history/7")).as_deref(),
            Some("7")
        );
        assert_eq!(version_of(None, None), None);
        assert_eq!(
            entry_status(&json!({"response": {"status": "201 Created"}})),
            Some(201)
        );
        assert_eq!(
            entry_status(&json!({"response": {"status": "429"}})),
            Some(429)
        );
        assert_eq!(entry_status(&json!({})), None);
    }
}
