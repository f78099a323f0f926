//! Loading a project's `mappings/` and `concept-maps/` folders, the accepted duplicate-patient
//! merges the modules apply, and the order modules run in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::concept;
use crate::diag::{Diagnostic, Severity};
use crate::engine::{Engine, EngineConfig, IdFn, LocalTime, RefTarget, Settings, Systems};
use crate::module::{Module, parse_module, peek_primary};

/// Project-level settings the run passes in.
pub struct ProjectOptions {
    /// Resource ids: `ferry-fhir`'s UUID v5 over (namespace, module, type, key) in the run.
    pub ids: Arc<IdFn>,
    /// Where legacy local times without a zone go (`ferry.toml`: `local_offset` or
    /// `time_zone`, and the daylight-saving policies).
    pub local_time: LocalTime,
    /// Two-digit-year pivot (default 30).
    pub pivot: Option<u32>,
    /// Accepted duplicate-patient merges (see [`crate::EngineConfig::merges`]).
    pub merges: std::collections::BTreeMap<String, std::collections::HashMap<String, String>>,
    /// The project's own systems (`system_base`, `[project.systems]`) for `system('sid/mrn')`.
    pub systems: Systems,
}

/// Reviewers' decision files that live in `mappings/` but are not modules.
pub const REVIEW_FILES: &[&str] = &[
    "migration-map.toml",
    "duplicates.toml",
    crate::decisions::DECISIONS_FILE,
];

/// The module files of `mappings_dir`: every `*.toml` file, sorted by name, except the reviewers'
/// decision files [`REVIEW_FILES`]. Whether each one loads is [`load_project`]'s business; `ferry
/// check` counts them all.
pub fn module_files(mappings_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(mappings_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let is_toml = p.extension().and_then(|e| e.to_str()) == Some("toml");
            let is_decisions = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| REVIEW_FILES.contains(&n));
            is_toml && !is_decisions
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Loads every module file in `mappings_dir` ([`module_files`]) and every concept map in
/// `concept_maps_dir`. Returns the modules that loaded without errors and every diagnostic of
/// every file.
pub fn load_project(
    mappings_dir: &Path,
    concept_maps_dir: &Path,
    options: ProjectOptions,
) -> (Vec<Module>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let (mut maps, d) = concept::load_dir(concept_maps_dir);
    diags.extend(d);
    let decisions = load_decisions(mappings_dir, &mut maps, &mut diags);

    let mut files = Vec::new();
    match module_files(mappings_dir) {
        Ok(paths) => {
            for p in paths {
                match std::fs::read_to_string(&p) {
                    Ok(text) => files.push((p, text)),
                    Err(e) => diags.push(Diagnostic {
                        file: p.display().to_string(),
                        line: 0,
                        column: 0,
                        severity: Severity::Error,
                        message: format!("cannot read the module file: {e}"),
                    }),
                }
            }
        }
        Err(e) => diags.push(Diagnostic {
            file: mappings_dir.display().to_string(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            message: format!("cannot read the mappings folder: {e}"),
        }),
    }

    for map in maps.maps.values_mut() {
        for m in map.resolve_systems(&options.systems) {
            diags.push(Diagnostic {
                file: map.file.clone(),
                line: 0,
                column: 0,
                severity: Severity::Error,
                message: m,
            });
        }
    }
    let mut config = EngineConfig::new(options.ids);
    config.concept_maps = maps;
    config.systems = options.systems;
    config.local_time = options.local_time;
    config.merges = options.merges;
    config.decisions = Arc::new(decisions);
    if let Some(p) = options.pivot {
        config.pivot = p;
    }
    for (p, text) in &files {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if let Some((name, resource_type, rname)) = peek_primary(stem, text) {
            config.targets.insert(
                name,
                RefTarget {
                    resource_type,
                    name: rname,
                },
            );
        }
    }
    let engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic {
                file: "ferry.toml".into(),
                line: 0,
                column: 0,
                severity: Severity::Error,
                message: e.message,
            });
            return (Vec::new(), diags);
        }
    };
    if !engine.unit_spelling_problems().is_empty() {
        let file = engine
            .config()
            .concept_maps
            .get(crate::funcs::codes::USER_SPELLINGS)
            .map(|m| m.file.clone())
            .unwrap_or_default();
        for m in engine.unit_spelling_problems() {
            diags.push(Diagnostic {
                file: file.clone(),
                line: 0,
                column: 0,
                severity: Severity::Error,
                message: m.clone(),
            });
        }
    }
    let mut modules = Vec::new();
    for (p, text) in &files {
        let (m, d) = parse_module(&p.display().to_string(), text, &engine);
        diags.extend(d);
        modules.extend(m);
    }
    check_decisions(&engine.config().decisions, &files, &modules, &mut diags);
    (modules, diags)
}

