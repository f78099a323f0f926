//! `ferry run --base RUN`: a delta of a newer snapshot against a full run of the older one. The
//! clinic is evolved by the generator (`--days-later`, with `changes.json`), both snapshots are
//! staged, and the delta's output plus what it carried over must be, byte for byte, a fresh full
//! run of the newer snapshot; what it retires must be exactly what that full run no longer makes.

use super::workdir::{Workdir, clinic_run};
use std::collections::{BTreeMap, BTreeSet};

type Resources = BTreeMap<(String, String), Vec<u8>>;

/// Every resource of a run's output folder, by (type, id), as its line's bytes.
fn output(wd: &Workdir, run: u32) -> Resources {
    let dir = wd.join(&format!("output/run-{run:04}"));
    let mut out = Resources::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("ndjson") {
            continue;
        }
        for line in std::fs::read(&p).unwrap().split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            let key = (
                v["resourceType"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            );
            assert!(out.insert(key, line.to_vec()).is_none(), "an id twice");
        }
    }
    out
}

/// (type, id) of each resource a query over a run's ledger names in a lineage JSON column.
fn ledger_ids(wd: &Workdir, run: u32, sql: &str) -> BTreeSet<(String, String)> {
    let path = wd.join(&format!(".ferry/runs/run-{run:04}.db"));
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    rows.map(|r| r.unwrap()).collect()
}

fn books<'a>(summary: &'a serde_json::Value, module: &str) -> &'a serde_json::Value {
    summary["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == module)
        .unwrap_or_else(|| panic!("no module {module}: {summary}"))
}

#[test]
fn a_delta_plus_what_it_carries_is_a_fresh_full_run_byte_for_byte() {
    // Run 1: a full run of the 60-patient clinic (seed 11).
    let wd = clinic_run("");
    wd.run(&[
        "generate",
        "later",
        "--patients",
        "60",
        "--seed",
        "11",
        "--sql-only",
        "--days-later",
        "30",
    ])
    .ok();
    wd.run(&["stage", "later/clinic.sql", "--label", "later"])
        .ok();

    // Run 2: the delta.
    let text = wd.run(&["run", "--base", "1"]).ok();
    assert!(text.contains("A delta of run 1"), "{text}");
    assert!(text.contains("unchanged"), "{text}");
    let out = wd.run(&["runs", "--json"]).ok();
    assert!(out.contains("\"base\": 1"), "{out}");
    let verified = wd.run(&["verify", "--run", "2"]).ok();
    assert!(verified.contains("GO"), "{verified}");
    assert!(!verified.contains("NO-GO"), "{verified}");

    // Run 3: a full run of the same newer snapshot.
    let full = wd.run(&["run", "--json"]).ok();
    let full: serde_json::Value = serde_json::from_str(&full).unwrap();

    let (base, delta, fresh) = (output(&wd, 1), output(&wd, 2), output(&wd, 3));
    let carried = ledger_ids(
        &wd,
        2,
        "SELECT j.value ->> 0, j.value ->> 1 FROM carried_row, json_each(carried_row.resources) j
         WHERE outcome = 'migrated'",
    );
    let retired = ledger_ids(&wd, 2, "SELECT type, id FROM retired_resource");
    assert!(!delta.is_empty() && !carried.is_empty() && !retired.is_empty());
    assert!(
        delta.len() * 2 < fresh.len(),
        "a delta writes only what changed: {} of {}",
        delta.len(),
        fresh.len()
    );
    for (k, bytes) in &fresh {
        match delta.get(k) {
            Some(d) => assert_eq!(d, bytes, "{k:?}: the delta's bytes"),
            None => {
                assert!(carried.contains(k), "{k:?}: neither written nor carried");
                assert_eq!(base.get(k), Some(bytes), "{k:?}: carried from run 1");
            }
        }
    }
    assert!(
        delta.keys().all(|k| fresh.contains_key(k)),
        "the delta wrote a resource a full run does not make"
    );
    let gone: BTreeSet<(String, String)> = base
        .keys()
        .filter(|k| !fresh.contains_key(*k))
        .cloned()
        .collect();
    assert_eq!(retired, gone, "retired = what a full run no longer makes");

    // The books against the generator's manifest: patients' rows by key and content.
    let changes = ferry_gen::ChangeManifest::read(&wd.join("later/changes.json")).unwrap();
    let table = changes
        .tables
        .iter()
        .find(|t| t.table == "patients")
        .unwrap();
    let runs = wd.run(&["runs", "--json"]).ok();
    assert!(runs.contains("\"kind\": \"delta\""), "{runs}");
    let summary = wd.run(&["run", "--base", "1", "--json"]).ok();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let p = books(&summary, "patients");
    assert_eq!(p["new_rows"], table.new.count, "{p}");
    assert_eq!(p["changed"], table.changed.count, "{p}");
    assert_eq!(p["deleted"], table.deleted.count, "{p}");
    assert_eq!(p["unchanged"], table.unchanged, "{p}");
    for m in summary["modules"].as_array().unwrap() {
        let n = |f: &str| m[f].as_u64().unwrap();
        assert_eq!(
            n("source_rows"),
            n("unchanged") + n("migrated") + n("excluded") + n("exceptions"),
            "{m}"
        );
        assert_eq!(
            n("new_rows") + n("changed"),
            n("migrated") + n("excluded") + n("exceptions"),
            "{m}"
        );
        let f = books(&full, m["module"].as_str().unwrap());
        assert_eq!(m["source_rows"], f["source_rows"], "{m} vs {f}");
    }
}

