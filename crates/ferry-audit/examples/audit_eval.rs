//! Precision and recall of the duplicate-patient check (and timing of the whole audit) on a
//! generated clinic: `cargo run --release -p ferry-audit --example audit_eval -- N [SEED]`.

use std::collections::BTreeSet;
use std::time::Instant;

use ferry_audit::{AuditOptions, audit_snapshot};
use ferry_gen::GenConfig;
use ferry_source::{InputKind, ReadOptions};
use ferry_store::Workspace;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().as_deref().unwrap_or("10000").parse()?;
    let seed: u64 = args.next().as_deref().unwrap_or("20260215").parse()?;
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let m = ferry_gen::generate(
        &GenConfig {
            patients: n,
            seed,
            out_dir: dir.path().join("gen"),
            sql: true,
            csv: false,
            gzip: false,
        },
        &mut |_| {},
    )?;
    eprintln!("generated {n} patients in {:?}", t.elapsed());
    let t = Instant::now();
    let mut ws = Workspace::open(&dir.path().join("ws"))?;
    let mut w = ws.begin_snapshot(None)?;
    ferry_source::read_file(
        &dir.path().join("gen/clinic.sql"),
        InputKind::Mysqldump,
        &ReadOptions::default(),
        &mut w,
    )?;
    w.commit()?;
    eprintln!("staged in {:?}", t.elapsed());
    let opts = AuditOptions {
        example_keys: usize::MAX,
        today: Some((2026, 2, 15)),
        ..Default::default()
    };
    let t = Instant::now();
    let r = audit_snapshot(&ws, None, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    let rows: u64 = m.tables.iter().map(|t| t.rows).sum();
    eprintln!(
        "audited {rows} rows in {secs:.2} s ({:.0} rows/s), {} findings",
        rows as f64 / secs,
        r.findings.len()
    );
    let expected: BTreeSet<(u64, u64)> = m
        .duplicates
        .iter()
        .map(|d| (d.original_id, d.duplicate_id))
        .collect();
    let found: BTreeSet<(u64, u64)> = r
        .of("duplicate_patient")
        .flat_map(|f| f.example_keys.iter())
        .filter_map(|k| {
            let (a, b) = k.split_once(" ~ ")?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    let tp = expected.intersection(&found).count();
    println!(
        "patients {n}: duplicates planted {}, found {}, true positives {tp}, precision {:.4}, recall {:.4}",
        expected.len(),
        found.len(),
        tp as f64 / found.len().max(1) as f64,
        tp as f64 / expected.len().max(1) as f64
    );
    for d in &m.duplicates {
        if !found.contains(&(d.original_id, d.duplicate_id)) {
            println!(
                "  missed {} ~ {} ({:?})",
                d.original_id, d.duplicate_id, d.kind
            );
        }
    }
    for p in found.difference(&expected) {
        println!("  false positive {} ~ {}", p.0, p.1);
    }
    for f in &r.findings {
        println!(
            "{:8} {:22} {:18} {:16} {}",
            f.severity.as_str(),
            f.check,
            f.table,
            f.column.as_deref().unwrap_or(""),
            f.count
        );
    }
    Ok(())
}
