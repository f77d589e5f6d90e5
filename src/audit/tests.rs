//! Each rule passing, failing and not applicable, on views built by hand; the text of
//! every finding (snapshot); the plan's warnings.

use super::*;
use crate::observe::{ObservedAssociation, ObservedRoute, Tags};

const R: &str = "us-east-1";

fn svc(short: &str) -> String {
    crate::plan::services::service_name(R, short)
}

fn subnet(id: &str, az: &str, cidr: &str, free: u32) -> ObservedSubnet {
    ObservedSubnet {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        availability_zone: az.into(),
        availability_zone_id: None,
        cidr: cidr.into(),
        tags: Tags::new(),
        available_ips: Some(free),
    }
}

fn rule(direction: Direction, protocol: Protocol, ports: Option<(i32, i32)>, peer: Peer) -> Rule {
    Rule {
        direction,
        protocol,
        ports,
        peer,
    }
}

fn group(id: &str, rules: Vec<Rule>) -> ObservedSecurityGroup {
    ObservedSecurityGroup {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        name: id.into(),
        description: String::new(),
        rules,
        tags: Tags::new(),
    }
}

fn interface(id: &str, short: &str, subnets: &[&str], sg: &str) -> ObservedEndpoint {
    ObservedEndpoint {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        endpoint_type: EndpointType::Interface,
        service_name: svc(short),
        state: "available".into(),
        subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
        security_group_ids: vec![sg.into()],
        route_table_ids: vec![],
        private_dns: true,
        policy: None,
        tags: Tags::new(),
        dns_names: vec![],
    }
}

fn deny_repos() -> serde_json::Value {
    serde_json::from_str(include_str!(
        "../../plans/policies/s3-deny-amazon-linux-repos.json"
    ))
    .unwrap()
}

/// A VPC every rule passes: two private subnets, the five endpoints in both AZs, S3
/// on the route table with the deny policy, a client group admitting itself, an
/// endpoint group admitting it on 443.
fn clean() -> View {
    let shorts = [
        "sagemaker.api",
        "sagemaker.runtime",
        "studio",
        "sts",
        "logs",
    ];
    let mut endpoints: Vec<ObservedEndpoint> = shorts
        .iter()
        .enumerate()
        .map(|(i, s)| interface(&format!("vpce-{i}"), s, &["subnet-a", "subnet-b"], "sg-ep"))
        .collect();
    endpoints.push(ObservedEndpoint {
        id: "vpce-s3".into(),
        endpoint_type: EndpointType::Gateway,
        service_name: svc("s3"),
        subnet_ids: vec![],
        security_group_ids: vec![],
        route_table_ids: vec!["rtb-private".into()],
        private_dns: false,
        policy: Some(deny_repos()),
        ..interface("x", "s3", &[], "x")
    });
    let services = shorts
        .iter()
        .map(|s| ServiceInfo {
            service_name: svc(s),
            endpoint_type: EndpointType::Interface,
            availability_zones: vec![
                "us-east-1a".into(),
                "us-east-1b".into(),
                "us-east-1c".into(),
            ],
            availability_zone_ids: vec![],
        })
        .collect();
    View {
        region: R.into(),
        vpc: ObservedVpc {
            id: "vpc-1".into(),
            cidr: "10.0.0.0/16".into(),
            cidrs: vec![],
            dns_support: true,
            dns_hostnames: true,
            tags: Tags::new(),
            tenancy: None,
        },
        subnets: vec![
            subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 250),
            subnet("subnet-b", "us-east-1b", "10.0.2.0/24", 250),
        ],
        route_tables: vec![ObservedRouteTable {
            id: "rtb-private".into(),
            vpc_id: "vpc-1".into(),
            associations: ["subnet-a", "subnet-b"]
                .iter()
                .map(|s| ObservedAssociation {
                    id: format!("rtbassoc-{s}"),
                    subnet_id: s.to_string(),
                })
                .collect(),
            routes: vec![],
            tags: Tags::new(),
            main: true,
        }],
        security_groups: vec![
            group(
                "sg-clients",
                vec![
                    rule(Direction::Ingress, Protocol::All, None, Peer::SelfGroup),
                    Rule::default_egress(),
                ],
            ),
            group(
                "sg-ep",
                vec![rule(
                    Direction::Ingress,
                    Protocol::Tcp,
                    Some((443, 443)),
                    Peer::ForeignGroup("sg-clients".into()),
                )],
            ),
        ],
        endpoints,
        services,
        domains: vec![],
        projects: None,
    }
}

