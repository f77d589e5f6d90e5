//! Thin commands over the pipeline stages; maps outcomes to exit codes
//! (0 success / no changes, 1 error, 2 changes present with --detailed-exitcode).

mod adopt;
mod apply;
mod audit;
mod init;
mod interrupt;
mod plan;
mod read;
mod region;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::aws::{self, Aws, Connection};
use crate::changeset::Goal;
use crate::cli::{Cli, Command};
use crate::plan::Plan;

/// One invocation: the CLI, the AWS clients once connected, and the phases timed, for
/// `--stats` (printed once, whatever the outcome).
pub(crate) struct Session<'c> {
    cli: &'c Cli,
    aws: Option<Aws>,
    phases: Vec<(&'static str, Duration)>,
}

impl<'c> Session<'c> {
    fn new(cli: &'c Cli) -> Self {
        Session {
            cli,
            aws: None,
            phases: Vec::new(),
        }
    }

    /// Record a phase that started at `since`.
    fn time(&mut self, name: &'static str, since: Instant) {
        self.phases.push((name, since.elapsed()));
    }

    /// Where EC2 calls go: `--endpoint-url`, the standard variables, or AWS itself.
    fn ec2_endpoint(&self, region: &str) -> String {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        env("AWS_ENDPOINT_URL_EC2")
            .or_else(|| self.cli.endpoint_url.clone())
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://ec2.{region}.amazonaws.com"))
    }

    /// A failed call in words a person can act on: no SDK dump, what was tried, what
    /// to do.
    fn explain(&self, doing: &str, e: &aws::AwsError, region: &str) -> String {
        match e.failure {
            aws::Failure::Unreachable => {
                let why = ["Connection refused", "dns error", "timed out", "Connection reset"]
                    .iter()
                    .find(|w| e.message.contains(*w))
                    .map(|w| w.to_lowercase())
                    .unwrap_or_else(|| e.message.clone());
                format!(
                    "error: {doing} failed: cannot reach EC2 at {} ({why})\nhint: check the endpoint (--endpoint-url, AWS_ENDPOINT_URL) and the network; for LocalStack: make localstack-up",
                    self.ec2_endpoint(region)
                )
            }
            aws::Failure::Credentials => format!(
                "error: {doing} failed: no AWS credentials could be loaded{}. The sources tried, in order:\n  {}\nhint: set a profile (`export AWS_PROFILE=name`, after `aws configure` or `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.cli
                    .profile
                    .as_ref()
                    .map(|p| format!(" for profile {p:?}"))
                    .unwrap_or_default(),
                e.message
                    .rsplit("Attempted:")
                    .next()
                    .unwrap_or_default()
                    .split('\n')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ),
            _ => {
                let hint = e.hint().map(|h| format!("\nhint: {h}")).unwrap_or_default();
                format!("error: {doing} failed: {e}{hint}")
            }
        }
    }

    /// The AWS clients for `plan`'s region (the plan's region always wins). A profile
    /// that does not exist is an error here, before any call.
    /// Connect for `plan`, and turn the zones it gives by ID into this account's names
    /// (one DescribeAvailabilityZones, only when it gives any).
    async fn connect(&mut self, plan: &mut Plan) -> Result<Aws, String> {
        let aws = self.connect_to(&plan.region, &plan.request_limits).await?;
        if crate::plan::zones::uses_ids(plan) {
            let zones = crate::resources::subnet::Api::describe_zones(&aws)
                .await
                .map_err(|e| {
                    self.explain("reading the region's availability zones", &e, &plan.region)
                })?;
            crate::plan::zones::resolve(plan, &zones).map_err(|p| {
                format!(
                    "error: plan {} cannot be applied as it is:\n{}\nNothing was sent to AWS but the read of the zones.",
                    plan.source.display(),
                    p.join("\n")
                )
            })?;
        }
        Ok(aws)
    }

