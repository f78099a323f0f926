//! Comparative searches: `checks/*.toml` files, each with one or more `[[search]]` tables pairing
//! an SQL query on the staged snapshot (one number) with a small FHIR-search-like filter over the
//! run's output, and a tolerance. See docs/verify.md.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One `checks/*.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecksFile {
    #[serde(default)]
    search: Vec<Search>,
}

/// One comparative search.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Unique among all files; the check is reported as `search:<name>`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// One SQL statement over the staged snapshot returning one number (first column, first row).
    pub sql: String,
    /// The resource type searched in the output.
    pub resource: String,
    /// Every condition must hold (AND).
    #[serde(default, rename = "where")]
    pub conditions: Vec<Condition>,
    /// Count distinct values at this path instead of resources.
    #[serde(default)]
    pub count_distinct: Option<String>,
    /// Allowed absolute difference (default 0).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Allowed difference in percent of the SQL number.
    #[serde(default)]
    pub tolerance_percent: Option<f64>,
    /// The same question as a FHIR search on the target, e.g.
    /// `Condition?code=http://hl7.org/fhir/sid/icd-10-cm|E11`: `ferry verify --target` runs it
    /// (restricted to this project's resources by tag) and compares its count, or with
    /// `count_distinct` the distinct values at that path in its results, with the SQL number.
    #[serde(default)]
    pub fhir_search: Option<String>,
    /// The file it came from (set on load).
    #[serde(skip)]
    pub file: PathBuf,
}

/// A condition on the values at a path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Dot-separated element names; arrays are searched element by element.
    pub path: String,
    pub op: Op,
    /// eq: a string, number or boolean; prefix: a string; in: an array; range: `[min, max]`
    /// (min inclusive, max exclusive; strings by byte order, numbers numerically); exists:
    /// `true` (default) or `false`.
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Prefix,
    In,
    Range,
    Exists,
}

/// A problem in a checks file: file, what, what to do.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ChecksError {
    pub file: PathBuf,
    pub message: String,
}

/// Reads every `*.toml` in `dir` (sorted by name); a missing folder has no searches.
pub fn load_searches(dir: &Path) -> Result<Vec<Search>, ChecksError> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut all: Vec<Search> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| ChecksError {
            file: f.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        for mut s in parse_searches(&f, &text)? {
            if let Some(other) = all.iter().find(|o| o.name == s.name) {
                return Err(ChecksError {
                    file: f.clone(),
                    message: format!(
                        "search `{}` is also defined in `{}`; give each search a unique name",
                        s.name,
                        other.file.display()
                    ),
                });
            }
            s.file = f.clone();
            all.push(s);
        }
    }
    Ok(all)
}

/// Parses and checks one checks file's text.
pub fn parse_searches(file: &Path, text: &str) -> Result<Vec<Search>, ChecksError> {
    let err = |message: String| ChecksError {
        file: file.to_path_buf(),
        message,
    };
    let parsed: ChecksFile = toml::from_str(text).map_err(|e| {
        err(format!(
            "not a valid checks file: {e}\nSee docs/verify.md for the `[[search]]` format"
        ))
    })?;
    for s in &parsed.search {
        let at = |m: String| err(format!("search `{}`: {m}", s.name));
        if s.name.trim().is_empty() {
            return Err(err("a search has an empty `name`; name every search".into()));
        }
        if s.resource.is_empty() || !s.resource.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(at(
                "`resource` must be a FHIR resource type such as \"Condition\"".into(),
            ));
        }
        for t in [s.tolerance, s.tolerance_percent].into_iter().flatten() {
            if !(t.is_finite() && t >= 0.0) {
                return Err(at("tolerances must be numbers of 0 or more".into()));
            }
        }
        for c in &s.conditions {
            if c.path.is_empty() || c.path.split('.').any(str::is_empty) {
                return Err(at(format!(
                    "condition path `{}` is not a dot-separated list of element names",
                    c.path
                )));
            }
            let ok = match (c.op, &c.value) {
                (Op::Eq, Some(v)) => v.is_string() || v.is_number() || v.is_boolean(),
                (Op::Prefix, Some(v)) => v.is_string(),
                (Op::In, Some(Value::Array(_))) => true,
                (Op::Range, Some(Value::Array(a))) => {
                    a.len() == 2
                        && (a.iter().all(Value::is_string) || a.iter().all(Value::is_number))
                }
                (Op::Exists, None) => true,
                (Op::Exists, Some(v)) => v.is_boolean(),
                _ => false,
            };
            if !ok {
                return Err(at(format!(
                    "condition on `{}`: op `{}` needs {}",
                    c.path,
                    op_name(c.op),
                    match c.op {
                        Op::Eq => "a string, number or boolean `value`",
                        Op::Prefix => "a string `value`",
                        Op::In => "an array `value`",
                        Op::Range => "`value = [min, max]`, two strings or two numbers",
                        Op::Exists => "no value, or `value = true` / `false`",
                    }
                )));
            }
        }
    }
    for s in &parsed.search {
        if let Some(q) = &s.fhir_search {
            check_fhir_search(&s.resource, q)
                .map_err(|m| err(format!("search `{}`: fhir_search `{q}`: {m}", s.name)))?;
        }
    }
    Ok(parsed.search)
}

