//! Integration tests of the SQLite file reader, on databases built in a temporary folder.

use ferry_core::{MemorySink, NoteKind, Value};
use ferry_source::{SourceError, sqlite};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn build(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(name);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    path
}

fn read(path: &Path) -> MemorySink {
    let mut sink = MemorySink::default();
    sqlite::read_file(path, "clinic.db", &mut sink).unwrap();
    sink
}

const CLINIC: &str = r#"
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    weight REAL,
    photo BLOB,
    note varchar(200)
);
INSERT INTO patients VALUES (3, 'Zoé', 61.5, x'00FF10', NULL);
INSERT INTO patients VALUES (1, 'Ann', 1.0, NULL, '');
INSERT INTO patients VALUES (2, 'Bo', 1e300, x'', CAST(x'41E942' AS TEXT));
INSERT INTO patients VALUES (-9223372036854775808, 'Min', 0.1, NULL, 'x');
CREATE TABLE "odd ""name"" table" ("col one" TEXT, "say ""hi""" INTEGER);
INSERT INTO "odd ""name"" table" VALUES ('a', 42);
CREATE TABLE codes (system TEXT, code TEXT, label TEXT, PRIMARY KEY (code, system)) WITHOUT ROWID;
INSERT INTO codes VALUES ('icd', 'B2', 'second');
INSERT INTO codes VALUES ('icd', 'A1', 'first');
INSERT INTO codes VALUES ('atc', 'A1', 'zero');
CREATE TABLE untyped (a, b);
INSERT INTO untyped VALUES (1, 'one');
CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, msg TEXT);
INSERT INTO log (msg) VALUES ('started');
CREATE VIEW adults AS SELECT * FROM patients;
CREATE TRIGGER patients_log AFTER INSERT ON patients BEGIN INSERT INTO log (msg) VALUES ('x'); END;
CREATE INDEX patients_name ON patients(name);
"#;

#[test]
fn reads_every_table_with_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "clinic.db", CLINIC);
    let sink = read(&path);

    let names: Vec<&str> = sink.tables.iter().map(|(d, _)| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["patients", "odd \"name\" table", "codes", "untyped", "log"],
        "schema order, sqlite_sequence skipped"
    );

    let def = sink.def_of("patients").unwrap();
    let columns: Vec<(&str, Option<&str>)> = def
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.declared_type.as_deref()))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", Some("INTEGER")),
            ("name", Some("TEXT")),
            ("weight", Some("REAL")),
            ("photo", Some("BLOB")),
            ("note", Some("varchar(200)"))
        ]
    );
    assert_eq!(def.primary_key, ["id"]);
    assert_eq!(def.origin.file, "clinic.db");

    let rows = sink.rows_of("patients").unwrap();
    assert_eq!(
        rows,
        [
            vec![
                text("-9223372036854775808"),
                text("Min"),
                text("0.1"),
                Value::Null,
                text("x")
            ],
            vec![text("1"), text("Ann"), text("1.0"), Value::Null, text("")],
            vec![
                text("2"),
                text("Bo"),
                text("1e300"),
                Value::Bytes(vec![]),
                Value::Bytes(vec![0x41, 0xE9, 0x42])
            ],
            vec![
                text("3"),
                text("Zoé"),
                text("61.5"),
                Value::Bytes(vec![0x00, 0xFF, 0x10]),
                Value::Null
            ],
        ],
        "ordered by rowid"
    );
}

#[test]
fn invalid_utf8_text_is_staged_as_bytes_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let sink = read(&build(dir.path(), "clinic.db", CLINIC));
    let invalid: Vec<_> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::InvalidText)
        .collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].table.as_deref(), Some("patients"));
    assert_eq!(invalid[0].column.as_deref(), Some("note"));
    assert!(
        invalid[0].message.contains("row 3"),
        "{}",
        invalid[0].message
    );
}

#[test]
fn identifiers_with_spaces_and_quotes_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let sink = read(&build(dir.path(), "clinic.db", CLINIC));
    let def = sink.def_of("odd \"name\" table").unwrap();
    let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["col one", "say \"hi\""]);
    assert_eq!(
        sink.rows_of("odd \"name\" table").unwrap(),
        [vec![text("a"), text("42")]]
    );
}

