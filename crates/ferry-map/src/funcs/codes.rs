//! Value maps with a closed set of answers: administrative gender and UCUM units.
//!
//! UCUM is validated by its grammar over the official unit definitions (the `ucum-units`
//! crate, which parses the UCUM Organization's `ucum-essence.xml` at build time), not by a
//! table; a list of legacy spellings (`mg/dl`, `mcg`, `cc`, `IU`) maps what is not UCUM, and a
//! project extends it with `concept-maps/ucum.csv`.

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

/// Ferry's built-in legacy unit spellings (`source,target`), extended and overridden by the
/// project's `concept-maps/ucum.csv` (docs/mapping.md).
pub const BUILT_IN_SPELLINGS: &str = include_str!("ucum-spellings.csv");

/// The project file that extends the built-in spellings (a concept map named `ucum`).
pub const USER_SPELLINGS: &str = "ucum";

/// Whether `code` is a valid UCUM expression (case-sensitive `c/s` form) by the UCUM grammar
/// over the official UCUM definitions (`ucum-essence.xml`, through the `ucum-units` crate). The
/// error names no value.
pub fn valid_ucum(code: &str) -> Result<(), String> {
    match ucum::validate(code) {
        Ok(()) => Ok(()),
        Err(ucum::UcumError::Parse { pos, msg }) => {
            Err(format!("not UCUM syntax at character {}: {msg}", pos + 1))
        }
        Err(ucum::UcumError::UnknownAtom { .. }) => {
            Err("a unit symbol UCUM does not define (or a prefix on a non-metric unit)".into())
        }
        Err(_) => Err("not a valid UCUM expression".into()),
    }
}

