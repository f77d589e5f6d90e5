//! Default routes (`0.0.0.0/0`) of the plan's route tables, `route.<table>`: the public
//! table's to the internet gateway, each private table's to its NAT gateway (with
//! `nat = "per_az"`, the one of its AZ). Private tables never route to the internet
//! gateway: seed 004, a VpcOnly Studio domain's subnets reach the internet only
//! through NAT. A route to another target is replaced in place (`ReplaceRoute`: no
//! moment without one); a default route to a NAT or internet gateway that the plan
//! no longer wants is deleted. A child kind: read as part of its table, never tagged.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::route_table::{self, ObservedRouteTable, RouteTable};
use super::{attrs, id_of, internet_gateway, nat_gateway, Call, KindOp, Never, Perform};
use super::{ResourceKind, Tagging};
use crate::changeset::{Action, Cx, IdRef, Matched, ResourceChange, CHANGED_OUTSIDE, NOT_IN_PLAN};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::Observed;

/// The destination of every route this kind manages.
pub const DEFAULT: &str = "0.0.0.0/0";

/// What a route goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    InternetGateway,
    NatGateway,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        route_table: IdRef,
        via: Via,
        target: IdRef,
    },
    /// Point the existing route at another target.
    Replace {
        route_table: String,
        via: Via,
        target: IdRef,
        /// What it pointed at (let go of).
        old_target: String,
    },
    Delete {
        route_table: String,
        old_target: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create {
                route_table,
                target,
                ..
            } => vec![route_table, target],
            Op::Replace { target, .. } => vec![target],
            Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateRoute",
            Op::Replace { .. } => "ReplaceRoute",
            Op::Delete { .. } => "DeleteRoute",
        }
    }
    /// A replaced route lets go of its old target too, but a NAT gateway replaced
    /// with its own address is deleted before its successor exists (which the route
    /// then goes to): waiting for the route would be a cycle, and AWS deletes a NAT
    /// gateway that routes still name (they become blackholes until replaced).
    fn releases(&self) -> Vec<String> {
        match self {
            Op::Delete { old_target, .. } => vec![old_target.clone()],
            Op::Create { .. } | Op::Replace { .. } => vec![],
        }
    }
    fn removes(&self) -> bool {
        matches!(self, Op::Delete { .. })
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create { route_table, .. } => route_table.id(),
            Op::Replace { route_table, .. } | Op::Delete { route_table, .. } => Some(route_table),
        }
    }
}

/// The route calls, in the tool's own types (destination `0.0.0.0/0`).
pub trait Api: Send + Sync {
    fn create_route(&self, route_table: &str, via: Via, target: &str) -> impl Call<()>;
    fn replace_route(&self, route_table: &str, via: Via, target: &str) -> impl Call<()>;
    /// A route already gone is done.
    fn delete_route(&self, route_table: &str) -> impl Call<()>;
}

pub struct Route;

pub fn address(table: &str) -> Address {
    Address::new(Kind::Route, table)
}

impl ResourceKind for Route {
    const KIND: Kind = Kind::Route;
    const NAME: &'static str = "route";
    const TAGGING: Tagging = Tagging::None;
    const OWNED_BY_TAG: bool = false;
    type Live = Never;
    type Op = Op;

    fn live(_obs: &Observed) -> Vec<&Never> {
        Vec::new()
    }

    fn reconcile(cx: &mut Cx, _live: &Matched<Never>) {
        for table in cx.plan.route_table_keys() {
            let want = wanted(cx, &table);
            reconcile_one(cx, &table, want);
        }
    }

    fn delete(o: &Never) -> Vec<super::Op> {
        match *o {}
    }
}

/// The default route table `table` should have: what it goes to, and its address.
fn wanted(cx: &Cx, table: &str) -> Option<(Via, Address)> {
    if table == route_table::PUBLIC {
        return Some((Via::InternetGateway, internet_gateway::address()));
    }
    let host = cx.plan.nat_of_table(table)?;
    Some((Via::NatGateway, nat_gateway::address(host)))
}

fn observed_default(rt: &ObservedRouteTable) -> Option<&str> {
    rt.routes
        .iter()
        .find(|r| r.destination == DEFAULT)
        .map(|r| r.target.as_str())
}

fn reconcile_one(cx: &mut Cx, table: &str, want: Option<(Via, Address)>) {
    let addr = address(table);
    let rt = cx.existing::<RouteTable>(table);
    let now = rt.and_then(observed_default);
    let Some((via, to)) = want else {
        // Only gateways sagevpc routes to are taken away (not a route to a transit
        // gateway or a peering someone added).
        if let (Some(rt), Some(old)) = (rt, now) {
            if old.starts_with("nat-") || old.starts_with("igw-") {
                cx.node(
                    &addr,
                    Op::Delete {
                        route_table: rt.id.clone(),
                        old_target: old.into(),
                    },
                    &[],
                );
                cx.record(ResourceChange {
                    address: addr,
                    action: Action::Delete,
                    id: None,
                    reasons: vec![NOT_IN_PLAN.into()],
                    before: Some(attrs([
                        ("destination", json!(DEFAULT)),
                        ("target", json!(old)),
                    ])),
                    after: None,
                    replace_paths: vec![],
                });
            }
        }
        return;
    };
    let target = cx.reference(&to).expect("gateways run first");
    let after = attrs([
        ("destination", json!(DEFAULT)),
        ("target", json!(to.to_string())),
    ]);
    match (rt, now) {
        (Some(_), Some(old)) if target.id() == Some(old) => {
            cx.record(ResourceChange {
                address: addr,
                action: Action::NoOp,
                id: None,
                reasons: vec![],
                before: None,
                after: None,
                replace_paths: vec![],
            });
        }
        (Some(rt), Some(old)) => {
            let why = if cx.is_fresh(&to) {
                format!("{to} is new")
            } else {
                format!("goes to {old}, not {to} ({CHANGED_OUTSIDE})")
            };
            let op = Op::Replace {
                route_table: rt.id.clone(),
                via,
                target,
                old_target: old.to_string(),
            };
            cx.node(&addr, op, &[]);
            cx.record(ResourceChange {
                address: addr,
                action: Action::Update,
                id: None,
                reasons: vec![why],
                before: Some(attrs([("target", json!(old))])),
                after: Some(after),
                replace_paths: vec![],
            });
        }
        (rt, _) => {
            let route_table = cx
                .reference(&route_table::table(table))
                .expect("route tables run first");
            let n = cx.node(
                &addr,
                Op::Create {
                    route_table,
                    via,
                    target,
                },
                &[],
            );
            let reasons = if rt.is_some() {
                vec![format!("route removed ({CHANGED_OUTSIDE})")]
            } else {
                vec![]
            };
            cx.created_because(addr, n, reasons, after);
        }
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for Route {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                route_table,
                via,
                target,
            } => {
                c.create_route(id_of(&route_table)?, via, id_of(&target)?)
                    .await?
            }
            Op::Replace {
                route_table,
                via,
                target,
                ..
            } => c.replace_route(&route_table, via, id_of(&target)?).await?,
            Op::Delete { route_table, .. } => c.delete_route(&route_table).await?,
        }
        Ok(None)
    }
}
