//! Stage 5: execution. Nodes run in dependency order, independent ones concurrently
//! (bounded by `--parallelism`); ids produced by earlier nodes are filled into later
//! ones. The executor makes no decisions: the changeset is fully specified.

pub mod fake;
pub mod lock;
pub mod waiter;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::aws::ec2::{AwsRule, EndpointChanges, NewEndpoint};
use crate::aws::{AwsError, Ec2};
use crate::changeset::{Action, Changeset, IdRef, Op};
use crate::model::Address;
use crate::render::Progress;
use waiter::{EndpointWaiter, Target};

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub parallelism: usize,
    /// Bound on each endpoint wait (available or deleted).
    pub endpoint_timeout: Duration,
    /// How often a `Still creating...` line is printed for a running resource.
    pub progress_interval: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parallelism: 32,
            endpoint_timeout: Duration::from_secs(600),
            progress_interval: Duration::from_secs(10),
        }
    }
}

/// A failed node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    pub address: Address,
    pub message: String,
    pub hint: Option<String>,
}

/// A node's place among the `--parallelism` calls in flight. A backend releases it
/// before it waits (for an endpoint to become available or deleted), so that waits
/// overlap with other work instead of holding a slot.
pub struct Slot(Option<tokio::sync::OwnedSemaphorePermit>);

impl Slot {
    pub fn release(&mut self) {
        self.0.take();
    }

    /// A slot that holds nothing (tests).
    pub fn free() -> Slot {
        Slot(None)
    }
}

/// What performs one resolved op. `Ec2` in real runs; fakes in tests.
pub trait Backend: Send + Sync + 'static {
    /// Perform `op` (all references resolved to ids). Returns the id it created, if any.
    fn perform(
        &self,
        op: Op,
        label: String,
        slot: Slot,
    ) -> impl Future<Output = Result<Option<String>, NodeFailure>> + Send;
}

/// Why a node failed.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeFailure {
    Aws(AwsError),
    Wait(String),
}

impl From<AwsError> for NodeFailure {
    fn from(e: AwsError) -> Self {
        NodeFailure::Aws(e)
    }
}

#[derive(Debug, Default)]
pub struct ExecReport {
    pub completed: usize,
    pub errors: Vec<NodeError>,
    /// Ids produced by nodes, by node index.
    pub ids: Vec<Option<String>>,
    /// The longest dependency chain of this run, timed with each node's real duration
    /// (its calls, retries and waits; not the time it queued for a parallelism slot).
    /// No scheduler could finish before it: `wall / this` is the executor's own
    /// overhead (queueing for slots included), whatever the server's speed.
    pub measured_critical_path: Duration,
}

