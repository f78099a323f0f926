//! The row-by-row checks of one table, in a single streaming pass.
//!
//! Per column it keeps counters and at most `example_keys` examples per finding (per date format
//! and per code-system class for the format and code checks). The patient table also feeds the
//! duplicate matcher one compact record per row.

use std::collections::{BTreeMap, HashMap};

use ferry_core::ValueRef;
use ferry_profile::formats::Hints;
use ferry_store::TableInfo;
use regex::{Regex, RegexBuilder};

use crate::config::{AuditConfig, CheckDigitScheme};
use crate::dedup::{self, PatientRec};
use crate::keys::{Acc, KeySet, display, row_key};
use crate::values::{self, DateValue};
use crate::{AuditError, Finding, Severity};

/// Compiled regexes of the configuration.
pub(crate) struct Compiled {
    ranges: Vec<(Regex, Option<Regex>, Vec<Regex>)>,
    check_digits: Vec<(Regex, CheckDigitScheme)>,
    code_columns: Regex,
    planned: Regex,
}

fn re(what: &str, pattern: &str) -> Result<Regex, AuditError> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| {
            AuditError::Config(format!(
                "{what}: the pattern is not a valid regular expression ({e}); fix it in the audit configuration"
            ))
        })
}

impl Compiled {
    pub fn new(cfg: &AuditConfig) -> Result<Compiled, AuditError> {
        let mut ranges = Vec::new();
        for r in &cfg.ranges {
            let what = format!("range rule `{}`", r.name);
            let tables = match &r.tables {
                Some(t) => Some(re(&what, t)?),
                None => None,
            };
            let derived = r
                .derived_from
                .iter()
                .map(|p| re(&what, p))
                .collect::<Result<Vec<_>, _>>()?;
            ranges.push((re(&what, &r.columns)?, tables, derived));
        }
        let check_digits = cfg
            .check_digits
            .iter()
            .map(|c| Ok((re("check-digit rule", &c.columns)?, c.scheme)))
            .collect::<Result<Vec<_>, AuditError>>()?;
        Ok(Compiled {
            ranges,
            check_digits,
            code_columns: re("code_columns", &cfg.code_columns)?,
            planned: re("planned_date_columns", &cfg.planned_date_columns)?,
        })
    }
}

/// What every table audit shares.
pub(crate) struct Ctx<'a> {
    pub show_values: bool,
    pub limit: usize,
    pub today: (i32, u8, u8),
    pub cfg: &'a AuditConfig,
    pub compiled: &'a Compiled,
}

#[derive(Default)]
struct DateStats {
    nulls: u64,
    blanks: u64,
    nonblank: u64,
    dates: u64,
    formats: BTreeMap<&'static str, Acc>,
    zero: BTreeMap<String, u64>,
    zero_acc: Acc,
    not_date: u64,
    impossible: Acc,
    future: Acc,
}

struct RangeState {
    rule: usize,
    acc: Acc,
    /// Columns this one is derived from (BMI: height and weight).
    inputs: Vec<usize>,
}

#[derive(Default)]
struct CodeStats {
    nonblank: u64,
    by_mask: HashMap<u8, Acc>,
}

#[derive(Default)]
struct DigitStats {
    explicit: Option<(CheckDigitScheme, Acc)>,
    ten_digit: u64,
    nonblank: u64,
    nhs_pass: u64,
    npi_pass: u64,
    nhs_fail: Acc,
    npi_fail: Acc,
}

struct Column {
    name: String,
    /// Declared numeric or binary: not read as dates, codes or check-digit numbers.
    numeric: bool,
    /// Declared as a date or datetime.
    date_declared: bool,
    required: Option<Acc>,
    range: Option<RangeState>,
    planned: bool,
    birth_date: bool,
    dates: DateStats,
    code: Option<(Hints, CodeStats)>,
    digits: DigitStats,
}

struct Orphans {
    column: usize,
    parent: String,
    set: usize,
    acc: Acc,
}

