//! Identifiers: zero padding lost in numeric columns, and check-digit validation (Luhn, NPI).

use super::FnError;

/// `raw` (trimmed) left-padded with `0` to `width` characters (an MRN or ZIP whose leading
/// zeros a numeric column dropped); longer values are unchanged. Blank -> `None`.
pub fn zero_pad(raw: &str, width: usize) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    Some(format!("{t:0>width$}"))
}

/// Whether the digits pass the Luhn (mod 10) check, the last digit being the check digit.
pub fn luhn_ok(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn digits_of(raw: &str) -> Option<Vec<u8>> {
    let t: String = raw
        .trim()
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .collect();
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.bytes().map(|b| b - b'0').collect())
}

/// A number that must pass the Luhn check: its digits (spaces and `-` removed), or an error.
/// Blank -> `None`.
pub fn luhn(raw: &str) -> Result<Option<String>, FnError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    match digits_of(raw) {
        Some(d) if luhn_ok(&d) => Ok(Some(d.iter().map(|d| char::from(b'0' + d)).collect())),
        Some(_) => Err(FnError::new("the check digit is wrong (Luhn)", raw)),
        None => Err(FnError::new("not a number (digits only)", raw)),
    }
}

/// A US National Provider Identifier: 10 digits whose last is the Luhn check digit over the
/// prefix `80840` and the first nine (CMS NPI standard). Blank -> `None`.
pub fn npi(raw: &str) -> Result<Option<String>, FnError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let Some(d) = digits_of(raw).filter(|d| d.len() == 10) else {
        return Err(FnError::new("an NPI is 10 digits", raw));
    };
    let mut full = vec![8, 0, 8, 4, 0];
    full.extend_from_slice(&d);
    if luhn_ok(&full) {
        Ok(Some(d.iter().map(|d| char::from(b'0' + d)).collect()))
    } else {
        Err(FnError::new("the NPI check digit is wrong", raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_pad_restores_leading_zeros() {
        assert_eq!(zero_pad("2134", 5).as_deref(), Some("02134"));
        assert_eq!(zero_pad(" 42 ", 8).as_deref(), Some("00000042"));
        assert_eq!(zero_pad("123456", 5).as_deref(), Some("123456"));
        assert_eq!(zero_pad("", 5), None);
    }

    #[test]
    fn luhn_accepts_valid_numbers_and_rejects_a_changed_digit() {
        assert_eq!(
            luhn("4539 1488 0343 6467").unwrap().as_deref(),
            Some("4539148803436467")
        );
        assert_eq!(luhn("79927398713").unwrap().as_deref(), Some("79927398713"));
        let e = luhn("79927398710").unwrap_err();
        assert_eq!(e.message, "the check digit is wrong (Luhn)");
        assert_eq!(e.raw.as_deref(), Some("79927398710"));
        assert!(luhn("12a4").is_err());
        assert_eq!(luhn(" ").unwrap(), None);
    }

    #[test]
    fn npi_uses_the_80840_prefix() {
        // CMS's example NPI.
        assert_eq!(npi("1234567893").unwrap().as_deref(), Some("1234567893"));
        assert_eq!(npi("123-456-7893").unwrap().as_deref(), Some("1234567893"));
        assert!(
            npi("1234567890")
                .unwrap_err()
                .message
                .contains("check digit")
        );
        assert!(npi("123456789").unwrap_err().message.contains("10 digits"));
        // Luhn-valid on its own digits, but not with the prefix.
        assert!(luhn("1234567897").is_ok());
        assert!(npi("1234567897").is_err());
        assert_eq!(npi("").unwrap(), None);
    }
}
