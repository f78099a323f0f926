//! `ferry verify --target NAME`: the server's copy of a run checked against the run's output.
//!
//! - counts per resource type of this project's resources on the server (by the project tag,
//!   `_summary=count`) against the run's counts;
//! - every resource of the run read back by id (batches of `GET`) and compared with the run's
//!   output by content hash (canonical JSON, server-written `meta` ignored);
//! - every relative reference resolved: to a resource of the run that read back, or read from
//!   the server.
//!
//! - the comparative searches of `checks/` that have a `fhir_search`, run as real FHIR searches
//!   (restricted to this project's tag) and compared with their SQL number on the snapshot.
//!
//! GO when every count matches, nothing is missing, different or dangling, and every search is
//! within its tolerance.

use crate::fhir::{self, Found};
use crate::load::references;
use crate::{LoadError, LoadEvent, Stats, Target};
use ferry_core::num;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The counts of one type.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TypeCount {
    pub resource_type: String,
    pub run: u64,
    pub server: u64,
}

/// A resource that did not read back as the run wrote it (type, id, problem).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub resource_type: String,
    pub id: String,
    pub problem: &'static str,
}

/// The values a `count_distinct` search counts, taken from one result.
pub type DistinctValues = Box<dyn Fn(&Value) -> Vec<String> + Sync>;

/// A comparative search to run on the server: the query, and what the snapshot's SQL said.
pub struct ServerSearch {
    pub name: String,
    pub description: Option<String>,
    /// `Type?param=value&...` (Ferry adds the project tag and the counting or paging).
    pub query: String,
    /// Count distinct values (given by this function of each result) instead of results.
    pub distinct: Option<DistinctValues>,
    /// The first element of the `count_distinct` path (asked for with `_elements`).
    pub element: Option<String>,
    /// The snapshot's number, or what is wrong with the search's SQL.
    pub expected: Result<f64, String>,
    /// The allowed difference for `expected`.
    pub allowed: f64,
}

/// A comparative search's result on the server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SearchOutcome {
    pub name: String,
    pub query: String,
    pub expected: Option<f64>,
    pub found: Option<f64>,
    pub allowed: f64,
    pub ok: bool,
    /// Numbers and the checks file's words; never a value of a resource.
    pub summary: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetVerification {
    pub target: String,
    pub run: u64,
    pub counts: Vec<TypeCount>,
    pub read_back: u64,
    pub references_checked: u64,
    /// The first 100 problems (ids only), and how many there were.
    pub problems: Vec<Problem>,
    pub problem_count: u64,
    /// The comparative searches run on the server.
    pub searches: Vec<SearchOutcome>,
    pub requests: u64,
    pub duration_ms: u64,
    pub go: bool,
}

