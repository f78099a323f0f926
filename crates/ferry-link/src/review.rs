//! `ferry dedupe review`: accepting and rejecting the clusters of a dedupe report.
//!
//! The **status of a cluster comes from the decisions** (`mappings/duplicates.toml`), never from
//! the report: a report is written before anyone reviews it, so every cluster in it says
//! `pending` (or `accepted`, as of the time it was written). A cluster of the report has the
//! decision whose members are exactly its members (the same id first; any id when the cluster's
//! id moved because a record with a smaller key joined or left); a cluster with no such decision
//! is `pending`, and names in `extends` a decision with its id or any of its members.
//!
//! - `accept_all_pending` touches only pending clusters: a rejected cluster stays rejected, an
//!   accepted one keeps its reviewer, date and survivor.
//! - An explicit accept of a rejected cluster (or reject of an accepted one) is allowed, and the
//!   outcome says whose decision it changes ([`Change::overrides`]).
//! - Deciding again what a cluster already has changes nothing (the reviewer and date stay).
//!
//! Ids and source keys only; no values.

use crate::LinkError;
use crate::decisions::{Decision, Decisions, Verdict, member_key};
use crate::report::{ClusterReport, ReviewView};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What a reviewer asks for.
#[derive(Debug, Clone, Default)]
pub struct ReviewRequest {
    /// Cluster ids whose records are one patient.
    pub accept: Vec<String>,
    /// Cluster ids whose records are different patients.
    pub reject: Vec<String>,
    /// Accept every cluster that has no decision.
    pub accept_all_pending: bool,
    /// Who decides.
    pub by: String,
    /// When, UTC `YYYY-MM-DDTHH:MM:SSZ` ([`crate::decisions::now_utc`]).
    pub at: String,
}

/// A reviewer's earlier decision, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decided {
    pub decision: Verdict,
    pub by: String,
    pub at: String,
    /// The decision's id in the file (differs from the cluster's when the id moved).
    pub id: String,
}

impl Decided {
    fn of(d: &Decision) -> Decided {
        Decided {
            decision: d.decision,
            by: d.by.clone(),
            at: d.at.clone(),
            id: d.id.clone(),
        }
    }
}

/// A cluster's review status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending {
        /// A decision on other members this cluster shares its id or members with.
        extends: Option<String>,
    },
    Accepted(Decided),
    Rejected(Decided),
}

impl ReviewStatus {
    pub fn name(&self) -> &'static str {
        match self {
            ReviewStatus::Pending { .. } => "pending",
            ReviewStatus::Accepted(_) => "accepted",
            ReviewStatus::Rejected(_) => "rejected",
        }
    }

    pub fn decided(&self) -> Option<&Decided> {
        match self {
            ReviewStatus::Pending { .. } => None,
            ReviewStatus::Accepted(d) | ReviewStatus::Rejected(d) => Some(d),
        }
    }
}

/// One cluster of the report with its status from the decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReview {
    pub id: String,
    #[serde(flatten)]
    pub status: ReviewStatus,
    /// The survivor: the accepted decision's, else the report's proposal.
    pub survivor: String,
    /// Source keys, in the report's (natural) order.
    pub members: Vec<String>,
}

/// What one review changed, cluster by cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    pub decision: Verdict,
    /// The opposite decision this one replaces (an accept of a rejected cluster).
    pub overrides: Option<Decided>,
    /// The cluster already had this decision; nothing was recorded.
    pub unchanged: Option<Decided>,
    /// Accepted decisions that lost members to this accept (a key is in one accepted cluster).
    pub displaced: Vec<String>,
}

impl Change {
    /// One line for the terminal, e.g. "accepted dup-1f0c93a2b7de (changes a rejection by ana on
    /// 2025-01-02)". Ids, names of reviewers and dates only.
    pub fn describe(&self) -> String {
        let verb = match self.decision {
            Verdict::Accept => "accepted",
            Verdict::Reject => "rejected",
        };
        if let Some(d) = &self.unchanged {
            return format!(
                "{} unchanged: already {verb} by {} on {}",
                self.id,
                d.by,
                day(&d.at)
            );
        }
        let mut s = format!("{verb} {}", self.id);
        if let Some(d) = &self.overrides {
            let what = match d.decision {
                Verdict::Accept => "an acceptance",
                Verdict::Reject => "a rejection",
            };
            s.push_str(&format!(" (changes {what} by {} on {})", d.by, day(&d.at)));
        }
        if !self.displaced.is_empty() {
            s.push_str(&format!(
                "; its keys leave accepted {}",
                self.displaced.join(", ")
            ));
        }
        s
    }
}