fn statuses(v: &View, rule: RuleId) -> Vec<Status> {
    audit(v)
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| f.status)
        .collect()
}

fn only(v: &View, rule: RuleId) -> Finding {
    let all: Vec<Finding> = audit(v)
        .findings
        .into_iter()
        .filter(|f| f.rule == rule && f.status == Status::Fail)
        .collect();
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap()
}

#[test]
fn a_clean_vpc_fails_nothing() {
    let r = audit(&clean());
    let failed: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(r.clients.groups, vec!["sg-clients".to_string()]);
    assert_eq!(
        r.clients.subnets,
        vec!["subnet-a".to_string(), "subnet-b".to_string()]
    );
    assert!(r.count(Status::Pass) >= 20);
}

#[test]
fn dns_attributes() {
    let mut v = clean();
    assert_eq!(statuses(&v, RuleId::DnsAttributes), [Status::Pass]);
    v.vpc.dns_hostnames = false;
    let f = only(&v, RuleId::DnsAttributes);
    assert!(
        f.detail.starts_with("enableDnsHostnames off"),
        "{}",
        f.detail
    );
    for e in &mut v.endpoints {
        e.private_dns = false;
    }
    assert_eq!(statuses(&v, RuleId::DnsAttributes), [Status::NotApplicable]);
}

#[test]
fn required_endpoints_private_dns_and_client_azs() {
    let mut v = clean();
    v.endpoints.retain(|e| e.service_name != svc("sts"));
    let f = only(&v, RuleId::EndpointPresent);
    assert_eq!(f.subject, "sts");
    // servicecatalog: not applicable unless Projects is on.
    assert_eq!(
        audit(&v)
            .findings
            .iter()
            .filter(|f| f.subject == "servicecatalog")
            .map(|f| f.status)
            .collect::<Vec<_>>(),
        [Status::NotApplicable; 3]
    );
    v.projects = Some(true);
    assert!(audit(&v)
        .findings
        .iter()
        .any(|f| f.subject == "servicecatalog" && f.status == Status::Fail));

    let mut v = clean();
    v.endpoints[1].private_dns = false;
    let f = only(&v, RuleId::EndpointPrivateDns);
    assert_eq!(
        (f.subject.as_str(), f.resources.clone()),
        ("sagemaker.runtime", vec!["vpce-1".to_string()])
    );

    let mut v = clean();
    v.endpoints[1].subnet_ids = vec!["subnet-a".into()];
    let f = only(&v, RuleId::EndpointClientAzs);
    assert!(
        f.detail
            .contains("no subnet in us-east-1b, where client subnets subnet-b are"),
        "{}",
        f.detail
    );
    // A public subnet is no client's: no AZ to cover there.
    v.route_tables[0].routes.push(ObservedRoute {
        destination: "0.0.0.0/0".into(),
        target: "igw-1".into(),
    });
    v.route_tables[0]
        .associations
        .retain(|a| a.subnet_id == "subnet-b");
    v.route_tables[0].main = false;
    v.route_tables.push(ObservedRouteTable {
        id: "rtb-main".into(),
        main: true,
        associations: vec![],
        routes: vec![],
        ..v.route_tables[0].clone()
    });
    assert!(!statuses(&v, RuleId::EndpointClientAzs).contains(&Status::Fail));
}

