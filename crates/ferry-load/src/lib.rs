//! Into the new EHR: `ferry load` sends a verified run's resources to a live FHIR R4 server
//! exactly once, `ferry rollback` restores what the server held before, and `ferry verify
//! --target` checks the server's copy against the run.
//!
//! - [`target`]: `[targets.NAME]` settings and the HTTPS client (rustls; `http://` only to
//!   loopback when allowed; bearer token from an environment variable or a file, or SMART
//!   Backend Services).
//! - [`smart`]: SMART Backend Services tokens (a signed JWT assertion, ES384 or RS384), cached,
//!   renewed before expiry and once after a 401.
//! - [`journal`]: per load, each resource's pre-image, intent and outcome, committed before and
//!   after each request, so a kill at any instant resumes to exactly once.
//! - [`load`]: referenced types first, batch Bundles of `PUT Type/id` (Ferry's deterministic
//!   ids), per-entry outcomes, 429/5xx entries resent alone, a Provenance per load; the
//!   resources of one source row of a `load = "transaction"` module in one transaction.
//! - [`rollback`]: reverse order, `If-Match` on the version Ferry wrote; an edit since stops it.
//! - [`verify`]: counts by tag, every resource read back and compared (server `meta` ignored).
//!
//! Ferry's own messages carry resource types, ids (UUIDs, no PHI), statuses and counts; a
//! server's OperationOutcome (which may quote a value) stays in the journal.

pub mod conflicts;
pub mod fhir;
pub mod http;
pub mod journal;
pub mod load;
pub mod manifest;
pub mod rollback;
pub mod smart;
pub mod target;
pub mod verify;

pub use load::{Groups, LoadPlan, LoadSummary, Retire, RetirePolicy, load};
pub use target::{Target, TargetConfig};

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("target `{target}` in ferry.toml: {message}")]
    Config { target: String, message: String },
    #[error("the load journal `{}` cannot be used: {message}", path.display())]
    Journal { path: PathBuf, message: String },
    #[error("cannot read the run's output `{}`: {message}", path.display())]
    Output { path: PathBuf, message: String },
    #[error("target `{target}` refused Ferry's credentials (HTTP {status}); check {check}")]
    Refused {
        target: String,
        status: u16,
        /// What to check, by the target's `auth`.
        check: &'static str,
    },
    #[error("target `{target}`: SMART Backend Services authorization failed: {message}")]
    Auth { target: String, message: String },
    #[error(
        "target `{target}` kept failing ({last}) after {attempts} attempts; nothing is lost: `ferry load --resume` continues where this stopped"
    )]
    GaveUp {
        target: String,
        last: String,
        attempts: u32,
    },
    #[error("target `{target}` answered HTTP {status} to {what}{hint}")]
    Server {
        target: String,
        status: u16,
        what: String,
        hint: &'static str,
    },
    #[error("{0}")]
    Other(String),
    #[error("cancelled; the journal records what was sent: `ferry load --resume` continues")]
    Cancelled,
}

/// Counters shared by the workers of a load, a rollback or a target verification.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// Entries of a batch answered 429/5xx and resent alone.
    pub entry_retries: AtomicU64,
    /// Transaction Bundles sent (committed or refused).
    pub transactions: AtomicU64,
    pub done: AtomicU64,
}

/// Progress of a load, for a bar.
#[derive(Debug, Clone, Copy)]
pub enum LoadEvent<'a> {
    Phase { name: &'a str, total: Option<u64> },
    Position(u64),
    Message(&'a str),
}
