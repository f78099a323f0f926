//! Numbers with decimal commas and thousands separators; phones; US postal codes.

use super::FnError;

/// A legacy number (as [`decimal`] reads it) that must lie in `low..=high`: a value outside the
/// range (a keying error such as a blood pressure of 900) is an error carrying the raw value, so
/// the row becomes an exception instead of migrating an implausible measurement. Blank -> `None`.
pub fn plausible(raw: &str, low: f64, high: f64) -> Result<Option<f64>, FnError> {
    match decimal(raw)? {
        Some(f) if f >= low && f <= high => Ok(Some(f)),
        Some(_) => Err(FnError::new(
            format!("outside the plausible range {low}..{high}"),
            raw.trim(),
        )),
        None => Ok(None),
    }
}

/// Parses a legacy number. Rules: when both `.` and `,` occur, the last one is the decimal mark and
/// the other groups thousands; a lone `,` is a decimal comma (`1,5` -> 1.5) unless it is followed
/// by exactly three digits and the integer part is not `0` (`1,234` -> 1234) or there are several
/// (`1,234,567`). Spaces and apostrophes group thousands too. Blank -> `None`.
pub fn decimal(raw: &str) -> Result<Option<f64>, FnError> {
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'' && *c != '\u{a0}')
        .collect();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || FnError::new("not a number", raw.trim());
    let commas = s.matches(',').count();
    let dots = s.matches('.').count();
    // (thousands separator, decimal mark)
    let (group, mark) = match (commas, dots) {
        (0, 0) => (None, None),
        (0, _) => (
            if dots > 1 { Some('.') } else { None },
            if dots > 1 { None } else { Some('.') },
        ),
        (_, 0) => {
            let (int, frac) = s.rsplit_once(',').ok_or_else(bad)?;
            let int_digits = int.trim_start_matches(['+', '-']);
            if commas > 1 || (frac.len() == 3 && int_digits != "0" && !int_digits.is_empty()) {
                (Some(','), None)
            } else {
                (None, Some(','))
            }
        }
        _ => {
            if s.rfind(',') > s.rfind('.') {
                (Some('.'), Some(','))
            } else {
                (Some(','), Some('.'))
            }
        }
    };
    let (int, frac) = match mark {
        Some(m) => s.rsplit_once(m).ok_or_else(bad)?,
        None => (s.as_str(), ""),
    };
    if mark.is_some() && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    let int = match group {
        Some(g) => {
            let (sign, digits) = int.split_at(int.len() - int.trim_start_matches(['+', '-']).len());
            let groups: Vec<&str> = digits.split(g).collect();
            let ok = groups.iter().enumerate().all(|(i, part)| {
                part.bytes().all(|b| b.is_ascii_digit())
                    && if i == 0 {
                        (1..=3).contains(&part.len())
                    } else {
                        part.len() == 3
                    }
            });
            if !ok {
                return Err(bad());
            }
            format!("{sign}{}", groups.concat())
        }
        None => int.to_string(),
    };
    let normal = if mark.is_some() {
        format!("{int}.{frac}")
    } else {
        int
    };
    let body = normal.trim_start_matches(['+', '-']);
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || body.matches('.').count() > 1
        || normal.len() - body.len() > 1
    {
        return Err(bad());
    }
    let v: f64 = normal.parse().map_err(|_| bad())?;
    if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(bad())
    }
}

/// Normalises a phone number. 10 digits (or 11 starting with 1) -> `+1NNNNNNNNNN` (US default);
/// a number written with a leading `+` keeps its digits as `+DIGITS`; 7 digits (no area code) are
/// returned as the digits alone, because no country code can be made up for them. An extension
/// (`x123`, `ext. 123`) is kept as `;ext=123` (RFC 3966). Blank -> `None`; anything else is an error.
pub fn phone(raw: &str) -> Result<Option<String>, FnError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let lower = s.to_lowercase();
    let (main, ext) = match lower.find(['x', 'e']) {
        Some(pos) => {
            let tail = lower.get(pos..).unwrap_or("");
            let ext: String = tail.chars().filter(char::is_ascii_digit).collect();
            let letters_ok = tail
                .trim_start_matches("extension")
                .trim_start_matches("ext.")
                .trim_start_matches("ext")
                .trim_start_matches('x')
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_whitespace() || c == ':' || c == '.');
            if ext.is_empty() || !letters_ok {
                return Err(FnError::new("not a phone number", s));
            }
            (lower.get(..pos).unwrap_or(""), Some(ext))
        }
        None => (lower.as_str(), None),
    };
    if !main
        .chars()
        .all(|c| c.is_ascii_digit() || " ()-.+/".contains(c))
    {
        return Err(FnError::new("not a phone number", s));
    }
    let plus = main.trim_start().starts_with('+');
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let number = match (plus, digits.len()) {
        (true, 8..=15) => format!("+{digits}"),
        (false, 10) => format!("+1{digits}"),
        (false, 11) if digits.starts_with('1') => format!("+{digits}"),
        (false, 7) => digits,
        _ => {
            return Err(FnError::new(
                "not a phone number (wrong number of digits)",
                s,
            ));
        }
    };
    Ok(Some(match ext {
        Some(e) => format!("{number};ext={e}"),
        None => number,
    }))
}

