//! Studio domains in VpcOnly mode (seed 004): private subnets, 2-4 free addresses per
//! user, no domain-level group that admits itself while user profiles exist.

use super::{list, Domain, Finding, RuleId, View};
use crate::model::{Direction, Peer};

pub fn check(v: &View) -> Vec<Finding> {
    if v.domains.is_empty() {
        let why = "no SageMaker Studio domain in the VPC";
        return [
            RuleId::DomainPrivateSubnets,
            RuleId::DomainCapacity,
            RuleId::DomainSharedGroup,
        ]
        .into_iter()
        .map(|r| Finding::na(r, "domains", why))
        .collect();
    }
    let mut out = Vec::new();
    for d in &v.domains {
        out.push(private_subnets(v, d));
        out.push(capacity(v, d));
        out.push(shared_group(v, d));
    }
    out
}

fn subject(d: &Domain) -> String {
    format!("{} ({})", d.id, d.name)
}

fn private_subnets(v: &View, d: &Domain) -> Finding {
    let rule = RuleId::DomainPrivateSubnets;
    if !d.vpc_only {
        return Finding::na(
            rule,
            subject(d),
            "the domain is PublicInternetOnly, not VpcOnly",
        );
    }
    let public: Vec<String> = d
        .subnet_ids
        .iter()
        .filter_map(|s| {
            v.internet_route(s)
                .map(|(t, dest, igw)| format!("{s} (route table {t} sends {dest} to {igw})"))
        })
        .collect();
    let f = if public.is_empty() {
        Finding::pass(
            rule,
            subject(d),
            format!("{} route to no internet gateway", list(&d.subnet_ids)),
        )
    } else {
        Finding::fail(
            rule,
            subject(d),
            format!("public subnets: {}", list(&public)),
        )
    };
    f.with([d.id.clone()]).with(d.subnet_ids.clone())
}

fn capacity(v: &View, d: &Domain) -> Finding {
    let rule = RuleId::DomainCapacity;
    let free: Option<u64> = d
        .subnet_ids
        .iter()
        .map(|s| v.subnet(s).and_then(|s| s.available_ips).map(u64::from))
        .sum();
    let Some(free) = free else {
        return Finding::na(
            rule,
            subject(d),
            "the free addresses of its subnets are not known",
        );
    };
    let users = d.users as u64;
    let f = if free < users * 2 {
        Finding::fail(
            rule,
            subject(d),
            format!("{free} free addresses for {users} users: fewer than 2 per user (at least {} needed)", users * 2),
        )
    } else if free < users * 4 {
        Finding::pass(
            rule,
            subject(d),
            format!("{free} free addresses for {users} users: at least 2 per user, below the 4 the guide allows for ({} for 4)", users * 4),
        )
    } else {
        Finding::pass(
            rule,
            subject(d),
            format!("{free} free addresses for {users} users"),
        )
    };
    f.with([d.id.clone()]).with(d.subnet_ids.clone())
}

fn shared_group(v: &View, d: &Domain) -> Finding {
    let rule = RuleId::DomainSharedGroup;
    if d.users == 0 {
        return Finding::na(rule, subject(d), "the domain has no user profiles");
    }
    let admits_itself = |g: &String| {
        v.group(g).is_some_and(|grp| {
            grp.rules.iter().any(|r| {
                r.direction == Direction::Ingress
                    && match &r.peer {
                        Peer::SelfGroup => true,
                        Peer::ForeignGroup(p) | Peer::Group(p) => p == g,
                        _ => false,
                    }
            })
        })
    };
    let open: Vec<String> = d
        .domain_groups
        .iter()
        .filter(|g| admits_itself(g))
        .cloned()
        .collect();
    let f = if open.is_empty() {
        Finding::pass(
            rule,
            subject(d),
            format!("no domain-level group admits itself ({} users)", d.users),
        )
    } else {
        Finding::fail(
            rule,
            subject(d),
            format!(
                "domain-level group {} admits itself, and the domain has {} user profiles",
                list(&open),
                d.users
            ),
        )
        .with(open)
    };
    f.with([d.id.clone()])
}