/// The outcome of [`review`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReviewOutcome {
    /// In request order: accepts, rejects, then the pending clusters accepted.
    pub changes: Vec<Change>,
    /// Rejected clusters `accept_all_pending` left as they are.
    pub kept_rejected: usize,
}

impl ReviewOutcome {
    /// Decisions recorded (not counting unchanged ones): (accepted, rejected).
    pub fn counts(&self) -> (usize, usize) {
        let recorded = self.changes.iter().filter(|c| c.unchanged.is_none());
        let (a, r): (Vec<&Change>, Vec<&Change>) =
            recorded.partition(|c| c.decision == Verdict::Accept);
        (a.len(), r.len())
    }
}

/// The date part of a `YYYY-MM-DDTHH:MM:SSZ` time.
fn day(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

/// The decisions indexed by id, by member set and by accepted key (built once per review, so
/// a review is linear in the clusters).
struct Index<'d> {
    by_id: HashMap<&'d str, Vec<&'d Decision>>,
    by_members: HashMap<Vec<String>, Vec<&'d Decision>>,
    accepted_key: HashMap<&'d str, &'d Decision>,
}

impl<'d> Index<'d> {
    fn new(decisions: &'d Decisions) -> Index<'d> {
        let mut ix = Index {
            by_id: HashMap::new(),
            by_members: HashMap::new(),
            accepted_key: HashMap::new(),
        };
        for d in &decisions.clusters {
            ix.by_id.entry(d.id.as_str()).or_default().push(d);
            ix.by_members
                .entry(member_key(&d.members))
                .or_default()
                .push(d);
            if d.decision == Verdict::Accept {
                for m in &d.members {
                    ix.accepted_key.entry(m.as_str()).or_insert(d);
                }
            }
        }
        ix
    }

    /// The decision of the cluster `id` with `members`: the same members, the same id first.
    fn decision_of(&self, id: &str, members: &[String]) -> Option<&'d Decision> {
        let same = self.by_members.get(&member_key(members))?;
        same.iter()
            .find(|d| d.id == id)
            .or_else(|| same.first())
            .copied()
    }

    fn status(&self, id: &str, members: &[String]) -> ReviewStatus {
        match self.decision_of(id, members) {
            Some(d) if d.decision == Verdict::Accept => ReviewStatus::Accepted(Decided::of(d)),
            Some(d) => ReviewStatus::Rejected(Decided::of(d)),
            None => {
                let extends = self
                    .by_id
                    .get(id)
                    .and_then(|v| v.first())
                    .or_else(|| {
                        members
                            .iter()
                            .find_map(|m| self.accepted_key.get(m.as_str()))
                    })
                    .map(|d| d.id.clone());
                ReviewStatus::Pending { extends }
            }
        }
    }
}

/// The status of one cluster of a report (for many, [`statuses`] indexes the decisions once).
pub fn status(decisions: &Decisions, id: &str, members: &[String]) -> ReviewStatus {
    Index::new(decisions).status(id, members)
}

fn keys_of(c: &ClusterReport) -> Vec<String> {
    c.members.iter().map(|m| m.key.clone()).collect()
}

fn review_of(ix: &Index<'_>, c: &ClusterReport) -> ClusterReview {
    let members = keys_of(c);
    let status = ix.status(&c.id, &members);
    let survivor = match ix.decision_of(&c.id, &members) {
        Some(d) if d.decision == Verdict::Accept => {
            d.survivor.clone().unwrap_or_else(|| c.survivor.clone())
        }
        _ => c.survivor.clone(),
    };
    ClusterReview {
        id: c.id.clone(),
        status,
        survivor,
        members,
    }
}

