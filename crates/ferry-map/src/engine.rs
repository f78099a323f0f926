//! The minijinja environment with the healthcare function library registered.
//!
//! Strict undefined: a misspelt column or variable is an error, never a blank. Builtins that do
//! not belong in a field mapping (`range`, `debug`, `namespace`) are removed; minijinja has no I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use crate::concept::ConceptMaps;
use crate::funcs::{self, FnError, attach, codes, dates, ids, names, numbers};
pub use crate::systems::Systems;

/// Makes a resource id from (module, resource type, source key). The run engine passes
/// `ferry-fhir`'s UUID v5 function; tests pass anything deterministic.
pub type IdFn = dyn Fn(&str, &str, &str) -> String + Send + Sync;

/// What `ref(module, key)` points at: the module's primary (first) resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefTarget {
    pub resource_type: String,
    /// The resource's `name` in the module, when it has one (it is part of the id's source key).
    pub name: Option<String>,
}

/// Where legacy local times without a zone are placed, as configured (ferry.toml `[project]`,
/// a module file's `[module]`): a fixed `local_offset` or an IANA `time_zone` (not both), and
/// the policies for the nights the clocks change (`docs/mapping.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalTime {
    /// A fixed offset (`-05:00`): no daylight saving.
    pub local_offset: Option<String>,
    /// An IANA time zone (`America/New_York`).
    pub time_zone: Option<String>,
    /// `earlier` (default), `later` or `exception`: a local time shown twice (fall-back night).
    pub ambiguous_time: Option<String>,
    /// `exception` (default) or `shift`: a local time never shown (spring-forward gap).
    pub nonexistent_time: Option<String>,
}

impl LocalTime {
    /// A fixed offset only (`-05:00`).
    pub fn offset(offset: impl Into<String>) -> Self {
        Self {
            local_offset: Some(offset.into()),
            ..Self::default()
        }
    }

    /// An IANA time zone only (`America/New_York`).
    pub fn zone(zone: impl Into<String>) -> Self {
        Self {
            time_zone: Some(zone.into()),
            ..Self::default()
        }
    }

    /// Whether a local time without a zone has one to go to.
    pub fn is_configured(&self) -> bool {
        self.local_offset.is_some() || self.time_zone.is_some()
    }

    /// These settings with a module's own on top: a module's `time_zone` replaces the
    /// project's zone or offset; its policies replace the project's.
    pub fn overridden_by(&self, module: &LocalTime) -> LocalTime {
        let zone_set = module.time_zone.is_some() || module.local_offset.is_some();
        LocalTime {
            local_offset: if zone_set {
                module.local_offset.clone()
            } else {
                self.local_offset.clone()
            },
            time_zone: if zone_set {
                module.time_zone.clone()
            } else {
                self.time_zone.clone()
            },
            ambiguous_time: module
                .ambiguous_time
                .clone()
                .or_else(|| self.ambiguous_time.clone()),
            nonexistent_time: module
                .nonexistent_time
                .clone()
                .or_else(|| self.nonexistent_time.clone()),
        }
    }

    /// The checked policy. An error names the setting first (`time_zone: ...`).
    pub fn policy(&self) -> Result<dates::LocalPolicy, String> {
        let zone = match (&self.local_offset, &self.time_zone) {
            (Some(_), Some(_)) => {
                return Err("local_offset and time_zone are both set: keep one (time_zone follows daylight saving, local_offset is fixed)".into());
            }
            (Some(o), None) => Some(dates::LocalZone::Offset(
                dates::canonical_offset(o).map_err(|e| format!("local_offset: {}", e.message))?,
            )),
            (None, Some(z)) => {
                Some(dates::LocalZone::named(z).map_err(|e| format!("time_zone: {e}"))?)
            }
            (None, None) => None,
        };
        let ambiguous = match &self.ambiguous_time {
            Some(a) => dates::Ambiguous::parse(a).map_err(|e| format!("ambiguous_time: {e}"))?,
            None => dates::Ambiguous::default(),
        };
        let nonexistent = match &self.nonexistent_time {
            Some(n) => {
                dates::Nonexistent::parse(n).map_err(|e| format!("nonexistent_time: {e}"))?
            }
            None => dates::Nonexistent::default(),
        };
        Ok(dates::LocalPolicy {
            zone,
            ambiguous,
            nonexistent,
        })
    }
}

/// The project settings a project's mappings are loaded with (ferry.toml `[project]`): where
/// legacy local times go and the project's own systems. The run, verify and check pass the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub local_time: LocalTime,
    pub systems: Systems,
}

impl From<LocalTime> for Settings {
    fn from(local_time: LocalTime) -> Self {
        Self {
            local_time,
            systems: Systems::default(),
        }
    }
}

impl From<Option<String>> for Settings {
    /// A `local_offset` or nothing.
    fn from(offset: Option<String>) -> Self {
        LocalTime::from(offset).into()
    }
}

