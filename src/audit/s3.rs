//! S3 through a VPC endpoint (seeds 002, 004) and its policy against the Amazon Linux
//! repository buckets (seed 002, plus Amazon Linux 2023's, which the guide misses).

use super::{list, policy, Clients, Finding, RuleId, View};
use crate::observe::{EndpointType, ObservedEndpoint};

fn s3_endpoints(v: &View) -> Vec<&ObservedEndpoint> {
    v.endpoints
        .iter()
        .filter(|e| v.short_name(&e.service_name) == "s3")
        .collect()
}

pub fn check(v: &View, c: &Clients) -> Vec<Finding> {
    let eps = s3_endpoints(v);
    let mut out = vec![endpoint(v, c, &eps)];
    if eps.is_empty() {
        out.push(Finding::na(RuleId::S3Repositories, "s3", "no S3 endpoint"));
    }
    for e in &eps {
        let allowed = policy::allowed_repositories(e.policy.as_ref(), &v.region);
        let f = if allowed.is_empty() {
            Finding::pass(
                RuleId::S3Repositories,
                &e.id,
                "its policy denies every Amazon Linux repository bucket".to_string(),
            )
        } else {
            let names: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            let whose = if e.policy.is_none() {
                "the default full-access policy"
            } else {
                "its policy"
            };
            Finding::fail(
                RuleId::S3Repositories,
                &e.id,
                format!("{whose} still allows the {} repositories", list(&names)),
            )
        };
        out.push(f.with([e.id.clone()]));
    }
    out
}

fn endpoint(v: &View, c: &Clients, eps: &[&ObservedEndpoint]) -> Finding {
    let rule = RuleId::S3Endpoint;
    let ids: Vec<String> = eps.iter().map(|e| e.id.clone()).collect();
    if eps.is_empty() {
        return Finding::fail(
            rule,
            "s3",
            "no S3 endpoint (gateway or interface) in the VPC".into(),
        )
        .with(c.subnets.clone());
    }
    if let Some(i) = eps
        .iter()
        .find(|e| e.endpoint_type == EndpointType::Interface)
    {
        return Finding::pass(rule, "s3", format!("interface endpoint {}", i.id)).with(ids);
    }
    if c.subnets.is_empty() {
        return Finding::pass(
            rule,
            "s3",
            format!("{} (no client subnets to check)", list(&ids)),
        )
        .with(ids);
    }
    let served = |subnet: &String| {
        v.route_table_of(subnet)
            .is_some_and(|t| eps.iter().any(|e| e.route_table_ids.contains(&t.id)))
    };
    let unserved: Vec<String> = c.subnets.iter().filter(|s| !served(s)).cloned().collect();
    if unserved.is_empty() {
        return Finding::pass(
            rule,
            "s3",
            format!(
                "gateway endpoint {} is on every client subnet's route table",
                list(&ids)
            ),
        )
        .with(ids);
    }
    let tables: Vec<String> = unserved
        .iter()
        .map(|s| match v.route_table_of(s) {
            Some(t) => format!("{s} (route table {})", t.id),
            None => format!("{s} (no route table)"),
        })
        .collect();
    Finding::fail(
        rule,
        "s3",
        format!(
            "gateway endpoint {} is not on the route tables of {}",
            list(&ids),
            list(&tables)
        ),
    )
    .with(ids)
    .with(unserved)
}
