//! IAM/endpoint policy documents compared by meaning, not by bytes.
//!
//! AWS reformats the policies it stores: it reorders keys, drops whitespace, and may
//! return a single statement as an object or a one-element list as a bare string. Both
//! sides are normalised here before they are compared, so that a policy AWS merely
//! reformatted never shows up as a change.

use serde_json::{Map, Value};

/// Keys whose values are sets in IAM's grammar: order and "string vs one-element list"
/// carry no meaning there.
const SET_KEYS: &[&str] = &[
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "AWS",
    "Service",
    "Federated",
    "CanonicalUser",
];

/// The policy AWS attaches to an endpoint created without one.
pub fn default_full_access() -> Value {
    serde_json::json!({
        "Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
    })
}

/// Canonical form of a policy document.
pub fn normalize(doc: &Value) -> Value {
    match doc {
        Value::Object(map) => {
            let mut out = Map::new();
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                let v = &map[k];
                let nv = if k == "Statement" {
                    let mut stmts: Vec<Value> = match v {
                        Value::Array(a) => a.iter().map(normalize).collect(),
                        other => vec![normalize(other)],
                    };
                    stmts.sort_by_key(|s| s.to_string());
                    Value::Array(stmts)
                } else if SET_KEYS.contains(&k.as_str()) {
                    set_value(v)
                } else if k == "Condition" {
                    normalize_condition(v)
                } else {
                    normalize(v)
                };
                out.insert(k.clone(), nv);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

fn set_value(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(normalize).collect();
            items.sort_by_key(|s| s.to_string());
            items.dedup();
            if items.len() == 1 {
                items.pop().expect("one item")
            } else {
                Value::Array(items)
            }
        }
        Value::Object(_) => normalize(v),
        other => other.clone(),
    }
}

/// Condition blocks: `{operator: {key: value-or-values}}`; the values are sets.
fn normalize_condition(v: &Value) -> Value {
    match v {
        Value::Object(ops) => {
            let mut out = Map::new();
            let mut names: Vec<&String> = ops.keys().collect();
            names.sort();
            for op in names {
                let inner = match &ops[op] {
                    Value::Object(kv) => {
                        let mut m = Map::new();
                        let mut ks: Vec<&String> = kv.keys().collect();
                        ks.sort();
                        for k in ks {
                            m.insert(k.clone(), set_value(&kv[k]));
                        }
                        Value::Object(m)
                    }
                    other => normalize(other),
                };
                out.insert(op.clone(), inner);
            }
            Value::Object(out)
        }
        other => normalize(other),
    }
}

/// True when two policies mean the same. `None` stands for AWS's default policy.
pub fn equivalent(a: Option<&Value>, b: Option<&Value>) -> bool {
    let def = default_full_access();
    let mut a = normalize(a.unwrap_or(&def));
    let mut b = normalize(b.unwrap_or(&def));
    // Some stores (LocalStack among them) drop "Version"; compare it only when both
    // sides carry one.
    let has = |v: &Value| v.get("Version").is_some();
    if has(&a) != has(&b) {
        for v in [&mut a, &mut b] {
            if let Value::Object(m) = v {
                m.remove("Version");
            }
        }
    }
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reordered_and_reshaped_policies_are_equivalent() {
        let mine = json!({
            "Statement": [{
                "Sid": "A", "Effect": "Deny", "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::a/*"]
            }]
        });
        let aws = json!({
            "Statement": {
                "Resource": ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"],
                "Action": "s3:GetObject",
                "Principal": "*", "Effect": "Deny", "Sid": "A"
            }
        });
        assert!(equivalent(Some(&mine), Some(&aws)));
    }

    #[test]
    fn different_effect_is_a_change() {
        let a = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]});
        let b = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
        assert!(!equivalent(Some(&a), Some(&b)));
    }

    #[test]
    fn absent_policy_equals_the_default_full_access_policy() {
        let aws = json!({"Statement":[{"Action":"*","Effect":"Allow","Principal":"*","Resource":"*"}],"Version":"2008-10-17"});
        assert!(equivalent(None, Some(&aws)));
        let deny =
            json!({"Statement":[{"Action":"*","Effect":"Deny","Principal":"*","Resource":"*"}]});
        assert!(!equivalent(None, Some(&deny)));
    }

    #[test]
    fn a_dropped_version_is_no_change_but_a_different_version_is() {
        let with = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]});
        let without =
            json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]});
        let older = json!({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]});
        assert!(equivalent(Some(&with), Some(&without)));
        assert!(!equivalent(Some(&with), Some(&older)));
    }

    #[test]
    fn condition_values_are_sets() {
        let a = json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*",
            "Condition":{"StringEquals":{"aws:sourceVpce":["vpce-2","vpce-1"]}}}]});
        let b = json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*",
            "Condition":{"StringEquals":{"aws:sourceVpce":["vpce-1","vpce-2"]}}}]});
        assert!(equivalent(Some(&a), Some(&b)));
    }
}
