//! Validating a discrete module's resources by shape.
//!
//! The resources one `[[resource]]` writes differ only in their row-dependent values and in
//! which of them are present. The R4 schema ties no two elements together, so once a resource of
//! a given *shape* (the `[[resource]]` and which of its fields are present) has passed the whole
//! validator, another of the same shape is valid when each of its row-dependent values passes
//! its own element's rule ([`ferry_fhir::Validator::leaf_check`]). That is what this module
//! does; anything else (a shape not seen yet, a value that fails its rule, a value that is a
//! list or a map, an element without a leaf rule) goes through the whole validator, so the
//! exception records are exactly the whole validator's.

use std::collections::{HashMap, HashSet};

use ferry_fhir::{LeafCheck, Validator};
use ferry_map::{Built, Module};
use sha2::{Digest, Sha256};

use crate::{ExceptionRecord, Produced, issues_to_records};

/// Per `[[resource]]`, per field: the leaf rule of a row-dependent field (`None` for constant
/// fields, and for fields the rule cannot be made for), as an index into `rules`, which holds
/// one rule per distinct (resource type, element path): the nine Observations of a vitals row
/// share `subject.reference`'s rule, so its value is checked once per row.
pub(crate) struct LeafChecks {
    checks: Vec<Vec<Option<usize>>>,
    rules: Vec<LeafCheck>,
}

impl LeafChecks {
    pub(crate) fn new(module: &Module, validator: &Validator) -> LeafChecks {
        let mut rules = Vec::new();
        let mut by_path: HashMap<(String, String), Option<usize>> = HashMap::new();
        let mut checks = Vec::with_capacity(module.resources.len());
        for (r, res) in module.resources.iter().enumerate() {
            let mut per_field = Vec::with_capacity(res.fields.len());
            for (f, field) in res.fields.iter().enumerate() {
                if !module.field_is_dynamic(r, f) {
                    per_field.push(None);
                    continue;
                }
                let path: Vec<(&str, bool)> = field
                    .segments()
                    .iter()
                    .map(|s| (s.name.as_str(), s.index.is_some()))
                    .collect();
                let names: Vec<&str> = path.iter().map(|(n, _)| *n).collect();
                let key = (res.resource_type.clone(), names.join("."));
                let rule = *by_path.entry(key).or_insert_with(|| {
                    let check = validator.leaf_check(&res.resource_type, &path)?;
                    rules.push(check);
                    Some(rules.len() - 1)
                });
                per_field.push(rule);
            }
            checks.push(per_field);
        }
        LeafChecks { checks, rules }
    }
}

/// The shapes one worker has seen pass the whole validator: (`[[resource]]`, present fields),
/// and the values that passed their leaf rule in the current row.
#[derive(Default)]
pub(crate) struct ShapeCache {
    valid: HashSet<(usize, u128)>,
    row: Vec<(usize, serde_json::Value)>,
}

impl ShapeCache {
    /// Forgets the previous row's checked values.
    pub(crate) fn new_row(&mut self) {
        self.row.clear();
    }
}

/// Which fields are present, as bits; `None` past 128 fields (such resources are validated
/// whole).
fn shape_of(built: &Built) -> Option<u128> {
    if built.leaves.len() > 128 {
        return None;
    }
    Some(
        built
            .leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_some())
            .fold(0u128, |bits, (i, _)| bits | (1u128 << i)),
    )
}

/// Whether every present row-dependent value has a leaf rule (then the shape can be cached).
fn all_checkable(module: &Module, checks: &LeafChecks, built: &Built) -> bool {
    let Some(per_field) = checks.checks.get(built.resource) else {
        return false;
    };
    built.leaves.iter().enumerate().all(|(f, leaf)| {
        leaf.is_none()
            || !module.field_is_dynamic(built.resource, f)
            || per_field.get(f).is_some_and(Option::is_some)
    })
}

/// Whether each present row-dependent value passes its leaf rule (a value already checked
/// against the same rule in this row is not checked again).
fn leaves_valid(
    module: &Module,
    validator: &Validator,
    checks: &LeafChecks,
    cache: &mut ShapeCache,
    built: &Built,
) -> bool {
    let Some(per_field) = checks.checks.get(built.resource) else {
        return false;
    };
    for (f, leaf) in built.leaves.iter().enumerate() {
        let Some(value) = leaf else { continue };
        if !module.field_is_dynamic(built.resource, f) {
            continue;
        }
        let Some(Some(rule)) = per_field.get(f) else {
            return false;
        };
        if cache.row.iter().any(|(r, v)| r == rule && v == value) {
            continue;
        }
        let Some(check) = checks.rules.get(*rule) else {
            return false;
        };
        if !validator.check_leaf(check, value) {
            return false;
        }
        cache.row.push((*rule, value.clone()));
    }
    true
}

/// The lowercase hex sha256 of `bytes` (`hex::encode_to_slice`: `hex::encode`'s character
/// iterator was 4% of a run).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = [0u8; 64];
    if hex::encode_to_slice(Sha256::digest(bytes), &mut out).is_err() {
        return hex::encode(Sha256::digest(bytes));
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Validates and serializes one evaluated resource; an invalid one gives the whole validator's
/// issues as exception records.
pub(crate) fn produce_built(
    module: &Module,
    validator: &Validator,
    checks: &LeafChecks,
    cache: &mut ShapeCache,
    built: &Built,
) -> Result<Produced, Vec<ExceptionRecord>> {
    let rtype = module
        .resources
        .get(built.resource)
        .map(|r| r.resource_type.clone())
        .unwrap_or_default();
    let mut bytes = Vec::with_capacity(1024);
    let rendered = module.render(built, &mut bytes);
    let shape = shape_of(built).map(|s| (built.resource, s));
    let known = rendered
        && shape.is_some_and(|s| cache.valid.contains(&s))
        && ferry_fhir::is_valid_id(&built.id)
        && leaves_valid(module, validator, checks, cache, built);
    if !known {
        let json = module.assemble(built);
        let issues = validator.validate(&json);
        if !issues.is_empty() {
            return Err(issues_to_records(&rtype, issues));
        }
        if !rendered {
            bytes.clear();
            ferry_fhir::write_canonical(&mut bytes, &json);
        } else if let Some(s) = shape
            && all_checkable(module, checks, built)
        {
            cache.valid.insert(s);
        }
    }
    let sha = sha256_hex(&bytes);
    Ok((rtype, built.id.clone(), bytes, sha))
}
