//! Diff and graph tests against the in-memory cloud: every scenario ends with
//! "planning again makes no changes".

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::execute::fake::FakeCloud;
use crate::execute::{execute, ExecOptions};
use crate::model::{Kind, Peer, Protocol, Rule};
use crate::plan::{validate_source, Plan};
use crate::render::Progress;
use crate::resources::tags::SetTags;
use crate::resources::{
    gateway_endpoint, interface_endpoint, internet_gateway, route_table, security_group, subnet,
    vpc,
};

const STUDIO: &str = include_str!("../../plans/studio-vpc.toml");

pub(super) fn plan_from(text: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/test.toml");
    validate_source(&path, text).unwrap_or_else(|e| panic!("invalid test plan:\n{e}"))
}

fn studio(name: &str) -> Plan {
    plan_from(&STUDIO.replace("name = \"ml-platform\"", &format!("name = \"{name}\"")))
}

pub(super) fn quiet() -> Progress {
    Progress::to(Box::new(std::io::sink()))
}

pub(super) async fn converge(cloud: &Arc<FakeCloud>, plan: &Plan) -> Changeset {
    let cs = diff(plan, &cloud.observe(plan)).expect("diff");
    cs.check_graph().expect("valid graph");
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(
        report.errors.is_empty(),
        "apply failed: {:?}",
        report.errors
    );
    assert_replan_empty(cloud, plan);
    cs
}

pub(super) fn assert_replan_empty(cloud: &FakeCloud, plan: &Plan) {
    let again = diff(plan, &cloud.observe(plan)).expect("re-diff");
    assert!(
        again.is_empty(),
        "re-plan is not empty:\n{}",
        crate::render::human::changeset(&again)
    );
    assert!(again.changes.iter().all(|c| c.action == Action::NoOp));
}

pub(super) fn actions(cs: &Changeset) -> Vec<(String, Action)> {
    cs.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[tokio::test]
async fn fresh_studio_plan_creates_everything_once_and_replans_empty() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t1");
    let cs = converge(&cloud, &plan).await;
    let s = cs.summary();
    assert_eq!((s.add, s.change, s.destroy), (18, 0, 0));
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
    // VPC first; DNS hostnames before any private-DNS endpoint.
    let order = cs.topo_order().unwrap();
    let pos =
        |pred: &dyn Fn(&Op) -> bool| order.iter().position(|&i| pred(&cs.nodes[i].op)).unwrap();
    assert_eq!(pos(&|o| matches!(o, Op::Vpc(vpc::Op::Create { .. }))), 0);
    let dns = pos(&|o| matches!(o, Op::Vpc(vpc::Op::SetDns { .. })));
    for (i, n) in cs.nodes.iter().enumerate() {
        if let Op::InterfaceEndpoint(interface_endpoint::Op::Create {
            private_dns: true, ..
        }) = n.op
        {
            assert!(order.iter().position(|&x| x == i).unwrap() > dns);
            assert!(n
                .deps
                .iter()
                .any(|&d| matches!(cs.nodes[d].op, Op::Vpc(vpc::Op::SetDns { .. }))));
        }
    }
    // Critical path: vpc -> sg -> endpoint (3) or vpc -> subnet/rt -> association.
    assert_eq!(cs.critical_path_len(), 3);
    // Every create carries the ownership tags.
    for n in &cs.nodes {
        let tags = match &n.op {
            Op::Vpc(vpc::Op::Create { tags, .. })
            | Op::Subnet(subnet::Op::Create { tags, .. })
            | Op::RouteTable(route_table::Op::Create { tags, .. })
            | Op::SecurityGroup(security_group::Op::Create { tags, .. })
            | Op::GatewayEndpoint(gateway_endpoint::Op::Create { tags, .. })
            | Op::InterfaceEndpoint(interface_endpoint::Op::Create { tags, .. }) => tags,
            _ => continue,
        };
        assert_eq!(tags["sagevpc:plan"], "t1");
        assert_eq!(tags["sagevpc:key"], n.address.to_string());
        assert_eq!(tags["Name"], format!("t1-{}", n.address.key));
    }
    // Second run: nothing to do.
    let again = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert!(again.nodes.is_empty());
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
}

#[tokio::test]
async fn subnet_cidr_change_replaces_the_subnet_and_moves_endpoints() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &studio("t2")).await;
    let edited = plan_from(
        &STUDIO
            .replace("name = \"ml-platform\"", "name = \"t2\"")
            .replace("10.20.32.0/20", "10.20.48.0/20"),
    );
    let cs = diff(&edited, &cloud.observe(&edited)).unwrap();
    let acts = actions(&cs);
    assert!(
        acts.contains(&("subnet.private-c".into(), Action::Replace)),
        "{acts:?}"
    );
    let c = cs
        .changes
        .iter()
        .find(|c| c.address.to_string() == "subnet.private-c")
        .unwrap();
    assert_eq!(c.replace_paths, vec!["cidr".to_string()]);
    converge(&cloud, &edited).await;
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
}

