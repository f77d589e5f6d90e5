//! Gateway and interface endpoints, and the policy files they name.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use serde_json::Value;

use super::{is_aws_id, Ctx};
use crate::model::{Direction, Protocol};
use crate::plan::file::{RawGatewayEndpoint, RawInterfaceEndpoints, RawPlan, S};
use crate::plan::services::{
    nearest, parse_service, service_name, GATEWAY_SERVICES, INTERFACE_SERVICES,
};
use crate::plan::{GatewayEndpointSpec, InterfaceEndpointSpec, Ref, SecurityGroupSpec, SubnetSpec};

/// `[gateway_endpoints.<service>]`: on the plan's route table.
pub(super) fn gateways(
    ctx: &mut Ctx,
    raw: &RawPlan,
    region: &str,
    subnets: &BTreeMap<String, SubnetSpec>,
) -> BTreeMap<String, GatewayEndpointSpec> {
    let mut gateway_endpoints = BTreeMap::new();
    for (key, gw) in &raw.gateway_endpoints {
        let field = format!("gateway_endpoints.{}", key.get_ref());
        if !GATEWAY_SERVICES.contains(&key.get_ref().as_str()) {
            ctx.err(
                key.span(),
                &field,
                format!(
                    "unknown gateway endpoint service {:?}; gateway endpoints exist for: {}",
                    key.get_ref(),
                    GATEWAY_SERVICES.join(", ")
                ),
            );
            continue;
        }
        if let Some(spec) = check_gateway(ctx, &field, key.get_ref(), gw.get_ref(), region) {
            gateway_endpoints.insert(key.get_ref().clone(), spec);
        }
    }
    if let Some((k, _)) = gateway_endpoints
        .iter()
        .find(|(_, g)| g.route_tables.is_empty() && subnets.is_empty())
    {
        let k = raw
            .gateway_endpoints
            .keys()
            .find(|r| r.get_ref() == k)
            .expect("validated");
        ctx.err(
            k.span(),
            format!("gateway_endpoints.{}", k.get_ref()),
            "a gateway endpoint is attached to the plan's route table, which exists only when the plan has subnets (or name existing ones with route_tables = [\"rtb-...\"])",
        );
    }
    gateway_endpoints
}

/// AWS's limit on an endpoint policy document (sent without whitespace).
const MAX_POLICY_CHARS: usize = 20_480;

/// Read a policy file: a regular file (never a device or FIFO, which could block or
/// never end), read no further than 1 MiB.
fn read_policy_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    const MAX_BYTES: u64 = 1 << 20;
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(Error::new(ErrorKind::InvalidData, "larger than 1 MiB"));
    }
    Ok(text)
}

pub(super) fn load_policy(ctx: &mut Ctx, field: &str, path: &S<String>) -> Option<Value> {
    let base = ctx.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let full = base.join(path.get_ref());
    let found = match ctx.given.get(path.get_ref()) {
        Some(t) => Ok(t.clone()),
        None => read_policy_file(&full),
    };
    let text = match found {
        Ok(t) => {
            ctx.read.insert(path.get_ref().clone(), t.clone());
            t
        }
        Err(e) => {
            ctx.err(
                path.span(),
                field,
                format!("cannot read policy file {}: {e}", full.display()),
            );
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v)
            if v.get("Statement").is_some() && v.to_string().chars().count() > MAX_POLICY_CHARS =>
        {
            ctx.err(
                path.span(),
                field,
                format!(
                    "policy file {} is {} characters without whitespace; AWS allows at most {MAX_POLICY_CHARS} for an endpoint policy",
                    full.display(),
                    v.to_string().chars().count()
                ),
            );
            None
        }
        Ok(v) if v.get("Statement").is_some() => Some(v),
        Ok(_) => {
            ctx.err(
                path.span(),
                field,
                format!("policy file {} has no \"Statement\"", full.display()),
            );
            None
        }
        Err(e) => {
            ctx.err(
                path.span(),
                field,
                format!(
                    "policy file {} is not valid JSON: {e} (at {}:{}:{})",
                    full.display(),
                    full.display(),
                    e.line(),
                    e.column()
                ),
            );
            None
        }
    }
}

fn check_gateway(
    ctx: &mut Ctx,
    field: &str,
    key: &str,
    gw: &RawGatewayEndpoint,
    region: &str,
) -> Option<GatewayEndpointSpec> {
    let policy = match &gw.policy {
        None => None,
        Some(p) => Some(load_policy(ctx, &format!("{field}.policy"), p)?),
    };
    let mut route_tables = Vec::new();
    for (i, rt) in gw.route_tables.iter().enumerate() {
        let named = ctx.existing.route_tables.get(rt.get_ref()).cloned();
        if let Some(id) =
            named.or_else(|| is_aws_id(rt.get_ref(), "rtb-").then(|| rt.get_ref().clone()))
        {
            if !route_tables.contains(&id) {
                route_tables.push(id);
            }
        } else {
            ctx.err(
                rt.span(),
                format!("{field}.route_tables[{i}]"),
                format!("{:?} is neither a key of [route_tables] nor a route table id (rtb- followed by 8 or 17 hex digits); the plan's own route table is always included", rt.get_ref()),
            );
            return None;
        }
    }
    Some(GatewayEndpointSpec {
        service_name: service_name(region, key),
        policy,
        route_tables,
    })
}

