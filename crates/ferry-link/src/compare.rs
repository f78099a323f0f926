//! Comparison levels: for each identity field, how closely two records agree, as a level index
//! (0 = exact, higher = weaker, the last = different). A value missing on either side gives
//! [`NULL`]: that comparison adds no weight (neutral).

use crate::config::Field;
use crate::nicknames;
use crate::record::{self, Rec, RecordSet};

/// The level of a comparison with a missing value.
pub const NULL: u8 = 15;

/// Levels of each field's comparison, strongest first (labels shown in reports).
pub fn levels(f: Field) -> &'static [&'static str] {
    match f {
        Field::Given => &[
            "exact",
            "nickname",
            "edit distance 1",
            "Jaro-Winkler >= 0.92",
            "same Double Metaphone",
            "Jaro-Winkler >= 0.80",
            "different",
        ],
        Field::Family => &[
            "exact",
            "edit distance 1",
            "Jaro-Winkler >= 0.92",
            "same Double Metaphone",
            "Jaro-Winkler >= 0.80",
            "different",
        ],
        Field::BirthDate => &[
            "exact",
            "day and month transposed",
            "year off by one",
            "one digit differs or two swapped",
            "different",
        ],
        Field::Sex | Field::Email => &["exact", "different"],
        Field::Ssn | Field::Phone | Field::PostalCode => &["exact", "edit distance 1", "different"],
        Field::Address => &[
            "exact",
            "Jaro-Winkler >= 0.90",
            "same street: Jaro-Winkler >= 0.90 with house numbers and spaces ignored",
            "Jaro-Winkler >= 0.75",
            "different",
        ],
        Field::City => &["exact", "Jaro-Winkler >= 0.90", "different"],
    }
}

/// Fields whose exact agreement is weighted by the value's frequency.
pub fn term_frequency_field(f: Field) -> bool {
    matches!(
        f,
        Field::Given | Field::Family | Field::City | Field::PostalCode
    )
}

/// The levels of one pair, indexed by [`Field::index`], packed 4 bits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gamma(pub u64);

impl Gamma {
    pub fn all_null() -> Gamma {
        Gamma(u64::MAX)
    }

    pub fn get(self, f: Field) -> u8 {
        ((self.0 >> (4 * f.index())) & 0xF) as u8
    }

    pub fn set(&mut self, f: Field, level: u8) {
        let shift = 4 * f.index();
        self.0 = (self.0 & !(0xF << shift)) | (u64::from(level & 0xF) << shift);
    }
}

/// Whether two (normalised) addresses name the same street once house numbers and spaces are
/// set aside: `6 trainercourt` and `trainwr ct` (a number left out, words run together, a typo).
/// Jaro-Winkler >= 0.90 on what is left, which must be at least four letters on each side.
fn same_street(a: &str, b: &str) -> bool {
    let (mut bx, mut by) = ([0u8; 64], [0u8; 64]);
    let (x, y) = (street_letters(a, &mut bx), street_letters(b, &mut by));
    x.chars().count() >= 4 && y.chars().count() >= 4 && jw(&x, &y) >= 0.90
}

/// `s` without digits and whitespace. ASCII addresses up to 64 bytes (nearly all) are filtered
/// into `buf` on the stack: this runs for most compared pairs.
fn street_letters<'b>(s: &str, buf: &'b mut [u8; 64]) -> std::borrow::Cow<'b, str> {
    if s.is_ascii() && s.len() <= buf.len() {
        let mut n = 0;
        for b in s
            .bytes()
            .filter(|b| !b.is_ascii_digit() && !b.is_ascii_whitespace())
        {
            if let Some(slot) = buf.get_mut(n) {
                *slot = b;
                n += 1;
            }
        }
        if let Some(Ok(t)) = buf.get(..n).map(std::str::from_utf8) {
            return std::borrow::Cow::Borrowed(t);
        }
    }
    std::borrow::Cow::Owned(
        s.chars()
            .filter(|c| !c.is_ascii_digit() && !c.is_whitespace())
            .collect(),
    )
}

