//! JSON helpers: a field-by-field diff with FHIR-style paths, and the references of a resource.

use serde_json::Value;

/// One difference between what a module says and what the output holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// FHIR-style path, e.g. `code.coding[0].code` (`""` for the whole resource).
    pub path: String,
    /// The expected and found values as JSON (`None` when absent). PHI: shown only on request.
    pub expected: Option<String>,
    pub found: Option<String>,
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if a == b {
        return true;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Every difference between `expected` and `found`, depth first, keys in byte order.
pub fn diff(expected: &Value, found: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_at(expected, found, String::new(), &mut out);
    out
}

fn diff_at(expected: &Value, found: &Value, path: String, out: &mut Vec<Difference>) {
    match (expected, found) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = child(&path, k);
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_at(x, y, p, out),
                    (x, y) => out.push(Difference {
                        path: p,
                        expected: x.map(Value::to_string),
                        found: y.map(Value::to_string),
                    }),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => diff_at(x, y, p, out),
                    (x, y) => out.push(Difference {
                        path: p,
                        expected: x.map(Value::to_string),
                        found: y.map(Value::to_string),
                    }),
                }
            }
        }
        (Value::Number(a), Value::Number(b)) if numbers_equal(a, b) => {}
        (a, b) if a == b => {}
        (a, b) => out.push(Difference {
            path,
            expected: Some(a.to_string()),
            found: Some(b.to_string()),
        }),
    }
}

/// A reference found in a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// FHIR-style path of the `reference` element, e.g. `subject.reference`.
    pub path: String,
    /// `Some((type, id))` for a relative literal reference `Type/id` (history suffix dropped);
    /// `None` for contained (`#x`), absolute and other references, which are not checked.
    pub target: Option<(String, String)>,
}

/// Every `reference` string in the resource.
pub fn references(resource: &Value) -> Vec<Reference> {
    let mut out = Vec::new();
    walk(resource, String::new(), &mut out);
    out
}

fn walk(v: &Value, path: String, out: &mut Vec<Reference>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = child(&path, k);
                if k == "reference"
                    && let Value::String(s) = x
                {
                    out.push(Reference {
                        target: parse_relative(s),
                        path: p,
                    });
                } else {
                    walk(x, p, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                walk(x, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// `Type/id` or `Type/id/_history/v` -> (Type, id).
pub fn parse_relative(s: &str) -> Option<(String, String)> {
    let mut parts = s.split('/');
    let ty = parts.next()?;
    let id = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    let type_ok = ty.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && ty.chars().all(|c| c.is_ascii_alphabetic());
    let rest_ok = rest.is_empty() || (rest.len() == 2 && rest.first() == Some(&"_history"));
    (type_ok && !id.is_empty() && rest_ok).then(|| (ty.to_string(), id.to_string()))
}

/// Clinical resource types that must belong to a patient, with the element naming it.
pub const PATIENT_ELEMENT: &[(&str, &str)] = &[
    ("AllergyIntolerance", "patient"),
    ("CarePlan", "subject"),
    ("ClinicalImpression", "subject"),
    ("Condition", "subject"),
    ("DiagnosticReport", "subject"),
    ("DocumentReference", "subject"),
    ("Encounter", "subject"),
    ("FamilyMemberHistory", "patient"),
    ("Flag", "subject"),
    ("Immunization", "patient"),
    ("MedicationAdministration", "subject"),
    ("MedicationRequest", "subject"),
    ("MedicationStatement", "subject"),
    ("Observation", "subject"),
    ("Procedure", "subject"),
    ("RiskAssessment", "subject"),
    ("ServiceRequest", "subject"),
];

/// For a clinical resource without a `Patient/...` reference in its patient element: that
/// element's name.
pub fn missing_patient(resource_type: &str, resource: &Value) -> Option<&'static str> {
    let (_, element) = PATIENT_ELEMENT.iter().find(|(t, _)| *t == resource_type)?;
    let has = resource
        .get(*element)
        .and_then(|e| e.get("reference"))
        .and_then(Value::as_str)
        .and_then(parse_relative)
        .is_some_and(|(t, _)| t == "Patient");
    (!has).then_some(*element)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn diff_names_each_changed_path() {
        let a =
            json!({"code": {"coding": [{"code": "E11.9", "system": "s"}]}, "id": "1", "n": 1.5});
        let b = json!({"code": {"coding": [{"code": "E11.8", "system": "s"}, {"code": "x"}]}, "n": 1.50, "extra": true});
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["code.coding[0].code", "code.coding[1]", "extra", "id"]
        );
        assert_eq!(d[0].expected.as_deref(), Some("\"E11.9\""));
        assert_eq!(d[3].found, None);
    }

    #[test]
    fn references_are_found_with_their_paths() {
        let r = json!({"subject": {"reference": "Patient/p1"},
                       "participant": [{"actor": {"reference": "Practitioner/d/_history/2"}}],
                       "x": {"reference": "#c1"}, "y": {"reference": "http://x/Patient/1"}});
        let refs = references(&r);
        assert_eq!(refs.len(), 4);
        assert!(refs.contains(&Reference {
            path: "participant[0].actor.reference".into(),
            target: Some(("Practitioner".into(), "d".into()))
        }));
        assert!(
            refs.iter()
                .any(|r| r.path == "x.reference" && r.target.is_none())
        );
        assert!(
            refs.iter()
                .any(|r| r.path == "y.reference" && r.target.is_none())
        );
    }

    #[test]
    fn a_clinical_resource_needs_a_patient_reference() {
        assert_eq!(missing_patient("Condition", &json!({})), Some("subject"));
        assert_eq!(
            missing_patient("Condition", &json!({"subject": {"reference": "Group/1"}})),
            Some("subject")
        );
        assert_eq!(
            missing_patient(
                "Immunization",
                &json!({"patient": {"reference": "Patient/1"}})
            ),
            None
        );
        assert_eq!(missing_patient("Practitioner", &json!({})), None);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            "[a-z]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-c]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn diff_is_empty_exactly_when_equal(a in arb_json(), b in arb_json()) {
            prop_assert_eq!(diff(&a, &a).len(), 0);
            prop_assert_eq!(diff(&a, &b).is_empty(), a == b);
        }

        #[test]
        fn a_canonical_round_trip_has_no_differences(a in arb_json()) {
            let mut bytes = Vec::new();
            ferry_fhir::write_canonical(&mut bytes, &a);
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert!(diff(&a, &back).is_empty());
        }
    }
}
