//! Concept maps from the project's `concept-maps/` folder: CSV (`source,target,display[,system]`,
//! header required) or FHIR ConceptMap JSON. A map's name is its file stem.
//!
//! Matching: the exact source code first, then the code trimmed, with whitespace collapsed and
//! lower-cased (so `HEPATITIS B ` finds `Hepatitis B`). Two sources that normalise alike but map
//! to different targets are a load error, so matching never depends on file order.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::diag::{Diagnostic, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub code: String,
    pub display: Option<String>,
    pub system: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConceptMap {
    pub name: String,
    pub file: String,
    exact: HashMap<String, Target>,
    normalised: HashMap<String, Target>,
}

pub(crate) fn normalise(s: &str) -> String {
    crate::funcs::collapse_ws(s).to_lowercase()
}

impl ConceptMap {
    pub fn new(name: impl Into<String>, file: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            file: file.into(),
            ..Default::default()
        }
    }

    /// Adds an entry; returns an error message when it conflicts with an earlier one.
    pub fn insert(&mut self, source: &str, target: Target) -> Result<(), String> {
        if let Some(old) = self.exact.get(source) {
            if *old != target {
                return Err("source code listed twice with different targets".into());
            }
            return Ok(());
        }
        let n = normalise(source);
        if let Some(old) = self.normalised.get(&n)
            && *old != target
        {
            return Err(
                "two source codes differ only in case or spacing but map to different targets"
                    .into(),
            );
        }
        self.normalised.insert(n, target.clone());
        self.exact.insert(source.to_string(), target);
        Ok(())
    }

    pub fn get(&self, source: &str) -> Option<&Target> {
        self.exact
            .get(source)
            .or_else(|| self.normalised.get(&normalise(source)))
    }

    /// Every (source code as written, target), in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Target)> {
        self.exact.iter().map(|(s, t)| (s.as_str(), t))
    }

    pub fn len(&self) -> usize {
        self.exact.len()
    }

    /// Replaces each target system written `system('CodeSystem/lab')` (as in a field
    /// expression) by the project's system for that path; returns a message per path that
    /// cannot be resolved (naming the first source code that uses it).
    pub fn resolve_systems(&mut self, systems: &crate::Systems) -> Vec<String> {
        let mut problems: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut apply = |source: &str, t: &mut Target| {
            let Some(path) = t.system.as_deref().and_then(system_call) else {
                return;
            };
            match systems.resolve(path) {
                Ok(uri) => t.system = Some(uri),
                Err(m) => {
                    problems
                        .entry(path.to_string())
                        .or_insert_with(|| (source.to_string(), m));
                }
            }
        };
        for (source, t) in self.exact.iter_mut() {
            apply(source, t);
        }
        // The same targets, as found by normalised source codes.
        for t in self.normalised.values_mut() {
            apply("", t);
        }
        problems
            .into_values()
            .map(|(source, m)| format!("source code `{source}`: {m}"))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }
}

/// All concept maps of a project, by name.
#[derive(Debug, Clone, Default)]
pub struct ConceptMaps {
    pub maps: BTreeMap<String, ConceptMap>,
}

impl ConceptMaps {
    pub fn get(&self, name: &str) -> Option<&ConceptMap> {
        self.maps.get(name)
    }

    pub fn insert(&mut self, map: ConceptMap) {
        self.maps.insert(map.name.clone(), map);
    }
}

/// The path of a system written `system('PATH')` (or with double quotes).
fn system_call(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("system(")?.strip_suffix(')')?.trim();
    inner
        .strip_prefix('\'')
        .and_then(|i| i.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
}

fn diag(file: &str, line: usize, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line,
        column: if line == 0 { 0 } else { 1 },
        severity: Severity::Error,
        message: message.into(),
    }
}

