//! Ferry's mapping language: module files (`mappings/*.toml`), field expressions in
//! [minijinja](https://docs.rs/minijinja) (Jinja2 expression syntax), the healthcare function
//! library, and per-row evaluation into FHIR JSON.
//!
//! ```text
//! load_project(mappings/, concept-maps/, options) -> (Vec<Module>, Vec<Diagnostic>)
//! module.check_columns(&columns)                  -> Vec<Diagnostic>      (ferry check)
//! module.evaluate(&RowView)                       -> RowOutcome           (tests, verify)
//! module.evaluate_fields(&RowView) -> Evaluated; module.render(&Built, &mut bytes)  (ferry run)
//! module.summarize(&[RowView]) (one patient's rows) -> Summarized         ([summary] modules)
//! ```
//!
//! This crate knows no database and no FHIR validation: the run engine supplies rows and an id
//! function, and validates what comes out. See `docs/mapping.md`.

mod concept;
mod diag;
mod engine;
mod eval;
pub mod funcs;
mod lint;
mod module;
mod path;
mod project;
mod summary;
mod template;

pub use concept::{
    ConceptMap, ConceptMaps, Target, load_dir as load_concept_maps, read_csv, read_json,
};
pub use diag::{Diagnostic, Severity};
pub use engine::{Engine, EngineConfig, FERRY_FILTERS, FERRY_FUNCTIONS, IdFn, RefTarget};
pub use eval::{Built, Evaluated, FieldError, NO_RESOURCE_RULE, RowOutcome, RowSchema, RowView};
pub use module::{Exclude, Field, Module, Resource, Source, Summary, parse_module};
pub use path::{Segment, parse_path};
pub use project::{ProjectOptions, REVIEW_FILES, load_project};
pub use summary::{DEFAULT_SUMMARY_TEMPLATE, SUMMARY_RESOURCE_TYPE, Summarized};
