//! Small text helpers shared by the reports.

use ferry_profile::model::{FormatShare, InferredType, PhiKind};

/// Excel's limit on the characters (UTF-16 code units) of one cell.
pub(crate) const CELL_MAX: usize = 32_767;

/// The A1-style name of a 0-based column (`0` -> `A`, `26` -> `AA`).
pub(crate) fn column_letters(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        out.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The A1-style reference of a 0-based cell (`(0, 0)` -> `A1`).
pub(crate) fn cell_ref(row: u32, col: u32) -> String {
    format!("{}{}", column_letters(col), u64::from(row) + 1)
}

/// `s` cut to at most `max` UTF-16 code units, on a character boundary, with `…` when cut.
pub(crate) fn truncate_utf16(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.encode_utf16().count() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::new();
    let mut used = 0usize;
    let budget = max.saturating_sub(1);
    for ch in s.chars() {
        let w = ch.len_utf16();
        if used + w > budget {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    std::borrow::Cow::Owned(out)
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.chars().count() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    std::borrow::Cow::Owned(out)
}

/// A share in 0..=1 as a whole percentage, never rounding a part up to 100% or down to 0%.
pub(crate) fn percent(share: f64) -> String {
    if !share.is_finite() || share <= 0.0 {
        return "0%".to_string();
    }
    let p = share * 100.0;
    if p >= 100.0 {
        "100%".to_string()
    } else if p < 0.5 {
        "<1%".to_string()
    } else if p >= 99.5 {
        ">99%".to_string()
    } else {
        format!("{:.0}%", p)
    }
}

/// `date:MM/DD/YYYY 93%; date:YYYY-MM-DD 7%`.
pub(crate) fn formats_summary(formats: &[FormatShare]) -> String {
    formats
        .iter()
        .map(|f| format!("{} {}", f.format, percent(f.share)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The snake_case name used in the profile JSON.
pub(crate) fn phi_name(kind: PhiKind) -> &'static str {
    match kind {
        PhiKind::Name => "name",
        PhiKind::BirthDate => "birth_date",
        PhiKind::Date => "date",
        PhiKind::Ssn => "ssn",
        PhiKind::Mrn => "mrn",
        PhiKind::Address => "address",
        PhiKind::PostalCode => "postal_code",
        PhiKind::Phone => "phone",
        PhiKind::Email => "email",
        PhiKind::FreeText => "free_text",
        PhiKind::OtherIdentifier => "other_identifier",
    }
}

/// The snake_case name used in the profile JSON.
pub(crate) fn inferred_name(t: InferredType) -> &'static str {
    match t {
        InferredType::Empty => "empty",
        InferredType::Integer => "integer",
        InferredType::Decimal => "decimal",
        InferredType::Date => "date",
        InferredType::DateTime => "date_time",
        InferredType::Time => "time",
        InferredType::Boolean => "boolean",
        InferredType::Code => "code",
        InferredType::Text => "text",
        InferredType::Binary => "binary",
        InferredType::Mixed => "mixed",
    }
}

/// A count with thousands separators: `1234567` -> `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The current time in UTC as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_from_unix(secs)
}

/// Formats seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn utc_from_unix(secs: u64) -> String {
    ferry_core::calendar::utc_rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_cover_one_two_and_three_letters() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
        assert_eq!(cell_ref(11, 5), "F12");
    }

    #[test]
    fn percent_never_rounds_a_part_to_all_or_nothing() {
        assert_eq!(percent(0.93), "93%");
        assert_eq!(percent(0.001), "<1%");
        assert_eq!(percent(0.999), ">99%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(f64::NAN), "0%");
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 3), "hé…");
        assert_eq!(truncate_utf16("😀😀😀", 5), "😀😀…");
        assert_eq!(truncate_utf16("abc", 3), "abc");
    }

    #[test]
    fn unix_time_formats_as_utc() {
        assert_eq!(utc_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_from_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_from_unix(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
