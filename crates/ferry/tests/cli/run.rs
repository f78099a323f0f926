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
    let ndjson = std::fs::read_to_string(wd.join("output/latest/Immunization.ndjson")).unwrap();
    assert_eq!(ndjson.lines().count(), 2);
    assert!(ndjson.contains("\"code\":\"115\""), "{ndjson}");
    assert!(
        ndjson.contains("\"occurrenceDateTime\":\"2019-03-15\""),
        "{ndjson}"
    );

    let exc = wd.run(&["exceptions", "--json"]).ok();
    let parsed: serde_json::Value = serde_json::from_str(&exc).unwrap();
    let groups = parsed["groups"].as_array().unwrap();
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
    // The summary counts rows as the books do, and records beside them.
    let summary = wd.run(&["exceptions"]).ok();
    assert!(
        summary.starts_with("Run 1: 2 source rows with exceptions (the books' count), as "),
        "{summary}"
    );

    // Every record, with the element that failed; values only when asked for.
    let list = wd.run(&["exceptions", "--list"]).ok();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines[0], "module\tkey\tresource\telement\treason", "{list}");
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("immunizations\t4\tImmunization\tImmunization.occurrenceDateTime\t")),
        "{list}"
    );
    assert!(!list.contains("mystery jab"), "{list}");
    let csv = wd
        .run(&["exceptions", "--list", "--format", "csv", "--show-values"])
        .ok();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let headers = r.headers().unwrap().clone();
    assert_eq!(headers.get(5), Some("raw_value"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), lines.len() - 1, "the same records: {csv}");
    assert!(
        rows.iter().any(|x| x.get(5) == Some("mystery jab")),
        "{csv}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&wd.run(&["exceptions", "--list", "--json"]).ok()).unwrap();
    assert_eq!(json["records"], rows.len() as u64, "{json}");
    assert_eq!(json["exceptions"].as_array().unwrap().len(), rows.len());
    let err = wd
        .run(&["exceptions", "--list", "--module", "vaccines"])
        .fails_with(1);
    assert!(
        err.contains("run 1 has no module `vaccines`; its modules are immunizations"),
        "{err}"
    );
}

/// Same snapshot + same mappings = byte-identical output, with the same resource ids; each run
/// in its own folder, the earlier one kept.
#[test]
fn two_runs_write_the_same_bytes() {
    let wd = project();
    wd.run(&["run"]).ok();
    wd.run(&["run"]).ok();
    let first = std::fs::read(wd.join("output/run-0001/Immunization.ndjson")).unwrap();
    let second = std::fs::read(wd.join("output/run-0002/Immunization.ndjson")).unwrap();
    assert!(first == second, "output differs between two runs");
    let latest = std::fs::read(wd.join("output/latest/Immunization.ndjson")).unwrap();
    assert!(latest == second, "latest is not the second run");
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
    assert!(!wd.join("output/latest/Immunization.ndjson").exists());
}

