//! The `[dedupe]` section of `ferry.toml`: which table and columns form a patient's identity,
//! the blocking rules and the threshold. Every part has a default; the identity columns are
//! proposed from column names (the profile's PHI rules) when they are not given.

use crate::LinkError;
use serde::{Deserialize, Serialize};

/// One identity field, compared with its own levels (see `compare.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Given,
    Family,
    BirthDate,
    Sex,
    Ssn,
    Phone,
    Address,
    City,
    PostalCode,
    Email,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Given,
        Field::Family,
        Field::BirthDate,
        Field::Sex,
        Field::Ssn,
        Field::Phone,
        Field::Address,
        Field::City,
        Field::PostalCode,
        Field::Email,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::Given => "given",
            Field::Family => "family",
            Field::BirthDate => "birth_date",
            Field::Sex => "sex",
            Field::Ssn => "ssn",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::City => "city",
            Field::PostalCode => "postal_code",
            Field::Email => "email",
        }
    }
}

/// One column, or several joined with a space (e.g. `["street_number", "address_1"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Columns {
    One(String),
    Many(Vec<String>),
}

impl Columns {
    pub fn names(&self) -> Vec<&str> {
        match self {
            Columns::One(s) => vec![s.as_str()],
            Columns::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// `[dedupe]` in ferry.toml. Unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// The patient table (default: proposed from table and column names).
    #[serde(default)]
    pub table: Option<String>,
    /// The column holding each patient's source key (default: the table's primary key).
    #[serde(default)]
    pub key: Option<String>,
    /// The mapping module that makes each patient's resource, where `ferry run` applies
    /// accepted merges (default: the module named like the table).
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub given: Option<Columns>,
    #[serde(default)]
    pub family: Option<Columns>,
    #[serde(default)]
    pub birth_date: Option<Columns>,
    #[serde(default)]
    pub sex: Option<Columns>,
    #[serde(default)]
    pub ssn: Option<Columns>,
    #[serde(default)]
    pub phone: Option<Columns>,
    #[serde(default)]
    pub address: Option<Columns>,
    #[serde(default)]
    pub city: Option<Columns>,
    #[serde(default)]
    pub postal_code: Option<Columns>,
    #[serde(default)]
    pub email: Option<Columns>,
    /// A date or datetime column: the most recent record of an accepted cluster survives.
    #[serde(default)]
    pub updated: Option<String>,
    /// Only link records whose value in this column differs (a link task between two sources
    /// staged as one table, e.g. FEBRL4's A and B files).
    #[serde(default)]
    pub link_column: Option<String>,
    /// Match probability at or above which two records are linked (0 < p < 1).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Blocks with more records than this are skipped and reported (their pairs are not compared).
    #[serde(default = "default_max_block")]
    pub max_block: usize,
    /// Blocking rules, unioned: a pair is compared when it agrees on every key of any rule.
    /// Keys: given, family, given_initial, family_initial, given_phonetic, family_phonetic,
    /// names_any_order, birth_date, birth_year, birth_date_any_order, ssn, phone, address, city,
    /// postal_code, email. A rule joins keys with `+`, e.g. `"family_phonetic+given_initial"`.
    #[serde(default = "default_blocking")]
    pub blocking: Vec<String>,
    /// Fields not to compare even when their columns are known.
    #[serde(default)]
    pub skip: Vec<Field>,
    /// Random pairs drawn to estimate the u-probabilities (at most 50 per record).
    #[serde(default = "default_u_pairs")]
    pub u_pairs: u64,
    /// Seed of the random pairs (same seed, same model).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Term-frequency adjustment of exact agreement on names, city and postal code.
    #[serde(default = "default_true")]
    pub term_frequency: bool,
}

fn default_threshold() -> f64 {
    0.9
}
fn default_max_block() -> usize {
    2000
}
fn default_u_pairs() -> u64 {
    1_000_000
}
fn default_seed() -> u64 {
    42
}
fn default_true() -> bool {
    true
}

/// The default blocking rules (each finds a different kind of duplicate: a typo in a name keeps
/// the birth date; a transposed birth date keeps the names and SSN; swapped names keep the rest).
pub fn default_blocking() -> Vec<String> {
    [
        "birth_date_any_order",
        "ssn",
        "family_phonetic+given_initial",
        "names_any_order",
        "phone",
        "address+postal_code",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            table: None,
            key: None,
            module: None,
            given: None,
            family: None,
            birth_date: None,
            sex: None,
            ssn: None,
            phone: None,
            address: None,
            city: None,
            postal_code: None,
            email: None,
            updated: None,
            link_column: None,
            threshold: default_threshold(),
            max_block: default_max_block(),
            blocking: default_blocking(),
            skip: Vec::new(),
            u_pairs: default_u_pairs(),
            seed: default_seed(),
            term_frequency: true,
        }
    }
}

impl DedupeConfig {
    pub fn columns(&self, f: Field) -> Option<&Columns> {
        match f {
            Field::Given => self.given.as_ref(),
            Field::Family => self.family.as_ref(),
            Field::BirthDate => self.birth_date.as_ref(),
            Field::Sex => self.sex.as_ref(),
            Field::Ssn => self.ssn.as_ref(),
            Field::Phone => self.phone.as_ref(),
            Field::Address => self.address.as_ref(),
            Field::City => self.city.as_ref(),
            Field::PostalCode => self.postal_code.as_ref(),
            Field::Email => self.email.as_ref(),
        }
    }