/// Every cluster of the report with its status from `decisions`, in the report's order.
pub fn statuses(view: &ReviewView, decisions: &Decisions) -> Vec<ClusterReview> {
    let ix = Index::new(decisions);
    view.clusters.iter().map(|c| review_of(&ix, c)).collect()
}

/// Applies `req` to `decisions` for the clusters of `view`: the new decisions (table and key
/// set from the report) and what changed. Nothing is written; the caller saves the decisions.
/// Linear in the clusters and decisions.
pub fn review(
    view: &ReviewView,
    decisions: &Decisions,
    req: &ReviewRequest,
) -> Result<(Decisions, ReviewOutcome), LinkError> {
    if let Some(id) = req.reject.iter().find(|id| req.accept.contains(id)) {
        return Err(LinkError::AcceptedAndRejected { id: id.clone() });
    }
    let by_id: HashMap<&str, &ClusterReport> =
        view.clusters.iter().map(|c| (c.id.as_str(), c)).collect();
    let find = |id: &str| {
        by_id
            .get(id)
            .copied()
            .ok_or_else(|| LinkError::UnknownCluster {
                id: id.to_string(),
                snapshot: view.snapshot,
            })
    };
    // Every named id must exist before anything changes.
    for id in req.accept.iter().chain(&req.reject) {
        find(id)?;
    }
    let ix = Index::new(decisions);
    let mut seen: HashSet<&str> = HashSet::new();
    let mut ids: Vec<(&str, Verdict)> = Vec::new();
    for id in &req.accept {
        if seen.insert(id) {
            ids.push((id, Verdict::Accept));
        }
    }
    for id in &req.reject {
        if seen.insert(id) {
            ids.push((id, Verdict::Reject));
        }
    }
    let mut outcome = ReviewOutcome::default();
    if req.accept_all_pending {
        for c in &view.clusters {
            match ix.status(&c.id, &keys_of(c)) {
                ReviewStatus::Pending { .. } if seen.insert(&c.id) => {
                    ids.push((&c.id, Verdict::Accept));
                }
                ReviewStatus::Rejected(_) if !seen.contains(c.id.as_str()) => {
                    outcome.kept_rejected += 1;
                }
                _ => {}
            }
        }
    }
    let mut new: Vec<Decision> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    for (id, verdict) in ids {
        let c = find(id)?;
        let members = keys_of(c);
        let earlier = ix.decision_of(&c.id, &members).map(Decided::of);
        let unchanged = earlier.clone().filter(|e| e.decision == verdict);
        if unchanged.is_none() {
            new.push(Decision {
                id: c.id.clone(),
                decision: verdict,
                members,
                survivor: (verdict == Verdict::Accept).then(|| c.survivor.clone()),
                by: req.by.clone(),
                at: req.at.clone(),
                snapshot: Some(view.snapshot),
            });
        }
        changes.push(Change {
            id: c.id.clone(),
            decision: verdict,
            overrides: if unchanged.is_some() { None } else { earlier },
            unchanged,
            displaced: Vec::new(),
        });
    }
    let mut out = decisions.clone();
    let mut displaced = out.record_all(new).into_iter();
    for ch in changes.iter_mut().filter(|c| c.unchanged.is_none()) {
        ch.displaced = displaced.next().unwrap_or_default();
    }
    outcome.changes = changes;
    out.table = Some(view.table.clone());
    out.key = Some(view.key.clone());
    Ok((out, outcome))
}

/// A dedupe report found in the reports folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundReport {
    pub snapshot: u64,
    pub path: PathBuf,
    /// When it was written (`created_at`; `None` in reports older than that field).
    pub created_at: Option<String>,
}

/// The report `ferry dedupe review` uses without `--snapshot`: of the `dedupe-NNNN.json` files
/// in `dir` (not `dedupe-against-*`), the newest by the time it records, then by snapshot.
/// `None` when there is none.
pub fn latest_report(dir: &Path) -> Result<Option<FoundReport>, LinkError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LinkError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    };
    let mut best: Option<FoundReport> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(snapshot) = name
            .to_str()
            .and_then(|n| n.strip_prefix("dedupe-"))
            .and_then(|n| n.strip_suffix(".json"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let created_at = crate::report::created_at(&path)?;
        let found = FoundReport {
            snapshot,
            path,
            created_at,
        };
        let newer = |b: &FoundReport| {
            (found.created_at.as_deref(), found.snapshot) > (b.created_at.as_deref(), b.snapshot)
        };
        if best.as_ref().is_none_or(newer) {
            best = Some(found);
        }
    }
    Ok(best)
}

