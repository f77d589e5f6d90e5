//! Read live state and compute the changeset; the Studio domain check.

use std::time::Instant;

use super::Session;
use crate::aws::Aws;
use crate::changeset::{self, Changeset};
use crate::observe::{self, Observed};
use crate::plan::Plan;

/// Observe, then diff (or destroy).
pub(super) async fn read_and_diff(
    s: &mut Session<'_>,
    aws: &Aws,
    plan: &Plan,
    destroy: bool,
) -> Result<(Observed, Changeset), String> {
    let t0 = Instant::now();
    let obs = observe::observe(aws, plan)
        .await
        .map_err(|e| s.explain("reading live state", &e, &plan.region))?;
    s.time("read", t0);
    let t1 = Instant::now();
    let cs = changes(plan, &obs, destroy)?;
    s.time("diff", t1);
    studio_check(s, aws, plan, &obs, &cs).await?;
    Ok((obs, cs))
}

/// The changeset from a state already read.
pub(super) fn changes(plan: &Plan, obs: &Observed, destroy: bool) -> Result<Changeset, String> {
    if destroy {
        changeset::destroy(plan, obs)
    } else {
        changeset::diff(plan, obs)
    }
    .map_err(|e| {
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
