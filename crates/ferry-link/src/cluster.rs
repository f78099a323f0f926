//! Clusters: connected components (union-find) of the pairs at or above the threshold, with the
//! reviewed decisions applied (see `decisions.rs`).

use crate::decisions::{Decisions, Verdict, choose_survivor, cluster_id, key_cmp};
use crate::engine::Linkage;
use crate::record::RecordSet;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not reviewed, or changed since it was reviewed.
    Pending,
    /// Its members are exactly an accepted decision's.
    Accepted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub id: String,
    pub status: Status,
    /// Record indices, in natural key order.
    #[serde(skip)]
    pub members: Vec<u32>,
    /// Indices into `Linkage::pairs` of the pairs inside the cluster.
    #[serde(skip)]
    pub pairs: Vec<usize>,
    /// The record that would survive a merge (record index).
    #[serde(skip)]
    pub survivor: u32,
    /// The accepted decision this cluster extends, when it gained records since.
    pub extends: Option<String>,
    /// Members linked only by an accepted decision (their pair scored below the threshold now).
    pub forced_links: usize,
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while let Some(&p) = parent.get(x as usize) {
        if p == x {
            break;
        }
        let gp = parent.get(p as usize).copied().unwrap_or(p);
        if let Some(s) = parent.get_mut(x as usize) {
            *s = gp;
        }
        x = gp;
    }
    x
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        if let Some(s) = parent.get_mut(hi as usize) {
            *s = lo;
        }
    }
}

/// Groups the linked pairs into clusters, applying `decisions`.
pub fn clusters(
    set: &RecordSet,
    linkage: &Linkage,
    decisions: &Decisions,
    table: &str,
) -> Vec<Cluster> {
    let n = set.len();
    // Indices of the keys named by decisions.
    let wanted: HashSet<&str> = decisions
        .clusters
        .iter()
        .flat_map(|c| c.members.iter().map(String::as_str))
        .collect();
    let mut index: HashMap<&str, u32> = HashMap::new();
    if !wanted.is_empty() {
        for i in 0..n as u32 {
            let k = set.key(i);
            if wanted.contains(k) {
                index.entry(k).or_insert(i);
            }
        }
    }
    // Rejected pairs: both keys in one rejected decision.
    let mut rejected_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (d, c) in decisions.clusters.iter().enumerate() {
        if c.decision == Verdict::Reject {
            for m in &c.members {
                if let Some(&i) = index.get(m.as_str()) {
                    rejected_of.entry(i).or_default().push(d);
                }
            }
        }
    }
    let rejected = |a: u32, b: u32| -> bool {
        match (rejected_of.get(&a), rejected_of.get(&b)) {
            (Some(x), Some(y)) => x.iter().any(|d| y.contains(d)),
            _ => false,
        }
    };
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut kept: Vec<usize> = Vec::new();
    let mut linked: HashSet<(u32, u32)> = HashSet::new();
    for (k, p) in linkage.pairs.iter().enumerate() {
        if rejected(p.a, p.b) {
            continue;
        }
        union(&mut parent, p.a, p.b);
        kept.push(k);
        linked.insert((p.a, p.b));
    }
    let mut forced: Vec<(u32, u32)> = Vec::new();
    for c in decisions
        .clusters
        .iter()
        .filter(|c| c.decision == Verdict::Accept)
    {
        let idx: Vec<u32> = c
            .members
            .iter()
            .filter_map(|m| index.get(m.as_str()).copied())
            .collect();
        if let Some((&first, rest)) = idx.split_first() {
            for &o in rest {
                union(&mut parent, first, o);
                forced.push((first.min(o), first.max(o)));
            }
        }
    }
    let mut groups: HashMap<u32, Vec<u32>> = HashMap::new();
    let touched: HashSet<u32> = kept
        .iter()
        .filter_map(|&k| linkage.pairs.get(k))
        .flat_map(|p| [p.a, p.b])
        .chain(forced.iter().flat_map(|&(a, b)| [a, b]))
        .collect();
    for i in touched {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut pairs_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for &k in &kept {
        if let Some(p) = linkage.pairs.get(k) {
            let r = find(&mut parent, p.a);
            pairs_of.entry(r).or_default().push(k);
        }
    }
    let mut out = Vec::new();
    for (root, mut members) in groups {
        if members.len() < 2 {
            continue;
        }
        members.sort_by(|a, b| key_cmp(set.key(*a), set.key(*b)).then(a.cmp(b)));
        members.dedup();
        let keys: Vec<&str> = members.iter().map(|&i| set.key(i)).collect();
        let smallest = keys.first().copied().unwrap_or("");
        let mut status = Status::Pending;
        let mut extends = None;
        for c in decisions
            .clusters
            .iter()
            .filter(|c| c.decision == Verdict::Accept)
        {
            let all_in = c.members.iter().all(|m| keys.contains(&m.as_str()));
            if all_in && c.members.len() == keys.len() {
                status = Status::Accepted;
                extends = None;
                break;
            }
            if all_in || c.members.iter().any(|m| keys.contains(&m.as_str())) {
                extends = Some(c.id.clone());
            }
        }
        let info: Vec<(String, Option<i64>, u8)> = members
            .iter()
            .map(|&i| (set.key(i).to_string(), set.updated(i), set.filled(i)))
            .collect();
        let survivor = choose_survivor(&info)
            .and_then(|s| members.get(s).copied())
            .unwrap_or(root);
        let forced_links = forced
            .iter()
            .filter(|(a, b)| members.contains(a) && !linked.contains(&(*a, *b)))
            .count();
        out.push(Cluster {
            id: cluster_id(table, smallest),
            status,
            pairs: pairs_of.remove(&root).unwrap_or_default(),
            members,
            survivor,
            extends,
            forced_links,
        });
    }
    out.sort_by(|a, b| {
        key_cmp(
            a.members.first().map_or("", |&i| set.key(i)),
            b.members.first().map_or("", |&i| set.key(i)),
        )
    });
    out
}
