//! FHIR transaction Bundles (for a REST target).

use serde_json::{Value, json};

use crate::ids::is_valid_id;

/// Why a resource cannot go into a transaction Bundle. Names the entry, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error(
        "bundle entry #{index}: {problem}; a PUT needs \"resourceType\" and a valid \"id\" (1-64 of A-Z a-z 0-9 - .)."
    )]
    Entry {
        /// 0-based position in the input slice.
        index: usize,
        problem: &'static str,
    },
}

/// Builds a FHIR R4 `transaction` Bundle that PUTs every resource at `Type/id` (an update that
/// creates the resource when absent, so re-sending the same bundle is idempotent). Entries keep
/// the input order; `fullUrl` is omitted (optional for transaction entries, and the ids are
/// server-relative).
pub fn transaction_bundle(entries: &[Value]) -> Result<Value, BundleError> {
    let mut out = Vec::with_capacity(entries.len());
    for (index, resource) in entries.iter().enumerate() {
        let err = |problem| BundleError::Entry { index, problem };
        let Some(t) = resource.get("resourceType").and_then(Value::as_str) else {
            return Err(err("\"resourceType\" is missing or not a string"));
        };
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(err("\"resourceType\" is not a resource type name"));
        }
        let Some(id) = resource.get("id").and_then(Value::as_str) else {
            return Err(err("\"id\" is missing or not a string"));
        };
        if !is_valid_id(id) {
            return Err(err("\"id\" is not a valid FHIR id"));
        }
        out.push(json!({
            "resource": resource,
            "request": {"method": "PUT", "url": format!("{t}/{id}")},
        }));
    }
    Ok(json!({"resourceType": "Bundle", "type": "transaction", "entry": out}))
}
