//! `ferry verify` on the generated clinic migrated with the module library: a clean run is a go;
//! corrupting the output (a deleted line, an altered value, a dropped Patient, a broken reference)
//! is a no-go that names the record.

use super::workdir::{Run, Workdir};
use serde_json::Value;

const NO_GO: i32 = 3;

/// The 60-patient clinic with one run (see [`super::workdir::clinic_run`]).
fn clinic() -> Workdir {
    super::workdir::clinic_run("")
}

fn verify_json(wd: &Workdir, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["verify", "--json"];
    args.extend_from_slice(extra);
    let run = wd.run(&args);
    let v = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout(), run.stderr()));
    (run, v)
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v:#}"))
}

fn examples(v: &Value, name: &str) -> Vec<String> {
    check(v, name)["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

fn lines(wd: &Workdir, file: &str) -> Vec<String> {
    std::fs::read_to_string(wd.join(&format!("output/latest/{file}")))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(wd: &Workdir, file: &str, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    wd.write(&format!("output/latest/{file}"), text);
}

fn id_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn verifications(wd: &Workdir) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(wd.join(".ferry/catalog.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT verdict, summary_json FROM verification ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_clean_run_is_a_go_and_the_verification_is_recorded() {
    let wd = clinic();
    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), 0, "{v:#}");
    assert_eq!(v["verdict"], "go");
    for name in ["counts", "round-trip", "integrity", "validity"] {
        assert_eq!(check(&v, name)["status"], "pass", "{name}: {v:#}");
    }
    let searches: Vec<&Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("search:"))
        .collect();
    assert_eq!(searches.len(), 4, "{v:#}");
    assert!(searches.iter().all(|s| s["status"] == "pass"), "{v:#}");
    assert!(
        v["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["ok"] == true)
    );
    let recorded = verifications(&wd);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "go");
    let summary: Value = serde_json::from_str(&recorded[0].1).unwrap();
    assert_eq!(summary["run"], 1);
    assert_eq!(summary["checks"].as_array().unwrap().len(), 8);
    assert!(summary["duration_ms"].is_u64());

    // The text output says GO and exits 0.
    let out = wd.run(&["verify"]).ok();
    assert!(out.contains(": GO"), "{out}");
}

#[test]
fn a_deleted_line_is_a_no_go_naming_the_resource() {
    let wd = clinic();
    let mut conditions = lines(&wd, "Condition.ndjson");
    let gone = id_of(&conditions.remove(2));
    write_lines(&wd, "Condition.ndjson", &conditions);
    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), NO_GO, "{v:#}");
    assert_eq!(v["verdict"], "no-go");
    assert_eq!(check(&v, "counts")["status"], "fail");
    let counts = examples(&v, "counts").join("\n");
    assert!(counts.contains("Condition.ndjson"), "{counts}");
    assert!(counts.contains(&gone), "{counts}");
    let rt = examples(&v, "round-trip").join("\n");
    assert!(
        rt.contains(&format!("Condition/{gone}")) && rt.contains("missing from the output"),
        "{rt}"
    );
    assert_eq!(verifications(&wd)[0].0, "no-go");
    // The text output names the failing threshold.
    let text = wd.run(&["verify"]);
    assert_eq!(text.code(), NO_GO);
    assert!(text.stdout().contains("NO-GO"), "{}", text.stdout());
    assert!(text.stdout().contains("counts"), "{}", text.stdout());
}

#[test]
fn an_altered_value_is_a_no_go_naming_the_resource_and_path_but_not_the_value() {
    let wd = clinic();
    let mut imms = lines(&wd, "Immunization.ndjson");
    let i = imms
        .iter()
        .position(|l| l.contains("\"occurrenceDateTime\""))
        .unwrap();
    let mut r: Value = serde_json::from_str(&imms[i]).unwrap();
    r["occurrenceDateTime"] = Value::String("1901-02-03".into());
    let id = r["id"].as_str().unwrap().to_string();
    imms[i] = serde_json::to_string(&r).unwrap();
    write_lines(&wd, "Immunization.ndjson", &imms);

    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), NO_GO, "{v:#}");
    assert_eq!(check(&v, "round-trip")["status"], "fail");
    let rt = examples(&v, "round-trip").join("\n");
    assert!(
        rt.contains(&format!("Immunization/{id} occurrenceDateTime")),
        "{rt}"
    );
    assert!(
        !run.stdout().contains("1901-02-03"),
        "values only with --show-values"
    );
    assert!(
        !verifications(&wd)[0].1.contains("1901-02-03"),
        "never a value in the ledger"
    );
    let thresholds = v["thresholds"].as_array().unwrap();
    let rt_limit = thresholds
        .iter()
        .find(|t| t["name"] == "round-trip mismatches")
        .unwrap();
    assert_eq!(rt_limit["ok"], false);

    let (_, shown) = verify_json(&wd, &["--show-values"]);
    let values = check(&shown, "round-trip")["values"].to_string();
    assert!(values.contains("1901-02-03"), "{values}");
    assert!(!verifications(&wd)[1].1.contains("1901-02-03"));
}

