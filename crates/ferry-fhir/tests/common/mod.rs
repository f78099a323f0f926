// Shared fixtures (included with `mod common;`).
#![allow(dead_code)]

use serde_json::{Value, json};

pub fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "000-00-0000"}],
        "name": [{"family": "Synthetic", "given": ["Pat"]}],
        "gender": "female",
        "birthDate": "1970-01-31",
        "managingOrganization": {"reference": "Organization/org-1"}
    })
}

pub fn immunization() -> Value {
    json!({
        "resourceType": "Immunization",
        "id": "imm-1",
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140",
            "display": "Influenza, seasonal, injectable, preservative free"}]},
        "patient": {"reference": "Patient/p1"},
        "occurrenceDateTime": "2019-10-01T09:30:00-05:00",
        "primarySource": true,
        "lotNumber": "A12B",
        "doseQuantity": {"value": 0.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}
    })
}

pub fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2020-02-29",
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}
    })
}

pub fn condition() -> Value {
    json!({
        "resourceType": "Condition",
        "id": "cond-1",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
        "subject": {"reference": "urn:uuid:aaf86730-49d7-5a88-af69-948475a14247"},
        "onsetDateTime": "2015-06"
    })
}
