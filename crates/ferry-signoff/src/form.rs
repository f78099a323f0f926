//! The verdict form a clinician fills: a CSV file with one line per sampled patient,
//!
//! ```text
//! packet,patient,verdict,reviewer,comment
//! 3,1042,accept,Dr A. Jones,
//! 3,877,reject,Dr A. Jones,allergy to penicillin missing
//! ```
//!
//! `verdict` is `accept` or `reject` (any case; empty while not reviewed yet), `reviewer` is
//! required with a verdict. Reading checks every line and reports every problem with its line
//! number, never the values (they may be PHI).

use crate::SignoffError;
use ferry_store::{SamplePacket, VerdictInput};
use std::collections::HashSet;
use std::path::Path;

pub const HEADER: [&str; 5] = ["packet", "patient", "verdict", "reviewer", "comment"];
/// More problems than this are summarised (a wrong file would list thousands).
const MAX_PROBLEMS: usize = 50;

/// What a filled form holds once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormContents {
    pub packet: u64,
    pub verdicts: Vec<VerdictInput>,
    /// Patients of the packet with no verdict on the form (empty verdict or no line).
    pub pending: Vec<String>,
}

/// Writes a blank form for a packet (atomically).
pub fn write_form(packet: &SamplePacket, path: &Path) -> Result<(), SignoffError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let e = |e: csv::Error| SignoffError::write(path, std::io::Error::other(e));
    w.write_record(HEADER).map_err(e)?;
    let id = packet.id.to_string();
    for p in &packet.patients {
        w.write_record([id.as_str(), p.as_str(), "", "", ""])
            .map_err(e)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|x| SignoffError::write(path, std::io::Error::other(x.to_string())))?;
    crate::fsutil::write_atomic(path, &bytes, ferry_core::atomic::Contents::Phi)
}

/// Reads and checks a filled form. `packet(id)` looks a packet up in the workspace.
pub fn read_form(
    path: &Path,
    packet: &dyn Fn(u64) -> Result<Option<SamplePacket>, SignoffError>,
) -> Result<FormContents, SignoffError> {
    let file = std::fs::File::open(path).map_err(|e| SignoffError::read(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let mut problems: Vec<String> = Vec::new();
    let mut more = 0usize;
    let mut problem = |p: String| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(p);
        } else {
            more += 1;
        }
    };
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(form_error(path, vec![csv_problem(&e, 1)]));
        }
    };
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| names.iter().position(|n| n == name);
    let (Some(c_packet), Some(c_patient), Some(c_verdict), Some(c_reviewer)) = (
        col("packet"),
        col("patient"),
        col("verdict"),
        col("reviewer"),
    ) else {
        return Err(form_error(
            path,
            vec![format!(
                "line 1: the header must be `{}` (the form `ferry sample` wrote); columns are matched by name",
                HEADER.join(",")
            )],
        ));
    };
    let c_comment = col("comment");
    let mut found_packet: Option<SamplePacket> = None;
    let mut packet_id: Option<u64> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut verdicts = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut last_line = 1u64;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                problem(csv_problem(&e, last_line + 1));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(last_line + 1);
        last_line = line;
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let field = |i: usize| record.get(i).unwrap_or("");
        // The packet: the same on every line, and known.
        match field(c_packet).parse::<u64>() {
            Ok(id) => match packet_id {
                None => {
                    packet_id = Some(id);
                    match packet(id)? {
                        Some(p) => found_packet = Some(p),
                        None => problem(format!(
                            "line {line}, column `packet`: there is no sample packet {id} in this workspace (`ferry sample` prints the packet it makes)"
                        )),
                    }
                }
                Some(first) if first != id => problem(format!(
                    "line {line}, column `packet`: packet {id}, but earlier lines are packet {first}; record one packet's form at a time"
                )),
                Some(_) => {}
            },
            Err(_) => problem(format!(
                "line {line}, column `packet`: expected the packet number (as written by `ferry sample`)"
            )),
        }
        let key = field(c_patient).to_string();
        if key.is_empty() {
            problem(format!(
                "line {line}, column `patient`: the patient key is empty"
            ));
            continue;
        }
        if let Some(p) = &found_packet
            && !p.patients.contains(&key)
        {
            problem(format!(
                "line {line}, column `patient`: this patient key is not in packet {}; do not edit the keys the form was written with",
                p.id
            ));
            continue;
        }
        if !seen.insert(key.clone()) {
            problem(format!(
                "line {line}, column `patient`: the same patient appears on an earlier line; give one verdict per patient"
            ));
            continue;
        }
        let verdict = match field(c_verdict).to_ascii_lowercase().as_str() {
            "" => None,
            "accept" | "accepted" => Some("accept"),
            "reject" | "rejected" => Some("reject"),
            _ => {
                problem(format!(
                    "line {line}, column `verdict`: must be `accept` or `reject` (or empty while the chart is not reviewed)"
                ));
                continue;
            }
        };
        let reviewer = field(c_reviewer).to_string();
        let comment = c_comment.map(field).unwrap_or("").to_string();
        match verdict {
            None => {
                if !reviewer.is_empty() || !comment.is_empty() {
                    problem(format!(
                        "line {line}, column `verdict`: a reviewer or comment is given but no verdict; write `accept` or `reject`"
                    ));
                }
            }
            Some(v) => {
                if reviewer.is_empty() {
                    problem(format!(
                        "line {line}, column `reviewer`: a verdict needs the reviewer's name"
                    ));
                    continue;
                }
                verdicts.push(VerdictInput {
                    patient_key: key,
                    verdict: v.to_string(),
                    reviewer,
                    comment,
                });
            }
        }
    }
    if more > 0 {
        problems.push(format!("... and {more} more problems"));
    }
    if packet_id.is_none() && problems.is_empty() {
        problems.push("line 2: the form has no lines; fill the form `ferry sample` wrote".into());
    }
    if !problems.is_empty() {
        return Err(form_error(path, problems));
    }
    let Some(p) = found_packet else {
        return Err(form_error(path, vec!["line 2: no packet named".into()]));
    };
    let pending = p
        .patients
        .iter()
        .filter(|k| !verdicts.iter().any(|v| &v.patient_key == *k))
        .cloned()
        .collect();
    Ok(FormContents {
        packet: p.id,
        verdicts,
        pending,
    })
}

