//! Stage 2: live state, read through the AWS adapters and expressed in the tool's own
//! types. Resources are found by the plan's ownership tag with one paginated Describe
//! call per kind; their number never changes the number of calls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::{AwsError, Ec2};
use crate::model::{Rule, TAG_KEY, TAG_PLAN};
use crate::plan::{Plan, Ref, VpcSpec};

pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The plan's VPC: owned (found by tag) or adopted (found by id).
    pub vpc: Option<ObservedVpc>,
    /// Further VPCs tagged with the plan (duplicates or leftovers).
    pub extra_vpcs: Vec<ObservedVpc>,
    pub subnets: Vec<ObservedSubnet>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    pub endpoints: Vec<ObservedEndpoint>,
    /// Endpoints in the plan's VPC that the plan does not own (other plans, by hand).
    pub foreign_endpoints: Vec<ObservedEndpoint>,
    /// Existing subnets the plan names by id.
    pub referenced_subnets: Vec<ObservedSubnet>,
    /// Endpoint services of the region that the plan names, with their AZs.
    pub services: Vec<ServiceInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedVpc {
    pub id: String,
    pub cidr: String,
    pub dns_support: bool,
    pub dns_hostnames: bool,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedSubnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub cidr: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedAssociation {
    pub id: String,
    pub subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedRoute {
    pub destination: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedRouteTable {
    pub id: String,
    pub vpc_id: String,
    pub associations: Vec<ObservedAssociation>,
    pub routes: Vec<ObservedRoute>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedSecurityGroup {
    pub id: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    /// Peers that are groups carry the group id (`Peer::ForeignGroup(id)`); the diff maps
    /// them back to plan keys.
    #[serde(with = "rules_serde")]
    pub rules: Vec<Rule>,
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    Gateway,
    Interface,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedEndpoint {
    pub id: String,
    pub vpc_id: String,
    pub endpoint_type: EndpointType,
    pub service_name: String,
    pub state: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub route_table_ids: Vec<String>,
    pub private_dns: bool,
    pub policy: Option<Value>,
    pub tags: Tags,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub service_name: String,
    pub endpoint_type: EndpointType,
    pub availability_zones: Vec<String>,
}

/// What every observed child of a VPC has: an id, its VPC and its tags.
pub trait VpcChild {
    fn id(&self) -> &str;
    fn vpc_id(&self) -> &str;
    fn tags(&self) -> &Tags;
}

macro_rules! vpc_child {
    ($($t:ty),*) => {$(
        impl VpcChild for $t {
            fn id(&self) -> &str { &self.id }
            fn vpc_id(&self) -> &str { &self.vpc_id }
            fn tags(&self) -> &Tags { &self.tags }
        }
    )*};
}
vpc_child!(
    ObservedSubnet,
    ObservedRouteTable,
    ObservedSecurityGroup,
    ObservedEndpoint
);

/// The `sagevpc:key` of a resource owned by `plan`, if it is.
pub fn owned_key<'a>(tags: &'a Tags, plan: &str) -> Option<&'a str> {
    (tags.get(TAG_PLAN).map(String::as_str) == Some(plan))
        .then(|| tags.get(TAG_KEY).map(String::as_str))
        .flatten()
}

/// Read the live state that `plan` may own or refer to. Read-only. Two rounds of
/// concurrent calls: everything found by tag or by name, then what needs the VPC id.
pub async fn observe(ec2: &Ec2, plan: &Plan) -> Result<Observed, AwsError> {
    let name = plan.name.as_str();
    let mut obs = Observed::default();

    let subnet_ids: Vec<String> = plan
        .interface_endpoints
        .values()
        .flat_map(|e| e.subnets.iter())
        .filter_map(|r| match r {
            Ref::Id(id) => Some(id.clone()),
            Ref::Key(_) => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut names: Vec<String> = plan
        .interface_endpoints
        .values()
        .map(|e| e.service_name.clone())
        .chain(
            plan.gateway_endpoints
                .values()
                .map(|g| g.service_name.clone()),
        )
        .collect();
    names.sort();
    names.dedup();

    let (vpcs, subnets, rts, sgs, eps, referenced, services) = tokio::join!(
        async {
            match &plan.vpc {
                VpcSpec::Adopted { id, .. } => {
                    Ok(ec2.describe_vpc_by_id(id).await?.into_iter().collect())
                }
                VpcSpec::Owned { .. } => ec2.describe_vpcs_by_plan(name).await,
            }
        },
        ec2.describe_subnets_by_plan(name),
        ec2.describe_route_tables_by_plan(name),
        ec2.describe_security_groups_by_plan(name),
        ec2.describe_endpoints_by_plan(name),
        async {
            if subnet_ids.is_empty() {
                Ok(Vec::new())
            } else {
                ec2.describe_subnets_by_ids(&subnet_ids).await
            }
        },
        async {
            if names.is_empty() {
                Ok(Vec::new())
            } else {
                ec2.describe_endpoint_services(&names).await
            }
        },
    );
    let mut vpcs: Vec<ObservedVpc> = vpcs?;
    vpcs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut it = vpcs.into_iter();
    let mut vpc = it.next();
    obs.extra_vpcs = it.collect();
    obs.subnets = subnets?;
    obs.route_tables = rts?;
    obs.security_groups = sgs?;
    obs.endpoints = eps?;
    obs.referenced_subnets = referenced?;
    obs.services = services?;

    if let Some(v) = vpc.as_mut() {
        let want_foreign = !plan.interface_endpoints.is_empty();
        let (dns, foreign) = tokio::join!(ec2.describe_vpc_dns(&v.id), async {
            if want_foreign {
                ec2.describe_endpoints_in_vpc(&v.id).await
            } else {
                Ok(Vec::new())
            }
        });
        (v.dns_support, v.dns_hostnames) = dns?;
        obs.foreign_endpoints = foreign?
            .into_iter()
            .filter(|e| owned_key(&e.tags, name).is_none())
            .collect();
    }
    obs.vpc = vpc;
    Ok(obs)
}

mod rules_serde {
    //! Observed rules are serialised (saved plans fingerprint them) as their keys plus
    //! the structured form.
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::model::{Direction, Peer, Protocol, Rule};

    #[derive(Serialize, Deserialize)]
    struct R {
        direction: Direction,
        protocol: Protocol,
        ports: Option<(i32, i32)>,
        peer: String,
    }

    pub fn serialize<S: Serializer>(rules: &[Rule], s: S) -> Result<S::Ok, S::Error> {
        rules
            .iter()
            .map(|r| R {
                direction: r.direction,
                protocol: r.protocol,
                ports: r.ports,
                peer: match &r.peer {
                    Peer::Cidr(n) => n.to_string(),
                    other => format!("group:{other}"),
                },
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Rule>, D::Error> {
        let v = Vec::<R>::deserialize(d)?;
        v.into_iter()
            .map(|r| {
                let peer = match r.peer.strip_prefix("group:") {
                    Some(g) => Peer::ForeignGroup(g.to_string()),
                    None => Peer::Cidr(r.peer.parse().map_err(serde::de::Error::custom)?),
                };
                Ok(Rule {
                    direction: r.direction,
                    protocol: r.protocol,
                    ports: r.ports,
                    peer,
                })
            })
            .collect()
    }
}

impl Observed {
    /// Stable digest of the observed state (order-insensitive), for saved plans.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut o = self.clone();
        let by_id = |a: &String, b: &String| a.cmp(b);
        o.extra_vpcs.sort_by(|a, b| by_id(&a.id, &b.id));
        o.subnets.sort_by(|a, b| by_id(&a.id, &b.id));
        o.referenced_subnets.sort_by(|a, b| by_id(&a.id, &b.id));
        o.route_tables.sort_by(|a, b| by_id(&a.id, &b.id));
        for r in &mut o.route_tables {
            r.associations.sort_by(|a, b| by_id(&a.id, &b.id));
            r.routes
                .sort_by(|a, b| (&a.destination, &a.target).cmp(&(&b.destination, &b.target)));
        }
        o.security_groups.sort_by(|a, b| by_id(&a.id, &b.id));
        for g in &mut o.security_groups {
            g.rules.sort();
        }
        for list in [&mut o.endpoints, &mut o.foreign_endpoints] {
            list.sort_by(|a, b| by_id(&a.id, &b.id));
            for e in list.iter_mut() {
                e.subnet_ids.sort();
                e.security_group_ids.sort();
                e.route_table_ids.sort();
                e.policy = e.policy.as_ref().map(crate::plan::policy::normalize);
            }
        }
        o.services.sort_by(|a, b| {
            (&a.service_name, a.endpoint_type as u8).cmp(&(&b.service_name, b.endpoint_type as u8))
        });
        for s in &mut o.services {
            s.availability_zones.sort();
        }
        let json = serde_json::to_vec(&o).expect("observed state serialises");
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
