//! The view of a plan's own resources as they will be after an apply: the plan's
//! subnets, route table, groups, endpoints and Studio domain, with the ids they have
//! where they exist already (else their addresses), the adopted VPC's DNS attributes
//! and the adopted subnets as observed. `plan` prints the failing findings as warnings,
//! except those validation and the plan's own checks already refuse.

use super::{audit, Domain, Finding, RuleId, Status, View};
use crate::model::{Address, Kind, Peer, Rule};
use crate::observe::{
    owned_key, EndpointType, Observed, ObservedAssociation, ObservedEndpoint, ObservedRouteTable,
    ObservedSecurityGroup, ObservedSubnet, ObservedVpc, Tags,
};
use crate::plan::{Plan, Ref, VpcSpec};
use crate::resources::Live;

/// Rules the plan already enforces for its own resources: required endpoints and the
/// Studio subnets (validation, `studio_network`), DNS attributes (the VPC's check).
const ENFORCED: &[RuleId] = &[
    RuleId::EndpointPresent,
    RuleId::DnsAttributes,
    RuleId::DomainPrivateSubnets,
    RuleId::DomainCapacity,
];

/// The id a plan resource has: the owned copy's, else its address.
fn id_of<L: Live>(live: &[L], plan: &str, kind: Kind, key: &str) -> String {
    let addr = Address::new(kind, key).to_string();
    live.iter()
        .filter(|l| owned_key(l.tags(), plan) == Some(addr.as_str()))
        .map(|l| l.id().to_string())
        .min()
        .unwrap_or(addr)
}

struct Ids<'a> {
    plan: &'a Plan,
    obs: &'a Observed,
}

impl Ids<'_> {
    fn subnet(&self, r: &Ref) -> String {
        match r {
            Ref::Id(id) => id.clone(),
            Ref::Key(k) => id_of(&self.obs.subnets, &self.plan.name, Kind::Subnet, k),
        }
    }
    fn group(&self, r: &Ref) -> String {
        match r {
            Ref::Id(id) => id.clone(),
            Ref::Key(k) => self.group_key(k),
        }
    }
    fn group_key(&self, k: &str) -> String {
        id_of(
            &self.obs.security_groups,
            &self.plan.name,
            Kind::SecurityGroup,
            k,
        )
    }
    fn route_table(&self) -> String {
        let key = crate::resources::route_table::PRIVATE;
        id_of(
            &self.obs.route_tables,
            &self.plan.name,
            Kind::RouteTable,
            key,
        )
    }
}

fn vpc(plan: &Plan, obs: &Observed) -> ObservedVpc {
    let mut v = obs.vpc_of(plan).cloned().unwrap_or_else(|| ObservedVpc {
        id: Address::new(Kind::Vpc, crate::resources::vpc::KEY).to_string(),
        cidr: String::new(),
        cidrs: Vec::new(),
        dns_support: false,
        dns_hostnames: false,
        tags: Tags::new(),
        tenancy: None,
    });
    match &plan.vpc {
        VpcSpec::Owned { cidr } => {
            v.cidr = cidr.to_string();
            (v.dns_support, v.dns_hostnames) = (true, true);
        }
        VpcSpec::Adopted { manage_dns, .. } if *manage_dns && plan.needs_private_dns() => {
            (v.dns_support, v.dns_hostnames) = (true, true);
        }
        VpcSpec::Adopted { .. } => {}
    }
    v
}

fn subnets(plan: &Plan, obs: &Observed, ids: &Ids, vpc: &str) -> Vec<ObservedSubnet> {
    let mut out: Vec<ObservedSubnet> = plan
        .subnets
        .iter()
        .map(|(k, s)| {
            let id = ids.subnet(&Ref::Key(k.clone()));
            let live = obs.subnets.iter().find(|o| o.id == id);
            ObservedSubnet {
                vpc_id: vpc.to_string(),
                availability_zone: s.availability_zone.clone(),
                availability_zone_id: s.zone_id.clone(),
                cidr: s.cidr.to_string(),
                tags: Tags::new(),
                available_ips: live.and_then(|o| o.available_ips),
                id,
            }
        })
        .collect();
    out.extend(obs.referenced_subnets.iter().cloned());
    out
}

fn route_tables(plan: &Plan, obs: &Observed, ids: &Ids, vpc: &str) -> Vec<ObservedRouteTable> {
    let mut out = obs.vpc_route_tables.clone();
    if plan.has_route_table() {
        let id = ids.route_table();
        out.retain(|t| t.id != id);
        out.push(ObservedRouteTable {
            associations: plan
                .subnets
                .keys()
                .map(|k| ObservedAssociation {
                    id: format!("{}.{k}", Kind::RouteTableAssociation.as_str()),
                    subnet_id: ids.subnet(&Ref::Key(k.clone())),
                })
                .collect(),
            routes: Vec::new(),
            tags: Tags::new(),
            main: false,
            vpc_id: vpc.to_string(),
            id,
        });
    }
    out
}

