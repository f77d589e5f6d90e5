//! Command-line definitions (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::aws::pacing::Rate;

fn parse_rate(s: &str) -> Result<(String, Rate), String> {
    let (action, rate) = s.split_once('=').ok_or_else(|| {
        format!("{s:?} is not ACTION=CAPACITY/REFILL (e.g. CreateVpcEndpoint=4/0.3)")
    })?;
    crate::plan::check_action_name(action)?;
    Ok((action.to_string(), rate.parse()?))
}

#[derive(Debug, Parser)]
#[command(
    name = "sagevpc",
    version,
    about = "Provision a SageMaker-ready private VPC from a declarative plan file",
    long_about = None,
    after_help = "Examples:\n  sagevpc init --region eu-west-1 --out ml.toml\n  sagevpc plan ml.toml\n  sagevpc apply ml.toml\n\nEvery plan field: docs/plan-reference.md"
)]
pub struct Cli {
    /// AWS shared-config profile (credentials; the plan's region always wins).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,

    /// Send AWS calls to this endpoint (e.g. LocalStack). The standard AWS_ENDPOINT_URL
    /// works too; AWS_ENDPOINT_URL_<SERVICE> (EC2, SAGEMAKER) still points that one
    /// service elsewhere.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,

    /// More diagnostics on stderr (-v info, -vv debug). Credentials are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print API calls by operation and the wall time of each phase on stderr.
    #[arg(long, global = true)]
    pub stats: bool,

    /// Maximum attempts per AWS call for throttling, 5xx and connection errors.
    #[arg(long, global = true, default_value_t = 6)]
    pub max_attempts: u32,

    /// Seconds a call naming a just-created id retries `*.NotFound` (eventual consistency).
    #[arg(long, global = true, default_value_t = 30)]
    pub not_found_timeout: u64,

    /// Seconds a delete retries `DependencyViolation` while dependants go away.
    #[arg(long, global = true, default_value_t = 120)]
    pub dependency_timeout: u64,

    /// Override one of EC2's per-action request buckets: ACTION=CAPACITY/REFILL_PER_SEC
    /// (e.g. CreateVpcEndpoint=20/2 after AWS raised it). Repeatable; wins over the
    /// plan's [request_limits]. Defaults: the documented ones.
    #[arg(long = "rate", global = true, value_name = "ACTION=CAP/REFILL", value_parser = parse_rate)]
    pub rates: Vec<(String, Rate)>,

