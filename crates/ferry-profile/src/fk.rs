//! Candidate foreign keys.
//!
//! Key sets of candidate keys (integer or code columns, unique, never NULL or blank) are
//! collected during the profiling pass itself (the accumulator that proves uniqueness holds the
//! set, see `accum::KeySet`), so no extra pass reads the key columns. The values of each
//! identifier-looking column come from its exact value counts, also from the same pass; only a
//! column with more distinct values than `exact_distinct_limit` is read again, in a second pass
//! over its table (done in `lib.rs`). Match counts, and so orphan counts, are exact.
//!
//! Every pair (column, candidate key of another table) is tested; a pair is kept when at least
//! 90% of the column's non-blank values are keys. Then, per column, only the best tier is kept:
//! 1. the names match (`patient_id` -> `patients.patient_id` / `patients.id`) and the key is its
//!    table's primary key; 2. the names match; 3. the column is named like an identifier
//!    (`..._id`, `..._no`, `..._code`) and the key is a primary key; 4. named like an identifier.
//!    Without a name match the column needs a surrogate-id name (`..._id`, `..._key`), 5+ distinct values covering half the key's values
//!    and 99% of its values found, and only the smallest such key is kept. A column that is itself a candidate key only takes tier 1 (a 1:1 link must be named), and a
//!    table's declared single-column primary key is never a foreign-key column.

use crate::accum::KeySet;
use crate::model::ForeignKeyCandidate;
use crate::phi::words;
use hashbrown::HashMap;

/// Shares below this are not foreign keys.
pub const MIN_SHARE: f64 = 0.9;
/// A column not named for its key needs at least this many distinct values...
pub const UNNAMED_MIN_DISTINCT: u64 = 5;
/// ...and at least this share of the key's distinct values...
pub const UNNAMED_MIN_COVERAGE: f64 = 0.5;
/// ...and at least this share of its values must be keys.
pub const UNNAMED_MIN_SHARE: f64 = 0.99;

/// A candidate key that foreign keys may point at.
pub struct RefKey {
    pub table: String,
    pub column: String,
    /// The key is its table's primary key (declared, or by its name when none is declared).
    pub is_pk: bool,
    pub set: KeySet,
}

/// A column that may hold foreign keys.
pub struct Source {
    pub table: String,
    pub column: String,
    pub ordinal: usize,
    /// Non-null, non-blank values.
    pub values: u64,
    /// The column is itself a candidate key of its table.
    pub is_key: bool,
    /// Distinct non-blank values (exact or estimated).
    pub distinct: u64,
    /// Exact non-blank values with counts (`None`: too many distinct values, scan again).
    pub exact: Option<HashMap<Box<str>, u64>>,
}

fn singular(t: &str) -> String {
    if let Some(s) = t.strip_suffix("ies") {
        format!("{s}y")
    } else if let Some(s) = t.strip_suffix("sses") {
        format!("{s}ss")
    } else if let Some(s) = t.strip_suffix('s') {
        s.to_string()
    } else {
        t.to_string()
    }
}

/// The column is named like its own table's key (`id`, `patient_id` in `patients`).
pub fn is_own_key_name(column: &str, table: &str) -> bool {
    let c = column.to_ascii_lowercase();
    let t = table.to_ascii_lowercase();
    let s = singular(&t);
    c == "id" || c == format!("{s}_id") || c == format!("{s}id") || c == format!("{t}_id")
}

/// `column` (in some table) is named for `ref_table.ref_column`.
pub fn name_matches(column: &str, ref_table: &str, ref_column: &str) -> bool {
    let c = column.to_ascii_lowercase();
    let rc = ref_column.to_ascii_lowercase();
    if c == rc && rc != "id" {
        return true;
    }
    let t = ref_table.to_ascii_lowercase();
    let s = singular(&t);
    if rc == "id" || is_own_key_name(&rc, &t) {
        return [
            format!("{s}_id"),
            format!("{s}id"),
            format!("{t}_id"),
            format!("{s}_no"),
            format!("{s}_key"),
            format!("{s}_{rc}"),
        ]
        .contains(&c);
    }
    c == format!("{s}_{rc}")
}

