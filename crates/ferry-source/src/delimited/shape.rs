//! Checks a record the `csv` crate parsed against its raw bytes, and names header columns.
//!
//! The `csv` crate is lenient: it keeps a quote inside an unquoted field (`ab"c`), drops the
//! quotes of a field that goes on after its closing quote (`"ab"c` -> `abc`), and ends a quoted
//! field at end of input without complaint. This module does not parse: it checks that the raw
//! bytes are exactly the parsed fields written back in one of the two forms the format allows
//! (bare, or quoted with doubled quotes), which tells those three cases apart.

use std::collections::HashSet;

const QUOTE: u8 = b'"';

/// What the raw bytes of one record say about its quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every field is bare or properly quoted. `stray_quote` is true when a bare field holds a
    /// quote character (kept literally).
    Regular { stray_quote: bool },
    /// Field `field` (0-based) is neither bare nor properly quoted: a quote closes in the middle
    /// of the field (`"ab"c`); the parsed value would not be the file's text.
    Irregular { field: usize },
    /// The quote opening field `field` at byte `open` of the raw record is never closed: the
    /// record runs to the end of the input.
    Unclosed { field: usize, open: usize },
}

/// Checks `raw` (a record's bytes, from its first byte to the end the parser consumed, maybe
/// with its line terminator) against the parsed `fields`.
pub(crate) fn check<'a>(
    raw: &[u8],
    fields: impl ExactSizeIterator<Item = &'a [u8]>,
    delimiter: u8,
) -> Shape {
    let count = fields.len();
    let mut p = 0usize;
    let mut stray_quote = false;
    for (i, field) in fields.enumerate() {
        let last = i + 1 == count;
        if raw.get(p) == Some(&QUOTE) {
            let open = p;
            p += 1;
            for &b in field {
                if raw.get(p) != Some(&b) {
                    return Shape::Irregular { field: i };
                }
                p += 1;
                if b == QUOTE {
                    if raw.get(p) != Some(&QUOTE) {
                        return Shape::Irregular { field: i };
                    }
                    p += 1;
                }
            }
            match raw.get(p) {
                None if last => return Shape::Unclosed { field: i, open },
                Some(&QUOTE) => p += 1,
                _ => return Shape::Irregular { field: i },
            }
        } else {
            let end = p.saturating_add(field.len());
            if raw.get(p..end) != Some(field) {
                return Shape::Irregular { field: i };
            }
            stray_quote |= field.contains(&QUOTE);
            p = end;
        }
        let rest = raw.get(p..).unwrap_or_default();
        if last {
            if !rest.iter().all(|&b| b == b'\r' || b == b'\n') {
                return Shape::Irregular { field: i };
            }
        } else if rest.first() == Some(&delimiter) {
            p += 1;
        } else {
            return Shape::Irregular { field: i };
        }
    }
    Shape::Regular { stray_quote }
}

/// A column renamed because its header was empty or repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Renamed {
    /// 1-based position of the column.
    pub position: usize,
    pub name: String,
    pub reason: &'static str,
}

/// Makes header names usable as column names: an empty name becomes `column_N` (N its 1-based
/// position); a repeated name (compared without regard to ASCII case, as SQL does) becomes
/// `name_2`, `name_3` ..., skipping any name already taken. Deterministic.
pub(crate) fn unique_names(raw: Vec<String>) -> (Vec<String>, Vec<Renamed>) {
    let mut renamed = Vec::new();
    let filled: Vec<(String, bool)> = raw
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            if name.is_empty() {
                (format!("column_{}", i + 1), true)
            } else {
                (name, false)
            }
        })
        .collect();
    let mut taken: HashSet<String> = filled.iter().map(|(n, _)| n.to_lowercase()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut names = Vec::with_capacity(filled.len());
    for (i, (name, was_empty)) in filled.into_iter().enumerate() {
        let key = name.to_lowercase();
        if seen.insert(key) {
            if was_empty {
                renamed.push(Renamed {
                    position: i + 1,
                    name: name.clone(),
                    reason: "empty header",
                });
            }
            names.push(name);
            continue;
        }
        let mut k = 2u64;
        let fresh = loop {
            let candidate = format!("{name}_{k}");
            let key = candidate.to_lowercase();
            if !taken.contains(&key) {
                taken.insert(key.clone());
                seen.insert(key);
                break candidate;
            }
            k += 1;
        };
        renamed.push(Renamed {
            position: i + 1,
            name: fresh.clone(),
            reason: if was_empty {
                "empty header"
            } else {
                "repeated header"
            },
        });
        names.push(fresh);
    }
    (names, renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(raw: &[u8], fields: &[&[u8]]) -> Shape {
        check(raw, fields.iter().copied(), b',')
    }

    #[test]
    fn bare_and_quoted_fields_are_regular() {
        assert_eq!(
            shape(b"a,\"b,c\",\"d\"\"e\"\r\n", &[b"a", b"b,c", b"d\"e"]),
            Shape::Regular { stray_quote: false }
        );
        assert_eq!(
            shape(b"\"\",x", &[b"", b"x"]),
            Shape::Regular { stray_quote: false }
        );
    }

    #[test]
    fn quote_inside_bare_field_is_stray() {
        assert_eq!(
            shape(b"ab\"c,d\n", &[b"ab\"c", b"d"]),
            Shape::Regular { stray_quote: true }
        );
    }

    #[test]
    fn quote_closed_mid_field_is_irregular() {
        assert_eq!(
            shape(b"\"ab\"c,d\n", &[b"abc", b"d"]),
            Shape::Irregular { field: 0 }
        );
    }

    #[test]
    fn quote_open_at_end_of_input_is_unclosed() {
        assert_eq!(
            shape(b"1,\"open\nmore\n", &[b"1", b"open\nmore\n"]),
            Shape::Unclosed { field: 1, open: 2 }
        );
        assert_eq!(
            shape(b"1,\"ab\"\"", &[b"1", b"ab\""]),
            Shape::Unclosed { field: 1, open: 2 }
        );
    }

    #[test]
    fn names_empty_and_repeated_headers_deterministically() {
        let raw = ["id", "", "Name", "name", "id", "id_2", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (names, renamed) = unique_names(raw);
        assert_eq!(
            names,
            [
                "id", "column_2", "Name", "name_2", "id_3", "id_2", "column_7"
            ]
        );
        assert_eq!(renamed.len(), 4);
        assert_eq!(renamed[0].position, 2);
        assert_eq!(renamed[1].reason, "repeated header");
    }

    #[test]
    fn empty_header_colliding_with_a_real_column_name_is_deduplicated() {
        let raw = vec!["column_2".to_string(), String::new()];
        let (names, _) = unique_names(raw);
        assert_eq!(names, ["column_2", "column_2_2"]);
    }
}
