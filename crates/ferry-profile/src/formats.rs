//! Value formats: dates, numbers and the code systems of health data, as pure functions.
//!
//! Everything here works on a borrowed `&str`, allocates nothing and never panics, so the
//! profiler can call it on every value and the audit crate can reuse it.
//!
//! Format names (returned by [`Shape::name`] and [`date_format`]) are stable: they are written
//! into profiles as `FormatShare.format`.
//!
//! Two-digit years (`DD-Mon-YY`): `00..=29` are read as `2000..=2029` and `30..=99` as
//! `1930..=1999` (the window Windows and most legacy EHR exports use, see
//! [`TWO_DIGIT_YEAR_PIVOT`]). A date of birth written `15-Mar-25` is therefore 2025: such values
//! are ambiguous in the source and the profile says so by reporting the `date:DD-Mon-YY` format.

/// Two-digit years up to and including this value are 20YY, the others 19YY.
pub const TWO_DIGIT_YEAR_PIVOT: u8 = 29;

/// The smallest and largest year accepted in a date (a wider range is almost always a typo or
/// a number that only looks like a date, such as an 8-digit identifier).
pub const MIN_YEAR: i32 = 1800;
pub const MAX_YEAR: i32 = 2199;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

// ------------------------------------------------------------------------------------------
// Calendar helpers
// ------------------------------------------------------------------------------------------

/// Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1-12) of `year`; 0 for an invalid month.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a (valid) civil date.
pub use ferry_core::calendar::days_from_civil;

fn valid_ymd(y: i32, m: u8, d: u8) -> Option<(i32, u8, u8)> {
    if (MIN_YEAR..=MAX_YEAR).contains(&y) && d >= 1 && d <= days_in_month(y, m) {
        Some((y, m, d))
    } else {
        None
    }
}

// ------------------------------------------------------------------------------------------
// Small byte helpers
// ------------------------------------------------------------------------------------------

#[inline]
fn all_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// The value of an ASCII digit run (at most 9 digits so it cannot overflow); None otherwise.
#[inline]
fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

fn month_abbrev(b: &[u8]) -> Option<u8> {
    if b.len() != 3 {
        return None;
    }
    let l = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    MONTHS.iter().position(|m| **m == l).map(|i| i as u8 + 1)
}

/// Splits `b` on `sep` into exactly three parts.
#[inline]
fn split3(b: &[u8], sep: u8) -> Option<(&[u8], &[u8], &[u8])> {
    let i = b.iter().position(|&c| c == sep)?;
    let rest = b.get(i + 1..)?;
    let j = rest.iter().position(|&c| c == sep)?;
    let (a, r) = (b.get(..i)?, rest);
    let (m, z) = (r.get(..j)?, r.get(j + 1..)?);
    if z.contains(&sep) {
        return None;
    }
    Some((a, m, z))
}

// ------------------------------------------------------------------------------------------
// Dates and times
// ------------------------------------------------------------------------------------------

/// A recognised date layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateLayout {
    /// `MM/DD/YYYY`
    Mdy,
    /// `M/D/YYYY` (at least one part without its leading zero)
    MdyShort,
    /// `YYYY-MM-DD`
    Iso,
    /// `DD-Mon-YY`
    DMonYy,
    /// `DD-Mon-YYYY`
    DMonYyyy,
    /// `YYYYMMDD`
    Compact,
    /// `DD.MM.YYYY`
    Dots,
}