/// A `fhir_search` is `Type?param=value&...` (or `Type` alone: every resource of the type) for
/// the search's own `resource`, without the parameters Ferry adds itself.
fn check_fhir_search(resource: &str, q: &str) -> Result<(), String> {
    let (t, params) = q.split_once('?').unwrap_or((q, ""));
    if t != resource {
        return Err(format!(
            "it searches `{t}` but the search's `resource` is `{resource}`; make them the same"
        ));
    }
    for p in params.split('&').filter(|p| !p.is_empty()) {
        let name = p.split_once('=').map_or(p, |(n, _)| n);
        if name.is_empty() || !p.contains('=') {
            return Err(format!("`{p}` is not `param=value`"));
        }
        if matches!(
            name,
            "_tag" | "_summary" | "_count" | "_elements" | "_offset"
        ) {
            return Err(format!(
                "leave out `{name}`: Ferry adds it (this project's tag, counting and paging)"
            ));
        }
    }
    Ok(())
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Prefix => "prefix",
        Op::In => "in",
        Op::Range => "range",
        Op::Exists => "exists",
    }
}

/// Every leaf value at a dot path (arrays fan out).
pub fn values_at<'a>(resource: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current: Vec<&Value> = vec![resource];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for v in current {
            let inner = match v {
                Value::Object(m) => m.get(seg),
                _ => None,
            };
            match inner {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn in_range(v: &Value, min: &Value, max: &Value) -> bool {
    match (v, min, max) {
        (Value::String(s), Value::String(lo), Value::String(hi)) => {
            s.as_str() >= lo.as_str() && s.as_str() < hi.as_str()
        }
        (Value::Number(n), Value::Number(lo), Value::Number(hi)) => {
            match (n.as_f64(), lo.as_f64(), hi.as_f64()) {
                (Some(n), Some(lo), Some(hi)) => n >= lo && n < hi,
                _ => false,
            }
        }
        _ => false,
    }
}

impl Condition {
    /// True when the condition holds for the resource.
    pub fn matches(&self, resource: &Value) -> bool {
        let values = values_at(resource, &self.path);
        match (self.op, &self.value) {
            (Op::Exists, v) => {
                let want = v.as_ref().and_then(Value::as_bool).unwrap_or(true);
                values.is_empty() != want
            }
            (Op::Eq, Some(want)) => values.iter().any(|v| scalar_eq(v, want)),
            (Op::Prefix, Some(Value::String(p))) => values
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.starts_with(p.as_str()))),
            (Op::In, Some(Value::Array(set))) => {
                values.iter().any(|v| set.iter().any(|w| scalar_eq(v, w)))
            }
            (Op::Range, Some(Value::Array(b))) => match (b.first(), b.get(1)) {
                (Some(lo), Some(hi)) => values.iter().any(|v| in_range(v, lo, hi)),
                _ => false,
            },
            _ => false,
        }
    }
}

/// The running FHIR side of one search.
#[derive(Debug, Default)]
pub struct Tally {
    pub count: u64,
    pub distinct: HashSet<String>,
}

impl Search {
    /// Counts the resource when it matches (type and every condition).
    pub fn observe(&self, resource_type: &str, resource: &Value, tally: &mut Tally) {
        if resource_type != self.resource || !self.conditions.iter().all(|c| c.matches(resource)) {
            return;
        }
        match &self.count_distinct {
            None => tally.count += 1,
            Some(path) => {
                for v in values_at(resource, path) {
                    let key = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    tally.distinct.insert(key);
                }
            }
        }
    }

    /// The FHIR-side number.
    pub fn result(&self, tally: &Tally) -> f64 {
        if self.count_distinct.is_some() {
            tally.distinct.len() as f64
        } else {
            tally.count as f64
        }
    }