impl From<Option<String>> for LocalTime {
    /// A `local_offset` or nothing (the form the API took before `time_zone`).
    fn from(offset: Option<String>) -> Self {
        Self {
            local_offset: offset,
            ..Self::default()
        }
    }
}

/// Everything expressions may consult besides the row.
#[derive(Clone)]
pub struct EngineConfig {
    pub concept_maps: ConceptMaps,
    pub ids: Arc<IdFn>,
    /// Module name -> its primary resource, for `ref`.
    pub targets: BTreeMap<String, RefTarget>,
    /// Where legacy local times without a zone go; none configured: such a time is an error.
    pub local_time: LocalTime,
    /// Two-digit-year pivot for `date`/`datetime` (default 30).
    pub pivot: u32,
    /// Accepted duplicate-patient merges: module -> source key -> the surviving record's key.
    /// `ref(module, key)` to a merged key points at the survivor's resource.
    pub merges: BTreeMap<String, HashMap<String, String>>,
    /// Reviewers' decisions (`mappings/decisions.toml`); their `map` entries are already in
    /// `concept_maps`.
    pub decisions: Arc<crate::decisions::Decisions>,
    /// The project's own identifier and code systems, for `system('sid/mrn')`.
    pub systems: Systems,
}

impl EngineConfig {
    pub fn new(ids: Arc<IdFn>) -> Self {
        Self {
            concept_maps: ConceptMaps::default(),
            ids,
            targets: BTreeMap::new(),
            local_time: LocalTime::default(),
            pivot: dates::DEFAULT_PIVOT,
            merges: BTreeMap::new(),
            decisions: Arc::default(),
            systems: Systems::default(),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) config: EngineConfig,
    /// `config.local_time`, checked.
    pub(crate) local: dates::LocalPolicy,
    /// Legacy unit spellings: the built-in ones and the project's `concept-maps/ucum.csv`.
    pub(crate) units: codes::UnitMap,
    /// What was wrong with the project's unit spellings (each left out), for diagnostics.
    pub(crate) unit_problems: Vec<String>,
}

/// A configured expression environment, shared (cheaply cloned) by every module of a project.
#[derive(Clone)]
pub struct Engine {
    pub(crate) env: Arc<Environment<'static>>,
    pub(crate) shared: Arc<Shared>,
}

/// Filters Ferry adds, for `ferry check`'s unknown-filter diagnostic and the docs.
pub const FERRY_FILTERS: &[&str] = &[
    "date",
    "datetime",
    "gender",
    "name_parts",
    "family",
    "given",
    "title_case",
    "phone",
    "postal",
    "decimal",
    "plausible",
    "ucum",
    "base64",
    "base64_decode",
    "from_hex",
    "sha1",
    "byte_size",
    "mime_type",
    "zero_pad",
    "luhn",
    "npi",
    "lookup",
];
/// Functions Ferry adds.
pub const FERRY_FUNCTIONS: &[&str] = &["ref", "system"];
pub(crate) const BUILTIN_FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "pprint",
    "format",
    "tojson",
];
pub(crate) const BUILTIN_FUNCTIONS: &[&str] = &["dict"];

pub(crate) fn fn_err(e: FnError) -> Error {
    Error::new(ErrorKind::InvalidOperation, e.message.clone()).with_source(e)
}

fn plain_err(message: &str) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.to_string())
}

/// The text of a filter's input: `None` for none; numbers as written; undefined, bytes and
/// containers are errors.
fn text_of(v: &Value, filter: &str) -> Result<Option<String>, Error> {
    match v.kind() {
        ValueKind::None => Ok(None),
        ValueKind::String => Ok(v.as_str().map(str::to_string)),
        ValueKind::Number => Ok(Some(v.to_string())),
        ValueKind::Undefined => Err(Error::new(
            ErrorKind::UndefinedError,
            format!("`{filter}` was given an undefined value (misspelt column?)"),
        )),
        k => Err(plain_err(&format!("`{filter}` expects text, got {k}"))),
    }
}

/// A parsed decimal as an expression value: whole numbers as integers (`98`, not `98.0`).
fn decimal_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Value::from(f)
    }
}

/// The bytes of a filter's input: bytes as they are, text as UTF-8, numbers as written; `None`
/// for none and for empty input.
fn bytes_of(v: &Value, filter: &str) -> Result<Option<Vec<u8>>, Error> {
    let b = if v.kind() == ValueKind::Bytes {
        v.as_bytes().map(<[u8]>::to_vec)
    } else {
        text_of(v, filter)?.map(String::into_bytes)
    };
    Ok(b.filter(|b| !b.is_empty()))
}

fn opt_str(v: Option<String>) -> Value {
    v.map(Value::from).unwrap_or(Value::from(()))
}

