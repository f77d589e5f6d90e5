//! Resource kinds: one unit per kind, one list of kinds.
//!
//! A kind's unit (`src/resources/<kind>.rs`) holds everything that is particular to it:
//! its observed state ([`Live`]), how the plan's resources of the kind are reconciled
//! with what exists ([`ResourceKind::reconcile`]: what updates in place, what forces
//! replacement, the nodes it emits), the ops that delete one ([`ResourceKind::delete`]),
//! the AWS calls it needs (its `Api` trait, in the tool's own types: the AWS adapter in
//! `src/aws/<service>/<kind>.rs` and the in-memory fake implement it) and how each of
//! its ops is performed ([`Perform`]).
//!
//! What is the same for every kind lives once, in the engine (`changeset::engine`):
//! matching by `sagevpc:key`, duplicates and leftovers, ownership, tag drift, change
//! records, "the VPC is replaced, so its children are", and the delete order, which is
//! derived from what each op lets go of ([`KindOp::releases`], [`Live::holds`]) rather
//! than listed by hand.
//!
//! To add a kind: write its unit (and its adapter, fake and plan section where it needs
//! them), then add one line to the [`kinds!`] list below. A kind left out of the list has
//! no `Kind` variant, so its address, its ops and its dispatch do not compile.

use std::fmt::Debug;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::changeset::{Attrs, Cx, IdRef, Matched};
use crate::execute::{NodeFailure, Run};
use crate::observe::{Observed, Tags};

#[macro_use]
mod list;

pub mod access_policy;
pub mod elastic_ip;
pub mod endpoint;
mod existing;
pub mod gateway_endpoint;
pub mod iam_role;
pub mod interface_endpoint;
pub mod internet_gateway;
pub mod nat_gateway;
pub mod policy_doc;
pub mod route;
pub mod route_table;
pub mod route_table_association;
pub mod security_group;
pub mod security_group_rule;
pub mod studio_domain;
pub mod studio_network;
pub mod subnet;
pub mod tags;
pub mod user_profile;
pub mod vpc;

kinds! {
    Vpc => vpc::Vpc,
    InternetGateway => internet_gateway::InternetGateway,
    Subnet => subnet::Subnet,
    RouteTable => route_table::RouteTable,
    RouteTableAssociation => route_table_association::RouteTableAssociation,
    ElasticIp => elastic_ip::ElasticIp,
    NatGateway => nat_gateway::NatGateway,
    Route => route::Route,
    SecurityGroup => security_group::SecurityGroup,
    SecurityGroupRule => security_group_rule::SecurityGroupRule,
    IamRole => iam_role::IamRole,
    StudioDomain => studio_domain::StudioDomain,
    GatewayEndpoint => gateway_endpoint::GatewayEndpoint,
    InterfaceEndpoint => interface_endpoint::InterfaceEndpoint,
    AccessPolicy => access_policy::AccessPolicy,
    UserProfile => user_profile::UserProfile,
}

/// How a kind's tags are changed after creation (they are always set at creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tagging {
    /// EC2's `CreateTags` / `DeleteTags` on the resource id.
    Ec2,
    /// IAM's `TagRole` / `UntagRole` (the resource is the role's ARN).
    Iam,
    /// IAM's `TagPolicy` / `UntagPolicy` (the resource is the policy's ARN).
    IamPolicy,
    /// SageMaker's `AddTags` / `DeleteTags` (the resource is an ARN).
    SageMaker,
    /// Not a taggable resource (rules, associations).
    None,
}

/// One observed resource, as the engine needs to see it.
pub trait Live: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync {
    fn id(&self) -> &str;
    fn tags(&self) -> &Tags;
    /// The VPC the resource lives in; `None` for what is not a VPC's child (the VPC
    /// itself, an internet gateway attached nowhere).
    fn vpc_id(&self) -> Option<&str>;
    /// Ids of other resources this one holds on to: each of them can be deleted only
    /// once this one is gone (an endpoint holds its subnets and groups, a subnet its VPC).
    fn holds(&self) -> Vec<&str>;
    /// Sort inner lists, so that equal states fingerprint equally.
    fn normalize(&mut self) {}
}

/// An observed resource of no kind: child kinds (rules, associations) are read as part
/// of their parent and never matched by tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Never {}

impl Live for Never {
    fn id(&self) -> &str {
        match *self {}
    }
    fn tags(&self) -> &Tags {
        match *self {}
    }
    fn vpc_id(&self) -> Option<&str> {
        match *self {}
    }
    fn holds(&self) -> Vec<&str> {
        match *self {}
    }
}

