//! Stage 3: the changeset. `diff` is a pure, synchronous function of the plan and the
//! observed state; it decides everything. The executor only performs the nodes in
//! dependency order and fills in ids produced by earlier nodes.

mod diff;
pub mod saved;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Address, Direction, Protocol};
use crate::observe::{EndpointType, StudioDomain, Tags};

pub use diff::{destroy, diff, DiffError};

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    NoOp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
        }
    }
}

pub type Attrs = BTreeMap<String, Value>;

/// One resource's planned change, for people and for the JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: Address,
    pub action: Action,
    /// AWS id when the resource exists.
    pub id: Option<String>,
    pub reasons: Vec<String>,
    pub before: Option<Attrs>,
    pub after: Option<Attrs>,
    /// Attributes whose change forces replacement.
    pub replace_paths: Vec<String>,
}

/// A reference to an AWS id: known now, or produced by an earlier node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdRef {
    Id(String),
    Node(usize),
}

/// A security-group permission as the executor sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOp {
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: (Option<i32>, Option<i32>),
    pub cidr: Option<String>,
    pub group: Option<IdRef>,
}

/// One API-level step. Fully specified: the executor makes no decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateVpc {
        cidr: String,
        tags: Tags,
    },
    SetVpcDns {
        vpc: IdRef,
        /// `true`: enableDnsHostnames; `false`: enableDnsSupport.
        hostnames: bool,
        value: bool,
    },
    CreateSubnet {
        vpc: IdRef,
        availability_zone: String,
        cidr: String,
        tags: Tags,
    },
    CreateRouteTable {
        vpc: IdRef,
        tags: Tags,
        client_token: String,
    },
    AssociateRouteTable {
        route_table: IdRef,
        subnet: IdRef,
    },
    CreateSecurityGroup {
        vpc: IdRef,
        group_name: String,
        description: String,
        tags: Tags,
    },
    AuthorizeRule {
        group: IdRef,
        rule: RuleOp,
    },
    RevokeRule {
        group: IdRef,
        rule: RuleOp,
    },
    CreateEndpoint {
        vpc: IdRef,
        endpoint_type: EndpointType,
        service_name: String,
        subnets: Vec<IdRef>,
        security_groups: Vec<IdRef>,
        route_tables: Vec<IdRef>,
        private_dns: Option<bool>,
        policy: Option<String>,
        tags: Tags,
        client_token: String,
    },
    ModifyEndpoint {
        endpoint: IdRef,
        add_subnets: Vec<IdRef>,
        remove_subnets: Vec<String>,
        add_security_groups: Vec<IdRef>,
        remove_security_groups: Vec<String>,
        add_route_tables: Vec<IdRef>,
        remove_route_tables: Vec<String>,
        private_dns: Option<bool>,
        /// `Some(None)`: reset to AWS's default policy.
        policy: Option<Option<String>>,
    },
    SetTags {
        resource: IdRef,
        set: Tags,
        remove: Vec<String>,
    },
    DisassociateRouteTable {
        association_id: String,
    },
    DeleteEndpoint {
        endpoint: String,
    },
    DeleteSecurityGroup {
        group: String,
    },
    DeleteSubnet {
        subnet: String,
    },
    DeleteRouteTable {
        route_table: String,
    },
    DeleteVpc {
        vpc: String,
    },
}