fn parse_date_layout(s: &str) -> Option<((i32, u8, u8), DateLayout)> {
    let b = s.as_bytes();
    match b.len() {
        8 if all_digits(b) => {
            let y = num(b.get(0..4)?)? as i32;
            let m = num(b.get(4..6)?)? as u8;
            let d = num(b.get(6..8)?)? as u8;
            valid_ymd(y, m, d).map(|v| (v, DateLayout::Compact))
        }
        8..=10 if b.contains(&b'/') => {
            let (m, d, y) = split3(b, b'/')?;
            if y.len() != 4 || m.is_empty() || m.len() > 2 || d.is_empty() || d.len() > 2 {
                return None;
            }
            let v = valid_ymd(num(y)? as i32, num(m)? as u8, num(d)? as u8)?;
            let layout = if m.len() == 2 && d.len() == 2 {
                DateLayout::Mdy
            } else {
                DateLayout::MdyShort
            };
            Some((v, layout))
        }
        10 if b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') => {
            let y = num(b.get(0..4)?)? as i32;
            let m = num(b.get(5..7)?)? as u8;
            let d = num(b.get(8..10)?)? as u8;
            valid_ymd(y, m, d).map(|v| (v, DateLayout::Iso))
        }
        10 if b.get(2) == Some(&b'.') && b.get(5) == Some(&b'.') => {
            let d = num(b.get(0..2)?)? as u8;
            let m = num(b.get(3..5)?)? as u8;
            let y = num(b.get(6..10)?)? as i32;
            valid_ymd(y, m, d).map(|v| (v, DateLayout::Dots))
        }
        8..=11 if b.contains(&b'-') => {
            let (d, mon, y) = split3(b, b'-')?;
            if d.is_empty() || d.len() > 2 {
                return None;
            }
            let m = month_abbrev(mon)?;
            let day = num(d)? as u8;
            match y.len() {
                2 => {
                    let yy = num(y)? as u8;
                    let year = if yy <= TWO_DIGIT_YEAR_PIVOT {
                        2000 + i32::from(yy)
                    } else {
                        1900 + i32::from(yy)
                    };
                    valid_ymd(year, m, day).map(|v| (v, DateLayout::DMonYy))
                }
                4 => valid_ymd(num(y)? as i32, m, day).map(|v| (v, DateLayout::DMonYyyy)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Parses a date in any supported layout (`MM/DD/YYYY`, `M/D/YYYY`, `YYYY-MM-DD`, `DD-Mon-YY`,
/// `DD-Mon-YYYY`, `YYYYMMDD`, `DD.MM.YYYY`), checking the day against the month and leap years
/// and the year against [`MIN_YEAR`]..=[`MAX_YEAR`]. Zero dates and datetimes give `None`.
pub fn parse_date(s: &str) -> Option<(i32, u8, u8)> {
    parse_date_layout(s).map(|(v, _)| v)
}

/// `HH:MM` or `HH:MM:SS` (optionally `.fraction`) as seconds since midnight.
pub fn parse_time(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    let (hms, _frac) = match b.iter().position(|&c| c == b'.') {
        Some(i) => {
            let f = b.get(i + 1..)?;
            if !all_digits(f) || f.len() > 9 {
                return None;
            }
            (b.get(..i)?, f)
        }
        None => (b, &b""[..]),
    };
    let (h, m, sec) = match hms.len() {
        5 if hms.get(2) == Some(&b':') => (num(hms.get(0..2)?)?, num(hms.get(3..5)?)?, 0),
        8 if hms.get(2) == Some(&b':') && hms.get(5) == Some(&b':') => (
            num(hms.get(0..2)?)?,
            num(hms.get(3..5)?)?,
            num(hms.get(6..8)?)?,
        ),
        _ => return None,
    };
    if h < 24 && m < 60 && sec < 61 {
        Some(h * 3600 + m * 60 + sec)
    } else {
        None
    }
}

/// A recognised datetime layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateTimeLayout {
    /// `YYYY-MM-DD HH:MM[:SS[.f]]`
    IsoSpace,
    /// `YYYY-MM-DDTHH:MM[:SS[.f]][Z]`
    IsoT,
    /// `MM/DD/YYYY HH:MM[:SS]` (also `M/D/YYYY`)
    Mdy,
}

fn parse_datetime_layout(s: &str) -> Option<((i32, u8, u8), u32, DateTimeLayout)> {
    let b = s.as_bytes();
    if b.len() < 15 || b.len() > 40 {
        return None;
    }
    let sep = b.iter().position(|&c| c == b' ' || c == b'T')?;
    let date = s.get(..sep)?;
    let mut time = s.get(sep + 1..)?;
    let t_sep = b.get(sep) == Some(&b'T');
    if t_sep {
        time = time.strip_suffix('Z').unwrap_or(time);
    }
    let (ymd, dl) = parse_date_layout(date)?;
    let secs = parse_time(time)?;
    let layout = match (dl, t_sep) {
        (DateLayout::Iso, false) => DateTimeLayout::IsoSpace,
        (DateLayout::Iso, true) => DateTimeLayout::IsoT,
        (DateLayout::Mdy | DateLayout::MdyShort, false) => DateTimeLayout::Mdy,
        _ => return None,
    };
    Some((ymd, secs, layout))
}

/// Parses `YYYY-MM-DD HH:MM:SS` (also with `T`, a fraction, a trailing `Z`, or without
/// seconds) and `MM/DD/YYYY HH:MM[:SS]`. Returns the date and the seconds since midnight.
pub fn parse_datetime(s: &str) -> Option<((i32, u8, u8), u32)> {
    parse_datetime_layout(s).map(|(d, t, _)| (d, t))
}

/// The legacy "zero date": `00/00/0000`, `0000-00-00`, `00000000`, `0000-00-00 00:00:00`.
pub fn is_zero_date(s: &str) -> bool {
    matches!(
        s,
        "00/00/0000"
            | "0000-00-00"
            | "00000000"
            | "0000-00-00 00:00:00"
            | "00-00-0000"
            | "0/0/0000"
    )
}

/// The stable format name of a date, datetime or zero date (`date:MM/DD/YYYY`,
/// `date:M/D/YYYY`, `date:YYYY-MM-DD`, `date:DD-Mon-YY`, `date:DD-Mon-YYYY`, `date:YYYYMMDD`,
/// `date:DD.MM.YYYY`, `date:zero`, `datetime:YYYY-MM-DD HH:MM:SS`,
/// `datetime:YYYY-MM-DDTHH:MM:SS`, `datetime:MM/DD/YYYY HH:MM:SS`); `None` when `s` is no date.
pub fn date_format(s: &str) -> Option<&'static str> {
    if is_zero_date(s) {
        return Some(Shape::DateZero.name());
    }
    if let Some((_, l)) = parse_date_layout(s) {
        return Some(date_shape(l).name());
    }
    parse_datetime_layout(s).map(|(_, _, l)| datetime_shape(l).name())
}

fn date_shape(l: DateLayout) -> Shape {
    match l {
        DateLayout::Mdy => Shape::DateMdy,
        DateLayout::MdyShort => Shape::DateMdyShort,
        DateLayout::Iso => Shape::DateIso,
        DateLayout::DMonYy => Shape::DateDMonYy,
        DateLayout::DMonYyyy => Shape::DateDMonYyyy,
        DateLayout::Compact => Shape::DateCompact,
        DateLayout::Dots => Shape::DateDots,
    }
}

fn datetime_shape(l: DateTimeLayout) -> Shape {
    match l {
        DateTimeLayout::IsoSpace => Shape::DateTimeIso,
        DateTimeLayout::IsoT => Shape::DateTimeIsoT,
        DateTimeLayout::Mdy => Shape::DateTimeMdy,
    }
}

// ------------------------------------------------------------------------------------------
// Numbers
// ------------------------------------------------------------------------------------------

fn strip_sign(b: &[u8]) -> &[u8] {
    match b.first() {
        Some(b'-' | b'+') => b.get(1..).unwrap_or_default(),
        _ => b,
    }
}

/// An optional sign and ASCII digits.
pub fn is_integer(s: &str) -> bool {
    all_digits(strip_sign(s.as_bytes()))
}

/// An optional sign, digits, `.` and digits (`1.5`, `-0.25`, `.5`, `3.`); not an integer.
pub fn is_decimal(s: &str) -> bool {
    is_decimal_with(s.as_bytes(), b'.')
}

/// A decimal written with a comma (`3,14`, `-0,5`), as European systems export them.
/// `1,234` is ambiguous (thousands separator or decimal comma) and counts as a decimal comma.
pub fn is_decimal_comma(s: &str) -> bool {
    is_decimal_with(s.as_bytes(), b',')
}

fn is_decimal_with(b: &[u8], point: u8) -> bool {
    let b = strip_sign(b);
    let Some(i) = b.iter().position(|&c| c == point) else {
        return false;
    };
    let (int, frac) = (
        b.get(..i).unwrap_or_default(),
        b.get(i + 1..).unwrap_or_default(),
    );
    (!int.is_empty() || !frac.is_empty())
        && int.iter().all(u8::is_ascii_digit)
        && frac.iter().all(u8::is_ascii_digit)
}

/// An integer's value when it fits in `i64`.
pub fn parse_integer(s: &str) -> Option<i64> {
    if is_integer(s) { s.parse().ok() } else { None }
}

/// The value of an integer, decimal or decimal-comma number.
pub fn parse_number(s: &str) -> Option<f64> {
    if is_integer(s) || is_decimal(s) {
        return s.parse().ok();
    }
    if is_decimal_comma(s) {
        let mut buf = [0u8; 64];
        let b = s.as_bytes();
        let dst = buf.get_mut(..b.len())?;
        for (d, &c) in dst.iter_mut().zip(b) {
            *d = if c == b',' { b'.' } else { c };
        }
        return std::str::from_utf8(dst).ok()?.parse().ok();
    }
    None
}

/// Whether an integer is written canonically (no sign `+`, no leading zeros, `-0` excluded):
/// only then do text equality and number equality agree.
pub fn is_canonical_integer(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = match b.first() {
        Some(b'-') => b.get(1..).unwrap_or_default(),
        _ => b,
    };
    all_digits(digits)
        && digits.len() <= 18
        && (digits.len() == 1 || digits.first() != Some(&b'0'))
        && !(b.first() == Some(&b'-') && digits == b"0")
}

/// `Y`/`N`/`T`/`F`/`yes`/`no`/`true`/`false` in any case.
pub fn is_boolean(s: &str) -> bool {
    matches!(s.len(), 1..=5)
        && ["y", "n", "t", "f", "yes", "no", "true", "false"]
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
}

/// The boolean spellings, one bit each (`y`, `n`, `t`, `f`, `yes`, `no`, `true`, `false`), in
/// the order of [`is_boolean`]'s list: a column records which it saw.
const BOOLEAN_WORDS: [&str; 8] = ["y", "n", "t", "f", "yes", "no", "true", "false"];

/// The bit of a boolean spelling (0 when `s` is none).
pub fn boolean_token(s: &str) -> u16 {
    BOOLEAN_WORDS
        .iter()
        .position(|w| s.eq_ignore_ascii_case(w))
        .map_or(0, |i| 1 << i)
}

/// The bits of the integers `0` and `1`, after the words'.
pub const ZERO_ONE_BITS: [u16; 2] = [1 << 8, 1 << 9];

/// Whether both halves of some boolean pair were seen (`Y` and `N`, `T` and `F`, ...).
pub fn boolean_pair(bits: u16) -> bool {
    (0..4).any(|i| bits & (0b11 << (2 * i)) == 0b11 << (2 * i))
}

// ------------------------------------------------------------------------------------------
// Check digits
// ------------------------------------------------------------------------------------------

/// The Luhn (mod 10) check over the digits of `s` (at least 2 digits, digits only).
pub fn luhn_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || !all_digits(b) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b.iter().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// The Verhoeff check over the digits of `s` (check digit last; digits only).
pub fn verhoeff_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || !all_digits(b) {
        return false;
    }
    let mut c = 0usize;
    for (i, &ch) in b.iter().rev().enumerate() {
        let d = usize::from(ch - b'0');
        let p = VERHOEFF_P[i % 8][d];
        c = usize::from(VERHOEFF_D[c][usize::from(p)]);
    }
    c == 0
}

/// A UK NHS number: 10 digits (optionally grouped 3-3-4 with spaces or dashes) whose last digit
/// is the mod 11 check of the first nine (weights 10..2; a check of 10 is never issued).
pub fn nhs_number_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut digits = [0u8; 10];
    match b.len() {
        10 if all_digits(b) => digits.copy_from_slice(b),
        12 => {
            let sep = b.get(3).copied();
            if !matches!(sep, Some(b' ' | b'-')) || b.get(7).copied() != sep {
                return false;
            }
            let (Some(a), Some(m), Some(z)) = (b.get(0..3), b.get(4..7), b.get(8..12)) else {
                return false;
            };
            if !(all_digits(a) && all_digits(m) && all_digits(z)) {
                return false;
            }
            digits[..3].copy_from_slice(a);
            digits[3..6].copy_from_slice(m);
            digits[6..].copy_from_slice(z);
        }
        _ => return false,
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, &c)| u32::from(c - b'0') * (10 - i as u32))
        .sum();
    let check = 11 - (sum % 11);
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == u32::from(digits[9] - b'0')
}

