//! The Fellegi-Sunter engine.
//!
//! 1. **u-probabilities** from random pairs (almost all non-matches): for each field, how often
//!    two unrelated records reach each level.
//! 2. **Blocking**: for each rule, every record's key (one u64; 0 when missing) is computed, the
//!    `(key, record)` entries are sorted and each run of equal keys is a block. Blocks larger than
//!    `max_block` are skipped and reported. A pair is *new* in rule `r` unless an earlier rule
//!    already put both records in one (uncapped) block, so every pair is scored once.
//! 3. **m-probabilities by EM**, as Splink does: for each rule, the level patterns of its pairs are
//!    counted (a hash map from the packed levels to a count, so memory does not grow with the
//!    pairs) and EM runs with u fixed and the rule's own fields left out (a block on birth date
//!    says nothing about how often true matches agree on birth date). Each field's m is the mean
//!    over the rules that estimate it.
//! 4. **Prior**: EM with m and u fixed over the patterns of all new pairs gives the expected
//!    number of matches; divided by all possible pairs it is the probability that two random
//!    records match.
//! 5. **Scoring** (a second pass over the blocks): match weight = log2(prior odds) + the sum of
//!    each field's log2(m/u), with exact name, city and postal-code agreement weighted by the
//!    value's frequency (u replaced by the share of records holding that value); probability =
//!    2^w / (1 + 2^w). Only pairs at or above the threshold are kept.
//!
//! Both passes split the blocks of a rule between threads (one per core).

use crate::LinkError;
use crate::block::{Rule, key_of};
use crate::compare::{self, Gamma, NULL};
use crate::config::{DedupeConfig, Field};
use crate::normalize::fnv;
use crate::progress::Progress;
use crate::record::RecordSet;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

const LEVELS: usize = 16;
const FIELDS: usize = 10;

/// How to link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    pub threshold: f64,
    pub max_block: usize,
    pub rules: Vec<Rule>,
    pub active: [bool; FIELDS],
    pub u_pairs: u64,
    pub seed: u64,
    pub term_frequency: bool,
    /// Only pairs of records from different sides (a link task).
    pub link_only: bool,
    pub threads: usize,
}

impl LinkOptions {
    pub fn from_config(cfg: &DedupeConfig, link_only: bool) -> Result<LinkOptions, LinkError> {
        cfg.validate()?;
        let mut active = [false; FIELDS];
        for f in cfg.active_fields() {
            if let Some(a) = active.get_mut(f.index()) {
                *a = true;
            }
        }
        let rules = cfg
            .blocking
            .iter()
            .map(|r| crate::block::parse_rule(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LinkOptions {
            threshold: cfg.threshold,
            max_block: cfg.max_block,
            rules,
            active,
            u_pairs: cfg.u_pairs.max(1000),
            seed: cfg.seed,
            term_frequency: cfg.term_frequency,
            link_only: link_only || cfg.link_column.is_some(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 16),
        })
    }

    fn on(&self, f: Field) -> bool {
        self.active.get(f.index()).copied().unwrap_or(false)
    }
}

/// The estimated model.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Probability that two random records are the same person.
    pub prior: f64,
    pub fields: Vec<FieldModel>,
}

/// A comparison EM could not train, for the terminal, the JSON summary and the reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelWarning {
    pub field: Field,
    #[serde(flatten)]
    pub untrained: Untrained,
    /// [`Untrained::message`]: why, and what to do.
    pub message: String,
}