#[tokio::test]
async fn overlapping_subnet_replacement_is_delete_before_create() {
    let cloud = Arc::new(FakeCloud::default());
    let base = STUDIO
        .replace("name = \"ml-platform\"", "name = \"t2b\"")
        .replace(
            "subnets = [\"private-a\", \"private-b\", \"private-c\"]",
            "subnets = [\"private-a\", \"private-b\"]",
        );
    converge(&cloud, &plan_from(&base)).await;
    // private-c grows from /20 to /19 over its old range.
    let edited = plan_from(&base.replace("10.20.32.0/20", "10.20.32.0/19"));
    converge(&cloud, &edited).await;
    assert_eq!(cloud.counts()[1], 3);
}

#[tokio::test]
async fn overlapping_replacement_of_an_endpoint_subnet_moves_the_endpoints_off_first() {
    // private-c moves to another AZ with the same CIDR: the new subnet can exist only
    // once the old one is gone, and the old one only once the endpoints left it. One
    // ModifyVpcEndpoint cannot both leave the old and join the new one (a cycle); the
    // endpoints leave first and join the new subnet after its create.
    let cloud = Arc::new(FakeCloud::default());
    let base = STUDIO.replace("name = \"ml-platform\"", "name = \"t2c\"");
    converge(&cloud, &plan_from(&base)).await;
    for edited in [
        base.replace("us-east-1c", "us-east-1d"),
        base.replace("10.20.32.0/20", "10.20.32.0/19"),
    ] {
        let cloud = Arc::new(FakeCloud::default());
        converge(&cloud, &plan_from(&base)).await;
        let plan = plan_from(&edited);
        let cs = converge(&cloud, &plan).await;
        let modifies = cs
            .nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.op,
                    Op::InterfaceEndpoint(interface_endpoint::Op::Modify { .. })
                )
            })
            .count();
        assert_eq!(modifies, 10, "two per interface endpoint: leave, then join");
        assert_eq!(cloud.counts()[1], 3, "three subnets");
    }
}

#[tokio::test]
async fn removing_a_service_deletes_only_that_endpoint() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &studio("t3")).await;
    let edited = plan_from(
        &STUDIO
            .replace("name = \"ml-platform\"", "name = \"t3\"")
            .replace(", \"logs\"]", "]"),
    );
    let cs = diff(&edited, &cloud.observe(&edited)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("interface_endpoint.logs".to_string(), Action::Delete)]
    );
    assert_eq!(
        cs.changes
            .iter()
            .find(|c| c.action == Action::Delete)
            .unwrap()
            .reasons,
        vec!["not in plan"]
    );
    converge(&cloud, &edited).await;
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 5]);
}

#[tokio::test]
async fn removing_a_subnet_moves_endpoints_off_it_before_deleting_it() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &studio("t4")).await;
    let text = STUDIO
        .replace("name = \"ml-platform\"", "name = \"t4\"")
        .replace(
            "[subnets.private-c]\navailability_zone = \"us-east-1c\"\ncidr = \"10.20.32.0/20\"\n",
            "",
        )
        .replace(
            "\"private-a\", \"private-b\", \"private-c\"",
            "\"private-a\", \"private-b\"",
        );
    let edited = plan_from(&text);
    let cs = diff(&edited, &cloud.observe(&edited)).unwrap();
    let acts = actions(&cs);
    assert!(
        acts.contains(&("subnet.private-c".into(), Action::Delete)),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("route_table_association.private-c".into(), Action::Delete)),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("interface_endpoint.sts".into(), Action::Update)),
        "{acts:?}"
    );
    converge(&cloud, &edited).await;
    assert_eq!(cloud.counts(), [1, 2, 1, 2, 6]);
}

#[tokio::test]
async fn security_group_description_change_replaces_the_group() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &studio("t5")).await;
    let edited = plan_from(
        &STUDIO
            .replace("name = \"ml-platform\"", "name = \"t5\"")
            .replace(
                "description = \"Interface endpoints\"",
                "description = \"Interface endpoints (443)\"",
            ),
    );
    let cs = diff(&edited, &cloud.observe(&edited)).unwrap();
    let c = cs
        .changes
        .iter()
        .find(|c| c.address.to_string() == "security_group.endpoints")
        .unwrap();
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.replace_paths, vec!["description".to_string()]);
    converge(&cloud, &edited).await;
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
}

#[tokio::test]
async fn rule_edits_are_added_and_revoked_one_by_one() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &studio("t6")).await;
    let edited = plan_from(&STUDIO.replace("name = \"ml-platform\"", "name = \"t6\"").replace(
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }, { from = \"10.0.0.0/8\", protocol = \"tcp\", ports = \"443\" }]\negress = [{ to = \"workloads\", protocol = \"tcp\", ports = \"1024-65535\" }]",
    ));
    let cs = diff(&edited, &cloud.observe(&edited)).unwrap();
    let mut acts = actions(&cs);
    acts.sort();
    assert_eq!(
        acts,
        vec![
            (
                "security_group_rule.endpoints.egress.all.all.0.0.0.0/0".to_string(),
                Action::Delete
            ),
            (
                "security_group_rule.endpoints.egress.tcp.1024-65535.workloads".to_string(),
                Action::Create
            ),
            (
                "security_group_rule.endpoints.ingress.tcp.443.10.0.0.0/8".to_string(),
                Action::Create
            ),
        ]
    );
    assert!(cs
        .nodes
        .iter()
        .all(|n| matches!(n.op, Op::SecurityGroupRule(_))));
    converge(&cloud, &edited).await;
}

