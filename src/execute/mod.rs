//! Stage 5: execution. Nodes run in dependency order, independent ones concurrently
//! (bounded by `--parallelism`); ids produced by earlier nodes are filled into later
//! ones. The executor makes no decisions: the changeset is fully specified.

#[cfg(test)]
pub mod fake;
pub mod lock;
pub mod waiter;

use std::collections::{BTreeMap, BinaryHeap, HashMap};
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
    /// The expected seconds of each node (its calls, the tokens it waits for, the time
    /// AWS takes), by node index: ready nodes start longest remaining path first. `None`:
    /// every node costs the same.
    pub costs: Option<Vec<f64>>,
    /// Once `true`, no new node starts; the ones in flight finish (an interrupt).
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parallelism: 32,
            endpoint_timeout: Duration::from_secs(600),
            progress_interval: Duration::from_secs(10),
            costs: None,
            stop: None,
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
    /// Whether running again may get past it (throttling, a 5xx, a lost connection,
    /// eventual consistency), or the cause must be fixed first.
    pub transient: bool,
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
    /// Claim the request token `op`'s call needs; `ZERO` when claimed, else how long
    /// until one comes (a node that would only wait does not take a slot yet).
    fn claim(&self, _op: &Op) -> Duration {
        Duration::ZERO
    }

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
    /// Whether a failure or a stop request kept nodes from starting.
    pub stopped: bool,
    /// Nodes that never started, by index.
    pub not_started: Vec<usize>,
    /// Resources whose every call succeeded, and all the resources the run acts on.
    pub resources_done: usize,
    pub resources_total: usize,
    /// The longest dependency chain of this run, timed with each node's real duration
    /// (its calls, retries and waits; not the time it queued for a parallelism slot).
    /// No scheduler could finish before it: `wall / this` is the executor's own
    /// overhead (queueing for slots included), whatever the server's speed.
    pub measured_critical_path: Duration,
}

/// The remaining path of each node: its own cost plus the longest remaining path of
/// what waits for it. The executor starts the longest first.
pub fn priorities(cs: &Changeset, costs: Option<&[f64]>) -> Vec<f64> {
    let n = cs.nodes.len();
    let order = cs.topo_order().unwrap_or_else(|_| (0..n).collect());
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in cs.nodes.iter().enumerate() {
        for &d in &node.deps {
            users[d].push(i);
        }
    }
    let mut prio = vec![0.0f64; n];
    for &i in order.iter().rev() {
        let after = users[i].iter().map(|&u| prio[u]).fold(0.0, f64::max);
        prio[i] = costs.and_then(|c| c.get(i).copied()).unwrap_or(1.0) + after;
    }
    prio
}

/// A ready node in the queue: the longest remaining path first, then the lowest index.
#[derive(Debug, PartialEq)]
struct Ready(f64, usize);

impl Eq for Ready {}

impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Ready {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

type Joined = (usize, Duration, Result<Option<String>, NodeFailure>);

/// The executor's bookkeeping: what is ready, what each resource still waits for.
struct Schedule<'a> {
    cs: &'a Changeset,
    prio: Vec<f64>,
    ready: BinaryHeap<Ready>,
    remaining_deps: Vec<usize>,
    users: Vec<Vec<usize>>,
    started: Vec<bool>,
    actions: HashMap<&'a Address, Action>,
    nodes_left: BTreeMap<&'a Address, usize>,
    started_at: HashMap<&'a Address, Instant>,
    resource_id: HashMap<&'a Address, String>,
    /// Longest chain of real node durations ending at each finished node.
    chain: Vec<Duration>,
    report: ExecReport,
}

