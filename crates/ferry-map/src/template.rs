//! Resource templates: each `[[resource]]` of a module as a tree fixed when the module loads, so
//! that a row's resource is written straight to its canonical bytes (resourceType first, then
//! members sorted by name, arrays compacted, empty parts dropped) without building a JSON tree.
//!
//! Fields whose expression does not read the row are rendered once, at load; a subtree made only
//! of them is one byte string. Per row only the row's own values are written. The bytes are the
//! same as `ferry_fhir::write_canonical` of [`Module::assemble`]'s JSON (a test over every
//! library module's golden cases proves it); where the template cannot promise that (a field
//! named `id`, a nested `resourceType`, a value that is a list or a map) [`Module::render`]
//! says no and the caller assembles the JSON instead.

use serde_json::Value as Json;

use crate::eval::{Built, to_json};
use crate::module::{Field, Module};
use crate::path::Segment;

#[derive(Debug)]
enum Node {
    /// Rendered bytes of a constant, non-empty value or subtree.
    Const(Vec<u8>),
    /// The value of field `i` (of the resource's fields).
    Field(usize),
    /// The resource's id.
    Id,
    /// Members sorted by name: (`"name":` bytes, node).
    Obj(Vec<(Vec<u8>, Node)>),
    /// Items in index order.
    Arr(Vec<Node>),
}

/// One `[[resource]]`'s template.
#[derive(Debug)]
pub(crate) struct Template {
    /// `{"resourceType":"<type>"`
    head: Vec<u8>,
    /// The root's members, `id` among them.
    root: Vec<(Vec<u8>, Node)>,
    /// False when [`Module::render`] must leave the resource to [`Module::assemble`].
    renders: bool,
    /// Per field: true when its value depends on the row.
    dynamic: Vec<bool>,
}

/// A tree under construction: members by name, items by index.
#[derive(Debug)]
enum Draft {
    Leaf(Node),
    Obj(std::collections::BTreeMap<String, Draft>),
    Arr(std::collections::BTreeMap<usize, Draft>),
}

impl Template {
    pub(crate) fn new(module: &Module, resource_type: &str, fields: &[Field]) -> Template {
        let mut renders = true;
        let mut dynamic = Vec::with_capacity(fields.len());
        let mut root = std::collections::BTreeMap::new();
        root.insert("id".to_string(), Draft::Leaf(Node::Id));
        for (i, f) in fields.iter().enumerate() {
            // A constant: its JSON, when it has one; `None` inside: omitted on every row.
            let constant = module
                .slot(f.expr)
                .and_then(|s| module.constant(s))
                .and_then(|v| to_json(v).ok());
            let leaf = match constant {
                Some(None) => {
                    dynamic.push(false);
                    continue;
                }
                Some(Some(j)) if is_scalar(&j) => {
                    dynamic.push(false);
                    let mut bytes = Vec::new();
                    write_scalar(&mut bytes, &j);
                    Node::Const(bytes)
                }
                _ => {
                    dynamic.push(true);
                    Node::Field(i)
                }
            };
            if f.segments.first().is_some_and(|s| s.name == "id")
                || f.segments.iter().skip(1).any(|s| s.name == "resourceType")
            {
                renders = false;
            }
            if !place(&mut root, &f.segments, leaf) {
                renders = false;
            }
        }
        let mut head = b"{".to_vec();
        write_key(&mut head, "resourceType");
        write_scalar(&mut head, &Json::String(resource_type.to_string()));
        Template {
            head,
            root: finish_obj(root),
            renders,
            dynamic,
        }
    }

    /// Whether field `i`'s value depends on the row (constants are written by the template).
    pub(crate) fn is_dynamic(&self, i: usize) -> bool {
        self.dynamic.get(i).copied().unwrap_or(true)
    }

    /// Appends the resource's canonical bytes; false (and nothing appended) when it cannot.
    pub(crate) fn render(&self, built: &Built, out: &mut Vec<u8>) -> bool {
        if !self.renders {
            return false;
        }
        let start = out.len();
        out.extend_from_slice(&self.head);
        for (key, node) in &self.root {
            let mark = out.len();
            out.push(b',');
            out.extend_from_slice(key);
            match emit(node, built, out) {
                Some(true) => {}
                Some(false) => out.truncate(mark),
                None => {
                    out.truncate(start);
                    return false;
                }
            }
        }
        out.push(b'}');
        true
    }
}

/// Writes `node`; `Some(false)`: nothing to write (out is left as it was, up to the caller's
/// truncation); `None`: a value the template cannot write.
fn emit(node: &Node, built: &Built, out: &mut Vec<u8>) -> Option<bool> {
    match node {
        Node::Const(bytes) => {
            out.extend_from_slice(bytes);
            Some(true)
        }
        Node::Id => {
            write_scalar(out, &Json::String(built.id.clone()));
            Some(true)
        }
        Node::Field(i) => match built.leaves.get(*i) {
            Some(Some(j)) if is_scalar(j) => {
                write_scalar(out, j);
                Some(true)
            }
            Some(Some(_)) => None,
            _ => Some(false),
        },
        Node::Obj(members) => emit_seq(
            members.iter().map(|(key, child)| (key.as_slice(), child)),
            (b'{', b'}'),
            built,
            out,
        ),
        Node::Arr(items) => emit_seq(
            items.iter().map(|child| (&[][..], child)),
            (b'[', b']'),
            built,
            out,
        ),
    }
}