/// Legacy spellings are also matched "folded": whitespace removed, lower-cased.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The micro sign and Greek mu are UCUM's `u` (`µg` -> `ug`).
fn ascii_micro(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\u{b5}', '\u{3bc}']) {
        std::borrow::Cow::Owned(s.replace(['\u{b5}', '\u{3bc}'], "u"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Legacy unit spellings -> UCUM codes: Ferry's built-in list, then the project's own.
#[derive(Debug, Clone, Default)]
pub struct UnitMap {
    exact: std::collections::HashMap<String, String>,
    folded: std::collections::HashMap<String, String>,
    targets: std::collections::HashSet<String>,
}

impl UnitMap {
    /// The built-in spellings alone.
    pub fn built_in() -> &'static UnitMap {
        static MAP: std::sync::OnceLock<UnitMap> = std::sync::OnceLock::new();
        MAP.get_or_init(|| {
            let (map, problems) = UnitMap::build(None);
            debug_assert!(problems.is_empty(), "{problems:?}");
            map
        })
    }

    /// The built-in spellings extended and overridden by `user` (the project's `ucum` concept
    /// map). Returns the map and every problem with the user's entries (a target that is not
    /// valid UCUM, two spellings that fold alike with different targets); such entries are
    /// left out.
    pub fn build(user: Option<&crate::concept::ConceptMap>) -> (UnitMap, Vec<String>) {
        let mut map = UnitMap::default();
        let mut problems = Vec::new();
        let mut rdr = csv::Reader::from_reader(BUILT_IN_SPELLINGS.as_bytes());
        for rec in rdr.records().flatten() {
            if let (Some(s), Some(t)) = (rec.get(0), rec.get(1)) {
                map.exact.insert(s.to_string(), t.to_string());
                map.folded.insert(fold(s), t.to_string());
                map.targets.insert(t.to_string());
            }
        }
        let Some(user) = user else {
            return (map, problems);
        };
        let mut entries: Vec<(&str, &str)> =
            user.entries().map(|(s, t)| (s, t.code.as_str())).collect();
        entries.sort();
        let mut user_folded: std::collections::HashMap<String, &str> = Default::default();
        for (source, target) in entries {
            if let Err(why) = valid_ucum(target) {
                problems.push(format!(
                    "the target `{target}` of `{source}` is not valid UCUM ({why})"
                ));
                continue;
            }
            let f = fold(source);
            if let Some(other) = user_folded.get(&f)
                && *other != target
            {
                problems.push(format!(
                    "`{source}` folds (spaces removed, lower case) to the same spelling as another source with a different target"
                ));
                continue;
            }
            user_folded.insert(f.clone(), target);
            map.exact.insert(source.to_string(), target.to_string());
            map.folded.insert(f, target.to_string());
            map.targets.insert(target.to_string());
        }
        (map, problems)
    }

    /// UCUM code for a legacy unit. Blank -> `None`. In order: a listed spelling exactly as
    /// written; a UCUM code the list maps to (itself); a listed spelling folded (spaces
    /// removed, any case: `MG/DL`, `dB HL`); any other valid UCUM expression, unchanged;
    /// else an error. Listed spellings come before UCUM validity because legacy systems write
    /// units that happen to be valid UCUM with another meaning (`F` is farad, `ML` megalitre).
    pub fn ucum(&self, raw: &str) -> Result<Option<String>, FnError> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let s = ascii_micro(s);
        let s = s.as_ref();
        if let Some(t) = self.exact.get(s) {
            return Ok(Some(t.clone()));
        }
        if self.targets.contains(s) {
            return Ok(Some(s.to_string()));
        }
        if let Some(t) = self.folded.get(&fold(s)) {
            return Ok(Some(t.clone()));
        }
        match valid_ucum(s) {
            Ok(()) => Ok(Some(s.to_string())),
            Err(why) => Err(FnError::new(
                format!(
                    "not a valid UCUM unit ({why}): write its UCUM code, or add the legacy spelling to concept-maps/{USER_SPELLINGS}.csv (`source,target`)"
                ),
                raw.trim(),
            )),
        }
    }
}

/// UCUM code for a legacy unit with the built-in spellings only ([`UnitMap::ucum`]).
pub fn ucum(raw: &str) -> Result<Option<String>, FnError> {
    UnitMap::built_in().ucum(raw)
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
    fn ucum_accepts_valid_codes_by_the_grammar() {
        for code in [
            "{score}",
            "{#}",
            "mL/min",
            "kU/L",
            "[pH]",
            "ug/L",
            "m[IU]/L",
            "mL/min/{1.73_m2}",
            "mm[Hg]",
            "10*3/uL",
            "kg.m-2",
            "(mg)/(dL)",
            "mmol/mol",
            "%",
            "/min",
            "1",
            "k[IU]",
            "cm[H2O]",
            "mg/(24.h)",
        ] {
            assert_eq!(ucum(code).unwrap().as_deref(), Some(code), "{code}");
        }
    }

    #[test]
    fn ucum_rejects_junk_with_a_message_naming_where_to_add_a_spelling() {
        for junk in [
            "mg//dL", "[foo]", "kk", "m{", "furlongs", "k[lb_av]", "mg/", "()",
        ] {
            let e = ucum(junk).unwrap_err();
            assert!(
                e.message.starts_with("not a valid UCUM unit"),
                "{junk}: {}",
                e.message
            );
            assert!(e.message.contains("concept-maps/ucum.csv"), "{}", e.message);
            assert!(
                !e.message.contains(junk),
                "no value in the message: {}",
                e.message
            );
            assert_eq!(e.raw.as_deref(), Some(junk));
        }
        // A blank unit is no unit (the element is omitted, as for every function); as a code,
        // the empty string is not UCUM.
        assert_eq!(ucum("").unwrap(), None);
        assert_eq!(ucum("  ").unwrap(), None);
        assert!(valid_ucum("").is_err());
        for junk in ["mg//dL", "[foo]", "kk", "m{", "mg/dl "] {
            assert!(valid_ucum(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn ucum_maps_legacy_spellings() {
        for (i, o) in [
            ("mg/dl", "mg/dL"),
            ("mg/dL", "mg/dL"),
            ("MG/DL", "mg/dL"),
            ("mcg", "ug"),
            ("µg/L", "ug/L"),
            ("cc", "mL"),
            ("ML", "mL"),
            ("IU", "[IU]"),
            ("IU/L", "[IU]/L"),
            ("mIU/mL", "m[IU]/mL"),
            ("mEq/L", "meq/L"),
            ("mmHg", "mm[Hg]"),
            ("mm Hg", "mm[Hg]"),
            ("lbs", "[lb_av]"),
            ("in", "[in_i]"),
            ("F", "[degF]"),
            ("°F", "[degF]"),
            ("C", "Cel"),
            ("bpm", "/min"),
            ("dB HL", "dB"),
            ("K/uL", "10*3/uL"),
            ("x10^3/uL", "10*3/uL"),
            ("kg/m^2", "kg/m2"),
        ] {
            assert_eq!(ucum(i).unwrap().as_deref(), Some(o), "{i}");
        }
    }

    /// Every built-in target is valid UCUM, and no two built-in spellings fold alike with
    /// different targets (which would make the folded match depend on file order).
    #[test]
    fn built_in_spellings_are_consistent() {
        let mut folded = std::collections::HashMap::new();
        let mut rdr = csv::Reader::from_reader(BUILT_IN_SPELLINGS.as_bytes());
        let mut n = 0;
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let (s, t) = (&rec[0], &rec[1]);
            valid_ucum(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            if let Some(old) = folded.insert(fold(s), t.to_string()) {
                assert_eq!(old, t, "{s}");
            }
            n += 1;
        }
        assert!(n > 50);
    }

    #[test]
    fn a_projects_spellings_extend_and_override_the_built_in_ones() {
        let csv = "source,target\nunits/L,U/L\nF,F\ncc,[foo]\n";
        let (user, d) = crate::concept::read_csv("ucum", "ucum.csv", csv.as_bytes());
        assert!(d.is_empty(), "{d:?}");
        let (map, problems) = UnitMap::build(Some(&user));
        assert_eq!(map.ucum("units/L").unwrap().as_deref(), Some("U/L"));
        assert_eq!(map.ucum("UNITS/L").unwrap().as_deref(), Some("U/L"));
        // This project's `F` is farad, not Fahrenheit.
        assert_eq!(map.ucum("F").unwrap().as_deref(), Some("F"));
        // A target that is not UCUM is reported and left out: the built-in one stays.
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("`[foo]` of `cc` is not valid UCUM"));
        assert_eq!(map.ucum("cc").unwrap().as_deref(), Some("mL"));
        // Without the project's list, `units/L` is not UCUM.
        assert!(ucum("units/L").is_err());
    }
}