fn form_error(path: &Path, problems: Vec<String>) -> SignoffError {
    SignoffError::Form {
        path: path.to_path_buf(),
        problems,
    }
}

/// A CSV reading problem with its line, without the bytes that caused it.
fn csv_problem(e: &csv::Error, fallback_line: u64) -> String {
    let line = e.position().map(|p| p.line()).unwrap_or(fallback_line);
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            format!("line {line}: not valid UTF-8; save the form as CSV UTF-8")
        }
        csv::ErrorKind::Io(io) => format!("line {line}: cannot read the file: {io}"),
        _ => format!("line {line}: not valid CSV; save the form as CSV UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet() -> SamplePacket {
        SamplePacket {
            id: 3,
            run_id: 1,
            seed: 0,
            created_at: String::new(),
            packet_file: String::new(),
            form_file: String::new(),
            patients: vec!["10".into(), "11".into(), "12".into()],
        }
    }

    fn lookup(id: u64) -> Result<Option<SamplePacket>, SignoffError> {
        Ok((id == 3).then(packet))
    }

    fn read(text: &str) -> Result<FormContents, SignoffError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("verdicts.csv");
        std::fs::write(&p, text).unwrap();
        read_form(&p, &lookup)
    }

    #[test]
    fn the_written_form_reads_back_as_all_pending() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.csv");
        write_form(&packet(), &p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("packet,patient,verdict,reviewer,comment\n3,10,,,\n"),
            "{text}"
        );
        let got = read_form(&p, &lookup).unwrap();
        assert!(got.verdicts.is_empty());
        assert_eq!(got.pending, ["10", "11", "12"]);
    }

    #[test]
    fn verdicts_are_normalised_and_comments_kept() {
        let got = read(
            "\u{feff}packet,patient,verdict,reviewer,comment\n3,10, Accept ,Dr A,\n3,11,REJECTED,Dr B,\"med missing, dose wrong\"\n3,12,,,\n",
        )
        .unwrap();
        assert_eq!(got.packet, 3);
        assert_eq!(got.verdicts.len(), 2);
        assert_eq!(got.verdicts[0].verdict, "accept");
        assert_eq!(got.verdicts[1].verdict, "reject");
        assert_eq!(got.verdicts[1].comment, "med missing, dose wrong");
        assert_eq!(got.pending, ["12"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_line_and_no_values() {
        let e = read(
            "packet,patient,verdict,reviewer,comment\n3,10,maybe,Dr A,\n3,99,accept,Dr A,\n3,11,accept,,\n3,10,accept,Dr A,\nx,12,accept,Dr A,\n",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 2, column `verdict`"), "{msg}");
        assert!(msg.contains("line 3, column `patient`"), "{msg}");
        assert!(msg.contains("line 4, column `reviewer`"), "{msg}");
        assert!(msg.contains("line 5, column `patient`"), "{msg}");
        assert!(msg.contains("line 6, column `packet`"), "{msg}");
        assert!(
            !msg.contains("maybe") && !msg.contains("99"),
            "no values: {msg}"
        );
        assert!(msg.contains("nothing was recorded"), "{msg}");
    }

    #[test]
    fn an_unknown_packet_or_a_wrong_header_is_refused() {
        let e = read("packet,patient,verdict,reviewer,comment\n4,10,accept,Dr A,\n").unwrap_err();
        assert!(e.to_string().contains("no sample packet 4"), "{e}");
        let e = read("pkt,patient,verdict\n3,10,accept\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = read("packet,patient,verdict,reviewer,comment\n").unwrap_err();
        assert!(e.to_string().contains("no lines"), "{e}");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.csv");
        std::fs::write(
            &p,
            b"packet,patient,verdict,reviewer,comment\n3,10,accept,Dr \xff,\n",
        )
        .unwrap();
        let e = read_form(&p, &lookup).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    proptest::proptest! {
        /// Any bytes: an answer or an error, never a panic.
        #[test]
        fn any_form_gives_an_answer_or_an_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("v.csv");
            std::fs::write(&p, &bytes).unwrap();
            let _ = read_form(&p, &lookup);
        }
    }
}
