//! Normalisation of identity values before comparison. Every function accepts any input and
//! returns an empty string (or `None`) for what it cannot use: a missing value is neutral.

/// Folds common Latin accented letters to ASCII (é -> e, ß -> ss, ø -> o); other letters are kept.
fn fold(c: char, out: &mut String) {
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ž' | 'ź' | 'ż' => "z",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(s);
}

/// A name: lower case, accents folded, letters only (spaces, hyphens, apostrophes dropped).
pub fn name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphabetic() {
            fold(c, &mut out);
        }
    }
    out
}

/// Free text (address, city): lower case, accents folded, letters and digits, single spaces,
/// common street words abbreviated (`street` -> `st`).
pub fn text(s: &str) -> String {
    let mut cleaned = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            fold(c, &mut cleaned);
        } else {
            cleaned.push(' ');
        }
    }
    let mut out = String::with_capacity(cleaned.len());
    for w in cleaned.split_whitespace() {
        let w = match w {
            "street" => "st",
            "avenue" => "ave",
            "road" => "rd",
            "drive" => "dr",
            "lane" => "ln",
            "boulevard" => "blvd",
            "court" => "ct",
            "place" => "pl",
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            "apartment" | "apt" | "unit" | "suite" | "ste" => "#",
            other => other,
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn placeholder_digits(d: &str) -> bool {
    let b = d.as_bytes();
    b.is_empty()
        || b.iter().all(|&c| Some(&c) == b.first())
        || d == "123456789"
        || d == "0123456789"
        || d == "1234567890"
}

/// A national identifier (SSN and the like): its digits, at least 4, not a placeholder
/// (all one digit, `123456789`; for 9-digit US SSNs also area 000, 666 or 9xx).
pub fn identifier(s: &str) -> String {
    let d = digits(s);
    if d.len() < 4 || placeholder_digits(&d) {
        return String::new();
    }
    if d.len() == 9 {
        let area = d.get(0..3).unwrap_or("");
        if area == "000" || area == "666" || area.starts_with('9') {
            return String::new();
        }
    }
    d
}

/// A phone number: its digits without a leading `1` country code (11 digits), at least 7.
pub fn phone(s: &str) -> String {
    let mut d = digits(s);
    if d.len() == 11 && d.starts_with('1') {
        d.remove(0);
    }
    if d.len() < 7 || placeholder_digits(&d) {
        return String::new();
    }
    d
}

/// A postal code: letters and digits in upper case; a US ZIP+4 keeps its five digits.
pub fn postal(s: &str) -> String {
    let head = s.split('-').next().unwrap_or("");
    let out: String = head
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if out.len() == 9 && out.bytes().all(|b| b.is_ascii_digit()) {
        return out.get(0..5).unwrap_or("").to_string();
    }
    if out.bytes().all(|b| b == b'0') {
        return String::new();
    }
    out
}

/// An e-mail address, trimmed and lower case, or empty when it has no `@`.
pub fn email(s: &str) -> String {
    let t = s.trim().to_lowercase();
    if t.contains('@') { t } else { String::new() }
}

/// `M`/`F` from the usual codes (`m`, `male`, `F`, `female`); anything else is unknown (0).
pub fn sex(s: &str) -> u8 {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "m" | "male" | "man" => b'M',
        "f" | "female" | "woman" | "w" => b'F',
        _ => 0,
    }
}

/// A date as `YYYYMMDD` packed in a u32 (0 when it is missing or invalid). Accepts every layout
/// the profiler knows (`MM/DD/YYYY`, `YYYY-MM-DD`, `DD-Mon-YY`, `YYYYMMDD`...), and datetimes.
pub fn date(s: &str) -> u32 {
    let t = s.trim();
    let ymd = ferry_profile::formats::parse_date(t)
        .or_else(|| ferry_profile::formats::parse_datetime(t).map(|(d, _)| d))
        .or_else(|| t.get(0..10).and_then(ferry_profile::formats::parse_date));
    match ymd {
        Some((y, m, d)) if (1..=9999).contains(&y) => {
            y as u32 * 10_000 + u32::from(m) * 100 + u32::from(d)
        }
        _ => 0,
    }
}

/// A sortable instant (seconds from year 0, roughly) for survivorship, or `None`.
pub fn instant(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(((y, m, d), secs)) = ferry_profile::formats::parse_datetime(t) {
        return Some(
            (i64::from(y) * 10_000 + i64::from(m) * 100 + i64::from(d)) * 100_000 + i64::from(secs),
        );
    }
    let p = date(t);
    (p != 0).then(|| i64::from(p) * 100_000)
}

/// The Double Metaphone primary code of a normalised name, hashed to a non-zero u32 (0: none).
pub fn phonetic(name: &str) -> u32 {
    let ascii: String = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if ascii.is_empty() {
        return 0;
    }
    let code = rphonetic::DoubleMetaphone::default()
        .double_metaphone(&ascii)
        .primary();
    if code.is_empty() {
        return 0;
    }
    let h = fnv(code.as_bytes()) as u32;
    h.max(1)
}

/// FNV-1a, 64 bits: a fixed hash for block keys and term frequencies (the same on every run).
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_are_normalised() {
        assert_eq!(name("O'Brien-Müller"), "obrienmuller");
        assert_eq!(name("  "), "");
        assert_eq!(text("12 Main Street, Apt 4"), "12 main st # 4");
        assert_eq!(identifier("212-45-6789"), "212456789");
        assert_eq!(identifier("000-00-0000"), "");
        assert_eq!(identifier("123-45-6789"), "");
        assert_eq!(identifier("999-12-3456"), "");
        assert_eq!(identifier("5304218"), "5304218");
        assert_eq!(phone("(555) 123-4567"), "5551234567");
        assert_eq!(phone("+1 555 123 4567"), "5551234567");
        assert_eq!(phone("000-0000"), "");
        assert_eq!(postal("12345-6789"), "12345");
        assert_eq!(postal("123456789"), "12345");
        assert_eq!(postal("sw1a 1aa"), "SW1A1AA");
        assert_eq!(sex("f"), b'F');
        assert_eq!(sex("U"), 0);
        assert_eq!(date("03/04/1970"), 19700304);
        assert_eq!(date("1970-03-04"), 19700304);
        assert_eq!(date("19700304"), 19700304);
        assert_eq!(date("1970-03-04 10:00:00"), 19700304);
        assert_eq!(date("00/00/0000"), 0);
        assert_eq!(date("02/30/1970"), 0);
        assert!(instant("2020-01-02 10:00:00") > instant("2020-01-02"));
        assert_eq!(phonetic("smith"), phonetic("smyth"));
        assert_ne!(phonetic("smith"), phonetic("jones"));
        assert_eq!(phonetic(""), 0);
    }

    proptest! {
        #[test]
        fn normalisers_never_panic(s in "\\PC{0,40}") {
            let _ = name(&s);
            let _ = text(&s);
            let _ = identifier(&s);
            let _ = phone(&s);
            let _ = postal(&s);
            let _ = email(&s);
            let _ = sex(&s);
            let _ = date(&s);
            let _ = instant(&s);
            let _ = phonetic(&name(&s));
        }

        #[test]
        fn phonetic_never_panics_on_ascii_names(s in "[a-zA-Z]{0,30}") {
            let _ = phonetic(&s);
        }
    }
}
