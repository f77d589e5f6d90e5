//! Stage 1: the plan file. Parse (serde, unknown fields rejected), validate (no AWS
//! call), and expand into the desired resources with their logical keys.

pub mod access;
pub mod file;
pub mod policy;
pub mod services;
pub mod starter;
pub mod validate;
pub mod zones;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::model::Rule;

pub use validate::{validate_source, validate_with_files};

/// A validated plan: what the user wants to exist.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub region: String,
    pub source: PathBuf,
    /// Extra tags put on every owned resource.
    pub tags: BTreeMap<String, String>,
    pub vpc: VpcSpec,
    pub subnets: BTreeMap<String, SubnetSpec>,
    pub security_groups: BTreeMap<String, SecurityGroupSpec>,
    pub gateway_endpoints: BTreeMap<String, GatewayEndpointSpec>,
    pub interface_endpoints: BTreeMap<String, InterfaceEndpointSpec>,
    pub egress: EgressSpec,
    /// Overrides of EC2's per-action request buckets (`[request_limits]`).
    pub request_limits: BTreeMap<String, crate::aws::pacing::Rate>,
    /// The files the plan names (policy documents) as read, by the path it names them
    /// with: a saved plan carries them.
    pub files: BTreeMap<String, String>,
    /// A SageMaker Studio domain (VpcOnly) with its role and users (`[studio]`).
    pub studio: Option<StudioSpec>,
    /// The IAM policy that keeps Studio's presigned URLs inside the VPC (`[studio_access]`).
    pub studio_access: Option<access::StudioAccessSpec>,
    /// Resources that exist, named by id: used, never created, tagged, changed or deleted.
    pub existing: Existing,
    /// The VPC quotas the plan gives (`[quotas]`); Service Quotas' values win at plan
    /// time, AWS's defaults fill in (see `crate::quotas`).
    pub quotas: BTreeMap<crate::quotas::Quota, u32>,
}

/// What a plan names by `id` under a key of its own (in a VPC it names by id): subnets,
/// security groups, route tables, and endpoints by short service name. References to
/// those keys are the ids (`Ref::Id`, `Peer::ForeignGroup`) from validation on; plan
/// time checks each is there, in the plan's VPC.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Existing {
    pub subnets: BTreeMap<String, String>,
    pub security_groups: BTreeMap<String, String>,
    pub route_tables: BTreeMap<String, String>,
    /// By short service name (`sts`, `s3`).
    pub endpoints: BTreeMap<String, String>,
}

/// `[studio]`: a VpcOnly Studio domain in the plan's network. Its security groups (the
/// domain's, one per user, and the shared client group when the endpoints' group
/// would pass its rules quota) are ordinary plan groups, added by validation.
#[derive(Debug, Clone, PartialEq)]
pub struct StudioSpec {
    pub domain_name: String,
    pub auth_mode: AuthMode,
    /// In the order written (SageMaker keeps it).
    pub subnets: Vec<Ref>,
    pub execution_role: RoleChoice,
    /// Attached to the role sagevpc creates (unused with an existing role).
    pub managed_policies: Vec<String>,
    pub ips_per_user: u32,
    pub projects: bool,
    /// By profile name.
    pub user_profiles: BTreeMap<String, UserProfileSpec>,
    /// The plan group every app of the domain carries (`studio`), and the shared
    /// client group when the endpoints admit one group instead of one per user.
    pub domain_groups: Vec<String>,
    /// Whether the endpoints admit 443 from one shared client group (the per-user
    /// rules would pass the inbound rules quota of a group: `[quotas]` or 60).
    pub shared_client_group: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Iam,
    Sso,
}

