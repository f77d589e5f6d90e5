//! `apply` (a plan file or a saved plan) and `destroy`: show the changes, confirm, take
//! the apply lock, check that the approved changes are still the ones to make, run them.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::interrupt::{Interrupt, INTERRUPTED};
use super::read::{changes, read_and_diff};
use super::Session;
use crate::aws::{Aws, AwsError};
use crate::changeset::saved::SavedPlan;
use crate::changeset::{Changeset, Goal};
use crate::cli::ApplyArgs;
use crate::execute::lock::{lock_name, PlanLock};
use crate::execute::{self, CloudBackend, ExecOptions, ExecReport};
use crate::observe::{self, Observed};
use crate::plan::Plan;
use crate::render::{self, Progress};

const STALE: &str = "error: saved plan is stale: the live state changed since the saved plan was made; run `sagevpc plan --out` again. Nothing was changed.";

pub(super) async fn apply_cmd(
    s: &mut Session<'_>,
    args: &ApplyArgs,
    goal: Goal,
) -> Result<u8, String> {
    let destroy = goal.is_destroy();
    let saved = SavedPlan::read(&args.plan).map_err(|e| format!("error: {e}"))?;
    if saved.is_some() && destroy {
        return Err("error: destroy takes a plan file, not a saved plan".into());
    }
    let mut plan = match &saved {
        Some(saved) => saved.plan()?,
        None => s.load(&args.plan)?,
    };
    let aws = s.connect(&mut plan).await?;
    let (obs, fresh) = read_and_diff(s, &aws, &plan, goal).await?;
    let is_saved = saved.is_some();
    let cs = match saved {
        None => fresh,
        Some(saved) if obs.fingerprint() != saved.observed_fingerprint => return Err(STALE.into()),
        Some(saved) => saved.changeset,
    };
    print!(
        "{}",
        render::human::changeset_with(&cs, &s.style(args.show_unchanged))
    );
    if cs.is_empty() {
        return Ok(0);
    }
    if !args.auto_approve {
        confirm(destroy)?;
    }
    // From here a Ctrl-C stops the run at a safe point (after the prompt: a blocking
    // read would not see it).
    let stop = Interrupt::listen();
    println!("\nAcquiring apply lock {}...", lock_name(&plan.name));
    let (lock, now) = tokio::select! {
        taken = take_lock(s, &aws, &plan, (args.lock_ttl, args.lock_timeout)) => taken?,
        _ = stop.wait() => {
            eprintln!("Interrupted while waiting for the apply lock. Nothing was changed.");
            return Ok(INTERRUPTED);
        }
    };
    let recheck = Recheck {
        plan: &plan,
        approved: &obs,
        saved: is_saved,
        goal,
    };
    let cs = match recheck.still_right(now, cs) {
        Ok(Some(cs)) => cs,
        other => {
            lock.release().await;
            return other.map(|_| 0);
        }
    };
    if stop.requested() {
        lock.release().await;
        eprintln!("Interrupted before the first change. Nothing was changed.");
        return Ok(INTERRUPTED);
    }
    let report = run_changes(s, &aws, &cs, args, &stop).await;
    lock.release().await;
    if stop.requested() && report.stopped {
        return Ok(interrupted(&cs, &report, goal));
    }
    summarize(&cs, &report, goal)?;
    verify(s, &aws, &plan, goal).await
}

/// What an interrupted run did and did not do.
fn interrupted(cs: &Changeset, report: &ExecReport, goal: Goal) -> u8 {
    let mut not_done: Vec<String> = Vec::new();
    for &i in &report.not_started {
        for a in cs.nodes[i].addresses() {
            let a = a.to_string();
            if !not_done.contains(&a) {
                not_done.push(a);
            }
        }
    }
    eprintln!(
        "Interrupted: {} of {} resources done, the apply lock released; not done: {}.\nRun {} again to finish: it does only what is still missing.",
        report.resources_done,
        report.resources_total,
        if not_done.is_empty() { "none".into() } else { not_done.join(", ") },
        goal.verb(),
    );
    INTERRUPTED
}

/// Apply verifies its own result: it reads back what it changed, and what AWS did not
/// take is named, attribute by attribute, with the likely cause (exit 1). Without it,
/// an emulator that ignores a change (LocalStack's ModifyVpcEndpoint and security
/// groups) shows the same change at every plan, and nobody can tell why.
async fn verify(s: &mut Session<'_>, aws: &Aws, plan: &Plan, goal: Goal) -> Result<u8, String> {
    let t0 = Instant::now();
    let now = observe::observe(aws, plan)
        .await
        .map_err(|e| format!("error: reading back what was changed failed: {e}"))?;
    s.time("verify", t0);
    let left = changes(plan, &now, goal)?;
    if left.is_empty() {
        return Ok(0);
    }
    let mut msg = format!(
        "error: AWS did not take {} of the changes (read back after the {}):",
        left.changes
            .iter()
            .filter(|c| c.action != crate::changeset::Action::NoOp)
            .count(),
        goal.verb()
    );
    for c in left
        .changes
        .iter()
        .filter(|c| c.action != crate::changeset::Action::NoOp)
    {
        msg.push_str(&format!(
            "\n  {} ({}): {}",
            c.address,
            c.action.as_str(),
            unverified(c)
        ));
    }
    msg.push_str("\nhint: the calls were accepted but the state did not follow: an emulator that ignores the attribute (LocalStack's ModifyVpcEndpoint ignores security groups), or something (a policy, another tool, a person) changed it back. A new apply would send the same calls again.");
    Err(msg)
}