#[tokio::test]
async fn drift_is_restored_with_the_reason() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t7");
    converge(&cloud, &plan).await;
    {
        let mut w = cloud.world.lock().unwrap();
        // A rule added by hand, private DNS switched off, a subnet removed from an
        // endpoint, a tag edited, DNS hostnames off.
        let sg = w
            .security_groups
            .iter_mut()
            .find(|g| g.name == "t7-workloads")
            .unwrap();
        sg.rules.push(Rule {
            direction: crate::model::Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: Some((22, 22)),
            peer: Peer::Cidr("0.0.0.0/0".parse().unwrap()),
        });
        let sts = w
            .endpoints
            .iter_mut()
            .find(|e| e.service_name.ends_with(".sts"))
            .unwrap();
        sts.private_dns = false;
        sts.subnet_ids.pop();
        let s = w
            .subnets
            .iter_mut()
            .find(|s| s.tags["Name"] == "t7-private-a")
            .unwrap();
        s.tags.insert("Name".into(), "renamed-by-hand".into());
        w.vpcs[0].dns_hostnames = false;
    }
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let mut acts = actions(&cs);
    acts.sort();
    assert_eq!(
        acts,
        vec![
            ("interface_endpoint.sts".to_string(), Action::Update),
            (
                "security_group_rule.workloads.ingress.tcp.22.0.0.0.0/0".to_string(),
                Action::Delete
            ),
            ("subnet.private-a".to_string(), Action::Update),
            ("vpc.main".to_string(), Action::Update),
        ]
    );
    for c in cs.changes.iter().filter(|c| c.action != Action::NoOp) {
        assert!(
            c.reasons.iter().any(|r| r.contains("outside sagevpc")),
            "{:?}",
            c
        );
    }
    let sts = cs
        .changes
        .iter()
        .find(|c| c.address.to_string() == "interface_endpoint.sts")
        .unwrap();
    assert_eq!(
        sts.before.as_ref().unwrap()["private_dns_enabled"],
        serde_json::json!(false)
    );
    assert_eq!(
        sts.after.as_ref().unwrap()["private_dns_enabled"],
        serde_json::json!(true)
    );
    converge(&cloud, &plan).await;
}

#[tokio::test]
async fn a_resource_deleted_outside_is_recreated() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t8");
    converge(&cloud, &plan).await;
    cloud
        .world
        .lock()
        .unwrap()
        .endpoints
        .retain(|e| !e.service_name.ends_with(".logs"));
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("interface_endpoint.logs".to_string(), Action::Create)]
    );
    assert!(cs
        .changes
        .iter()
        .find(|c| c.action == Action::Create)
        .unwrap()
        .reasons[0]
        .contains("outside sagevpc"));
    converge(&cloud, &plan).await;
}

#[tokio::test]
async fn reformatted_policy_is_not_a_change() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t9");
    converge(&cloud, &plan).await;
    {
        let mut w = cloud.world.lock().unwrap();
        let gw = w
            .endpoints
            .iter_mut()
            .find(|e| e.endpoint_type == crate::observe::EndpointType::Gateway)
            .unwrap();
        // AWS-style: keys reordered, statements reversed, Version dropped.
        let mut p = gw.policy.clone().unwrap();
        p.as_object_mut().unwrap().remove("Version");
        p["Statement"].as_array_mut().unwrap().reverse();
        gw.policy = Some(p);
    }
    assert_replan_empty(&cloud, &plan);
    // A real change is one.
    cloud
        .world
        .lock()
        .unwrap()
        .endpoints
        .iter_mut()
        .find(|e| e.endpoint_type == crate::observe::EndpointType::Gateway)
        .unwrap()
        .policy = None;
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("gateway_endpoint.s3".to_string(), Action::Update)]
    );
}

