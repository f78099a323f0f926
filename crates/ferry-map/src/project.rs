//! Loading a project's `mappings/` and `concept-maps/` folders.

use std::path::Path;
use std::sync::Arc;

use crate::concept;
use crate::diag::{Diagnostic, Severity};
use crate::engine::{Engine, EngineConfig, IdFn, RefTarget};
use crate::module::{Module, parse_module, peek_primary};

/// Project-level settings the run passes in.
pub struct ProjectOptions {
    /// Resource ids: `ferry-fhir`'s UUID v5 over (namespace, module, type, key) in the run.
    pub ids: Arc<IdFn>,
    /// Offset for legacy local times without a zone (`ferry.toml`), e.g. `-05:00`.
    pub local_offset: Option<String>,
    /// Two-digit-year pivot (default 30).
    pub pivot: Option<u32>,
    /// Accepted duplicate-patient merges (see [`crate::EngineConfig::merges`]).
    pub merges: std::collections::BTreeMap<String, std::collections::HashMap<String, String>>,
}

/// Reviewers' decision files that live in `mappings/` but are not modules.
pub const REVIEW_FILES: &[&str] = &["migration-map.toml", "duplicates.toml"];

/// Loads every `*.toml` module in `mappings_dir` (sorted by file name; the reviewers' decision
/// files [`REVIEW_FILES`] are skipped) and every concept map in `concept_maps_dir`.
/// Returns the modules that loaded without errors and every diagnostic of every file.
pub fn load_project(
    mappings_dir: &Path,
    concept_maps_dir: &Path,
    options: ProjectOptions,
) -> (Vec<Module>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let (maps, d) = concept::load_dir(concept_maps_dir);
    diags.extend(d);

    let mut files = Vec::new();
    match std::fs::read_dir(mappings_dir) {
        Ok(rd) => {
            let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for p in paths {
                let is_toml = p.extension().and_then(|e| e.to_str()) == Some("toml");
                let is_decisions = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| REVIEW_FILES.contains(&n));
                if !is_toml || is_decisions {
                    continue;
                }
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

    let mut config = EngineConfig::new(options.ids);
    config.concept_maps = maps;
    config.local_offset = options.local_offset;
    config.merges = options.merges;
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
                message: format!("local_offset: {}", e.message),
            });
            return (Vec::new(), diags);
        }
    };
    let mut modules = Vec::new();
    for (p, text) in &files {
        let (m, d) = parse_module(&p.display().to_string(), text, &engine);
        diags.extend(d);
        modules.extend(m);
    }
    (modules, diags)
}