// ------------------------------------------------------------------------------------------
// Codes
// ------------------------------------------------------------------------------------------

/// ICD-10-CM shape: a letter, a digit, a letter or digit, then optionally `.` and 1-4 letters or
/// digits (or the same 1-4 characters without the dot). Upper case only.
pub fn is_icd10cm(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 3 || b.len() > 8 {
        return false;
    }
    let up_alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    if !(b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && up_alnum(&b[2])) {
        return false;
    }
    match b.get(3) {
        None => true,
        Some(b'.') => {
            let rest = b.get(4..).unwrap_or_default();
            (1..=4).contains(&rest.len()) && rest.iter().all(up_alnum)
        }
        Some(_) => {
            let rest = b.get(3..).unwrap_or_default();
            rest.len() <= 4 && rest.iter().all(up_alnum)
        }
    }
}

/// ICD-9-CM: `NNN` with optional `.N` or `.NN`; V codes `VNN[.N[N]]`; E codes `ENNN[.N]`.
pub fn is_icd9cm(s: &str) -> bool {
    let b = s.as_bytes();
    let (head, tail) = match b.iter().position(|&c| c == b'.') {
        Some(i) => (
            b.get(..i).unwrap_or_default(),
            Some(b.get(i + 1..).unwrap_or_default()),
        ),
        None => (b, None),
    };
    let (max_tail, ok_head) = match head.first() {
        Some(b'V' | b'v') => (
            2,
            head.len() == 3 && all_digits(head.get(1..).unwrap_or_default()),
        ),
        Some(b'E' | b'e') => (
            1,
            head.len() == 4 && all_digits(head.get(1..).unwrap_or_default()),
        ),
        _ => (2, head.len() == 3 && all_digits(head)),
    };
    ok_head
        && match tail {
            None => true,
            Some(t) => (1..=max_tail).contains(&t.len()) && all_digits(t),
        }
}

