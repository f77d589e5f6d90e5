//! `[studio_access]` and `[interface_endpoints.access.<service>]`: the policies sagevpc
//! builds from intents (seed 001, seed 000). Refused here, before any AWS call: an
//! access policy in SSO mode (the guide: "only supported in IAM mode"), CIDRs that are
//! empty or open to the internet, intents on the wrong endpoint, profiles the plan does
//! not have, and endpoint policies that would deny what the plan itself needs.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;
use serde_json::Value;

use super::endpoints::load_policy;
use super::studio::is_sagemaker_name;
use super::{parse_v4_cidr, Ctx};
use crate::plan::access::{
    allows, AllowFrom, EndpointIntent, Principal, PrincipalKind, StudioAccessSpec, ACCESS_ACTIONS,
    ACCESS_ENDPOINTS,
};
use crate::plan::file::{RawEndpointAccess, RawInterfaceEndpoints, RawPlan, RawStudioAccess, S};
use crate::plan::{AuthMode, InterfaceEndpointSpec, StudioSpec, VpcSpec};

/// One endpoint's policy as the plan states it: a file, or an intent.
pub(super) type EndpointPolicy = (Option<Value>, Option<EndpointIntent>);

/// The per-service tables, by short service name; each names a listed service.
pub(super) fn endpoint_policies(
    ctx: &mut Ctx,
    ie: &RawInterfaceEndpoints,
    services: &[String],
) -> BTreeMap<String, EndpointPolicy> {
    let mut out = BTreeMap::new();
    for (service, table) in &ie.access {
        let s = service.get_ref();
        let field = format!("interface_endpoints.access.{s}");
        if !services.contains(s) {
            ctx.err(
                service.span(),
                &field,
                format!("{s:?} is not one of interface_endpoints.services; list it there, or remove this table"),
            );
            ctx.suggest(s, services.iter().map(String::as_str));
            continue;
        }
        if let Some(p) = endpoint_policy(ctx, &field, s, table) {
            out.insert(s.clone(), p);
        }
    }
    out
}

fn endpoint_policy(
    ctx: &mut Ctx,
    field: &str,
    service: &str,
    table: &S<RawEndpointAccess>,
) -> Option<EndpointPolicy> {
    let t = table.get_ref();
    let names = |ctx: &mut Ctx, v: &Option<S<Vec<S<String>>>>, name: &str, only: &str| {
        let v = v.as_ref()?;
        let f = format!("{field}.{name}");
        if service != only {
            ctx.err(
                v.span(),
                &f,
                format!("{name} is for the {only} endpoint only"),
            );
            return None;
        }
        if v.get_ref().is_empty() {
            ctx.err(
                v.span(),
                &f,
                "list at least one name, or leave the field out",
            );
            return None;
        }
        let mut seen = BTreeSet::new();
        for (i, n) in v.get_ref().iter().enumerate() {
            if !is_sagemaker_name(n.get_ref()) {
                ctx.err(n.span(), format!("{f}[{i}]"), format!("{:?} is not a SageMaker name (1-63 letters, digits and '-', starting and ending with a letter or digit)", n.get_ref()));
            } else if !seen.insert(n.get_ref().to_ascii_lowercase()) {
                ctx.err(
                    n.span(),
                    format!("{f}[{i}]"),
                    format!(
                        "{:?} is listed twice (SageMaker names are case-insensitive)",
                        n.get_ref()
                    ),
                );
            }
        }
        Some(
            v.get_ref()
                .iter()
                .map(|n| n.get_ref().clone())
                .collect::<Vec<String>>(),
        )
    };
    let invoke = names(
        ctx,
        &t.invoke_endpoints,
        "invoke_endpoints",
        "sagemaker.runtime",
    );
    let profiles = names(
        ctx,
        &t.presigned_url_profiles,
        "presigned_url_profiles",
        "studio",
    );
    let same_account = t.same_account_only.as_ref().is_some_and(|b| *b.get_ref());
    let has_intent = invoke.is_some() || profiles.is_some() || same_account || service == "studio";
    if let Some(p) = &t.policy {
        if t.invoke_endpoints.is_some() || t.presigned_url_profiles.is_some() || same_account {
            ctx.err(p.span(), format!("{field}.policy"), "give either a policy file or what the endpoint allows (invoke_endpoints, presigned_url_profiles, same_account_only), not both");
            return None;
        }
        return load_policy(ctx, &format!("{field}.policy"), p).map(|v| (Some(v), None));
    }
    if !has_intent {
        ctx.err(table.span(), field, "say what the endpoint allows: policy = \"file.json\", or same_account_only = true (invoke_endpoints for sagemaker.runtime, presigned_url_profiles for studio)");
        return None;
    }
    let intent = EndpointIntent {
        invoke_endpoints: invoke.unwrap_or_default(),
        create_app: service == "studio",
        presigned_url_profiles: profiles.unwrap_or_default(),
        same_account_only: same_account,
    };
    Some((None, Some(intent)))
}

