//! `[quotas]`, and the plan's own counts against the quotas' values (the plan's, else
//! AWS's defaults): more groups on an endpoint than a network interface takes, a group
//! with more inbound rules than a group holds, more endpoints or subnets than a VPC
//! holds. Nothing here asks AWS; what exists and Service Quotas' values are checked at
//! plan time (`changeset::quotas`).

use std::collections::BTreeMap;
use std::ops::Range;

use super::Ctx;
use crate::plan::file::{RawPlan, RawQuotas, S};
use crate::quotas::usage::{self, At, Existing, Parts};
use crate::quotas::{Limits, Quota, MAX_GROUPS_PER_INTERFACE};

fn fields(q: &RawQuotas) -> [(Quota, Option<&S<i64>>); 4] {
    [
        (
            Quota::InterfaceEndpointsPerVpc,
            q.interface_endpoints_per_vpc.as_ref(),
        ),
        (Quota::SubnetsPerVpc, q.subnets_per_vpc.as_ref()),
        (
            Quota::RulesPerSecurityGroup,
            q.rules_per_security_group.as_ref(),
        ),
        (
            Quota::SecurityGroupsPerNetworkInterface,
            q.security_groups_per_network_interface.as_ref(),
        ),
    ]
}

/// `[quotas]`: positive whole numbers.
pub(super) fn settings(ctx: &mut Ctx, raw: &RawPlan) -> BTreeMap<Quota, u32> {
    let mut out = BTreeMap::new();
    let Some(q) = &raw.quotas else { return out };
    for (quota, value) in fields(q.get_ref()) {
        let Some(v) = value else { continue };
        let field = format!("quotas.{}", quota.key());
        let n = *v.get_ref();
        if n < 1 || n > i64::from(u32::MAX) {
            ctx.err(
                v.span(),
                &field,
                format!("{n} is not a quota: give a positive whole number (AWS's default for {quota} is {})", quota.default_value()),
            );
        } else if quota == Quota::SecurityGroupsPerNetworkInterface
            && n > i64::from(MAX_GROUPS_PER_INTERFACE)
        {
            ctx.err(
                v.span(),
                &field,
                format!("AWS raises {quota} to at most {MAX_GROUPS_PER_INTERFACE}, not {n}"),
            );
        } else {
            out.insert(quota, n as u32);
        }
    }
    out
}

/// The plan's own counts against the plan's values and the defaults.
pub(super) fn check(ctx: &mut Ctx, raw: &RawPlan, parts: &Parts, settings: &BTreeMap<Quota, u32>) {
    let limits = Limits::offline(settings);
    for e in usage::excesses(parts, &limits, &Existing::default()) {
        let (span, field) = locate(raw, &e.at);
        ctx.err(span, field, e.message);
        if let (Some(q), Some(d)) = (e.quota, ctx.diags.last_mut()) {
            d.help = Some(format!(
                "raise {q} in Service Quotas, then give the new value as `{} = ...` under [quotas]",
                q.key()
            ));
        }
    }
}

/// The span and field an excess points at.
fn locate(raw: &RawPlan, at: &At) -> (Range<usize>, String) {
    let whole = || raw.name.span();
    match at {
        At::Quotas => (
            raw.quotas.as_ref().map_or_else(whole, |q| q.span()),
            "quotas".into(),
        ),
        At::Subnets => {
            let first = raw.subnets.keys().next().map(|k| k.span());
            (first.unwrap_or_else(whole), "subnets".into())
        }
        At::Endpoints => match &raw.interface_endpoints {
            Some(e) => (
                e.get_ref().services.span(),
                "interface_endpoints.services".into(),
            ),
            None => (whole(), "interface_endpoints".into()),
        },
        At::Endpoint(_) => match &raw.interface_endpoints {
            Some(e) => {
                let groups = &e.get_ref().security_groups;
                let span = groups.first().map_or_else(|| e.span(), |g| g.span());
                (span, "interface_endpoints.security_groups".into())
            }
            None => (whole(), "interface_endpoints".into()),
        },
        At::Group(key) => match raw.security_groups.iter().find(|(k, _)| k.get_ref() == key) {
            Some((k, _)) => (k.span(), format!("security_groups.{key}")),
            None => studio(raw),
        },
        At::StudioUser(name) => {
            let user = raw.studio.as_ref().and_then(|s| {
                s.get_ref()
                    .user_profiles
                    .keys()
                    .find(|k| k.get_ref() == name)
            });
            match user {
                Some(k) => (k.span(), format!("studio.user_profiles.{name}")),
                None => studio(raw),
            }
        }
    }
}

/// A group `[studio]` adds.
fn studio(raw: &RawPlan) -> (Range<usize>, String) {
    let span = raw
        .studio
        .as_ref()
        .map_or_else(|| raw.name.span(), |s| s.span());
    (span, "studio".into())
}
