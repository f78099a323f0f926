//! Project loading, threads, and no-panic properties.

mod common;

use std::sync::Arc;

use ferry_core::ValueRef;
use ferry_map::{ProjectOptions, RowOutcome, RowSchema, RowView, load_project, parse_module};
use proptest::prelude::*;

fn options() -> ProjectOptions {
    ProjectOptions {
        ids: Arc::new(common::test_id),
        local_time: ferry_map::LocalTime::offset("-05:00"),
        pivot: None,
        merges: Default::default(),
        systems: ferry_map::Systems::default(),
    }
}

#[test]
fn load_project_reports_every_file_and_builds_ref_targets() {
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("mappings");
    std::fs::create_dir(&maps).unwrap();
    for name in ["immunizations", "patients", "syntax_error"] {
        std::fs::copy(
            common::cases_dir().join(format!("{name}.module.toml")),
            maps.join(format!("{name}.toml")),
        )
        .unwrap();
    }
    // The reviewers' decisions file lives in mappings/ too and is not a module.
    std::fs::write(maps.join("migration-map.toml"), "[[column]]\n").unwrap();
    let (modules, diags) =
        load_project(&maps, &common::cases_dir().join("concept-maps"), options());
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["immunizations", "patients"]);
    assert!(
        diags.iter().all(|d| d.file.ends_with("syntax_error.toml")),
        "{diags:#?}"
    );
    assert_eq!(diags.len(), 11);
    // ref('patients', ...) resolves through the loaded module's primary resource type.
    let m = &modules[0];
    let schema = RowSchema::new([
        "imm_id",
        "patient_id",
        "vaccine_name",
        "date_given",
        "lot",
        "dose_ml",
        "status",
    ]);
    let values = ["9", "42", "Tdap", "2019", "", "", "C"].map(ValueRef::Text);
    let RowOutcome::Migrated(r) = m.evaluate(&RowView {
        schema: &schema,
        values: &values,
    }) else {
        panic!("not migrated");
    };
    assert_eq!(r[0]["patient"]["reference"], "Patient/patients.Patient.42");
}

#[test]
fn bad_local_offset_is_a_diagnostic_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.local_time = ferry_map::LocalTime::offset("Eastern");
    let (m, d) = load_project(dir.path(), dir.path(), o);
    assert!(m.is_empty());
    assert!(d[0].message.starts_with("local_offset"), "{d:?}");
}

#[test]
fn bad_time_zone_settings_are_diagnostics_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (local, starts) in [
        (
            ferry_map::LocalTime::zone("America/Nowhere"),
            "time_zone: `America/Nowhere` is not an IANA time zone",
        ),
        (
            ferry_map::LocalTime::zone("-05:00"),
            "time_zone: `-05:00` is an offset",
        ),
        (
            ferry_map::LocalTime {
                local_offset: Some("-05:00".into()),
                time_zone: Some("America/New_York".into()),
                ..Default::default()
            },
            "local_offset and time_zone are both set",
        ),
        (
            ferry_map::LocalTime {
                time_zone: Some("America/New_York".into()),
                ambiguous_time: Some("first".into()),
                ..Default::default()
            },
            "ambiguous_time:",
        ),
    ] {
        let mut o = options();
        o.local_time = local;
        let (m, d) = load_project(dir.path(), dir.path(), o);
        assert!(m.is_empty());
        assert!(d[0].message.starts_with(starts), "{d:?}");
    }
}

#[test]
fn evaluation_from_many_threads_matches_one_thread() {
    let engine = common::engine();
    let text =
        std::fs::read_to_string(common::cases_dir().join("immunizations.module.toml")).unwrap();
    let (m, d) = parse_module("immunizations.module.toml", &text, &engine);
    let m = m.unwrap_or_else(|| panic!("{d:?}"));
    let input = common::read_input("immunizations").unwrap();
    let schema = RowSchema::new(input.columns.clone());
    let eval_all = |m: &ferry_map::Module| -> Vec<String> {
        input
            .rows
            .iter()
            .map(|r| {
                let v: Vec<ValueRef<'_>> = r
                    .iter()
                    .map(|x| x.as_deref().map(ValueRef::Text).unwrap_or(ValueRef::Null))
                    .collect();
                m.evaluate(&RowView {
                    schema: &schema,
                    values: &v,
                })
                .to_json()
                .to_string()
            })
            .collect()
    };
    let want = eval_all(&m);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| eval_all(&m))).collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), want);
        }
    });
}

