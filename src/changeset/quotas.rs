//! The quotas at plan time, before any write: the plan's counts with what already
//! exists in the VPC (endpoints and subnets the plan does not own, the rules of the groups
//! it names by id) against the values
//! in effect (Service Quotas', else the plan's `[quotas]`, else AWS's defaults; see
//! `crate::quotas`). Runs only when Service Quotas was asked (`plan`, `apply`).

use super::Cx;
use crate::observe::{owned_key, EndpointType};
use crate::quotas::usage::{self, Existing, Parts};
use crate::quotas::Limits;

pub(super) fn check(cx: &mut Cx) {
    let Some(read) = &cx.obs.quotas else {
        return;
    };
    let (limits, _) = Limits::live(&cx.plan.quotas, read);
    let existing = existing(cx);
    for e in usage::excesses(&Parts::of(cx.plan), &limits, &existing) {
        let fix = match e.quota {
            Some(q) => format!(
                "; raise {q} in Service Quotas (the plan's [quotas] {} only says what the account has), or plan fewer",
                q.key()
            ),
            None => String::new(),
        };
        cx.problems.push(format!("quotas: {}{fix}", e.message));
    }
}

/// What the VPC holds that the plan does not own, as read.
fn existing(cx: &Cx) -> Existing {
    let (plan, obs) = (cx.plan, cx.obs);
    Existing {
        vpc: obs.vpc_of(plan).map(|v| v.id.clone()),
        endpoints: obs
            .foreign_endpoints
            .iter()
            .filter(|e| e.endpoint_type == EndpointType::Interface)
            .map(|e| e.id.clone())
            .collect(),
        subnets: obs
            .vpc_subnets
            .iter()
            .filter(|s| owned_key(&s.tags, &plan.name).is_none())
            .map(|s| s.id.clone())
            .collect(),
        group_rules: obs
            .referenced_groups
            .iter()
            .map(|g| (g.id.clone(), g.rules.clone()))
            .collect(),
    }
}

/// Whether the change adds what a quota counts: an interface endpoint, a subnet, a
/// security group, a rule, a user profile (its apps' network interfaces), or changes
/// one of those. A no-op plan and a change of tags, policies or routes do not.
pub fn may_reach(cs: &super::Changeset) -> bool {
    use crate::model::Kind;
    cs.changes.iter().any(|c| {
        !matches!(c.action, super::Action::NoOp | super::Action::Delete)
            && matches!(
                c.address.kind,
                Kind::InterfaceEndpoint
                    | Kind::Subnet
                    | Kind::SecurityGroup
                    | Kind::SecurityGroupRule
                    | Kind::UserProfile
            )
    })
}

/// The warnings of reading the quotas: those that could not be read, and plan values
/// Service Quotas contradicts.
pub fn warnings(plan: &crate::plan::Plan, obs: &crate::observe::Observed) -> Vec<String> {
    match &obs.quotas {
        Some(read) => Limits::live(&plan.quotas, read).1,
        None => Vec::new(),
    }
}
