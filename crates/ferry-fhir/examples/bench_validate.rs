//! Validations per second on a typical Immunization and Observation:
//!   cargo run --release -p ferry-fhir --example bench_validate
use ferry_fhir::Validator;
use serde_json::json;
use std::time::Instant;

fn main() {
    let imm = json!({"resourceType": "Immunization", "id": "0b5c6c2e-6d0b-5a8e-9a0e-1f1d7c3c9a11",
        "status": "completed", "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx",
        "code": "140", "display": "Influenza, seasonal, injectable, preservative free"}]},
        "patient": {"reference": "Patient/5d2f1b7e-3c4a-5b6d-8e9f-0a1b2c3d4e5f"},
        "occurrenceDateTime": "2019-10-01T09:30:00-05:00", "primarySource": true, "lotNumber": "A12B",
        "doseQuantity": {"value": 0.5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}});
    let obs = json!({"resourceType": "Observation", "id": "7a1c2b3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d",
        "status": "final", "category": [{"coding": [{"system":
        "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/5d2f1b7e-3c4a-5b6d-8e9f-0a1b2c3d4e5f"},
        "effectiveDateTime": "2020-02-29T10:00:00Z",
        "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}});
    let v = Validator::r4();
    for (name, r) in [("Immunization", &imm), ("Observation", &obs)] {
        let t = Instant::now();
        assert!(v.validate(r).is_empty());
        let first = t.elapsed();
        let n = 200_000;
        let t = Instant::now();
        let mut bad = 0;
        for _ in 0..n {
            bad += v.validate(r).len();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name}: first call (compile) {first:?}; {:.0} validations/s ({bad} issues)",
            n as f64 / secs
        );
    }
}
