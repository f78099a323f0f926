//! Compact records: one fixed-size entry per patient and every string in one arena.
//!
//! Per record: 10 `u32` offsets into the arena (key, given, family, SSN, phone, address, city,
//! postal code, e-mail and an end), the packed birth date, sex, side, completeness, the hashed
//! Double Metaphone codes of both names and the survivorship instant: 72 bytes, plus the
//! normalised text (about 60 bytes for a typical patient). One million patients take about
//! 130 MB.

use crate::LinkError;
use crate::config::Field;
use crate::normalize;

/// Indices of the text slots in a record.
pub(crate) const KEY: usize = 0;
pub(crate) const GIVEN: usize = 1;
pub(crate) const FAMILY: usize = 2;
pub(crate) const SSN: usize = 3;
pub(crate) const PHONE: usize = 4;
pub(crate) const ADDRESS: usize = 5;
pub(crate) const CITY: usize = 6;
pub(crate) const POSTAL: usize = 7;
pub(crate) const EMAIL: usize = 8;
const SLOTS: usize = 9;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec {
    off: [u32; SLOTS + 1],
    pub dob: u32,
    pub sex: u8,
    pub side: u8,
    pub filled: u8,
    pub given_ph: u32,
    pub family_ph: u32,
    pub updated: Option<i64>,
}

/// Raw identity values of one record, indexed by [`Field::index`] (multi-column fields already
/// joined with a space).
#[derive(Debug, Default, Clone)]
pub struct RawRecord {
    pub key: String,
    /// 0 or 1: which source the record comes from (link tasks); 0 for a dedupe.
    pub side: u8,
    pub values: [Option<String>; 10],
    pub updated: Option<String>,
}

impl RawRecord {
    pub fn set(&mut self, f: Field, v: Option<String>) {
        if let Some(slot) = self.values.get_mut(f.index()) {
            *slot = v;
        }
    }

    fn get(&self, f: Field) -> &str {
        self.values
            .get(f.index())
            .and_then(|v| v.as_deref())
            .unwrap_or("")
    }
}

/// The records being linked.
#[derive(Debug, Default)]
pub struct RecordSet {
    recs: Vec<Rec>,
    arena: String,
}