/// Reads a CSV concept map (streaming through the `csv` crate).
pub fn read_csv(
    name: &str,
    file: &str,
    reader: impl std::io::Read,
) -> (ConceptMap, Vec<Diagnostic>) {
    let mut map = ConceptMap::new(name, file);
    let mut diags = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            diags.push(diag(file, 1, format!("cannot read the CSV header: {e}")));
            return (map, diags);
        }
    };
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(n))
    };
    let (Some(src), Some(tgt)) = (col("source"), col("target")) else {
        diags.push(diag(
            file,
            1,
            "the header must name the columns `source` and `target` (optional: `display`, `system`)",
        ));
        return (map, diags);
    };
    let (disp, sys) = (col("display"), col("system"));
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                diags.push(diag(
                    file,
                    line,
                    format!("unreadable CSV record: {}", e.kind_summary()),
                ));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let get = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (Some(source), Some(code)) = (
            rec.get(src).filter(|s| !s.trim().is_empty()),
            get(Some(tgt)),
        ) else {
            diags.push(diag(file, line, "a row without a source or a target code"));
            continue;
        };
        let target = Target {
            code,
            display: get(disp),
            system: get(sys),
        };
        if let Err(m) = map.insert(source, target) {
            diags.push(diag(file, line, m));
        }
    }
    (map, diags)
}

trait KindSummary {
    fn kind_summary(&self) -> String;
}

impl KindSummary for csv::Error {
    fn kind_summary(&self) -> String {
        match self.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("expected {expected_len} fields, found {len}")
            }
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
            _ => "malformed record".into(),
        }
    }
}

/// Reads a FHIR ConceptMap (R4) JSON. Each `group[].element[]` maps `code` to its first `target`
/// whose `equivalence` is not `unmatched` or `disjoint`; the group's `target` is the system.
pub fn read_json(name: &str, file: &str, text: &str) -> (ConceptMap, Vec<Diagnostic>) {
    let mut map = ConceptMap::new(name, file);
    let mut diags = Vec::new();
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let mut d = diag(file, e.line(), format!("not valid JSON: {}", e));
            d.column = e.column();
            diags.push(d);
            return (map, diags);
        }
    };
    if v.get("resourceType").and_then(|r| r.as_str()) != Some("ConceptMap") {
        diags.push(diag(
            file,
            0,
            "expected a FHIR resource with `\"resourceType\": \"ConceptMap\"`",
        ));
        return (map, diags);
    }
    let empty = Vec::new();
    let groups = v.get("group").and_then(|g| g.as_array()).unwrap_or(&empty);
    for (gi, g) in groups.iter().enumerate() {
        let system = g.get("target").and_then(|s| s.as_str()).map(str::to_string);
        let elements = g
            .get("element")
            .and_then(|e| e.as_array())
            .unwrap_or(&empty);
        for (ei, el) in elements.iter().enumerate() {
            let Some(code) = el.get("code").and_then(|c| c.as_str()) else {
                diags.push(diag(
                    file,
                    0,
                    format!("group[{gi}].element[{ei}] has no `code`"),
                ));
                continue;
            };
            let targets = el
                .get("target")
                .and_then(|t| t.as_array())
                .unwrap_or(&empty);
            let chosen = targets.iter().find(|t| {
                !matches!(
                    t.get("equivalence").and_then(|e| e.as_str()),
                    Some("unmatched" | "disjoint")
                ) && t.get("code").and_then(|c| c.as_str()).is_some()
            });
            let Some(t) = chosen else {
                // Listed as unmatched: a lookup of it stays an exception.
                continue;
            };
            let target = Target {
                code: t
                    .get("code")
                    .and_then(|c| c.as_str())
                    .unwrap_or("")
                    .to_string(),
                display: t
                    .get("display")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
                system: system.clone(),
            };
            if let Err(m) = map.insert(code, target) {
                diags.push(diag(file, 0, format!("group[{gi}].element[{ei}]: {m}")));
            }
        }
    }
    (map, diags)
}

