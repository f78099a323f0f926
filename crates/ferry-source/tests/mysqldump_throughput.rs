//! Throughput of the mysqldump reader on a generated 200+ MB dump, rows counted not stored.
//! Run: `cargo test --release -p ferry-source --test mysqldump_throughput -- --ignored --nocapture`

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use std::io::{BufReader, Write};
use std::time::Instant;

#[derive(Default)]
struct Counting {
    rows: u64,
    values: u64,
    bytes: u64,
}

impl Sink for Counting {
    fn table(&mut self, _def: TableDef) -> Result<TableId, SinkError> {
        Ok(TableId(0))
    }
    fn row(&mut self, _t: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        self.rows += 1;
        self.values += values.len() as u64;
        self.bytes += values.iter().map(|v| v.len_bytes() as u64).sum::<u64>();
        Ok(())
    }
    fn note(&mut self, _note: Note) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
#[ignore = "throughput measurement; run in release with --ignored"]
fn throughput_on_a_generated_200_mb_dump() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("gen.sql");
    let mut expected_rows = 0u64;
    {
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut w = std::io::BufWriter::new(file);
        writeln!(w, "/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `visits` (\n  `id` int NOT NULL,\n  `patient` varchar(100),\n  `note` text,\n  `amount` decimal(10,2),\n  `seen` datetime,\n  `flag` tinyint,\n  `blob` varbinary(16),\n  PRIMARY KEY (`id`)\n) DEFAULT CHARSET=utf8mb4;").ok();
        let mut id = 0u64;
        while w.get_ref().metadata().map(|m| m.len()).unwrap_or(0) < 210 << 20 {
            w.write_all(b"INSERT INTO `visits` VALUES ").ok();
            for k in 0..4000 {
                id += 1;
                if k > 0 {
                    w.write_all(b",").ok();
                }
                write!(
                    w,
                    "({id},'Patient O\\'Name {id}','Seen for follow-up; BP 120/80, \\\"stable\\\"\\nplan: review in {} weeks \u{e9}',{}.{:02},'2021-03-{:02} 10:{:02}:00',{},{})",
                    id % 12,
                    id % 100_000,
                    id % 100,
                    1 + id % 28,
                    id % 60,
                    if id.is_multiple_of(7) { "NULL".to_string() } else { (id % 2).to_string() },
                    if id.is_multiple_of(3) { "0xDEADBEEF01".to_string() } else { "NULL".to_string() },
                )
                .ok();
                expected_rows += 1;
            }
            w.write_all(b";\n").ok();
        }
        w.flush().ok();
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut sink = Counting::default();
        let start = Instant::now();
        let r = ferry_source::mysqldump::read(
            BufReader::with_capacity(1 << 20, file),
            "gen.sql",
            &mut sink,
        );
        let secs = start.elapsed().as_secs_f64();
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(sink.rows, expected_rows);
        assert_eq!(sink.values, expected_rows * 7);
        best = best.min(secs);
    }
    eprintln!(
        "mysqldump reader: {:.1} MB in {:.3} s = {:.0} MB/s ({} rows)",
        size as f64 / 1e6,
        best,
        size as f64 / 1e6 / best,
        expected_rows
    );
}