#[tokio::test]
async fn a_tag_removed_from_the_plan_is_removed_and_no_other_tag_is() {
    let cloud = Arc::new(FakeCloud::default());
    let with = |tags: &str| {
        plan_from(&STUDIO.replace(
            "name = \"ml-platform\"",
            &format!("name = \"t-tags\"\n{tags}"),
        ))
    };
    converge(&cloud, &with(r#"tags = { team = "ml", cost = "42" }"#)).await;
    // Someone adds a tag by hand: sagevpc must leave it alone.
    {
        let mut w = cloud.world.lock().unwrap();
        w.vpcs[0].tags.insert("owner".into(), "alice".into());
    }
    let plan = with(r#"tags = { team = "ml" }"#);
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let updated: Vec<_> = actions(&cs);
    assert_eq!(updated.len(), 13, "every tagged resource: {updated:?}");
    assert!(cs.nodes.iter().all(|n| matches!(
        &n.op,
        Op::Tags(SetTags { remove, set, .. }) if remove == &["cost".to_string()] && set.get("sagevpc:tags").map(String::as_str) == Some("team")
    )));
    let vpc = cs
        .changes
        .iter()
        .find(|c| c.address.to_string() == "vpc.main")
        .unwrap();
    assert_eq!(
        vpc.after.as_ref().unwrap()["tags.cost"],
        serde_json::Value::Null
    );
    assert!(
        vpc.reasons[0].starts_with("differs from the plan"),
        "{:?}",
        vpc.reasons
    );
    converge(&cloud, &plan).await;
    {
        let w = cloud.world.lock().unwrap();
        assert!(!w.vpcs[0].tags.contains_key("cost"));
        assert_eq!(
            w.vpcs[0].tags.get("owner").map(String::as_str),
            Some("alice")
        );
        assert_eq!(w.vpcs[0].tags.get("team").map(String::as_str), Some("ml"));
    }
    // No extra tags at all: the record goes too, the hand-made tag stays.
    converge(&cloud, &with("")).await;
    let w = cloud.world.lock().unwrap();
    assert!(!w.vpcs[0].tags.contains_key("team"));
    assert!(!w.vpcs[0].tags.contains_key("sagevpc:tags"));
    assert_eq!(
        w.vpcs[0].tags.get("owner").map(String::as_str),
        Some("alice")
    );
}

#[tokio::test]
async fn a_studio_domain_blocks_deleting_the_network_it_uses() {
    use crate::observe::StudioDomain;
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t-sm");
    let fresh = converge(&cloud, &plan).await;
    assert!(!fresh.deletes_network(), "a create-only changeset");
    let obs = cloud.observe(&plan);
    let vpc = obs.vpc_of(&plan).cloned().unwrap().id;
    let id_of = |key: &str| {
        obs.subnets
            .iter()
            .map(|s| (&s.id, &s.tags))
            .chain(obs.security_groups.iter().map(|g| (&g.id, &g.tags)))
            .find(|(_, t)| t.get("sagevpc:key").map(String::as_str) == Some(key))
            .map(|(id, _)| id.clone())
            .unwrap()
    };
    let domain = StudioDomain {
        id: "d-1".into(),
        name: "studio".into(),
        status: "InService".into(),
        vpc_id: vpc.clone(),
        subnet_ids: vec![id_of("subnet.private-a")],
        security_group_ids: vec![id_of("security_group.workloads")],
        vpc_only: true,
    };
    let cs = destroy(&plan, &obs).unwrap();
    assert!(cs.deletes_network());
    let p = cs.studio_domain_conflicts(std::slice::from_ref(&domain));
    let named: Vec<&str> = p.iter().map(|l| l.split(' ').next().unwrap()).collect();
    let mut named_sorted = named.clone();
    named_sorted.sort();
    assert_eq!(
        named_sorted,
        ["security_group.workloads", "subnet.private-a", "vpc.main"],
        "{p:#?}"
    );
    assert!(p
        .iter()
        .all(|l| l.contains("SageMaker Studio domain studio (d-1, InService)")));
    // A domain elsewhere blocks nothing; neither does a changeset that deletes nothing.
    let elsewhere = StudioDomain {
        vpc_id: "vpc-other".into(),
        subnet_ids: vec!["subnet-other".into()],
        security_group_ids: vec![],
        ..domain.clone()
    };
    assert!(cs.studio_domain_conflicts(&[elsewhere]).is_empty());
    assert!(fresh.studio_domain_conflicts(&[domain]).is_empty());
}

#[tokio::test]
async fn destroy_removes_everything_owned_in_reverse_order_and_twice_is_noop() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t10");
    converge(&cloud, &plan).await;
    let cs = destroy(&plan, &cloud.observe(&plan)).unwrap();
    // vpc, 3 subnets, route table, 3 associations, 2 groups, 2 rules, 6 endpoints:
    // what the apply counted as added.
    assert_eq!(
        cs.summary().destroy,
        18,
        "{}",
        crate::render::human::changeset(&cs)
    );
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(cloud.counts(), [0, 0, 0, 0, 0]);
    let again = destroy(&plan, &cloud.observe(&plan)).unwrap();
    assert!(again.is_empty());
}

fn adopted_plan(name: &str, vpc: &str, cidr: &str, az: &str) -> Plan {
    plan_from(&format!(
        r#"name = "{name}"
region = "us-east-1"
[vpc]
id = "{vpc}"
[subnets.a]
availability_zone = "{az}"
cidr = "{cidr}"
[security_groups.ep]
description = "endpoints"
ingress = [{{ from = "10.0.0.0/8", protocol = "tcp", ports = "443" }}]
[interface_endpoints]
services = ["sts"]
subnets = ["a"]
security_groups = ["ep"]
private_dns = false
"#
    ))
}

#[tokio::test]
async fn two_plans_share_an_adopted_vpc_and_destroying_one_leaves_the_other() {
    let cloud = Arc::new(FakeCloud::default());
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let a = adopted_plan("pa", &vpc, "10.50.0.0/24", "us-east-1a");
    let b = adopted_plan("pb", &vpc, "10.50.1.0/24", "us-east-1b");
    converge(&cloud, &a).await;
    converge(&cloud, &b).await;
    assert_replan_empty(&cloud, &a);
    let cs = destroy(&a, &cloud.observe(&a)).unwrap();
    assert!(
        !cs.nodes
            .iter()
            .any(|n| matches!(n.op, Op::Vpc(vpc::Op::Delete { .. }))),
        "adopted VPC is never deleted"
    );
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(cloud.counts(), [1, 1, 1, 1, 1], "B is whole, the VPC stays");
    assert_replan_empty(&cloud, &b);
}

#[test]
fn adopted_vpc_without_dns_is_explained_and_stops() {
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.60.0.0/16", false);
    let text = format!(
        "name = \"dns\"\nregion = \"us-east-1\"\n[vpc]\nid = \"{vpc}\"\n[interface_endpoints]\nservices = [\"sts\"]\nsubnets = [\"subnet-0123456789abcdef0\"]\n"
    );
    let plan = plan_from(&text);
    let err = diff(&plan, &cloud.observe(&plan)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("enableDnsHostnames=false"), "{msg}");
    assert!(msg.contains("manage_dns"), "{msg}");
}

#[test]
fn foreign_private_dns_endpoint_for_the_same_service_is_a_conflict() {
    let cloud = FakeCloud::default();
    let plan = studio("t11");
    let mut obs = cloud.observe(&plan);
    obs.vpcs = vec![crate::observe::ObservedVpc {
        tenancy: None,
        id: "vpc-1".into(),
        cidr: "10.20.0.0/16".into(),
        cidrs: vec!["10.20.0.0/16".into()],
        dns_support: true,
        dns_hostnames: true,
        tags: [
            ("sagevpc:plan".to_string(), "t11".to_string()),
            ("sagevpc:key".to_string(), "vpc.main".to_string()),
        ]
        .into(),
    }];
    obs.foreign_endpoints
        .push(crate::observe::ObservedEndpoint {
            dns_names: Vec::new(),
            id: "vpce-hand".into(),
            vpc_id: "vpc-1".into(),
            endpoint_type: crate::observe::EndpointType::Interface,
            service_name: "com.amazonaws.us-east-1.sts".into(),
            state: "available".into(),
            subnet_ids: vec![],
            security_group_ids: vec![],
            route_table_ids: vec![],
            private_dns: true,
            policy: None,
            tags: Default::default(),
        });
    let msg = diff(&plan, &obs).unwrap_err().to_string();
    assert!(msg.contains("vpce-hand"), "{msg}");
    assert!(msg.contains("conflicting DNS domain"), "{msg}");
}

#[test]
fn service_not_offered_in_an_az_is_reported() {
    let cloud = FakeCloud::default();
    let plan = studio("t12");
    let mut obs = cloud.observe(&plan);
    for s in &mut obs.services {
        if s.service_name.ends_with(".studio") {
            s.availability_zones.retain(|z| z != "us-east-1c");
        }
    }
    let msg = diff(&plan, &obs).unwrap_err().to_string();
    assert!(
        msg.contains("aws.sagemaker.us-east-1.studio is not offered in us-east-1c"),
        "{msg}"
    );
}

#[tokio::test]
async fn duplicates_from_concurrent_runs_are_resolved_to_one() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t13");
    // Two applies computed from the same empty state both run.
    let cs1 = diff(&plan, &cloud.observe(&plan)).unwrap();
    let cs2 = cs1.clone();
    let opts = ExecOptions::default();
    let (p1, p2) = (quiet(), quiet());
    let (r1, r2) = tokio::join!(
        execute(&cs1, cloud.clone(), &opts, &p1),
        execute(&cs2, cloud.clone(), &opts, &p2),
    );
    assert!(r1.errors.is_empty() && r2.errors.is_empty());
    assert_eq!(cloud.counts(), [2, 6, 2, 4, 12]);
    // The next run keeps the lowest id of each key and deletes the rest.
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert!(
        cs.changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .all(|c| c.reasons[0].starts_with("duplicate of")
                || c.reasons[0].starts_with("leftover in VPC")),
        "{}",
        crate::render::human::changeset(&cs)
    );
    converge(&cloud, &plan).await;
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
}

#[tokio::test]
async fn vpc_cidr_change_replaces_the_whole_network_in_a_valid_order() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &studio("t14")).await;
    let edited = plan_from(
        &STUDIO
            .replace("name = \"ml-platform\"", "name = \"t14\"")
            .replace("cidr = \"10.20.0.0/16\"", "cidr = \"10.20.0.0/17\""),
    );
    let cs = diff(&edited, &cloud.observe(&edited)).unwrap();
    let vpc = cs
        .changes
        .iter()
        .find(|c| c.address.kind == Kind::Vpc)
        .unwrap();
    assert_eq!(vpc.action, Action::Replace);
    converge(&cloud, &edited).await;
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
}

