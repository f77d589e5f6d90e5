//! `[studio]`: a VpcOnly SageMaker Studio domain. Checks the guides' rules that need
//! no AWS call (seed 004, "Requirements to use VPC only mode"; seed 001), and adds the
//! domain's security groups to the plan's: `studio` (every app of the domain), one
//! `user-<name>` per profile (the guide's "distinct security group for each user
//! profile"), and `studio-clients` when the endpoints' group would otherwise pass its
//! inbound rules quota.

use std::collections::{BTreeMap, BTreeSet};

use super::{is_aws_id, Ctx};
use crate::model::{Direction, Peer, Protocol, Rule};
use crate::plan::file::{RawPlan, RawStudio, S};
use crate::plan::{
    AuthMode, GatewayEndpointSpec, InterfaceEndpointSpec, Ref, RoleChoice, SecurityGroupSpec,
    StudioSpec, SubnetSpec, UserProfileSpec, VpcSpec,
};

/// The role sagevpc creates: `<plan>` plus this (IAM role names are at most 64).
pub const ROLE_SUFFIX: &str = "-sagemaker-execution";
pub const DEFAULT_POLICY: &str = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess";
/// The domain's own group, and the shared client group.
pub const DOMAIN_GROUP: &str = "studio";
pub const CLIENT_GROUP: &str = "studio-clients";
/// The ports Studio's JupyterServer and KernelGateway apps talk on.
const APP_PORTS: (i32, i32) = (8192, 65535);

/// The plan's parts `[studio]` needs, as validated.
pub(super) struct Network<'a> {
    pub name: &'a str,
    pub vpc: Option<&'a VpcSpec>,
    pub subnets: &'a BTreeMap<String, SubnetSpec>,
    pub gateway_endpoints: &'a BTreeMap<String, GatewayEndpointSpec>,
    pub interface_endpoints: &'a BTreeMap<String, InterfaceEndpointSpec>,
}

/// A profile or domain name SageMaker accepts: `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
pub(super) fn is_sagemaker_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-cn" | "aws-us-gov")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|r| !r.is_empty())
}

fn is_policy_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && (parts[4] == "aws"
            || (parts[4].len() == 12 && parts[4].chars().all(|c| c.is_ascii_digit())))
        && parts[5]
            .strip_prefix("policy/")
            .is_some_and(|r| !r.is_empty())
}

/// `[studio]`, with the groups it adds to `groups`.
pub(super) fn check(
    ctx: &mut Ctx,
    raw: &RawPlan,
    net: &Network,
    groups: &mut BTreeMap<String, SecurityGroupSpec>,
    rules_per_group: u32,
) -> Option<StudioSpec> {
    let st = raw.studio.as_ref()?;
    let s = st.get_ref();
    let before = ctx.diags.len();
    let domain_name = s.domain_name.get_ref().clone();
    if !is_sagemaker_name(&domain_name) {
        ctx.err(
            s.domain_name.span(),
            "studio.domain_name",
            "a domain name is 1-63 letters, digits and '-', starting and ending with a letter or digit",
        );
    }
    let auth_mode = auth_mode(ctx, s);
    let subnets = subnets(ctx, s, net);
    let (execution_role, managed_policies) = role(ctx, s, net.name);
    let ips_per_user = match &s.ips_per_user {
        None => 4,
        Some(n) if (2..=4).contains(n.get_ref()) => *n.get_ref() as u32,
        Some(n) => {
            ctx.err(
                n.span(),
                "studio.ips_per_user",
                "the guide recommends 2 to 4 IP addresses per user (seed 004, VPC only mode, requirement 2)",
            );
            4
        }
    };
    let projects = s.projects.as_ref().is_some_and(|p| *p.get_ref());
    required_endpoints(ctx, st, net, projects);
    let users = users(ctx, s, raw);
    let endpoint_groups = endpoint_groups(ctx, st, net);
    if ctx.diags.len() > before {
        return None;
    }
    capacity(ctx, st, net, &subnets, users.len(), ips_per_user);
    let (domain_groups, user_profiles, shared) = add_groups(
        groups,
        net,
        &users,
        &endpoint_groups,
        rules_per_group as usize,
    );
    Some(StudioSpec {
        domain_name,
        auth_mode,
        subnets,
        execution_role,
        managed_policies,
        ips_per_user,
        projects,
        user_profiles,
        domain_groups,
        shared_client_group: shared,
    })
}