    fn columns_mut(&mut self, f: Field) -> &mut Option<Columns> {
        match f {
            Field::Given => &mut self.given,
            Field::Family => &mut self.family,
            Field::BirthDate => &mut self.birth_date,
            Field::Sex => &mut self.sex,
            Field::Ssn => &mut self.ssn,
            Field::Phone => &mut self.phone,
            Field::Address => &mut self.address,
            Field::City => &mut self.city,
            Field::PostalCode => &mut self.postal_code,
            Field::Email => &mut self.email,
        }
    }

    /// Fields that are configured and not skipped.
    pub fn active_fields(&self) -> Vec<Field> {
        Field::ALL
            .into_iter()
            .filter(|f| self.columns(*f).is_some() && !self.skip.contains(f))
            .collect()
    }

    /// Checks the settings that do not depend on the data.
    pub fn validate(&self) -> Result<(), LinkError> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(LinkError::Config(format!(
                "`threshold` under [dedupe] must be a probability between 0 and 1 (exclusive), not {}",
                self.threshold
            )));
        }
        if self.max_block < 2 {
            return Err(LinkError::Config(
                "`max_block` under [dedupe] must be at least 2".into(),
            ));
        }
        if self.blocking.is_empty() {
            return Err(LinkError::Config(
                "`blocking` under [dedupe] is empty: give at least one rule, e.g. `blocking = [\"birth_date\"]`".into(),
            ));
        }
        for rule in &self.blocking {
            crate::block::parse_rule(rule)?;
        }
        Ok(())
    }

    /// Fills the table, key and identity columns that are not set, from the tables' column
    /// names. Returns a line per choice (for the terminal: names only, no values).
    pub fn fill_defaults(&mut self, tables: &[TableColumns]) -> Result<Vec<String>, LinkError> {
        let mut chosen = Vec::new();
        let table = match &self.table {
            Some(t) => tables
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(t))
                .ok_or_else(|| {
                    LinkError::Config(format!(
                        "the [dedupe] table `{t}` is not in the snapshot. Run `ferry snapshots --tables` to list the staged tables"
                    ))
                })?,
            None => {
                let t = propose_table(tables).ok_or_else(|| {
                    LinkError::Config(
                        "no patient table found (one with first name, last name and birth date columns). Set `table`, `key` and the identity columns under [dedupe] in ferry.toml".into(),
                    )
                })?;
                chosen.push(format!("table = \"{}\"", t.name));
                t
            }
        };
        self.table = Some(table.name.clone());
        if self.key.is_none() {
            let k = propose_key(table).ok_or_else(|| {
                LinkError::Config(format!(
                    "table `{}` has no primary key or id column; set `key` under [dedupe] in ferry.toml",
                    table.name
                ))
            })?;
            chosen.push(format!("key = \"{k}\""));
            self.key = Some(k);
        }
        let any_set = Field::ALL.iter().any(|f| self.columns(*f).is_some());
        if !any_set {
            for f in Field::ALL {
                if let Some(c) = propose_column(table, f) {
                    chosen.push(format!("{} = \"{c}\"", f.name()));
                    *self.columns_mut(f) = Some(Columns::One(c));
                }
            }
            if self.updated.is_none()
                && let Some(c) = table.columns.iter().find(|c| {
                    let w = ferry_profile::phi::words(c);
                    w.iter()
                        .any(|x| x == "modified" || x == "updated" || x == "changed")
                })
            {
                chosen.push(format!("updated = \"{c}\""));
                self.updated = Some(c.clone());
            }
        }
        // Every configured column must exist.
        let mut all: Vec<(&str, String)> = Vec::new();
        for f in Field::ALL {
            if let Some(c) = self.columns(f) {
                for n in c.names() {
                    all.push((f.name(), n.to_string()));
                }
            }
        }
        if let Some(u) = &self.updated {
            all.push(("updated", u.clone()));
        }
        if let Some(u) = &self.link_column {
            all.push(("link_column", u.clone()));
        }
        if let Some(k) = &self.key {
            all.push(("key", k.clone()));
        }
        for (what, col) in all {
            if !table.columns.iter().any(|c| c == &col) {
                return Err(LinkError::Config(format!(
                    "[dedupe] `{what}` names column `{col}`, which table `{}` does not have. Run `ferry snapshots --tables` to see its columns",
                    table.name
                )));
            }
        }
        let active = self.active_fields();
        if !active.contains(&Field::Given) && !active.contains(&Field::Family) {
            return Err(LinkError::Config(format!(
                "no name columns for table `{}`: set `given` and `family` under [dedupe] in ferry.toml",
                table.name
            )));
        }
        Ok(chosen)
    }
}

