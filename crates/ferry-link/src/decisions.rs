//! Reviewed decisions (`mappings/duplicates.toml`, text in git) and the clusters they apply to.
//!
//! **Cluster ids**: `dup-` and the first 12 hex digits of sha256(table, 0x1F, smallest member
//! key), keys ordered naturally (numbers by value, then text). A cluster keeps its id when records
//! are added to it, unless a record with a smaller key joins; decisions are matched by their
//! member keys, not only by id, so a renamed cluster still carries its decision.
//!
//! **Re-applying decisions to a later snapshot**: the members of an accepted cluster are linked
//! whatever their new score; two members of one rejected cluster are never linked. A cluster
//! whose members are exactly an accepted decision's is `accepted`; any other cluster (new, or an
//! accepted one that gained a record) is `pending` review.
//!
//! **Survivorship** (chosen when a cluster is accepted and stored as `survivor`): the most recent
//! record by the `updated` column when one is configured (records without a value rank last),
//! then the most complete (most non-empty identity fields), then the smallest key.
//!
//! The file holds source keys only, never names or other values.

use crate::LinkError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where decisions live in a project.
pub const DECISIONS_FILE: &str = "mappings/duplicates.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Reject,
}

/// One reviewed cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub id: String,
    pub decision: Verdict,
    /// Source keys, in natural order.
    pub members: Vec<String>,
    /// The record that survives a merge (accepted clusters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survivor: Option<String>,
    pub by: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: String,
    /// The snapshot the decision was made on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<u64>,
}

/// `mappings/duplicates.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decisions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, rename = "cluster")]
    pub clusters: Vec<Decision>,
}

impl Decisions {
    pub fn path(project_root: &Path) -> PathBuf {
        project_root.join(DECISIONS_FILE)
    }