fn auth_mode(ctx: &mut Ctx, s: &RawStudio) -> AuthMode {
    match s
        .auth_mode
        .as_ref()
        .map(|m| (m.get_ref().as_str(), m.span()))
    {
        None | Some(("iam", _)) => AuthMode::Iam,
        Some(("sso", _)) => AuthMode::Sso,
        Some((other, span)) => {
            ctx.err(
                span,
                "studio.auth_mode",
                format!("{other:?} is not an auth mode: \"iam\" (the only one the VPC-only IAM conditions of seed 001 work with) or \"sso\""),
            );
            AuthMode::Iam
        }
    }
}

fn subnets(ctx: &mut Ctx, s: &RawStudio, net: &Network) -> Vec<Ref> {
    if s.subnets.get_ref().is_empty() {
        ctx.err(
            s.subnets.span(),
            "studio.subnets",
            "a Studio domain needs at least one subnet (private, in the plan's VPC)",
        );
    }
    let mut out: Vec<Ref> = Vec::new();
    for (i, v) in s.subnets.get_ref().iter().enumerate() {
        let name = v.get_ref();
        let r = if let Some(id) = ctx.existing.subnets.get(name) {
            Ref::Id(id.clone())
        } else if net.subnets.contains_key(name) {
            Ref::Key(name.clone())
        } else if is_aws_id(name, "subnet-") {
            Ref::Id(name.clone())
        } else {
            let known: Vec<&str> = net.subnets.keys().map(String::as_str).collect();
            ctx.err(
                v.span(),
                format!("studio.subnets[{i}]"),
                format!(
                    "{name:?} is neither a subnet of the plan ({}) nor a subnet id (subnet-...)",
                    known.join(", ")
                ),
            );
            continue;
        };
        if out.contains(&r) {
            ctx.err(
                v.span(),
                format!("studio.subnets[{i}]"),
                format!("{name:?} is listed twice"),
            );
        } else {
            out.push(r);
        }
    }
    out
}

fn role(ctx: &mut Ctx, s: &RawStudio, plan: &str) -> (RoleChoice, Vec<String>) {
    let choice = match &s.execution_role {
        None => RoleChoice::Create,
        Some(r) if r.get_ref() == "create" => RoleChoice::Create,
        Some(r) if is_role_arn(r.get_ref()) => RoleChoice::Existing(r.get_ref().clone()),
        Some(r) => {
            ctx.err(
                r.span(),
                "studio.execution_role",
                format!("{:?} is neither \"create\" nor a role ARN (arn:aws:iam::123456789012:role/name)", r.get_ref()),
            );
            RoleChoice::Create
        }
    };
    if choice == RoleChoice::Create && plan.len() + ROLE_SUFFIX.len() > 64 {
        ctx.err(
            s.domain_name.span(),
            "studio.execution_role",
            format!("the role sagevpc creates is named {plan}{ROLE_SUFFIX}, longer than IAM's 64 characters: shorten the plan name to {} characters, or name an existing role", 64 - ROLE_SUFFIX.len()),
        );
    }
    let mut policies = Vec::new();
    match (&s.managed_policies, &choice) {
        (None, RoleChoice::Create) => policies.push(DEFAULT_POLICY.to_string()),
        (None, RoleChoice::Existing(_)) => {}
        (Some(list), RoleChoice::Existing(_)) => ctx.err(
            list.span(),
            "studio.managed_policies",
            "managed_policies are attached to the role sagevpc creates; an existing role is used as it is",
        ),
        (Some(list), RoleChoice::Create) => {
            for (i, p) in list.get_ref().iter().enumerate() {
                if !is_policy_arn(p.get_ref()) {
                    ctx.err(
                        p.span(),
                        format!("studio.managed_policies[{i}]"),
                        format!("{:?} is not a managed policy ARN (arn:aws:iam::aws:policy/Name)", p.get_ref()),
                    );
                } else if !policies.contains(p.get_ref()) {
                    policies.push(p.get_ref().clone());
                }
            }
            if policies.len() > 20 {
                ctx.err(list.span(), "studio.managed_policies", "IAM attaches at most 20 managed policies to a role");
            }
        }
    }
    (choice, policies)
}

/// The endpoints VpcOnly Studio cannot work without, and why (seed 004, requirement 5).
/// The interface endpoints a VpcOnly domain needs (S3 aside), with why: validation
/// requires them of `[studio]`, `sagevpc audit` of any VPC.
pub const REQUIRED: &[(&str, &str)] = &[
    (
        "sagemaker.api",
        "Studio and every SageMaker call go through the SageMaker API",
    ),
    (
        "sagemaker.runtime",
        "it is required to run Studio notebooks and to train and host models",
    ),
    (
        "studio",
        "the Studio UI itself is served through it (seed 001, aws.sagemaker.<region>.studio)",
    ),
    (
        "sts",
        "the SageMaker Python SDK's remote jobs get credentials through it",
    ),
    (
        "logs",
        "the SageMaker Python SDK reads remote training job status from CloudWatch Logs",
    ),
];

