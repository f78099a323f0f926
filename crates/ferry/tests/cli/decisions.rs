//! Reviewer decisions (`ferry exceptions decide`, `mappings/decisions.toml`): recorded after a
//! run, re-applied by the next runs (on a new snapshot too) and by verify, counted in the books
//! with their ids in the lineage, and reported when they no longer match anything.

use super::workdir::Workdir;

const DUMP1: &str = "CREATE TABLE `imm` (\n  `imm_id` int NOT NULL,\n  `patient_id` int,\n  `vaccine` varchar(40),\n  `given` varchar(20),\n  PRIMARY KEY (`imm_id`)\n);\n\
INSERT INTO `imm` VALUES (1,10,'Tdap','03/15/2019'),(2,10,'flu shot','2019-10-01'),(3,11,'mystery jab','2020-01-05'),(4,11,'Tdap','02/30/2019'),(5,12,'Tdap','2021-06-01');\n";

// Some days later: row 4's date corrected, row 3 gone, a new row 6 with the same unknown vaccine.
const DUMP2: &str = "CREATE TABLE `imm` (\n  `imm_id` int NOT NULL,\n  `patient_id` int,\n  `vaccine` varchar(40),\n  `given` varchar(20),\n  PRIMARY KEY (`imm_id`)\n);\n\
INSERT INTO `imm` VALUES (1,10,'Tdap','03/15/2019'),(2,10,'flu shot','2019-10-01'),(4,11,'Tdap','02/28/2019'),(5,12,'Tdap','2021-06-01'),(6,13,'mystery jab','2022-02-02');\n";

const MODULE: &str = r#"[module]
name = "immunizations"
description = "Legacy immunizations -> FHIR Immunization (CVX via concept map)"

[source]
query = "SELECT * FROM imm"
key = "imm_id"
patient = "patient_id"

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

fn run_json(wd: &Workdir) -> serde_json::Value {
    serde_json::from_str(&wd.run(&["run", "--json"]).ok()).unwrap()
}

