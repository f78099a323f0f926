//! `ferry check`'s FHIR checks of a module's field paths and constants, against the R4 element
//! definitions `ferry_fhir::elements` derives from the vendored schema: every element name per
//! type (nested datatypes and backbone elements included), the types a choice element allows,
//! indices only on list elements and lists only into list elements, and the JSON type a constant
//! (or a bare `row.COLUMN`, always text) must have. What these reject, every row would fail
//! validation with at run time. Messages name elements and positions only, never data values.
//!
//! Also the time-zone check: a module that reads legacy local times with `datetime` needs a zone
//! configured ([`Module::zone_configured`]).

use ferry_fhir::elements::{self, Element, JsonKind, PathErrorKind};
use serde_json::Value as Json;

use crate::diag::Diags;
use crate::module::{Field, Module};

/// Byte offset in the file of segment `seg` of a field's path (the key's start when the key is
/// not written verbatim, e.g. with escapes).
fn segment_offset(text: &str, f: &Field, seg: usize) -> usize {
    let quoted = matches!(text.as_bytes().get(f.at), Some(b'"') | Some(b'\''));
    let start = f.at + usize::from(quoted);
    if text.get(start..start + f.path.len()) != Some(f.path.as_str()) {
        return f.at;
    }
    let inner: usize = f.path.split('.').take(seg).map(|s| s.len() + 1).sum();
    start + inner
}