fn required_endpoints(ctx: &mut Ctx, st: &S<RawStudio>, net: &Network, projects: bool) {
    let has = |short: &str| {
        let full = crate::plan::services::service_name(&ctx.region, short);
        ctx.existing.endpoints.contains_key(short)
            || net
                .interface_endpoints
                .values()
                .any(|e| e.service_name == full)
    };
    let mut missing: Vec<(String, &str)> = REQUIRED
        .iter()
        .filter(|(s, _)| !has(s))
        .map(|(s, why)| (s.to_string(), *why))
        .collect();
    if !net.gateway_endpoints.contains_key("s3") && !has("s3") {
        missing.push(("s3".into(), "apps read and write their data in S3 (a gateway endpoint under [gateway_endpoints.s3], or an interface endpoint)"));
    }
    if projects && !has("servicecatalog") {
        missing.push((
            "servicecatalog".into(),
            "SageMaker Projects (projects = true) are provisioned through Service Catalog",
        ));
    }
    for (service, why) in missing {
        ctx.err(
            st.span(),
            "studio",
            format!("a VpcOnly Studio domain needs an endpoint for {service}: {why} (seed 004, \"Requirements to use VPC only mode\", 5). Add {service:?} to interface_endpoints.services"),
        );
    }
}

fn users(ctx: &mut Ctx, s: &RawStudio, raw: &RawPlan) -> Vec<String> {
    let taken: BTreeSet<&str> = raw
        .security_groups
        .keys()
        .map(|k| k.get_ref().as_str())
        .collect();
    for reserved in [DOMAIN_GROUP, CLIENT_GROUP] {
        if let Some(k) = raw.security_groups.keys().find(|k| k.get_ref() == reserved) {
            ctx.err(
                k.span(),
                format!("security_groups.{reserved}"),
                format!("the group {reserved:?} is the Studio domain's, which sagevpc makes for [studio]; give this one another name"),
            );
        }
    }
    let mut out = Vec::new();
    for name in s.user_profiles.keys() {
        let n = name.get_ref();
        let field = format!("studio.user_profiles.{n}");
        if !is_sagemaker_name(n) {
            ctx.err(name.span(), &field, "a user profile name is 1-63 letters, digits and '-', starting and ending with a letter or digit");
        } else if taken.contains(format!("user-{n}").as_str()) {
            ctx.err(name.span(), &field, format!("the group user-{n} is this user's own, which sagevpc makes; rename the plan's group user-{n}"));
        } else {
            out.push(n.clone());
        }
    }
    out
}

/// The plan's groups the interface endpoints carry: they admit 443 from the domain.
fn endpoint_groups(ctx: &mut Ctx, st: &S<RawStudio>, net: &Network) -> Vec<String> {
    let groups: BTreeSet<String> = net
        .interface_endpoints
        .values()
        .flat_map(|e| &e.security_groups)
        .filter_map(|r| match r {
            Ref::Key(k) => Some(k.clone()),
            Ref::Id(_) => None,
        })
        .collect();
    if groups.is_empty() && !net.interface_endpoints.is_empty() {
        ctx.err(
            st.span(),
            "studio",
            "the interface endpoints' security group must be one of the plan's (under [security_groups]), so that sagevpc can let each Studio user's group reach it on 443",
        );
    }
    groups.into_iter().collect()
}

/// Free addresses of the domain's plan subnets against `users × ips_per_user`: each
/// subnet loses AWS's 5 reserved addresses, one per interface endpoint in it, and one
/// for the domain's EFS mount target (seed 004, requirement 2). Subnets named by id are
/// checked at plan time, from what AWS says is free.
fn capacity(
    ctx: &mut Ctx,
    st: &S<RawStudio>,
    net: &Network,
    subnets: &[Ref],
    users: usize,
    ips: u32,
) {
    if subnets.iter().any(|r| matches!(r, Ref::Id(_))) {
        return;
    }
    let mut free: i64 = 0;
    let mut parts = Vec::new();
    for r in subnets {
        let Ref::Key(k) = r else { continue };
        let Some(spec) = net.subnets.get(k) else {
            continue;
        };
        let endpoints = net
            .interface_endpoints
            .values()
            .filter(|e| e.subnets.contains(r))
            .count() as i64;
        let size = 1i64 << (32 - spec.cidr.prefix_len());
        let f = size - 5 - endpoints - 1;
        parts.push(format!("{k} {} has {f}", spec.cidr));
        free += f.max(0);
    }
    let need = users as i64 * ips as i64;
    if need > free {
        ctx.err(
            st.span(),
            "studio.subnets",
            format!(
                "{users} users × {ips} IPs need {need} addresses, but the domain's subnets have {free} free ({}; after AWS's 5 reserved per subnet, one per interface endpoint and one EFS mount target): use larger subnets or more of them (seed 004, requirement 2)",
                parts.join(", ")
            ),
        );
    }
}

