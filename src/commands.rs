//! Thin commands over the pipeline stages; maps outcomes to exit codes
//! (0 success / no changes, 1 error, 2 changes present with --detailed-exitcode).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aws::{self, Aws, Connection};
use crate::changeset::saved::{sha256_hex, SavedPlan, SAVED_KIND, SAVED_VERSION};
use crate::changeset::{self, Changeset};
use crate::cli::{ApplyArgs, Cli, Command, Output, PlanArgs};
use crate::execute::lock::{lock_name, PlanLock};
use crate::execute::{self, CloudBackend, ExecOptions};
use crate::observe::{self, Observed};
use crate::plan::Plan;
use crate::render::{self, Progress};

const STALE: &str = "error: saved plan is stale: the live state changed since the saved plan was made; run `sagevpc plan --out` again. Nothing was changed.";

/// Run one CLI invocation; returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    match dispatch(&cli).await {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{msg}");
            1
        }
    }
}

struct Timings {
    phases: Vec<(&'static str, Duration)>,
}

impl Timings {
    fn new() -> Self {
        Timings { phases: Vec::new() }
    }
    fn add(&mut self, name: &'static str, since: Instant) {
        self.phases.push((name, since.elapsed()));
    }
}

fn print_stats(cli: &Cli, ec2: &Aws, t: &Timings) {
    if !cli.stats {
        return;
    }
    let calls = ec2.calls.snapshot();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "stats: {} API calls ({} mutating)",
        ec2.calls.total(),
        ec2.calls.mutating()
    );
    for (op, n) in &calls {
        let _ = writeln!(err, "stats:   {op:<34} {n}");
    }
    for (phase, d) in &t.phases {
        let _ = writeln!(err, "stats: phase {phase:<8} {:.3}s", d.as_secs_f64());
    }
}

fn load(path: &std::path::Path) -> Result<Plan, String> {
    Plan::load(path).map_err(|e| {
        let n = e.diagnostics.len();
        format!(
            "{e}\nerror: plan {} is invalid ({n} problem{}); nothing was sent to AWS",
            path.display(),
            if n == 1 { "" } else { "s" }
        )
    })
}

async fn connect(cli: &Cli, plan: &Plan) -> Aws {
    let conf = aws::load_config(&Connection {
        region: plan.region.clone(),
        profile: cli.profile.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        max_attempts: cli.max_attempts,
    })
    .await;
    let mut aws = Aws::new(&conf, cli.endpoint_url.as_deref());
    aws.limits = crate::aws::Limits {
        not_found_window: Duration::from_secs(cli.not_found_timeout),
        dependency_window: Duration::from_secs(cli.dependency_timeout),
    };
    aws
}

