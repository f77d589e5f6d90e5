//! Stage 3: the changeset. `diff` is a pure, synchronous function of the plan and the
//! observed state; it decides everything. The executor only performs the nodes in
//! dependency order and fills in ids produced by earlier nodes.
//!
//! The generic part of the diff lives in [`engine`]; what is particular to a kind of
//! resource lives in that kind's unit under `src/resources/`.

pub mod adopt;
mod engine;
pub mod placement;
pub mod quotas;
mod residents;
pub mod saved;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Address, Kind};
use crate::observe::StudioDomain;
pub use crate::resources::Op;

pub use engine::{
    changes_for, client_token, compact, destroy, diff, set_changes, Cx, DiffError, Goal, Home,
    Matched, Replacement, CHANGED_OUTSIDE, DESTROYED, DIFFERS, NOT_IN_PLAN,
};
pub use residents::Blockers;

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

impl IdRef {
    /// The id, once resolved.
    pub fn id(&self) -> Option<&str> {
        match self {
            IdRef::Id(s) => Some(s),
            IdRef::Node(_) => None,
        }
    }
}

/// A node of the execution graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub address: Address,
    pub op: Op,
    /// Nodes that must finish first (id references plus ordering constraints).
    pub deps: Vec<usize>,
    /// Further resources the node's one call acts for (a group's rules authorized in
    /// one call, endpoints deleted in one call).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<Address>,
}

impl Node {
    /// Every resource the node acts for.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        std::iter::once(&self.address).chain(&self.covers)
    }
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

impl Op {
    /// Nodes whose output this op needs.
    pub fn refs(&self) -> Vec<usize> {
        let mut op = self.clone();
        op.refs_mut()
            .into_iter()
            .filter_map(|r| match r {
                IdRef::Node(n) => Some(*n),
                IdRef::Id(_) => None,
            })
            .collect()
    }

    /// A copy with every node reference replaced by the id that node produced.
    pub fn resolved(&self, ids: &[Option<String>]) -> Op {
        let mut op = self.clone();
        for r in op.refs_mut() {
            if let IdRef::Node(n) = r {
                if let Some(Some(id)) = ids.get(*n) {
                    *r = IdRef::Id(id.clone());
                }
            }
        }
        op
    }
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
        let mut ready: VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
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

    /// The longest chain of dependent nodes, each node costing `cost(node)`.
    fn longest_chain<T, F>(&self, cost: F) -> T
    where
        T: Copy + Default + Ord + std::ops::Add<Output = T>,
        F: Fn(&Node) -> T,
    {
        self.longest_path(cost).0
    }

    /// The longest chain's cost and its nodes, first to last.
    fn longest_path<T, F>(&self, cost: F) -> (T, Vec<usize>)
    where
        T: Copy + Default + Ord + std::ops::Add<Output = T>,
        F: Fn(&Node) -> T,
    {
        let Ok(order) = self.topo_order() else {
            return (T::default(), Vec::new());
        };
        let mut best = vec![T::default(); self.nodes.len()];
        let mut from: Vec<Option<usize>> = vec![None; self.nodes.len()];
        for i in order {
            let prev = self.nodes[i].deps.iter().copied().max_by_key(|&j| best[j]);
            best[i] = prev.map(|j| best[j]).unwrap_or_default() + cost(&self.nodes[i]);
            from[i] = prev;
        }
        let Some(mut at) = (0..best.len()).max_by_key(|&i| best[i]) else {
            return (T::default(), Vec::new());
        };
        let total = best[at];
        let mut path = vec![at];
        while let Some(p) = from[at] {
            path.push(p);
            at = p;
        }
        path.reverse();
        (total, path)
    }

    /// The API actions on the longest chain (see `critical_path`), in order: a node
    /// that waits for an endpoint is followed by its poll (`DescribeVpcEndpoints`). A
    /// benchmark prices the chain at each action's own server time.
    pub fn critical_path_actions(&self) -> Vec<&'static str> {
        let cost = |n: &Node| if n.op.waits() { Pair(2, 1) } else { Pair(1, 0) };
        let (_, path) = self.longest_path(cost);
        let mut out = Vec::new();
        for i in path {
            let op = &self.nodes[i].op;
            out.push(op.api_name());
            if op.waits() {
                out.push("DescribeVpcEndpoints");
            }
        }
        out
    }

    /// Longest chain of dependent nodes (in nodes), for the critical-path bound.
    pub fn critical_path_len(&self) -> usize {
        self.longest_chain(|_| 1usize)
    }

    /// The longest dependency chain as (API calls, endpoint waits) on it. A node that
    /// must wait for an endpoint (modify, delete) counts its call plus one poll call and
    /// one wait (the waiter's first poll delay); a create counts only its call, since an
    /// endpoint the response already reports `available` is not waited for. With
    /// per-call latency `L` and first-poll delay `W`, no executor finishes before
    /// `calls*L + waits*W`.
    pub fn critical_path(&self) -> (usize, usize) {
        let cost = |n: &Node| {
            if n.op.waits() {
                Pair(2, 1)
            } else {
                Pair(1, 0)
            }
        };
        let Pair(c, w) = self.longest_chain(cost);
        (c, w)
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

    /// The deletes of a subnet, a security group or the VPC: what a SageMaker Studio
    /// domain can block. (node, deleted id)
    pub(crate) fn network_deletes(&self) -> impl Iterator<Item = (&Node, &str)> {
        self.nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.address.kind,
                    Kind::Subnet | Kind::SecurityGroup | Kind::Vpc
                )
            })
            .flat_map(|n| n.op.deletes().into_iter().map(move |id| (n, id)))
    }

    /// Whether the changeset deletes a subnet, a security group or the VPC: the deletes a
    /// SageMaker Studio domain can block.
    pub fn deletes_network(&self) -> bool {
        self.network_deletes().next().is_some()
    }

    /// Whether the changeset deletes the VPC.
    pub fn deletes_vpc(&self) -> bool {
        self.network_deletes()
            .any(|(n, _)| n.address.kind == Kind::Vpc)
    }

    /// The deletes that a Studio domain in the VPC blocks: the domain's apps and spaces
    /// have ENIs in its subnets and security groups, and its EFS volume mount targets in
    /// its subnets. AWS would refuse those deletes (`DependencyViolation`) only after the
    /// endpoints were already gone, leaving Studio without them; refusing up front
    /// changes nothing. One line per blocked resource.
    pub fn studio_domain_conflicts(&self, domains: &[StudioDomain]) -> Vec<String> {
        let mut out = Vec::new();
        // A domain the changeset deletes first is no conflict.
        let deleted: Vec<&str> = self.nodes.iter().flat_map(|n| n.op.deletes()).collect();
        for (n, what) in self.network_deletes() {
            let users: Vec<&StudioDomain> = domains
                .iter()
                .filter(|d| !deleted.contains(&d.id.as_str()))
                .filter(|d| match n.address.kind {
                    Kind::Subnet => d.subnet_ids.iter().any(|s| s == what),
                    Kind::SecurityGroup => d.security_group_ids.iter().any(|g| g == what),
                    _ => d.vpc_id == what,
                })
                .collect();
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

/// (calls, waits), compared lexicographically like the tuple it replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Pair(usize, usize);

impl std::ops::Add for Pair {
    type Output = Pair;
    fn add(self, o: Pair) -> Pair {
        Pair(self.0 + o.0, self.1 + o.1)
    }
}

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod existing_tests;
#[cfg(test)]
mod nat_tests;
#[cfg(test)]
mod quota_tests;
#[cfg(test)]
mod studio_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zones_tests;
