//! What the audit checks and where: the patient table, references, required columns, plausible
//! ranges, check-digit columns, duplicate-matching settings.
//!
//! Every part that names tables is optional: `None` means "infer it from the table and column
//! names" ([`AuditConfig::infer`]). A project can pin any part in `ferry.toml` and leave the rest
//! inferred.

use ferry_store::TableInfo;
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// The audit's configuration (serializable; `ferry.toml` `[audit]` section later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditConfig {
    /// The table of patients (people) and its identifying columns. `None`: inferred.
    pub patients: Option<PatientConfig>,
    /// Child column -> parent key references checked for orphans. `None`: inferred.
    pub references: Option<Vec<Reference>>,
    /// Columns that must hold a value (not NULL, not blank, not a zero date). `None`: inferred.
    pub required: Option<Vec<ColumnRef>>,
    /// Plausible ranges of numeric columns, matched by column name (first matching rule wins).
    pub ranges: Vec<RangeRule>,
    /// Columns carrying a check digit, matched by column name.
    pub check_digits: Vec<CheckDigitRule>,
    /// Also apply a check-digit scheme to a column whose values show it: at least
    /// `min_values` ten-digit values of which at least 95% pass the scheme.
    pub infer_check_digits: bool,
    /// Regex on column names: columns that may hold codes (checked for code-system mismatches).
    pub code_columns: String,
    /// Regex on column names: planned or expected dates (end, stop, return, due...), exempt from
    /// the future-date check.
    pub planned_date_columns: String,
    /// Near-duplicate patient matching.
    pub duplicates: DuplicateSettings,
}

/// The patient table and the columns used to match people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientConfig {
    pub table: String,
    /// The key column (the table's primary key when not set).
    pub key: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: String,
    pub sex: Option<String>,
    pub ssn: Option<String>,
    pub employee_number: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
}

/// `table.column` holds values of `parent_table.parent_column`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub table: String,
    pub column: String,
    pub parent_table: String,
    pub parent_column: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    pub table: String,
    pub column: String,
}

/// A plausible range for columns whose name matches `columns` (a case-insensitive regex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeRule {
    /// What it is (`systolic blood pressure`), used in messages.
    pub name: String,
    /// Case-insensitive regex on the column name.
    pub columns: String,
    /// Case-insensitive regex on the table name (any table when not set).
    #[serde(default)]
    pub tables: Option<String>,
    pub min: f64,
    pub max: f64,
    /// A second accepted range when the unit is not in the name (e.g. temperature in C or F).
    #[serde(default)]
    pub alt: Option<(f64, f64)>,
    pub unit: String,
    /// Regexes of the columns this one is computed from (BMI from height and weight): when one of
    /// them is out of range in the same row, the derived value is not reported again.
    #[serde(default)]
    pub derived_from: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckDigitScheme {
    /// NHS number: 10 digits, modulus 11.
    Nhs,
    /// US National Provider Identifier: 10 digits, Luhn over `80840` + the number.
    Npi,
    /// Plain Luhn (payment cards and other identifiers).
    Luhn,
}