/// Accepted duplicate-patient merges (from `ferry dedupe review`): in `module` (the patient
/// module), a row whose key is a merged member goes into the survivor's resource instead of
/// making its own, and every `ref(module, member)` points at the survivor. The run applies them;
/// verification checks the run did.
#[derive(Debug, Clone, Default)]
pub struct Merges {
    pub module: String,
    /// Member key -> survivor key (the survivor maps to itself).
    pub to_survivor: HashMap<String, String>,
}

impl Merges {
    /// The survivor a row of `module` with `key` is merged into, when it is a merged member
    /// other than the survivor itself.
    pub fn merged_into(&self, module: &str, key: &str) -> Option<&str> {
        if module != self.module {
            return None;
        }
        self.to_survivor
            .get(key)
            .map(String::as_str)
            .filter(|s| *s != key)
    }

    /// For a merged row of `module`: (survivor key, resource type, id of the survivor's primary
    /// resource), the resource the row went into. The id comes from the module's own id
    /// function, so it is the id the survivor's row gets.
    pub fn merged_resource(&self, module: &Module, key: &str) -> Option<(String, String, String)> {
        let survivor = self.merged_into(&module.name, key)?;
        let primary = module.primary_resource()?;
        let id = module.resource_id(primary, survivor);
        Some((survivor.to_string(), primary.resource_type.clone(), id))
    }

    /// The merges as the expression engine takes them (`ref` to a member points at the survivor).
    fn for_engine(&self) -> std::collections::BTreeMap<String, HashMap<String, String>> {
        std::iter::once((self.module.clone(), self.to_survivor.clone())).collect()
    }
}

/// Reads `mappings/decisions.toml` (absent: no decisions) and adds each `map` decision's entry
/// to its concept map.
fn load_decisions(
    mappings_dir: &Path,
    maps: &mut concept::ConceptMaps,
    diags: &mut Vec<Diagnostic>,
) -> crate::decisions::Decisions {
    use crate::decisions::{Action, Decisions};
    let path = mappings_dir.join(crate::decisions::DECISIONS_FILE);
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Decisions::default(),
        Err(e) => {
            diags.push(Diagnostic {
                file,
                line: 0,
                column: 0,
                severity: Severity::Error,
                message: format!("cannot read the decisions file: {e}"),
            });
            return Decisions::default();
        }
    };
    let (list, d) = crate::decisions::parse(&file, &text);
    diags.extend(d);
    let mut out = Decisions {
        list: Vec::new(),
        map_entries: HashMap::new(),
        file: file.clone(),
    };
    for dec in list {
        let at = |message: String| Diagnostic {
            file: file.clone(),
            line: dec.line,
            column: 1,
            severity: Severity::Error,
            message,
        };
        if let Action::Map {
            concept_map,
            code,
            display,
            system,
        } = &dec.action
        {
            let Some(cm) = maps.maps.get_mut(concept_map) else {
                diags.push(at(format!(
                    "decision `{}` maps into concept map `{concept_map}`, which the project does not have (concept-maps/{concept_map}.csv)",
                    dec.id
                )));
                continue;
            };
            let source = dec.value.clone().unwrap_or_default();
            let target = concept::Target {
                code: code.clone(),
                display: display.clone(),
                system: system.clone(),
            };
            if let Some(old) = cm.get(&source) {
                let message = if *old == target {
                    format!(
                        "decision `{}` is no longer needed: concept map `{concept_map}` ({}) already maps its value the same way; remove the decision",
                        dec.id, cm.file
                    )
                } else {
                    format!(
                        "decision `{}` contradicts concept map `{concept_map}` ({}), which maps its value to another code; remove one of them",
                        dec.id, cm.file
                    )
                };
                diags.push(Diagnostic {
                    severity: if *old == target {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    ..at(message)
                });
                continue;
            }
            if let Err(m) = cm.insert(&source, target) {
                diags.push(at(format!("decision `{}`: {m}", dec.id)));
                continue;
            }
            out.map_entries.insert(
                (concept_map.clone(), concept::normalise(&source)),
                out.list.len() as u32,
            );
        }
        out.list.push(dec);
    }
    out
}

