//! Fuzzes `ferry map import`: any bytes given as a reviewed workbook must be imported or refused
//! with problems, never panic. (calamine and zip parse the container; Ferry checks the sheets.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("map.xlsx");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = ferry_report::xlsx::import_migration_map(&path);
});
