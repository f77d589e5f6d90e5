//! Elastic IP addresses of the plan's NAT gateways, `elastic_ip.<public subnet>`: one
//! per NAT gateway, tagged at allocation (`TagSpecifications`) so that observe finds
//! them by the plan tag. Released only once their NAT gateway is deleted (the NAT
//! gateway holds its address).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{attrs, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedAddress {
    /// The allocation id (`eipalloc-...`).
    pub id: String,
    pub public_ip: String,
    /// What it is associated with now (a NAT gateway's interface), if anything.
    pub association_id: Option<String>,
    pub tags: Tags,
}

impl Live for ObservedAddress {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    /// An address belongs to the account and region, not to a VPC.
    fn vpc_id(&self) -> Option<&str> {
        None
    }
    fn holds(&self) -> Vec<&str> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Allocate { tags: Tags },
    Release { allocation_id: String },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        Vec::new()
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Allocate { .. } => "AllocateAddress",
            Op::Release { .. } => "ReleaseAddress",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Allocate { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Release { allocation_id } => vec![allocation_id],
            Op::Allocate { .. } => vec![],
        }
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Release { allocation_id } => Some(allocation_id),
            Op::Allocate { .. } => None,
        }
    }
}

/// The Elastic IP calls, in the tool's own types.
pub trait Api: Send + Sync {
    fn describe_addresses_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedAddress>>;
    /// Returns the allocation id.
    fn allocate_address(&self, tags: &Tags) -> impl Call<String>;
    /// An address already released is done.
    fn release_address(&self, allocation_id: &str) -> impl Call<()>;
}

pub struct ElasticIp;

pub fn address(host: &str) -> Address {
    Address::new(Kind::ElasticIp, host)
}

impl ResourceKind for ElasticIp {
    const KIND: Kind = Kind::ElasticIp;
    const NAME: &'static str = "elastic_ip";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedAddress;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedAddress> {
        obs.addresses.iter().collect()
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedAddress>) {
        for host in cx.plan.nat_hosts() {
            let addr = address(host);
            match live.get(host) {
                Some(a) => cx.tags_only(addr, a),
                None => {
                    let tags = cx.tags(&addr);
                    let n = cx.node(&addr, Op::Allocate { tags }, &[]);
                    let want = attrs([(
                        "nat_gateway",
                        json!(super::nat_gateway::address(host).to_string()),
                    )]);
                    cx.created(addr, n, want);
                }
            }
        }
    }

    fn delete(o: &ObservedAddress) -> Vec<super::Op> {
        vec![Op::Release {
            allocation_id: o.id.clone(),
        }
        .into()]
    }

    fn shown(o: &ObservedAddress) -> Option<Attrs> {
        Some(attrs([("public_ip", json!(o.public_ip))]))
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for ElasticIp {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Allocate { tags } => Ok(Some(c.allocate_address(&tags).await?)),
            Op::Release { allocation_id } => {
                c.release_address(&allocation_id).await?;
                Ok(None)
            }
        }
    }
}
