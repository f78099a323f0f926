//! Which target type a staged column gets: the declared type's counterpart only where every
//! staged value of the column reads back from it as exactly the same text; else text, bytes,
//! or bytes beside a text flag for a column holding both (or, in PostgreSQL, text with NUL).

use ferry_core::ValueRef;
use serde::Serialize;

/// The database a copy goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
}

/// How one staged column is stored in the copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "storage", content = "type", rename_all = "lowercase")]
pub enum Storage {
    /// Text as staged (`text` / `LONGTEXT` utf8mb4, binary collation).
    Text,
    /// Bytes as staged (`bytea` / `LONGBLOB`).
    Bytes,
    /// Text and bytes in one column: every cell's bytes in the column, and
    /// `<column>__ferry_text` true where the staged cell was text.
    Mixed,
    /// The declared type's counterpart (e.g. `integer`, `numeric(5,2)`, `date`): every value
    /// reads back as the same text.
    Typed(String),
}

/// A declared type Ferry can store natively when the values allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    Int {
        min: i128,
        max: i128,
        width: IntWidth,
    },
    Decimal {
        precision: u32,
        scale: u32,
    },
    Date,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntWidth {
    Tiny,
    Small,
    Medium,
    Int,
    Big,
}

/// What one pass over a column found: enough to choose its storage, in constant memory.
#[derive(Debug, Clone)]
pub struct ColumnScan {
    candidate: Option<Candidate>,
    unsigned: bool,
    has_text: bool,
    has_bytes: bool,
    has_nul: bool,
    fits: bool,
}

impl ColumnScan {
    pub fn new(declared: Option<&str>) -> ColumnScan {
        let (candidate, unsigned) = declared.map(parse_declared).unwrap_or((None, false));
        ColumnScan {
            candidate,
            unsigned,
            has_text: false,
            has_bytes: false,
            has_nul: false,
            fits: candidate.is_some(),
        }
    }

    pub fn see(&mut self, v: ValueRef<'_>) {
        match v {
            ValueRef::Null => {}
            ValueRef::Bytes(_) => {
                self.has_bytes = true;
                self.fits = false;
            }
            ValueRef::Text(s) => {
                self.has_text = true;
                if s.contains('\0') {
                    self.has_nul = true;
                }
                if self.fits {
                    self.fits = match self.candidate {
                        Some(c) => value_fits(c, s),
                        None => false,
                    };
                }
            }
        }
    }

    /// The storage in `engine`.
    pub fn storage(&self, engine: Engine) -> Storage {
        if self.has_text && self.has_bytes || (engine == Engine::Postgres && self.has_nul) {
            return Storage::Mixed;
        }
        if self.has_bytes {
            return Storage::Bytes;
        }
        match (self.fits && self.has_text, self.candidate) {
            (true, Some(c)) => Storage::Typed(type_name(c, self.unsigned, engine)),
            _ => Storage::Text,
        }
    }
}

