mod common;

use common::*;
use ferry_fhir::{Issue, Validator};
use serde_json::{Value, json};

fn issues(v: &Value) -> Vec<Issue> {
    Validator::r4().validate(v)
}

fn assert_one(v: &Value, path: &str, message_has: &str) -> Issue {
    let found = issues(v);
    let at: Vec<&Issue> = found.iter().filter(|i| i.path == path).collect();
    assert_eq!(at.len(), 1, "expected one issue at {path}, got {found:#?}");
    assert!(
        at[0].message.contains(message_has),
        "message {:?} lacks {message_has:?}",
        at[0].message
    );
    at[0].clone()
}

/// No message may contain a value taken from the resource (PHI).
fn assert_no_value(issue: &Issue, value: &str) {
    assert!(
        !issue.message.contains(value),
        "message {:?} echoes the value {value:?}",
        issue.message
    );
}

#[test]
fn valid_resources_pass() {
    for r in [patient(), immunization(), observation(), condition()] {
        assert_eq!(issues(&r), vec![], "{r}");
    }
}

#[test]
fn bad_date_is_reported_without_the_value() {
    let mut r = immunization();
    r["occurrenceDateTime"] = json!("2019-13-45");
    let i = assert_one(&r, "/occurrenceDateTime", "dateTime");
    assert_no_value(&i, "2019-13-45");
    assert_no_value(&i, "2019");
}

#[test]
fn impossible_calendar_date_is_reported() {
    let mut r = patient();
    r["birthDate"] = json!("2019-02-30");
    let i = assert_one(&r, "/birthDate", "calendar");
    assert_no_value(&i, "2019-02-30");
    r["birthDate"] = json!("2020-02-29");
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn bad_code_lists_the_allowed_codes_not_the_value() {
    let mut r = immunization();
    r["status"] = json!("done");
    let i = assert_one(&r, "/status", "completed, entered-in-error, not-done");
    assert_no_value(&i, "done\"");
    assert!(!i.message.contains("\"done\""));
}

#[test]
fn unknown_element_is_reported_at_its_path() {
    let mut r = immunization();
    r["vaccineCode"]["coding"][0]["sytem"] = json!("http://hl7.org/fhir/sid/cvx");
    let i = assert_one(&r, "/vaccineCode/coding/0/sytem", "unknown element");
    assert!(i.message.contains("Coding"), "{i:?}");
    assert_no_value(&i, "cvx");
}

#[test]
fn missing_required_element_is_reported() {
    let mut r = immunization();
    if let Some(o) = r.as_object_mut() {
        o.remove("vaccineCode");
    }
    assert_one(&r, "/vaccineCode", "required element is missing");
}

#[test]
fn wrong_type_is_reported_without_the_value() {
    let mut r = observation();
    r["valueQuantity"]["value"] = json!("72 bpm");
    let i = assert_one(
        &r,
        "/valueQuantity/value",
        "wrong JSON type: expected number",
    );
    assert_no_value(&i, "72");
    let mut r = patient();
    r["name"] = json!({"family": "Synthetic"});
    assert_one(&r, "/name", "expected array");
}

#[test]
fn resource_type_missing_unknown_or_not_r4() {
    assert_one(&json!({"id": "x"}), "/resourceType", "missing");
    let i = assert_one(
        &json!({"resourceType": "Patiënt", "id": "x"}),
        "/resourceType",
        "not a FHIR R4 resource type",
    );
    assert_no_value(&i, "Patiënt");
    // Medplum's own resource types are in the vendored schema but are not R4.
    assert_one(
        &json!({"resourceType": "Bot", "id": "x"}),
        "/resourceType",
        "not a FHIR R4",
    );
    assert_one(&json!({"resourceType": 7}), "/resourceType", "string");
    assert_eq!(issues(&json!([1])).len(), 1);
}

#[test]
fn medplum_meta_elements_are_not_r4() {
    let mut r = patient();
    r["meta"] = json!({"project": "x"});
    assert_one(&r, "/meta/project", "unknown element");
}

#[test]
fn id_rules() {
    let mut r = patient();
    r["id"] = json!("p_1 with spaces");
    let i = assert_one(&r, "/id", "1 to 64 characters");
    assert_no_value(&i, "p_1");
    r["id"] = json!("x".repeat(65));
    assert_one(&r, "/id", "1 to 64 characters");
    if let Some(o) = r.as_object_mut() {
        o.remove("id");
    }
    assert_one(&r, "/id", "id is missing");
}

#[test]
fn references_must_be_type_slash_id_or_urn_uuid() {
    for bad in [
        "p1",
        "Patient/",
        "Patient/a b",
        "Patient/p1/_history/2",
        "Pt/p1",
        "urn:uuid:not-a-uuid",
        "http://example.org/Patient/p1",
    ] {
        let mut r = immunization();
        r["patient"]["reference"] = json!(bad);
        let i = assert_one(&r, "/patient/reference", "reference must be");
        assert_no_value(&i, bad);
    }
    let mut r = observation();
    r["performer"] = json!([{"reference": "Practitioner/dr-1"}, {"reference": "nope"}]);
    assert_one(&r, "/performer/1/reference", "reference must be");
    assert!(
        issues(&r)
            .iter()
            .all(|i| i.path != "/performer/0/reference")
    );
}

#[test]
fn every_issue_of_a_bad_resource_is_reported_sorted() {
    let mut r = immunization();
    r["status"] = json!("done");
    r["occurrenceDateTime"] = json!("2019-13-45");
    r["foo"] = json!(1);
    let found = issues(&r);
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/foo", "/occurrenceDateTime", "/status"],
        "{found:#?}"
    );
}

