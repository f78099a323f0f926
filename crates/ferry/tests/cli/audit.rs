//! `ferry audit` finds exactly the defects the generator seeded, from the dump and from the CSV
//! export alike.

use super::workdir::Workdir;
use std::collections::BTreeMap;

fn manifest(wd: &Workdir) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(wd.join("legacy/manifest.json")).unwrap())
        .unwrap()
}

/// (check, table, column) -> count, from the audit JSON.
fn counts(report: &serde_json::Value, check: &str) -> BTreeMap<(String, String), u64> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .map(|f| {
            (
                (
                    f["table"].as_str().unwrap().to_string(),
                    f["column"].as_str().unwrap_or("").to_string(),
                ),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected(m: &serde_json::Value, kind: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for d in m["defects"].as_array().unwrap() {
        if d["kind"] == kind {
            *out.entry((
                d["table"].as_str().unwrap().to_string(),
                d["column"].as_str().unwrap().to_string(),
            ))
            .or_default() += d["count"].as_u64().unwrap();
        }
    }
    out
}

#[test]
fn audit_finds_exactly_the_seeded_defects_in_the_dump_and_the_csv_export() {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", "400", "--seed", "5"])
        .ok();
    wd.run(&["stage", "legacy/clinic.sql"]).ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let m = manifest(&wd);
    for snapshot in ["1", "2"] {
        let out = wd.run(&["audit", "--snapshot", snapshot, "--json"]).ok();
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            counts(&r, "orphan"),
            expected(&m, "orphan"),
            "snapshot {snapshot}"
        );
        assert_eq!(
            counts(&r, "out_of_range"),
            expected(&m, "out_of_range"),
            "snapshot {snapshot}"
        );
        assert_eq!(
            counts(&r, "missing_required"),
            expected(&m, "missing_required"),
            "snapshot {snapshot}"
        );
        let dups: u64 = counts(&r, "duplicate_patient").values().sum();
        assert_eq!(
            dups,
            m["duplicates"].as_array().unwrap().len() as u64,
            "snapshot {snapshot}"
        );
        assert!(
            wd.join(&format!("reports/audit-000{snapshot}.html"))
                .exists()
        );
    }
}

#[test]
fn audit_output_holds_no_values_unless_asked() {
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "150",
        "--seed",
        "5",
        "--sql-only",
    ])
    .ok();
    wd.run(&["stage", "legacy/clinic.sql"]).ok();
    let out = wd.run(&["audit", "--json"]).ok();
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["example_values"].as_array().is_none_or(|v| v.is_empty())),
        "values without --show-values"
    );
    let shown = wd.run(&["audit", "--json", "--show-values"]).ok();
    let r: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["example_values"]
                .as_array()
                .is_some_and(|v| !v.is_empty())),
        "--show-values must show values"
    );
}
