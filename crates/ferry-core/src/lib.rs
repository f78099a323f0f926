//! Ferry's shared vocabulary.
//!
//! Every other crate speaks in these types: a staged [`Value`] (text, bytes or NULL, never coerced),
//! a [`TableDef`] read from a snapshot, a [`Note`] recording something a reader noticed (a skipped
//! view, a transcoded file, a rejected row), and the [`Sink`] a snapshot reader pushes into.
//!
//! This crate knows no file format, no database and no network. Its file handling is
//! format-free: [`atomic`] (every file Ferry writes, atomically, with its permissions: the one
//! seam for encrypting files later) and [`writeback`] (background fsyncs of large files).
//! [`cancel`] is the Ctrl-C token long operations poll; [`crash`] the crash points kill trials use.

pub mod atomic;
pub mod calendar;
pub mod cancel;
pub mod content_hash;
pub mod crash;
mod note;
mod sink;
mod table;
pub mod trail;
mod value;
pub mod writeback;

pub use cancel::Cancel;
pub use note::{Note, NoteKind};
pub use sink::{MemorySink, Sink, SinkError, TableId};
pub use table::{ColumnDef, Origin, TableDef};
pub use value::{Value, ValueRef};

/// A number for people: integers without decimals, others with at most two.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
