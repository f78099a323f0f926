//! Hostile and broken inputs: every one gives correct rows or a clear syntax error at the right
//! line, never a panic.

use ferry_core::{MemorySink, NoteKind, Sink, SinkError, TableDef, TableId, Value};
use ferry_source::SourceError;
use proptest::prelude::*;
use std::path::Path;

fn parse(input: &[u8]) -> (MemorySink, Result<String, SourceError>) {
    let mut sink = MemorySink::default();
    let r = ferry_source::mysqldump::read(input, "nasty.sql", &mut sink);
    (sink, r)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mysqldump")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn error_line(r: Result<String, SourceError>) -> u64 {
    match r {
        Err(SourceError::Syntax { line, message, .. }) => {
            assert!(
                message.contains("re-export") || message.contains("expected"),
                "{message}"
            );
            line
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// Line (1-based) of byte offset `at`.
fn line_of(input: &[u8], at: usize) -> u64 {
    1 + input[..at].iter().filter(|&&c| c == b'\n').count() as u64
}

#[test]
fn truncated_dump_at_every_byte_never_panics() {
    let full = fixture("default.sql");
    for cut in 0..full.len() {
        let (_, r) = parse(&full[..cut]);
        match r {
            Ok(_) | Err(SourceError::Syntax { .. }) => {}
            Err(e) => panic!("cut at {cut}: unexpected error kind {e}"),
        }
    }
}

#[test]
fn truncated_mid_string_names_the_line_the_string_started() {
    let full = fixture("default.sql");
    let text = String::from_utf8_lossy(&full);
    let at = text.find("'semi;colon").unwrap_or(0) + 5;
    let (sink, r) = parse(&full[..at]);
    assert_eq!(error_line(r), line_of(&full, at));
    // The rows before the cut were delivered.
    assert_eq!(
        sink.notes
            .iter()
            .filter(|n| n.kind == NoteKind::SkippedObject)
            .count(),
        1
    );
}

#[test]
fn truncated_mid_tuple_names_the_insert() {
    let full = fixture("default.sql");
    let text = String::from_utf8_lossy(&full);
    let insert = text.find("INSERT INTO `patients`").unwrap_or(0);
    let at = text[insert..].find("1.50,").unwrap_or(0) + insert + 5;
    let (_, r) = parse(&full[..at]);
    assert_eq!(error_line(r), line_of(&full, insert));
}

#[test]
fn truncated_mid_comment_names_the_comment() {
    let full = fixture("default.sql");
    let text = String::from_utf8_lossy(&full);
    let at = text.find("/*!40101 SET NAMES").unwrap_or(0);
    let (_, r) = parse(&full[..at + 12]);
    assert_eq!(error_line(r), line_of(&full, at));
    let mut plain = full[..at].to_vec();
    plain.extend_from_slice(b"/* plain comment never clo");
    let (_, r) = parse(&plain);
    assert_eq!(error_line(r), line_of(&full, at));
}

#[test]
fn unbalanced_quote_is_an_error_at_the_right_line() {
    let input = b"CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('abc),\n('def');\n";
    let (_, r) = parse(input);
    assert_eq!(error_line(r), 3);
    let input = b"CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('abc),\n('def);\n";
    let (_, r) = parse(input);
    assert_eq!(error_line(r), 3);
}

#[test]
fn nul_bytes_outside_strings() {
    let (sink, r) = parse(b"\0\0\0;\nCREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES (1);\n");
    assert!(r.is_ok());
    assert_eq!(
        sink.notes
            .iter()
            .filter(|n| n.kind == NoteKind::Warning)
            .count(),
        1
    );
    assert_eq!(sink.rows_of("t").map(<[_]>::len), Some(1));
    let (_, r) = parse(b"CREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES (1,\0);\n");
    assert_eq!(error_line(r), 2);
}

#[test]
fn crlf_line_endings_throughout_give_the_same_rows() {
    let lf = fixture("default.sql");
    let mut crlf = Vec::new();
    for &c in &lf {
        if c == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(c);
    }
    let (a, ra) = parse(&lf);
    let (b, rb) = parse(&crlf);
    assert!(ra.is_ok() && rb.is_ok(), "{rb:?}");
    assert_eq!(a.tables.len(), b.tables.len());
    for ((da, rows_a), (db, rows_b)) in a.tables.iter().zip(&b.tables) {
        assert_eq!(da.name, db.name);
        assert_eq!(da.columns, db.columns);
        assert_eq!(rows_a, rows_b);
    }
}

#[test]
fn empty_file_and_comment_only_file() {
    let (sink, r) = parse(b"");
    assert_eq!(r.ok().as_deref(), Some("utf8mb4"));
    assert!(sink.tables.is_empty());
    let (sink, r) = parse(b"-- MariaDB dump\n--\n/* nothing */\n# at all\r\n/*M!999999\\- enable the sandbox mode */ \n");
    assert!(r.is_ok());
    assert!(sink.tables.is_empty() && sink.notes.is_empty());
}

#[test]
fn invalid_utf8_in_a_utf8_string_is_bytes_not_an_error() {
    let (sink, r) = parse(b"SET NAMES utf8mb4;\nCREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('ok\xc3\x28');\n");
    assert!(r.is_ok());
    assert_eq!(
        sink.rows_of("t").unwrap_or_default()[0][0],
        Value::Bytes(b"ok\xc3\x28".to_vec())
    );
    assert_eq!(
        sink.notes
            .iter()
            .filter(|n| n.kind == NoteKind::InvalidText)
            .count(),
        1
    );
}

/// Counts rows and values; keeps nothing.
#[derive(Default)]
struct Counting {
    tables: usize,
    rows: u64,
    widths: Vec<usize>,
}

impl Sink for Counting {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.tables += 1;
        self.widths.push(def.columns.len());
        Ok(TableId(self.tables - 1))
    }
    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        if self.widths.get(table.0) != Some(&values.len()) {
            return Err(SinkError::msg("row width differs from its table"));
        }
        self.rows += 1;
        Ok(())
    }
    fn note(&mut self, _note: ferry_core::Note) -> Result<(), SinkError> {
        Ok(())
    }
}

// ---------------------------------------------------------------- proptest

#[derive(Debug, Clone)]
enum Gen {
    Null,
    Text(String),
    Bytes(Vec<u8>, bool),
    Number(String),
}

fn gen_value() -> impl Strategy<Value = Gen> {
    prop_oneof![
        Just(Gen::Null),
        "[a-z'\"\\\\\0\n\r\t\u{1a}\u{8};%_`()éü😀 -]{0,24}".prop_map(Gen::Text),
        any::<String>().prop_map(Gen::Text),
        (proptest::collection::vec(any::<u8>(), 0..24), any::<bool>())
            .prop_map(|(b, hex)| Gen::Bytes(b, hex)),
        any::<i64>().prop_map(|n| Gen::Number(n.to_string())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Gen::Number(format!("{f:e}"))),
        "[+-]?[0-9]{1,5}\\.[0-9]{0,3}".prop_map(Gen::Number),
    ]
}

/// mysqldump's escaping (mysql_real_escape_string).
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'\'');
    for &c in bytes {
        match c {
            0 => out.extend_from_slice(b"\\0"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x1a => out.extend_from_slice(b"\\Z"),
            c => out.push(c),
        }
    }
    out.push(b'\'');
}