/// The attributes of a change that is still there after the apply.
fn unverified(c: &crate::changeset::ResourceChange) -> String {
    let (Some(b), Some(a)) = (&c.before, &c.after) else {
        return match c.action {
            crate::changeset::Action::Create => "still missing".into(),
            _ => "still there".into(),
        };
    };
    let differ: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| {
            let was = b
                .get(k)
                .map(|x| x.to_string())
                .unwrap_or_else(|| "(none)".into());
            format!("{k} is {was}, not {v}")
        })
        .collect();
    differ.join("; ")
}

pub(super) fn confirm(destroy: bool) -> Result<(), String> {
    let stdin = std::io::stdin();
    let what = if destroy { "destroy" } else { "apply" };
    if !stdin.is_terminal() {
        return Err(format!(
            "error: {what} needs confirmation, but stdin is not a terminal; re-run with --auto-approve to proceed"
        ));
    }
    print!(
        "\nDo you want to {}? Only 'yes' will be accepted.\n  Enter a value: ",
        if destroy {
            "destroy these resources"
        } else {
            "perform these actions"
        }
    );
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("error: reading confirmation: {e}"))?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(format!(
            "{} cancelled.",
            if destroy { "Destroy" } else { "Apply" }
        ))
    }
}

/// One run of a plan changes AWS at a time (see `execute::lock`). Returns the lock and
/// the live state re-read once it was ours. A lock that turns out not to be ours (two
/// runs took it at the same moment on an emulator) is forfeited and waited for again.
pub(super) async fn take_lock(
    s: &mut Session<'_>,
    aws: &Aws,
    plan: &Plan,
    (ttl, timeout): (u64, u64),
) -> Result<(PlanLock, Result<Observed, AwsError>), String> {
    let t0 = Instant::now();
    loop {
        let lock = PlanLock::acquire(
            aws,
            &plan.name,
            Duration::from_secs(ttl),
            Duration::from_secs(timeout),
            |holder, waited| {
                if waited < Duration::from_secs(1) {
                    println!(
                        "Waiting for another run of plan {:?} to finish (lock {}, held by {holder})...",
                        plan.name,
                        lock_name(&plan.name)
                    )
                } else {
                    println!(
                        "Still waiting for the apply lock (held by {holder}) [{}s elapsed]",
                        waited.as_secs()
                    )
                }
            },
        )
        .await
        .map_err(|e| format!("error: {e}"))?;
        let locked = t0.elapsed();
        // The re-read overlaps with the lock's confirmation read.
        let t1 = Instant::now();
        let (now, confirmed) = tokio::join!(observe::observe(aws, plan), lock.confirm());
        match confirmed {
            Ok(true) => {
                s.phases.push(("lock", locked));
                s.time("re-read", t1);
                return Ok((lock, now));
            }
            Ok(false) => {
                tracing::info!(
                    "another run took the apply lock at the same moment; waiting for it"
                );
                lock.forfeit();
            }
            Err(e) => {
                lock.release().await;
                return Err(format!("error: confirming the apply lock failed: {e}"));
            }
        }
    }
}

/// Whatever happened before the lock was ours is re-read: the approved changes must
/// still be the ones to make.
struct Recheck<'a> {
    plan: &'a Plan,
    approved: &'a Observed,
    saved: bool,
    goal: Goal,
}

impl Recheck<'_> {
    /// `Some(changes)` to run, `None` when another run already made them, or an error
    /// when AWS changed in another way.
    fn still_right(
        &self,
        now: Result<Observed, AwsError>,
        cs: Changeset,
    ) -> Result<Option<Changeset>, String> {
        let mut now = now.map_err(|e| format!("error: reading live state failed: {e}"))?;
        // The quotas read with the approved state hold for the re-check.
        now.quotas = self.approved.quotas.clone();
        if now.fingerprint() == self.approved.fingerprint() {
            return Ok(Some(cs));
        }
        if self.saved {
            return Err(STALE.to_string());
        }
        let again = changes(self.plan, &now, self.goal)?;
        if again.is_empty() {
            println!(
                "\nNo changes left: another run of this plan made them while this one waited."
            );
            return Ok(None);
        }
        let same =
            again.changes.len() == cs.changes.len()
                && again.changes.iter().zip(&cs.changes).all(|(x, y)| {
                    x.address == y.address && x.action == y.action && x.after == y.after
                });
        if same {
            Ok(Some(again))
        } else {
            Err("error: AWS changed while this run waited for the apply lock; the approved changes are no longer the right ones. Nothing was changed; run `sagevpc plan` and apply again.".into())
        }
    }
}

