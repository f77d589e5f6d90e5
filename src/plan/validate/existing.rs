//! Resources a plan names by `id` under a key of its own, to use but never own:
//! `[subnets.<key>] id`, `[security_groups.<key>] id`, `[route_tables.<key>] id` and
//! `[existing_endpoints] <service> = id`. Checked before everything else, so that the
//! other checks turn a reference to such a key into the id.

use std::collections::BTreeMap;

use super::{is_aws_id, is_key_like, Ctx};
use crate::plan::file::{RawPlan, RawPlanSubnet, RawSecurityGroup, S};
use crate::plan::services::{nearest, parse_service, INTERFACE_SERVICES};
use crate::plan::Existing;

/// Ids already named, by the field that named them.
type Seen = BTreeMap<String, String>;

pub(super) fn check(ctx: &mut Ctx, raw: &RawPlan, adopted_vpc: bool) -> Existing {
    let mut ex = Existing::default();
    let mut seen = Seen::new();
    for (key, sub) in &raw.subnets {
        let field = format!("subnets.{}", key.get_ref());
        if let Some(id) = subnet(ctx, &field, sub.get_ref(), adopted_vpc, &mut seen) {
            ex.subnets.insert(key.get_ref().clone(), id);
        }
    }
    for (key, sg) in &raw.security_groups {
        let field = format!("security_groups.{}", key.get_ref());
        if let Some(id) = group(ctx, &field, sg.get_ref(), adopted_vpc, &mut seen) {
            ex.security_groups.insert(key.get_ref().clone(), id);
        }
    }
    for (key, rt) in &raw.route_tables {
        let field = format!("route_tables.{}", key.get_ref());
        if !is_key_like(key.get_ref()) {
            ctx.err(
                key.span(),
                &field,
                "route table names may contain only letters, digits, '-' and '_'",
            );
        }
        let what = "a route table id (rtb- followed by 8 or 17 hex digits)";
        let id = &rt.get_ref().id;
        if let Some(id) = one(
            ctx,
            &format!("{field}.id"),
            id,
            ("rtb-", what),
            adopted_vpc,
            &mut seen,
        ) {
            ex.route_tables.insert(key.get_ref().clone(), id);
        }
    }
    ex.endpoints = endpoints(ctx, raw, adopted_vpc, &mut seen);
    ex
}

/// One id: its form, an adopted VPC to live in, and named once. An id refused only for
/// the VPC is still returned, so that references to its key stay quiet (one cause, one
/// error; the plan is refused anyway).
fn one(
    ctx: &mut Ctx,
    field: &str,
    id: &S<String>,
    (prefix, what): (&str, &str),
    adopted_vpc: bool,
    seen: &mut Seen,
) -> Option<String> {
    let v = id.get_ref();
    if !is_aws_id(v, prefix) {
        ctx.err(id.span(), field, format!("{v:?} is not {what}"));
        return None;
    }
    if !adopted_vpc {
        ctx.err(
            id.span(),
            field,
            format!("{v} exists already, but the plan creates its VPC, which holds only what the plan creates: name the VPC by id too ([vpc] id = \"vpc-...\") to use resources that exist"),
        );
        return Some(v.clone());
    }
    if let Some(prev) = seen.insert(v.clone(), field.to_string()) {
        ctx.err(id.span(), field, format!("{v} is named already by {prev}"));
        return None;
    }
    Some(v.clone())
}

fn subnet(
    ctx: &mut Ctx,
    field: &str,
    s: &RawPlanSubnet,
    adopted_vpc: bool,
    seen: &mut Seen,
) -> Option<String> {
    let id = s.id.as_ref()?;
    for (name, v) in [
        ("availability_zone", &s.availability_zone),
        ("cidr", &s.cidr),
    ] {
        if let Some(v) = v {
            ctx.err(
                v.span(),
                format!("{field}.{name}"),
                format!("a subnet named by id is used as it is: remove `{name}` (or remove `id` to create and own a subnet)"),
            );
        }
    }
    let what = "a subnet id (subnet- followed by 8 or 17 hex digits)";
    one(
        ctx,
        &format!("{field}.id"),
        id,
        ("subnet-", what),
        adopted_vpc,
        seen,
    )
}

fn group(
    ctx: &mut Ctx,
    field: &str,
    sg: &RawSecurityGroup,
    adopted_vpc: bool,
    seen: &mut Seen,
) -> Option<String> {
    let id = sg.id.as_ref()?;
    let why = "a group named by id is used as it is (sagevpc never changes its rules)";
    if let Some(d) = &sg.description {
        ctx.err(
            d.span(),
            format!("{field}.description"),
            format!("{why}: remove `description` (or remove `id` to create and own a group)"),
        );
    }
    if let Some(r) = sg.ingress.first() {
        ctx.err(
            r.span(),
            format!("{field}.ingress"),
            format!("{why}: remove `ingress`; other groups' rules may name this group"),
        );
    }
    if let Some(r) = sg.egress.as_ref().and_then(|e| e.first()) {
        ctx.err(
            r.span(),
            format!("{field}.egress"),
            format!("{why}: remove `egress`"),
        );
    }
    let what = "a security group id (sg- followed by 8 or 17 hex digits)";
    one(
        ctx,
        &format!("{field}.id"),
        id,
        ("sg-", what),
        adopted_vpc,
        seen,
    )
}

/// `[existing_endpoints]`: by short service name, each a service the plan does not
/// also create an endpoint for.
fn endpoints(
    ctx: &mut Ctx,
    raw: &RawPlan,
    adopted_vpc: bool,
    seen: &mut Seen,
) -> BTreeMap<String, String> {
    let created: Vec<String> = raw
        .interface_endpoints
        .iter()
        .flat_map(|ie| ie.get_ref().services.get_ref())
        .filter_map(|s| parse_service(&ctx.region, s.get_ref()).ok().map(|p| p.0))
        .chain(raw.gateway_endpoints.keys().map(|k| k.get_ref().clone()))
        .collect();
    let mut out = BTreeMap::new();
    for (service, id) in &raw.existing_endpoints {
        let field = format!("existing_endpoints.{}", service.get_ref());
        let short = match parse_service(&ctx.region, service.get_ref()) {
            Ok((short, _)) => short,
            Err(m) => {
                ctx.err(service.span(), &field, m);
                continue;
            }
        };
        let known = INTERFACE_SERVICES.iter().copied().chain(["s3", "dynamodb"]);
        if !INTERFACE_SERVICES.contains(&short.as_str())
            && !["s3", "dynamodb"].contains(&short.as_str())
        {
            if let Some(k) = nearest(&short, known) {
                ctx.err(
                    service.span(),
                    &field,
                    format!("unknown endpoint service {short:?} (did you mean {k:?}?)"),
                );
                continue;
            }
        }
        if created.contains(&short) {
            ctx.err(
                service.span(),
                &field,
                format!("the plan also creates an endpoint for {short}: use the existing one (remove it from interface_endpoints.services / [gateway_endpoints]) or this line"),
            );
            continue;
        }
        let what = "an endpoint id (vpce- followed by 8 or 17 hex digits)";
        if let Some(id) = one(ctx, &field, id, ("vpce-", what), adopted_vpc, seen) {
            out.insert(short, id);
        }
    }
    out
}
