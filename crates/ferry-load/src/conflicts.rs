//! What two versions of a resource differ in, as element paths (never values), for the review
//! of a delta load's conflicts.

use serde_json::Value;

/// The paths where `a` and `b` differ (`name[0].family`, `birthDate`), `meta` at the top level
/// aside, in a stable order. A value present on one side only is a difference at its path.
pub fn changed_paths(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(a, b, "", &mut out, true);
    out
}

fn walk(a: &Value, b: &Value, at: &str, out: &mut Vec<String>, top: bool) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                if top && k == "meta" {
                    continue;
                }
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => walk(p, q, &path, out, false),
                    _ => out.push(path),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let path = format!("{at}[{i}]");
                match (x.get(i), y.get(i)) {
                    (Some(p), Some(q)) => walk(p, q, &path, out, false),
                    _ => out.push(path),
                }
            }
        }
        (p, q) if p != q => out.push(if at.is_empty() {
            "(resource)".to_string()
        } else {
            at.to_string()
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_name_every_difference_and_nothing_else() {
        let a = json!({"resourceType": "Patient", "gender": "male", "name": [{"family": "A", "given": ["B"]}], "meta": {"versionId": "1"}});
        let b = json!({"resourceType": "Patient", "gender": "unknown", "name": [{"family": "A", "given": ["B", "C"]}], "birthDate": "1970", "meta": {"versionId": "2"}});
        assert_eq!(
            changed_paths(&a, &b),
            vec!["birthDate", "gender", "name[0].given[1]"]
        );
        assert!(changed_paths(&a, &a).is_empty());
        assert_eq!(changed_paths(&a, &Value::Null), vec!["(resource)"]);
    }
}
