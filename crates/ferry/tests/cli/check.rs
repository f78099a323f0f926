//! `ferry check` catches what `ferry run` would reject (issue 12): field paths against the R4
//! element definitions (names, choice types, cardinality, constant types) with file:line:column
//! and a did-you-mean, `datetime` with no zone configured, and `--modules` for partial projects.

use super::workdir::Workdir;

const DUMP: &str = "CREATE TABLE `imm` (\n  `imm_id` int NOT NULL,\n  `patient_id` int,\n  `vaccine` varchar(40),\n  `given` varchar(20),\n  `dose` varchar(10),\n  PRIMARY KEY (`imm_id`)\n);\n\
INSERT INTO `imm` VALUES (1,10,'Tdap','03/15/2019','0.5'),(2,11,'Tdap','2019-10-01 10:30','0.5');\n";

/// Lines 1-17; fields added by a test start at line 18.
const IMMUNIZATIONS: &str = r#"[module]
name = "immunizations"
description = "Legacy immunizations -> FHIR Immunization"

[source]
query = "SELECT * FROM imm"
key = "imm_id"
patient = "patient_id"

[[resource]]
type = "Immunization"

[resource.fields]
"status" = "'completed'"
"vaccineCode.text" = "row.vaccine"
"patient.reference" = "'Patient/p' ~ row.patient_id"
"occurrenceDateTime" = "row.given | date"
"#;

/// Lines 1-15; fields added by a test start at line 16.
const DOSES: &str = r#"[module]
name = "doses"
description = "Legacy doses -> FHIR Observation"

[source]
query = "SELECT * FROM imm"
key = "imm_id"

[[resource]]
type = "Observation"

[resource.fields]
"status" = "'final'"
"code.text" = "'dose'"
"subject.reference" = "'Patient/p' ~ row.patient_id"
"#;

fn project(offset: bool) -> Workdir {
    let wd = Workdir::project();
    wd.write("legacy.sql", DUMP);
    wd.run(&["stage", "legacy.sql"]).ok();
    if offset {
        let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
        let config = config.replace("# local_offset = \"-05:00\"", "local_offset = \"-05:00\"");
        assert!(config.contains("\nlocal_offset = \"-05:00\""), "{config}");
        wd.write("ferry.toml", config);
    }
    wd
}

/// The three misspellings that passed `check` and made 49,273 exceptions at run time.
#[test]
fn misspelt_elements_are_errors_with_position_and_did_you_mean() {
    let wd = project(true);
    wd.write(
        "mappings/immunizations.toml",
        format!(
            "{IMMUNIZATIONS}\"primarySourc\" = \"true\"\n\"vaccineCode.coding[0].displayy\" = \"row.vaccine\"\n"
        ),
    );
    wd.write(
        "mappings/doses.toml",
        format!("{DOSES}\"valueQuantity.value\" = \"row.dose | decimal\"\n\"valueQuantity.units\" = \"'mL'\"\n"),
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains(
            "immunizations.toml:18:2: error: field `primarySourc`: unknown element `primarySourc` (in Immunization); did you mean `primarySource`?"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "immunizations.toml:19:24: error: field `vaccineCode.coding[0].displayy`: unknown element `displayy` (in Coding); did you mean `display`?"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "doses.toml:17:16: error: field `valueQuantity.units`: unknown element `units` (in Quantity); did you mean `unit`?"
        ),
        "{err}"
    );
    let out = wd.run(&["check"]).stdout();
    assert!(out.contains("2 modules checked: 3 errors"), "{out}");
    // The run refuses on the same errors, before any row becomes an exception.
    let run = wd.run(&["run"]).fails_with(1);
    assert!(
        run.contains("nothing was run") && run.contains("primarySourc"),
        "{run}"
    );
}

