//! Any bytes into the mysqldump reader: must never panic or hang, and every row it delivers must
//! have exactly one value per column of its table.
#![no_main]

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Counting {
    widths: Vec<usize>,
    rows: u64,
}

impl Sink for Counting {
    fn table(&mut self, def: TableDef) -> Result<TableId, SinkError> {
        self.widths.push(def.columns.len());
        Ok(TableId(self.widths.len() - 1))
    }
    fn row(&mut self, table: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        assert_eq!(
            self.widths.get(table.0),
            Some(&values.len()),
            "row width != table width"
        );
        self.rows += 1;
        Ok(())
    }
    fn note(&mut self, _note: Note) -> Result<(), SinkError> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sink = Counting::default();
    let _ = ferry_source::mysqldump::read(data, "fuzz.sql", &mut sink);
});