/// Which columns of the patient table feed the duplicate matcher.
struct PatientCols {
    first: usize,
    last: usize,
    dob: usize,
    sex: Option<usize>,
    ssn: Option<usize>,
    emp: Option<usize>,
    addr: Option<usize>,
    postal: Option<usize>,
    recs: Vec<PatientRec>,
}

pub(crate) struct TableAudit<'a> {
    ctx: &'a Ctx<'a>,
    table: &'a TableInfo,
    pk: Vec<usize>,
    cols: Vec<Column>,
    orphans: Vec<Orphans>,
    sets: Vec<&'a KeySet>,
    patients: Option<PatientCols>,
    violated: Vec<bool>,
}

/// The base SQL type of a declared type (`varchar(10) DEFAULT NULL` -> `varchar`).
fn base_type(t: Option<&str>) -> String {
    t.unwrap_or("")
        .trim()
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn declared_numeric(t: Option<&str>) -> bool {
    matches!(
        base_type(t).as_str(),
        "int"
            | "integer"
            | "tinyint"
            | "smallint"
            | "mediumint"
            | "bigint"
            | "decimal"
            | "numeric"
            | "float"
            | "double"
            | "real"
            | "bit"
            | "binary"
            | "varbinary"
            | "blob"
            | "tinyblob"
            | "mediumblob"
            | "longblob"
            | "bytea"
    )
}

fn declared_date(t: Option<&str>) -> bool {
    matches!(
        base_type(t).as_str(),
        "date" | "datetime" | "timestamp" | "datetime2" | "smalldatetime"
    )
}

impl<'a> TableAudit<'a> {
    pub fn new(
        table: &'a TableInfo,
        ctx: &'a Ctx<'a>,
        key_sets: &'a HashMap<(String, String), KeySet>,
    ) -> TableAudit<'a> {
        let cfg = ctx.cfg;
        let pk = crate::exact::pk_indices(table);
        let patient_cfg = cfg.patients.as_ref().filter(|p| p.table == table.name);
        let col_idx = |name: &str| table.columns.iter().position(|c| c.name == name);
        let mut cols = Vec::with_capacity(table.columns.len());
        for c in &table.columns {
            let numeric = declared_numeric(c.declared_type.as_deref());
            let required = cfg
                .required
                .iter()
                .flatten()
                .any(|r| r.table == table.name && r.column == c.name)
                .then(Acc::default);
            let range = ctx
                .compiled
                .ranges
                .iter()
                .position(|(cre, tre, _)| {
                    cre.is_match(&c.name) && tre.as_ref().is_none_or(|t| t.is_match(&table.name))
                })
                .map(|rule| RangeState {
                    rule,
                    acc: Acc::default(),
                    inputs: Vec::new(),
                });
            let code = (!numeric && ctx.compiled.code_columns.is_match(&c.name))
                .then(|| (Hints::from_column_name(&c.name), CodeStats::default()));
            let explicit = ctx
                .compiled
                .check_digits
                .iter()
                .find(|(r, _)| r.is_match(&c.name))
                .map(|(_, s)| (*s, Acc::default()));
            cols.push(Column {
                name: c.name.clone(),
                numeric,
                date_declared: declared_date(c.declared_type.as_deref()),
                required,
                range,
                planned: ctx.compiled.planned.is_match(&c.name),
                birth_date: patient_cfg.is_some_and(|p| p.birth_date == c.name),
                dates: DateStats::default(),
                code,
                digits: DigitStats {
                    explicit,
                    ..Default::default()
                },
            });
        }
        // Derived ranges (BMI) know the columns of their inputs in this table.
        for col in &mut cols {
            if let Some(rs) = &mut col.range
                && let Some((_, _, derived)) = ctx.compiled.ranges.get(rs.rule)
            {
                rs.inputs = table
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| derived.iter().any(|d| d.is_match(&c.name)))
                    .map(|(i, _)| i)
                    .collect();
            }
        }
        let mut sets = Vec::new();
        let mut orphans = Vec::new();
        for r in cfg.references.iter().flatten() {
            if r.table != table.name {
                continue;
            }
            let (Some(column), Some(set)) = (
                col_idx(&r.column),
                key_sets.get(&(r.parent_table.clone(), r.parent_column.clone())),
            ) else {
                continue;
            };
            sets.push(set);
            orphans.push(Orphans {
                column,
                parent: format!("{}.{}", r.parent_table, r.parent_column),
                set: sets.len() - 1,
                acc: Acc::default(),
            });
        }
        let patients = patient_cfg.and_then(|p| {
            Some(PatientCols {
                first: col_idx(&p.first_name)?,
                last: col_idx(&p.last_name)?,
                dob: col_idx(&p.birth_date)?,
                sex: p.sex.as_deref().and_then(col_idx),
                ssn: p.ssn.as_deref().and_then(col_idx),
                emp: p.employee_number.as_deref().and_then(col_idx),
                addr: p.address.as_deref().and_then(col_idx),
                postal: p.postal_code.as_deref().and_then(col_idx),
                recs: Vec::new(),
            })
        });
        let n = cols.len();
        TableAudit {
            ctx,
            table,
            pk,
            cols,
            orphans,
            sets,
            patients,
            violated: vec![false; n],
        }
    }

    pub fn row(&mut self, rowid: i64, row: &[ValueRef<'_>]) {
        let ctx = self.ctx;
        let (limit, show) = (ctx.limit, ctx.show_values);
        let pk = &self.pk;
        let key = || row_key(pk, rowid, row);
        for v in self.violated.iter_mut() {
            *v = false;
        }
        for (i, col) in self.cols.iter_mut().enumerate() {
            let v = row.get(i).copied().unwrap_or(ValueRef::Null);
            let val = || display(&v);
            let text = match v {
                ValueRef::Text(s) => Some(s),
                _ => None,
            };
            let blank = match v {
                ValueRef::Null => true,
                ValueRef::Text(s) => s.trim().is_empty(),
                ValueRef::Bytes(b) => b.is_empty(),
            };
            let date = match text {
                Some(s) if !col.numeric && !blank => values::date_value(s.trim()),
                _ => DateValue::NotDate,
            };
            if let Some(acc) = &mut col.required
                && (blank || date == DateValue::Zero)
            {
                acc.hit(limit, show, key, val);
            }
            // Dates: formats, zero dates, impossible and future dates.
            let d = &mut col.dates;
            match v {
                ValueRef::Null => d.nulls += 1,
                _ if blank => d.blanks += 1,
                _ => {
                    d.nonblank += 1;
                    match &date {
                        DateValue::Date { ymd, format } => {
                            d.dates += 1;
                            d.formats
                                .entry(format)
                                .or_default()
                                .hit(limit, show, key, val);
                            if *ymd > ctx.today {
                                d.future.hit(limit, show, key, val);
                            }
                        }
                        DateValue::Zero => {
                            d.dates += 1;
                            let shape = text.map(str::trim).unwrap_or("").to_string();
                            *d.zero.entry(shape).or_default() += 1;
                            d.zero_acc.hit(limit, show, key, val);
                        }
                        DateValue::Impossible => d.impossible.hit(limit, show, key, val),
                        DateValue::NotDate => d.not_date += 1,
                    }
                }
            }
            if let (Some(rs), Some(s)) = (&mut col.range, text)
                && rs.inputs.is_empty()
                && let Some(x) = values::number(s)
                && let Some(rule) = ctx.cfg.ranges.get(rs.rule)
                && !in_range(x, rule)
            {
                rs.acc.hit(limit, show, key, val);
                if let Some(f) = self.violated.get_mut(i) {
                    *f = true;
                }
            }
            if let (Some((hints, cs)), Some(s)) = (&mut col.code, text)
                && !blank
            {
                cs.nonblank += 1;
                let mask = values::code_systems(s, *hints);
                cs.by_mask
                    .entry(mask)
                    .or_default()
                    .hit(limit, show, key, val);
            }
            if let Some(s) = text
                && !blank
                && !col.numeric
            {
                let ds = &mut col.digits;
                let digits = values::id_digits(s);
                if let Some((scheme, acc)) = &mut ds.explicit {
                    let ok = digits.as_deref().is_some_and(|d| match scheme {
                        CheckDigitScheme::Nhs => values::nhs_valid(d),
                        CheckDigitScheme::Npi => values::npi_valid(d),
                        CheckDigitScheme::Luhn => values::luhn_valid(d),
                    });
                    if !ok {
                        acc.hit(limit, show, key, val);
                    }
                } else if ctx.cfg.infer_check_digits {
                    ds.nonblank += 1;
                    if let Some(d) = digits.as_deref().filter(|d| d.len() == 10) {
                        ds.ten_digit += 1;
                        if values::nhs_valid(d) {
                            ds.nhs_pass += 1;
                        } else {
                            ds.nhs_fail.hit(limit, show, key, val);
                        }
                        if values::npi_valid(d) {
                            ds.npi_pass += 1;
                        } else {
                            ds.npi_fail.hit(limit, show, key, val);
                        }
                    }
                }
            }
        }
        // Derived values (BMI) only when their inputs are plausible.
        for (i, col) in self.cols.iter_mut().enumerate() {
            let Some(rs) = &mut col.range else { continue };
            if rs.inputs.is_empty()
                || rs
                    .inputs
                    .iter()
                    .any(|&j| self.violated.get(j) == Some(&true))
            {
                continue;
            }
            let v = row.get(i).copied().unwrap_or(ValueRef::Null);
            if let ValueRef::Text(s) = v
                && let Some(x) = values::number(s)
                && let Some(rule) = ctx.cfg.ranges.get(rs.rule)
                && !in_range(x, rule)
            {
                rs.acc.hit(limit, show, key, || display(&v));
            }
        }
        for o in &mut self.orphans {
            let v = row.get(o.column).copied().unwrap_or(ValueRef::Null);
            let present = match v {
                ValueRef::Null => None,
                ValueRef::Text(s) if s.trim().is_empty() => None,
                ValueRef::Text(s) => Some(self.sets.get(o.set).is_some_and(|k| k.contains(s))),
                ValueRef::Bytes(_) => Some(
                    self.sets
                        .get(o.set)
                        .is_some_and(|k| k.contains(&display(&v))),
                ),
            };
            if present == Some(false) {
                o.acc.hit(limit, show, key, || display(&v));
            }
        }
        if let Some(p) = &mut self.patients {
            p.recs.push(patient_rec(p, pk, rowid, row));
        }
    }

    pub fn finish(self) -> Vec<Finding> {
        let ctx = self.ctx;
        let t = &self.table.name;
        let mut out = Vec::new();
        let finding =
            |check: &str, severity: Severity, column: Option<&str>, acc: Acc, message: String| {
                Finding {
                    check: check.into(),
                    severity,
                    table: t.clone(),
                    column: column.map(str::to_string),
                    count: acc.count,
                    example_keys: acc.keys,
                    example_values: acc.values,
                    message,
                    breakdown: BTreeMap::new(),
                }
            };
        for o in self.orphans {
            if o.acc.count > 0 {
                let col = self.cols.get(o.column).map(|c| c.name.as_str());
                out.push(finding(
                    "orphan",
                    Severity::Error,
                    col,
                    o.acc,
                    format!(
                        "rows of `{t}` whose `{}` matches no `{}`: they would be lost or fail to load; find the missing parent rows or decide to drop these",
                        col.unwrap_or("?"),
                        o.parent
                    ),
                ));
            }
        }
        for col in self.cols {
            let name = col.name.as_str();
            let is_required = col.required.is_some();
            if let Some(acc) = col.required
                && acc.count > 0
            {
                out.push(finding(
                    "missing_required",
                    Severity::Error,
                    Some(name),
                    acc,
                    format!("`{t}.{name}` is required but NULL, blank or a zero date in these rows; fill it in the source or map a default"),
                ));
            }
            if let Some(rs) = col.range
                && rs.acc.count > 0
                && let Some(rule) = ctx.cfg.ranges.get(rs.rule)
            {
                let alt = rule
                    .alt
                    .map(|(a, b)| format!(" or {a}..{b}"))
                    .unwrap_or_default();
                out.push(finding(
                    "out_of_range",
                    Severity::Error,
                    Some(name),
                    rs.acc,
                    format!(
                        "`{t}.{name}` ({}) outside the plausible range {}..{}{alt} {}: a keying or unit error; correct it or leave it out of the migration",
                        rule.name, rule.min, rule.max, rule.unit
                    ),
                ));
            }
            let d = col.dates;
            let is_date_column = !col.numeric
                && d.nonblank > 0
                && (col.date_declared || (d.dates + d.impossible.count) * 10 >= d.nonblank * 8);
            if is_date_column {
                let impossible = d.impossible.count;
                if d.impossible.count > 0 {
                    out.push(finding(
                        "impossible_date",
                        Severity::Error,
                        Some(name),
                        d.impossible,
                        format!("`{t}.{name}` holds dates that do not exist (month over 12, day past the month's end, year outside 1800-2199); correct them in the source"),
                    ));
                }
                if d.future.count > 0 && !col.planned {
                    let (y, m, dd) = ctx.today;
                    out.push(finding(
                        "future_date",
                        if col.birth_date { Severity::Error } else { Severity::Warning },
                        Some(name),
                        d.future,
                        format!("`{t}.{name}` holds dates after {y:04}-{m:02}-{dd:02}; check for typos or two-digit years read in the wrong century"),
                    ));
                }
                if d.zero_acc.count > 0 && !is_required {
                    out.push(finding(
                        "zero_date",
                        Severity::Info,
                        Some(name),
                        d.zero_acc,
                        format!(
                            "`{t}.{name}` holds legacy zero dates; they will be migrated as no date"
                        ),
                    ));
                }
                if d.formats.len() > 1 {
                    let mut breakdown: BTreeMap<String, u64> = d
                        .formats
                        .iter()
                        .map(|(k, a)| (k.to_string(), a.count))
                        .collect();
                    for (k, n) in &d.zero {
                        *breakdown.entry(k.clone()).or_default() += n;
                    }
                    if d.blanks > 0 {
                        breakdown.insert("blank".into(), d.blanks);
                    }
                    if d.nulls > 0 {
                        breakdown.insert("null".into(), d.nulls);
                    }
                    if d.not_date > 0 {
                        breakdown.insert("not a date".into(), d.not_date);
                    }
                    if impossible > 0 {
                        breakdown.insert("impossible".into(), impossible);
                    }
                    let top = d
                        .formats
                        .iter()
                        .max_by_key(|(k, a)| (a.count, std::cmp::Reverse(**k)))
                        .map(|(k, _)| *k)
                        .unwrap_or("");
                    let mut acc = Acc::default();
                    for (k, a) in &d.formats {
                        if *k == top {
                            continue;
                        }
                        acc.count += a.count;
                        for (n, key) in a.keys.iter().enumerate() {
                            if acc.keys.len() < ctx.limit {
                                acc.keys.push(key.clone());
                                if let Some(v) = a.values.get(n) {
                                    acc.values.push(v.clone());
                                }
                            }
                        }
                    }
                    let list: Vec<String> = d
                        .formats
                        .iter()
                        .map(|(k, a)| format!("{k}: {}", a.count))
                        .collect();
                    let mut f = finding(
                        "mixed_formats",
                        Severity::Warning,
                        Some(name),
                        acc,
                        format!(
                            "`{t}.{name}` writes dates in {} formats ({}); the count is the values not in the most common format ({top}). Day/month order must be settled before migration",
                            d.formats.len(),
                            list.join(", ")
                        ),
                    );
                    f.breakdown = breakdown;
                    out.push(f);
                }
            }
            if let Some((_, cs)) = col.code
                && !is_date_column
                && let Some(f) = code_finding(t, name, cs, ctx.limit)
            {
                out.push(f);
            }
            if let Some(f) = digit_finding(t, name, col.digits, ctx.limit) {
                out.push(f);
            }
        }
        if let Some(p) = self.patients {
            out.extend(duplicate_finding(t, p, ctx));
        }
        out
    }
}