/// LOINC code `N{1,5}-N` whose last digit is the mod 10 (Luhn) check of the number.
pub fn is_loinc(s: &str) -> bool {
    let b = s.as_bytes();
    let n = b.len();
    if !(3..=7).contains(&n) || b.get(n - 2) != Some(&b'-') {
        return false;
    }
    let (Some(body), Some(check)) = (b.get(..n - 2), b.get(n - 1)) else {
        return false;
    };
    if body.is_empty() || !all_digits(body) || !check.is_ascii_digit() {
        return false;
    }
    let mut buf = [0u8; 6];
    let Some(dst) = buf.get_mut(..body.len() + 1) else {
        return false;
    };
    dst[..body.len()].copy_from_slice(body);
    dst[body.len()] = *check;
    std::str::from_utf8(dst).is_ok_and(luhn_valid)
}

/// CVX vaccine code: 1-3 digits. Weak on its own: only meaningful in a column whose name says
/// vaccines.
pub fn is_cvx(s: &str) -> bool {
    (1..=3).contains(&s.len()) && all_digits(s.as_bytes())
}

/// NDC: 10 digits as 4-4-2, 5-3-2 or 5-4-1, or 11 digits as 5-4-2 (dashes required), or
/// 11 plain digits when `allow_plain` (a column named for NDC).
pub fn is_ndc(s: &str, allow_plain: bool) -> bool {
    let b = s.as_bytes();
    if allow_plain && b.len() == 11 && all_digits(b) {
        return true;
    }
    let Some((a, m, z)) = split3(b, b'-') else {
        return false;
    };
    all_digits(a)
        && all_digits(m)
        && all_digits(z)
        && matches!(
            (a.len(), m.len(), z.len()),
            (4, 4, 2) | (5, 3, 2) | (5, 4, 1) | (5, 4, 2)
        )
}

/// SNOMED CT identifier: 6-18 digits, no leading zero, a valid partition identifier (the two
/// digits before the check digit: 00-05 or 10-15) and a valid Verhoeff check digit.
pub fn is_snomedct(s: &str) -> bool {
    let b = s.as_bytes();
    let n = b.len();
    if !(6..=18).contains(&n) || !all_digits(b) || b[0] == b'0' {
        return false;
    }
    let part = (b[n - 3], b[n - 2]);
    matches!(part, (b'0' | b'1', b'0'..=b'5')) && verhoeff_valid(s)
}

/// US Social Security number `NNN-NN-NNNN` (or 9 plain digits when `allow_plain`): area not
/// 000, 666 or 900-999; group not 00; serial not 0000.
pub fn is_ssn(s: &str, allow_plain: bool) -> bool {
    let b = s.as_bytes();
    let (a, g, z) = match b.len() {
        11 if b[3] == b'-' && b[6] == b'-' => (&b[0..3], &b[4..6], &b[7..11]),
        9 if allow_plain => (&b[0..3], &b[3..5], &b[5..9]),
        _ => return false,
    };
    let (Some(a), Some(g), Some(z)) = (num(a), num(g), num(z)) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && z != 0
}

/// US ZIP code: `NNNNN` or `NNNNN-NNNN`.
pub fn is_us_zip(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        5 => all_digits(b),
        10 => b[5] == b'-' && all_digits(&b[..5]) && all_digits(&b[6..]),
        _ => false,
    }
}

/// US phone number shapes: `(NNN) NNN-NNNN`, `NNN-NNN-NNNN`, `NNN.NNN.NNNN`, `NNN NNN NNNN`,
/// with an optional `+1 `/`1-` prefix and an optional ` x123`/` ext 123` extension; local
/// `NNN-NNNN`; and 10 plain digits when `allow_plain` (a column named for phones). The area code
/// and exchange must not start with 0 or 1.
pub fn is_us_phone(s: &str, allow_plain: bool) -> bool {
    let mut b = s.as_bytes();
    // Extension.
    if let Some(i) = b.iter().position(|&c| c == b'x' || c == b'X' || c == b'e') {
        let (head, ext) = (
            b.get(..i).unwrap_or_default(),
            b.get(i..).unwrap_or_default(),
        );
        let digits = ext
            .strip_prefix(b"ext.")
            .or_else(|| ext.strip_prefix(b"ext"))
            .or_else(|| ext.strip_prefix(b"x"))
            .or_else(|| ext.strip_prefix(b"X"))
            .map(|d| d.strip_prefix(b" ").unwrap_or(d));
        match (head.strip_suffix(b" "), digits) {
            (Some(h), Some(d)) if all_digits(d) && d.len() <= 6 => b = h,
            _ => return false,
        }
    }
    // Country prefix.
    if let Some(rest) = b.strip_prefix(b"+1 ").or_else(|| b.strip_prefix(b"1-")) {
        b = rest;
    } else if let Some(rest) = b.strip_prefix(b"+1") {
        b = rest;
    }
    let ok_lead = |c: u8| (b'2'..=b'9').contains(&c);
    match b.len() {
        8 => b[3] == b'-' && all_digits(&b[..3]) && all_digits(&b[4..]) && ok_lead(b[0]),
        10 => allow_plain && all_digits(b) && ok_lead(b[0]) && ok_lead(b[3]),
        12 => {
            let sep = b[3];
            matches!(sep, b'-' | b'.' | b' ')
                && b[7] == sep
                && all_digits(&b[..3])
                && all_digits(&b[4..7])
                && all_digits(&b[8..])
                && ok_lead(b[0])
                && ok_lead(b[4])
        }
        13 | 14 => {
            // (NNN)NNN-NNNN or (NNN) NNN-NNNN
            let rest = if b.len() == 14 {
                if b.get(5) != Some(&b' ') {
                    return false;
                }
                &b[6..]
            } else {
                &b[5..]
            };
            b[0] == b'('
                && b[4] == b')'
                && all_digits(&b[1..4])
                && ok_lead(b[1])
                && rest.len() == 8
                && rest[3] == b'-'
                && all_digits(&rest[..3])
                && all_digits(&rest[4..])
                && ok_lead(rest[0])
        }
        _ => false,
    }
}