impl Op {
    /// Nodes whose output this op needs.
    pub fn refs(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut push = |r: &IdRef| {
            if let IdRef::Node(n) = r {
                out.push(*n);
            }
        };
        match self {
            Op::CreateVpc { .. }
            | Op::DisassociateRouteTable { .. }
            | Op::DeleteEndpoint { .. }
            | Op::DeleteSecurityGroup { .. }
            | Op::DeleteSubnet { .. }
            | Op::DeleteRouteTable { .. }
            | Op::DeleteVpc { .. } => {}
            Op::SetVpcDns { vpc, .. }
            | Op::CreateSubnet { vpc, .. }
            | Op::CreateRouteTable { vpc, .. }
            | Op::CreateSecurityGroup { vpc, .. } => push(vpc),
            Op::AssociateRouteTable {
                route_table,
                subnet,
            } => {
                push(route_table);
                push(subnet);
            }
            Op::AuthorizeRule { group, rule } | Op::RevokeRule { group, rule } => {
                push(group);
                if let Some(g) = &rule.group {
                    push(g);
                }
            }
            Op::CreateEndpoint {
                vpc,
                subnets,
                security_groups,
                route_tables,
                ..
            } => {
                push(vpc);
                subnets
                    .iter()
                    .chain(security_groups)
                    .chain(route_tables)
                    .for_each(&mut push);
            }
            Op::ModifyEndpoint {
                endpoint,
                add_subnets,
                add_security_groups,
                add_route_tables,
                ..
            } => {
                push(endpoint);
                add_subnets
                    .iter()
                    .chain(add_security_groups)
                    .chain(add_route_tables)
                    .for_each(&mut push);
            }
            Op::SetTags { resource, .. } => push(resource),
        }
        out
    }

    /// Whether the node's result is a new AWS id.
    pub fn creates(&self) -> bool {
        matches!(
            self,
            Op::CreateVpc { .. }
                | Op::CreateSubnet { .. }
                | Op::CreateRouteTable { .. }
                | Op::AssociateRouteTable { .. }
                | Op::CreateSecurityGroup { .. }
                | Op::CreateEndpoint { .. }
        )
    }

    pub fn is_delete(&self) -> bool {
        matches!(
            self,
            Op::DisassociateRouteTable { .. }
                | Op::DeleteEndpoint { .. }
                | Op::DeleteSecurityGroup { .. }
                | Op::DeleteSubnet { .. }
                | Op::DeleteRouteTable { .. }
                | Op::DeleteVpc { .. }
                | Op::RevokeRule { .. }
        )
    }
}

/// A node of the execution graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub address: Address,
    pub op: Op,
    /// Nodes that must finish first (id references plus ordering constraints).
    pub deps: Vec<usize>,
}

