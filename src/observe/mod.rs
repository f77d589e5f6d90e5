//! Stage 2: live state, read through a [`Cloud`] (the AWS adapters, or the in-memory
//! fake) and expressed in the tool's own types. Resources are found by the plan's
//! ownership tag with one paginated Describe call per resource type; their number never
//! changes the number of calls.

pub mod residents;
pub mod unowned;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aws::AwsError;
use crate::model::{Address, Kind, TAG_KEY, TAG_PLAN};
use crate::plan::access::{Caller, Principal};
use crate::plan::{Plan, Ref, VpcSpec};
use crate::quotas::{Quota, Reading};
use crate::resources::{
    access_policy, elastic_ip, endpoint, iam_role, internet_gateway, nat_gateway, route_table,
    security_group,
};
use crate::resources::{studio_domain, subnet, user_profile, vpc};
use crate::resources::{Cloud, Live};

pub use crate::resources::access_policy::ObservedPolicy;
pub use crate::resources::elastic_ip::ObservedAddress;
pub use crate::resources::endpoint::{EndpointType, ObservedEndpoint, ServiceInfo};
pub use crate::resources::iam_role::ObservedRole;
pub use crate::resources::internet_gateway::ObservedInternetGateway;
pub use crate::resources::nat_gateway::ObservedNatGateway;
pub use crate::resources::route_table::{ObservedRoute, ObservedRouteTable};
pub use crate::resources::route_table_association::ObservedAssociation;
pub use crate::resources::security_group::ObservedSecurityGroup;
pub use crate::resources::studio_domain::ObservedDomain;
pub use crate::resources::subnet::ObservedSubnet;
pub use crate::resources::user_profile::ObservedUserProfile;
pub use crate::resources::vpc::ObservedVpc;

pub type Tags = BTreeMap<String, String>;

/// Everything a plan may own or refer to, as read from AWS. A new observed type is a
/// new field here, which `observe` and `fingerprint` must fill and sort (both name
/// every field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Owned VPCs (found by tag), or the adopted one (found by id).
    pub vpcs: Vec<ObservedVpc>,
    pub internet_gateways: Vec<ObservedInternetGateway>,
    pub subnets: Vec<ObservedSubnet>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    /// Owned endpoints, gateway and interface.
    pub endpoints: Vec<ObservedEndpoint>,
    /// Endpoints in the plan's VPC that the plan does not own (other plans, by hand).
    pub foreign_endpoints: Vec<ObservedEndpoint>,
    /// Existing subnets the plan names by id.
    pub referenced_subnets: Vec<ObservedSubnet>,
    /// Existing security groups the plan names by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referenced_groups: Vec<ObservedSecurityGroup>,
    /// Endpoint services of the region that the plan names, with their AZs.
    pub services: Vec<ServiceInfo>,
    /// Every service name of the region, read only when the plan names one the region
    /// does not offer (to suggest the one meant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<String>,
    /// The route tables of the plan's VPC, read when the plan puts a gateway endpoint
    /// next to subnets it adopts (to see which of them use it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_route_tables: Vec<ObservedRouteTable>,
    /// Every subnet of the plan's VPC, read when the plan is about to create a subnet
    /// there (a new one may not overlap any of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_subnets: Vec<ObservedSubnet>,
    /// Managed prefix lists (service name -> id) the plan's rules name by service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefix_lists: BTreeMap<String, String>,
    /// The plan's execution role (found by its name, owned by tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ObservedRole>,
    /// A role with the name the plan would give its own, not tagged as the plan's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_roles: Vec<ObservedRole>,
    /// The plan's Studio domains (by tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<ObservedDomain>,
    /// The user profiles of the plan's domains (by tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_profiles: Vec<ObservedUserProfile>,
    /// The plan's Elastic IP addresses (by tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<ObservedAddress>,
    /// The plan's NAT gateways that are not `deleted` (by tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nat_gateways: Vec<ObservedNatGateway>,
    /// VPCs of sagevpc plans with the CIDR of a VPC this plan is about to create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_cidr: Vec<ObservedVpc>,
    /// The caller's account and partition, read when the plan builds ARNs or looks for
    /// its access policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
    /// The plan's Studio access policy (found by its name, owned by tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_policies: Vec<ObservedPolicy>,
    /// A policy with the name the plan would give its own, not tagged as the plan's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_policies: Vec<ObservedPolicy>,
    /// The principals `[studio_access]` names that exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<Principal>,
    /// What Service Quotas said of the VPC quotas, read by `plan` and `apply` after the
    /// first diff when the change adds what a quota counts (`commands::read`); `None`
    /// when not read (a no-op plan, destroy, the read-back after an apply), and then the
    /// quota checks that need live state do not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<BTreeMap<Quota, Reading>>,
}

