//! Security groups: the endpoints admit 443 from the clients (seed 004), the clients
//! admit themselves (seed 002: distributed jobs; seed 004: Studio's apps on
//! 8192-65535), Studio's clients reach EFS on 2049 (seed 004).

use super::{admits, covers_tcp, list, Clients, Finding, RuleId, View};
use crate::model::{Direction, Peer};

const HTTPS: (i32, i32) = (443, 443);
const STUDIO_APPS: (i32, i32) = (8192, 65535);
const ALL_TCP: (i32, i32) = (0, 65535);
const NFS: (i32, i32) = (2049, 2049);

pub fn check(v: &View, c: &Clients) -> Vec<Finding> {
    let mut out = endpoint_admits_clients(v, c);
    out.extend(admit_themselves(v, c));
    out.extend(reach_efs(v, c));
    out
}

/// The addresses clients send from: their subnets' CIDRs, else the VPC's.
fn client_cidrs(v: &View, c: &Clients) -> Vec<ipnet::IpNet> {
    let from_subnets: Vec<ipnet::IpNet> = c
        .subnets
        .iter()
        .filter_map(|s| v.subnet(s))
        .filter_map(|s| s.cidr.parse().ok())
        .collect();
    if !from_subnets.is_empty() {
        return from_subnets;
    }
    v.vpc.cidr.parse().into_iter().collect()
}

fn endpoint_admits_clients(v: &View, c: &Clients) -> Vec<Finding> {
    let rule = RuleId::EndpointAdmitsClients;
    let eps: Vec<_> = v.interface_endpoints().collect();
    if eps.is_empty() {
        return vec![Finding::na(
            rule,
            "interface endpoints",
            "no interface endpoint",
        )];
    }
    if c.groups.is_empty() {
        return vec![Finding::na(rule, "interface endpoints", "no client groups")];
    }
    let cidrs = client_cidrs(v, c);
    let mut out = Vec::new();
    for e in eps {
        let name = format!("{} ({})", e.id, v.short_name(&e.service_name));
        if e.security_group_ids.is_empty() {
            out.push(Finding::na(
                rule,
                name,
                "its groups are not known yet (the VPC's default group)",
            ));
            continue;
        }
        let admitted = |client: &String| {
            e.security_group_ids.iter().any(|g| {
                v.group(g).is_some_and(|grp| {
                    grp.rules
                        .iter()
                        .any(|r| admits(r, &grp.id, client, &cidrs, HTTPS))
                })
            })
        };
        let refused: Vec<String> = c.groups.iter().filter(|g| !admitted(g)).cloned().collect();
        let groups = list(&e.security_group_ids);
        let f = if refused.is_empty() {
            Finding::pass(
                rule,
                name,
                format!("{groups} admit 443 from {}", list(&c.groups)),
            )
        } else {
            Finding::fail(
                rule,
                name,
                format!("{groups} do not admit 443 from {}", list(&refused)),
            )
            .with(refused)
        };
        out.push(f.with(e.security_group_ids.clone()));
    }
    out
}

/// The groups that must admit themselves: Studio users' own groups, or every client
/// group of a VPC without domains (training and processing jobs).
fn admit_themselves(v: &View, c: &Clients) -> Vec<Finding> {
    let rule = RuleId::ClientsAdmitThemselves;
    let (subjects, ports, what): (Vec<String>, _, _) = if c.studio {
        let own: Vec<String> = v
            .domains
            .iter()
            .flat_map(|d| d.user_groups.clone())
            .collect();
        (own, STUDIO_APPS, "TCP 8192-65535")
    } else {
        (c.groups.clone(), ALL_TCP, "all TCP ports")
    };
    if subjects.is_empty() {
        let why = if c.studio {
            "no user profile has a group of its own (see domain.shared_group)"
        } else {
            "no client groups"
        };
        return vec![Finding::na(rule, "client groups", why)];
    }
    subjects
        .iter()
        .map(|g| {
            let ok = v
                .group(g)
                .is_some_and(|grp| grp.rules.iter().any(|r| admits(r, g, g, &[], ports)));
            let detail = if ok {
                format!("admits itself on {what}")
            } else {
                format!("does not admit itself on {what}")
            };
            Finding::check(rule, ok, g, detail).with([g.clone()])
        })
        .collect()
}

fn reach_efs(v: &View, c: &Clients) -> Vec<Finding> {
    let rule = RuleId::ClientsReachEfs;
    if !c.studio {
        return vec![Finding::na(
            rule,
            "client groups",
            "no Studio domain in the VPC (no EFS volume)",
        )];
    }
    if c.groups.is_empty() {
        return vec![Finding::na(rule, "client groups", "no client groups")];
    }
    c.groups
        .iter()
        .map(|g| {
            let ok = v.group(g).is_some_and(|grp| {
                grp.rules.iter().any(|r| {
                    r.direction == Direction::Egress
                        && covers_tcp(r, NFS)
                        && !matches!(r.peer, Peer::PrefixList(_))
                })
            });
            let detail = if ok {
                "its egress allows TCP 2049".to_string()
            } else {
                "its egress does not allow TCP 2049 (NFS)".to_string()
            };
            Finding::check(rule, ok, g, detail).with([g.clone()])
        })
        .collect()
}