impl CheckDigitScheme {
    pub fn name(self) -> &'static str {
        match self {
            CheckDigitScheme::Nhs => "NHS number (modulus 11)",
            CheckDigitScheme::Npi => "NPI (Luhn with prefix 80840)",
            CheckDigitScheme::Luhn => "Luhn",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDigitRule {
    /// Case-insensitive regex on the column name.
    pub columns: String,
    pub scheme: CheckDigitScheme,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DuplicateSettings {
    /// A pair whose score reaches this is a probable duplicate (see `dedup.rs` for the weights).
    pub threshold: f64,
    /// Blocks (records sharing a blocking key) larger than this are skipped (too common a key,
    /// e.g. a placeholder date of birth); the report says how many were skipped.
    pub max_block: usize,
}

impl Default for DuplicateSettings {
    fn default() -> Self {
        DuplicateSettings {
            threshold: 8.5,
            max_block: 5_000,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            patients: None,
            references: None,
            required: None,
            ranges: default_ranges(),
            check_digits: vec![
                CheckDigitRule {
                    columns: r"(^|_)nhs(_|$|no|num)".into(),
                    scheme: CheckDigitScheme::Nhs,
                },
                CheckDigitRule {
                    columns: r"(^|_)npi($|_)".into(),
                    scheme: CheckDigitScheme::Npi,
                },
                CheckDigitRule {
                    columns: r"(^|_)(card_?(no|num|number)|credit_?card|pan)$".into(),
                    scheme: CheckDigitScheme::Luhn,
                },
            ],
            infer_check_digits: true,
            code_columns: r"code|(^|_)(dx|icd|icd9|icd10|diag|diagnosis|loinc|cvx|snomed|ndc|cpt|hcpcs)(_|$)".into(),
            planned_date_columns: r"end|stop|expir|(^|_)exp(_|$)|due|next|sched|appt|return|until|follow|term|thru|through|valid_to|plan".into(),
            duplicates: DuplicateSettings::default(),
        }
    }
}

fn range(name: &str, columns: &str, min: f64, max: f64, unit: &str) -> RangeRule {
    RangeRule {
        name: name.into(),
        columns: columns.into(),
        tables: None,
        min,
        max,
        alt: None,
        unit: unit.into(),
        derived_from: Vec::new(),
    }
}

/// Clinical plausibility ranges (not reference ranges: a value outside is impossible or a keying
/// error, not merely abnormal). Matched on the column name, first match wins, so unit-specific
/// rules come before unit-less ones.
pub fn default_ranges() -> Vec<RangeRule> {
    let mut v = vec![
        range(
            "systolic blood pressure",
            r"^(bp_?)?(sys|sbp|systolic)(_?bp)?$|systolic",
            50.0,
            260.0,
            "mmHg",
        ),
        range(
            "diastolic blood pressure",
            r"^(bp_?)?(dia|dbp|diastolic)(_?bp)?$|diastolic",
            20.0,
            160.0,
            "mmHg",
        ),
        range(
            "pulse",
            r"^(pulse|pulse_rate|hr|heart_?rate)$",
            20.0,
            250.0,
            "/min",
        ),
        range(
            "respiration rate",
            r"^(resp|rr|resp_?rate|respiration|respirations|respiratory_rate)$",
            4.0,
            60.0,
            "/min",
        ),
        range(
            "temperature",
            r"^(temp|temperature|body_temp)_?(f|fahrenheit|degf)$",
            90.0,
            110.0,
            "°F",
        ),
        range(
            "temperature",
            r"^(temp|temperature|body_temp)_?(c|celsius|degc)$",
            32.0,
            43.0,
            "°C",
        ),
        RangeRule {
            alt: Some((90.0, 110.0)),
            ..range(
                "temperature",
                r"^(temp|temperature|body_temp)$",
                32.0,
                43.0,
                "°C or °F",
            )
        },
        range(
            "height",
            r"^(height|ht)_?(in|inch|inches)$",
            10.0,
            108.0,
            "in",
        ),
        range("height", r"^(height|ht)_?cm$", 25.0, 275.0, "cm"),
        RangeRule {
            alt: Some((25.0, 275.0)),
            ..range("height", r"^(height|ht)$", 10.0, 108.0, "in or cm")
        },
        range(
            "weight",
            r"^(weight|wt)_?(lb|lbs|pounds)$",
            1.0,
            1000.0,
            "lb",
        ),
        range("weight", r"^(weight|wt)_?kg$", 0.5, 455.0, "kg"),
        range("weight", r"^(weight|wt)$", 0.5, 1000.0, "lb or kg"),
        RangeRule {
            derived_from: vec![r"^(height|ht)".into(), r"^(weight|wt)".into()],
            ..range("body mass index", r"^bmi$", 8.0, 100.0, "kg/m²")
        },
        range(
            "oxygen saturation",
            r"^(spo2|sao2|o2_?sat|pulse_?ox)$",
            0.0,
            100.0,
            "%",
        ),
        range(
            "hearing threshold",
            r"^(l|r|left|right)_?(hz_?)?(125|250|500|750|1000|1500|2000|3000|4000|6000|8000)(_?hz)?$",
            -10.0,
            120.0,
            "dB HL",
        ),
        range(
            "FEV1/FVC ratio",
            r"^fev1_?fvc(_?(ratio|pct|percent))?$",
            20.0,
            100.0,
            "%",
        ),
        range(
            "spirometry percent predicted",
            r"^(fev1|fvc)_?(pct|percent|pct_pred|pp)$",
            5.0,
            250.0,
            "% predicted",
        ),
        range(
            "spirometry volume",
            r"^(fev1|fvc)(_?(pred|predicted|l|liters))?$",
            0.1,
            10.0,
            "L",
        ),
    ];
    for r in &mut v {
        r.columns = format!("(?i){}", r.columns);
    }
    v
}

/// Which named part of a patient table a column is.
fn is_name(col: &str, names: &[&str]) -> bool {
    let c = col.to_ascii_lowercase();
    names.iter().any(|n| c == *n)
}

const FIRST: &[&str] = &[
    "first_name",
    "firstname",
    "fname",
    "first",
    "given_name",
    "givenname",
    "forename",
    "pat_first_name",
    "patient_first_name",
];
const LAST: &[&str] = &[
    "last_name",
    "lastname",
    "lname",
    "last",
    "surname",
    "family_name",
    "familyname",
    "pat_last_name",
    "patient_last_name",
];
const DOB: &[&str] = &[
    "dob",
    "birth_date",
    "birthdate",
    "date_of_birth",
    "dateofbirth",
    "birth_dt",
    "dob_dt",
    "bdate",
    "pat_dob",
    "patient_dob",
];
const SEX: &[&str] = &["sex", "gender", "pat_sex", "patient_sex", "sex_cd"];
const SSN: &[&str] = &[
    "ssn",
    "social_security",
    "social_security_number",
    "ss_no",
    "ssn_no",
    "soc_sec_no",
];
const EMP_NO: &[&str] = &[
    "emp_no",
    "employee_no",
    "employee_number",
    "emp_num",
    "empno",
    "employee_id",
    "badge_no",
];
const ADDRESS: &[&str] = &["address1", "address", "addr1", "street", "address_line1"];
const POSTAL: &[&str] = &["zip", "zip_code", "zipcode", "postcode", "postal_code"];
/// Names of a patient reference in a child table (besides the patient table's key name).
const PATIENT_REF: &[&str] = &[
    "patient_id",
    "pat_id",
    "patientid",
    "pt_id",
    "person_id",
    "patient_no",
    "pat_no",
];
/// Result columns a test record cannot do without.
const RESULT: &[&str] = &["result", "test_result", "outcome"];

fn find(t: &TableInfo, names: &[&str]) -> Option<String> {
    t.columns
        .iter()
        .find(|c| is_name(&c.name, names))
        .map(|c| c.name.clone())
}

impl AuditConfig {
    /// Proposes the table-dependent parts from table and column names:
    /// - the patient table is the one with first-name, last-name and birth-date columns
    ///   (preferring a table named like `patient*` when several qualify);
    /// - a reference is a column named like a single-column primary key of another table
    ///   (`patient_id` in `visits` -> `patients.patient_id`), or a patient-reference name
    ///   (`patient_id`, `pat_id`, `person_id`...) pointing at the patient table's key;
    /// - required: the patient's names, birth date and sex; any column named `result`,
    ///   `test_result` or `outcome`.
    pub fn infer(tables: &[TableInfo]) -> AuditConfig {
        let mut cfg = AuditConfig::default();
        cfg.fill(tables);
        cfg
    }

    /// Fills every `None` part by inference (see [`AuditConfig::infer`]).
    pub fn fill(&mut self, tables: &[TableInfo]) {
        if self.patients.is_none() {
            self.patients = infer_patients(tables);
        }
        if self.references.is_none() {
            self.references = Some(infer_references(tables, self.patients.as_ref()));
        }
        if self.required.is_none() {
            let mut req = Vec::new();
            if let Some(p) = &self.patients {
                for c in [
                    Some(&p.last_name),
                    Some(&p.first_name),
                    Some(&p.birth_date),
                    p.sex.as_ref(),
                ]
                .into_iter()
                .flatten()
                {
                    req.push(ColumnRef {
                        table: p.table.clone(),
                        column: c.clone(),
                    });
                }
            }
            for t in tables {
                for c in &t.columns {
                    if is_name(&c.name, RESULT) {
                        req.push(ColumnRef {
                            table: t.name.clone(),
                            column: c.name.clone(),
                        });
                    }
                }
            }
            self.required = Some(req);
        }
    }

    /// Checks that every regex compiles and every named table and column exists.
    pub(crate) fn validate(&self, tables: &[TableInfo]) -> Result<(), AuditError> {
        let has = |t: &str, c: &str| {
            tables
                .iter()
                .any(|x| x.name == t && x.columns.iter().any(|y| y.name == c))
        };
        let missing = |what: &str, t: &str, c: &str| {
            AuditError::Config(format!(
                "{what} names column `{c}` of table `{t}`, which is not in the snapshot; fix the audit configuration or run `ferry snapshots --tables`"
            ))
        };
        if let Some(p) = &self.patients {
            for c in [
                Some(&p.first_name),
                Some(&p.last_name),
                Some(&p.birth_date),
                p.key.as_ref(),
                p.sex.as_ref(),
                p.ssn.as_ref(),
                p.employee_number.as_ref(),
                p.address.as_ref(),
                p.postal_code.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                if !has(&p.table, c) {
                    return Err(missing("the patient table setting", &p.table, c));
                }
            }
        }
        for r in self.references.iter().flatten() {
            if !has(&r.table, &r.column) {
                return Err(missing("a reference", &r.table, &r.column));
            }
            if !has(&r.parent_table, &r.parent_column) {
                return Err(missing("a reference", &r.parent_table, &r.parent_column));
            }
        }
        for r in self.required.iter().flatten() {
            if !has(&r.table, &r.column) {
                return Err(missing("a required column", &r.table, &r.column));
            }
        }
        Ok(())
    }
}

fn infer_patients(tables: &[TableInfo]) -> Option<PatientConfig> {
    let mut best: Option<(bool, PatientConfig)> = None;
    for t in tables {
        let (Some(first), Some(last), Some(dob)) = (find(t, FIRST), find(t, LAST), find(t, DOB))
        else {
            continue;
        };
        let named = t.name.to_ascii_lowercase().contains("patient")
            || t.name.to_ascii_lowercase().contains("person");
        let cfg = PatientConfig {
            table: t.name.clone(),
            key: None,
            first_name: first,
            last_name: last,
            birth_date: dob,
            sex: find(t, SEX),
            ssn: find(t, SSN),
            employee_number: find(t, EMP_NO),
            address: find(t, ADDRESS),
            postal_code: find(t, POSTAL),
        };
        match &best {
            Some((true, _)) => {}
            Some((false, _)) if !named => {}
            _ => best = Some((named, cfg)),
        }
    }
    best.map(|(_, c)| c)
}

/// The table's single-column key: the declared primary key, or, when the source declares none
/// (CSV exports never do), a column named like a surrogate key of this table (`patient_id` in
/// `patients`, `visit_id` in `visits`, or `id`).
fn single_key(t: &TableInfo) -> Option<&str> {
    match t.primary_key.as_slice() {
        [k] => Some(k.as_str()),
        [] => {
            let lname = t.name.to_ascii_lowercase();
            let singular = lname.strip_suffix('s').unwrap_or(&lname);
            let wanted = [
                format!("{singular}_id"),
                format!("{lname}_id"),
                "id".to_string(),
            ];
            wanted.iter().find_map(|w| {
                t.columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(w))
                    .map(|c| c.name.as_str())
            })
        }
        _ => None,
    }
}

fn infer_references(tables: &[TableInfo], patients: Option<&PatientConfig>) -> Vec<Reference> {
    let patient_key: Option<(String, String)> = patients.and_then(|p| {
        let t = tables.iter().find(|t| t.name == p.table)?;
        let k = p
            .key
            .clone()
            .or_else(|| single_key(t).map(str::to_string))?;
        Some((p.table.clone(), k))
    });
    let mut refs = Vec::new();
    for child in tables {
        for col in &child.columns {
            let lname = col.name.to_ascii_lowercase();
            // A parent whose single-column key has this column's name (never the generic `id`).
            let parent = tables
                .iter()
                .filter(|p| p.name != child.name)
                .find_map(|p| {
                    let k = single_key(p)?;
                    (k.eq_ignore_ascii_case(&col.name) && !k.eq_ignore_ascii_case("id"))
                        .then(|| (p.name.clone(), k.to_string()))
                })
                .or_else(|| {
                    let (pt, pk) = patient_key.as_ref()?;
                    (*pt != child.name && PATIENT_REF.contains(&lname.as_str()))
                        .then(|| (pt.clone(), pk.clone()))
                });
            if let Some((parent_table, parent_column)) = parent {
                refs.push(Reference {
                    table: child.name.clone(),
                    column: col.name.clone(),
                    parent_table,
                    parent_column,
                });
            }
        }
    }
    refs
}