#[test]
fn a_choice_type_the_element_does_not_allow_and_an_index_on_a_single_element_are_errors() {
    let wd = project(true);
    wd.write(
        "mappings/immunizations.toml",
        format!(
            "{IMMUNIZATIONS}\"statusReason[0].text\" = \"'x'\"\n\"primarySource\" = \"'yes'\"\n"
        ),
    );
    wd.write(
        "mappings/doses.toml",
        format!("{DOSES}\"valueDecimal\" = \"row.dose | decimal\"\n"),
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains(
            "doses.toml:16:2: error: field `valueDecimal`: `value[x]` of Observation does not allow `valueDecimal`: it allows "
        ) && err.contains("valueQuantity"),
        "{err}"
    );
    assert!(
        err.contains(
            "immunizations.toml:18:2: error: field `statusReason[0].text`: `statusReason` holds one CodeableConcept (0..1 or 1..1), not a list: remove the index"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "immunizations.toml:19:2: error: field `primarySource`: `primarySource` holds a boolean"
        ),
        "{err}"
    );
    assert!(err.contains("but the constant is text"), "{err}");
}

/// `datetime` with no zone: each legacy local time would be an exception at run time. A
/// warning (values stating their own zone convert), gone once `local_offset` is set.
#[test]
fn datetime_without_a_configured_zone_is_a_warning() {
    let field = "\"recorded\" = \"row.given | datetime\"\n";
    let wd = project(false);
    wd.write(
        "mappings/immunizations.toml",
        format!("{IMMUNIZATIONS}{field}"),
    );
    let run = wd.run(&["check"]);
    let out = run.ok();
    assert!(
        out.contains("1 modules checked: 0 errors, 1 warnings"),
        "{out}"
    );
    let err = run.stderr();
    assert!(
        err.contains("immunizations.toml:18:27: warning: `datetime` with no time zone configured")
            && err.contains("local_offset"),
        "{err}"
    );
    let wd = project(true);
    wd.write(
        "mappings/immunizations.toml",
        format!("{IMMUNIZATIONS}{field}"),
    );
    let out = wd.run(&["check"]).ok();
    assert!(out.contains("0 errors, 0 warnings"), "{out}");
}

#[test]
fn check_modules_checks_only_the_named_modules() {
    let wd = project(true);
    wd.write("mappings/immunizations.toml", IMMUNIZATIONS);
    // A half-written module: not loadable, and not asked for.
    wd.write(
        "mappings/doses.toml",
        format!("{DOSES}\"valueQuantity.units\" = \"'mL'\"\n\"x\" = \"row.nope |\"\n"),
    );
    wd.run(&["check"]).fails_with(1);
    let run = wd.run(&["check", "--modules", "immunizations"]);
    let out = run.ok();
    assert!(
        out.contains("1 modules checked: 0 errors, 0 warnings"),
        "{out}"
    );
    assert!(!run.stderr().contains("doses.toml"), "{}", run.stderr());
    let err = wd
        .run(&["check", "--modules", "immunizations,vaccines"])
        .fails_with(1);
    assert!(
        err.contains("no module named `vaccines` in mappings/. Modules: doses, immunizations"),
        "{err}"
    );
}

