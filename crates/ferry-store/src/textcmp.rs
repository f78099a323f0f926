//! A heuristic for `ferry sql`: comparisons of a column with a numeric literal. Staged values
//! are text (lossless) and staged columns have no type affinity, so SQLite compares `'3'` with
//! `3` as different values: `WHERE res_id IN (3, 9)` silently returns nothing. This scanner
//! finds, outside string literals and comments, the shapes `col OP number`, `number OP col`
//! (`OP` one of `= == != <> < <= > >=`), `col [NOT] IN (number, ...)` and
//! `col [NOT] BETWEEN number`, with `col` bare, quoted or qualified (`t.col`); the caller keeps
//! those that name a staged column. It is a scanner, not a parser: a column written inside a
//! `CAST(...)` is not matched (that comparison is the fix), and an alias that shares a staged
//! column's name is matched (a false warning, never a changed result).

/// One token of the statement; only what the patterns need.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number,
    Op,
    Punct(char),
    Other,
}

fn tokens(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // The text between quotes, `q` doubled inside meaning itself.
    let quoted = |i: usize, q: u8| -> (String, usize) {
        let mut j = i + 1;
        let mut s = Vec::new();
        while j < b.len() {
            if b[j] == q {
                if b.get(j + 1) == Some(&q) {
                    s.push(q);
                    j += 2;
                    continue;
                }
                return (String::from_utf8_lossy(&s).into_owned(), j + 1);
            }
            s.push(b[j]);
            j += 1;
        }
        (String::from_utf8_lossy(&s).into_owned(), b.len())
    };
    while i < b.len() {
        let c = b[i];
        match c {
            _ if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                let (_, j) = quoted(i, b'\'');
                out.push(Tok::Other);
                i = j;
            }
            b'"' | b'`' => {
                let (s, j) = quoted(i, c);
                out.push(Tok::Ident(s));
                i = j;
            }
            b'[' => {
                let end = sql[i..].find(']').map(|e| i + e).unwrap_or(b.len());
                out.push(Tok::Ident(sql.get(i + 1..end).unwrap_or("").to_string()));
                i = end + 1;
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    // `1e+5`: the sign after an exponent belongs to the number.
                    if (b[i] == b'e' || b[i] == b'E')
                        && matches!(b.get(i + 1), Some(b'+') | Some(b'-'))
                    {
                        i += 1;
                    }
                    i += 1;
                }
                out.push(Tok::Number);
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                while i < b.len() && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                out.push(Tok::Number);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Tok::Ident(sql[s..i].to_string()));
            }
            b'=' | b'<' | b'>' | b'!' => {
                let two = matches!(
                    (c, b.get(i + 1)),
                    (b'=', Some(b'='))
                        | (b'<', Some(b'='))
                        | (b'<', Some(b'>'))
                        | (b'>', Some(b'='))
                        | (b'!', Some(b'='))
                );
                // `<<` and `>>` are shifts, not comparisons.
                if matches!((c, b.get(i + 1)), (b'<', Some(b'<')) | (b'>', Some(b'>'))) {
                    out.push(Tok::Other);
                    i += 2;
                    continue;
                }
                out.push(Tok::Op);
                i += if two { 2 } else { 1 };
            }
            b'(' | b')' | b',' | b'.' | b'-' | b'+' => {
                out.push(Tok::Punct(c as char));
                i += 1;
            }
            _ => {
                out.push(Tok::Other);
                i += 1;
            }
        }
    }
    out
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(w))
}

/// Whether a number (with an optional sign) starts at `i`.
fn number_at(t: &[Tok], i: usize) -> bool {
    match t.get(i) {
        Some(Tok::Number) => true,
        Some(Tok::Punct('-')) | Some(Tok::Punct('+')) => t.get(i + 1) == Some(&Tok::Number),
        _ => false,
    }
}

/// The column named by the identifier at `i`, when it is a column reference: not a function
/// call, not followed by `.` (a table or schema qualifier), not a keyword a number can follow.
fn column_at(t: &[Tok], i: usize) -> Option<&str> {
    let Some(Tok::Ident(name)) = t.get(i) else {
        return None;
    };
    if matches!(t.get(i + 1), Some(Tok::Punct('(')) | Some(Tok::Punct('.'))) {
        return None;
    }
    const KEYWORDS: &[&str] = &[
        "select", "where", "and", "or", "not", "on", "when", "then", "else", "limit", "offset",
        "by", "having", "case", "end", "is", "null", "as", "from", "in", "between", "like",
    ];
    if KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
        return None;
    }
    Some(name)
}

/// The columns (as written, unqualified) that the statement compares with a numeric literal,
/// in order of appearance, each once.
pub fn numeric_comparisons(sql: &str) -> Vec<String> {
    let t = tokens(sql);
    let mut out: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    };
    for i in 0..t.len() {
        // col OP number
        if let Some(col) = column_at(&t, i) {
            let op = t.get(i + 1) == Some(&Tok::Op);
            let mut j = i + 1;
            if is_word(t.get(j), "not") {
                j += 1;
            }
            let in_list = is_word(t.get(j), "in")
                && t.get(j + 1) == Some(&Tok::Punct('('))
                && number_at(&t, j + 2);
            let between = is_word(t.get(j), "between") && number_at(&t, j + 1);
            if (op && number_at(&t, i + 2)) || in_list || between {
                add(col);
            }
        }
        // number OP col (a column, possibly qualified: `3 = t.col`)
        if t.get(i) == Some(&Tok::Number)
            && !matches!(t.get(i.wrapping_sub(1)), Some(Tok::Op))
            && t.get(i + 1) == Some(&Tok::Op)
        {
            let mut j = i + 2;
            while matches!(t.get(j), Some(Tok::Ident(_))) && t.get(j + 1) == Some(&Tok::Punct('.'))
            {
                j += 2;
            }
            if let Some(col) = column_at(&t, j) {
                add(col);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numeric_comparisons as n;

    #[test]
    fn finds_the_usual_shapes() {
        assert_eq!(n("SELECT * FROM r WHERE res_id IN (3,9)"), ["res_id"]);
        assert_eq!(n("SELECT * FROM r WHERE res_id NOT IN (3, 9)"), ["res_id"]);
        assert_eq!(n("select * from r where r.\"res_id\" = 3"), ["res_id"]);
        assert_eq!(
            n("SELECT * FROM r WHERE age > 3 AND 40 >= t.weight"),
            ["age", "weight"]
        );
        assert_eq!(
            n("SELECT * FROM r WHERE x<>-1.5e+3 OR y BETWEEN 1 AND 2"),
            ["x", "y"]
        );
        assert_eq!(
            n("SELECT * FROM r WHERE `a` == 0x1F OR [b] != .5"),
            ["a", "b"]
        );
    }

    #[test]
    fn text_comparisons_casts_strings_and_comments_are_not_matched() {
        assert!(n("SELECT * FROM r WHERE res_id IN ('3','9')").is_empty());
        assert!(n("SELECT * FROM r WHERE CAST(res_id AS INTEGER) = 3").is_empty());
        assert!(n("SELECT * FROM r WHERE note = 'a = 3' -- b = 4\n/* c = 5 */").is_empty());
        assert!(n("SELECT * FROM r WHERE length(name) > 3 LIMIT 5 OFFSET 2").is_empty());
        assert!(n("SELECT count(*) FROM r GROUP BY x HAVING count(*) > 1").is_empty());
        assert!(n("SELECT a FROM r WHERE a IN (SELECT b FROM s)").is_empty());
        assert!(n("SELECT 1 = 1").is_empty());
        assert!(n("SELECT a << 2 FROM r").is_empty());
    }
}