/// Jaro-Winkler similarity. ASCII strings up to 64 bytes (nearly every normalised name) take an
/// allocation-free path that gives exactly strsim's result (a property test checks it); others
/// go to strsim.
fn jw(a: &str, b: &str) -> f64 {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !(a.is_ascii() && b.is_ascii() && x.len() <= 64 && y.len() <= 64) {
        return strsim::jaro_winkler(a, b);
    }
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let window = (x.len().max(y.len()) / 2).saturating_sub(1);
    let mut used = [false; 64];
    let mut x_match = [0u8; 64];
    let mut m = 0usize;
    for (i, &c) in x.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(y.len());
        for j in lo..hi {
            if let (Some(u), Some(&d)) = (used.get_mut(j), y.get(j))
                && !*u
                && d == c
            {
                *u = true;
                if let Some(slot) = x_match.get_mut(m) {
                    *slot = c;
                }
                m += 1;
                break;
            }
        }
    }
    if m == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut k = 0usize;
    for (j, &d) in y.iter().enumerate() {
        if used.get(j).copied().unwrap_or(false) {
            if x_match.get(k).copied() != Some(d) {
                transpositions += 1;
            }
            k += 1;
        }
    }
    let mf = m as f64;
    let jaro =
        (mf / x.len() as f64 + mf / y.len() as f64 + (mf - (transpositions / 2) as f64) / mf) / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = x
        .iter()
        .zip(y.iter())
        .take(4)
        .take_while(|(p, q)| p == q)
        .count() as f64;
    jaro + 0.1 * prefix * (1.0 - jaro)
}

/// Whether the optimal-string-alignment distance is at most 1 (one substitution, insertion,
/// deletion or adjacent transposition), without allocating.
fn edit1(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if x.len().abs_diff(y.len()) > 1 {
        return false;
    }
    if !(a.is_ascii() && b.is_ascii()) {
        return strsim::osa_distance(a, b) <= 1;
    }
    let Some(i) = x.iter().zip(y.iter()).position(|(p, q)| p != q) else {
        return true; // one is a prefix of the other, lengths differ by at most 1
    };
    let rest = |p: usize, q: usize| x.get(p..) == y.get(q..);
    match x.len().cmp(&y.len()) {
        std::cmp::Ordering::Equal => {
            rest(i + 1, i + 1)
                || (x.get(i) == y.get(i + 1) && x.get(i + 1) == y.get(i) && rest(i + 2, i + 2))
        }
        std::cmp::Ordering::Greater => rest(i + 1, i),
        std::cmp::Ordering::Less => rest(i, i + 1),
    }
}

fn given_level(a: &str, b: &str, pa: u32, pb: u32) -> u8 {
    if a == b {
        0
    } else if nicknames::known(a) && nicknames::same_name(a, b) {
        1
    } else if edit1(a, b) {
        2
    } else {
        let s = jw(a, b);
        if s >= 0.92 {
            3
        } else if pa != 0 && pa == pb {
            4
        } else if s >= 0.80 {
            5
        } else {
            6
        }
    }
}

fn family_level(a: &str, b: &str, pa: u32, pb: u32) -> u8 {
    if a == b {
        0
    } else if edit1(a, b) {
        1
    } else {
        let s = jw(a, b);
        if s >= 0.92 {
            2
        } else if pa != 0 && pa == pb {
            3
        } else if s >= 0.80 {
            4
        } else {
            5
        }
    }
}

fn date_level(a: u32, b: u32) -> u8 {
    if a == 0 || b == 0 {
        return NULL;
    }
    if a == b {
        return 0;
    }
    let (ya, ma, da) = (a / 10_000, a / 100 % 100, a % 100);
    let (yb, mb, db) = (b / 10_000, b / 100 % 100, b % 100);
    if ya == yb && ma == db && da == mb {
        return 1;
    }
    if ma == mb && da == db && ya.abs_diff(yb) == 1 {
        return 2;
    }
    if digits_close(a, b) {
        return 3;
    }
    4
}

/// Whether two 8-digit dates differ in one digit or by two adjacent digits swapped.
fn digits_close(a: u32, b: u32) -> bool {
    let mut da = [0u32; 8];
    let mut db = [0u32; 8];
    let (mut x, mut y) = (a, b);
    for k in (0..8).rev() {
        if let (Some(p), Some(q)) = (da.get_mut(k), db.get_mut(k)) {
            *p = x % 10;
            *q = y % 10;
        }
        x /= 10;
        y /= 10;
    }
    let diff: Vec<usize> = (0..8).filter(|&k| da.get(k) != db.get(k)).collect();
    match diff.as_slice() {
        [_] => true,
        [i, j] if *j == i + 1 => da.get(*i) == db.get(*j) && da.get(*j) == db.get(*i),
        _ => false,
    }
}

