//! Property tests of the delimited reader: tables written by the `csv` crate read back
//! identical; any bytes are read without panicking.

use ferry_core::{MemorySink, NoteKind, Value};
use ferry_source::delimited::{self, DelimitedOptions};
use proptest::prelude::*;

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,8}",
        "[a-z \",;|\t\r\n\0é€]{0,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn table(min_cols: usize) -> impl Strategy<Value = Vec<Vec<String>>> {
    (min_cols..6usize, 0..20usize).prop_flat_map(|(cols, rows)| {
        prop::collection::vec(prop::collection::vec(field(), cols), rows)
    })
}

fn quote_style(i: u8) -> csv::QuoteStyle {
    match i % 3 {
        0 => csv::QuoteStyle::Always,
        1 => csv::QuoteStyle::Necessary,
        _ => csv::QuoteStyle::NonNumeric,
    }
}

fn write(header: &[String], rows: &[Vec<String>], delimiter: u8, style: u8, crlf: bool) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .quote_style(quote_style(style))
        .terminator(if crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .from_writer(Vec::new());
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.into_inner().unwrap()
}

fn texts(sink: &MemorySink, table: &str) -> Vec<Vec<String>> {
    sink.rows_of(table)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::Text(s) => s.clone(),
                    other => format!("<not text: {other:?}>"),
                })
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn tables_written_by_the_csv_crate_read_back_identical(
        rows in table(1),
        d in prop::sample::select(delimited::DELIMITERS.to_vec()),
        style in any::<u8>(),
        crlf in any::<bool>(),
    ) {
        let cols = rows.first().map_or(2, Vec::len);
        let header: Vec<String> = (1..=cols).map(|i| format!("h{i}")).collect();
        let data = write(&header, &rows, d, style, crlf);
        let options = DelimitedOptions { delimiter: Some(d), ..Default::default() };
        let mut sink = MemorySink::default();
        let report = delimited::read_slice(&data, "p.csv", "p", &options, &mut sink).unwrap();
        let expected = rows;
        prop_assert_eq!(report.encoding.as_str(), "UTF-8");
        prop_assert_eq!(report.rejected_rows, 0);
        prop_assert_eq!(texts(&sink, "p"), expected);
        let names: Vec<String> = sink.def_of("p").unwrap().columns.iter().map(|c| c.name.clone()).collect();
        prop_assert_eq!(names, header);
    }

    #[test]
    fn delimiter_is_sniffed_from_tables_without_delimiters_in_values(
        rows in (2..6usize, 1..20usize).prop_flat_map(|(cols, rows)| {
            prop::collection::vec(prop::collection::vec("[a-zA-Z0-9 .\"\n]{0,8}", cols), rows)
        }),
        d in prop::sample::select(delimited::DELIMITERS.to_vec()),
        style in any::<u8>(),
        crlf in any::<bool>(),
    ) {
        let cols = rows[0].len();
        let header: Vec<String> = (1..=cols).map(|i| format!("h{i}")).collect();
        let data = write(&header, &rows, d, style, crlf);
        let mut sink = MemorySink::default();
        let report = delimited::read_slice(&data, "p.csv", "p", &DelimitedOptions::default(), &mut sink).unwrap();
        prop_assert_eq!(report.delimiter, d);
        prop_assert_eq!(texts(&sink, "p"), rows);
    }

    #[test]
    fn random_bytes_never_panic(
        data in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(b",;|\t\"\r\n".to_vec())],
            0..3000,
        ),
        d in prop::option::of(prop::sample::select(delimited::DELIMITERS.to_vec())),
        header in prop::option::of(any::<bool>()),
        encoding in prop::option::of(prop::sample::select(vec!["utf-8", "windows-1252", "utf-16le", "shift_jis"])),
        limit in prop::option::of(1u64..4000),
    ) {
        let options = DelimitedOptions {
            delimiter: d,
            encoding: encoding.map(str::to_string),
            has_header: header,
            max_record_bytes: limit,
        };
        let mut sink = MemorySink::default();
        if let Ok(report) = delimited::read_slice(&data, "r.csv", "r", &options, &mut sink) {
            let staged = sink.rows_of("r").map_or(0, <[_]>::len) as u64;
            prop_assert_eq!(report.rows, staged);
            let rejected = sink.notes.iter().filter(|n| n.kind == NoteKind::RejectedRow).count() as u64;
            prop_assert_eq!(report.rejected_rows, rejected);
        }
    }
}
