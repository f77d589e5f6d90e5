//! Access policies against the in-memory cloud: the IAM policy names the ids AWS gave,
//! follows a replaced endpoint in the same apply, keeps within IAM's five versions,
//! attaches only to principals that exist, and the endpoint policies built from intents
//! name the domain made in the same apply. Each scenario ends with "planning again is
//! empty".

use std::sync::Arc;

use serde_json::json;

use super::tests::{assert_replan_empty, converge, plan_from, quiet};
use super::*;
use crate::execute::fake::FakeCloud;
use crate::execute::{execute, ExecOptions};
use crate::plan::access::{Principal, PrincipalKind};
use crate::plan::Plan;
use crate::resources::{access_policy, interface_endpoint, studio_domain};

const ACCESS: &str = include_str!("../../plans/studio-access.toml");

fn access_plan(name: &str, edit: impl Fn(String) -> String) -> Plan {
    let text = ACCESS.replace(
        "name = \"ml-studio-private\"",
        &format!("name = \"{name}\""),
    );
    plan_from(&edit(text))
}

fn cloud_with_role() -> Arc<FakeCloud> {
    let cloud = Arc::new(FakeCloud::default());
    cloud.add_principal(role("DataScientist"));
    cloud
}

fn role(name: &str) -> Principal {
    Principal {
        kind: PrincipalKind::Role,
        name: name.into(),
    }
}

fn endpoint_id(cloud: &FakeCloud, key: &str) -> String {
    let tag = format!("interface_endpoint.{key}");
    let w = cloud.world.lock().unwrap();
    w.endpoints
        .iter()
        .find(|e| e.tags.get(crate::model::TAG_KEY) == Some(&tag))
        .map(|e| e.id.clone())
        .expect("endpoint")
}

fn endpoint_policy(cloud: &FakeCloud, key: &str) -> serde_json::Value {
    let id = endpoint_id(cloud, key);
    let w = cloud.world.lock().unwrap();
    let e = w.endpoints.iter().find(|e| e.id == id).unwrap();
    e.policy.clone().expect("a policy")
}

fn access_document(cloud: &FakeCloud) -> serde_json::Value {
    cloud.world.lock().unwrap().policies[0].document.clone()
}

#[tokio::test]
async fn the_access_policy_names_the_new_endpoints_and_the_studio_policy_the_new_domain() {
    let cloud = cloud_with_role();
    let plan = access_plan("ap1", |t| t);
    let cs = converge(&cloud, &plan).await;
    let (api, studio) = (
        endpoint_id(&cloud, "sagemaker.api"),
        endpoint_id(&cloud, "studio"),
    );
    let doc = access_document(&cloud);
    assert_eq!(
        doc["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:sourceVpce": [api, studio]}})
    );
    let w = cloud.world.lock().unwrap().clone();
    assert_eq!(w.policies[0].name, "ap1-studio-access");
    assert_eq!(w.policies[0].attached, vec![role("DataScientist")]);
    let domain = &w.domains[0].id;
    let studio_policy = endpoint_policy(&cloud, "studio");
    assert_eq!(
        studio_policy["Statement"][1]["Resource"],
        json!([format!(
            "arn:aws:sagemaker:us-east-1:000000000000:user-profile/{domain}/alice"
        )])
    );
    let runtime = endpoint_policy(&cloud, "sagemaker.runtime");
    assert_eq!(
        runtime["Statement"][0]["Resource"],
        json!(["arn:aws:sagemaker:us-east-1:000000000000:endpoint/churn-model"])
    );
    assert_eq!(
        runtime["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:PrincipalAccount": "000000000000"}})
    );
    // The studio endpoint is created without waiting for the domain; its policy is set
    // once the domain exists.
    let order = cs.topo_order().unwrap();
    let at =
        |pred: &dyn Fn(&Op) -> bool| order.iter().position(|&i| pred(&cs.nodes[i].op)).unwrap();
    let domain_create = at(&|o| matches!(o, Op::StudioDomain(studio_domain::Op::Create(_))));
    let policy_set = at(&|o| {
        matches!(
            o,
            Op::InterfaceEndpoint(interface_endpoint::Op::Modify {
                policy: Some(_),
                ..
            })
        )
    });
    assert!(domain_create < policy_set);
    let studio_create = cs
        .nodes
        .iter()
        .find(|n| {
            n.address.key == "studio"
                && matches!(
                    n.op,
                    Op::InterfaceEndpoint(interface_endpoint::Op::Create { .. })
                )
        })
        .unwrap();
    assert!(
        !studio_create
            .deps
            .iter()
            .any(|&d| matches!(cs.nodes[d].op, Op::StudioDomain(_))),
        "the studio endpoint waited for the domain"
    );
    assert!(cs
        .warnings
        .iter()
        .any(|w| w.contains("can no longer open Studio from the SageMaker console")));
}

