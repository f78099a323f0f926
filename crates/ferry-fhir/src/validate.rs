//! Structural validation of FHIR R4 JSON against the official R4 JSON Schema (draft-06).
//!
//! The schema is vendored gzipped (`schema/fhir.schema.json.gz`, see `schema/README.md`) and
//! compiled lazily: one `jsonschema` validator per resource type, built from the schema with its
//! root `$ref` pointed at `#/definitions/<Type>`. (The schema's own root is a `oneOf` over every
//! resource type, whose errors say only "matched none of 146 alternatives".)
//!
//! On top of the schema, a few cheap checks the schema cannot express and that matter for a
//! migration: `resourceType` present and a known R4 type, `id` present and well formed, every
//! `reference` a `Type/id` or `urn:uuid:`, and every date / dateTime / instant a real calendar
//! date (the schema's pattern accepts `2019-02-30`).
//!
//! Messages never contain values from the resource (PHI): they say which rule failed, using only
//! names and values that come from the schema.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

/// The official FHIR R4 JSON Schema (`fhir.schema.json`), gzipped. See `schema/README.md`.
pub(crate) static SCHEMA_GZ: &[u8] = include_bytes!("../schema/fhir.schema.json.gz");

/// What the JSON Schema does not encode, generated from the R4 StructureDefinitions by
/// `tools/fhir-validate/gen-r4-extras.mjs`: required-binding codes and required elements.
pub(crate) static R4_EXTRAS: &str = include_str!("../schema/r4-extras.json");

/// Name of the format we attach to every date, dateTime and instant subschema.
const CALENDAR_FORMAT: &str = "fhir-calendar-date";

/// Resource types the vendored schema carries that are not part of FHIR R4 (Medplum's own
/// resources, and SQL-on-FHIR's ViewDefinition). Ferry never writes them; `knows` says no.
pub(crate) const NOT_R4_RESOURCES: &[&str] = &[
    "AccessPolicy",
    "Agent",
    "AsyncJob",
    "Bot",
    "BulkDataExport",
    "ClientApplication",
    "DomainConfiguration",
    "JsonWebKey",
    "Login",
    "PasswordChangeRequest",
    "Project",
    "ProjectMembership",
    "SmartAppLaunch",
    "User",
    "UserConfiguration",
    "UserSecurityRequest",
    "ViewDefinition",
];

/// Elements Medplum added to `Meta` in the vendored schema; removed at load so that R4 `Meta`
/// is what gets validated.
pub(crate) const NOT_R4_META_ELEMENTS: &[&str] = &["project", "author", "account", "compartment"];

/// One problem found in a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Issue {
    /// JSON pointer to the offending element, e.g. `/vaccineCode/coding/0/system`
    /// (`""` for the resource itself).
    pub path: String,
    /// Which rule failed. Never contains a value taken from the resource.
    pub message: String,
}

impl Issue {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// The FHIR R4 structural validator. Cheap to share: `Validator::r4()` is a process-wide
/// instance; per-type compiled schemas are built on first use and cached.
pub struct Validator {
    /// The schema, prepared (Medplum additions removed, calendar format attached, root `oneOf`
    /// removed). Its root `$ref` is rewritten for each type being compiled, under the lock.
    schema: Mutex<Value>,
    /// The R4 resource types the schema defines.
    resource_types: BTreeSet<String>,
    /// Top-level elements with min >= 1 of each resource (StructureDefinitions), choices as
    /// `name[x]`.
    required: HashMap<String, Vec<String>>,
    /// Regex pattern -> FHIR primitive type name, to name the primitive in pattern messages.
    pattern_names: HashMap<String, String>,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Validator {
    /// The process-wide R4 validator (the schema is decompressed and parsed on first call).
    pub fn r4() -> &'static Validator {
        static R4: OnceLock<Validator> = OnceLock::new();
        R4.get_or_init(|| {
            Validator::from_gzipped_schema(SCHEMA_GZ)
                .unwrap_or_else(|e| unreachable!("the vendored FHIR schema is broken: {e}"))
        })
    }