fn text_level(a: &str, b: &str, f: impl FnOnce(&str, &str) -> u8) -> u8 {
    if a.is_empty() || b.is_empty() {
        NULL
    } else if a == b {
        0
    } else {
        f(a, b)
    }
}

/// Computes the levels of a pair for the active fields. Returns the levels and whether the
/// names were compared crosswise (first name of one against the last name of the other), which
/// happens when that orientation agrees clearly better.
pub(crate) fn compare(set: &RecordSet, a: &Rec, b: &Rec, active: &[bool; 10]) -> (Gamma, bool) {
    let mut g = Gamma::all_null();
    let on = |f: Field| active.get(f.index()).copied().unwrap_or(false);
    let (ga, gb) = (set.text(a, record::GIVEN), set.text(b, record::GIVEN));
    let (fa, fb) = (set.text(a, record::FAMILY), set.text(b, record::FAMILY));
    let mut swapped = false;
    let (mut gb2, mut fb2, mut gph, mut fph) = (gb, fb, b.given_ph, b.family_ph);
    if on(Field::Given)
        && on(Field::Family)
        && !ga.is_empty()
        && !fa.is_empty()
        && !gb.is_empty()
        && !fb.is_empty()
        && !(ga == gb && fa == fb)
        && (ga == fb || fa == gb)
    {
        let direct = jw(ga, gb) + jw(fa, fb);
        let cross = jw(ga, fb) + jw(fa, gb);
        if cross > direct + 0.1 {
            swapped = true;
            (gb2, fb2, gph, fph) = (fb, gb, b.family_ph, b.given_ph);
        }
    }
    if on(Field::Given) {
        let pa = a.given_ph;
        g.set(
            Field::Given,
            text_level(ga, gb2, |x, y| given_level(x, y, pa, gph)),
        );
    }
    if on(Field::Family) {
        let pa = a.family_ph;
        g.set(
            Field::Family,
            text_level(fa, fb2, |x, y| family_level(x, y, pa, fph)),
        );
    }
    if on(Field::BirthDate) {
        g.set(Field::BirthDate, date_level(a.dob, b.dob));
    }
    if on(Field::Sex) {
        g.set(
            Field::Sex,
            match (a.sex, b.sex) {
                (0, _) | (_, 0) => NULL,
                (x, y) if x == y => 0,
                _ => 1,
            },
        );
    }
    let simple = |slot: usize, f: &dyn Fn(&str, &str) -> u8| {
        text_level(set.text(a, slot), set.text(b, slot), f)
    };
    if on(Field::Ssn) {
        g.set(
            Field::Ssn,
            simple(record::SSN, &|x, y| if edit1(x, y) { 1 } else { 2 }),
        );
    }
    if on(Field::Phone) {
        g.set(
            Field::Phone,
            simple(record::PHONE, &|x, y| if edit1(x, y) { 1 } else { 2 }),
        );
    }
    if on(Field::Address) {
        g.set(
            Field::Address,
            simple(record::ADDRESS, &|x, y| {
                let s = jw(x, y);
                if s >= 0.90 {
                    1
                } else if same_street(x, y) {
                    2
                } else if s >= 0.75 {
                    3
                } else {
                    4
                }
            }),
        );
    }
    if on(Field::City) {
        g.set(
            Field::City,
            simple(record::CITY, &|x, y| if jw(x, y) >= 0.90 { 1 } else { 2 }),
        );
    }
    if on(Field::PostalCode) {
        g.set(
            Field::PostalCode,
            simple(record::POSTAL, &|x, y| if edit1(x, y) { 1 } else { 2 }),
        );
    }
    if on(Field::Email) {
        g.set(Field::Email, simple(record::EMAIL, &|_, _| 1));
    }
    (g, swapped)
}

