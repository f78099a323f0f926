//! Person names: `LAST, FIRST M` and `FIRST M LAST`, trimmed, whitespace collapsed, accents and
//! case kept. `title_case` only when a mapping asks for it.

/// Surname particles that belong to the family name when a name has no comma (`Mary van der Berg`).
const PARTICLES: [&str; 14] = [
    "van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "la", "le", "st", "st.",
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameParts {
    pub family: Option<String>,
    pub given: Vec<String>,
    pub suffix: Option<String>,
}

/// Splits a full name. With a comma: `FAMILY, GIVEN [MIDDLE...][, SUFFIX]`. Without: the last word
/// is the family name, with any surname particles in front of it; the words before are given names.
pub fn name_parts(raw: &str) -> NameParts {
    let s = super::collapse_ws(raw);
    if s.is_empty() {
        return NameParts::default();
    }
    if s.contains(',') {
        let mut parts = s.split(',').map(str::trim);
        let family = parts.next().filter(|f| !f.is_empty()).map(str::to_string);
        let given = parts
            .next()
            .map(|g| {
                g.split(' ')
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let rest: Vec<&str> = parts.filter(|p| !p.is_empty()).collect();
        let suffix = if rest.is_empty() {
            None
        } else {
            Some(rest.join(" "))
        };
        return NameParts {
            family,
            given,
            suffix,
        };
    }
    let words: Vec<&str> = s.split(' ').collect();
    let Some((last_idx, _)) = words.iter().enumerate().next_back() else {
        return NameParts::default();
    };
    let mut start = last_idx;
    while start > 1 {
        let prev = words
            .get(start - 1)
            .map(|w| w.to_lowercase())
            .unwrap_or_default();
        if PARTICLES.contains(&prev.as_str()) {
            start -= 1;
        } else {
            break;
        }
    }
    let family = words
        .get(start..)
        .map(|w| w.join(" "))
        .filter(|f| !f.is_empty());
    let given = words
        .get(..start)
        .map(|w| w.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default();
    NameParts {
        family,
        given,
        suffix: None,
    }
}

/// The family name of a `LAST, FIRST` string; text without a comma is all family name (a surname
/// column). Use [`name_parts`] for full names written `FIRST LAST`.
pub fn family(raw: &str) -> Option<String> {
    let s = super::collapse_ws(raw);
    if s.contains(',') {
        name_parts(&s).family
    } else if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// The given names of a `LAST, FIRST M` string; text without a comma is all given names (a
/// first-name column: `Mary Ann` -> `["Mary", "Ann"]`).
pub fn given(raw: &str) -> Vec<String> {
    let s = super::collapse_ws(raw);
    if s.contains(',') {
        name_parts(&s).given
    } else {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Capitalises the first letter of each word and after `-` or `'`; lower-cases the rest
/// (`O'BRIEN` -> `O'Brien`, `VAN DER BERG` -> `Van Der Berg`). Accents are kept.
pub fn title_case(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut start = true;
    for c in raw.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c.is_whitespace() || c == '-' || c == '\'';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_form_splits_family_and_given() {
        let p = name_parts("  GARCÍA,  José   M ");
        assert_eq!(p.family.as_deref(), Some("GARCÍA"));
        assert_eq!(p.given, vec!["José", "M"]);
        let p = name_parts("Smith, John, Jr.");
        assert_eq!(p.suffix.as_deref(), Some("Jr."));
    }

    #[test]
    fn plain_form_keeps_surname_particles() {
        let p = name_parts("Mary Ann van der Berg");
        assert_eq!(p.family.as_deref(), Some("van der Berg"));
        assert_eq!(p.given, vec!["Mary", "Ann"]);
        let p = name_parts("O'Brien");
        assert_eq!(p.family.as_deref(), Some("O'Brien"));
        assert!(p.given.is_empty());
    }

    #[test]
    fn given_and_family_read_single_part_columns_whole() {
        assert_eq!(given("Seán  Patrick"), vec!["Seán", "Patrick"]);
        assert_eq!(given("DOE, JANE Q"), vec!["JANE", "Q"]);
        assert_eq!(family("Van der Berg").as_deref(), Some("Van der Berg"));
        assert_eq!(family("DOE, JANE").as_deref(), Some("DOE"));
        assert_eq!(family("  "), None);
    }

    #[test]
    fn blank_name_has_no_parts() {
        assert_eq!(name_parts("   "), NameParts::default());
        assert_eq!(name_parts(","), NameParts::default());
    }

    #[test]
    fn title_case_handles_apostrophes_hyphens_and_accents() {
        assert_eq!(title_case("O'BRIEN"), "O'Brien");
        assert_eq!(title_case("JEAN-LUC ÉMILE"), "Jean-Luc Émile");
    }
}