/// Refuse a changeset that deletes a subnet, security group or VPC a SageMaker Studio
/// domain uses (see `Changeset::studio_domain_conflicts`). Domains are read only when
/// such a delete is planned, so a no-op or create-only plan makes no SageMaker call.
/// A caller that cannot read SageMaker (no permission, an emulator without it) is warned
/// and the plan goes ahead.
async fn studio_check(
    sm: &Aws,
    plan: &Plan,
    obs: &Observed,
    cs: &Changeset,
    t: &mut Timings,
) -> Result<(), String> {
    let Some(vpc) = obs.vpc_of(plan).filter(|_| cs.deletes_network()) else {
        return Ok(());
    };
    let t0 = Instant::now();
    let result = sm.domains_in_vpc(&vpc.id).await;
    t.add("studio", t0);
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

async fn read_and_diff(
    ec2: &Aws,
    plan: &Plan,
    destroy: bool,
    t: &mut Timings,
) -> Result<(Observed, Changeset), String> {
    let t0 = Instant::now();
    let obs = observe::observe(ec2, plan).await.map_err(|e| {
        let hint = e.hint().map(|h| format!("\nhint: {h}")).unwrap_or_default();
        format!("error: reading live state failed: {e}{hint}")
    })?;
    t.add("read", t0);
    let t1 = Instant::now();
    let cs = if destroy {
        changeset::destroy(plan, &obs)
    } else {
        changeset::diff(plan, &obs)
    }
    .map_err(|e| {
        format!(
            "error: plan {} cannot be applied as it is:\n{e}",
            plan.source.display()
        )
    })?;
    t.add("diff", t1);
    studio_check(ec2, plan, &obs, &cs, t).await?;
    Ok((obs, cs))
}

async fn dispatch(cli: &Cli) -> Result<u8, String> {
    match &cli.command {
        Command::Validate { plan } => {
            let p = load(plan)?;
            println!(
                "Plan {:?} ({}) is valid: {} subnets, {} security groups, {} gateway and {} interface endpoints.",
                p.name,
                plan.display(),
                p.subnets.len(),
                p.security_groups.len(),
                p.gateway_endpoints.len(),
                p.interface_endpoints.len()
            );
            Ok(0)
        }
        Command::Plan(args) => plan_cmd(cli, args).await,
        Command::Apply(args) => apply_cmd(cli, args, false).await,
        Command::Destroy(args) => apply_cmd(cli, args, true).await,
    }
}

async fn plan_cmd(cli: &Cli, args: &PlanArgs) -> Result<u8, String> {
    let plan = load(&args.plan)?;
    let ec2 = connect(cli, &plan).await;
    let mut t = Timings::new();
    let result = read_and_diff(&ec2, &plan, false, &mut t).await;
    print_stats(cli, &ec2, &t);
    let (obs, cs) = result?;
    if let Some(out) = &args.out {
        let text = std::fs::read(&args.plan)
            .map_err(|e| format!("error: {}: {e}", args.plan.display()))?;
        let saved = SavedPlan {
            kind: SAVED_KIND.into(),
            format_version: SAVED_VERSION,
            plan_file: std::fs::canonicalize(&args.plan).unwrap_or_else(|_| args.plan.clone()),
            plan_sha256: sha256_hex(&text),
            observed_fingerprint: obs.fingerprint(),
            changeset: cs.clone(),
        };
        saved.write(out).map_err(|e| format!("error: {e}"))?;
        eprintln!(
            "Saved the changeset to {}; run `sagevpc apply {}` to perform exactly these actions.",
            out.display(),
            out.display()
        );
    }
    match args.output {
        Output::Human => print!("{}", render::human::changeset(&cs)),
        Output::Json => println!("{}", render::json::changeset(&cs)),
    }
    Ok(if args.detailed_exitcode && !cs.is_empty() {
        2
    } else {
        0
    })
}

fn confirm(destroy: bool) -> Result<(), String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(format!(
            "error: {} needs confirmation, but stdin is not a terminal; re-run with --auto-approve to proceed",
            if destroy { "destroy" } else { "apply" }
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

async fn apply_cmd(cli: &Cli, args: &ApplyArgs, destroy: bool) -> Result<u8, String> {
    let saved = SavedPlan::read(&args.plan).map_err(|e| format!("error: {e}"))?;
    if saved.is_some() && destroy {
        return Err("error: destroy takes a plan file, not a saved plan".into());
    }
    let plan_path = saved
        .as_ref()
        .map(|s| s.plan_file.clone())
        .unwrap_or_else(|| args.plan.clone());
    let plan = load(&plan_path)?;
    let ec2 = connect(cli, &plan).await;
    let mut t = Timings::new();
    let result = read_and_diff(&ec2, &plan, destroy, &mut t).await;
    let (obs, fresh) = match result {
        Ok(x) => x,
        Err(e) => {
            print_stats(cli, &ec2, &t);
            return Err(e);
        }
    };
    let is_saved = saved.is_some();
    let cs = match saved {
        None => fresh,
        Some(saved) => {
            let text = std::fs::read(&plan_path)
                .map_err(|e| format!("error: {}: {e}", plan_path.display()))?;
            if sha256_hex(&text) != saved.plan_sha256 {
                return Err(format!(
                    "error: saved plan is stale: plan file {} changed since the saved plan was made; run `sagevpc plan --out` again. Nothing was changed.",
                    plan_path.display()
                ));
            }
            if obs.fingerprint() != saved.observed_fingerprint {
                print_stats(cli, &ec2, &t);
                return Err(STALE.into());
            }
            saved.changeset
        }
    };
    print!("{}", render::human::changeset(&cs));
    if cs.is_empty() {
        print_stats(cli, &ec2, &t);
        return Ok(0);
    }
    if !args.auto_approve {
        confirm(destroy)?;
    }

    // One run of a plan changes AWS at a time (see execute::lock). Whatever happened
    // before the lock was ours is re-read: the approved changes must still be the ones
    // to make.
    let tl = Instant::now();
    let mut waited = false;
    let (lock, obs2) = loop {
        let lock = PlanLock::acquire(
            &ec2,
            &plan.name,
            Duration::from_secs(args.lock_ttl),
            Duration::from_secs(args.lock_timeout),
            |holder| {
                if !std::mem::replace(&mut waited, true) {
                    println!(
                        "\nWaiting for another run of plan {:?} to finish (lock {}, held by {holder})...",
                        plan.name,
                        lock_name(&plan.name)
                    )
                }
            },
        )
        .await
        .map_err(|e| format!("error: {e}"))?;
        let locked = tl.elapsed();
        // The re-read overlaps with the lock's confirmation read.
        let t0 = Instant::now();
        let (obs2, confirmed) = tokio::join!(observe::observe(&ec2, &plan), lock.confirm());
        match confirmed {
            Ok(true) => {
                t.phases.push(("lock", locked));
                t.add("re-read", t0);
                break (lock, obs2);
            }
            Ok(false) => {
                tracing::info!(
                    "another run took the apply lock at the same moment; waiting for it"
                );
                lock.forfeit();
            }
            Err(e) => {
                lock.release().await;
                print_stats(cli, &ec2, &t);
                return Err(format!("error: confirming the apply lock failed: {e}"));
            }
        }
    };
    let result = async {
        let obs2 = obs2.map_err(|e| format!("error: reading live state failed: {e}"))?;
        if obs2.fingerprint() == obs.fingerprint() {
            return Ok(Some(cs));
        }
        if is_saved {
            return Err(STALE.to_string());
        }
        let again = if destroy { changeset::destroy(&plan, &obs2) } else { changeset::diff(&plan, &obs2) }
            .map_err(|e| format!("error: plan {} cannot be applied as it is:\n{e}", plan.source.display()))?;
        if again.is_empty() {
            println!("\nNo changes left: another run of this plan made them while this one waited.");
            return Ok(None);
        }
        let same = |a: &Changeset, b: &Changeset| {
            a.changes.len() == b.changes.len()
                && a.changes.iter().zip(&b.changes).all(|(x, y)| x.address == y.address && x.action == y.action && x.after == y.after)
        };
        if same(&again, &cs) {
            Ok(Some(again))
        } else {
            Err("error: AWS changed while this run waited for the apply lock; the approved changes are no longer the right ones. Nothing was changed; run `sagevpc plan` and apply again.".into())
        }
    }
    .await;
    let cs = match result {
        Ok(Some(cs)) => cs,
        Ok(None) => {
            lock.release().await;
            print_stats(cli, &ec2, &t);
            return Ok(0);
        }
        Err(e) => {
            lock.release().await;
            print_stats(cli, &ec2, &t);
            return Err(e);
        }
    };
    println!();
    if cli.stats {
        let (calls, waits) = cs.critical_path();
        eprintln!(
            "stats: changeset {} nodes; critical path {calls} API calls and {waits} endpoint waits",
            cs.nodes.len()
        );
    }
    let opts = ExecOptions {
        parallelism: args.parallelism as usize,
        endpoint_timeout: Duration::from_secs(args.endpoint_timeout),
        ..ExecOptions::default()
    };
    let backend = Arc::new(CloudBackend::new(
        Arc::new(ec2.clone()),
        opts.endpoint_timeout,
    ));
    let t2 = Instant::now();
    let progress = Progress::stdout();
    let report = execute::execute(&cs, backend, &opts, &progress).await;
    t.add("execute", t2);
    lock.release().await;
    if cli.stats {
        eprintln!(
            "stats: execute measured critical path {:.3}s (the longest dependency chain, each node at its real duration)",
            report.measured_critical_path.as_secs_f64()
        );
    }
    print_stats(cli, &ec2, &t);
    let s = cs.summary();
    if report.errors.is_empty() {
        if destroy {
            println!("\nDestroy complete! Resources: {} destroyed.", s.destroy);
        } else {
            println!(
                "\nApply complete! Resources: {} added, {} changed, {} destroyed.",
                s.add, s.change, s.destroy
            );
        }
        Ok(0)
    } else {
        let mut msg = String::new();
        for e in &report.errors {
            msg.push_str(&format!("error: {e}\n"));
            if let Some(h) = &e.hint {
                msg.push_str(&format!("hint: {h}\n"));
            }
        }
        msg.push_str(&format!(
            "error: {} stopped after {} of {} actions; run it again to converge (it only does what is still missing)",
            if destroy { "destroy" } else { "apply" },
            report.completed,
            cs.nodes.len()
        ));
        Err(msg)
    }
}