/// A table's name, primary key and column names (from the catalog).
#[derive(Debug, Clone)]
pub struct TableColumns {
    pub name: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<String>,
    /// The profile's likely-PHI label of each column (`ferry profile`), when the snapshot was
    /// profiled: proposals prefer a column whose label fits the field, and fall back on the label
    /// alone when no column name fits.
    pub phi: std::collections::BTreeMap<String, ferry_profile::model::PhiKind>,
}

fn propose_table(tables: &[TableColumns]) -> Option<&TableColumns> {
    let mut best: Option<(i32, &TableColumns)> = None;
    for t in tables {
        let has = |f| propose_column(t, f).is_some();
        if !(has(Field::Given) && has(Field::Family) && has(Field::BirthDate)) {
            continue;
        }
        let cols: Vec<&str> = t.columns.iter().map(String::as_str).collect();
        let mut score = Field::ALL.iter().filter(|f| has(**f)).count() as i32;
        let lower = t.name.to_ascii_lowercase();
        if lower.contains("patient") {
            score += 10;
        } else if ferry_profile::phi::is_person_table(&t.name, &cols) {
            score += 3;
        }
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, t));
        }
    }
    best.map(|(_, t)| t)
}

fn propose_key(t: &TableColumns) -> Option<String> {
    if let [one] = t.primary_key.as_slice() {
        return Some(one.clone());
    }
    let singular = t.name.to_ascii_lowercase();
    let singular = singular.strip_suffix('s').unwrap_or(&singular);
    let wanted = [
        format!("{singular}_id"),
        format!("{singular}id"),
        "patient_id".into(),
        "id".into(),
        "rec_id".into(),
        "mrn".into(),
    ];
    wanted.iter().find_map(|w| {
        t.columns
            .iter()
            .find(|c| c.eq_ignore_ascii_case(w))
            .cloned()
    })
}

