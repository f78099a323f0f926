//! Fuzzes `ferry.toml`: any text is read into a project's settings and its folders checked
//! against each other, or refused with an error naming the file and line; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = toml::from_str::<ferry_ops::Config>(text) else {
        return;
    };
    let project = ferry_ops::Project {
        root: std::path::PathBuf::from("/nonexistent/ferry-fuzz/project"),
        config,
    };
    let _ = project.check_folders();
    let _ = project.namespace();
    let _ = project.relative(&project.output_dir());
});