/// A SageMaker Studio domain in the plan's VPC (never owned: sagevpc only reads them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioDomain {
    pub id: String,
    pub name: String,
    pub status: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// The domain's own groups and its users' default groups.
    pub security_group_ids: Vec<String>,
    /// `AppNetworkAccessType = VpcOnly`.
    pub vpc_only: bool,
}

/// The `sagevpc:key` of a resource owned by `plan`, if it is.
pub fn owned_key<'a>(tags: &'a Tags, plan: &str) -> Option<&'a str> {
    (tags.get(TAG_PLAN).map(String::as_str) == Some(plan))
        .then(|| tags.get(TAG_KEY).map(String::as_str))
        .flatten()
}

impl Observed {
    /// The plan's VPC: the adopted one, or the owned copy the diff keeps (lowest id).
    pub fn vpc_of(&self, plan: &Plan) -> Option<&ObservedVpc> {
        let main = Address::new(Kind::Vpc, vpc::KEY).to_string();
        match &plan.vpc {
            VpcSpec::Adopted { id, .. } => self.vpcs.iter().find(|v| &v.id == id),
            VpcSpec::Owned { .. } => self
                .vpcs
                .iter()
                .filter(|v| owned_key(&v.tags, &plan.name) == Some(main.as_str()))
                .min_by(|a, b| a.id.cmp(&b.id)),
        }
    }
}

/// Subnets the plan names by id (for endpoints and Studio), and the endpoint services
/// it names.
fn references(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let studio = plan.studio.iter().flat_map(|s| s.subnets.iter());
    let subnet_ids: BTreeSet<String> = plan
        .interface_endpoints
        .values()
        .flat_map(|e| e.subnets.iter())
        .chain(studio)
        .filter_map(|r| match r {
            Ref::Id(id) => Some(id.clone()),
            Ref::Key(_) => None,
        })
        .chain(plan.existing.subnets.values().cloned())
        .collect();
    let names: BTreeSet<String> = plan
        .interface_endpoints
        .values()
        .map(|e| e.service_name.clone())
        .chain(
            plan.gateway_endpoints
                .values()
                .map(|g| g.service_name.clone()),
        )
        .collect();
    (
        subnet_ids.into_iter().collect(),
        names.into_iter().collect(),
    )
}

