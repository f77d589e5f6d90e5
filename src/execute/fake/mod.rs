//! An in-memory cloud for tests and executor benchmarks (test builds only). It
//! implements every kind's `Api` trait, so the real observe and perform code runs
//! against it, and it enforces the AWS rules the ordering depends on (a subnet or group
//! in use cannot be deleted, a VPC with children cannot be deleted, duplicate
//! permissions are refused), so a changeset that runs here runs in a sane order. It is
//! not a second implementation of the product: the AWS adapters are exercised against
//! LocalStack.

mod access;
mod endpoint;
mod nat;
mod network;
mod quotas;
mod security_group;
mod studio;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::waiter::EndpointWaiter;
use super::{Backend, NodeFailure, Run, Slot};
use crate::aws::AwsError;
use crate::changeset::Op;
use crate::observe::{
    Observed, ObservedDomain, ObservedEndpoint, ObservedInternetGateway, ObservedRole,
    ObservedRouteTable, ObservedSecurityGroup, ObservedSubnet, ObservedUserProfile, ObservedVpc,
    Tags,
};
use crate::plan::Plan;
use crate::resources::Guard;

/// Everything in the fake account.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub vpcs: Vec<ObservedVpc>,
    pub internet_gateways: Vec<ObservedInternetGateway>,
    pub subnets: Vec<ObservedSubnet>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    pub endpoints: Vec<ObservedEndpoint>,
    pub roles: Vec<ObservedRole>,
    pub domains: Vec<ObservedDomain>,
    pub user_profiles: Vec<ObservedUserProfile>,
    pub policies: Vec<crate::observe::ObservedPolicy>,
    /// IAM roles, groups and users that exist (to attach policies to).
    pub principals: Vec<crate::plan::access::Principal>,
    pub addresses: Vec<crate::observe::ObservedAddress>,
    /// NAT gateways not yet deleted (they are deleted at once here).
    pub nat_gateways: Vec<crate::observe::ObservedNatGateway>,
    /// Zones (by name) where an endpoint service (full name) is not offered; every
    /// other service is offered in us-east-1a to f.
    pub services_missing: BTreeMap<String, Vec<String>>,
    /// Whether endpoint service answers carry AZ IDs (AWS's do, LocalStack's do not).
    pub service_zone_ids: bool,
    /// Service Quotas' answers by quota code (none: no applied value).
    pub quotas: BTreeMap<String, quotas::QuotaAnswer>,
}

pub struct FakeCloud {
    pub world: Arc<Mutex<World>>,
    next: AtomicU64,
    /// Added to every call, to measure the executor's critical path.
    pub latency: Duration,
    /// Mutating calls made, in order (API name and resource label).
    pub log: Mutex<Vec<(String, String)>>,
    waiter: EndpointWaiter,
}

fn err(op: &'static str, code: &str, msg: impl Into<String>) -> AwsError {
    AwsError::new(op, Some(code), msg)
}

impl Default for FakeCloud {
    fn default() -> Self {
        FakeCloud::new(Duration::ZERO)
    }
}

impl Guard for FakeCloud {}

impl FakeCloud {
    pub fn new(latency: Duration) -> FakeCloud {
        let world = Arc::new(Mutex::new(World::default()));
        let polled = world.clone();
        let mut waiter = EndpointWaiter::new(move |ids: Vec<String>| {
            let out = endpoint::statuses(&polled.lock().expect("fake world"), &ids);
            async move { Ok(out) }
        });
        waiter.initial_delay = Duration::from_millis(4);
        FakeCloud {
            world,
            next: AtomicU64::new(1),
            latency,
            log: Mutex::new(Vec::new()),
            waiter,
        }
    }

    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}-{:017x}", self.next.fetch_add(1, Ordering::SeqCst))
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("fake world")
    }

    /// Add a VPC that no plan owns (to adopt).
    pub fn add_foreign_vpc(&self, cidr: &str, dns: bool) -> String {
        let id = self.new_id("vpc");
        self.world().vpcs.push(ObservedVpc {
            tenancy: None,
            id: id.clone(),
            cidr: cidr.into(),
            cidrs: vec![cidr.into()],
            dns_support: dns,
            dns_hostnames: dns,
            tags: Tags::new(),
        });
        id
    }

    /// What `plan` and `apply` read for `plan` here, with Service Quotas always read
    /// (the binary asks it only when the change adds what a quota counts; the real
    /// observe code, run to completion: the fake never waits).
    pub fn observe(&self, plan: &Plan) -> Observed {
        futures::executor::block_on(async {
            let mut obs = crate::observe::observe(self, plan).await?;
            obs.quotas = Some(crate::quotas::read(self).await);
            Ok::<_, AwsError>(obs)
        })
        .expect("fake observe")
    }

    /// Count of every resource in the account, tagged or not: VPCs, subnets, route
    /// tables, groups, endpoints.
    pub fn counts(&self) -> [usize; 5] {
        let w = self.world();
        [
            w.vpcs.len(),
            w.subnets.len(),
            w.route_tables.len(),
            w.security_groups.len(),
            w.endpoints.len(),
        ]
    }
}

/// Changesets run here through the same dispatch as real runs, with a latency per
/// call and a log of every call.
impl Backend for FakeCloud {
    async fn perform(
        &self,
        op: Op,
        label: String,
        slot: Slot,
    ) -> Result<Option<String>, NodeFailure> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.log
            .lock()
            .expect("fake log")
            .push((op.api_name().to_string(), label.clone()));
        let mut run = Run {
            label: &label,
            slot,
            waiter: &self.waiter,
            endpoint_timeout: Duration::from_secs(5),
            nonce: 0,
        };
        crate::resources::perform(self, op, &mut run).await
    }
}
