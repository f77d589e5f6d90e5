//! Studio (execution role, domain, user profiles) against the in-memory cloud: what is
//! created, in which order, what an edit changes, and that destroy takes it all away in
//! an order the cloud accepts. Each scenario ends with "planning again is empty".

use std::sync::Arc;

use super::tests::{actions, assert_replan_empty, converge, plan_from, quiet};
use super::*;
use crate::execute::fake::FakeCloud;
use crate::execute::{execute, ExecOptions};
use crate::plan::Plan;
use crate::resources::{iam_role, studio_domain, user_profile};

const DOMAIN: &str = include_str!("../../plans/studio-domain.toml");

fn domain_plan(name: &str, edit: impl Fn(String) -> String) -> Plan {
    let text = DOMAIN.replace("name = \"ml-studio-demo\"", &format!("name = \"{name}\""));
    plan_from(&edit(text))
}

fn position(cs: &Changeset, pred: impl Fn(&Op) -> bool) -> usize {
    let order = cs.topo_order().expect("acyclic");
    order
        .iter()
        .position(|&i| pred(&cs.nodes[i].op))
        .expect("the op is in the changeset")
}

async fn run(cloud: &Arc<FakeCloud>, cs: &Changeset) {
    cs.check_graph().expect("valid graph");
    let report = execute(cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "run failed: {:?}", report.errors);
}

#[tokio::test]
async fn a_studio_plan_creates_role_domain_and_users_in_order_and_replans_empty() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = domain_plan("sd1", |t| t);
    let cs = converge(&cloud, &plan).await;
    let created: Vec<String> = actions(&cs).into_iter().map(|(a, _)| a).collect();
    for a in [
        "iam_role.execution",
        "studio_domain.main",
        "user_profile.alice",
        "user_profile.bob",
        "security_group.studio",
        "security_group.user-alice",
        "security_group.user-bob",
    ] {
        assert!(
            created.contains(&a.to_string()),
            "{a} not created: {created:?}"
        );
    }
    // The role has its policies before the domain is created with it; users come after.
    let attach = position(&cs, |o| {
        matches!(o, Op::IamRole(iam_role::Op::Attach { .. }))
    });
    let domain = position(&cs, |o| {
        matches!(o, Op::StudioDomain(studio_domain::Op::Create(_)))
    });
    let user = position(&cs, |o| {
        matches!(o, Op::UserProfile(user_profile::Op::Create { .. }))
    });
    assert!(attach < domain && domain < user);
    let w = cloud.world.lock().unwrap().clone();
    assert_eq!(w.roles.len(), 1);
    assert_eq!(w.roles[0].name, "sd1-sagemaker-execution");
    assert_eq!(
        w.roles[0].policies,
        vec!["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess".to_string()]
    );
    let d = &w.domains[0];
    assert!(d.vpc_only);
    assert_eq!(d.subnet_ids.len(), 3);
    assert_eq!(d.execution_role, w.roles[0].id);
    // Each user carries its own group, and only its own.
    let group_of = |key: &str| {
        w.security_groups
            .iter()
            .find(|g| g.tags.get(crate::model::TAG_KEY).map(String::as_str) == Some(key))
            .map(|g| g.id.clone())
            .expect("group")
    };
    let alice = w.user_profiles.iter().find(|p| p.name == "alice").unwrap();
    assert_eq!(
        alice.security_groups,
        vec![group_of("security_group.user-alice")]
    );
    assert_eq!(d.security_groups, vec![group_of("security_group.studio")]);
}

#[tokio::test]
async fn a_user_removed_from_the_plan_is_deleted_before_its_group() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &domain_plan("sd2", |t| t)).await;
    let fewer = domain_plan("sd2", |t| t.replace("[studio.user_profiles.bob]\n", ""));
    let cs = diff(&fewer, &cloud.observe(&fewer)).unwrap();
    let gone: Vec<(String, Action)> = actions(&cs)
        .into_iter()
        .filter(|(_, a)| *a == Action::Delete)
        .collect();
    assert!(
        gone.contains(&("user_profile.bob".into(), Action::Delete)),
        "{gone:?}"
    );
    assert!(gone.contains(&("security_group.user-bob".into(), Action::Delete)));
    assert!(!gone
        .iter()
        .any(|(a, _)| a.contains("alice") || a.contains("domain")));
    let profile = position(&cs, |o| {
        matches!(o, Op::UserProfile(user_profile::Op::Delete { .. }))
    });
    let group = position(&cs, |o| {
        matches!(
            o,
            Op::SecurityGroup(crate::resources::security_group::Op::Delete { .. })
        )
    });
    assert!(profile < group);
    run(&cloud, &cs).await;
    assert_replan_empty(&cloud, &fewer);
    assert_eq!(cloud.world.lock().unwrap().user_profiles.len(), 1);
}

