//! The matching of `adopt`: plan + what exists → what it takes, what it leaves and why,
//! and the plan's diff once the takes carry its tags.

use super::*;
use crate::changeset::diff;
use crate::changeset::tests::{actions, plan_from};
use crate::model::{Direction, Peer, Protocol, Rule};
use crate::observe::{ObservedRouteTable, ObservedSecurityGroup, ObservedSubnet, ObservedVpc};
use crate::resources::route_table::ObservedRoute;
use crate::resources::route_table_association::ObservedAssociation;

const PLAN: &str = r#"
name = "t-adopt"
region = "us-east-1"

[vpc]
cidr = "10.30.0.0/16"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.30.0.0/24"

[subnets.b]
availability_zone = "us-east-1b"
cidr = "10.30.1.0/24"

[security_groups.endpoints]
description = "Interface endpoints"
ingress = [{ from = "10.30.0.0/16", protocol = "tcp", ports = "443" }]

[gateway_endpoints.s3]

[interface_endpoints]
services = ["sts"]
subnets = ["a", "b"]
security_groups = ["endpoints"]
private_dns = true
"#;

const VPC: &str = "vpc-0a1b2c3d4e5f60718";

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn subnet(id: &str, cidr: &str, az: &str) -> ObservedSubnet {
    ObservedSubnet {
        id: id.into(),
        vpc_id: VPC.into(),
        availability_zone: az.into(),
        availability_zone_id: None,
        cidr: cidr.into(),
        tags: tags(&[("Name", "hand-made")]),
        available_ips: Some(250),
    }
}

fn https(cidr: &str) -> Rule {
    Rule {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        ports: Some((443, 443)),
        peer: Peer::Cidr(cidr.parse().unwrap()),
    }
}

fn endpoint(id: &str, service: &str, ty: EndpointType) -> ObservedEndpoint {
    ObservedEndpoint {
        id: id.into(),
        vpc_id: VPC.into(),
        endpoint_type: ty,
        service_name: service.into(),
        state: "available".into(),
        subnet_ids: Vec::new(),
        security_group_ids: Vec::new(),
        route_table_ids: Vec::new(),
        private_dns: false,
        policy: None,
        tags: Tags::new(),
        dns_names: Vec::new(),
    }
}

/// A hand-made network like the plan: VPC, both subnets, a private table associated
/// with them, the group (its rule admits the wrong CIDR), both endpoints.
fn hand_made() -> Unowned {
    let mut sts = endpoint(
        "vpce-0sts",
        "com.amazonaws.us-east-1.sts",
        EndpointType::Interface,
    );
    sts.subnet_ids = vec!["subnet-0a".into(), "subnet-0b".into()];
    sts.security_group_ids = vec!["sg-0ep".into()];
    sts.private_dns = true;
    let mut s3 = endpoint(
        "vpce-0s3",
        "com.amazonaws.us-east-1.s3",
        EndpointType::Gateway,
    );
    s3.route_table_ids = vec!["rtb-0priv".into()];
    Unowned {
        vpcs: vec![ObservedVpc {
            id: VPC.into(),
            cidr: "10.30.0.0/16".into(),
            cidrs: Vec::new(),
            dns_support: true,
            dns_hostnames: true,
            tags: Tags::new(),
            tenancy: None,
        }],
        subnets: vec![
            subnet("subnet-0a", "10.30.0.0/24", "us-east-1a"),
            subnet("subnet-0b", "10.30.1.0/24", "us-east-1b"),
            subnet("subnet-0other", "10.30.9.0/24", "us-east-1a"),
        ],
        route_tables: vec![
            ObservedRouteTable {
                id: "rtb-0main".into(),
                vpc_id: VPC.into(),
                associations: Vec::new(),
                routes: Vec::new(),
                tags: Tags::new(),
                main: true,
            },
            ObservedRouteTable {
                id: "rtb-0priv".into(),
                vpc_id: VPC.into(),
                associations: ["a", "b"]
                    .iter()
                    .map(|k| ObservedAssociation {
                        id: format!("rtbassoc-0{k}"),
                        subnet_id: format!("subnet-0{k}"),
                    })
                    .collect(),
                routes: vec![ObservedRoute {
                    destination: "10.30.0.0/16".into(),
                    target: "local".into(),
                }],
                tags: Tags::new(),
                main: false,
            },
        ],
        security_groups: vec![
            ObservedSecurityGroup {
                id: "sg-0default".into(),
                vpc_id: VPC.into(),
                name: "default".into(),
                description: "default VPC security group".into(),
                rules: vec![Rule::default_egress()],
                tags: Tags::new(),
            },
            ObservedSecurityGroup {
                id: "sg-0ep".into(),
                vpc_id: VPC.into(),
                name: "t-adopt-endpoints".into(),
                description: "Interface endpoints".into(),
                rules: vec![https("10.99.0.0/16"), Rule::default_egress()],
                tags: Tags::new(),
            },
        ],
        endpoints: vec![sts, s3],
    }
}

