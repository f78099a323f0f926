//! Load-time scans of expression text: filter names after `|`, `row.COLUMN` references, literal
//! first arguments of `lookup(...)` and `ref(...)`. String literals are skipped. These feed
//! `ferry check`'s diagnostics (unknown filter, unknown column, missing concept map, unknown
//! module) with positions; minijinja resolves filters only at run time, so without this scan a
//! misspelt filter would surface only as per-row exceptions.

/// A name found in an expression, with its byte offset in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) offset: usize,
    pub(crate) name: String,
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) filters: Vec<Found>,
    pub(crate) columns: Vec<Found>,
    pub(crate) lookups: Vec<Found>,
    pub(crate) refs: Vec<Found>,
    /// Literal paths of `system('sid/mrn')`.
    pub(crate) systems: Vec<Found>,
    /// Identifiers called as functions: `name(`.
    pub(crate) calls: Vec<Found>,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reads a quoted literal starting at `i` (at the quote); returns (content, offset after it).
fn literal(bytes: &[u8], src: &str, i: usize) -> Option<(String, usize)> {
    let q = *bytes.get(i)?;
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes.get(j) {
            Some(b'\\') => j += 2,
            Some(c) if *c == q => return Some((src.get(i + 1..j)?.to_string(), j + 1)),
            _ => j += 1,
        }
    }
    None
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

pub(crate) fn scan(src: &str) -> Scan {
    let bytes = src.as_bytes();
    let mut out = Scan::default();
    let mut i = 0;
    let mut prev_dot = false;
    while i < bytes.len() {
        let Some(&b) = bytes.get(i) else { break };
        if b == b'\'' || b == b'"' {
            i = literal(bytes, src, i)
                .map(|(_, j)| j)
                .unwrap_or(bytes.len());
            prev_dot = false;
            continue;
        }
        if b == b'|' {
            let j = skip_ws(bytes, i + 1);
            let mut k = j;
            while bytes.get(k).is_some_and(|c| is_ident(*c)) {
                k += 1;
            }
            if k > j
                && let Some(name) = src.get(j..k)
            {
                out.filters.push(Found {
                    offset: j,
                    name: name.to_string(),
                });
                let a = skip_ws(bytes, k);
                if name == "lookup" && bytes.get(a) == Some(&b'(') {
                    let s = skip_ws(bytes, a + 1);
                    if let Some((lit, _)) = literal(bytes, src, s) {
                        out.lookups.push(Found {
                            offset: s + 1,
                            name: lit,
                        });
                    }
                }
            }
            i = k.max(i + 1);
            prev_dot = false;
            continue;
        }
        if is_ident_start(b) && prev_dot {
            // An attribute or method name (`x.family`, `x.upper()`).
            while bytes.get(i).is_some_and(|c| is_ident(*c)) {
                i += 1;
            }
            prev_dot = false;
            continue;
        }
        if is_ident_start(b) {
            let mut k = i;
            while bytes.get(k).is_some_and(|c| is_ident(*c)) {
                k += 1;
            }
            let name = src.get(i..k).unwrap_or("");
            let after = skip_ws(bytes, k);
            if name == "row" && bytes.get(after) == Some(&b'.') {
                let s = skip_ws(bytes, after + 1);
                let mut e = s;
                while bytes.get(e).is_some_and(|c| is_ident(*c)) {
                    e += 1;
                }
                if let Some(col) = src.get(s..e).filter(|c| !c.is_empty()) {
                    out.columns.push(Found {
                        offset: s,
                        name: col.to_string(),
                    });
                }
                i = e.max(k);
                prev_dot = false;
                continue;
            }
            if name == "row" && bytes.get(after) == Some(&b'[') {
                let s = skip_ws(bytes, after + 1);
                if let Some((col, _)) = literal(bytes, src, s) {
                    out.columns.push(Found {
                        offset: s + 1,
                        name: col,
                    });
                }
            }
            // Keywords before a parenthesis (`x if (a) else (b)`, `not (a and (b))`) are not calls.
            const KEYWORDS: [&str; 9] = [
                "if", "else", "and", "or", "not", "in", "is", "true", "false",
            ];
            if bytes.get(after) == Some(&b'(') && !KEYWORDS.contains(&name) {
                out.calls.push(Found {
                    offset: i,
                    name: name.to_string(),
                });
                let s = skip_ws(bytes, after + 1);
                if matches!(name, "lookup" | "ref" | "system")
                    && let Some((lit, _)) = literal(bytes, src, s)
                {
                    let f = Found {
                        offset: s + 1,
                        name: lit,
                    };
                    match name {
                        "lookup" => out.lookups.push(f),
                        "ref" => out.refs.push(f),
                        _ => out.systems.push(f),
                    }
                }
            }
            i = k;
            prev_dot = false;
            continue;
        }
        prev_dot = b == b'.' || (b.is_ascii_whitespace() && prev_dot);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_filters_columns_and_literal_arguments() {
        let s = scan(
            "row.vaccine_name | lookup('vaccine-names') ~ ' | fake' ~ ref('patients', row['patient_id'])|trim",
        );
        let names = |v: &[Found]| v.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&s.filters), vec!["lookup", "trim"]);
        assert_eq!(names(&s.columns), vec!["vaccine_name", "patient_id"]);
        assert_eq!(names(&s.lookups), vec!["vaccine-names"]);
        assert_eq!(names(&s.refs), vec!["patients"]);
        assert_eq!(s.columns[0].offset, 4);
        let s = scan("system('sid/cost-center') if row.cc else system( \"sid/x\")");
        assert_eq!(names(&s.systems), vec!["sid/cost-center", "sid/x"]);
        assert_eq!(s.systems[0].offset, 8);
    }

    #[test]
    fn attribute_names_are_not_calls_or_columns() {
        let s = scan("(row.name | name_parts).family.upper()");
        assert_eq!(s.columns.len(), 1);
        assert!(s.calls.is_empty(), "{:?}", s.calls);
    }

    #[test]
    fn keywords_before_parentheses_are_not_calls() {
        let s = scan("(row.a | decimal) if (row.a and (row.b or not (row.c))) else none");
        let calls: Vec<&str> = s.calls.iter().map(|c| c.name.as_str()).collect();
        assert!(calls.is_empty(), "{calls:?}");
    }

    #[test]
    fn unterminated_string_does_not_hang() {
        let s = scan("row.a | date('");
        assert_eq!(s.filters.len(), 1);
    }
}
