//! Read live state and compute the changeset; the Studio domain check.

use std::time::Instant;

use super::Session;
use crate::aws::Aws;
use crate::changeset::{self, Changeset, Goal};
use crate::observe::{self, Observed};
use crate::plan::Plan;

/// Observe, then diff (or destroy).
pub(super) async fn read_and_diff(
    s: &mut Session<'_>,
    aws: &Aws,
    plan: &Plan,
    goal: Goal,
) -> Result<(Observed, Changeset), String> {
    let t0 = Instant::now();
    let mut obs = observe::observe(aws, plan)
        .await
        .map_err(|e| s.explain("reading live state", &e, &plan.region))?;
    s.time("read", t0);
    let t1 = Instant::now();
    let mut cs = changes(plan, &obs, goal)?;
    // Service Quotas is asked only when the change adds what a quota counts (never for
    // a no-op plan or a destroy); then the diff is made again with the values read.
    if !goal.is_destroy() && changeset::quotas::may_reach(&cs) {
        let t2 = Instant::now();
        obs.quotas = Some(crate::quotas::read(aws).await);
        s.time("quotas", t2);
        // On stderr: a caller without servicequotas:GetServiceQuota (or an emulator
        // without the service) sees why the defaults are used; the plan's output stays.
        for w in changeset::quotas::warnings(plan, &obs) {
            eprintln!("warning: {w}");
        }
        cs = changes(plan, &obs, goal)?;
    }
    if !goal.is_destroy() {
        // `sagevpc audit`'s rules over the plan's own resources as applied.
        cs.warnings
            .extend(crate::audit::from_plan::warnings(plan, &obs));
    }
    s.time("diff", t1);
    studio_check(s, aws, plan, &obs, &cs).await?;
    residents_check(s, aws, plan, &obs, &cs, goal).await?;
    Ok((obs, cs))
}

/// The changeset from a state already read.
pub(super) fn changes(plan: &Plan, obs: &Observed, goal: Goal) -> Result<Changeset, String> {
    changeset::changes_for(plan, obs, goal).map_err(|e| {
        format!(
            "error: plan {} cannot be applied as it is:\n{e}",
            plan.source.display()
        )
    })
}

/// Refuse a changeset that deletes a subnet, security group or VPC a SageMaker Studio
/// domain uses (see `Changeset::studio_domain_conflicts`). Domains are read only when
/// such a delete is planned, so a no-op or create-only plan makes no SageMaker call.
/// A caller that cannot read SageMaker (no permission, an emulator without it) is warned
/// and the plan goes ahead.
async fn studio_check(
    s: &mut Session<'_>,
    aws: &Aws,
    plan: &Plan,
    obs: &Observed,
    cs: &Changeset,
) -> Result<(), String> {
    let Some(vpc) = obs.vpc_of(plan).filter(|_| cs.deletes_network()) else {
        return Ok(());
    };
    let t0 = Instant::now();
    let result = aws.domains_in_vpc(&vpc.id).await;
    s.time("studio", t0);
    match result {
        Ok(domains) => {
            let problems = cs.studio_domain_conflicts(&domains);
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "error: plan {} cannot be applied as it is:\n{}\nNothing was changed.",
                    plan.source.display(),
                    problems.join("\n")
                ))
            }
        }
        Err(e) => {
            eprintln!(
                "warning: could not check whether a SageMaker Studio domain uses {} ({e}); the planned deletes of subnets, security groups or the VPC go ahead without that check",
                vpc.id
            );
            Ok(())
        }
    }
}

/// Refuse a changeset whose deletes AWS would refuse because of what the plan does not
/// own: anything in a VPC it deletes (another plan's subnets, hand-made groups, an
/// endpoint, a NAT gateway), network interfaces in subnets or groups it deletes. Read
/// only when such a delete is planned.
async fn residents_check(
    s: &mut Session<'_>,
    aws: &Aws,
    plan: &Plan,
    obs: &Observed,
    cs: &Changeset,
    goal: Goal,
) -> Result<(), String> {
    let Some(vpc) = obs.vpc_of(plan).filter(|_| cs.deletes_network()) else {
        return Ok(());
    };
    let t0 = Instant::now();
    let residents = aws
        .vpc_residents(&vpc.id, cs.deletes_vpc())
        .await
        .map_err(|e| s.explain("reading what else is in the VPC", &e, &plan.region))?;
    s.time("residents", t0);
    let b = cs.blocked_by(&plan.name, &residents);
    if b.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "error: plan {} cannot be {} as it is:",
        plan.source.display(),
        if goal.is_destroy() {
            "destroyed"
        } else {
            "applied"
        }
    );
    if !b.in_vpc.is_empty() {
        msg.push_str(&format!(
            "\nAWS would refuse to delete VPC {} (after everything else was gone) because of what the plan does not own in it:\n  {}",
            vpc.id,
            b.in_vpc.join("\n  ")
        ));
    }
    if !b.in_subnets_or_groups.is_empty() {
        msg.push_str(&format!(
            "\nAWS would refuse to delete the plan's subnets or security groups that these network interfaces use:\n  {}",
            b.in_subnets_or_groups.join("\n  ")
        ));
    }
    msg.push_str("\nNothing was changed. Remove them first (or destroy the plan that owns them)");
    if goal.is_destroy() && b.in_subnets_or_groups.is_empty() {
        msg.push_str(
            ", or run `sagevpc destroy --keep-vpc` to delete everything the plan owns but the VPC",
        );
    }
    msg.push('.');
    Err(msg)
}