/// Writes an object's members (`"name":` before each) or an array's items (no prefix) between
/// `brackets`, leaving out those with nothing to write, and the whole when none has.
fn emit_seq<'n>(
    children: impl Iterator<Item = (&'n [u8], &'n Node)>,
    (open, close): (u8, u8),
    built: &Built,
    out: &mut Vec<u8>,
) -> Option<bool> {
    let start = out.len();
    out.push(open);
    let mut any = false;
    for (prefix, child) in children {
        let mark = out.len();
        if any {
            out.push(b',');
        }
        out.extend_from_slice(prefix);
        if emit(child, built, out)? {
            any = true;
        } else {
            out.truncate(mark);
        }
    }
    if any {
        out.push(close);
    } else {
        out.truncate(start);
    }
    Some(any)
}

/// Puts a leaf at `path`; false on a conflict (rejected when the module loads, so never).
fn place(
    obj: &mut std::collections::BTreeMap<String, Draft>,
    path: &[Segment],
    leaf: Node,
) -> bool {
    let Some((seg, rest)) = path.split_first() else {
        return false;
    };
    let entry = obj.entry(seg.name.clone());
    let slot = match (seg.index, entry) {
        (Some(i), e) => {
            let Draft::Arr(items) = e.or_insert_with(|| Draft::Arr(Default::default())) else {
                return false;
            };
            if rest.is_empty() {
                return items.insert(i, Draft::Leaf(leaf)).is_none();
            }
            items
                .entry(i)
                .or_insert_with(|| Draft::Obj(Default::default()))
        }
        (None, e) => {
            if rest.is_empty() {
                return match e {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(Draft::Leaf(leaf));
                        true
                    }
                    std::collections::btree_map::Entry::Occupied(_) => false,
                };
            }
            e.or_insert_with(|| Draft::Obj(Default::default()))
        }
    };
    match slot {
        Draft::Obj(children) => place(children, rest, leaf),
        _ => false,
    }
}

fn finish_obj(members: std::collections::BTreeMap<String, Draft>) -> Vec<(Vec<u8>, Node)> {
    members
        .into_iter()
        .map(|(name, d)| {
            let mut key = Vec::new();
            write_key(&mut key, &name);
            (key, finish(d))
        })
        .collect()
}

/// Turns a draft into nodes; a subtree with nothing but constants becomes one byte string.
fn finish(d: Draft) -> Node {
    let node = match d {
        Draft::Leaf(n) => return n,
        Draft::Obj(m) => Node::Obj(finish_obj(m)),
        Draft::Arr(items) => Node::Arr(items.into_values().map(finish).collect()),
    };
    if all_constant(&node) {
        let mut bytes = Vec::new();
        let empty = Built {
            resource: 0,
            id: String::new(),
            leaves: Vec::new(),
            decisions: Vec::new(),
            extra: Vec::new(),
        };
        if emit(&node, &empty, &mut bytes) == Some(true) {
            return Node::Const(bytes);
        }
    }
    node
}

fn all_constant(n: &Node) -> bool {
    match n {
        Node::Const(_) => true,
        Node::Field(_) | Node::Id => false,
        Node::Obj(m) => m.iter().all(|(_, c)| all_constant(c)),
        Node::Arr(items) => items.iter().all(all_constant),
    }
}

fn is_scalar(j: &Json) -> bool {
    !matches!(j, Json::Array(_) | Json::Object(_))
}

/// A scalar in serde_json's compact form (the canonical writer's own).
fn write_scalar(out: &mut Vec<u8>, j: &Json) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, j);
}

/// `"name":`
fn write_key(out: &mut Vec<u8>, name: &str) {
    let _ = serde_json::to_writer(&mut *out, name);
    out.push(b':');
}

impl Module {
    /// Appends the canonical bytes of one evaluated resource to `out` (the same bytes as
    /// `ferry_fhir::write_canonical` of [`Module::assemble`]); false, with nothing appended,
    /// when the resource must be assembled instead.
    pub fn render(&self, built: &Built, out: &mut Vec<u8>) -> bool {
        // A row a decision changed is assembled and validated whole.
        if !built.decisions.is_empty() || !built.extra.is_empty() {
            return false;
        }
        self.templates
            .get(built.resource)
            .is_some_and(|t| t.render(built, out))
    }

    /// Whether field `field` of `[[resource]]` `resource` depends on the row; constant fields
    /// are the same in every resource the template writes.
    pub fn field_is_dynamic(&self, resource: usize, field: usize) -> bool {
        self.templates
            .get(resource)
            .is_none_or(|t| t.is_dynamic(field))
    }
}
