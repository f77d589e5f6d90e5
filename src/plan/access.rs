//! Access that stays inside the VPC (seed 001, seed 000): the IAM policy that lets
//! principals open Studio only from the VPC (`[studio_access]`), and the endpoint
//! policies sagevpc expands from intents (`[interface_endpoints.access.<service>]`).
//!
//! Every document is built here from ids and names, never typed by the user: pure
//! functions of the plan and of the ids AWS gave (the VPC's, the endpoints', the
//! domain's, the account's). ARNs are built for the plan's partition and region.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `[studio_access]`: an IAM policy `<plan>-studio-access` attached to existing
/// principals.
#[derive(Debug, Clone, PartialEq)]
pub struct StudioAccessSpec {
    pub allow_from: AllowFrom,
    /// Sorted, each once.
    pub principals: Vec<Principal>,
}

/// Where `CreatePresignedDomainUrl` and `DescribeUserProfile` may be called from.
#[derive(Debug, Clone, PartialEq)]
pub enum AllowFrom {
    /// `aws:SourceVpc`: from inside the plan's VPC (example 1).
    Vpc,
    /// `aws:sourceVpce`: through the plan's sagemaker.api and studio endpoints (example 2).
    Endpoints,
    /// `aws:SourceIp`: from these public ranges (example 3).
    Cidrs(Vec<Ipv4Net>),
    /// `aws:VpcSourceIp` and `aws:SourceVpc`: from these ranges inside the VPC (example 4).
    VpcCidrs(Vec<Ipv4Net>),
}

impl AllowFrom {
    pub fn as_str(&self) -> &'static str {
        match self {
            AllowFrom::Vpc => "vpc",
            AllowFrom::Endpoints => "endpoints",
            AllowFrom::Cidrs(_) => "cidrs",
            AllowFrom::VpcCidrs(_) => "vpc_cidrs",
        }
    }

    /// Whether the document names the VPC's id.
    pub fn needs_vpc(&self) -> bool {
        matches!(self, AllowFrom::Vpc | AllowFrom::VpcCidrs(_))
    }
}

/// The endpoints whose ids `allow_from = "endpoints"` names: `CreatePresignedDomainUrl`
/// goes through the API endpoint, Studio's traffic through the studio one (seed 001).
pub const ACCESS_ENDPOINTS: &[&str] = &["sagemaker.api", "studio"];

/// The actions the access policy allows, and that the API endpoint must let through.
pub const ACCESS_ACTIONS: &[&str] = &[
    "sagemaker:CreatePresignedDomainUrl",
    "sagemaker:DescribeUserProfile",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Role,
    Group,
    User,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Role => "role",
            PrincipalKind::Group => "group",
            PrincipalKind::User => "user",
        }
    }
}

/// An existing IAM role, group or user, by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub name: String,
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

/// What an interface endpoint's policy allows, as the plan states it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointIntent {
    /// `sagemaker.runtime`: only `sagemaker:InvokeEndpoint`, on these SageMaker endpoints.
    pub invoke_endpoints: Vec<String>,
    /// `studio`: `sagemaker:CreateApp` in the plan's domain (the KernelGateway app cannot
    /// start otherwise).
    pub create_app: bool,
    /// `studio`: `sagemaker:CreatePresignedDomainUrl` on these profiles only.
    pub presigned_url_profiles: Vec<String>,
    /// Principals limited to the plan's account (`aws:PrincipalAccount`).
    pub same_account_only: bool,
}

impl EndpointIntent {
    /// Whether its ARNs name the plan's domain.
    pub fn needs_domain(&self) -> bool {
        self.create_app || !self.presigned_url_profiles.is_empty()
    }
}

/// Where ARNs are built: the caller's partition and account, the plan's region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub partition: String,
    pub account: String,
}

impl Caller {
    /// A SageMaker resource's ARN. SageMaker keeps resource names in its ARNs in lower
    /// case (an endpoint `myEndpoint` is `endpoint/myendpoint`), and IAM compares ARNs
    /// case-sensitively, so the names are lowered here.
    pub fn sagemaker_arn(&self, region: &str, resource: &str) -> String {
        format!(
            "arn:{}:sagemaker:{region}:{}:{}",
            self.partition,
            self.account,
            resource.to_ascii_lowercase()
        )
    }