/// A plausible e-mail address: `local@domain.tld`, no spaces, one `@`, dotted domain of
/// letters, digits and hyphens with an alphabetic top-level domain of 2+ letters.
pub fn is_email(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 6 || b.len() > 254 {
        return false;
    }
    let Some(at) = b.iter().position(|&c| c == b'@') else {
        return false;
    };
    let (local, domain) = (&b[..at], &b[at + 1..]);
    if local.is_empty()
        || local.len() > 64
        || !local
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c))
        || local.first() == Some(&b'.')
        || local.last() == Some(&b'.')
    {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&c| c == b'.') {
        if label.is_empty()
            || label.first() == Some(&b'-')
            || label.last() == Some(&b'-')
            || !label
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

/// An identifier-like code: no whitespace, 1-20 characters of upper-case letters, digits and
/// `-_./#:`, with at least one digit, or all upper-case letters up to 10 characters
/// (`GLU`, `HBA1C`, `M1234567`, `E123456`).
pub fn is_generic_code(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 20 {
        return false;
    }
    let mut digits = false;
    let mut letters = 0usize;
    for &c in b {
        if c.is_ascii_digit() {
            digits = true;
        } else if c.is_ascii_uppercase() {
            letters += 1;
        } else if !b"-_./#:".contains(&c) {
            return false;
        }
    }
    if digits {
        b[0].is_ascii_alphanumeric()
    } else {
        letters == b.len() && letters <= 10
    }
}

// ------------------------------------------------------------------------------------------
// Column-name hints and value shapes
// ------------------------------------------------------------------------------------------

/// What a column's name says about its values; enables the weak code checks (plain digits are
/// only read as an SSN, ZIP, CVX, NDC, SNOMED CT or phone in a column named for it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    pub ssn: bool,
    pub zip: bool,
    pub phone: bool,
    pub vaccine: bool,
    pub ndc: bool,
    pub snomed: bool,
    pub diagnosis: bool,
    /// Sex or gender: its `F`/`M` (or `F` alone) are codes, never booleans.
    pub sex: bool,
}

impl Hints {
    /// Reads hints from a column name (case-insensitive substrings).
    pub fn from_column_name(name: &str) -> Hints {
        let n = name.to_ascii_lowercase();
        let has = |w: &str| n.contains(w);
        Hints {
            ssn: has("ssn") || has("social_sec") || has("socsec"),
            zip: has("zip") || has("postal") || has("postcode"),
            phone: has("phone") || has("tel") || has("fax") || has("mobile") || has("cell"),
            vaccine: has("cvx") || has("vacc") || has("immun"),
            ndc: has("ndc"),
            snomed: has("snomed") || has("sct"),
            diagnosis: has("icd") || has("dx") || has("diag"),
            sex: has("sex") || has("gender"),
        }
    }
}

/// The shape of one value: each value has exactly one. Names are the stable format names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    DateMdy,
    DateMdyShort,
    DateIso,
    DateDMonYy,
    DateDMonYyyy,
    DateCompact,
    DateDots,
    DateZero,
    DateTimeIso,
    DateTimeIsoT,
    DateTimeMdy,
    Time,
    Integer,
    Decimal,
    DecimalComma,
    Boolean,
    Icd10cm,
    Icd9cm,
    Loinc,
    Cvx,
    Ndc,
    SnomedCt,
    Phone,
    Email,
    PostalUs,
    Ssn,
    Code,
    Text,
    Binary,
}

/// The broad class of a shape, for type inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeClass {
    Date,
    DateTime,
    Time,
    Integer,
    Decimal,
    Boolean,
    Code,
    Text,
    Binary,
}

impl Shape {
    pub const COUNT: usize = 29;
    pub const ALL: [Shape; Shape::COUNT] = [
        Shape::DateMdy,
        Shape::DateMdyShort,
        Shape::DateIso,
        Shape::DateDMonYy,
        Shape::DateDMonYyyy,
        Shape::DateCompact,
        Shape::DateDots,
        Shape::DateZero,
        Shape::DateTimeIso,
        Shape::DateTimeIsoT,
        Shape::DateTimeMdy,
        Shape::Time,
        Shape::Integer,
        Shape::Decimal,
        Shape::DecimalComma,
        Shape::Boolean,
        Shape::Icd10cm,
        Shape::Icd9cm,
        Shape::Loinc,
        Shape::Cvx,
        Shape::Ndc,
        Shape::SnomedCt,
        Shape::Phone,
        Shape::Email,
        Shape::PostalUs,
        Shape::Ssn,
        Shape::Code,
        Shape::Text,
        Shape::Binary,
    ];

    /// Index into [`Shape::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable format name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::DateMdy => "date:MM/DD/YYYY",
            Shape::DateMdyShort => "date:M/D/YYYY",
            Shape::DateIso => "date:YYYY-MM-DD",
            Shape::DateDMonYy => "date:DD-Mon-YY",
            Shape::DateDMonYyyy => "date:DD-Mon-YYYY",
            Shape::DateCompact => "date:YYYYMMDD",
            Shape::DateDots => "date:DD.MM.YYYY",
            Shape::DateZero => "date:zero",
            Shape::DateTimeIso => "datetime:YYYY-MM-DD HH:MM:SS",
            Shape::DateTimeIsoT => "datetime:YYYY-MM-DDTHH:MM:SS",
            Shape::DateTimeMdy => "datetime:MM/DD/YYYY HH:MM:SS",
            Shape::Time => "time:HH:MM:SS",
            Shape::Integer => "integer",
            Shape::Decimal => "decimal",
            Shape::DecimalComma => "decimal:comma",
            Shape::Boolean => "boolean",
            Shape::Icd10cm => "code:icd10cm",
            Shape::Icd9cm => "code:icd9cm",
            Shape::Loinc => "code:loinc",
            Shape::Cvx => "code:cvx",
            Shape::Ndc => "code:ndc",
            Shape::SnomedCt => "code:snomedct",
            Shape::Phone => "phone",
            Shape::Email => "email",
            Shape::PostalUs => "postal:us",
            Shape::Ssn => "ssn",
            Shape::Code => "code",
            Shape::Text => "text",
            Shape::Binary => "binary",
        }
    }

    pub fn class(self) -> ShapeClass {
        match self {
            Shape::DateMdy
            | Shape::DateMdyShort
            | Shape::DateIso
            | Shape::DateDMonYy
            | Shape::DateDMonYyyy
            | Shape::DateCompact
            | Shape::DateDots
            | Shape::DateZero => ShapeClass::Date,
            Shape::DateTimeIso | Shape::DateTimeIsoT | Shape::DateTimeMdy => ShapeClass::DateTime,
            Shape::Time => ShapeClass::Time,
            Shape::Integer => ShapeClass::Integer,
            Shape::Decimal | Shape::DecimalComma => ShapeClass::Decimal,
            Shape::Boolean => ShapeClass::Boolean,
            Shape::Icd10cm
            | Shape::Icd9cm
            | Shape::Loinc
            | Shape::Cvx
            | Shape::Ndc
            | Shape::SnomedCt
            | Shape::Phone
            | Shape::PostalUs
            | Shape::Ssn
            | Shape::Code => ShapeClass::Code,
            Shape::Email | Shape::Text => ShapeClass::Text,
            Shape::Binary => ShapeClass::Binary,
        }
    }
}