/// `[interface_endpoints]`: one endpoint per service, all in the same subnets and groups.
pub(super) fn interfaces(
    ctx: &mut Ctx,
    raw: &RawPlan,
    region: &str,
    (subnets, sgs, sg_keys): (
        &BTreeMap<String, SubnetSpec>,
        &BTreeMap<String, SecurityGroupSpec>,
        &BTreeSet<String>,
    ),
    gateway_endpoints: &BTreeMap<String, GatewayEndpointSpec>,
) -> BTreeMap<String, InterfaceEndpointSpec> {
    let Some(ie) = &raw.interface_endpoints else {
        return BTreeMap::new();
    };
    let subnet_keys: BTreeSet<String> = raw.subnets.keys().map(|k| k.get_ref().clone()).collect();
    let before = ctx.diags.len();
    let services = services(ctx, ie.get_ref());
    let subnet_refs = subnet_refs(ctx, ie.get_ref(), subnets, &subnet_keys);
    let sg_refs = group_refs(ctx, ie.get_ref(), sgs, sg_keys);
    https_reachable(ctx, ie.span(), &sg_refs, sgs);
    let ie = ie.get_ref();
    let policy = ie
        .policy
        .as_ref()
        .and_then(|p| load_policy(ctx, "interface_endpoints.policy", p));
    let mut per_service = super::access::endpoint_policies(ctx, ie, &services);
    if ctx.diags.len() > before {
        return BTreeMap::new();
    }
    if services.contains(&"s3".to_string())
        && !gateway_endpoints.contains_key("s3")
        && *ie.private_dns.get_ref()
    {
        // AWS requires the gateway endpoint first for S3 interface private DNS.
        let dns = &ie.private_dns;
        ctx.err(
            if dns.span() == (0..0) {
                ie.services.span()
            } else {
                dns.span()
            },
            "interface_endpoints.private_dns",
            "private DNS for an S3 interface endpoint needs an S3 gateway endpoint in the same VPC: add [gateway_endpoints.s3]",
        );
    }
    services
        .into_iter()
        .map(|s| {
            let (policy, intent) = per_service
                .remove(&s)
                .unwrap_or_else(|| (policy.clone(), None));
            let spec = InterfaceEndpointSpec {
                service_name: service_name(region, &s),
                subnets: subnet_refs.clone(),
                security_groups: sg_refs.clone(),
                private_dns: *ie.private_dns.get_ref(),
                policy,
                intent,
                skip_unsupported_azs: ie
                    .skip_unsupported_azs
                    .as_ref()
                    .is_some_and(|s| *s.get_ref()),
            };
            (s, spec)
        })
        .collect()
}