/// What `observe` reads for any plan: the endpoint services it names.
fn observed() -> Observed {
    let service = |name: &str, endpoint_type| crate::observe::ServiceInfo {
        service_name: format!("com.amazonaws.us-east-1.{name}"),
        endpoint_type,
        availability_zones: vec!["us-east-1a".into(), "us-east-1b".into()],
        availability_zone_ids: vec![],
    };
    Observed {
        services: vec![
            service("s3", EndpointType::Gateway),
            service("sts", EndpointType::Interface),
        ],
        ..Observed::default()
    }
}

fn taken(a: &Adoption) -> Vec<(String, &str)> {
    a.takes
        .iter()
        .map(|t| (t.address.to_string(), t.id.as_str()))
        .collect()
}

#[test]
fn a_hand_made_network_is_matched_by_cidr_zone_association_name_and_service() {
    let plan = plan_from(PLAN);
    let a = find(&plan, &observed(), &hand_made());
    assert_eq!(
        taken(&a),
        vec![
            ("vpc.main".to_string(), VPC),
            ("subnet.a".to_string(), "subnet-0a"),
            ("subnet.b".to_string(), "subnet-0b"),
            ("route_table.private".to_string(), "rtb-0priv"),
            ("security_group.endpoints".to_string(), "sg-0ep"),
            ("gateway_endpoint.s3".to_string(), "vpce-0s3"),
            ("interface_endpoint.sts".to_string(), "vpce-0sts"),
        ]
    );
    assert_eq!(a.takes[1].matched_by, "10.30.0.0/24 in us-east-1a");
    assert_eq!(a.takes[3].matched_by, "associated with subnet.a, subnet.b");
    assert!(a.refused.is_empty(), "{:?}", a.refused);
}

#[test]
fn once_adopted_the_plan_shows_only_the_real_differences() {
    let plan = plan_from(PLAN);
    let found = hand_made();
    let a = find(&plan, &observed(), &found);
    let cs = diff(&plan, &a.adopted(&plan, &observed(), &found)).unwrap();
    let changed = actions(&cs);
    // Nothing is created again but the rule that differs; the wrong rule goes.
    assert!(
        !changed
            .iter()
            .any(|(addr, act)| *act == Action::Create && !addr.starts_with("security_group_rule.")),
        "{changed:?}"
    );
    let rules: Vec<_> = changed
        .iter()
        .filter(|(addr, _)| addr.starts_with("security_group_rule."))
        .map(|(addr, act)| (addr.as_str(), *act))
        .collect();
    assert_eq!(
        rules,
        vec![
            (
                "security_group_rule.endpoints.ingress.tcp.443.10.30.0.0/16",
                Action::Create
            ),
            (
                "security_group_rule.endpoints.ingress.tcp.443.10.99.0.0/16",
                Action::Delete
            ),
        ]
    );
    // Hand-made names and missing plan tags are the other differences: tag updates.
    for (addr, act) in &changed {
        if !addr.starts_with("security_group_rule.") {
            assert_eq!(*act, Action::Update, "{addr}");
        }
    }
    assert!(!cs
        .nodes
        .iter()
        .any(|n| n.op.creates() && !matches!(n.op, Op::SecurityGroupRule(_))));
}

#[test]
fn the_tag_writes_are_one_create_tags_per_take_with_the_ownership_tags() {
    let plan = plan_from(PLAN);
    let a = find(&plan, &observed(), &hand_made());
    let cs = a.changeset(&plan);
    assert_eq!(cs.nodes.len(), a.takes.len());
    for (n, t) in cs.nodes.iter().zip(&a.takes) {
        let Op::Tags(SetTags {
            resource,
            set,
            remove,
            ..
        }) = &n.op
        else {
            panic!("not a tag write: {:?}", n.op);
        };
        assert_eq!(resource, &IdRef::Id(t.id.clone()));
        assert_eq!(set["sagevpc:plan"], "t-adopt");
        assert_eq!(set["sagevpc:key"], t.address.to_string());
        assert_eq!(set.len(), 2);
        assert!(remove.is_empty() && n.deps.is_empty());
    }
    assert!(cs.check_graph().is_ok());
}