#[test]
fn s3_endpoint_and_repositories() {
    let mut v = clean();
    assert_eq!(statuses(&v, RuleId::S3Repositories), [Status::Pass]);
    v.endpoints.last_mut().unwrap().policy = None;
    let f = only(&v, RuleId::S3Repositories);
    assert!(
        f.detail
            .contains("Amazon Linux, Amazon Linux 2 and Amazon Linux 2023"),
        "{}",
        f.detail
    );
    // The guide's own list misses AL2023 (and AL2's newer buckets).
    let guide: serde_json::Value = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject"], "Resource": [
            "arn:aws:s3:::packages.*.amazonaws.com/*", "arn:aws:s3:::repo.*.amazonaws.com/*",
            "arn:aws:s3:::amazonlinux.*.amazonaws.com/*"]}]});
    v.endpoints.last_mut().unwrap().policy = Some(guide);
    let f = only(&v, RuleId::S3Repositories);
    assert!(
        f.detail
            .ends_with("still allows the Amazon Linux 2 and Amazon Linux 2023 repositories"),
        "{}",
        f.detail
    );

    let mut v = clean();
    v.endpoints.last_mut().unwrap().route_table_ids.clear();
    let f = only(&v, RuleId::S3Endpoint);
    assert!(
        f.detail.contains("subnet-a (route table rtb-private)"),
        "{}",
        f.detail
    );
    v.endpoints.pop();
    assert!(only(&v, RuleId::S3Endpoint)
        .detail
        .starts_with("no S3 endpoint"));
    assert_eq!(
        statuses(&v, RuleId::S3Repositories),
        [Status::NotApplicable]
    );
}

#[test]
fn policy_evaluation() {
    use super::policy::{allows, glob};
    assert!(glob(
        "al2023-repos-*/*",
        "al2023-repos-us-east-1-de612dc2/x/y",
        false
    ));
    assert!(!glob("repo.*.amazonaws.com/*", "repository/x", false));
    assert!(glob("S3:Get*", "s3:getobject", true));
    let deny_cond = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}}]});
    assert!(allows(Some(&deny_cond), "s3:GetObject", "arn:aws:s3:::x/y"));
    let only_mine = serde_json::json!({"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::al2023-repos-*/*"}});
    assert!(!allows(
        Some(&only_mine),
        "s3:GetObject",
        "arn:aws:s3:::al2023-repos-us-east-1-de612dc2/a"
    ));
    assert!(allows(
        Some(&only_mine),
        "s3:GetObject",
        "arn:aws:s3:::data/a"
    ));
}

#[test]
fn groups_admit_443_themselves_and_efs() {
    let mut v = clean();
    v.security_groups[1].rules.clear();
    let fails: Vec<Finding> = audit(&v)
        .findings
        .into_iter()
        .filter(|f| f.rule == RuleId::EndpointAdmitsClients && f.status == Status::Fail)
        .collect();
    assert_eq!(fails.len(), 5);
    assert!(
        fails[0]
            .detail
            .contains("sg-ep do not admit 443 from sg-clients"),
        "{}",
        fails[0].detail
    );
    // A CIDR holding the client subnets admits them too.
    v.security_groups[1].rules.push(rule(
        Direction::Ingress,
        Protocol::Tcp,
        Some((443, 443)),
        Peer::Cidr("10.0.0.0/16".parse().unwrap()),
    ));
    assert!(!statuses(&v, RuleId::EndpointAdmitsClients).contains(&Status::Fail));

    let mut v = clean();
    v.security_groups[0]
        .rules
        .retain(|r| r.direction == Direction::Egress);
    assert_eq!(
        only(&v, RuleId::ClientsAdmitThemselves).subject,
        "sg-clients"
    );
    assert_eq!(
        statuses(&v, RuleId::ClientsReachEfs),
        [Status::NotApplicable]
    );
}

