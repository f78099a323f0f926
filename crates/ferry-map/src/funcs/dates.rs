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
    let policy = LocalPolicy {
        zone: local_offset.map(|o| LocalZone::Offset(o.to_string())),
        ..LocalPolicy::default()
    };
    to_datetime_with(raw, pivot, &policy)
}

/// What to do with a local time a zone's clocks show twice (the night daylight saving ends:
/// 01:30 in New York on 2021-11-07 is both `-04:00` and `-05:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ambiguous {
    /// The first of the two instants (still on summer time). The default.
    #[default]
    Earlier,
    /// The second instant (already on standard time).
    Later,
    /// An exception: the row waits for a person.
    Exception,
}

/// What to do with a local time a zone's clocks never show (the night daylight saving starts:
/// 02:30 in New York on 2021-03-14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Nonexistent {
    /// An exception. The default: such a time is a keying or clock error.
    #[default]
    Exception,
    /// Moved forward by the length of the gap (02:30 -> 03:30 summer time), as java.time does.
    Shift,
}

impl Ambiguous {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "earlier" => Ok(Self::Earlier),
            "later" => Ok(Self::Later),
            "exception" => Ok(Self::Exception),
            other => Err(format!(
                "`ambiguous` is \"earlier\", \"later\" or \"exception\", not \"{other}\""
            )),
        }
    }
}

impl Nonexistent {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "exception" => Ok(Self::Exception),
            "shift" => Ok(Self::Shift),
            other => Err(format!(
                "`nonexistent` is \"exception\" or \"shift\", not \"{other}\""
            )),
        }
    }
}

/// The zone given to a legacy local time that states none.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalZone {
    /// A fixed offset (`local_offset`), canonical (`-05:00`, `Z`): no daylight saving.
    Offset(String),
    /// An IANA time zone (`time_zone`): the offset in force at that local time, daylight saving
    /// included, by the tz database built into `chrono-tz`.
    Named(chrono_tz::Tz),
}

impl LocalZone {
    /// An IANA zone name (`America/New_York`).
    pub fn named(name: &str) -> Result<Self, String> {
        let n = name.trim();
        n.parse::<chrono_tz::Tz>().map(Self::Named).map_err(|_| {
            if n.starts_with(['+', '-']) || n == "Z" {
                format!("`{n}` is an offset, not an IANA time zone: use `local_offset` for a fixed offset")
            } else {
                format!("`{n}` is not an IANA time zone name (such as \"America/New_York\" or \"Europe/London\")")
            }
        })
    }

    /// An IANA name or a fixed offset (`zone=` of a `datetime` call accepts either).
    pub fn any(spec: &str) -> Result<Self, String> {
        let t = spec.trim();
        if t.starts_with(['+', '-']) || t == "Z" || t == "z" {
            canonical_offset(t)
                .map(Self::Offset)
                .map_err(|_| format!("`{t}` is not an offset such as \"-05:00\""))
        } else {
            Self::named(t)
        }
    }
}

/// How legacy local times without a zone are placed: the zone, and the policies for the
/// fall-back and spring-forward nights.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalPolicy {
    /// `None`: a time without a zone is an exception.
    pub zone: Option<LocalZone>,
    pub ambiguous: Ambiguous,
    pub nonexistent: Nonexistent,
}

fn fhir_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let m = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The local date-time `date` `t` in `tz` under the policies: (local wall time as written out,
/// offset). The wall time differs from the input only for a shifted spring-forward time.
fn place_in_zone(
    date: &PartialDate,
    t: &Time,
    tz: chrono_tz::Tz,
    policy: &LocalPolicy,
    raw: &str,
) -> Result<(String, String), FnError> {
    use chrono::{LocalResult, NaiveDate, Offset, TimeZone};
    let naive = NaiveDate::from_ymd_opt(
        date.year as i32,
        date.month.unwrap_or(1),
        date.day.unwrap_or(1),
    )
    .and_then(|d| d.and_hms_opt(t.hour, t.minute, t.second))
    .ok_or_else(|| FnError::new("impossible date or time", raw))?;
    let dt = match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => dt,
        LocalResult::Ambiguous(earlier, later) => match policy.ambiguous {
            Ambiguous::Earlier => earlier,
            Ambiguous::Later => later,
            Ambiguous::Exception => {
                return Err(FnError::new(
                    "a local time the clocks show twice in the time zone (daylight saving ends that night): the policy `ambiguous = \"exception\"` leaves it to a person; set \"earlier\" or \"later\" to choose",
                    raw,
                ));
            }
        },
        LocalResult::None => match policy.nonexistent {
            Nonexistent::Exception => {
                return Err(FnError::new(
                    "a local time that does not exist in the time zone (the clocks skip it when daylight saving starts): fix the source, or set `nonexistent = \"shift\"` to move it forward by the gap",
                    raw,
                ));
            }
            Nonexistent::Shift => {
                // The offset in force before the gap (a day earlier: zones change at most once
                // in a day), applied to the wall time, gives the instant; shown in the zone.
                let before = tz
                    .offset_from_utc_datetime(&(naive - chrono::TimeDelta::days(1)))
                    .fix()
                    .local_minus_utc();
                let utc = naive - chrono::TimeDelta::seconds(i64::from(before));
                tz.from_utc_datetime(&utc)
            }
        },
    };
    let wall = dt.naive_local();
    let offset = fhir_offset(dt.offset().fix().local_minus_utc());
    Ok((wall.format("%Y-%m-%dT%H:%M:%S").to_string(), offset))
}