impl Engine {
    /// A configured environment; an error names the setting that is wrong (`time_zone: ...`).
    pub fn new(config: EngineConfig) -> Result<Self, FnError> {
        let local = config
            .local_time
            .policy()
            .map_err(|message| FnError { message, raw: None })?;
        if let Some(message) = config.systems.problems().into_iter().next() {
            return Err(FnError { message, raw: None });
        }
        let (units, unit_problems) =
            codes::UnitMap::build(config.concept_maps.get(codes::USER_SPELLINGS));
        let shared = Arc::new(Shared {
            config,
            local,
            units,
            unit_problems,
        });
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        for g in ["range", "debug", "namespace"] {
            env.remove_global(g);
        }
        register(&mut env, &shared);
        Ok(Self {
            env: Arc::new(env),
            shared,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// The same environment with a module's own local-time settings on top of the project's
    /// ([`LocalTime::overridden_by`]): a module file's `time_zone` in `[module]`.
    pub fn with_local_time(&self, module: &LocalTime) -> Result<Engine, FnError> {
        let mut config = self.shared.config.clone();
        config.local_time = config.local_time.overridden_by(module);
        Engine::new(config)
    }

    /// Problems with the project's unit spellings (`concept-maps/ucum.csv`): each such entry
    /// is left out of the `ucum` filter's list.
    pub fn unit_spelling_problems(&self) -> &[String] {
        &self.shared.unit_problems
    }

    /// Evaluates one expression against a context value (tests, `ferry check --eval`).
    pub fn eval_str(&self, expr: &str, ctx: Value) -> Result<Value, Error> {
        self.env.compile_expression(expr)?.eval(ctx)
    }
}

fn register(env: &mut Environment<'static>, shared: &Arc<Shared>) {
    let s = shared.clone();
    env.add_filter(
        "date",
        move |v: Value, pivot: Option<u32>| -> Result<Value, Error> { date_filter(&s, &v, pivot) },
    );
    let s = shared.clone();
    env.add_filter(
        "datetime",
        move |v: Value, pivot: Option<u32>, kwargs: Kwargs| -> Result<Value, Error> {
            datetime_filter(&s, &v, pivot, Some(&kwargs))
        },
    );
    env.add_filter("gender", |v: Value| -> Result<Value, Error> {
        let t = text_of(&v, "gender")?;
        codes::gender(t.as_deref()).map(Value::from).map_err(fn_err)
    });
    env.add_filter("name_parts", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "name_parts")? else {
            return Ok(Value::from(()));
        };
        let p = names::name_parts(&t);
        let mut m = BTreeMap::new();
        m.insert("family", opt_str(p.family));
        m.insert(
            "given",
            if p.given.is_empty() {
                Value::from(())
            } else {
                Value::from(p.given)
            },
        );
        m.insert("suffix", opt_str(p.suffix));
        Ok(Value::from(m))
    });
    env.add_filter("family", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "family")? else {
            return Ok(Value::from(()));
        };
        Ok(opt_str(names::family(&t)))
    });
    env.add_filter("given", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "given")? else {
            return Ok(Value::from(()));
        };
        let g = names::given(&t);
        Ok(if g.is_empty() {
            Value::from(())
        } else {
            Value::from(g)
        })
    });
    env.add_filter("base64", |v: Value| -> Result<Value, Error> {
        use base64::Engine as _;
        if v.is_none() || v.is_undefined() {
            return Ok(Value::from(()));
        }
        let encoded = match (v.as_str(), v.as_bytes()) {
            (Some(s), _) => base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD.encode(b),
            _ => {
                return Err(Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "base64 needs text or bytes",
                ));
            }
        };
        Ok(Value::from(encoded))
    });
    env.add_filter("sha1", |v: Value| -> Result<Value, Error> {
        Ok(opt_str(
            bytes_of(&v, "sha1")?.map(|b| attach::sha1_base64(&b)),
        ))
    });
    env.add_filter("byte_size", |v: Value| -> Result<Value, Error> {
        Ok(bytes_of(&v, "byte_size")?
            .map(|b| Value::from(b.len()))
            .unwrap_or(Value::from(())))
    });
    env.add_filter("from_hex", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "from_hex")? else {
            return Ok(Value::from(()));
        };
        Ok(attach::from_hex(&t)
            .map_err(fn_err)?
            .map(Value::from_bytes)
            .unwrap_or(Value::from(())))
    });
    env.add_filter("base64_decode", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "base64_decode")? else {
            return Ok(Value::from(()));
        };
        attach::base64_text(&t).map(opt_str).map_err(fn_err)
    });
    env.add_filter("mime_type", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "mime_type")? else {
            return Ok(Value::from(()));
        };
        attach::mime_type(&t)
            .map(|m| m.map(Value::from).unwrap_or(Value::from(())))
            .map_err(fn_err)
    });
    env.add_filter(
        "zero_pad",
        |v: Value, width: usize| -> Result<Value, Error> {
            let Some(t) = text_of(&v, "zero_pad")? else {
                return Ok(Value::from(()));
            };
            Ok(opt_str(ids::zero_pad(&t, width)))
        },
    );
    env.add_filter("luhn", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "luhn")? else {
            return Ok(Value::from(()));
        };
        ids::luhn(&t).map(opt_str).map_err(fn_err)
    });
    env.add_filter("npi", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "npi")? else {
            return Ok(Value::from(()));
        };
        ids::npi(&t).map(opt_str).map_err(fn_err)
    });
    env.add_filter("title_case", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "title_case")? else {
            return Ok(Value::from(()));
        };
        Ok(Value::from(names::title_case(&t)))
    });
    env.add_filter("phone", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "phone")? else {
            return Ok(Value::from(()));
        };
        numbers::phone(&t).map(opt_str).map_err(fn_err)
    });
    env.add_filter("postal", |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "postal")? else {
            return Ok(Value::from(()));
        };
        numbers::postal(&t).map(opt_str).map_err(fn_err)
    });
    env.add_filter("decimal", |v: Value| -> Result<Value, Error> {
        decimal_filter(&v)
    });
    env.add_filter(
        "plausible",
        |v: Value, low: f64, high: f64| -> Result<Value, Error> { plausible_filter(&v, low, high) },
    );
    let s = shared.clone();
    env.add_filter("ucum", move |v: Value| -> Result<Value, Error> {
        let Some(t) = text_of(&v, "ucum")? else {
            return Ok(Value::from(()));
        };
        s.units.ucum(&t).map(opt_str).map_err(fn_err)
    });
    let s = shared.clone();
    env.add_filter(
        "lookup",
        move |v: Value, map: String, field: Option<String>| -> Result<Value, Error> {
            let Some(cm) = s.config.concept_maps.get(&map) else {
                return Err(plain_err(&format!(
                    "no concept map `{map}`: add concept-maps/{map}.csv or concept-maps/{map}.json"
                )));
            };
            let Some(t) = text_of(&v, "lookup")? else {
                return Ok(Value::from(()));
            };
            if funcs::non_blank(&t).is_none() {
                return Ok(Value::from(()));
            }
            let Some(target) = cm.get(&t) else {
                return Err(fn_err(FnError::new(
                    format!("code not in concept map `{map}`"),
                    &t,
                )));
            };
            let entries = &s.config.decisions.map_entries;
            if !entries.is_empty()
                && let Some(&i) = entries.get(&(map.clone(), crate::concept::normalise(&t)))
            {
                crate::decisions::note_used(i);
            }
            match field.as_deref().unwrap_or("code") {
                "code" => Ok(Value::from(target.code.clone())),
                "display" => Ok(opt_str(target.display.clone())),
                "system" => Ok(opt_str(target.system.clone())),
                other => Err(plain_err(&format!(
                    "`lookup` field must be `code`, `display` or `system`, not `{other}`"
                ))),
            }
        },
    );
    let s = shared.clone();
    env.add_function(
        "ref",
        move |module: String, keys: Rest<Value>| -> Result<Value, Error> {
            ref_function(&s, &module, &keys.0)
        },
    );
    let s = shared.clone();
    env.add_function("system", move |path: String| -> Result<Value, Error> {
        s.config
            .systems
            .resolve(&path)
            .map(Value::from)
            .map_err(|m| plain_err(&m))
    });
}

