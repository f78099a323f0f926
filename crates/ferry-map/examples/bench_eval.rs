//! Evaluations per second of a 10-field vitals-like module.
//! `cargo run --release -p ferry-map --example bench_eval -- [ROWS]`

use std::sync::Arc;
use std::time::Instant;

use ferry_core::ValueRef;
use ferry_map::{Engine, EngineConfig, RefTarget, RowOutcome, RowSchema, RowView, parse_module};

const MODULE: &str = r#"
[module]
name = "vitals"
description = "bench: 10 fields"
[source]
query = "SELECT * FROM vitals"
key = "vital_id"
patient = "patient_id"
[[resource]]
type = "Observation"
[resource.fields]
"status" = "'final'"
"category[0].coding[0].system" = "'http://terminology.hl7.org/CodeSystem/observation-category'"
"category[0].coding[0].code" = "'vital-signs'"
"code.coding[0].system" = "'http://loinc.org'"
"code.coding[0].code" = "'8310-5'"
"subject.reference" = "ref('patients', row.patient_id)"
"effectiveDateTime" = "row.taken | datetime"
"valueQuantity.value" = "row.temp_f | decimal"
"valueQuantity.unit" = "row.unit"
"valueQuantity.code" = "row.unit | ucum"
"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut cfg = EngineConfig::new(Arc::new(|m: &str, t: &str, k: &str| format!("{m}-{t}-{k}")));
    cfg.local_time = ferry_map::LocalTime::offset("-05:00");
    cfg.targets.insert(
        "patients".into(),
        RefTarget {
            resource_type: "Patient".into(),
            name: None,
        },
    );
    let engine = Engine::new(cfg).expect("engine");
    let (m, d) = parse_module("vitals.toml", MODULE, &engine);
    let m = m.unwrap_or_else(|| panic!("{d:?}"));
    let schema = RowSchema::new([
        "vital_id",
        "patient_id",
        "visit_id",
        "taken",
        "temp_f",
        "unit",
        "pulse",
        "bp_sys",
        "bp_dia",
        "note",
    ]);
    let rows: Vec<Vec<String>> = (0..1000)
        .map(|i| {
            vec![
                i.to_string(),
                (i / 7).to_string(),
                (i / 3).to_string(),
                format!("{:02}/{:02}/2019 {:02}:15", 1 + i % 12, 1 + i % 28, i % 24),
                format!("98,{}", i % 10),
                "F".into(),
                "72".into(),
                "120".into(),
                "80".into(),
                "".into(),
            ]
        })
        .collect();
    let views: Vec<Vec<ValueRef<'_>>> = rows
        .iter()
        .map(|r| r.iter().map(|s| ValueRef::Text(s.as_str())).collect())
        .collect();
    let run = |count: usize| -> (usize, usize) {
        let mut ok = 0;
        let mut bytes = 0;
        for i in 0..count {
            let values = &views[i % views.len()];
            if let RowOutcome::Migrated(r) = m.evaluate(&RowView {
                schema: &schema,
                values,
            }) {
                ok += 1;
                bytes += r.len();
            }
        }
        (ok, bytes)
    };
    let _ = run(10_000);
    let t = Instant::now();
    let (ok, _) = run(n);
    let s = t.elapsed().as_secs_f64();
    println!(
        "1 thread: {n} rows x 10 fields in {s:.3} s = {:.0} rows/s = {:.2} M field evals/s (migrated {ok})",
        n as f64 / s,
        n as f64 * 10.0 / s / 1e6
    );
    let t = Instant::now();
    std::thread::scope(|sc| {
        let h: Vec<_> = (0..2).map(|_| sc.spawn(|| run(n / 2))).collect();
        for h in h {
            let _ = h.join();
        }
    });
    let s = t.elapsed().as_secs_f64();
    println!(
        "2 threads: {n} rows in {s:.3} s = {:.0} rows/s",
        n as f64 / s
    );
}