#[test]
fn a_delta_is_refused_without_a_base_or_with_other_mappings_and_verify_catches_a_changed_base() {
    let wd = clinic_run("");
    let err = wd.run(&["run", "--kind", "delta"]).fails_with(1);
    assert!(err.contains("needs its base"), "{err}");
    let err = wd.run(&["run", "--base", "9"]).fails_with(1);
    assert!(err.contains('9'), "{err}");

    // Other mappings: refused, naming the file.
    let path = wd.join("mappings/patients.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n# edited\n")).unwrap();
    let err = wd.run(&["run", "--base", "1"]).fails_with(1);
    assert!(err.contains("mappings/patients.toml (changed)"), "{err}");
    std::fs::write(&path, &text).unwrap();

    // The same snapshot again: everything carried, nothing written, GO.
    let summary = wd.run(&["run", "--base", "1", "--json"]).ok();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    for m in summary["modules"].as_array().unwrap() {
        assert_eq!(m["unchanged"], m["source_rows"], "{m}");
        assert_eq!(m["resources"], 0, "{m}");
    }
    wd.run(&["verify", "--run", "2"]).ok();

    // Loading a delta waits for its conflict queue: refused before anything is sent.
    let config = std::fs::read_to_string(wd.join("ferry.toml")).unwrap();
    wd.write(
        "ferry.toml",
        format!(
            "{config}\n[targets.ehr]\nkind = \"fhir\"\nurl = \"http://127.0.0.1:9/fhir\"\nallow_http = true\n"
        ),
    );
    let err = wd
        .run(&["load", "--target", "ehr", "--run", "2"])
        .fails_with(1);
    assert!(err.contains("is a delta of run 1"), "{err}");

    // A carried resource edited in the base's output after the fact: the delta's verification
    // reads it back and says NO-GO.
    let file = wd.join("output/run-0001/Patient.ndjson");
    let bytes = std::fs::read(&file).unwrap();
    let edited = String::from_utf8(bytes)
        .unwrap()
        .replacen("\"family\":\"", "\"family\":\"X", 1);
    std::fs::write(&file, edited).unwrap();
    let run = wd.run(&["verify", "--run", "2"]);
    run.fails_with(3);
    let out = run.stdout();
    assert!(out.contains("its bytes differ"), "{out}");
}
