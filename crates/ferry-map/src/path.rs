//! Field paths (`vaccineCode.coding[0].system`) and assembling evaluated fields into nested JSON.
//!
//! Rules: a path is `segment(.segment)*`, a segment is a FHIR element name (`[A-Za-z][A-Za-z0-9_]*`)
//! with an optional `[N]` index. A field whose value is omitted leaves no trace: an object left
//! with no members is dropped, and arrays are compacted (indices give order, not position), so
//! `given[1]` without `given[0]` becomes a one-element array. Objects keep members in the order
//! their first path appears in the module file (when `serde_json` preserves order; sorted keys
//! otherwise): either way the output is a pure function of the module and the row.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Segment {
    pub name: String,
    pub index: Option<usize>,
}

/// Parses a field path; the error says what is wrong (no data values involved).
pub fn parse_path(p: &str) -> Result<Vec<Segment>, String> {
    if p.is_empty() {
        return Err("empty field path".into());
    }
    let mut out = Vec::new();
    for seg in p.split('.') {
        if seg.is_empty() {
            return Err("an empty segment (`..`, or a path starting or ending with `.`)".into());
        }
        let (name, index) = match seg.split_once('[') {
            Some((name, rest)) => {
                let Some(num) = rest.strip_suffix(']') else {
                    return Err(format!(
                        "`{seg}`: an index must be written `[N]` at the end of a segment"
                    ));
                };
                if num.is_empty() || num.len() > 4 || !num.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "`{seg}`: the index must be a number from 0 to 9999"
                    ));
                }
                (name, num.parse::<usize>().ok())
            }
            None => (seg, None),
        };
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!(
                "`{seg}` is not a FHIR element name (letters, digits and `_`, starting with a letter)"
            ));
        }
        if name == "resourceType" && out.is_empty() {
            return Err("`resourceType` is set from the resource's `type`".into());
        }
        out.push(Segment {
            name: name.to_string(),
            index,
        });
    }
    Ok(out)
}

/// If two paths cannot both be set (the same path twice, or one inside the other's value, or an
/// element used both as an array and as a single value), says why.
pub fn conflict(a: &[Segment], b: &[Segment]) -> Option<&'static str> {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        if x.name != y.name {
            return None;
        }
        if x.index.is_some() != y.index.is_some() {
            return Some("the element is used both with and without an index");
        }
        if x.index != y.index {
            return None;
        }
        let last = i + 1 == a.len() || i + 1 == b.len();
        if last {
            return Some(if a.len() == b.len() {
                "the same path is set twice"
            } else {
                "one path sets a value that another path goes inside"
            });
        }
    }
    None
}

#[derive(Debug)]
enum Node {
    Leaf(Json),
    Obj(Vec<(String, Node)>),
    Arr(BTreeMap<usize, Node>),
}

/// Builds one resource from (path, value) pairs in file order.
#[derive(Debug)]
pub struct Builder {
    root: Vec<(String, Node)>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Self { root: Vec::new() }
    }

    /// Sets a value. Conflicting paths are rejected when the module is loaded, so the error here
    /// only guards against misuse.
    pub fn set(&mut self, path: &[Segment], value: Json) -> Result<(), &'static str> {
        let Some((first, rest)) = path.split_first() else {
            return Err("empty path");
        };
        set_in_obj(&mut self.root, first, rest, value)
    }

    /// The assembled JSON object (members in insertion order), empty parts dropped.
    pub fn finish(self, head: Vec<(String, Json)>) -> Json {
        let mut map = Map::new();
        for (k, v) in head {
            map.insert(k, v);
        }
        for (k, n) in self.root {
            if let Some(v) = to_json(n) {
                map.insert(k, v);
            }
        }
        Json::Object(map)
    }
}

fn set_in_obj(
    obj: &mut Vec<(String, Node)>,
    seg: &Segment,
    rest: &[Segment],
    value: Json,
) -> Result<(), &'static str> {
    let pos = match obj.iter().position(|(k, _)| *k == seg.name) {
        Some(p) => p,
        None => {
            let fresh = if seg.index.is_some() {
                Node::Arr(BTreeMap::new())
            } else if rest.is_empty() {
                Node::Leaf(Json::Null)
            } else {
                Node::Obj(Vec::new())
            };
            obj.push((seg.name.clone(), fresh));
            obj.len() - 1
        }
    };
    let Some((_, node)) = obj.get_mut(pos) else {
        return Err("internal: lost node");
    };
    let slot: &mut Node = match (seg.index, node) {
        (Some(i), Node::Arr(items)) => items.entry(i).or_insert_with(|| {
            if rest.is_empty() {
                Node::Leaf(Json::Null)
            } else {
                Node::Obj(Vec::new())
            }
        }),
        (None, n) => n,
        _ => return Err("conflicting paths"),
    };
    match (rest.split_first(), slot) {
        (None, Node::Leaf(v)) if v.is_null() => {
            *v = value;
            Ok(())
        }
        (Some((next, rest)), Node::Obj(children)) => set_in_obj(children, next, rest, value),
        _ => Err("conflicting paths"),
    }
}

fn to_json(n: Node) -> Option<Json> {
    match n {
        Node::Leaf(Json::Null) => None,
        Node::Leaf(v) => Some(v),
        Node::Obj(children) => {
            let mut map = Map::new();
            for (k, c) in children {
                if let Some(v) = to_json(c) {
                    map.insert(k, v);
                }
            }
            if map.is_empty() {
                None
            } else {
                Some(Json::Object(map))
            }
        }
        Node::Arr(items) => {
            let v: Vec<Json> = items.into_values().filter_map(to_json).collect();
            if v.is_empty() {
                None
            } else {
                Some(Json::Array(v))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<Segment> {
        parse_path(s).unwrap()
    }

    #[test]
    fn parses_names_and_indices() {
        assert_eq!(
            p("vaccineCode.coding[0].system"),
            vec![
                Segment {
                    name: "vaccineCode".into(),
                    index: None
                },
                Segment {
                    name: "coding".into(),
                    index: Some(0)
                },
                Segment {
                    name: "system".into(),
                    index: None
                },
            ]
        );
        for bad in [
            "",
            "a..b",
            "a[x]",
            "a[0",
            "1a",
            "a.b-c",
            "a[]",
            "resourceType",
            "a[0]b",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conflicts() {
        assert!(conflict(&p("a.b"), &p("a.b")).is_some());
        assert!(conflict(&p("a.b"), &p("a.b.c")).is_some());
        assert!(conflict(&p("a[0]"), &p("a.b")).is_some());
        assert!(conflict(&p("a[0].b"), &p("a[1].b")).is_none());
        assert!(conflict(&p("a.b"), &p("a.c")).is_none());
    }

    #[test]
    fn builds_nested_objects_and_compacts_arrays() {
        let mut b = Builder::new();
        b.set(&p("code.coding[1].code"), json!("x")).unwrap();
        b.set(&p("code.coding[0].system"), Json::Null).unwrap();
        b.set(&p("code.text"), json!("t")).unwrap();
        b.set(&p("empty.inner"), Json::Null).unwrap();
        let out = b.finish(vec![("resourceType".into(), json!("Observation"))]);
        assert_eq!(
            out,
            json!({"resourceType":"Observation","code":{"coding":[{"code":"x"}],"text":"t"}})
        );
    }
}