fn with_domain() -> View {
    let mut v = clean();
    v.security_groups
        .push(group("sg-domain", vec![Rule::default_egress()]));
    v.security_groups.push(group(
        "sg-user",
        vec![
            rule(
                Direction::Ingress,
                Protocol::Tcp,
                Some((8192, 65535)),
                Peer::SelfGroup,
            ),
            rule(
                Direction::Egress,
                Protocol::Tcp,
                Some((2049, 2049)),
                Peer::Cidr("10.0.0.0/16".parse().unwrap()),
            ),
            rule(
                Direction::Egress,
                Protocol::Tcp,
                Some((443, 443)),
                Peer::ForeignGroup("sg-ep".into()),
            ),
        ],
    ));
    for g in ["sg-domain", "sg-user"] {
        v.security_groups[1].rules.push(rule(
            Direction::Ingress,
            Protocol::Tcp,
            Some((443, 443)),
            Peer::ForeignGroup(g.into()),
        ));
    }
    v.domains.push(Domain {
        id: "d-1".into(),
        name: "ml".into(),
        vpc_only: true,
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        domain_groups: vec!["sg-domain".into()],
        user_groups: vec!["sg-user".into()],
        users: 3,
    });
    v
}

#[test]
fn studio_domain_rules() {
    let v = with_domain();
    let r = audit(&v);
    assert!(r.clients.studio);
    let failed: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");

    let mut v = with_domain();
    v.route_tables[0].routes.push(ObservedRoute {
        destination: "0.0.0.0/0".into(),
        target: "igw-9".into(),
    });
    let f = only(&v, RuleId::DomainPrivateSubnets);
    assert!(
        f.detail
            .contains("subnet-a (route table rtb-private sends 0.0.0.0/0 to igw-9)"),
        "{}",
        f.detail
    );
    v.domains[0].vpc_only = false;
    assert_eq!(
        statuses(&v, RuleId::DomainPrivateSubnets),
        [Status::NotApplicable]
    );

    let mut v = with_domain();
    v.subnets[0].available_ips = Some(2);
    v.subnets[1].available_ips = Some(3);
    assert!(only(&v, RuleId::DomainCapacity)
        .detail
        .starts_with("5 free addresses for 3 users"));
    v.subnets[1].available_ips = Some(5);
    assert_eq!(statuses(&v, RuleId::DomainCapacity), [Status::Pass]);
    v.subnets[1].available_ips = None;
    assert_eq!(
        statuses(&v, RuleId::DomainCapacity),
        [Status::NotApplicable]
    );

    let mut v = with_domain();
    v.security_groups[2].rules.push(rule(
        Direction::Ingress,
        Protocol::All,
        None,
        Peer::ForeignGroup("sg-domain".into()),
    ));
    assert_eq!(
        only(&v, RuleId::DomainSharedGroup).resources,
        ["sg-domain", "d-1"]
    );
    v.domains[0].users = 0;
    assert_eq!(
        statuses(&v, RuleId::DomainSharedGroup),
        [Status::NotApplicable]
    );

    let mut v = with_domain();
    v.security_groups[3]
        .rules
        .retain(|r| r.ports != Some((2049, 2049)));
    assert_eq!(only(&v, RuleId::ClientsReachEfs).subject, "sg-user");
    v.security_groups[3]
        .rules
        .retain(|r| r.direction == Direction::Egress);
    assert_eq!(
        only(&v, RuleId::ClientsAdmitThemselves).detail,
        "does not admit itself on TCP 8192-65535"
    );
}

#[test]
fn service_offered_and_duplicates() {
    let mut v = clean();
    v.services[0].availability_zones = vec!["us-east-1a".into()];
    let f = only(&v, RuleId::ServiceOffered);
    assert!(
        f.detail
            .contains("not offered in the AZ of subnet-b (us-east-1b)"),
        "{}",
        f.detail
    );
    let mut v = clean();
    v.endpoints.push(interface(
        "vpce-9",
        "sts",
        &["subnet-a", "subnet-b"],
        "sg-ep",
    ));
    let f = only(&v, RuleId::DuplicateEndpoints);
    assert_eq!(
        (f.subject.as_str(), f.resources.clone()),
        ("sts", vec!["vpce-3".to_string(), "vpce-9".to_string()])
    );
}