/// The first column whose name fits `f` (by the profile's word splitting).
pub(crate) fn propose_column(t: &TableColumns, f: Field) -> Option<String> {
    let fits = |c: &str| -> bool {
        let w = ferry_profile::phi::words(c);
        let has = |x: &str| w.iter().any(|y| y == x);
        let joined = w.concat();
        match f {
            Field::Given => {
                has("fname")
                    || has("firstname")
                    || has("given")
                    || (has("first") && has("name"))
                    || joined == "givenname"
            }
            Field::Family => {
                has("lname")
                    || has("lastname")
                    || has("surname")
                    || has("family")
                    || (has("last") && has("name"))
            }
            Field::BirthDate => {
                has("dob") || joined.contains("birth") || has("bdate") || has("birthdate")
            }
            Field::Sex => has("sex") || has("gender"),
            Field::Ssn => {
                has("ssn") || joined.contains("socialsecurity") || joined.contains("socsec")
            }
            Field::Phone => has("phone") || has("tel") || has("telephone") || has("mobile"),
            Field::Address => {
                (has("address") || has("addr") || has("street"))
                    && !has("email")
                    && !w.iter().any(|x| x == "2" || x == "line2")
                    && !joined.ends_with('2')
            }
            Field::City => has("city") || has("town") || has("suburb"),
            Field::PostalCode => has("zip") || has("postal") || has("postcode") || has("zipcode"),
            Field::Email => has("email") || joined.contains("email"),
        }
    };
    let mut candidates: Vec<&String> = t.columns.iter().filter(|c| fits(c)).collect();
    if let Some(kind) = phi_kind_of(f)
        && !t.phi.is_empty()
    {
        let labelled = |c: &&String| t.phi.get(c.as_str()) == Some(&kind);
        if candidates.iter().any(labelled) {
            // The profile agrees with the name for some candidates: keep those.
            candidates.retain(labelled);
        } else if candidates.is_empty() && label_alone_decides(f) {
            // No name fits, but the profile labelled a column with this field's kind.
            candidates = t.columns.iter().filter(labelled).collect();
        }
    }
    if f == Field::Phone {
        // Prefer the home or mobile phone over a work phone.
        candidates.sort_by_key(|c| {
            let w = ferry_profile::phi::words(c);
            !(w.iter()
                .any(|x| x == "home" || x == "mobile" || x == "cell"))
        });
    }
    if f == Field::Address {
        candidates.retain(|c| !c.ends_with('2'));
    }
    candidates.first().map(|c| (*c).clone())
}

/// The profile's PHI kind of a field's columns (`None`: the profile has no label for it).
fn phi_kind_of(f: Field) -> Option<ferry_profile::model::PhiKind> {
    use ferry_profile::model::PhiKind as K;
    Some(match f {
        Field::Given | Field::Family => K::Name,
        Field::BirthDate => K::BirthDate,
        Field::Ssn => K::Ssn,
        Field::Phone => K::Phone,
        Field::Address | Field::City => K::Address,
        Field::PostalCode => K::PostalCode,
        Field::Email => K::Email,
        Field::Sex => return None,
    })
}

