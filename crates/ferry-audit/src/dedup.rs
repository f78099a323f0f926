//! Probable duplicate patients: blocking, then a weighted score of field agreements.
//!
//! Memory: one compact record per patient (key, normalized first and last names, date of birth,
//! sex, SSN, hashes of the employee number and address: about 80 bytes plus the names), and one
//! `(block key, record)` pair per blocking key (5 per patient, 16 bytes each). Candidate pairs
//! are scored block by block and never stored; only matches are kept.
//!
//! Blocking keys (a pair is compared when it shares one):
//! 1. year of birth with month and day in either order (finds transposed day/month);
//! 2. SSN;
//! 3. normalized last name + first initial, and first name + last initial (finds swapped names);
//! 4. employee number;
//! 5. normalized street address + postal code.
//!
//! Score (the sum; a pair at or above `threshold`, default 8.5, is a probable duplicate):
//!
//! | field | agree | near | disagree | missing |
//! |---|---|---|---|---|
//! | SSN | +7 | one digit or one transposition: +2 | -8 | 0 |
//! | date of birth | +4 | day and month swapped: +2 | -6 | 0 |
//! | last name (Jaro-Winkler) | ≥ 0.94: +3.5 | ≥ 0.88: +2.1 | < 0.75: -1.75 | 0 |
//! | first name | ≥ 0.94: +2.5 | ≥ 0.88: +1.5 | < 0.75: -1.25 | 0 |
//! | names swapped (first ↔ last) | as above, minus 0.5, when better than in place | | | |
//! | sex | +0.5 | | -2 | 0 |
//! | employee number | +4 | | -1.5 | 0 |
//! | address + postal code | +3 | | 0 (people move) | 0 |
//!
//! Matches are grouped (union-find); each group is reported as pairs of its earliest record (in
//! source order, the probable original) with each later one.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// One patient as the matcher sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PatientRec {
    pub key: Box<str>,
    pub first: Box<str>,
    pub last: Box<str>,
    /// (year, month, day)
    pub dob: Option<(i32, u8, u8)>,
    /// b'M' or b'F' (upper case), other codes kept as their first byte.
    pub sex: Option<u8>,
    pub ssn: Option<u32>,
    pub emp: Option<u64>,
    pub addr: Option<u64>,
}

fn hash_of(t: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// Lower case, letters only (accents kept, spaces, hyphens and apostrophes dropped).
pub(crate) fn norm_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A 9-digit SSN, or None for blanks, wrong lengths and well-known placeholders.
pub(crate) fn norm_ssn(s: &str) -> Option<u32> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 9
        || s.chars()
            .any(|c| !(c.is_ascii_digit() || c == '-' || c == ' '))
    {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    let area = n / 1_000_000;
    let group = (n / 10_000) % 100;
    let serial = n % 10_000;
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 || n == 123_456_789 {
        return None;
    }
    Some(n)
}

/// An identifier compared by its digits when it has some (`E012345` = `12345`), else by its text.
pub(crate) fn norm_ident(s: &str) -> Option<u64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        if t.chars().any(|c| c.is_ascii_digit()) {
            return None; // all zeros: a placeholder
        }
        return Some(hash_of(("t", t.to_lowercase())));
    }
    Some(hash_of(("d", digits)))
}

/// Street address and postal code (first five characters), letters and digits only, lower case.
pub(crate) fn norm_address(addr: &str, postal: Option<&str>) -> Option<u64> {
    let a: String = addr
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if a.is_empty() {
        return None;
    }
    let z: String = postal
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(5)
        .collect();
    Some(hash_of((a, z.to_lowercase())))
}

fn name_points(s: f64, w: f64) -> f64 {
    if s >= 0.94 {
        w
    } else if s >= 0.88 {
        w * 0.6
    } else if s < 0.75 {
        -w * 0.5
    } else {
        0.0
    }
}

fn jw(a: &str, b: &str) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        None
    } else {
        Some(strsim::jaro_winkler(a, b))
    }
}

fn ssn_near(a: u32, b: u32) -> bool {
    let da: Vec<u8> = format!("{a:09}").into_bytes();
    let db: Vec<u8> = format!("{b:09}").into_bytes();
    let diff: Vec<usize> = (0..9).filter(|&i| da.get(i) != db.get(i)).collect();
    match diff.as_slice() {
        [_] => true,
        [i, j] if *j == i + 1 => da.get(*i) == db.get(*j) && da.get(*j) == db.get(*i),
        _ => false,
    }
}

