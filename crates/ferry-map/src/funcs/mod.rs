//! The healthcare function library as plain Rust functions (no minijinja types), each unit-tested.
//! `engine.rs` registers them as filters and functions. Every function maps a blank input to
//! `Ok(None)` (the element is omitted) and an input it cannot map to an [`FnError`] carrying the
//! raw value for the exception record (never in the message: messages carry no data values).

pub mod attach;
pub mod codes;
pub mod dates;
pub mod ids;
pub mod names;
pub mod numbers;

/// Why a function could not map a value. `message` names no data value (PHI); `raw` keeps the
/// value for the exception record, which is stored with the run, not printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FnError {
    pub message: String,
    pub raw: Option<String>,
}

impl FnError {
    pub fn new(message: impl Into<String>, raw: &str) -> Self {
        Self {
            message: message.into(),
            raw: Some(raw.to_string()),
        }
    }
}

/// Trims and treats an empty string as blank.
pub(crate) fn non_blank(s: &str) -> Option<&str> {
    let t = s.trim();
    if t.is_empty() { None } else { Some(t) }
}

/// Collapses runs of whitespace into one space and trims.
pub(crate) fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