fn date_filter(s: &Shared, v: &Value, pivot: Option<u32>) -> Result<Value, Error> {
    let Some(t) = text_of(v, "date")? else {
        return Ok(Value::from(()));
    };
    let pivot = pivot.unwrap_or(s.config.pivot);
    dates::to_date(&t, pivot).map(opt_str).map_err(fn_err)
}

/// `datetime(pivot, zone=..., ambiguous=..., nonexistent=...)`: the call's own settings on top
/// of the module's and project's.
fn datetime_filter(
    s: &Shared,
    v: &Value,
    pivot: Option<u32>,
    kwargs: Option<&Kwargs>,
) -> Result<Value, Error> {
    let overridden;
    let policy = match kwargs {
        Some(k) if k.args().next().is_some() => {
            let mut p = s.local.clone();
            if let Some(z) = k.get::<Option<String>>("zone")? {
                p.zone = Some(
                    dates::LocalZone::any(&z)
                        .map_err(|e| plain_err(&format!("`datetime` zone: {e}")))?,
                );
            }
            if let Some(a) = k.get::<Option<String>>("ambiguous")? {
                p.ambiguous = dates::Ambiguous::parse(&a).map_err(|e| plain_err(&e))?;
            }
            if let Some(n) = k.get::<Option<String>>("nonexistent")? {
                p.nonexistent = dates::Nonexistent::parse(&n).map_err(|e| plain_err(&e))?;
            }
            k.assert_all_used()?;
            overridden = p;
            &overridden
        }
        _ => &s.local,
    };
    let Some(t) = text_of(v, "datetime")? else {
        return Ok(Value::from(()));
    };
    let pivot = pivot.unwrap_or(s.config.pivot);
    dates::to_datetime_with(&t, pivot, policy)
        .map(opt_str)
        .map_err(fn_err)
}