#[test]
fn a_dropped_patient_is_a_no_go_naming_the_patient_and_its_orphans() {
    let wd = clinic();
    let conditions = lines(&wd, "Condition.ndjson");
    let c: Value = serde_json::from_str(&conditions[0]).unwrap();
    let patient_ref = c["subject"]["reference"].as_str().unwrap().to_string();
    let pid = patient_ref.trim_start_matches("Patient/").to_string();
    let mut patients = lines(&wd, "Patient.ndjson");
    let before = patients.len();
    patients.retain(|l| id_of(l) != pid);
    assert_eq!(patients.len(), before - 1);
    write_lines(&wd, "Patient.ndjson", &patients);

    let (run, v) = verify_json(&wd, &["--examples", "1000"]);
    assert_eq!(run.code(), NO_GO, "{v:#}");
    assert_eq!(check(&v, "integrity")["status"], "fail");
    let integrity = examples(&v, "integrity").join("\n");
    assert!(
        integrity.contains(&format!(
            "Condition/{} subject.reference -> {patient_ref}",
            c["id"].as_str().unwrap()
        )),
        "{integrity}"
    );
    let rt = examples(&v, "round-trip").join("\n");
    assert!(rt.contains(&format!("Patient/{pid}")), "{rt}");
    assert!(
        examples(&v, "counts")
            .iter()
            .any(|e| e.starts_with("Patient.ndjson")),
        "{v:#}"
    );
}

#[test]
fn a_broken_reference_is_a_no_go_naming_the_resource_and_path() {
    let wd = clinic();
    let mut imms = lines(&wd, "Immunization.ndjson");
    let mut r: Value = serde_json::from_str(&imms[1]).unwrap();
    r["patient"]["reference"] = Value::String("Patient/not-in-the-output".into());
    let id = r["id"].as_str().unwrap().to_string();
    imms[1] = serde_json::to_string(&r).unwrap();
    write_lines(&wd, "Immunization.ndjson", &imms);

    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), NO_GO, "{v:#}");
    let integrity = examples(&v, "integrity");
    assert_eq!(check(&v, "integrity")["problems"], 1, "{v:#}");
    assert_eq!(
        integrity,
        [format!(
            "Immunization/{id} patient.reference -> Patient/not-in-the-output: not in the output"
        )]
    );
    let t = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "integrity errors")
        .unwrap()
        .clone();
    assert_eq!(t["ok"], false);
    assert_eq!(t["actual"], "1");
}

#[test]
fn an_invalid_resource_fails_validity() {
    let wd = clinic();
    let mut imms = lines(&wd, "Immunization.ndjson");
    let mut r: Value = serde_json::from_str(&imms[0]).unwrap();
    r["status"] = Value::String("done".into());
    let id = r["id"].as_str().unwrap().to_string();
    imms[0] = serde_json::to_string(&r).unwrap();
    imms.push("{not json".into());
    write_lines(&wd, "Immunization.ndjson", &imms);
    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), NO_GO);
    let validity = examples(&v, "validity").join("\n");
    assert!(
        validity.contains(&format!("Immunization/{id}")),
        "{validity}"
    );
    assert!(validity.contains("/status"), "{validity}");
    assert!(validity.contains("Immunization.ndjson line"), "{validity}");
    assert_eq!(check(&v, "validity")["problems"], 2);
}

#[test]
fn thresholds_decide_a_no_go_and_name_the_module() {
    let wd = clinic();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!("{config}\n[verify.modules.problems]\nmax_exception_rate = 0.0\n"),
    );
    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), NO_GO, "{v:#}");
    let failing: Vec<&str> = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["ok"] == false)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["exception rate: problems"], "{v:#}");
}

#[test]
fn a_comparative_search_out_of_tolerance_is_a_no_go_and_a_bad_checks_file_is_an_error() {
    let wd = clinic();
    wd.write(
        "checks/off-by-one.toml",
        "[[search]]\nname = \"patients-plus-one\"\nsql = \"SELECT count(*) + 1 FROM patients\"\nresource = \"Patient\"\n",
    );
    let (run, v) = verify_json(&wd, &[]);
    assert_eq!(run.code(), NO_GO, "{v:#}");
    assert_eq!(check(&v, "search:patients-plus-one")["status"], "fail");
    assert_eq!(check(&v, "search:patients")["status"], "pass");

    wd.write(
        "checks/off-by-one.toml",
        "[[search]]\nname = \"x\"\nsql = \"SELECT 1\"\nresource = \"Patient\"\nwhere = [{ path = \"id\", op = \"like\", value = \"a\" }]\n",
    );
    let err = wd.run(&["verify"]).fails_with(1);
    assert!(err.contains("off-by-one.toml"), "{err}");
    assert!(err.contains("docs/verify.md"), "{err}");
}