/// FHIR `dateTime` under a [`LocalPolicy`]: as [`to_datetime`], with an IANA zone placing a
/// local time by the offset in force then (daylight saving), and the ambiguous and
/// non-existent policies for the nights the clocks change. A value that states its own zone
/// keeps it.
pub fn to_datetime_with(
    raw: &str,
    pivot: u32,
    policy: &LocalPolicy,
) -> Result<Option<String>, FnError> {
    let Some((date, time)) = parse(raw, pivot)? else {
        return Ok(None);
    };
    let Some(t) = time else {
        return Ok(Some(date.to_fhir()));
    };
    let frac = t
        .fraction
        .as_ref()
        .map(|f| format!(".{f}"))
        .unwrap_or_default();
    let (wall, zone) = match (&t.zone, &policy.zone) {
        (Some(z), _) => (wall_text(&date, &t), z.clone()),
        (None, Some(LocalZone::Offset(o))) => (wall_text(&date, &t), o.clone()),
        (None, Some(LocalZone::Named(tz))) => place_in_zone(&date, &t, *tz, policy, raw)?,
        (None, None) => {
            return Err(FnError::new(
                "a time without a time zone and no zone configured: set `time_zone` (e.g. \"America/New_York\") or `local_offset` (e.g. \"-05:00\") in the project, or map the element with `date`",
                raw,
            ));
        }
    };
    Ok(Some(format!("{wall}{frac}{zone}")))
}