/// A value's shape and, for ordered types, its sort key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classified {
    pub shape: Shape,
    pub key: SortKey,
}

/// The order key of a value under its shape's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortKey {
    None,
    /// An integer (also usable as a number).
    Int(i64),
    /// A decimal number (or an integer too large for `i64`).
    Num(f64),
    /// A date: days since 1970-01-01.
    Day(i64),
    /// A datetime: seconds since 1970-01-01 00:00:00.
    Sec(i64),
    /// A time of day: seconds since midnight.
    Time(u32),
}

/// Classifies one non-blank text value (leading/trailing spaces are not trimmed: a value with
/// them is text). Code checks that would misread plain numbers only apply with `hints`.
pub fn classify(s: &str, hints: Hints) -> Classified {
    let c = |shape, key| Classified { shape, key };
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return c(Shape::Text, SortKey::None);
    };
    let digits_only = all_digits(b);
    // Name-hinted plain-digit codes first.
    if digits_only {
        if hints.ssn && is_ssn(s, true) {
            return c(Shape::Ssn, SortKey::None);
        }
        if hints.zip && b.len() == 5 {
            return c(Shape::PostalUs, SortKey::None);
        }
        if hints.phone && is_us_phone(s, true) {
            return c(Shape::Phone, SortKey::None);
        }
        if hints.vaccine && is_cvx(s) {
            return c(Shape::Cvx, SortKey::None);
        }
        if hints.ndc && is_ndc(s, true) {
            return c(Shape::Ndc, SortKey::None);
        }
        if hints.snomed && is_snomedct(s) {
            return c(Shape::SnomedCt, SortKey::None);
        }
        if hints.diagnosis && is_icd9cm(s) {
            return c(Shape::Icd9cm, SortKey::None);
        }
    }
    if hints.diagnosis && first.is_ascii_digit() && is_icd9cm(s) {
        return c(Shape::Icd9cm, SortKey::None);
    }
    // Dates and times (they start with a digit).
    if first.is_ascii_digit() {
        if is_zero_date(s) {
            return c(Shape::DateZero, SortKey::None);
        }
        if let Some(((y, m, d), l)) = parse_date_layout(s) {
            return c(date_shape(l), SortKey::Day(days_from_civil(y, m, d)));
        }
        if b.len() >= 15
            && let Some(((y, m, d), t, l)) = parse_datetime_layout(s)
        {
            let secs = days_from_civil(y, m, d) * 86_400 + i64::from(t);
            return c(datetime_shape(l), SortKey::Sec(secs));
        }
        if b.len() <= 18
            && b.get(2) == Some(&b':')
            && let Some(t) = parse_time(s)
        {
            return c(Shape::Time, SortKey::Time(t));
        }
    }
    // Numbers.
    if digits_only || ((first == b'-' || first == b'+') && is_integer(s)) {
        return match s.parse::<i64>() {
            Ok(i) => c(Shape::Integer, SortKey::Int(i)),
            Err(_) => c(
                Shape::Integer,
                s.parse::<f64>().map_or(SortKey::None, SortKey::Num),
            ),
        };
    }
    if is_decimal(s) {
        return c(
            Shape::Decimal,
            s.parse::<f64>().map_or(SortKey::None, SortKey::Num),
        );
    }
    if is_decimal_comma(s) {
        return c(
            Shape::DecimalComma,
            parse_number(s).map_or(SortKey::None, SortKey::Num),
        );
    }
    // Shapes with punctuation.
    if b.len() == 11 && is_ssn(s, false) {
        return c(Shape::Ssn, SortKey::None);
    }
    if b.len() == 10 && is_us_zip(s) {
        return c(Shape::PostalUs, SortKey::None);
    }
    if is_loinc(s) {
        return c(Shape::Loinc, SortKey::None);
    }
    if is_ndc(s, false) {
        return c(Shape::Ndc, SortKey::None);
    }
    if (first == b'(' || first == b'+' || first.is_ascii_digit()) && is_us_phone(s, hints.phone) {
        return c(Shape::Phone, SortKey::None);
    }
    if is_boolean(s) {
        return c(Shape::Boolean, SortKey::None);
    }
    if first.is_ascii_uppercase() {
        if is_icd10cm(s) {
            return c(Shape::Icd10cm, SortKey::None);
        }
        if (first == b'V' || first == b'E') && is_icd9cm(s) {
            return c(Shape::Icd9cm, SortKey::None);
        }
    }
    if b.contains(&b'@') && is_email(s) {
        return c(Shape::Email, SortKey::None);
    }
    if is_generic_code(s) {
        return c(Shape::Code, SortKey::None);
    }
    c(Shape::Text, SortKey::None)
}

