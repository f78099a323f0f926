//! What one value is, using `ferry_profile::formats` (dates, numbers, codes, check digits).
//! Nothing here parses dates itself: the only addition is a shape test that tells a date with
//! an impossible day or month (`02/30/2019`, `2019-13-01`) from text that is no date at all.

use ferry_profile::formats;
use regex::Regex;
use std::sync::LazyLock;

/// What a value says as a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DateValue {
    /// A valid date (or datetime, by its date) with its format name (`MM/DD/YYYY`,
    /// `YYYY-MM-DD HH:MM:SS`, ...: the profile's names without the `date:`/`datetime:` prefix).
    Date {
        ymd: (i32, u8, u8),
        format: &'static str,
    },
    /// A legacy zero date; its format name is its own shape (`00/00/0000`, `0000-00-00`).
    Zero,
    /// Written like a date, but no such day (month 13, February 30, year out of range).
    Impossible,
    /// Not a date.
    NotDate,
}

/// Date-like shapes (digits and separators only; a month name for `DD-Mon-YY`).
static DATE_SHAPE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-[A-Za-z]{3}-(\d{2}|\d{4})|\d{1,2}\.\d{1,2}\.\d{4})([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$",
    )
    .ok()
});

pub(crate) fn date_value(s: &str) -> DateValue {
    if s.len() > 40 || s.is_empty() {
        return DateValue::NotDate;
    }
    if formats::is_zero_date(s) {
        return DateValue::Zero;
    }
    if let Some(fmt) = formats::date_format(s) {
        let ymd = formats::parse_date(s).or_else(|| formats::parse_datetime(s).map(|(d, _)| d));
        if let Some(ymd) = ymd {
            let format = fmt
                .strip_prefix("date:")
                .or_else(|| fmt.strip_prefix("datetime:"))
                .unwrap_or(fmt);
            return DateValue::Date { ymd, format };
        }
    }
    match &*DATE_SHAPE {
        Some(re) if re.is_match(s) => {
            // A date-like shape that is not a date: impossible unless its month word is no
            // month at all (`12-abc-20` is text, not a date).
            if let Some(mon) = s.split('-').nth(1)
                && mon.len() == 3
                && mon.chars().all(|c| c.is_ascii_alphabetic())
                && !is_month_abbrev(mon)
            {
                return DateValue::NotDate;
            }
            DateValue::Impossible
        }
        _ => DateValue::NotDate,
    }
}

fn is_month_abbrev(m: &str) -> bool {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    M.iter().any(|x| x.eq_ignore_ascii_case(m))
}

/// A number written as an integer or decimal (also with a decimal comma).
pub(crate) fn number(s: &str) -> Option<f64> {
    formats::parse_number(s.trim())
}

/// Code systems a value can belong to, as bits.
pub(crate) const ICD10: u8 = 1;
pub(crate) const ICD9: u8 = 2;
pub(crate) const LOINC: u8 = 4;
pub(crate) const CVX: u8 = 8;
pub(crate) const NDC: u8 = 16;
pub(crate) const SNOMED: u8 = 32;

pub(crate) const SYSTEMS: [(u8, &str); 6] = [
    (ICD10, "ICD-10-CM"),
    (ICD9, "ICD-9-CM"),
    (LOINC, "LOINC"),
    (CVX, "CVX"),
    (NDC, "NDC"),
    (SNOMED, "SNOMED CT"),
];

/// Systems that stand in for each other in one column (ICD-9-CM and ICD-10-CM: the same
/// diagnoses before and after 2015).
pub(crate) fn family(system: u8) -> u8 {
    match system {
        ICD10 | ICD9 => ICD10 | ICD9,
        s => s,
    }
}

/// The code systems whose shape `s` fits. Weak shapes (plain digits as CVX, NDC, SNOMED CT) only
/// count when the column name says so.
pub(crate) fn code_systems(s: &str, hints: formats::Hints) -> u8 {
    let s = s.trim();
    let mut m = 0;
    if formats::is_icd10cm(s) {
        m |= ICD10;
    }
    if formats::is_icd9cm(s) {
        m |= ICD9;
    }
    if formats::is_loinc(s) {
        m |= LOINC;
    }
    if hints.vaccine && formats::is_cvx(s) {
        m |= CVX;
    }
    if formats::is_ndc(s, hints.ndc) {
        m |= NDC;
    }
    if hints.snomed && formats::is_snomedct(s) {
        m |= SNOMED;
    }
    m
}

/// Digits of a value written as a number with optional spaces or dashes between groups.
pub(crate) fn id_digits(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return None;
    }
    let d: String = t.chars().filter(char::is_ascii_digit).collect();
    (!d.is_empty()).then_some(d)
}

pub(crate) fn nhs_valid(digits: &str) -> bool {
    digits.len() == 10 && formats::nhs_number_valid(digits)
}

pub(crate) fn npi_valid(digits: &str) -> bool {
    digits.len() == 10
        && matches!(digits.as_bytes().first(), Some(b'1' | b'2'))
        && formats::luhn_valid(&format!("80840{digits}"))
}

pub(crate) fn luhn_valid(digits: &str) -> bool {
    (8..=19).contains(&digits.len()) && formats::luhn_valid(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_zero_dates_and_impossible_dates_are_told_apart() {
        assert_eq!(
            date_value("03/04/2001"),
            DateValue::Date {
                ymd: (2001, 3, 4),
                format: "MM/DD/YYYY"
            }
        );
        assert!(matches!(
            date_value("2019-05-06 10:11:12"),
            DateValue::Date {
                format: "YYYY-MM-DD HH:MM:SS",
                ..
            }
        ));
        assert_eq!(date_value("00/00/0000"), DateValue::Zero);
        assert_eq!(date_value("0000-00-00"), DateValue::Zero);
        assert_eq!(date_value("02/30/2019"), DateValue::Impossible);
        assert_eq!(date_value("13/01/2019"), DateValue::Impossible);
        assert_eq!(date_value("2019-13-01"), DateValue::Impossible);
        assert_eq!(date_value("31-Feb-19"), DateValue::Impossible);
        assert_eq!(date_value("12-abc-20"), DateValue::NotDate);
        assert_eq!(date_value("back pain"), DateValue::NotDate);
        assert_eq!(date_value("12345"), DateValue::NotDate);
        assert_eq!(date_value(""), DateValue::NotDate);
    }

    #[test]
    fn check_digits() {
        assert!(nhs_valid("9434765919"));
        assert!(!nhs_valid("9434765918"));
        // A valid NPI (the CMS example) and the same with its last digit changed.
        assert!(npi_valid("1234567893"));
        assert!(!npi_valid("1234567890"));
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert_eq!(id_digits("943 476 5919").as_deref(), Some("9434765919"));
        assert_eq!(id_digits("94A"), None);
    }

    #[test]
    fn code_systems_by_shape() {
        let h = formats::Hints::default();
        assert_eq!(code_systems("E11.9", h), ICD10);
        assert_eq!(code_systems("250.00", h) & ICD9, ICD9);
        assert_eq!(code_systems("back pain", h), 0);
        assert_eq!(code_systems("2345-7", h), LOINC);
        assert_eq!(family(ICD9), ICD10 | ICD9);
    }
}