/// One API-level step of a kind, fully specified: the executor makes no decisions.
pub trait KindOp: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync {
    /// Every id reference of the op, to resolve and to order by (one walk for both).
    fn refs_mut(&mut self) -> Vec<&mut IdRef>;
    /// The AWS API operation it calls.
    fn api_name(&self) -> &'static str;
    /// Whether its result is a new AWS id.
    fn creates(&self) -> bool {
        false
    }
    /// The id it deletes.
    fn deletes(&self) -> Vec<&str> {
        Vec::new()
    }
    /// Ids whose letting go it waits for: what it deletes, and for a step that is
    /// not a delete but needs what uses a resource gone first (an internet gateway's
    /// detach, refused while NAT gateways map public addresses), that resource.
    fn awaits(&self) -> Vec<&str> {
        self.deletes()
    }
    /// Ids it stops holding (the subnets an endpoint leaves, the group a revoked rule
    /// named, the VPC a gateway detaches from). A delete of one of them waits for it.
    fn releases(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether it takes something away (a delete, a revoke, a disassociation).
    fn removes(&self) -> bool {
        !self.deletes().is_empty()
    }
    /// Whether it waits for an endpoint after its call (modify, delete).
    fn waits(&self) -> bool {
        false
    }
    /// The existing id it acts on, when it acts on one (for error messages).
    fn target(&self) -> Option<&str>;
    /// Take `other` into this op, so that one call does both (`DeleteVpcEndpoints`
    /// takes a list); `false` when the two cannot be one.
    fn absorb(&mut self, _other: &Self) -> bool {
        false
    }
}

/// A resource kind: its observed state, its reconciliation, its deletion.
pub trait ResourceKind: 'static {
    const KIND: Kind;
    /// The first part of its addresses (`subnet` in `subnet.private-a`).
    const NAME: &'static str;
    const TAGGING: Tagging;
    /// Whether its resources carry the ownership tags and are matched by them (child
    /// kinds are reconciled through their parent instead).
    const OWNED_BY_TAG: bool;
    type Live: Live;
    type Op: KindOp;

    /// The observed resources of this kind that the plan may own.
    fn live(obs: &Observed) -> Vec<&Self::Live>;
    /// Problems that stop planning before anything is decided (no change possible).
    fn check(_cx: &mut Cx) {}
    /// Bring the plan's resources of this kind about. What it neither keeps nor replaces
    /// is deleted by the engine.
    fn reconcile(cx: &mut Cx, live: &Matched<Self::Live>);
    /// Destroy: anything beyond deleting every owned resource (default: nothing).
    fn retire(_cx: &mut Cx, _live: &Matched<Self::Live>) {}
    /// The ops that delete `o`, in order; the last one deletes it (earlier ones may be
    /// another kind's: a route table's disassociations).
    fn delete(o: &Self::Live) -> Vec<Op>;
    /// Attributes shown when `o` is deleted.
    fn shown(_o: &Self::Live) -> Option<Attrs> {
        None
    }
}

/// How a kind's ops are performed against a cloud `C` (the AWS adapter, or the fake).
pub trait Perform<C: ?Sized + Sync>: ResourceKind {
    fn perform(
        c: &C,
        op: Self::Op,
        run: &mut Run<'_>,
    ) -> impl Future<Output = Result<Option<String>, NodeFailure>> + Send;
}

/// What a cloud says before a call: whether it may be written to now (the apply
/// lock's fence; see `aws::Fence`), and how long until an API action may be called
/// without waiting for a token (see `aws::pacing`).
pub trait Guard {
    fn may_write(&self) -> Result<(), String> {
        Ok(())
    }
    /// Claim a request token for a call of `api` about to be made; `ZERO` when
    /// claimed, else how long until one comes.
    fn claim(&self, _api: &str) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// The resolved id of a reference (every reference is resolved before its node runs).
pub fn id_of(r: &IdRef) -> Result<&str, NodeFailure> {
    r.id().ok_or_else(|| {
        NodeFailure::Wait("internal error: a reference was not resolved before its node ran".into())
    })
}

pub fn ids_of(rs: &[IdRef]) -> Result<Vec<String>, NodeFailure> {
    rs.iter().map(|r| id_of(r).map(str::to_string)).collect()
}

/// What every adapter call returns: a future of the tool's own result.
pub trait Call<T>: Future<Output = Result<T, crate::aws::AwsError>> + Send {}
impl<T, F: Future<Output = Result<T, crate::aws::AwsError>> + Send> Call<T> for F {}

/// Attributes from `(name, value)` pairs.
pub fn attrs<const N: usize>(pairs: [(&str, serde_json::Value); N]) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
