//! Thin commands over the pipeline stages; maps outcomes to exit codes
//! (0 success / no changes, 1 error, 2 changes present with --detailed-exitcode).

mod apply;
mod plan;
mod read;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::aws::{self, Aws, Connection};
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

    /// The AWS clients for `plan`'s region (the plan's region always wins).
    async fn connect(&mut self, plan: &Plan) -> Aws {
        let cli = self.cli;
        let conf = aws::load_config(&Connection {
            region: plan.region.clone(),
            profile: cli.profile.clone(),
            endpoint_url: cli.endpoint_url.clone(),
            max_attempts: cli.max_attempts,
        })
        .await;
        let mut rates: std::collections::HashMap<String, aws::pacing::Rate> = plan
            .request_limits
            .iter()
            .map(|(a, r)| (a.clone(), *r))
            .collect();
        rates.extend(cli.rates.iter().cloned());
        let pacer = aws::pacing::Pacer::new(rates, Duration::from_secs(cli.throttle_timeout));
        let mut aws = Aws::new(&conf, cli.endpoint_url.as_deref(), pacer);
        aws.limits = aws::Limits {
            not_found_window: Duration::from_secs(cli.not_found_timeout),
            dependency_window: Duration::from_secs(cli.dependency_timeout),
        };
        self.aws = Some(aws.clone());
        aws
    }

    /// How to render for a person: colour on a terminal unless `NO_COLOR` or
    /// `TERM=dumb` (or `--color` says otherwise).
    fn style(&self, show_unchanged: bool) -> crate::render::human::Style {
        use std::io::IsTerminal;
        let color = match self.cli.color {
            crate::cli::ColorChoice::Always => true,
            crate::cli::ColorChoice::Never => false,
            crate::cli::ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        };
        crate::render::human::Style {
            show_unchanged,
            color,
        }
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
        Command::Validate { plan } => plan::validate_cmd(plan),
        Command::Plan(args) => plan::plan_cmd(&mut s, args).await,
        Command::Apply(args) => apply::apply_cmd(&mut s, args, false).await,
        Command::Destroy(args) => apply::apply_cmd(&mut s, args, true).await,
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