fn parse_declared(declared: &str) -> (Option<Candidate>, bool) {
    let d = declared.trim().to_ascii_lowercase();
    let words: Vec<&str> = d.split_whitespace().collect();
    let unsigned = words.contains(&"unsigned");
    if words.contains(&"zerofill") {
        return (None, unsigned); // leading zeros are part of the value
    }
    let first = words.first().copied().unwrap_or("");
    let (base, args) = match first.find('(') {
        Some(i) => (&first[..i], first[i + 1..].trim_end_matches(')')),
        None => (first, ""),
    };
    let int = |width: IntWidth, bits: u32| {
        let (min, max) = if unsigned {
            (0, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        };
        Some(Candidate::Int { min, max, width })
    };
    let c = match base {
        "tinyint" => int(IntWidth::Tiny, 8),
        "smallint" => int(IntWidth::Small, 16),
        "mediumint" => int(IntWidth::Medium, 24),
        "int" | "integer" => int(IntWidth::Int, 32),
        "bigint" => int(IntWidth::Big, 64),
        "decimal" | "numeric" | "dec" | "fixed" => {
            let mut parts = args.split(',').map(|p| p.trim().parse::<u32>());
            let precision = match parts.next() {
                Some(Ok(p)) => p,
                Some(Err(_)) if args.is_empty() => 10,
                _ => return (None, unsigned),
            };
            let scale = match parts.next() {
                Some(Ok(s)) => s,
                None => 0,
                Some(Err(_)) => return (None, unsigned),
            };
            (1..=65)
                .contains(&precision)
                .then_some(())
                .filter(|_| scale <= precision && scale <= 30)
                .map(|_| Candidate::Decimal { precision, scale })
        }
        "date" => Some(Candidate::Date),
        "datetime" | "timestamp" if args.is_empty() => Some(Candidate::DateTime),
        _ => None,
    };
    (c, unsigned)
}

fn type_name(c: Candidate, unsigned: bool, engine: Engine) -> String {
    match (c, engine) {
        (Candidate::Int { width, .. }, Engine::Mysql) => {
            let base = match width {
                IntWidth::Tiny => "TINYINT",
                IntWidth::Small => "SMALLINT",
                IntWidth::Medium => "MEDIUMINT",
                IntWidth::Int => "INT",
                IntWidth::Big => "BIGINT",
            };
            if unsigned {
                format!("{base} UNSIGNED")
            } else {
                base.to_string()
            }
        }
        (Candidate::Int { max, .. }, Engine::Postgres) => {
            // The smallest PostgreSQL integer type holding the declared range.
            if max <= i16::MAX as i128 {
                "smallint".into()
            } else if max <= i32::MAX as i128 {
                "integer".into()
            } else if max <= i64::MAX as i128 {
                "bigint".into()
            } else {
                "numeric(20,0)".into()
            }
        }
        (Candidate::Decimal { precision, scale }, Engine::Postgres) => {
            format!("numeric({precision},{scale})")
        }
        (Candidate::Decimal { precision, scale }, Engine::Mysql) => {
            if unsigned {
                format!("DECIMAL({precision},{scale}) UNSIGNED")
            } else {
                format!("DECIMAL({precision},{scale})")
            }
        }
        (Candidate::Date, Engine::Postgres) => "date".into(),
        (Candidate::Date, Engine::Mysql) => "DATE".into(),
        (Candidate::DateTime, Engine::Postgres) => "timestamp".into(),
        (Candidate::DateTime, Engine::Mysql) => "DATETIME".into(),
    }
}

/// True when `s` is the exact text the target type gives back for its own value.
fn value_fits(c: Candidate, s: &str) -> bool {
    match c {
        Candidate::Int { min, max, .. } => {
            canonical_int(s) && s.parse::<i128>().is_ok_and(|n| n >= min && n <= max)
        }
        Candidate::Decimal { precision, scale } => canonical_decimal(s, precision, scale),
        Candidate::Date => valid_date(s),
        Candidate::DateTime => {
            s.len() == 19
                && s.as_bytes()[10] == b' '
                && valid_date(&s[..10])
                && valid_time(&s[11..])
        }
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `0`, `-12`, `345`: no sign on zero, no `+`, no leading zeros.
fn canonical_int(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    digits(body)
        && (body == "0" && body.len() == s.len() || !body.starts_with('0'))
        && body.len() <= 20
}

fn canonical_decimal(s: &str, precision: u32, scale: u32) -> bool {
    let negative = s.starts_with('-');
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let frac_ok = match (scale, frac) {
        (0, None) => true,
        (n, Some(f)) if n > 0 => f.len() == n as usize && digits(f),
        _ => false,
    };
    let int_ok = digits(int)
        && (int == "0" || !int.starts_with('0'))
        && int.len() as u32 <= precision - scale;
    let zero = int == "0" && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
    frac_ok && int_ok && !(negative && zero)
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (num(&s[..4]), num(&s[5..7]), num(&s[8..10])) else {
        return false;
    };
    if !(1000..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 {
        return false;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

fn valid_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    matches!((num(&s[..2]), num(&s[3..5]), num(&s[6..8])), (Some(h), Some(m), Some(sec)) if h < 24 && m < 60 && sec < 60)
}

fn num(s: &str) -> Option<u32> {
    digits(s).then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(declared: &str, values: &[ValueRef<'_>], engine: Engine) -> Storage {
        let mut c = ColumnScan::new(Some(declared));
        for v in values {
            c.see(*v);
        }
        c.storage(engine)
    }

    #[test]
    fn typed_only_when_every_value_round_trips() {
        use ValueRef::{Bytes, Null, Text};
        let pg = Engine::Postgres;
        assert_eq!(
            storage("int(11)", &[Text("1"), Text("-20"), Null], pg),
            Storage::Typed("integer".into())
        );
        assert_eq!(storage("int(11)", &[Text("007")], pg), Storage::Text);
        assert_eq!(storage("int(11)", &[Text("")], pg), Storage::Text);
        assert_eq!(storage("int(11)", &[Text("-0")], pg), Storage::Text);
        assert_eq!(storage("int(11)", &[Text("4294967295")], pg), Storage::Text);
        assert_eq!(storage("int(11)", &[Null], pg), Storage::Text);
        assert_eq!(
            storage("int(10) unsigned", &[Text("4294967295")], Engine::Mysql),
            Storage::Typed("INT UNSIGNED".into())
        );
        assert_eq!(storage("int(5) zerofill", &[Text("5")], pg), Storage::Text);
        assert_eq!(
            storage("decimal(5,2)", &[Text("12.50"), Text("-1.00")], pg),
            Storage::Typed("numeric(5,2)".into())
        );
        assert_eq!(storage("decimal(5,2)", &[Text("12.5")], pg), Storage::Text);
        assert_eq!(storage("decimal(5,2)", &[Text("-0.00")], pg), Storage::Text);
        assert_eq!(
            storage("decimal(5,2)", &[Text("1234.00")], pg),
            Storage::Text
        );
        assert_eq!(
            storage("date", &[Text("2024-02-29")], pg),
            Storage::Typed("date".into())
        );
        assert_eq!(storage("date", &[Text("2023-02-29")], pg), Storage::Text);
        assert_eq!(storage("date", &[Text("0000-00-00")], pg), Storage::Text);
        assert_eq!(
            storage("datetime", &[Text("2024-01-31 23:59:59")], Engine::Mysql),
            Storage::Typed("DATETIME".into())
        );
        assert_eq!(
            storage("datetime", &[Text("2024-01-31T23:59:59")], pg),
            Storage::Text
        );
        assert_eq!(storage("varchar(10)", &[Text("x")], pg), Storage::Text);
        assert_eq!(storage("blob", &[Bytes(b"\xff")], pg), Storage::Bytes);
        assert_eq!(
            storage("text", &[Bytes(b"\xff"), Text("a")], pg),
            Storage::Mixed
        );
        assert_eq!(storage("text", &[Text("a\0b")], pg), Storage::Mixed);
        assert_eq!(
            storage("text", &[Text("a\0b")], Engine::Mysql),
            Storage::Text
        );
    }
}
