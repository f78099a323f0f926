//! The likely kind of protected health information in a column, from its name and its values.
//!
//! Names are split into lower-case words (`FirstName`, `first_name`, `PT_FNAME` all give
//! `first`/`name` or `fname`); a few words decide alone (`ssn`, `dob`, `mrn`, `email`...), others
//! need a partner (`name` only with `first`/`last`/`patient`... or alone in a person table).
//! Value evidence (SSN, e-mail and phone shapes, long free text) labels columns whatever their
//! names.

use crate::model::{FormatShare, InferredType, PhiKind};

/// What the PHI rules look at.
pub struct PhiInput<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub inferred: InferredType,
    pub formats: &'a [FormatShare],
    /// Mean length in characters of the non-null values.
    pub mean_len: Option<f64>,
    /// The table holds rows about people (it is a patient/person table or has a patient id).
    pub person_table: bool,
}

/// Splits an identifier into lower-case words at `_`, `-`, spaces, digits and camel case.
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() || ch.is_ascii_digit() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn share(formats: &[FormatShare], name: &str) -> f64 {
    formats
        .iter()
        .filter(|f| f.format == name)
        .map(|f| f.share)
        .sum()
}

/// Whether a table holds rows about people.
pub fn is_person_table(table: &str, columns: &[&str]) -> bool {
    let t = table.to_ascii_lowercase();
    [
        "patient", "person", "people", "member", "client", "employee",
    ]
    .iter()
    .any(|w| t.contains(w))
        || columns.iter().any(|c| {
            let w = words(c);
            matches!(
                w.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
                ["patient", "id"] | ["pat", "id"] | ["person", "id"] | ["pt", "id"] | ["mrn"]
            )
        })
}