/// `name[0].family` for the message asking for an index.
fn with_index(f: &Field, seg: usize) -> String {
    f.segments
        .iter()
        .enumerate()
        .map(|(i, s)| match (i == seg, s.index) {
            (true, _) => format!("{}[0]", s.name),
            (false, Some(n)) => format!("{}[{n}]", s.name),
            (false, None) => s.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a field's value is known to be before any row: a constant's JSON, or text (a bare
/// `row.COLUMN`: staged values are text).
enum Known {
    Constant(Json),
    ColumnText(String),
}

fn kind_of(j: &Json) -> JsonKind {
    match j {
        Json::String(_) => JsonKind::String,
        Json::Number(_) => JsonKind::Number,
        Json::Bool(_) => JsonKind::Boolean,
        Json::Object(_) => JsonKind::Object,
        Json::Array(_) | Json::Null => JsonKind::Any,
    }
}

fn fix_for(expected: JsonKind, el: &Element) -> String {
    match expected {
        JsonKind::Number => "write the number without quotes (`5`, not `'5'`)".into(),
        JsonKind::Boolean => "write `true` or `false` without quotes".into(),
        JsonKind::String => "write it as a quoted literal (`'5'`)".into(),
        JsonKind::Object => format!(
            "set the elements of the {} by their own paths (`{}.ELEMENT`)",
            el.type_name, el.name
        ),
        JsonKind::Any => String::new(),
    }
}

impl Module {
    /// Whether a zone is configured for this module's legacy local times: the project's
    /// `local_offset` or `time_zone`, or the module's own `time_zone`. The one question the
    /// `datetime` check asks.
    pub fn zone_configured(&self) -> bool {
        self.shared.config.local_time.is_configured()
    }

    /// A warning at every `datetime` filter of a module with no zone configured: legacy local
    /// times without an offset would each be an exception at run time (a warning, not an error,
    /// because values that state their zone, or dates without a time, convert without one).
    pub fn check_time_zone(&self) -> Vec<crate::Diagnostic> {
        let mut d = Diags::new(self.file.clone(), &self.text);
        if self.zone_configured() {
            return d.list;
        }
        for e in &self.exprs {
            for f in crate::lint::scan(&e.text).filters {
                if f.name == "datetime" {
                    let at = if e.exact {
                        e.offset + f.offset
                    } else {
                        e.offset
                    };
                    d.warning(
                        at,
                        "`datetime` with no time zone configured: every legacy time without an offset will be an exception at run time. Set `local_offset = \"-05:00\"` (the legacy system's offset) under [project] in ferry.toml",
                    );
                }
            }
        }
        d.list
    }

    /// Every field path of every resource (and of a summary's `DocumentReference`) checked
    /// against the R4 element definitions, and every constant against its element's type.
    /// Resource types that are not R4 are left to [`Module::check_required`].
    pub fn check_elements(&self) -> Vec<crate::Diagnostic> {
        let defs = elements::Definitions::r4();
        let mut d = Diags::new(self.file.clone(), &self.text);
        let mut targets: Vec<(&str, &[Field])> = self
            .resources
            .iter()
            .map(|r| (r.resource_type.as_str(), r.fields.as_slice()))
            .collect();
        if let Some(sm) = &self.summary {
            targets.push((crate::summary::SUMMARY_RESOURCE_TYPE, sm.fields.as_slice()));
        }
        for (ty, fields) in targets {
            if !defs.has_type(ty) {
                continue;
            }
            for f in fields {
                let steps: Vec<(&str, Option<usize>)> = f
                    .segments
                    .iter()
                    .map(|s| (s.name.as_str(), s.index))
                    .collect();
                if steps.len() > 1 && steps[0].0 == "contained" {
                    self.check_contained(f, fields, &steps, &mut d);
                    continue;
                }
                match defs.lookup(ty, &steps) {
                    Ok(el) => self.check_value(f, &el, &mut d),
                    Err(e) => {
                        let at = segment_offset(&self.text, f, e.segment);
                        let name = steps.get(e.segment).map(|s| s.0).unwrap_or("");
                        d.error(at, path_message(f, e.segment, name, &e.kind));
                    }
                }
            }
        }
        d.list
    }

    /// A path into a contained resource (`contained[0].code.text`): the contained resource's
    /// type is the constant of its `contained[N].resourceType` field, and the rest of the path
    /// is checked against that type's elements like any other.
    fn check_contained(
        &self,
        f: &Field,
        fields: &[Field],
        steps: &[(&str, Option<usize>)],
        d: &mut Diags<'_>,
    ) {
        let defs = elements::Definitions::r4();
        let Some(index) = steps[0].1 else {
            d.error(
                segment_offset(&self.text, f, 0),
                path_message(f, 0, "contained", &PathErrorKind::ListWithoutIndex),
            );
            return;
        };
        let type_field = |g: &Field| {
            g.segments.len() == 2
                && g.segments[0].name == "contained"
                && g.segments[0].index == Some(index)
                && g.segments[1].name == "resourceType"
        };
        let constant_text = |g: &Field| {
            let slot = self.slot(g.expr)?;
            match self.constant(slot).map(crate::eval::to_json) {
                Some(Ok(Some(Json::String(s)))) => Some(s),
                _ => None,
            }
        };
        if type_field(f) {
            let at = segment_offset(&self.text, f, 1);
            match constant_text(f) {
                Some(t) if defs.is_resource_type(&t) => {}
                Some(t) => d.error(
                    at,
                    format!(
                        "field `{}`: `{t}` is not a FHIR R4 resource type{}",
                        f.path,
                        did_you_mean(&elements::closest(&t, defs.resource_types()))
                    ),
                ),
                None => d.error(
                    at,
                    format!(
                        "field `{}`: a contained resource's type must be a constant (`'Medication'`), so that its fields can be checked",
                        f.path
                    ),
                ),
            }
            return;
        }
        let Some(ty) = fields
            .iter()
            .find(|g| type_field(g))
            .and_then(constant_text)
        else {
            d.error(
                segment_offset(&self.text, f, 0),
                format!(
                    "field `{}`: `contained[{index}]` has no `resourceType`: add `\"contained[{index}].resourceType\" = \"'Medication'\"` (its resource type), so that it is valid and its fields can be checked",
                    f.path
                ),
            );
            return;
        };
        if !defs.is_resource_type(&ty) {
            return; // reported at its `resourceType` field
        }
        match defs.lookup(&ty, &steps[1..]) {
            Ok(el) => self.check_value(f, &el, d),
            Err(e) => {
                let seg = e.segment + 1;
                let at = segment_offset(&self.text, f, seg);
                let name = steps.get(seg).map(|s| s.0).unwrap_or("");
                d.error(at, path_message(f, seg, name, &e.kind));
            }
        }
    }

    /// A constant's (or bare column's) JSON type and list-ness against its element.
    fn check_value(&self, f: &Field, el: &Element, d: &mut Diags<'_>) {
        let Some(slot) = self.slot(f.expr) else {
            return;
        };
        let known = if let Some(c) = self.column_of(slot) {
            Known::ColumnText(c.to_string())
        } else {
            match self.constant(slot).map(crate::eval::to_json) {
                Some(Ok(Some(j))) => Known::Constant(j),
                _ => return,
            }
        };
        if el.kind == JsonKind::Any {
            return;
        }
        let at = segment_offset(&self.text, f, f.segments.len().saturating_sub(1));
        let last_indexed = f.segments.last().is_some_and(|s| s.index.is_some());
        let many = el.array && !last_indexed;
        match &known {
            Known::Constant(Json::Array(items)) => {
                if !many {
                    d.error(
                        at,
                        format!(
                            "field `{}`: a list is assigned to `{}`, which holds one value",
                            f.path, el.name
                        ),
                    );
                    return;
                }
                if let Some(why) = items
                    .iter()
                    .filter(|j| kind_of(j) == el.kind)
                    .find_map(|j| value_problem(j, el))
                {
                    d.error(at, format!("field `{}`: {why}", f.path));
                }
                if let Some(bad) = items
                    .iter()
                    .map(kind_of)
                    .find(|k| *k != JsonKind::Any && *k != el.kind)
                {
                    d.error(
                        at,
                        format!(
                            "field `{}`: `{}` holds {} ({}), but the list holds {}",
                            f.path,
                            el.name,
                            el.kind.describe(),
                            el.type_name,
                            bad.describe()
                        ),
                    );
                }
                return;
            }
            _ if many => {
                d.error(
                    at,
                    format!(
                        "field `{}`: `{}` is a list (0..*) but gets one value: write `{}`",
                        f.path,
                        el.name,
                        with_index(f, f.segments.len() - 1)
                    ),
                );
                return;
            }
            _ => {}
        }
        match known {
            Known::Constant(j) => {
                let k = kind_of(&j);
                if k == el.kind {
                    if let Some(why) = value_problem(&j, el) {
                        d.error(at, format!("field `{}`: {why}", f.path));
                    }
                } else {
                    d.error(
                        at,
                        format!(
                            "field `{}`: `{}` holds {} ({}), but the constant is {}: {}",
                            f.path,
                            el.name,
                            el.kind.describe(),
                            el.type_name,
                            k.describe(),
                            fix_for(el.kind, el)
                        ),
                    );
                }
            }
            Known::ColumnText(col) => {
                let fix = match el.kind {
                    JsonKind::String => return,
                    JsonKind::Number => format!("convert it: `row.{col} | decimal`"),
                    JsonKind::Boolean => {
                        format!("convert it with a comparison, e.g. `row.{col} == 'Y'`")
                    }
                    JsonKind::Object | JsonKind::Any => fix_for(el.kind, el),
                };
                d.error(
                    at,
                    format!(
                        "field `{}`: `{}` holds {} ({}), but `row.{col}` is staged text: {fix}",
                        f.path,
                        el.name,
                        el.kind.describe(),
                        el.type_name
                    ),
                );
            }
        }
    }
}

/// Why a constant of the right JSON type is still not a value of its element: a code outside
/// its required binding, or a number its integer type cannot hold. Constants are the mapping's
/// own text, never data values.
fn value_problem(j: &Json, el: &Element) -> Option<String> {
    match j {
        Json::String(s) => {
            let codes = el.codes.as_ref()?;
            if codes.iter().any(|c| c == s) {
                return None;
            }
            let suggestion = elements::closest(s, codes.iter().map(String::as_str));
            Some(format!(
                "`{s}` is not a code of `{}` (a required binding): the codes are {}{}",
                el.name,
                codes.join(", "),
                did_you_mean(&suggestion)
            ))
        }
        Json::Number(n) => el.number_problem(n).map(|what| {
            format!(
                "`{}` is {} ({what}), but the constant is `{n}`",
                el.name, el.type_name
            )
        }),
        _ => None,
    }
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

fn path_message(f: &Field, seg: usize, name: &str, kind: &PathErrorKind) -> String {
    let field = &f.path;
    match kind {
        PathErrorKind::Unknown { within, suggestion } => {
            let tail = match suggestion {
                Some(_) => did_you_mean(suggestion),
                None => {
                    let names = elements::Definitions::r4().element_names(within);
                    if names.is_empty() {
                        String::new()
                    } else {
                        let mut shown: Vec<&str> = names.into_iter().take(40).collect();
                        shown.retain(|n| *n != "extension" && *n != "modifierExtension");
                        format!("; {within} has {}", shown.join(", "))
                    }
                }
            };
            format!("field `{field}`: unknown element `{name}` (in {within}){tail}")
        }
        PathErrorKind::BadChoice {
            within,
            choice,
            allowed,
            suggestion,
        } => format!(
            "field `{field}`: `{choice}` of {within} does not allow `{name}`: it allows {}{}",
            allowed.join(", "),
            did_you_mean(suggestion)
        ),
        PathErrorKind::IndexOnSingle { type_name } => format!(
            "field `{field}`: `{name}` holds one {type_name} (0..1 or 1..1), not a list: remove the index"
        ),
        PathErrorKind::ListWithoutIndex => format!(
            "field `{field}`: `{name}` is a list (0..*): index it, `{}`",
            with_index(f, seg)
        ),
        PathErrorKind::InsidePrimitive { type_name } => format!(
            "field `{field}`: `{name}` is a {type_name} (a primitive value): it has no elements"
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::Diagnostic;
    use std::sync::Arc;

    fn check(fields: &str, offset: Option<&str>) -> (String, Vec<Diagnostic>) {
        let text = format!(
            "[module]\nname = \"m\"\n[source]\nquery = \"SELECT 1 AS k\"\nkey = \"k\"\n\
             [[resource]]\ntype = \"Immunization\"\n[resource.fields]\n\"status\" = \"'completed'\"\n\
             \"patient.reference\" = \"'Patient/1'\"\n\"occurrenceString\" = \"'x'\"\n\
             \"vaccineCode.text\" = \"'x'\"\n{fields}"
        );
        let mut cfg =
            crate::EngineConfig::new(Arc::new(|m: &str, t: &str, k: &str| format!("{m}.{t}.{k}")));
        cfg.local_time.local_offset = offset.map(str::to_string);
        let engine = crate::Engine::new(cfg).unwrap();
        let (m, diags) = crate::parse_module("m.toml", &text, &engine);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let m = m.unwrap();
        let mut out = m.check_elements();
        out.extend(m.check_time_zone());
        (text, out)
    }

    fn one(fields: &str) -> Diagnostic {
        let (_, d) = check(fields, Some("-05:00"));
        assert_eq!(d.len(), 1, "{d:?}");
        d.into_iter().next().unwrap()
    }

    #[test]
    fn a_clean_module_has_no_element_diagnostics() {
        let (_, d) = check(
            "\"vaccineCode.coding[0].system\" = \"'http://hl7.org/fhir/sid/cvx'\"\n\
             \"primarySource\" = \"true\"\n\"doseQuantity.value\" = \"row.k | decimal\"\n\
             \"note[0].text\" = \"row.k\"\n\"performer[0].actor.reference\" = \"'Practitioner/1'\"\n",
            Some("-05:00"),
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn misspelt_elements_are_located_with_a_suggestion() {
        let d = one("\"primarySourc\" = \"true\"\n");
        assert_eq!((d.line, d.column), (13, 2));
        assert_eq!(
            d.message,
            "field `primarySourc`: unknown element `primarySourc` (in Immunization); did you mean `primarySource`?"
        );
        let d = one("\"vaccineCode.coding[0].displayy\" = \"'x'\"\n");
        assert_eq!((d.line, d.column), (13, 24));
        assert!(
            d.message
                .ends_with("unknown element `displayy` (in Coding); did you mean `display`?"),
            "{}",
            d.message
        );
        let d = one("\"doseQuantity.units\" = \"'mL'\"\n");
        assert_eq!((d.line, d.column), (13, 15));
        assert!(d.message.contains("(in Quantity); did you mean `unit`?"));
    }

    #[test]
    fn choice_types_cardinality_and_constant_types() {
        let d = one("\"occurrenceBoolean\" = \"true\"\n");
        assert!(
            d.message.starts_with(
                "field `occurrenceBoolean`: `occurrence[x]` of Immunization does not allow `occurrenceBoolean`: it allows occurrenceDateTime, occurrenceString"
            ),
            "{}",
            d.message
        );
        let d = one("\"statusReason[0].text\" = \"'x'\"\n");
        assert!(
            d.message.contains("holds one CodeableConcept"),
            "{}",
            d.message
        );
        let d = one("\"note.text\" = \"'x'\"\n");
        assert!(
            d.message.contains("index it, `note[0].text`"),
            "{}",
            d.message
        );
        let d = one("\"primarySource\" = \"'true'\"\n");
        assert!(
            d.message
                .contains("holds a boolean (true or false) (boolean), but the constant is text"),
            "{}",
            d.message
        );
        let d = one("\"lotNumber\" = \"['a', 'b']\"\n");
        assert!(
            d.message.contains("a list is assigned to `lotNumber`"),
            "{}",
            d.message
        );
        let d = one("\"doseQuantity.value\" = \"row.k\"\n");
        assert!(
            d.message
                .contains("`row.k` is staged text: convert it: `row.k | decimal`")
        );
        let d = one("\"expirationDate.value\" = \"'x'\"\n");
        assert!(d.message.contains("(a primitive value)"), "{}", d.message);
    }

    #[test]
    fn datetime_without_a_zone_is_a_warning_at_the_filter() {
        let (_, d) = check("\"recorded\" = \"row.k | datetime\"\n", None);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, crate::Severity::Warning);
        assert_eq!((d[0].line, d[0].column), (13, 23));
        assert!(d[0].message.contains("local_offset"));
        let (_, d) = check("\"recorded\" = \"row.k | datetime\"\n", Some("-05:00"));
        assert!(d.is_empty(), "{d:?}");
    }

    /// Issue 12: paths into `contained[...]` were not checked at all.
    #[test]
    fn paths_into_contained_resources_are_checked_against_their_type() {
        let (_, d) = check(
            "\"contained[0].resourceType\" = \"'Medication'\"\n\"contained[0].code.text\" = \"'x'\"\n",
            Some("-05:00"),
        );
        assert!(d.is_empty(), "{d:?}");
        let (_, d) = check(
            "\"contained[0].resourceType\" = \"'Medication'\"\n\"contained[0].code.textt\" = \"'x'\"\n",
            Some("-05:00"),
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].line, d[0].column), (14, 20));
        assert!(
            d[0].message
                .ends_with("unknown element `textt` (in CodeableConcept); did you mean `text`?"),
            "{}",
            d[0].message
        );
        let d = one("\"contained[0].resourceType\" = \"'Medicaton'\"\n");
        assert!(
            d.message
                .contains("`Medicaton` is not a FHIR R4 resource type; did you mean `Medication`?"),
            "{}",
            d.message
        );
        let d = one("\"contained[1].code.text\" = \"'x'\"\n");
        assert!(
            d.message.contains(
                "`contained[1]` has no `resourceType`: add `\"contained[1].resourceType\" = \"'Medication'\"`"
            ),
            "{}",
            d.message
        );
        let d = one("\"contained.code.text\" = \"'x'\"\n");
        assert!(
            d.message.contains("index it, `contained[0].code.text`"),
            "{}",
            d.message
        );
    }

    fn check_type(ty: &str, fields: &str) -> Vec<Diagnostic> {
        let text = format!(
            "[module]\nname = \"m\"\n[source]\nquery = \"SELECT 1 AS k\"\nkey = \"k\"\n\
             [[resource]]\ntype = \"{ty}\"\n[resource.fields]\n{fields}"
        );
        let cfg =
            crate::EngineConfig::new(Arc::new(|m: &str, t: &str, k: &str| format!("{m}.{t}.{k}")));
        let engine = crate::Engine::new(cfg).unwrap();
        let (m, diags) = crate::parse_module("m.toml", &text, &engine);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        m.unwrap().check_elements()
    }

    /// Issue 12: `Encounter.status = "done"` (STU3's code) passed check and failed every row.
    #[test]
    fn constants_of_required_bindings_must_be_allowed_codes() {
        let d = check_type("Encounter", "\"status\" = \"'done'\"\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].line, d[0].column), (9, 2));
        assert_eq!(
            d[0].message,
            "field `status`: `done` is not a code of `status` (a required binding): the codes are planned, arrived, triaged, in-progress, onleave, finished, cancelled, entered-in-error, unknown"
        );
        let d = check_type("Encounter", "\"status\" = \"'finishd'\"\n");
        assert!(
            d[0].message.ends_with("; did you mean `finished`?"),
            "{}",
            d[0].message
        );
        // From r4-extras.json, where the schema has a bare `code`.
        let d = check_type(
            "Immunization",
            "\"status\" = \"'complete'\"\n\"patient.reference\" = \"'Patient/1'\"\n",
        );
        assert!(d[0].message.contains("did you mean `completed`?"), "{d:?}");
        // Codes without a required binding, and values from rows, are not checked here.
        assert!(
            check_type(
                "Encounter",
                "\"status\" = \"'finished'\"\n\"language\" = \"'xx'\"\n"
            )
            .is_empty()
        );
        assert!(check_type("Encounter", "\"status\" = \"row.k\"\n").is_empty());
    }

    /// Issue 12: an integer element given `1.5`, a `positiveInt` given `0`.
    #[test]
    fn integer_elements_refuse_fractions_and_out_of_range_constants() {
        let d = one("\"protocolApplied[0].doseNumberPositiveInt\" = \"0\"\n");
        assert_eq!((d.line, d.column), (13, 21));
        assert_eq!(
            d.message,
            "field `protocolApplied[0].doseNumberPositiveInt`: `doseNumberPositiveInt` is positiveInt (a whole number above 0), but the constant is `0`"
        );
        let d = one("\"protocolApplied[0].doseNumberPositiveInt\" = \"1.5\"\n");
        assert!(
            d.message.ends_with("but the constant is `1.5`"),
            "{}",
            d.message
        );
        let d = check_type(
            "Observation",
            "\"status\" = \"'final'\"\n\"code.text\" = \"'x'\"\n\"valueInteger\" = \"1.5\"\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].message.contains("is integer (a whole number)"),
            "{}",
            d[0].message
        );
        let ok = check_type(
            "Observation",
            "\"status\" = \"'final'\"\n\"code.text\" = \"'x'\"\n\"valueInteger\" = \"2\"\n\"referenceRange[0].low.value\" = \"1.5\"\n",
        );
        assert!(ok.is_empty(), "{ok:?}");
    }
}
