//! Dialect sniffing from the first bytes of a (decoded) delimited file.

use std::collections::HashMap;

/// The delimiters Ferry considers, in default order of preference.
pub const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];
/// Records of the sample used to sniff the delimiter.
const SAMPLE_RECORDS: usize = 1000;

/// How lines end in a file, as seen in its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTerminator {
    /// `\n`
    Lf,
    /// `\r\n`
    Crlf,
    /// A lone `\r` (classic Mac exports).
    Cr,
    /// More than one of the above.
    Mixed,
    /// No line break in the sample (a single line).
    None,
}

impl LineTerminator {
    pub fn as_str(self) -> &'static str {
        match self {
            LineTerminator::Lf => "LF",
            LineTerminator::Crlf => "CRLF",
            LineTerminator::Cr => "CR",
            LineTerminator::Mixed => "mixed",
            LineTerminator::None => "none",
        }
    }
}

/// Counts the kinds of line break in `sample`.
pub(crate) fn line_terminator(sample: &[u8]) -> LineTerminator {
    let (mut lf, mut crlf, mut cr) = (0u64, 0u64, 0u64);
    let mut i = 0;
    while let Some(&b) = sample.get(i) {
        match b {
            b'\n' => lf += 1,
            b'\r' if sample.get(i + 1) == Some(&b'\n') => {
                crlf += 1;
                i += 1;
            }
            // A `\r` that ends the sample may be the first half of a CRLF: not counted.
            b'\r' if i + 1 < sample.len() => cr += 1,
            _ => {}
        }
        i += 1;
    }
    match (lf > 0, crlf > 0, cr > 0) {
        (false, false, false) => LineTerminator::None,
        (true, false, false) => LineTerminator::Lf,
        (false, true, false) => LineTerminator::Crlf,
        (false, false, true) => LineTerminator::Cr,
        _ => LineTerminator::Mixed,
    }
}

/// Field counts of the records of `sample` parsed with `delimiter` (by the `csv` crate). When
/// the sample is not the whole file its last record may be cut short and is dropped (unless it
/// is the only one).
pub(crate) fn field_counts(sample: &[u8], complete: bool, delimiter: u8) -> Vec<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(sample);
    let mut record = csv::ByteRecord::new();
    let mut counts = Vec::new();
    while counts.len() < SAMPLE_RECORDS {
        match reader.read_byte_record(&mut record) {
            Ok(true) => counts.push(record.len()),
            Ok(false) | Err(_) => break,
        }
    }
    if !complete && counts.len() > 1 && reader.is_done() {
        counts.pop();
    }
    counts
}

/// The most frequent field count and how often it occurs (largest count wins ties).
fn mode(counts: &[usize]) -> Option<(usize, usize)> {
    let mut freq: HashMap<usize, usize> = HashMap::new();
    for &c in counts {
        *freq.entry(c).or_default() += 1;
    }
    freq.into_iter()
        .max_by_key(|&(count, times)| (times, count))
}

/// The delimiter whose field count is the most consistent across the sample's records (then
/// the one giving more fields, then the first in `preference`), if any gives two fields or more.
/// Returns it with the modal field count.
pub(crate) fn delimiter(sample: &[u8], complete: bool, preference: &[u8]) -> Option<(u8, usize)> {
    let mut best: Option<(u8, usize, u64)> = None;
    for &d in preference {
        let counts = field_counts(sample, complete, d);
        let Some((count, times)) = mode(&counts) else {
            continue;
        };
        if count < 2 {
            continue;
        }
        // Consistency in parts per million, to compare across delimiters.
        let consistency = (times as u64 * 1_000_000) / counts.len().max(1) as u64;
        let better = match best {
            None => true,
            Some((_, best_count, best_consistency)) => {
                (consistency, count) > (best_consistency, best_count)
            }
        };
        if better {
            best = Some((d, count, consistency));
        }
    }
    best.map(|(d, count, _)| (d, count))
}

/// Delimiter order for a file name: the one its extension suggests first.
pub(crate) fn preference_for(file_name: &str) -> Vec<u8> {
    let lower = file_name.to_ascii_lowercase();
    let first = if lower.ends_with(".tsv") || lower.ends_with(".tab") {
        Some(b'\t')
    } else if lower.ends_with(".psv") {
        Some(b'|')
    } else {
        None
    };
    let mut order: Vec<u8> = first.into_iter().collect();
    order.extend(DELIMITERS.iter().filter(|&&d| Some(d) != first));
    order
}

/// Shows a delimiter in a message.
pub(crate) fn show_delimiter(d: u8) -> String {
    match d {
        b'\t' => "tab".to_string(),
        b',' => "comma".to_string(),
        b';' => "semicolon".to_string(),
        b'|' => "pipe".to_string(),
        other if other.is_ascii_graphic() => format!("`{}`", other as char),
        other => format!("byte 0x{other:02X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(sample: &[u8]) -> Option<u8> {
        delimiter(sample, true, &DELIMITERS).map(|(d, _)| d)
    }

    #[test]
    fn sniffs_each_delimiter() {
        assert_eq!(sniff(b"a,b,c\n1,2,3\n4,5,6\n"), Some(b','));
        assert_eq!(sniff(b"a\tb\tc\n1\t2\t3\n"), Some(b'\t'));
        assert_eq!(sniff(b"a|b|c\n1|2|3\n"), Some(b'|'));
        assert_eq!(sniff(b"a;b;c\n1;2;3\n"), Some(b';'));
    }

    #[test]
    fn decimal_commas_do_not_fool_the_semicolon_sniff() {
        let sample = b"name;amount;rate\nx;1,5;2,25\ny;3;4,1\nz;1,75;2\n";
        assert_eq!(sniff(sample), Some(b';'));
    }

    #[test]
    fn commas_inside_quotes_do_not_count() {
        let sample = b"id|note\n1|\"a,b,c\"\n2|\"d,e\"\n3|f\n";
        assert_eq!(sniff(sample), Some(b'|'));
    }

    #[test]
    fn more_fields_win_when_equally_consistent() {
        assert_eq!(sniff(b"a\tb, c\tx\n1\t2, 3\ty\n"), Some(b'\t'));
    }

    #[test]
    fn single_column_has_no_delimiter() {
        assert_eq!(sniff(b"a\nb\nc\n"), None);
    }

    #[test]
    fn extension_sets_preference() {
        assert_eq!(preference_for("x.TSV")[0], b'\t');
        assert_eq!(preference_for("x.psv")[0], b'|');
        assert_eq!(preference_for("x.csv"), DELIMITERS.to_vec());
    }

    #[test]
    fn line_terminators() {
        assert_eq!(line_terminator(b"a\nb\n"), LineTerminator::Lf);
        assert_eq!(line_terminator(b"a\r\nb\r\n"), LineTerminator::Crlf);
        assert_eq!(line_terminator(b"a\rb\r"), LineTerminator::Cr);
        assert_eq!(line_terminator(b"a\r\nb\n"), LineTerminator::Mixed);
        assert_eq!(line_terminator(b"a,b"), LineTerminator::None);
    }
}