/// What a decision names must exist: its module (among the files that loaded), and for
/// `default` and `text` an element of one of the module's resources.
fn check_decisions(
    decisions: &crate::decisions::Decisions,
    files: &[(PathBuf, String)],
    modules: &[Module],
    diags: &mut Vec<Diagnostic>,
) {
    use crate::decisions::Action;
    for dec in &decisions.list {
        let at = |message: String| Diagnostic {
            file: decisions.file.clone(),
            line: dec.line,
            column: 1,
            severity: Severity::Error,
            message,
        };
        let Some(m) = modules.iter().find(|m| m.name == dec.module) else {
            let has_file = files
                .iter()
                .any(|(p, _)| p.file_stem().and_then(|s| s.to_str()) == Some(dec.module.as_str()));
            if !has_file && !matches!(dec.action, Action::Map { .. }) {
                diags.push(at(format!(
                    "decision `{}` is about module `{}`, which the project does not have: fix `module` or remove the decision",
                    dec.id, dec.module
                )));
            }
            continue;
        };
        if let (Some(el), Action::Default(_) | Action::Text { .. }) = (&dec.element, &dec.action) {
            let found = m.resources.iter().any(|r| {
                r.fields
                    .iter()
                    .any(|f| *el == f.path || *el == format!("{}.{}", r.resource_type, f.path))
            });
            if !found {
                diags.push(at(format!(
                    "decision `{}`: module `{}` has no field `{el}` (write it as `ferry exceptions --list` shows the element, e.g. `Type.path`)",
                    dec.id, dec.module
                )));
            }
        }
        if let Action::Text { path, segments } = &dec.action {
            let types: Vec<&str> = match &dec.element {
                Some(el) => m
                    .resources
                    .iter()
                    .filter(|r| {
                        el.starts_with(&format!("{}.", r.resource_type))
                            || r.fields.iter().any(|f| f.path == *el)
                    })
                    .map(|r| r.resource_type.as_str())
                    .collect(),
                None => m
                    .resources
                    .iter()
                    .map(|r| r.resource_type.as_str())
                    .collect(),
            };
            let defs = ferry_fhir::elements::Definitions::r4();
            for ty in types {
                if !defs.has_type(ty) {
                    continue;
                }
                let steps: Vec<(&str, Option<usize>)> = segments
                    .iter()
                    .map(|s| (s.name.as_str(), s.index))
                    .collect();
                if let Err(e) = defs.lookup(ty, &steps) {
                    let name = steps.get(e.segment).map(|s| s.0).unwrap_or("");
                    let hint = match &e.kind {
                        ferry_fhir::elements::PathErrorKind::Unknown {
                            suggestion: Some(s),
                            ..
                        } => format!(" (did you mean `{s}`?)"),
                        _ => String::new(),
                    };
                    diags.push(at(format!(
                        "decision `{}`: `{path}` is not an element of {ty}: `{name}` is not known there{hint}",
                        dec.id
                    )));
                }
            }
        }
    }
}

/// Loads the project's modules ([`load_project`]) with this resource-id function (the run passes
/// `ferry_fhir::id_fn(namespace)`) and the project's settings ([`Settings`]: a `LocalTime`, or
/// an `Option<String>` offset, converts to settings without systems).
pub fn load_modules(
    mappings_dir: &Path,
    concept_maps_dir: &Path,
    ids: Arc<IdFn>,
    settings: impl Into<Settings>,
) -> (Vec<Module>, Vec<Diagnostic>) {
    load_modules_with(mappings_dir, concept_maps_dir, ids, settings, None)
}

