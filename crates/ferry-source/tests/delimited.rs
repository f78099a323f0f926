//! Integration tests of the delimited text reader.

use ferry_core::{MemorySink, Note, NoteKind, Value};
use ferry_source::SourceError;
use ferry_source::delimited::{self, DelimitedOptions, DelimitedReport, LineTerminator};
use std::path::PathBuf;

fn read_with(
    data: &[u8],
    options: &DelimitedOptions,
) -> (Result<DelimitedReport, SourceError>, MemorySink) {
    let mut sink = MemorySink::default();
    let result = delimited::read_slice(data, "t.csv", "t", options, &mut sink);
    (result, sink)
}

fn read(data: &[u8]) -> (DelimitedReport, MemorySink) {
    let (result, sink) = read_with(data, &DelimitedOptions::default());
    match result {
        Ok(report) => (report, sink),
        Err(e) => panic!("read failed: {e}"),
    }
}

fn text_rows(sink: &MemorySink) -> Vec<Vec<String>> {
    sink.rows_of("t")
        .unwrap_or_default()
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Value::Text(s) => s.clone(),
                    other => panic!("not text: {other:?}"),
                })
                .collect()
        })
        .collect()
}

fn column_names(sink: &MemorySink) -> Vec<String> {
    sink.def_of("t")
        .map(|d| d.columns.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

fn notes_of(sink: &MemorySink, kind: NoteKind) -> Vec<&Note> {
    sink.notes.iter().filter(|n| n.kind == kind).collect()
}

fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn sniffs_comma_tab_pipe_and_semicolon() {
    for d in [b',', b'\t', b'|', b';'] {
        let sep = d as char;
        let data = format!("id{sep}name{sep}dob\n1{sep}Ann{sep}1990-01-02\n2{sep}Bo{sep}\n");
        let (report, sink) = read(data.as_bytes());
        assert_eq!(report.delimiter, d, "delimiter {sep:?}");
        assert!(report.delimiter_detected);
        assert_eq!(column_names(&sink), ["id", "name", "dob"]);
        assert_eq!(
            text_rows(&sink),
            rows(&[&["1", "Ann", "1990-01-02"], &["2", "Bo", ""]])
        );
    }
}

#[test]
fn table_is_named_after_the_file_stem() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("patients.csv");
    std::fs::write(&path, "id,name\n1,Ann\n").unwrap();
    let mut sink = MemorySink::default();
    let report = delimited::read_file(
        &path,
        "patients.csv",
        &DelimitedOptions::default(),
        &mut sink,
    )
    .unwrap();
    assert_eq!(report.table, "patients");
    assert_eq!(report.encoding, "UTF-8");
    assert_eq!(sink.rows_of("patients").map(<[_]>::len), Some(1));
}

#[test]
fn tsv_extension_prefers_tab_for_single_column_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codes.tsv");
    std::fs::write(&path, "code\nA,B\nC\n").unwrap();
    let mut sink = MemorySink::default();
    let report =
        delimited::read_file(&path, "codes.tsv", &DelimitedOptions::default(), &mut sink).unwrap();
    assert_eq!(report.delimiter, b'\t');
    assert_eq!(sink.rows_of("codes").map(<[_]>::len), Some(2));
}

#[test]
fn utf8_bom_is_stripped_and_reported() {
    let (report, sink) = read(b"\xEF\xBB\xBFid,name\n1,Ann\n");
    assert!(report.bom);
    assert_eq!(report.encoding, "UTF-8");
    assert_eq!(column_names(&sink), ["id", "name"]);
    assert!(notes_of(&sink, NoteKind::Transcoded).is_empty());
}

#[test]
fn utf16le_bom_is_transcoded() {
    let mut data = vec![0xFF, 0xFE];
    for unit in "id;nom\r\n1;Zoé\r\n".encode_utf16() {
        data.extend_from_slice(&unit.to_le_bytes());
    }
    let (report, sink) = read(&data);
    assert_eq!(report.encoding, "UTF-16LE");
    assert_eq!(report.delimiter, b';');
    assert_eq!(report.line_terminator, LineTerminator::Crlf);
    assert_eq!(text_rows(&sink), rows(&[&["1", "Zoé"]]));
    assert_eq!(notes_of(&sink, NoteKind::Transcoded).len(), 1);
}

#[test]
fn utf16be_bom_is_transcoded() {
    let mut data = vec![0xFE, 0xFF];
    for unit in "a,b\nx,ü\n".encode_utf16() {
        data.extend_from_slice(&unit.to_be_bytes());
    }
    let (report, sink) = read(&data);
    assert_eq!(report.encoding, "UTF-16BE");
    assert_eq!(text_rows(&sink), rows(&[&["x", "ü"]]));
}

