//! The quotas at plan time against the in-memory cloud: Service Quotas' value wins
//! over the plan's, what exists in the VPC counts, a quota that cannot be read is a
//! warning and the plan's value or AWS's default is used.

use std::sync::Arc;

use super::tests::{converge, plan_from};
use super::*;
use crate::execute::fake::FakeCloud;
use crate::observe::{EndpointType, ObservedEndpoint, ObservedSubnet};
use crate::plan::Plan;
use crate::quotas::Quota;

const STUDIO: &str = include_str!("../../plans/studio-vpc.toml");

/// A plan into the adopted VPC `vpc`: one subnet, two interface endpoints.
fn adopted(vpc: &str, extra: &str) -> Plan {
    adopted_with_groups(vpc, r#""endpoints""#, extra)
}

/// `adopted`, its endpoints carrying `groups` (a TOML list's items).
fn adopted_with_groups(vpc: &str, groups: &str, extra: &str) -> Plan {
    plan_from(&format!(
        r#"name = "q"
region = "us-east-1"

[vpc]
id = "{vpc}"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.50.0.0/24"

[security_groups.endpoints]
description = "Interface endpoints"
ingress = [{{ from = "10.50.0.0/16", protocol = "tcp", ports = "443" }}]

[interface_endpoints]
services = ["sts", "logs"]
subnets = ["a"]
security_groups = [{groups}]
{extra}"#
    ))
}

fn foreign_endpoint(vpc: &str, id: &str, service: &str) -> ObservedEndpoint {
    ObservedEndpoint {
        dns_names: Vec::new(),
        id: id.into(),
        vpc_id: vpc.into(),
        endpoint_type: EndpointType::Interface,
        service_name: format!("com.amazonaws.us-east-1.{service}"),
        state: "available".into(),
        subnet_ids: vec![],
        security_group_ids: vec![],
        route_table_ids: vec![],
        private_dns: false,
        policy: None,
        tags: Default::default(),
    }
}

fn foreign_subnet(vpc: &str, id: &str, cidr: &str) -> ObservedSubnet {
    ObservedSubnet {
        id: id.into(),
        vpc_id: vpc.into(),
        availability_zone: "us-east-1b".into(),
        availability_zone_id: None,
        cidr: cidr.into(),
        tags: Default::default(),
        available_ips: None,
    }
}

fn problems(plan: &Plan, cloud: &FakeCloud) -> Vec<String> {
    diff(plan, &cloud.observe(plan)).unwrap_err().problems
}

#[test]
fn a_lower_applied_value_stops_the_plan_naming_its_endpoints() {
    let cloud = FakeCloud::default();
    cloud.set_quota(Quota::InterfaceEndpointsPerVpc, 4);
    let plan = plan_from(STUDIO);
    assert_eq!(
        problems(&plan, &cloud),
        ["quotas: interface endpoints in the plan's VPC: 5, more than the 4 of quota \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB) (applied to the account, read from Service Quotas); the plan's 5 (interface_endpoint.logs, interface_endpoint.sagemaker.api, interface_endpoint.sagemaker.runtime, interface_endpoint.sts, interface_endpoint.studio); raise \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB) in Service Quotas (the plan's [quotas] interface_endpoints_per_vpc only says what the account has), or plan fewer"]
    );
    cloud.set_quota(Quota::InterfaceEndpointsPerVpc, 5);
    diff(&plan, &cloud.observe(&plan)).expect("5 fit");
}

#[test]
fn the_vpcs_endpoints_that_the_plan_does_not_own_count() {
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    {
        let mut w = cloud.world.lock().unwrap();
        w.endpoints
            .push(foreign_endpoint(&vpc, "vpce-0hand1", "ssm"));
        w.endpoints
            .push(foreign_endpoint(&vpc, "vpce-0hand2", "ec2"));
    }
    cloud.set_quota(Quota::InterfaceEndpointsPerVpc, 3);
    let plan = adopted(&vpc, "");
    let p = problems(&plan, &cloud);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with(&format!("quotas: interface endpoints in VPC {vpc}: 4, more than the 3 of quota \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB) (applied to the account, read from Service Quotas); the plan's 2 (interface_endpoint.logs, interface_endpoint.sts) and 2 that exist (vpce-0hand1, vpce-0hand2); raise")),
        "{}",
        p[0]
    );
    cloud.set_quota(Quota::InterfaceEndpointsPerVpc, 4);
    diff(&plan, &cloud.observe(&plan)).expect("4 fit");
}