fn in_range(x: f64, rule: &crate::config::RangeRule) -> bool {
    (rule.min..=rule.max).contains(&x) || rule.alt.is_some_and(|(a, b)| (a..=b).contains(&x))
}

fn merge(into: &mut Acc, from: &Acc, limit: usize) {
    into.count += from.count;
    for (n, k) in from.keys.iter().enumerate() {
        if into.keys.len() < limit {
            into.keys.push(k.clone());
            if let Some(v) = from.values.get(n) {
                into.values.push(v.clone());
            }
        }
    }
}

/// In a column where at least half the values fit one code system, the values that fit neither
/// it nor a related system (ICD-9-CM for ICD-10-CM and back).
fn code_finding(t: &str, name: &str, cs: CodeStats, limit: usize) -> Option<Finding> {
    if cs.nonblank == 0 {
        return None;
    }
    let (system, fits) = values::SYSTEMS
        .iter()
        .map(|(bit, _)| {
            let n: u64 = cs
                .by_mask
                .iter()
                .filter(|(m, _)| *m & bit != 0)
                .map(|(_, a)| a.count)
                .sum();
            (*bit, n)
        })
        .max_by_key(|(bit, n)| (*n, std::cmp::Reverse(*bit)))?;
    if fits * 2 < cs.nonblank {
        return None;
    }
    let fam = values::family(system);
    let mut masks: Vec<(&u8, &Acc)> = cs.by_mask.iter().collect();
    masks.sort_by_key(|(m, _)| **m);
    let mut acc = Acc::default();
    let mut breakdown = BTreeMap::new();
    for (m, a) in masks {
        if m & fam == 0 {
            merge(&mut acc, a, limit);
        }
    }
    if acc.count == 0 {
        return None;
    }
    let sys_name = |bit: u8| {
        values::SYSTEMS
            .iter()
            .find(|(b, _)| *b == bit)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    };
    for (bit, sname) in values::SYSTEMS {
        let n: u64 = cs
            .by_mask
            .iter()
            .filter(|(m, _)| *m & bit != 0)
            .map(|(_, a)| a.count)
            .sum();
        if n > 0 {
            breakdown.insert(sname.to_string(), n);
        }
    }
    breakdown.insert("fits no code system".into(), acc.count);
    let related: Vec<&str> = values::SYSTEMS
        .iter()
        .filter(|(b, _)| fam & b != 0 && *b != system)
        .map(|(_, n)| *n)
        .collect();
    let also = if related.is_empty() {
        String::new()
    } else {
        format!(" or {}", related.join(", "))
    };
    Some(Finding {
        check: "code_system_mismatch".into(),
        severity: Severity::Warning,
        table: t.to_string(),
        column: Some(name.to_string()),
        count: acc.count,
        example_keys: acc.keys,
        example_values: acc.values,
        message: format!(
            "`{t}.{name}` is mostly {} codes ({fits} of {}), but these values are not {}{also} codes (free text or another system); they need a manual mapping",
            sys_name(system),
            cs.nonblank,
            sys_name(system)
        ),
        breakdown,
    })
}