    /// The ARN of a customer-managed IAM policy.
    pub fn policy_arn(&self, path: &str, name: &str) -> String {
        format!(
            "arn:{}:iam::{}:policy{path}{name}",
            self.partition, self.account
        )
    }
}

/// The partition a region belongs to (used where no caller ARN says it, e.g. offline).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The identity policy of `[studio_access]` (seed 001, examples 1-4). `vpc` and
/// `endpoints` are ids (or placeholders for ids not known yet).
pub fn studio_access_document(from: &AllowFrom, vpc: &str, endpoints: &[String]) -> Value {
    let cidrs = |c: &[Ipv4Net]| -> Vec<String> { c.iter().map(ToString::to_string).collect() };
    let condition = match from {
        AllowFrom::Vpc => json!({"StringEquals": {"aws:SourceVpc": vpc}}),
        AllowFrom::Endpoints => json!({"StringEquals": {"aws:sourceVpce": endpoints}}),
        AllowFrom::Cidrs(c) => json!({"IpAddress": {"aws:SourceIp": cidrs(c)}}),
        AllowFrom::VpcCidrs(c) => json!({
            "IpAddress": {"aws:VpcSourceIp": cidrs(c)},
            "StringEquals": {"aws:SourceVpc": vpc}
        }),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EnableSageMakerStudioAccess",
            "Effect": "Allow",
            "Action": ACCESS_ACTIONS,
            "Resource": "*",
            "Condition": condition
        }]
    })
}

/// An interface endpoint's policy from its intent. `domain` is the plan's domain id
/// (or a placeholder), used when the intent names the domain's profiles.
pub fn endpoint_document(i: &EndpointIntent, caller: &Caller, region: &str, domain: &str) -> Value {
    let arn = |r: String| caller.sagemaker_arn(region, &r);
    let mut statements = Vec::new();
    if !i.invoke_endpoints.is_empty() {
        let arns: Vec<String> = i
            .invoke_endpoints
            .iter()
            .map(|e| arn(format!("endpoint/{e}")))
            .collect();
        statements.push(statement("sagemaker:InvokeEndpoint", json!(arns)));
    }
    if i.create_app {
        let within = json!([
            arn(format!("user-profile/{domain}/*")),
            arn(format!("app/{domain}/*"))
        ]);
        statements.push(statement("sagemaker:CreateApp", within));
    }
    if !i.presigned_url_profiles.is_empty() {
        let arns: Vec<String> = i
            .presigned_url_profiles
            .iter()
            .map(|p| arn(format!("user-profile/{domain}/{p}")))
            .collect();
        statements.push(statement("sagemaker:CreatePresignedDomainUrl", json!(arns)));
    }
    if statements.is_empty() {
        statements.push(statement("*", json!("*")));
    }
    if i.same_account_only {
        for s in &mut statements {
            s["Condition"] = json!({"StringEquals": {"aws:PrincipalAccount": caller.account}});
        }
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn statement(action: &str, resource: Value) -> Value {
    json!({"Effect": "Allow", "Principal": "*", "Action": action, "Resource": resource})
}

/// Whether `doc` lets `action` through for some resource: an `Allow` whose `Action`
/// (or `NotAction`) matches it, and no unconditional `Deny` of it on every resource.
/// Conditions are not evaluated (an allow under a condition counts as an allow): this
/// finds a policy that can never allow what the plan needs, not every one that might not.
pub fn allows(doc: &Value, action: &str) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    let effect = |s: &Value, e: &str| s.get("Effect").and_then(Value::as_str) == Some(e);
    let denied = statements.iter().any(|s| {
        effect(s, "Deny")
            && s.get("Condition").is_none()
            && s.get("Resource").is_some_and(|r| names(r).contains(&"*"))
            && matches_action(s, action)
    });
    !denied
        && statements
            .iter()
            .any(|s| effect(s, "Allow") && matches_action(s, action))
}

fn matches_action(s: &Value, action: &str) -> bool {
    if let Some(a) = s.get("Action") {
        names(a).iter().any(|p| glob(p, action))
    } else if let Some(na) = s.get("NotAction") {
        !names(na).iter().any(|p| glob(p, action))
    } else {
        false
    }
}

fn names(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's action matching: case-insensitive, `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    crate::audit::policy::glob(pattern, text, true)
}

#[cfg(test)]
mod tests;