/// US ZIP codes: `12345`, `12345-6789`, `123456789` -> `12345-6789`; a 4-digit code (a ZIP stored
/// as a number lost its leading zero) is padded to 5. Blank -> `None`; anything else is an error.
pub fn postal(raw: &str) -> Result<Option<String>, FnError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let shape_ok = s
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
        && s.matches(['-', ' ']).count() <= 1;
    match (shape_ok, digits.len()) {
        (true, 4) if !s.contains(['-', ' ']) => Ok(Some(format!("0{digits}"))),
        (true, 5) if !s.contains(['-', ' ']) => Ok(Some(digits)),
        (true, 9) => Ok(Some(format!(
            "{}-{}",
            digits.get(..5).unwrap_or(""),
            digits.get(5..).unwrap_or("")
        ))),
        _ => Err(FnError::new("not a US ZIP code", s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_keeps_values_in_range_and_rejects_keying_errors() {
        assert_eq!(plausible("120", 50.0, 260.0).unwrap(), Some(120.0));
        assert_eq!(plausible("98,6", 90.0, 110.0).unwrap(), Some(98.6));
        assert_eq!(plausible(" ", 50.0, 260.0).unwrap(), None);
        // Bounds are inclusive.
        assert_eq!(plausible("50", 50.0, 260.0).unwrap(), Some(50.0));
        let e = plausible("900", 50.0, 260.0).unwrap_err();
        assert_eq!(e.message, "outside the plausible range 50..260");
        assert_eq!(e.raw.as_deref(), Some("900"));
        assert!(plausible("abc", 0.0, 1.0).is_err());
    }

    #[test]
    fn decimal_commas_and_thousands() {
        let n = |s| decimal(s).unwrap();
        assert_eq!(n("1,5"), Some(1.5));
        assert_eq!(n("0,125"), Some(0.125));
        assert_eq!(n("1,234"), Some(1234.0));
        assert_eq!(n("1,234,567"), Some(1234567.0));
        assert_eq!(n("1.234,5"), Some(1234.5));
        assert_eq!(n("1,234.5"), Some(1234.5));
        assert_eq!(n(" -12.50 "), Some(-12.5));
        assert_eq!(n("1 234,5"), Some(1234.5));
        assert_eq!(n(""), None);
        assert_eq!(n("1.234.567,89"), Some(1234567.89));
        assert_eq!(n("1.234.567"), Some(1234567.0));
        for bad in [
            "abc",
            "1.2.3,4",
            "12,34,567",
            "1,5.",
            "1.",
            "--1",
            "1e5",
            ".",
            "NaN",
            "inf",
        ] {
            assert!(decimal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164_with_a_us_default() {
        let p = |s| phone(s).unwrap();
        assert_eq!(p("(555) 123-4567").as_deref(), Some("+15551234567"));
        assert_eq!(p("555.123.4567").as_deref(), Some("+15551234567"));
        assert_eq!(p("1-555-123-4567").as_deref(), Some("+15551234567"));
        assert_eq!(p("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(p("123-4567").as_deref(), Some("1234567"));
        assert_eq!(
            p("555-123-4567 x89").as_deref(),
            Some("+15551234567;ext=89")
        );
        assert_eq!(
            p("555-123-4567 ext. 89").as_deref(),
            Some("+15551234567;ext=89")
        );
        assert_eq!(p(" "), None);
        for bad in ["call me", "12345", "555-123-45678-9", "555-CALL-NOW"] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postal_codes() {
        let z = |s| postal(s).unwrap();
        assert_eq!(z("12345").as_deref(), Some("12345"));
        assert_eq!(z("12345-6789").as_deref(), Some("12345-6789"));
        assert_eq!(z("123456789").as_deref(), Some("12345-6789"));
        assert_eq!(z("2134").as_deref(), Some("02134"));
        assert_eq!(z(""), None);
        for bad in ["1234-5", "ABCDE", "123", "12345--6789"] {
            assert!(postal(bad).is_err(), "{bad}");
        }
    }
}