#[tokio::test]
async fn a_domain_changed_by_hand_is_put_back_in_place_and_a_rename_replaces_it() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = domain_plan("sd3", |t| t);
    converge(&cloud, &plan).await;
    {
        let mut w = cloud.world.lock().unwrap();
        w.domains[0].vpc_only = false;
        w.domains[0].subnet_ids.pop();
    }
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("studio_domain.main".to_string(), Action::Update)]
    );
    let record = &cs
        .changes
        .iter()
        .find(|c| c.action == Action::Update)
        .unwrap();
    assert!(
        record.reasons.iter().any(|r| r.contains("VpcOnly")),
        "{:?}",
        record.reasons
    );
    converge(&cloud, &plan).await;
    let renamed = domain_plan("sd3", |t| {
        t.replace(
            "domain_name = \"ml-studio\"",
            "domain_name = \"ml-studio-2\"",
        )
    });
    let cs = diff(&renamed, &cloud.observe(&renamed)).unwrap();
    let changed = actions(&cs);
    assert!(
        changed.contains(&("studio_domain.main".into(), Action::Replace)),
        "{changed:?}"
    );
    assert!(changed.contains(&("user_profile.alice".into(), Action::Replace)));
    run(&cloud, &cs).await;
    assert_replan_empty(&cloud, &renamed);
    let w = cloud.world.lock().unwrap();
    assert_eq!(w.domains.len(), 1);
    assert_eq!(w.domains[0].name, "ml-studio-2");
    assert_eq!(w.user_profiles.len(), 2);
}

#[tokio::test]
async fn a_policy_detached_by_hand_is_attached_again() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = domain_plan("sd4", |t| t);
    converge(&cloud, &plan).await;
    cloud.world.lock().unwrap().roles[0].policies.clear();
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("iam_role.execution".to_string(), Action::Update)]
    );
    converge(&cloud, &plan).await;
}

#[tokio::test]
async fn destroy_removes_users_then_domain_then_its_network_and_role() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = domain_plan("sd5", |t| t);
    converge(&cloud, &plan).await;
    let cs = destroy(&plan, &cloud.observe(&plan)).unwrap();
    let user = position(&cs, |o| {
        matches!(o, Op::UserProfile(user_profile::Op::Delete { .. }))
    });
    let domain = position(&cs, |o| {
        matches!(o, Op::StudioDomain(studio_domain::Op::Delete(_)))
    });
    let role = position(&cs, |o| {
        matches!(o, Op::IamRole(iam_role::Op::Delete { .. }))
    });
    let subnet = position(&cs, |o| {
        matches!(o, Op::Subnet(crate::resources::subnet::Op::Delete { .. }))
    });
    assert!(user < domain && domain < role && domain < subnet);
    run(&cloud, &cs).await;
    let w = cloud.world.lock().unwrap().clone();
    assert!(w.roles.is_empty() && w.domains.is_empty() && w.user_profiles.is_empty());
    assert_eq!(cloud.counts(), [0, 0, 0, 0, 0]);
    assert!(destroy(&plan, &cloud.observe(&plan)).unwrap().is_empty());
}

#[test]
fn a_role_with_the_plans_name_that_it_does_not_own_stops_the_plan() {
    let cloud = FakeCloud::default();
    let plan = domain_plan("sd6", |t| t);
    futures::executor::block_on(iam_role::Api::create_role(
        &cloud,
        "sd6-sagemaker-execution",
        "/",
        "{}",
        &Default::default(),
    ))
    .unwrap();
    let err = diff(&plan, &cloud.observe(&plan)).unwrap_err();
    assert!(
        err.to_string().contains("already exists") && err.to_string().contains("by ARN"),
        "{err}"
    );
}

#[tokio::test]
async fn an_existing_role_is_used_and_never_touched() {
    let cloud = Arc::new(FakeCloud::default());
    let arn = "arn:aws:iam::000000000000:role/existing-studio";
    let plan = domain_plan("sd7", |t| {
        t.replace(
            "execution_role = \"create\"",
            &format!("execution_role = \"{arn}\""),
        )
        .replace(
            "managed_policies = [\"arn:aws:iam::aws:policy/AmazonSageMakerFullAccess\"]\n",
            "",
        )
    });
    let cs = converge(&cloud, &plan).await;
    assert!(!cs
        .changes
        .iter()
        .any(|c| c.address.kind == crate::model::Kind::IamRole));
    assert_eq!(cloud.world.lock().unwrap().domains[0].execution_role, arn);
    assert!(cloud.world.lock().unwrap().roles.is_empty());
}