/// Known short names, each once; `studio` needs `sagemaker.api`.
fn services(ctx: &mut Ctx, ie: &RawInterfaceEndpoints) -> Vec<String> {
    let mut services = Vec::new();
    if ie.services.get_ref().is_empty() {
        ctx.err(
            ie.services.span(),
            "interface_endpoints.services",
            "list at least one service",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, s) in ie.services.get_ref().iter().enumerate() {
        let f = format!("interface_endpoints.services[{i}]");
        let v = s.get_ref();
        let short = match parse_service(&ctx.region, v) {
            Ok((short, _)) => short,
            Err(m) => {
                ctx.err(s.span(), f, m);
                continue;
            }
        };
        // A short name one or two letters off a known one is a typo; a name unlike
        // all of them is checked against the region's services at plan time.
        if !INTERFACE_SERVICES.contains(&short.as_str()) && short == *v {
            if let Some(k) = nearest(&short, INTERFACE_SERVICES.iter().copied()) {
                ctx.err(
                    s.span(),
                    f,
                    format!("unknown interface endpoint service {v:?} (did you mean {k:?}?); a service sagevpc does not know of can be given by its full name, com.amazonaws.{}.{v}", ctx.region),
                );
                continue;
            }
        }
        if !seen.insert(short.clone()) {
            ctx.err(s.span(), f, format!("service {short:?} listed twice"));
        } else {
            services.push(short);
        }
    }
    if seen.contains("studio") && !seen.contains("sagemaker.api") {
        ctx.err(
            ie.services.span(),
            "interface_endpoints.services",
            "the studio endpoint needs a sagemaker.api endpoint too: CreatePresignedDomainUrl goes through the SageMaker API endpoint",
        );
    }
    services
}

/// Plan subnet keys or existing subnet ids, one per AZ.
fn subnet_refs(
    ctx: &mut Ctx,
    ie: &RawInterfaceEndpoints,
    subnets: &BTreeMap<String, SubnetSpec>,
    subnet_keys: &BTreeSet<String>,
) -> BTreeSet<Ref> {
    let mut subnet_refs = BTreeSet::new();
    let mut az_of: BTreeMap<&str, &str> = BTreeMap::new();
    if ie.subnets.get_ref().is_empty() {
        ctx.err(
            ie.subnets.span(),
            "interface_endpoints.subnets",
            "list at least one subnet (one per availability zone)",
        );
    }
    for (i, s) in ie.subnets.get_ref().iter().enumerate() {
        let f = format!("interface_endpoints.subnets[{i}]");
        let v = s.get_ref();
        if let Some(id) = ctx.existing.subnets.get(v) {
            if !subnet_refs.insert(Ref::Id(id.clone())) {
                ctx.err(s.span(), f, format!("subnet {v:?} listed twice"));
            }
        } else if let Some(spec) = subnets.get(v) {
            if let Some(prev) = az_of.insert(spec.availability_zone.as_str(), v.as_str()) {
                ctx.err(
                    s.span(),
                    f,
                    format!(
                        "subnets {prev} and {v} are both in {}: an endpoint takes one subnet per availability zone (DuplicateSubnetsInSameZone)",
                        spec.availability_zone
                    ),
                );
                continue;
            }
            if !subnet_refs.insert(Ref::Key(v.clone())) {
                ctx.err(s.span(), f, format!("subnet {v:?} listed twice"));
            }
        } else if is_aws_id(v, "subnet-") {
            if !subnet_refs.insert(Ref::Id(v.clone())) {
                ctx.err(s.span(), f, format!("subnet {v:?} listed twice"));
            }
        } else if subnet_keys.contains(v) {
            // An invalid subnet of the plan: its own diagnostic says why.
        } else {
            let known: Vec<&str> = subnets.keys().map(String::as_str).collect();
            ctx.err(
                s.span(),
                f,
                format!(
                    "unknown subnet {v:?}; use a subnet of the plan ({}) or an existing subnet id (subnet-...)",
                    if known.is_empty() { "none defined".to_string() } else { known.join(", ") }
                ),
            );
            ctx.suggest(v, known);
        }
    }
    subnet_refs
}

/// Plan group keys or existing group ids.
fn group_refs(
    ctx: &mut Ctx,
    ie: &RawInterfaceEndpoints,
    sgs: &BTreeMap<String, SecurityGroupSpec>,
    sg_keys: &BTreeSet<String>,
) -> BTreeSet<Ref> {
    let mut sg_refs = BTreeSet::new();
    for (i, s) in ie.security_groups.iter().enumerate() {
        let f = format!("interface_endpoints.security_groups[{i}]");
        let v = s.get_ref();
        if let Some(id) = ctx.existing.security_groups.get(v) {
            sg_refs.insert(Ref::Id(id.clone()));
        } else if sgs.contains_key(v) {
            sg_refs.insert(Ref::Key(v.clone()));
        } else if is_aws_id(v, "sg-") {
            sg_refs.insert(Ref::Id(v.clone()));
        } else if sg_keys.contains(v) {
            // An invalid group of the plan: its own diagnostic says why.
        } else {
            let known: Vec<&str> = sgs.keys().map(String::as_str).collect();
            ctx.err(
                s.span(),
                f,
                format!(
                    "unknown security group reference {v:?}; use a group of the plan ({}) or an existing group id (sg-...)",
                    if known.is_empty() { "none defined".to_string() } else { known.join(", ") }
                ),
            );
            ctx.suggest(v, known);
        }
    }
    sg_refs
}

/// The endpoints' own groups must let HTTPS in, or nothing can reach the endpoints.
fn https_reachable(
    ctx: &mut Ctx,
    span: Range<usize>,
    sg_refs: &BTreeSet<Ref>,
    sgs: &BTreeMap<String, SecurityGroupSpec>,
) {
    // The endpoint's own groups must let HTTPS in, or nothing can reach the endpoint.
    let plan_groups: Vec<&SecurityGroupSpec> = sg_refs
        .iter()
        .filter_map(|r| match r {
            Ref::Key(k) => sgs.get(k),
            Ref::Id(_) => None,
        })
        .collect();
    if !plan_groups.is_empty()
        && plan_groups.len() == sg_refs.len()
        && !plan_groups.iter().any(|g| {
            g.rules.iter().any(|r| {
                r.direction == Direction::Ingress
                    && match (r.protocol, r.ports) {
                        (Protocol::All, _) => true,
                        (Protocol::Tcp, Some((a, b))) => a <= 443 && 443 <= b,
                        _ => false,
                    }
            })
        })
    {
        ctx.err(
            span.clone(),
            "interface_endpoints.security_groups",
            "no security group of the interface endpoints allows inbound HTTPS (tcp 443): clients could not reach the endpoints",
        );
    }
}