#[test]
fn changeset_round_trips_through_json() {
    let cloud = FakeCloud::default();
    let plan = studio("t15");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let text = serde_json::to_string(&cs).unwrap();
    let back: Changeset = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cs);
}

#[tokio::test]
async fn a_failed_endpoint_is_replaced() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("t16");
    converge(&cloud, &plan).await;
    cloud
        .world
        .lock()
        .unwrap()
        .endpoints
        .iter_mut()
        .find(|e| e.service_name.ends_with(".sts"))
        .unwrap()
        .state = "failed".into();
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("interface_endpoint.sts".to_string(), Action::Replace)]
    );
    let c = cs
        .changes
        .iter()
        .find(|c| c.action == Action::Replace)
        .unwrap();
    assert!(c.reasons[0].contains("state failed"), "{:?}", c.reasons);
    converge(&cloud, &plan).await;
    assert_eq!(cloud.counts(), [1, 3, 1, 2, 6]);
}

// ------------------------------------------------------------------ internet gateway

fn with_gateway(name: &str) -> Plan {
    plan_from(&format!(
        "{}\n[egress]\ninternet_gateway = true\n",
        STUDIO.replace("name = \"ml-platform\"", &format!("name = \"{name}\""))
    ))
}

fn gateways(cloud: &FakeCloud) -> Vec<crate::observe::ObservedInternetGateway> {
    cloud.world.lock().unwrap().internet_gateways.clone()
}