fn decimal_filter(v: &Value) -> Result<Value, Error> {
    let Some(t) = text_of(v, "decimal")? else {
        return Ok(Value::from(()));
    };
    Ok(match numbers::decimal(&t).map_err(fn_err)? {
        Some(f) => decimal_value(f),
        None => Value::from(()),
    })
}

fn plausible_filter(v: &Value, low: f64, high: f64) -> Result<Value, Error> {
    let Some(t) = text_of(v, "plausible")? else {
        return Ok(Value::from(()));
    };
    Ok(match numbers::plausible(&t, low, high).map_err(fn_err)? {
        Some(f) => decimal_value(f),
        None => Value::from(()),
    })
}

fn ref_function(s: &Shared, module: &str, keys: &[Value]) -> Result<Value, Error> {
    let Some(target) = s.config.targets.get(module) else {
        return Err(plain_err(&format!("`ref`: no module named `{module}`")));
    };
    if keys.is_empty() {
        return Err(plain_err(
            "`ref` needs the target's key: ref('module', row.column)",
        ));
    }
    let mut parts = Vec::with_capacity(keys.len());
    for k in keys {
        match text_of(k, "ref")? {
            Some(t) if !t.trim().is_empty() => parts.push(t),
            // A blank key is no reference: the element is omitted.
            _ => return Ok(Value::from(())),
        }
    }
    let mut key = parts.join("|");
    if let Some(survivor) = s.config.merges.get(module).and_then(|m| m.get(&key)) {
        key = survivor.clone();
    }
    if let Some(n) = &target.name {
        key.push('#');
        key.push_str(n);
    }
    let id = (s.config.ids)(module, &target.resource_type, &key);
    Ok(Value::from(format!("{}/{}", target.resource_type, id)))
}

/// A common expression shape called without the expression engine: `row.COLUMN | FILTER(ARGS)`
/// for the hot filters with literal arguments, and `ref('module', row.COLUMN)`. The same Rust
/// functions the engine calls run on the same inputs; on an error the caller runs the
/// expression through the engine instead, so errors read exactly as before. (Each engine
/// evaluation sets up a VM state: 13 of them per vitals row were a fifth of a run's CPU.)
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Direct {
    pub(crate) column: String,
    call: DirectCall,
}

#[derive(Debug, Clone, PartialEq)]
enum DirectCall {
    Date(Option<u32>),
    Datetime(Option<u32>),
    Decimal,
    Plausible(f64, f64),
    Ref(String),
    /// `row.COLUMN == 'text'` (`!=` when true).
    Equals(String, bool),
}

impl Direct {
    /// Recognises the shapes above in an expression's text.
    pub(crate) fn parse(text: &str) -> Option<Direct> {
        let t = text.trim();
        for (op, negate) in [("==", false), ("!=", true)] {
            if let Some((left, right)) = t.split_once(op) {
                let literal = right.trim().strip_prefix('\'')?.strip_suffix('\'')?;
                if literal.contains(['\'', '"', '\\']) {
                    return None;
                }
                return Some(Direct {
                    column: bare_column(left)?,
                    call: DirectCall::Equals(literal.to_string(), negate),
                });
            }
        }
        if let Some(inner) = t.strip_prefix("ref(").and_then(|r| r.strip_suffix(')')) {
            let (module, column) = inner.split_once(',')?;
            let module = module.trim();
            let module = module
                .strip_prefix('\'')
                .and_then(|m| m.strip_suffix('\''))?;
            if !module
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return None;
            }
            return Some(Direct {
                column: bare_column(column)?,
                call: DirectCall::Ref(module.to_string()),
            });
        }
        let (column, filter) = t.split_once('|')?;
        let column = bare_column(column)?;
        let filter = filter.trim();
        let (name, args) = match filter.split_once('(') {
            Some((name, rest)) => (name.trim(), Some(rest.strip_suffix(')')?)),
            None => (filter, None),
        };
        let numbers: Vec<&str> = match args {
            Some(a) if !a.trim().is_empty() => a.split(',').map(str::trim).collect(),
            _ => Vec::new(),
        };
        if !numbers.iter().all(|n| is_number_literal(n)) {
            return None;
        }
        let pivot = || -> Option<Option<u32>> {
            match numbers.as_slice() {
                [] => Some(None),
                [p] => p.parse::<u32>().ok().map(Some),
                _ => None,
            }
        };
        let call = match name {
            "date" => DirectCall::Date(pivot()?),
            "datetime" => DirectCall::Datetime(pivot()?),
            "decimal" if numbers.is_empty() && args.is_none() => DirectCall::Decimal,
            "plausible" => match numbers.as_slice() {
                [low, high] => DirectCall::Plausible(low.parse().ok()?, high.parse().ok()?),
                _ => return None,
            },
            _ => return None,
        };
        Some(Direct { column, call })
    }

    /// Calls the function on the column's value.
    pub(crate) fn call(&self, shared: &Shared, v: &Value) -> Result<Value, Error> {
        match &self.call {
            DirectCall::Date(p) => date_filter(shared, v, *p),
            DirectCall::Datetime(p) => datetime_filter(shared, v, *p, None),
            DirectCall::Decimal => decimal_filter(v),
            DirectCall::Plausible(low, high) => plausible_filter(v, *low, *high),
            DirectCall::Ref(module) => ref_function(shared, module, std::slice::from_ref(v)),
            DirectCall::Equals(literal, negate) => match v.kind() {
                ValueKind::String => Ok(Value::from((v.as_str() == Some(literal)) != *negate)),
                ValueKind::None => Ok(Value::from(*negate)),
                // Anything else: the engine decides.
                _ => Err(plain_err("not a direct comparison")),
            },
        }
    }
}