/// The module library checks clean: no error, no warning, on the generated clinic.
#[test]
fn the_clinic_library_checks_clean() {
    let wd = Workdir::new();
    wd.run(&["init", "p", "--library", "clinic"]).ok();
    let run = |args: &[&str]| {
        let mut cmd = wd.command(args);
        cmd.current_dir(wd.join("p"));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "ferry {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    run(&["generate", "legacy", "--patients", "40", "--sql-only"]);
    run(&["stage", "legacy/clinic.sql"]);
    let (out, err) = run(&["check"]);
    assert!(
        out.contains("modules checked: 0 errors, 0 warnings"),
        "{out}\n{err}"
    );
}

fn set_config(wd: &Workdir, from: &str, to: &str) {
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    assert!(config.contains(from), "{config}");
    wd.write("ferry.toml", config.replacen(from, to, 1));
}

/// Issue 12: identifier systems come from one project setting, `system_base`: unset, a module
/// using `system(...)` is an error at its position saying what to set, for check and run alike;
/// set, every system follows it; a bad base names the setting; a placeholder literal warns.
#[test]
fn identifier_systems_come_from_system_base() {
    let wd = project(true);
    let field = "\"identifier[0].system\" = \"system('sid/imm-id')\"\n\"identifier[0].value\" = \"row.imm_id\"\n";
    wd.write(
        "mappings/immunizations.toml",
        format!("{IMMUNIZATIONS}{field}"),
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains(
            "immunizations.toml:18:35: error: `system('sid/imm-id')` needs `system_base` under [project] in ferry.toml: your organisation's URL"
        ),
        "{err}"
    );
    let run = wd.run(&["run"]).fails_with(1);
    assert!(run.contains("system_base"), "{run}");

    // `ferry init` wrote the setting commented, with what it is for.
    set_config(
        &wd,
        "# system_base = \"https://fhir.hospital.example\"",
        "system_base = \"hospital.example\"",
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains("ferry.toml: error: system_base: `hospital.example` is not an absolute URI"),
        "{err}"
    );
    set_config(
        &wd,
        "system_base = \"hospital.example\"",
        "system_base = \"urn:oid:2.16.840.1.113883.3.1234\"",
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains("system_base is an OID, which names no paths")
            && err.contains("[project.systems]"),
        "{err}"
    );
    set_config(
        &wd,
        "system_base = \"urn:oid:2.16.840.1.113883.3.1234\"",
        "system_base = \"https://fhir.hospital.example/\"",
    );
    let out = wd.run(&["check"]).ok();
    assert!(out.contains("0 errors, 0 warnings"), "{out}");
    wd.run(&["run"]).ok();
    let ndjson = std::fs::read_to_string(wd.join("output/latest/Immunization.ndjson")).unwrap();
    assert!(
        ndjson.contains("\"system\":\"https://fhir.hospital.example/sid/imm-id\""),
        "{ndjson}"
    );
    // `ferry verify` re-evaluates the rows with the same setting: no round-trip mismatch.
    let verify = wd.run(&["verify", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&verify.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", verify.stdout(), verify.stderr()));
    let round_trip = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "round-trip")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(round_trip["status"], "pass", "{v:#}");

    // A literal placeholder left in a module is a warning.
    wd.write(
        "mappings/doses.toml",
        format!("{DOSES}\"identifier[0].system\" = \"'http://ferry.example/sid/dose'\"\n"),
    );
    let run = wd.run(&["check"]);
    let out = run.ok();
    assert!(out.contains("0 errors, 1 warnings"), "{out}");
    assert!(
        run.stderr().contains(
            "doses.toml:16:28: warning: `http://ferry.example` is the module library's placeholder"
        ),
        "{}",
        run.stderr()
    );
}

/// Issue 12: `check` let through a contained resource's misspelt element, a code outside a
/// required binding (`Encounter.status = "done"`) and a `positiveInt` of `0`; the run failed
/// every row. Now check refuses each with file:line:column, and the run refuses the same.
#[test]
fn contained_paths_required_codes_and_integer_constants_are_checked() {
    let wd = project(true);
    wd.write(
        "mappings/immunizations.toml",
        format!(
            "{IMMUNIZATIONS}\"contained[0].resourceType\" = \"'Medication'\"\n\"contained[0].code.textt\" = \"row.vaccine\"\n\"protocolApplied[0].doseNumberPositiveInt\" = \"0\"\n"
        ),
    );
    wd.write(
        "mappings/visits.toml",
        "[module]\nname = \"visits\"\n[source]\nquery = \"SELECT * FROM imm\"\nkey = \"imm_id\"\n\
         [[resource]]\ntype = \"Encounter\"\n[resource.fields]\n\"status\" = \"'done'\"\n\
         \"class.code\" = \"'AMB'\"\n\"class.system\" = \"'http://terminology.hl7.org/CodeSystem/v3-ActCode'\"\n",
    );
    let err = wd.run(&["check"]).fails_with(1);
    assert!(
        err.contains(
            "immunizations.toml:19:20: error: field `contained[0].code.textt`: unknown element `textt` (in CodeableConcept); did you mean `text`?"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "immunizations.toml:20:21: error: field `protocolApplied[0].doseNumberPositiveInt`: `doseNumberPositiveInt` is positiveInt (a whole number above 0), but the constant is `0`"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "visits.toml:9:2: error: field `status`: `done` is not a code of `status` (a required binding): the codes are planned, arrived, triaged, in-progress, onleave, finished, cancelled, entered-in-error, unknown"
        ),
        "{err}"
    );
    let run = wd.run(&["run"]).fails_with(1);
    assert!(
        run.contains("nothing was run") && run.contains("`done` is not a code"),
        "{run}"
    );
}
