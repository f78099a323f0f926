//! Fuzzes the one NDJSON reader (`ferry_fhir::NdjsonReader`, used by verify, sample packets and
//! target exports): any bytes give lines with consistent numbers and offsets, or an error naming
//! the file and line; never a panic, never more than the line limit held.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = ferry_fhir::NdjsonReader::new(data, "fuzz.ndjson")
        .with_sha256()
        .with_max_line(4096);
    let mut expected_offset = 0u64;
    let mut number = 0u64;
    loop {
        match r.next_line() {
            Ok(Some(line)) => {
                number += 1;
                assert_eq!(line.number, number);
                assert_eq!(line.offset, expected_offset);
                assert!(line.bytes.len() as u64 <= line.len);
                expected_offset += line.len;
                let _ = line.parse::<serde_json::Value>();
            }
            Ok(None) => {
                assert_eq!(r.bytes_read(), data.len() as u64);
                break;
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