fn groups(plan: &Plan, ids: &Ids, v: &ObservedVpc) -> Vec<ObservedSecurityGroup> {
    let cidr = v.cidr.parse().ok();
    plan.security_groups
        .iter()
        .map(|(k, g)| ObservedSecurityGroup {
            id: ids.group_key(k),
            vpc_id: v.id.clone(),
            name: format!("{}-{k}", plan.name),
            description: g.description.clone(),
            rules: g
                .rules
                .iter()
                .filter_map(|r| {
                    let peer = match &r.peer {
                        Peer::Group(key) => Peer::ForeignGroup(ids.group_key(key)),
                        Peer::VpcCidr => Peer::Cidr(cidr?),
                        p => p.clone(),
                    };
                    Some(Rule { peer, ..r.clone() })
                })
                .collect(),
            tags: Tags::new(),
        })
        .collect()
}

fn endpoints(plan: &Plan, obs: &Observed, ids: &Ids, vpc: &str) -> Vec<ObservedEndpoint> {
    let blank = |kind: Kind, key: &str, service: &str, t: EndpointType| ObservedEndpoint {
        id: id_of(&obs.endpoints, &plan.name, kind, key),
        vpc_id: vpc.to_string(),
        endpoint_type: t,
        service_name: service.to_string(),
        state: "available".into(),
        subnet_ids: Vec::new(),
        security_group_ids: Vec::new(),
        route_table_ids: Vec::new(),
        private_dns: false,
        policy: None,
        tags: Tags::new(),
        dns_names: Vec::new(),
    };
    let mut out = Vec::new();
    for (k, g) in &plan.gateway_endpoints {
        let mut e = blank(
            Kind::GatewayEndpoint,
            k,
            &g.service_name,
            EndpointType::Gateway,
        );
        e.route_table_ids = plan
            .has_route_table()
            .then(|| ids.route_table())
            .into_iter()
            .collect();
        e.route_table_ids.extend(g.route_tables.iter().cloned());
        e.policy = g.policy.clone();
        out.push(e);
    }
    for (k, i) in &plan.interface_endpoints {
        let mut e = blank(
            Kind::InterfaceEndpoint,
            k,
            &i.service_name,
            EndpointType::Interface,
        );
        e.subnet_ids = i.subnets.iter().map(|r| ids.subnet(r)).collect();
        e.security_group_ids = i.security_groups.iter().map(|r| ids.group(r)).collect();
        e.private_dns = i.private_dns;
        e.policy = i.policy.clone();
        out.push(e);
    }
    out
}

fn domains(plan: &Plan, obs: &Observed, ids: &Ids) -> Vec<Domain> {
    let Some(s) = &plan.studio else {
        return Vec::new();
    };
    let key = crate::resources::studio_domain::KEY;
    vec![Domain {
        id: id_of(&obs.domains, &plan.name, Kind::StudioDomain, key),
        name: s.domain_name.clone(),
        vpc_only: true,
        subnet_ids: s.subnets.iter().map(|r| ids.subnet(r)).collect(),
        domain_groups: s.domain_groups.iter().map(|g| ids.group_key(g)).collect(),
        user_groups: s
            .user_profiles
            .values()
            .filter_map(|u| u.security_groups.first())
            .map(|g| ids.group_key(g))
            .collect(),
        users: s.user_profiles.len(),
    }]
}

/// The plan's resources after an apply, as a view.
pub fn view(plan: &Plan, obs: &Observed) -> View {
    let ids = Ids { plan, obs };
    let v = vpc(plan, obs);
    View {
        region: plan.region.clone(),
        subnets: subnets(plan, obs, &ids, &v.id),
        route_tables: route_tables(plan, obs, &ids, &v.id),
        security_groups: groups(plan, &ids, &v),
        endpoints: endpoints(plan, obs, &ids, &v.id),
        services: obs.services.clone(),
        domains: domains(plan, obs, &ids),
        projects: plan.studio.as_ref().map(|s| s.projects),
        vpc: v,
    }
}

/// The failing findings about the plan's own resources that nothing else refuses.
pub fn failing(plan: &Plan, obs: &Observed) -> Vec<Finding> {
    audit(&view(plan, obs))
        .findings
        .into_iter()
        .filter(|f| f.status == Status::Fail && !ENFORCED.contains(&f.rule))
        .filter(|f| !f.resources.is_empty())
        .collect()
}

/// [`failing`] as the warning lines `plan` prints.
pub fn warnings(plan: &Plan, obs: &Observed) -> Vec<String> {
    let (plan, _) = crate::changeset::placement::place_endpoints(plan, obs);
    failing(&plan, obs)
        .iter()
        .map(|f| {
            let t = f.rule.text();
            format!(
                "audit {}: {} ({}): {}. Fix: {} ({} {}, \"{}\"; `sagevpc audit` checks a whole VPC)",
                t.id,
                t.title,
                f.subject,
                f.detail,
                t.fix,
                t.seed.file(),
                t.seed.title(),
                t.section
            )
        })
        .collect()
}
