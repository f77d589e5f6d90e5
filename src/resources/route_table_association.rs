//! Associations of the plan's subnets with their route tables, keyed by subnet. A
//! subnet whose table changes (`nat` switched to or from `per_az`) is moved with
//! `ReplaceRouteTableAssociation`: one call, so that it is never without its routes.
//! A child kind: read as part of the route table, never tagged.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::route_table::{self, ObservedRouteTable, RouteTable};
use super::subnet::Subnet;
use super::{attrs, id_of, Call, KindOp, Never, Perform, ResourceKind, Tagging};
use crate::changeset::{Action, Cx, IdRef, Matched, ResourceChange, CHANGED_OUTSIDE, NOT_IN_PLAN};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{owned_key, Observed};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedAssociation {
    pub id: String,
    pub subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Associate {
        route_table: IdRef,
        subnet: IdRef,
    },
    Disassociate {
        association_id: String,
        /// What the association held: both may be deleted once it is gone.
        subnet: String,
        route_table: String,
    },
    /// Move a subnet's association to another table in one call.
    Replace {
        association_id: String,
        route_table: IdRef,
        /// The table it leaves (which may then be deleted).
        old_route_table: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Associate {
                route_table,
                subnet,
            } => vec![route_table, subnet],
            Op::Replace { route_table, .. } => vec![route_table],
            Op::Disassociate { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Associate { .. } => "AssociateRouteTable",
            Op::Disassociate { .. } => "DisassociateRouteTable",
            Op::Replace { .. } => "ReplaceRouteTableAssociation",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Associate { .. } | Op::Replace { .. })
    }
    fn releases(&self) -> Vec<String> {
        match self {
            Op::Disassociate {
                subnet,
                route_table,
                ..
            } => vec![subnet.clone(), route_table.clone()],
            Op::Replace {
                old_route_table, ..
            } => vec![old_route_table.clone()],
            Op::Associate { .. } => vec![],
        }
    }
    fn removes(&self) -> bool {
        matches!(self, Op::Disassociate { .. })
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Associate { subnet, .. } => subnet.id(),
            Op::Disassociate { association_id, .. } | Op::Replace { association_id, .. } => {
                Some(association_id)
            }
        }
    }
}

/// The association calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// Returns the association id.
    fn associate_route_table(&self, route_table_id: &str, subnet_id: &str) -> impl Call<String>;
    /// An association already gone is done.
    fn disassociate_route_table(&self, association_id: &str) -> impl Call<()>;
    /// Point an association at another table; returns the new association id.
    fn replace_route_table_association(
        &self,
        association_id: &str,
        route_table_id: &str,
    ) -> impl Call<String>;
}

pub fn disassociate(a: &ObservedAssociation, route_table: &str) -> Op {
    Op::Disassociate {
        association_id: a.id.clone(),
        subnet: a.subnet_id.clone(),
        route_table: route_table.to_string(),
    }
}

pub struct RouteTableAssociation;

impl ResourceKind for RouteTableAssociation {
    const KIND: Kind = Kind::RouteTableAssociation;
    const NAME: &'static str = "route_table_association";
    const TAGGING: Tagging = Tagging::None;
    const OWNED_BY_TAG: bool = false;
    type Live = Never;
    type Op = Op;

    fn live(_obs: &Observed) -> Vec<&Never> {
        Vec::new()
    }

    fn reconcile(cx: &mut Cx, _live: &Matched<Never>) {
        associate_plan_subnets(cx);
        disassociate_others(cx);
        leave_doomed_tables(cx);
    }

    fn retire(cx: &mut Cx, _live: &Matched<Never>) {
        leave_doomed_tables(cx);
    }

    fn delete(o: &Never) -> Vec<super::Op> {
        match *o {}
    }
}

/// The plan's table (kept or not) the subnet `sid` is associated with now: (table
/// key, table, association).
fn current<'o>(
    cx: &Cx<'o>,
    sid: &str,
) -> Option<(String, &'o ObservedRouteTable, &'o ObservedAssociation)> {
    let obs = cx.obs;
    cx.kept_ids(Kind::RouteTable).find_map(|(k, id)| {
        let rt = obs.route_tables.iter().find(|r| r.id == id)?;
        let a = rt.associations.iter().find(|a| a.subnet_id == sid)?;
        Some((k.to_string(), rt, a))
    })
}

