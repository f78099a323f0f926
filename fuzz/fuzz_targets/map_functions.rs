//! Fuzzes the mapping functions that parse what a legacy column holds (UCUM units, hex and
//! base64 text, file names, identifiers with check digits, local date-times placed in an IANA
//! zone): any text gives a value or a refusal, never a panic. A UCUM code the filter returns
//! is valid UCUM; a date-time it returns carries a zone.
#![no_main]

use ferry_map::funcs::dates::{Ambiguous, LocalPolicy, LocalZone, Nonexistent};
use ferry_map::funcs::{attach, codes, dates, ids};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(unit)) = codes::ucum(s) {
        assert!(codes::valid_ucum(&unit).is_ok(), "ucum returned a code UCUM refuses");
    }
    let _ = codes::valid_ucum(s);
    if let Ok(Some(bytes)) = attach::from_hex(s) {
        let _ = attach::sha1_base64(&bytes);
    }
    let _ = attach::base64_text(s);
    let _ = attach::mime_type(s);
    let _ = ids::zero_pad(s, 10);
    let _ = ids::luhn(s);
    let _ = ids::npi(s);
    for (ambiguous, nonexistent) in [
        (Ambiguous::Earlier, Nonexistent::Exception),
        (Ambiguous::Later, Nonexistent::Shift),
        (Ambiguous::Exception, Nonexistent::Shift),
    ] {
        let policy = LocalPolicy {
            zone: LocalZone::named("America/New_York").ok(),
            ambiguous,
            nonexistent,
        };
        if let Ok(Some(dt)) = dates::to_datetime_with(s, 50, &policy)
            && dt.contains('T')
        {
            assert!(
                dt.ends_with('Z') || dt[dt.len().saturating_sub(6)..].starts_with(['+', '-']),
                "a date-time without a zone"
            );
        }
    }
});