impl Model {
    /// One warning per comparison that kept its prior weights, in field order.
    pub fn warnings(&self) -> Vec<ModelWarning> {
        self.fields
            .iter()
            .filter_map(|f| {
                f.untrained.as_ref().map(|u| ModelWarning {
                    field: f.field,
                    untrained: u.clone(),
                    message: u.message(f.field),
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldModel {
    pub field: Field,
    pub levels: Vec<LevelModel>,
    /// Whether EM estimated m (false: the starting values were kept, no rule could train it).
    pub trained: bool,
    /// Why EM could not train it (`None` when trained).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untrained: Option<Untrained>,
}

/// Why EM left a comparison at its starting m-probabilities (the prior weights).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Untrained {
    /// Every blocking rule looks at this field, so no rule's pairs say how often true matches
    /// agree on it (a block on birth date says nothing about birth dates).
    EveryRuleBlocksOnIt,
    /// The rules that leave the field out found too few pairs to train on: `pairs` in the
    /// largest of them, [`MIN_RULE_PAIRS`] needed.
    TooFewPairs { pairs: u64 },
    /// Too few of the matches EM found have the field on both sides: about `with_values` of
    /// about `matches` in the best rule, [`MIN_FIELD_EVIDENCE`] needed.
    TooFewValues { with_values: u64, matches: u64 },
    /// In every rule that could train it with enough pairs, EM's match class disagreed on name,
    /// birth date or SSN more often than it agreed (households or namesakes, not duplicates).
    Implausible { rules: Vec<String> },
}

impl Untrained {
    /// One sentence for the terminal: why, and what the user can do. No values.
    pub fn message(&self, field: Field) -> String {
        let f = field.name();
        match self {
            Untrained::EveryRuleBlocksOnIt => format!(
                "EM could not train `{f}`: every blocking rule uses it, so no rule's pairs show how often duplicates agree on it; its prior weights are used. Add a blocking rule that does not use `{f}` (e.g. `ssn` or `phone`)"
            ),
            Untrained::TooFewPairs { pairs } => format!(
                "EM could not train `{f}`: the blocking rules that leave it out found at most {pairs} candidate pairs ({MIN_RULE_PAIRS} needed); its prior weights are used. Add a broader blocking rule that does not use `{f}`, or check the weights in the report before accepting clusters"
            ),
            Untrained::TooFewValues {
                with_values,
                matches,
            } => format!(
                "EM could not train `{f}`: it found only about {with_values} likely duplicates with `{f}` on both records ({MIN_FIELD_EVIDENCE} needed; about {matches} in all); its prior weights are used. {}",
                if with_values * 2 < *matches {
                    format!(
                        "Map a fuller column to `{f}`, or leave it out with `skip = [\"{f}\"]` under [dedupe]"
                    )
                } else {
                    "There are too few duplicates to learn from: check the pairs' weights in the report before accepting clusters".to_string()
                }
            ),
            Untrained::Implausible { rules } => format!(
                "EM could not train `{f}`: in rule{} {} it found records that disagree on name, birth date or SSN more often than they agree (households or namesakes, not duplicates); its prior weights are used. Add a narrower blocking rule (e.g. `birth_date+family_initial`)",
                if rules.len() == 1 { "" } else { "s" },
                rules
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Fewest pairs a blocking rule needs before EM trains on them.
pub const MIN_RULE_PAIRS: u64 = 20;

/// Fewest expected matches with the field on both sides before a rule's EM estimate of that
/// field is used.
pub const MIN_FIELD_EVIDENCE: f64 = 5.0;

/// The comparisons of who a person is (name, birth date, SSN), by which a rule's match class is
/// judged plausible; contact fields change between records of one person.
const STABLE: [Field; 4] = [Field::Given, Field::Family, Field::BirthDate, Field::Ssn];

/// How each field fared in the per-rule EM runs.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Rules that leave the field out (and so could train it).
    candidate_rules: usize,
    /// Pairs of the largest such rule.
    most_pairs: u64,
    /// The largest evidence (expected matches with a value on both sides) of a rule whose EM ran
    /// but saw too little of the field, and that rule's expected matches.
    most_evidence: Option<(f64, f64)>,
    implausible_rules: Vec<String>,
    trained_by: usize,
}

impl Tally {
    fn untrained(&self) -> Option<Untrained> {
        if self.trained_by > 0 {
            None
        } else if self.candidate_rules == 0 {
            Some(Untrained::EveryRuleBlocksOnIt)
        } else if let Some((e, matches)) = self.most_evidence {
            // A rule whose match class was plausible saw too few values: the column is thin.
            Some(Untrained::TooFewValues {
                with_values: e.round() as u64,
                matches: matches.round() as u64,
            })
        } else if !self.implausible_rules.is_empty() {
            Some(Untrained::Implausible {
                rules: self.implausible_rules.clone(),
            })
        } else {
            Some(Untrained::TooFewPairs {
                pairs: self.most_pairs,
            })
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelModel {
    pub label: &'static str,
    pub m: f64,
    pub u: f64,
    /// log2(m/u), the Bayes factor in bits.
    pub weight: f64,
}

/// What each blocking rule did.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStats {
    pub rule: String,
    /// Pairs first compared under this rule.
    pub pairs: u64,
    /// Blocks larger than `max_block`, skipped.
    pub capped_blocks: u64,
    pub capped_records: u64,
    pub largest_block: u64,
}

/// A pair at or above the threshold.
#[derive(Debug, Clone, Copy)]
pub struct ScoredPair {
    pub a: u32,
    pub b: u32,
    pub weight: f64,
    pub probability: f64,
    pub swapped: bool,
    pub gamma: Gamma,
}

/// One field's part of a pair's weight.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub field: Field,
    /// `None` when a value is missing (weight 0).
    pub level: Option<&'static str>,
    pub weight: f64,
    pub term_frequency: bool,
}

/// Term frequencies of the values of the TF fields: hash of the value -> count.
#[derive(Debug, Default)]
struct TermFreq {
    counts: [HashMap<u64, u32>; FIELDS],
    totals: [u64; FIELDS],
}

/// The outcome of linking.
#[derive(Debug)]
pub struct Linkage {
    pub model: Model,
    /// Pairs at or above the threshold, ordered by (a, b).
    pub pairs: Vec<ScoredPair>,
    pub rules: Vec<RuleStats>,
    /// Pairs compared (each once).
    pub compared: u64,
    /// Bytes of the records and the largest sort buffer, for the memory figures.
    pub peak_bytes: usize,
    weights: [[f64; LEVELS]; FIELDS],
    m_exact: [f64; FIELDS],
    tf: TermFreq,
    term_frequency: bool,
    prior_weight: f64,
}

fn log2(x: f64) -> f64 {
    x.log2()
}

fn sigmoid2(w: f64) -> f64 {
    1.0 / (1.0 + (-w).exp2())
}

/// Starting m for EM: exact agreement likely, the last (different) level unlikely.
fn m_start(levels: usize) -> Vec<f64> {
    if levels <= 1 {
        return vec![1.0];
    }
    let mut m = vec![0.0; levels];
    if let Some(x) = m.first_mut() {
        *x = 0.85;
    }
    let middle = levels - 2;
    let rest = 0.10;
    for i in 1..levels - 1 {
        if let Some(x) = m.get_mut(i) {
            *x = rest / middle as f64;
        }
    }
    if let Some(x) = m.last_mut() {
        *x = if middle == 0 { 0.15 } else { 0.05 };
    }
    m
}

impl Linkage {
    fn field_weight(&self, set: &RecordSet, a: u32, f: Field, level: u8) -> (f64, bool) {
        if level == NULL {
            return (0.0, false);
        }
        let fi = f.index();
        if level == 0 && self.term_frequency && compare::term_frequency_field(f) {
            let total = self.tf.totals.get(fi).copied().unwrap_or(0);
            if total > 0
                && let Some(r) = set.rec(a)
            {
                let v = compare::tf_value(set, r, f);
                let c = self
                    .tf
                    .counts
                    .get(fi)
                    .and_then(|m| m.get(&fnv(v.as_bytes())))
                    .copied()
                    .unwrap_or(1);
                let u_tf = (f64::from(c) / total as f64).max(1.0 / total as f64);
                let m = self.m_exact.get(fi).copied().unwrap_or(0.9);
                let floor = self
                    .weights
                    .get(fi)
                    .and_then(|l| l.get(compare::levels(f).len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(f64::MIN);
                return (log2(m / u_tf).max(floor), true);
            }
        }
        (
            self.weights
                .get(fi)
                .and_then(|l| l.get(level as usize))
                .copied()
                .unwrap_or(0.0),
            false,
        )
    }

    fn score(&self, set: &RecordSet, a: u32, g: Gamma) -> f64 {
        let mut w = self.prior_weight;
        for f in Field::ALL {
            w += self.field_weight(set, a, f, g.get(f)).0;
        }
        w
    }

    /// Each field's contribution to a pair's weight (the prior's is `log2(prior odds)`).
    pub fn explain(&self, set: &RecordSet, p: &ScoredPair) -> Vec<Explanation> {
        Field::ALL
            .iter()
            .filter(|f| self.model.fields.iter().any(|m| m.field == **f))
            .map(|&f| {
                let level = p.gamma.get(f);
                let (weight, tf) = self.field_weight(set, p.a, f, level);
                Explanation {
                    field: f,
                    level: (level != NULL)
                        .then(|| compare::levels(f).get(level as usize).copied())
                        .flatten(),
                    weight,
                    term_frequency: tf,
                }
            })
            .collect()
    }

    /// log2 of the prior odds, the starting weight of every pair.
    pub fn prior_weight(&self) -> f64 {
        self.prior_weight
    }
}

/// Pairs between the pair-count reports of a pass over the blocks.
const PROGRESS_PAIRS: u64 = 1 << 16;

/// Pairs in a block of `k` records.
fn block_pairs(k: usize) -> u64 {
    let k = k as u64;
    k * k.saturating_sub(1) / 2
}

/// Splits `blocks` into at most `n` consecutive chunks of about equal pair counts.
fn split_blocks(blocks: &[(usize, usize)], n: usize) -> Vec<&[(usize, usize)]> {
    let total: u64 = blocks
        .iter()
        .map(|(s, e)| {
            let k = (e - s) as u64;
            k * k.saturating_sub(1) / 2
        })
        .sum();
    let per = total / n.max(1) as u64 + 1;
    let mut out = Vec::new();
    let mut start = 0;
    let mut acc = 0u64;
    for (i, (s, e)) in blocks.iter().enumerate() {
        let k = (e - s) as u64;
        acc += k * k.saturating_sub(1) / 2;
        if acc >= per && out.len() + 1 < n {
            out.push(blocks.get(start..=i).unwrap_or(&[]));
            start = i + 1;
            acc = 0;
        }
    }
    if start < blocks.len() {
        out.push(blocks.get(start..).unwrap_or(&[]));
    }
    out
}

struct Blocking {
    /// keys[i * rules + r]
    keys: Vec<u64>,
    capped: Vec<HashSet<u64>>,
    stats: Vec<RuleStats>,
    nrules: usize,
}

impl Blocking {
    fn key(&self, i: u32, r: usize) -> u64 {
        self.keys
            .get(i as usize * self.nrules + r)
            .copied()
            .unwrap_or(0)
    }

    /// Whether an earlier rule already compared this pair.
    fn seen_before(&self, i: u32, j: u32, r: usize) -> bool {
        (0..r).any(|q| {
            let k = self.key(i, q);
            k != 0 && k == self.key(j, q) && !self.capped.get(q).is_some_and(|c| c.contains(&k))
        })
    }
}

/// The sorted entries and uncapped blocks of rule `r`.
/// `(key, record)` entries sorted by key, and the `[start, end)` range of each block.
type Blocks = (Vec<(u64, u32)>, Vec<(usize, usize)>);

fn blocks_of(b: &Blocking, n: usize, r: usize) -> Blocks {
    let mut entries: Vec<(u64, u32)> = (0..n as u32)
        .filter_map(|i| {
            let k = b.key(i, r);
            (k != 0).then_some((k, i))
        })
        .collect();
    entries.sort_unstable();
    let mut blocks = Vec::new();
    let mut s = 0;
    while s < entries.len() {
        let k = entries.get(s).map(|e| e.0);
        let mut e = s + 1;
        while e < entries.len() && entries.get(e).map(|x| x.0) == k {
            e += 1;
        }
        blocks.push((s, e));
        s = e;
    }
    (entries, blocks)
}

/// Runs `visit(i, j, rule, new)` over every pair of every uncapped block of rule `r`, on
/// `threads` threads; each thread folds into its own accumulator, returned in order.
///
/// Pairs of finished blocks are added to `done` and reported to `progress` about every
/// [`PROGRESS_PAIRS`]; a thread stops at the next block once `progress` is cancelled (the caller
/// checks the flag after the pass).
#[allow(clippy::too_many_arguments)]
fn for_pairs<A: Send>(
    b: &Blocking,
    set: &RecordSet,
    opts: &LinkOptions,
    r: usize,
    progress: &Progress<'_>,
    done: &AtomicU64,
    make: impl Fn() -> A + Sync,
    visit: impl Fn(&mut A, u32, u32, bool) + Sync,
) -> (Vec<A>, usize) {
    let (entries, blocks) = blocks_of(b, set.len(), r);
    let bytes = entries.capacity() * std::mem::size_of::<(u64, u32)>();
    let capped = b.capped.get(r);
    let blocks: Vec<(usize, usize)> = blocks
        .into_iter()
        .filter(|(s, e)| {
            e - s >= 2
                && !capped.is_some_and(|c| entries.get(*s).is_some_and(|(k, _)| c.contains(k)))
        })
        .collect();
    let chunks = split_blocks(&blocks, opts.threads);
    let entries = &entries;
    let out = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let make = &make;
                let visit = &visit;
                scope.spawn(move || {
                    let mut acc = make();
                    let mut pending = 0u64;
                    for &(s, e) in chunk {
                        if progress.cancelled() {
                            break;
                        }
                        let block = entries.get(s..e).unwrap_or(&[]);
                        for (x, &(_, i)) in block.iter().enumerate() {
                            for &(_, j) in block.iter().skip(x + 1) {
                                if opts.link_only && set.side(i) == set.side(j) {
                                    continue;
                                }
                                let new = !b.seen_before(i, j, r);
                                visit(&mut acc, i, j, new);
                            }
                        }
                        pending += block_pairs(e - s);
                        if pending >= PROGRESS_PAIRS {
                            progress.position(done.fetch_add(pending, Ordering::Relaxed) + pending);
                            pending = 0;
                        }
                    }
                    if pending > 0 {
                        progress.position(done.fetch_add(pending, Ordering::Relaxed) + pending);
                    }
                    acc
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .collect::<Vec<A>>()
    });
    (out, bytes)
}

fn gamma_of(set: &RecordSet, i: u32, j: u32, opts: &LinkOptions) -> (Gamma, bool) {
    match (set.rec(i), set.rec(j)) {
        (Some(a), Some(b)) => compare::compare(set, a, b, &opts.active),
        _ => (Gamma::all_null(), false),
    }
}

/// What one EM run found.
#[derive(Debug, Clone, Copy)]
struct EmOutcome {
    /// The share of matches among the pairs.
    lambda: f64,
    /// Per field, the expected number of matches with a value on both sides (the evidence its m
    /// was estimated from).
    evidence: [f64; FIELDS],
}

/// EM over level patterns with u fixed. `free[f]` says whether field f takes part. Updates `m`
/// for those fields and returns the share of matches among the pairs and each field's evidence.
fn em(
    patterns: &HashMap<Gamma, u64>,
    u: &[[f64; LEVELS]; FIELDS],
    m: &mut [[f64; LEVELS]; FIELDS],
    free: &[bool; FIELDS],
    update_m: bool,
    iterations: usize,
    lambda_start: f64,
) -> EmOutcome {
    let mut out = EmOutcome {
        lambda: 0.0,
        evidence: [0.0; FIELDS],
    };
    let total: u64 = patterns.values().sum();
    if total == 0 {
        return out;
    }
    let mut lambda: f64 = lambda_start.clamp(1e-9, 0.5);
    for _ in 0..iterations {
        let mut mnew = [[0.0f64; LEVELS]; FIELDS];
        let mut matched = 0.0f64;
        for (g, &count) in patterns {
            let mut lr = (lambda / (1.0 - lambda)).ln();
            for f in Field::ALL {
                let fi = f.index();
                let l = g.get(f);
                if l == NULL || !free.get(fi).copied().unwrap_or(false) {
                    continue;
                }
                let mm = m
                    .get(fi)
                    .and_then(|x| x.get(l as usize))
                    .copied()
                    .unwrap_or(1e-6);
                let uu = u
                    .get(fi)
                    .and_then(|x| x.get(l as usize))
                    .copied()
                    .unwrap_or(1e-6);
                lr += (mm.max(1e-9) / uu.max(1e-12)).ln();
            }
            let p = 1.0 / (1.0 + (-lr.clamp(-700.0, 700.0)).exp());
            let w = p * count as f64;
            matched += w;
            for f in Field::ALL {
                let fi = f.index();
                let l = g.get(f);
                if l == NULL {
                    continue;
                }
                if let Some(x) = mnew.get_mut(fi).and_then(|x| x.get_mut(l as usize)) {
                    *x += w;
                }
            }
        }
        let new_lambda = (matched / total as f64).clamp(1e-9, 1.0 - 1e-9);
        for f in Field::ALL {
            let fi = f.index();
            let sum: f64 = mnew.get(fi).map_or(0.0, |r| r.iter().sum());
            if let Some(e) = out.evidence.get_mut(fi) {
                *e = sum;
            }
            if !update_m || !free.get(fi).copied().unwrap_or(false) {
                continue;
            }
            let (Some(row), Some(target)) = (mnew.get(fi), m.get_mut(fi)) else {
                continue;
            };
            if sum > 1e-9 {
                let nl = compare::levels(f).len();
                for l in 0..nl {
                    if let (Some(t), Some(v)) = (target.get_mut(l), row.get(l)) {
                        *t = (v / sum).max(1e-6);
                    }
                }
            }
        }
        let done = (new_lambda - lambda).abs() < 1e-7;
        lambda = new_lambda;
        if done {
            break;
        }
    }
    out.lambda = lambda;
    out
}

fn term_frequencies(set: &RecordSet, opts: &LinkOptions) -> TermFreq {
    let mut tf = TermFreq::default();
    if !opts.term_frequency {
        return tf;
    }
    for f in Field::ALL {
        if !(opts.on(f) && compare::term_frequency_field(f)) {
            continue;
        }
        let fi = f.index();
        let (Some(map), Some(total)) = (tf.counts.get_mut(fi), tf.totals.get_mut(fi)) else {
            continue;
        };
        for r in set.recs() {
            let v = compare::tf_value(set, r, f);
            if !v.is_empty() {
                *map.entry(fnv(v.as_bytes())).or_default() += 1;
                *total += 1;
            }
        }
    }
    tf
}

/// Level counts over random pairs, per field: u-probabilities.
fn estimate_u(
    set: &RecordSet,
    opts: &LinkOptions,
    progress: &Progress<'_>,
) -> Result<[[f64; LEVELS]; FIELDS], LinkError> {
    let n = set.len();
    let (side0, side1): (Vec<u32>, Vec<u32>) = if opts.link_only {
        (
            (0..n as u32).filter(|&i| set.side(i) == 0).collect(),
            (0..n as u32).filter(|&i| set.side(i) != 0).collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let threads = opts.threads.max(1);
    // Enough pairs for a stable estimate without sampling far more pairs than a small set has.
    let wanted = opts.u_pairs.min((n as u64).saturating_mul(50).max(20_000));
    let per = wanted / threads as u64 + 1;
    progress.phase("sampling random pairs", per * threads as u64);
    let done = AtomicU64::new(0);
    let counts: Vec<[[u64; LEVELS]; FIELDS]> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (side0, side1, done) = (&side0, &side1, &done);
                scope.spawn(move || {
                    let mut c = [[0u64; LEVELS]; FIELDS];
                    let mut rng =
                        rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed ^ (t as u64 + 1));
                    if n < 2 || (opts.link_only && (side0.is_empty() || side1.is_empty())) {
                        return c;
                    }
                    for k in 0..per {
                        if k % 4096 == 4095 {
                            progress.position(done.fetch_add(4096, Ordering::Relaxed) + 4096);
                            if progress.cancelled() {
                                break;
                            }
                        }
                        let (i, j) = if opts.link_only {
                            let i = side0.get(rng.random_range(0..side0.len())).copied();
                            let j = side1.get(rng.random_range(0..side1.len())).copied();
                            (i.unwrap_or(0), j.unwrap_or(0))
                        } else {
                            let i = rng.random_range(0..n as u32);
                            let mut j = rng.random_range(0..n as u32 - 1);
                            if j >= i {
                                j += 1;
                            }
                            (i, j)
                        };
                        let (g, _) = gamma_of(set, i, j, opts);
                        for f in Field::ALL {
                            let l = g.get(f);
                            if l != NULL
                                && let Some(x) =
                                    c.get_mut(f.index()).and_then(|x| x.get_mut(l as usize))
                            {
                                *x += 1;
                            }
                        }
                    }
                    c
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if progress.cancelled() {
        return Err(LinkError::Cancelled);
    }
    let mut u = [[1.0f64; LEVELS]; FIELDS];
    for f in Field::ALL {
        let fi = f.index();
        let nl = compare::levels(f).len();
        let mut row = [0u64; LEVELS];
        for c in &counts {
            for (l, slot) in row.iter_mut().enumerate().take(nl) {
                *slot += c.get(fi).and_then(|x| x.get(l)).copied().unwrap_or(0);
            }
        }
        let total: u64 = row.iter().sum();
        for l in 0..nl {
            let v =
                (row.get(l).copied().unwrap_or(0) as f64 + 0.5) / (total as f64 + 0.5 * nl as f64);
            if let Some(x) = u.get_mut(fi).and_then(|x| x.get_mut(l)) {
                *x = v;
            }
        }
    }
    Ok(u)
}

/// Links `set`: estimates the model, scores every blocked pair once and keeps those at or above
/// the threshold.
pub fn link(set: &RecordSet, opts: &LinkOptions) -> Result<Linkage, LinkError> {
    link_with_progress(set, opts, &Progress::none())
}

/// [`link`] reporting three phases, each with its total: `sampling random pairs` (the
/// u-probabilities), `training` (every pair of every uncapped block, all rules) and `scoring`
/// (the same pairs again), with positions from the worker threads; the cancel flag is polled at
/// the same points ([`LinkError::Cancelled`]).
pub fn link_with_progress(
    set: &RecordSet,
    opts: &LinkOptions,
    progress: &Progress<'_>,
) -> Result<Linkage, LinkError> {
    let n = set.len();
    let nrules = opts.rules.len();
    if nrules == 0 {
        return Err(LinkError::Config("no blocking rules".into()));
    }
    let tf = term_frequencies(set, opts);
    let u = estimate_u(set, opts, progress)?;

    // Block keys of every record under every rule.
    let mut keys = vec![0u64; n.saturating_mul(nrules)];
    for (i, r) in set.recs().iter().enumerate() {
        for (q, rule) in opts.rules.iter().enumerate() {
            if let Some(slot) = keys.get_mut(i * nrules + q) {
                *slot = key_of(set, r, rule, q);
            }
        }
    }
    let mut blocking = Blocking {
        keys,
        capped: vec![HashSet::new(); nrules],
        stats: Vec::new(),
        nrules,
    };
    let mut peak = set.heap_bytes() + blocking.keys.capacity() * 8;
    // Pairs in the uncapped blocks of every rule: the total of each pass over the blocks.
    let mut block_pair_total = 0u64;
    for (q, rule) in opts.rules.iter().enumerate() {
        let (entries, blocks) = blocks_of(&blocking, n, q);
        let mut st = RuleStats {
            rule: rule.text.clone(),
            pairs: 0,
            capped_blocks: 0,
            capped_records: 0,
            largest_block: 0,
        };
        for (s, e) in blocks {
            let size = (e - s) as u64;
            st.largest_block = st.largest_block.max(size);
            if e - s <= opts.max_block {
                block_pair_total += block_pairs(e - s);
            } else {
                st.capped_blocks += 1;
                st.capped_records += size;
                if let (Some(c), Some((k, _))) = (blocking.capped.get_mut(q), entries.get(s)) {
                    c.insert(*k);
                }
            }
        }
        blocking.stats.push(st);
    }

    // Pass 1: level patterns per rule (training) and of new pairs (prior).
    type Acc = (HashMap<Gamma, u64>, HashMap<Gamma, u64>, u64);
    let mut per_rule: Vec<HashMap<Gamma, u64>> = Vec::with_capacity(nrules);
    let mut global: HashMap<Gamma, u64> = HashMap::new();
    let mut compared = 0u64;
    progress.phase("training", block_pair_total);
    let done = AtomicU64::new(0);
    for q in 0..nrules {
        let (accs, bytes): (Vec<Acc>, usize) = for_pairs(
            &blocking,
            set,
            opts,
            q,
            progress,
            &done,
            || (HashMap::new(), HashMap::new(), 0u64),
            |acc: &mut Acc, i, j, new| {
                let (g, _) = gamma_of(set, i, j, opts);
                *acc.0.entry(g).or_default() += 1;
                if new {
                    *acc.1.entry(g).or_default() += 1;
                    acc.2 += 1;
                }
            },
        );
        peak = peak.max(set.heap_bytes() + blocking.keys.capacity() * 8 + bytes);
        let mut rule_map = HashMap::new();
        let mut new_pairs = 0;
        for (a, b, c) in accs {
            for (g, k) in a {
                *rule_map.entry(g).or_default() += k;
            }
            for (g, k) in b {
                *global.entry(g).or_default() += k;
            }
            new_pairs += c;
        }
        if let Some(st) = blocking.stats.get_mut(q) {
            st.pairs = new_pairs;
        }
        compared += new_pairs;
        per_rule.push(rule_map);
    }
    if progress.cancelled() {
        return Err(LinkError::Cancelled);
    }

    // EM per rule, the rule's fields left out.
    let mut start = [[1e-6f64; LEVELS]; FIELDS];
    for f in Field::ALL {
        for (l, v) in m_start(compare::levels(f).len()).into_iter().enumerate() {
            if let Some(x) = start.get_mut(f.index()).and_then(|x| x.get_mut(l)) {
                *x = v;
            }
        }
    }
    let mut sum = [[0.0f64; LEVELS]; FIELDS];
    let mut tally: [Tally; FIELDS] = Default::default();
    for (q, rule) in opts.rules.iter().enumerate() {
        let Some(patterns) = per_rule.get(q) else {
            continue;
        };
        let excluded = rule.fields();
        let mut free = [false; FIELDS];
        for f in Field::ALL {
            if let Some(x) = free.get_mut(f.index()) {
                *x = opts.on(f) && !excluded.contains(&f);
            }
        }
        let is_free = |f: Field| free.get(f.index()).copied().unwrap_or(false);
        let pairs: u64 = patterns.values().sum();
        for f in Field::ALL.into_iter().filter(|&f| is_free(f)) {
            if let Some(t) = tally.get_mut(f.index()) {
                t.candidate_rules += 1;
                t.most_pairs = t.most_pairs.max(pairs);
            }
        }
        if pairs < MIN_RULE_PAIRS {
            continue;
        }
        let mut m = start;
        // Start from few matches (at most one duplicate per 20 records), so that the match
        // class first takes only the strongest agreement patterns; starting high lets it take
        // a large group of non-matches instead (people sharing a name and a city, households).
        let start_lambda = (n as f64 / 20.0 / pairs as f64).clamp(1e-7, 0.1);
        let outcome = em(patterns, &u, &mut m, &free, true, 60, start_lambda);
        // An estimate where true matches would disagree on who they are (name, birth date,
        // SSN) more often than agree is not plausible: EM found another group than duplicates
        // (a household shares surname, address and city but not given name or birth date).
        // Such a rule trains nothing. Contact fields are not judged: true duplicates registered
        // years apart often have another phone, e-mail or address (the generated clinic gives
        // every duplicate a new phone and e-mail), and EM saying so is an estimate, not a failure.
        let judged: Vec<Field> = {
            let stable: Vec<Field> = STABLE.iter().copied().filter(|&f| is_free(f)).collect();
            if stable.is_empty() {
                Field::ALL
                    .into_iter()
                    .filter(|&f| is_free(f) && f != Field::Sex)
                    .collect()
            } else {
                stable
            }
        };
        let implausible = judged.iter().any(|&f| {
            let row = m.get(f.index()).copied().unwrap_or([0.0; LEVELS]);
            let last = compare::levels(f).len().saturating_sub(1);
            row.first().copied().unwrap_or(0.0) < row.get(last).copied().unwrap_or(0.0)
        });
        for f in Field::ALL.into_iter().filter(|&f| is_free(f)) {
            let fi = f.index();
            let evidence = outcome.evidence.get(fi).copied().unwrap_or(0.0);
            let (Some(t), Some(acc), Some(mm)) = (tally.get_mut(fi), sum.get_mut(fi), m.get(fi))
            else {
                continue;
            };
            if implausible {
                t.implausible_rules.push(rule.text.clone());
            } else if evidence < MIN_FIELD_EVIDENCE {
                let matches = outcome.lambda * pairs as f64;
                if t.most_evidence.is_none_or(|(e, _)| evidence > e) {
                    t.most_evidence = Some((evidence, matches));
                }
            } else {
                for (a, b) in acc.iter_mut().zip(mm.iter()) {
                    *a += b;
                }
                t.trained_by += 1;
            }
        }
    }
    let mut m = start;
    for f in Field::ALL {
        let fi = f.index();
        let t = tally.get(fi).map_or(0, |t| t.trained_by);
        if t > 0
            && let (Some(s), Some(mm)) = (sum.get(fi), m.get_mut(fi))
        {
            for (a, b) in mm.iter_mut().zip(s.iter()) {
                *a = (b / t as f64).max(1e-6);
            }
        }
    }

    // The prior from the expected matches among the new pairs.
    let all_free = opts.active;
    let global_pairs: u64 = global.values().sum();
    let lambda_blocked = em(
        &global,
        &u,
        &mut m.clone(),
        &all_free,
        false,
        100,
        (n as f64 / 20.0 / global_pairs.max(1) as f64).clamp(1e-7, 0.1),
    )
    .lambda;
    let total_pairs: f64 = if opts.link_only {
        let s0 = (0..n as u32).filter(|&i| set.side(i) == 0).count() as f64;
        s0 * (n as f64 - s0)
    } else {
        n as f64 * (n as f64 - 1.0) / 2.0
    };
    // At most one duplicate pair per record on average.
    let expected = (lambda_blocked * compared as f64).clamp(1.0, n.max(1) as f64);
    let prior = if total_pairs > 0.0 {
        (expected / total_pairs).clamp(1e-12, 0.5)
    } else {
        0.5
    };

    let mut weights = [[0.0f64; LEVELS]; FIELDS];
    let mut m_exact = [0.9f64; FIELDS];
    let mut fields = Vec::new();
    for f in Field::ALL {
        if !opts.on(f) {
            continue;
        }
        let fi = f.index();
        let mut levels = Vec::new();
        let labels = compare::levels(f);
        let last = labels.len().saturating_sub(1);
        let w_last = log2(
            m.get(fi).and_then(|x| x.get(last)).copied().unwrap_or(1e-6)
                / u.get(fi).and_then(|x| x.get(last)).copied().unwrap_or(1.0),
        );
        for (l, label) in labels.iter().enumerate() {
            let mm = m.get(fi).and_then(|x| x.get(l)).copied().unwrap_or(1e-6);
            let uu = u.get(fi).and_then(|x| x.get(l)).copied().unwrap_or(1.0);
            // Monotone floor: agreeing in part is never worse evidence than disagreeing (a level
            // EM rarely saw, e.g. nicknames in data without any, would otherwise get m near 0).
            let w = log2(mm / uu).max(w_last);
            if let Some(x) = weights.get_mut(fi).and_then(|x| x.get_mut(l)) {
                *x = w;
            }
            levels.push(LevelModel {
                label,
                m: mm,
                u: uu,
                weight: w,
            });
        }
        if let (Some(x), Some(first)) = (m_exact.get_mut(fi), levels.first()) {
            *x = first.m;
        }
        let untrained = tally.get(fi).and_then(Tally::untrained);
        fields.push(FieldModel {
            field: f,
            levels,
            trained: untrained.is_none(),
            untrained,
        });
    }
    let mut linkage = Linkage {
        model: Model { prior, fields },
        pairs: Vec::new(),
        rules: blocking.stats.clone(),
        compared,
        peak_bytes: peak,
        weights,
        m_exact,
        tf,
        term_frequency: opts.term_frequency,
        prior_weight: log2(prior / (1.0 - prior)),
    };

    // Pass 2: score new pairs.
    let mut pairs = Vec::new();
    progress.phase("scoring", block_pair_total);
    let done = AtomicU64::new(0);
    for q in 0..nrules {
        let lk = &linkage;
        let (accs, _) = for_pairs(
            &blocking,
            set,
            opts,
            q,
            progress,
            &done,
            Vec::new,
            |acc: &mut Vec<ScoredPair>, i, j, new| {
                if !new {
                    return;
                }
                let (g, swapped) = gamma_of(set, i, j, opts);
                let w = lk.score(set, i, g);
                let p = sigmoid2(w);
                if p >= opts.threshold {
                    acc.push(ScoredPair {
                        a: i.min(j),
                        b: i.max(j),
                        weight: w,
                        probability: p,
                        swapped,
                        gamma: g,
                    });
                }
            },
        );
        for a in accs {
            pairs.extend(a);
        }
    }
    if progress.cancelled() {
        return Err(LinkError::Cancelled);
    }
    pairs.sort_by_key(|p| (p.a, p.b));
    pairs.dedup_by_key(|p| (p.a, p.b));
    linkage.pairs = pairs;
    Ok(linkage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::LinkEvent;
    use crate::record::RawRecord;

    #[test]
    fn blocks_split_evenly_and_completely() {
        let blocks: Vec<(usize, usize)> = (0..10).map(|i| (i * 10, i * 10 + 10)).collect();
        let chunks = split_blocks(&blocks, 3);
        assert!(chunks.len() <= 3);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 10);
        assert!(split_blocks(&[], 2).is_empty());
    }

    #[test]
    fn m_start_is_a_distribution() {
        for n in 2..8 {
            let m = m_start(n);
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{n}: {m:?}");
        }
    }

    /// A population of distinct people plus a few altered copies.
    pub(crate) fn population(n: usize) -> (RecordSet, Vec<(u32, u32)>) {
        const GIVEN: [&str; 12] = [
            "john",
            "mary",
            "james",
            "patricia",
            "robert",
            "jennifer",
            "michael",
            "linda",
            "william",
            "elizabeth",
            "david",
            "susan",
        ];
        const FAMILY: [&str; 15] = [
            "smith",
            "johnson",
            "williams",
            "brown",
            "jones",
            "garcia",
            "miller",
            "davis",
            "rodriguez",
            "martinez",
            "hernandez",
            "lopez",
            "gonzalez",
            "wilson",
            "anderson",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut set = RecordSet::new();
        let mut truth = Vec::new();
        let mut people: Vec<RawRecord> = Vec::new();
        for i in 0..n {
            let mut r = RawRecord {
                key: format!("{i}"),
                ..Default::default()
            };
            r.set(Field::Given, Some(GIVEN[rng.random_range(0..12)].into()));
            r.set(Field::Family, Some(FAMILY[rng.random_range(0..15)].into()));
            r.set(
                Field::BirthDate,
                Some(format!(
                    "{}-{:02}-{:02}",
                    rng.random_range(1940..2000),
                    rng.random_range(1..13),
                    rng.random_range(1..29)
                )),
            );
            r.set(
                Field::Ssn,
                Some(format!("{}", rng.random_range(100_000_000u32..899_999_999))),
            );
            r.set(
                Field::Sex,
                Some(if rng.random_bool(0.5) { "M" } else { "F" }.into()),
            );
            people.push(r);
        }
        let dups = n / 10;
        for d in 0..dups {
            let orig = d * 7 % n;
            let mut r = people[orig].clone();
            r.key = format!("{}", n + d);
            match d % 4 {
                0 => r.set(Field::Ssn, None),
                1 => {
                    let f = r.values[Field::Family.index()].clone().unwrap_or_default();
                    r.set(Field::Family, Some(format!("{f}e")));
                }
                2 => {
                    let g = r.values[Field::Given.index()].take();
                    let f = r.values[Field::Family.index()].take();
                    r.set(Field::Given, f);
                    r.set(Field::Family, g);
                }
                _ => r.set(Field::Given, Some("x".into())),
            }
            people.push(r);
            truth.push((orig as u32, (n + d) as u32));
        }
        for p in &people {
            set.push(p).unwrap();
        }
        (set, truth)
    }

    #[test]
    fn altered_copies_are_found_and_strangers_are_not() {
        let (set, truth) = population(2000);
        let cfg = DedupeConfig {
            given: Some(crate::config::Columns::One("g".into())),
            family: Some(crate::config::Columns::One("f".into())),
            birth_date: Some(crate::config::Columns::One("d".into())),
            ssn: Some(crate::config::Columns::One("s".into())),
            sex: Some(crate::config::Columns::One("x".into())),
            u_pairs: 200_000,
            ..Default::default()
        };
        let opts = LinkOptions::from_config(&cfg, false).unwrap();
        let l = link(&set, &opts).unwrap();
        let found: HashSet<(u32, u32)> = l.pairs.iter().map(|p| (p.a, p.b)).collect();
        let hits = truth.iter().filter(|t| found.contains(t)).count();
        let recall = hits as f64 / truth.len() as f64;
        let precision = hits as f64 / found.len().max(1) as f64;
        assert!(recall > 0.95, "recall {recall}");
        assert!(
            precision > 0.95,
            "precision {precision} ({} pairs)",
            found.len()
        );
        assert!(
            l.model.prior > 0.0 && l.model.prior < 0.01,
            "{}",
            l.model.prior
        );
        // Weights are monotone: no level is worse evidence than "different" (the population has
        // no nicknames, so EM gives that level an m near 0).
        for fm in &l.model.fields {
            let last = fm.levels.last().unwrap().weight;
            assert!(fm.levels.iter().all(|x| x.weight >= last), "{fm:?}");
        }
        // Every pair is scored once: the pairs are unique and compared counts each once.
        let mut seen = HashSet::new();
        assert!(l.pairs.iter().all(|p| seen.insert((p.a, p.b))));
        // The explanation adds up to the weight.
        let p = l.pairs[0];
        let sum: f64 = l.explain(&set, &p).iter().map(|e| e.weight).sum::<f64>() + l.prior_weight();
        assert!((sum - p.weight).abs() < 1e-9);
    }

    /// Households (20 of 60 people sharing surname, address and city) with 60 copied records
    /// (half without SSN): the copies are found and household members are not linked, except
    /// "twins" sharing the household and the birth date (at most a few).
    fn households() -> (RecordSet, HashSet<(u32, u32)>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut people = Vec::new();
        for h in 0..20 {
            for k in 0..60 {
                let mut r = RawRecord {
                    key: format!("{}", h * 60 + k),
                    ..Default::default()
                };
                let given: String = (0..6)
                    .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                    .collect();
                r.set(Field::Given, Some(given));
                r.set(
                    Field::Family,
                    Some(format!("family{}", char::from(b'a' + h as u8))),
                );
                r.set(Field::City, Some(format!("city{h}")));
                r.set(Field::Address, Some(format!("{h} main street")));
                r.set(
                    Field::BirthDate,
                    Some(format!(
                        "{}-{:02}-{:02}",
                        rng.random_range(1940..2000),
                        rng.random_range(1..13),
                        rng.random_range(1..29)
                    )),
                );
                r.set(
                    Field::Ssn,
                    Some(format!("{}", rng.random_range(100_000_000u32..899_999_999))),
                );
                people.push(r);
            }
        }
        let mut truth = HashSet::new();
        for d in 0..60 {
            let orig = d * 19 % 1200;
            let mut r = people[orig].clone();
            r.key = format!("{}", 1200 + d);
            if d % 2 == 0 {
                r.set(Field::Ssn, None);
            }
            truth.insert((orig as u32, (1200 + d) as u32));
            people.push(r);
        }
        let mut set = RecordSet::new();
        for p in &people {
            set.push(p).unwrap();
        }
        (set, truth)
    }

    #[test]
    fn households_are_not_taken_for_duplicates() {
        let (set, truth) = households();
        let col = |s: &str| Some(crate::config::Columns::One(s.into()));
        let cfg = DedupeConfig {
            given: col("g"),
            family: col("f"),
            birth_date: col("d"),
            ssn: col("s"),
            address: col("a"),
            city: col("c"),
            blocking: vec!["family".into(), "birth_date".into(), "ssn".into()],
            ..Default::default()
        };
        let l = link(&set, &LinkOptions::from_config(&cfg, false).unwrap()).unwrap();
        let found: HashSet<(u32, u32)> = l.pairs.iter().map(|p| (p.a, p.b)).collect();
        let wrong = found.difference(&truth).count();
        let hits = found.intersection(&truth).count();
        let why: Vec<String> = l
            .pairs
            .iter()
            .filter(|p| !truth.contains(&(p.a, p.b)))
            .map(|p| {
                format!(
                    "{}-{} {:.3}: {:?}",
                    p.a,
                    p.b,
                    p.probability,
                    l.explain(&set, p)
                        .iter()
                        .map(|e| (e.field.name(), e.level, (e.weight * 10.0).round() / 10.0))
                        .collect::<Vec<_>>()
                )
            })
            .collect();
        assert!(wrong <= 5, "{wrong} false links, {hits} true: {why:#?}");
        assert!(hits >= 57, "{hits} of 60 found");
    }

    fn identity_config(blocking: &[&str]) -> DedupeConfig {
        let col = |s: &str| Some(crate::config::Columns::One(s.into()));
        DedupeConfig {
            given: col("g"),
            family: col("f"),
            birth_date: col("d"),
            ssn: col("s"),
            sex: col("x"),
            phone: col("p"),
            u_pairs: 200_000,
            blocking: blocking.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// `population` with a phone per record: a copy has its own new phone, as the generated
    /// clinic's duplicates do.
    fn population_with_new_phones(n: usize) -> (RecordSet, Vec<(u32, u32)>) {
        let (set, truth) = population(n);
        let mut with = RecordSet::new();
        for i in 0..set.len() as u32 {
            let mut r = RawRecord {
                key: set.key(i).to_string(),
                ..Default::default()
            };
            for f in [
                Field::Given,
                Field::Family,
                Field::BirthDate,
                Field::Ssn,
                Field::Sex,
            ] {
                let v = set.value(i, f);
                r.set(f, (!v.is_empty()).then_some(v));
            }
            r.set(
                Field::Phone,
                Some(format!("555{:07}", 1_000_000 + i * 7919)),
            );
            with.push(&r).unwrap();
        }
        (with, truth)
    }

    // Regression: duplicates never sharing a phone (a new number for each copy) made EM's
    // estimate "matches disagree on phone", which dropped every rule: nothing was trained, at
    // any size, whenever phone or e-mail was compared.
    #[test]
    fn a_contact_field_duplicates_disagree_on_does_not_stop_em() {
        let (set, truth) = population_with_new_phones(1000);
        let cfg = identity_config(&["birth_date", "ssn", "family+given_initial"]);
        let l = link(&set, &LinkOptions::from_config(&cfg, false).unwrap()).unwrap();
        assert_eq!(l.model.warnings(), Vec::new());
        assert!(l.model.fields.iter().all(|f| f.trained), "{:?}", l.model);
        let phone = l
            .model
            .fields
            .iter()
            .find(|f| f.field == Field::Phone)
            .unwrap();
        // EM learns that matches hardly ever share a phone: disagreeing costs (almost) nothing.
        assert!(phone.levels[2].m > 0.99, "{phone:?}");
        let found: HashSet<(u32, u32)> = l.pairs.iter().map(|p| (p.a, p.b)).collect();
        let hits = truth.iter().filter(|t| found.contains(t)).count();
        assert_eq!(hits, truth.len(), "{} of {} found", hits, truth.len());
        assert_eq!(found.len(), truth.len());
    }

    #[test]
    fn a_field_every_rule_blocks_on_stays_untrained_and_says_why() {
        let (set, _) = population_with_new_phones(1000);
        let cfg = identity_config(&["birth_date"]);
        let l = link(&set, &LinkOptions::from_config(&cfg, false).unwrap()).unwrap();
        let w = l.model.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].field, Field::BirthDate);
        assert_eq!(w[0].untrained, Untrained::EveryRuleBlocksOnIt);
        assert_eq!(
            w[0].message,
            "EM could not train `birth_date`: every blocking rule uses it, so no rule's pairs show how often duplicates agree on it; its prior weights are used. Add a blocking rule that does not use `birth_date` (e.g. `ssn` or `phone`)"
        );
        let json = serde_json::to_value(&w[0]).unwrap();
        assert_eq!(json["field"], "birth_date");
        assert_eq!(json["reason"], "every_rule_blocks_on_it");
    }

    #[test]
    fn a_rule_with_too_few_pairs_trains_nothing_and_says_how_many() {
        let (set, _) = population_with_new_phones(100);
        // 10 copies among 110 records: the SSN blocks hold the 5 copies that kept their SSN.
        let cfg = identity_config(&["ssn"]);
        let l = link(&set, &LinkOptions::from_config(&cfg, false).unwrap()).unwrap();
        let w = l.model.warnings();
        let fields: Vec<Field> = w.iter().map(|x| x.field).collect();
        assert_eq!(
            fields,
            vec![
                Field::Given,
                Field::Family,
                Field::BirthDate,
                Field::Sex,
                Field::Ssn,
                Field::Phone
            ]
        );
        assert_eq!(w[0].untrained, Untrained::TooFewPairs { pairs: 7 });
        assert_eq!(
            w[0].message,
            "EM could not train `given`: the blocking rules that leave it out found at most 7 candidate pairs (20 needed); its prior weights are used. Add a broader blocking rule that does not use `given`, or check the weights in the report before accepting clusters"
        );
        assert_eq!(w[4].untrained, Untrained::EveryRuleBlocksOnIt);
    }

    #[test]
    fn a_field_few_duplicates_have_stays_untrained_and_says_how_few() {
        let (full, _) = population_with_new_phones(1000);
        // Phones on the first 40 records only: hardly any pair has one on both sides.
        let mut set = RecordSet::new();
        for i in 0..full.len() as u32 {
            let mut r = RawRecord {
                key: full.key(i).to_string(),
                ..Default::default()
            };
            for f in Field::ALL {
                let v = full.value(i, f);
                if !v.is_empty() && (f != Field::Phone || i < 40) {
                    r.set(f, Some(v));
                }
            }
            set.push(&r).unwrap();
        }
        let cfg = identity_config(&["birth_date", "ssn", "family+given_initial"]);
        let l = link(&set, &LinkOptions::from_config(&cfg, false).unwrap()).unwrap();
        let w = l.model.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            w[0].untrained,
            Untrained::TooFewValues {
                with_values: 0,
                matches: 101
            }
        );
        assert_eq!(
            w[0].message,
            "EM could not train `phone`: it found only about 0 likely duplicates with `phone` on both records (5 needed; about 101 in all); its prior weights are used. Map a fuller column to `phone`, or leave it out with `skip = [\"phone\"]` under [dedupe]"
        );
    }

    #[test]
    fn a_rule_whose_match_class_is_households_is_named() {
        let (set, _) = households();
        let col = |s: &str| Some(crate::config::Columns::One(s.into()));
        let cfg = DedupeConfig {
            given: col("g"),
            family: col("f"),
            birth_date: col("d"),
            address: col("a"),
            city: col("c"),
            blocking: vec!["family".into()],
            ..Default::default()
        };
        let l = link(&set, &LinkOptions::from_config(&cfg, false).unwrap()).unwrap();
        let w = l.model.warnings();
        assert_eq!(w.len(), 5, "{w:?}");
        assert_eq!(
            w[0].untrained,
            Untrained::Implausible {
                rules: vec!["family".into()]
            }
        );
        assert_eq!(
            w[0].message,
            "EM could not train `given`: in rule `family` it found records that disagree on name, birth date or SSN more often than they agree (households or namesakes, not duplicates); its prior weights are used. Add a narrower blocking rule (e.g. `birth_date+family_initial`)"
        );
        assert_eq!(w[1].untrained, Untrained::EveryRuleBlocksOnIt);
    }

    #[test]
    fn linking_reports_each_phase_with_its_total_and_stops_when_cancelled() {
        let (set, _) = population(2000);
        let cfg = identity_config(&["birth_date", "ssn", "family+given_initial"]);
        let opts = LinkOptions::from_config(&cfg, false).unwrap();
        let events = std::sync::Mutex::new(Vec::<(String, u64, u64)>::new());
        let on_event = |e: LinkEvent<'_>| {
            let mut ev = events.lock().unwrap();
            match e {
                LinkEvent::Phase { name, total } => ev.push((name.to_string(), total, 0)),
                LinkEvent::Position(n) => {
                    if let Some(last) = ev.last_mut() {
                        last.2 = last.2.max(n);
                    }
                }
            }
        };
        let progress = Progress {
            on_event: &on_event,
            cancel: None,
        };
        let with = link_with_progress(&set, &opts, &progress).unwrap();
        let without = link(&set, &opts).unwrap();
        assert_eq!(with.pairs.len(), without.pairs.len());
        let ev = events.lock().unwrap().clone();
        let names: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["sampling random pairs", "training", "scoring"]);
        // Each phase has its total: random pairs (50 per record for 2,200 records, split between
        // the threads), then the pairs of all uncapped blocks, reached in both passes.
        let blocks: u64 = (0..3)
            .map(|q| {
                let rule = &opts.rules[q];
                let mut keys: HashMap<u64, usize> = HashMap::new();
                for r in set.recs() {
                    let k = key_of(&set, r, rule, q);
                    if k != 0 {
                        *keys.entry(k).or_default() += 1;
                    }
                }
                keys.values().map(|&k| block_pairs(k)).sum::<u64>()
            })
            .sum();
        assert_eq!(ev[1], ("training".to_string(), blocks, blocks));
        assert_eq!(ev[2], ("scoring".to_string(), blocks, blocks));
        let u_total = (2200 * 50 / opts.threads as u64 + 1) * opts.threads as u64;
        assert_eq!(ev[0].1, u_total);

        let cancel = ferry_core::Cancel::new();
        cancel.cancel();
        let progress = Progress {
            on_event: &|_| {},
            cancel: Some(&cancel),
        };
        let e = link_with_progress(&set, &opts, &progress).unwrap_err();
        assert!(matches!(e, LinkError::Cancelled), "{e}");
        assert_eq!(e.to_string(), "linking was cancelled; nothing was written");
    }

    #[test]
    fn capped_blocks_are_skipped_and_reported() {
        let (set, _) = population(300);
        let cfg = DedupeConfig {
            given: Some(crate::config::Columns::One("g".into())),
            family: Some(crate::config::Columns::One("f".into())),
            blocking: vec!["family".into()],
            max_block: 5,
            ..Default::default()
        };
        let opts = LinkOptions::from_config(&cfg, false).unwrap();
        let l = link(&set, &opts).unwrap();
        // 15 surnames among 330 records: every surname block is over 5 and skipped; only the
        // copies with swapped names form small blocks.
        assert!(l.rules[0].capped_blocks >= 10, "{:?}", l.rules[0]);
        assert!(l.rules[0].capped_records >= 300, "{:?}", l.rules[0]);
        assert!(l.compared < 50, "{}", l.compared);
    }

    #[test]
    fn tiny_inputs_do_not_fail() {
        let cfg = DedupeConfig {
            given: Some(crate::config::Columns::One("g".into())),
            ..Default::default()
        };
        let opts = LinkOptions::from_config(&cfg, false).unwrap();
        for n in 0..3 {
            let mut set = RecordSet::new();
            for i in 0..n {
                set.push(&RawRecord {
                    key: i.to_string(),
                    ..Default::default()
                })
                .unwrap();
            }
            let l = link(&set, &opts).unwrap();
            assert!(l.pairs.is_empty());
        }
    }
}