fn https_rule(direction: Direction, peer: Peer) -> Rule {
    Rule {
        direction,
        protocol: Protocol::Tcp,
        ports: Some((443, 443)),
        peer,
    }
}

/// The apps of one user talk to each other on 8192-65535 (JupyterServer and
/// KernelGateway): from and to the user's own group only.
fn app_rule(direction: Direction) -> Rule {
    Rule {
        direction,
        protocol: Protocol::Tcp,
        ports: Some(APP_PORTS),
        peer: Peer::SelfGroup,
    }
}

/// What every app of the domain may reach: the endpoints on 443, S3 through its
/// gateway endpoint (the region's S3 prefix list), and the domain's EFS on 2049.
fn egress_rules(net: &Network) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for g in net
        .interface_endpoints
        .values()
        .flat_map(|e| &e.security_groups)
    {
        if let Ref::Key(k) = g {
            rules.insert(https_rule(Direction::Egress, Peer::Group(k.clone())));
        }
    }
    if let Some(s3) = net.gateway_endpoints.get("s3") {
        rules.insert(https_rule(
            Direction::Egress,
            Peer::PrefixList(s3.service_name.clone()),
        ));
    }
    let vpc: Peer = match net.vpc {
        Some(VpcSpec::Owned { cidr }) => Peer::Cidr(ipnet::IpNet::V4(*cidr)),
        _ => Peer::VpcCidr,
    };
    rules.insert(Rule {
        direction: Direction::Egress,
        protocol: Protocol::Tcp,
        ports: Some((2049, 2049)),
        peer: vpc,
    });
    rules
}

fn add_group(
    groups: &mut BTreeMap<String, SecurityGroupSpec>,
    key: &str,
    description: &str,
    rules: BTreeSet<Rule>,
) {
    groups.insert(
        key.to_string(),
        SecurityGroupSpec {
            description: description.to_string(),
            rules,
        },
    );
}

/// The groups `[studio]` adds: the domain's, one per user, the shared client group when
/// the endpoints' groups would pass their inbound rules quota (`rules_per_group`: the
/// plan's `[quotas]` value or AWS's 60); and the endpoints' groups' ingress from them.
/// Returns the domain's groups, the users with their groups, and whether the client
/// group is shared.
fn add_groups(
    groups: &mut BTreeMap<String, SecurityGroupSpec>,
    net: &Network,
    users: &[String],
    endpoint_groups: &[String],
    rules_per_group: usize,
) -> (Vec<String>, BTreeMap<String, UserProfileSpec>, bool) {
    let shared = endpoint_groups.iter().any(|g| {
        let inbound = groups.get(g).map_or(0, |s| {
            s.rules
                .iter()
                .filter(|r| r.direction == Direction::Ingress)
                .count()
        });
        inbound + 1 + users.len() > rules_per_group
    });
    let egress = egress_rules(net);
    let mut domain_groups = vec![DOMAIN_GROUP.to_string()];
    add_group(
        groups,
        DOMAIN_GROUP,
        "Studio domain apps (sagevpc)",
        egress.clone(),
    );
    let mut admitted = vec![DOMAIN_GROUP.to_string()];
    if shared {
        add_group(
            groups,
            CLIENT_GROUP,
            "Studio clients of the endpoints (sagevpc)",
            egress.clone(),
        );
        domain_groups.push(CLIENT_GROUP.to_string());
        admitted.push(CLIENT_GROUP.to_string());
    }
    let mut user_profiles = BTreeMap::new();
    for u in users {
        let key = format!("user-{u}");
        let mut rules = egress.clone();
        rules.insert(app_rule(Direction::Ingress));
        rules.insert(app_rule(Direction::Egress));
        add_group(groups, &key, &format!("Studio user {u} (sagevpc)"), rules);
        let mut carried = vec![key.clone()];
        if shared {
            carried.push(CLIENT_GROUP.to_string());
        } else {
            admitted.push(key);
        }
        user_profiles.insert(
            u.clone(),
            UserProfileSpec {
                security_groups: carried,
            },
        );
    }
    for g in endpoint_groups {
        if let Some(spec) = groups.get_mut(g) {
            for a in &admitted {
                spec.rules
                    .insert(https_rule(Direction::Ingress, Peer::Group(a.clone())));
            }
        }
    }
    (domain_groups, user_profiles, shared)
}
