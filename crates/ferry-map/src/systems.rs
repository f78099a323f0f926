//! The project's own identifier and code systems: `system('sid/mrn')` in a field expression is
//! the system `sid/mrn` under ferry.toml's `[project] system_base` (the hospital's URL or OID),
//! or the URI `[project.systems]` gives that path. The module library names every local system
//! this way, so a project sets its own base once instead of editing placeholders in every file.

use std::collections::BTreeMap;

/// ferry.toml's `system_base` and `[project.systems]`, as the mappings are loaded with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Systems {
    /// `https://fhir.hospital.example` or `urn:oid:2.16.840.1.113883.3.1234`.
    pub base: Option<String>,
    /// A path's own system (`"sid/mrn" = "urn:oid:2.16.840.1.113883.3.1234.1"`), in place of
    /// the base's: how an OID base names its systems, or a URL base's exceptions.
    pub overrides: BTreeMap<String, String>,
}

/// Why a base or system is not usable, without the setting's name (callers add it).
fn uri_problem(value: &str) -> Option<String> {
    if let Some(oid) = value.strip_prefix("urn:oid:") {
        return oid_problem(oid).map(|why| format!("`{value}` is not a valid OID URI: {why}"));
    }
    if value.starts_with("urn:") {
        return fluent_uri::Uri::parse(value)
            .err()
            .map(|_| format!("`{value}` is not a valid URN"));
    }
    let uri = match fluent_uri::Uri::parse(value) {
        Ok(u) => u,
        Err(_) => {
            return Some(format!(
                "`{value}` is not an absolute URI (write `https://...` or `urn:oid:...`)"
            ));
        }
    };
    let scheme = uri.scheme().as_str().to_ascii_lowercase();
    if scheme == "http" || scheme == "https" {
        let host = uri
            .authority()
            .map(|a| a.host().to_string())
            .unwrap_or_default();
        if host.is_empty() {
            return Some(format!("`{value}` has no host"));
        }
    }
    if uri.query().is_some() || uri.fragment().is_some() {
        return Some(format!(
            "`{value}` has a query or fragment: a system is a plain URI"
        ));
    }
    None
}

/// An OID as FHIR's `oid` type has it: `[0-2](\.(0|[1-9][0-9]*))+`.
fn oid_problem(oid: &str) -> Option<&'static str> {
    let arcs: Vec<&str> = oid.split('.').collect();
    if arcs.len() < 2 {
        return Some("an OID has at least two arcs (`2.16`)");
    }
    for a in &arcs {
        if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Some("each arc is a number, arcs separated by `.`");
        }
        if a.len() > 1 && a.starts_with('0') {
            return Some("an arc has no leading zero");
        }
    }
    if !matches!(arcs[0], "0" | "1" | "2") {
        return Some("the first arc is 0, 1 or 2");
    }
    if arcs[0] != "2" && (arcs[1].len() > 2 || arcs[1].parse::<u64>().is_ok_and(|n| n > 39)) {
        return Some("under arc 0 or 1 the second arc is at most 39");
    }
    None
}

/// Whether `path` is a system path `system()` takes: segments of letters, digits, `-`, `_`
/// and `.`, separated by `/` (`sid/mrn`, `CodeSystem/vision`).
fn path_problem(path: &str) -> Option<String> {
    let ok = !path.is_empty()
        && path.split('/').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    (!ok).then(|| {
        format!(
            "`system('{path}')`: a system path is names separated by `/` (letters, digits, `-`, `_`, `.`), e.g. `system('sid/mrn')`"
        )
    })
}

impl Systems {
    /// A URL or OID base, no overrides.
    pub fn base(base: impl Into<String>) -> Self {
        Self {
            base: Some(base.into()),
            overrides: BTreeMap::new(),
        }
    }

