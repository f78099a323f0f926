//! The store's promises: staged values come back exactly, staging is atomic, content hashes are
//! deterministic.

use ferry_core::{ColumnDef, Note, NoteKind, Origin, Sink, TableDef, Value};
use ferry_store::{QueryValue, StagedFile, StoreError, Workspace};
use proptest::prelude::*;

fn def(name: &str, cols: &[&str]) -> TableDef {
    TableDef::new(
        name,
        cols.iter()
            .map(|c| ColumnDef::new(*c, Some("varchar(10)".into())))
            .collect(),
        Origin {
            file: "test.sql".into(),
            line: 1,
        },
    )
}

fn all_rows(ws: &Workspace, id: u64, sql: &str) -> Vec<Vec<QueryValue>> {
    let reader = ws.open_snapshot(Some(id)).unwrap();
    let mut out = Vec::new();
    reader
        .query(sql, &mut |_, row| {
            out.push(row.to_vec());
            true
        })
        .unwrap();
    out
}

fn stage(ws: &mut Workspace, rows: &[Vec<Value>]) -> u64 {
    let mut w = ws.begin_snapshot(Some("t".into())).unwrap();
    let t = w.table(def("patients", &["id", "name", "photo"])).unwrap();
    for r in rows {
        w.row(t, r.clone()).unwrap();
    }
    w.add_file(StagedFile {
        path: "test.sql".into(),
        kind: "mysqldump".into(),
        bytes: 10,
        sha256: "00".into(),
        encoding: None,
    });
    w.commit().unwrap()
}

#[test]
fn values_come_back_exactly_null_empty_and_bytes_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let rows = vec![
        vec![
            Value::Text("007".into()),
            Value::Text(String::new()),
            Value::Null,
        ],
        vec![
            Value::Text("1.50".into()),
            Value::Text("Zoë \"Q\" O'Neil\r\n".into()),
            Value::Bytes(vec![0, 255, 10]),
        ],
    ];
    let id = stage(&mut ws, &rows);
    assert_eq!(id, 1);
    let got = all_rows(
        &ws,
        id,
        "SELECT id, name, photo, typeof(id), typeof(photo) FROM patients ORDER BY rowid",
    );
    assert_eq!(
        got[0][0],
        QueryValue::Text("007".into()),
        "leading zeros kept"
    );
    assert_eq!(got[0][1], QueryValue::Text(String::new()));
    assert_eq!(got[0][2], QueryValue::Null);
    assert_eq!(
        got[1][0],
        QueryValue::Text("1.50".into()),
        "no numeric coercion"
    );
    assert_eq!(got[1][1], QueryValue::Text("Zoë \"Q\" O'Neil\r\n".into()));
    assert_eq!(got[1][2], QueryValue::Bytes(vec![0, 255, 10]));
    assert_eq!(got[1][3], QueryValue::Text("text".into()));
    assert_eq!(got[1][4], QueryValue::Text("blob".into()));
    let info = ws.snapshot(None).unwrap();
    assert_eq!((info.tables, info.rows), (1, 2));
    let tables = ws.tables(id).unwrap();
    assert_eq!(
        tables[0].columns[0].declared_type.as_deref(),
        Some("varchar(10)")
    );
}

#[test]
fn dropping_an_uncommitted_snapshot_leaves_the_workspace_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    {
        let mut w = ws.begin_snapshot(None).unwrap();
        let t = w.table(def("a", &["x"])).unwrap();
        w.row(t, vec![Value::Text("1".into())]).unwrap();
        // dropped: simulates bad input half way
    }
    assert!(matches!(ws.snapshot(None), Err(StoreError::NoSnapshots)));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn cancel_flag_stops_staging_and_commit_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let mut w = ws.begin_snapshot(None).unwrap();
    let t = w.table(def("a", &["x"])).unwrap();
    w.cancel_flag()
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut failed = false;
    for i in 0..5000 {
        if w.row(t, vec![Value::Text(i.to_string())]).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "a cancelled writer must refuse rows");
    assert!(matches!(w.commit(), Err(StoreError::Cancelled)));
    assert!(matches!(ws.snapshot(None), Err(StoreError::NoSnapshots)));
}