/// One association per plan subnet, with its table.
fn associate_plan_subnets(cx: &mut Cx) {
    let plan = cx.plan;
    for (key, _) in plan.every_subnet() {
        let Some(table) = plan.table_of_subnet(key) else {
            continue;
        };
        let rt_addr = route_table::table(&table);
        let rt_ref = cx.reference(&rt_addr).expect("the route tables run first");
        let addr = Address::new(Kind::RouteTableAssociation, key);
        let subnet_addr = Address::new(Kind::Subnet, key);
        let sref = cx.reference(&subnet_addr).expect("subnets run first");
        let now = match &sref {
            IdRef::Id(sid) => current(cx, sid),
            IdRef::Node(_) => None,
        };
        let want = attrs([
            ("route_table", json!(rt_addr.to_string())),
            ("subnet", json!(subnet_addr.to_string())),
        ]);
        match now {
            Some((k, _, a)) if k == table => {
                cx.unchanged(addr, &a.id, vec![]);
                continue;
            }
            Some((k, rt, a)) => {
                let op = Op::Replace {
                    association_id: a.id.clone(),
                    route_table: rt_ref,
                    old_route_table: rt.id.clone(),
                };
                cx.node(&addr, op, &[]);
                let before = attrs([("route_table", json!(route_table::table(&k).to_string()))]);
                let after = attrs([("route_table", json!(rt_addr.to_string()))]);
                let why = format!(
                    "moves to {rt_addr} (nat = \"{}\")",
                    plan.egress.nat.as_str()
                );
                cx.changed(addr, &a.id, vec![why], before, after);
                continue;
            }
            None => {}
        }
        let op = Op::Associate {
            route_table: rt_ref,
            subnet: sref,
        };
        let n = cx.node(&addr, op, &[]);
        // The association of the subnet this one replaces goes with it.
        let old = cx.replaced_old(&subnet_addr).and_then(|old| {
            cx.obs
                .route_tables
                .iter()
                .flat_map(|rt| &rt.associations)
                .find(|a| a.subnet_id == old)
        });
        if let Some(old) = old {
            cx.created_because(addr.clone(), n, vec![], want.clone());
            cx.record_replacement(&addr, &old.id, "its subnet is replaced", want, "subnet");
            continue;
        }
        let reasons = if cx.replaced_old(&subnet_addr).is_some() {
            vec!["subnet is replaced".into()]
        } else if cx.existing::<Subnet>(key).is_some() {
            vec![format!("association removed ({CHANGED_OUTSIDE})")]
        } else {
            vec![]
        };
        cx.created_because(addr, n, reasons, want);
    }
}

/// Whether this changeset moves association `id` to another table.
fn is_moved(cx: &Cx, addr: &Address, id: &str) -> bool {
    cx.nodes_for(addr).into_iter().any(|n| {
        matches!(cx.op_of(n), super::Op::RouteTableAssociation(Op::Replace { association_id, .. }) if association_id == id)
    })
}

/// The associations of route tables that are deleted go first. They are listed (they
/// were counted when they were created) unless this changeset already says what
/// becomes of them (replaced with their subnet).
fn leave_doomed_tables(cx: &mut Cx) {
    let doomed = cx.doomed_ids().clone();
    for rt in cx
        .obs
        .route_tables
        .iter()
        .filter(|r| doomed.contains(&r.id))
    {
        for a in &rt.associations {
            let addr = Address::new(Kind::RouteTableAssociation, subnet_key(cx, &a.subnet_id));
            if is_moved(cx, &addr, &a.id) {
                continue;
            }
            if !cx.has_record(&addr) {
                cx.record(ResourceChange {
                    address: addr.clone(),
                    action: Action::Delete,
                    id: Some(a.id.clone()),
                    reasons: vec![if cx.destroying {
                        crate::changeset::DESTROYED.into()
                    } else {
                        format!(
                            "goes with its route table ({})",
                            owned_key(&rt.tags, &cx.plan.name).unwrap_or(&rt.id)
                        )
                    }],
                    before: Some(attrs([("subnet", json!(a.subnet_id))])),
                    after: None,
                    replace_paths: vec![],
                });
            }
            cx.node(&addr, disassociate(a, &rt.id), &[]);
        }
    }
}

/// A subnet as an association's key: its plan key when the plan owns it, else its id.
fn subnet_key(cx: &Cx, subnet_id: &str) -> String {
    cx.obs
        .subnets
        .iter()
        .find(|s| s.id == subnet_id)
        .and_then(|s| owned_key(&s.tags, &cx.plan.name))
        .and_then(Address::parse)
        .map(|ad| ad.key)
        .unwrap_or_else(|| subnet_id.to_string())
}

/// Associations of the plan's tables with subnets no longer in the plan (owned or not),
/// or with subnets being replaced: removed explicitly before any subnet goes.
/// Associations of plan subnets that move to another table are the move's.
fn disassociate_others(cx: &mut Cx) {
    let plan = cx.plan;
    let subnet_addrs: Vec<Address> = plan
        .every_subnet()
        .map(|(k, _)| Address::new(Kind::Subnet, k))
        .collect();
    let planned_ids: BTreeSet<String> = subnet_addrs
        .iter()
        .filter_map(|a| cx.reference(a)?.id().map(str::to_string))
        .collect();
    let tables: Vec<&ObservedRouteTable> = plan
        .route_table_keys()
        .iter()
        .filter_map(|k| cx.existing::<RouteTable>(k))
        .collect();
    for rt in tables {
        for a in &rt.associations {
            if planned_ids.contains(&a.subnet_id) {
                continue;
            }
            let replaced = subnet_addrs
                .iter()
                .any(|s| cx.replaced_old(s) == Some(a.subnet_id.as_str()));
            let addr = Address::new(Kind::RouteTableAssociation, subnet_key(cx, &a.subnet_id));
            if !replaced {
                cx.record(ResourceChange {
                    address: addr.clone(),
                    action: Action::Delete,
                    id: Some(a.id.clone()),
                    reasons: vec![NOT_IN_PLAN.into()],
                    before: Some(attrs([("subnet", json!(a.subnet_id))])),
                    after: None,
                    replace_paths: vec![],
                });
            }
            cx.node(&addr, disassociate(a, &rt.id), &[]);
        }
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for RouteTableAssociation {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Associate {
                route_table,
                subnet,
            } => Ok(Some(
                c.associate_route_table(id_of(&route_table)?, id_of(&subnet)?)
                    .await?,
            )),
            Op::Disassociate { association_id, .. } => {
                c.disassociate_route_table(&association_id).await?;
                Ok(None)
            }
            Op::Replace {
                association_id,
                route_table,
                ..
            } => Ok(Some(
                c.replace_route_table_association(&association_id, id_of(&route_table)?)
                    .await?,
            )),
        }
    }
}
