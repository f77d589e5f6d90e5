//! The VPC, the subnets, and egress.

use std::collections::BTreeMap;
use std::ops::Range;

use ipnet::Ipv4Net;

use super::{is_aws_id, is_key_like, parse_v4_cidr, Ctx};
use crate::plan::file::{RawEgress, RawPlan, RawVpc, S};
use crate::plan::{EgressSpec, NatMode, SubnetSpec, VpcSpec};

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
        let s = sub.get_ref();
        if s.id.is_some() {
            continue;
        }
        let (Some(az), Some(cidr)) = (&s.availability_zone, &s.cidr) else {
            let missing = if s.availability_zone.is_none() {
                "availability_zone"
            } else {
                "cidr"
            };
            ctx.err(
                sub.span(),
                &field,
                format!("missing field `{missing}`: a subnet the plan creates needs availability_zone and cidr (or `id = \"subnet-...\"` to use one that exists)"),
            );
            ctx.help(format!("add `{missing} = ...` to [{field}]"));
            continue;
        };
        if let Some(spec) = check_subnet(ctx, &field, (az, cidr), region, vpc_cidr) {
            subnet_spans.push((key.get_ref().clone(), spec.cidr, cidr.span()));
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
    (az_s, cidr_s): (&S<String>, &S<String>),
    region: &str,
    vpc_cidr: Option<Ipv4Net>,
) -> Option<SubnetSpec> {
    let az = az_s.get_ref();
    // With an invalid region, its own error says it all.
    let az_ok = match crate::plan::zones::check(region, az) {
        _ if ctx.region.is_empty() => true,
        Ok(()) => true,
        Err(m) => {
            ctx.err(az_s.span(), format!("{field}.availability_zone"), m);
            false
        }
    };
    let cidr = match parse_v4_cidr(cidr_s.get_ref()) {
        Ok(n) => n,
        Err(m) => {
            ctx.err(cidr_s.span(), format!("{field}.cidr"), m);
            return None;
        }
    };
    if !(16..=28).contains(&cidr.prefix_len()) {
        ctx.err(
            cidr_s.span(),
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
                cidr_s.span(),
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
        zone_id: None,
        cidr,
    })
}

/// Every zone of a plan is written the same way, by name or by ID: names are mapped to
/// zones per account, so offline a name and an ID cannot be told apart or alike (the
/// per-AZ checks, one endpoint subnet and one NAT per AZ, need that).
pub(super) fn zone_style(ctx: &mut Ctx, raw: &RawPlan) {
    let public = raw
        .egress
        .as_ref()
        .map(|e| &e.get_ref().public_subnets)
        .into_iter()
        .flatten()
        .map(|(k, s)| (format!("egress.public_subnets.{}", k.get_ref()), s));
    let all: Vec<(String, &S<String>)> = raw
        .subnets
        .iter()
        .filter_map(|(k, s)| {
            Some((
                format!("subnets.{}", k.get_ref()),
                s.get_ref().availability_zone.as_ref()?,
            ))
        })
        .chain(public.map(|(f, s)| (f, &s.get_ref().availability_zone)))
        .collect();
    let Some((first_field, first)) = all.first() else {
        return;
    };
    let by_id = |az: &S<String>| crate::plan::zones::is_zone_id(az.get_ref());
    let style = |id: bool| if id { "by ID" } else { "by name" };
    for (field, az) in &all[1..] {
        if by_id(az) != by_id(first) {
            ctx.err(
                az.span(),
                format!("{field}.availability_zone"),
                format!(
                    "{:?} gives the zone {} but {first_field} gives it {} ({:?}): write every availability zone of the plan the same way (names are mapped to zones per account, IDs are the same in every account)",
                    az.get_ref(),
                    style(by_id(az)),
                    style(by_id(first)),
                    first.get_ref()
                ),
            );
        }
    }
}

/// `[egress]`: how the VPC reaches the internet. Public subnets are checked like the
/// private ones (valid, inside the VPC, no overlap with any subnet), and with NAT there
/// is exactly one in each AZ of the private subnets (a NAT gateway lives in one).
pub(super) fn egress(
    ctx: &mut Ctx,
    raw: &RawPlan,
    region: &str,
    vpc_cidr: Option<Ipv4Net>,
    private: &BTreeMap<String, SubnetSpec>,
) -> EgressSpec {
    let Some(raw_egress) = raw.egress.as_ref() else {
        return EgressSpec::default();
    };
    let e = raw_egress.get_ref();
    let parsed = match &e.nat {
        None => Some(NatMode::None),
        Some(n) => NatMode::parse(n.get_ref()).or_else(|| {
            ctx.err(
                n.span(),
                "egress.nat",
                format!(
                    "{:?} is not a NAT mode: \"none\", \"single\" or \"per_az\"",
                    n.get_ref()
                ),
            );
            ctx.suggest(n.get_ref(), NatMode::NAMES);
            None
        }),
    };
    // A mode that is not one: its own error says it all.
    let nat = parsed.unwrap_or(NatMode::None);
    let igw = e
        .internet_gateway
        .as_ref()
        .map(|b| (*b.get_ref(), b.span()));
    if let (Some((false, span)), NatMode::Single | NatMode::PerAz) = (&igw, nat) {
        ctx.err(
            span.clone(),
            "egress.internet_gateway",
            "a NAT gateway reaches the internet through the VPC's internet gateway: remove `internet_gateway = false`, or set nat = \"none\"",
        );
    }
    let public = public_subnets(ctx, raw, region, vpc_cidr, private);
    if let Some((key, _)) = e.public_subnets.iter().next() {
        if parsed == Some(NatMode::None) && !igw.as_ref().is_some_and(|(b, _)| *b) {
            ctx.err(
                key.span(),
                format!("egress.public_subnets.{}", key.get_ref()),
                "public subnets route to an internet gateway: set `internet_gateway = true` or a NAT mode (`nat = \"single\"` or `\"per_az\"`) under [egress]",
            );
        }
    }
    if nat != NatMode::None {
        nat_placement(ctx, raw_egress, private, &public);
    }
    EgressSpec {
        internet_gateway: igw.is_some_and(|(b, _)| b),
        nat,
        public_subnets: public,
    }
}