fn write_value(out: &mut Vec<u8>, v: &Gen) -> Value {
    match v {
        Gen::Null => {
            out.extend_from_slice(b"NULL");
            Value::Null
        }
        Gen::Text(s) => {
            escape(out, s.as_bytes());
            Value::Text(s.clone())
        }
        Gen::Bytes(b, hex) => {
            if *hex && !b.is_empty() {
                out.extend_from_slice(b"0x");
                for byte in b {
                    out.extend_from_slice(format!("{byte:02X}").as_bytes());
                }
            } else {
                out.extend_from_slice(b"_binary ");
                escape(out, b);
            }
            Value::Bytes(b.clone())
        }
        Gen::Number(n) => {
            out.extend_from_slice(n.as_bytes());
            Value::Text(n.clone())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn escaped_rows_read_back_exactly(
        width in 1usize..6,
        rows in proptest::collection::vec(proptest::collection::vec(gen_value(), 6), 1..20),
        per_statement in 1usize..5,
    ) {
        let mut input = b"/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `t` (\n".to_vec();
        for c in 0..width {
            input.extend_from_slice(format!("  `c{c}` text,\n").as_bytes());
        }
        input.extend_from_slice(b"  PRIMARY KEY (`c0`)\n);\n");
        let mut expected = Vec::new();
        for chunk in rows.chunks(per_statement) {
            input.extend_from_slice(b"INSERT INTO `t` VALUES ");
            for (k, row) in chunk.iter().enumerate() {
                if k > 0 {
                    input.push(b',');
                }
                input.push(b'(');
                let mut values = Vec::new();
                for (c, v) in row.iter().take(width).enumerate() {
                    if c > 0 {
                        input.push(b',');
                    }
                    values.push(write_value(&mut input, v));
                }
                input.push(b')');
                expected.push(values);
            }
            input.extend_from_slice(b";\n");
        }
        let (sink, r) = parse(&input);
        prop_assert!(r.is_ok(), "{:?}", r);
        prop_assert_eq!(sink.rows_of("t").unwrap_or_default(), &expected[..]);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut sink = Counting::default();
        let _ = ferry_source::mysqldump::read(&data[..], "r.sql", &mut sink);
    }

    #[test]
    fn random_sql_like_bytes_never_panic(
        parts in proptest::collection::vec(prop_oneof![
            Just("INSERT INTO `t` VALUES ".to_string()), Just("(".to_string()), Just(")".to_string()),
            Just(",".to_string()), Just(";".to_string()), Just("'".to_string()), Just("\\".to_string()),
            Just("/*!40101 ".to_string()), Just("*/".to_string()), Just("-- ".to_string()), Just("\n".to_string()),
            Just("CREATE TABLE `t` (`a` int, `b` blob)".to_string()), Just("DELIMITER ;;\n".to_string()),
            Just("0x".to_string()), Just("NULL".to_string()), Just("_binary".to_string()), Just("`".to_string()),
            Just("SET NAMES latin1".to_string()), Just("b'".to_string()), "[0-9a-f.e+-]{1,4}",
        ], 0..40)
    ) {
        let data = parts.concat();
        let mut sink = Counting::default();
        let _ = ferry_source::mysqldump::read(data.as_bytes(), "r.sql", &mut sink);
    }

    #[test]
    fn mutated_real_dump_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut data = fixture("hexblob_complete.sql");
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        let mut sink = Counting::default();
        let _ = ferry_source::mysqldump::read(&data[..], "m.sql", &mut sink);
    }
}
