//! Snapshot queries are read-only by construction (an authorizer, `Statement::readonly`, one
//! statement), limited in time and cancellable; the engine's own queries still work.

use ferry_core::{Cancel, ColumnDef, Origin, Sink, TableDef, Value};
use ferry_store::{QueryValue, SnapshotReader, StagedFile, StoreError, Workspace};
use std::path::Path;
use std::time::{Duration, Instant};

const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";

fn staged() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    let mut w = ws.begin_snapshot(Some("t".into())).unwrap();
    let t = w
        .table(TableDef::new(
            "patients",
            ["id", "name", "dob"]
                .iter()
                .map(|c| ColumnDef::new(*c, Some("varchar(10)".into())))
                .collect(),
            Origin {
                file: "test.sql".into(),
                line: 1,
            },
        ))
        .unwrap();
    for (id, name, dob) in [("1", "Ann", "2001-02-03"), ("2", "Bob", "03/04/1999")] {
        w.row(
            t,
            vec![
                Value::Text(id.into()),
                Value::Text(name.into()),
                Value::Text(dob.into()),
            ],
        )
        .unwrap();
    }
    w.add_file(StagedFile {
        path: "test.sql".into(),
        kind: "mysqldump".into(),
        bytes: 10,
        sha256: "00".into(),
        encoding: None,
    });
    w.commit().unwrap();
    (dir, ws)
}

fn rows(reader: &SnapshotReader, sql: &str) -> Result<Vec<Vec<QueryValue>>, StoreError> {
    let mut out = Vec::new();
    reader.query(sql, &mut |_, row| {
        out.push(row.to_vec());
        true
    })?;
    Ok(out)
}

fn count(reader: &SnapshotReader) -> i64 {
    match rows(reader, "SELECT count(*) FROM patients").unwrap()[0][0] {
        QueryValue::Integer(n) => n,
        ref other => panic!("{other:?}"),
    }
}

fn file_bytes(ws: &Workspace) -> Vec<u8> {
    std::fs::read(ws.snapshot(None).unwrap().db_file).unwrap()
}

fn refused(reader: &SnapshotReader, sql: &str) -> String {
    let err = rows(reader, sql).expect_err(sql).to_string();
    assert!(
        err.contains("only read-only queries run over a snapshot"),
        "{sql}: {err}"
    );
    err
}

#[test]
fn the_refusal_message_says_what_was_refused_and_what_to_do() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    assert_eq!(
        refused(&reader, "DELETE FROM patients"),
        "query failed: only read-only queries run over a snapshot: a single SELECT (or WITH ... SELECT); `DELETE` (`patients`) was refused, nothing ran and nothing was changed. Staged snapshots keep exactly what the legacy system held: to work on a copy, export the rows with `ferry sql \"SELECT ...\" --format csv`"
    );
}