    /// Every problem with the settings, each naming its setting first (`system_base: ...`).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(b) = &self.base
            && let Some(why) = uri_problem(b)
        {
            out.push(format!(
                "system_base: {why}. Set it to your organisation's URL (`https://fhir.hospital.example`) or OID (`urn:oid:2.16.840.1.113883.3.1234`)"
            ));
        }
        for (path, uri) in &self.overrides {
            if let Some(why) = path_problem(path) {
                out.push(format!("[project.systems] `{path}`: {why}"));
            }
            if let Some(why) = uri_problem(uri) {
                out.push(format!("[project.systems] `{path}`: {why}"));
            }
        }
        out
    }

    /// The system `system(path)` stands for; an error says what to set in ferry.toml.
    pub fn resolve(&self, path: &str) -> Result<String, String> {
        if let Some(why) = path_problem(path) {
            return Err(why);
        }
        if let Some(uri) = self.overrides.get(path) {
            return Ok(uri.clone());
        }
        let Some(base) = &self.base else {
            return Err(format!(
                "`system('{path}')` needs `system_base` under [project] in ferry.toml: your organisation's URL (`system_base = \"https://fhir.hospital.example\"`) or OID (`system_base = \"urn:oid:2.16.840.1.113883.3.1234\"`)"
            ));
        };
        if let Some(oid) = base.strip_prefix("urn:oid:") {
            // An OID is extended by arcs, never by names.
            if path.split('.').all(|a| {
                !a.is_empty()
                    && a.bytes().all(|b| b.is_ascii_digit())
                    && (a == "0" || !a.starts_with('0'))
            }) {
                return Ok(format!("urn:oid:{oid}.{path}"));
            }
            return Err(format!(
                "`system('{path}')`: system_base is an OID, which names no paths: give this system its own OID under [project.systems] in ferry.toml (`\"{path}\" = \"urn:oid:{oid}.1\"`), or write `system('1')` for `urn:oid:{oid}.1`"
            ));
        }
        Ok(format!("{}/{path}", base.trim_end_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_base_names_each_path_under_it() {
        let s = Systems::base("https://fhir.hospital.example/");
        assert_eq!(
            s.resolve("sid/mrn").unwrap(),
            "https://fhir.hospital.example/sid/mrn"
        );
        assert!(s.problems().is_empty());
        assert!(
            s.resolve("sid/")
                .unwrap_err()
                .contains("names separated by `/`")
        );
        assert!(s.resolve("sid mrn").is_err());
    }

    #[test]
    fn an_oid_base_takes_arcs_or_overrides_never_names() {
        let mut s = Systems::base("urn:oid:2.16.840.1.113883.3.1234");
        assert_eq!(
            s.resolve("1.2").unwrap(),
            "urn:oid:2.16.840.1.113883.3.1234.1.2"
        );
        let e = s.resolve("sid/mrn").unwrap_err();
        assert!(e.contains("[project.systems]"), "{e}");
        s.overrides.insert(
            "sid/mrn".into(),
            "urn:oid:2.16.840.1.113883.3.1234.7".into(),
        );
        assert_eq!(
            s.resolve("sid/mrn").unwrap(),
            "urn:oid:2.16.840.1.113883.3.1234.7"
        );
        assert!(s.problems().is_empty(), "{:?}", s.problems());
    }

    #[test]
    fn unset_base_says_what_to_set() {
        let e = Systems::default().resolve("sid/mrn").unwrap_err();
        assert!(
            e.contains("needs `system_base` under [project] in ferry.toml"),
            "{e}"
        );
    }

    #[test]
    fn bad_bases_are_refused_naming_the_setting() {
        for (bad, why) in [
            ("hospital.example", "not an absolute URI"),
            ("urn:oid:3.1", "first arc"),
            ("urn:oid:1.40", "at most 39"),
            ("urn:oid:2.016", "leading zero"),
            ("urn:oid:2", "two arcs"),
            ("urn:oid:2.16.x", "each arc is a number"),
            ("https:///path", "no host"),
            ("https://h.example/x?y=1", "query or fragment"),
            ("http://exa mple.org", "not an absolute URI"),
        ] {
            let p = Systems::base(bad).problems();
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert!(p[0].starts_with("system_base: "), "{p:?}");
            assert!(p[0].contains(why), "{bad}: {p:?}");
        }
        for good in [
            "http://ferry.example",
            "https://fhir.hospital.example/fhir",
            "urn:oid:2.16.840.1.113883.3.1234",
            "urn:oid:1.3.6",
            "urn:uuid:6b0f5c2e-5a57-4c4b-9a39-1d2e4b7a2f10",
        ] {
            assert!(Systems::base(good).problems().is_empty(), "{good}");
        }
        let mut s = Systems::default();
        s.overrides.insert("sid/mrn".into(), "not a uri".into());
        assert!(s.problems()[0].starts_with("[project.systems] `sid/mrn`"));
    }
}
