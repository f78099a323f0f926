//! Fuzzes the `checks/*.toml` comparative-search parser (`ferry verify`): any text is parsed
//! into searches or refused with an error naming the file and line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ =
            ferry_verify::search::parse_searches(std::path::Path::new("checks/fuzz.toml"), text);
    }
});
