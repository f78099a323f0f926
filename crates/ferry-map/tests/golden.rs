//! Golden cases: `cases/NAME.module.toml` (+ `NAME.input.json` rows) -> `NAME.expected.json`
//! (diagnostics and one outcome per row). Regenerate with `FERRY_UPDATE_GOLDEN=1` and review the diff.

mod common;

use std::path::Path;

use common::{cases_dir, engine, run_case};

#[test]
fn golden_cases_match() {
    let engine = engine();
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".module.toml"))
                .map(String::from)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 4, "cases found: {names:?}");
    let update = std::env::var_os("FERRY_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for name in &names {
        let actual = run_case(&engine, name);
        let expected_path = cases_dir().join(format!("{name}.expected.json"));
        let actual_text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        if update {
            std::fs::write(&expected_path, &actual_text).unwrap();
            continue;
        }
        let expected_text = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "missing {}: run with FERRY_UPDATE_GOLDEN=1",
                expected_path.display()
            )
        });
        let expected: serde_json::Value = serde_json::from_str(&expected_text).unwrap();
        if expected != actual {
            failures.push(format!(
                "{name}:\n--- expected\n{expected_text}\n--- actual\n{actual_text}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn same_input_gives_the_same_bytes() {
    // Determinism: the run's output must be byte-identical across runs (issue 4).
    let a = serde_json::to_vec(&run_case(&engine(), "immunizations")).unwrap();
    let b = serde_json::to_vec(&run_case(&engine(), "immunizations")).unwrap();
    assert_eq!(a, b);
    assert!(
        Path::new(&cases_dir())
            .join("immunizations.expected.json")
            .exists()
    );
}