/// The likely PHI kind of a column, or `None`.
pub fn classify(input: &PhiInput<'_>) -> Option<PhiKind> {
    let w = words(input.column);
    let has = |x: &str| w.iter().any(|y| y == x);
    let joined = w.concat();

    // Names of identifiers that decide alone.
    if has("ssn") || joined.contains("socialsecurity") || has("ssno") || has("socsec") {
        return Some(PhiKind::Ssn);
    }
    if has("mrn") || joined.contains("medicalrecord") || joined.contains("medrec") || has("chart") {
        return Some(PhiKind::Mrn);
    }
    if has("dob")
        || joined.contains("birth")
        || has("bdate")
        || has("birthdate")
        || joined == "datebirth"
    {
        return Some(PhiKind::BirthDate);
    }
    if has("email") || joined.contains("email") {
        return Some(PhiKind::Email);
    }
    if has("phone") || has("tel") || has("telephone") || has("fax") || has("mobile") || has("cell")
    {
        return Some(PhiKind::Phone);
    }
    if has("zip") || has("postal") || has("postcode") || has("zipcode") {
        return Some(PhiKind::PostalCode);
    }
    if has("addr")
        || has("address")
        || joined.starts_with("address")
        || has("street")
        || has("city")
        || has("county")
    {
        return Some(PhiKind::Address);
    }
    let person_word = |x: &str| {
        matches!(
            x,
            "first"
                | "last"
                | "middle"
                | "full"
                | "given"
                | "family"
                | "maiden"
                | "nick"
                | "patient"
                | "pt"
                | "sur"
                | "mother"
                | "father"
                | "spouse"
                | "guardian"
                | "contact"
                | "emergency"
        )
    };
    if has("fname")
        || has("lname")
        || has("mname")
        || has("surname")
        || has("firstname")
        || has("lastname")
        || (has("name") && w.iter().any(|x| person_word(x)))
        || (has("init") && w.iter().any(|x| person_word(x)))
        || (w == ["name"] && input.person_table)
    {
        return Some(PhiKind::Name);
    }

    // Value evidence.
    if share(input.formats, "ssn") >= 0.5 {
        return Some(PhiKind::Ssn);
    }
    if share(input.formats, "email") >= 0.5 {
        return Some(PhiKind::Email);
    }
    if share(input.formats, "phone") >= 0.5 {
        return Some(PhiKind::Phone);
    }
    let free_text_name = has("note")
        || has("notes")
        || has("comment")
        || has("comments")
        || has("text")
        || has("narrative")
        || has("remark")
        || has("remarks")
        || has("memo")
        || has("narr");
    let long_text =
        input.inferred == InferredType::Text && input.mean_len.is_some_and(|m| m >= 60.0);
    if long_text
        || (free_text_name && matches!(input.inferred, InferredType::Text | InferredType::Mixed))
    {
        return Some(PhiKind::FreeText);
    }

    // Other identifiers and person dates.
    if input.person_table
        && (has("emp") && (has("no") || has("num") || has("id"))
            || has("employee") && (has("no") || has("num") || has("id") || has("number"))
            || has("member") && has("id")
            || has("account")
            || has("acct")
            || has("license")
            || has("policy")
            || has("insurance"))
    {
        return Some(PhiKind::OtherIdentifier);
    }
    if input.person_table && matches!(input.inferred, InferredType::Date | InferredType::DateTime) {
        return Some(PhiKind::Date);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(table: &str, column: &str, inferred: InferredType) -> Option<PhiKind> {
        classify(&PhiInput {
            table,
            column,
            inferred,
            formats: &[],
            mean_len: None,
            person_table: is_person_table(table, &[]),
        })
    }

    #[test]
    fn words_split_names() {
        assert_eq!(words("FirstName"), ["first", "name"]);
        assert_eq!(words("PT_FNAME"), ["pt", "fname"]);
        assert_eq!(words("l500"), ["l"]);
        assert_eq!(words("home_phone"), ["home", "phone"]);
    }

    #[test]
    fn names_of_person_columns() {
        let t = InferredType::Text;
        assert_eq!(kind("patients", "first_name", t), Some(PhiKind::Name));
        assert_eq!(kind("patients", "last_name", t), Some(PhiKind::Name));
        assert_eq!(kind("patients", "middle_init", t), Some(PhiKind::Name));
        assert_eq!(
            kind("patients", "dob", InferredType::Date),
            Some(PhiKind::BirthDate)
        );
        assert_eq!(
            kind("patients", "ssn", InferredType::Code),
            Some(PhiKind::Ssn)
        );
        assert_eq!(
            kind("patients", "mrn", InferredType::Code),
            Some(PhiKind::Mrn)
        );
        assert_eq!(
            kind("patients", "zip", InferredType::Code),
            Some(PhiKind::PostalCode)
        );
        assert_eq!(kind("patients", "address1", t), Some(PhiKind::Address));
        assert_eq!(kind("patients", "city", t), Some(PhiKind::Address));
        assert_eq!(kind("patients", "home_phone", t), Some(PhiKind::Phone));
        assert_eq!(kind("patients", "email", t), Some(PhiKind::Email));
        assert_eq!(
            kind("patients", "emp_no", InferredType::Code),
            Some(PhiKind::OtherIdentifier)
        );
        assert_eq!(
            kind("patients", "hire_date", InferredType::Date),
            Some(PhiKind::Date)
        );
        assert_eq!(
            kind("clinical_notes", "note_text", t),
            Some(PhiKind::FreeText)
        );
    }

    #[test]
    fn non_phi_columns() {
        assert_eq!(
            kind("immunizations", "vaccine_name", InferredType::Text),
            None
        );
        assert_eq!(kind("employers", "name", InferredType::Text), None);
        assert_eq!(kind("vitals", "pulse", InferredType::Integer), None);
        assert_eq!(kind("patients", "state", InferredType::Code), None);
        assert_eq!(kind("lab_results", "test_code", InferredType::Code), None);
    }

    #[test]
    fn value_evidence_labels_unnamed_columns() {
        let formats = [FormatShare {
            format: "ssn".into(),
            count: 9,
            share: 0.9,
        }];
        let k = classify(&PhiInput {
            table: "x",
            column: "c7",
            inferred: InferredType::Code,
            formats: &formats,
            mean_len: Some(11.0),
            person_table: false,
        });
        assert_eq!(k, Some(PhiKind::Ssn));
        let k = classify(&PhiInput {
            table: "x",
            column: "c8",
            inferred: InferredType::Text,
            formats: &[],
            mean_len: Some(400.0),
            person_table: false,
        });
        assert_eq!(k, Some(PhiKind::FreeText));
    }
}
