//! Snapshot tests of rendered changesets (human and JSON) and the pinned JSON schema.
//! States come from the in-memory cloud, whose ids are deterministic.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::changeset::{self, Changeset};
use crate::execute::fake::FakeCloud;
use crate::execute::{execute, ExecOptions};
use crate::plan::{validate_source, Plan};
use crate::render::{self, Progress};
use serde::Deserialize;

const STUDIO: &str = include_str!("../../plans/studio-vpc.toml");

fn plan_from(text: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/snapshot.toml");
    validate_source(&path, text).expect("valid plan")
}

async fn applied(plan: &Plan) -> Arc<FakeCloud> {
    let cloud = Arc::new(FakeCloud::default());
    let cs = changeset::diff(plan, &cloud.observe(plan)).unwrap();
    let r = execute(
        &cs,
        cloud.clone(),
        &ExecOptions::default(),
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    assert!(r.errors.is_empty());
    cloud
}

/// Fake ids depend on the order concurrent creates ran in: redact them.
fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(|c: char| c.is_ascii_lowercase()) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let word_end = rest
            .find(|c: char| !(c.is_ascii_lowercase()))
            .unwrap_or(rest.len());
        let prefix = &rest[..word_end];
        let after = &rest[word_end..];
        let is_id = ["vpc", "subnet", "rtb", "rtbassoc", "sg", "vpce"].contains(&prefix)
            && after.starts_with('-')
            && after.len() >= 18
            && after[1..18].chars().all(|c| c.is_ascii_hexdigit());
        if is_id {
            out.push_str(prefix);
            out.push_str("-<id>");
            rest = &after[18..];
        } else {
            out.push_str(prefix);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn fresh() -> Changeset {
    let plan = plan_from(STUDIO);
    changeset::diff(&plan, &FakeCloud::default().observe(&plan)).unwrap()
}

/// Drift and edits of every kind on an applied studio plan.
async fn edited() -> Changeset {
    let plan = plan_from(STUDIO);
    let cloud = applied(&plan).await;
    {
        let mut w = cloud.world.lock().unwrap();
        let sts = w
            .endpoints
            .iter_mut()
            .find(|e| e.service_name.ends_with(".sts"))
            .unwrap();
        sts.private_dns = false;
    }
    let text = STUDIO
        .replace("10.20.32.0/20", "10.20.48.0/20")
        .replace(", \"logs\"]", "]")
        .replace(
            "description = \"Interface endpoints\"",
            "description = \"Interface endpoints only\"",
        );
    let edited = plan_from(&text);
    changeset::diff(&edited, &cloud.observe(&edited)).unwrap()
}

#[test]
fn human_fresh_plan() {
    insta::assert_snapshot!(render::human::changeset(&fresh()));
}

#[test]
fn json_fresh_plan() {
    insta::assert_snapshot!(render::json::changeset(&fresh()));
}

#[tokio::test]
async fn human_edits_and_drift() {
    let out = redact(&render::human::changeset(&edited().await));
    assert!(out.contains("-/+ subnet.private-c"), "{out}");
    assert!(out.contains("# forces replacement"), "{out}");
    assert!(out.contains("  - interface_endpoint.logs"), "{out}");
    assert!(out.contains("  ~ interface_endpoint.sts"), "{out}");
    // subnet and group replaced, and with them the subnet's association and the
    // group's rule (each one add and one destroy); four endpoints move to the new
    // subnet/group; logs deleted.
    assert!(
        out.contains("Plan: 4 to add, 4 to change, 5 to destroy."),
        "{out}"
    );
    assert!(out.contains("subnet.private-c (subnet-<id>)"), "{out}");
    assert!(out.contains("subnet.private-c (new)"), "{out}");
    insta::assert_snapshot!(out);
}

#[tokio::test]
async fn no_changes_says_so() {
    let plan = plan_from(STUDIO);
    let cloud = applied(&plan).await;
    let cs = changeset::diff(&plan, &cloud.observe(&plan)).unwrap();
    let out = render::human::changeset(&cs);
    assert!(out.contains("No changes."), "{out}");
    assert!(!out.contains("Plan:"), "{out}");
    assert!(!out.contains(" + "), "{out}");
}

// ---- the JSON schema, pinned independently of the producer's own structs -------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Doc {
    format_version: String,
    plan: String,
    region: String,
    summary: Summary,
    warnings: Vec<String>,
    resource_changes: Vec<Res>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Summary {
    add: usize,
    change: usize,
    destroy: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Res {
    address: String,
    kind: String,
    key: String,
    action: String,
    id: Option<String>,
    reasons: Vec<String>,
    before: Option<BTreeMap<String, serde_json::Value>>,
    after: Option<BTreeMap<String, serde_json::Value>>,
    replace_paths: Vec<String>,
}

#[tokio::test]
async fn json_schema_is_pinned() {
    for cs in [fresh(), edited().await] {
        let doc: Doc = serde_json::from_str(&render::json::changeset(&cs)).expect("schema v2");
        assert_eq!(doc.format_version, "2");
        for r in &doc.resource_changes {
            assert!(
                ["create", "update", "replace", "delete", "no-op"].contains(&r.action.as_str()),
                "{r:?}"
            );
            assert_eq!(r.address, format!("{}.{}", r.kind, r.key));
            match r.action.as_str() {
                "create" => assert!(r.before.is_none() && r.after.is_some()),
                "delete" => assert!(r.after.is_none()),
                "replace" => assert!(!r.replace_paths.is_empty() && r.before.is_some()),
                _ => {}
            }
        }
    }
    let doc: Doc = serde_json::from_str(&render::json::changeset(&edited().await)).unwrap();
    let subnet = doc
        .resource_changes
        .iter()
        .find(|r| r.address == "subnet.private-c")
        .unwrap();
    assert_eq!(subnet.action, "replace");
    assert_eq!(subnet.replace_paths, vec!["cidr"]);
    assert_eq!(
        subnet.before.as_ref().unwrap()["cidr"],
        serde_json::json!("10.20.32.0/20")
    );
    assert_eq!(
        subnet.after.as_ref().unwrap()["cidr"],
        serde_json::json!("10.20.48.0/20")
    );
}
