//! The plan file as written: serde structs that mirror the TOML, with spans kept on
//! every value a validation error may need to point at. Unknown fields are errors.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub name: S<String>,
    pub region: S<String>,
    pub vpc: S<RawVpc>,
    #[serde(default)]
    pub tags: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub subnets: BTreeMap<S<String>, S<RawPlanSubnet>>,
    #[serde(default)]
    pub security_groups: BTreeMap<S<String>, S<RawSecurityGroup>>,
    #[serde(default)]
    pub gateway_endpoints: BTreeMap<S<String>, S<RawGatewayEndpoint>>,
    /// Route tables that exist, named by id under a key (used, never owned).
    #[serde(default)]
    pub route_tables: BTreeMap<S<String>, S<RawExisting>>,
    /// Endpoints that exist in the VPC, by short service name: used instead of creating
    /// one (`sts = "vpce-..."`), never owned.
    #[serde(default)]
    pub existing_endpoints: BTreeMap<S<String>, S<String>>,
    #[serde(default)]
    pub interface_endpoints: Option<S<RawInterfaceEndpoints>>,
    #[serde(default)]
    pub egress: Option<S<RawEgress>>,
    /// EC2 request buckets AWS raised for the account: `Action = "CAP/REFILL"`.
    #[serde(default)]
    pub request_limits: BTreeMap<S<String>, S<String>>,
    /// A SageMaker Studio domain in VpcOnly mode, with its execution role and users.
    pub studio: Option<S<RawStudio>>,
    /// An IAM policy that lets principals open Studio only from the VPC.
    pub studio_access: Option<S<RawStudioAccess>>,
    /// The account's VPC quotas, where they differ from AWS's defaults.
    pub quotas: Option<S<RawQuotas>>,
}

/// `[quotas]`: values of the VPC quotas the plan is checked against (see `crate::quotas`
/// for the keys' Service Quotas codes and defaults).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuotas {
    pub interface_endpoints_per_vpc: Option<S<i64>>,
    pub subnets_per_vpc: Option<S<i64>>,
    pub rules_per_security_group: Option<S<i64>>,
    pub security_groups_per_network_interface: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStudioAccess {
    /// `vpc`, `endpoints`, `cidrs` or `vpc_cidrs`.
    pub allow_from: S<String>,
    /// For `cidrs` and `vpc_cidrs`.
    pub cidrs: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub attach_to_roles: Vec<S<String>>,
    #[serde(default)]
    pub attach_to_groups: Vec<S<String>>,
    #[serde(default)]
    pub attach_to_users: Vec<S<String>>,
}

/// `[interface_endpoints.access.<service>]`: one endpoint's policy, from a file or
/// from what it should allow.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpointAccess {
    /// Path of a JSON policy document, relative to the plan file.
    pub policy: Option<S<String>>,
    /// `sagemaker.runtime`: the SageMaker endpoints that may be invoked.
    pub invoke_endpoints: Option<S<Vec<S<String>>>>,
    /// `studio`: the user profiles presigned URLs may be made for.
    pub presigned_url_profiles: Option<S<Vec<S<String>>>>,
    /// Principals limited to the plan's account.
    pub same_account_only: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStudio {
    pub domain_name: S<String>,
    /// `iam` (default) or `sso`.
    pub auth_mode: Option<S<String>>,
    /// Plan subnet keys or `subnet-...` ids.
    pub subnets: S<Vec<S<String>>>,
    /// `create` (default) or an existing role's ARN.
    pub execution_role: Option<S<String>>,
    /// Managed policies attached to the role sagevpc creates.
    pub managed_policies: Option<S<Vec<S<String>>>>,
    /// IP addresses each user's apps take (2-4), for the capacity check.
    pub ips_per_user: Option<S<i64>>,
    /// SageMaker Projects (needs the servicecatalog endpoint).
    pub projects: Option<S<bool>>,
    #[serde(default)]
    pub user_profiles: BTreeMap<S<String>, S<RawUserProfile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUserProfile {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEgress {
    /// Attach an internet gateway to the VPC (for public subnets; never routed to from
    /// the private ones).
    pub internet_gateway: Option<S<bool>>,
    /// NAT egress for the private subnets: `none` (default), `single` or `per_az`.
    pub nat: Option<S<String>>,
    /// Public subnets (route to the internet gateway; the NAT gateways live there).
    #[serde(default)]
    pub public_subnets: BTreeMap<S<String>, S<RawSubnet>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVpc {
    /// Create and own a VPC with this CIDR.
    pub cidr: Option<S<String>>,
    /// Adopt an existing VPC: add owned children, never delete or retag it.
    pub id: Option<S<String>>,
    /// For an adopted VPC: allow sagevpc to switch `enableDnsSupport` and
    /// `enableDnsHostnames` on when interface endpoints need private DNS.
    pub manage_dns: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubnet {
    pub availability_zone: S<String>,
    pub cidr: S<String>,
}

/// `[subnets.<key>]`: a subnet the plan owns (`availability_zone` and `cidr`), or one
/// that exists, by `id`, that the plan uses but never owns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlanSubnet {
    pub availability_zone: Option<S<String>>,
    pub cidr: Option<S<String>>,
    pub id: Option<S<String>>,
}

/// `[route_tables.<key>]`: an existing resource by id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExisting {
    pub id: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurityGroup {
    /// Required for a group the plan owns.
    pub description: Option<S<String>>,
    /// An existing group, used by the plan (rules, endpoints) but never owned.
    pub id: Option<S<String>>,
    #[serde(default)]
    pub ingress: Vec<S<RawRule>>,
    /// Absent: AWS's default allow-all egress is kept. Present: exactly these rules.
    pub egress: Option<Vec<S<RawRule>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Ingress peer: `self`, a security group of the plan, or a CIDR.
    pub from: Option<S<String>>,
    /// Egress peer: `self`, a security group of the plan, or a CIDR.
    pub to: Option<S<String>>,
    pub protocol: S<String>,
    pub ports: Option<S<PortsValue>>,
}

/// `ports = "443"`, `ports = "1024-65535"` or `ports = 443`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PortsValue {
    Number(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayEndpoint {
    /// Path of a JSON policy document, relative to the plan file.
    pub policy: Option<S<String>>,
    /// Route tables not owned by the plan (of adopted subnets) to put the endpoint on too.
    #[serde(default)]
    pub route_tables: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterfaceEndpoints {
    pub services: S<Vec<S<String>>>,
    pub subnets: S<Vec<S<String>>>,
    #[serde(default)]
    pub security_groups: Vec<S<String>>,
    #[serde(default = "default_true")]
    pub private_dns: S<bool>,
    /// Path of a JSON policy document applied to every interface endpoint.
    pub policy: Option<S<String>>,
    /// Place each endpoint only in the subnets whose AZ offers its service (the plan
    /// output says where it left one out), instead of refusing the plan.
    pub skip_unsupported_azs: Option<S<bool>>,
    /// Per-service policies, by short service name.
    #[serde(default)]
    pub access: BTreeMap<S<String>, S<RawEndpointAccess>>,
}

fn default_true() -> S<bool> {
    Spanned::new(0..0, true)
}
