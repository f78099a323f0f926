//! Writes sample NDJSON (valid and deliberately invalid resources) with `NdjsonWriter`, for
//! checking the independent Medplum validator:
//!
//!   cargo run -p ferry-fhir --example fhir_samples -- OUT_DIR [--invalid]
//!   node tools/fhir-validate/validate.mjs OUT_DIR

use ferry_fhir::{NdjsonWriter, Validator, resource_id};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: fhir_samples OUT_DIR [--invalid]")?;
    let invalid = args.next().as_deref() == Some("--invalid");
    let ns = uuid::Uuid::from_u128(0x6ba7_b810_9dad_11d1_80b4_00c0_4fd4_30c8);
    let pid = resource_id(ns, "patients", "Patient", "1");
    let mut resources = vec![
        json!({"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1970-01-31",
            "name": [{"family": "Synthetic", "given": ["Pat"]}]}),
        json!({"resourceType": "Immunization", "id": resource_id(ns, "immunizations", "Immunization", "1"),
            "status": "completed", "patient": {"reference": format!("Patient/{pid}")},
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
            "occurrenceDateTime": "2019-10-01"}),
        json!({"resourceType": "Observation", "id": resource_id(ns, "vitals", "Observation", "1"),
            "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": format!("Patient/{pid}")}, "effectiveDateTime": "2020-02-29",
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}),
        json!({"resourceType": "Condition", "id": resource_id(ns, "problems", "Condition", "1"),
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
            "subject": {"reference": format!("Patient/{pid}")}, "onsetDateTime": "2015-06"}),
    ];
    if invalid {
        resources.push(json!({"resourceType": "Immunization", "id": "bad-date",
            "status": "completed", "patient": {"reference": format!("Patient/{pid}")},
            "vaccineCode": {"text": "flu"}, "occurrenceDateTime": "2019-13-45"}));
        resources.push(json!({"resourceType": "Immunization", "id": "bad-code",
            "status": "done", "patient": {"reference": format!("Patient/{pid}")},
            "vaccineCode": {"text": "flu"}, "occurrenceDateTime": "2019-10-01"}));
        resources
            .push(json!({"resourceType": "Patient", "id": "unknown-element", "gendr": "female"}));
        resources.push(
            json!({"resourceType": "Observation", "id": "missing-code", "status": "final",
            "valueQuantity": {"value": "72"}}),
        );
    }
    let mut w = NdjsonWriter::create(&dir)?;
    for r in &resources {
        for issue in Validator::r4().validate(r) {
            eprintln!(
                "ferry-fhir: {}/{}: {issue}",
                r["resourceType"].as_str().unwrap_or("?"),
                r["id"].as_str().unwrap_or("?")
            );
        }
        w.write(r)?;
    }
    for f in w.finish()? {
        println!("{} {} {}", f.file_name, f.count, f.sha256);
    }
    Ok(())
}
