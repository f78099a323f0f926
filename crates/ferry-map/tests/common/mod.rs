#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use ferry_core::ValueRef;
use ferry_map::{
    Engine, EngineConfig, RefTarget, RowSchema, RowView, load_concept_maps, parse_module,
};
use serde_json::{Value as Json, json};

pub fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("cases")
}

/// A deterministic stand-in for ferry-fhir's UUID v5 ids.
pub fn test_id(module: &str, ty: &str, key: &str) -> String {
    format!("{module}.{ty}.{key}").replace(['|', '#'], "-")
}

pub fn engine() -> Engine {
    let mut cfg = EngineConfig::new(Arc::new(test_id));
    let (maps, diags) = load_concept_maps(&cases_dir().join("concept-maps"));
    assert!(diags.is_empty(), "{diags:?}");
    cfg.concept_maps = maps;
    cfg.local_time = ferry_map::LocalTime::offset("-05:00");
    for (m, t) in [("patients", "Patient"), ("immunizations", "Immunization")] {
        cfg.targets.insert(
            m.into(),
            RefTarget {
                resource_type: t.into(),
                name: None,
            },
        );
    }
    Engine::new(cfg).unwrap()
}

pub struct Input {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

pub fn read_input(name: &str) -> Option<Input> {
    let text = std::fs::read_to_string(cases_dir().join(format!("{name}.input.json"))).ok()?;
    let v: Json = serde_json::from_str(&text).unwrap();
    let columns = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().map(String::from))
                .collect()
        })
        .collect();
    Some(Input { columns, rows })
}

pub fn run_case(engine: &Engine, name: &str) -> Json {
    let file = format!("{name}.module.toml");
    let text = std::fs::read_to_string(cases_dir().join(&file)).unwrap();
    let (module, mut diags) = parse_module(&file, &text, engine);
    let mut outcomes = Vec::new();
    if let (Some(input), Some(m)) = (read_input(name), &module) {
        {
            diags.extend(m.check_columns(&input.columns));
            let schema = RowSchema::new(input.columns.clone());
            let values: Vec<Vec<ValueRef<'_>>> = input
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| v.as_deref().map(ValueRef::Text).unwrap_or(ValueRef::Null))
                        .collect()
                })
                .collect();
            let rows: Vec<RowView<'_>> = values
                .iter()
                .map(|values| RowView {
                    schema: &schema,
                    values,
                })
                .collect();
            if m.is_summary() {
                // Consecutive rows of one patient make one document (the run orders by patient).
                for run in m.patient_runs(&rows) {
                    let s = m.summarize(&rows[run]);
                    let html = s
                        .document
                        .as_ref()
                        .and_then(|d| d.pointer("/content/0/attachment/data"))
                        .and_then(|d| d.as_str())
                        .map(|d| {
                            use base64::Engine as _;
                            let bytes =
                                base64::engine::general_purpose::STANDARD.decode(d).unwrap();
                            String::from_utf8(bytes).unwrap()
                        });
                    outcomes.push(json!({
                        "rows": s.rows.iter().map(|(k, o)| json!([k, o.to_json()])).collect::<Vec<_>>(),
                        "document": s.document,
                        "html": html,
                    }));
                }
            } else {
                for row in &rows {
                    outcomes.push(m.evaluate(row).to_json());
                }
            }
        }
    }
    json!({
        "loaded": module.is_some(),
        "diagnostics": diags.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "outcomes": outcomes,
    })
}