/// A plan adopting `vpc` whose Studio domain uses the adopted `subnet`.
fn adopting(name: &str, vpc: &str, subnet: &str, users: usize) -> Plan {
    let profiles: String = (0..users)
        .map(|i| format!("[studio.user_profiles.u{i}]\n"))
        .collect();
    plan_from(&format!(
        r#"name = "{name}"
region = "us-east-1"
[vpc]
id = "{vpc}"
[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.50.8.0/24"
[security_groups.ep]
description = "endpoints"
ingress = [{{ from = "10.50.0.0/16", protocol = "tcp", ports = "443" }}]
[gateway_endpoints.s3]
[interface_endpoints]
services = ["sagemaker.api", "sagemaker.runtime", "studio", "sts", "logs"]
subnets = ["a"]
security_groups = ["ep"]
[studio]
domain_name = "ml"
subnets = ["{subnet}"]
{profiles}"#
    ))
}

/// An adopted subnet of `vpc` with `free` addresses, routed by a table of its own
/// (`public`: with a default route to an internet gateway).
fn hand_made_subnet(cloud: &FakeCloud, vpc: &str, free: u32, public: bool) -> String {
    let mut w = cloud.world.lock().unwrap();
    let id = format!("subnet-{:017x}", 0xabc00 + w.subnets.len());
    w.subnets.push(crate::observe::ObservedSubnet {
        id: id.clone(),
        vpc_id: vpc.into(),
        availability_zone: "us-east-1b".into(),
        availability_zone_id: None,
        cidr: "10.50.0.0/24".into(),
        tags: Default::default(),
        available_ips: Some(free),
    });
    let routes = if public {
        vec![crate::observe::ObservedRoute {
            destination: "0.0.0.0/0".into(),
            target: "igw-0hand".into(),
        }]
    } else {
        vec![]
    };
    w.route_tables.push(crate::observe::ObservedRouteTable {
        id: format!("rtb-0{id}"),
        vpc_id: vpc.into(),
        associations: vec![crate::observe::ObservedAssociation {
            id: format!("rtbassoc-0{id}"),
            subnet_id: id.clone(),
        }],
        routes,
        tags: Default::default(),
        main: false,
    });
    id
}

#[test]
fn an_adopted_public_subnet_is_refused_for_studio_naming_its_route() {
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let public = hand_made_subnet(&cloud, &vpc, 250, true);
    let plan = adopting("sa1", &vpc, &public, 1);
    let err = diff(&plan, &cloud.observe(&plan)).unwrap_err().to_string();
    assert!(
        err.contains(&public) && err.contains("is public") && err.contains("igw-0hand"),
        "{err}"
    );
    let private = hand_made_subnet(&cloud, &vpc, 250, false);
    let plan = adopting("sa1", &vpc, &private, 1);
    diff(&plan, &cloud.observe(&plan)).expect("a private adopted subnet is fine");
}

#[test]
fn too_few_free_addresses_in_adopted_studio_subnets_gives_the_numbers() {
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let small = hand_made_subnet(&cloud, &vpc, 20, false);
    // 5 users x 4 addresses + 1 EFS mount target = 21 > 20.
    let plan = adopting("sa2", &vpc, &small, 5);
    let err = diff(&plan, &cloud.observe(&plan)).unwrap_err().to_string();
    assert!(
        err.contains("20 free addresses")
            && err.contains("needs 21")
            && err.contains("5 users x 4"),
        "{err}"
    );
    let plan = adopting("sa2", &vpc, &small, 4);
    diff(&plan, &cloud.observe(&plan)).expect("17 addresses fit in 20");
}

#[test]
fn a_dedicated_tenancy_vpc_is_refused_for_studio() {
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let private = hand_made_subnet(&cloud, &vpc, 250, false);
    cloud.world.lock().unwrap().vpcs[0].tenancy = Some("dedicated".into());
    let plan = adopting("sa3", &vpc, &private, 1);
    let err = diff(&plan, &cloud.observe(&plan)).unwrap_err().to_string();
    assert!(
        err.contains("dedicated") && err.contains("default tenancy"),
        "{err}"
    );
}
