//! `ferry profile` and `ferry map import` on a generated clinic.

use super::workdir::Workdir;

fn staged_clinic() -> Workdir {
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "legacy",
        "--patients",
        "150",
        "--seed",
        "11",
        "--sql-only",
    ])
    .ok();
    wd.run(&["stage", "legacy/clinic.sql"]).ok();
    wd
}

fn profile_json(wd: &Workdir) -> serde_json::Value {
    let text = std::fs::read_to_string(wd.join("reports/profile-0001.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn profile_writes_the_map_the_report_and_json() {
    let wd = staged_clinic();
    let out = wd.run(&["profile", "--json"]).ok();
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["snapshot"], 1);
    assert_eq!(summary["tables"], 23);
    for f in [
        "reports/profile-0001.json",
        "reports/profile-0001.html",
        "reports/migration-map-0001.xlsx",
    ] {
        assert!(wd.join(f).exists(), "{f} missing");
    }
    let p = profile_json(&wd);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wd.join("legacy/manifest.json")).unwrap())
            .unwrap();
    // Every table's rows as in the manifest; every column's NULL count as in the manifest.
    for t in m["tables"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let pt = p["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} not profiled"));
        assert_eq!(pt["rows"], t["rows"], "{name}");
    }
    for c in m["columns"].as_array().unwrap() {
        let (table, column) = (c["table"].as_str().unwrap(), c["column"].as_str().unwrap());
        let pc = p["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == table)
            .and_then(|t| {
                t["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["name"] == column)
            })
            .unwrap_or_else(|| panic!("{table}.{column} not profiled"));
        assert_eq!(pc["nulls"], c["nulls"], "{table}.{column} nulls");
    }
    // The patients' birth date is labelled PHI.
    let dob = p["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "patients")
        .and_then(|t| {
            t["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "dob")
        })
        .unwrap();
    assert_eq!(dob["phi"], "birth_date");
}

#[test]
fn no_samples_leaves_no_patient_values_in_any_report() {
    let wd = staged_clinic();
    let names = wd.sql_json(
        "SELECT DISTINCT last_name AS n FROM patients WHERE length(last_name) > 4",
        &[],
    );
    assert!(names.len() > 10);
    wd.run(&["profile", "--no-samples", "--min-count", "0"])
        .ok();
    for f in ["reports/profile-0001.json", "reports/profile-0001.html"] {
        let text = std::fs::read_to_string(wd.join(f)).unwrap();
        for n in &names {
            let n = n["n"].as_str().unwrap();
            assert!(
                !text.contains(&format!("\"{n}\"")) && !text.contains(&format!(">{n}<")),
                "{f} shows `{n}`"
            );
        }
    }
}

#[test]
fn map_import_reads_decisions_back_and_reports_changes() {
    let wd = staged_clinic();
    wd.run(&["profile"]).ok();
    // A reviewer's workbook: the map written with two decisions filled in.
    let profile: ferry_profile::model::SnapshotProfile = serde_json::from_str(
        &std::fs::read_to_string(wd.join("reports/profile-0001.json")).unwrap(),
    )
    .unwrap();
    let mut decided = ferry_report::decisions::MigrationMap::default();
    decided.insert(
        "patients",
        "first_name",
        ferry_report::decisions::ColumnDecision {
            decision: Some(ferry_report::decisions::Decision::Discrete),
            target_resource: Some("Patient".into()),
            target_field: Some("Patient.name.given".into()),
            notes: Some("checked with the clinic, \"as is\"".into()),
            reviewer: Some("Dr Zoë".into()),
        },
    );
    decided.insert(
        "clinical_notes",
        "note_text",
        ferry_report::decisions::ColumnDecision {
            decision: Some(ferry_report::decisions::Decision::Summary),
            ..Default::default()
        },
    );
    let reviewed = wd.join("reviewed.xlsx");
    ferry_report::xlsx::write_migration_map(&profile, &decided, &reviewed).unwrap();

    let out = wd.run(&["map", "import", "reviewed.xlsx"]).ok();
    assert!(out.contains("2 columns with a decision"), "{out}");
    let toml = std::fs::read_to_string(wd.join("mappings/migration-map.toml")).unwrap();
    assert!(toml.contains("Patient.name.given"), "{toml}");
    assert!(toml.contains("Dr Zoë"), "{toml}");

    // Importing the same workbook again changes nothing.
    let again = wd.run(&["map", "import", "reviewed.xlsx"]).ok();
    assert!(again.contains("0 added, 0 removed, 0 changed"), "{again}");

    // Re-profiling keeps the review: the new map is pre-filled and imports to the same decisions.
    wd.run(&["stage", "legacy/clinic.sql"]).ok();
    wd.run(&["profile"]).ok();
    let third = wd
        .run(&["map", "import", "reports/migration-map-0002.xlsx"])
        .ok();
    assert!(third.contains("2 columns with a decision"), "{third}");
    assert!(third.contains("0 added, 0 removed, 0 changed"), "{third}");
}

#[test]
fn a_broken_workbook_is_refused_and_nothing_changes() {
    let wd = staged_clinic();
    wd.write("mappings/migration-map.toml", "");
    wd.write("bad.xlsx", "this is not a spreadsheet");
    let err = wd.run(&["map", "import", "bad.xlsx"]).fails_with(1);
    assert!(err.contains("cannot be imported"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        std::fs::read_to_string(wd.join("mappings/migration-map.toml")).unwrap(),
        ""
    );
}

/// Issue 12: a `code` column of SNOMED CT ids is SNOMED CT by its values (its name does not say
/// so), while six-digit ids are not; `F`/`M` is a code, not a boolean, while `T`/`F` and `0`/`1`
/// are booleans.
#[test]
fn snomed_by_value_and_sex_codes_are_not_booleans() {
    const SNOMED: [&str; 10] = [
        "22298006",
        "38341003",
        "44054006",
        "195967001",
        "73211009",
        "840539006",
        "233604007",
        "35489007",
        "49436004",
        "13645005",
    ];
    let wd = Workdir::project();
    let mut csv = String::from("id,code,s,flag,smoker\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            100_000 + i,
            SNOMED[i % SNOMED.len()],
            ["F", "M"][i % 2],
            ["T", "F"][i % 2],
            ["0", "1", "1"][i % 3]
        ));
    }
    wd.write("legacy/problems.csv", csv);
    wd.run(&["stage", "legacy/problems.csv"]).ok();
    wd.run(&["profile"]).ok();
    let p = profile_json(&wd);
    let columns = p["tables"][0]["columns"].as_array().unwrap();
    let col = |name: &str| {
        columns
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no column {name}: {columns:?}"))
    };
    let top_format = |name: &str| {
        col(name)["formats"][0]["format"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(top_format("code"), "code:snomedct");
    assert_eq!(col("code")["inferred_type"], "code");
    assert_eq!(top_format("id"), "integer");
    assert_eq!(col("id")["inferred_type"], "integer");
    assert_eq!(col("s")["inferred_type"], "code");
    assert!(
        col("s")["formats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["format"] != "boolean"),
        "{}",
        col("s")
    );
    assert_eq!(col("flag")["inferred_type"], "boolean");
    assert_eq!(col("smoker")["inferred_type"], "boolean");
}