/// Named like an identifier: last word `id`, `no`, `num`, `nbr`, `number`, `code`, `key`, `ref`.
pub fn looks_like_id_name(column: &str) -> bool {
    let lower = column.to_ascii_lowercase();
    lower.ends_with("id")
        || words(column).last().is_some_and(|w| {
            matches!(
                w.as_str(),
                "id" | "no" | "num" | "nbr" | "number" | "code" | "key" | "ref" | "fk"
            )
        })
}

/// Named like a surrogate identifier: ends with `id`, or last word `key`, `ref`, `fk`
/// (`dose_no` or `test_code` may be ordinals or codes, so they need a name match).
pub fn strong_id_name(column: &str) -> bool {
    column.to_ascii_lowercase().ends_with("id")
        || words(column)
            .last()
            .is_some_and(|w| matches!(w.as_str(), "key" | "ref" | "fk"))
}

/// Counts the values (with their multiplicities) found in `set`; `None` as soon as more than
/// `1 - MIN_SHARE` of `values` are missing (the pair cannot be kept).
pub fn count_matches(exact: &HashMap<Box<str>, u64>, values: u64, set: &KeySet) -> Option<u64> {
    let budget = values - (values as f64 * MIN_SHARE).ceil() as u64;
    let mut missing = 0u64;
    let mut matched = 0u64;
    for (v, c) in exact {
        if set.contains(v) {
            matched += c;
        } else {
            missing += c;
            if missing > budget {
                return None;
            }
        }
    }
    // Values that are not text (bytes) are never keys.
    Some(matched)
}

/// Whether a pair could be kept by [`select`] whatever its share: pairs that cannot are not
/// counted at all.
pub fn may_keep(s: &Source, k: &RefKey) -> bool {
    let named = name_matches(&s.column, &k.table, &k.column);
    if s.is_key {
        return named && k.is_pk;
    }
    named
        || (strong_id_name(&s.column)
            && s.distinct >= UNNAMED_MIN_DISTINCT
            && s.distinct as f64 >= UNNAMED_MIN_COVERAGE * k.set.len() as f64)
}

/// One tested pair that reached [`MIN_SHARE`].
pub struct Hit {
    pub source: usize,
    pub key: usize,
    pub values: u64,
    pub matched: u64,
}

