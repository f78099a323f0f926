//! Value maps with a closed set of answers: administrative gender and UCUM units.

use super::FnError;

/// FHIR administrative-gender from legacy sex codes. Blank -> `unknown`; an unknown code is an error.
pub fn gender(raw: Option<&str>) -> Result<&'static str, FnError> {
    let Some(s) = raw.map(str::trim) else {
        return Ok("unknown");
    };
    match s.to_lowercase().as_str() {
        "m" | "male" | "man" => Ok("male"),
        "f" | "female" | "woman" => Ok("female"),
        "o" | "other" | "x" => Ok("other"),
        "" | "u" | "unk" | "unknown" => Ok("unknown"),
        _ => Err(FnError::new("unknown sex/gender code", s)),
    }
}

/// Legacy unit spellings (lower-cased, spaces removed) -> UCUM code. Units are matched exactly
/// first (UCUM is case-sensitive), then by this table.
const UCUM: &[(&str, &str)] = &[
    ("%", "%"),
    ("mg/dl", "mg/dL"),
    ("g/dl", "g/dL"),
    ("ug/dl", "ug/dL"),
    ("mcg/dl", "ug/dL"),
    ("µg/dl", "ug/dL"),
    ("ng/dl", "ng/dL"),
    ("ng/ml", "ng/mL"),
    ("pg/ml", "pg/mL"),
    ("mg/l", "mg/L"),
    ("g/l", "g/L"),
    ("mmol/l", "mmol/L"),
    ("umol/l", "umol/L"),
    ("µmol/l", "umol/L"),
    ("meq/l", "meq/L"),
    ("miu/ml", "m[IU]/mL"),
    ("iu/l", "[IU]/L"),
    ("u/l", "U/L"),
    ("iu/ml", "[IU]/mL"),
    ("mmhg", "mm[Hg]"),
    ("mm[hg]", "mm[Hg]"),
    ("lb", "[lb_av]"),
    ("lbs", "[lb_av]"),
    ("pounds", "[lb_av]"),
    ("kg", "kg"),
    ("g", "g"),
    ("oz", "[oz_av]"),
    ("in", "[in_i]"),
    ("inch", "[in_i]"),
    ("inches", "[in_i]"),
    ("cm", "cm"),
    ("m", "m"),
    ("ft", "[ft_i]"),
    ("f", "[degF]"),
    ("°f", "[degF]"),
    ("degf", "[degF]"),
    ("c", "Cel"),
    ("°c", "Cel"),
    ("degc", "Cel"),
    ("cel", "Cel"),
    ("bpm", "/min"),
    ("beats/min", "/min"),
    ("breaths/min", "/min"),
    ("/min", "/min"),
    ("l", "L"),
    ("ml", "mL"),
    ("l/s", "L/s"),
    ("l/min", "L/min"),
    ("db", "dB"),
    ("dbhl", "dB"),
    ("db(hl)", "dB"),
    ("kg/m2", "kg/m2"),
    ("kg/m^2", "kg/m2"),
    ("x10^3/ul", "10*3/uL"),
    ("k/ul", "10*3/uL"),
    ("10*3/ul", "10*3/uL"),
    ("x10^6/ul", "10*6/uL"),
    ("m/ul", "10*6/uL"),
    ("10*6/ul", "10*6/uL"),
    ("/ul", "/uL"),
    ("cells/ul", "/uL"),
    ("fl", "fL"),
    ("pg", "pg"),
    ("mm", "mm"),
    ("mm/h", "mm/h"),
    ("mm/hr", "mm/h"),
    ("s", "s"),
    ("sec", "s"),
    ("min", "min"),
    ("h", "h"),
    ("hr", "h"),
    ("ratio", "{ratio}"),
    ("index", "{index_val}"),
];

/// UCUM code for a legacy unit. Blank -> `None`; an unknown unit is an error.
pub fn ucum(raw: &str) -> Result<Option<&'static str>, FnError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Some((_, code)) = UCUM.iter().find(|(_, code)| *code == s) {
        return Ok(Some(code));
    }
    let key: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    UCUM.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, code)| Some(*code))
        .ok_or_else(|| {
            FnError::new(
                "unknown unit: add it to the unit table or map it in the expression",
                s,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gender_maps_legacy_codes() {
        for (i, o) in [
            ("M", "male"),
            ("f", "female"),
            ("Male", "male"),
            ("FEMALE", "female"),
            ("U", "unknown"),
            ("", "unknown"),
            (" ", "unknown"),
            ("O", "other"),
        ] {
            assert_eq!(gender(Some(i)).unwrap(), o, "{i}");
        }
        assert_eq!(gender(None).unwrap(), "unknown");
        let e = gender(Some("Q")).unwrap_err();
        assert_eq!(e.raw.as_deref(), Some("Q"));
        assert!(!e.message.contains('Q'), "no data value in the message");
    }

    #[test]
    fn ucum_maps_legacy_units() {
        for (i, o) in [
            ("mg/dL", "mg/dL"),
            ("MG/DL", "mg/dL"),
            ("%", "%"),
            ("mmHg", "mm[Hg]"),
            ("lbs", "[lb_av]"),
            ("in", "[in_i]"),
            ("F", "[degF]"),
            ("°F", "[degF]"),
            ("bpm", "/min"),
            ("dB HL", "dB"),
            ("m[IU]/mL", "m[IU]/mL"),
        ] {
            assert_eq!(ucum(i).unwrap(), Some(o), "{i}");
        }
        assert_eq!(ucum("  ").unwrap(), None);
        assert!(ucum("furlongs").is_err());
    }
}
