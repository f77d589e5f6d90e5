//! The interface endpoints SageMaker's clients need (seed 004), with private DNS
//! (seed 000), in every AZ where clients run (seed 000: runtime DNS fails otherwise).

use std::collections::BTreeSet;

use super::{list, Clients, Finding, RuleId, View};
use crate::observe::ObservedEndpoint;

/// The services to check: those a VpcOnly domain needs, and `servicecatalog` when
/// SageMaker Projects is enabled.
fn required(v: &View) -> Vec<(String, Option<&'static str>)> {
    let mut out: Vec<(String, Option<&'static str>)> = crate::plan::validate::REQUIRED
        .iter()
        .map(|(s, _)| (s.to_string(), None))
        .collect();
    out.push((
        "servicecatalog".to_string(),
        match v.projects {
            Some(true) => None,
            Some(false) => Some("SageMaker Projects is not enabled"),
            None => Some("whether SageMaker Projects is enabled is not known (no Studio domain, or SageMaker could not be asked)"),
        },
    ));
    out
}

pub fn check(v: &View, c: &Clients) -> Vec<Finding> {
    let mut out = Vec::new();
    for (short, not_needed) in required(v) {
        let found: Vec<&ObservedEndpoint> = v
            .interface_endpoints()
            .filter(|e| v.short_name(&e.service_name) == short)
            .collect();
        if let Some(why) = not_needed {
            for rule in [
                RuleId::EndpointPresent,
                RuleId::EndpointPrivateDns,
                RuleId::EndpointClientAzs,
            ] {
                out.push(Finding::na(rule, &short, why));
            }
            continue;
        }
        out.push(present(&short, &found));
        out.push(private_dns(&short, &found));
        out.push(client_azs(v, c, &short, &found));
    }
    out
}

fn ids(found: &[&ObservedEndpoint]) -> Vec<String> {
    found.iter().map(|e| e.id.clone()).collect()
}

fn present(short: &str, found: &[&ObservedEndpoint]) -> Finding {
    let rule = RuleId::EndpointPresent;
    if found.is_empty() {
        return Finding::fail(
            rule,
            short,
            format!("no interface endpoint for {short} in the VPC"),
        );
    }
    Finding::pass(
        rule,
        short,
        format!("{} ({})", list(&ids(found)), found[0].service_name),
    )
    .with(ids(found))
}

fn private_dns(short: &str, found: &[&ObservedEndpoint]) -> Finding {
    let rule = RuleId::EndpointPrivateDns;
    if found.is_empty() {
        return Finding::na(rule, short, "no endpoint");
    }
    let off: Vec<String> = found
        .iter()
        .filter(|e| !e.private_dns)
        .map(|e| e.id.clone())
        .collect();
    if found.len() > off.len() {
        let on: Vec<String> = found
            .iter()
            .filter(|e| e.private_dns)
            .map(|e| e.id.clone())
            .collect();
        return Finding::pass(rule, short, format!("on for {}", list(&on))).with(on);
    }
    Finding::fail(rule, short, format!("private DNS is off on {}", list(&off))).with(off)
}

/// The AZs of `subnets` (those the view knows).
fn zones<'v>(v: &'v View, subnets: &[String]) -> BTreeSet<&'v str> {
    subnets
        .iter()
        .filter_map(|s| v.subnet(s))
        .map(|s| s.availability_zone.as_str())
        .collect()
}

fn client_azs(v: &View, c: &Clients, short: &str, found: &[&ObservedEndpoint]) -> Finding {
    let rule = RuleId::EndpointClientAzs;
    let want = zones(v, &c.subnets);
    if found.is_empty() {
        return Finding::na(rule, short, "no endpoint");
    }
    if want.is_empty() {
        return Finding::na(rule, short, "no client subnets");
    }
    let subnets: Vec<String> = found.iter().flat_map(|e| e.subnet_ids.clone()).collect();
    let have = zones(v, &subnets);
    let missing: Vec<String> = want.difference(&have).map(|z| z.to_string()).collect();
    if missing.is_empty() {
        let zs: Vec<String> = want.iter().map(|z| z.to_string()).collect();
        return Finding::pass(rule, short, format!("in {}", list(&zs))).with(ids(found));
    }
    let clients: Vec<String> = c
        .subnets
        .iter()
        .filter(|s| {
            v.subnet(s)
                .is_some_and(|s| missing.contains(&s.availability_zone))
        })
        .cloned()
        .collect();
    Finding::fail(
        rule,
        short,
        format!(
            "{} has no subnet in {}, where client subnets {} are",
            list(&ids(found)),
            list(&missing),
            list(&clients)
        ),
    )
    .with(ids(found))
    .with(clients)
}
