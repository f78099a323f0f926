//! Fuzzes `ferry sample record FILE`: any bytes as a clinician's verdict form are read or refused
//! with every problem listed, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("verdicts.csv");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let packet = |id: u64| {
        Ok(Some(ferry_store::SamplePacket {
            id,
            run_id: 1,
            seed: 1,
            created_at: "2026-01-01T00:00:00Z".into(),
            packet_file: "reports/sample-0001.html".into(),
            form_file: "reports/sample-0001-verdicts.csv".into(),
            patients: vec!["1".into(), "2".into(), "17".into()],
        }))
    };
    let _ = ferry_signoff::read_form(&path, &packet);
});