/// Read the live state that `plan` may own or refer to. Read-only. Two rounds of
/// concurrent calls: everything found by tag or by name, then what needs the VPC id.
pub async fn observe<C: Cloud>(c: &C, plan: &Plan) -> Result<Observed, AwsError> {
    let name = plan.name.as_str();
    let (subnet_ids, names) = references(plan);
    let lists = prefix_list_names(plan);
    let group_ids = group_references(plan);
    let (egress, vpcs, igws, subnets, rts, sgs, eps, referenced, services, prefix_lists, groups) = tokio::join!(
        async {
            tokio::try_join!(
                elastic_ip::Api::describe_addresses_by_plan(c, name),
                nat_gateway::Api::describe_nat_gateways_by_plan(c, name),
            )
        },
        async {
            match &plan.vpc {
                VpcSpec::Adopted { id, .. } => Ok(vpc::Api::describe_vpc_by_id(c, id)
                    .await?
                    .into_iter()
                    .collect()),
                VpcSpec::Owned { .. } => vpc::Api::describe_vpcs_by_plan(c, name).await,
            }
        },
        internet_gateway::Api::describe_internet_gateways_by_plan(c, name),
        subnet::Api::describe_subnets_by_plan(c, name),
        route_table::Api::describe_route_tables_by_plan(c, name),
        security_group::Api::describe_security_groups_by_plan(c, name),
        endpoint::Api::describe_endpoints_by_plan(c, name),
        async {
            if subnet_ids.is_empty() {
                Ok(Vec::new())
            } else {
                subnet::Api::describe_subnets_by_ids(c, &subnet_ids).await
            }
        },
        async {
            if names.is_empty() {
                Ok(Vec::new())
            } else {
                endpoint::Api::describe_endpoint_services(c, &names).await
            }
        },
        async {
            if lists.is_empty() {
                Ok(Vec::new())
            } else {
                security_group::Api::describe_prefix_lists(c, &lists).await
            }
        },
        async {
            if group_ids.is_empty() {
                Ok(Vec::new())
            } else {
                security_group::Api::describe_security_groups_by_ids(c, &group_ids).await
            }
        },
    );
    let mut obs = Observed {
        vpcs: vpcs?,
        internet_gateways: igws?,
        subnets: subnets?,
        route_tables: rts?,
        security_groups: sgs?,
        endpoints: eps?,
        foreign_endpoints: Vec::new(),
        referenced_subnets: referenced?,
        referenced_groups: groups?,
        services: services?,
        offered: Vec::new(),
        same_cidr: Vec::new(),
        vpc_route_tables: Vec::new(),
        vpc_subnets: Vec::new(),
        prefix_lists: prefix_lists?.into_iter().collect(),
        roles: Vec::new(),
        foreign_roles: Vec::new(),
        domains: Vec::new(),
        user_profiles: Vec::new(),
        caller: None,
        access_policies: Vec::new(),
        foreign_policies: Vec::new(),
        principals: Vec::new(),
        addresses: Vec::new(),
        nat_gateways: Vec::new(),
        quotas: None,
    };
    (obs.addresses, obs.nat_gateways) = egress?;
    for g in &mut obs.nat_gateways {
        g.internet_gateway = obs
            .internet_gateways
            .iter()
            .find(|i| i.attached_to.as_deref() == Some(g.vpc_id.as_str()))
            .map(|i| i.id.clone());
    }
    // AWS refuses the whole call when one name is unknown: then every service of the
    // region is read, which answers for the names it has and suggests the one meant.
    if names
        .iter()
        .any(|n| !obs.services.iter().any(|s| &s.service_name == n))
    {
        let all = endpoint::Api::describe_all_endpoint_services(c).await?;
        obs.offered = all.iter().map(|s| s.service_name.clone()).collect();
        obs.offered.sort();
        obs.offered.dedup();
        obs.services = all
            .into_iter()
            .filter(|s| names.contains(&s.service_name))
            .collect();
    }
    let in_play = studio_in_play(plan, &obs);
    let (studio, access) = tokio::join!(
        read_studio(c, plan, &mut obs),
        read_access(c, plan, in_play)
    );
    studio?;
    access?.into(&mut obs, plan);
    let Some(home) = obs.vpc_of(plan).map(|v| v.id.clone()) else {
        if let VpcSpec::Owned { cidr } = &plan.vpc {
            obs.same_cidr = vpc::Api::describe_plan_vpcs_with_cidr(c, &cidr.to_string()).await?;
        }
        return Ok(obs);
    };
    read_in_vpc(c, plan, &home, &subnet_ids, &mut obs).await?;
    Ok(obs)
}