/// Failed check digits: in a column named for a scheme, every value that fails (or is not a
/// number of the right length); otherwise in a column whose ten-digit values pass NHS mod 11 or
/// NPI Luhn at least 95% of the time (and are at least 80% of its values, 20 or more), the rest.
fn digit_finding(t: &str, name: &str, ds: DigitStats, _limit: usize) -> Option<Finding> {
    let (scheme, acc) = match ds.explicit {
        Some((s, acc)) => (s, acc),
        None => {
            let n = ds.ten_digit;
            if n < 20 || n * 10 < ds.nonblank * 8 {
                return None;
            }
            if ds.nhs_pass * 100 >= n * 95 {
                (CheckDigitScheme::Nhs, ds.nhs_fail)
            } else if ds.npi_pass * 100 >= n * 95 {
                (CheckDigitScheme::Npi, ds.npi_fail)
            } else {
                return None;
            }
        }
    };
    if acc.count == 0 {
        return None;
    }
    Some(Finding {
        check: "bad_check_digit".into(),
        severity: Severity::Warning,
        table: t.to_string(),
        column: Some(name.to_string()),
        count: acc.count,
        example_keys: acc.keys,
        example_values: acc.values,
        message: format!(
            "`{t}.{name}` holds {} values that fail the check digit (or are not numbers of the right length): mistyped identifiers; correct them in the source",
            scheme.name()
        ),
        breakdown: BTreeMap::new(),
    })
}

