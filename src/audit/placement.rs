//! Where endpoints are: their service offered in their subnets' AZs, one endpoint per
//! service.

use std::collections::BTreeMap;

use super::{list, Finding, RuleId, View};
use crate::observe::EndpointType;

pub fn check(v: &View) -> Vec<Finding> {
    let mut out = offered(v);
    out.extend(duplicates(v));
    out
}

fn offered(v: &View) -> Vec<Finding> {
    let rule = RuleId::ServiceOffered;
    let eps: Vec<_> = v.interface_endpoints().collect();
    if eps.is_empty() {
        return vec![Finding::na(
            rule,
            "interface endpoints",
            "no interface endpoint",
        )];
    }
    eps.into_iter()
        .map(|e| {
            let name = format!("{} ({})", e.id, v.short_name(&e.service_name));
            let Some(svc) = v.services.iter().find(|s| {
                s.service_name == e.service_name && s.endpoint_type == EndpointType::Interface
            }) else {
                return Finding::na(
                    rule,
                    name,
                    format!("the AZs of {} are not known", e.service_name),
                );
            };
            let lacking: Vec<String> = e
                .subnet_ids
                .iter()
                .filter_map(|s| v.subnet(s))
                .filter(|s| {
                    !svc.offered_in(&s.availability_zone, s.availability_zone_id.as_deref())
                })
                .map(|s| format!("{} ({})", s.id, s.availability_zone))
                .collect();
            let f = if lacking.is_empty() {
                Finding::pass(rule, name, "offered in every AZ of its subnets".to_string())
            } else {
                Finding::fail(
                    rule,
                    name,
                    format!(
                        "not offered in the AZ of {}; it is offered in {}",
                        list(&lacking),
                        list(&svc.availability_zones)
                    ),
                )
            };
            f.with([e.id.clone()]).with(e.subnet_ids.clone())
        })
        .collect()
}

fn duplicates(v: &View) -> Vec<Finding> {
    let rule = RuleId::DuplicateEndpoints;
    let mut by: BTreeMap<(String, u8), Vec<String>> = BTreeMap::new();
    for e in &v.endpoints {
        by.entry((e.service_name.clone(), e.endpoint_type as u8))
            .or_default()
            .push(e.id.clone());
    }
    if by.is_empty() {
        return vec![Finding::na(rule, "endpoints", "no endpoint")];
    }
    let dups: Vec<Finding> = by
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|((svc, _), ids)| {
            Finding::fail(
                rule,
                v.short_name(svc),
                format!("{} endpoints for {svc}: {}", ids.len(), list(ids)),
            )
            .with(ids.clone())
        })
        .collect();
    if dups.is_empty() {
        return vec![Finding::pass(
            rule,
            "endpoints",
            format!("{} endpoints, one per service", v.endpoints.len()),
        )];
    }
    dups
}