/// Fields whose PHI kind names one field only, so a label alone can propose the column (a
/// `name` label cannot tell given from family, nor `address` street from city).
fn label_alone_decides(f: Field) -> bool {
    matches!(
        f,
        Field::BirthDate | Field::Ssn | Field::Phone | Field::PostalCode | Field::Email
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_s_phi_labels_refine_and_complete_the_proposals() {
        use ferry_profile::model::PhiKind as K;
        let mut t = clinic();
        let p = &mut t[1];
        // Names the rules do not know, labelled by the profile from their values.
        for c in p.columns.iter_mut() {
            match c.as_str() {
                "dob" => *c = "d_o_b_x".into(),
                "ssn" => *c = "taxpayer_no".into(),
                _ => {}
            }
        }
        p.phi.insert("d_o_b_x".into(), K::BirthDate);
        p.phi.insert("taxpayer_no".into(), K::Ssn);
        p.phi.insert("home_phone".into(), K::Phone);
        p.phi.insert("first_name".into(), K::Name);
        p.phi.insert("last_name".into(), K::Name);
        let patients = || DedupeConfig {
            table: Some("patients".into()),
            ..Default::default()
        };
        let mut c = patients();
        c.fill_defaults(&t).unwrap();
        assert_eq!(c.birth_date, Some(Columns::One("d_o_b_x".into())));
        assert_eq!(c.ssn, Some(Columns::One("taxpayer_no".into())));
        assert_eq!(c.phone, Some(Columns::One("home_phone".into())));
        assert_eq!(c.given, Some(Columns::One("first_name".into())));
        // Without the labels the renamed columns are not proposed.
        let mut bare = clinic();
        for c in bare[1].columns.iter_mut() {
            if c == "dob" {
                *c = "d_o_b_x".into();
            }
        }
        let mut c = patients();
        c.fill_defaults(&bare).unwrap();
        assert_eq!(c.birth_date, None);
    }

    fn clinic() -> Vec<TableColumns> {
        vec![
            TableColumns {
                name: "visits".into(),
                primary_key: vec!["visit_id".into()],
                columns: vec!["visit_id".into(), "patient_id".into(), "visit_dt".into()],
                phi: Default::default(),
            },
            TableColumns {
                name: "patients".into(),
                primary_key: vec!["patient_id".into()],
                columns: [
                    "patient_id",
                    "mrn",
                    "ssn",
                    "last_name",
                    "first_name",
                    "dob",
                    "sex",
                    "address1",
                    "address2",
                    "city",
                    "zip",
                    "work_phone",
                    "home_phone",
                    "email",
                    "modified_dt",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                phi: Default::default(),
            },
        ]
    }

    #[test]
    fn defaults_are_proposed_from_column_names() {
        let mut c = DedupeConfig::default();
        let chosen = c.fill_defaults(&clinic()).unwrap();
        assert_eq!(c.table.as_deref(), Some("patients"));
        assert_eq!(c.key.as_deref(), Some("patient_id"));
        assert_eq!(c.given, Some(Columns::One("first_name".into())));
        assert_eq!(c.family, Some(Columns::One("last_name".into())));
        assert_eq!(c.birth_date, Some(Columns::One("dob".into())));
        assert_eq!(c.phone, Some(Columns::One("home_phone".into())));
        assert_eq!(c.address, Some(Columns::One("address1".into())));
        assert_eq!(c.postal_code, Some(Columns::One("zip".into())));
        assert_eq!(c.updated.as_deref(), Some("modified_dt"));
        assert!(
            chosen.iter().any(|l| l == "table = \"patients\""),
            "{chosen:?}"
        );
    }

    #[test]
    fn a_configured_column_that_does_not_exist_is_an_error_naming_it() {
        let mut c = DedupeConfig {
            given: Some(Columns::One("fname".into())),
            ..Default::default()
        };
        let err = c.fill_defaults(&clinic()).unwrap_err().to_string();
        assert!(err.contains("`fname`") && err.contains("patients"), "{err}");
    }

    #[test]
    fn no_patient_table_is_an_error() {
        let mut c = DedupeConfig::default();
        let t = clinic().into_iter().take(1).collect::<Vec<_>>();
        assert!(c.fill_defaults(&t).is_err());
    }

    #[test]
    fn config_parses_from_toml_and_rejects_unknown_keys() {
        let c: DedupeConfig = toml::from_str(
            "table = \"febrl\"\nkey = \"rec_id\"\naddress = [\"street_number\", \"address_1\"]\nthreshold = 0.95\n",
        )
        .unwrap();
        assert_eq!(c.threshold, 0.95);
        assert_eq!(
            c.address.unwrap().names(),
            vec!["street_number", "address_1"]
        );
        assert!(toml::from_str::<DedupeConfig>("treshold = 0.9").is_err());
        let bad = DedupeConfig {
            threshold: 1.5,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
