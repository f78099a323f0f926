//! Duplicate patients: probabilistic record linkage (Fellegi-Sunter) with unsupervised
//! estimation, as `ferry dedupe` runs it.
//!
//! - [`config`]: the `[dedupe]` section of ferry.toml (table, key, identity columns, blocking
//!   rules, threshold), with defaults proposed from column names;
//! - [`source`]: reading a staged table (streamed into compact [`RecordSet`] records) or a FHIR
//!   Patient NDJSON export of the target;
//! - `normalize`, `nicknames`, [`compare`]: values normalised and compared with levels (exact,
//!   nicknames, edit distance, Jaro-Winkler bands, Double Metaphone, birth dates with day/month
//!   transposition and year off by one; missing values neutral);
//! - [`block`] and [`engine`]: blocking rules unioned (each pair scored once), u from random
//!   pairs, m by EM per blocking rule, term-frequency adjustment, match probabilities, and an
//!   explanation per pair;
//! - [`cluster`] and [`decisions`]: clusters (union-find) with stable ids, reviewed decisions in
//!   `mappings/duplicates.toml`, survivorship, and [`load_merges`] for `ferry run`;
//! - [`report`]: the JSON and HTML reports (they hold values: PHI);
//! - [`review`]: accepting and rejecting a report's clusters, each cluster's status read from
//!   the decisions (not from the report).

pub mod block;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod decisions;
pub mod engine;
mod nicknames;
pub mod normalize;
pub mod progress;
pub mod record;
pub mod report;
pub mod review;
pub mod source;

pub use cluster::{Cluster, Status, clusters};
pub use config::{Columns, DedupeConfig, Field, TableColumns};
pub use decisions::{
    DECISIONS_FILE, Decision, Decisions, MergeMap, Verdict, cluster_id, key_cmp, load_merges,
};
pub use engine::{
    LinkOptions, Linkage, Model, ModelWarning, ScoredPair, Untrained, link, link_with_progress,
};
pub use progress::{LinkEvent, Progress};
pub use record::{RawRecord, RecordSet};
pub use source::{StagedNames, read_fhir_patients, read_snapshot, read_snapshot_with_progress};

use std::path::PathBuf;

/// Why linking failed. Messages name files, lines, tables and columns, never values.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] ferry_store::StoreError),
    #[error("cannot use `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not valid: {message}")]
    Decisions { path: PathBuf, message: String },
    #[error("`{path}` line {line}: {message}")]
    Ndjson {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("too much data to link in memory: {0}")]
    TooLarge(String),
    #[error(
        "no cluster `{id}` in the dedupe report of snapshot {snapshot}; `ferry dedupe review --list` shows the cluster ids"
    )]
    UnknownCluster { id: String, snapshot: u64 },
    #[error("cluster `{id}` is both accepted and rejected; choose one")]
    AcceptedAndRejected { id: String },
    #[error(
        "`{path}` is not a dedupe report (line {line}); run `ferry dedupe` again to rewrite it"
    )]
    NotAReport { path: PathBuf, line: u64 },
    #[error("no dedupe report in `{dir}`; run `ferry dedupe` first")]
    NoReport { dir: PathBuf },
    #[error("linking was cancelled; nothing was written")]
    Cancelled,
}