/// The second round, which needs the VPC's id: its DNS attributes, and the endpoints,
/// route tables and subnets in it that the plan's checks need.
async fn read_in_vpc<C: Cloud>(
    c: &C,
    plan: &Plan,
    home: &str,
    subnet_ids: &[String],
    obs: &mut Observed,
) -> Result<(), AwsError> {
    let name = plan.name.as_str();
    let home = home.to_string();
    let want_foreign = !plan.interface_endpoints.is_empty() || !plan.existing.endpoints.is_empty();
    // Adopted subnets: which route tables they use (the gateway endpoint's, and
    // Studio's private-subnet check).
    let want_tables = ((!plan.gateway_endpoints.is_empty() || plan.studio.is_some())
        && !subnet_ids.is_empty())
        || !plan.existing.route_tables.is_empty();
    let want_subnets = creates_a_subnet(plan, &obs.subnets);
    let (dns, foreign, tables, in_vpc) = tokio::join!(
        vpc::Api::describe_vpc_dns(c, &home),
        async {
            if want_foreign {
                endpoint::Api::describe_endpoints_in_vpc(c, &home).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if want_tables {
                route_table::Api::describe_route_tables_in_vpc(c, &home).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if want_subnets {
                subnet::Api::describe_subnets_in_vpc(c, &home).await
            } else {
                Ok(Vec::new())
            }
        }
    );
    obs.vpc_route_tables = tables?;
    obs.vpc_subnets = in_vpc?;
    let (support, hostnames) = dns?;
    if let Some(v) = obs.vpcs.iter_mut().find(|v| v.id == home) {
        (v.dns_support, v.dns_hostnames) = (support, hostnames);
    }
    obs.foreign_endpoints = foreign?
        .into_iter()
        .filter(|e| owned_key(&e.tags, name).is_none())
        .collect();
    Ok(())
}

/// Whether Studio's resources may exist: the plan has `[studio]`, or it still owns the
/// domain's group (a plan whose `[studio]` was removed, until its domain is gone).
/// Otherwise no IAM or SageMaker call is made.
fn studio_in_play(plan: &Plan, obs: &Observed) -> bool {
    let key = Address::new(Kind::SecurityGroup, crate::plan::validate::DOMAIN_GROUP).to_string();
    plan.studio.is_some()
        || obs
            .security_groups
            .iter()
            .any(|g| owned_key(&g.tags, &plan.name) == Some(key.as_str()))
}

/// The execution role (by its name), the plan's domains and their user profiles.
async fn read_studio<C: Cloud>(c: &C, plan: &Plan, obs: &mut Observed) -> Result<(), AwsError> {
    if !studio_in_play(plan, obs) {
        return Ok(());
    }
    let role = iam_role::role_name(&plan.name);
    let (role, domains, orphans) = tokio::join!(
        iam_role::Api::get_role(c, &role),
        studio_domain::Api::describe_domains_by_plan(c, &plan.name),
        studio_domain::Api::describe_domain_leftovers(c, &plan.name),
    );
    match role? {
        Some(r) if owned_key(&r.tags, &plan.name).is_some() => obs.roles.push(r),
        Some(r) => obs.foreign_roles.push(r),
        None => {}
    }
    obs.domains = domains?;
    let ids: Vec<String> = obs.domains.iter().map(|d| d.id.clone()).collect();
    let mut orphans = orphans?;
    orphans.sort();
    orphans.dedup();
    for (domain, vpc) in orphans.into_iter().filter(|(d, _)| !ids.contains(d)) {
        obs.domains
            .push(studio_domain::orphan(&plan.name, &domain, &vpc));
    }
    if !ids.is_empty() {
        obs.user_profiles =
            user_profile::Api::describe_user_profiles_by_plan(c, &plan.name, &ids).await?;
    }
    Ok(())
}

/// What `[studio_access]` and the endpoint intents need: the caller, the access policy,
/// the principals it is attached to.
#[derive(Default)]
struct Access {
    caller: Option<Caller>,
    policy: Option<ObservedPolicy>,
    principals: Vec<Principal>,
}

impl Access {
    fn into(self, obs: &mut Observed, plan: &Plan) {
        obs.caller = self.caller;
        match self.policy {
            Some(p) if owned_key(&p.tags, &plan.name).is_some() => obs.access_policies.push(p),
            Some(p) => obs.foreign_policies.push(p),
            None => {}
        }
        obs.principals = self.principals;
    }
}

async fn read_access<C: Cloud>(c: &C, plan: &Plan, in_play: bool) -> Result<Access, AwsError> {
    let intents = plan
        .interface_endpoints
        .values()
        .any(|e| e.intent.is_some());
    let wants_policy = plan.studio_access.is_some() || in_play;
    if !wants_policy && !intents {
        return Ok(Access::default());
    }
    let caller = access_policy::Api::caller(c).await?;
    let arn = caller.policy_arn(access_policy::PATH, &access_policy::policy_name(&plan.name));
    let wanted: Vec<Principal> = plan
        .studio_access
        .iter()
        .flat_map(|a| a.principals.iter().cloned())
        .collect();
    let (policy, principals) = tokio::join!(
        async {
            match wants_policy {
                true => access_policy::Api::get_policy(c, &arn).await,
                false => Ok(None),
            }
        },
        async {
            match wanted.is_empty() {
                true => Ok(Vec::new()),
                false => access_policy::Api::existing_principals(c, &wanted).await,
            }
        }
    );
    Ok(Access {
        caller: Some(caller),
        policy: policy?,
        principals: principals?,
    })
}

/// The prefix lists the plan's rules name by service (S3 for Studio's groups).
fn prefix_list_names(plan: &Plan) -> Vec<String> {
    let names: BTreeSet<String> = plan
        .security_groups
        .values()
        .flat_map(|g| &g.rules)
        .filter_map(|r| match &r.peer {
            crate::model::Peer::PrefixList(n) if !n.starts_with("pl-") => Some(n.clone()),
            _ => None,
        })
        .collect();
    names.into_iter().collect()
}

/// Security groups the plan names by id: under keys of its own, and in the endpoints'
/// groups.
fn group_references(plan: &Plan) -> Vec<String> {
    let ids: BTreeSet<String> = plan
        .interface_endpoints
        .values()
        .flat_map(|e| e.security_groups.iter())
        .filter_map(|r| match r {
            Ref::Id(id) => Some(id.clone()),
            Ref::Key(_) => None,
        })
        .chain(plan.existing.security_groups.values().cloned())
        .collect();
    ids.into_iter().collect()
}

/// Whether the plan has a subnet that is not there yet as it is planned (by its key,
/// CIDR and zone): then the VPC's other subnets are read, to refuse an overlap offline.
fn creates_a_subnet(plan: &Plan, owned: &[ObservedSubnet]) -> bool {
    plan.every_subnet().any(|(key, spec)| {
        let addr = Address::new(Kind::Subnet, key).to_string();
        !owned.iter().any(|s| {
            owned_key(&s.tags, &plan.name) == Some(addr.as_str())
                && s.cidr == spec.cidr.to_string()
                && s.availability_zone == spec.availability_zone
        })
    })
}

fn sorted<L: Live>(list: &mut [L]) {
    for l in list.iter_mut() {
        l.normalize();
    }
    list.sort_by(|a, b| a.id().cmp(b.id()));
}

impl Observed {
    /// Stable digest of the observed state (order-insensitive), for saved plans. Other
    /// plans' VPCs with the same CIDR only feed a warning: they come and go with other
    /// plans (concurrent CI jobs), and must not make a saved plan stale.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut o = self.clone();
        let Observed {
            vpcs,
            internet_gateways,
            subnets,
            route_tables,
            security_groups,
            endpoints,
            foreign_endpoints,
            referenced_subnets,
            referenced_groups,
            services,
            offered,
            same_cidr,
            vpc_route_tables,
            vpc_subnets,
            prefix_lists: _,
            roles,
            foreign_roles,
            domains,
            user_profiles,
            caller: _,
            access_policies,
            foreign_policies,
            principals,
            addresses,
            nat_gateways,
            // Not state the changeset acts on: a quota raised meanwhile does not make a
            // saved plan stale.
            quotas,
        } = &mut o;
        *quotas = None;
        sorted(addresses);
        sorted(nat_gateways);
        sorted(access_policies);
        sorted(foreign_policies);
        principals.sort();
        sorted(roles);
        sorted(foreign_roles);
        sorted(domains);
        sorted(user_profiles);
        sorted(vpc_route_tables);
        sorted(vpc_subnets);
        offered.sort();
        same_cidr.clear();
        sorted(vpcs);
        sorted(internet_gateways);
        sorted(subnets);
        sorted(route_tables);
        sorted(security_groups);
        sorted(endpoints);
        sorted(foreign_endpoints);
        sorted(referenced_subnets);
        sorted(referenced_groups);
        services.sort_by(|a, b| {
            (&a.service_name, a.endpoint_type as u8).cmp(&(&b.service_name, b.endpoint_type as u8))
        });
        for s in services.iter_mut() {
            s.availability_zones.sort();
            s.availability_zone_ids.sort();
        }
        let json = serde_json::to_vec(&o).expect("observed state serialises");
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_plans_vpc_with_the_same_cidr_does_not_make_a_saved_plan_stale() {
        let empty = Observed::default();
        let mut other = empty.clone();
        other.same_cidr.push(ObservedVpc {
            tenancy: None,
            id: "vpc-0other".into(),
            cidr: "10.20.0.0/16".into(),
            cidrs: Vec::new(),
            dns_support: true,
            dns_hostnames: true,
            tags: Tags::new(),
        });
        assert_eq!(empty.fingerprint(), other.fingerprint());
        let mut owned = empty.clone();
        owned.vpcs.push(other.same_cidr[0].clone());
        assert_ne!(empty.fingerprint(), owned.fingerprint());
    }
}