    fn from_gzipped_schema(gz: &[u8]) -> Result<Validator, String> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut text)
            .map_err(|e| format!("gunzip: {e}"))?;
        let mut schema: Value = serde_json::from_slice(&text).map_err(|e| format!("parse: {e}"))?;
        drop(text);
        let root = schema
            .as_object_mut()
            .ok_or("schema root is not an object")?;
        let mapping = root
            .get("discriminator")
            .and_then(|d| d.get("mapping"))
            .and_then(Value::as_object)
            .ok_or("schema has no discriminator mapping")?;
        let mapped: Vec<String> = mapping.keys().cloned().collect();
        root.remove("oneOf");
        root.remove("discriminator");
        let definitions = root
            .get_mut("definitions")
            .and_then(Value::as_object_mut)
            .ok_or("schema has no definitions")?;
        // The mapping also names backbone elements (Medplum's); a resource type is a definition
        // whose `resourceType` property is the constant of its own name.
        let resource_types: BTreeSet<String> = mapped
            .into_iter()
            .filter(|k| !NOT_R4_RESOURCES.contains(&k.as_str()))
            .filter(|k| {
                definitions
                    .get(k)
                    .and_then(|d| d.get("properties"))
                    .and_then(|p| p.get("resourceType"))
                    .and_then(|r| r.get("const"))
                    .and_then(Value::as_str)
                    == Some(k.as_str())
            })
            .collect();
        if let Some(Value::Object(props)) = definitions
            .get_mut("Meta")
            .and_then(|m| m.get_mut("properties"))
        {
            for name in NOT_R4_META_ELEMENTS {
                props.remove(*name);
            }
        }
        // Medplum's definitions (and their backbone elements, named with the resource as a
        // prefix, plus IdentityProvider) go: they hold dangling `$ref`s (`integer64`, `Resource`)
        // that stop the schema compiling, and they are not R4.
        definitions.retain(|name, _| {
            name != "IdentityProvider" && !NOT_R4_RESOURCES.iter().any(|t| name.starts_with(t))
        });
        // A complex type's definition says `properties` and `additionalProperties: false` but not
        // `type: object`, so an ARRAY where one element is allowed (0..1 cardinality, e.g.
        // `Location.address`) would pass: make every such definition an object.
        for def in definitions.values_mut() {
            if let Some(obj) = def.as_object_mut()
                && obj.contains_key("properties")
                && !obj.contains_key("type")
            {
                obj.insert("type".into(), Value::String("object".into()));
            }
        }
        // The contained-resource list must not admit the non-R4 resources either.
        if let Some(Value::Array(alternatives)) = definitions
            .get_mut("ResourceList")
            .and_then(|m| m.get_mut("oneOf"))
        {
            // (Medplum lists its backbone elements there too.)
            alternatives.retain(|alt| {
                alt.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                    .is_some_and(|t| resource_types.contains(t))
            });
        }
        let extras: Value =
            serde_json::from_str(R4_EXTRAS).map_err(|e| format!("r4-extras.json: {e}"))?;
        let mut required: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(map) = extras.get("requiredElements").and_then(Value::as_object) {
            for (t, names) in map {
                let names = names
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                required.insert(t.clone(), names);
            }
        }
        // Required bindings the schema leaves as a bare `code`: the element becomes an enum
        // (a sibling of `$ref` would be ignored in draft-06, so the `$ref` is replaced).
        if let Some(map) = extras.get("requiredCodes").and_then(Value::as_object) {
            for (key, codes) in map {
                let Some((def, prop)) = key.split_once('.') else {
                    continue;
                };
                let Some(Value::Object(p)) = definitions
                    .get_mut(def)
                    .and_then(|d| d.get_mut("properties"))
                    .and_then(|p| p.get_mut(prop))
                else {
                    continue;
                };
                let target = match p.get_mut("items") {
                    Some(Value::Object(items)) => items,
                    _ => p,
                };
                target.remove("$ref");
                target.insert("enum".into(), codes.clone());
            }
        }
        let mut pattern_names = HashMap::new();
        for (name, def) in definitions.iter() {
            let first = name.chars().next().unwrap_or('A');
            if first.is_ascii_lowercase()
                && let Some(p) = def.get("pattern").and_then(Value::as_str)
            {
                // Several primitives share a pattern (uri/url/canonical, string/markdown):
                // keep the alphabetically first, deterministically.
                let entry = pattern_names
                    .entry(p.to_owned())
                    .or_insert_with(|| name.clone());
                if name < entry {
                    *entry = name.clone();
                }
            }
        }
        let date_patterns: Vec<String> = ["date", "dateTime", "instant"]
            .iter()
            .filter_map(|t| {
                definitions
                    .get(*t)
                    .and_then(|d| d.get("pattern"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        if date_patterns.len() != 3 {
            return Err("schema lacks the date/dateTime/instant patterns".into());
        }
        attach_calendar_format(&mut schema, &date_patterns);
        Ok(Validator {
            schema: Mutex::new(schema),
            resource_types,
            required,
            pattern_names,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `resource_type` is an R4 resource type.
    pub fn knows(&self, resource_type: &str) -> bool {
        self.resource_types.contains(resource_type)
    }

    /// Every R4 resource type, sorted.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resource_types.iter().map(String::as_str)
    }

    /// The top-level elements `resource_type` requires (min cardinality >= 1 in its R4
    /// StructureDefinition), sorted, choice elements as `name[x]`; empty for an unknown type.
    /// Immunization: `occurrence[x]`, `patient`, `status`, `vaccineCode`.
    ///
    /// The JSON schema's own `required` is weaker: it lists only complex-typed elements
    /// (Immunization: `patient`, `vaccineCode`). A required *primitive* (`status`) is not listed
    /// because it may be sent as its `_status` extension alone, and a required *choice*
    /// (`occurrence[x]`) is spelled as separate optional properties (`occurrenceDateTime`,
    /// `occurrenceString`) that no draft-06 `required` can express. [`Validator::validate`]
    /// checks these itself.
    pub fn required_elements(&self, resource_type: &str) -> Vec<String> {
        self.required
            .get(resource_type)
            .cloned()
            .unwrap_or_default()
    }

    /// Validates one resource. Returns every problem found (empty when valid), sorted by path.
    pub fn validate(&self, resource: &Value) -> Vec<Issue> {
        let mut issues = Vec::new();
        let Some(obj) = resource.as_object() else {
            issues.push(Issue::new("", "a resource must be a JSON object"));
            return issues;
        };
        let resource_type = match obj.get("resourceType") {
            None => {
                issues.push(Issue::new("/resourceType", "resourceType is missing"));
                return issues;
            }
            Some(Value::String(t)) if self.knows(t) => t.as_str(),
            Some(Value::String(_)) => {
                issues.push(Issue::new(
                    "/resourceType",
                    "resourceType is not a FHIR R4 resource type",
                ));
                return issues;
            }
            Some(_) => {
                issues.push(Issue::new("/resourceType", "resourceType must be a string"));
                return issues;
            }
        };
        match obj.get("id") {
            None => issues.push(Issue::new(
                "/id",
                "id is missing (Ferry writes every resource with an id)",
            )),
            Some(Value::String(id)) if crate::ids::is_valid_id(id) => {}
            Some(Value::String(_)) => issues.push(Issue::new(
                "/id",
                "id must be 1 to 64 characters from A-Z a-z 0-9 - .",
            )),
            Some(_) => {} // the schema reports the wrong type
        }
        check_references(resource, &mut Vec::new(), self, &mut issues);
        for name in self.required.get(resource_type).into_iter().flatten() {
            let present = match name.strip_suffix("[x]") {
                Some(prefix) => obj.keys().any(|k| {
                    k.strip_prefix(prefix)
                        .and_then(|rest| rest.chars().next())
                        .is_some_and(|c| c.is_ascii_uppercase())
                }),
                None => obj.contains_key(name.as_str()) || obj.contains_key(&format!("_{name}")),
            };
            if !present {
                issues.push(Issue::new(
                    format!("/{}", escape_pointer(name)),
                    "required element is missing",
                ));
            }
        }

        match self.compiled_for(resource_type) {
            Ok(v) => {
                if !v.is_valid(resource) {
                    for error in v.iter_errors(resource) {
                        self.push_schema_issues(&error, &mut issues);
                    }
                }
            }
            Err(e) => issues.push(Issue::new("", e)),
        }
        // One issue per element where two rules say the same thing: our own id, required and
        // wrong-type findings win over the schema's pattern or required messages at that path.
        let typed: BTreeSet<String> = issues
            .iter()
            .filter(|i| i.message.starts_with("wrong JSON type"))
            .map(|i| i.path.clone())
            .collect();
        issues.retain(|i| !typed.contains(&i.path) || i.message.starts_with("wrong JSON type"));
        issues.sort();
        issues.dedup_by(|later, earlier| {
            later.path == earlier.path
                && (later.path == "/id" || later.message.starts_with("required element"))
                && (earlier.message.starts_with("id ")
                    || earlier.message.starts_with("required element"))
        });
        issues
    }

    /// The rule of one primitive element, to check its value alone: `path` is the element's
    /// names from the resource down, each with whether it is indexed (`code.coding[0].system`
    /// is `[("code", false), ("coding", true), ("system", false)]`). `None` when the element is
    /// not a primitive the schema defines there (then only whole-resource validation will do).
    ///
    /// The R4 schema has no rule that ties two elements together, so a resource whose elements
    /// sit where those of a valid resource sit, each valid alone by this check, is valid: the run
    /// validates each resource *shape* once in full and then only its row-dependent values.
    pub fn leaf_check(&self, resource_type: &str, path: &[(&str, bool)]) -> Option<LeafCheck> {
        if !self.knows(resource_type) || path.is_empty() {
            return None;
        }
        let node = {
            let schema = self.schema.lock().unwrap_or_else(PoisonError::into_inner);
            let defs = schema.get("definitions")?.as_object()?;
            let mut node: &Value = defs.get(resource_type)?;
            for (name, indexed) in path {
                node = resolve_ref(defs, node)?;
                if is_composite(node) {
                    return None;
                }
                node = node.get("properties")?.get(*name)?;
                if *indexed {
                    node = resolve_ref(defs, node)?.get("items")?;
                }
            }
            let node = resolve_ref(defs, node)?;
            if is_composite(node)
                || node.get("properties").is_some()
                || node.get("items").is_some()
                || node.get("type").and_then(Value::as_str) == Some("array")
            {
                return None;
            }
            node.clone()
        };
        let schema = jsonschema::draft6::options()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .with_format(CALENDAR_FORMAT, is_calendar_date)
            .should_validate_formats(true)
            .build(&node)
            .ok()?;
        let reference = path.last().is_some_and(|(n, _)| *n == "reference");
        Some(LeafCheck { schema, reference })
    }

    /// Whether `value` is valid at the element `leaf` was made for: the whole-resource check's
    /// verdict on that element (schema rule, calendar date, reference form).
    pub fn check_leaf(&self, leaf: &LeafCheck, value: &Value) -> bool {
        if leaf.reference
            && let Value::String(r) = value
            && !is_valid_reference(r, self)
        {
            return false;
        }
        leaf.schema.is_valid(value)
    }

    fn compiled_for(&self, resource_type: &str) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = cache.get(resource_type) {
            return Ok(Arc::clone(v));
        }
        let built = {
            let mut schema = self.schema.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(root) = schema.as_object_mut() {
                root.insert(
                    "$ref".into(),
                    Value::String(format!("#/definitions/{resource_type}")),
                );
            }
            // FHIR's patterns need no look-around: the `regex` crate's automata run them
            // without fancy-regex's backtracking layer (7% of a run, measured with perf).
            jsonschema::draft6::options()
                .with_pattern_options(jsonschema::PatternOptions::regex())
                .with_format(CALENDAR_FORMAT, is_calendar_date)
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| {
                    format!(
                        "internal error: the FHIR schema for {resource_type} does not compile: {e}"
                    )
                })?
        };
        let built = Arc::new(built);
        cache.insert(resource_type.to_owned(), Arc::clone(&built));
        Ok(built)
    }

    fn push_schema_issues(&self, error: &jsonschema::ValidationError<'_>, out: &mut Vec<Issue>) {
        let path = error.instance_path().as_str().to_owned();
        // The canonical keyword location, e.g. `/definitions/Coding/additionalProperties`.
        let definition = definition_of(error.schema_path().as_str());
        let within = match definition {
            Some(d) => format!(" (in {d})"),
            None => String::new(),
        };
        let message = match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    out.push(Issue::new(
                        format!("{path}/{}", escape_pointer(name)),
                        format!("unknown element{within}"),
                    ));
                }
                return;
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or("?");
                out.push(Issue::new(
                    format!("{path}/{}", escape_pointer(name)),
                    format!("required element is missing{within}"),
                ));
                return;
            }
            ValidationErrorKind::Enum { options } => {
                let allowed: Vec<&str> = options
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if allowed.len() <= 12 {
                    format!("code is not one of the allowed values: {}", allowed.join(", "))
                } else {
                    format!(
                        "code is not one of the {} allowed values of this element",
                        allowed.len()
                    )
                }
            }
            ValidationErrorKind::Pattern { pattern } => {
                match self.pattern_names.get(pattern.as_str()) {
                    Some(name) => format!("not a valid FHIR {name}"),
                    None => "does not match the pattern the FHIR schema requires".to_owned(),
                }
            }
            ValidationErrorKind::Format { .. } => {
                "not a real calendar date or time (day, month or hour out of range)".to_owned()
            }
            ValidationErrorKind::Type { kind } => {
                format!("wrong JSON type: expected {}", type_name(kind))
            }
            ValidationErrorKind::Constant { expected_value } => match expected_value.as_str() {
                Some(s) => format!("must be exactly \"{s}\""),
                None => "must be a fixed value".to_owned(),
            },
            ValidationErrorKind::OneOfNotValid { .. } => {
                "matches none of the allowed alternatives (a contained resource of an unknown or invalid type?)".to_owned()
            }
            ValidationErrorKind::OneOfMultipleValid { .. } => {
                "matches more than one of the alternatives".to_owned()
            }
            ValidationErrorKind::MinItems { limit } => {
                format!("must have at least {limit} item(s)")
            }
            ValidationErrorKind::FalseSchema => "element is not allowed here".to_owned(),
            ValidationErrorKind::BacktrackLimitExceeded { .. }
            | ValidationErrorKind::RegexEngineFailure { .. } => {
                "value is too complex to check against the pattern".to_owned()
            }
            other => format!("fails the FHIR schema rule '{}'", other.keyword()),
        };
        out.push(Issue::new(path, format!("{message}{within}")));
    }
}

