//! Ferry's shared vocabulary.
//!
//! Every other crate speaks in these types: a staged [`Value`] (text, bytes or NULL, never coerced),
//! a [`TableDef`] read from a snapshot, a [`Note`] recording something a reader noticed (a skipped
//! view, a transcoded file, a rejected row), and the [`Sink`] a snapshot reader pushes into.
//!
//! This crate knows no file format, no database and no network. ([`writeback`] is the one
//! piece of file handling here: both the output writer and the ledger use it.)

pub mod calendar;
mod note;
mod sink;
mod table;
mod value;
pub mod writeback;

pub use note::{Note, NoteKind};
pub use sink::{MemorySink, Sink, SinkError, TableId};
pub use table::{ColumnDef, Origin, TableDef};
pub use value::{Value, ValueRef};