/// The agreement score of two records (see the module table).
pub(crate) fn score(a: &PatientRec, b: &PatientRec) -> f64 {
    let mut s = 0.0;
    match (a.ssn, b.ssn) {
        (Some(x), Some(y)) if x == y => s += 7.0,
        (Some(x), Some(y)) if ssn_near(x, y) => s += 2.0,
        (Some(_), Some(_)) => s -= 8.0,
        _ => {}
    }
    match (a.dob, b.dob) {
        (Some(x), Some(y)) if x == y => s += 4.0,
        (Some((ya, ma, da)), Some((yb, mb, db))) if ya == yb && ma == db && da == mb => s += 2.0,
        (Some(_), Some(_)) => s -= 6.0,
        _ => {}
    }
    let direct = jw(&a.last, &b.last).map_or(0.0, |x| name_points(x, 3.5))
        + jw(&a.first, &b.first).map_or(0.0, |x| name_points(x, 2.5));
    let swapped = jw(&a.last, &b.first).map_or(0.0, |x| name_points(x, 3.5))
        + jw(&a.first, &b.last).map_or(0.0, |x| name_points(x, 2.5))
        - 0.5;
    s += direct.max(swapped);
    match (a.sex, b.sex) {
        (Some(x), Some(y)) if x == y => s += 0.5,
        (Some(_), Some(_)) => s -= 2.0,
        _ => {}
    }
    match (a.emp, b.emp) {
        (Some(x), Some(y)) if x == y => s += 4.0,
        (Some(_), Some(_)) => s -= 1.5,
        _ => {}
    }
    if let (Some(x), Some(y)) = (a.addr, b.addr)
        && x == y
    {
        s += 3.0;
    }
    s
}

fn block_keys(r: &PatientRec, out: &mut Vec<u64>) {
    out.clear();
    if let Some((y, m, d)) = r.dob {
        out.push(hash_of((1u8, y, m.min(d), m.max(d))));
    }
    if let Some(ssn) = r.ssn {
        out.push(hash_of((2u8, ssn)));
    }
    if let (Some(fi), false) = (r.first.chars().next(), r.last.is_empty()) {
        out.push(hash_of((3u8, &*r.last, fi)));
    }
    if let (Some(li), false) = (r.last.chars().next(), r.first.is_empty()) {
        out.push(hash_of((3u8, &*r.first, li)));
    }
    if let Some(e) = r.emp {
        out.push(hash_of((4u8, e)));
    }
    if let Some(a) = r.addr {
        out.push(hash_of((5u8, a)));
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while let Some(&p) = parent.get(x as usize) {
        if p == x {
            break;
        }
        let gp = parent.get(p as usize).copied().unwrap_or(p);
        if let Some(slot) = parent.get_mut(x as usize) {
            *slot = gp;
        }
        x = gp;
    }
    x
}

/// The outcome of matching.
#[derive(Debug, Default)]
pub(crate) struct DedupResult {
    /// (earlier record index, later record index), ordered.
    pub pairs: Vec<(usize, usize)>,
    /// Blocks left out because they were larger than `max_block`.
    pub skipped_blocks: u64,
    pub compared: u64,
}

/// Finds probable duplicates among `recs` (in source order).
pub(crate) fn find_duplicates(
    recs: &[PatientRec],
    threshold: f64,
    max_block: usize,
) -> DedupResult {
    let mut out = DedupResult::default();
    let n = recs.len();
    if n < 2 || n > u32::MAX as usize {
        return out;
    }
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(n * 5);
    let mut keys = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        block_keys(r, &mut keys);
        keys.sort_unstable();
        keys.dedup();
        entries.extend(keys.iter().map(|&k| (k, i as u32)));
    }
    entries.sort_unstable();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut matched: HashMap<(u32, u32), ()> = HashMap::new();
    let mut start = 0;
    while start < entries.len() {
        let key = entries.get(start).map(|e| e.0);
        let mut end = start;
        while end < entries.len() && entries.get(end).map(|e| e.0) == key {
            end += 1;
        }
        let block = entries.get(start..end).unwrap_or(&[]);
        start = end;
        if block.len() < 2 {
            continue;
        }
        if block.len() > max_block {
            out.skipped_blocks += 1;
            continue;
        }
        for (x, &(_, i)) in block.iter().enumerate() {
            for &(_, j) in block.iter().skip(x + 1) {
                if matched.contains_key(&(i, j)) {
                    continue;
                }
                let (Some(a), Some(b)) = (recs.get(i as usize), recs.get(j as usize)) else {
                    continue;
                };
                out.compared += 1;
                if score(a, b) >= threshold {
                    matched.insert((i, j), ());
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    if ri != rj {
                        // The smaller index (earlier record) becomes the root.
                        let (lo, hi) = (ri.min(rj), ri.max(rj));
                        if let Some(slot) = parent.get_mut(hi as usize) {
                            *slot = lo;
                        }
                    }
                }
            }
        }
    }
    if matched.is_empty() {
        return out;
    }
    let mut in_group: Vec<u32> = matched.keys().flat_map(|&(i, j)| [i, j]).collect();
    in_group.sort_unstable();
    in_group.dedup();
    for i in in_group {
        let root = find(&mut parent, i);
        if root != i {
            out.pairs.push((root as usize, i as usize));
        }
    }
    out.pairs.sort_unstable();
    out
}