#[tokio::test]
async fn an_internet_gateway_is_created_tagged_attached_and_replans_empty() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = with_gateway("igw1");
    let cs = converge(&cloud, &plan).await;
    assert!(actions(&cs).contains(&("internet_gateway.main".into(), Action::Create)));
    assert_eq!(cs.summary().add, 19);
    let igws = gateways(&cloud);
    assert_eq!(igws.len(), 1);
    let vpc = cloud.world.lock().unwrap().vpcs[0].id.clone();
    assert_eq!(igws[0].attached_to.as_deref(), Some(vpc.as_str()));
    assert_eq!(igws[0].tags["sagevpc:key"], "internet_gateway.main");
    assert_eq!(igws[0].tags["sagevpc:plan"], "igw1");
    assert_eq!(igws[0].tags["Name"], "igw1-main");
    // The attach waits for the create and for the VPC.
    let attach = cs
        .nodes
        .iter()
        .find(|n| {
            matches!(
                n.op,
                Op::InternetGateway(internet_gateway::Op::Attach { .. })
            )
        })
        .unwrap();
    assert_eq!(attach.deps.len(), 2, "{:?}", attach.deps);
    // The private route table never routes to it.
    let w = cloud.world.lock().unwrap();
    assert!(w.route_tables[0]
        .routes
        .iter()
        .all(|r| !r.target.starts_with("igw-")));
}

#[tokio::test]
async fn a_detached_internet_gateway_is_attached_again() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = with_gateway("igw2");
    converge(&cloud, &plan).await;
    cloud.world.lock().unwrap().internet_gateways[0].attached_to = None;
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("internet_gateway.main".to_string(), Action::Update)]
    );
    let c = cs
        .changes
        .iter()
        .find(|c| c.action == Action::Update)
        .unwrap();
    assert!(c.reasons[0].contains("not attached"), "{:?}", c.reasons);
    converge(&cloud, &plan).await;
    assert!(gateways(&cloud)[0].attached_to.is_some());
}

#[tokio::test]
async fn an_internet_gateway_is_detached_and_deleted_before_the_vpc() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = with_gateway("igw3");
    converge(&cloud, &plan).await;
    // Dropped from the plan: detached, then deleted; nothing else changes.
    let without = studio("igw3");
    let cs = diff(&without, &cloud.observe(&without)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("internet_gateway.main".to_string(), Action::Delete)]
    );
    let order = cs.topo_order().unwrap();
    let apis: Vec<&str> = order.iter().map(|&i| cs.nodes[i].op.api_name()).collect();
    assert_eq!(apis, ["DetachInternetGateway", "DeleteInternetGateway"]);
    converge(&cloud, &without).await;
    assert!(gateways(&cloud).is_empty());

    // Destroyed with the plan: the VPC's delete waits for the detach.
    converge(&cloud, &plan).await;
    let cs = destroy(&plan, &cloud.observe(&plan)).unwrap();
    let detach = cs
        .nodes
        .iter()
        .position(|n| {
            matches!(
                n.op,
                Op::InternetGateway(internet_gateway::Op::Detach { .. })
            )
        })
        .unwrap();
    let vpc_delete = cs
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Vpc(vpc::Op::Delete { .. })))
        .unwrap();
    assert!(vpc_delete.deps.contains(&detach));
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(cloud.counts(), [0, 0, 0, 0, 0]);
    assert!(gateways(&cloud).is_empty());
}

#[tokio::test]
async fn a_replaced_vpc_takes_its_internet_gateway_with_it() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &with_gateway("igw4")).await;
    let moved = plan_from(
        &format!(
            "{}\n[egress]\ninternet_gateway = true\n",
            STUDIO.replace("name = \"ml-platform\"", "name = \"igw4\"")
        )
        .replace("10.20.", "10.30."),
    );
    let cs = converge(&cloud, &moved).await;
    assert!(actions(&cs).contains(&("internet_gateway.main".into(), Action::Replace)));
    let igws = gateways(&cloud);
    assert_eq!(igws.len(), 1);
    let vpc = cloud.world.lock().unwrap().vpcs[0].clone();
    assert_eq!(vpc.cidr, "10.30.0.0/16");
    assert_eq!(igws[0].attached_to.as_deref(), Some(vpc.id.as_str()));
}