#[test]
fn bytes_in_a_column_are_an_exception_not_a_panic() {
    let engine = common::engine();
    let text =
        std::fs::read_to_string(common::cases_dir().join("unknown_column.module.toml")).unwrap();
    let text = text.replace("row.vacine_name", "row.vaccine_name");
    let (m, _) = parse_module("unknown_column.module.toml", &text, &engine);
    let m = m.unwrap();
    let schema = RowSchema::new(["imm_id", "vaccine_name", "date_given"]);
    let values = [
        ValueRef::Text("1"),
        ValueRef::Bytes(&[0xff, 0x00]),
        ValueRef::Text("2019"),
    ];
    let out = m.evaluate(&RowView {
        schema: &schema,
        values: &values,
    });
    let RowOutcome::Exception(e) = out else {
        panic!("{out:?}")
    };
    assert_eq!(e[0].path, "vaccineCode.text");
}

proptest! {
    #[test]
    fn parse_module_never_panics(text in "\\PC{0,400}") {
        let engine = common::engine();
        let _ = parse_module("x.toml", &text, &engine);
    }

    #[test]
    fn parse_module_never_panics_on_near_valid_files(expr in "[a-z_.|()' 0-9=\\[\\]\"]{0,40}", path in "[a-zA-Z.\\[\\]0-9]{0,20}") {
        let engine = common::engine();
        let text = format!("[module]\nname='x'\n[source]\nquery='q'\nkey='k'\n[[resource]]\ntype='Patient'\n[resource.fields]\n\"{}\" = '''{}'''\n", path.replace('"', ""), expr);
        let (m, d) = parse_module("x.toml", &text, &engine);
        prop_assert!(m.is_some() || d.iter().any(|d| d.is_error()));
        if let Some(m) = m {
            let schema = RowSchema::new(["k", "a"]);
            let values = [ValueRef::Text("1"), ValueRef::Text("v")];
            let _ = m.evaluate(&RowView { schema: &schema, values: &values });
        }
    }

    #[test]
    fn library_functions_never_panic(s in "\\PC{0,30}") {
        let _ = ferry_map::funcs::dates::to_datetime(&s, 30, Some("Z"));
        let _ = ferry_map::funcs::numbers::decimal(&s);
        let _ = ferry_map::funcs::numbers::phone(&s);
        let _ = ferry_map::funcs::numbers::postal(&s);
        let _ = ferry_map::funcs::names::name_parts(&s);
        let _ = ferry_map::funcs::codes::ucum(&s);
    }

    #[test]
    fn valid_calendar_dates_round_trip(y in 1900u32..2100, m in 1u32..=12, d in 1u32..=28) {
        let us = format!("{m}/{d}/{y}");
        let iso = format!("{y:04}-{m:02}-{d:02}");
        prop_assert_eq!(ferry_map::funcs::dates::to_date(&us, 30).unwrap(), Some(iso.clone()));
        prop_assert_eq!(ferry_map::funcs::dates::to_date(&iso, 30).unwrap(), Some(iso));
    }
}

/// The run writes resources from templates (`template.rs`): every edge of the canonical form
/// (omitted values, compacted arrays, objects left empty, constant subtrees) must give the bytes
/// the canonical writer gives for the assembled JSON, and what a template cannot write must say
/// so instead of writing something else.
#[test]
fn templates_render_the_canonical_bytes_or_decline() {
    let engine = common::engine();
    let text = r#"
[module]
name = "t"
[source]
query = "SELECT 1"
key = "k"
[[resource]]
type = "Observation"
[resource.fields]
"status" = "'final'"
"code.coding[2].code" = "row.b"
"code.coding[0].system" = "'http://loinc.org'"
"code.coding[0].code" = "row.a"
"code.coding[1].display" = "row.b"
"code.text" = "row.c"
"note[0].text" = "row.c"
"valueQuantity.value" = "row.n | decimal"
"valueQuantity.unit" = "''"
"subject.reference" = "'Patient/' ~ row.k"
[[resource]]
type = "Basic"
name = "list"
[resource.fields]
"code" = "{'text': row.k}"
"#;
    let (m, d) = parse_module("t.toml", text, &engine);
    let m = m.unwrap_or_else(|| panic!("{d:?}"));
    let schema = RowSchema::new(["k", "a", "b", "c", "n"]);
    let cases: [[Option<&str>; 5]; 5] = [
        [
            Some("1"),
            Some("A"),
            Some("B"),
            Some("C é \"q\""),
            Some("97.50"),
        ],
        [Some("2"), None, Some("B"), None, Some("1,5")],
        [Some("3"), None, None, None, None],
        [Some("4"), Some("A"), None, Some("  "), Some("-0")],
        [Some("5"), None, Some("B"), Some("C"), Some("12")],
    ];
    let mut rendered = 0;
    for case in cases {
        let values: Vec<ValueRef<'_>> = case
            .iter()
            .map(|v| v.map(ValueRef::Text).unwrap_or(ValueRef::Null))
            .collect();
        let view = RowView {
            schema: &schema,
            values: &values,
        };
        let ferry_map::Evaluated::Migrated(built) = m.evaluate_fields(&view) else {
            panic!("{case:?}: not migrated");
        };
        let obs = &built[0];
        let mut canonical = Vec::new();
        ferry_fhir::write_canonical(&mut canonical, &m.assemble(obs));
        let mut out = b"prefix".to_vec();
        assert!(m.render(obs, &mut out), "{case:?}");
        assert_eq!(
            String::from_utf8_lossy(&out[6..]),
            String::from_utf8_lossy(&canonical),
            "{case:?}"
        );
        rendered += 1;
        // A field whose value is a list or a map: the template declines and appends nothing.
        let basic = &built[1];
        let mut out = b"prefix".to_vec();
        assert!(!m.render(basic, &mut out));
        assert_eq!(out, b"prefix");
    }
    assert_eq!(rendered, 5);
}