/// Keeps the best tier of hits per source column and orders them strongest first.
pub fn select(hits: Vec<Hit>, sources: &[&Source], keys: &[&RefKey]) -> Vec<ForeignKeyCandidate> {
    let tier = |h: &Hit| -> Option<u8> {
        let (s, k) = (sources.get(h.source)?, keys.get(h.key)?);
        let named = name_matches(&s.column, &k.table, &k.column);
        let t = match (named, k.is_pk) {
            (true, true) => 1,
            (true, false) => 2,
            (false, true) => 3,
            (false, false) => 4,
        };
        if s.is_key && t != 1 {
            return None;
        }
        // Without a name match, the column must be named like an identifier and use a good part
        // of the key's values (a column of 1, 2, 3 "fits" every id column of the database).
        if t >= 3
            && (!strong_id_name(&s.column)
                || s.distinct < UNNAMED_MIN_DISTINCT
                || (h.matched as f64) < UNNAMED_MIN_SHARE * h.values as f64
                || (s.distinct as f64) < UNNAMED_MIN_COVERAGE * k.set.len() as f64)
        {
            return None;
        }
        Some(t)
    };
    let mut best: HashMap<usize, u8> = HashMap::new();
    let mut tiered: Vec<(u8, Hit)> = Vec::new();
    for h in hits {
        if let Some(t) = tier(&h) {
            let b = best.entry(h.source).or_insert(t);
            *b = (*b).min(t);
            tiered.push((t, h));
        }
    }
    // Among unnamed candidates of a column, only the smallest key sets (the tightest domain).
    let mut tightest: HashMap<usize, usize> = HashMap::new();
    for (t, h) in &tiered {
        if best.get(&h.source) == Some(t)
            && *t >= 3
            && let Some(k) = keys.get(h.key)
        {
            let m = tightest.entry(h.source).or_insert(usize::MAX);
            *m = (*m).min(k.set.len());
        }
    }
    let mut out: Vec<(u8, ForeignKeyCandidate)> = tiered
        .into_iter()
        .filter(|(t, h)| best.get(&h.source) == Some(t))
        .filter(|(t, h)| {
            *t < 3 || tightest.get(&h.source).copied() == keys.get(h.key).map(|k| k.set.len())
        })
        .filter_map(|(t, h)| {
            let (s, k) = (sources.get(h.source)?, keys.get(h.key)?);
            Some((
                t,
                ForeignKeyCandidate {
                    table: s.table.clone(),
                    column: s.column.clone(),
                    ref_table: k.table.clone(),
                    ref_column: k.column.clone(),
                    values: h.values,
                    matched: h.matched,
                    share: if h.values == 0 {
                        0.0
                    } else {
                        h.matched as f64 / h.values as f64
                    },
                    orphans: h.values - h.matched,
                },
            ))
        })
        .collect();
    out.sort_by(|(ta, a), (tb, b)| {
        ta.cmp(tb)
            .then_with(|| b.share.total_cmp(&a.share))
            .then_with(|| {
                (&a.table, &a.column, &a.ref_table, &a.ref_column).cmp(&(
                    &b.table,
                    &b.column,
                    &b.ref_table,
                    &b.ref_column,
                ))
            })
    });
    out.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name_matches("patient_id", "patients", "patient_id"));
        assert!(name_matches("patient_id", "patients", "id"));
        assert!(name_matches("category_id", "categories", "id"));
        assert!(!name_matches("provider_id", "patients", "patient_id"));
        assert!(!name_matches("id", "patients", "id"));
        assert!(is_own_key_name("visit_id", "visits"));
        assert!(!is_own_key_name("patient_id", "visits"));
        assert!(looks_like_id_name("dept_id"));
        assert!(looks_like_id_name("emp_no"));
        assert!(looks_like_id_name("test_code"));
        assert!(!looks_like_id_name("pulse"));
        assert!(strong_id_name("author_id"));
        assert!(strong_id_name("AuthorKey"));
        assert!(!strong_id_name("dose_no"));
    }

    fn set(values: &[&str]) -> KeySet {
        let mut s = KeySet::default();
        for v in values {
            s.insert(v);
        }
        s
    }

    #[test]
    fn count_matches_is_exact_and_stops_early() {
        let keys = set(&["1", "2", "3"]);
        let mut m: HashMap<Box<str>, u64> = HashMap::new();
        m.insert("1".into(), 50);
        m.insert("2".into(), 45);
        m.insert("9".into(), 5);
        assert_eq!(count_matches(&m, 100, &keys), Some(95));
        m.insert("8".into(), 20);
        assert_eq!(count_matches(&m, 120, &keys), None);
    }

    #[test]
    fn select_keeps_the_named_primary_key_first() {
        let sources = [Source {
            table: "visits".into(),
            column: "patient_id".into(),
            ordinal: 1,
            values: 10,
            is_key: false,
            distinct: 9,
            exact: None,
        }];
        let keys = [
            RefKey {
                table: "patients".into(),
                column: "patient_id".into(),
                is_pk: true,
                set: KeySet::default(),
            },
            RefKey {
                table: "labs".into(),
                column: "lab_id".into(),
                is_pk: true,
                set: KeySet::default(),
            },
        ];
        let srcs: Vec<&Source> = sources.iter().collect();
        let keys: Vec<&RefKey> = keys.iter().collect();
        let hits = vec![
            Hit {
                source: 0,
                key: 1,
                values: 10,
                matched: 10,
            },
            Hit {
                source: 0,
                key: 0,
                values: 10,
                matched: 9,
            },
        ];
        let out = select(hits, &srcs, &keys);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ref_table, "patients");
        assert_eq!(out[0].orphans, 1);
    }
}
