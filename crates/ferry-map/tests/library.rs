//! The module library for the generated clinic (`modules/ferry-clinic/`, issue 4):
//! 1. it loads with no error diagnostics;
//! 2. its golden cases (`cases/NAME.input.json` -> `NAME.expected.json`) match;
//! 3. end to end without the CLI: a generated 300-patient clinic is staged, every module's query
//!    runs against the snapshot, every row is evaluated, every resource passes the FHIR R4
//!    validator, and the books balance (with the planted unmapped codes as the exceptions).
//!
//! Regenerate the golden files with `FERRY_UPDATE_GOLDEN=1` and review the diff.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ferry_core::ValueRef;
use ferry_map::{Module, ProjectOptions, RowOutcome, RowSchema, RowView, load_project};
use ferry_store::QueryValue;
use serde_json::{Value as Json, json};

fn library_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/ferry-clinic")
}

/// The project namespace of the tests (any fixed UUID).
fn namespace() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x6f1e_9a0c_3b7d_4c2e_9f41_0d2a_5b6c_7e80)
}

fn load() -> Vec<Module> {
    load_with(ferry_map::Systems::base("http://ferry.example"))
}

fn load_diagnostics(systems: ferry_map::Systems) -> (Vec<Module>, Vec<ferry_map::Diagnostic>) {
    let dir = library_dir();
    let ns = namespace();
    load_project(
        &dir.join("mappings"),
        &dir.join("concept-maps"),
        ProjectOptions {
            ids: Arc::new(move |m: &str, t: &str, k: &str| ferry_fhir::resource_id(ns, m, t, k)),
            local_time: ferry_map::LocalTime::offset("-05:00"),
            pivot: None,
            merges: Default::default(),
            systems,
        },
    )
}

fn load_with(systems: ferry_map::Systems) -> Vec<Module> {
    let dir = library_dir();
    let ns = namespace();
    let (modules, diags) = load_project(
        &dir.join("mappings"),
        &dir.join("concept-maps"),
        ProjectOptions {
            ids: Arc::new(move |m: &str, t: &str, k: &str| ferry_fhir::resource_id(ns, m, t, k)),
            local_time: ferry_map::LocalTime::offset("-05:00"),
            pivot: None,
            merges: Default::default(),
            systems,
        },
    );
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "the library has {} error diagnostic(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
    for d in &diags {
        println!("diagnostic: {d}");
    }
    modules
}

#[test]
fn library_loads_without_error_diagnostics() {
    let modules = load();
    let names: BTreeSet<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    // One module per table of the generated clinic.
    for expected in ferry_gen::table_names() {
        assert!(names.contains(expected), "module `{expected}` did not load");
    }
    for m in &modules {
        assert!(
            m.description.as_deref().is_some_and(|d| !d.is_empty()),
            "module `{}` has no description",
            m.name
        );
    }
}

/// Issue 12: every field path of the library is an R4 element of the right cardinality, every
/// constant has its element's type, and its `datetime`s have the zone it configures.
#[test]
fn library_paths_and_constants_match_the_r4_definitions() {
    let modules = load();
    let diags: Vec<String> = modules
        .iter()
        .flat_map(|m| m.check_elements().into_iter().chain(m.check_time_zone()))
        .map(|d| d.to_string())
        .collect();
    assert!(diags.is_empty(), "{}", diags.join("\n"));
}

fn evaluate_text_rows(m: &Module, columns: &[String], rows: &[Vec<Option<String>>]) -> Vec<Json> {
    let schema = RowSchema::new(columns.to_vec());
    if m.is_summary() {
        // Consecutive rows of one patient make one document, as the run hands them over.
        let values: Vec<Vec<ValueRef<'_>>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.as_deref().map(ValueRef::Text).unwrap_or(ValueRef::Null))
                    .collect()
            })
            .collect();
        let views: Vec<RowView<'_>> = values
            .iter()
            .map(|values| RowView {
                schema: &schema,
                values,
            })
            .collect();
        return m
            .patient_runs(&views)
            .into_iter()
            .map(|run| {
                let s = m.summarize(&views[run]);
                json!({
                    "rows": s.rows.iter().map(|(k, o)| json!([k, o.to_json()])).collect::<Vec<_>>(),
                    "document": s.document,
                })
            })
            .collect();
    }
    rows.iter()
        .map(|r| {
            let values: Vec<ValueRef<'_>> = r
                .iter()
                .map(|v| v.as_deref().map(ValueRef::Text).unwrap_or(ValueRef::Null))
                .collect();
            m.evaluate(&RowView {
                schema: &schema,
                values: &values,
            })
            .to_json()
        })
        .collect()
}