#[test]
fn a_modules_own_verify_limit_is_read_with_its_line_and_bad_ones_are_diagnostics() {
    let engine = common::engine();
    let base =
        std::fs::read_to_string(common::cases_dir().join("immunizations.module.toml")).unwrap();
    let with = |extra: &str| format!("{base}\n{extra}");
    let text = with("[verify]\nmax_exception_rate = 0.15\nreason = \"vaccine names wait\"\n");
    let (m, d) = parse_module("immunizations.toml", &text, &engine);
    let m = m.unwrap_or_else(|| panic!("{d:#?}"));
    let limit = m.verify.expect("the [verify] limit");
    assert_eq!(limit.max_exception_rate, 0.15);
    assert_eq!(limit.reason, "vaccine names wait");
    let line = text
        .lines()
        .position(|l| l.starts_with("max_exception_rate"))
        .unwrap()
        + 1;
    assert_eq!(limit.line, line);
    let (m, _) = parse_module("immunizations.toml", &base, &engine);
    assert!(m.unwrap().verify.is_none());

    for (extra, message) in [
        (
            "[verify]\nmax_exception_rate = 1.5\nreason = \"x\"\n",
            "`max_exception_rate` must be a number between 0 and 1",
        ),
        (
            "[verify]\nmax_exception_rate = \"5%\"\nreason = \"x\"\n",
            "`max_exception_rate` must be a number between 0 and 1",
        ),
        (
            "[verify]\nmax_exception_rate = 0.1\n",
            "`[verify]` needs `reason`",
        ),
        (
            "[verify]\nreason = \"x\"\n",
            "`[verify]` needs `max_exception_rate`",
        ),
        (
            "[verify]\nmax_exception_rate = 0.1\nreason = \" \"\n",
            "`reason` is empty",
        ),
        (
            "[verify]\nmax_exception_rate = 0.1\nreason = \"x\"\nmax_rate = 1\n",
            "unknown key `max_rate` in `[verify]`",
        ),
    ] {
        let (m, d) = parse_module("immunizations.toml", &with(extra), &engine);
        assert!(m.is_none(), "{extra}");
        assert!(
            d.iter()
                .any(|d| d.is_error() && d.message.starts_with(message)),
            "{extra}: {d:#?}"
        );
    }
}

#[test]
fn a_modules_load_setting_is_read_and_a_bad_one_is_a_diagnostic() {
    let engine = common::engine();
    let base =
        std::fs::read_to_string(common::cases_dir().join("immunizations.module.toml")).unwrap();
    let at = "name = \"immunizations\"\n";
    assert!(base.contains(at));
    let with = |load: &str| base.replacen(at, &format!("{at}load = {load}\n"), 1);
    let (m, _) = parse_module("immunizations.toml", &base, &engine);
    assert!(!m.unwrap().load_together, "batch is the default");
    let (m, d) = parse_module("immunizations.toml", &with("\"transaction\""), &engine);
    assert!(m.unwrap_or_else(|| panic!("{d:#?}")).load_together);
    let (m, _) = parse_module("immunizations.toml", &with("\"batch\""), &engine);
    assert!(!m.unwrap().load_together);
    let (m, d) = parse_module("immunizations.toml", &with("\"atomic\""), &engine);
    assert!(m.is_none());
    let text: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter().any(|t| t.contains(
            "`load = \"atomic\"` in `[module]`: expected \"batch\" (default) or \"transaction\""
        )),
        "{text:?}"
    );
}