#[test]
fn without_rowid_table_is_ordered_by_its_primary_key() {
    let dir = tempfile::tempdir().unwrap();
    let sink = read(&build(dir.path(), "clinic.db", CLINIC));
    assert_eq!(
        sink.def_of("codes").unwrap().primary_key,
        ["code", "system"]
    );
    let rows = sink.rows_of("codes").unwrap();
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[1].to_string(), r[0].to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            ("A1".to_string(), "atc".to_string()),
            ("A1".to_string(), "icd".to_string()),
            ("B2".to_string(), "icd".to_string())
        ]
    );
}

#[test]
fn untyped_columns_have_no_declared_type() {
    let dir = tempfile::tempdir().unwrap();
    let sink = read(&build(dir.path(), "clinic.db", CLINIC));
    let def = sink.def_of("untyped").unwrap();
    assert!(def.columns.iter().all(|c| c.declared_type.is_none()));
    assert!(def.primary_key.is_empty());
    assert_eq!(
        sink.rows_of("untyped").unwrap(),
        [vec![text("1"), text("one")]]
    );
}

#[test]
fn views_and_triggers_are_noted_as_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let sink = read(&build(dir.path(), "clinic.db", CLINIC));
    let skipped: Vec<&str> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::SkippedObject)
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].contains("view `adults`"));
    assert!(skipped[1].contains("trigger `patients_log`"));
}

#[test]
fn real_values_are_noted_once_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let sink = read(&build(dir.path(), "clinic.db", CLINIC));
    let real_notes: Vec<_> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Detected && n.message.contains("REAL"))
        .collect();
    assert_eq!(real_notes.len(), 1);
    assert_eq!(real_notes[0].table.as_deref(), Some("patients"));
    assert!(real_notes[0].message.starts_with("4 REAL values"));
}

#[test]
fn generated_columns_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(
        dir.path(),
        "gen.db",
        "CREATE TABLE t (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL);
         INSERT INTO t (a) VALUES (21);",
    );
    let sink = read(&path);
    assert_eq!(sink.rows_of("t").unwrap(), [vec![text("21"), text("42")]]);
}

#[test]
fn file_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "clinic.db", CLINIC);
    let before = std::fs::read(&path).unwrap();
    let _ = read(&path);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let extra: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n != "clinic.db")
        .collect();
    assert!(extra.is_empty(), "{extra:?}");
}

#[test]
fn path_with_uri_special_characters_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(
        dir.path(),
        "a b?c#d%e.db",
        "CREATE TABLE t (x); INSERT INTO t VALUES (1);",
    );
    let sink = read(&path);
    assert_eq!(sink.rows_of("t").unwrap(), [vec![text("1")]]);
}

#[test]
fn non_sqlite_file_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(
        &path,
        b"this is just text, not a database at all ".repeat(200),
    )
    .unwrap();
    let mut sink = MemorySink::default();
    match sqlite::read_file(&path, "notes.db", &mut sink) {
        Err(SourceError::Sqlite { file, message }) => {
            assert_eq!(file, "notes.db");
            assert!(message.contains("not a SQLite database"), "{message}");
        }
        other => panic!("expected a SQLite error, got {other:?}"),
    }
}

#[test]
fn truncated_sqlite_file_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut sql = String::from("BEGIN; CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT);");
    for i in 0..2000 {
        sql.push_str(&format!(
            "INSERT INTO big VALUES ({i}, '{}');",
            "x".repeat(200)
        ));
    }
    sql.push_str("COMMIT;");
    let path = build(dir.path(), "big.db", &sql);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let mut sink = MemorySink::default();
    match sqlite::read_file(&cut, "cut.db", &mut sink) {
        Err(SourceError::Sqlite { message, .. }) => {
            eprintln!("{message}");
            assert!(
                message.contains("damaged or truncated") || message.contains("not a SQLite"),
                "{message}"
            );
        }
        other => panic!("expected a SQLite error, got {other:?}"),
    }
}

#[test]
fn missing_file_gives_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = MemorySink::default();
    let result = sqlite::read_file(&dir.path().join("none.db"), "none.db", &mut sink);
    assert!(
        matches!(result, Err(SourceError::Sqlite { .. })),
        "{result:?}"
    );
}
