//! Deterministic resource ids and the FHIR id rule.

use uuid::Uuid;

/// The separator between the parts hashed into a resource id: U+001F INFORMATION SEPARATOR ONE,
/// a control character that never occurs in a module name, a resource type or (realistically)
/// a source key, so `("a\u{1f}b", "c")` and `("a", "b\u{1f}c")` are the only colliding shapes.
pub const ID_SEPARATOR: char = '\u{1f}';

/// The id of the resource a module produces for one source row: a UUID v5 (SHA-1, RFC 9562)
/// in `namespace` (the project's namespace UUID) of the name bytes
///
/// ```text
/// UTF-8(module) 0x1F UTF-8(resource_type) 0x1F UTF-8(source_key)
/// ```
///
/// written as the lowercase hyphenated form (36 characters, a valid FHIR id). The same project,
/// module, type and key always give the same id, so a re-run writes the same ids and references
/// between modules can be computed from the other module's source key.
pub fn resource_id(namespace: Uuid, module: &str, resource_type: &str, source_key: &str) -> String {
    let mut name = Vec::with_capacity(module.len() + resource_type.len() + source_key.len() + 2);
    name.extend_from_slice(module.as_bytes());
    name.push(0x1f);
    name.extend_from_slice(resource_type.as_bytes());
    name.push(0x1f);
    name.extend_from_slice(source_key.as_bytes());
    // `encode_lower` rather than `to_string`: no formatting machinery for a hot path.
    Uuid::new_v5(&namespace, &name)
        .hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

/// A resource-id function of (module, resource type, source key).
pub type IdFunction = dyn Fn(&str, &str, &str) -> String + Send + Sync;

/// [`resource_id`] in `namespace` as a shareable function of (module, resource type, source key),
/// the shape the mapping language takes its id function in (`ferry_map::IdFn`), so callers need
/// not write the closure themselves.
pub fn id_fn(namespace: Uuid) -> std::sync::Arc<IdFunction> {
    std::sync::Arc::new(move |module: &str, resource_type: &str, source_key: &str| {
        resource_id(namespace, module, resource_type, source_key)
    })
}

/// Whether `id` is a valid FHIR id: 1 to 64 characters from `A-Z a-z 0-9 - .`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resource_id_is_pinned() {
        // Pinned: changing the byte layout would re-key every migrated resource.
        let ns = Uuid::parse_str("6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap_or_default();
        let id = resource_id(ns, "patients", "Patient", "MRN-000123");
        // Independently: python3 -c "import uuid; print(uuid.uuid5(uuid.UUID(
        //   '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), 'patients\x1fPatient\x1fMRN-000123'))"
        assert_eq!(id, "aaf86730-49d7-5a88-af69-948475a14247");
    }

    #[test]
    fn id_fn_is_resource_id_in_its_namespace() {
        let ns = Uuid::from_u128(7);
        let f = id_fn(ns);
        assert_eq!(
            f("patients", "Patient", "MRN-1"),
            resource_id(ns, "patients", "Patient", "MRN-1")
        );
        assert_ne!(
            f("patients", "Patient", "MRN-1"),
            resource_id(Uuid::nil(), "patients", "Patient", "MRN-1")
        );
    }

    #[test]
    fn resource_id_separates_parts() {
        let ns = Uuid::nil();
        assert_ne!(
            resource_id(ns, "ab", "Patient", "c"),
            resource_id(ns, "a", "Patient", "bc")
        );
        assert_ne!(
            resource_id(ns, "m", "Patient", "1"),
            resource_id(ns, "m", "Observation", "1")
        );
        assert_ne!(
            resource_id(Uuid::from_u128(1), "m", "Patient", "1"),
            resource_id(ns, "m", "Patient", "1")
        );
    }

    #[test]
    fn id_rule() {
        assert!(is_valid_id("a"));
        assert!(is_valid_id("Patient-1.2"));
        assert!(is_valid_id(&"x".repeat(64)));
        assert!(!is_valid_id(&"x".repeat(65)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id("é"));
    }

    proptest! {
        #[test]
        fn resource_ids_are_valid_fhir_ids(m in ".*", t in "[A-Z][a-z]{0,20}", k in ".*") {
            let id = resource_id(Uuid::nil(), &m, &t, &k);
            prop_assert!(is_valid_id(&id));
            prop_assert_eq!(id.len(), 36);
            prop_assert_eq!(resource_id(Uuid::nil(), &m, &t, &k), id);
        }
    }
}
