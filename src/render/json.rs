//! The changeset as one JSON document. The schema is versioned (`format_version`) and
//! documented in the README; tests pin it with structs that deny unknown fields.

use serde::{Deserialize, Serialize};

use crate::changeset::{Action, Attrs, Changeset};

/// 2: a replaced resource's children are replaced with it (rules, associations) and
/// counted so; a new group's default egress revoke is part of its create, not a
/// destroy; deletes list the rules and associations that go; creates carry `tags`.
pub const FORMAT_VERSION: &str = "2";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDocument {
    pub format_version: String,
    pub plan: String,
    pub region: String,
    pub summary: SummaryDoc,
    pub warnings: Vec<String>,
    pub resource_changes: Vec<ResourceDoc>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryDoc {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDoc {
    pub address: String,
    pub kind: String,
    pub key: String,
    pub action: Action,
    pub id: Option<String>,
    pub reasons: Vec<String>,
    pub before: Option<Attrs>,
    pub after: Option<Attrs>,
    pub replace_paths: Vec<String>,
}

pub fn document(cs: &Changeset) -> PlanDocument {
    let s = cs.summary();
    PlanDocument {
        format_version: FORMAT_VERSION.into(),
        plan: cs.plan.clone(),
        region: cs.region.clone(),
        summary: SummaryDoc {
            add: s.add,
            change: s.change,
            destroy: s.destroy,
        },
        warnings: cs.warnings.clone(),
        resource_changes: cs
            .changes
            .iter()
            .map(|c| ResourceDoc {
                address: c.address.to_string(),
                kind: c.address.kind.as_str().to_string(),
                key: c.address.key.clone(),
                action: c.action,
                id: c.id.clone(),
                reasons: c.reasons.clone(),
                before: c.before.clone(),
                after: c.after.clone(),
                replace_paths: c.replace_paths.clone(),
            })
            .collect(),
    }
}

pub fn changeset(cs: &Changeset) -> String {
    serde_json::to_string_pretty(&document(cs)).expect("plan document serialises")
}