/// `deleted = ...` in `[module]`: what a delta does with rows deleted since its base; report by
/// default, and `entered-in-error` only for types whose status has that code.
#[test]
fn a_modules_deleted_policy_is_read_and_checked_against_its_resource_types() {
    use ferry_map::DeletedPolicy;
    let engine = common::engine();
    let base =
        std::fs::read_to_string(common::cases_dir().join("immunizations.module.toml")).unwrap();
    let at = "name = \"immunizations\"\n";
    let with = |p: &str| base.replacen(at, &format!("{at}deleted = {p}\n"), 1);
    let (m, _) = parse_module("immunizations.toml", &base, &engine);
    assert_eq!(m.unwrap().deleted, DeletedPolicy::Report);
    for (p, want) in [
        ("\"delete\"", DeletedPolicy::Delete),
        ("\"entered-in-error\"", DeletedPolicy::EnteredInError),
        ("\"report\"", DeletedPolicy::Report),
    ] {
        let (m, d) = parse_module("immunizations.toml", &with(p), &engine);
        assert_eq!(m.unwrap_or_else(|| panic!("{d:#?}")).deleted, want);
    }
    let (m, d) = parse_module("immunizations.toml", &with("\"purge\""), &engine);
    assert!(m.is_none());
    assert!(
        d.iter()
            .any(|d| d.message.contains("`deleted = \"purge\"`")),
        "{d:#?}"
    );
    // A Patient has no entered-in-error status.
    let patient = base.replace("type = \"Immunization\"", "type = \"Patient\"");
    assert_ne!(patient, base);
    {
        let (_, d) = parse_module(
            "immunizations.toml",
            &patient.replacen(at, &format!("{at}deleted = \"entered-in-error\"\n"), 1),
            &engine,
        );
        assert!(
            d.iter()
                .any(|d| d.is_error() && d.message.contains("Patient has no status")),
            "{d:#?}"
        );
    }
}

/// A module's own `time_zone` (and policies) in `[module]` replace the project's for that
/// module alone; a bad one is a diagnostic at its line.
#[test]
fn a_modules_time_zone_overrides_the_projects() {
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("mappings");
    std::fs::create_dir(&maps).unwrap();
    let module = |name: &str, settings: &str| {
        format!(
            "[module]\nname = \"{name}\"\n{settings}\n[source]\nquery = \"SELECT * FROM t\"\nkey = \"k\"\n\
             [[resource]]\ntype = \"Observation\"\n[resource.fields]\n\"status\" = \"'final'\"\n\
             \"code.text\" = \"'x'\"\n\"effectiveDateTime\" = \"row.t | datetime\"\n"
        )
    };
    std::fs::write(maps.join("a_project.toml"), module("a_project", "")).unwrap();
    std::fs::write(
        maps.join("b_london.toml"),
        module(
            "b_london",
            "time_zone = \"Europe/London\"\nambiguous_time = \"later\"\nnonexistent_time = \"shift\"",
        ),
    )
    .unwrap();
    let mut o = options();
    o.local_time = ferry_map::LocalTime::zone("America/New_York");
    let (modules, diags) = load_project(&maps, &dir.path().join("none"), o);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let schema = RowSchema::new(["k", "t"]);
    let when = |m: &ferry_map::Module, t: &str| {
        let values = [ValueRef::Text("1"), ValueRef::Text(t)];
        match m.evaluate(&RowView {
            schema: &schema,
            values: &values,
        }) {
            RowOutcome::Migrated(r) => r[0]["effectiveDateTime"].as_str().unwrap().to_string(),
            other => format!("{other:?}"),
        }
    };
    assert_eq!(
        when(&modules[0], "2021-10-31 01:30"),
        "2021-10-31T01:30:00-04:00"
    );
    assert_eq!(
        when(&modules[1], "2021-10-31 01:30"),
        "2021-10-31T01:30:00+00:00"
    );
    assert_eq!(
        when(&modules[1], "2021-03-28 01:30"),
        "2021-03-28T02:30:00+01:00"
    );
    assert!(when(&modules[0], "2021-03-14 02:30").contains("does not exist"));

    std::fs::write(
        maps.join("c_bad.toml"),
        module("c_bad", "time_zone = \"Mars/Olympus\""),
    )
    .unwrap();
    let (_, diags) = load_project(&maps, &dir.path().join("none"), options());
    let bad: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(
        bad.iter().any(|d| d.contains("c_bad.toml:3:")
            && d.contains("time_zone: `Mars/Olympus` is not an IANA time zone")),
        "{bad:?}"
    );
}