impl RecordSet {
    pub fn new() -> RecordSet {
        RecordSet::default()
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Bytes held (records and arena), for the memory figures.
    pub fn heap_bytes(&self) -> usize {
        self.recs.capacity() * std::mem::size_of::<Rec>() + self.arena.capacity()
    }

    /// Normalises and adds one record.
    pub fn push(&mut self, raw: &RawRecord) -> Result<(), LinkError> {
        if self.recs.len() >= (u32::MAX - 1) as usize {
            return Err(LinkError::TooLarge(
                "more than 4 billion records".to_string(),
            ));
        }
        let given = normalize::name(raw.get(Field::Given));
        let family = normalize::name(raw.get(Field::Family));
        let texts: [String; SLOTS] = [
            raw.key.clone(),
            given,
            family,
            normalize::identifier(raw.get(Field::Ssn)),
            normalize::phone(raw.get(Field::Phone)),
            normalize::text(raw.get(Field::Address)),
            normalize::text(raw.get(Field::City)),
            normalize::postal(raw.get(Field::PostalCode)),
            normalize::email(raw.get(Field::Email)),
        ];
        let mut off = [0u32; SLOTS + 1];
        let total: usize = texts.iter().map(String::len).sum();
        if self.arena.len() + total >= u32::MAX as usize {
            return Err(LinkError::TooLarge(
                "more than 4 GB of identity text".to_string(),
            ));
        }
        for (i, t) in texts.iter().enumerate() {
            if let Some(o) = off.get_mut(i) {
                *o = self.arena.len() as u32;
            }
            self.arena.push_str(t);
        }
        if let Some(o) = off.get_mut(SLOTS) {
            *o = self.arena.len() as u32;
        }
        let dob = normalize::date(raw.get(Field::BirthDate));
        let sex = normalize::sex(raw.get(Field::Sex));
        let filled = texts.iter().skip(1).filter(|t| !t.is_empty()).count() as u8
            + u8::from(dob != 0)
            + u8::from(sex != 0);
        let given_ph = texts.get(GIVEN).map_or(0, |s| normalize::phonetic(s));
        let family_ph = texts.get(FAMILY).map_or(0, |s| normalize::phonetic(s));
        self.recs.push(Rec {
            off,
            dob,
            sex,
            side: raw.side,
            filled,
            given_ph,
            family_ph,
            updated: raw.updated.as_deref().and_then(normalize::instant),
        });
        Ok(())
    }

    pub(crate) fn rec(&self, i: u32) -> Option<&Rec> {
        self.recs.get(i as usize)
    }

    pub(crate) fn recs(&self) -> &[Rec] {
        &self.recs
    }

    /// The normalised text in `slot` of `r`.
    pub(crate) fn text(&self, r: &Rec, slot: usize) -> &str {
        match (r.off.get(slot), r.off.get(slot + 1)) {
            (Some(&a), Some(&b)) => self.arena.get(a as usize..b as usize).unwrap_or(""),
            _ => "",
        }
    }

    /// The source key of record `i`.
    pub fn key(&self, i: u32) -> &str {
        self.rec(i).map_or("", |r| self.text(r, KEY))
    }

    /// Number of non-empty identity fields of record `i` (survivorship: most complete).
    pub fn filled(&self, i: u32) -> u8 {
        self.rec(i).map_or(0, |r| r.filled)
    }

    /// The survivorship instant of record `i` (from the `updated` column).
    pub fn updated(&self, i: u32) -> Option<i64> {
        self.rec(i).and_then(|r| r.updated)
    }

    pub fn side(&self, i: u32) -> u8 {
        self.rec(i).map_or(0, |r| r.side)
    }

    /// The normalised value of a field of record `i` (PHI: for the report files only).
    pub fn value(&self, i: u32, f: Field) -> String {
        let Some(r) = self.rec(i) else {
            return String::new();
        };
        match f {
            Field::Given => self.text(r, GIVEN).into(),
            Field::Family => self.text(r, FAMILY).into(),
            Field::Ssn => self.text(r, SSN).into(),
            Field::Phone => self.text(r, PHONE).into(),
            Field::Address => self.text(r, ADDRESS).into(),
            Field::City => self.text(r, CITY).into(),
            Field::PostalCode => self.text(r, POSTAL).into(),
            Field::Email => self.text(r, EMAIL).into(),
            Field::BirthDate if r.dob != 0 => format!(
                "{:04}-{:02}-{:02}",
                r.dob / 10_000,
                r.dob / 100 % 100,
                r.dob % 100
            ),
            Field::Sex if r.sex != 0 => (r.sex as char).to_string(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_arena() {
        let mut set = RecordSet::new();
        let mut raw = RawRecord {
            key: "17".into(),
            ..Default::default()
        };
        raw.set(Field::Given, Some("Élodie".into()));
        raw.set(Field::Family, Some("SMITH".into()));
        raw.set(Field::BirthDate, Some("03/04/1970".into()));
        raw.set(Field::Sex, Some("f".into()));
        set.push(&raw).unwrap();
        set.push(&RawRecord {
            key: "18".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(set.key(0), "17");
        assert_eq!(set.value(0, Field::Given), "elodie");
        assert_eq!(set.value(0, Field::Family), "smith");
        assert_eq!(set.value(0, Field::BirthDate), "1970-03-04");
        assert_eq!(set.value(0, Field::Sex), "F");
        assert_eq!(set.filled(0), 4);
        assert_eq!(set.key(1), "18");
        assert_eq!(set.filled(1), 0);
        assert_eq!(set.key(7), "");
        assert!(std::mem::size_of::<Rec>() <= 72);
    }
}
