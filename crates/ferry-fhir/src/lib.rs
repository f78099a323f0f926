//! FHIR R4 for Ferry: the only crate that knows FHIR JSON.
//!
//! - [`Validator`]: structural validation against the official R4 JSON Schema (vendored), plus
//!   a few cheap migration checks the schema misses; [`Issue`]s never echo values.
//! - [`elements`]: each R4 type's elements (names, list or single, types, choice types) from the
//!   same schema, for checking field paths before data moves (`elements::lookup`).
//! - [`resource_id`]: deterministic UUID v5 resource ids; [`id_fn`] the same as a shareable function.
//! - [`NdjsonWriter`]: Bulk Data NDJSON, one file per type, atomic, byte-deterministic;
//!   [`NdjsonReader`]: the one NDJSON reader (line numbers, offsets, sha256, bounded memory).
//! - [`transaction_bundle`]: a `transaction` Bundle of `PUT Type/id` entries.

mod bundle;
pub mod elements;
mod ids;
mod ndjson;
mod validate;

pub use bundle::{BundleError, transaction_bundle};
pub use ids::{ID_SEPARATOR, IdFunction, id_fn, is_valid_id, resource_id};
pub use ndjson::{
    BundleFile, Line, MAX_LINE, NdjsonError, NdjsonFile, NdjsonReader, NdjsonWriter, json_problem,
    write_canonical, write_canonical_without,
};
pub use validate::{Issue, LeafCheck, Validator};
