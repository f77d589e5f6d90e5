//! The plan's internet gateway `internet_gateway.main`, attached to the plan's VPC
//! (`[egress] internet_gateway = true`, or implied by NAT egress). It gives only public
//! subnets a way out: the private subnets' route table never routes to it. Deleted
//! before the VPC: detached first, then deleted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched, CHANGED_OUTSIDE};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};

pub const KEY: &str = "main";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedInternetGateway {
    pub id: String,
    /// The VPC it is attached to, if any.
    pub attached_to: Option<String>,
    pub tags: Tags,
}

impl Live for ObservedInternetGateway {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    fn vpc_id(&self) -> Option<&str> {
        self.attached_to.as_deref()
    }
    /// The attachment is let go of by the detach step, not by the delete.
    fn holds(&self) -> Vec<&str> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create { tags: Tags },
    Attach { gateway: IdRef, vpc: IdRef },
    Detach { gateway: String, vpc: String },
    Delete { gateway: String },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Attach { gateway, vpc } => vec![gateway, vpc],
            Op::Create { .. } | Op::Detach { .. } | Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateInternetGateway",
            Op::Attach { .. } => "AttachInternetGateway",
            Op::Detach { .. } => "DetachInternetGateway",
            Op::Delete { .. } => "DeleteInternetGateway",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { gateway } => vec![gateway],
            _ => vec![],
        }
    }
    /// The detach waits for what holds the gateway (the NAT gateways of the VPC, the
    /// route tables that route to it): AWS refuses it while public addresses are mapped.
    fn awaits(&self) -> Vec<&str> {
        match self {
            Op::Detach { gateway, .. } | Op::Delete { gateway } => vec![gateway],
            _ => vec![],
        }
    }
    fn releases(&self) -> Vec<String> {
        match self {
            Op::Detach { vpc, .. } => vec![vpc.clone()],
            _ => vec![],
        }
    }
    fn removes(&self) -> bool {
        matches!(self, Op::Detach { .. } | Op::Delete { .. })
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create { .. } => None,
            Op::Attach { gateway, .. } => gateway.id(),
            Op::Detach { gateway, .. } | Op::Delete { gateway } => Some(gateway),
        }
    }
}

/// The internet gateway calls, in the tool's own types.
pub trait Api: Send + Sync {
    fn describe_internet_gateways_by_plan(
        &self,
        plan: &str,
    ) -> impl Call<Vec<ObservedInternetGateway>>;
    fn create_internet_gateway(&self, tags: &Tags) -> impl Call<String>;
    fn attach_internet_gateway(&self, gateway: &str, vpc_id: &str) -> impl Call<()>;
    /// Retries `DependencyViolation` (public addresses still mapped in the VPC) for a
    /// bounded time; a gateway no longer attached is done.
    fn detach_internet_gateway(&self, gateway: &str, vpc_id: &str) -> impl Call<()>;
    /// A gateway already gone is done.
    fn delete_internet_gateway(&self, gateway: &str) -> impl Call<()>;
}

pub struct InternetGateway;

pub fn address() -> Address {
    Address::new(Kind::InternetGateway, KEY)
}

impl ResourceKind for InternetGateway {
    const KIND: Kind = Kind::InternetGateway;
    const NAME: &'static str = "internet_gateway";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedInternetGateway;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedInternetGateway> {
        obs.internet_gateways.iter().collect()
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedInternetGateway>) {
        if !cx.plan.wants_internet_gateway() {
            return;
        }
        let addr = address();
        let vpc = cx.vpc_ref();
        match live.get(KEY) {
            Some(g) if g.attached_to.is_some() => cx.tags_only(addr, g),
            Some(g) => {
                // Found, but attached nowhere (detached by hand, or a run stopped
                // between the create and the attach).
                let op = Op::Attach {
                    gateway: IdRef::Id(g.id.clone()),
                    vpc,
                };
                cx.node(&addr, op, &[]);
                let (mut before, mut after) = (
                    attrs([("vpc", Value::Null)]),
                    attrs([("vpc", json!(super::vpc::address().to_string()))]),
                );
                if let Some((_, tb, ta)) = cx.tag_update(&addr, IdRef::Id(g.id.clone()), &g.tags) {
                    before.extend(tb);
                    after.extend(ta);
                }
                let reason = format!("not attached to the VPC ({CHANGED_OUTSIDE})");
                cx.changed(addr, &g.id, vec![reason], before, after);
            }
            None => {
                let n = cx.node(
                    &addr,
                    Op::Create {
                        tags: cx.tags(&addr),
                    },
                    &[],
                );
                let attach = Op::Attach {
                    gateway: IdRef::Node(n),
                    vpc,
                };
                cx.node(&addr, attach, &[]);
                cx.created(addr, n, want_attrs());
            }
        }
    }

    fn delete(o: &ObservedInternetGateway) -> Vec<super::Op> {
        let mut steps: Vec<super::Op> = Vec::new();
        if let Some(vpc) = &o.attached_to {
            steps.push(
                Op::Detach {
                    gateway: o.id.clone(),
                    vpc: vpc.clone(),
                }
                .into(),
            );
        }
        steps.push(
            Op::Delete {
                gateway: o.id.clone(),
            }
            .into(),
        );
        steps
    }

    fn shown(o: &ObservedInternetGateway) -> Option<Attrs> {
        Some(attrs([("vpc", json!(o.attached_to))]))
    }
}

fn want_attrs() -> Attrs {
    attrs([("vpc", json!(super::vpc::address().to_string()))])
}

impl<C: Api + ?Sized + Sync> Perform<C> for InternetGateway {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create { tags } => Ok(Some(c.create_internet_gateway(&tags).await?)),
            Op::Attach { gateway, vpc } => {
                c.attach_internet_gateway(id_of(&gateway)?, id_of(&vpc)?)
                    .await?;
                Ok(None)
            }
            Op::Detach { gateway, vpc } => {
                c.detach_internet_gateway(&gateway, &vpc).await?;
                Ok(None)
            }
            Op::Delete { gateway } => {
                c.delete_internet_gateway(&gateway).await?;
                Ok(None)
            }
        }
    }
}