// ------------------------------------------------------------------ fewest calls

/// The rules of one group and direction go in one call, each rule still its own
/// record; a rule already there makes AWS refuse the call, and the others then go one
/// by one.
#[tokio::test]
async fn one_call_per_group_and_direction_carries_all_its_rules() {
    let cloud = Arc::new(FakeCloud::default());
    let text = STUDIO.replace("name = \"ml-platform\"", "name = \"batch\"").replace(
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }, { from = \"10.0.0.0/8\", protocol = \"tcp\", ports = \"443\" }, { from = \"self\", protocol = \"tcp\", ports = \"443\" }]\negress = [{ to = \"workloads\", protocol = \"tcp\", ports = \"1024-65535\" }, { to = \"10.0.0.0/8\", protocol = \"tcp\", ports = \"443\" }]",
    );
    let plan = plan_from(&text);
    let cs = converge(&cloud, &plan).await;
    let calls: Vec<&str> = cs
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::SecurityGroupRule(_)))
        .map(|n| n.op.api_name())
        .collect();
    // endpoints: ingress (3 rules), egress (2 rules), the default egress revoked;
    // workloads: ingress (1 rule).
    let mut sorted = calls.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "AuthorizeSecurityGroupEgress",
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupEgress"
        ]
    );
    let records = cs
        .changes
        .iter()
        .filter(|c| c.address.kind == Kind::SecurityGroupRule)
        .count();
    assert_eq!(records, 6, "one record per rule");
    // Revoking the new group's default egress is part of creating the group.
    assert!(cs.changes.iter().all(|c| c.action != Action::Delete));

    // One of two new rules is already there (a run cut short): both end up there.
    let more = text.replace(
        "{ from = \"self\", protocol = \"tcp\", ports = \"443\" }",
        "{ from = \"self\", protocol = \"tcp\", ports = \"443\" }, { from = \"10.1.0.0/16\", protocol = \"tcp\", ports = \"22\" }, { from = \"10.2.0.0/16\", protocol = \"tcp\", ports = \"22\" }",
    );
    let more = plan_from(&more);
    let cs = diff(&more, &cloud.observe(&more)).unwrap();
    {
        let mut w = cloud.world.lock().unwrap();
        let g = w
            .security_groups
            .iter_mut()
            .find(|g| g.name == "batch-endpoints")
            .unwrap();
        g.rules.push(Rule {
            direction: crate::model::Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: Some((22, 22)),
            peer: Peer::Cidr("10.1.0.0/16".parse().unwrap()),
        });
    }
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_replan_empty(&cloud, &more);
}