/// Every rule's fixed text, and a report with a failure of each rule, as printed.
#[test]
fn finding_texts() {
    let mut catalogue = String::new();
    for r in texts::ALL {
        let t = r.text();
        catalogue.push_str(&format!(
            "{} [{}]\n  title: {}\n  why: {}\n  fix: {}\n  guide: {} ({}, \"{}\")\n",
            t.id,
            t.group.heading(),
            t.title,
            t.why,
            t.fix,
            t.seed.title(),
            t.seed.file(),
            t.section
        ));
    }
    insta::assert_snapshot!("audit_rule_texts", catalogue);
    let mut v = with_domain();
    v.vpc.dns_support = false;
    v.endpoints.retain(|e| e.service_name != svc("logs"));
    v.endpoints[0].private_dns = false;
    v.endpoints[1].subnet_ids = vec!["subnet-a".into()];
    v.endpoints.last_mut().unwrap().policy = None;
    v.route_tables[0].routes.push(ObservedRoute {
        destination: "0.0.0.0/0".into(),
        target: "igw-9".into(),
    });
    v.subnets[0].available_ips = Some(1);
    v.subnets[1].available_ips = Some(1);
    v.security_groups[2].rules.push(rule(
        Direction::Ingress,
        Protocol::All,
        None,
        Peer::SelfGroup,
    ));
    v.security_groups[3].rules.clear();
    v.security_groups[1]
        .rules
        .retain(|r| r.peer != Peer::ForeignGroup("sg-domain".into()));
    v.services[2].availability_zones = vec!["us-east-1a".into()];
    v.endpoints.push(interface(
        "vpce-9",
        "sts",
        &["subnet-a", "subnet-b"],
        "sg-ep",
    ));
    let r = audit(&v);
    let failed: std::collections::BTreeSet<RuleId> = r
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| f.rule)
        .collect();
    assert_eq!(
        failed.len(),
        texts::ALL.len() - 1,
        "all but S3Endpoint: {failed:?}"
    );
    insta::assert_snapshot!("audit_report_human", crate::render::audit::human(&r));
}

#[test]
fn a_plan_is_warned_of_what_validation_does_not_refuse() {
    let text = r#"
name = "t"
region = "us-east-1"
[vpc]
cidr = "10.9.0.0/16"
[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.9.0.0/20"
[subnets.b]
availability_zone = "us-east-1b"
cidr = "10.9.16.0/20"
[security_groups.jobs]
description = "jobs"
[security_groups.endpoints]
description = "endpoints"
ingress = [{ from = "jobs", protocol = "tcp", ports = "443" }]
[interface_endpoints]
services = ["sagemaker.api", "sagemaker.runtime"]
subnets = ["a"]
security_groups = ["endpoints"]
"#;
    let plan = crate::plan::validate_source(std::path::Path::new("t.toml"), text).unwrap();
    let w = from_plan::warnings(&plan, &crate::observe::Observed::default());
    let ids: Vec<&str> = w.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert!(
        ids.contains(&"audit groups.clients_admit_themselves"),
        "{w:#?}"
    );
    assert!(ids.contains(&"audit endpoint.client_azs"), "{w:#?}");
    assert!(ids.contains(&"audit s3.endpoint"), "{w:#?}");
    assert!(
        !ids.iter().any(|i| i.contains("endpoint.present")),
        "validation's business: {w:#?}"
    );
    assert!(
        w.iter()
            .any(|l| l.contains("security_group.jobs") && l.contains("does not admit itself")),
        "{w:#?}"
    );
    // The shipped plan is clean.
    let shipped = crate::plan::Plan::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/studio-vpc.toml"),
    )
    .unwrap();
    assert_eq!(
        from_plan::warnings(&shipped, &crate::observe::Observed::default()),
        Vec::<String>::new()
    );
}