#[test]
fn golden_cases_match() {
    let modules = load();
    let by_name: BTreeMap<&str, &Module> = modules.iter().map(|m| (m.name.as_str(), m)).collect();
    let cases = library_dir().join("cases");
    let mut names: Vec<String> = std::fs::read_dir(&cases)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".input.json"))
                .map(String::from)
        })
        .collect();
    names.sort();
    for required in ["immunizations", "patients", "problems", "vitals"] {
        assert!(
            names.iter().any(|n| n == required),
            "no golden case for `{required}`: {names:?}"
        );
    }
    let update = std::env::var_os("FERRY_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for name in &names {
        let module = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("golden case `{name}` names no module"));
        let input: Json = serde_json::from_str(
            &std::fs::read_to_string(cases.join(format!("{name}.input.json"))).unwrap(),
        )
        .unwrap();
        let columns: Vec<String> = input["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        let rows: Vec<Vec<Option<String>>> = input["rows"]
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
        let diagnostics: Vec<String> = module
            .check_columns(&columns)
            .iter()
            .map(|d| d.to_string())
            .collect();
        let outcomes = evaluate_text_rows(module, &columns, &rows);
        // Every migrated resource of a golden case is valid R4 too.
        for o in &outcomes {
            let docs = o.get("document").filter(|d| !d.is_null()).into_iter();
            for r in o["migrated"].as_array().into_iter().flatten().chain(docs) {
                let issues = ferry_fhir::Validator::r4().validate(r);
                assert!(
                    issues.is_empty(),
                    "{name}: invalid resource {r}: {issues:?}"
                );
            }
        }
        let actual = json!({ "diagnostics": diagnostics, "outcomes": outcomes });
        let path = cases.join(format!("{name}.expected.json"));
        let actual_text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        if update {
            std::fs::write(&path, &actual_text).unwrap();
            continue;
        }
        let expected_text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!("missing {}: run with FERRY_UPDATE_GOLDEN=1", path.display())
        });
        let expected: Json = serde_json::from_str(&expected_text).unwrap();
        if expected != actual {
            failures.push(format!(
                "{name}:\n--- expected\n{expected_text}\n--- actual\n{actual_text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Per-module tallies of the end-to-end run.
#[derive(Debug, Default, Clone)]
struct Books {
    rows: u64,
    migrated: u64,
    excluded: u64,
    exceptions: u64,
    resources: u64,
    /// Keys of the exception rows.
    exception_keys: BTreeSet<String>,
    /// Exception rows, first few, for failure messages.
    samples: Vec<String>,
}

/// The clinic table a module reads (the summary module reads the appointments).
fn table_of(module: &str) -> &str {
    match module {
        "appointment_history" => "appointments",
        m => m,
    }
}

/// A `[summary]` module: rows ordered by patient as the run reads them, each patient's rows
/// summarized into one document, which must be valid FHIR.
fn summary_books(
    m: &Module,
    snap: &ferry_store::SnapshotReader,
    validator: &ferry_fhir::Validator,
    b: &mut Books,
    invalid: &mut Vec<String>,
) {
    let order: Vec<String> = m
        .summary_order()
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect();
    let sql = format!(
        "SELECT * FROM ({}) ORDER BY {}",
        m.source.query,
        order.join(", ")
    );
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    snap.query(&sql, &mut |n, row| {
        if names.is_empty() {
            names = n.to_vec();
        }
        rows.push(row.iter().map(text_of).collect());
        true
    })
    .unwrap_or_else(|e| panic!("module `{}`: the query failed: {e}", m.name));
    let schema = RowSchema::new(names);
    let values: Vec<Vec<ValueRef<'_>>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.as_deref().map(ValueRef::Text).unwrap_or(ValueRef::Null))
                .collect()
        })
        .collect();
    let views: Vec<RowView<'_>> = values
        .iter()
        .map(|values| RowView {
            schema: &schema,
            values,
        })
        .collect();
    for run in m.patient_runs(&views) {
        let s = m.summarize(&views[run]);
        for (key, o) in &s.rows {
            b.rows += 1;
            match o {
                RowOutcome::Migrated(_) => b.migrated += 1,
                RowOutcome::Excluded { .. } => b.excluded += 1,
                RowOutcome::Exception(_) => {
                    b.exceptions += 1;
                    b.exception_keys.insert(key.clone());
                }
            }
        }
        if let Some(doc) = &s.document {
            b.resources += 1;
            let issues = validator.validate(doc);
            if !issues.is_empty() && invalid.len() < 40 {
                invalid.push(format!("{} document: {issues:?}", m.name));
            }
        }
    }
}

fn text_of(v: &QueryValue) -> Option<String> {
    match v {
        QueryValue::Null => None,
        QueryValue::Integer(i) => Some(i.to_string()),
        QueryValue::Real(r) => Some(r.to_string()),
        QueryValue::Text(s) => Some(s.clone()),
        QueryValue::Bytes(_) => None,
    }
}

#[test]
fn generated_clinic_maps_to_valid_fhir_with_balanced_books() {
    // What the binary registers for every snapshot query (appointments use it).
    ferry_store::register_sql_functions(vec![("ferry_date", ferry_map::funcs::dates::sql_date)]);
    let modules = load();
    let tmp = tempfile::tempdir().unwrap();
    let gen_dir = tmp.path().join("gen");
    let manifest = ferry_gen::generate(
        &ferry_gen::GenConfig {
            patients: 300,
            seed: 42,
            out_dir: gen_dir.clone(),
            sql: true,
            csv: false,
            gzip: false,
        },
        &mut |_| {},
    )
    .unwrap();

    // Stage the dump as `ferry stage` does (crates/ferry/src/commands/stage.rs::stage_paths).
    let mut ws = ferry_store::Workspace::open(&tmp.path().join("ws")).unwrap();
    let inputs = ferry_source::expand_inputs(&[gen_dir.join("clinic.sql")]).unwrap();
    {
        let mut writer = ws.begin_snapshot(Some("library-test".into())).unwrap();
        writer.use_cancel_flag(Arc::new(AtomicBool::new(false)));
        for (path, kind) in &inputs {
            let report = ferry_source::read_file(
                path,
                *kind,
                &ferry_source::ReadOptions::default(),
                &mut writer,
            )
            .unwrap();
            writer.add_file(ferry_store::StagedFile {
                path: report.path,
                kind: report.kind.as_str().to_string(),
                bytes: report.digest.bytes,
                sha256: report.digest.sha256,
                encoding: report.encoding,
            });
        }
        writer.commit().unwrap();
    }
    let snap = ws.open_snapshot(None).unwrap();

    let validator = ferry_fhir::Validator::r4();
    let mut books: BTreeMap<String, Books> = BTreeMap::new();
    let mut invalid: Vec<String> = Vec::new();
    let mut column_diags: Vec<String> = Vec::new();
    // Rows of selected modules, by key, for the expectations below.
    let mut imm_names: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
    let mut prob_codes: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
    let mut lab_codes: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
    // clinical_notes: key -> the attachment's base64 data (encoded by the module's SQL).
    let mut note_data: BTreeMap<String, String> = BTreeMap::new();
    // Resources written from their template / assembled instead; template bytes that differ.
    let mut renders = (0u64, 0u64);
    let mut render_mismatch: Vec<String> = Vec::new();

    for m in &modules {
        let b = books.entry(m.name.clone()).or_default();
        if m.is_summary() {
            summary_books(m, &snap, validator, b, &mut invalid);
            continue;
        }
        let mut schema: Option<Arc<RowSchema>> = None;
        let (columns, _) = snap
            .query(&m.source.query, &mut |names, row| {
                let schema = schema.get_or_insert_with(|| RowSchema::new(names.to_vec()));
                let texts: Vec<Option<String>> = row.iter().map(text_of).collect();
                let values: Vec<ValueRef<'_>> = row
                    .iter()
                    .zip(&texts)
                    .map(|(q, t)| match (q, t) {
                        (QueryValue::Bytes(bytes), _) => ValueRef::Bytes(bytes),
                        (_, Some(t)) => ValueRef::Text(t),
                        (_, None) => ValueRef::Null,
                    })
                    .collect();
                let view = RowView {
                    schema,
                    values: &values,
                };
                let key = m.row_key(&view).unwrap_or_default();
                let col = |c: &str| {
                    names
                        .iter()
                        .position(|n| n == c)
                        .and_then(|i| texts.get(i).cloned().flatten())
                };
                let orphan = col("patient_missing").as_deref() == Some("Y");
                match m.name.as_str() {
                    "immunizations" => {
                        imm_names.insert(key.clone(), (col("vaccine_name"), orphan));
                    }
                    "problems" => {
                        prob_codes.insert(key.clone(), (col("dx_code"), orphan));
                    }
                    "lab_results" => {
                        lab_codes.insert(key.clone(), (col("test_code"), orphan));
                    }
                    _ => {}
                }
                b.rows += 1;
                match m.evaluate(&view) {
                    RowOutcome::Migrated(resources) => {
                        if m.name == "clinical_notes"
                            && let Some(d) = resources
                                .first()
                                .and_then(|r| r.pointer("/content/0/attachment/data"))
                                .and_then(Json::as_str)
                        {
                            note_data.insert(key.clone(), d.to_string());
                        }
                        b.migrated += 1;
                        b.resources += resources.len() as u64;
                        // The run writes each resource from its template: the same bytes as
                        // the canonical JSON of the assembled resource.
                        match m.evaluate_fields(&view) {
                            ferry_map::Evaluated::Migrated(built) => {
                                for (bt, r) in built.iter().zip(&resources) {
                                    let mut canonical = Vec::new();
                                    ferry_fhir::write_canonical(&mut canonical, r);
                                    let mut rendered = Vec::new();
                                    if m.render(bt, &mut rendered) {
                                        renders.0 += 1;
                                        if rendered != canonical && render_mismatch.len() < 10 {
                                            render_mismatch.push(format!(
                                                "{} key {key}:\n  rendered  {}\n  canonical {}",
                                                m.name,
                                                String::from_utf8_lossy(&rendered),
                                                String::from_utf8_lossy(&canonical)
                                            ));
                                        }
                                    } else {
                                        renders.1 += 1;
                                    }
                                }
                                if built.len() != resources.len() {
                                    render_mismatch.push(format!("{} key {key}: count", m.name));
                                }
                            }
                            _ => render_mismatch.push(format!("{} key {key}: outcome", m.name)),
                        }
                        for r in &resources {
                            let issues = validator.validate(r);
                            if !issues.is_empty() && invalid.len() < 40 {
                                invalid.push(format!(
                                    "{} key {key}: {}\n  {}",
                                    m.name,
                                    issues
                                        .iter()
                                        .map(|i| i.to_string())
                                        .collect::<Vec<_>>()
                                        .join("; "),
                                    r
                                ));
                            }
                        }
                    }
                    RowOutcome::Excluded { .. } => b.excluded += 1,
                    RowOutcome::Exception(errs) => {
                        b.exceptions += 1;
                        b.exception_keys.insert(key.clone());
                        if b.samples.len() < 3 {
                            b.samples.push(format!(
                                "key {key}: {}",
                                errs.iter()
                                    .map(|e| format!(
                                        "{} `{}`: {} (raw {:?})",
                                        e.path, e.expression, e.message, e.raw_value
                                    ))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ));
                        }
                    }
                }
                true
            })
            .unwrap_or_else(|e| panic!("module `{}`: the query failed: {e}", m.name));
        column_diags.extend(m.check_columns(&columns).iter().map(|d| d.to_string()));
    }

    println!(
        "templates: {} resources rendered, {} assembled",
        renders.0, renders.1
    );
    assert!(
        render_mismatch.is_empty(),
        "template bytes differ from the canonical JSON:\n{}",
        render_mismatch.join("\n")
    );
    assert!(
        renders.0 > 10 * renders.1.max(1),
        "most resources should be rendered from templates: {renders:?}"
    );
    println!(
        "{:<18} {:>6} {:>9} {:>9} {:>11} {:>10}",
        "module", "rows", "migrated", "excluded", "exceptions", "resources"
    );
    for (name, b) in &books {
        println!(
            "{:<18} {:>6} {:>9} {:>9} {:>11} {:>10}",
            name, b.rows, b.migrated, b.excluded, b.exceptions, b.resources
        );
    }
    for (name, b) in &books {
        for s in &b.samples {
            println!("exception sample {name}: {s}");
        }
    }

    assert!(column_diags.is_empty(), "{}", column_diags.join("\n"));
    assert!(
        invalid.is_empty(),
        "{} invalid resource(s) (first 40):\n{}",
        invalid.len(),
        invalid.join("\n")
    );

    // The books balance, and every table of the clinic is covered by a module with rows.
    for (name, b) in &books {
        assert_eq!(b.rows, b.migrated + b.excluded + b.exceptions, "{name}");
        assert!(b.rows > 0, "module `{name}` read no rows");
    }
    let table_rows: BTreeMap<&str, u64> = manifest
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.rows))
        .collect();
    for (name, b) in &books {
        assert_eq!(
            Some(&b.rows),
            table_rows.get(table_of(name)),
            "rows of `{name}`"
        );
    }
    // Each appointment is migrated by exactly one of `appointments` and `appointment_history`.
    let (a, h) = (&books["appointments"], &books["appointment_history"]);
    assert!(h.migrated > 0 && h.resources > 0, "{h:?}");
    let orphans = a.excluded + h.excluded - a.rows;
    assert_eq!(
        a.migrated + a.exceptions + h.migrated + h.exceptions + orphans,
        a.rows
    );

    // The base64 the clinical_notes SQL writes decodes to the note's exact bytes (CRLF, tabs,
    // NUL and Ctrl-Z included).
    let mut checked = 0;
    snap.query(
        "SELECT note_id, note_text FROM clinical_notes",
        &mut |_, row| {
            if let (Some(QueryValue::Text(id)), Some(QueryValue::Text(text))) =
                (row.first(), row.get(1))
            {
                use base64::Engine as _;
                let data = note_data.get(id).expect("every note is migrated");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("valid base64");
                assert_eq!(decoded, text.as_bytes(), "note {id}");
                checked += 1;
            }
            true
        },
    )
    .unwrap();
    assert_eq!(checked, books["clinical_notes"].migrated);

    let vocab = &manifest.vocabulary;
    // Immunizations: the exceptions are exactly the non-orphan rows with an unmapped name.
    let expect: BTreeSet<String> = imm_names
        .iter()
        .filter(|(_, (n, orphan))| {
            !orphan
                && n.as_ref()
                    .is_some_and(|n| vocab.unmapped_vaccine_names.contains(n))
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        !expect.is_empty(),
        "the clinic has no unmapped vaccine names"
    );
    assert_eq!(
        books["immunizations"].exception_keys, expect,
        "immunizations"
    );
    // Problems: the exceptions are exactly the non-orphan free-text problems.
    let expect: BTreeSet<String> = prob_codes
        .iter()
        .filter(|(_, (c, orphan))| {
            !orphan
                && c.as_ref()
                    .is_some_and(|c| vocab.free_text_problems.contains(c))
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!expect.is_empty(), "the clinic has no free-text problems");
    assert_eq!(books["problems"].exception_keys, expect, "problems");
    // Labs: the exceptions are exactly the non-orphan rows with an unmapped local code.
    let expect: BTreeSet<String> = lab_codes
        .iter()
        .filter(|(_, (c, orphan))| {
            !orphan
                && c.as_ref()
                    .is_some_and(|c| vocab.unmapped_lab_codes.contains(c))
        })
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(books["lab_results"].exception_keys, expect, "lab_results");

    // Orphans are excluded (rule patient-not-in-snapshot), never migrated.
    for d in &manifest.defects {
        if d.kind == ferry_gen::DefectKind::Orphan {
            let b = &books[d.table.as_str()];
            assert!(b.excluded >= d.count, "orphans of `{}`", d.table);
        }
    }
    // Out-of-range values are the exceptions of vitals, audiograms and pft (and nothing else).
    for table in ["vitals", "audiograms", "pft"] {
        let keys: BTreeSet<String> = manifest
            .defects
            .iter()
            .filter(|d| d.kind == ferry_gen::DefectKind::OutOfRange && d.table == table)
            .flat_map(|d| d.keys.iter().map(|k| k.to_string()))
            .collect();
        assert_eq!(
            books[table].exception_keys, keys,
            "out-of-range rows of `{table}`"
        );
    }
    // Everything else maps without exceptions.
    for (name, b) in &books {
        if ![
            "immunizations",
            "problems",
            "lab_results",
            "vitals",
            "audiograms",
            "pft",
        ]
        .contains(&name.as_str())
        {
            assert_eq!(b.exceptions, 0, "{name}: {:?}", b.samples);
        }
    }
}

/// Issue 12: the library's 60-odd local systems come from the one setting. With another base,
/// every golden case gives its expected output with that base in place of `http://ferry.example`
/// (modules and concept maps alike); with none, or an OID base without `[project.systems]`,
/// each `system(...)` is an error at its position saying what to set.
#[test]
fn the_librarys_systems_follow_system_base() {
    let modules = load_with(ferry_map::Systems::base("https://fhir.hospital.example"));
    let by_name: BTreeMap<&str, &Module> = modules.iter().map(|m| (m.name.as_str(), m)).collect();
    let cases = library_dir().join("cases");
    let mut changed = 0;
    for (name, module) in &by_name {
        let Ok(input) = std::fs::read_to_string(cases.join(format!("{name}.input.json"))) else {
            continue;
        };
        let input: Json = serde_json::from_str(&input).unwrap();
        let columns: Vec<String> = input["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        let rows: Vec<Vec<Option<String>>> = input["rows"]
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
        let outcomes = serde_json::to_string(&evaluate_text_rows(module, &columns, &rows)).unwrap();
        let expected: Json = serde_json::from_str(
            &std::fs::read_to_string(cases.join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        let expected = serde_json::to_string(&expected["outcomes"]).unwrap();
        assert!(!outcomes.contains("ferry.example"), "{name}: {outcomes}");
        if expected.contains("http://ferry.example/") {
            changed += 1;
        }
        assert_eq!(
            outcomes,
            expected.replace("http://ferry.example/", "https://fhir.hospital.example/"),
            "{name}"
        );
    }
    assert!(
        changed >= 10,
        "only {changed} golden cases carry a local system"
    );

    let (_, diags) = load_diagnostics(ferry_map::Systems::default());
    let unset: Vec<&ferry_map::Diagnostic> = diags
        .iter()
        .filter(|d| d.is_error() && d.message.contains("needs `system_base`"))
        .collect();
    assert!(unset.len() >= 40, "{diags:?}");
    assert!(
        unset.iter().all(|d| d.line > 0 || d.file.ends_with(".csv")),
        "{unset:?}"
    );
    let patients = unset
        .iter()
        .find(|d| d.file.ends_with("patients.toml"))
        .unwrap();
    assert_eq!((patients.line, patients.column), (25, 35), "{patients}");
    let (_, diags) = load_diagnostics(ferry_map::Systems::base("urn:oid:2.16.840.1.113883.3.1234"));
    assert!(
        diags.iter().any(|d| d.is_error()
            && d.message
                .contains("give this system its own OID under [project.systems]")),
        "{diags:?}"
    );
}
