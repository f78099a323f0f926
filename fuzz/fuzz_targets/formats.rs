//! Fuzzes the profiler's value detectors (dates, numbers, codes, check digits): any text must be
//! classified or refused, never panic; a parsed date must be a real calendar day.
#![no_main]

use ferry_profile::formats;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((y, m, d)) = formats::parse_date(s) {
        assert!((1..=12).contains(&m), "month");
        assert!(d >= 1 && d <= formats::days_in_month(y, m), "day");
    }
    let _ = formats::date_format(s);
    let _ = formats::parse_datetime(s);
    let _ = formats::parse_time(s);
    let _ = formats::parse_number(s);
    let _ = formats::luhn_valid(s);
    let _ = formats::verhoeff_valid(s);
    let _ = formats::nhs_number_valid(s);
    let _ = formats::is_icd10cm(s);
    let _ = formats::is_icd9cm(s);
    let all = formats::Hints {
        ssn: true,
        zip: true,
        phone: true,
        vaccine: true,
        ndc: true,
        snomed: true,
        diagnosis: true,
        sex: true,
    };
    let _ = formats::classify(s, all);
    let _ = formats::classify(s, formats::Hints::default());
});