    /// Reads the decisions (none when the file does not exist).
    pub fn load(project_root: &Path) -> Result<Decisions, LinkError> {
        let path = Decisions::path(project_root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Decisions::default());
            }
            Err(e) => return Err(LinkError::Io { path, source: e }),
        };
        let d: Decisions = toml::from_str(&text).map_err(|e| LinkError::Decisions {
            path: path.clone(),
            message: format!("{e}Fix the file by hand, or restore it from git"),
        })?;
        d.check(&path)?;
        Ok(d)
    }

    fn check(&self, path: &Path) -> Result<(), LinkError> {
        let mut owner: HashMap<&str, &str> = HashMap::new();
        for c in &self.clusters {
            if c.members.len() < 2 {
                return Err(LinkError::Decisions {
                    path: path.to_path_buf(),
                    message: format!("cluster `{}` has fewer than 2 members", c.id),
                });
            }
            if c.decision != Verdict::Accept {
                continue;
            }
            match &c.survivor {
                Some(s) if c.members.contains(s) => {}
                _ => {
                    return Err(LinkError::Decisions {
                        path: path.to_path_buf(),
                        message: format!(
                            "accepted cluster `{}` has no `survivor` among its members; name one of its member keys",
                            c.id
                        ),
                    });
                }
            }
            for m in &c.members {
                if let Some(other) = owner.insert(m, &c.id) {
                    return Err(LinkError::Decisions {
                        path: path.to_path_buf(),
                        message: format!(
                            "key `{m}` is in two accepted clusters (`{other}` and `{}`); keep it in one",
                            c.id
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Writes the file: clusters ordered by id, members in natural order (deterministic text).
    pub fn save(&self, project_root: &Path) -> Result<PathBuf, LinkError> {
        let path = Decisions::path(project_root);
        let mut d = self.clone();
        for c in &mut d.clusters {
            c.members.sort_by(|a, b| key_cmp(a, b));
            c.members.dedup();
        }
        d.clusters.sort_by(|a, b| a.id.cmp(&b.id));
        let body = toml::to_string(&d).map_err(|e| LinkError::Decisions {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let text = format!(
            "# Reviewed duplicate patients (`ferry dedupe review`). Keep this file in git.\n\
             # Each [[cluster]] lists source keys only (no names or other values); accepted clusters\n\
             # are merged into `survivor` by `ferry run`, rejected ones are never linked again.\n\n{body}"
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| LinkError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        }
        ferry_core::atomic::write(
            &path,
            ferry_core::atomic::Contents::Project,
            text.as_bytes(),
        )
        .map_err(|e| LinkError::Io {
            path: e.path,
            source: e.source,
        })?;
        Ok(path)
    }

    /// Records a decision, replacing any earlier decision with the same id or the same members.
    pub fn record(&mut self, d: Decision) {
        self.record_all(vec![d]);
    }

    /// Records decisions in order, each as [`Decisions::record`] would: it replaces any decision
    /// with its id or its members, and an accepted one takes its keys out of every other accepted
    /// decision (one left with fewer than 2 members, or without its survivor, is dropped).
    /// Linear in the members, whatever the number of decisions. Returns, per decision, the ids of
    /// the accepted decisions that lost members to it (not those it replaced).
    pub fn record_all(&mut self, ds: Vec<Decision>) -> Vec<Vec<String>> {
        let mut list: Vec<Option<Decision>> = std::mem::take(&mut self.clusters)
            .into_iter()
            .map(Some)
            .collect();
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_members: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
        let mut owner: HashMap<String, usize> = HashMap::new();
        fn index(
            i: usize,
            d: &Decision,
            by_id: &mut HashMap<String, Vec<usize>>,
            by_members: &mut HashMap<Vec<String>, Vec<usize>>,
            owner: &mut HashMap<String, usize>,
        ) {
            by_id.entry(d.id.clone()).or_default().push(i);
            by_members
                .entry(member_key(&d.members))
                .or_default()
                .push(i);
            if d.decision == Verdict::Accept {
                for m in &d.members {
                    owner.insert(m.clone(), i);
                }
            }
        }
        for (i, d) in list.iter().enumerate() {
            if let Some(d) = d {
                index(i, d, &mut by_id, &mut by_members, &mut owner);
            }
        }
        let mut displaced_all = Vec::with_capacity(ds.len());
        for d in ds {
            let key = member_key(&d.members);
            let mut gone: Vec<usize> = by_id.get(&d.id).cloned().unwrap_or_default();
            gone.extend(by_members.get(&key).cloned().unwrap_or_default());
            for g in gone {
                if let Some(old) = list.get_mut(g).and_then(Option::take) {
                    for m in &old.members {
                        if owner.get(m) == Some(&g) {
                            owner.remove(m);
                        }
                    }
                }
            }
            let mut displaced = Vec::new();
            if d.decision == Verdict::Accept {
                let mut touched: Vec<usize> = d
                    .members
                    .iter()
                    .filter_map(|m| owner.get(m).copied())
                    .collect();
                touched.sort_unstable();
                touched.dedup();
                for j in touched {
                    let Some(slot) = list.get_mut(j) else {
                        continue;
                    };
                    let Some(other) = slot.as_mut() else {
                        continue;
                    };
                    if let Some(v) = by_members.get_mut(&member_key(&other.members)) {
                        v.retain(|&x| x != j);
                    }
                    other.members.retain(|m| !d.members.contains(m));
                    displaced.push(other.id.clone());
                    let keep = other.members.len() >= 2
                        && other
                            .survivor
                            .as_ref()
                            .is_none_or(|s| other.members.contains(s));
                    if keep {
                        by_members
                            .entry(member_key(&other.members))
                            .or_default()
                            .push(j);
                    } else if let Some(old) = slot.take() {
                        for m in &old.members {
                            if owner.get(m) == Some(&j) {
                                owner.remove(m);
                            }
                        }
                    }
                }
            }
            let i = list.len();
            index(i, &d, &mut by_id, &mut by_members, &mut owner);
            list.push(Some(d));
            displaced_all.push(displaced);
        }
        self.clusters = list.into_iter().flatten().collect();
        displaced_all
    }
}

/// Member keys in one order, for comparing member sets.
pub(crate) fn member_key(members: &[String]) -> Vec<String> {
    let mut v = members.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Natural order of source keys: numbers by value (`9` before `10`), then text.
pub fn key_cmp(a: &str, b: &str) -> Ordering {
    let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (num(a), num(b)) {
        (true, true) => {
            let (ta, tb) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then(ta.cmp(tb)).then(a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// The stable id of a cluster whose smallest member key is `smallest`.
pub fn cluster_id(table: &str, smallest: &str) -> String {
    let mut h = Sha256::new();
    h.update(table.as_bytes());
    h.update([0x1F]);
    h.update(smallest.as_bytes());
    let digest = hex::encode(h.finalize());
    format!("dup-{}", digest.get(0..12).unwrap_or(&digest))
}

/// Survivorship: the index of the surviving member in `members` (see the module docs).
pub fn choose_survivor(members: &[(String, Option<i64>, u8)]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, m) in members.iter().enumerate() {
        best = match best.and_then(|b| members.get(b).map(|x| (b, x))) {
            None => Some(i),
            Some((b, cur)) => {
                let better =
                    m.1.cmp(&cur.1)
                        .then(m.2.cmp(&cur.2))
                        .then(key_cmp(&cur.0, &m.0));
                if better == Ordering::Greater {
                    Some(i)
                } else {
                    Some(b)
                }
            }
        };
    }
    best
}

/// Source keys of accepted clusters mapped to their survivors: what `ferry run` applies.
#[derive(Debug, Clone, Default)]
pub struct MergeMap {
    to_survivor: HashMap<String, String>,
    members: BTreeMap<String, Vec<String>>,
}

impl MergeMap {
    /// The survivor of `key` when it is in an accepted cluster (the survivor maps to itself).
    pub fn survivor(&self, key: &str) -> Option<&str> {
        self.to_survivor.get(key).map(String::as_str)
    }

    /// Every member key (the survivor included) of the cluster `survivor` survives, in natural
    /// order; empty when `survivor` is not one.
    pub fn members(&self, survivor: &str) -> &[String] {
        self.members.get(survivor).map_or(&[], Vec::as_slice)
    }

    /// Survivors, in key order.
    pub fn survivors(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Number of accepted clusters.
    pub fn len(&self) -> usize {
        self.members.len()
    }
}

/// Reads `mappings/duplicates.toml` under `project_root` and maps every source key of an
/// accepted cluster to the cluster's survivor. No file: an empty map.
pub fn load_merges(project_root: &Path) -> Result<MergeMap, LinkError> {
    let d = Decisions::load(project_root)?;
    let mut map = MergeMap::default();
    for c in d.clusters.iter().filter(|c| c.decision == Verdict::Accept) {
        let Some(s) = &c.survivor else { continue };
        let mut members = c.members.clone();
        members.sort_by(|a, b| key_cmp(a, b));
        members.dedup();
        for m in &members {
            map.to_survivor.insert(m.clone(), s.clone());
        }
        map.members.insert(s.clone(), members);
    }
    Ok(map)
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(id: &str, members: &[&str], survivor: &str) -> Decision {
        Decision {
            id: id.into(),
            decision: Verdict::Accept,
            members: members.iter().map(|s| s.to_string()).collect(),
            survivor: Some(survivor.into()),
            by: "tester".into(),
            at: "2025-01-01T00:00:00Z".into(),
            snapshot: Some(1),
        }
    }

    #[test]
    fn keys_sort_naturally_and_ids_are_stable() {
        let mut v = vec!["10", "9", "b", "A", "009", "1"];
        v.sort_by(|a, b| key_cmp(a, b));
        assert_eq!(v, vec!["1", "009", "9", "10", "A", "b"]);
        assert_eq!(cluster_id("patients", "9"), cluster_id("patients", "9"));
        assert_ne!(cluster_id("patients", "9"), cluster_id("patients", "10"));
        assert!(cluster_id("p", "1").starts_with("dup-"));
        assert_eq!(cluster_id("p", "1").len(), 16);
    }

    #[test]
    fn survivor_is_most_recent_then_most_complete_then_smallest_key() {
        let m = |k: &str, u: Option<i64>, f: u8| (k.to_string(), u, f);
        assert_eq!(
            choose_survivor(&[m("1", Some(5), 3), m("2", Some(9), 1)]),
            Some(1)
        );
        assert_eq!(
            choose_survivor(&[m("1", None, 9), m("2", Some(1), 1)]),
            Some(1)
        );
        assert_eq!(
            choose_survivor(&[m("1", None, 3), m("2", None, 5)]),
            Some(1)
        );
        assert_eq!(
            choose_survivor(&[m("10", None, 5), m("9", None, 5)]),
            Some(1)
        );
        assert_eq!(choose_survivor(&[]), None);
    }

    #[test]
    fn decisions_round_trip_deterministically_and_load_as_merges() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_merges(dir.path()).unwrap().is_empty());
        let mut d = Decisions {
            table: Some("patients".into()),
            key: Some("patient_id".into()),
            clusters: vec![],
        };
        d.record(accept("dup-b", &["12", "3"], "12"));
        d.record(accept("dup-a", &["7", "8", "9"], "8"));
        d.record(Decision {
            decision: Verdict::Reject,
            survivor: None,
            ..accept("dup-c", &["20", "21"], "20")
        });
        let p = d.save(dir.path()).unwrap();
        let text1 = std::fs::read_to_string(&p).unwrap();
        Decisions::load(dir.path())
            .unwrap()
            .save(dir.path())
            .unwrap();
        let text2 = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text1, text2);
        assert!(text1.find("dup-a").unwrap() < text1.find("dup-b").unwrap());
        let m = load_merges(dir.path()).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.survivor("3"), Some("12"));
        assert_eq!(m.survivor("12"), Some("12"));
        assert_eq!(m.survivor("20"), None);
        assert_eq!(m.members("8"), ["7", "8", "9"]);
        assert!(m.members("7").is_empty());
    }

    #[test]
    fn a_key_in_two_accepted_clusters_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = Decisions {
            table: None,
            key: None,
            clusters: vec![
                accept("dup-a", &["1", "2"], "1"),
                accept("dup-b", &["2", "3"], "3"),
            ],
        };
        d.save(dir.path()).unwrap();
        let e = load_merges(dir.path()).unwrap_err().to_string();
        assert!(e.contains("duplicates.toml") && e.contains("`2`"), "{e}");
        std::fs::write(Decisions::path(dir.path()), "[[cluster]]\nid = 3\n").unwrap();
        let e = load_merges(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn recording_an_accept_moves_keys_out_of_older_accepts() {
        let mut d = Decisions::default();
        d.record(accept("dup-a", &["1", "2", "3"], "1"));
        d.record(accept("dup-b", &["3", "4"], "4"));
        assert_eq!(d.clusters.len(), 2);
        assert_eq!(d.clusters[0].members, vec!["1", "2"]);
        d.record(accept("dup-c", &["2", "4"], "4"));
        assert_eq!(d.clusters.len(), 1, "{:?}", d.clusters);
    }

    /// The sequential definition `record_all` must keep (the implementation before it was
    /// indexed): quadratic, obviously right.
    fn record_naive(all: &mut Vec<Decision>, d: Decision) {
        all.retain(|c| c.id != d.id && member_key(&c.members) != member_key(&d.members));
        if d.decision == Verdict::Accept {
            for c in all.iter_mut() {
                if c.decision == Verdict::Accept {
                    c.members.retain(|m| !d.members.contains(m));
                }
            }
            all.retain(|c| {
                c.members.len() >= 2 && c.survivor.as_ref().is_none_or(|s| c.members.contains(s))
            });
        }
        all.push(d);
    }

    proptest::proptest! {
        #[test]
        fn record_all_is_sequential_recording(
            ops in proptest::collection::vec(
                (0u8..6, proptest::collection::btree_set(0u8..12, 2..5), proptest::bool::ANY),
                0..40,
            )
        ) {
            let ds: Vec<Decision> = ops
                .iter()
                .map(|(id, keys, acc)| {
                    let members: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                    Decision {
                        id: format!("dup-{id}"),
                        decision: if *acc { Verdict::Accept } else { Verdict::Reject },
                        survivor: acc.then(|| members[members.len() - 1].clone()),
                        members,
                        by: "t".into(),
                        at: "2025-01-01T00:00:00Z".into(),
                        snapshot: None,
                    }
                })
                .collect();
            let mut naive = Vec::new();
            for d in ds.clone() {
                record_naive(&mut naive, d);
            }
            let mut fast = Decisions::default();
            fast.record_all(ds);
            proptest::prop_assert_eq!(fast.clusters, naive);
        }
    }

    #[test]
    fn now_is_an_iso_timestamp() {
        let t = now_utc();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.starts_with("20"));
    }
}