/// The compiled rule of one primitive element ([`Validator::leaf_check`]).
pub struct LeafCheck {
    schema: jsonschema::Validator,
    /// A `reference` element: Ferry's reference-form check applies too.
    reference: bool,
}

impl std::fmt::Debug for LeafCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCheck")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// Follows `$ref`s (draft-06: a `$ref` replaces its siblings) to the definition they name.
fn resolve_ref<'a>(
    defs: &'a serde_json::Map<String, Value>,
    mut node: &'a Value,
) -> Option<&'a Value> {
    for _ in 0..32 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => node = defs.get(r.strip_prefix("#/definitions/")?)?,
            None => return Some(node),
        }
    }
    None
}

/// A subschema that combines others: not a single element's rule.
fn is_composite(node: &Value) -> bool {
    ["oneOf", "anyOf", "allOf", "not", "if"]
        .iter()
        .any(|k| node.get(*k).is_some())
}

/// Walks the resource and checks every `reference` string.
/// One step of a JSON pointer, kept borrowed while walking: the pointer text is only made for an
/// element that has an issue (building it for every element cost 8% of a run).
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer(steps: &[Step<'_>]) -> String {
    let mut out = String::new();
    for s in steps {
        out.push('/');
        match s {
            Step::Key(k) => out.push_str(&escape_pointer(k)),
            Step::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

fn check_references<'a>(
    value: &'a Value,
    path: &mut Vec<Step<'a>>,
    v: &Validator,
    out: &mut Vec<Issue>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key));
                if key == "reference"
                    && let Value::String(r) = child
                    && !is_valid_reference(r, v)
                {
                    out.push(Issue::new(
                        pointer(path),
                        "reference must be ResourceType/id (an R4 type and a valid id) or urn:uuid:<uuid>",
                    ));
                }
                check_references(child, path, v, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                check_references(item, path, v, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn is_valid_reference(r: &str, v: &Validator) -> bool {
    if let Some(u) = r.strip_prefix("urn:uuid:") {
        return u.len() == 36 && uuid::Uuid::try_parse(u).is_ok();
    }
    match r.split_once('/') {
        Some((t, id)) => v.knows(t) && crate::ids::is_valid_id(id),
        None => false,
    }
}

/// Attaches `"format": CALENDAR_FORMAT` to every subschema whose pattern is that of a date,
/// dateTime or instant (the primitives themselves and the choice-type properties that inline
/// the pattern, like `Immunization.occurrenceDateTime`).
fn attach_calendar_format(value: &mut Value, date_patterns: &[String]) {
    match value {
        Value::Object(map) => {
            let is_date = map
                .get("pattern")
                .and_then(Value::as_str)
                .is_some_and(|p| date_patterns.iter().any(|d| d == p));
            if is_date {
                map.insert("format".into(), Value::String(CALENDAR_FORMAT.into()));
            }
            for (_, child) in map.iter_mut() {
                attach_calendar_format(child, date_patterns);
            }
        }
        Value::Array(items) => {
            for item in items {
                attach_calendar_format(item, date_patterns);
            }
        }
        _ => {}
    }
}

/// True unless `s` starts with a `YYYY-MM-DD` whose day does not exist in that month.
/// (Shape is the pattern's job; this only catches what a regex cannot: 2019-02-30, 2021-02-29.)
pub(crate) fn is_calendar_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return true;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return true;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return true,
    };
    (1..=days).contains(&day)
}

/// `/definitions/CodeableConcept/additionalProperties` -> `CodeableConcept`; backbone elements
/// keep the schema's name (`Immunization_Reaction`).
fn definition_of(schema_path: &str) -> Option<&str> {
    let rest = schema_path.strip_prefix("/definitions/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(ts) => ts
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates() {
        assert!(is_calendar_date("2019-02-28"));
        assert!(is_calendar_date("2020-02-29"));
        assert!(!is_calendar_date("2019-02-29"));
        assert!(!is_calendar_date("2019-04-31"));
        assert!(is_calendar_date("2000-02-29T10:00:00Z"));
        assert!(!is_calendar_date("1900-02-29"));
        assert!(is_calendar_date("2019"));
        assert!(is_calendar_date("2019-04"));
    }

    #[test]
    fn definition_names_come_from_the_keyword_location() {
        assert_eq!(
            definition_of("/definitions/CodeableConcept/additionalProperties"),
            Some("CodeableConcept")
        );
        assert_eq!(definition_of("/properties/a"), None);
    }

    #[test]
    fn leaf_checks_give_the_whole_resource_verdict_for_their_element() {
        let v = Validator::r4();
        let obs = |value: Value| {
            serde_json::json!({"resourceType": "Observation", "id": "o1", "status": "final",
                "code": {"text": "x"}, "effectiveDateTime": value.clone(),
                "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 1.5}})
        };
        let when = v
            .leaf_check("Observation", &[("effectiveDateTime", false)])
            .expect("a dateTime element");
        let status = v
            .leaf_check("Observation", &[("status", false)])
            .expect("a code");
        let coding = v
            .leaf_check(
                "Observation",
                &[("code", false), ("coding", true), ("system", false)],
            )
            .expect("a uri inside an array");
        let subject = v
            .leaf_check("Observation", &[("subject", false), ("reference", false)])
            .expect("a reference");
        let value = v
            .leaf_check("Observation", &[("valueQuantity", false), ("value", false)])
            .expect("a decimal");
        for (text, whole_ok) in [
            ("2019-02-28T10:00:00-05:00", true),
            ("2019-02-30T10:00:00-05:00", false), // not a calendar date
            ("2019-02-28T10:00", false),          // a dateTime with a time needs a zone
            ("yesterday", false),
        ] {
            let value = Value::String(text.into());
            assert_eq!(
                v.validate(&obs(value.clone())).is_empty(),
                whole_ok,
                "{text}"
            );
            assert_eq!(v.check_leaf(&when, &value), whole_ok, "{text}");
        }
        assert!(v.check_leaf(&status, &Value::String("final".into())));
        assert!(!v.check_leaf(&status, &Value::String("done".into())));
        assert!(v.check_leaf(&coding, &Value::String("http://loinc.org".into())));
        assert!(!v.check_leaf(&coding, &Value::String("has space".into())));
        assert!(v.check_leaf(&subject, &Value::String("Patient/p1".into())));
        assert!(!v.check_leaf(&subject, &Value::String("Nobody/p1".into())));
        assert!(v.check_leaf(&value, &serde_json::json!(97)));
        assert!(!v.check_leaf(&value, &Value::String("97".into())));
        // Not primitives, or not elements: no leaf rule.
        assert!(v.leaf_check("Observation", &[("code", false)]).is_none());
        assert!(v.leaf_check("Observation", &[("nosuch", false)]).is_none());
        assert!(
            v.leaf_check("Observation", &[("category", false)])
                .is_none()
        );
        assert!(v.leaf_check("Nosuch", &[("status", false)]).is_none());
    }

    #[test]
    fn medplum_additions_are_not_r4() {
        let v = Validator::r4();
        assert!(v.knows("Immunization"));
        assert!(!v.knows("Bot"));
        assert!(!v.knows("Project"));
        assert!(!v.knows("immunization"));
        assert_eq!(v.resource_types().count(), 146);
    }
}