#[test]
fn same_rows_give_same_content_hash_and_numbers_increase() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let rows = vec![vec![
        Value::Text("1".into()),
        Value::Text("a".into()),
        Value::Null,
    ]];
    let a = stage(&mut ws, &rows);
    let b = stage(&mut ws, &rows);
    assert_eq!((a, b), (1, 2));
    let sa = ws.snapshot(Some(a)).unwrap();
    let sb = ws.snapshot(Some(b)).unwrap();
    assert_eq!(sa.content_sha256, sb.content_sha256);
    let other = vec![vec![
        Value::Text("1".into()),
        Value::Text("a".into()),
        Value::Text(String::new()),
    ]];
    let c = stage(&mut ws, &other);
    assert_ne!(
        ws.snapshot(Some(c)).unwrap().content_sha256,
        sa.content_sha256,
        "NULL and '' must hash differently"
    );
}

#[test]
fn clashing_and_reserved_names_are_renamed_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let mut w = ws.begin_snapshot(None).unwrap();
    w.table(def("Patients", &["id", "ID"])).unwrap();
    w.table(def("patients", &["id"])).unwrap();
    w.table(def("sqlite_master", &["id"])).unwrap();
    let id = w.commit().unwrap();
    let tables = ws.tables(id).unwrap();
    let staged: Vec<_> = tables.iter().map(|t| t.staged_name.as_str()).collect();
    assert_eq!(staged, ["Patients", "patients_2", "_sqlite_master"]);
    assert_eq!(tables[0].columns[1].staged_name, "ID_2");
    assert!(ws.notes(id).unwrap().len() >= 3);
}

#[test]
fn rejected_rows_are_kept_in_the_snapshot_not_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let mut w = ws.begin_snapshot(None).unwrap();
    w.table(def("a", &["x"])).unwrap();
    w.note(
        Note::new(NoteKind::RejectedRow, "a.csv", "expected 1 field, found 2")
            .at_line(3)
            .in_table("a")
            .with_raw(b"secret,value".to_vec()),
    )
    .unwrap();
    let id = w.commit().unwrap();
    assert_eq!(ws.snapshot(Some(id)).unwrap().rejected_rows, 1);
    let notes = ws.notes(id).unwrap();
    assert_eq!(notes.len(), 1);
    assert!(!notes[0].message.contains("secret"));
    let raw = all_rows(&ws, id, "SELECT line, raw FROM _ferry_rejected_rows");
    assert_eq!(raw[0][0], QueryValue::Integer(3));
    assert_eq!(raw[0][1], QueryValue::Bytes(b"secret,value".to_vec()));
}

#[test]
fn snapshot_queries_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let id = stage(&mut ws, &[]);
    let reader = ws.open_snapshot(Some(id)).unwrap();
    let err = reader
        .query("DELETE FROM patients", &mut |_, _| true)
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
}

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<String>().prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Lossless staging: whatever values go in come back byte for byte.
    #[test]
    fn any_values_round_trip(rows in proptest::collection::vec(proptest::collection::vec(value_strategy(), 3), 0..50)) {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::open(dir.path()).unwrap();
        let id = stage(&mut ws, &rows);
        let got = all_rows(&ws, id, "SELECT id, name, photo FROM patients ORDER BY rowid");
        prop_assert_eq!(got.len(), rows.len());
        for (g, r) in got.iter().zip(&rows) {
            for (gv, rv) in g.iter().zip(r) {
                let expected = match rv {
                    Value::Null => QueryValue::Null,
                    Value::Text(s) => QueryValue::Text(s.clone()),
                    Value::Bytes(b) => QueryValue::Bytes(b.clone()),
                };
                prop_assert_eq!(gv, &expected);
            }
        }
    }
}

#[test]
fn scan_streams_rows_in_source_order_and_by_rowid_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let rows: Vec<Vec<Value>> = (0..10)
        .map(|i| {
            vec![
                Value::Text(i.to_string()),
                if i % 2 == 0 {
                    Value::Null
                } else {
                    Value::Text(String::new())
                },
                Value::Bytes(vec![i as u8]),
            ]
        })
        .collect();
    let id = stage(&mut ws, &rows);
    let reader = ws.open_snapshot(Some(id)).unwrap();
    assert_eq!(reader.rowid_range("patients").unwrap(), Some((1, 10)));
    let mut seen = Vec::new();
    let n = reader
        .scan("patients", Some((3, 5)), &mut |rowid, row| {
            seen.push((rowid, row.iter().map(|v| v.to_value()).collect::<Vec<_>>()));
            true
        })
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(seen[0].0, 3);
    assert_eq!(seen[0].1, rows[2]);
    assert_eq!(seen[2].1, rows[4]);
    let mut count = 0;
    reader
        .scan("patients", None, &mut |_, _| {
            count += 1;
            count < 4
        })
        .unwrap();
    assert_eq!(count, 4, "returning false stops the scan");
}