#[tokio::test]
async fn the_adopted_vpcs_subnets_count_when_the_plan_adds_one() {
    let cloud = Arc::new(FakeCloud::default());
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    {
        let mut w = cloud.world.lock().unwrap();
        w.subnets
            .push(foreign_subnet(&vpc, "subnet-0hand1", "10.50.10.0/24"));
        w.subnets
            .push(foreign_subnet(&vpc, "subnet-0hand2", "10.50.11.0/24"));
    }
    cloud.set_quota(Quota::SubnetsPerVpc, 2);
    let plan = adopted(&vpc, "");
    assert_eq!(
        problems(&plan, &cloud),
        [format!("quotas: subnets in VPC {vpc}: 3, more than the 2 of quota \"Subnets per VPC\" (vpc/L-407747CB) (applied to the account, read from Service Quotas); the plan's 1 (subnet.a) and 2 that exist (subnet-0hand1, subnet-0hand2); raise \"Subnets per VPC\" (vpc/L-407747CB) in Service Quotas (the plan's [quotas] subnets_per_vpc only says what the account has), or plan fewer")]
    );
    cloud.set_quota(Quota::SubnetsPerVpc, 3);
    converge(&cloud, &plan).await;
    // Once applied nothing more is created: the VPC's subnets are not read again.
    let obs = cloud.observe(&plan);
    assert!(obs.vpc_subnets.is_empty(), "{:?}", obs.vpc_subnets);
    assert!(diff(&plan, &obs).unwrap().is_empty());
}

#[test]
fn the_applied_value_wins_over_the_plans_and_the_difference_is_warned() {
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let plan = adopted(&vpc, "\n[quotas]\ninterface_endpoints_per_vpc = 100\n");
    cloud.set_quota(Quota::InterfaceEndpointsPerVpc, 1);
    let obs = cloud.observe(&plan);
    assert_eq!(
        quotas::warnings(&plan, &obs),
        ["quota \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB): the plan's [quotas] interface_endpoints_per_vpc = 100 differs from the 1 Service Quotas applies to the account; 1 is used"]
    );
    let p = diff(&plan, &obs).unwrap_err().problems;
    assert!(p[0].contains("2, more than the 1 of quota"), "{p:?}");
}

#[test]
fn a_caller_without_get_service_quota_is_warned_and_the_plans_values_are_used() {
    let cloud = FakeCloud::default();
    cloud.deny_quotas();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let plan = adopted(&vpc, "\n[quotas]\nsubnets_per_vpc = 300\n");
    let obs = cloud.observe(&plan);
    let w = quotas::warnings(&plan, &obs);
    assert_eq!(w.len(), 1, "one cause, one warning: {w:#?}");
    assert!(
        w[0].starts_with("4 quotas could not be read from Service Quotas (GetServiceQuota failed: AccessDeniedException: not authorized); used instead: "),
        "{}",
        w[0]
    );
    assert!(
        w[0].contains("\"Subnets per VPC\" (vpc/L-407747CB): 300 (from the plan's [quotas])"),
        "{}",
        w[0]
    );
    assert!(
        w[0].contains("(vpc/L-29B6F2EB): 50 (AWS's default)"),
        "{}",
        w[0]
    );
    diff(&plan, &obs).expect("a warning, not a failure");
}

