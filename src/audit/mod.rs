//! `sagevpc audit`: SageMaker's networking rules (the guides in `shared/seeds/`) as pure
//! functions over a [`View`] of one VPC. The view is built either from AWS reads of any
//! VPC (`aws::audit`, no ownership tags involved) or from a validated plan and its
//! observed state ([`from_plan`]: the plan's own resources as they will be after an
//! apply), so `audit` and `plan` run the same checks.
//!
//! One file per rule group; every finding's fixed text (title, why, fix, guide) is in
//! [`texts`], the per-case detail is written by the rule.

mod dns;
mod endpoints;
pub mod from_plan;
mod groups;
mod placement;
pub mod policy;
mod s3;
mod studio;
pub mod texts;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::{Direction, Peer, Protocol, Rule};
use crate::observe::{
    EndpointType, ObservedEndpoint, ObservedRouteTable, ObservedSecurityGroup, ObservedSubnet,
    ObservedVpc, ServiceInfo,
};
pub use texts::{RuleId, Seed};

/// One VPC as the rules see it. Ids are AWS ids, or for a plan's resources not created
/// yet their addresses (`subnet.private-a`).
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub region: String,
    pub vpc: ObservedVpc,
    pub subnets: Vec<ObservedSubnet>,
    pub route_tables: Vec<ObservedRouteTable>,
    /// Group rules name other groups as `Peer::ForeignGroup(id)` (or `SelfGroup`).
    pub security_groups: Vec<ObservedSecurityGroup>,
    /// Gateway and interface endpoints of the VPC (deleted ones left out).
    pub endpoints: Vec<ObservedEndpoint>,
    /// The endpoint services the VPC's endpoints use, with the AZs that offer them.
    pub services: Vec<ServiceInfo>,
    /// SageMaker Studio domains whose VPC this is.
    pub domains: Vec<Domain>,
    /// Whether SageMaker Projects is enabled (`None`: not known).
    pub projects: Option<bool>,
}

/// A Studio domain as the rules see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    /// `AppNetworkAccessType = VpcOnly`.
    pub vpc_only: bool,
    pub subnet_ids: Vec<String>,
    /// Domain-level groups: `DomainSettings.SecurityGroupIds` and the groups of the
    /// default user settings, which every app without its own carries.
    pub domain_groups: Vec<String>,
    /// Groups that user profiles carry on top (their own).
    pub user_groups: Vec<String>,
    /// How many user profiles the domain has.
    pub users: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
}

/// One rule applied to one subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub status: Status,
    /// What was checked: a service, a group, a domain, the VPC.
    pub subject: String,
    /// The resources involved (ids), what to look at.
    pub resources: Vec<String>,
    /// What was found, in this VPC's terms.
    pub detail: String,
}

impl Finding {
    fn new(rule: RuleId, status: Status, subject: impl Into<String>, detail: String) -> Self {
        Finding {
            rule,
            status,
            subject: subject.into(),
            resources: Vec::new(),
            detail,
        }
    }

    fn with(mut self, resources: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.resources.extend(resources.into_iter().map(Into::into));
        self
    }

    fn pass(rule: RuleId, subject: impl Into<String>, detail: String) -> Self {
        Finding::new(rule, Status::Pass, subject, detail)
    }

    fn fail(rule: RuleId, subject: impl Into<String>, detail: String) -> Self {
        Finding::new(rule, Status::Fail, subject, detail)
    }

    fn na(rule: RuleId, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding::new(rule, Status::NotApplicable, subject, detail.into())
    }

    fn check(rule: RuleId, ok: bool, subject: impl Into<String>, detail: String) -> Self {
        let status = if ok { Status::Pass } else { Status::Fail };
        Finding::new(rule, status, subject, detail)
    }
}

/// Who uses the endpoints: the domains' subnets and groups when the VPC has Studio
/// domains, else its private subnets and the groups no interface endpoint carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Clients {
    pub subnets: Vec<String>,
    pub groups: Vec<String>,
    /// Whether they are the Studio domains' (then Studio's rules apply to them).
    pub studio: bool,
}

/// The whole audit of one view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub vpc: String,
    pub region: String,
    pub clients: Clients,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, s: Status) -> usize {
        self.findings.iter().filter(|f| f.status == s).count()
    }

    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }
}

/// Every rule over `view`, in the order of [`texts::ALL`].
pub fn audit(view: &View) -> Report {
    let clients = clients(view);
    let mut findings = Vec::new();
    findings.extend(dns::check(view));
    findings.extend(endpoints::check(view, &clients));
    findings.extend(s3::check(view, &clients));
    findings.extend(groups::check(view, &clients));
    findings.extend(studio::check(view));
    findings.extend(placement::check(view));
    let order = |f: &Finding| texts::ALL.iter().position(|r| *r == f.rule);
    findings.sort_by_key(order);
    Report {
        vpc: view.vpc.id.clone(),
        region: view.region.clone(),
        clients,
        findings,
    }
}

