//! Legacy dates to FHIR `date` / `dateTime`, keeping the precision of partial dates.
//!
//! Accepted (after trimming; a time may follow the date after a space or `T`):
//! `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYYMMDD`, `YYYYMMDDHHMM[SS]`, `MM/YYYY`,
//! `M/D/YYYY`, `M/D/YY`, `M-D-YYYY` (US order: month first), `D-Mon-YY`, `D-Mon-YYYY`, `D Mon YYYY`.
//! Times: `HH:MM[:SS[.fff]]`, optional `AM`/`PM`, optional zone `Z`, `+hh:mm`, `+hhmm`, `+hh`.
//! Blanks, `00/00/0000`, `0000-00-00` and `00000000` are "no date" (`None`). A zero day keeps
//! month precision (`03/00/2019` -> `2019-03`), a zero month and day keep year precision.
//! Two-digit years: `00`..`PIVOT-1` are 20YY, `PIVOT`..`99` are 19YY (default pivot 30).
//! An impossible date (Feb 30, month 13, 25:00) is an error, never a blank.

use super::FnError;

/// Default two-digit-year pivot: `29` -> 2029, `30` -> 1930.
pub const DEFAULT_PIVOT: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialDate {
    pub year: u32,
    pub month: Option<u32>,
    pub day: Option<u32>,
}

