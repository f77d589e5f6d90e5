//! What a plan counts against each quota, with what already exists: one count for
//! offline validation (nothing exists) and for the live check.
//!
//! AWS counts a rule per peer (each CIDR, group and prefix list; the plan's rules have
//! one peer each), inbound and outbound separately, and IPv4 and IPv6 separately: here
//! a rule is IPv6 when its peer is an IPv6 CIDR, IPv4 otherwise (group and prefix-list
//! peers count as IPv4), and an AWS-managed prefix list weighs 1 (S3's and DynamoDB's
//! weight). The network interfaces the plan makes are its interface endpoints' (each
//! carries the endpoint's groups, or the VPC's default group when it names none) and
//! its Studio users' apps' (the user's groups, the domain's, and the NFS group
//! SageMaker adds).

use std::collections::{BTreeMap, BTreeSet};

use super::{Limit, Limits, Quota, RULES_PER_INTERFACE};
use crate::model::{Direction, Peer, Rule};
use crate::plan::{InterfaceEndpointSpec, Plan, Ref, SecurityGroupSpec, StudioSpec};

/// The parts of a plan that count.
pub struct Parts<'a> {
    /// Every subnet the plan owns, by key (private and public).
    pub subnets: Vec<&'a str>,
    pub security_groups: &'a BTreeMap<String, SecurityGroupSpec>,
    pub interface_endpoints: &'a BTreeMap<String, InterfaceEndpointSpec>,
    pub studio: Option<&'a StudioSpec>,
}

impl<'a> Parts<'a> {
    pub fn of(plan: &'a Plan) -> Parts<'a> {
        Parts {
            subnets: plan.every_subnet().map(|(k, _)| k.as_str()).collect(),
            security_groups: &plan.security_groups,
            interface_endpoints: &plan.interface_endpoints,
            studio: plan.studio.as_ref(),
        }
    }
}

/// What exists in the VPC besides what the plan owns (nothing, offline).
#[derive(Debug, Default)]
pub struct Existing {
    pub vpc: Option<String>,
    /// Interface (and Gateway Load Balancer) endpoints the plan does not own.
    pub endpoints: Vec<String>,
    /// Subnets the plan does not own.
    pub subnets: Vec<String>,
    /// The rules of the groups the plan names by id (existing groups), as read: they
    /// count toward the rules on each network interface that carries them.
    pub group_rules: BTreeMap<String, Vec<Rule>>,
}

/// Where an excess is, for validation to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// The values in effect break the product rule.
    Quotas,
    Subnets,
    Endpoints,
    /// A group's rules (by plan key).
    Group(String),
    /// An interface endpoint's network interfaces (by key).
    Endpoint(String),
    /// A Studio user's apps' network interfaces (by profile name).
    StudioUser(String),
}

/// One quota the plan would pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Excess {
    pub at: At,
    /// The quota to raise (`None`: the 1,000 rules per interface AWS never raises).
    pub quota: Option<Quota>,
    pub message: String,
}

/// Every quota the plan, with what exists, would pass.
pub fn excesses(parts: &Parts, limits: &Limits, existing: &Existing) -> Vec<Excess> {
    let mut out = Vec::new();
    if let Some(message) = limits.product_rule() {
        out.push(Excess {
            at: At::Quotas,
            quota: None,
            message,
        });
    }
    endpoints_per_vpc(parts, limits, existing, &mut out);
    subnets_per_vpc(parts, limits, existing, &mut out);
    rules_per_group(parts, limits, &mut out);
    for nic in interfaces(parts) {
        per_interface(parts, limits, existing, &nic, &mut out);
    }
    out
}

/// `what: count, more than the N of quota Q (source); detail`.
fn over(limit: Limit, what: &str, count: usize, detail: &str) -> String {
    format!(
        "{what}: {count}, more than the {} of quota {} ({}); {detail}",
        limit.value,
        limit.quota,
        limit.source.as_str()
    )
}

/// A list of names, at most ten of them written out.
pub fn listed(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}

fn in_vpc(existing: &Existing) -> String {
    existing
        .vpc
        .as_ref()
        .map_or("the plan's VPC".to_string(), |v| format!("VPC {v}"))
}

fn mine_and_theirs(kind: &str, mine: &[String], theirs: &[String]) -> String {
    let own: Vec<String> = mine.iter().map(|k| format!("{kind}.{k}")).collect();
    let mut s = format!("the plan's {} ({})", own.len(), listed(&own));
    if !theirs.is_empty() {
        s.push_str(&format!(
            " and {} that exist ({})",
            theirs.len(),
            listed(theirs)
        ));
    }
    s
}

fn endpoints_per_vpc(parts: &Parts, limits: &Limits, existing: &Existing, out: &mut Vec<Excess>) {
    let limit = limits.get(Quota::InterfaceEndpointsPerVpc);
    let mine: Vec<String> = parts.interface_endpoints.keys().cloned().collect();
    let count = mine.len() + existing.endpoints.len();
    if mine.is_empty() || count <= limit.value as usize {
        return;
    }
    let what = format!("interface endpoints in {}", in_vpc(existing));
    let detail = mine_and_theirs("interface_endpoint", &mine, &existing.endpoints);
    out.push(Excess {
        at: At::Endpoints,
        quota: Some(limit.quota),
        message: over(limit, &what, count, &detail),
    });
}

