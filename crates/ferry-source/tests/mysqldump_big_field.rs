//! A 50 MB field arrives intact, and peak heap stays a small multiple of the field size
//! (the reader holds one value, never the statement or the line). Own test binary so the
//! allocator counters see this test alone.

use ferry_core::{Note, Sink, SinkError, TableDef, TableId, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufReader, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Peak;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

struct Check {
    rows: Vec<(usize, bool)>,
}

impl Sink for Check {
    fn table(&mut self, _def: TableDef) -> Result<TableId, SinkError> {
        Ok(TableId(0))
    }
    fn row(&mut self, _t: TableId, values: Vec<Value>) -> Result<(), SinkError> {
        let ok = match values.get(1) {
            Some(Value::Text(s)) => {
                s.len() == 50 << 20
                    && s.as_bytes()
                        .chunks(10)
                        .enumerate()
                        .all(|(k, c)| c == format!("{:09}|", k % 1_000_000_000).as_bytes())
            }
            _ => false,
        };
        self.rows.push((values.len(), ok));
        Ok(())
    }
    fn note(&mut self, _note: Note) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn fifty_megabyte_field_arrives_intact_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("big.sql");
    {
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut w = std::io::BufWriter::new(file);
        let mut write = |b: &[u8]| w.write_all(b).unwrap_or_else(|e| panic!("{e}"));
        write(b"CREATE TABLE `t` (`id` int, `doc` longtext);\nINSERT INTO `t` VALUES (1,'");
        for k in 0..(50 << 20) / 10 {
            write(format!("{:09}|", k % 1_000_000_000).as_bytes());
        }
        write(b"'),(2,'");
        for k in 0..(50 << 20) / 10 {
            write(format!("{:09}|", k % 1_000_000_000).as_bytes());
        }
        write(b"');\n");
    }
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut sink = Check { rows: Vec::new() };
    let r = ferry_source::mysqldump::read(
        BufReader::with_capacity(1 << 20, file),
        "big.sql",
        &mut sink,
    );
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(sink.rows, vec![(2, true), (2, true)]);
    let peak = PEAK.load(Ordering::Relaxed) - before;
    eprintln!(
        "peak heap while reading two 50 MiB fields (100 MiB file): {} MiB",
        peak >> 20
    );
    // One 50 MiB value being built (Vec doubling: up to 64 + 32 MiB during a grow) + windows.
    assert!(peak < 140 << 20, "peak heap {} MiB", peak >> 20);
}