#[test]
fn without_the_quota_reads_the_live_checks_do_not_run() {
    let cloud = FakeCloud::default();
    cloud.set_quota(Quota::InterfaceEndpointsPerVpc, 1);
    let plan = plan_from(STUDIO);
    let obs = futures::executor::block_on(crate::observe::observe(&cloud, &plan)).unwrap();
    assert_eq!(obs.quotas, None);
    assert!(quotas::warnings(&plan, &obs).is_empty());
    diff(&plan, &obs).expect("no reads, no live quota check");
}

#[test]
fn studio_users_apps_count_the_users_and_the_domains_groups_and_sagemakers() {
    let cloud = FakeCloud::default();
    cloud.set_quota(Quota::SecurityGroupsPerNetworkInterface, 2);
    let text = include_str!("../../plans/studio-domain.toml");
    let plan = plan_from(text);
    let user = plan
        .studio
        .as_ref()
        .unwrap()
        .user_profiles
        .keys()
        .next()
        .unwrap()
        .clone();
    let p = problems(&plan, &cloud);
    let mine = p
        .iter()
        .find(|m| m.contains(&format!("Studio user {user}'s")))
        .unwrap_or_else(|| panic!("{p:#?}"));
    assert!(
        mine.starts_with(&format!("quotas: security groups on Studio user {user}'s apps' network interfaces: 3, more than the 2 of quota \"Security groups per network interface\" (vpc/L-2AFB9258) (applied to the account, read from Service Quotas); security_group.studio, security_group.user-{user}, the NFS group SageMaker adds; raise")),
        "{mine}"
    );
}

#[tokio::test]
async fn quotas_are_read_only_for_a_change_that_adds_what_they_count() {
    let cloud = Arc::new(FakeCloud::default());
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    let plan = adopted(&vpc, "");
    let fresh = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert!(quotas::may_reach(&fresh), "creating subnets and endpoints");
    converge(&cloud, &plan).await;
    let again = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert!(!quotas::may_reach(&again), "a no-op plan asks nothing");
    let gone = destroy(&plan, &cloud.observe(&plan)).unwrap();
    assert!(!quotas::may_reach(&gone), "deletes never reach a quota");
}

#[test]
fn the_rules_of_an_existing_group_an_endpoint_carries_count_on_its_interfaces() {
    use crate::model::{Direction, Peer, Protocol, Rule};
    use crate::resources::security_group::ObservedSecurityGroup;
    let cloud = FakeCloud::default();
    let vpc = cloud.add_foreign_vpc("10.50.0.0/16", true);
    // 1,000 inbound IPv4 rules (one peer each): with the plan group's one rule, 1,001
    // on every interface of an endpoint that carries both groups.
    let rules = |n: u32| -> Vec<Rule> {
        (0..n)
            .map(|i| Rule {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: Some((443, 443)),
                peer: Peer::Cidr(
                    format!("10.{}.{}.0/24", 60 + i / 256, i % 256)
                        .parse()
                        .unwrap(),
                ),
            })
            .collect()
    };
    let hand_made = |n| ObservedSecurityGroup {
        id: "sg-0aaaabbbbcccc1111".into(),
        vpc_id: vpc.clone(),
        name: "hand-made".into(),
        description: "made by hand".into(),
        rules: rules(n),
        tags: Default::default(),
    };
    cloud
        .world
        .lock()
        .unwrap()
        .security_groups
        .push(hand_made(1000));
    let plan = adopted_with_groups(&vpc, r#""endpoints", "sg-0aaaabbbbcccc1111""#, "");
    assert_eq!(
        problems(&plan, &cloud),
        ["logs", "sts"].map(|e| format!("quotas: inbound IPv4 rules over the groups of interface endpoint {e}'s network interfaces: 1001, more than the 1000 AWS allows on one network interface (endpoints 1, sg-0aaaabbbbcccc1111 1000); move rules to fewer groups"))
    );
    {
        let mut w = cloud.world.lock().unwrap();
        let g = w
            .security_groups
            .iter_mut()
            .find(|g| g.id == "sg-0aaaabbbbcccc1111");
        *g.expect("pushed above") = hand_made(999);
    }
    diff(&plan, &cloud.observe(&plan)).expect("1,000 rules fit");
}
