//! The element definitions of FHIR R4, for checking field paths before any data moves: which
//! elements each type has, whether each holds one value or a list, its type, and which types a
//! choice element (`value[x]`) allows.
//!
//! Derived from the same vendored R4 JSON Schema the validator uses (`schema/fhir.schema.json.gz`,
//! Medplum's additions removed the same way): a definition's `properties` are its elements, a
//! property with `type: array` is a list (max cardinality `*`), its `$ref` (or `items.$ref`) is
//! its type, `enum` makes it a `code`, an inline `pattern` + `type` is a primitive whose JSON type
//! is given. A choice element appears in the schema as one property per allowed type
//! (`valueQuantity`, `valueString`, ...); names sharing a prefix followed by a type name, two or
//! more of them, are read as one choice. The index is built once, lazily, on first use.
//!
//! ```text
//! elements::lookup("Observation", &[("valueQuantity", None), ("unit", None)]) -> Ok(Element)
//! elements::lookup("Observation", &[("valueQuantity", None), ("units", None)])
//!     -> Err(PathError { segment: 1, kind: Unknown { within: "Quantity", suggestion: Some("unit") } })
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::validate::{NOT_R4_META_ELEMENTS, NOT_R4_RESOURCES, R4_EXTRAS, SCHEMA_GZ};

/// The JSON type a value of an element must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    String,
    Number,
    Boolean,
    /// A complex type or backbone element (a JSON object).
    Object,
    /// Not known from the schema (a contained resource, `xhtml`): anything is left to validation.
    Any,
}

impl JsonKind {
    /// How a message names the kind (`text`, `a number`, ...).
    pub fn describe(self) -> &'static str {
        match self {
            JsonKind::String => "text (a JSON string)",
            JsonKind::Number => "a number",
            JsonKind::Boolean => "a boolean (true or false)",
            JsonKind::Object => "an object (its elements set by their own paths)",
            JsonKind::Any => "any value",
        }
    }
}

/// One element of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// The element's type as the schema names it: a primitive (`string`, `decimal`, `code`), a
    /// datatype (`Quantity`, `CodeableConcept`), a backbone element (`Immunization_Performer`),
    /// `ResourceList` for contained resources.
    pub type_name: String,
    /// True when the element holds a list (max cardinality `*`); false for 0..1 and 1..1.
    pub array: bool,
    /// The JSON type of one value of the element.
    pub kind: JsonKind,
    /// For a `code` with a required binding: the codes it allows (the schema's `enum`, or the
    /// R4 StructureDefinitions' list in `schema/r4-extras.json` where the schema has a bare
    /// `code`), in the binding's order.
    pub codes: Option<Vec<String>>,
}

impl Element {
    /// Why a JSON number does not fit this element's numeric type (`integer`: whole and 32-bit;
    /// `positiveInt`: also above 0; `unsignedInt`: also 0 or above), `None` when it fits or the
    /// element is no integer type.
    pub fn number_problem(&self, n: &serde_json::Number) -> Option<String> {
        let (min, what) = match self.type_name.as_str() {
            "integer" => (i64::from(i32::MIN), "a whole number"),
            "positiveInt" => (1, "a whole number above 0"),
            "unsignedInt" => (0, "a whole number, 0 or above"),
            _ => return None,
        };
        let whole = n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        });
        match whole {
            Some(i) if (min..=i64::from(i32::MAX)).contains(&i) => None,
            Some(_) if n.as_i64().is_some_and(|i| i > i64::from(i32::MAX)) => {
                Some(format!("{what} of at most 2147483647 (32 bits)"))
            }
            _ => Some(what.to_string()),
        }
    }
}

/// Why a path does not name an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathErrorKind {
    /// `within` (a type name) has no element of this name; a close name if there is one.
    Unknown {
        within: String,
        suggestion: Option<String>,
    },
    /// A choice element written with a type it does not allow (`valueQuanity`, `valueFoo`):
    /// the choice's name (`value[x]`) and its allowed element names.
    BadChoice {
        within: String,
        choice: String,
        allowed: Vec<String>,
        suggestion: Option<String>,
    },
    /// An index (`[0]`) on an element that holds one value.
    IndexOnSingle { type_name: String },
    /// A path going inside a list element without an index (`name.family`).
    ListWithoutIndex,
    /// A path going inside a primitive (`birthDate.value`).
    InsidePrimitive { type_name: String },
}