/// What the access checks need of the validated plan.
pub(super) struct Parts<'a> {
    pub vpc: Option<&'a VpcSpec>,
    pub interface_endpoints: &'a BTreeMap<String, InterfaceEndpointSpec>,
    pub studio: Option<&'a StudioSpec>,
}

/// `[studio_access]`, and the endpoint policies checked against the plan's needs.
pub(super) fn check(ctx: &mut Ctx, raw: &RawPlan, parts: &Parts) -> Option<StudioAccessSpec> {
    studio_intents(ctx, raw, parts);
    let st = raw.studio_access.as_ref()?;
    let a = st.get_ref();
    let before = ctx.diags.len();
    let Some(studio) = parts.studio else {
        ctx.err(
            st.span(),
            "studio_access",
            "[studio_access] restricts access to a Studio domain: add [studio]",
        );
        return None;
    };
    if studio.auth_mode == AuthMode::Sso {
        ctx.err(st.span(), "studio_access", "an IAM policy that limits where Studio is opened from works in IAM mode only (seed 001: \"not supported in SSO mode\"); set studio.auth_mode = \"iam\" or remove [studio_access]");
    }
    let allow_from = allow_from(ctx, a, parts.vpc);
    let principals = principals(ctx, st);
    if let Some(AllowFrom::Endpoints) = &allow_from {
        endpoints_carry_access(ctx, st, parts.interface_endpoints);
    }
    if ctx.diags.len() > before {
        return None;
    }
    Some(StudioAccessSpec {
        allow_from: allow_from?,
        principals,
    })
}

/// The studio endpoint's intent names the domain and its profiles; a studio endpoint
/// policy from a file must still allow `CreateApp` (seed 001).
fn studio_intents(ctx: &mut Ctx, raw: &RawPlan, parts: &Parts) {
    let Some(ie) = raw.interface_endpoints.as_ref() else {
        return;
    };
    let table = ie
        .get_ref()
        .access
        .iter()
        .find(|(k, _)| k.get_ref() == "studio");
    let Some(studio) = parts.studio else {
        if let Some((k, _)) = table {
            ctx.err(k.span(), "interface_endpoints.access.studio", "the studio endpoint's policy names the plan's Studio domain: add [studio], or give a policy file");
        }
        return;
    };
    if let Some((_, t)) = table {
        if let Some(p) = &t.get_ref().presigned_url_profiles {
            for (i, n) in p.get_ref().iter().enumerate() {
                if !studio.user_profiles.contains_key(n.get_ref()) {
                    let known: Vec<&str> =
                        studio.user_profiles.keys().map(String::as_str).collect();
                    ctx.err(
                        n.span(),
                        format!("interface_endpoints.access.studio.presigned_url_profiles[{i}]"),
                        format!(
                            "{:?} is not one of [studio.user_profiles] ({})",
                            n.get_ref(),
                            known.join(", ")
                        ),
                    );
                    ctx.suggest(n.get_ref(), known);
                }
            }
        }
    }
    let studio_service = crate::plan::services::service_name(&ctx.region, "studio");
    let file = parts
        .interface_endpoints
        .values()
        .find(|e| e.service_name == studio_service)
        .and_then(|e| e.policy.as_ref());
    if let Some(doc) = file {
        if !allows(doc, "sagemaker:CreateApp") {
            ctx.err(ie.span(), "interface_endpoints", "the studio endpoint's policy does not allow sagemaker:CreateApp: Studio's apps cannot start through it (seed 001). Allow it, or use [interface_endpoints.access.studio] to have sagevpc write the policy");
        }
    }
}

fn allow_from(ctx: &mut Ctx, a: &RawStudioAccess, vpc: Option<&VpcSpec>) -> Option<AllowFrom> {
    let v = &a.allow_from;
    let mode = v.get_ref().as_str();
    let cidr_mode = matches!(mode, "cidrs" | "vpc_cidrs");
    if !matches!(mode, "vpc" | "endpoints") && !cidr_mode {
        ctx.err(
            v.span(),
            "studio_access.allow_from",
            format!("{mode:?} is not one of \"vpc\", \"endpoints\", \"cidrs\", \"vpc_cidrs\""),
        );
        ctx.suggest(mode, ["vpc", "endpoints", "cidrs", "vpc_cidrs"]);
        return None;
    }
    let cidrs = match (&a.cidrs, cidr_mode) {
        (Some(c), false) => {
            ctx.err(
                c.span(),
                "studio_access.cidrs",
                format!("cidrs are for allow_from = \"cidrs\" or \"vpc_cidrs\", not {mode:?}"),
            );
            return None;
        }
        (None, true) => {
            ctx.err(
                v.span(),
                "studio_access.cidrs",
                format!("allow_from = {mode:?} needs cidrs = [\"a.b.c.d/n\", ...]"),
            );
            return None;
        }
        (None, false) => Vec::new(),
        (Some(c), true) => cidrs(ctx, c, mode, vpc)?,
    };
    Some(match mode {
        "vpc" => AllowFrom::Vpc,
        "endpoints" => AllowFrom::Endpoints,
        "cidrs" => AllowFrom::Cidrs(cidrs),
        _ => AllowFrom::VpcCidrs(cidrs),
    })
}