/// Endpoints leaving in one step go in one DeleteVpcEndpoints, gateway and interface
/// alike; each is still its own record and waits for its own `deleted`.
#[tokio::test]
async fn endpoints_leaving_together_are_deleted_in_one_call() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("del1");
    converge(&cloud, &plan).await;
    let cs = destroy(&plan, &cloud.observe(&plan)).unwrap();
    let deletes: Vec<&crate::changeset::Node> = cs
        .nodes
        .iter()
        .filter(|n| n.op.api_name() == "DeleteVpcEndpoints")
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert_eq!(deletes[0].op.deletes().len(), 6);
    assert_eq!(deletes[0].addresses().count(), 6);
    cs.check_graph().unwrap();
    // The subnets and the group the endpoints held still wait for it.
    let held = |n: &&crate::changeset::Node| {
        n.address.kind == Kind::Subnet || n.address.to_string() == "security_group.endpoints"
    };
    for n in cs
        .nodes
        .iter()
        .filter(held)
        .filter(|n| !n.op.deletes().is_empty())
    {
        let i = cs
            .nodes
            .iter()
            .position(|m| std::ptr::eq(m, deletes[0]))
            .unwrap();
        assert!(
            n.deps.contains(&i),
            "{} does not wait for the endpoints",
            n.address
        );
    }
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(cloud.counts(), [0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn a_new_subnet_overlapping_one_already_in_the_vpc_is_refused_before_any_write() {
    let cloud = Arc::new(FakeCloud::default());
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let a = adopted_plan("pa", &vpc, "10.50.0.0/24", "us-east-1a");
    converge(&cloud, &a).await;
    let a_subnet = cloud.observe(&a).subnets[0].id.clone();

    let b = adopted_plan("pb", &vpc, "10.50.0.0/25", "us-east-1b");
    let msg = diff(&b, &cloud.observe(&b)).unwrap_err().to_string();
    assert!(
        msg.contains("subnets.a: cidr 10.50.0.0/25 overlaps subnet"),
        "{msg}"
    );
    assert!(msg.contains(&a_subnet), "{msg}");
    assert!(msg.contains("sagevpc plan \"pa\""), "{msg}");
    assert!(msg.contains("a re-run cannot fix that"), "{msg}");
    assert!(msg.contains("10.50.1.0/25 is free"), "{msg}");

    let outside = adopted_plan("pc", &vpc, "10.51.0.0/24", "us-east-1b");
    let msg = diff(&outside, &cloud.observe(&outside))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("subnets.a: cidr 10.51.0.0/24 is outside VPC")
            && msg.contains("(10.50.0.0/16)")
            && msg.contains("10.50.1.0/24 is free"),
        "{msg}"
    );

    // Its own subnet is no overlap: the plan that owns it re-plans empty.
    assert_replan_empty(&cloud, &a);
}

mod residents {
    use super::*;
    use crate::model::TAG_PLAN;
    use crate::observe::residents::{Resident, ResidentKind};

    fn r(kind: ResidentKind, id: &str, plan: Option<&str>) -> Resident {
        let tags = plan
            .map(|p| {
                [
                    (TAG_PLAN.to_string(), p.to_string()),
                    ("sagevpc:key".to_string(), "x".to_string()),
                ]
                .into()
            })
            .unwrap_or_default();
        Resident {
            kind,
            id: id.into(),
            tags,
            subnet_id: None,
            groups: vec![],
            interfaces: vec![],
            note: String::new(),
        }
    }

    /// A converged studio plan: its destroy changeset, one of its subnets and groups.
    async fn studio_destroy(name: &str) -> (Changeset, Changeset, String, String) {
        let cloud = Arc::new(FakeCloud::default());
        let plan = studio(name);
        converge(&cloud, &plan).await;
        let obs = cloud.observe(&plan);
        let kept = changes_for(&plan, &obs, Goal::Destroy { keep_vpc: true }).unwrap();
        let all = destroy(&plan, &obs).unwrap();
        (
            all,
            kept,
            obs.subnets[0].id.clone(),
            obs.security_groups[0].id.clone(),
        )
    }

    #[tokio::test]
    async fn what_the_plan_does_not_own_is_named_before_the_first_delete() {
        let plan = "res";
        let (cs, kept, subnet, group) = studio_destroy(plan).await;
        let mut ours = r(ResidentKind::Endpoint, "vpce-ours", Some(plan));
        ours.interfaces = vec!["eni-ours".into()];
        let mut eni_ours = r(ResidentKind::NetworkInterface, "eni-ours", None);
        eni_ours.subnet_id = Some(subnet.clone());
        let mut theirs = r(ResidentKind::Endpoint, "vpce-theirs", None);
        theirs.interfaces = vec!["eni-theirs".into()];
        theirs.note = "com.amazonaws.us-east-1.ecs".into();
        let eni_theirs = r(ResidentKind::NetworkInterface, "eni-theirs", None);
        let mut other_plan = r(ResidentKind::Subnet, "subnet-other", Some("other"));
        other_plan.tags.insert("Name".into(), "other-a".into());
        let mut lambda = r(ResidentKind::NetworkInterface, "eni-lambda", None);
        lambda.groups = vec![group.clone()];
        lambda.note = "lambda".into();
        let residents = [ours, eni_ours, theirs, eni_theirs, other_plan, lambda];

        let b = cs.blocked_by(plan, &residents);
        assert_eq!(
            b.in_vpc,
            [
                "endpoint vpce-theirs (com.amazonaws.us-east-1.ecs): not made by sagevpc",
                "subnet subnet-other: named \"other-a\", sagevpc plan \"other\""
            ]
        );
        assert_eq!(
            b.in_subnets_or_groups,
            ["network interface eni-lambda (lambda): not made by sagevpc"]
        );
        // Keeping the VPC leaves only what is in the plan's subnets and groups.
        let b = kept.blocked_by(plan, &residents);
        assert!(b.in_vpc.is_empty(), "{b:?}");
        assert_eq!(b.in_subnets_or_groups.len(), 1, "{b:?}");
        // The plan's own endpoint and its interface are not in the way.
        assert!(cs.blocked_by(plan, &residents[..2]).is_empty());
    }

    #[tokio::test]
    async fn keep_vpc_destroys_everything_but_the_vpc() {
        let (cs, kept, _, _) = studio_destroy("keep").await;
        let deletes_vpc = |c: &Changeset| {
            c.nodes
                .iter()
                .any(|n| matches!(n.op, Op::Vpc(vpc::Op::Delete { .. })))
        };
        assert!(deletes_vpc(&cs));
        assert!(!deletes_vpc(&kept));
        assert_eq!(kept.summary().destroy + 1, cs.summary().destroy);
        assert!(
            kept.warnings.iter().any(|w| w.contains("--keep-vpc")),
            "{:?}",
            kept.warnings
        );
    }
}

#[tokio::test]
async fn the_critical_path_names_its_actions_in_order() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("tcp1");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let apply = cs.critical_path_actions();
    assert_eq!(apply.len(), cs.critical_path().0, "{apply:?}");
    assert_eq!(apply.first(), Some(&"CreateVpc"), "{apply:?}");
    converge(&cloud, &plan).await;
    let gone = destroy(&plan, &cloud.observe(&plan)).unwrap();
    let chain = gone.critical_path_actions();
    // The endpoints go first, in one call, and are waited for; the VPC goes last.
    assert_eq!(
        &chain[..2],
        ["DeleteVpcEndpoints", "DescribeVpcEndpoints"],
        "{chain:?}"
    );
    assert_eq!(chain.last(), Some(&"DeleteVpc"), "{chain:?}");
    assert_eq!(chain.len(), gone.critical_path().0, "{chain:?}");
}