/// Empty or only whitespace.
#[inline]
pub fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 13), 0);
    }

    #[test]
    fn days_from_civil_known_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn parse_date_accepts_every_layout() {
        assert_eq!(parse_date("03/15/1980"), Some((1980, 3, 15)));
        assert_eq!(parse_date("3/5/1980"), Some((1980, 3, 5)));
        assert_eq!(parse_date("1980-03-15"), Some((1980, 3, 15)));
        assert_eq!(parse_date("15-Mar-80"), Some((1980, 3, 15)));
        assert_eq!(parse_date("15-MAR-1980"), Some((1980, 3, 15)));
        assert_eq!(parse_date("19800315"), Some((1980, 3, 15)));
        assert_eq!(parse_date("15.03.1980"), Some((1980, 3, 15)));
    }

    #[test]
    fn parse_date_two_digit_year_pivot() {
        assert_eq!(parse_date("01-Jan-29"), Some((2029, 1, 1)));
        assert_eq!(parse_date("01-Jan-30"), Some((1930, 1, 1)));
        assert_eq!(parse_date("01-Jan-00"), Some((2000, 1, 1)));
    }

    #[test]
    fn parse_date_rejects_impossible_dates() {
        assert_eq!(parse_date("02/30/2020"), None);
        assert_eq!(parse_date("02/29/2023"), None);
        assert_eq!(parse_date("02/29/2024"), Some((2024, 2, 29)));
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(parse_date("2000-02-29"), Some((2000, 2, 29)));
        assert_eq!(parse_date("13/01/2020"), None);
        assert_eq!(parse_date("00/00/0000"), None);
        assert_eq!(parse_date("0000-00-00"), None);
        assert_eq!(parse_date("31-Abc-20"), None);
        assert_eq!(parse_date("12345678"), None);
        assert_eq!(parse_date("2020-1-5"), None);
        assert_eq!(parse_date("2020/01/05"), None);
        assert_eq!(parse_date(""), None);
        assert_eq!(parse_date("1/2/3/2020"), None);
        assert_eq!(parse_date("31.04.2020"), None);
        assert_eq!(parse_date("2020-01-05 10:00:00"), None);
    }

    #[test]
    fn date_format_names() {
        assert_eq!(date_format("03/15/1980"), Some("date:MM/DD/YYYY"));
        assert_eq!(date_format("3/15/1980"), Some("date:M/D/YYYY"));
        assert_eq!(date_format("1980-03-15"), Some("date:YYYY-MM-DD"));
        assert_eq!(date_format("15-Mar-80"), Some("date:DD-Mon-YY"));
        assert_eq!(date_format("15-Mar-1980"), Some("date:DD-Mon-YYYY"));
        assert_eq!(date_format("19800315"), Some("date:YYYYMMDD"));
        assert_eq!(date_format("15.03.1980"), Some("date:DD.MM.YYYY"));
        assert_eq!(date_format("00/00/0000"), Some("date:zero"));
        assert_eq!(date_format("0000-00-00"), Some("date:zero"));
        assert_eq!(
            date_format("2021-06-01 13:45:00"),
            Some("datetime:YYYY-MM-DD HH:MM:SS")
        );
        assert_eq!(
            date_format("2021-06-01T13:45:00Z"),
            Some("datetime:YYYY-MM-DDTHH:MM:SS")
        );
        assert_eq!(
            date_format("06/01/2021 13:45"),
            Some("datetime:MM/DD/YYYY HH:MM:SS")
        );
        assert_eq!(date_format("hello"), None);
        assert_eq!(date_format("2021-06-01 25:00:00"), None);
        assert_eq!(date_format("15-Mar-80 12:00"), None);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("13:45"), Some(49_500));
        assert_eq!(parse_time("13:45:10.250"), Some(49_510));
        assert_eq!(parse_time("24:00"), None);
        assert_eq!(parse_time("12:60"), None);
        assert_eq!(parse_time("1:00"), None);
    }

    #[test]
    fn numbers() {
        assert!(is_integer("42"));
        assert!(is_integer("-42"));
        assert!(!is_integer("4.2"));
        assert!(!is_integer("-"));
        assert!(!is_integer(""));
        assert!(is_decimal("4.2"));
        assert!(is_decimal("-.5"));
        assert!(!is_decimal("4"));
        assert!(!is_decimal("."));
        assert!(!is_decimal("1.2.3"));
        assert!(is_decimal_comma("3,14"));
        assert!(!is_decimal_comma("3.14"));
        assert!(!is_decimal_comma("a,b"));
        assert_eq!(parse_number("3,5"), Some(3.5));
        assert_eq!(parse_number("-2.25"), Some(-2.25));
        assert_eq!(parse_number("x"), None);
        assert_eq!(parse_integer("123"), Some(123));
        assert_eq!(parse_integer("99999999999999999999"), None);
        assert!(is_canonical_integer("120"));
        assert!(is_canonical_integer("0"));
        assert!(is_canonical_integer("-7"));
        assert!(!is_canonical_integer("007"));
        assert!(!is_canonical_integer("+7"));
        assert!(!is_canonical_integer("-0"));
        assert!(!is_canonical_integer("1.0"));
    }

    #[test]
    fn booleans() {
        assert!(is_boolean("Y"));
        assert!(is_boolean("false"));
        assert!(is_boolean("No"));
        assert!(!is_boolean("M"));
        assert!(!is_boolean("yess"));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("79927398713"));
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid("4111-1111"));
        assert!(!luhn_valid("0"));
    }

    #[test]
    fn verhoeff() {
        assert!(verhoeff_valid("2363"));
        assert!(!verhoeff_valid("2364"));
        assert!(!verhoeff_valid("abc"));
    }

    #[test]
    fn nhs_numbers() {
        assert!(nhs_number_valid("9434765919"));
        assert!(nhs_number_valid("943 476 5919"));
        assert!(nhs_number_valid("943-476-5919"));
        assert!(!nhs_number_valid("9434765918"));
        assert!(!nhs_number_valid("943 476-5919"));
        assert!(!nhs_number_valid("943476591"));
    }

    #[test]
    fn icd10() {
        for ok in [
            "E11.9", "I10", "M54.5", "F17.210", "S72.001A", "Z00.00", "E119",
        ] {
            assert!(is_icd10cm(ok), "{ok}");
        }
        for bad in [
            "11.9",
            "E1",
            "e11.9",
            "E11.",
            "E11.12345",
            "EE1",
            "E11-9",
            "E11 9",
        ] {
            assert!(!is_icd10cm(bad), "{bad}");
        }
    }

    #[test]
    fn icd9() {
        for ok in [
            "250.00", "401.9", "401", "V70.0", "V04.81", "E850.0", "E850",
        ] {
            assert!(is_icd9cm(ok), "{ok}");
        }
        for bad in ["25", "250.000", "V7", "E85", "E850.01", "A01", "250."] {
            assert!(!is_icd9cm(bad), "{bad}");
        }
    }

    #[test]
    fn loinc() {
        for ok in ["2345-7", "4548-4", "718-7", "2093-3"] {
            assert!(is_loinc(ok), "{ok}");
        }
        for bad in ["2345-8", "23457", "2345-77", "-7", "abcd-1", "123456-1"] {
            assert!(!is_loinc(bad), "{bad}");
        }
    }

    #[test]
    fn cvx() {
        assert!(is_cvx("8"));
        assert!(is_cvx("140"));
        assert!(!is_cvx("1400"));
        assert!(!is_cvx("1a"));
    }

    #[test]
    fn ndc() {
        for ok in [
            "0002-3227-30",
            "50580-506-02",
            "12345-6789-1",
            "12345-6789-01",
        ] {
            assert!(is_ndc(ok, false), "{ok}");
        }
        assert!(is_ndc("12345678901", true));
        assert!(!is_ndc("12345678901", false));
        for bad in ["1234-567-89", "12345-678-901", "1234-5678", "abcd-5678-90"] {
            assert!(!is_ndc(bad, true), "{bad}");
        }
    }

    #[test]
    fn snomed() {
        for ok in ["22298006", "38341003", "73211009", "195967001"] {
            assert!(is_snomedct(ok), "{ok}");
        }
        for bad in ["22298007", "12345", "022298006", "2229800x", "22298096"] {
            assert!(!is_snomedct(bad), "{bad}");
        }
    }

    #[test]
    fn ssn() {
        assert!(is_ssn("123-45-6789", false));
        assert!(is_ssn("123456789", true));
        assert!(!is_ssn("123456789", false));
        for bad in [
            "000-45-6789",
            "666-45-6789",
            "912-45-6789",
            "123-00-6789",
            "123-45-0000",
        ] {
            assert!(!is_ssn(bad, true), "{bad}");
        }
        assert!(!is_ssn("123-456-789", true));
    }

    #[test]
    fn zip() {
        assert!(is_us_zip("02134"));
        assert!(is_us_zip("02134-1234"));
        assert!(!is_us_zip("2134"));
        assert!(!is_us_zip("02134-12"));
        assert!(!is_us_zip("0213a"));
    }

    #[test]
    fn phones() {
        for ok in [
            "(555) 234-5678",
            "(555)234-5678",
            "555-234-5678",
            "555.234.5678",
            "555 234 5678",
            "+1 555 234 5678",
            "1-555-234-5678",
            "234-5678 x123",
            "555-234-5678 ext 12",
        ] {
            assert!(is_us_phone(ok, false), "{ok}");
        }
        assert!(is_us_phone("5552345678", true));
        assert!(!is_us_phone("5552345678", false));
        for bad in [
            "555-134-5678",
            "055-234-5678",
            "555-2345-678",
            "hello",
            "234-5678 x",
            "(555 234-5678",
        ] {
            assert!(!is_us_phone(bad, true), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(is_email("jane.doe@example.com"));
        assert!(is_email("a+b@mail.example.org"));
        for bad in [
            "jane@example",
            "@example.com",
            "jane@@example.com",
            "jane doe@x.com",
            "jane@x.c",
            "jane@-x.com",
            "jane@x.c0m",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn generic_codes() {
        for ok in ["GLU", "HBA1C", "M1234567", "E123456", "A-12/3"] {
            assert!(is_generic_code(ok), "{ok}");
        }
        for bad in ["Smith", "back pain", "", "ABCDEFGHIJK", "-12", "a1"] {
            assert!(!is_generic_code(bad), "{bad}");
        }
    }

    #[test]
    fn classify_priorities() {
        let none = Hints::default();
        let k = |s: &str, h: Hints| classify(s, h).shape;
        assert_eq!(k("03/15/1980", none), Shape::DateMdy);
        assert_eq!(k("00/00/0000", none), Shape::DateZero);
        assert_eq!(k("2021-06-01 13:45:00", none), Shape::DateTimeIso);
        assert_eq!(k("13:45", none), Shape::Time);
        assert_eq!(k("42", none), Shape::Integer);
        assert_eq!(k("-4.5", none), Shape::Decimal);
        assert_eq!(k("4,5", none), Shape::DecimalComma);
        assert_eq!(k("123-45-6789", none), Shape::Ssn);
        assert_eq!(k("123456789", none), Shape::Integer);
        let ssn = Hints::from_column_name("ssn");
        assert_eq!(k("123456789", ssn), Shape::Ssn);
        assert_eq!(k("02134", Hints::from_column_name("zip")), Shape::PostalUs);
        assert_eq!(k("02134", none), Shape::Integer);
        assert_eq!(k("140", Hints::from_column_name("cvx_code")), Shape::Cvx);
        assert_eq!(k("2345-7", none), Shape::Loinc);
        assert_eq!(k("E11.9", none), Shape::Icd10cm);
        assert_eq!(k("250.00", none), Shape::Decimal);
        assert_eq!(
            k("250.00", Hints::from_column_name("dx_code")),
            Shape::Icd9cm
        );
        assert_eq!(k("(555) 234-5678", none), Shape::Phone);
        assert_eq!(k("jane@example.com", none), Shape::Email);
        assert_eq!(k("Y", none), Shape::Boolean);
        assert_eq!(k("M1234567", none), Shape::Code);
        assert_eq!(k("Smith", none), Shape::Text);
        assert_eq!(
            k("22298006", Hints::from_column_name("snomed_id")),
            Shape::SnomedCt
        );
        assert_eq!(k("", none), Shape::Text);
    }

    #[test]
    fn classify_keys_order_dates_across_layouts() {
        let none = Hints::default();
        let a = classify("03/15/1980", none).key;
        let b = classify("1980-03-15", none).key;
        let c = classify("16-Mar-80", none).key;
        assert_eq!(a, b);
        match (b, c) {
            (SortKey::Day(x), SortKey::Day(y)) => assert!(x < y),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shape_table_is_consistent() {
        for (i, s) in Shape::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn blanks() {
        assert!(is_blank(""));
        assert!(is_blank("  \t"));
        assert!(is_blank("\u{a0}"));
        assert!(!is_blank(" x "));
    }
}