#[tokio::test]
async fn a_replaced_endpoint_is_followed_by_a_new_policy_version_in_the_same_apply() {
    let cloud = cloud_with_role();
    let plan = access_plan("ap2", |t| t);
    converge(&cloud, &plan).await;
    let old = endpoint_id(&cloud, "sagemaker.api");
    cloud
        .world
        .lock()
        .unwrap()
        .endpoints
        .retain(|e| e.id != old);
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let set = cs
        .nodes
        .iter()
        .position(|n| {
            matches!(
                n.op,
                Op::AccessPolicy(access_policy::Op::SetDocument { .. })
            )
        })
        .expect("a new policy version");
    let create = cs
        .nodes
        .iter()
        .position(|n| n.address.key == "sagemaker.api" && n.op.creates())
        .unwrap();
    assert!(cs.nodes[set].deps.contains(&create));
    execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert_replan_empty(&cloud, &plan);
    let new = endpoint_id(&cloud, "sagemaker.api");
    assert_ne!(new, old);
    let ids =
        &access_document(&cloud)["Statement"][0]["Condition"]["StringEquals"]["aws:sourceVpce"];
    assert_eq!(ids[0], json!(new));
}

#[tokio::test]
async fn versions_are_pruned_to_iams_limit_of_five_before_a_new_one() {
    let cloud = cloud_with_role();
    converge(&cloud, &access_plan("ap3", |t| t)).await;
    {
        let mut w = cloud.world.lock().unwrap();
        for i in 0..4 {
            w.policies[0].versions.push(access_policy::PolicyVersion {
                id: format!("v{i}"),
                created: format!("2026-01-0{}T00:00:00Z", i + 1),
            });
        }
    }
    let vpc_mode = access_plan("ap3", |t| {
        t.replace("allow_from = \"endpoints\"", "allow_from = \"vpc\"")
    });
    let cs = diff(&vpc_mode, &cloud.observe(&vpc_mode)).unwrap();
    let prune = cs
        .nodes
        .iter()
        .find_map(|n| match &n.op {
            Op::AccessPolicy(access_policy::Op::SetDocument { prune, .. }) => Some(prune.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(prune, vec!["v0".to_string()]);
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_replan_empty(&cloud, &vpc_mode);
    let vpc = cloud.world.lock().unwrap().vpcs[0].id.clone();
    assert_eq!(
        access_document(&cloud)["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:SourceVpc": vpc}})
    );
}

#[tokio::test]
async fn a_principal_that_does_not_exist_stops_the_plan_and_names_it() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = access_plan("ap4", |t| t);
    let e = diff(&plan, &cloud.observe(&plan)).unwrap_err();
    assert!(
        e.problems
            .iter()
            .any(|p| p.contains("role DataScientist does not exist in account 000000000000")),
        "{:?}",
        e.problems
    );
}

#[tokio::test]
async fn attachments_follow_the_plan_and_removing_studio_access_deletes_the_policy() {
    let cloud = cloud_with_role();
    cloud.add_principal(role("Analyst"));
    converge(&cloud, &access_plan("ap5", |t| t)).await;
    let moved = access_plan("ap5", |t| t.replace("[\"DataScientist\"]", "[\"Analyst\"]"));
    converge(&cloud, &moved).await;
    assert_eq!(
        cloud.world.lock().unwrap().policies[0].attached,
        vec![role("Analyst")]
    );
    let without = access_plan("ap5", |t| {
        t.split("[studio_access]").next().unwrap().to_string()
    });
    let cs = converge(&cloud, &without).await;
    assert!(
        cs.changes
            .iter()
            .any(|c| c.address.to_string() == "iam_policy.studio_access"
                && c.action == Action::Delete)
    );
    assert!(cloud.world.lock().unwrap().policies.is_empty());
}

#[tokio::test]
async fn destroy_detaches_and_deletes_the_policy_with_its_versions() {
    let cloud = cloud_with_role();
    let plan = access_plan("ap6", |t| t);
    converge(&cloud, &plan).await;
    cloud.world.lock().unwrap().policies[0]
        .versions
        .push(access_policy::PolicyVersion {
            id: "v1".into(),
            created: "2026-01-01T00:00:00Z".into(),
        });
    let cs = destroy(&plan, &cloud.observe(&plan)).unwrap();
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let w = cloud.world.lock().unwrap();
    assert!(w.policies.is_empty() && w.domains.is_empty() && w.endpoints.is_empty());
    assert_eq!(
        w.principals,
        vec![role("DataScientist")],
        "the role itself is never touched"
    );
}