fn cidrs(
    ctx: &mut Ctx,
    c: &S<Vec<S<String>>>,
    mode: &str,
    vpc: Option<&VpcSpec>,
) -> Option<Vec<Ipv4Net>> {
    if c.get_ref().is_empty() {
        ctx.err(
            c.span(),
            "studio_access.cidrs",
            "an empty list would let no one in; list the ranges Studio is opened from",
        );
        return None;
    }
    let before = ctx.diags.len();
    let mut out = Vec::new();
    for (i, s) in c.get_ref().iter().enumerate() {
        let f = format!("studio_access.cidrs[{i}]");
        match parse_v4_cidr(s.get_ref()) {
            Err(m) => ctx.err(s.span(), f, m),
            Ok(n) if n.prefix_len() == 0 => ctx.err(
                s.span(),
                f,
                format!("{n} is every address: it would not restrict access at all"),
            ),
            Ok(n) => {
                if let (Some(VpcSpec::Owned { cidr }), "vpc_cidrs") = (vpc, mode) {
                    if !cidr.contains(&n) {
                        ctx.err(s.span(), &f, format!("{n} is not inside the VPC's {cidr}: aws:VpcSourceIp is an address in the VPC, so this range never matches"));
                    }
                }
                if out.contains(&n) {
                    ctx.err(s.span(), &f, format!("{n} is listed twice"));
                }
                out.push(n);
            }
        }
    }
    (ctx.diags.len() == before).then_some(out)
}

/// Existing roles, groups and users by name; at least one.
fn principals(ctx: &mut Ctx, st: &S<RawStudioAccess>) -> Vec<Principal> {
    let a = st.get_ref();
    let mut out = BTreeSet::new();
    let lists = [
        (
            PrincipalKind::Role,
            "attach_to_roles",
            &a.attach_to_roles,
            64,
        ),
        (
            PrincipalKind::Group,
            "attach_to_groups",
            &a.attach_to_groups,
            128,
        ),
        (
            PrincipalKind::User,
            "attach_to_users",
            &a.attach_to_users,
            64,
        ),
    ];
    for (kind, name, list, max) in lists {
        for (i, n) in list.iter().enumerate() {
            let f = format!("studio_access.{name}[{i}]");
            let v = n.get_ref();
            if v.starts_with("arn:") {
                ctx.err(
                    n.span(),
                    f,
                    format!("give the {}'s name, not its ARN", kind.as_str()),
                );
            } else if !is_iam_name(v, max) {
                ctx.err(
                    n.span(),
                    f,
                    format!(
                        "{v:?} is not an IAM {} name (1-{max} letters, digits and +=,.@_-)",
                        kind.as_str()
                    ),
                );
            } else if !out.insert(Principal {
                kind,
                name: v.clone(),
            }) {
                ctx.err(
                    n.span(),
                    f,
                    format!("{} {v:?} is listed twice", kind.as_str()),
                );
            }
        }
    }
    if out.is_empty()
        && a.attach_to_roles.is_empty()
        && a.attach_to_groups.is_empty()
        && a.attach_to_users.is_empty()
    {
        ctx.err(st.span(), "studio_access", "attach the policy to someone: attach_to_roles, attach_to_groups or attach_to_users (existing IAM principals, by name)");
    }
    out.into_iter().collect()
}

fn is_iam_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// `allow_from = "endpoints"` names the api and studio endpoints: the plan must have
/// both, and the API endpoint's policy must let the access calls through.
fn endpoints_carry_access(
    ctx: &mut Ctx,
    st: &S<RawStudioAccess>,
    eps: &BTreeMap<String, InterfaceEndpointSpec>,
) {
    for short in ACCESS_ENDPOINTS {
        let Some(e) = eps.get(*short) else {
            ctx.err(st.get_ref().allow_from.span(), "studio_access.allow_from", format!("allow_from = \"endpoints\" names the plan's {short} endpoint, and the plan has none: add {short:?} to interface_endpoints.services"));
            continue;
        };
        if *short != "sagemaker.api" {
            continue;
        }
        if let Some(doc) = &e.policy {
            for action in ACCESS_ACTIONS {
                if !allows(doc, action) {
                    ctx.err(st.get_ref().allow_from.span(), "studio_access.allow_from", format!("the sagemaker.api endpoint's policy does not allow {action}, which studio_access lets through that endpoint only: every presigned URL would be refused. Allow it in the endpoint's policy"));
                }
            }
        }
    }
}
