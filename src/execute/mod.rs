//! Stage 5: execution. Nodes run in dependency order, independent ones concurrently
//! (bounded by `--parallelism`); ids produced by earlier nodes are filled into later
//! ones. The executor makes no decisions: the changeset is fully specified.

#[cfg(test)]
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

use crate::aws::AwsError;
use crate::changeset::{Action, Changeset, Op};
use crate::model::Address;
use crate::render::Progress;
use crate::resources::{self, endpoint, Cloud};
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

/// A failed node: the resource's address, the id it acted on, what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    pub address: Address,
    pub id: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} ({id}): {}", self.address, self.message),
            None => write!(f, "{}: {}", self.address, self.message),
        }
    }
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
    // A node without a change record of its own (a revoke that lets a group go):
    // named by what it does.
    let action_of = |addr: &Address, op: &Op| {
        actions.get(addr).copied().unwrap_or(if op.removes() {
            Action::Delete
        } else {
            Action::Update
        })
    };
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
            let action = action_of(&node.address, &node.op);
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
                    let action = action_of(addr, &node.op);
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
                    id: node.op.resolved(&ids).target().map(str::to_string),
                    message,
                    hint,
                });
            }
        }
    }
    report.ids = ids;
    report
}

/// What one node needs while it runs: its label, its parallelism slot (released before
/// a wait), the endpoint waiter, and the run's nonce for client tokens.
pub struct Run<'a> {
    pub label: &'a str,
    pub slot: Slot,
    pub waiter: &'a EndpointWaiter,
    pub endpoint_timeout: Duration,
    /// Mixed into client tokens: a token then dedupes the SDK's own retries of one
    /// create within this run, never a create of another run (after a destroy, AWS
    /// would otherwise answer with the deleted resource for 24 h).
    pub nonce: u64,
}

impl Run<'_> {
    /// The token sent to AWS: the planned token, the resolved parameters and the run.
    pub fn token(&self, planned: &str, op: &impl std::fmt::Debug) -> String {
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

    /// Wait for an endpoint, without holding a parallelism slot.
    pub async fn wait_endpoint(&mut self, id: &str, target: Target) -> Result<(), NodeFailure> {
        self.slot.release();
        self.waiter
            .wait(id, self.label, target, self.endpoint_timeout)
            .await
            .map_err(NodeFailure::Wait)
    }
}

/// The backend of real runs: every kind's ops against a [`Cloud`] (the AWS adapters),
/// with one endpoint waiter shared by every node.
pub struct CloudBackend<C> {
    pub cloud: Arc<C>,
    pub waiter: EndpointWaiter,
    pub endpoint_timeout: Duration,
    nonce: u64,
}

impl<C: Cloud> CloudBackend<C> {
    pub fn new(cloud: Arc<C>, endpoint_timeout: Duration) -> CloudBackend<C> {
        let poller = cloud.clone();
        let waiter = EndpointWaiter::new(move |ids: Vec<String>| {
            let c = poller.clone();
            async move { endpoint::Api::endpoint_statuses(&*c, &ids).await }
        });
        CloudBackend {
            cloud,
            waiter,
            endpoint_timeout,
            nonce: rand::random(),
        }
    }
}

impl<C: Cloud> Backend for CloudBackend<C> {
    async fn perform(
        &self,
        op: Op,
        label: String,
        slot: Slot,
    ) -> Result<Option<String>, NodeFailure> {
        // The adapter refuses every attempt too; this says it in the node's own terms.
        self.cloud.may_write().map_err(NodeFailure::Wait)?;
        let mut run = Run {
            label: &label,
            slot,
            waiter: &self.waiter,
            endpoint_timeout: self.endpoint_timeout,
            nonce: self.nonce,
        };
        resources::perform(&*self.cloud, op, &mut run).await
    }
}

#[cfg(test)]
mod tests;
