//! Mapping functions through the real `ferry run`: an IANA `time_zone` in ferry.toml (daylight
//! saving on both sides of the year, the fall-back hour, the spring-forward gap), a per-call
//! zone, and an attachment's `sha1`, `byte_size`, `mime_type` from a staged BLOB.

use super::workdir::Workdir;

const DUMP: &str = "CREATE TABLE `pats` (\n  `pid` int NOT NULL,\n  `sex` char(1),\n  PRIMARY KEY (`pid`)\n);\n\
INSERT INTO `pats` VALUES (7,'F');\n\
CREATE TABLE `scans` (\n  `scan_id` int NOT NULL,\n  `pid` int,\n  `taken` varchar(20),\n  `file_name` varchar(40),\n  `body` blob,\n  PRIMARY KEY (`scan_id`)\n);\n\
INSERT INTO `scans` VALUES (1,7,'2021-07-01 09:15','scan.PDF',0x616263),(2,7,'2021-11-07 01:30','note.txt','hello'),(3,7,'2021-03-14 02:30','x.png',0x00),(4,7,'12/25/2021 6:00 PM','ct.dcm',0xFFD8);\n";

const PATIENTS: &str = r#"[module]
name = "patients"
description = "Legacy patients -> FHIR Patient"

[source]
query = "SELECT * FROM pats"
key = "pid"

[[resource]]
type = "Patient"
[resource.fields]
"gender" = "row.sex | gender"
"#;

const MODULE: &str = r#"[module]
name = "scans"
description = "Legacy scans -> FHIR DocumentReference (the file's bytes as the attachment)"

[source]
query = "SELECT * FROM scans"
key = "scan_id"
patient = "pid"

[[resource]]
type = "DocumentReference"
[resource.fields]
"status" = "'current'"
"subject.reference" = "ref('patients', row.pid)"
"date" = "row.taken | datetime"
"context.period.start" = "row.taken | datetime(zone='Europe/London')"
"content[0].attachment.contentType" = "row.file_name | mime_type"
"content[0].attachment.title" = "row.file_name"
"content[0].attachment.data" = "row.body | base64"
"content[0].attachment.size" = "row.body | byte_size"
"content[0].attachment.hash" = "row.body | sha1"

[verify]
max_exception_rate = 0.5
reason = "row 3 is a local time inside the spring-forward gap, an exception by design"
"#;

#[test]
fn time_zone_and_attachment_functions_through_ferry_run() {
    let wd = Workdir::project();
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    let config = config.replace(
        "# local_offset = \"-05:00\"",
        "time_zone = \"America/New_York\"",
    );
    assert!(
        config.contains("time_zone = \"America/New_York\""),
        "{config}"
    );
    wd.write("ferry.toml", config);
    wd.write("legacy.sql", DUMP);
    wd.run(&["stage", "legacy.sql"]).ok();
    wd.write("mappings/scans.toml", MODULE);
    wd.write("mappings/patients.toml", PATIENTS);
    wd.run(&["check"]).ok();
    let out = wd.run(&["run", "--json"]).ok();
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = s["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "scans")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(m["migrated"], 3, "{m}");
    assert_eq!(m["exceptions"], 1, "the spring-forward gap: {m}");

    let ndjson =
        std::fs::read_to_string(wd.join("output/latest/DocumentReference.ndjson")).unwrap();
    let mut docs: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    docs.sort_by_key(|d| {
        d["content"][0]["attachment"]["title"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let got: Vec<(String, String, serde_json::Value)> = docs
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_string(),
                d["context"]["period"]["start"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                d["content"][0]["attachment"].clone(),
            )
        })
        .collect();
    let attachment = |ct: &str, title: &str, data: &str, size: u64, hash: &str| serde_json::json!({"contentType": ct, "title": title, "data": data, "size": size, "hash": hash});
    assert_eq!(
        got,
        vec![
            (
                // Winter: standard time in New York, GMT in London.
                "2021-12-25T18:00:00-05:00".to_string(),
                "2021-12-25T18:00:00+00:00".to_string(),
                attachment(
                    "application/dicom",
                    "ct.dcm",
                    "/9g=",
                    2,
                    "JutihdMtEzkwqrmmabEVWqggma4="
                ),
            ),
            (
                // The fall-back night's first 01:30 (the default `earlier`), still summer time;
                // London is already back on GMT that week.
                "2021-11-07T01:30:00-04:00".to_string(),
                "2021-11-07T01:30:00+00:00".to_string(),
                attachment(
                    "text/plain",
                    "note.txt",
                    "aGVsbG8=",
                    5,
                    "qvTGHdzF6KLavt4PO0gs2a6pQ00="
                ),
            ),
            (
                // Summer: daylight saving time on both sides.
                "2021-07-01T09:15:00-04:00".to_string(),
                "2021-07-01T09:15:00+01:00".to_string(),
                attachment(
                    "application/pdf",
                    "scan.PDF",
                    "YWJj",
                    3,
                    "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
                ),
            ),
        ]
    );

    let exc = wd.run(&["exceptions", "--show-values"]).ok();
    assert!(exc.contains("does not exist in the time zone"), "{exc}");
    assert!(exc.contains("2021-03-14 02:30"), "{exc}");
    // Verification re-evaluates every row with the same zone and finds the same bytes.
    let v = wd.run(&["verify"]).ok();
    assert!(v.contains("GO") && !v.contains("NO-GO"), "{v}");
}