    /// Colour in the output: auto (a terminal, and NO_COLOR not set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Seconds one EC2 call may wait for its action's tokens, and send throttled
    /// answers again, before the throttling is reported.
    #[arg(long, global = true, default_value_t = 900)]
    pub throttle_timeout: u64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a plan file. Makes no AWS call.
    #[command(after_help = "Example:\n  sagevpc validate plans/studio-vpc.toml")]
    Validate {
        /// Plan file (TOML).
        plan: PathBuf,
    },
    /// Dry run: read live state and print the changes an apply would make.
    #[command(
        after_help = "Example:\n  sagevpc plan plans/studio-vpc.toml --out studio.saved.json"
    )]
    Plan(PlanArgs),
    /// Print the changes, ask for confirmation, and make them.
    #[command(
        after_help = "Examples:\n  sagevpc apply plans/studio-vpc.toml\n  sagevpc apply studio.saved.json --auto-approve"
    )]
    Apply(ApplyArgs),
    /// Delete everything the plan owns (never adopted or foreign resources).
    #[command(after_help = "Example:\n  sagevpc destroy plans/studio-vpc.toml --keep-vpc")]
    Destroy(DestroyArgs),
    /// Take over existing resources that match the plan (subnets by CIDR and zone, the
    /// route table by association, groups by name, endpoints by service, the VPC by
    /// CIDR): show them and how each differs from the plan, ask, then tag them with the
    /// plan's ownership tags. Nothing is created or changed besides those tags.
    #[command(
        after_help = "Example:\n  sagevpc adopt plans/studio-vpc.toml   # then: sagevpc plan, sagevpc apply"
    )]
    Adopt(AdoptArgs),
    /// Read live state like `plan` and print the changeset's dependency graph (DOT or
    /// Mermaid): one node per AWS call, labelled with action and address.
    #[command(
        after_help = "Examples:\n  sagevpc graph plans/studio-vpc.toml | dot -Tsvg > graph.svg\n  sagevpc graph plans/studio-vpc.toml --format mermaid --destroy"
    )]
    Graph(GraphArgs),
    /// List the VPC endpoint services a region offers (the short names a plan takes).
    #[command(after_help = "Example:\n  sagevpc services --region eu-west-1 --output json")]
    Services(RegionArgs),
    /// List the sagevpc plans found in a region (by their ownership tags), with what
    /// each owns.
    #[command(after_help = "Example:\n  sagevpc plans --region us-east-1")]
    Plans(RegionArgs),
    /// Print the ids of an applied plan: VPC, subnets, groups, endpoints, a job's
    /// VpcConfig, and with [studio] the execution role, domain and users. Read-only.
    #[command(
        after_help = "Example:\n  sagevpc output plans/studio-vpc.toml --output json   # .vpc_config for CreateTrainingJob"
    )]
    Output(OutputArgs),
    /// Write a commented starter plan for a region: AZs that offer every endpoint it
    /// names, and a /16 no VPC in the region uses. Reads AWS; creates nothing there.
    #[command(
        after_help = "Example:\n  sagevpc init --region eu-west-1 --name ml-platform --out ml-platform.toml"
    )]
    Init(InitArgs),
    /// Check any VPC against SageMaker's networking rules (the guides): pass, fail or
    /// not applicable, with the resources, why, the fix and the guide. Reads only; no
    /// plan. Exit 0 when nothing fails, 2 when something does, 1 on errors.
    #[command(
        after_help = "Examples:\n  sagevpc audit --vpc vpc-0123456789abcdef0\n  sagevpc audit --vpc vpc-0123456789abcdef0 --region eu-west-1 --output json"
    )]
    Audit(AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  sagevpc completions bash > ~/.local/share/bash-completion/completions/sagevpc\n  sagevpc completions zsh > \"${fpath[1]}/_sagevpc\"\n  sagevpc completions fish > ~/.config/fish/completions/sagevpc.fish"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Plan file (TOML).
    pub plan: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The VPC to audit (vpc-...); anyone's, sagevpc's or not.
    #[arg(long)]
    pub vpc: String,
    /// AWS region (default: AWS_REGION, then the profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// AWS region (default: AWS_REGION, then the profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// The plan's name (every resource it creates is tagged with it).
    #[arg(long, default_value = "ml-platform")]
    pub name: String,
    /// Where to write the plan; an existing file is never overwritten.
    #[arg(long, value_name = "FILE", default_value = "sagevpc.toml")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Plan file (TOML).
    pub plan: PathBuf,
    /// Graph language: Graphviz DOT (`| dot -Tsvg`) or a Mermaid flowchart.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// The graph `destroy` would run instead of `apply`'s.
    #[arg(long)]
    pub destroy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub run: ApplyArgs,
    /// Delete everything the plan owns except its VPC: for a VPC that holds things the
    /// plan does not own (another plan's subnets, hand-made groups, network interfaces).
    #[arg(long)]
    pub keep_vpc: bool,
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// Plan file (TOML).
    pub plan: PathBuf,
    /// Skip the confirmation prompt (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// List the plan's unchanged resources too.
    #[arg(long)]
    pub show_unchanged: bool,
    /// Seconds to wait for another run of the same plan to release the apply lock.
    #[arg(long, default_value_t = 900)]
    pub lock_timeout: u64,
    /// Seconds after which the apply lock of a killed run counts as abandoned.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..))]
    pub lock_ttl: u64,
}

#[derive(Debug, Args)]
pub struct RegionArgs {
    /// AWS region (default: AWS_REGION, then the profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan file (TOML).
    pub plan: PathBuf,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Also save the changeset, with a fingerprint of the live state, for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// List unchanged resources too.
    #[arg(long)]
    pub show_unchanged: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Plan file (TOML), or for `apply` a saved plan written by `plan --out`.
    pub plan: PathBuf,
    /// Skip the confirmation prompt (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// List unchanged resources too.
    #[arg(long)]
    pub show_unchanged: bool,
    /// How many AWS calls may be in flight at once. Endpoint waits do not count, and
    /// throttling is retried with backoff. The default fits the widest level of a
    /// SageMaker VPC's graph (11 for the standard plan: 3 associations, 2 rules, 6
    /// endpoints), which Terraform's 10 splits into two rounds.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallelism: u32,
    /// Seconds to wait for an endpoint to become available (or deleted).
    #[arg(long, default_value_t = 600)]
    pub endpoint_timeout: u64,
    /// Seconds to wait for another run of the same plan to release the apply lock.
    #[arg(long, default_value_t = 900)]
    pub lock_timeout: u64,
    /// Seconds after which the apply lock of a killed run counts as abandoned (a live
    /// run renews it every third of this).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..))]
    pub lock_ttl: u64,
}