/// Reads what review needs of a report (its clusters; the pairs are skipped).
pub fn load_view(path: &Path) -> Result<ReviewView, LinkError> {
    let file = std::fs::File::open(path).map_err(|e| LinkError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| LinkError::NotAReport {
        path: path.to_path_buf(),
        line: e.line() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ClusterReport, MemberReport};

    fn cluster(id: &str, keys: &[&str]) -> ClusterReport {
        ClusterReport {
            id: id.into(),
            status: "pending".into(),
            extends: None,
            forced_links: 0,
            survivor: keys[0].into(),
            members: keys
                .iter()
                .map(|k| MemberReport {
                    key: k.to_string(),
                    filled: 3,
                    values: Default::default(),
                })
                .collect(),
            pairs: Vec::new(),
        }
    }

    fn view() -> ReviewView {
        ReviewView {
            snapshot: 1,
            table: "patients".into(),
            key: "patient_id".into(),
            clusters: vec![
                cluster("dup-a", &["1", "2"]),
                cluster("dup-b", &["3", "4"]),
                cluster("dup-c", &["5", "6", "7"]),
            ],
        }
    }

    fn req(accept: &[&str], reject: &[&str], all: bool, by: &str, at: &str) -> ReviewRequest {
        ReviewRequest {
            accept: accept.iter().map(|s| s.to_string()).collect(),
            reject: reject.iter().map(|s| s.to_string()).collect(),
            accept_all_pending: all,
            by: by.into(),
            at: at.into(),
        }
    }

    const DAY1: &str = "2025-03-01T10:00:00Z";
    const DAY2: &str = "2025-03-02T11:00:00Z";

    // Regression: the status was read from the report (written before the review), so a later
    // --accept-all-pending turned a rejection into an acceptance.
    #[test]
    fn accept_all_pending_leaves_a_rejection_alone() {
        let v = view();
        let (d, _) = review(
            &v,
            &Decisions::default(),
            &req(&[], &["dup-b"], false, "ana", DAY1),
        )
        .unwrap();
        let (d, out) = review(&v, &d, &req(&[], &[], true, "bob", DAY2)).unwrap();
        let b = d.clusters.iter().find(|c| c.id == "dup-b").unwrap();
        assert_eq!(b.decision, Verdict::Reject);
        assert_eq!(b.by, "ana");
        assert_eq!(b.at, DAY1);
        assert_eq!(
            out.changes
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            ["dup-a", "dup-c"]
        );
        assert_eq!(out.kept_rejected, 1);
        assert_eq!(out.counts(), (2, 0));
        let names: Vec<&str> = statuses(&v, &d).iter().map(|c| c.status.name()).collect();
        assert_eq!(names, ["accepted", "rejected", "accepted"]);
    }

    #[test]
    fn an_explicit_accept_of_a_rejection_is_allowed_and_says_whose_it_changes() {
        let v = view();
        let (d, _) = review(
            &v,
            &Decisions::default(),
            &req(&[], &["dup-b"], false, "ana", DAY1),
        )
        .unwrap();
        let (d, out) = review(&v, &d, &req(&["dup-b"], &[], false, "bob", DAY2)).unwrap();
        assert_eq!(d.clusters.len(), 1);
        assert_eq!(d.clusters[0].decision, Verdict::Accept);
        assert_eq!(d.clusters[0].by, "bob");
        assert_eq!(d.clusters[0].survivor.as_deref(), Some("3"));
        assert_eq!(
            out.changes[0].describe(),
            "accepted dup-b (changes a rejection by ana on 2025-03-01)"
        );
    }

    #[test]
    fn deciding_again_changes_nothing_and_keeps_who_and_when() {
        let v = view();
        let (d, _) = review(
            &v,
            &Decisions::default(),
            &req(&["dup-a"], &[], false, "ana", DAY1),
        )
        .unwrap();
        let (again, out) = review(&v, &d, &req(&["dup-a"], &[], true, "bob", DAY2)).unwrap();
        let a = again.clusters.iter().find(|c| c.id == "dup-a").unwrap();
        assert_eq!((a.by.as_str(), a.at.as_str()), ("ana", DAY1));
        assert_eq!(
            out.changes[0].describe(),
            "dup-a unchanged: already accepted by ana on 2025-03-01"
        );
        assert_eq!(out.counts(), (2, 0));
    }

    #[test]
    fn a_decision_whose_cluster_id_moved_is_found_by_its_members() {
        let v = view();
        let mut d = Decisions::default();
        d.record(Decision {
            id: "dup-old".into(),
            decision: Verdict::Reject,
            members: vec!["4".into(), "3".into()],
            survivor: None,
            by: "ana".into(),
            at: DAY1.into(),
            snapshot: Some(1),
        });
        let s = statuses(&v, &d);
        assert_eq!(
            s[1].status,
            ReviewStatus::Rejected(Decided {
                decision: Verdict::Reject,
                by: "ana".into(),
                at: DAY1.into(),
                id: "dup-old".into(),
            })
        );
        let (d, out) = review(&v, &d, &req(&[], &[], true, "bob", DAY2)).unwrap();
        assert_eq!(out.kept_rejected, 1);
        assert!(d.clusters.iter().any(|c| c.id == "dup-old"));
        assert!(!d.clusters.iter().any(|c| c.id == "dup-b"));
    }

    #[test]
    fn a_cluster_that_gained_a_record_is_pending_and_extends_the_decision() {
        let v = view();
        let mut d = Decisions::default();
        d.record(Decision {
            id: "dup-c".into(),
            decision: Verdict::Accept,
            members: vec!["5".into(), "6".into()],
            survivor: Some("6".into()),
            by: "ana".into(),
            at: DAY1.into(),
            snapshot: Some(1),
        });
        assert_eq!(
            statuses(&v, &d)[2].status,
            ReviewStatus::Pending {
                extends: Some("dup-c".into())
            }
        );
        let (d, out) = review(&v, &d, &req(&[], &[], true, "bob", DAY2)).unwrap();
        let c = d.clusters.iter().find(|c| c.id == "dup-c").unwrap();
        assert_eq!(c.members, ["5", "6", "7"]);
        assert_eq!(c.by, "bob");
        assert_eq!(out.changes.len(), 3);
    }

    #[test]
    fn unknown_and_contradictory_ids_change_nothing() {
        let v = view();
        let e = review(
            &v,
            &Decisions::default(),
            &req(&["dup-a", "dup-x"], &[], false, "a", DAY1),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no cluster `dup-x` in the dedupe report of snapshot 1; `ferry dedupe review --list` shows the cluster ids"
        );
        let e = review(
            &v,
            &Decisions::default(),
            &req(&["dup-a"], &["dup-a"], false, "a", DAY1),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster `dup-a` is both accepted and rejected; choose one"
        );
    }

    #[test]
    fn the_latest_report_is_the_one_written_last() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, at: Option<&str>| {
            let head = match at {
                Some(t) => format!(
                    "{{\n  \"phi_warning\": \"x\",\n  \"created_at\": \"{t}\",\n  \"snapshot\": 1\n}}"
                ),
                None => "{\n  \"phi_warning\": \"x\",\n  \"snapshot\": 1\n}".to_string(),
            };
            std::fs::write(dir.path().join(name), head).unwrap();
        };
        assert_eq!(latest_report(dir.path()).unwrap(), None);
        write("dedupe-0003.json", None);
        write("dedupe-0002.json", Some(DAY1));
        write("dedupe-0001.json", Some(DAY2));
        write("dedupe-against-0004.json", Some("2030-01-01T00:00:00Z"));
        write("profile-0005.json", Some("2030-01-01T00:00:00Z"));
        let found = latest_report(dir.path()).unwrap().unwrap();
        assert_eq!(found.snapshot, 1);
        assert_eq!(found.created_at.as_deref(), Some(DAY2));
        assert_eq!(found.path, dir.path().join("dedupe-0001.json"));
    }
}
