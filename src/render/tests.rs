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

#[test]
fn graph_dot_fresh_plan() {
    let cs = fresh();
    let out = render::graph::render(&cs, render::graph::GraphFormat::Dot);
    // One node per changeset node, one edge per dependency.
    assert_eq!(out.matches(" [label=").count(), cs.nodes.len());
    let deps: usize = cs.nodes.iter().map(|n| n.deps.len()).sum();
    assert_eq!(out.matches(" -> ").count(), deps);
    assert!(out.contains("\"+ vpc.main (CreateVpc)\""), "{out}");
    insta::assert_snapshot!(out);
}

#[tokio::test]
async fn graph_mermaid_edits_and_drift() {
    let cs = edited().await;
    let out = render::graph::render(&cs, render::graph::GraphFormat::Mermaid);
    assert!(out.starts_with("flowchart LR\n"), "{out}");
    assert!(out.contains("-/+ subnet.private-c"), "{out}");
    assert!(out.contains("~ interface_endpoint.sts"), "{out}");
    assert!(out.contains("- interface_endpoint.logs"), "{out}");
    let deps: usize = cs.nodes.iter().map(|n| n.deps.len()).sum();
    assert_eq!(out.matches(" --> ").count(), deps);
    insta::assert_snapshot!(redact(&out));
}

/// The compiler-style rendering of the problems of the studio plan edited by `edit`.
fn plan_problems(edit: impl Fn(&str) -> String) -> String {
    let text = edit(STUDIO);
    // Relative to the package root (the tests' working directory): the policy file
    // resolves, and the snapshot names no machine's path.
    let e = validate_source(Path::new("plans/studio-vpc.toml"), &text).unwrap_err();
    let out = render::diagnostics::plan_error(&e, Some(&text), false);
    assert!(!out.contains('\x1b'), "{out}");
    assert_eq!(
        out.matches("\nerror: ").count() + 1,
        e.diagnostics.len(),
        "{out}"
    );
    out
}

#[test]
fn plan_error_typo_field() {
    let out =
        plan_problems(|s| s.replacen("cidr = \"10.20.0.0/20\"", "cidrr = \"10.20.0.0/20\"", 1));
    assert!(out.contains("  --> plans/studio-vpc.toml:10:1\n"), "{out}");
    assert!(
        out.contains("   | ^^^^^ subnets.private-a.cidrr\n"),
        "{out}"
    );
    assert!(out.contains("help: did you mean \"cidr\"?"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn plan_error_bad_cidr() {
    let out = plan_problems(|s| s.replacen("\"10.20.16.0/20\"", "\"10.20.16/20\"", 1));
    assert!(out.contains("--> plans/studio-vpc.toml:14:8"), "{out}");
    // The caret underlines the whole value, quotes included.
    assert!(
        out.contains("       ^^^^^^^^^^^^^ subnets.private-b.cidr"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn plan_error_unknown_references() {
    let out = plan_problems(|s| {
        s.replacen("from = \"workloads\"", "from = \"workload\"", 1)
            .replacen("\"private-b\", ", "\"private-bb\", ", 1)
    });
    assert!(out.contains("help: did you mean \"workloads\"?"), "{out}");
    assert!(out.contains("help: did you mean \"private-b\"?"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn plan_error_missing_field_says_where_to_add_it() {
    let out = plan_problems(|s| s.replacen("cidr = \"10.20.16.0/20\"\n", "", 1));
    assert!(out.contains("error: missing field `cidr`"), "{out}");
    assert!(out.contains("12 | [subnets.private-b]\n"), "{out}");
    assert!(
        out.contains("   | ^^^^^^^^^^^^^^^^^^^ subnets.private-b\n"),
        "{out}"
    );
    assert!(
        out.contains("help: add `cidr = ...` to [subnets.private-b]"),
        "{out}"
    );
    let out = plan_problems(|s| s.replacen("region = \"us-east-1\"", "", 1));
    assert!(
        out.contains("help: add `region = ...` at the top of the file, before the first [table]"),
        "{out}"
    );
}

#[test]
fn plan_error_colour_only_when_asked() {
    let text = STUDIO.replacen("region = \"us-east-1\"", "region = \"us-east-l\"", 1);
    let e = validate_source(Path::new("plans/studio-vpc.toml"), &text).unwrap_err();
    let plain = render::diagnostics::plan_error(&e, Some(&text), false);
    let coloured = render::diagnostics::plan_error(&e, Some(&text), true);
    assert!(coloured.contains("\x1b["), "{coloured}");
    // Colour adds escape codes and nothing else.
    let mut stripped = String::new();
    let mut rest = coloured.as_str();
    while let Some(i) = rest.find('\x1b') {
        stripped.push_str(&rest[..i]);
        let end = rest[i..].find('m').expect("end of an escape code");
        rest = &rest[i + end + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain);
}

#[test]
fn live_progress_counts_running_done_and_left() {
    use crate::model::{Address, Kind};
    let live = super::live::Live::new(3, indicatif::ProgressDrawTarget::hidden());
    assert_eq!(live.state(), (0, 0, ", 0 running, 3 left".to_string()));
    let vpc = Address::new(Kind::Vpc, "main");
    let subnet = Address::new(Kind::Subnet, "a");
    live.started(&vpc, "Creating...");
    live.started(&subnet, "Creating...");
    assert_eq!(live.state(), (0, 2, ", 2 running, 1 left".to_string()));
    live.still(&subnet, "Still creating...");
    live.ended(&vpc, "vpc.main: Created after 1.0s");
    assert_eq!(live.state(), (1, 1, ", 1 running, 1 left".to_string()));
    live.ended(&subnet, "subnet.a: Failed: no");
    assert_eq!(live.state(), (2, 0, ", 0 running, 1 left".to_string()));
    live.close();
}

#[test]
fn plain_progress_lines_are_unchanged() {
    use crate::changeset::Action;
    use crate::model::{Address, Kind};
    use std::time::Duration;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let p = Progress::to(Box::new(buf.clone()));
    let a = Address::new(Kind::Subnet, "a");
    p.started(&a, Action::Create);
    p.still(&a, Action::Create, Duration::from_secs(20));
    p.finished(
        &a,
        Action::Create,
        Duration::from_millis(21_340),
        Some("subnet-1"),
    );
    p.failed(&a, "boom");
    p.close();
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        out,
        "subnet.a: Creating...\nsubnet.a: Still creating... [20s elapsed]\nsubnet.a: Created after 21.3s [id=subnet-1]\nsubnet.a: Failed: boom\n"
    );
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
