//! `adopt`: find the existing resources that match the plan, show them and what the plan
//! would change in them, confirm, take the apply lock, check the matches still hold, and
//! tag them with the plan's ownership tags.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::apply::{confirm, take_lock};
use super::read::changes;
use super::Session;
use crate::aws::Aws;
use crate::changeset::adopt::{self, Adoption};
use crate::changeset::Goal;
use crate::cli::AdoptArgs;
use crate::execute::lock::lock_name;
use crate::execute::{self, CloudBackend, ExecOptions};
use crate::observe::unowned::{self, Unowned};
use crate::observe::{self, Observed};
use crate::plan::Plan;
use crate::render::{self, Progress};

pub(super) async fn adopt_cmd(s: &mut Session<'_>, args: &AdoptArgs) -> Result<u8, String> {
    let mut plan = s.load(&args.plan)?;
    let aws = s.connect(&mut plan).await?;
    let t0 = Instant::now();
    let obs = observe::observe(&aws, &plan)
        .await
        .map_err(|e| s.explain("reading live state", &e, &plan.region))?;
    let (found, adoption) = matches(s, &aws, &plan, &obs).await?;
    s.time("read", t0);
    print!("{}", render::adopt::adoption(&adoption));
    if adoption.is_empty() {
        return Ok(0);
    }
    let after = changes(&plan, &adoption.adopted(&plan, &obs, &found), Goal::Apply)
        .map_err(|e| format!("{e}\nNothing was tagged."))?;
    println!("\nOnce adopted, `sagevpc plan` shows how they differ from the plan:\n");
    print!(
        "{}",
        render::human::changeset_with(&after, &s.style(args.show_unchanged))
    );
    if !args.auto_approve {
        confirm(false).map_err(|e| e.replace("apply", "adopt").replace("Apply", "Adopt"))?;
    }
    println!("\nAcquiring apply lock {}...", lock_name(&plan.name));
    let (lock, now) = take_lock(s, &aws, &plan, (args.lock_ttl, args.lock_timeout)).await?;
    let still = match now {
        Ok(now) => matches(s, &aws, &plan, &now).await.map(|(_, a)| a),
        Err(e) => Err(s.explain("reading live state", &e, &plan.region)),
    };
    let outcome = match still {
        Ok(a) if a.takes == adoption.takes => Ok(tag(s, &aws, &plan, &adoption).await),
        Ok(_) => Err("error: AWS changed while this run waited for the apply lock; the approved adoption is no longer the right one. Nothing was tagged; run `sagevpc adopt` again.".to_string()),
        Err(e) => Err(e),
    };
    lock.release().await;
    outcome??;
    verify(&aws, &plan, &adoption).await
}

/// What exists that the plan could adopt, and which of it it takes.
async fn matches(
    s: &Session<'_>,
    aws: &Aws,
    plan: &Plan,
    obs: &Observed,
) -> Result<(Unowned, Adoption), String> {
    let found = unowned::read(aws, plan, obs)
        .await
        .map_err(|e| s.explain("reading the resources that exist", &e, &plan.region))?;
    let adoption = adopt::find(plan, obs, &found);
    Ok((found, adoption))
}

/// The tag writes, through the executor (the lock's fence, pacing, retries).
async fn tag(
    s: &mut Session<'_>,
    aws: &Aws,
    plan: &Plan,
    adoption: &Adoption,
) -> Result<(), String> {
    let cs = adoption.changeset(plan);
    let opts = ExecOptions::default();
    let backend = Arc::new(CloudBackend::new(
        Arc::new(aws.clone()),
        Duration::from_secs(60),
    ));
    println!();
    let t0 = Instant::now();
    let report = execute::execute(&cs, backend, &opts, &Progress::stdout()).await;
    s.time("execute", t0);
    if report.errors.is_empty() {
        return Ok(());
    }
    let mut msg = String::new();
    for e in &report.errors {
        msg.push_str(&format!("error: {e}\n"));
    }
    msg.push_str(&format!(
        "error: adopt stopped with {} of {} resources tagged; run it again to finish: it takes only what is still untagged",
        report.completed,
        cs.nodes.len()
    ));
    Err(msg)
}

/// Read back: every adopted resource is now found by the plan's tags.
async fn verify(aws: &Aws, plan: &Plan, adoption: &Adoption) -> Result<u8, String> {
    let now = observe::observe(aws, plan)
        .await
        .map_err(|e| format!("error: reading back what was tagged failed: {e}"))?;
    let left: Vec<String> = adoption
        .takes
        .iter()
        .filter(|t| !owned_now(&now, plan, &t.id))
        .map(|t| format!("{} ({})", t.address, t.id))
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "error: AWS did not keep the ownership tags of {} (read back after tagging)",
            left.join(", ")
        ));
    }
    println!(
        "\nAdopt complete! Resources: {} adopted. Run `sagevpc plan {}` to see what `apply` would change in them.",
        adoption.takes.len(),
        plan.source.display()
    );
    Ok(0)
}

fn owned_now(obs: &Observed, plan: &Plan, id: &str) -> bool {
    use crate::observe::owned_key;
    let vpc = obs.vpcs.iter().map(|v| (&v.id, &v.tags));
    let subnets = obs.subnets.iter().map(|v| (&v.id, &v.tags));
    let tables = obs.route_tables.iter().map(|v| (&v.id, &v.tags));
    let groups = obs.security_groups.iter().map(|v| (&v.id, &v.tags));
    let endpoints = obs.endpoints.iter().map(|v| (&v.id, &v.tags));
    vpc.chain(subnets)
        .chain(tables)
        .chain(groups)
        .chain(endpoints)
        .any(|(i, t)| i == id && owned_key(t, &plan.name).is_some())
}