/// Verifies the run's `files` on `target`; `project_tag` is the code of the project tag.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    target: &Target,
    run: u64,
    files: &[(String, PathBuf)],
    project_tag: &str,
    extra: &BTreeMap<String, u64>,
    searches: &[ServerSearch],
    cancel: &ferry_core::Cancel,
    on_event: &(dyn Fn(LoadEvent<'_>) + Sync),
) -> Result<TargetVerification, LoadError> {
    let started = Instant::now();
    let stats = Stats::default();
    let deadline = Instant::now() + Duration::from_secs(target.config.retry_for_secs);
    let mut run_counts: BTreeMap<String, u64> = BTreeMap::new();
    for (t, n) in extra {
        *run_counts.entry(t.clone()).or_default() += n;
    }
    let mut problems: Vec<Problem> = Vec::new();
    let mut problem_count = 0u64;
    let mut note = |p: Problem| {
        problem_count += 1;
        if problems.len() < 100 {
            problems.push(p);
        }
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut wanted: HashSet<(String, String)> = HashSet::new();
    let size = target.config.bundle_size;
    let mut read_back = 0u64;
    on_event(LoadEvent::Phase {
        name: "reading back",
        total: None,
    });
    for (t, path) in files {
        let bad = |message: String| LoadError::Output {
            path: path.clone(),
            message,
        };
        let mut r = ferry_fhir::NdjsonReader::open(path).map_err(|e| bad(e.to_string()))?;
        let mut chunk: Vec<(String, String)> = Vec::with_capacity(size);
        loop {
            let line = r.next_line().map_err(|e| bad(e.to_string()))?;
            let end = line.is_none();
            if let Some(line) = line {
                let v: Value = line.parse().map_err(|e| bad(e.to_string()))?;
                let id = v
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                *run_counts.entry(t.clone()).or_default() += 1;
                let mut refs = Vec::new();
                references(&v, &mut refs);
                wanted.extend(refs);
                seen.insert((t.clone(), id.clone()));
                chunk.push((id, fhir::content_hash(&v)));
            }
            if chunk.len() >= size || (end && !chunk.is_empty()) {
                let got = read(target, t, &chunk, deadline, &stats, cancel)?;
                for ((id, hash), server) in chunk.iter().zip(got) {
                    match server {
                        None => note(Problem {
                            resource_type: t.clone(),
                            id: id.clone(),
                            problem: "missing on the server",
                        }),
                        Some(h) if h != *hash => note(Problem {
                            resource_type: t.clone(),
                            id: id.clone(),
                            problem: "differs from the run's output",
                        }),
                        Some(_) => {}
                    }
                }
                read_back += chunk.len() as u64;
                on_event(LoadEvent::Position(read_back));
                chunk.clear();
            }
            if end {
                break;
            }
        }
    }
    // References to resources outside the run must exist on the server.
    let outside: Vec<(String, String)> = wanted
        .iter()
        .filter(|r| !seen.contains(*r))
        .cloned()
        .collect();
    let references_checked = wanted.len() as u64;
    let mut by_type: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (t, id) in outside {
        by_type.entry(t).or_default().push((id, String::new()));
    }
    for (t, ids) in &by_type {
        for group in ids.chunks(size) {
            let got = read(target, t, group, deadline, &stats, cancel)?;
            for ((id, _), server) in group.iter().zip(got) {
                if server.is_none() {
                    note(Problem {
                        resource_type: t.clone(),
                        id: id.clone(),
                        problem: "referenced but not on the server",
                    });
                }
            }
        }
    }
    // Counts of this project's resources on the server.
    on_event(LoadEvent::Phase {
        name: "counting on the server",
        total: Some(run_counts.len() as u64),
    });
    let mut counts = Vec::new();
    for (i, (t, n)) in run_counts.iter().enumerate() {
        let path = format!(
            "{t}?_tag={}|{project_tag}&_summary=count",
            fhir::PROJECT_TAG
        );
        let resp = fhir::exchange(target, "GET", &path, None, None, deadline, &stats, cancel)?;
        if resp.status != 200 {
            return Err(LoadError::Server {
                target: target.name.clone(),
                status: resp.status,
                what: format!("counting {t} by tag"),
                hint: "; the server must support _tag and _summary=count searches",
            });
        }
        let total = serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|b| b.get("total").and_then(Value::as_u64))
            .ok_or_else(|| LoadError::Server {
                target: target.name.clone(),
                status: resp.status,
                what: format!("counting {t} by tag"),
                hint: " without a `total`",
            })?;
        counts.push(TypeCount {
            resource_type: t.clone(),
            run: *n,
            server: total,
        });
        on_event(LoadEvent::Position(i as u64 + 1));
    }
    if !searches.is_empty() {
        on_event(LoadEvent::Phase {
            name: "comparative searches on the server",
            total: Some(searches.len() as u64),
        });
    }
    let mut search_outcomes = Vec::new();
    for (i, s) in searches.iter().enumerate() {
        let found = run_search(target, s, project_tag, deadline, &stats, cancel)?;
        search_outcomes.push(outcome(s, found));
        on_event(LoadEvent::Position(i as u64 + 1));
    }
    let go = problem_count == 0
        && counts.iter().all(|c| c.run == c.server)
        && search_outcomes.iter().all(|s| s.ok);
    Ok(TargetVerification {
        target: target.name.clone(),
        run,
        counts,
        read_back,
        references_checked,
        problems,
        problem_count,
        searches: search_outcomes,
        requests: stats.requests.load(Ordering::Relaxed),
        duration_ms: started.elapsed().as_millis() as u64,
        go,
    })
}

fn outcome(s: &ServerSearch, found: Result<f64, String>) -> SearchOutcome {
    let words = s
        .description
        .as_deref()
        .map(|d| format!("{d}: "))
        .unwrap_or_default();
    let (expected, found_n, ok, summary) = match (&s.expected, found) {
        (Err(m), _) => (None, None, false, format!("{words}{m}")),
        (Ok(e), Err(m)) => (Some(*e), None, false, format!("{words}{m}")),
        (Ok(e), Ok(f)) => {
            let ok = (f - e).abs() <= s.allowed + 1e-9;
            (
                Some(*e),
                Some(f),
                ok,
                format!(
                    "{words}snapshot (SQL) {}, server (FHIR search) {}, difference {}, allowed {}",
                    num(*e),
                    num(f),
                    num((f - e).abs()),
                    num(s.allowed)
                ),
            )
        }
    };
    SearchOutcome {
        name: s.name.clone(),
        query: s.query.clone(),
        expected,
        found: found_n,
        allowed: s.allowed,
        ok,
        summary,
    }
}

/// Runs one search on the server: its `total` with `_summary=count`, or with `distinct` every
/// page of results (following the server's `next` links) and the distinct values counted. A
/// search the server refuses (400: an unknown parameter, say) is a failed check naming the
/// status, not an error of the whole verification.
fn run_search(
    target: &Target,
    s: &ServerSearch,
    project_tag: &str,
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Result<f64, String>, LoadError> {
    let tag = format!("_tag={}|{project_tag}", fhir::PROJECT_TAG);
    let q = match s.query.split_once('?') {
        Some((_, params)) if !params.is_empty() => format!("{}&", s.query),
        Some(_) => s.query.clone(),
        None => format!("{}?", s.query),
    };
    let Some(distinct) = &s.distinct else {
        let path = format!("{q}{tag}&_summary=count");
        let resp = fhir::exchange(target, "GET", &path, None, None, deadline, stats, cancel)?;
        if resp.status != 200 {
            return Ok(Err(format!(
                "the server answered HTTP {} to the search (check `fhir_search`)",
                resp.status
            )));
        }
        return Ok(serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|b| b.get("total").and_then(Value::as_u64))
            .map(|n| n as f64)
            .ok_or_else(|| "the server's answer to the search has no `total`".to_string()));
    };
    let elements = s
        .element
        .as_deref()
        .map(|e| format!("&_elements={e}"))
        .unwrap_or_default();
    let mut next = Some(format!("{q}{tag}&_count=500{elements}"));
    let mut values: HashSet<String> = HashSet::new();
    let mut pages = 0u32;
    while let Some(path) = next.take() {
        pages += 1;
        if pages > 100_000 {
            return Ok(Err("the server's search pages never end".into()));
        }
        let resp = fhir::exchange(target, "GET", &path, None, None, deadline, stats, cancel)?;
        if resp.status != 200 {
            return Ok(Err(format!(
                "the server answered HTTP {} to the search (check `fhir_search`)",
                resp.status
            )));
        }
        let Ok(page) = serde_json::from_slice::<Value>(&resp.body) else {
            return Ok(Err("the server's answer to the search is not JSON".into()));
        };
        for e in page
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = e.get("resource")
                && e.pointer("/search/mode").and_then(Value::as_str) != Some("include")
            {
                values.extend(distinct(r));
            }
        }
        next = page
            .get("link")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
            .and_then(|l| l.get("url").and_then(Value::as_str))
            .map(|u| {
                u.strip_prefix(target.base.as_str())
                    .unwrap_or(u)
                    .to_string()
            });
        if let Some(n) = &next
            && n.contains("://")
        {
            return Ok(Err(format!(
                "the server's next page is on another base URL than `{}`",
                target.base
            )));
        }
    }
    Ok(Ok(values.len() as f64))
}

/// The content hash of each id of type `t` on the server (`None`: absent or deleted).
fn read(
    target: &Target,
    t: &str,
    ids: &[(String, String)],
    deadline: Instant,
    stats: &Stats,
    cancel: &ferry_core::Cancel,
) -> Result<Vec<Option<String>>, LoadError> {
    let paths: Vec<String> = ids.iter().map(|(id, _)| format!("{t}/{id}")).collect();
    Ok(fhir::read_many(target, &paths, deadline, stats, cancel)?
        .into_iter()
        .map(|f| match f {
            Found::Resource(r) => Some(fhir::content_hash(&r)),
            Found::Absent | Found::Deleted => None,
        })
        .collect())
}