fn wall_text(date: &PartialDate, t: &Time) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}",
        date.to_fhir(),
        t.hour,
        t.minute,
        t.second
    )
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
        assert!(e.message.contains("time_zone"));
        assert!(
            dt("2019-03-04 12:00 AM", Some("Z"))
                .unwrap()
                .unwrap()
                .contains("T00:00:00")
        );
    }

    fn in_zone(zone: &str, ambiguous: Ambiguous, nonexistent: Nonexistent) -> LocalPolicy {
        LocalPolicy {
            zone: Some(LocalZone::named(zone).unwrap()),
            ambiguous,
            nonexistent,
        }
    }

    fn at(raw: &str, p: &LocalPolicy) -> Result<String, FnError> {
        to_datetime_with(raw, DEFAULT_PIVOT, p).map(|o| o.expect("a dateTime"))
    }

    /// A fixed `-05:00` puts every summer time an hour off; the IANA zone gives the offset in
    /// force, across the spring-forward and fall-back nights of 2021 (US: 14 March, 7 November).
    #[test]
    fn new_york_across_both_daylight_saving_nights() {
        use Ambiguous::{Earlier, Later};
        use Nonexistent::Shift;
        let p = in_zone("America/New_York", Earlier, Nonexistent::Exception);
        for (raw, want) in [
            ("2021-03-13 12:00", "2021-03-13T12:00:00-05:00"),
            ("2021-03-14 01:59:59", "2021-03-14T01:59:59-05:00"),
            ("2021-03-14 03:00", "2021-03-14T03:00:00-04:00"),
            ("07/01/2021 9:15:00.250 AM", "2021-07-01T09:15:00.250-04:00"),
            ("2021-11-07 00:59", "2021-11-07T00:59:00-04:00"),
            // Fall-back night: 01:30 happens twice; the default is the first (summer time).
            ("2021-11-07 01:30", "2021-11-07T01:30:00-04:00"),
            ("2021-11-07 02:00", "2021-11-07T02:00:00-05:00"),
            ("2021-12-25 18:00", "2021-12-25T18:00:00-05:00"),
            // A value stating its own zone keeps it, even inside the gap.
            ("2021-03-14T02:30:00Z", "2021-03-14T02:30:00Z"),
        ] {
            assert_eq!(at(raw, &p).unwrap(), want, "{raw}");
        }
        // Spring-forward gap: 02:30 never happens. An exception by default...
        let e = at("2021-03-14 02:30", &p).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
        assert_eq!(e.raw.as_deref(), Some("2021-03-14 02:30"));
        // ... or moved forward by the gap.
        let shift = in_zone("America/New_York", Earlier, Shift);
        assert_eq!(
            at("2021-03-14 02:30", &shift).unwrap(),
            "2021-03-14T03:30:00-04:00"
        );
        let later = in_zone("America/New_York", Later, Nonexistent::Exception);
        assert_eq!(
            at("2021-11-07 01:30", &later).unwrap(),
            "2021-11-07T01:30:00-05:00"
        );
        let refuse = in_zone(
            "America/New_York",
            Ambiguous::Exception,
            Nonexistent::Exception,
        );
        let e = at("2021-11-07 01:30", &refuse).unwrap_err();
        assert!(e.message.contains("twice"), "{}", e.message);
        assert_eq!(
            at("2021-11-07 02:30", &refuse).unwrap(),
            "2021-11-07T02:30:00-05:00"
        );
    }

    /// EU zones change at 01:00 UTC on the last Sundays of March and October (2021: 28 March,
    /// 31 October): London at 01:00/02:00 local, Berlin at 02:00/03:00.
    #[test]
    fn london_and_berlin_across_both_daylight_saving_nights() {
        use Ambiguous::{Earlier, Later};
        use Nonexistent::Shift;
        let london = in_zone("Europe/London", Earlier, Nonexistent::Exception);
        for (raw, want) in [
            ("2021-03-28 00:59", "2021-03-28T00:59:00+00:00"),
            ("2021-03-28 02:00", "2021-03-28T02:00:00+01:00"),
            ("2021-10-31 01:30", "2021-10-31T01:30:00+01:00"),
            ("2021-10-31 02:00", "2021-10-31T02:00:00+00:00"),
        ] {
            assert_eq!(at(raw, &london).unwrap(), want, "{raw}");
        }
        assert!(at("2021-03-28 01:30", &london).is_err());
        let london_later_shift = in_zone("Europe/London", Later, Shift);
        assert_eq!(
            at("2021-03-28 01:30", &london_later_shift).unwrap(),
            "2021-03-28T02:30:00+01:00"
        );
        assert_eq!(
            at("2021-10-31 01:30", &london_later_shift).unwrap(),
            "2021-10-31T01:30:00+00:00"
        );
        let berlin = in_zone("Europe/Berlin", Earlier, Shift);
        for (raw, want) in [
            ("2021-03-28 01:59", "2021-03-28T01:59:00+01:00"),
            ("2021-03-28 02:30", "2021-03-28T03:30:00+02:00"),
            ("2021-03-28 03:00", "2021-03-28T03:00:00+02:00"),
            ("2021-10-31 02:30", "2021-10-31T02:30:00+02:00"),
            ("2021-10-31 03:00", "2021-10-31T03:00:00+01:00"),
        ] {
            assert_eq!(at(raw, &berlin).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn zone_names_and_policies_are_validated() {
        assert!(LocalZone::named("America/New_York").is_ok());
        let e = LocalZone::named("Eastern").unwrap_err();
        assert!(e.contains("not an IANA time zone"), "{e}");
        let e = LocalZone::named("-05:00").unwrap_err();
        assert!(e.contains("local_offset"), "{e}");
        assert_eq!(
            LocalZone::any("-0500").unwrap(),
            LocalZone::Offset("-05:00".into())
        );
        assert!(matches!(
            LocalZone::any("Asia/Kolkata"),
            Ok(LocalZone::Named(_))
        ));
        assert_eq!(Ambiguous::parse("later"), Ok(Ambiguous::Later));
        assert!(Ambiguous::parse("latest").is_err());
        assert_eq!(Nonexistent::parse("shift"), Ok(Nonexistent::Shift));
        assert!(Nonexistent::parse("skip").is_err());
    }

    #[test]
    fn offsets_are_validated() {
        assert_eq!(canonical_offset("-0500").unwrap(), "-05:00");
        assert_eq!(canonical_offset("Z").unwrap(), "Z");
        assert!(canonical_offset("EST").is_err());
    }
}
