//! Reports written from a snapshot profile ([`ferry_profile::model::SnapshotProfile`]):
//!
//! - [`xlsx`]: the data migration map workbook reviewers fill in (an overview, one row per column
//!   with its statistics and empty decision columns, one sheet of value frequencies per table),
//!   and [`xlsx::import_migration_map`], which reads their decisions back and rejects a workbook
//!   whose structure was broken, listing every problem with its sheet and cell;
//! - [`decisions`]: those decisions as a TOML file that diffs cleanly in git, and what changed
//!   between two imports;
//! - [`html`]: a self-contained HTML report (inline CSS and SVG charts, no script, no network) that
//!   opens offline;
//! - [`json`]: the profile as JSON for tools.
//!
//! Reports show only what the profile holds: suppressed values (`--no-samples`, the small-count
//! threshold) were never put in the profile, so no report can show them.

pub mod decisions;
mod error;
mod fsutil;
pub mod html;
pub mod json;
mod text;
pub mod worksheet;
pub mod xlsx;

pub use error::{ImportError, ReportError, SheetProblem};
