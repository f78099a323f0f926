//! The workspace store: the catalog of snapshots and their staged tables.
//!
//! This crate is the only one that opens the workspace database. A workspace is a folder
//! (`.ferry/` in a project) holding:
//!
//! - `catalog.db`: the catalog (snapshots, their files with sha256, tables, columns, notes);
//! - `snapshots/snapshot-NNNN.db`: one SQLite file per snapshot holding its staged tables,
//!   named as in the source, every value stored as the snapshot held it (TEXT, BLOB or NULL;
//!   columns have no declared type so SQLite applies no affinity), plus `_ferry_rejected_rows`.
//!
//! Staging is atomic: rows go into a temporary file that is renamed into place and entered in the
//! catalog in one catalog transaction only when the whole input was read. A failure, a full disk
//! or a cancel leaves the workspace as it was.
//!
//! Encryption at rest (SQLCipher) and a PostgreSQL catalog for teams can come later behind
//! [`Workspace`] without touching callers.

mod catalog;
mod error;
mod ledger;
mod query;
mod runbook;
mod signoff;
mod textcmp;
mod trail;
mod verification;
mod writer;

pub use catalog::{FileRecord, NoteRecord, SnapshotInfo, TableInfo, Workspace};
pub use error::StoreError;
pub use ledger::{
    DecisionUse, DeltaBase, DeltaLookup, ExceptionGroup, ExceptionRecord, ModuleBooks, PriorRow,
    Retired, RetiredResource, RunInfo, RunOutput, RunSpec, RunWriter, lineage_entries, lineage_ids,
};
pub use query::{QueryValue, SnapshotReader, SqlTextFn, register_sql_functions};
pub use runbook::{RunbookRecord, RunbookStep};
pub use signoff::{RowFate, SamplePacket, SampleVerdict, VerdictInput};
pub use textcmp::numeric_comparisons;
pub use trail::{LedgerCounts, SnapshotContent};
pub use verification::{
    IndexFinding, LedgerOutcome, ResourceLocation, TargetVerificationRecord, VerificationRecord,
    VerifyIndex,
};
pub use writer::{SnapshotWriter, StagedFile};

/// Quotes an SQL identifier for SQLite (`"` doubled inside).
pub(crate) fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn quote_ident_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("plain"), "\"plain\"");
    }
}
