//! An in-memory EC2 for tests and executor benchmarks. It enforces the AWS rules the
//! ordering depends on (a subnet or group in use cannot be deleted, a VPC with children
//! cannot be deleted, duplicate permissions are refused), so a changeset that runs here
//! runs in a sane order. It is not a second implementation of the product: the real
//! adapter is exercised against LocalStack.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{Backend, NodeFailure, Slot};
use crate::aws::AwsError;
use crate::changeset::{IdRef, Op, RuleOp};
use crate::model::{Peer, Rule};
use crate::observe::{
    owned_key, EndpointType, Observed, ObservedAssociation, ObservedEndpoint, ObservedRoute,
    ObservedRouteTable, ObservedSecurityGroup, ObservedSubnet, ObservedVpc, ServiceInfo, Tags,
};
use crate::plan::{Plan, Ref, VpcSpec};

/// Everything in the fake account.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub vpcs: Vec<ObservedVpc>,
    pub subnets: Vec<ObservedSubnet>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    pub endpoints: Vec<ObservedEndpoint>,
}

pub struct FakeCloud {
    pub world: Mutex<World>,
    next: AtomicU64,
    /// Added to every call, to measure the executor's critical path.
    pub latency: Duration,
    /// Mutating calls made, in order (API name and resource label).
    pub log: Mutex<Vec<(String, String)>>,
}

fn err(op: &'static str, code: &str, msg: impl Into<String>) -> NodeFailure {
    NodeFailure::Aws(AwsError::new(op, Some(code), msg))
}

fn id(r: &IdRef) -> String {
    r.id().expect("resolved before perform").to_string()
}

fn to_rule(r: &RuleOp) -> Rule {
    let peer = match (&r.cidr, &r.group) {
        (Some(c), _) => Peer::Cidr(c.parse().expect("valid cidr in changeset")),
        (None, Some(g)) => Peer::ForeignGroup(id(g)),
        (None, None) => unreachable!("a rule has a peer"),
    };
    let ports = match (r.protocol, r.ports) {
        (crate::model::Protocol::All, _) => None,
        (crate::model::Protocol::Icmp, (Some(-1), _)) => None,
        (_, (Some(a), Some(b))) => Some((a, b)),
        _ => None,
    };
    Rule {
        direction: r.direction,
        protocol: r.protocol,
        ports,
        peer,
    }
}

impl Default for FakeCloud {
    fn default() -> Self {
        FakeCloud::new(Duration::ZERO)
    }
}