/// The full result of planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changeset {
    pub plan: String,
    pub region: String,
    pub changes: Vec<ResourceChange>,
    pub nodes: Vec<Node>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Changeset {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Counts as Terraform users read them: a replacement is one add and one destroy.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Delete => s.destroy += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
                Action::NoOp => {}
            }
        }
        s
    }

    /// Nodes in an order where every node comes after its dependencies, or an error
    /// naming a node on a cycle.
    pub fn topo_order(&self) -> Result<Vec<usize>, String> {
        let n = self.nodes.len();
        let mut indeg = vec![0usize; n];
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            for &d in &node.deps {
                if d >= n {
                    return Err(format!(
                        "node {i} ({}) depends on missing node {d}",
                        node.address
                    ));
                }
                indeg[i] += 1;
                users[d].push(i);
            }
        }
        let mut ready: std::collections::VecDeque<usize> =
            (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &u in &users[i] {
                indeg[u] -= 1;
                if indeg[u] == 0 {
                    ready.push_back(u);
                }
            }
        }
        if order.len() != n {
            let stuck = (0..n).find(|&i| indeg[i] > 0).expect("a node on the cycle");
            return Err(format!(
                "dependency cycle through {}",
                self.nodes[stuck].address
            ));
        }
        Ok(order)
    }

    /// Longest chain of dependent nodes (in nodes), for the critical-path bound.
    pub fn critical_path_len(&self) -> usize {
        let Ok(order) = self.topo_order() else {
            return 0;
        };
        let mut depth = vec![0usize; self.nodes.len()];
        for i in order {
            depth[i] = self.nodes[i]
                .deps
                .iter()
                .map(|&j| depth[j])
                .max()
                .unwrap_or(0)
                + 1;
        }
        depth.into_iter().max().unwrap_or(0)
    }

    /// The longest dependency chain as (API calls, endpoint waits) on it. A node that
    /// must wait for an endpoint (modify, delete) counts its call plus one poll call and
    /// one wait (the waiter's first poll delay); a create counts only its call, since an
    /// endpoint the response already reports `available` is not waited for. With
    /// per-call latency `L` and first-poll delay `W`, no executor finishes before
    /// `calls*L + waits*W`.
    pub fn critical_path(&self) -> (usize, usize) {
        let Ok(order) = self.topo_order() else {
            return (0, 0);
        };
        let cost = |op: &Op| -> (usize, usize) {
            match op {
                // A create whose response says `available` is not waited for.
                Op::ModifyEndpoint { .. } | Op::DeleteEndpoint { .. } => (2, 1),
                _ => (1, 0),
            }
        };
        let mut best = vec![(0usize, 0usize); self.nodes.len()];
        for i in order {
            let (c, w) = cost(&self.nodes[i].op);
            let prev = self.nodes[i]
                .deps
                .iter()
                .map(|&j| best[j])
                .max()
                .unwrap_or((0, 0));
            best[i] = (prev.0 + c, prev.1 + w);
        }
        best.into_iter().max().unwrap_or((0, 0))
    }

    /// Check the graph: acyclic, and every id reference is also a dependency.
    pub fn check_graph(&self) -> Result<(), String> {
        for (i, n) in self.nodes.iter().enumerate() {
            for r in n.op.refs() {
                if !n.deps.contains(&r) {
                    return Err(format!(
                        "node {i} ({}) refers to node {r} without depending on it",
                        n.address
                    ));
                }
            }
        }
        self.topo_order().map(|_| ())
    }
}

impl IdRef {
    fn resolve(&mut self, ids: &[Option<String>]) {
        if let IdRef::Node(n) = self {
            if let Some(Some(id)) = ids.get(*n) {
                *self = IdRef::Id(id.clone());
            }
        }
    }

    /// The id, once resolved.
    pub fn id(&self) -> Option<&str> {
        match self {
            IdRef::Id(s) => Some(s),
            IdRef::Node(_) => None,
        }
    }
}

impl Op {
    /// A copy with every node reference replaced by the id that node produced.
    pub fn resolved(&self, ids: &[Option<String>]) -> Op {
        let mut op = self.clone();
        let r = |x: &mut IdRef| x.resolve(ids);
        match &mut op {
            Op::CreateVpc { .. }
            | Op::DisassociateRouteTable { .. }
            | Op::DeleteEndpoint { .. }
            | Op::DeleteSecurityGroup { .. }
            | Op::DeleteSubnet { .. }
            | Op::DeleteRouteTable { .. }
            | Op::DeleteVpc { .. } => {}
            Op::SetVpcDns { vpc, .. }
            | Op::CreateSubnet { vpc, .. }
            | Op::CreateRouteTable { vpc, .. }
            | Op::CreateSecurityGroup { vpc, .. } => r(vpc),
            Op::AssociateRouteTable {
                route_table,
                subnet,
            } => {
                r(route_table);
                r(subnet);
            }
            Op::AuthorizeRule { group, rule } | Op::RevokeRule { group, rule } => {
                r(group);
                if let Some(g) = &mut rule.group {
                    r(g);
                }
            }
            Op::CreateEndpoint {
                vpc,
                subnets,
                security_groups,
                route_tables,
                ..
            } => {
                r(vpc);
                subnets
                    .iter_mut()
                    .chain(security_groups.iter_mut())
                    .chain(route_tables.iter_mut())
                    .for_each(r);
            }
            Op::ModifyEndpoint {
                endpoint,
                add_subnets,
                add_security_groups,
                add_route_tables,
                ..
            } => {
                r(endpoint);
                add_subnets
                    .iter_mut()
                    .chain(add_security_groups.iter_mut())
                    .chain(add_route_tables.iter_mut())
                    .for_each(r);
            }
            Op::SetTags { resource, .. } => r(resource),
        }
        op
    }

