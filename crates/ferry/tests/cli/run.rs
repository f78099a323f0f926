//! `ferry check`, `ferry run` and `ferry exceptions` on a small hand-written module.

use super::workdir::Workdir;

const DUMP: &str = "CREATE TABLE `imm` (\n  `imm_id` int NOT NULL,\n  `patient_id` int,\n  `vaccine` varchar(40),\n  `given` varchar(20),\n  `status` char(1),\n  PRIMARY KEY (`imm_id`)\n);\n\
INSERT INTO `imm` VALUES (1,10,'Tdap','03/15/2019','C'),(2,10,'flu shot','2019-10-01','C'),(3,11,'mystery jab','2020-01-05','C'),(4,11,'Tdap','02/30/2019','C'),(5,12,'Tdap','2021-06-01','E');\n";

const MODULE: &str = r#"[module]
name = "immunizations"
description = "Legacy immunizations -> FHIR Immunization (CVX via concept map)"

[source]
query = "SELECT * FROM imm"
key = "imm_id"
patient = "patient_id"

[[exclude]]
name = "entered-in-error"
when = "row.status == 'E'"
reason = "entered in error in the legacy system"

[[resource]]
type = "Immunization"

[resource.fields]
"status" = "'completed'"
"vaccineCode.coding[0].system" = "'http://hl7.org/fhir/sid/cvx'"
"vaccineCode.coding[0].code" = "row.vaccine | lookup('vaccine-names')"
"vaccineCode.text" = "row.vaccine"
"patient.reference" = "'Patient/p' ~ row.patient_id"
"occurrenceDateTime" = "row.given | date"
"#;

const MAP: &str =
    "source,target,display\nTdap,115,Tdap\nflu shot,141,\"Influenza, seasonal, injectable\"\n";

fn project() -> Workdir {
    let wd = Workdir::project();
    wd.write("legacy.sql", DUMP);
    wd.run(&["stage", "legacy.sql"]).ok();
    wd.write("mappings/immunizations.toml", MODULE);
    wd.write("concept-maps/vaccine-names.csv", MAP);
    wd
}

#[test]
fn every_row_is_migrated_excluded_or_an_exception_and_the_books_balance() {
    let wd = project();
    wd.run(&["check"]).ok();
    let out = wd.run(&["run", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &s["modules"][0];
    assert_eq!(m["source_rows"], 5);
    assert_eq!(m["migrated"], 2, "{m}");
    assert_eq!(m["excluded"], 1, "{m}");
    assert_eq!(m["exceptions"], 2, "unmapped vaccine and Feb 30: {m}");
    let ndjson = std::fs::read_to_string(wd.join("output/Immunization.ndjson")).unwrap();
    assert_eq!(ndjson.lines().count(), 2);
    assert!(ndjson.contains("\"code\":\"115\""), "{ndjson}");
    assert!(
        ndjson.contains("\"occurrenceDateTime\":\"2019-03-15\""),
        "{ndjson}"
    );

    let exc = wd.run(&["exceptions", "--json"]).ok();
    let groups: Vec<serde_json::Value> = serde_json::from_str(&exc).unwrap();
    let keys: Vec<&str> = groups
        .iter()
        .flat_map(|g| g["keys"].as_array().unwrap())
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(keys.contains(&"3") && keys.contains(&"4"), "{groups:?}");
    assert!(
        !exc.contains("mystery jab"),
        "raw values are shown only with --show-values: {exc}"
    );
    let shown = wd.run(&["exceptions", "--show-values"]).ok();
    assert!(shown.contains("mystery jab"), "{shown}");
}

/// Same snapshot + same mappings = byte-identical output, with the same resource ids.
#[test]
fn two_runs_write_the_same_bytes() {
    let wd = project();
    wd.run(&["run"]).ok();
    let first = std::fs::read(wd.join("output/Immunization.ndjson")).unwrap();
    wd.run(&["run"]).ok();
    let second = std::fs::read(wd.join("output/Immunization.ndjson")).unwrap();
    assert!(first == second, "output differs between two runs");
}

#[test]
fn check_reports_every_problem_with_file_and_line_and_run_refuses() {
    let wd = project();
    // Two broken modules: an unknown filter in one, an unknown column in the other.
    wd.write(
        "mappings/immunizations.toml",
        MODULE.replace("row.given | date", "row.given | no_such_filter"),
    );
    wd.write(
        "mappings/vaccinations.toml",
        MODULE
            .replace("name = \"immunizations\"", "name = \"vaccinations\"")
            .replace("row.vaccine | lookup", "row.vacine | lookup"),
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(err.contains("immunizations.toml:24:"), "{err}");
    assert!(err.contains("no_such_filter"), "{err}");
    assert!(err.contains("vaccinations.toml:"), "{err}");
    assert!(err.contains("vacine"), "{err}");
    let run = wd.run(&["run"]).fails_with(1);
    assert!(run.contains("nothing was run"), "{run}");
    assert!(!wd.join("output/Immunization.ndjson").exists());
}

#[test]
fn a_resource_that_is_not_valid_fhir_becomes_an_exception_not_output() {
    let wd = project();
    wd.write(
        "mappings/immunizations.toml",
        MODULE.replace("\"status\" = \"'completed'\"", "\"status\" = \"'done'\""),
    );
    let out = wd.run(&["run", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["modules"][0]["migrated"], 0);
    assert_eq!(s["modules"][0]["exceptions"], 4);
    let exc = wd.run(&["exceptions"]).ok();
    assert!(exc.contains("not valid FHIR R4"), "{exc}");
}

#[test]
fn a_project_without_a_namespace_is_told_how_to_add_one() {
    let wd = project();
    wd.write("ferry.toml", "[project]\nname = \"x\"\n");
    let err = wd.run(&["run"]).fails_with(1);
    assert!(err.contains("namespace"), "{err}");
}