/// [`load_modules`] with accepted merges, so that `ref` to a merged patient points at the
/// survivor.
pub fn load_modules_with(
    mappings_dir: &Path,
    concept_maps_dir: &Path,
    ids: Arc<IdFn>,
    settings: impl Into<Settings>,
    merges: Option<&Merges>,
) -> (Vec<Module>, Vec<Diagnostic>) {
    let settings = settings.into();
    load_project(
        mappings_dir,
        concept_maps_dir,
        ProjectOptions {
            ids,
            local_time: settings.local_time,
            pivot: None,
            merges: merges.map(Merges::for_engine).unwrap_or_default(),
            systems: settings.systems,
        },
    )
}

/// Modules ordered so that a module comes after the modules it `ref`s (patients before their
/// observations), ties and cycles by name: the order a run writes resources in, so that bundles
/// can be loaded one after another into a server that checks references.
pub fn dependency_order(mut modules: Vec<Module>) -> Vec<Module> {
    modules.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<String> = modules.iter().map(|m| m.name.clone()).collect();
    let deps: Vec<Vec<usize>> = modules
        .iter()
        .map(|m| {
            m.references()
                .iter()
                .filter_map(|r| names.iter().position(|n| n == r))
                .collect()
        })
        .collect();
    let mut placed = vec![false; modules.len()];
    let mut order = Vec::with_capacity(modules.len());
    while order.len() < modules.len() {
        // The first module (by name) whose dependencies are all placed; on a cycle, the first
        // unplaced one.
        let next = (0..modules.len())
            .find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d] || d == i))
            .or_else(|| (0..modules.len()).find(|&i| !placed[i]));
        let Some(i) = next else { break };
        placed[i] = true;
        order.push(i);
    }
    let mut slots: Vec<Option<Module>> = modules.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// The module's query as a run reads it: a summary module's rows ordered by patient (then its