#[test]
fn another_plans_resources_are_never_taken_and_are_named() {
    let plan = plan_from(PLAN);
    let mut found = hand_made();
    let theirs = tags(&[("sagevpc:plan", "other"), ("sagevpc:key", "subnet.x")]);
    found.subnets[0].tags = theirs.clone();
    found.endpoints[1].tags = theirs;
    let a = find(&plan, &observed(), &found);
    let ids: Vec<&str> = a.takes.iter().map(|t| t.id.as_str()).collect();
    assert!(
        !ids.contains(&"subnet-0a") && !ids.contains(&"vpce-0s3"),
        "{ids:?}"
    );
    assert!(ids.contains(&"subnet-0b"));
    assert_eq!(
        a.refused,
        vec![
            "subnet.a: subnet-0a (10.30.0.0/24 in us-east-1a) is sagevpc plan \"other\"'s: another plan's resource is never taken",
            "gateway_endpoint.s3: vpce-0s3 (gateway endpoint for com.amazonaws.us-east-1.s3) is sagevpc plan \"other\"'s: another plan's resource is never taken",
        ]
    );
}

#[test]
fn another_plans_vpc_and_two_untagged_vpcs_with_the_cidr_are_not_taken() {
    let plan = plan_from(PLAN);
    let mut found = hand_made();
    found.vpcs[0].tags = tags(&[("sagevpc:plan", "other")]);
    let a = find(&plan, &observed(), &found);
    assert!(a.takes.is_empty());
    assert_eq!(
        a.refused,
        vec![
            "vpc.main: vpc-0a1b2c3d4e5f60718 has CIDR 10.30.0.0/16 but is sagevpc plan \"other\"'s"
        ]
    );
    let mut found = hand_made();
    let mut twin = found.vpcs[0].clone();
    twin.id = "vpc-0twin".into();
    found.vpcs.push(twin);
    let a = find(&plan, &observed(), &found);
    assert!(a.takes.is_empty());
    assert!(a.refused[0].starts_with(
        "vpc.main: 2 VPCs have CIDR 10.30.0.0/16 (vpc-0a1b2c3d4e5f60718, vpc-0twin): none is taken"
    ));
}

#[test]
fn a_public_or_main_route_table_is_not_taken_as_the_private_one() {
    let plan = plan_from(PLAN);
    let mut found = hand_made();
    found.route_tables[1].routes.push(ObservedRoute {
        destination: "0.0.0.0/0".into(),
        target: "igw-0pub".into(),
    });
    let a = find(&plan, &observed(), &found);
    assert!(!a.takes.iter().any(|t| t.address.kind == Kind::RouteTable));
    assert_eq!(
        a.refused,
        vec!["route_table.private: rtb-0priv (associated with subnet.a, subnet.b) routes 0.0.0.0/0 to internet gateway igw-0pub: the plan's table is private"]
    );
    let mut found = hand_made();
    found.route_tables[1].main = true;
    let a = find(&plan, &observed(), &found);
    assert!(
        a.refused[0].contains("is the VPC's main route table"),
        "{:?}",
        a.refused
    );
}

#[test]
fn what_the_plan_owns_already_is_not_adopted_again() {
    let plan = plan_from(PLAN);
    let found = hand_made();
    let first = find(&plan, &observed(), &found);
    let obs = first.adopted(&plan, &observed(), &found);
    let mut after = found.clone();
    after.vpcs.clear();
    let again = find(&plan, &obs, &after);
    assert!(again.is_empty() && again.refused.is_empty(), "{again:?}");
}

#[test]
fn a_group_keyed_default_is_refused_and_an_adopted_vpc_is_never_taken() {
    let text = PLAN
        .replace("cidr = \"10.30.0.0/16\"\n", &format!("id = \"{VPC}\"\n"))
        .replace("security_groups.endpoints]", "security_groups.default]")
        .replace(
            "security_groups = [\"endpoints\"]",
            "security_groups = [\"default\"]",
        );
    let plan = plan_from(&text);
    let mut obs = observed();
    let found = hand_made();
    obs.vpcs = found.vpcs.clone();
    let a = find(&plan, &obs, &found);
    assert!(!a.takes.iter().any(|t| t.address.kind == Kind::Vpc));
    assert!(a.takes.iter().any(|t| t.id == "subnet-0a"));
    assert_eq!(
        a.refused,
        vec!["security_group.default: the VPC's default group is never taken (AWS deletes it only with the VPC)"]
    );
}

#[test]
fn the_list_names_each_take_and_each_refusal() {
    let plan = plan_from(PLAN);
    let mut found = hand_made();
    found.endpoints[1].tags = tags(&[("sagevpc:plan", "other")]);
    let a = find(&plan, &observed(), &found);
    insta::assert_snapshot!(crate::render::adopt::adoption(&a));
}