/// The groups SageMaker makes for a domain's home EFS volume (not clients).
fn is_sagemaker_nfs_group(g: &ObservedSecurityGroup) -> bool {
    g.name.starts_with("security-group-for-inbound-nfs-")
        || g.name.starts_with("security-group-for-outbound-nfs-")
}

fn clients(view: &View) -> Clients {
    if !view.domains.is_empty() {
        let subnets: BTreeSet<&String> = view.domains.iter().flat_map(|d| &d.subnet_ids).collect();
        let groups: BTreeSet<&String> = view
            .domains
            .iter()
            .flat_map(|d| d.domain_groups.iter().chain(&d.user_groups))
            .collect();
        return Clients {
            subnets: subnets.into_iter().cloned().collect(),
            groups: groups.into_iter().cloned().collect(),
            studio: true,
        };
    }
    let endpoint_groups: BTreeSet<&String> = view
        .interface_endpoints()
        .flat_map(|e| &e.security_group_ids)
        .collect();
    Clients {
        subnets: view
            .subnets
            .iter()
            .filter(|s| view.internet_route(&s.id).is_none())
            .map(|s| s.id.clone())
            .collect(),
        groups: view
            .security_groups
            .iter()
            .filter(|g| !endpoint_groups.contains(&g.id) && !is_sagemaker_nfs_group(g))
            .map(|g| g.id.clone())
            .collect(),
        studio: false,
    }
}

impl View {
    pub fn interface_endpoints(&self) -> impl Iterator<Item = &ObservedEndpoint> {
        self.endpoints
            .iter()
            .filter(|e| e.endpoint_type == EndpointType::Interface)
    }

    pub fn subnet(&self, id: &str) -> Option<&ObservedSubnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    pub fn group(&self, id: &str) -> Option<&ObservedSecurityGroup> {
        self.security_groups.iter().find(|g| g.id == id)
    }

    /// The route table a subnet uses: its explicit association, else the main one.
    pub fn route_table_of(&self, subnet: &str) -> Option<&ObservedRouteTable> {
        self.route_tables
            .iter()
            .find(|t| t.associations.iter().any(|a| a.subnet_id == subnet))
            .or_else(|| self.route_tables.iter().find(|t| t.main))
    }

    /// The subnet's route to an internet gateway, as (route table, destination, igw).
    pub fn internet_route(&self, subnet: &str) -> Option<(String, String, String)> {
        let t = self.route_table_of(subnet)?;
        t.routes
            .iter()
            .find(|r| r.target.starts_with("igw-"))
            .map(|r| (t.id.clone(), r.destination.clone(), r.target.clone()))
    }

    /// The short name a plan gives an endpoint service (`sagemaker.api`, `studio`).
    pub fn short_name(&self, service_name: &str) -> String {
        crate::plan::services::short_name(&self.region, service_name)
    }
}

/// Whether `rule` admits traffic on TCP `port` (a single port or a range) as ingress
/// of the group with id `own` from the group `from`, or from a CIDR that holds every
/// one of `cidrs` (the peer's addresses).
fn admits(rule: &Rule, own: &str, from: &str, cidrs: &[ipnet::IpNet], ports: (i32, i32)) -> bool {
    rule.direction == Direction::Ingress
        && covers_tcp(rule, ports)
        && peer_is(rule, own, from, cidrs)
}

/// The rule's protocol and ports cover TCP `ports`.
fn covers_tcp(rule: &Rule, ports: (i32, i32)) -> bool {
    match (rule.protocol, rule.ports) {
        (Protocol::All, _) => true,
        (Protocol::Tcp, None) => true,
        (Protocol::Tcp, Some((a, b))) => a <= ports.0 && ports.1 <= b,
        _ => false,
    }
}

/// The rule's peer is the group `from` (or itself when `from` is `own`), or a CIDR
/// holding all of `cidrs` (never true for an empty list).
fn peer_is(rule: &Rule, own: &str, from: &str, cidrs: &[ipnet::IpNet]) -> bool {
    match &rule.peer {
        Peer::SelfGroup => own == from,
        Peer::ForeignGroup(g) | Peer::Group(g) => g == from,
        Peer::Cidr(net) => !cidrs.is_empty() && cidrs.iter().all(|c| net.contains(c)),
        Peer::PrefixList(_) | Peer::VpcCidr => false,
    }
}

/// `a, b and c`.
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