#[cfg(test)]
#[allow(clippy::unreadable_literal)]
mod tests {
    use super::*;

    fn rec(key: &str, first: &str, last: &str, dob: (i32, u8, u8), ssn: Option<u32>) -> PatientRec {
        PatientRec {
            key: key.into(),
            first: norm_name(first).into(),
            last: norm_name(last).into(),
            dob: Some(dob),
            sex: Some(b'M'),
            ssn,
            emp: norm_ident("E012345"),
            addr: norm_address("12 Main St", Some("12345")),
        }
    }

    fn other(key: &str, first: &str, last: &str, dob: (i32, u8, u8), ssn: u32) -> PatientRec {
        PatientRec {
            emp: norm_ident(&ssn.to_string()),
            addr: norm_address(&format!("{ssn} Elm"), Some("99999")),
            ..rec(key, first, last, dob, Some(ssn))
        }
    }

    #[test]
    fn each_kind_of_duplicate_is_found() {
        let orig = rec("1", "John", "Smith", (1970, 3, 4), Some(123456780));
        let typo = rec("2", "John", "Smitth", (1970, 3, 4), Some(123456780));
        let swapped = rec("3", "Smith", "John", (1970, 3, 4), Some(123456780));
        let surname = rec("4", "John", "Jones", (1970, 3, 4), Some(123456780));
        let no_ssn = rec("5", "John", "Smith", (1970, 3, 4), None);
        let dob = rec("6", "John", "Smith", (1970, 4, 3), Some(123456780));
        for d in [&typo, &swapped, &surname, &no_ssn, &dob] {
            assert!(
                score(&orig, d) >= 8.5,
                "{} scored {}",
                d.key,
                score(&orig, d)
            );
        }
        let recs = vec![orig, typo, swapped, surname, no_ssn, dob];
        let r = find_duplicates(&recs, 8.5, 100);
        assert_eq!(r.pairs, vec![(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]);
    }

    #[test]
    fn different_people_sharing_a_name_and_birth_date_but_not_an_ssn_are_not_duplicates() {
        let a = other("1", "John", "Smith", (1970, 3, 4), 123456780);
        let b = other("2", "John", "Smith", (1970, 3, 4), 345671234);
        assert!(score(&a, &b) < 8.5);
        let twin = other("3", "Jane", "Smith", (1970, 3, 4), 456782345);
        assert!(score(&a, &twin) < 8.5);
        assert!(find_duplicates(&[a, b, twin], 8.5, 100).pairs.is_empty());
    }

    #[test]
    fn oversized_blocks_are_skipped_and_counted() {
        let recs: Vec<PatientRec> = (0..5)
            .map(|i| other(&i.to_string(), "A", "B", (1970, 1, 1), 100000001 + i))
            .collect();
        let r = find_duplicates(&recs, 8.5, 3);
        assert!(r.skipped_blocks >= 1);
    }

    #[test]
    fn placeholder_ssns_are_ignored() {
        assert_eq!(norm_ssn("000-00-0000"), None);
        assert_eq!(norm_ssn("123-45-6789"), None);
        assert_eq!(norm_ssn("999-12-3456"), None);
        assert_eq!(norm_ssn("123-45-678"), None);
        assert_eq!(norm_ssn("212-45-6789"), Some(212456789));
        assert_eq!(norm_ssn("212456789"), Some(212456789));
        assert!(ssn_near(212456789, 212456788));
        assert!(ssn_near(212456789, 212456798));
        assert!(!ssn_near(212456789, 212459876));
    }

    #[test]
    fn identifiers_compare_by_digits() {
        assert_eq!(norm_ident("E012345"), norm_ident("12345"));
        assert_ne!(norm_ident("12345"), norm_ident("12346"));
        assert_eq!(norm_ident("000"), None);
        assert_eq!(norm_ident("  "), None);
        assert_eq!(norm_name("O'Brien-Van der Berg"), "obrienvanderberg");
        assert_eq!(norm_name("ÉLODIE"), "élodie");
    }
}