/// A path that does not name an element: which segment (0-based) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub segment: usize,
    pub kind: PathErrorKind,
}

#[derive(Debug, Default)]
struct TypeDef {
    elements: BTreeMap<String, Element>,
    /// Choice prefix (`value`) -> its element names (`valueQuantity`, ...), sorted.
    choices: BTreeMap<String, Vec<String>>,
}

/// Every R4 type's elements.
#[derive(Debug, Default)]
pub struct Definitions {
    types: HashMap<String, TypeDef>,
    /// The resource types (definitions with a `resourceType`), sorted.
    resources: std::collections::BTreeSet<String>,
}

#[derive(Deserialize)]
struct RawSchema {
    definitions: BTreeMap<String, RawDef>,
}

#[derive(Deserialize)]
struct RawDef {
    #[serde(default)]
    properties: Option<BTreeMap<String, RawProp>>,
    #[serde(default, rename = "type")]
    json_type: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
}

#[derive(Deserialize)]
struct RawProp {
    #[serde(default, rename = "$ref")]
    reference: Option<String>,
    #[serde(default, rename = "type")]
    json_type: Option<String>,
    #[serde(default)]
    items: Option<Box<RawProp>>,
    #[serde(default, rename = "enum")]
    enumeration: Option<Vec<serde_json::Value>>,
    #[serde(default, rename = "const")]
    constant: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    pattern: Option<String>,
}

fn kind_of_json_type(t: Option<&str>) -> JsonKind {
    match t {
        Some("string") => JsonKind::String,
        Some("number") | Some("integer") => JsonKind::Number,
        Some("boolean") => JsonKind::Boolean,
        Some("object") => JsonKind::Object,
        _ => JsonKind::Any,
    }
}

/// The type names a choice element's names end with: primitives capitalised, and datatypes.
fn is_choice_suffix(suffix: &str, defs: &BTreeMap<String, RawDef>) -> bool {
    let mut c = suffix.chars();
    let Some(first) = c.next() else { return false };
    if !first.is_ascii_uppercase() {
        return false;
    }
    if defs.contains_key(suffix) && !suffix.contains('_') {
        return true;
    }
    let lower: String = first.to_ascii_lowercase().to_string() + c.as_str();
    defs.get(&lower).is_some_and(|d| d.properties.is_none())
}