/// Loads every `*.csv` and `*.json` file of a folder (sorted by name). A missing folder is no maps.
pub fn load_dir(dir: &Path) -> (ConceptMaps, Vec<Diagnostic>) {
    let mut maps = ConceptMaps::default();
    let mut diags = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (maps, diags);
    };
    let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let file = path.display().to_string();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ext != "csv" && ext != "json" {
            continue;
        }
        let Some(name) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if maps.maps.contains_key(&name) {
            diags.push(diag(
                &file,
                0,
                format!("a second concept map named `{name}`: rename one of the files"),
            ));
            continue;
        }
        let (map, d) = if ext == "csv" {
            match std::fs::File::open(&path) {
                Ok(f) => read_csv(&name, &file, std::io::BufReader::new(f)),
                Err(e) => (
                    ConceptMap::new(&name, &file),
                    vec![diag(&file, 0, format!("cannot open: {e}"))],
                ),
            }
        } else {
            match std::fs::read_to_string(&path) {
                Ok(t) => read_json(&name, &file, &t),
                Err(e) => (
                    ConceptMap::new(&name, &file),
                    vec![diag(&file, 0, format!("cannot read: {e}"))],
                ),
            }
        };
        diags.extend(d);
        maps.insert(map);
    }
    (maps, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map's `system('CodeSystem/lab')` is the project's system for that path, found by
    /// exact and normalised source codes alike; unresolved, a message names the code.
    #[test]
    fn system_calls_in_a_map_resolve_to_the_projects_systems() {
        let csv = "source,target,display,system\nZPP,ZPP,Zinc,system('CodeSystem/lab')\nHGB,718-7,Hb,http://loinc.org\n";
        let (mut m, d) = read_csv("lab", "lab.csv", csv.as_bytes());
        assert!(d.is_empty(), "{d:?}");
        let mut unresolved = m.clone();
        let problems = unresolved.resolve_systems(&crate::Systems::default());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("source code `ZPP`: `system('CodeSystem/lab')` needs `system_base`"),
            "{problems:?}"
        );
        assert!(
            m.resolve_systems(&crate::Systems::base("https://h.example"))
                .is_empty()
        );
        let sys = |code: &str| m.get(code).and_then(|t| t.system.clone());
        assert_eq!(
            sys("ZPP").as_deref(),
            Some("https://h.example/CodeSystem/lab")
        );
        assert_eq!(
            sys(" zpp ").as_deref(),
            Some("https://h.example/CodeSystem/lab")
        );
        assert_eq!(sys("HGB").as_deref(), Some("http://loinc.org"));
    }

    #[test]
    fn csv_maps_exact_then_normalised() {
        let csv =
            "source,target,display\nHep B #2,08,Hep B adolescent or pediatric\nTdap,115,Tdap\n";
        let (m, d) = read_csv("v", "v.csv", csv.as_bytes());
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(m.get("Tdap").map(|t| t.code.as_str()), Some("115"));
        assert_eq!(m.get("  tdap ").map(|t| t.code.as_str()), Some("115"));
        assert_eq!(m.get("hep b   #2").map(|t| t.code.as_str()), Some("08"));
        assert!(m.get("flu").is_none());
    }

    #[test]
    fn csv_conflicts_are_reported_with_their_line() {
        let csv = "source,target\nA,1\na,2\n,3\n";
        let (_, d) = read_csv("v", "v.csv", csv.as_bytes());
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].line, 3);
        assert_eq!(d[1].line, 4);
    }

    #[test]
    fn csv_without_the_needed_header_is_reported() {
        let (_, d) = read_csv("v", "v.csv", "a,b\n1,2\n".as_bytes());
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("`source` and `target`"));
    }

    #[test]
    fn fhir_conceptmap_json() {
        let j = r#"{"resourceType":"ConceptMap","group":[{"target":"http://hl7.org/fhir/sid/cvx",
          "element":[{"code":"Tdap","target":[{"code":"115","display":"Tdap","equivalence":"equivalent"}]},
                     {"code":"shot given","target":[{"equivalence":"unmatched"}]}]}]}"#;
        let (m, d) = read_json("v", "v.json", j);
        assert!(d.is_empty(), "{d:?}");
        let t = m.get("Tdap").unwrap();
        assert_eq!(t.system.as_deref(), Some("http://hl7.org/fhir/sid/cvx"));
        assert!(m.get("shot given").is_none());
        let (_, d) = read_json("v", "v.json", "{ nope");
        assert_eq!(d[0].line, 1);
    }
}