#[test]
fn decisions_are_re_applied_by_every_later_run_and_reported_when_stale() {
    let wd = Workdir::project();
    wd.write("legacy1.sql", DUMP1);
    wd.write("legacy2.sql", DUMP2);
    wd.write("mappings/immunizations.toml", MODULE);
    wd.write("concept-maps/vaccine-names.csv", MAP);
    wd.run(&["stage", "legacy1.sql"]).ok();
    let r1 = run_json(&wd);
    assert_eq!(r1["modules"][0]["exceptions"], 2, "{r1}");

    // A decision that covers nothing is refused, and nothing is written.
    let refused = wd
        .run(&[
            "exceptions",
            "decide",
            "--module",
            "immunizations",
            "--value",
            "no such value",
            "--exclude",
            "--why",
            "x",
        ])
        .fails_with(1);
    assert!(
        refused.contains("covers no exception of run 1"),
        "{refused}"
    );
    assert!(
        refused.contains("ferry exceptions --run 1 --module immunizations --list"),
        "{refused}"
    );
    assert!(!wd.join("mappings/decisions.toml").exists());

    // Map the unknown vaccine (the concept map is the one its lookup failed in) ...
    let d1 = wd
        .run(&[
            "exceptions",
            "decide",
            "--module",
            "immunizations",
            "--element",
            "Immunization.vaccineCode.coding[0].code",
            "--value",
            "mystery jab",
            "--map",
            "999",
            "--display",
            "unspecified formulation",
            "--why",
            "the clinic confirms these were unrecorded vaccines",
            "--by",
            "Dr Lee",
        ])
        .ok();
    assert!(
        d1.starts_with("Decision D-0001 (map in module `immunizations`)"),
        "{d1}"
    );
    assert!(
        d1.contains("covers 1 exception records of 1 rows in run 1"),
        "{d1}"
    );
    // ... and exclude the impossible date.
    wd.run(&[
        "exceptions",
        "decide",
        "--module",
        "immunizations",
        "--element",
        "Immunization.occurrenceDateTime",
        "--exclude",
        "--why",
        "impossible dates: the paper chart is the record",
        "--by",
        "Dr Lee",
    ])
    .ok();
    let file = std::fs::read_to_string(wd.join("mappings/decisions.toml")).unwrap();
    assert!(
        file.contains("id = \"D-0002\"") && file.contains("by = \"Dr Lee\""),
        "{file}"
    );

    let check = wd.run(&["check"]).ok();
    assert!(
        check.contains("2 reviewer decisions in mappings/decisions.toml"),
        "{check}"
    );
    assert!(check.contains("D-0001 map in immunizations"), "{check}");
    assert!(
        !check.contains("mystery jab"),
        "check lists no source value: {check}"
    );

    // Run 2 re-applies both: the books say which rows were decided.
    let r2 = run_json(&wd);
    let m = &r2["modules"][0];
    assert_eq!(m["source_rows"], 5, "{m}");
    assert_eq!(m["migrated"], 4, "{m}");
    assert_eq!(m["migrated_by_decision"], 1, "{m}");
    assert_eq!(m["excluded"], 1, "{m}");
    assert_eq!(m["excluded_by_decision"], 1, "{m}");
    assert_eq!(m["exceptions"], 0, "{m}");
    let uses: Vec<(String, u64)> = r2["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["decision"].as_str().unwrap().to_string(),
                d["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(uses, [("D-0001".to_string(), 1), ("D-0002".to_string(), 1)]);
    let ndjson = std::fs::read_to_string(wd.join("output/latest/Immunization.ndjson")).unwrap();
    assert!(ndjson.contains("\"code\":\"999\""), "{ndjson}");
    // The lineage names the decision; the exclusion its rule.
    let conn = rusqlite::Connection::open(wd.join(".ferry/runs/run-0002.db")).unwrap();
    let lineage: Vec<(String, String)> = conn
        .prepare("SELECT source_key, decision FROM decided ORDER BY source_key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(lineage, [("3".to_string(), "D-0001".to_string())]);
    let rule: String = conn
        .query_row(
            "SELECT rule FROM exclusion WHERE source_key = '4'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rule, "decision:D-0002");
    // Verify re-applies the decisions independently and agrees (its NO-GO is the module's
    // references to patients this small project does not migrate).
    let verify = wd.run(&["verify"]);
    verify.fails_with(3);
    let v = verify.stdout();
    assert!(
        v.contains("pass  counts: 1 modules re-counted (5 source rows)"),
        "{v}"
    );
    assert!(
        v.contains(
            "pass  round-trip: 4 resources re-evaluated and compared field by field; 0 mismatches"
        ),
        "{v}"
    );
    let ex = wd.run(&["exceptions"]).ok();
    assert!(ex.contains("D-0001 map in immunizations: 1 rows"), "{ex}");

    // A newer snapshot: the map decision covers the new row too; the date was fixed, so the
    // exclusion matches nothing and is reported, not dropped.
    wd.run(&["stage", "legacy2.sql"]).ok();
    let out = wd.run(&["run"]).ok();
    assert!(out.contains("1 of 2 reviewer decisions applied"), "{out}");
    assert!(
        out.contains("warning: decision `D-0002` (exclude in module `immunizations`) matched no row in this run"),
        "{out}"
    );
    let conn = rusqlite::Connection::open(wd.join(".ferry/runs/run-0003.db")).unwrap();
    let keys: Vec<String> = conn
        .prepare("SELECT source_key FROM decided WHERE decision = 'D-0001'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(keys, ["6"]);
    let ex = wd.run(&["exceptions"]).ok();
    assert!(
        ex.contains("D-0002 exclude in immunizations: matched no row (stale"),
        "{ex}"
    );
}

#[test]
fn a_broken_decisions_file_stops_check_and_run_with_every_problem() {
    let wd = Workdir::project();
    wd.write("legacy1.sql", DUMP1);
    wd.write("mappings/immunizations.toml", MODULE);
    wd.write("concept-maps/vaccine-names.csv", MAP);
    wd.run(&["stage", "legacy1.sql"]).ok();
    wd.write(
        "mappings/decisions.toml",
        "[[decision]]\nid = \"D-0001\"\nmodule = \"immunisations\"\nvalue = \"x\"\naction = \"exclude\"\nby = \"a\"\nat = \"2026-12-04T18:30:00Z\"\nwhy = \"b\"\n\n[[decision]]\nid = \"D-0002\"\nmodule = \"immunizations\"\naction = \"drop\"\nby = \"a\"\nat = \"2026-12-04T18:30:00Z\"\nwhy = \"b\"\n",
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains(
            "mappings/decisions.toml:1:1: error: decision `D-0001` is about module `immunisations`"
        ),
        "{err}"
    );
    assert!(
        err.contains("mappings/decisions.toml:13:10: error: unknown action `drop`"),
        "{err}"
    );
    let err = wd.run(&["run"]).fails_with(1);
    assert!(err.contains("unknown action `drop`"), "{err}");
}

#[test]
fn a_filled_unmapped_values_worksheet_becomes_map_decisions_after_every_line_is_checked() {
    let wd = Workdir::project();
    wd.write("legacy1.sql", DUMP1);
    wd.write("mappings/immunizations.toml", MODULE);
    wd.write("concept-maps/vaccine-names.csv", MAP);
    wd.run(&["stage", "legacy1.sql"]).ok();
    wd.run(&["run"]).ok();
    for name in ["unmapped.csv", "unmapped.xlsx"] {
        let out = wd.run(&["exceptions", "worksheet", name]).ok();
        assert!(
            out.contains("1 unmapped values (1 source rows) of run 1"),
            "{out}"
        );
    }
    let sheet = std::fs::read_to_string(wd.join("unmapped.csv")).unwrap();
    assert_eq!(
        sheet,
        "concept_map,module,element,source_value,rows,example_keys,code,display,system,why\n\
         vaccine-names,immunizations,Immunization.vaccineCode.coding[0].code,mystery jab,1,3,,,,\n"
    );
    // Every bad line is reported, and nothing is written.
    wd.write(
        "filled.csv",
        "concept_map,module,element,source_value,rows,example_keys,code,display,system,why\n\
         vaccine-names,immunizations,Immunization.vaccineCode.coding[0].code,mystery jab,1,3,999,,,\n\
         vaccines,immunizations,Immunization.vaccineCode.coding[0].code,mystery jab,1,3,999,,,because\n\
         vaccine-names,immunizations,Immunization.vaccineCode.coding[0].code,Tdap,1,3,115,,,because\n",
    );
    let err = wd
        .run(&["exceptions", "import", "filled.csv"])
        .fails_with(1);
    assert!(
        err.contains("3 problem(s) in the worksheet; nothing was written"),
        "{err}"
    );
    assert!(err.contains("filled.csv:2: `why` is empty"), "{err}");
    assert!(
        err.contains("filled.csv:3: no concept map `vaccines`"),
        "{err}"
    );
    assert!(
        err.contains("filled.csv:4: concept map `vaccine-names` already maps this value"),
        "{err}"
    );
    assert!(!wd.join("mappings/decisions.toml").exists());
    // The terminologist's filled workbook, with `--why` for lines without one.
    wd.write(
        "filled.csv",
        sheet.replace(
            "mystery jab,1,3,,,,",
            "mystery jab,1,3,999,unspecified formulation,,",
        ),
    );
    let out = wd
        .run(&[
            "exceptions",
            "import",
            "filled.csv",
            "--by",
            "T. Ologist",
            "--why",
            "terminology review 2026-12",
        ])
        .ok();
    assert!(
        out.contains("1 map decisions written to mappings/decisions.toml (D-0001)"),
        "{out}"
    );
    let r: serde_json::Value = serde_json::from_str(&wd.run(&["run", "--json"]).ok()).unwrap();
    assert_eq!(r["modules"][0]["migrated_by_decision"], 1, "{r}");
    let ndjson = std::fs::read_to_string(wd.join("output/latest/Immunization.ndjson")).unwrap();
    assert!(ndjson.contains("\"code\":\"999\""), "{ndjson}");
    let file = std::fs::read_to_string(wd.join("mappings/decisions.toml")).unwrap();
    assert!(
        file.contains("display = \"unspecified formulation\"")
            && file.contains("by = \"T. Ologist\""),
        "{file}"
    );
}