fn lineage_ids(wd: &Workdir, run: u32, module: &str, key: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(wd.join(&format!(".ferry/runs/run-{run:04}.db"))).unwrap();
    let mut stmt = db
        .prepare("SELECT resource_id FROM lineage WHERE module = ?1 AND source_key = ?2")
        .unwrap();
    stmt.query_map([module, key], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn accepted_duplicate_merges_apply_in_the_run_and_verify_still_says_go() {
    let wd = clinic();
    let patients_before = lines(&wd, "Patient.ndjson").len();
    let id1 = lineage_ids(&wd, 1, "patients", "1");
    let id2 = lineage_ids(&wd, 1, "patients", "2");
    assert_eq!((id1.len(), id2.len()), (1, 1));
    let refs_to_2 = std::fs::read_to_string(wd.join("output/latest/Encounter.ndjson"))
        .unwrap()
        .matches(&format!("Patient/{}", id2[0]))
        .count();
    assert!(refs_to_2 > 0, "patient 2 has visits in this clinic");
    // A reviewer accepted patients 1 and 2 as one person; 1 survives.
    wd.write(
        "mappings/duplicates.toml",
        "table = \"patients\"\nkey = \"patient_id\"\n\n[[cluster]]\nid = \"dup-test\"\n\
         decision = \"accept\"\nmembers = [\"1\", \"2\"]\nsurvivor = \"1\"\nby = \"tester\"\n\
         at = \"2026-11-22T10:00:00Z\"\n",
    );
    let out = wd.run(&["run", "--json"]).ok();
    let s: Value = serde_json::from_str(&out).unwrap();
    let patients = s["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "patients")
        .unwrap();
    assert_eq!(patients["migrated"], patients["source_rows"], "{patients}");
    assert_eq!(lines(&wd, "Patient.ndjson").len(), patients_before - 1);
    // Patient 2's row goes into patient 1's resource; nothing points at patient 2's old id.
    assert_eq!(lineage_ids(&wd, 2, "patients", "2"), id1);
    for file in ["Encounter.ndjson", "Observation.ndjson", "Patient.ndjson"] {
        let text = std::fs::read_to_string(wd.join(&format!("output/latest/{file}"))).unwrap();
        assert!(
            !text.contains(&id2[0]),
            "{file} still names the merged patient"
        );
    }
    let encounters_of_1 = std::fs::read_to_string(wd.join("output/latest/Encounter.ndjson"))
        .unwrap()
        .matches(&format!("Patient/{}", id1[0]))
        .count();
    assert!(
        encounters_of_1 >= refs_to_2,
        "patient 2's visits moved to the survivor"
    );
    // verify applies the same decisions: counts, round trip, integrity and validity pass. The
    // comparative search "every staged patient is a Patient" is now one short, as it should be
    // (two legacy patients are one person), and says so.
    let (_, v) = verify_json(&wd, &[]);
    for name in ["counts", "round-trip", "integrity", "validity"] {
        assert_eq!(check(&v, name)["status"], "pass", "{name}: {v:#}");
    }
    let search = check(&v, "search:patients");
    assert!(
        search["summary"]
            .as_str()
            .unwrap()
            .contains("snapshot (SQL) 60, output (FHIR) 59, difference 1"),
        "{search}"
    );
}

/// A module file's `[verify]` limit applies over the project's default and says where it was
/// set (with its reason); ferry.toml's `[verify.modules.NAME]` overrides the module file.
#[test]
fn a_module_files_own_limit_applies_and_ferry_toml_overrides_it() {
    let wd = clinic();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    // The project's default at 0%: only modules with their own limit can pass with exceptions.
    wd.write(
        "ferry.toml",
        config.replace("max_exception_rate = 0.25", "max_exception_rate = 0.0"),
    );
    let limit_of = |v: &Value, module: &str| -> (bool, String) {
        let t = v["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == format!("exception rate: {module}"))
            .unwrap_or_else(|| panic!("no threshold for {module}: {v:#}"))
            .clone();
        (
            t["ok"].as_bool().unwrap(),
            t["set_by"].as_str().unwrap_or_default().to_string(),
        )
    };
    let (_, v) = verify_json(&wd, &[]);
    let (ok, by) = limit_of(&v, "problems");
    assert!(ok, "{v:#}");
    assert!(
        by.starts_with("mappings/problems.toml:") && by.contains("[verify]: free-text problems"),
        "{by}"
    );
    let (_, by) = limit_of(&v, "patients");
    assert_eq!(by, "ferry.toml [verify] (the project's default)");
    let text = wd.run(&["verify"]).stdout();
    assert!(
        text.contains("Limit exception rate: problems: 10.0% (set in mappings/problems.toml:"),
        "{text}"
    );

    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!("{config}\n[verify.modules.problems]\nmax_exception_rate = 0.0\n"),
    );
    let (run, v) = verify_json(&wd, &[]);
    let (ok, by) = limit_of(&v, "problems");
    assert!(!ok, "{v:#}");
    assert_eq!(by, "ferry.toml [verify.modules.problems]");
    assert_eq!(run.code(), NO_GO);
}
