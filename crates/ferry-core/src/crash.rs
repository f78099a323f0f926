//! Crash points: named instants at which a test can make Ferry die as `kill -9` would, to prove
//! that a kill there leaves the old state or the new one and that the next command repairs it.
//!
//! `FERRY_CRASH_AT=NAME` aborts the process the first time it reaches [`point`]`("NAME")`;
//! `FERRY_CRASH_AT=NAME@K` at the K-th time (1-based). `abort()` runs no destructors and flushes
//! nothing, which is what a kill does to the files on disk. Unset (always, outside tests), a
//! point costs one relaxed atomic load after the first call.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Target {
    name: String,
    at: u64,
    seen: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var("FERRY_CRASH_AT").ok()?;
            let (name, at) = match spec.split_once('@') {
                Some((n, k)) => (n.to_string(), k.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            Some(Target {
                name,
                at: at.max(1),
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// A named crash point (see the module docs).
#[inline]
pub fn point(name: &str) {
    if let Some(t) = target()
        && t.name == name
        && t.seen.fetch_add(1, Ordering::Relaxed) + 1 == t.at
    {
        std::process::abort();
    }
}