async fn run_changes(
    s: &mut Session<'_>,
    aws: &Aws,
    cs: &Changeset,
    args: &ApplyArgs,
    stop: &Interrupt,
) -> ExecReport {
    println!();
    if s.cli.stats {
        let (calls, waits) = cs.critical_path();
        eprintln!(
            "stats: changeset {} nodes; critical path {calls} API calls and {waits} endpoint waits",
            cs.nodes.len()
        );
        let mut needed: std::collections::BTreeMap<&str, usize> = Default::default();
        for n in &cs.nodes {
            *needed.entry(n.op.api_name()).or_default() += 1;
        }
        for (api, k) in needed {
            eprintln!("stats: changeset needs {api:<34} {k}");
        }
        eprintln!(
            "stats: changeset critical path actions {}",
            cs.critical_path_actions().join(",")
        );
    }
    let opts = ExecOptions {
        parallelism: args.parallelism as usize,
        endpoint_timeout: Duration::from_secs(args.endpoint_timeout),
        costs: Some(expected_costs(cs, &aws.pacer)),
        stop: Some(stop.receiver()),
        ..ExecOptions::default()
    };
    let backend = Arc::new(CloudBackend::new(
        Arc::new(aws.clone()),
        opts.endpoint_timeout,
    ));
    let t0 = Instant::now();
    let progress = progress_for(cs);
    let report = execute::execute(cs, backend, &opts, &progress).await;
    progress.close();
    s.time("execute", t0);
    if s.cli.stats {
        eprintln!(
            "stats: execute measured critical path {:.3}s (the longest dependency chain, each node at its real duration)",
            report.measured_critical_path.as_secs_f64()
        );
    }
    report
}

/// What each node is expected to take on AWS: the time AWS needs for what it starts
/// (an endpoint is `pending` for minutes), plus the wait for its action's tokens when
/// the changeset has more of them than the bucket holds. The executor starts the
/// longest remaining path first: endpoint creates as soon as their subnets and groups
/// exist, before rules and associations.
fn expected_costs(cs: &Changeset, pacer: &crate::aws::pacing::Pacer) -> Vec<f64> {
    let mut per_action: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &cs.nodes {
        *per_action.entry(n.op.api_name()).or_default() += 1;
    }
    cs.nodes
        .iter()
        .map(|n| {
            let api = n.op.api_name();
            let aws_time = match api {
                "CreateVpcEndpoint" => 120.0,
                "ModifyVpcEndpoint" | "DeleteVpcEndpoints" => 60.0,
                _ => 0.3,
            };
            aws_time + pacer.rate(api, false).bound(per_action[api]).as_secs_f64()
        })
        .collect()
}

fn summarize(cs: &Changeset, report: &ExecReport, goal: Goal) -> Result<(), String> {
    let s = cs.summary();
    if report.errors.is_empty() {
        if goal.is_destroy() {
            println!("\nDestroy complete! Resources: {} destroyed.", s.destroy);
        } else {
            println!(
                "\nApply complete! Resources: {} added, {} changed, {} destroyed.",
                s.add, s.change, s.destroy
            );
        }
        return Ok(());
    }
    let mut msg = String::new();
    for e in &report.errors {
        msg.push_str(&format!("error: {e}\n"));
        if let Some(h) = &e.hint {
            msg.push_str(&format!("hint: {h}\n"));
        }
    }
    let what = goal.verb();
    let advice = if report.errors.iter().all(|e| e.transient) {
        "run it again to finish: it does only what is still missing".to_string()
    } else {
        format!("fix the cause above, then run {what} again: it does only what is still missing")
    };
    msg.push_str(&format!(
        "error: {what} stopped with {} of {} resources done ({} of {} steps); {advice}",
        report.resources_done,
        report.resources_total,
        report.completed,
        cs.nodes.len()
    ));
    Err(msg)
}

/// Live bars when stdout is a terminal that can draw them; plain lines otherwise (piped
/// output, CI logs, `TERM=dumb`), exactly as before.
fn progress_for(cs: &Changeset) -> Progress {
    let drawable =
        std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
    if !drawable {
        return Progress::stdout();
    }
    let resources: std::collections::BTreeSet<_> =
        cs.nodes.iter().flat_map(|n| n.addresses()).collect();
    Progress::terminal(resources.len())
}
