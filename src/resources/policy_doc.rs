//! A policy document that names ids AWS has not given yet: built at plan time with a
//! placeholder (`${interface_endpoint.studio}`) for each id of a resource created in
//! the same apply, resolved just before its call, once every reference is. The plan
//! shows the placeholders; the call sends the ids.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::changeset::{compact, IdRef};
use crate::execute::NodeFailure;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doc {
    /// Compact JSON, with placeholders where ids are not known yet.
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<Slot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub placeholder: String,
    pub id: IdRef,
}

impl Doc {
    /// A document with no id left to fill.
    pub fn fixed(v: &Value) -> Doc {
        Doc {
            text: compact(v),
            slots: Vec::new(),
        }
    }

    pub fn refs_mut(&mut self) -> impl Iterator<Item = &mut IdRef> {
        self.slots.iter_mut().map(|s| &mut s.id)
    }

    /// The document as sent: every placeholder replaced by its id.
    pub fn resolve(&self) -> Result<String, NodeFailure> {
        let mut text = self.text.clone();
        for s in &self.slots {
            text = text.replace(&s.placeholder, super::id_of(&s.id)?);
        }
        Ok(text)
    }

    /// The document, when every id in it is known at plan time.
    pub fn known(&self) -> Option<Value> {
        if self.slots.iter().any(|s| s.id.id().is_none()) {
            return None;
        }
        serde_json::from_str(&self.resolve().ok()?).ok()
    }

    /// The document as the plan shows it (placeholders for ids to come).
    pub fn shown(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::String(self.text.clone()))
    }
}

/// Collects the references a document is built from: the id where it is known, a
/// placeholder naming the resource where it is not.
#[derive(Default)]
pub struct DocBuilder {
    slots: Vec<Slot>,
}

impl DocBuilder {
    /// The string to build the document with for the resource `label`.
    pub fn id(&mut self, label: &str, r: IdRef) -> String {
        match r {
            IdRef::Id(id) => id,
            node => {
                let placeholder = format!("${{{label}}}");
                if !self.slots.iter().any(|s| s.placeholder == placeholder) {
                    self.slots.push(Slot {
                        placeholder: placeholder.clone(),
                        id: node,
                    });
                }
                placeholder
            }
        }
    }

    /// Whether some id is still to come.
    pub fn waits(&self) -> bool {
        !self.slots.is_empty()
    }

    pub fn finish(self, v: &Value) -> Doc {
        Doc {
            text: compact(v),
            slots: self.slots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_placeholder_is_shown_at_plan_time_and_replaced_by_the_id_before_the_call() {
        let mut b = DocBuilder::default();
        let known = b.id("vpc.main", IdRef::Id("vpc-1".into()));
        let later = b.id("interface_endpoint.studio", IdRef::Node(3));
        assert!(b.waits());
        let mut doc = b.finish(&json!({"a": known, "b": [later.clone(), later]}));
        assert_eq!(doc.known(), None);
        assert_eq!(
            doc.shown(),
            json!({"a": "vpc-1", "b": ["${interface_endpoint.studio}", "${interface_endpoint.studio}"]})
        );
        assert!(doc.resolve().is_err());
        for r in doc.refs_mut() {
            *r = IdRef::Id("vpce-9".into());
        }
        assert_eq!(
            doc.resolve().unwrap(),
            r#"{"a":"vpc-1","b":["vpce-9","vpce-9"]}"#
        );
        assert_eq!(
            doc.known(),
            Some(json!({"a": "vpc-1", "b": ["vpce-9", "vpce-9"]}))
        );
    }
}