    /// The AWS API operation this node calls.
    pub fn api_name(&self) -> &'static str {
        match self {
            Op::CreateVpc { .. } => "CreateVpc",
            Op::SetVpcDns { .. } => "ModifyVpcAttribute",
            Op::CreateSubnet { .. } => "CreateSubnet",
            Op::CreateRouteTable { .. } => "CreateRouteTable",
            Op::AssociateRouteTable { .. } => "AssociateRouteTable",
            Op::CreateSecurityGroup { .. } => "CreateSecurityGroup",
            Op::AuthorizeRule { rule, .. } => match rule.direction {
                Direction::Ingress => "AuthorizeSecurityGroupIngress",
                Direction::Egress => "AuthorizeSecurityGroupEgress",
            },
            Op::RevokeRule { rule, .. } => match rule.direction {
                Direction::Ingress => "RevokeSecurityGroupIngress",
                Direction::Egress => "RevokeSecurityGroupEgress",
            },
            Op::CreateEndpoint { .. } => "CreateVpcEndpoint",
            Op::ModifyEndpoint { .. } => "ModifyVpcEndpoint",
            Op::SetTags { .. } => "CreateTags",
            Op::DisassociateRouteTable { .. } => "DisassociateRouteTable",
            Op::DeleteEndpoint { .. } => "DeleteVpcEndpoints",
            Op::DeleteSecurityGroup { .. } => "DeleteSecurityGroup",
            Op::DeleteSubnet { .. } => "DeleteSubnet",
            Op::DeleteRouteTable { .. } => "DeleteRouteTable",
            Op::DeleteVpc { .. } => "DeleteVpc",
        }
    }
}

impl Changeset {
    /// Whether the changeset deletes a subnet, a security group or the VPC: the deletes a
    /// SageMaker Studio domain can block.
    pub fn deletes_network(&self) -> bool {
        self.nodes.iter().any(|n| {
            matches!(
                n.op,
                Op::DeleteSubnet { .. } | Op::DeleteSecurityGroup { .. } | Op::DeleteVpc { .. }
            )
        })
    }

    /// The deletes that a Studio domain in the VPC blocks: the domain's apps and spaces
    /// have ENIs in its subnets and security groups, and its EFS volume mount targets in
    /// its subnets. AWS would refuse those deletes (`DependencyViolation`) only after the
    /// endpoints were already gone, leaving Studio without them; refusing up front
    /// changes nothing. One line per blocked resource.
    pub fn studio_domain_conflicts(&self, domains: &[StudioDomain]) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let (what, users): (&str, Vec<&StudioDomain>) = match &n.op {
                Op::DeleteSubnet { subnet } => (
                    subnet,
                    domains
                        .iter()
                        .filter(|d| d.subnet_ids.contains(subnet))
                        .collect(),
                ),
                Op::DeleteSecurityGroup { group } => (
                    group,
                    domains
                        .iter()
                        .filter(|d| d.security_group_ids.contains(group))
                        .collect(),
                ),
                Op::DeleteVpc { vpc } => {
                    (vpc, domains.iter().filter(|d| &d.vpc_id == vpc).collect())
                }
                _ => continue,
            };
            if users.is_empty() {
                continue;
            }
            let names: Vec<String> = users
                .iter()
                .map(|d| format!("{} ({}, {})", d.name, d.id, d.status))
                .collect();
            out.push(format!(
                "{} ({what}) cannot be deleted: SageMaker Studio domain {} uses it (its apps' network interfaces and its EFS mount targets live there). Delete the domain first (its apps, spaces and user profiles, then the domain), or keep {} in the plan",
                n.address,
                names.join(", "),
                n.address
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests;
