//! Fuzzes the delimited text reader: any bytes, with options taken from the first input byte,
//! must be read or refused with an error, never panic or hang.
#![no_main]

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use ferry_source::delimited::{self, DELIMITERS, DelimitedOptions};
use libfuzzer_sys::fuzz_target;

/// Counts what it is given and checks the sink contract (row width), keeping nothing.
#[derive(Default)]
struct CountingSink {
    widths: Vec<usize>,
    rows: u64,
    notes: u64,
}

impl Sink for CountingSink {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.widths.push(def.columns.len());
        Ok(TableId(self.widths.len() - 1))
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        assert_eq!(self.widths.get(table.0), Some(&values.len()), "row width");
        self.rows += 1;
        Ok(())
    }

    fn note(&mut self, _note: Note) -> Result<(), SinkError> {
        self.notes += 1;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let (options, body) = match data.split_first() {
        Some((&flags, rest)) => {
            let delimiter = match flags & 0b111 {
                d @ 0..=3 => Some(DELIMITERS[usize::from(d)]),
                _ => None,
            };
            let has_header = match (flags >> 3) & 0b11 {
                0 => Some(true),
                1 => Some(false),
                _ => None,
            };
            let encoding = match (flags >> 5) & 0b11 {
                0 => Some("windows-1252".to_string()),
                1 => Some("utf-16le".to_string()),
                _ => None,
            };
            let options = DelimitedOptions {
                delimiter,
                encoding,
                has_header,
                max_record_bytes: (flags & 0x80 != 0).then_some(512),
            };
            (options, rest)
        }
        None => (DelimitedOptions::default(), data),
    };
    let mut sink = CountingSink::default();
    if let Ok(report) = delimited::read_slice(body, "fuzz.csv", "fuzz", &options, &mut sink) {
        assert_eq!(report.rows, sink.rows);
        assert_eq!(sink.widths.len(), 1);
    }
});