#[test]
fn a_resource_that_is_not_valid_fhir_becomes_an_exception_not_output() {
    let wd = project();
    wd.write(
        "mappings/immunizations.toml",
        // From the row, so `ferry check` (which refuses a constant `'done'`) cannot see it.
        MODULE.replace(
            "\"status\" = \"'completed'\"",
            "\"status\" = \"row.status | replace('C', 'done')\"",
        ),
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

const HISTORY: &str = r#"[module]
name = "imm_history"
description = "Immunizations as one summary document per patient"

[source]
query = "SELECT * FROM imm"
key = "imm_id"
patient = "patient_id"

[[exclude]]
name = "entered-in-error"
when = "row.status == 'E'"
reason = "entered in error in the legacy system"

[summary]
title = "Immunization history (legacy)"
columns = ["given", "vaccine"]
order_by = ["given"]
[summary.fields]
"status" = "'current'"
"type.text" = "'Immunization history'"
"subject.reference" = "'Patient/p' ~ row.patient_id"
"#;

#[test]
fn a_summary_module_writes_one_document_per_patient_and_every_row_into_its_lineage() {
    let wd = project();
    wd.write("mappings/imm_history.toml", HISTORY);
    wd.run(&["check"]).ok();
    let out = wd.run(&["run", "--modules", "imm_history", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &s["modules"][0];
    // Rows 1-4 (patients 10 and 11) go into two documents; row 5 is entered in error.
    assert_eq!(m["source_rows"], 5, "{m}");
    assert_eq!(m["migrated"], 4, "{m}");
    assert_eq!(m["excluded"], 1, "{m}");
    assert_eq!(m["exceptions"], 0, "{m}");
    assert_eq!(m["resources"], 2, "{m}");
    let ndjson =
        std::fs::read_to_string(wd.join("output/latest/DocumentReference.ndjson")).unwrap();
    let docs: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for d in &docs {
        let a = &d["content"][0]["attachment"];
        let bytes = b64.decode(a["data"].as_str().unwrap()).unwrap();
        assert_eq!(a["size"], bytes.len(), "size is the byte length");
        let html = String::from_utf8(bytes).unwrap();
        assert!(
            html.contains("<h1>Immunization history (legacy)</h1>"),
            "{html}"
        );
        assert_eq!(a["contentType"], "text/html; charset=utf-8");
        assert!(a["hash"].as_str().is_some_and(|h| h.len() == 28), "{a}");
    }
    // Patient 10's document lists both of its rows, oldest first (order_by).
    let p10 = docs
        .iter()
        .find(|d| d["subject"]["reference"] == "Patient/p10")
        .unwrap();
    let html = String::from_utf8(
        b64.decode(p10["content"][0]["attachment"]["data"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let tdap = html.find("Tdap").unwrap();
    let flu = html.find("flu shot").unwrap();
    assert!(html.find("03&#x2f;15&#x2f;2019").unwrap() < tdap, "{html}");
    assert!(tdap < flu, "rows in order_by order: {html}");
    // Every row in a document has a lineage record naming it.
    let db = rusqlite::Connection::open(wd.join(".ferry/runs/run-0001.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT source_key, resource_id FROM lineage ORDER BY source_key")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ids: Vec<&str> = rows.iter().map(|(_, id)| id.as_str()).collect();
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["1", "2", "3", "4"]);
    assert_eq!(ids[0], ids[1], "rows 1 and 2 (patient 10) share a document");
    assert_eq!(ids[2], ids[3], "rows 3 and 4 (patient 11) share a document");
    assert_ne!(ids[0], ids[2]);
    // verify re-summarizes each patient's rows and compares with the documents read back.
    // (This hand-made module points at `Patient/p10`, which no module writes, so integrity
    // fails; the round trip and the counts must pass.)
    let v = wd.run(&["verify", "--json"]);
    let vj: serde_json::Value = serde_json::from_str(&v.stdout()).unwrap();
    let check = |name: &str| {
        vj["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(check("counts")["status"], "pass", "{vj:#}");
    let rt = check("round-trip");
    assert_eq!(rt["status"], "pass", "{vj:#}");
    assert!(
        rt["summary"].as_str().unwrap().starts_with("2 resources"),
        "{rt}"
    );
    let again = wd.run(&["run", "--modules", "imm_history", "--json"]).ok();
    let t: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        t["outputs"][0]["sha256"], s["outputs"][0]["sha256"],
        "same bytes on a re-run"
    );
}

#[test]
fn check_reports_a_required_element_no_field_sets() {
    let wd = project();
    // Immunization requires `status`, `vaccineCode`, `patient` and `occurrence[x]`.
    wd.write(
        "mappings/immunizations.toml",
        MODULE.replace("\"occurrenceDateTime\" = \"row.given | date\"\n", ""),
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(err.contains("requires `occurrence[x]`"), "{err}");
    assert!(err.contains("immunizations.toml:"), "{err}");
}

#[test]
fn bundles_put_every_written_resource_once_in_order() {
    let wd = project();
    let out = wd.run(&["run", "--bundles", "1", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bundles = s["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 2, "two resources, one per bundle: {s}");
    let ndjson = std::fs::read_to_string(wd.join("output/latest/Immunization.ndjson")).unwrap();
    for (b, line) in bundles.iter().zip(ndjson.lines()) {
        let text = std::fs::read_to_string(
            wd.join("output/latest")
                .join(b["file_name"].as_str().unwrap()),
        )
        .unwrap();
        let bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(bundle["type"], "transaction");
        let entry = &bundle["entry"][0];
        let resource: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(entry["resource"], resource);
        assert_eq!(
            entry["request"]["url"],
            format!("Immunization/{}", resource["id"].as_str().unwrap())
        );
        assert_eq!(entry["request"]["method"], "PUT");
    }
    // Without --bundles there are none.
    let out = wd.run(&["run", "--json"]).ok();
    assert!(!out.contains("\"bundles\""), "{out}");
    assert!(!wd.join("output/latest/bundles").exists());
}

#[test]
fn ferry_date_lets_a_scope_rule_compare_dates_written_in_mixed_formats() {
    // "Only immunizations given since 2019-06-01": the column mixes MM/DD/YYYY and ISO dates,
    // so plain text comparison would be wrong (`03/15/2019` > `2019-...`).
    let wd = project();
    wd.write(
        "mappings/immunizations.toml",
        MODULE
            .replace(
                "query = \"SELECT * FROM imm\"",
                "query = \"SELECT *, ferry_date(given) AS given_iso FROM imm\"",
            )
            .replace(
                "[[exclude]]",
                "[[exclude]]\nname = \"before-cutoff\"\nwhen = \"row.given_iso and row.given_iso < '2019-06-01'\"\nreason = \"given before the scope cut-off: archived, not migrated\"\n\n[[exclude]]",
            ),
    );
    let sql = wd.sql_json(
        "SELECT imm_id, ferry_date(given) AS d FROM imm ORDER BY imm_id",
        &[],
    );
    let dates: Vec<&str> = sql
        .iter()
        .map(|r| r["d"].as_str().unwrap_or("NULL"))
        .collect();
    assert_eq!(
        dates,
        [
            "2019-03-15",
            "2019-10-01",
            "2020-01-05",
            "NULL",
            "2021-06-01"
        ]
    );
    let out = wd.run(&["run", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &s["modules"][0];
    // Row 1 (03/15/2019) is out of scope; row 4 (02/30/2019, impossible) stays an exception.
    assert_eq!(m["excluded"], 2, "{m}");
    assert_eq!(m["migrated"], 1, "{m}");
    assert_eq!(m["exceptions"], 2, "{m}");
}

/// Regression: `ferry run` ran a module `ferry check` rejects when its query returned no rows
/// (no row ever reached the misspelt column).
#[test]
fn run_refuses_a_module_check_rejects_even_when_its_query_returns_no_rows() {
    let wd = project();
    wd.write(
        "mappings/immunizations.toml",
        MODULE
            .replace("SELECT * FROM imm", "SELECT * FROM imm WHERE 0")
            .replace(
                "\"vaccineCode.text\" = \"row.vaccine\"",
                "\"vaccineCode.text\" = \"row.vacine\"",
            ),
    );
    let check = wd.run(&["check"]).fails_with(1);
    let diagnostic = check
        .lines()
        .find(|l| l.contains("unknown column `vacine`"))
        .unwrap_or_else(|| panic!("{check}"))
        .to_string();
    let run = wd.run(&["run"]).fails_with(1);
    assert!(run.contains("nothing was run"), "{run}");
    assert!(run.contains(&diagnostic), "{run}\nwithout\n{diagnostic}");
    assert!(!wd.join("output/latest").exists());
}

/// A key two rows share gave two resources one id, and the books said ok.
#[test]
fn a_key_two_rows_share_is_refused_by_check_and_run() {
    let wd = project();
    wd.write(
        "mappings/immunizations.toml",
        MODULE.replace(
            "query = \"SELECT * FROM imm\"",
            "query = \"SELECT * FROM imm UNION ALL SELECT * FROM imm WHERE imm_id = '3'\"",
        ),
    );
    let check = wd.run(&["check"]).fails_with(1);
    let expected = "module `immunizations`: key `3` is not unique: rows 3 and 6 of the module's query both have it. A module's key must identify one row; add a column to `key = [...]`";
    assert!(check.contains("immunizations.toml:7:7: error: "), "{check}");
    assert!(check.contains(expected), "{check}");
    let run = wd.run(&["run"]).fails_with(1);
    assert!(run.contains(expected), "{run}");
    assert!(!wd.join("output/latest").exists());
}

#[test]
fn check_counts_a_module_file_that_does_not_load() {
    let wd = project();
    wd.write("mappings/broken.toml", "[module\n");
    let out = wd.run(&["check"]);
    assert!(
        out.stdout().contains("2 modules checked"),
        "{}",
        out.stdout()
    );
}
