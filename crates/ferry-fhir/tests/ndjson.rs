mod common;

use common::*;
use ferry_fhir::{NdjsonWriter, transaction_bundle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fs;

fn resources() -> Vec<Value> {
    vec![patient(), immunization(), observation(), condition(), {
        let mut p = patient();
        p["id"] = json!("p2");
        p
    }]
}

fn write_all(dir: &std::path::Path, rs: &[Value]) -> Vec<ferry_fhir::NdjsonFile> {
    let mut w = NdjsonWriter::create(dir).unwrap_or_else(|e| panic!("{e}"));
    for r in rs {
        w.write(r).unwrap_or_else(|e| panic!("{e}"));
    }
    w.finish().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn one_file_per_type_with_counts_and_hashes() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("ndjson");
    let files = write_all(&out, &resources());
    let names: Vec<(&str, u64)> = files
        .iter()
        .map(|f| (f.file_name.as_str(), f.count))
        .collect();
    assert_eq!(
        names,
        [
            ("Condition.ndjson", 1),
            ("Immunization.ndjson", 1),
            ("Observation.ndjson", 1),
            ("Patient.ndjson", 2)
        ]
    );
    for f in &files {
        let bytes = fs::read(out.join(&f.file_name)).unwrap_or_default();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), f.sha256);
        assert!(bytes.ends_with(b"\n"));
        assert_eq!(
            bytes.iter().filter(|b| **b == b'\n').count() as u64,
            f.count
        );
    }
    // Only the output folder is left: no temporary folder beside it.
    let left: Vec<_> = fs::read_dir(tmp.path())
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert_eq!(left.len(), 1);
    insta::assert_snapshot!(
        "patient_ndjson",
        fs::read_to_string(out.join("Patient.ndjson")).unwrap_or_default()
    );
}

#[test]
fn same_input_gives_same_bytes_whatever_the_key_order() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = write_all(&tmp.path().join("a"), &resources());
    // Same resources with their keys inserted in reverse order.
    let reversed: Vec<Value> = resources()
        .into_iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            if let Value::Object(o) = r {
                for (k, v) in o.into_iter().rev() {
                    m.insert(k, v);
                }
            }
            Value::Object(m)
        })
        .collect();
    let b = write_all(&tmp.path().join("b"), &reversed);
    assert_eq!(a, b);
    let line = fs::read_to_string(tmp.path().join("a/Immunization.ndjson")).unwrap_or_default();
    assert!(
        line.starts_with("{\"resourceType\":\"Immunization\",\"doseQuantity\":"),
        "{line}"
    );
}

#[test]
fn writer_dropped_without_finish_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("ndjson");
    {
        let mut w = NdjsonWriter::create(&out).unwrap_or_else(|e| panic!("{e}"));
        for r in resources() {
            w.write(&r).unwrap_or_else(|e| panic!("{e}"));
        }
        // dropped: a failed run
    }
    assert!(!out.exists());
    assert_eq!(fs::read_dir(tmp.path()).into_iter().flatten().count(), 0);
}

/// Regression: a writer once replaced an existing destination folder, so a mistyped output
/// folder (the workspace, mappings/) was deleted. It now refuses, and leaves the folder as it was.
#[test]
fn existing_destination_is_refused_and_kept() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("ndjson");
    write_all(&out, &resources());
    let err = NdjsonWriter::create(&out).err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("already exists")),
        "{err:?}"
    );
    assert!(out.join("Patient.ndjson").exists());
    assert_eq!(fs::read_dir(tmp.path()).into_iter().flatten().count(), 1);
}

#[test]
fn non_resources_are_refused_without_values() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut w = NdjsonWriter::create(tmp.path().join("o")).unwrap_or_else(|e| panic!("{e}"));
    for bad in [
        json!({"id": "x"}),
        json!({"resourceType": "../../etc/passwd"}),
        json!(3),
    ] {
        let e = w
            .write(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("resourceType") || e.contains("JSON object"),
            "{e}"
        );
        assert!(!e.contains("passwd"), "{e}");
    }
}

#[test]
fn transaction_bundle_puts_each_resource_at_type_and_id() {
    let b = transaction_bundle(&[patient(), immunization()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "transaction");
    assert_eq!(
        b["entry"][1]["request"],
        json!({"method": "PUT", "url": "Immunization/imm-1"})
    );
    assert_eq!(b["entry"][0]["resource"], patient());
    assert_eq!(
        ferry_fhir::Validator::r4().validate(&{
            let mut b = b.clone();
            b["id"] = json!("bundle-1");
            b
        }),
        vec![]
    );
    let mut canonical = Vec::new();
    ferry_fhir::write_canonical(&mut canonical, &b);
    insta::assert_snapshot!(
        "transaction_bundle",
        String::from_utf8(canonical).unwrap_or_default()
    );

    let mut no_id = patient();
    if let Some(o) = no_id.as_object_mut() {
        o.remove("id");
    }
    let e = transaction_bundle(&[patient(), no_id])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("entry #1") && e.contains("\"id\""), "{e}");
}