/// `VACUUM INTO` is never shown to the authorizer: `Statement::readonly` must stop it.
#[test]
fn vacuum_into_is_refused_and_creates_no_file() {
    let (dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let target = dir.path().join("copy.db");
    let err = refused(
        &reader,
        &format!("VACUUM INTO '{}'", target.to_str().unwrap()),
    );
    assert!(err.contains("`VACUUM` (it writes)"), "{err}");
    assert!(!target.exists());
}

#[test]
fn attach_is_refused_and_creates_no_file() {
    let (dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let target = dir.path().join("other.db");
    let err = refused(
        &reader,
        &format!("ATTACH DATABASE '{}' AS o", target.to_str().unwrap()),
    );
    assert!(err.contains("`ATTACH`"), "{err}");
    assert!(
        !err.contains("other.db"),
        "no file names in messages: {err}"
    );
    assert!(!target.exists());
}

#[test]
fn writes_schema_changes_pragmas_and_transactions_are_refused_and_change_nothing() {
    let (_dir, ws) = staged();
    let before = file_bytes(&ws);
    let reader = ws.open_snapshot(None).unwrap();
    for (sql, named) in [
        (
            "INSERT INTO patients VALUES ('3', 'x', 'y')",
            "`INSERT` (`patients`)",
        ),
        ("UPDATE patients SET name = 'x'", "`UPDATE` (`patients`)"),
        ("DELETE FROM patients", "`DELETE` (`patients`)"),
        ("CREATE TABLE t (a)", "`CREATE` (it changes the schema)"),
        (
            "CREATE TEMP TABLE t (a)",
            "`CREATE` (it changes the schema)",
        ),
        (
            "CREATE VIEW v AS SELECT 1",
            "`CREATE` (it changes the schema)",
        ),
        (
            "CREATE INDEX i ON patients (id)",
            "`CREATE` (it changes the schema)",
        ),
        (
            "CREATE TRIGGER g AFTER INSERT ON patients BEGIN SELECT 1; END",
            "`CREATE TRIGGER` (`g`)",
        ),
        ("DROP TABLE patients", "`DROP"),
        (
            "ALTER TABLE patients ADD COLUMN z",
            "`ALTER TABLE` (`patients`)",
        ),
        ("PRAGMA writable_schema = ON", "`PRAGMA writable_schema`"),
        ("PRAGMA query_only = OFF", "`PRAGMA query_only`"),
        ("PRAGMA table_info(patients)", "`PRAGMA table_info`"),
        ("BEGIN", "`BEGIN`"),
        ("SAVEPOINT s", "`SAVEPOINT`"),
        ("DETACH DATABASE main", "`DETACH`"),
        ("ANALYZE", "`ANALYZE` (it changes the schema)"),
        // A trailing statement is prepared (to find it) and refused like a first one.
        ("SELECT 1; DELETE FROM patients", "`DELETE` (`patients`)"),
        (
            "SELECT 1; INSERT INTO patients VALUES ('3', 'x', 'y')",
            "`INSERT` (`patients`)",
        ),
        (
            "SELECT 1; CREATE TABLE t (a)",
            "a statement that changes the schema",
        ),
    ] {
        let err = refused(&reader, sql);
        assert!(err.contains(named), "{sql}: {err}");
    }
    assert_eq!(count(&reader), 2);
    assert_eq!(
        rows(&reader, "SELECT name FROM patients ORDER BY rowid").unwrap(),
        vec![
            vec![QueryValue::Text("Ann".into())],
            vec![QueryValue::Text("Bob".into())]
        ]
    );
    drop(reader);
    assert_eq!(file_bytes(&ws), before, "the snapshot file is unchanged");
}

#[test]
fn only_one_statement_runs() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let err = rows(&reader, "SELECT 1; SELECT 2").unwrap_err().to_string();
    assert!(err.contains("only one SQL statement"), "{err}");
    // A trailing `;`, blank or comment is not a second statement.
    assert_eq!(rows(&reader, "SELECT 1;  -- done\n").unwrap().len(), 1);
}

/// Everything a SELECT (and the engine's own queries) needs still works under the authorizer.
#[test]
fn selects_of_every_shape_still_run() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    for sql in [
        "SELECT * FROM patients WHERE id IN (SELECT id FROM patients WHERE name LIKE 'A%')",
        "SELECT id, row_number() OVER (PARTITION BY name ORDER BY rowid) FROM patients",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n LIMIT 5) SELECT i FROM n",
        "SELECT DISTINCT name FROM patients UNION SELECT 'z' ORDER BY 1",
        "SELECT name, count(*) FROM patients GROUP BY name HAVING count(*) > 0",
        "SELECT value FROM json_each('[1,2,3]')",
        "SELECT name FROM sqlite_master WHERE type = 'table'",
        "SELECT lower(name), length(dob), CAST(id AS INTEGER) + 1 FROM patients",
        "SELECT a.id FROM patients a JOIN patients b ON a.id = b.id",
        "  with x as (select 1 as a) select a from x",
    ] {
        assert!(!rows(&reader, sql).unwrap().is_empty(), "{sql}");
    }
    assert_eq!(
        reader.columns_of("SELECT dob, id FROM patients").unwrap(),
        ["dob", "id"]
    );
    let mut n = 0;
    reader
        .query_rows(
            "SELECT id, count(*) FROM patients GROUP BY id",
            &mut |_, _| {
                n += 1;
                true
            },
        )
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(reader.scan("patients", None, &mut |_, _| true).unwrap(), 2);
    assert_eq!(reader.rowid_range("patients").unwrap(), Some((1, 2)));
    assert_eq!(reader.count_rows("patients").unwrap(), 2);
}