impl Definitions {
    /// The process-wide R4 definitions (built on first call).
    pub fn r4() -> &'static Definitions {
        static R4: OnceLock<Definitions> = OnceLock::new();
        R4.get_or_init(|| {
            Definitions::from_gzipped_schema(SCHEMA_GZ)
                .unwrap_or_else(|e| unreachable!("the vendored FHIR schema is broken: {e}"))
        })
    }

    fn from_gzipped_schema(gz: &[u8]) -> Result<Definitions, String> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut text)
            .map_err(|e| format!("gunzip: {e}"))?;
        let mut raw: RawSchema =
            serde_json::from_slice(&text).map_err(|e| format!("parse: {e}"))?;
        raw.definitions.retain(|name, _| {
            name != "IdentityProvider" && !NOT_R4_RESOURCES.iter().any(|t| name.starts_with(t))
        });
        let kind_of_ref = |r: &str| -> (String, JsonKind) {
            let name = r.strip_prefix("#/definitions/").unwrap_or(r).to_string();
            let kind = match raw.definitions.get(&name) {
                Some(d) if d.properties.is_some() => JsonKind::Object,
                Some(d) => kind_of_json_type(d.json_type.as_deref()),
                None => JsonKind::Any,
            };
            (name, kind)
        };
        let extras: serde_json::Value =
            serde_json::from_str(R4_EXTRAS).map_err(|e| format!("r4-extras.json: {e}"))?;
        let required_codes = |key: &str| -> Option<Vec<String>> {
            let list = extras.get("requiredCodes")?.get(key)?.as_array()?;
            Some(
                list.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect(),
            )
        };
        // A choice's primitive is written inline (`pattern` + `type`), not as a `$ref`: the
        // number primitives (`integer`, `positiveInt`, `unsignedInt`, `decimal`) each have their
        // own pattern, which names them.
        // (A shared pattern names the alphabetically first primitive, deterministically.)
        let mut number_types: HashMap<&str, &str> = HashMap::new();
        for (n, d) in &raw.definitions {
            if d.properties.is_none()
                && d.json_type.as_deref() == Some("number")
                && let Some(p) = d.pattern.as_deref()
            {
                number_types.entry(p).or_insert(n.as_str());
            }
        }
        let mut types = HashMap::new();
        let mut resources = std::collections::BTreeSet::new();
        for (name, def) in &raw.definitions {
            let Some(props) = &def.properties else {
                continue;
            };
            let mut t = TypeDef::default();
            for (pname, p) in props {
                if pname == "resourceType" && p.constant.is_some() {
                    resources.insert(name.clone());
                }
                if pname.starts_with('_') || p.constant.is_some() {
                    // `_name` carries a primitive's extensions; `resourceType` is the type's own.
                    continue;
                }
                if name == "Meta" && NOT_R4_META_ELEMENTS.contains(&pname.as_str()) {
                    continue;
                }
                let array = p.json_type.as_deref() == Some("array");
                let one = if array {
                    p.items.as_deref().unwrap_or(p)
                } else {
                    p
                };
                let (type_name, kind) = if let Some(r) = &one.reference {
                    kind_of_ref(r)
                } else if one.enumeration.is_some() {
                    ("code".to_string(), JsonKind::String)
                } else {
                    let k = kind_of_json_type(one.json_type.as_deref());
                    let n = match k {
                        JsonKind::String => "string",
                        JsonKind::Number => one
                            .pattern
                            .as_deref()
                            .and_then(|p| number_types.get(p).copied())
                            .unwrap_or("decimal"),
                        JsonKind::Boolean => "boolean",
                        _ => "unknown",
                    };
                    (n.to_string(), k)
                };
                let codes = match &one.enumeration {
                    Some(e) => Some(
                        e.iter()
                            .filter_map(|c| c.as_str().map(str::to_string))
                            .collect(),
                    ),
                    None if type_name == "code" => required_codes(&format!("{name}.{pname}")),
                    None => None,
                };
                t.elements.insert(
                    pname.clone(),
                    Element {
                        name: pname.clone(),
                        type_name,
                        array,
                        kind,
                        codes,
                    },
                );
            }
            // Choices: a prefix shared by two or more names, each followed by a type name, all
            // with the one description the schema gives every type of a choice, none a list (an
            // R4 choice holds one value; this tells `value[x]` from pairs of lists such as
            // `Encounter.reasonCode` / `reasonReference`).
            let mut groups: BTreeMap<String, Vec<(String, Option<&str>)>> = BTreeMap::new();
            for pname in t.elements.keys() {
                for (i, c) in pname.char_indices().skip(1) {
                    if c.is_ascii_uppercase()
                        && let (Some(prefix), Some(suffix)) = (pname.get(..i), pname.get(i..))
                        && is_choice_suffix(suffix, &raw.definitions)
                    {
                        if t.elements.get(pname).is_some_and(|e| e.array) {
                            break;
                        }
                        let desc = props.get(pname).and_then(|p| p.description.as_deref());
                        groups
                            .entry(prefix.to_string())
                            .or_default()
                            .push((pname.clone(), desc));
                        break;
                    }
                }
            }
            t.choices = groups
                .into_iter()
                .filter(|(_, names)| {
                    names.len() >= 2 && names.iter().all(|(_, d)| *d == names[0].1)
                })
                .map(|(prefix, names)| (prefix, names.into_iter().map(|(n, _)| n).collect()))
                .collect();
            types.insert(name.clone(), t);
        }
        Ok(Definitions { types, resources })
    }

    /// Whether `type_name` is a type with elements (a resource, datatype or backbone element).
    pub fn has_type(&self, type_name: &str) -> bool {
        self.types.contains_key(type_name)
    }

    /// Whether `name` is an R4 resource type (`Medication`, not `Quantity`).
    pub fn is_resource_type(&self, name: &str) -> bool {
        self.resources.contains(name)
    }

    /// The R4 resource types, sorted.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(String::as_str)
    }

    /// The element `name` of `type_name`, when there is one.
    pub fn element(&self, type_name: &str, name: &str) -> Option<&Element> {
        self.types.get(type_name)?.elements.get(name)
    }

    /// The element names of `type_name`, sorted.
    pub fn element_names(&self, type_name: &str) -> Vec<&str> {
        self.types
            .get(type_name)
            .map(|t| t.elements.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Why `name` is not an element of `type_name` (a misspelling, or a choice type it does not
    /// allow), with the closest name if one is close enough.
    fn unknown(&self, type_name: &str, name: &str) -> PathErrorKind {
        let Some(t) = self.types.get(type_name) else {
            return PathErrorKind::Unknown {
                within: type_name.to_string(),
                suggestion: None,
            };
        };
        let suggestion = closest(name, t.elements.keys().map(String::as_str));
        // The longest choice prefix `name` starts with, followed by a capital letter.
        let choice = t
            .choices
            .iter()
            .filter(|(prefix, _)| {
                name.strip_prefix(prefix.as_str())
                    .and_then(|r| r.chars().next())
                    .is_some_and(|c| c.is_ascii_uppercase())
            })
            .max_by_key(|(prefix, _)| prefix.len());
        match choice {
            Some((prefix, allowed)) => PathErrorKind::BadChoice {
                within: type_name.to_string(),
                choice: format!("{prefix}[x]"),
                allowed: allowed.clone(),
                suggestion,
            },
            None => PathErrorKind::Unknown {
                within: type_name.to_string(),
                suggestion,
            },
        }
    }

    /// Follows a field path from a resource type: each step an element name and an optional
    /// index. Returns the last element, or the first step that is wrong and why.
    pub fn lookup(
        &self,
        resource_type: &str,
        path: &[(&str, Option<usize>)],
    ) -> Result<Element, PathError> {
        let mut within = resource_type.to_string();
        let mut last: Option<&Element> = None;
        for (i, (name, index)) in path.iter().enumerate() {
            if let Some(prev) = last {
                if prev.kind == JsonKind::Any {
                    // Inside a contained resource or an untyped value: not checked here.
                    return Ok(prev.clone());
                }
                if prev.kind != JsonKind::Object {
                    return Err(PathError {
                        segment: i - 1,
                        kind: PathErrorKind::InsidePrimitive {
                            type_name: prev.type_name.clone(),
                        },
                    });
                }
                if prev.array && path.get(i - 1).is_some_and(|s| s.1.is_none()) {
                    return Err(PathError {
                        segment: i - 1,
                        kind: PathErrorKind::ListWithoutIndex,
                    });
                }
                within = prev.type_name.clone();
            }
            let Some(el) = self.element(&within, name) else {
                return Err(PathError {
                    segment: i,
                    kind: self.unknown(&within, name),
                });
            };
            if index.is_some() && !el.array {
                return Err(PathError {
                    segment: i,
                    kind: PathErrorKind::IndexOnSingle {
                        type_name: el.type_name.clone(),
                    },
                });
            }
            last = Some(el);
        }
        last.cloned().ok_or(PathError {
            segment: 0,
            kind: PathErrorKind::Unknown {
                within,
                suggestion: None,
            },
        })
    }
}

/// [`Definitions::lookup`] on the R4 definitions.
pub fn lookup(resource_type: &str, path: &[(&str, Option<usize>)]) -> Result<Element, PathError> {
    Definitions::r4().lookup(resource_type, path)
}

/// The candidate closest to `name` when it is close enough to be a likely misspelling: a
/// case-insensitive match, or Jaro-Winkler similarity of at least 0.85 (the best one; ties by
/// name order).
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = if c.to_ascii_lowercase() == lower {
            2.0
        } else {
            strsim::jaro_winkler(name, c)
        };
        if score >= 0.85 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(p: &str) -> Vec<(&str, Option<usize>)> {
        p.split('.')
            .map(|s| match s.split_once('[') {
                Some((n, i)) => (n, i.trim_end_matches(']').parse().ok()),
                None => (s, None),
            })
            .collect()
    }

    fn look(ty: &str, p: &str) -> Result<Element, PathError> {
        lookup(ty, &steps(p))
    }

    #[test]
    fn nested_datatypes_and_backbone_elements_resolve() {
        let e = look("Immunization", "vaccineCode.coding[0].system").unwrap();
        assert_eq!((e.type_name.as_str(), e.array), ("uri", false));
        assert_eq!(e.kind, JsonKind::String);
        let e = look("Immunization", "performer[0].actor.reference").unwrap();
        assert_eq!(e.kind, JsonKind::String);
        let e = look("Observation", "valueQuantity.value").unwrap();
        assert_eq!(
            (e.type_name.as_str(), e.kind),
            ("decimal", JsonKind::Number)
        );
        let e = look("Immunization", "primarySource").unwrap();
        assert_eq!(e.kind, JsonKind::Boolean);
        let e = look("Patient", "name").unwrap();
        assert!(e.array);
        assert_eq!(e.kind, JsonKind::Object);
        let e = look("Patient", "name[0].given").unwrap();
        assert!(e.array);
        assert_eq!(e.kind, JsonKind::String);
        // Enums are codes; contained resources are not looked into.
        assert_eq!(look("Patient", "gender").unwrap().kind, JsonKind::String);
        assert_eq!(
            look("Patient", "contained[0].whatever").unwrap().kind,
            JsonKind::Any
        );
        assert!(look("Patient", "meta.tag[0].code").is_ok());
        assert!(look("Patient", "extension[0].valueString").is_ok());
    }

    #[test]
    fn misspellings_name_the_type_and_the_closest_element() {
        let e = look("Immunization", "primarySourc").unwrap_err();
        assert_eq!(
            e,
            PathError {
                segment: 0,
                kind: PathErrorKind::Unknown {
                    within: "Immunization".into(),
                    suggestion: Some("primarySource".into())
                }
            }
        );
        let e = look("Immunization", "vaccineCode.coding[0].displayy").unwrap_err();
        assert_eq!(e.segment, 2);
        assert_eq!(
            e.kind,
            PathErrorKind::Unknown {
                within: "Coding".into(),
                suggestion: Some("display".into())
            }
        );
        let e = look("Observation", "valueQuantity.units").unwrap_err();
        assert_eq!(e.segment, 1);
        assert_eq!(
            e.kind,
            PathErrorKind::Unknown {
                within: "Quantity".into(),
                suggestion: Some("unit".into())
            }
        );
        let e = look("Patient", "zzzz").unwrap_err();
        assert!(matches!(
            e.kind,
            PathErrorKind::Unknown {
                suggestion: None,
                ..
            }
        ));
    }

    #[test]
    fn choice_types_allow_only_their_own_types() {
        assert!(look("Observation", "valueString").is_ok());
        assert!(look("Observation", "effectiveDateTime").is_ok());
        let e = look("Observation", "valueDecimal").unwrap_err();
        let PathErrorKind::BadChoice {
            choice, allowed, ..
        } = e.kind
        else {
            panic!("{e:?}")
        };
        assert_eq!(choice, "value[x]");
        assert!(
            allowed.contains(&"valueQuantity".to_string()),
            "{allowed:?}"
        );
        assert!(!allowed.contains(&"valueDecimal".to_string()));
        // Immunization.occurrence[x] is dateTime | string.
        let e = look("Immunization", "occurrenceDate").unwrap_err();
        assert!(matches!(e.kind, PathErrorKind::BadChoice { .. }), "{e:?}");
    }

    #[test]
    fn pairs_that_are_not_choices_are_not_read_as_choices() {
        // Encounter.reasonCode and reasonReference are two elements, not `reason[x]`.
        let e = look("Encounter", "reasonCod").unwrap_err();
        assert!(matches!(e.kind, PathErrorKind::Unknown { .. }), "{e:?}");
    }

    #[test]
    fn cardinality_is_checked_on_indices() {
        let e = look("Immunization", "vaccineCode[0].text").unwrap_err();
        assert_eq!(e.segment, 0);
        assert!(matches!(e.kind, PathErrorKind::IndexOnSingle { .. }));
        let e = look("Patient", "name.family").unwrap_err();
        assert_eq!((e.segment, e.kind), (0, PathErrorKind::ListWithoutIndex));
        let e = look("Patient", "birthDate.value").unwrap_err();
        assert!(matches!(e.kind, PathErrorKind::InsidePrimitive { .. }));
    }

    #[test]
    fn medplum_additions_are_not_r4_elements() {
        assert!(look("Patient", "meta.project").is_err());
        assert!(!Definitions::r4().has_type("Bot"));
    }

    #[test]
    fn required_bindings_carry_their_codes() {
        let status = lookup("Encounter", &[("status", None)]).unwrap();
        let codes = status.codes.unwrap();
        assert!(codes.contains(&"finished".to_string()));
        assert!(
            !codes.contains(&"done".to_string()),
            "`done` is STU3, not R4"
        );
        // A required binding the schema leaves as a bare `code` (from r4-extras.json).
        let imm = lookup("Immunization", &[("status", None)]).unwrap();
        assert_eq!(
            imm.codes.unwrap(),
            ["completed", "entered-in-error", "not-done"]
        );
        // Inside a backbone element; and a code without a required binding has none.
        let p = lookup("Patient", &[("contact", Some(0)), ("gender", None)]).unwrap();
        assert!(p.codes.unwrap().contains(&"female".to_string()));
        let lang = lookup("Patient", &[("language", None)]).unwrap();
        assert_eq!(lang.codes, None);
    }

    #[test]
    fn integer_types_refuse_fractions_and_out_of_range_numbers() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        let pos = lookup(
            "Immunization",
            &[
                ("protocolApplied", Some(0)),
                ("doseNumberPositiveInt", None),
            ],
        )
        .unwrap();
        assert_eq!(pos.type_name, "positiveInt");
        assert_eq!(pos.number_problem(&n("1")), None);
        assert_eq!(
            pos.number_problem(&n("0")).unwrap(),
            "a whole number above 0"
        );
        assert!(pos.number_problem(&n("1.5")).is_some());
        let int = lookup("Observation", &[("valueInteger", None)]).unwrap();
        assert_eq!(int.number_problem(&n("-3")), None);
        assert_eq!(int.number_problem(&n("1.5")).unwrap(), "a whole number");
        assert!(
            int.number_problem(&n("3000000000"))
                .unwrap()
                .contains("32 bits")
        );
        let uns = lookup("Attachment", &[("size", None)]).unwrap();
        assert_eq!(uns.number_problem(&n("0")), None);
        assert!(uns.number_problem(&n("-1")).is_some());
        let dec = lookup("Observation", &[("valueQuantity", None), ("value", None)]).unwrap();
        assert_eq!(dec.number_problem(&n("1.5")), None);
    }

    #[test]
    fn resource_types_are_known_apart_from_datatypes() {
        let d = Definitions::r4();
        assert!(d.is_resource_type("Medication"));
        assert!(!d.is_resource_type("Quantity"));
        assert!(!d.is_resource_type("Encounter_Participant"));
        assert!(!d.is_resource_type("Project"), "Medplum's own");
    }

    #[test]
    fn closest_needs_a_close_name() {
        let names = ["unit", "value", "system", "code", "comparator"];
        assert_eq!(closest("units", names.into_iter()), Some("unit".into()));
        assert_eq!(closest("VALUE", names.into_iter()), Some("value".into()));
        assert_eq!(closest("frobnicate", names.into_iter()), None);
    }
}