/// The normalised value of `f` of record `r` used for term frequencies, given the orientation.
pub(crate) fn tf_value<'a>(set: &'a RecordSet, r: &Rec, f: Field) -> &'a str {
    match f {
        Field::Given => set.text(r, record::GIVEN),
        Field::Family => set.text(r, record::FAMILY),
        Field::City => set.text(r, record::CITY),
        Field::PostalCode => set.text(r, record::POSTAL),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RawRecord;

    fn set_of(rows: &[[&str; 5]]) -> RecordSet {
        let mut s = RecordSet::new();
        for (i, r) in rows.iter().enumerate() {
            let mut raw = RawRecord {
                key: i.to_string(),
                ..Default::default()
            };
            raw.set(Field::Given, Some(r[0].into()));
            raw.set(Field::Family, Some(r[1].into()));
            raw.set(Field::BirthDate, Some(r[2].into()));
            raw.set(Field::Ssn, Some(r[3].into()));
            raw.set(Field::Sex, Some(r[4].into()));
            s.push(&raw).unwrap();
        }
        s
    }

    #[test]
    fn same_street_sets_house_numbers_and_spaces_aside() {
        assert!(same_street("trainwr ct", "6 trainercourt"));
        assert!(same_street("12 main st", "14 main st"));
        assert!(same_street("12 mäin st", "14 main st"));
        assert!(!same_street("12 main st", "12 oak ave"));
        assert!(!same_street("12 a", "14 a")); // too little left to tell streets apart
        assert!(!same_street("", "6 trainercourt"));
    }

    fn levels_of(s: &RecordSet, i: u32, j: u32) -> (Gamma, bool) {
        let (Some(a), Some(b)) = (s.rec(i), s.rec(j)) else {
            panic!("no record");
        };
        compare(s, a, b, &[true; 10])
    }

    #[test]
    fn each_level_is_reached() {
        let s = set_of(&[
            ["John", "Smith", "1970-03-04", "212-45-6789", "M"],
            ["Jack", "Smitth", "1970-04-03", "212-45-6798", "M"],
            ["Smith", "John", "1971-03-04", "", "F"],
            ["Jhon", "Smyth", "1970-03-14", "212456789", ""],
            ["Mary", "Jones", "1980-01-01", "312-45-6789", "F"],
        ]);
        let (g, sw) = levels_of(&s, 0, 1);
        assert!(!sw);
        assert_eq!(g.get(Field::Given), 1, "nickname");
        assert_eq!(g.get(Field::Family), 1, "edit 1");
        assert_eq!(g.get(Field::BirthDate), 1, "transposed");
        assert_eq!(g.get(Field::Ssn), 1, "transposed digits");
        assert_eq!(g.get(Field::Sex), 0);
        let (g, sw) = levels_of(&s, 0, 2);
        assert!(sw, "names swapped");
        assert_eq!(g.get(Field::Given), 0);
        assert_eq!(g.get(Field::Family), 0);
        assert_eq!(g.get(Field::BirthDate), 2, "year off by one");
        assert_eq!(g.get(Field::Ssn), NULL, "missing is neutral");
        assert_eq!(g.get(Field::Sex), 1);
        let (g, _) = levels_of(&s, 0, 3);
        assert_eq!(g.get(Field::Given), 2);
        assert_eq!(g.get(Field::BirthDate), 3, "one digit");
        assert_eq!(g.get(Field::Ssn), 0);
        assert_eq!(g.get(Field::Sex), NULL);
        let (g, _) = levels_of(&s, 0, 4);
        assert_eq!(g.get(Field::Given), 6);
        assert_eq!(g.get(Field::Family), 5);
        assert_eq!(g.get(Field::BirthDate), 4);
        assert_eq!(g.get(Field::Ssn), 1);
        assert_eq!(g.get(Field::Phone), NULL);
    }

    proptest::proptest! {
        #[test]
        fn fast_similarities_equal_strsim(a in "[a-e]{0,12}", b in "[a-e]{0,12}") {
            proptest::prop_assert!((jw(&a, &b) - strsim::jaro_winkler(&a, &b)).abs() < 1e-12);
            proptest::prop_assert_eq!(edit1(&a, &b), strsim::osa_distance(&a, &b) <= 1);
        }

        #[test]
        fn similarities_never_panic(a in "\\PC{0,70}", b in "\\PC{0,70}") {
            let _ = jw(&a, &b);
            let _ = edit1(&a, &b);
        }
    }

    #[test]
    fn gamma_packs_levels() {
        let mut g = Gamma::all_null();
        g.set(Field::Sex, 1);
        g.set(Field::Email, 0);
        assert_eq!(g.get(Field::Sex), 1);
        assert_eq!(g.get(Field::Email), 0);
        assert_eq!(g.get(Field::Given), NULL);
        for f in Field::ALL {
            assert!(levels(f).len() < NULL as usize);
        }
    }
}