/// Registered SQL functions (the binary's `ferry_date`) are offered under the authorizer.
#[test]
fn registered_functions_still_run() {
    ferry_store::register_sql_functions(vec![("ferry_test_upper", |s: &str| {
        Some(s.to_uppercase())
    })]);
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    assert_eq!(
        rows(
            &reader,
            "SELECT ferry_test_upper(name) FROM patients ORDER BY rowid"
        )
        .unwrap()[0][0],
        QueryValue::Text("ANN".into())
    );
}

#[derive(Default)]
struct Limits {
    timeout: Option<Duration>,
    cancel: Option<Cancel>,
}

fn limited(
    reader: &SnapshotReader,
    sql: &str,
    limits: &Limits,
    on_row: &mut dyn FnMut(&[String], &[QueryValue]) -> bool,
) -> Result<u64, StoreError> {
    reader
        .query_limited(sql, limits.timeout, limits.cancel.as_ref(), on_row)
        .map(|(_, n)| n)
}

#[test]
fn an_endless_query_stops_at_its_time_limit() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let limits = Limits {
        timeout: Some(Duration::from_millis(300)),
        cancel: None,
    };
    let start = Instant::now();
    let err = limited(&reader, ENDLESS, &limits, &mut |_, _| true).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        err.to_string(),
        "query failed: the query ran longer than 0.3 s and was stopped; add a LIMIT or a narrower WHERE, or raise --timeout"
    );
    // The limit belonged to that query: the next one runs unlimited.
    assert_eq!(count(&reader), 2);
}

#[test]
fn whole_seconds_are_named_as_such() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let limits = Limits {
        timeout: Some(Duration::from_secs(1)),
        cancel: None,
    };
    let err = limited(&reader, ENDLESS, &limits, &mut |_, _| true).unwrap_err();
    assert!(
        err.to_string()
            .contains("ran longer than 1 s and was stopped"),
        "{err}"
    );
}

/// Waiting for the consumer (a slow pipe) is not the query's time.
#[test]
fn time_spent_taking_rows_does_not_count() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let limits = Limits {
        timeout: Some(Duration::from_millis(300)),
        cancel: None,
    };
    let n = limited(
        &reader,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n LIMIT 4) SELECT i FROM n",
        &limits,
        &mut |_, _| {
            std::thread::sleep(Duration::from_millis(150));
            true
        },
    )
    .unwrap();
    assert_eq!(n, 4);
}

#[test]
fn a_cancel_stops_a_running_query() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let cancel = Cancel::new();
    let limits = Limits {
        timeout: None,
        cancel: Some(cancel.clone()),
    };
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        cancel.cancel();
    });
    let start = Instant::now();
    let err = limited(&reader, ENDLESS, &limits, &mut |_, _| true).unwrap_err();
    t.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        "query failed: the query was cancelled; nothing was changed"
    );
    // The token was that query's: the reader keeps working.
    assert_eq!(count(&reader), 2);
}

#[test]
fn a_cancel_between_rows_stops_the_query() {
    let (_dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let cancel = Cancel::new();
    let limits = Limits {
        timeout: None,
        cancel: Some(cancel.clone()),
    };
    let mut seen = 0;
    let err = limited(&reader, "SELECT * FROM patients", &limits, &mut |_, _| {
        seen += 1;
        cancel.cancel();
        true
    })
    .unwrap_err();
    assert_eq!(seen, 1);
    assert!(err.to_string().contains("cancelled"), "{err}");
}

#[test]
fn limited_queries_are_read_only_too() {
    let (dir, ws) = staged();
    let reader = ws.open_snapshot(None).unwrap();
    let target = dir.path().join("copy.db");
    let limits = Limits {
        timeout: Some(Duration::from_secs(60)),
        cancel: Some(Cancel::new()),
    };
    let sql = format!("VACUUM INTO '{}'", target.to_str().unwrap());
    let err = limited(&reader, &sql, &limits, &mut |_, _| true).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(!Path::new(&target).exists());
}