impl PartialDate {
    /// FHIR `date` text at this precision.
    pub fn to_fhir(&self) -> String {
        match (self.month, self.day) {
            (Some(m), Some(d)) => format!("{:04}-{:02}-{:02}", self.year, m, d),
            (Some(m), None) => format!("{:04}-{:02}", self.year, m),
            _ => format!("{:04}", self.year),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time {
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Fraction digits after the decimal point, as written.
    pub fraction: Option<String>,
    /// `Z` or `+hh:mm` / `-hh:mm` when the value states a zone.
    pub zone: Option<String>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn year_of(s: &str, pivot: u32) -> Option<u32> {
    let y = digits(s)?;
    match s.len() {
        4 => Some(y),
        2 if y < pivot => Some(2000 + y),
        2 => Some(1900 + y),
        _ => None,
    }
}

fn month_name(s: &str) -> Option<u32> {
    let l = s.to_ascii_lowercase();
    let key = l.get(..3)?;
    let pos = MONTHS.iter().position(|m| *m == key)?;
    // Accept `Mar`, `MAR`, `March`; not `Marx`.
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let full = FULL.get(pos)?;
    if l.len() == 3 || l == *full || (l.len() == 4 && l.ends_with('.')) || (pos == 8 && l == "sept")
    {
        Some(pos as u32 + 1)
    } else {
        None
    }
}

/// Builds a checked partial date from year, month, day (0 = unknown).
fn build(y: u32, m: u32, d: u32, raw: &str) -> Result<Option<PartialDate>, FnError> {
    if y == 0 && m == 0 && d == 0 {
        return Ok(None);
    }
    if y == 0 || y > 9999 {
        return Err(FnError::new("impossible date: year out of range", raw));
    }
    if m == 0 {
        if d != 0 {
            return Err(FnError::new("impossible date: a day without a month", raw));
        }
        return Ok(Some(PartialDate {
            year: y,
            month: None,
            day: None,
        }));
    }
    if m > 12 {
        return Err(FnError::new("impossible date: month out of range", raw));
    }
    if d == 0 {
        return Ok(Some(PartialDate {
            year: y,
            month: Some(m),
            day: None,
        }));
    }
    if d > days_in_month(y, m) {
        return Err(FnError::new(
            "impossible date: no such day in that month",
            raw,
        ));
    }
    Ok(Some(PartialDate {
        year: y,
        month: Some(m),
        day: Some(d),
    }))
}

fn unknown(raw: &str) -> FnError {
    FnError::new("unrecognised date format", raw)
}

fn parse_date_part(s: &str, raw: &str, pivot: u32) -> Result<Option<PartialDate>, FnError> {
    let all_digits = s.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        let (y, m, d) = match s.len() {
            4 => (digits(s), Some(0), Some(0)),
            8 => (digits(&s[..4]), digits(&s[4..6]), digits(&s[6..8])),
            _ => return Err(unknown(raw)),
        };
        return match (y, m, d) {
            (Some(y), Some(m), Some(d)) => build(y, m, d, raw),
            _ => Err(unknown(raw)),
        };
    }
    let sep = if s.contains('/') {
        '/'
    } else if s.contains('-') {
        '-'
    } else if s.contains(' ') {
        ' '
    } else {
        return Err(unknown(raw));
    };
    let parts: Vec<&str> = s.split(sep).collect();
    match parts.as_slice() {
        // YYYY-MM, MM/YYYY
        [a, b] if a.len() == 4 => match (digits(a), digits(b)) {
            (Some(y), Some(m)) if b.len() <= 2 => build(y, m, 0, raw),
            _ => Err(unknown(raw)),
        },
        [a, b] if b.len() == 4 => match (digits(a), digits(b)) {
            (Some(m), Some(y)) if a.len() <= 2 => build(y, m, 0, raw),
            _ => match (month_name(a), digits(b)) {
                (Some(m), Some(y)) => build(y, m, 0, raw),
                _ => Err(unknown(raw)),
            },
        },
        // YYYY-MM-DD, YYYY/MM/DD
        [a, b, c] if a.len() == 4 => match (digits(a), digits(b), digits(c)) {
            (Some(y), Some(m), Some(d)) if b.len() <= 2 && c.len() <= 2 => build(y, m, d, raw),
            _ => Err(unknown(raw)),
        },
        // D-Mon-YY, D Mon YYYY
        [a, b, c] if b.bytes().any(|x| x.is_ascii_alphabetic()) => {
            match (digits(a), month_name(b), year_of(c, pivot)) {
                (Some(d), Some(m), Some(y)) if a.len() <= 2 => build(y, m, d, raw),
                _ => Err(unknown(raw)),
            }
        }
        // M/D/YYYY, M/D/YY, M-D-YYYY (US order)
        [a, b, c] => match (digits(a), digits(b), year_of(c, pivot)) {
            (Some(m), Some(d), Some(y)) if a.len() <= 2 && b.len() <= 2 => {
                // 00/00/00 is the blank sentinel too.
                if m == 0 && d == 0 && digits(c) == Some(0) {
                    return Ok(None);
                }
                build(y, m, d, raw)
            }
            _ => Err(unknown(raw)),
        },
        _ => Err(unknown(raw)),
    }
}

fn parse_zone(z: &str, raw: &str) -> Result<String, FnError> {
    if z == "Z" || z == "z" {
        return Ok("Z".into());
    }
    let (sign, rest) = match z.as_bytes().first() {
        Some(b'+') => ('+', &z[1..]),
        Some(b'-') => ('-', &z[1..]),
        _ => return Err(FnError::new("unrecognised time zone", raw)),
    };
    let rest = rest.replace(':', "");
    let (h, m) = match rest.len() {
        2 => (digits(&rest), Some(0)),
        4 => (
            rest.get(..2).and_then(digits),
            rest.get(2..).and_then(digits),
        ),
        _ => (None, None),
    };
    match (h, m) {
        (Some(h), Some(m)) if h <= 14 && m < 60 => Ok(format!("{sign}{h:02}:{m:02}")),
        _ => Err(FnError::new("unrecognised time zone", raw)),
    }
}

fn parse_time_part(s: &str, raw: &str) -> Result<Time, FnError> {
    let bad = || FnError::new("impossible or unrecognised time", raw);
    let mut t = s.trim().to_string();
    // AM / PM
    let mut meridiem = None;
    let upper = t.to_ascii_uppercase();
    for (suffix, pm) in [("AM", false), ("PM", true), ("A.M.", false), ("P.M.", true)] {
        if upper.ends_with(suffix) {
            meridiem = Some(pm);
            t.truncate(t.len() - suffix.len());
            t = t.trim_end().to_string();
            break;
        }
    }
    // zone
    let mut zone = None;
    if t.ends_with('Z') || t.ends_with('z') {
        zone = Some("Z".to_string());
        t.pop();
    } else if let Some(pos) = t.rfind(['+', '-'])
        && pos > 0
    {
        zone = Some(parse_zone(t[pos..].trim(), raw)?);
        t.truncate(pos);
    } else if let Some(pos) = t.rfind(' ') {
        // `10:30 +0500`
        let tail = t[pos + 1..].to_string();
        if tail.starts_with(['+', '-']) {
            zone = Some(parse_zone(&tail, raw)?);
            t.truncate(pos);
        }
    }
    let t = t.trim();
    let (clock, fraction) = match t.split_once('.') {
        Some((c, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            (c, Some(f.to_string()))
        }
        Some(_) => return Err(bad()),
        None => (t, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m] => (digits(h), digits(m), Some(0)),
        [h, m, s] => (digits(h), digits(m), digits(s)),
        _ => return Err(bad()),
    };
    let (Some(mut h), Some(m), Some(sec)) = (h, m, sec) else {
        return Err(bad());
    };
    if let Some(pm) = meridiem {
        if h == 0 || h > 12 {
            return Err(bad());
        }
        h = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(Time {
        hour: h,
        minute: m,
        second: sec,
        fraction,
        zone,
    })
}

/// Parses a legacy date or date-time. `Ok(None)` for blanks and zero dates.
pub fn parse(raw: &str, pivot: u32) -> Result<Option<(PartialDate, Option<Time>)>, FnError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // YYYYMMDDHHMM[SS] (HL7 v2 style)
    if (s.len() == 12 || s.len() == 14) && s.bytes().all(|b| b.is_ascii_digit()) {
        let date = parse_date_part(&s[..8], raw, pivot)?;
        let time = format!(
            "{}:{}:{}",
            &s[8..10],
            &s[10..12],
            s.get(12..14).unwrap_or("00")
        );
        let time = parse_time_part(&time, raw)?;
        return Ok(date.map(|d| (d, Some(time))));
    }
    // Split date and time: ISO `T`, else the first space followed by a digit-led time with `:`.
    let (date_s, time_s) = if let Some(pos) = s.find('T')
        && pos >= 8
        && s[..pos].bytes().all(|b| b.is_ascii_digit() || b == b'-')
    {
        (&s[..pos], Some(&s[pos + 1..]))
    } else if let Some(colon) = s.find(':') {
        match s[..colon].rfind(' ') {
            Some(sp) => (s[..sp].trim(), Some(&s[sp + 1..])),
            None => return Err(unknown(raw)),
        }
    } else {
        (s, None)
    };
    let date = parse_date_part(date_s, raw, pivot)?;
    let Some(date) = date else {
        return Ok(None);
    };
    let time = match time_s {
        Some(t) => {
            let t = parse_time_part(t, raw)?;
            if date.day.is_none() {
                return Err(FnError::new("a time on a partial date", raw));
            }
            Some(t)
        }
        None => None,
    };
    Ok(Some((date, time)))
}

/// FHIR `date`: the date at its precision; a time in the input is dropped.
pub fn to_date(raw: &str, pivot: u32) -> Result<Option<String>, FnError> {
    Ok(parse(raw, pivot)?.map(|(d, _)| d.to_fhir()))
}

/// `ferry_date(text)` in SQL: a legacy date in any format `to_date` reads, as an ISO date with
/// its precision (`2019`, `2019-03`, `2019-03-04`), so that dates in mixed formats compare and
/// `MAX()` correctly in a module's query; NULL for blank, zero or unreadable dates (the module's
/// own `date` filter is what turns those into exceptions).
pub fn sql_date(raw: &str) -> Option<String> {
    to_date(raw, DEFAULT_PIVOT).ok().flatten()
}

/// FHIR `dateTime`. A date without time keeps its precision (`2019-03`). A time without a zone
/// gets `local_offset` (the project's configured offset); with none configured it is an error,
/// because FHIR requires a zone on a time and guessing one would move the instant silently.
pub fn to_datetime(
    raw: &str,
    pivot: u32,
    local_offset: Option<&str>,
) -> Result<Option<String>, FnError> {
    let Some((date, time)) = parse(raw, pivot)? else {
        return Ok(None);
    };
    let Some(t) = time else {
        return Ok(Some(date.to_fhir()));
    };
    let zone = match (&t.zone, local_offset) {
        (Some(z), _) => z.clone(),
        (None, Some(o)) => o.to_string(),
        (None, None) => {
            return Err(FnError::new(
                "a time without a time zone and no local offset configured: set `local_offset` (e.g. \"-05:00\") in the project, or map the element with `date`",
                raw,
            ));
        }
    };
    let frac = t.fraction.map(|f| format!(".{f}")).unwrap_or_default();
    Ok(Some(format!(
        "{}T{:02}:{:02}:{:02}{frac}{zone}",
        date.to_fhir(),
        t.hour,
        t.minute,
        t.second
    )))
}

/// Validates a configured local offset (`Z`, `+hh:mm`, `-hh:mm`), returning its canonical form.
pub fn canonical_offset(s: &str) -> Result<String, FnError> {
    parse_zone(s.trim(), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_date_gives_comparable_iso_dates_or_null() {
        assert_eq!(sql_date("03/04/2015").as_deref(), Some("2015-03-04"));
        assert_eq!(sql_date("25-Oct-15").as_deref(), Some("2015-10-25"));
        assert_eq!(sql_date("2019").as_deref(), Some("2019"));
        assert_eq!(sql_date("00/00/0000"), None);
        assert_eq!(
            sql_date("2019-02-30"),
            None,
            "impossible: NULL in SQL, no error"
        );
        assert_eq!(sql_date("not a date"), None);
        // Mixed formats now order correctly as text.
        assert!(sql_date("12/31/2014") < sql_date("2015-01-01"));
    }

    fn d(s: &str) -> Option<String> {
        to_date(s, DEFAULT_PIVOT).unwrap()
    }

    #[test]
    fn legacy_formats_become_fhir_dates() {
        assert_eq!(d("03/04/2019").as_deref(), Some("2019-03-04"));
        assert_eq!(d("3/4/2019").as_deref(), Some("2019-03-04"));
        assert_eq!(d("2019-03-04").as_deref(), Some("2019-03-04"));
        assert_eq!(d("2019/03/04").as_deref(), Some("2019-03-04"));
        assert_eq!(d("20190304").as_deref(), Some("2019-03-04"));
        assert_eq!(d("04-Mar-19").as_deref(), Some("2019-03-04"));
        assert_eq!(d("4-MAR-1962").as_deref(), Some("1962-03-04"));
        assert_eq!(d("04 March 2019").as_deref(), Some("2019-03-04"));
        assert_eq!(d(" 03-04-2019 ").as_deref(), Some("2019-03-04"));
        assert_eq!(d("2019-03-04 13:45:00").as_deref(), Some("2019-03-04"));
    }

    #[test]
    fn partial_dates_keep_their_precision() {
        assert_eq!(d("2019").as_deref(), Some("2019"));
        assert_eq!(d("03/2019").as_deref(), Some("2019-03"));
        assert_eq!(d("2019-03").as_deref(), Some("2019-03"));
        assert_eq!(d("03/00/2019").as_deref(), Some("2019-03"));
        assert_eq!(d("00/00/2019").as_deref(), Some("2019"));
        assert_eq!(d("Mar 2019").as_deref(), Some("2019-03"));
    }

    #[test]
    fn blanks_and_zero_dates_are_none() {
        for s in [
            "",
            "   ",
            "00/00/0000",
            "0000-00-00",
            "00000000",
            "00/00/00",
        ] {
            assert_eq!(d(s), None, "{s:?}");
        }
    }

    #[test]
    fn impossible_dates_are_errors_with_the_raw_value() {
        for s in [
            "02/30/2019",
            "13/01/2019",
            "2019-02-29",
            "00/12/2019",
            "31-Apr-19",
        ] {
            let e = to_date(s, DEFAULT_PIVOT).unwrap_err();
            assert!(
                e.message.starts_with("impossible date"),
                "{s}: {}",
                e.message
            );
            assert_eq!(e.raw.as_deref(), Some(s));
        }
        assert_eq!(d("02/29/2020").as_deref(), Some("2020-02-29"));
    }

    #[test]
    fn garbage_is_an_error_not_a_blank() {
        for s in [
            "soon",
            "2019-3-4-5",
            "12345",
            "1/2",
            "4-Marx-19",
            "03/04/2019 25:00",
        ] {
            assert!(to_date(s, DEFAULT_PIVOT).is_err(), "{s}");
        }
    }

    #[test]
    fn two_digit_year_pivot() {
        assert_eq!(d("01-Jan-29").as_deref(), Some("2029-01-01"));
        assert_eq!(d("01-Jan-30").as_deref(), Some("1930-01-01"));
        assert_eq!(
            to_date("01-Jan-45", 50).unwrap().as_deref(),
            Some("2045-01-01")
        );
        assert_eq!(d("1/2/62").as_deref(), Some("1962-01-02"));
    }

    #[test]
    fn datetimes_take_the_configured_offset_or_their_own_zone() {
        let dt = |s, o| to_datetime(s, DEFAULT_PIVOT, o);
        assert_eq!(
            dt("2019-03-04 13:45", Some("-05:00")).unwrap().as_deref(),
            Some("2019-03-04T13:45:00-05:00")
        );
        assert_eq!(
            dt("03/04/2019 1:45:07 PM", Some("+01:00"))
                .unwrap()
                .as_deref(),
            Some("2019-03-04T13:45:07+01:00")
        );
        assert_eq!(
            dt("2019-03-04T13:45:07.250Z", None).unwrap().as_deref(),
            Some("2019-03-04T13:45:07.250Z")
        );
        assert_eq!(
            dt("2019-03-04T13:45:07+0530", None).unwrap().as_deref(),
            Some("2019-03-04T13:45:07+05:30")
        );
        assert_eq!(
            dt("201903041345", Some("Z")).unwrap().as_deref(),
            Some("2019-03-04T13:45:00Z")
        );
        assert_eq!(dt("03/2019", None).unwrap().as_deref(), Some("2019-03"));
        let e = dt("2019-03-04 13:45", None).unwrap_err();
        assert!(e.message.contains("local_offset"));
        assert!(
            dt("2019-03-04 12:00 AM", Some("Z"))
                .unwrap()
                .unwrap()
                .contains("T00:00:00")
        );
    }

    #[test]
    fn offsets_are_validated() {
        assert_eq!(canonical_offset("-0500").unwrap(), "-05:00");
        assert_eq!(canonical_offset("Z").unwrap(), "Z");
        assert!(canonical_offset("EST").is_err());
    }
}
