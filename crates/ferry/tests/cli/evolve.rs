//! `ferry generate --days-later`: the same clinic some days later. Both snapshots are staged with
//! the real binary and compared by primary key against `changes.json`: every unchanged row
//! identical, every new, changed (in exactly the listed columns) and deleted key as listed.

use super::workdir::Workdir;
use rusqlite::types::Value;
use std::collections::{BTreeMap, BTreeSet};

type Rows = BTreeMap<u64, Vec<Value>>;

/// A staged table by primary key (the first column), read from the snapshot file read-only.
fn staged(wd: &Workdir, snapshot: u32, table: &str) -> (Vec<String>, Rows) {
    let path = wd.join(&format!(".ferry/snapshots/snapshot-{snapshot:04}.db"));
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
        .unwrap();
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let n = names.len();
    let mut rows = Rows::new();
    let mut last = 0;
    let mut q = stmt.query([]).unwrap();
    while let Some(r) = q.next().unwrap() {
        let vals: Vec<Value> = (0..n).map(|i| r.get::<_, Value>(i).unwrap()).collect();
        let key: u64 = match &vals[0] {
            Value::Text(t) => t.parse().unwrap(),
            other => panic!("{table}: key {other:?}"),
        };
        assert!(
            key > last,
            "{table}: rows in key order ({key} after {last})"
        );
        last = key;
        rows.insert(key, vals);
    }
    (names, rows)
}

/// A staged value as the CSV export writes it (NULL as empty, bytes as uppercase hex).
fn as_csv(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => b.iter().map(|x| format!("{x:02X}")).collect(),
        other => panic!("staged values are text, bytes or NULL, got {other:?}"),
    }
}

#[test]
fn an_evolved_clinic_stages_to_exactly_the_changes_its_manifest_lists() {
    let wd = Workdir::project();
    wd.run(&["generate", "base", "--patients", "300", "--seed", "5"])
        .ok();
    let out = wd
        .run(&[
            "generate",
            "later",
            "--patients",
            "300",
            "--seed",
            "5",
            "--days-later",
            "30",
        ])
        .ok();
    assert!(out.contains("30 days later"), "{out}");
    assert!(out.contains("changes.json lists every key"), "{out}");
    wd.run(&["stage", "base/clinic.sql", "--label", "base"])
        .ok();
    wd.run(&["stage", "later/clinic.sql", "--label", "later"])
        .ok();
    wd.run(&["stage", "later/csv", "--label", "later-csv"]).ok();
    let changes = ferry_gen::ChangeManifest::read(&wd.join("later/changes.json")).unwrap();
    assert_eq!(changes.days_later, 30);
    assert_eq!(changes.tables.len(), 23);

    let mut seen = BTreeMap::<&str, u64>::new();
    for t in &changes.tables {
        let name = t.table.as_str();
        let (cols, base) = staged(&wd, 1, name);
        let (cols2, later) = staged(&wd, 2, name);
        assert_eq!(cols, cols2, "{name}: same columns");
        assert_eq!(base.len() as u64, t.base_rows, "{name}: base rows");
        assert_eq!(later.len() as u64, t.rows, "{name}: evolved rows");
        let added: Vec<u64> = later
            .keys()
            .filter(|k| !base.contains_key(k))
            .copied()
            .collect();
        let gone: Vec<u64> = base
            .keys()
            .filter(|k| !later.contains_key(k))
            .copied()
            .collect();
        assert_eq!(added, t.new.keys, "{name}: new keys");
        assert_eq!(gone, t.deleted.keys, "{name}: deleted keys");
        let mut listed: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
        for s in &t.changed.sets {
            for k in &s.keys {
                listed.insert(*k, s.columns.iter().map(String::as_str).collect());
            }
        }
        let mut unchanged = 0u64;
        for (k, was) in &base {
            let Some(now) = later.get(k) else { continue };
            // The dump keeps NULL, '' and bytes apart, so the differing columns are exact.
            let differ: BTreeSet<&str> = cols
                .iter()
                .zip(was.iter().zip(now))
                .filter(|(_, (a, b))| a != b)
                .map(|(c, _)| c.as_str())
                .collect();
            match listed.get(k) {
                None => {
                    assert!(
                        differ.is_empty(),
                        "{name} key {k}: unlisted change in {differ:?}"
                    );
                    unchanged += 1;
                }
                Some(cols) => assert_eq!(&differ, cols, "{name} key {k}: changed columns"),
            }
        }
        assert_eq!(unchanged, t.unchanged, "{name}: unchanged rows");
        assert_eq!(listed.len() as u64, t.changed.count, "{name}: changed rows");
        *seen.entry("new").or_default() += t.new.count;
        *seen.entry("changed").or_default() += t.changed.count;
        *seen.entry("deleted").or_default() += t.deleted.count;
        *seen.entry("unchanged").or_default() += unchanged;

        // The evolved CSV export holds the evolved dump's rows, under the CSV conventions.
        let (_, csv) = staged(&wd, 3, name);
        assert_eq!(
            csv.keys().collect::<Vec<_>>(),
            later.keys().collect::<Vec<_>>(),
            "{name}: dump and CSV keys"
        );
        for (k, row) in &later {
            let dump: Vec<String> = row.iter().map(as_csv).collect();
            let text: Vec<String> = csv[k].iter().map(as_csv).collect();
            assert_eq!(dump, text, "{name} key {k}: dump vs CSV");
        }
    }
    assert!(
        seen["new"] > 300 && seen["changed"] > 1000 && seen["deleted"] > 200,
        "{seen:?}"
    );
    // Over 30 days about 20% of rows are edited (1 - 0.95^(30/7)).
    assert!(seen["unchanged"] > 3 * seen["changed"], "{seen:?}");
    assert_eq!(changes.summary.unchanged, seen["unchanged"]);

    // A merged duplicate is gone, and no row points at it any more.
    assert!(!changes.merged_patients.is_empty());
    let (_, patients) = staged(&wd, 2, "patients");
    let (vcols, visits) = staged(&wd, 2, "visits");
    let vpid = vcols.iter().position(|c| c == "patient_id").unwrap();
    for m in &changes.merged_patients {
        assert!(!patients.contains_key(&m.from) && patients.contains_key(&m.into));
        let from = Value::Text(m.from.to_string());
        assert!(
            visits.values().all(|v| v[vpid] != from),
            "a visit of merged {}",
            m.from
        );
    }
}

#[test]
fn days_later_must_be_at_least_one() {
    let wd = Workdir::new();
    let err = wd
        .run(&["generate", "out", "--patients", "10", "--days-later", "0"])
        .fails_with(2);
    assert!(err.contains("--days-later"), "{err}");
    assert!(!wd.join("out").exists());
}