    /// The allowed absolute difference for this SQL number.
    pub fn allowed(&self, sql: f64) -> f64 {
        let abs = self.tolerance.unwrap_or(0.0);
        let pct = self
            .tolerance_percent
            .map(|p| p / 100.0 * sql.abs())
            .unwrap_or(0.0);
        abs.max(pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Search {
        parse_searches(Path::new("checks/x.toml"), text)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_search_counts_distinct_patients_with_a_code_prefix() {
        let s = one(r#"[[search]]
name = "t2dm"
sql = "SELECT 2"
resource = "Condition"
where = [{ path = "code.coding.code", op = "prefix", value = "E11" }]
count_distinct = "subject.reference"
"#);
        let mut t = Tally::default();
        let c = |code: &str, p: &str| json!({"code": {"coding": [{"code": "X"}, {"code": code}]}, "subject": {"reference": p}});
        s.observe("Condition", &c("E11.9", "Patient/1"), &mut t);
        s.observe("Condition", &c("E11.65", "Patient/1"), &mut t);
        s.observe("Condition", &c("E11", "Patient/2"), &mut t);
        s.observe("Condition", &c("I10", "Patient/3"), &mut t);
        s.observe("Observation", &c("E11", "Patient/4"), &mut t);
        assert_eq!(s.result(&t), 2.0);
    }

    #[test]
    fn range_is_half_open_and_works_for_dates_and_datetimes() {
        let c = Condition {
            path: "occurrenceDateTime".into(),
            op: Op::Range,
            value: Some(json!(["2019-01-01", "2020-01-01"])),
        };
        assert!(c.matches(&json!({"occurrenceDateTime": "2019-01-01"})));
        assert!(c.matches(&json!({"occurrenceDateTime": "2019-12-31T23:00:00-05:00"})));
        assert!(!c.matches(&json!({"occurrenceDateTime": "2020-01-01"})));
        assert!(!c.matches(&json!({"occurrenceDateTime": "2018-12-31"})));
        assert!(!c.matches(&json!({})));
    }

    #[test]
    fn eq_in_and_exists() {
        let r = json!({"status": "completed", "dose": [{"n": 2}], "x": null});
        let cond = |path: &str, op: Op, value: Option<Value>| Condition {
            path: path.into(),
            op,
            value,
        };
        assert!(cond("status", Op::Eq, Some(json!("completed"))).matches(&r));
        assert!(cond("dose.n", Op::Eq, Some(json!(2.0))).matches(&r));
        assert!(cond("status", Op::In, Some(json!(["a", "completed"]))).matches(&r));
        assert!(cond("dose.n", Op::Exists, None).matches(&r));
        assert!(cond("x", Op::Exists, Some(json!(false))).matches(&r));
        assert!(!cond("nope", Op::Exists, None).matches(&r));
    }

    #[test]
    fn tolerance_is_the_larger_of_absolute_and_percent() {
        let mut s = one("[[search]]\nname = \"a\"\nsql = \"SELECT 1\"\nresource = \"Patient\"\n");
        assert_eq!(s.allowed(200.0), 0.0);
        s.tolerance = Some(1.0);
        s.tolerance_percent = Some(2.0);
        assert_eq!(s.allowed(200.0), 4.0);
        assert_eq!(s.allowed(10.0), 1.0);
    }

    #[test]
    fn a_fhir_search_must_search_the_same_type_without_ferrys_own_parameters() {
        let base = "[[search]]\nname = \"d\"\nsql = \"SELECT 1\"\nresource = \"Condition\"\n";
        let ok = format!(
            "{base}fhir_search = \"Condition?code=http://hl7.org/fhir/sid/icd-10-cm|E11\"\n"
        );
        assert!(parse_searches(Path::new("c.toml"), &ok).is_ok());
        let all = format!("{base}fhir_search = \"Condition\"\n");
        assert!(parse_searches(Path::new("c.toml"), &all).is_ok());
        for (q, says) in [
            ("Observation?code=x", "make them the same"),
            ("Observation", "make them the same"),
            ("Condition?code=x&_tag=y", "Ferry adds it"),
            ("Condition?code", "param=value"),
        ] {
            let text = format!("{base}fhir_search = \"{q}\"\n");
            let e = parse_searches(Path::new("c.toml"), &text).unwrap_err();
            assert!(e.to_string().contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn a_bad_checks_file_names_the_file_line_and_the_fix() {
        let e = parse_searches(
            Path::new("checks/bad.toml"),
            "[[search]]\nname = \"a\"\nsql = \"SELECT 1\"\nresource = \"Patient\"\nwhere = [{ path = \"x\", op = \"like\", value = \"a\" }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("checks/bad.toml"), "{e}");
        assert!(e.contains("line 5"), "{e}");
        let e = parse_searches(
            Path::new("checks/bad.toml"),
            "[[search]]\nname = \"a\"\nsql = \"SELECT 1\"\nresource = \"Patient\"\nwhere = [{ path = \"x\", op = \"range\", value = [\"a\"] }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[min, max]"), "{e}");
        let e = parse_searches(
            Path::new("c.toml"),
            "[[search]]\nname = \"a\"\nsqll = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sqll"), "{e}");
    }
}
