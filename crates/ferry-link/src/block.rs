//! Blocking rules: a rule is a list of keys joined with `+`; two records are compared when every
//! key of some rule is present and equal in both. A record's key for a rule is one 64-bit hash
//! (0 when a part is missing, so records without the value are never blocked together).

use crate::LinkError;
use crate::config::Field;
use crate::normalize::fnv;
use crate::record::{self, Rec, RecordSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKey {
    Given,
    Family,
    GivenInitial,
    FamilyInitial,
    GivenPhonetic,
    FamilyPhonetic,
    NamesAnyOrder,
    BirthDate,
    BirthYear,
    BirthDateAnyOrder,
    Ssn,
    Phone,
    Address,
    City,
    PostalCode,
    Email,
}

const NAMES: [(&str, BlockKey); 16] = [
    ("given", BlockKey::Given),
    ("family", BlockKey::Family),
    ("given_initial", BlockKey::GivenInitial),
    ("family_initial", BlockKey::FamilyInitial),
    ("given_phonetic", BlockKey::GivenPhonetic),
    ("family_phonetic", BlockKey::FamilyPhonetic),
    ("names_any_order", BlockKey::NamesAnyOrder),
    ("birth_date", BlockKey::BirthDate),
    ("birth_year", BlockKey::BirthYear),
    ("birth_date_any_order", BlockKey::BirthDateAnyOrder),
    ("ssn", BlockKey::Ssn),
    ("phone", BlockKey::Phone),
    ("address", BlockKey::Address),
    ("city", BlockKey::City),
    ("postal_code", BlockKey::PostalCode),
    ("email", BlockKey::Email),
];

impl BlockKey {
    /// The fields this key looks at (their comparisons are not trained on this rule's pairs).
    pub fn fields(self) -> &'static [Field] {
        match self {
            BlockKey::Given | BlockKey::GivenInitial | BlockKey::GivenPhonetic => &[Field::Given],
            BlockKey::Family | BlockKey::FamilyInitial | BlockKey::FamilyPhonetic => {
                &[Field::Family]
            }
            BlockKey::NamesAnyOrder => &[Field::Given, Field::Family],
            BlockKey::BirthDate | BlockKey::BirthYear | BlockKey::BirthDateAnyOrder => {
                &[Field::BirthDate]
            }
            BlockKey::Ssn => &[Field::Ssn],
            BlockKey::Phone => &[Field::Phone],
            BlockKey::Address => &[Field::Address],
            BlockKey::City => &[Field::City],
            BlockKey::PostalCode => &[Field::PostalCode],
            BlockKey::Email => &[Field::Email],
        }
    }
}

/// A parsed blocking rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub text: String,
    pub keys: Vec<BlockKey>,
}