/// `row.NAME` (nothing else, spaces around allowed) -> `NAME`.
pub(crate) fn bare_column(text: &str) -> Option<String> {
    let name = text.trim().strip_prefix("row.")?;
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| name.to_string())
}

/// `-?DIGITS(.DIGITS)?`: a literal that the expression language and Rust read the same way.
fn is_number_literal(n: &str) -> bool {
    let digits = n.strip_prefix('-').unwrap_or(n);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concept::{ConceptMap, Target};
    use minijinja::context;

    #[test]
    fn base64_filter_encodes_text_and_keeps_none() {
        let e = engine();
        let out = ev(&e, "v | base64", "Zoë\r\n").unwrap();
        assert_eq!(out.as_str(), Some("Wm/Dqw0K"));
        let none = e.eval_str("v | base64", context!(v => ())).unwrap();
        assert!(none.is_none());
    }

    fn engine() -> Engine {
        let mut cfg =
            EngineConfig::new(Arc::new(|m: &str, t: &str, k: &str| format!("{m}-{t}-{k}")));
        let mut cm = ConceptMap::new("vaccines", "vaccines.csv");
        cm.insert(
            "Tdap",
            Target {
                code: "115".into(),
                display: Some("Tdap".into()),
                system: None,
            },
        )
        .unwrap();
        cfg.concept_maps.insert(cm);
        cfg.targets.insert(
            "patients".into(),
            RefTarget {
                resource_type: "Patient".into(),
                name: None,
            },
        );
        cfg.local_time = LocalTime::offset("-0500");
        Engine::new(cfg).unwrap()
    }

    /// The engine-free calls give what the engine gives, for every input they succeed on; where
    /// they fail, the caller asks the engine.
    #[test]
    fn direct_calls_agree_with_the_engine() {
        let e = engine();
        let exprs = [
            "row.v | date",
            "row.v | date(30)",
            " row.v|datetime ",
            "row.v | datetime(50)",
            "row.v | decimal",
            "row.v | plausible(36, 96)",
            "row.v | plausible(-1.5, 2.25)",
            "ref('patients', row.v)",
            "row.v == 'Y'",
            "row.v != '2019'",
            " row.v=='' ",
        ];
        let inputs: [Value; 14] = [
            Value::from("2019-03-04 10:11:12"),
            Value::from("03/04/19"),
            Value::from("2019"),
            Value::from(""),
            Value::from("  "),
            Value::from("abc"),
            Value::from("97.50"),
            Value::from("1,5"),
            Value::from("-1"),
            Value::from("P-7"),
            Value::from(()),
            Value::from(42),
            Value::from("Y"),
            Value::from_bytes(b"Y".to_vec()),
        ];
        let mut agreed = 0;
        for text in exprs {
            let d = Direct::parse(text).unwrap_or_else(|| panic!("`{text}` is a direct shape"));
            assert_eq!(d.column, "v");
            let compiled = e.env.compile_expression(text).unwrap();
            for v in &inputs {
                let engine_says = compiled.eval(context!(row => context!(v => v.clone())));
                match (d.call(&e.shared, v), engine_says) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a, b, "`{text}` on {v:?}");
                        agreed += 1;
                    }
                    // An error sends the expression to the engine: whatever it says stands.
                    (Err(_), _) => agreed += 1,
                    (a, b) => panic!("`{text}` on {v:?}: direct {a:?}, engine {b:?}"),
                }
            }
        }
        assert_eq!(agreed, exprs.len() * inputs.len());
        for other in [
            "row.v",
            "row.v | date(30, 1)",
            "row.v | decimal()",
            "row.v | plausible(1)",
            "row.v | plausible(1, x)",
            "row.v | plausible(1, 2) ~ 'x'",
            "row.v | datetime or 'x'",
            "row.v | lookup('vaccines')",
            "ref('patients', row.v, row.w)",
            "ref(m, row.v)",
            "ref('patients', row.v) ~ ''",
            "row.v ~ row.w | date",
            "row.v == 'Y' and row.w",
            "row.v == \"Y\"",
            "row.v == 'it''s'",
            "row.v == row.w",
        ] {
            assert_eq!(Direct::parse(other), None, "`{other}`");
        }
    }

    fn ev(e: &Engine, expr: &str, v: &str) -> Result<Value, Error> {
        e.eval_str(expr, context!(v => v))
    }

    fn source_of(e: &Error) -> Option<&FnError> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(c) = cur {
            if let Some(f) = c.downcast_ref::<FnError>() {
                return Some(f);
            }
            cur = c.source();
        }
        None
    }

    #[test]
    fn filters_are_registered_and_chain() {
        let e = engine();
        assert_eq!(
            ev(&e, "v | date", "3/4/2019").unwrap().to_string(),
            "2019-03-04"
        );
        assert_eq!(
            ev(&e, "v | datetime", "3/4/2019 10:00")
                .unwrap()
                .to_string(),
            "2019-03-04T10:00:00-05:00"
        );
        assert_eq!(ev(&e, "v | gender", "F").unwrap().to_string(), "female");
        assert_eq!(
            ev(&e, "v | plausible(36, 96)", "70.5").unwrap().to_string(),
            "70.5"
        );
        assert!(ev(&e, "v | plausible(36, 96)", "6").is_err());
        assert_eq!(
            ev(&e, "v | family", "DOE, JANE").unwrap().to_string(),
            "DOE"
        );
        assert_eq!(
            ev(&e, "(v | given)[0]", "DOE, JANE Q").unwrap().to_string(),
            "JANE"
        );
        assert_eq!(
            ev(&e, "v | family | title_case", "DOE, JANE")
                .unwrap()
                .to_string(),
            "Doe"
        );
        assert_eq!(
            ev(&e, "v | phone", "555 123 4567").unwrap().to_string(),
            "+15551234567"
        );
        assert_eq!(ev(&e, "v | postal", "02134").unwrap().to_string(), "02134");
        assert_eq!(ev(&e, "v | decimal", "1,5").unwrap().to_string(), "1.5");
        assert!(ev(&e, "v | decimal", "98").unwrap().is_integer());
        assert_eq!(ev(&e, "v | ucum", "mmHg").unwrap().to_string(), "mm[Hg]");
        assert_eq!(
            ev(&e, "v | lookup('vaccines')", "tdap")
                .unwrap()
                .to_string(),
            "115"
        );
        assert_eq!(
            ev(&e, "v | lookup('vaccines', 'display')", "Tdap")
                .unwrap()
                .to_string(),
            "Tdap"
        );
        assert_eq!(
            ev(&e, "ref('patients', v)", "17").unwrap().to_string(),
            "Patient/patients-Patient-17"
        );
        assert!(ev(&e, "ref('patients', v)", "").unwrap().is_none());
        assert!(ev(&e, "v | date", "").unwrap().is_none());
    }

    #[test]
    fn attachment_and_identifier_filters() {
        let e = engine();
        assert_eq!(
            ev(&e, "v | sha1", "abc").unwrap().as_str(),
            Some("qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
        );
        assert_eq!(ev(&e, "v | byte_size", "Zoë").unwrap(), Value::from(4));
        // Hex text: the same hash, size and data as the bytes it spells.
        assert_eq!(
            ev(&e, "v | from_hex | sha1", "0x616263").unwrap().as_str(),
            Some("qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
        );
        assert_eq!(
            ev(&e, "v | from_hex | byte_size", "616263").unwrap(),
            Value::from(3)
        );
        assert_eq!(
            ev(&e, "v | from_hex | base64", "616263").unwrap().as_str(),
            Some("YWJj")
        );
        let bytes = Value::from_bytes(b"abc".to_vec());
        let r = e
            .eval_str("v | sha1", context!(v => bytes.clone()))
            .unwrap();
        assert_eq!(r.as_str(), Some("qZk+NkcGgWq6PiVxeFDCbJzQ2J0="));
        let r = e.eval_str("v | byte_size", context!(v => bytes)).unwrap();
        assert_eq!(r, Value::from(3));
        assert_eq!(
            ev(&e, "v | base64_decode", "YWJj").unwrap().as_str(),
            Some("abc")
        );
        assert_eq!(
            ev(&e, "v | mime_type", "Scan.PDF").unwrap().as_str(),
            Some("application/pdf")
        );
        assert_eq!(
            ev(&e, "v | zero_pad(5)", "2134").unwrap().as_str(),
            Some("02134")
        );
        assert_eq!(
            ev(&e, "v | npi", "1234567893").unwrap().as_str(),
            Some("1234567893")
        );
        assert_eq!(
            ev(&e, "v | luhn", "79927398713").unwrap().as_str(),
            Some("79927398713")
        );
        for expr in [
            "v | sha1",
            "v | byte_size",
            "v | from_hex",
            "v | base64_decode",
            "v | mime_type",
            "v | zero_pad(5)",
            "v | luhn",
            "v | npi",
        ] {
            assert!(ev(&e, expr, "").unwrap().is_none(), "{expr}");
            let none = e.eval_str(expr, context!(v => ())).unwrap();
            assert!(none.is_none(), "{expr}");
        }
        for (expr, bad) in [
            ("v | from_hex", "0x4g"),
            ("v | base64_decode", "***"),
            ("v | mime_type", "x.unknownext"),
            ("v | npi", "1234567890"),
            ("v | luhn", "79927398710"),
        ] {
            let err = ev(&e, expr, bad).unwrap_err();
            assert_eq!(source_of(&err).unwrap().raw.as_deref(), Some(bad), "{expr}");
        }
    }

    #[test]
    fn datetime_takes_a_zone_and_policies_per_call() {
        let e = engine();
        // The project here has a fixed -05:00; a call may name an IANA zone instead.
        assert_eq!(
            ev(&e, "v | datetime", "2021-07-01 09:00").unwrap().as_str(),
            Some("2021-07-01T09:00:00-05:00")
        );
        assert_eq!(
            ev(
                &e,
                "v | datetime(zone='America/New_York')",
                "2021-07-01 09:00"
            )
            .unwrap()
            .as_str(),
            Some("2021-07-01T09:00:00-04:00")
        );
        assert_eq!(
            ev(
                &e,
                "v | datetime(zone=\"Europe/London\")",
                "2021-10-31 01:30"
            )
            .unwrap()
            .as_str(),
            Some("2021-10-31T01:30:00+01:00")
        );
        assert_eq!(
            ev(
                &e,
                "v | datetime(zone='Europe/London', ambiguous='later')",
                "2021-10-31 01:30"
            )
            .unwrap()
            .as_str(),
            Some("2021-10-31T01:30:00+00:00")
        );
        assert_eq!(
            ev(
                &e,
                "v | datetime(50, zone='America/New_York', nonexistent='shift')",
                "03/14/21 2:30 AM"
            )
            .unwrap()
            .as_str(),
            Some("2021-03-14T03:30:00-04:00")
        );
        assert_eq!(
            ev(&e, "v | datetime(zone='+01:00')", "2021-07-01 09:00")
                .unwrap()
                .as_str(),
            Some("2021-07-01T09:00:00+01:00")
        );
        let err = ev(
            &e,
            "v | datetime(zone='America/New_York')",
            "2021-03-14 02:30",
        )
        .unwrap_err();
        assert!(source_of(&err).unwrap().message.contains("does not exist"));
        let err = ev(&e, "v | datetime(zone='Eastern')", "2021-07-01 09:00").unwrap_err();
        assert!(err.to_string().contains("not an IANA time zone"), "{err}");
        let err = ev(&e, "v | datetime(zone='UTC', when='x')", "2021-07-01 09:00").unwrap_err();
        assert!(err.to_string().contains("when"), "{err}");
    }

    #[test]
    fn a_projects_unit_spellings_reach_the_ucum_filter() {
        let mut cfg = EngineConfig::new(Arc::new(|m: &str, t: &str, k: &str| format!("{m}{t}{k}")));
        let (map, d) = crate::concept::read_csv(
            "ucum",
            "concept-maps/ucum.csv",
            "source,target\nunits/l,U/L\nbad,[nope]\n".as_bytes(),
        );
        assert!(d.is_empty());
        cfg.concept_maps.insert(map);
        let e = Engine::new(cfg).unwrap();
        assert_eq!(ev(&e, "v | ucum", "Units/L").unwrap().as_str(), Some("U/L"));
        assert_eq!(ev(&e, "v | ucum", "mg/dl").unwrap().as_str(), Some("mg/dL"));
        assert_eq!(e.unit_spelling_problems().len(), 1);
        let err = ev(&e, "v | ucum", "bad").unwrap_err();
        assert!(
            source_of(&err)
                .unwrap()
                .message
                .contains("concept-maps/ucum.csv")
        );
    }

    #[test]
    fn unmapped_code_is_an_error_carrying_map_and_raw_value() {
        let e = engine();
        let err = ev(&e, "v | lookup('vaccines')", "shot given").unwrap_err();
        let f = source_of(&err).expect("FnError source");
        assert_eq!(f.message, "code not in concept map `vaccines`");
        assert_eq!(f.raw.as_deref(), Some("shot given"));
    }

    #[test]
    fn missing_map_and_unknown_ref_module_are_errors() {
        let e = engine();
        assert!(
            ev(&e, "v | lookup('nope')", "x")
                .unwrap_err()
                .to_string()
                .contains("no concept map `nope`")
        );
        assert!(
            ev(&e, "ref('nope', v)", "1")
                .unwrap_err()
                .to_string()
                .contains("no module named `nope`")
        );
    }

    #[test]
    fn strict_undefined_makes_typos_errors() {
        let e = engine();
        assert!(e.eval_str("nope | date", context!(v => "x")).is_err());
        assert!(e.eval_str("nope == 'E'", context!(v => "x")).is_err());
    }

    #[test]
    fn sandbox_has_no_range_or_debug() {
        let e = engine();
        assert!(e.eval_str("range(10) | list", context!()).is_err());
        assert!(e.eval_str("debug()", context!()).is_err());
    }
}
