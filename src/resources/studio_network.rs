//! Studio's live network checks, before any write (validation has checked the plan
//! file alone): a VpcOnly domain's subnets must be private (seed 004: no route to an
//! internet gateway) and in the plan's VPC, the VPC of default tenancy, and the
//! subnets must have the free addresses the users, the new endpoints' interfaces and
//! the EFS mount targets need.

use crate::changeset::Cx;
use crate::model::{Address, Kind};
use crate::observe::{ObservedRouteTable, ObservedSubnet};
use crate::plan::{Ref, StudioSpec};

/// The route table `subnet` uses: its explicit association, else the VPC's main one.
fn table_of<'o>(tables: &'o [ObservedRouteTable], subnet: &str) -> Option<&'o ObservedRouteTable> {
    tables
        .iter()
        .find(|t| t.associations.iter().any(|a| a.subnet_id == subnet))
        .or_else(|| tables.iter().find(|t| t.main))
}

/// The Studio subnets as observed (owned ones by key, adopted ones by id); `None` for
/// an owned subnet not created yet.
fn studio_subnets<'o>(cx: &Cx<'o>, s: &StudioSpec) -> Vec<Option<&'o ObservedSubnet>> {
    s.subnets
        .iter()
        .map(|r| match r {
            Ref::Id(id) => cx.obs.referenced_subnets.iter().find(|o| &o.id == id),
            Ref::Key(k) => {
                let key = Address::new(Kind::Subnet, k).to_string();
                cx.obs.subnets.iter().find(|o| {
                    crate::observe::owned_key(&o.tags, &cx.plan.name) == Some(key.as_str())
                })
            }
        })
        .collect()
}

/// Adopted Studio subnets: they exist, lie in the plan's VPC, and route nowhere public.
fn adopted(cx: &mut Cx, s: &StudioSpec) {
    let vpc = cx.obs.vpc_of(cx.plan).map(|v| v.id.clone());
    for r in &s.subnets {
        let Ref::Id(id) = r else { continue };
        let Some(o) = cx.obs.referenced_subnets.iter().find(|o| &o.id == id) else {
            cx.problems.push(format!(
                "studio.subnets: subnet {id} does not exist in {} (or the credentials cannot see it)",
                cx.plan.region
            ));
            continue;
        };
        if vpc.as_deref().is_some_and(|v| v != o.vpc_id) {
            cx.problems.push(format!(
                "studio.subnets: subnet {id} is in {}, not in the plan's VPC: a domain's subnets are all in its VPC",
                o.vpc_id
            ));
            continue;
        }
        let Some(t) = table_of(&cx.obs.vpc_route_tables, id) else {
            continue;
        };
        if let Some(route) = t.routes.iter().find(|r| r.target.starts_with("igw-")) {
            cx.problems.push(format!(
                "studio.subnets: subnet {id} is public: its route table {} sends {} to internet gateway {}. A VpcOnly Studio domain needs private subnets (seed 004, \"Requirements to use VPC only mode\", 1): name private subnets, or let the plan make them",
                t.id, route.destination, route.target
            ));
        }
    }
}

/// The interfaces this changeset adds to `subnet`: one per planned interface endpoint
/// in it that does not exist yet.
fn new_endpoint_interfaces(cx: &Cx, subnet: &Ref) -> u64 {
    cx.plan
        .interface_endpoints
        .iter()
        .filter(|(_, e)| e.subnets.contains(subnet))
        .filter(|(k, _)| {
            let key = Address::new(Kind::InterfaceEndpoint, k.as_str()).to_string();
            !cx.obs
                .endpoints
                .iter()
                .any(|o| crate::observe::owned_key(&o.tags, &cx.plan.name) == Some(key.as_str()))
        })
        .count() as u64
}

/// Free addresses of the existing Studio subnets against what a new domain needs.
fn capacity(cx: &mut Cx, s: &StudioSpec) {
    if cx.obs.domains.iter().any(|d| d.status != "Deleted") {
        return; // its mount targets are in place; users come and go within the plan
    }
    let observed = studio_subnets(cx, s);
    if observed
        .iter()
        .any(|o| o.is_none_or(|o| o.available_ips.is_none()))
    {
        return; // a new subnet: validation checked its size
    }
    let free: u64 = observed
        .iter()
        .flatten()
        .map(|o| u64::from(o.available_ips.unwrap_or(0)))
        .sum();
    let users = s.user_profiles.len() as u64 * u64::from(s.ips_per_user);
    let endpoints: u64 = s
        .subnets
        .iter()
        .map(|r| new_endpoint_interfaces(cx, r))
        .sum();
    let mounts = s.subnets.len() as u64;
    let need = users + endpoints + mounts;
    if free < need {
        cx.problems.push(format!(
            "studio.subnets: the Studio subnets have {free} free addresses, and the domain needs {need}: {} users x {} addresses ({users}), {endpoints} new endpoint interfaces, {mounts} EFS mount targets (seed 004, \"Requirements to use VPC only mode\", 2). Add subnets, use larger ones, or lower ips_per_user",
            s.user_profiles.len(),
            s.ips_per_user
        ));
    }
}

/// Default tenancy: SageMaker refuses dedicated-tenancy VPCs for Studio.
fn tenancy(cx: &mut Cx) {
    if let Some(v) = cx.obs.vpc_of(cx.plan) {
        if v.tenancy.as_deref().is_some_and(|t| t != "default") {
            cx.problems.push(format!(
                "vpc.id: VPC {} has {} instance tenancy; a Studio domain needs a VPC of default tenancy (seed 004)",
                v.id,
                v.tenancy.as_deref().unwrap_or_default()
            ));
        }
    }
}

pub fn check(cx: &mut Cx) {
    let Some(s) = cx.plan.studio.as_ref() else {
        return;
    };
    adopted(cx, s);
    capacity(cx, s);
    tenancy(cx);
}