impl FakeCloud {
    pub fn new(latency: Duration) -> FakeCloud {
        FakeCloud {
            world: Mutex::new(World::default()),
            next: AtomicU64::new(1),
            latency,
            log: Mutex::new(Vec::new()),
        }
    }

    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}-{:017x}", self.next.fetch_add(1, Ordering::SeqCst))
    }

    /// Add a VPC that no plan owns (to adopt).
    pub fn add_foreign_vpc(&self, cidr: &str, dns: bool) -> String {
        let id = self.new_id("vpc");
        self.world.lock().unwrap().vpcs.push(ObservedVpc {
            id: id.clone(),
            cidr: cidr.into(),
            dns_support: dns,
            dns_hostnames: dns,
            tags: Tags::new(),
        });
        id
    }

    /// What `observe` would read for `plan`: owned resources by tag, the adopted VPC by
    /// id, every region service in every AZ a..f.
    pub fn observe(&self, plan: &Plan) -> Observed {
        let w = self.world.lock().unwrap();
        let owned = |t: &Tags| owned_key(t, &plan.name).is_some();
        let mut vpcs: Vec<ObservedVpc> = match &plan.vpc {
            VpcSpec::Owned { .. } => w.vpcs.iter().filter(|v| owned(&v.tags)).cloned().collect(),
            VpcSpec::Adopted { id, .. } => w.vpcs.iter().filter(|v| &v.id == id).cloned().collect(),
        };
        vpcs.sort_by(|a, b| a.id.cmp(&b.id));
        let vpc = if vpcs.is_empty() {
            None
        } else {
            Some(vpcs.remove(0))
        };
        let vpc_id = vpc.as_ref().map(|v| v.id.clone());
        let azs: Vec<String> = "abcdef"
            .chars()
            .map(|c| format!("{}{c}", plan.region))
            .collect();
        let mut services: Vec<ServiceInfo> = plan
            .interface_endpoints
            .values()
            .map(|e| ServiceInfo {
                service_name: e.service_name.clone(),
                endpoint_type: EndpointType::Interface,
                availability_zones: azs.clone(),
            })
            .collect();
        services.extend(plan.gateway_endpoints.values().map(|g| ServiceInfo {
            service_name: g.service_name.clone(),
            endpoint_type: EndpointType::Gateway,
            availability_zones: azs.clone(),
        }));
        let referenced: BTreeSet<&str> = plan
            .interface_endpoints
            .values()
            .flat_map(|e| e.subnets.iter())
            .filter_map(|r| match r {
                Ref::Id(i) => Some(i.as_str()),
                Ref::Key(_) => None,
            })
            .collect();
        Observed {
            vpc,
            extra_vpcs: vpcs,
            subnets: w
                .subnets
                .iter()
                .filter(|s| owned(&s.tags))
                .cloned()
                .collect(),
            route_tables: w
                .route_tables
                .iter()
                .filter(|r| owned(&r.tags))
                .cloned()
                .collect(),
            security_groups: w
                .security_groups
                .iter()
                .filter(|g| owned(&g.tags))
                .cloned()
                .collect(),
            endpoints: w
                .endpoints
                .iter()
                .filter(|e| owned(&e.tags))
                .cloned()
                .collect(),
            foreign_endpoints: w
                .endpoints
                .iter()
                .filter(|e| !owned(&e.tags) && Some(&e.vpc_id) == vpc_id.as_ref())
                .cloned()
                .collect(),
            referenced_subnets: w
                .subnets
                .iter()
                .filter(|s| referenced.contains(s.id.as_str()))
                .cloned()
                .collect(),
            services,
        }
    }

    /// Count of every resource in the account, tagged or not.
    pub fn counts(&self) -> [usize; 5] {
        let w = self.world.lock().unwrap();
        [
            w.vpcs.len(),
            w.subnets.len(),
            w.route_tables.len(),
            w.security_groups.len(),
            w.endpoints.len(),
        ]
    }

    fn apply(&self, op: Op) -> Result<Option<String>, NodeFailure> {
        let mut w = self.world.lock().unwrap();
        let w = &mut *w;
        Ok(match op {
            Op::CreateVpc { cidr, tags } => {
                let id = self.new_id("vpc");
                w.vpcs.push(ObservedVpc {
                    id: id.clone(),
                    cidr,
                    dns_support: true,
                    dns_hostnames: false,
                    tags,
                });
                Some(id)
            }
            Op::SetVpcDns {
                vpc,
                hostnames,
                value,
            } => {
                let vid = id(&vpc);
                let v = w.vpcs.iter_mut().find(|v| v.id == vid).ok_or_else(|| {
                    err("ModifyVpcAttribute", "InvalidVpcID.NotFound", vid.clone())
                })?;
                if hostnames {
                    v.dns_hostnames = value
                } else {
                    v.dns_support = value
                }
                None
            }
            Op::CreateSubnet {
                vpc,
                availability_zone,
                cidr,
                tags,
            } => {
                let vid = id(&vpc);
                if !w.vpcs.iter().any(|v| v.id == vid) {
                    return Err(err("CreateSubnet", "InvalidVpcID.NotFound", vid));
                }
                let new: ipnet::Ipv4Net = cidr.parse().expect("cidr");
                if w.subnets.iter().any(|s| {
                    s.vpc_id == vid
                        && s.cidr
                            .parse::<ipnet::Ipv4Net>()
                            .is_ok_and(|o| o.contains(&new) || new.contains(&o))
                }) {
                    return Err(err(
                        "CreateSubnet",
                        "InvalidSubnet.Conflict",
                        format!("{cidr} conflicts"),
                    ));
                }
                let id = self.new_id("subnet");
                w.subnets.push(ObservedSubnet {
                    id: id.clone(),
                    vpc_id: vid,
                    availability_zone,
                    cidr,
                    tags,
                });
                Some(id)
            }
            Op::CreateRouteTable { vpc, tags, .. } => {
                let vid = id(&vpc);
                let id = self.new_id("rtb");
                w.route_tables.push(ObservedRouteTable {
                    id: id.clone(),
                    vpc_id: vid,
                    associations: vec![],
                    routes: vec![ObservedRoute {
                        destination: "local".into(),
                        target: "local".into(),
                    }],
                    tags,
                });
                Some(id)
            }
            Op::AssociateRouteTable {
                route_table,
                subnet,
            } => {
                let (rid, sid) = (id(&route_table), id(&subnet));
                if w.route_tables
                    .iter()
                    .any(|r| r.associations.iter().any(|a| a.subnet_id == sid))
                {
                    return Err(err(
                        "AssociateRouteTable",
                        "Resource.AlreadyAssociated",
                        sid,
                    ));
                }
                let aid = self.new_id("rtbassoc");
                let rt = w
                    .route_tables
                    .iter_mut()
                    .find(|r| r.id == rid)
                    .ok_or_else(|| {
                        err(
                            "AssociateRouteTable",
                            "InvalidRouteTableID.NotFound",
                            rid.clone(),
                        )
                    })?;
                rt.associations.push(ObservedAssociation {
                    id: aid.clone(),
                    subnet_id: sid,
                });
                Some(aid)
            }
            Op::CreateSecurityGroup {
                vpc,
                group_name,
                description,
                tags,
            } => {
                let vid = id(&vpc);
                if w.security_groups
                    .iter()
                    .any(|g| g.vpc_id == vid && g.name == group_name)
                {
                    return Err(err(
                        "CreateSecurityGroup",
                        "InvalidGroup.Duplicate",
                        group_name,
                    ));
                }
                let id = self.new_id("sg");
                w.security_groups.push(ObservedSecurityGroup {
                    id: id.clone(),
                    vpc_id: vid,
                    name: group_name,
                    description,
                    rules: vec![Rule::default_egress()],
                    tags,
                });
                Some(id)
            }
            Op::AuthorizeRule { group, rule } => {
                let gid = id(&group);
                let r = to_rule(&rule);
                let g = w
                    .security_groups
                    .iter_mut()
                    .find(|g| g.id == gid)
                    .ok_or_else(|| {
                        err(
                            "AuthorizeSecurityGroupIngress",
                            "InvalidGroup.NotFound",
                            gid.clone(),
                        )
                    })?;
                if g.rules.contains(&r) {
                    return Err(err(
                        "AuthorizeSecurityGroupIngress",
                        "InvalidPermission.Duplicate",
                        "duplicate",
                    ));
                }
                g.rules.push(r);
                None
            }
            Op::RevokeRule { group, rule } => {
                let gid = id(&group);
                let r = to_rule(&rule);
                let g = w
                    .security_groups
                    .iter_mut()
                    .find(|g| g.id == gid)
                    .ok_or_else(|| {
                        err(
                            "RevokeSecurityGroupIngress",
                            "InvalidGroup.NotFound",
                            gid.clone(),
                        )
                    })?;
                g.rules.retain(|x| x != &r);
                None
            }
            Op::CreateEndpoint {
                vpc,
                endpoint_type,
                service_name,
                subnets,
                security_groups,
                route_tables,
                private_dns,
                policy,
                tags,
                ..
            } => {
                let vid = id(&vpc);
                let eid = self.new_id("vpce");
                let rts: Vec<String> = route_tables.iter().map(id).collect();
                if endpoint_type == EndpointType::Gateway {
                    for r in w.route_tables.iter_mut().filter(|r| rts.contains(&r.id)) {
                        r.routes.push(ObservedRoute {
                            destination: "pl-fake".into(),
                            target: eid.clone(),
                        });
                    }
                }
                w.endpoints.push(ObservedEndpoint {
                    id: eid.clone(),
                    vpc_id: vid,
                    endpoint_type,
                    service_name,
                    state: "available".into(),
                    subnet_ids: subnets.iter().map(id).collect(),
                    security_group_ids: security_groups.iter().map(id).collect(),
                    route_table_ids: rts,
                    private_dns: private_dns.unwrap_or(false),
                    policy: Some(
                        policy
                            .map(|p| serde_json::from_str(&p).expect("json"))
                            .unwrap_or_else(crate::plan::policy::default_full_access),
                    ),
                    tags,
                });
                Some(eid)
            }
            Op::ModifyEndpoint {
                endpoint,
                add_subnets,
                remove_subnets,
                add_security_groups,
                remove_security_groups,
                add_route_tables,
                remove_route_tables,
                private_dns,
                policy,
            } => {
                let eid = id(&endpoint);
                let e = w
                    .endpoints
                    .iter_mut()
                    .find(|e| e.id == eid)
                    .ok_or_else(|| {
                        err(
                            "ModifyVpcEndpoint",
                            "InvalidVpcEndpointId.NotFound",
                            eid.clone(),
                        )
                    })?;
                e.subnet_ids.retain(|s| !remove_subnets.contains(s));
                e.subnet_ids.extend(add_subnets.iter().map(id));
                e.security_group_ids
                    .retain(|s| !remove_security_groups.contains(s));
                e.security_group_ids
                    .extend(add_security_groups.iter().map(id));
                e.route_table_ids
                    .retain(|s| !remove_route_tables.contains(s));
                e.route_table_ids.extend(add_route_tables.iter().map(id));
                if let Some(p) = private_dns {
                    e.private_dns = p;
                }
                if let Some(p) = policy {
                    e.policy = Some(
                        p.map(|p| serde_json::from_str(&p).expect("json"))
                            .unwrap_or_else(crate::plan::policy::default_full_access),
                    );
                }
                None
            }
            Op::SetTags {
                resource,
                set,
                remove,
            } => {
                let rid = id(&resource);
                let tags: Option<&mut Tags> = w
                    .vpcs
                    .iter_mut()
                    .find(|x| x.id == rid)
                    .map(|x| &mut x.tags)
                    .or_else(|| {
                        w.subnets
                            .iter_mut()
                            .find(|x| x.id == rid)
                            .map(|x| &mut x.tags)
                    })
                    .or_else(|| {
                        w.route_tables
                            .iter_mut()
                            .find(|x| x.id == rid)
                            .map(|x| &mut x.tags)
                    })
                    .or_else(|| {
                        w.security_groups
                            .iter_mut()
                            .find(|x| x.id == rid)
                            .map(|x| &mut x.tags)
                    })
                    .or_else(|| {
                        w.endpoints
                            .iter_mut()
                            .find(|x| x.id == rid)
                            .map(|x| &mut x.tags)
                    });
                let tags = tags.ok_or_else(|| err("CreateTags", "InvalidID", rid.clone()))?;
                tags.extend(set);
                for k in remove {
                    tags.remove(&k);
                }
                None
            }
            Op::DisassociateRouteTable { association_id } => {
                for r in &mut w.route_tables {
                    r.associations.retain(|a| a.id != association_id);
                }
                None
            }
            Op::DeleteEndpoint { endpoint } => {
                w.endpoints.retain(|e| e.id != endpoint);
                for r in &mut w.route_tables {
                    r.routes.retain(|x| x.target != endpoint);
                }
                None
            }
            Op::DeleteSecurityGroup { group } => {
                if w.endpoints
                    .iter()
                    .any(|e| e.security_group_ids.contains(&group))
                {
                    return Err(err(
                        "DeleteSecurityGroup",
                        "DependencyViolation",
                        format!("{group} is used by an endpoint"),
                    ));
                }
                if w.security_groups.iter().any(|g| {
                    g.id != group
                        && g.rules
                            .iter()
                            .any(|r| r.peer == Peer::ForeignGroup(group.clone()))
                }) {
                    return Err(err(
                        "DeleteSecurityGroup",
                        "DependencyViolation",
                        format!("{group} is referenced by another group"),
                    ));
                }
                w.security_groups.retain(|g| g.id != group);
                None
            }
            Op::DeleteSubnet { subnet } => {
                if w.endpoints.iter().any(|e| e.subnet_ids.contains(&subnet)) {
                    return Err(err(
                        "DeleteSubnet",
                        "DependencyViolation",
                        format!("{subnet} has endpoint interfaces"),
                    ));
                }
                for r in &mut w.route_tables {
                    r.associations.retain(|a| a.subnet_id != subnet);
                }
                w.subnets.retain(|s| s.id != subnet);
                None
            }
            Op::DeleteRouteTable { route_table } => {
                if w.route_tables
                    .iter()
                    .any(|r| r.id == route_table && !r.associations.is_empty())
                {
                    return Err(err(
                        "DeleteRouteTable",
                        "DependencyViolation",
                        format!("{route_table} has associations"),
                    ));
                }
                w.route_tables.retain(|r| r.id != route_table);
                None
            }
            Op::DeleteVpc { vpc } => {
                let busy = w.subnets.iter().any(|s| s.vpc_id == vpc)
                    || w.security_groups.iter().any(|g| g.vpc_id == vpc)
                    || w.route_tables.iter().any(|r| r.vpc_id == vpc)
                    || w.endpoints.iter().any(|e| e.vpc_id == vpc);
                if busy {
                    return Err(err(
                        "DeleteVpc",
                        "DependencyViolation",
                        format!("{vpc} has dependencies"),
                    ));
                }
                w.vpcs.retain(|v| v.id != vpc);
                None
            }
        })
    }
}

impl Backend for FakeCloud {
    async fn perform(
        &self,
        op: Op,
        label: String,
        _slot: Slot,
    ) -> Result<Option<String>, NodeFailure> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.log
            .lock()
            .unwrap()
            .push((op.api_name().to_string(), label));
        self.apply(op)
    }
}
