//! Plan-time checks of what the plan names by id under keys of its own
//! (`plan::Existing`): each must exist, in the plan's VPC, and be what the plan says
//! (an endpoint of the service it is listed under). Nothing here is ever created,
//! tagged, changed or deleted: references to these keys are the ids themselves.

use crate::changeset::Cx;
use crate::observe::{owned_key, EndpointType};
use crate::plan::services::service_name;

pub(crate) fn check(cx: &mut Cx) {
    let Some(vpc) = cx.obs.vpc_of(cx.plan).map(|v| v.id.clone()) else {
        return; // the adopted VPC's own check says it is missing
    };
    subnets(cx, &vpc);
    groups(cx, &vpc);
    route_tables(cx, &vpc);
    endpoints(cx, &vpc);
}

/// The problem with an existing resource found (or not) in `vpc`.
fn placement(field: &str, what: &str, id: &str, found: Option<&str>, vpc: &str) -> Option<String> {
    match found {
        None => Some(format!(
            "{field}: {what} {id} does not exist (in this account and region)"
        )),
        Some(v) if v != vpc => Some(format!(
            "{field}: {what} {id} is in {v}, not in the plan's VPC {vpc}"
        )),
        Some(_) => None,
    }
}

fn subnets(cx: &mut Cx, vpc: &str) {
    for (key, id) in &cx.plan.existing.subnets {
        let found = cx.obs.referenced_subnets.iter().find(|s| &s.id == id);
        let field = format!("subnets.{key}");
        if let Some(p) = placement(&field, "subnet", id, found.map(|s| s.vpc_id.as_str()), vpc) {
            cx.problems.push(p);
        }
    }
}

fn groups(cx: &mut Cx, vpc: &str) {
    for (key, id) in &cx.plan.existing.security_groups {
        let found = cx.obs.referenced_groups.iter().find(|g| &g.id == id);
        let field = format!("security_groups.{key}");
        let p = placement(
            &field,
            "security group",
            id,
            found.map(|g| g.vpc_id.as_str()),
            vpc,
        );
        if let Some(p) = p {
            cx.problems.push(p);
        }
    }
}

fn route_tables(cx: &mut Cx, vpc: &str) {
    for (key, id) in &cx.plan.existing.route_tables {
        // The VPC's route tables are read: one elsewhere is simply not among them.
        let found = cx.obs.vpc_route_tables.iter().find(|r| &r.id == id);
        if found.is_none() {
            cx.problems.push(format!(
                "route_tables.{key}: route table {id} is not in the plan's VPC {vpc} (or does not exist)"
            ));
        }
    }
}

fn endpoints(cx: &mut Cx, vpc: &str) {
    for (short, id) in &cx.plan.existing.endpoints {
        let field = format!("existing_endpoints.{short}");
        let want = service_name(&cx.plan.region, short);
        if cx.obs.endpoints.iter().any(|e| &e.id == id) {
            cx.problems.push(format!(
                "{field}: {id} is this plan's own endpoint; list {short} under the plan's endpoints instead"
            ));
            continue;
        }
        let Some(e) = cx.obs.foreign_endpoints.iter().find(|e| &e.id == id) else {
            cx.problems.push(format!(
                "{field}: endpoint {id} is not in the plan's VPC {vpc} (or does not exist)"
            ));
            continue;
        };
        if e.service_name != want {
            cx.problems.push(format!(
                "{field}: endpoint {id} is for {}, not {want}",
                e.service_name
            ));
            continue;
        }
        if !matches!(
            e.state.to_ascii_lowercase().as_str(),
            "available" | "pending"
        ) {
            cx.warnings.push(format!(
                "{field}: endpoint {id} is {} (not available): clients cannot use it until it is",
                e.state
            ));
        }
        if e.endpoint_type == EndpointType::Interface && !e.private_dns {
            cx.warnings.push(format!(
                "{field}: endpoint {id} has private DNS off: SDKs in the VPC resolve {short}'s public name and do not reach it unless configured with its DNS name"
            ));
        }
        if let Some(p) = e
            .tags
            .get(crate::model::TAG_PLAN)
            .filter(|_| owned_key(&e.tags, &cx.plan.name).is_none())
        {
            cx.warnings.push(format!(
                "{field}: endpoint {id} belongs to sagevpc plan {p:?}: destroying that plan deletes it"
            ));
        }
    }
}