impl AuthMode {
    /// SageMaker's value.
    pub fn as_aws(self) -> &'static str {
        match self {
            AuthMode::Iam => "IAM",
            AuthMode::Sso => "SSO",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RoleChoice {
    /// sagevpc creates and owns the role (`iam_role.execution`).
    Create,
    /// An existing role, by ARN: used, never modified.
    Existing(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserProfileSpec {
    /// Plan groups the user's apps carry: its own first.
    pub security_groups: Vec<String>,
}

/// How the VPC reaches the internet (`[egress]`). Private subnets never route to the
/// internet gateway: only through a NAT gateway, when `nat` is not `none`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EgressSpec {
    /// An internet gateway attached to the VPC (asked for, or implied by NAT).
    pub internet_gateway: bool,
    pub nat: NatMode,
    /// Public subnets by key (one per AZ of the private subnets when `nat` is not
    /// `none`): associated with `route_table.public`, whose default route is the
    /// internet gateway.
    pub public_subnets: BTreeMap<String, SubnetSpec>,
}

/// `[egress] nat`: how the private subnets reach the internet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NatMode {
    /// No route out of the private subnets.
    #[default]
    None,
    /// One NAT gateway (in the first AZ's public subnet) for every private subnet.
    Single,
    /// One NAT gateway per AZ, and one private route table per AZ, so that an AZ's
    /// traffic stays in its AZ (and survives the loss of another AZ).
    PerAz,
}

impl NatMode {
    pub const NAMES: [&'static str; 3] = ["none", "single", "per_az"];

    /// As the plan writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            NatMode::None => "none",
            NatMode::Single => "single",
            NatMode::PerAz => "per_az",
        }
    }

    pub fn parse(s: &str) -> Option<NatMode> {
        match s {
            "none" => Some(NatMode::None),
            "single" => Some(NatMode::Single),
            "per_az" => Some(NatMode::PerAz),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum VpcSpec {
    /// A VPC created and owned by the plan.
    Owned { cidr: Ipv4Net },
    /// An existing VPC the plan adds children to; never deleted or retagged.
    Adopted { id: String, manage_dns: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubnetSpec {
    /// The zone's name in the caller's account (as written, or mapped from the ID the
    /// plan gives, see `zones::resolve`).
    pub availability_zone: String,
    /// The zone's ID (`use1-az1`) when the plan gives it by ID.
    pub zone_id: Option<String>,
    pub cidr: Ipv4Net,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityGroupSpec {
    pub description: String,
    /// Ingress and egress rules, normalised. Egress holds AWS's default allow-all rule
    /// when the plan does not list egress.
    pub rules: BTreeSet<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayEndpointSpec {
    pub service_name: String,
    /// `None`: AWS's default full-access policy.
    pub policy: Option<Value>,
    /// Route tables the plan does not own (adopted subnets') the endpoint is put on too,
    /// besides the plan's own.
    pub route_tables: Vec<String>,
}

/// A reference from an endpoint to a subnet or security group: one of the plan's, or an
/// existing one by id (for plans into an adopted VPC).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ref {
    Key(String),
    Id(String),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Key(k) | Ref::Id(k) => f.write_str(k),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceEndpointSpec {
    pub service_name: String,
    pub subnets: BTreeSet<Ref>,
    /// Empty: AWS attaches the VPC's default group, and sagevpc does not manage it.
    pub security_groups: BTreeSet<Ref>,
    pub private_dns: bool,
    /// A policy document from a file.
    pub policy: Option<Value>,
    /// A policy sagevpc builds (`[interface_endpoints.access.<service>]`); never
    /// together with `policy`.
    pub intent: Option<access::EndpointIntent>,
    /// `skip_unsupported_azs`: leave out the subnets in AZs where the service is not
    /// offered, instead of refusing the plan.
    pub skip_unsupported_azs: bool,
}

impl Plan {
    /// Read, parse and validate a plan file. No AWS call.
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let whole = |message: String| PlanError {
            diagnostics: vec![Diagnostic {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                field: String::new(),
                message,
                width: 0,
                help: None,
            }],
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| whole(format!("cannot read plan file: {e}")))?;
        if crate::changeset::saved::is_saved_plan(&text) {
            return Err(whole(format!(
                "this is a saved plan (written by `sagevpc plan --out`), not a plan file: run it with `sagevpc apply {}`",
                path.display()
            )));
        }
        validate_source(path, &text)
    }

    /// Whether any interface endpoint asks for private DNS.
    pub fn needs_private_dns(&self) -> bool {
        self.interface_endpoints.values().any(|e| e.private_dns)
    }

    /// Whether the plan's VPC gets an internet gateway.
    pub fn wants_internet_gateway(&self) -> bool {
        self.egress.internet_gateway || self.egress.nat != NatMode::None
    }

    /// The plan's private route table exists when it has subnets.
    pub fn has_route_table(&self) -> bool {
        !self.subnets.is_empty()
    }

    /// Every subnet the plan owns, private and public (their keys never collide).
    pub fn every_subnet(&self) -> impl Iterator<Item = (&String, &SubnetSpec)> {
        self.subnets.iter().chain(&self.egress.public_subnets)
    }

    /// The key of the private route table a private subnet uses: `private`, or with
    /// `nat = "per_az"` the one of its AZ (`private-us-east-1a`).
    pub fn private_table_of(&self, spec: &SubnetSpec) -> String {
        match self.egress.nat {
            NatMode::PerAz => format!("private-{}", spec.availability_zone),
            _ => "private".to_string(),
        }
    }

    /// The key of the route table the plan subnet `key` is associated with.
    pub fn table_of_subnet(&self, key: &str) -> Option<String> {
        if self.egress.public_subnets.contains_key(key) {
            return Some("public".to_string());
        }
        self.subnets.get(key).map(|s| self.private_table_of(s))
    }

    /// The public subnets that hold a NAT gateway (by key): every one with `per_az`,
    /// the first AZ's with `single`.
    pub fn nat_hosts(&self) -> Vec<&str> {
        let mut public: Vec<(&String, &SubnetSpec)> = self.egress.public_subnets.iter().collect();
        public.sort_by(|a, b| (&a.1.availability_zone, a.0).cmp(&(&b.1.availability_zone, b.0)));
        let hosts = public.into_iter().map(|(k, _)| k.as_str());
        match self.egress.nat {
            NatMode::None => Vec::new(),
            NatMode::Single => hosts.take(1).collect(),
            NatMode::PerAz => hosts.collect(),
        }
    }

    /// The NAT host (public subnet key) whose gateway a private route table's default
    /// route goes to; `None` when the table has no default route.
    pub fn nat_of_table(&self, table: &str) -> Option<&str> {
        let hosts = self.nat_hosts();
        match self.egress.nat {
            NatMode::None => None,
            NatMode::Single => hosts.first().copied(),
            NatMode::PerAz => hosts.into_iter().find(|h| {
                self.egress.public_subnets[*h].availability_zone
                    == table.strip_prefix("private-").unwrap_or_default()
            }),
        }
    }

    /// The route tables the plan owns, by key: the private ones (`private`, or one per
    /// AZ), and `public` when it has public subnets.
    pub fn route_table_keys(&self) -> Vec<String> {
        let mut keys: BTreeSet<String> = self
            .subnets
            .values()
            .map(|s| self.private_table_of(s))
            .collect();
        if !self.egress.public_subnets.is_empty() {
            keys.insert("public".to_string());
        }
        keys.into_iter().collect()
    }

    /// The private route tables (what gateway endpoints go on).
    pub fn private_table_keys(&self) -> Vec<String> {
        self.route_table_keys()
            .into_iter()
            .filter(|k| k != "public")
            .collect()
    }
}

/// An EC2 API action name as the request buckets know it (`CreateVpcEndpoint`).
pub fn check_action_name(action: &str) -> Result<(), String> {
    let ok = action.len() <= 64
        && action
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
        && action.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{action:?} is not an EC2 API action name (e.g. CreateVpcEndpoint)"
        ))
    }
}

/// One problem in a plan file, located by file, line, column and field path.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no position (e.g. unreadable file).
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `subnets.private-a.cidr`.
    pub field: String,
    pub message: String,
    /// How many characters from `column` on the line the problem covers (at least 1
    /// when positioned): what a caret underlines.
    pub width: usize,
    /// A fix, when one is known (`did you mean "cidr"?`).
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A plan that failed to parse or validate: every problem found.
#[derive(Debug, Clone)]
pub struct PlanError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}