#[test]
fn windows_1252_file_is_detected_transcoded_and_noted_with_the_first_invalid_line() {
    let data = b"id,name,city\n1,Ann,Paris\n2,Ren\xE9e,Orl\xE9ans\n3,Fran\xE7ois,Besan\xE7on\n";
    let (report, sink) = read(data);
    assert_eq!(report.encoding, "windows-1252");
    assert_eq!(report.first_invalid_utf8_line, Some(3));
    assert_eq!(
        text_rows(&sink),
        rows(&[
            &["1", "Ann", "Paris"],
            &["2", "Renée", "Orléans"],
            &["3", "François", "Besançon"]
        ])
    );
    let transcoded = notes_of(&sink, NoteKind::Transcoded);
    assert_eq!(transcoded.len(), 1);
    assert_eq!(transcoded[0].line, Some(3));
    assert!(transcoded[0].message.contains("windows-1252"));
    assert!(!transcoded[0].message.contains("Ren"), "no PHI in notes");
    assert_eq!(
        sink.def_of("t").and_then(|d| d.transcoded_from.clone()),
        Some("windows-1252".to_string())
    );
}

#[test]
fn explicit_encoding_overrides_detection() {
    // Valid UTF-8 bytes, read as windows-1252 on request: "Ã©" instead of "é".
    let options = DelimitedOptions {
        encoding: Some("latin1".into()),
        ..Default::default()
    };
    let (result, sink) = read_with("a,b\n1,é\n".as_bytes(), &options);
    let report = result.unwrap();
    assert_eq!(report.encoding, "windows-1252");
    assert_eq!(text_rows(&sink), rows(&[&["1", "Ã©"]]));
    assert_eq!(notes_of(&sink, NoteKind::Transcoded).len(), 1);
}

#[test]
fn explicit_utf8_keeps_invalid_fields_as_bytes() {
    let options = DelimitedOptions {
        encoding: Some("utf-8".into()),
        ..Default::default()
    };
    let (result, sink) = read_with(b"a,b\n1,x\xE9y\n", &options);
    assert_eq!(result.unwrap().encoding, "UTF-8");
    let rows = sink.rows_of("t").unwrap();
    assert_eq!(rows[0][1], Value::Bytes(b"x\xE9y".to_vec()));
    let invalid = notes_of(&sink, NoteKind::InvalidText);
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].column.as_deref(), Some("b"));
    assert_eq!(invalid[0].line, Some(2));
}

#[test]
fn unknown_encoding_label_is_an_error() {
    let options = DelimitedOptions {
        encoding: Some("klingon".into()),
        ..Default::default()
    };
    let (result, _) = read_with(b"a,b\n", &options);
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("klingon") && err.contains("windows-1252"),
        "{err}"
    );
}

#[test]
fn duplicate_and_empty_headers_are_made_unique_with_warnings() {
    let (report, sink) = read(b"id,name,,Name,id\n1,2,3,4,5\n");
    assert_eq!(report.columns, 5);
    assert_eq!(
        column_names(&sink),
        ["id", "name", "column_3", "Name_2", "id_2"]
    );
    let warnings: Vec<_> = notes_of(&sink, NoteKind::Warning)
        .into_iter()
        .filter(|n| n.column.is_some())
        .collect();
    assert_eq!(warnings.len(), 3);
    assert!(warnings.iter().all(|n| n.line == Some(1)));
}

