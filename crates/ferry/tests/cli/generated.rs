//! Staging the generated clinic: the books balance against the manifest, and the dump and the CSV
//! export of the same clinic stage to the same values (each reader is checked by the other).

use super::workdir::Workdir;
use rusqlite::types::ValueRef;
use std::collections::BTreeMap;

fn manifest(wd: &Workdir) -> serde_json::Value {
    let text = std::fs::read_to_string(wd.join("legacy/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn staged_rows(stage: &serde_json::Value) -> BTreeMap<String, u64> {
    stage["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn manifest_rows(m: &serde_json::Value) -> BTreeMap<String, u64> {
    m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn generated(patients: &str) -> Workdir {
    let wd = Workdir::project();
    wd.run(&["generate", "legacy", "--patients", patients, "--seed", "7"])
        .ok();
    wd
}

#[test]
fn dump_and_csv_stage_every_row_of_the_manifest() {
    let wd = generated("150");
    let m = manifest(&wd);
    let expected = manifest_rows(&m);
    assert!(expected.len() >= 20, "{expected:?}");

    let dump = wd.stage_json(&["legacy/clinic.sql", "--label", "dump"]);
    assert_eq!(staged_rows(&dump), expected, "dump snapshot vs manifest");
    // The view and the trigger are skipped and recorded; the latin1 table is transcoded and recorded.
    let skipped = m["sql"]["views"].as_array().unwrap().len()
        + m["sql"]["triggers"].as_array().unwrap().len();
    assert_eq!(
        dump["notes"]["skipped_object"].as_u64().unwrap(),
        skipped as u64
    );
    let latin1 = m["sql"]["latin1_tables"].as_array().unwrap().len() as u64;
    assert!(latin1 >= 1);
    assert_eq!(dump["notes"]["transcoded"].as_u64().unwrap(), latin1);

    let csv = wd.stage_json(&["legacy/csv", "--label", "csv"]);
    assert_eq!(staged_rows(&csv), expected, "CSV snapshot vs manifest");
    assert_eq!(csv["rejected_rows"], 0);
    // Windows-1252 files that hold a non-ASCII byte (a pure-ASCII file is valid UTF-8 as it is).
    let cp1252 = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["encoding"] == "windows-1252")
        .filter(|f| {
            let bytes = std::fs::read(wd.join("legacy").join(f["path"].as_str().unwrap())).unwrap();
            bytes.iter().any(|b| *b >= 0x80)
        })
        .count() as u64;
    assert!(cp1252 >= 1);
    assert_eq!(csv["notes"]["transcoded"].as_u64().unwrap(), cp1252);
}

/// Every value of every table, staged from the dump, equals the same value staged from the CSV
/// export, given the CSV conventions the manifest states (NULL written as empty, bytes as hex).
#[test]
fn dump_and_csv_snapshots_hold_the_same_values() {
    let wd = generated("120");
    wd.run(&["stage", "legacy/clinic.sql"]).ok();
    wd.run(&["stage", "legacy/csv"]).ok();
    let dump = rusqlite::Connection::open(wd.join(".ferry/snapshots/snapshot-0001.db")).unwrap();
    let csv = rusqlite::Connection::open(wd.join(".ferry/snapshots/snapshot-0002.db")).unwrap();
    let m = manifest(&wd);
    let mut compared = 0u64;
    for t in m["tables"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let sql = format!("SELECT * FROM \"{name}\" ORDER BY rowid");
        let rows = |conn: &rusqlite::Connection, as_csv: bool| -> Vec<Vec<String>> {
            let mut stmt = conn.prepare(&sql).unwrap();
            let n = stmt.column_count();
            let mut out = Vec::new();
            let mut q = stmt.query([]).unwrap();
            while let Some(r) = q.next().unwrap() {
                out.push(
                    (0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            ValueRef::Null => String::new(),
                            ValueRef::Text(t) => String::from_utf8(t.to_vec()).unwrap(),
                            ValueRef::Blob(b) => {
                                assert!(!as_csv, "CSV staging never yields bytes");
                                b.iter().map(|x| format!("{x:02X}")).collect()
                            }
                            other => panic!("staged values are text/bytes/NULL, got {other:?}"),
                        })
                        .collect(),
                );
            }
            out
        };
        let a = rows(&dump, false);
        let b = rows(&csv, true);
        assert_eq!(a.len(), b.len(), "{name}");
        for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
            assert_eq!(ra, rb, "table {name}, row {}", i + 1);
            compared += ra.len() as u64;
        }
    }
    assert!(compared > 10_000, "compared only {compared} values");
}

#[test]
fn generating_and_staging_twice_is_byte_identical() {
    let wd = Workdir::project();
    wd.run(&[
        "generate",
        "a",
        "--patients",
        "100",
        "--seed",
        "3",
        "--sql-only",
    ])
    .ok();
    wd.run(&[
        "generate",
        "b",
        "--patients",
        "100",
        "--seed",
        "3",
        "--sql-only",
    ])
    .ok();
    let fa = std::fs::read(wd.join("a/clinic.sql")).unwrap();
    let fb = std::fs::read(wd.join("b/clinic.sql")).unwrap();
    assert!(fa == fb, "same seed must give the same dump");
    let sa = wd.stage_json(&["a/clinic.sql"]);
    let sb = wd.stage_json(&["b/clinic.sql"]);
    assert_eq!(sa["content_sha256"], sb["content_sha256"]);
    assert_eq!(sa["files"][0]["sha256"], sb["files"][0]["sha256"]);
    wd.run(&[
        "generate",
        "c",
        "--patients",
        "100",
        "--seed",
        "4",
        "--sql-only",
    ])
    .ok();
    let sc = wd.stage_json(&["c/clinic.sql"]);
    assert_ne!(
        sa["content_sha256"], sc["content_sha256"],
        "another seed, other content"
    );
}

#[test]
fn generate_refuses_a_folder_that_is_not_empty() {
    let wd = Workdir::project();
    wd.write("out/keep.txt", "x");
    let err = wd
        .run(&["generate", "out", "--patients", "100"])
        .fails_with(1);
    assert!(err.contains("is not empty"), "{err}");
}