/// `order_by`, then the key), so that each patient's rows arrive together.
pub fn reader_query(module: &Module) -> String {
    if !module.is_summary() {
        return module.source.query.clone();
    }
    let order: Vec<String> = module
        .summary_order()
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect();
    format!(
        "SELECT * FROM ({}\n) AS ferry_summary ORDER BY {}",
        module.source.query.trim().trim_end_matches(';'),
        order.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, refs: &[&str]) {
        let fields: String = refs
            .iter()
            .enumerate()
            .map(|(i, r)| format!("\"note[{i}].text\" = \"ref('{r}', row.k)\"\n"))
            .collect();
        std::fs::write(
            dir.join(format!("{name}.toml")),
            format!(
                "[module]\nname = \"{name}\"\n[source]\nquery = \"SELECT 1 AS k\"\nkey = \"k\"\n\
                 [[resource]]\ntype = \"Basic\"\n[resource.fields]\n\"code.text\" = \"'x'\"\n{fields}"
            ),
        )
        .unwrap();
    }

    fn ids() -> Arc<IdFn> {
        Arc::new(|m: &str, t: &str, k: &str| format!("{m}.{t}.{k}"))
    }

    #[test]
    fn modules_come_after_the_modules_they_reference() {
        let dir = tempfile::tempdir().unwrap();
        let maps = dir.path().join("mappings");
        std::fs::create_dir(&maps).unwrap();
        // Alphabetically `allergies` < `patients` < `visits`, but allergies refs both.
        write(&maps, "allergies", &["patients", "visits"]);
        write(&maps, "patients", &[]);
        write(&maps, "visits", &["patients"]);
        // A cycle does not lose a module.
        write(&maps, "x_cycle", &["y_cycle"]);
        write(&maps, "y_cycle", &["x_cycle"]);
        let (modules, diags) = load_modules(
            &maps,
            &dir.path().join("concept-maps"),
            ids(),
            LocalTime::default(),
        );
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let names: Vec<String> = dependency_order(modules)
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(
            names,
            ["patients", "visits", "allergies", "x_cycle", "y_cycle"]
        );
    }

    #[test]
    fn module_files_skip_review_files_and_other_extensions() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "b.toml",
            "a.toml",
            "duplicates.toml",
            "migration-map.toml",
            "notes.md",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names: Vec<String> = module_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
    }

    /// A merged member's row goes into the survivor's resource: the id `merged_resource` names is
    /// the one the survivor's own row gets from the module (the module's id function, a named
    /// primary resource's `key#name` included), and `ref` to the member points at it too.
    #[test]
    fn a_merged_row_names_the_id_the_survivors_row_gets() {
        let dir = tempfile::tempdir().unwrap();
        let maps = dir.path().join("mappings");
        std::fs::create_dir(&maps).unwrap();
        std::fs::write(
            maps.join("people.toml"),
            "[module]\nname = \"people\"\n[source]\nquery = \"SELECT 1 AS k\"\nkey = \"k\"\n\
             [[resource]]\ntype = \"Patient\"\nname = \"main\"\n[resource.fields]\n\"gender\" = \"'unknown'\"\n",
        )
        .unwrap();
        write(&maps, "visits", &["people"]);
        let merges = Merges {
            module: "people".into(),
            to_survivor: [("7", "3"), ("3", "3")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .into(),
        };
        let (modules, diags) = load_modules_with(
            &maps,
            &dir.path().join("concept-maps"),
            ids(),
            LocalTime::default(),
            Some(&merges),
        );
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let people = modules.iter().find(|m| m.name == "people").unwrap();
        let schema = crate::RowSchema::new(["k"]);
        let survivor_row = [ferry_core::ValueRef::Text("3")];
        let crate::RowOutcome::Migrated(r) = people.evaluate(&crate::RowView {
            schema: &schema,
            values: &survivor_row,
        }) else {
            panic!("the survivor's row did not migrate");
        };
        let survivor_id = r[0]["id"].as_str().unwrap().to_string();
        assert_eq!(survivor_id, "people.Patient.3#main");
        assert_eq!(
            merges.merged_resource(people, "7"),
            Some(("3".into(), "Patient".into(), survivor_id.clone()))
        );
        assert_eq!(
            merges.merged_resource(people, "3"),
            None,
            "the survivor itself"
        );
        assert_eq!(merges.merged_resource(people, "8"), None, "not merged");
        let visits = modules.iter().find(|m| m.name == "visits").unwrap();
        assert_eq!(merges.merged_resource(visits, "7"), None, "another module");
        let member_row = [ferry_core::ValueRef::Text("7")];
        let crate::RowOutcome::Migrated(v) = visits.evaluate(&crate::RowView {
            schema: &schema,
            values: &member_row,
        }) else {
            panic!("the visit did not migrate");
        };
        assert_eq!(v[0]["note"][0]["text"], format!("Patient/{survivor_id}"));
    }

    #[test]
    fn a_summary_modules_reader_query_orders_by_patient_then_order_by_then_key() {
        let dir = tempfile::tempdir().unwrap();
        let maps = dir.path().join("mappings");
        std::fs::create_dir(&maps).unwrap();
        std::fs::write(
            maps.join("hist.toml"),
            "[module]\nname = \"hist\"\n[source]\nquery = \"SELECT * FROM t;\"\nkey = \"k\"\npatient = \"p\"\n\
             [summary]\ntitle = \"History\"\norder_by = [\"d\\\"x\"]\n[summary.fields]\n\"status\" = \"'current'\"\n",
        )
        .unwrap();
        write(&maps, "plain", &[]);
        let (modules, diags) = load_modules(
            &maps,
            &dir.path().join("concept-maps"),
            ids(),
            LocalTime::default(),
        );
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        assert_eq!(
            reader_query(&modules[0]),
            "SELECT * FROM (SELECT * FROM t\n) AS ferry_summary ORDER BY \"p\", \"d\"\"x\", \"k\""
        );
        assert_eq!(reader_query(&modules[1]), "SELECT 1 AS k");
    }
}