#[test]
fn headerless_files_get_c1_to_cn() {
    let options = DelimitedOptions {
        has_header: Some(false),
        ..Default::default()
    };
    let (result, sink) = read_with(b"1,Ann\n2,Bo\n", &options);
    assert!(!result.unwrap().has_header);
    assert_eq!(column_names(&sink), ["c1", "c2"]);
    assert_eq!(text_rows(&sink), rows(&[&["1", "Ann"], &["2", "Bo"]]));
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_newlines() {
    let data =
        b"id,note\r\n1,\"a,b\"\r\n2,\"say \"\"hi\"\"\"\r\n3,\"two\r\nlines\nthree\"\r\n4,\"\"\r\n";
    let (report, sink) = read(data);
    assert_eq!(report.rejected_rows, 0);
    assert_eq!(
        text_rows(&sink),
        rows(&[
            &["1", "a,b"],
            &["2", "say \"hi\""],
            &["3", "two\r\nlines\nthree"],
            &["4", ""]
        ])
    );
}

#[test]
fn values_are_not_trimmed_and_empty_is_not_null() {
    let (_, sink) = read(b"a,b,c\n  x , ,\n");
    assert_eq!(text_rows(&sink), rows(&[&["  x ", " ", ""]]));
}

#[test]
fn ragged_rows_are_rejected_with_line_and_raw_bytes() {
    let data = b"id,name\n1,Ann\n2,Bo,extra\n\"3\",\"multi\nline\",x\n4\n5,Eve\n";
    let (report, sink) = read(data);
    assert_eq!(report.rows, 2);
    assert_eq!(report.rejected_rows, 3);
    assert_eq!(text_rows(&sink), rows(&[&["1", "Ann"], &["5", "Eve"]]));
    let rejected = notes_of(&sink, NoteKind::RejectedRow);
    let lines: Vec<_> = rejected.iter().map(|n| n.line).collect();
    assert_eq!(lines, [Some(3), Some(4), Some(6)]);
    assert_eq!(rejected[0].raw.as_deref(), Some(&b"2,Bo,extra"[..]));
    assert_eq!(
        rejected[1].raw.as_deref(),
        Some(&b"\"3\",\"multi\nline\",x"[..])
    );
    assert_eq!(rejected[2].raw.as_deref(), Some(&b"4"[..]));
    assert!(rejected[0].message.contains("expected 2 fields, found 3"));
    assert!(rejected[1].message.contains("lines 4-5"));
    assert!(rejected.iter().all(|n| n.table.as_deref() == Some("t")));
    assert!(!rejected[0].message.contains("Bo"), "no PHI in notes");
}

#[test]
fn rejected_rows_of_a_transcoded_file_keep_the_file_bytes() {
    let data = b"a,b\n1,Ren\xE9e,x\n";
    let (report, sink) = read(data);
    assert_eq!(report.encoding, "windows-1252");
    let rejected = notes_of(&sink, NoteKind::RejectedRow);
    assert_eq!(rejected[0].raw.as_deref(), Some(&b"1,Ren\xE9e,x"[..]));
}

#[test]
fn quote_closed_mid_field_is_rejected_not_guessed() {
    let (report, sink) = read(b"a,b\n\"ab\"c,d\n1,2\n");
    assert_eq!(report.rejected_rows, 1);
    assert_eq!(text_rows(&sink), rows(&[&["1", "2"]]));
    let rejected = notes_of(&sink, NoteKind::RejectedRow);
    assert_eq!(rejected[0].line, Some(2));
    assert_eq!(rejected[0].raw.as_deref(), Some(&b"\"ab\"c,d"[..]));
}

#[test]
fn unclosed_quote_at_end_of_file_is_an_error_naming_the_opening_line() {
    let data = b"id,note\n1,ok\n2,\"multi\nline\"\n3,\"never closed\n4,x\n5,y\n";
    let (result, _) = read_with(data, &DelimitedOptions::default());
    match result {
        Err(SourceError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!(line, 5);
            assert_eq!(column, 3);
            assert!(message.contains("unclosed quote at line 5"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unbalanced_quote_closed_later_rejects_the_swallowed_lines_as_one_record() {
    let data = b"id,note\n1,\"oops\n2,b\n3,\"c\"\n4,d\n";
    let (report, sink) = read(data);
    assert_eq!(report.rejected_rows, 1);
    let rejected = notes_of(&sink, NoteKind::RejectedRow);
    assert_eq!(rejected[0].line, Some(2));
    assert!(
        rejected[0].message.contains("lines 2-4"),
        "{}",
        rejected[0].message
    );
    assert_eq!(text_rows(&sink), rows(&[&["4", "d"]]));
}

#[test]
fn multi_line_quoted_field_with_the_right_field_count_is_staged() {
    // Indistinguishable from a legitimate multi-line note: staged, not guessed away.
    let (report, sink) = read(b"id,note\n1,\"first\n2,b\n3,c\"\n4,d\n");
    assert_eq!(report.rejected_rows, 0);
    assert_eq!(
        text_rows(&sink),
        rows(&[&["1", "first\n2,b\n3,c"], &["4", "d"]])
    );
}

#[test]
fn record_over_the_size_limit_is_an_error_not_unbounded_memory() {
    let mut data = b"id,note\n1,\"".to_vec();
    data.extend(std::iter::repeat_n(b'x', 200_000));
    let options = DelimitedOptions {
        max_record_bytes: Some(100_000),
        ..Default::default()
    };
    let (result, _) = read_with(&data, &options);
    match result {
        Err(SourceError::Syntax { line, message, .. }) => {
            assert_eq!(line, 2);
            assert!(message.contains("longer than"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn stray_quote_in_unquoted_field_is_kept_with_one_warning() {
    let (report, sink) = read(b"a,b\n1,ab\"c\n2,5\" tall\n3,x\n");
    assert_eq!(report.stray_quote_records, 2);
    assert_eq!(
        text_rows(&sink),
        rows(&[&["1", "ab\"c"], &["2", "5\" tall"], &["3", "x"]])
    );
    let stray: Vec<_> = notes_of(&sink, NoteKind::Warning)
        .into_iter()
        .filter(|n| n.message.contains("unquoted field"))
        .collect();
    assert_eq!(stray.len(), 1);
    assert_eq!(stray[0].line, Some(2));
}

#[test]
fn crlf_lf_mix_counts_lines_and_strips_terminators() {
    let (report, sink) = read(b"a,b\r\n1,2\n3,4\r\n5,6,7\n8,9");
    assert_eq!(report.line_terminator, LineTerminator::Mixed);
    assert_eq!(
        text_rows(&sink),
        rows(&[&["1", "2"], &["3", "4"], &["8", "9"]])
    );
    let rejected = notes_of(&sink, NoteKind::RejectedRow);
    assert_eq!(rejected[0].line, Some(4));
}

#[test]
fn lone_cr_files_number_lines_too() {
    let (report, sink) = read(b"a,b\r1,2\r3\r4,5\r");
    assert_eq!(report.line_terminator, LineTerminator::Cr);
    assert_eq!(text_rows(&sink), rows(&[&["1", "2"], &["4", "5"]]));
    assert_eq!(notes_of(&sink, NoteKind::RejectedRow)[0].line, Some(3));
}

#[test]
fn blank_lines_are_skipped_and_counted() {
    let (_, sink) = read(b"a,b\n\n\n1,2\n\n3\n");
    assert_eq!(text_rows(&sink), rows(&[&["1", "2"]]));
    assert_eq!(notes_of(&sink, NoteKind::RejectedRow)[0].line, Some(6));
}

#[test]
fn nul_bytes_are_kept_as_text() {
    let (_, sink) = read(b"a,b\n1,x\0y\n\0,2\n");
    assert_eq!(text_rows(&sink), rows(&[&["1", "x\0y"], &["\0", "2"]]));
}

#[test]
fn empty_file_is_an_error() {
    for data in [&b""[..], b"\n\r\n", b"\xEF\xBB\xBF"] {
        let (result, _) = read_with(data, &DelimitedOptions::default());
        let err = result.unwrap_err().to_string();
        assert!(err.contains("empty file, no header"), "{err}");
    }
}

#[test]
fn header_only_file_gives_a_table_with_no_rows() {
    let (report, sink) = read(b"id,name,dob\n");
    assert_eq!(report.rows, 0);
    assert_eq!(column_names(&sink), ["id", "name", "dob"]);
    assert_eq!(sink.rows_of("t").map(<[_]>::len), Some(0));
}

#[test]
fn explicit_delimiter_and_header_give_no_dialect_warning() {
    let options = DelimitedOptions {
        delimiter: Some(b'|'),
        has_header: Some(true),
        ..Default::default()
    };
    let (result, sink) = read_with(b"a|b\n1|2\n", &options);
    assert!(!result.unwrap().delimiter_detected);
    assert!(notes_of(&sink, NoteKind::Detected).is_empty());
}

#[test]
fn guessed_dialect_is_noted() {
    let (_, sink) = read(b"a;b\n1;2\n");
    let warnings = notes_of(&sink, NoteKind::Detected);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .message
            .contains("semicolon delimiter (detected)")
    );
}

#[test]
fn very_long_line_is_read() {
    let long = "x".repeat(3 << 20);
    let data = format!("a,b\n1,{long}\n2,y\n");
    let (_, sink) = read(data.as_bytes());
    let rows = text_rows(&sink);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][1].len(), 3 << 20);
    assert_eq!(rows[1], ["2", "y"]);
}

#[test]
fn fifty_megabyte_quoted_field_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let field: String = "line of a long clinical note, with \"\"quotes\"\"\n"
        .chars()
        .cycle()
        .take(50 << 20)
        .collect();
    let mut data = String::from("id,note,after\n1,\"");
    data.push_str(&field);
    data.push_str("\",z\n2,short,w\n");
    std::fs::write(&path, &data).unwrap();
    drop(data);
    let mut sink = MemorySink::default();
    let report =
        delimited::read_file(&path, "big.csv", &DelimitedOptions::default(), &mut sink).unwrap();
    assert_eq!(report.rows, 2);
    let rows = sink.rows_of("big").unwrap();
    let note = rows[0][1].as_text().unwrap();
    assert_eq!(note.len(), field.len() - field.matches("\"\"").count());
    assert!(note.starts_with("line of a long clinical note, with \"quotes\"\n"));
    assert_eq!(rows[0][2], Value::Text("z".into()));
    assert_eq!(rows[1][0], Value::Text("2".into()));
    // Line numbers after the big field count its lines.
    let lines_in_field = field.matches('\n').count() as u64;
    assert!(lines_in_field > 1000);
    let long = notes_of(&sink, NoteKind::Warning)
        .into_iter()
        .find(|n| n.message.contains("spans"))
        .map(|n| n.line);
    assert_eq!(long, Some(Some(2)));
}

#[test]
fn progress_is_reported_every_megabyte() {
    struct Counting {
        inner: MemorySink,
        progress: Vec<u64>,
    }
    impl ferry_core::Sink for Counting {
        fn table(
            &mut self,
            def: ferry_core::TableDef,
        ) -> Result<ferry_core::TableId, ferry_core::SinkError> {
            self.inner.table(def)
        }
        fn row(
            &mut self,
            t: ferry_core::TableId,
            v: Vec<Value>,
        ) -> Result<(), ferry_core::SinkError> {
            self.inner.row(t, v)
        }
        fn note(&mut self, n: Note) -> Result<(), ferry_core::SinkError> {
            self.inner.note(n)
        }
        fn progress(&mut self, bytes: u64) {
            self.progress.push(bytes);
        }
    }
    let mut data = b"a,b\n".to_vec();
    for i in 0..400_000 {
        data.extend_from_slice(format!("{i},value\n").as_bytes());
    }
    let mut sink = Counting {
        inner: MemorySink::default(),
        progress: Vec::new(),
    };
    delimited::read_slice(&data, "p.csv", "p", &DelimitedOptions::default(), &mut sink).unwrap();
    assert!(sink.progress.len() >= 4, "{:?}", sink.progress);
    assert_eq!(sink.progress.last(), Some(&(data.len() as u64)));
    assert!(sink.progress.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn legacy_cp1252_semicolon_export_fixture() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/delimited/legacy_export_cp1252.csv");
    let mut sink = MemorySink::default();
    let report = delimited::read_file(
        &path,
        "legacy_export_cp1252.csv",
        &DelimitedOptions::default(),
        &mut sink,
    )
    .unwrap();
    assert_eq!(report.encoding, "windows-1252");
    assert_eq!(report.first_invalid_utf8_line, Some(2));
    assert_eq!(report.delimiter, b';');
    assert_eq!(report.line_terminator, LineTerminator::Crlf);
    assert_eq!(report.rows, 3);
    let rows = sink.rows_of("legacy_export_cp1252").unwrap();
    assert_eq!(rows[0][1], Value::Text("Müller".into()));
    assert_eq!(
        rows[0][4],
        Value::Text("Allergie: Penicillin; «stark»".into())
    );
    assert_eq!(rows[1][2], Value::Text("Renée".into()));
    assert_eq!(rows[2][4], Value::Text("zwei\r\nZeilen".into()));
    let rejected: Vec<_> = sink
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::RejectedRow)
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].line, Some(6));
    assert_eq!(
        rejected[0].raw.as_deref(),
        Some(&b"4;Fehler;zu;viele;Felder;hier"[..])
    );
}

/// A UTF-8 export with one stray Windows-1252 byte must not be decoded wholesale as
/// Windows-1252 (which would garble every real accent): it is read as UTF-8 and the one bad field
/// is kept as bytes.
#[test]
fn mostly_utf8_file_with_one_bad_byte_keeps_real_accents() {
    let data = b"id,name\n1,Zo\xc3\xab\n2,Jos\xe9\n3,Ren\xc3\xa9e\n";
    let (report, sink) = read(data);
    assert_eq!(report.encoding, "UTF-8");
    let rows = &sink.tables[0].1;
    assert_eq!(rows[0][1], Value::Text("Zoë".into()));
    assert_eq!(rows[1][1], Value::Bytes(b"Jos\xe9".to_vec()));
    assert_eq!(rows[2][1], Value::Text("Renée".into()));
    assert!(
        sink.notes
            .iter()
            .any(|n| n.kind == NoteKind::Warning && n.message.contains("mostly UTF-8"))
    );
}
