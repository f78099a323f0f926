//! Throughput of the profiler on a 10,000-patient clinic. Ignored by default; run with
//! `cargo test --release -p ferry-profile --test throughput -- --ignored --nocapture`.

use ferry_gen::GenConfig;
use ferry_profile::{ProfileOptions, profile_snapshot};
use ferry_source::{InputKind, ReadOptions};
use ferry_store::Workspace;
use std::time::Instant;

/// Peak resident memory since the last reset, in MiB (Linux only; 0 elsewhere).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[test]
#[ignore = "measures speed: run in release with --ignored --nocapture"]
fn profile_throughput_10k_patients() {
    let patients = std::env::var("FERRY_PROFILE_PATIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let cfg = GenConfig {
        patients,
        seed: 7,
        out_dir: out.clone(),
        sql: true,
        csv: false,
        gzip: false,
    };
    let manifest = ferry_gen::generate(&cfg, &mut |_| {}).unwrap();
    let mut ws = Workspace::open(&dir.path().join("ws")).unwrap();
    let mut writer = ws.begin_snapshot(None).unwrap();
    ferry_source::read_file(
        &out.join("clinic.sql"),
        InputKind::Mysqldump,
        &ReadOptions::default(),
        &mut writer,
    )
    .unwrap();
    writer.commit().unwrap();
    let largest = manifest.tables.iter().max_by_key(|t| t.rows).unwrap();
    println!(
        "clinic: {patients} patients; largest table `{}` with {} rows and {} columns",
        largest.name,
        largest.rows,
        largest.columns.len()
    );
    for threads in [1, 2] {
        let opts = ProfileOptions {
            tables: Some(vec![largest.name.clone()]),
            threads,
            ..ProfileOptions::default()
        };
        reset_peak_rss();
        let t0 = Instant::now();
        let p = profile_snapshot(&ws, None, &opts, &|_| {}).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(p.tables[0].rows, largest.rows);
        println!(
            "{} x {threads} thread(s): {:.2} s, {:.0} rows/s, peak RSS {} MiB",
            largest.name,
            secs,
            largest.rows as f64 / secs,
            peak_rss_mib()
        );
    }
    let total: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    reset_peak_rss();
    let t0 = Instant::now();
    let p = profile_snapshot(&ws, None, &ProfileOptions::default(), &|_| {}).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "whole snapshot ({} tables, {total} rows, {} foreign keys), 2 threads: {:.2} s, {:.0} rows/s, peak RSS {} MiB",
        p.tables.len(),
        p.foreign_keys.len(),
        secs,
        total as f64 / secs,
        peak_rss_mib()
    );
}