fn text_of<'v>(row: &[ValueRef<'v>], i: Option<usize>) -> Option<&'v str> {
    match row.get(i?)? {
        ValueRef::Text(s) if !s.trim().is_empty() => Some(s),
        _ => None,
    }
}

fn patient_rec(p: &PatientCols, pk: &[usize], rowid: i64, row: &[ValueRef<'_>]) -> PatientRec {
    let dob = text_of(row, Some(p.dob)).and_then(|s| match values::date_value(s.trim()) {
        DateValue::Date { ymd, .. } => Some(ymd),
        _ => None,
    });
    let sex = text_of(row, p.sex)
        .and_then(|s| s.trim().chars().next())
        .map(|c| c.to_ascii_uppercase() as u32 as u8);
    PatientRec {
        key: row_key(pk, rowid, row).into(),
        first: dedup::norm_name(text_of(row, Some(p.first)).unwrap_or("")).into(),
        last: dedup::norm_name(text_of(row, Some(p.last)).unwrap_or("")).into(),
        dob,
        sex,
        ssn: text_of(row, p.ssn).and_then(dedup::norm_ssn),
        emp: text_of(row, p.emp).and_then(dedup::norm_ident),
        addr: text_of(row, p.addr).and_then(|a| dedup::norm_address(a, text_of(row, p.postal))),
    }
}

fn duplicate_finding(t: &str, p: PatientCols, ctx: &Ctx<'_>) -> Option<Finding> {
    let s = &ctx.cfg.duplicates;
    let r = dedup::find_duplicates(&p.recs, s.threshold, s.max_block);
    if r.pairs.is_empty() && r.skipped_blocks == 0 {
        return None;
    }
    let mut acc = Acc::default();
    for &(a, b) in &r.pairs {
        let (Some(ra), Some(rb)) = (p.recs.get(a), p.recs.get(b)) else {
            continue;
        };
        acc.hit(
            ctx.limit,
            ctx.show_values,
            || format!("{} ~ {}", ra.key, rb.key),
            || format!("{} {} ~ {} {}", ra.first, ra.last, rb.first, rb.last),
        );
    }
    let skipped = if r.skipped_blocks > 0 {
        format!(
            " {} blocks of more than {} patients sharing a key (a placeholder value?) were not compared.",
            r.skipped_blocks, s.max_block
        )
    } else {
        String::new()
    };
    let mut breakdown = BTreeMap::new();
    breakdown.insert("pairs compared".into(), r.compared);
    Some(Finding {
        check: "duplicate_patient".into(),
        severity: Severity::Warning,
        table: t.to_string(),
        column: None,
        count: acc.count,
        example_keys: acc.keys,
        example_values: acc.values,
        message: format!(
            "{} probable duplicate patient pairs (`earlier ~ later`, matched on identifiers, names, birth date, sex, employee number and address); review and merge before migration.{skipped}",
            acc.count
        ),
        breakdown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types() {
        assert!(declared_numeric(Some("int NOT NULL AUTO_INCREMENT")));
        assert!(declared_numeric(Some("decimal(4,1) DEFAULT NULL")));
        assert!(declared_numeric(Some("smallint DEFAULT NULL")));
        assert!(declared_numeric(Some("varbinary(16) DEFAULT NULL")));
        assert!(declared_numeric(Some("blob")));
        assert!(!declared_numeric(Some("varchar(10) DEFAULT NULL")));
        assert!(!declared_numeric(Some("char(1) DEFAULT 'N'")));
        assert!(!declared_numeric(None));
        assert!(declared_date(Some("datetime DEFAULT NULL")));
    }
}