/// `[egress.public_subnets.<key>]`: like a private subnet, a key of its own, and at
/// most one per AZ.
fn public_subnets(
    ctx: &mut Ctx,
    raw: &RawPlan,
    region: &str,
    vpc_cidr: Option<Ipv4Net>,
    private: &BTreeMap<String, SubnetSpec>,
) -> BTreeMap<String, SubnetSpec> {
    let mut out: BTreeMap<String, SubnetSpec> = BTreeMap::new();
    let Some(e) = raw.egress.as_ref() else {
        return out;
    };
    for (key, sub) in &e.get_ref().public_subnets {
        let k = key.get_ref();
        let field = format!("egress.public_subnets.{k}");
        if !is_key_like(k) {
            ctx.err(
                key.span(),
                &field,
                "subnet names may contain only letters, digits, '-' and '_'",
            );
        }
        if private.contains_key(k) || raw.subnets.keys().any(|p| p.get_ref() == k) {
            ctx.err(
                key.span(),
                &field,
                format!("{k:?} is already the name of a private subnet ([subnets.{k}]): public and private subnets share one namespace (subnet.{k})"),
            );
            continue;
        }
        let raw_sub = sub.get_ref();
        let Some(spec) = check_subnet(
            ctx,
            &field,
            (&raw_sub.availability_zone, &raw_sub.cidr),
            region,
            vpc_cidr,
        ) else {
            continue;
        };
        let clash = private
            .iter()
            .map(|(o, s)| (format!("subnet {o}"), s))
            .chain(out.iter().map(|(o, s)| (format!("public subnet {o}"), s)))
            .find(|(_, s)| s.cidr.contains(&spec.cidr) || spec.cidr.contains(&s.cidr));
        if let Some((other, s)) = clash {
            ctx.err(
                raw_sub.cidr.span(),
                format!("{field}.cidr"),
                format!("{} overlaps {other} ({})", spec.cidr, s.cidr),
            );
            continue;
        }
        if let Some((o, _)) = out
            .iter()
            .find(|(_, s)| s.availability_zone == spec.availability_zone)
        {
            ctx.err(
                raw_sub.availability_zone.span(),
                format!("{field}.availability_zone"),
                format!(
                    "public subnet {o} is already in {}: one public subnet per AZ (the AZ's NAT gateway lives in it)",
                    spec.availability_zone
                ),
            );
            continue;
        }
        out.insert(k.clone(), spec);
    }
    out
}

/// With NAT: a public subnet in every AZ of the private subnets, and none elsewhere.
fn nat_placement(
    ctx: &mut Ctx,
    raw_egress: &S<RawEgress>,
    private: &BTreeMap<String, SubnetSpec>,
    public: &BTreeMap<String, SubnetSpec>,
) {
    let e = raw_egress.get_ref();
    let nat_span = e
        .nat
        .as_ref()
        .map_or_else(|| raw_egress.span(), |n| n.span());
    let mut azs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, s) in private {
        azs.entry(s.availability_zone.as_str()).or_default().push(k);
    }
    // A public subnet written for the AZ but refused (its own error says why) counts.
    let written: Vec<&str> = e
        .public_subnets
        .values()
        .map(|s| s.get_ref().availability_zone.get_ref().as_str())
        .chain(public.values().map(|p| p.availability_zone.as_str()))
        .collect();
    for (az, keys) in &azs {
        if !written.contains(az) {
            ctx.err(
                nat_span.clone(),
                "egress.nat",
                format!(
                    "private subnet{} {} in {az} need{} a public subnet in {az} for NAT: add [egress.public_subnets.public-{}] with availability_zone = \"{az}\" and a free cidr",
                    if keys.len() > 1 { "s" } else { "" },
                    keys.join(", "),
                    if keys.len() > 1 { "" } else { "s" },
                    az.chars().last().unwrap_or('a'),
                ),
            );
        }
    }
    for (key, sub) in &e.public_subnets {
        let az = sub.get_ref().availability_zone.get_ref();
        if public.contains_key(key.get_ref()) && !azs.contains_key(az.as_str()) {
            ctx.err(
                sub.get_ref().availability_zone.span(),
                format!("egress.public_subnets.{}.availability_zone", key.get_ref()),
                format!(
                    "no private subnet is in {az}: a public subnet (and NAT gateway) there serves nothing. Use an AZ of the private subnets ({})",
                    azs.keys().copied().collect::<Vec<_>>().join(", ")
                ),
            );
        }
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