/// Run every node of `cs` against `backend`.
pub async fn execute<B: Backend>(
    cs: &Changeset,
    backend: Arc<B>,
    opts: &ExecOptions,
    progress: &Progress,
) -> ExecReport {
    let n = cs.nodes.len();
    let mut ids: Vec<Option<String>> = vec![None; n];
    let mut remaining_deps: Vec<usize> = cs.nodes.iter().map(|x| x.deps.len()).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in cs.nodes.iter().enumerate() {
        for &d in &node.deps {
            users[d].push(i);
        }
    }
    // Per-resource progress: a resource starts with its first node and is done with
    // its last.
    let actions: HashMap<&Address, Action> =
        cs.changes.iter().map(|c| (&c.address, c.action)).collect();
    let mut nodes_left: BTreeMap<Address, usize> = BTreeMap::new();
    for node in &cs.nodes {
        *nodes_left.entry(node.address.clone()).or_default() += 1;
    }
    let mut started_at: HashMap<Address, Instant> = HashMap::new();
    let mut resource_id: HashMap<Address, String> = HashMap::new();

    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let mut ready: Vec<usize> = (0..n).filter(|&i| remaining_deps[i] == 0).collect();
    ready.reverse();
    let mut set: JoinSet<(usize, Duration, Result<Option<String>, NodeFailure>)> = JoinSet::new();
    // Longest chain of real node durations ending at each finished node.
    let mut chain: Vec<Duration> = vec![Duration::ZERO; n];
    let mut report = ExecReport::default();
    let mut failed = false;

    loop {
        while let Some(i) = if failed { None } else { ready.pop() } {
            let node = &cs.nodes[i];
            let op = node.op.resolved(&ids);
            let addr = node.address.clone();
            let action = actions
                .get(&addr)
                .copied()
                .unwrap_or(if node.op.is_delete() {
                    Action::Delete
                } else {
                    Action::Update
                });
            if !started_at.contains_key(&addr) {
                started_at.insert(addr.clone(), Instant::now());
                progress.started(&addr, action);
            }
            let t0 = started_at[&addr];
            let backend = backend.clone();
            let sem = sem.clone();
            let progress = progress.clone();
            let interval = opts.progress_interval;
            set.spawn(async move {
                let permit = sem.acquire_owned().await.expect("semaphore open");
                let began = Instant::now();
                let fut = backend.perform(op, addr.to_string(), Slot(Some(permit)));
                tokio::pin!(fut);
                let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
                let r = loop {
                    tokio::select! {
                        r = &mut fut => break r,
                        _ = tick.tick() => progress.still(&addr, action, t0.elapsed()),
                    }
                };
                (i, began.elapsed(), r)
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (i, took, result) = joined.expect("executor task panicked");
        let node = &cs.nodes[i];
        chain[i] = took
            + node
                .deps
                .iter()
                .map(|&d| chain[d])
                .max()
                .unwrap_or_default();
        report.measured_critical_path = report.measured_critical_path.max(chain[i]);
        let addr = &node.address;
        match result {
            Ok(id) => {
                report.completed += 1;
                if node.op.creates() {
                    if let Some(id) = &id {
                        resource_id.insert(addr.clone(), id.clone());
                    }
                }
                ids[i] = id;
                let left = nodes_left.get_mut(addr).expect("counted");
                *left -= 1;
                if *left == 0 {
                    let action = actions
                        .get(addr)
                        .copied()
                        .unwrap_or(if node.op.is_delete() {
                            Action::Delete
                        } else {
                            Action::Update
                        });
                    let id = resource_id.get(addr).cloned().or_else(|| {
                        cs.changes
                            .iter()
                            .find(|c| &c.address == addr)
                            .and_then(|c| c.id.clone())
                    });
                    progress.finished(addr, action, started_at[addr].elapsed(), id.as_deref());
                }
                for &u in &users[i] {
                    remaining_deps[u] -= 1;
                    if remaining_deps[u] == 0 {
                        ready.push(u);
                    }
                }
            }
            Err(f) => {
                failed = true;
                let (message, hint) = match f {
                    NodeFailure::Aws(e) => (e.to_string(), e.hint().map(str::to_string)),
                    NodeFailure::Wait(m) => (m, None),
                };
                progress.failed(addr, &message);
                report.errors.push(NodeError {
                    address: addr.clone(),
                    message,
                    hint,
                });
            }
        }
    }
    report.ids = ids;
    report
}

fn id_of(r: &IdRef) -> Result<&str, NodeFailure> {
    r.id().ok_or_else(|| {
        NodeFailure::Wait("internal error: a reference was not resolved before its node ran".into())
    })
}

fn ids_of(rs: &[IdRef]) -> Result<Vec<String>, NodeFailure> {
    rs.iter().map(|r| id_of(r).map(str::to_string)).collect()
}

/// The real backend: the EC2 adapter plus the shared endpoint waiter.
pub struct AwsBackend {
    /// Mixed into client tokens: a token then dedupes the SDK's own retries of one
    /// create within this run, never a create of another run (after a destroy, AWS
    /// would otherwise answer with the deleted resource for 24 h).
    nonce: u64,
    pub ec2: Ec2,
    pub waiter: EndpointWaiter,
    pub endpoint_timeout: Duration,
}

impl AwsBackend {
    pub fn new(ec2: Ec2, endpoint_timeout: Duration) -> AwsBackend {
        let poller = ec2.clone();
        let waiter = EndpointWaiter::new(move |ids: Vec<String>| {
            let ec2 = poller.clone();
            async move { ec2.endpoint_statuses(&ids).await }
        });
        AwsBackend {
            nonce: rand::random(),
            ec2,
            waiter,
            endpoint_timeout,
        }
    }
}

impl AwsBackend {
    async fn rule_change(
        &self,
        group: &IdRef,
        rule: &crate::changeset::RuleOp,
        grant: bool,
    ) -> Result<Option<String>, NodeFailure> {
        let r = AwsRule {
            protocol: rule.protocol,
            ports: rule.ports,
            cidr: rule.cidr.clone(),
            group_id: rule
                .group
                .as_ref()
                .map(id_of)
                .transpose()?
                .map(str::to_string),
        };
        // Already there / already gone (a concurrent or interrupted run): done.
        let done_code = if grant {
            "InvalidPermission.Duplicate"
        } else {
            "InvalidPermission.NotFound"
        };
        match self
            .ec2
            .change_rules(id_of(group)?, rule.direction, &[r], grant)
            .await
        {
            Err(e) if e.code.as_deref() == Some(done_code) => Ok(None),
            Err(e) => Err(e.into()),
            Ok(()) => Ok(None),
        }
    }

    /// The token sent to AWS: the planned token, the resolved parameters and the run.
    fn token(&self, planned: &str, op: &Op) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(planned.as_bytes());
        h.update(format!("{op:?}").as_bytes());
        h.update(self.nonce.to_le_bytes());
        let hex: String = h
            .finalize()
            .iter()
            .take(24)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sagevpc-{hex}")
    }
}

impl Backend for AwsBackend {
    async fn perform(
        &self,
        op: Op,
        label: String,
        mut slot: Slot,
    ) -> Result<Option<String>, NodeFailure> {
        let ec2 = &self.ec2;
        // The adapter refuses every attempt too; this says it in the node's own terms.
        ec2.fence.check().map_err(NodeFailure::Wait)?;
        let token = match &op {
            Op::CreateRouteTable { client_token, .. } | Op::CreateEndpoint { client_token, .. } => {
                self.token(client_token, &op)
            }
            _ => String::new(),
        };
        Ok(match op {
            Op::CreateVpc { cidr, tags } => Some(ec2.create_vpc(&cidr, &tags).await?),
            Op::SetVpcDns {
                vpc,
                hostnames,
                value,
            } => {
                ec2.set_vpc_dns(id_of(&vpc)?, hostnames, value).await?;
                None
            }
            Op::CreateSubnet {
                vpc,
                availability_zone,
                cidr,
                tags,
            } => Some(
                ec2.create_subnet(id_of(&vpc)?, &availability_zone, &cidr, &tags)
                    .await?,
            ),
            Op::CreateRouteTable { vpc, tags, .. } => {
                Some(ec2.create_route_table(id_of(&vpc)?, &tags, &token).await?)
            }
            Op::AssociateRouteTable {
                route_table,
                subnet,
            } => Some(
                ec2.associate_route_table(id_of(&route_table)?, id_of(&subnet)?)
                    .await?,
            ),
            Op::CreateSecurityGroup {
                vpc,
                group_name,
                description,
                tags,
            } => Some(
                ec2.create_security_group(id_of(&vpc)?, &group_name, &description, &tags)
                    .await?,
            ),
            Op::AuthorizeRule { group, rule } => self.rule_change(&group, &rule, true).await?,
            Op::RevokeRule { group, rule } => self.rule_change(&group, &rule, false).await?,
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
                let (id, state) = ec2
                    .create_endpoint(NewEndpoint {
                        vpc_id: id_of(&vpc)?,
                        service_name: &service_name,
                        endpoint_type,
                        subnet_ids: &ids_of(&subnets)?,
                        security_group_ids: &ids_of(&security_groups)?,
                        route_table_ids: &ids_of(&route_tables)?,
                        private_dns,
                        policy: policy.as_deref(),
                        tags: &tags,
                        client_token: &token,
                    })
                    .await?;
                if state != "available" {
                    slot.release();
                    self.waiter
                        .wait(&id, &label, Target::Available, self.endpoint_timeout)
                        .await
                        .map_err(NodeFailure::Wait)?;
                }
                Some(id)
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
                let id = id_of(&endpoint)?.to_string();
                ec2.modify_endpoint(
                    &id,
                    &EndpointChanges {
                        add_subnets: ids_of(&add_subnets)?,
                        remove_subnets,
                        add_security_groups: ids_of(&add_security_groups)?,
                        remove_security_groups,
                        add_route_tables: ids_of(&add_route_tables)?,
                        remove_route_tables,
                        private_dns,
                        policy,
                    },
                )
                .await?;
                slot.release();
                self.waiter
                    .wait(&id, &label, Target::Available, self.endpoint_timeout)
                    .await
                    .map_err(NodeFailure::Wait)?;
                None
            }
            Op::SetTags {
                resource,
                set,
                remove,
            } => {
                let id = id_of(&resource)?;
                if !set.is_empty() {
                    ec2.create_tags(id, &set).await?;
                }
                if !remove.is_empty() {
                    ec2.delete_tags(id, &remove).await?;
                }
                None
            }
            Op::DisassociateRouteTable { association_id } => {
                ec2.disassociate_route_table(&association_id).await?;
                None
            }
            Op::DeleteEndpoint { endpoint } => {
                ec2.delete_endpoint(&endpoint).await?;
                slot.release();
                self.waiter
                    .wait(&endpoint, &label, Target::Deleted, self.endpoint_timeout)
                    .await
                    .map_err(NodeFailure::Wait)?;
                None
            }
            Op::DeleteSecurityGroup { group } => {
                ec2.delete_security_group(&group).await?;
                None
            }
            Op::DeleteSubnet { subnet } => {
                ec2.delete_subnet(&subnet).await?;
                None
            }
            Op::DeleteRouteTable { route_table } => {
                ec2.delete_route_table(&route_table).await?;
                None
            }
            Op::DeleteVpc { vpc } => {
                ec2.delete_vpc(&vpc).await?;
                None
            }
        })
    }
}

#[cfg(test)]
mod tests;