fn subnets_per_vpc(parts: &Parts, limits: &Limits, existing: &Existing, out: &mut Vec<Excess>) {
    let limit = limits.get(Quota::SubnetsPerVpc);
    let mine: Vec<String> = parts.subnets.iter().map(|s| s.to_string()).collect();
    let count = mine.len() + existing.subnets.len();
    if mine.is_empty() || count <= limit.value as usize {
        return;
    }
    let what = format!("subnets in {}", in_vpc(existing));
    let detail = mine_and_theirs("subnet", &mine, &existing.subnets);
    out.push(Excess {
        at: At::Subnets,
        quota: Some(limit.quota),
        message: over(limit, &what, count, &detail),
    });
}

/// A group's rules of one direction and address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Bucket {
    direction: Direction,
    ipv6: bool,
}

impl Bucket {
    const ALL: [Bucket; 4] = [
        Bucket::new(Direction::Ingress, false),
        Bucket::new(Direction::Ingress, true),
        Bucket::new(Direction::Egress, false),
        Bucket::new(Direction::Egress, true),
    ];

    const fn new(direction: Direction, ipv6: bool) -> Bucket {
        Bucket { direction, ipv6 }
    }

    fn name(self) -> String {
        let dir = match self.direction {
            Direction::Ingress => "inbound",
            Direction::Egress => "outbound",
        };
        format!("{dir} {} rules", if self.ipv6 { "IPv6" } else { "IPv4" })
    }
}

fn count<'r>(rules: impl IntoIterator<Item = &'r Rule>, b: Bucket) -> usize {
    rules
        .into_iter()
        .filter(|r| r.direction == b.direction)
        .filter(|r| matches!(&r.peer, Peer::Cidr(ipnet::IpNet::V6(_))) == b.ipv6)
        .count()
}

fn rules_per_group(parts: &Parts, limits: &Limits, out: &mut Vec<Excess>) {
    let limit = limits.get(Quota::RulesPerSecurityGroup);
    for (key, g) in parts.security_groups {
        for b in Bucket::ALL {
            let n = count(&g.rules, b);
            if n > limit.value as usize {
                let what = format!("{} of security group {key}", b.name());
                let detail = "AWS counts one rule per peer (each CIDR, group and prefix list)";
                out.push(Excess {
                    at: At::Group(key.clone()),
                    quota: Some(limit.quota),
                    message: over(limit, &what, n, detail),
                });
            }
        }
    }
}

/// A network interface the plan makes, and the groups it carries.
struct Interface {
    at: At,
    /// `interface endpoint sts's network interfaces`.
    what: String,
    /// Plan groups by key.
    groups: BTreeSet<String>,
    /// Groups named by id (their rules count when they were read: `Existing::group_rules`),
    /// or described (`the VPC's default group`).
    others: Vec<String>,
}

fn interfaces(parts: &Parts) -> Vec<Interface> {
    let mut out = Vec::new();
    for (key, e) in parts.interface_endpoints {
        let (mut groups, mut others) = (BTreeSet::new(), Vec::new());
        for r in &e.security_groups {
            match r {
                Ref::Key(k) => drop(groups.insert(k.clone())),
                Ref::Id(id) => others.push(id.clone()),
            }
        }
        if e.security_groups.is_empty() {
            others.push("the VPC's default group".into());
        }
        out.push(Interface {
            at: At::Endpoint(key.clone()),
            what: format!("interface endpoint {key}'s network interfaces"),
            groups,
            others,
        });
    }
    let Some(st) = parts.studio else { return out };
    for (name, u) in &st.user_profiles {
        let groups = u.security_groups.iter().chain(&st.domain_groups).cloned();
        out.push(Interface {
            at: At::StudioUser(name.clone()),
            what: format!("Studio user {name}'s apps' network interfaces"),
            groups: groups.collect(),
            others: vec!["the NFS group SageMaker adds".into()],
        });
    }
    out
}

fn per_interface(
    parts: &Parts,
    limits: &Limits,
    existing: &Existing,
    nic: &Interface,
    out: &mut Vec<Excess>,
) {
    let limit = limits.get(Quota::SecurityGroupsPerNetworkInterface);
    let mut names: Vec<String> = nic
        .groups
        .iter()
        .map(|g| format!("security_group.{g}"))
        .collect();
    names.extend(nic.others.iter().cloned());
    if names.len() > limit.value as usize {
        let what = format!("security groups on {}", nic.what);
        out.push(Excess {
            at: nic.at.clone(),
            quota: Some(limit.quota),
            message: over(limit, &what, names.len(), &listed(&names)),
        });
    }
    for b in Bucket::ALL {
        let mine = nic
            .groups
            .iter()
            .filter_map(|g| Some((g.clone(), count(&parts.security_groups.get(g)?.rules, b))));
        let theirs = nic
            .others
            .iter()
            .filter_map(|id| Some((id.clone(), count(existing.group_rules.get(id)?, b))));
        let per: Vec<(String, usize)> = mine.chain(theirs).collect();
        let total: usize = per.iter().map(|(_, n)| n).sum();
        if total > RULES_PER_INTERFACE as usize {
            let each: Vec<String> = per.iter().map(|(g, n)| format!("{g} {n}")).collect();
            out.push(Excess {
                at: nic.at.clone(),
                quota: None,
                message: format!(
                    "{} over the groups of {}: {total}, more than the {RULES_PER_INTERFACE} AWS allows on one network interface ({}); move rules to fewer groups",
                    b.name(),
                    nic.what,
                    listed(&each)
                ),
            });
        }
    }
}
