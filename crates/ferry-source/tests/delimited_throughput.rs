//! Throughput of the delimited reader on a generated ~200 MB CSV, rows counted not stored.
//! Run: `cargo test --release -p ferry-source --test delimited_throughput -- --ignored --nocapture`

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use ferry_source::delimited::{self, DelimitedOptions};
use std::io::Write;
use std::time::Instant;

#[derive(Default)]
struct Counting {
    rows: u64,
    bytes: u64,
    notes: u64,
}

impl Sink for Counting {
    fn table(&mut self, _def: TableDef) -> Result<TableId, SinkError> {
        Ok(TableId(0))
    }
    fn row(&mut self, _t: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        self.rows += 1;
        self.bytes += values.iter().map(|v| v.len_bytes() as u64).sum::<u64>();
        Ok(())
    }
    fn note(&mut self, _note: Note) -> Result<(), SinkError> {
        self.notes += 1;
        Ok(())
    }
}

fn generate(path: &std::path::Path, latin1: bool) -> u64 {
    let file = std::fs::File::create(path).unwrap();
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "id,patient,dob,note,amount,seen,flag").unwrap();
    let mut rows = 0u64;
    let mut written = 0u64;
    let name: &[u8] = if latin1 {
        b"Ren\xE9e Dupont"
    } else {
        "Renée Dupont".as_bytes()
    };
    while written < 200 << 20 {
        let mut line = format!("{rows},").into_bytes();
        line.extend_from_slice(name);
        line.extend_from_slice(
            format!(
                ",1970-01-{:02},\"follow-up, \"\"stable\"\"; bp 120/80 {rows}\",{}.{:02},2024-03-01 10:{:02}:00,{}\r\n",
                rows % 28 + 1,
                rows % 10_000,
                rows % 100,
                rows % 60,
                rows % 2
            )
            .as_bytes(),
        );
        w.write_all(&line).unwrap();
        written += line.len() as u64;
        rows += 1;
    }
    w.flush().unwrap();
    rows
}

fn measure(latin1: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.csv");
    let expected = generate(&path, latin1);
    let size = std::fs::metadata(&path).unwrap().len();
    let mut sink = Counting::default();
    let start = Instant::now();
    let report =
        delimited::read_file(&path, "visits.csv", &DelimitedOptions::default(), &mut sink).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(sink.rows, expected);
    assert_eq!(report.rejected_rows, 0);
    println!(
        "delimited ({}): {:.1} MB in {secs:.2} s = {:.1} MB/s, {} rows, {} notes",
        report.encoding,
        size as f64 / 1e6,
        size as f64 / 1e6 / secs,
        sink.rows,
        sink.notes
    );
}

#[test]
#[ignore = "throughput measurement; run in release with --ignored"]
fn throughput_on_a_generated_200_mb_utf8_csv() {
    measure(false);
}

#[test]
#[ignore = "throughput measurement; run in release with --ignored"]
fn throughput_on_a_generated_200_mb_windows_1252_csv() {
    measure(true);
}