impl<'a> Schedule<'a> {
    fn new(cs: &'a Changeset, opts: &ExecOptions) -> Self {
        let n = cs.nodes.len();
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, node) in cs.nodes.iter().enumerate() {
            for &d in &node.deps {
                users[d].push(i);
            }
        }
        let remaining_deps: Vec<usize> = cs.nodes.iter().map(|x| x.deps.len()).collect();
        let prio = priorities(cs, opts.costs.as_deref());
        let ready = (0..n)
            .filter(|&i| remaining_deps[i] == 0)
            .map(|i| Ready(prio[i], i))
            .collect();
        // Per-resource progress: a resource starts with its first node and is done
        // with its last.
        let mut nodes_left: BTreeMap<&Address, usize> = BTreeMap::new();
        for a in cs.nodes.iter().flat_map(|n| n.addresses()) {
            *nodes_left.entry(a).or_default() += 1;
        }
        Schedule {
            cs,
            prio,
            ready,
            remaining_deps,
            users,
            started: vec![false; n],
            actions: cs.changes.iter().map(|c| (&c.address, c.action)).collect(),
            nodes_left,
            started_at: HashMap::new(),
            resource_id: HashMap::new(),
            chain: vec![Duration::ZERO; n],
            report: ExecReport {
                ids: vec![None; n],
                ..ExecReport::default()
            },
        }
    }

    /// A node without a change record of its own (a revoke that lets a group go):
    /// named by what it does.
    fn action_of(&self, addr: &Address, op: &Op) -> Action {
        self.actions.get(addr).copied().unwrap_or(if op.removes() {
            Action::Delete
        } else {
            Action::Update
        })
    }

    /// The ready node with the longest remaining path that could call AWS at once
    /// (`Err`: none can, the soonest in that long).
    fn pick(&mut self, claim: impl Fn(&Op) -> Duration) -> Result<usize, Duration> {
        let mut passed = Vec::new();
        let mut soonest = Duration::MAX;
        let mut found = None;
        while let Some(r) = self.ready.pop() {
            let wait = claim(&self.cs.nodes[r.1].op);
            if wait.is_zero() {
                found = Some(r.1);
                break;
            }
            soonest = soonest.min(wait);
            passed.push(r);
        }
        self.ready.extend(passed);
        found.ok_or(soonest)
    }

    /// Start node `i`, announcing the resources it starts.
    fn start(&mut self, i: usize, progress: &Progress) {
        self.started[i] = true;
        let node = &self.cs.nodes[i];
        for a in node.addresses() {
            if !self.started_at.contains_key(a) {
                self.started_at.insert(a, Instant::now());
                progress.started(a, self.action_of(a, &node.op));
            }
        }
    }

    /// `Still creating... [20s elapsed]` for every resource started and not finished
    /// that has run for at least `interval` (whatever its calls are doing: waiting for
    /// a token, for AWS, between two calls).
    fn still_running(&self, interval: Duration, progress: &Progress) {
        for (addr, t0) in &self.started_at {
            let elapsed = t0.elapsed();
            if self.nodes_left.get(addr).is_some_and(|&n| n > 0) && elapsed >= interval {
                let op = self
                    .cs
                    .nodes
                    .iter()
                    .find(|n| n.addresses().any(|a| a == *addr))
                    .map(|n| &n.op);
                if let Some(op) = op {
                    progress.still(addr, self.action_of(addr, op), elapsed);
                }
            }
        }
    }

    fn finished(&mut self, (i, took, result): Joined, progress: &Progress) {
        let cs = self.cs;
        let node = &cs.nodes[i];
        self.chain[i] = took
            + node
                .deps
                .iter()
                .map(|&d| self.chain[d])
                .max()
                .unwrap_or_default();
        self.report.measured_critical_path = self.report.measured_critical_path.max(self.chain[i]);
        match result {
            Ok(id) => {
                self.report.completed += 1;
                if let (true, Some(id)) = (node.op.creates(), &id) {
                    self.resource_id.insert(&node.address, id.clone());
                }
                self.report.ids[i] = id;
                for a in node.addresses() {
                    self.done_with(a, &node.op, progress);
                }
                for &u in &self.users[i] {
                    self.remaining_deps[u] -= 1;
                    if self.remaining_deps[u] == 0 {
                        self.ready.push(Ready(self.prio[u], u));
                    }
                }
            }
            Err(f) => {
                let (message, hint, transient) = match f {
                    NodeFailure::Aws(e) => (
                        e.to_string(),
                        e.hint().map(str::to_string),
                        e.is_transient(),
                    ),
                    NodeFailure::Wait(m) => (m, None, true),
                };
                progress.failed(&node.address, &message);
                self.report.errors.push(NodeError {
                    address: node.address.clone(),
                    id: node
                        .op
                        .resolved(&self.report.ids)
                        .target()
                        .map(str::to_string),
                    message,
                    hint,
                    transient,
                });
            }
        }
    }

    /// One of `addr`'s nodes is done; the last one finishes the resource.
    fn done_with(&mut self, addr: &'a Address, op: &Op, progress: &Progress) {
        let left = self.nodes_left.get_mut(addr).expect("counted");
        *left -= 1;
        if *left > 0 {
            return;
        }
        self.report.resources_done += 1;
        let id = self.resource_id.get(addr).cloned().or_else(|| {
            self.cs
                .changes
                .iter()
                .find(|c| &c.address == addr)
                .and_then(|c| c.id.clone())
        });
        let elapsed = self.started_at[addr].elapsed();
        progress.finished(addr, self.action_of(addr, op), elapsed, id.as_deref());
    }

    fn into_report(mut self) -> ExecReport {
        self.report.resources_total = self.nodes_left.len();
        self.report.not_started = (0..self.started.len())
            .filter(|&i| !self.started[i])
            .collect();
        self.report.stopped = !self.report.not_started.is_empty();
        self.report
    }
}

