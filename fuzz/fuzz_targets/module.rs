//! Fuzzes the mapping module parser: any text must give a module or diagnostics, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn engine() -> &'static ferry_map::Engine {
    static ENGINE: OnceLock<ferry_map::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let ids: Arc<ferry_map::IdFn> =
            Arc::new(|m: &str, t: &str, k: &str| format!("{m}-{t}-{k}"));
        ferry_map::Engine::new(ferry_map::EngineConfig::new(ids)).expect("engine")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (_module, _diagnostics) = ferry_map::parse_module("fuzz.module.toml", text, engine());
});
