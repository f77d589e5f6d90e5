//! NAT gateways, `nat_gateway.<public subnet>`: one in the first AZ's public subnet
//! (`nat = "single"`) or one in each AZ's (`per_az`), each with its Elastic IP. The
//! create is waited for until `available` and the delete until `deleted` (minutes on
//! AWS), without holding a parallelism slot. A gateway holds its subnet, its address
//! and the VPC's internet gateway (AWS refuses to detach a gateway while public
//! addresses are mapped in the VPC), so those go only after it. Subnet and address
//! force replacement; so does a gateway that `failed` or is being deleted.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{attrs, elastic_ip, id_of, internet_gateway, Call, KindOp, Live, Perform};
use super::{ResourceKind, Tagging};
use crate::changeset::{client_token, Attrs, Cx, IdRef, Matched, Replacement};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedNatGateway {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// Its Elastic IP's allocation id.
    pub allocation_id: Option<String>,
    /// `pending`, `available`, `deleting` or `failed` (`deleted` ones are not read).
    pub state: String,
    pub tags: Tags,
    /// The plan's internet gateway attached to its VPC, when there is one (filled in by
    /// observe): it cannot be detached while this gateway maps a public address.
    #[serde(default)]
    pub internet_gateway: Option<String>,
}

impl Live for ObservedNatGateway {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    fn vpc_id(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
    fn holds(&self) -> Vec<&str> {
        [Some(self.vpc_id.as_str()), Some(self.subnet_id.as_str())]
            .into_iter()
            .chain([
                self.allocation_id.as_deref(),
                self.internet_gateway.as_deref(),
            ])
            .flatten()
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        subnet: IdRef,
        allocation: IdRef,
        tags: Tags,
        client_token: String,
    },
    Delete {
        nat_gateway: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create {
                subnet, allocation, ..
            } => vec![subnet, allocation],
            Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateNatGateway",
            Op::Delete { .. } => "DeleteNatGateway",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { nat_gateway } => vec![nat_gateway],
            Op::Create { .. } => vec![],
        }
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Delete { nat_gateway } => Some(nat_gateway),
            Op::Create { subnet, .. } => subnet.id(),
        }
    }
}

/// The NAT gateway calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// The plan's gateways that are not `deleted`.
    fn describe_nat_gateways_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedNatGateway>>;
    /// A public NAT gateway; returns its id (it is `pending` at first).
    fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> impl Call<String>;
    /// Until it is `available`; `failed` is an error with AWS's reason.
    fn wait_nat_gateway_available(&self, id: &str) -> impl Call<()>;
    /// Delete and wait until it is `deleted` (its address is free only then). A
    /// gateway already gone is done.
    fn delete_nat_gateway(&self, id: &str) -> impl Call<()>;
}

pub struct NatGateway;

pub fn address(host: &str) -> Address {
    Address::new(Kind::NatGateway, host)
}

impl ResourceKind for NatGateway {
    const KIND: Kind = Kind::NatGateway;
    const NAME: &'static str = "nat_gateway";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedNatGateway;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedNatGateway> {
        obs.nat_gateways.iter().collect()
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedNatGateway>) {
        for host in cx.plan.nat_hosts() {
            reconcile_one(cx, live.get(host), host);
        }
    }

    fn delete(o: &ObservedNatGateway) -> Vec<super::Op> {
        vec![Op::Delete {
            nat_gateway: o.id.clone(),
        }
        .into()]
    }

    fn shown(o: &ObservedNatGateway) -> Option<Attrs> {
        Some(attrs([
            ("subnet", json!(o.subnet_id)),
            ("elastic_ip", json!(o.allocation_id)),
            ("state", json!(o.state)),
        ]))
    }
}

fn want_attrs(host: &str) -> Attrs {
    attrs([
        (
            "subnet",
            json!(Address::new(Kind::Subnet, host).to_string()),
        ),
        ("elastic_ip", json!(elastic_ip::address(host).to_string())),
    ])
}

/// What forces `g` to be replaced, if anything: (attribute paths, reasons).
fn replace_paths(g: &ObservedNatGateway, subnet: &IdRef, eip: &IdRef) -> Vec<String> {
    let mut paths = Vec::new();
    if subnet.id() != Some(g.subnet_id.as_str()) {
        paths.push("subnet".to_string());
    }
    if eip.id() != g.allocation_id.as_deref() {
        paths.push("elastic_ip".to_string());
    }
    if !matches!(g.state.as_str(), "pending" | "available") {
        paths.push("state".to_string());
    }
    paths
}

fn reconcile_one(cx: &mut Cx, old: Option<&ObservedNatGateway>, host: &str) {
    let addr = address(host);
    let subnet = cx
        .reference(&Address::new(Kind::Subnet, host))
        .expect("subnets run first");
    let eip = cx
        .reference(&elastic_ip::address(host))
        .expect("addresses run first");
    let paths = old.map(|g| replace_paths(g, &subnet, &eip));
    if let (Some(g), Some(p)) = (old, &paths) {
        if p.is_empty() {
            return cx.tags_only(addr, g);
        }
    }
    // NAT gateways created in a VPC without an attached internet gateway fail
    // (`Gateway.NotAttached`): one attached by this changeset comes first.
    let igw = internet_gateway::address();
    let attach: Vec<usize> = cx
        .nodes_for(&igw)
        .into_iter()
        .filter(|&n| cx.op_of(n).api_name() == "AttachInternetGateway")
        .collect();
    let op = Op::Create {
        client_token: client_token(&cx.plan.name, &addr, &format!("{subnet:?}{eip:?}")),
        subnet,
        allocation: eip.clone(),
        tags: cx.tags(&addr),
    };
    let n = cx.node(&addr, op, &attach);
    match (old, paths) {
        (Some(g), Some(paths)) => {
            let reason = if paths == ["state"] {
                format!("state is {}: replaced", g.state)
            } else {
                format!("{} forces replacement", paths.join(", "))
            };
            // Its address cannot serve two gateways: the old one goes first.
            let r = Replacement {
                reasons: vec![reason],
                paths,
                before: NatGateway::shown(g),
                after: want_attrs(host),
                delete_first: eip.id().is_some() && eip.id() == g.allocation_id.as_deref(),
            };
            cx.replaced::<NatGateway>(addr, g, n, r);
        }
        _ => cx.created(addr, n, want_attrs(host)),
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for NatGateway {
    async fn perform(c: &C, op: Op, run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                ref subnet,
                ref allocation,
                ref tags,
                ref client_token,
            } => {
                let token = run.token(client_token, &op);
                let id = c
                    .create_nat_gateway(id_of(subnet)?, id_of(allocation)?, tags, &token)
                    .await?;
                run.slot.release();
                c.wait_nat_gateway_available(&id).await?;
                Ok(Some(id))
            }
            Op::Delete { nat_gateway } => {
                run.slot.release();
                c.delete_nat_gateway(&nat_gateway).await?;
                Ok(None)
            }
        }
    }
}
