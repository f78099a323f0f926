//! Fuzzes the spreadsheet reader: any bytes (read as xlsx, xls, xlsb or ods, whichever calamine
//! recognises), with the header option taken from the first byte, must be read or refused with
//! an error, never panic or hang; every row has one value per column.
#![no_main]

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use ferry_source::sheets::{self, Header, SheetOptions};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct CountingSink {
    widths: Vec<usize>,
    rows: u64,
}

impl Sink for CountingSink {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        assert!(!def.columns.is_empty(), "a table has columns");
        self.widths.push(def.columns.len());
        Ok(TableId(self.widths.len() - 1))
    }

    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        assert_eq!(self.widths.get(table.0), Some(&values.len()), "row width");
        self.rows += 1;
        Ok(())
    }

    fn note(&mut self, _note: Note) -> Result<(), SinkError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.split_first() {
        Some((&flags, rest)) => {
            let header = match flags % 4 {
                0 => Header::Absent,
                1 => Header::Row(u32::from(flags >> 2) + 1),
                _ => Header::Detect,
            };
            (header, rest)
        }
        None => (Header::Detect, data),
    };
    let mut sink = CountingSink::default();
    if let Ok(report) = sheets::read_slice(body, "fuzz.xlsx", &SheetOptions { header }, &mut sink)
    {
        assert_eq!(report.rows, sink.rows);
        assert_eq!(report.tables.len(), sink.widths.len());
    }
});