/// Run every node of `cs` against `backend`: ready nodes start longest remaining path
/// first, at most `parallelism` calls at once; after a failure or a stop request no
/// new node starts and the ones in flight finish.
pub async fn execute<B: Backend>(
    cs: &Changeset,
    backend: Arc<B>,
    opts: &ExecOptions,
    progress: &Progress,
) -> ExecReport {
    let mut s = Schedule::new(cs, opts);
    let sem = Arc::new(Semaphore::new(opts.parallelism.max(1)));
    let mut set: JoinSet<Joined> = JoinSet::new();
    let mut stop = opts.stop.clone();
    let mut tick = tokio::time::interval_at(
        Instant::now() + opts.progress_interval,
        opts.progress_interval,
    );
    loop {
        let may_start = s.report.errors.is_empty()
            && !stop.as_ref().is_some_and(|r| *r.borrow())
            && !s.ready.is_empty();
        if !may_start && set.is_empty() {
            break;
        }
        // A node starts only once a slot is free, so that the ready node with the
        // longest remaining path takes it (not the one that happened to be ready
        // first); a node whose call would only wait for a request token leaves the
        // slot to one that can call now.
        let mut token_wait = None;
        if may_start {
            if let Ok(permit) = sem.clone().try_acquire_owned() {
                match s.pick(|op| backend.claim(op)) {
                    Ok(i) => {
                        s.start(i, progress);
                        spawn_node(&mut set, cs, &s.report.ids, i, permit, &backend);
                        continue;
                    }
                    Err(d) => token_wait = Some(d.min(Duration::from_secs(60))),
                }
            }
        }
        // Nothing can start now: wait for a node to end, a slot, a token, a stop, or
        // the time to say what is still running.
        tokio::select! {
            joined = set.join_next(), if !set.is_empty() => {
                s.finished(joined.expect("a task").expect("executor task panicked"), progress);
            }
            _ = tick.tick() => s.still_running(opts.progress_interval, progress),
            _ = tokio::time::sleep(token_wait.unwrap_or_default()), if token_wait.is_some() => {}
            _ = sem.clone().acquire_owned(), if may_start && token_wait.is_none() => {}
            changed = async { stop.as_mut().expect("watched").changed().await }, if stop.is_some() => {
                if changed.is_err() {
                    stop = None; // nobody can ask any more
                } else if *stop.as_ref().expect("watched").borrow() && !set.is_empty() {
                    progress.line(&format!(
                        "Interrupt received: finishing {} call{} in flight, starting nothing new (Ctrl-C again stops at once)...",
                        set.len(),
                        if set.len() == 1 { "" } else { "s" }
                    ));
                }
            }
        }
    }
    s.into_report()
}

/// Run node `i` in its own task.
fn spawn_node<B: Backend>(
    set: &mut JoinSet<Joined>,
    cs: &Changeset,
    ids: &[Option<String>],
    i: usize,
    permit: tokio::sync::OwnedSemaphorePermit,
    backend: &Arc<B>,
) {
    let node = &cs.nodes[i];
    let op = node.op.resolved(ids);
    let label = node.address.to_string();
    let backend = backend.clone();
    set.spawn(async move {
        let began = Instant::now();
        let r = backend.perform(op, label, Slot(Some(permit))).await;
        (i, began.elapsed(), r)
    });
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
    fn claim(&self, op: &Op) -> Duration {
        self.cloud.claim(op.api_name())
    }

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