    async fn connect_to(
        &mut self,
        region: &str,
        limits: &std::collections::BTreeMap<String, aws::pacing::Rate>,
    ) -> Result<Aws, String> {
        let cli = self.cli;
        if let Some(p) = &cli.profile {
            aws::check_profile(p).await?;
        }
        tracing::info!(
            region,
            endpoint = %self.ec2_endpoint(region),
            profile = cli.profile.as_deref().unwrap_or("(default chain)"),
            "connecting"
        );
        let conf = aws::load_config(&Connection {
            region: region.to_string(),
            profile: cli.profile.clone(),
            endpoint_url: cli.endpoint_url.clone(),
            max_attempts: cli.max_attempts,
        })
        .await;
        let mut rates: std::collections::HashMap<String, aws::pacing::Rate> =
            limits.iter().map(|(a, r)| (a.clone(), *r)).collect();
        rates.extend(cli.rates.iter().cloned());
        let pacer = aws::pacing::Pacer::new(rates, Duration::from_secs(cli.throttle_timeout));
        let mut aws = Aws::new(&conf, cli.endpoint_url.as_deref(), pacer);
        aws.limits = aws::Limits {
            not_found_window: Duration::from_secs(cli.not_found_timeout),
            dependency_window: Duration::from_secs(cli.dependency_timeout),
        };
        self.aws = Some(aws.clone());
        Ok(aws)
    }

    /// How to render for a person: colour on a terminal unless `NO_COLOR` or
    /// `TERM=dumb` (or `--color` says otherwise).
    fn style(&self, show_unchanged: bool) -> crate::render::human::Style {
        use std::io::IsTerminal;
        crate::render::human::Style {
            show_unchanged,
            color: self.color(std::io::stdout().is_terminal()),
        }
    }

    /// Whether to colour a stream that is a terminal or not (`--color`, `NO_COLOR`,
    /// `TERM=dumb`).
    fn color(&self, terminal: bool) -> bool {
        match self.cli.color {
            crate::cli::ColorChoice::Always => true,
            crate::cli::ColorChoice::Never => false,
            crate::cli::ColorChoice::Auto => {
                terminal
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        }
    }

    /// Read and validate a plan file; its problems rendered compiler-style for stderr.
    fn load(&self, path: &std::path::Path) -> Result<Plan, String> {
        use std::io::IsTerminal;
        Plan::load(path).map_err(|e| {
            let n = e.diagnostics.len();
            let source = std::fs::read_to_string(path).ok();
            format!(
                "{}\nerror: plan {} is invalid ({n} problem{}); nothing was sent to AWS",
                crate::render::diagnostics::plan_error(
                    &e,
                    source.as_deref(),
                    self.color(std::io::stderr().is_terminal())
                ),
                path.display(),
                if n == 1 { "" } else { "s" }
            )
        })
    }

    fn print_stats(&self) {
        let (true, Some(aws)) = (self.cli.stats, &self.aws) else {
            return;
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "stats: {} API calls ({} mutating)",
            aws.calls.total(),
            aws.calls.mutating()
        );
        for (op, n) in &aws.calls.snapshot() {
            let _ = writeln!(err, "stats:   {op:<34} {n}");
        }
        let paced = aws.pacer.stats();
        for (op, d) in &paced.waited {
            let _ = writeln!(err, "stats: paced  {op:<34} waited {:.3}s", d.as_secs_f64());
        }
        for (op, n) in &paced.throttled {
            let _ = writeln!(err, "stats: throttled {op:<31} {n}");
        }
        for (phase, d) in &self.phases {
            let _ = writeln!(err, "stats: phase {phase:<8} {:.3}s", d.as_secs_f64());
        }
    }
}

/// Run one CLI invocation; returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let mut s = Session::new(&cli);
    let result = match &cli.command {
        Command::Validate { plan } => plan::validate_cmd(&s, plan),
        Command::Plan(args) => plan::plan_cmd(&mut s, args).await,
        Command::Apply(args) => apply::apply_cmd(&mut s, args, Goal::Apply).await,
        Command::Adopt(args) => adopt::adopt_cmd(&mut s, args).await,
        Command::Destroy(args) => {
            let goal = Goal::Destroy {
                keep_vpc: args.keep_vpc,
            };
            apply::apply_cmd(&mut s, &args.run, goal).await
        }
        Command::Graph(args) => plan::graph_cmd(&mut s, args).await,
        Command::Init(args) => init::init_cmd(&mut s, args).await,
        Command::Completions { shell } => completions(*shell),
        Command::Services(args) => region::services_cmd(&mut s, args).await,
        Command::Plans(args) => region::plans_cmd(&mut s, args).await,
        Command::Output(args) => plan::output_cmd(&mut s, args).await,
        Command::Audit(args) => audit::audit_cmd(&mut s, args).await,
    };
    s.print_stats();
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("{msg}");
            1
        }
    }
}

/// The completion script for `shell` on stdout.
fn completions(shell: clap_complete::Shell) -> Result<u8, String> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "sagevpc", &mut std::io::stdout());
    Ok(0)
}