#[test]
fn contained_resources_are_validated() {
    let mut r = observation();
    r["contained"] = json!([{"resourceType": "Patient", "id": "c1", "gender": "f"}]);
    let found = issues(&r);
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|i| i.path.starts_with("/contained/0")),
        "{found:#?}"
    );
}

#[test]
fn required_elements_include_primitives_and_choices() {
    let v = Validator::r4();
    // From the StructureDefinitions: the JSON schema alone requires only patient and vaccineCode.
    assert_eq!(
        v.required_elements("Immunization"),
        ["occurrence[x]", "patient", "status", "vaccineCode"]
    );
    assert_eq!(v.required_elements("Observation"), ["code", "status"]);
    assert!(v.required_elements("Nope").is_empty());
}

#[test]
fn missing_required_primitive_and_choice_are_reported() {
    let mut r = immunization();
    if let Some(o) = r.as_object_mut() {
        o.remove("status");
        o.remove("occurrenceDateTime");
    }
    assert_one(&r, "/status", "required element is missing");
    assert_one(&r, "/occurrence[x]", "required element is missing");
    // A primitive given only as its extension counts as present; any choice type does too.
    r["_status"] = json!({"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]});
    r["occurrenceString"] = json!("spring 2019");
    assert_eq!(issues(&r), vec![]);
}

#[test]
fn messages_print_path_and_rule() {
    let mut r = immunization();
    r["status"] = json!("done");
    let s = issues(&r)[0].to_string();
    assert!(s.starts_with("/status: code is not one of"), "{s}");
}

/// Regression: an array where R4 allows one element (`Location.address` is 0..1) must be caught;
/// the JSON schema's complex types did not say `type: object`. Found by Medplum's validator.
#[test]
fn an_array_for_a_single_complex_element_is_invalid() {
    let loc = serde_json::json!({
        "resourceType": "Location",
        "id": "loc-1",
        "address": [{"city": "Flint"}]
    });
    let issues = ferry_fhir::Validator::r4().validate(&loc);
    assert!(
        issues.iter().any(|i| i.path.starts_with("/address")),
        "{issues:?}"
    );
    let ok = serde_json::json!({
        "resourceType": "Location",
        "id": "loc-1",
        "address": {"city": "Flint"}
    });
    assert!(ferry_fhir::Validator::r4().validate(&ok).is_empty());
}
