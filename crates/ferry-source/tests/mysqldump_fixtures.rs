//! Real `mariadb-dump` output (see tests/fixtures/mysqldump/README.md) read back to the exact
//! values `setup.sql` inserted.

use ferry_core::{MemorySink, NoteKind, Value};
use std::path::Path;

fn read_fixture(name: &str) -> (MemorySink, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mysqldump")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sink = MemorySink::default();
    let cs = ferry_source::mysqldump::read(&bytes[..], name, &mut sink)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (sink, cs)
}

fn t(s: &str) -> Value {
    Value::Text(s.to_string())
}
fn b(s: &[u8]) -> Value {
    Value::Bytes(s.to_vec())
}
const N: Value = Value::Null;

fn expected_patients(latin1: bool) -> Vec<Vec<Value>> {
    let name2 = if latin1 {
        "Zo\u{eb} ? \u{dc}n\u{ef}c\u{f6}d\u{e9}"
    } else {
        "Zo\u{eb} \u{1f600} \u{dc}n\u{ef}c\u{f6}d\u{e9}"
    };
    vec![
        vec![
            t("1"),
            t("O'Brien \"Bob\""),
            t("a\0b'c\"d\u{8}e\nf\rg\th\u{1a}i\\j"),
            t("1.50"),
            t("-42"),
            t("1970-01-02"),
            t("2001-02-03 04:05:06"),
            N,
            b(&[0x00, 0xff, 0x1a, 0x5c, 0x27]),
            b(&[0x05]),
            t("-0.000015"),
        ],
        vec![
            t("2"),
            t(name2),
            t("line1\r\nline2"),
            t("0.00"),
            t("0"),
            t("1999-12-31"),
            N,
            t(""),
            b(b""),
            b(&[0x00]),
            t("0"),
        ],
        vec![
            t("3"),
            t("semi;colon -- dash /* star */ # hash"),
            t("tab\there"),
            t("-1234567.89"),
            t("2147483647"),
            N,
            N,
            t("x"),
            b(b"plain"),
            N,
            t("1e300"),
        ],
        vec![t("4"), t("C:\\path\\file"), N, N, N, N, N, N, N, N, N],
    ]
}

fn check(name: &str, latin1: bool) {
    let (sink, cs) = read_fixture(name);
    assert_eq!(cs, if latin1 { "latin1" } else { "utf8mb4" });
    let names: Vec<&str> = sink.tables.iter().map(|(d, _)| d.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["latin_tbl", "patients", "we`ird", "empty_tbl"],
        "{name}"
    );
    assert_eq!(
        sink.rows_of("patients").unwrap_or_default(),
        &expected_patients(latin1)[..],
        "{name}"
    );
    assert_eq!(
        sink.rows_of("latin_tbl").unwrap_or_default(),
        &[
            vec![t("1"), t("caf\u{e9} cr\u{e8}me \u{20ac}")],
            vec![t("2"), t("na\u{ef}ve \u{c6}r\u{f8}")],
            vec![t("3"), N],
        ][..]
    );
    assert_eq!(
        sink.rows_of("we`ird").unwrap_or_default(),
        &[vec![t(""), t("-7"), N], vec![t("a`b"), t("7"), b(&[0, 1])]][..]
    );
    assert_eq!(sink.rows_of("empty_tbl").map(<[_]>::len), Some(0));

    let p = sink
        .def_of("patients")
        .cloned()
        .unwrap_or_else(|| panic!("no patients"));
    assert_eq!(p.database.as_deref(), Some("clinic"));
    assert_eq!(p.primary_key, vec!["id"]);
    assert_eq!(p.charset.as_deref(), Some("utf8mb4"));
    assert_eq!(
        p.columns[0].declared_type.as_deref(),
        Some("int(10) unsigned")
    );
    assert_eq!(p.columns[3].declared_type.as_deref(), Some("decimal(10,2)"));
    let w = sink
        .def_of("we`ird")
        .cloned()
        .unwrap_or_else(|| panic!("no we`ird"));
    assert_eq!(w.primary_key, vec!["key", "co`l"]);
    assert_eq!(
        sink.def_of("latin_tbl")
            .and_then(|d| d.charset.clone())
            .as_deref(),
        Some("latin1")
    );

    let mut skipped: Vec<String> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::SkippedObject)
        .map(|n| n.message.split(" (").next().unwrap_or("").to_string())
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            "skipped function `add_one`",
            "skipped procedure `count_patients`",
            "skipped trigger `patients_bi`",
            "skipped view `patient_names`",
        ],
        "{name}"
    );
    let transcoded = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Transcoded)
        .count();
    assert_eq!(transcoded, if latin1 { 3 } else { 0 }, "{name}");
    assert!(
        !sink.notes.iter().any(|n| n.kind == NoteKind::Warning),
        "{:?}",
        sink.notes
    );
    assert!(
        !sink.notes.iter().any(|n| n.kind == NoteKind::InvalidText),
        "{:?}",
        sink.notes
    );
}

#[test]
fn real_mariadb_dump_default_options() {
    check("default.sql", false);
}

#[test]
fn real_mariadb_dump_hex_blob_complete_insert() {
    check("hexblob_complete.sql", false);
}

#[test]
fn real_mariadb_dump_latin1_connection() {
    check("latin1.sql", true);
    let (sink, _) = read_fixture("latin1.sql");
    assert_eq!(
        sink.def_of("patients")
            .and_then(|d| d.transcoded_from.clone())
            .as_deref(),
        Some("windows-1252")
    );
}
