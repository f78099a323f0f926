//! Ferry's mapping language: module files (`mappings/*.toml`), field expressions in
//! [minijinja](https://docs.rs/minijinja) (Jinja2 expression syntax), the healthcare function
//! library, and per-row evaluation into FHIR JSON.
//!
//! ```text
//! load_project(mappings/, concept-maps/, options) -> (Vec<Module>, Vec<Diagnostic>)
//! load_modules_with(mappings/, concept-maps/, ids, Settings, Option<&Merges>)  (run, verify)
//! dependency_order(modules); reader_query(&module)          (the order and query a run reads in)
//! module.check_columns(&columns)                  -> Vec<Diagnostic>      (ferry check)
//! module.check_elements(); module.check_time_zone() -> Vec<Diagnostic>   (ferry check: R4 paths)
//! module.evaluate(&RowView)                       -> RowOutcome           (tests, verify)
//! module.evaluate_fields(&RowView) -> Evaluated; module.render(&Built, &mut bytes)  (ferry run)
//! module.summarize(&[RowView]) (one patient's rows) -> Summarized         ([summary] modules)
//! ```
//!
//! This crate knows no database, no runs and no FHIR validation or ids: its callers supply rows
//! and an id function (`ferry_fhir::id_fn(namespace)`), and validate what comes out. It asks
//! `ferry_fhir::elements` (the R4 element definitions) only to check field paths. See
//! `docs/mapping.md`.

mod concept;
pub mod decisions;
mod diag;
mod elements;
mod engine;
mod eval;
pub mod funcs;
mod lint;
mod module;
mod path;
mod project;
mod summary;
mod systems;
mod template;

pub use concept::{
    ConceptMap, ConceptMaps, Target, load_dir as load_concept_maps, read_csv, read_json,
};
pub use diag::{Diagnostic, Severity};
pub use engine::{
    Engine, EngineConfig, FERRY_FILTERS, FERRY_FUNCTIONS, IdFn, LocalTime, RefTarget, Settings,
    Systems,
};
pub use eval::{Built, Evaluated, FieldError, NO_RESOURCE_RULE, RowOutcome, RowSchema, RowView};
pub use module::{
    DeletedPolicy, ENTERED_IN_ERROR_STATUS, Exclude, Field, Module, ModuleLimit, Resource, Source,
    Summary, parse_module,
};
pub use path::{Segment, parse_path};
pub use project::{
    Merges, ProjectOptions, REVIEW_FILES, dependency_order, load_modules, load_modules_with,
    load_project, module_files, reader_query,
};
pub use summary::{DEFAULT_SUMMARY_TEMPLATE, SUMMARY_RESOURCE_TYPE, Summarized};
