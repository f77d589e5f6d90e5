//! `sagevpc init`: a commented starter plan, from what a region offers. The choices are
//! pure functions of what was read (availability zones, endpoint services, the
//! region's VPC CIDRs), so they are tested without AWS.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;

use super::services::service_name;

/// The interface endpoints a starter plan asks for: what SageMaker Studio (VpcOnly),
/// training and processing need to run without internet access.
pub const INTERFACE_SERVICES: &[&str] = &[
    "sagemaker.api",
    "sagemaker.runtime",
    "studio",
    "sts",
    "logs",
];

/// How many private subnets (one per availability zone) a starter plan has.
pub const SUBNETS: usize = 3;

/// What a starter plan is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Starter {
    pub name: String,
    pub region: String,
    pub vpc_cidr: Ipv4Net,
    pub zones: Vec<String>,
}

/// The first `SUBNETS` zones (in name order) where every one of the starter's interface
/// services is offered. `zones`: the region's available zones; `offered`: each service's
/// full name and the zones that offer it. At least two zones are needed (SageMaker
/// Studio asks for subnets in two); an error names what is missing.
pub fn pick_zones(
    region: &str,
    zones: &[String],
    offered: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<String>, String> {
    let mut missing = Vec::new();
    let mut candidates: BTreeSet<&String> = zones.iter().collect();
    for short in INTERFACE_SERVICES {
        match offered.get(&service_name(region, short)) {
            Some(azs) => candidates.retain(|z| azs.contains(*z)),
            None => missing.push(*short),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "region {region} does not offer the endpoint service{} {} (see `sagevpc services --region {region}`)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    if candidates.len() < 2 {
        return Err(format!(
            "region {region} has {} availability zone{} offering all of {}; a SageMaker VPC needs subnets in at least two",
            candidates.len(),
            if candidates.len() == 1 { "" } else { "s" },
            INTERFACE_SERVICES.join(", ")
        ));
    }
    Ok(candidates.into_iter().take(SUBNETS).cloned().collect())
}

/// The first /16 of 10.0.0.0/8 (10.0, 10.1, ...) that overlaps none of `existing` (the
/// CIDR blocks of the region's VPCs), or `None` when all 256 are taken.
pub fn pick_cidr(existing: &[Ipv4Net]) -> Option<Ipv4Net> {
    let overlaps = |a: &Ipv4Net, b: &Ipv4Net| a.contains(&b.network()) || b.contains(&a.network());
    (0..=255u8)
        .map(|x| Ipv4Net::new([10, x, 0, 0].into(), 16).expect("a /16"))
        .find(|c| !existing.iter().any(|e| overlaps(c, e)))
}

/// The starter plan's text: the shipped studio plan's shape, every section commented.
pub fn render(s: &Starter) -> String {
    let subnets = s
        .vpc_cidr
        .subnets(20)
        .expect("a /16 splits into /20s")
        .zip(&s.zones)
        .enumerate()
        .map(|(i, (cidr, az))| {
            format!(
                "[subnets.private-{}]\navailability_zone = \"{az}\"\ncidr = \"{cidr}\"\n",
                (b'a' + i as u8) as char
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let keys = (0..s.zones.len())
        .map(|i| format!("\"private-{}\"", (b'a' + i as u8) as char))
        .collect::<Vec<_>>()
        .join(", ");
    let services = INTERFACE_SERVICES
        .iter()
        .map(|x| format!("\"{x}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# A SageMaker-ready private VPC: Studio (VpcOnly), training and processing jobs.
# Written by `sagevpc init`. Check it with `sagevpc validate`, see the changes with
# `sagevpc plan`, make them with `sagevpc apply`. Every field: docs/plan-reference.md.

# Every resource the plan creates is tagged sagevpc:plan = {name}; the name is how
# sagevpc finds them again, so keep it once applied.
name = "{name}"
region = "{region}"

# Extra tags on every owned resource (Name, sagevpc:* and aws:* are reserved).
# [tags]
# team = "ml-platform"

[vpc]
# A /16 of 10.0.0.0/8 that no VPC in {region} used when this file was written.
# Or adopt an existing VPC instead: id = "vpc-..." (sagevpc never deletes it).
cidr = "{vpc}"

# One private subnet per availability zone; each offers every endpoint below.
{subnets}
# Studio apps, training and processing containers talk to each other.
[security_groups.workloads]
description = "Studio apps, training and processing containers"
ingress = [{{ from = "self", protocol = "all" }}]

# The interface endpoints take HTTPS from the workloads only.
[security_groups.endpoints]
description = "Interface endpoints"
ingress = [{{ from = "workloads", protocol = "tcp", ports = "443" }}]

# S3 through the route table, free of charge.
[gateway_endpoints.s3]
# policy = "policies/s3.json"   # an endpoint policy document, relative to this file

# PrivateLink endpoints in every subnet; `sagevpc services` lists what the region has.
[interface_endpoints]
services = [{services}]
subnets = [{keys}]
security_groups = ["endpoints"]
private_dns = true

# Internet access for public subnets (never routed to from the private ones):
# [egress]
# internet_gateway = true
"#,
        name = s.name,
        region = s.region,
        vpc = s.vpc_cidr,
    )
}

#[cfg(test)]
mod tests;