impl Rule {
    pub fn fields(&self) -> Vec<Field> {
        let mut v: Vec<Field> = self
            .keys
            .iter()
            .flat_map(|k| k.fields().iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

pub fn parse_rule(text: &str) -> Result<Rule, LinkError> {
    let mut keys = Vec::new();
    for part in text.split('+') {
        let p = part.trim();
        let Some((_, k)) = NAMES.iter().find(|(n, _)| *n == p) else {
            return Err(LinkError::Config(format!(
                "unknown blocking key `{p}` in rule `{text}` under [dedupe]; known keys: {}",
                NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )));
        };
        keys.push(*k);
    }
    Ok(Rule {
        text: text.to_string(),
        keys,
    })
}

/// The key of record `r` under `rule` (number `rule_no`), or 0 when a part is missing.
pub(crate) fn key_of(set: &RecordSet, r: &Rec, rule: &Rule, rule_no: usize) -> u64 {
    let mut buf: Vec<u8> = Vec::with_capacity(48);
    buf.extend_from_slice(&(rule_no as u32).to_le_bytes());
    for k in &rule.keys {
        let start = buf.len();
        match k {
            BlockKey::Given => buf.extend_from_slice(set.text(r, record::GIVEN).as_bytes()),
            BlockKey::Family => buf.extend_from_slice(set.text(r, record::FAMILY).as_bytes()),
            BlockKey::GivenInitial => {
                if let Some(c) = set.text(r, record::GIVEN).chars().next() {
                    buf.extend_from_slice(c.to_string().as_bytes());
                }
            }
            BlockKey::FamilyInitial => {
                if let Some(c) = set.text(r, record::FAMILY).chars().next() {
                    buf.extend_from_slice(c.to_string().as_bytes());
                }
            }
            BlockKey::GivenPhonetic => {
                if r.given_ph != 0 {
                    buf.extend_from_slice(&r.given_ph.to_le_bytes());
                }
            }
            BlockKey::FamilyPhonetic => {
                if r.family_ph != 0 {
                    buf.extend_from_slice(&r.family_ph.to_le_bytes());
                }
            }
            BlockKey::NamesAnyOrder => {
                let (g, f) = (set.text(r, record::GIVEN), set.text(r, record::FAMILY));
                if g.is_empty() || f.is_empty() {
                    return 0;
                }
                let (lo, hi) = if g <= f { (g, f) } else { (f, g) };
                buf.extend_from_slice(lo.as_bytes());
                buf.push(0);
                buf.extend_from_slice(hi.as_bytes());
            }
            BlockKey::BirthDate => {
                if r.dob != 0 {
                    buf.extend_from_slice(&r.dob.to_le_bytes());
                }
            }
            BlockKey::BirthYear => {
                if r.dob != 0 {
                    buf.extend_from_slice(&(r.dob / 10_000).to_le_bytes());
                }
            }
            BlockKey::BirthDateAnyOrder => {
                if r.dob != 0 {
                    let (y, m, d) = (r.dob / 10_000, r.dob / 100 % 100, r.dob % 100);
                    let v = y * 10_000 + m.min(d) * 100 + m.max(d);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            BlockKey::Ssn => buf.extend_from_slice(set.text(r, record::SSN).as_bytes()),
            BlockKey::Phone => buf.extend_from_slice(set.text(r, record::PHONE).as_bytes()),
            BlockKey::Address => buf.extend_from_slice(set.text(r, record::ADDRESS).as_bytes()),
            BlockKey::City => buf.extend_from_slice(set.text(r, record::CITY).as_bytes()),
            BlockKey::PostalCode => buf.extend_from_slice(set.text(r, record::POSTAL).as_bytes()),
            BlockKey::Email => buf.extend_from_slice(set.text(r, record::EMAIL).as_bytes()),
        }
        if buf.len() == start {
            return 0;
        }
        buf.push(0xFF);
    }
    fnv(&buf).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RawRecord;

    #[test]
    fn rules_parse_and_unknown_keys_are_named() {
        let r = parse_rule("family_phonetic+given_initial").unwrap();
        assert_eq!(
            r.keys,
            vec![BlockKey::FamilyPhonetic, BlockKey::GivenInitial]
        );
        assert_eq!(r.fields(), vec![Field::Given, Field::Family]);
        let e = parse_rule("dob").unwrap_err().to_string();
        assert!(e.contains("`dob`") && e.contains("birth_date"), "{e}");
    }

    #[test]
    fn keys_agree_for_transposed_dates_and_swapped_names_and_are_zero_when_missing() {
        let mut s = RecordSet::new();
        for (g, f, d) in [
            ("John", "Smith", "1970-03-04"),
            ("Smith", "John", "1970-04-03"),
            ("", "Smith", ""),
        ] {
            let mut raw = RawRecord::default();
            raw.set(Field::Given, Some(g.into()));
            raw.set(Field::Family, Some(f.into()));
            raw.set(Field::BirthDate, Some(d.into()));
            s.push(&raw).unwrap();
        }
        let recs = s.recs();
        let any = parse_rule("birth_date_any_order+names_any_order").unwrap();
        let exact = parse_rule("birth_date").unwrap();
        let k = |i: usize, r: &Rule| key_of(&s, &recs[i], r, 0);
        assert_eq!(k(0, &any), k(1, &any));
        assert_ne!(k(0, &exact), k(1, &exact));
        assert_eq!(k(2, &any), 0);
        assert_eq!(k(2, &exact), 0);
        assert_ne!(key_of(&s, &recs[0], &exact, 1), k(0, &exact));
    }
}
