//! The VPC, the subnets, and egress.

use std::collections::BTreeMap;
use std::ops::Range;

use ipnet::Ipv4Net;

use super::{is_aws_id, is_key_like, parse_v4_cidr, Ctx};
use crate::plan::file::{RawPlan, RawSubnet, RawVpc, S};
use crate::plan::{EgressSpec, SubnetSpec, VpcSpec};

/// `[vpc]`: create one (`cidr`) or adopt one (`id`).
pub(super) fn vpc(ctx: &mut Ctx, raw_vpc: &S<RawVpc>) -> Option<VpcSpec> {
    let vpc_span = raw_vpc.span();
    let rv = raw_vpc.get_ref();
    match (&rv.cidr, &rv.id) {
        (Some(_), Some(id)) => {
            ctx.err(
                id.span(),
                "vpc.id",
                "give either `cidr` (create a VPC) or `id` (adopt one), not both",
            );
            None
        }
        (None, None) => {
            ctx.err(
                vpc_span,
                "vpc",
                "missing `cidr` (create a VPC) or `id` (adopt an existing one)",
            );
            None
        }
        (Some(cidr), None) => {
            if let Some(m) = &rv.manage_dns {
                ctx.err(
                    m.span(),
                    "vpc.manage_dns",
                    "`manage_dns` applies to an adopted VPC (`id`); an owned VPC always has DNS support and hostnames on",
                );
            }
            match parse_v4_cidr(cidr.get_ref()) {
                Ok(net) if !(16..=28).contains(&net.prefix_len()) => {
                    ctx.err(
                        cidr.span(),
                        "vpc.cidr",
                        format!(
                            "VPC CIDR {net} has prefix /{}; AWS allows /16 to /28",
                            net.prefix_len()
                        ),
                    );
                    None
                }
                Ok(net) => Some(VpcSpec::Owned { cidr: net }),
                Err(m) => {
                    ctx.err(cidr.span(), "vpc.cidr", m);
                    None
                }
            }
        }
        (None, Some(id)) => {
            let v = id.get_ref();
            if !is_aws_id(v, "vpc-") {
                ctx.err(
                    id.span(),
                    "vpc.id",
                    format!("{v:?} is not a VPC id (vpc- followed by 8 or 17 hex digits)"),
                );
                None
            } else {
                Some(VpcSpec::Adopted {
                    id: v.clone(),
                    manage_dns: rv.manage_dns.as_ref().is_some_and(|m| *m.get_ref()),
                })
            }
        }
    }
}

/// `[subnets.<key>]`: valid, inside the VPC, not overlapping each other.
pub(super) fn subnets(
    ctx: &mut Ctx,
    raw: &RawPlan,
    region: &str,
    vpc_cidr: Option<Ipv4Net>,
) -> BTreeMap<String, SubnetSpec> {
    let mut subnets: BTreeMap<String, SubnetSpec> = BTreeMap::new();
    let mut subnet_spans: Vec<(String, Ipv4Net, Range<usize>)> = Vec::new();
    for (key, sub) in &raw.subnets {
        let field = format!("subnets.{}", key.get_ref());
        if !is_key_like(key.get_ref()) {
            ctx.err(
                key.span(),
                &field,
                "subnet names may contain only letters, digits, '-' and '_'",
            );
        }
        if let Some(spec) = check_subnet(ctx, &field, sub.get_ref(), region, vpc_cidr) {
            subnet_spans.push((key.get_ref().clone(), spec.cidr, sub.get_ref().cidr.span()));
            subnets.insert(key.get_ref().clone(), spec);
        }
    }
    for i in 0..subnet_spans.len() {
        for j in (i + 1)..subnet_spans.len() {
            let (ka, a, _) = &subnet_spans[i];
            let (kb, b, span_b) = &subnet_spans[j];
            if a.contains(b) || b.contains(a) {
                ctx.err(
                    span_b.clone(),
                    format!("subnets.{kb}.cidr"),
                    format!("{b} overlaps subnet {ka} ({a})"),
                );
            }
        }
    }
    subnets
}

fn check_subnet(
    ctx: &mut Ctx,
    field: &str,
    sub: &RawSubnet,
    region: &str,
    vpc_cidr: Option<Ipv4Net>,
) -> Option<SubnetSpec> {
    let az = sub.availability_zone.get_ref();
    // With an invalid region, its own error says it all.
    let az_ok = ctx.region.is_empty()
        || (az.len() > region.len()
            && az.starts_with(region)
            && az[region.len()..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    if !az_ok {
        ctx.err(
            sub.availability_zone.span(),
            format!("{field}.availability_zone"),
            format!("{az:?} is not an availability zone of region {region} (e.g. {region}a)"),
        );
    }
    let cidr = match parse_v4_cidr(sub.cidr.get_ref()) {
        Ok(n) => n,
        Err(m) => {
            ctx.err(sub.cidr.span(), format!("{field}.cidr"), m);
            return None;
        }
    };
    if !(16..=28).contains(&cidr.prefix_len()) {
        ctx.err(
            sub.cidr.span(),
            format!("{field}.cidr"),
            format!(
                "subnet CIDR {cidr} has prefix /{}; AWS allows /16 to /28",
                cidr.prefix_len()
            ),
        );
        return None;
    }
    if let Some(v) = vpc_cidr {
        if !v.contains(&cidr) {
            ctx.err(
                sub.cidr.span(),
                format!("{field}.cidr"),
                format!("subnet CIDR {cidr} is outside the VPC CIDR {v}"),
            );
            return None;
        }
    }
    if !az_ok {
        return None;
    }
    Some(SubnetSpec {
        availability_zone: az.clone(),
        cidr,
    })
}

/// `[egress]`: how the VPC reaches the internet.
pub(super) fn egress(raw: &RawPlan) -> EgressSpec {
    EgressSpec {
        internet_gateway: raw
            .egress
            .as_ref()
            .and_then(|e| e.get_ref().internet_gateway.as_ref())
            .is_some_and(|b| *b.get_ref()),
    }
}

/// `[request_limits]`: `Action = "CAPACITY/REFILL_PER_SECOND"`.
pub(super) fn request_limits(
    ctx: &mut Ctx,
    raw: &RawPlan,
) -> BTreeMap<String, crate::aws::pacing::Rate> {
    let mut out = BTreeMap::new();
    for (action, rate) in &raw.request_limits {
        let field = format!("request_limits.{}", action.get_ref());
        if let Err(m) = crate::plan::check_action_name(action.get_ref()) {
            ctx.err(action.span(), &field, m);
            continue;
        }
        match rate.get_ref().parse() {
            Ok(r) => {
                out.insert(action.get_ref().clone(), r);
            }
            Err(m) => ctx.err(rate.span(), &field, m),
        }
    }
    out
}
