//! Fuzzes the duplicate-patient inputs of `ferry dedupe`: a reviewer's `mappings/duplicates.toml`
//! and a target's FHIR Patient NDJSON export. Any bytes are read or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let mappings = dir.path().join("mappings");
    if std::fs::create_dir(&mappings).is_err()
        || std::fs::write(mappings.join("duplicates.toml"), data).is_err()
    {
        return;
    }
    let _ = ferry_link::load_merges(dir.path());
    let ndjson = dir.path().join("patients.ndjson");
    if std::fs::write(&ndjson, data).is_ok() {
        let mut set = ferry_link::RecordSet::new();
        let _ = ferry_link::read_fhir_patients(&ndjson, &mut set);
    }
});
