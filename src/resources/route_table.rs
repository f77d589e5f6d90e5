//! The plan's route tables: the private one `route_table.private` (or, with
//! `nat = "per_az"`, one per AZ: `route_table.private-us-east-1a`), which exists when
//! the plan has subnets, and `route_table.public` when it has public subnets. Each plan
//! subnet is associated with its table; the default routes (to a NAT gateway, to the
//! internet gateway) are the `route` kind's, the S3 prefix-list route the gateway
//! endpoint's.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::route_table_association::ObservedAssociation;
use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{client_token, Cx, IdRef, Matched};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};

/// The key of the plan's private route table.
pub const PRIVATE: &str = "private";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedRoute {
    pub destination: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedRouteTable {
    pub id: String,
    pub vpc_id: String,
    /// Explicit subnet associations (not the main-table flag).
    pub associations: Vec<ObservedAssociation>,
    pub routes: Vec<ObservedRoute>,
    pub tags: Tags,
    /// The VPC's main route table (what subnets without an association use).
    #[serde(default)]
    pub main: bool,
}

impl Live for ObservedRouteTable {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    fn vpc_id(&self) -> Option<&str> {
        Some(&self.vpc_id)
    }
    /// Its VPC, and the gateways its routes go to: a NAT gateway is deleted only once
    /// no table of the plan sends traffic to it any more.
    fn holds(&self) -> Vec<&str> {
        std::iter::once(self.vpc_id.as_str())
            .chain(
                self.routes
                    .iter()
                    .map(|r| r.target.as_str())
                    .filter(|t| t.starts_with("nat-") || t.starts_with("igw-")),
            )
            .collect()
    }
    fn normalize(&mut self) {
        self.associations.sort_by(|a, b| a.id.cmp(&b.id));
        self.routes
            .sort_by(|a, b| (&a.destination, &a.target).cmp(&(&b.destination, &b.target)));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        vpc: IdRef,
        tags: Tags,
        client_token: String,
    },
    Delete {
        route_table: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create { vpc, .. } => vec![vpc],
            Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateRouteTable",
            Op::Delete { .. } => "DeleteRouteTable",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { route_table } => vec![route_table],
            Op::Create { .. } => vec![],
        }
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Delete { route_table } => Some(route_table),
            Op::Create { vpc, .. } => vpc.id(),
        }
    }
}

/// The route table calls, in the tool's own types.
pub trait Api: Send + Sync {
    fn describe_route_tables_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedRouteTable>>;
    /// Every route table of a VPC (to see which one an adopted subnet uses).
    fn describe_route_tables_in_vpc(&self, vpc_id: &str) -> impl Call<Vec<ObservedRouteTable>>;
    fn create_route_table(
        &self,
        vpc_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> impl Call<String>;
    fn delete_route_table(&self, id: &str) -> impl Call<()>;
}

pub struct RouteTable;

pub fn private() -> Address {
    Address::new(Kind::RouteTable, PRIVATE)
}

/// The key of the public route table.
pub const PUBLIC: &str = "public";

/// The route table at `key` (`private`, `private-<az>`, `public`).
pub fn table(key: &str) -> Address {
    Address::new(Kind::RouteTable, key)
}

impl ResourceKind for RouteTable {
    const KIND: Kind = Kind::RouteTable;
    const NAME: &'static str = "route_table";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedRouteTable;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedRouteTable> {
        obs.route_tables.iter().collect()
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedRouteTable>) {
        for key in cx.plan.route_table_keys() {
            reconcile_one(cx, live, &key);
        }
    }

    /// Its associations are removed first, by the association kind (each one lets the
    /// table go).
    fn delete(o: &ObservedRouteTable) -> Vec<super::Op> {
        vec![Op::Delete {
            route_table: o.id.clone(),
        }
        .into()]
    }
}

fn reconcile_one(cx: &mut Cx, live: &Matched<ObservedRouteTable>, key: &str) {
    let addr = table(key);
    match live.get(key) {
        Some(rt) => cx.tags_only(addr, rt),
        None => {
            let vpc = cx.vpc_ref();
            let op = Op::Create {
                client_token: client_token(&cx.plan.name, &addr, &format!("{vpc:?}")),
                tags: cx.tags(&addr),
                vpc,
            };
            let n = cx.node(&addr, op, &[]);
            cx.created(addr, n, attrs([("routes", json!(["local"]))]));
        }
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for RouteTable {
    async fn perform(c: &C, op: Op, run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                ref vpc,
                ref tags,
                ref client_token,
            } => {
                let token = run.token(client_token, &op);
                Ok(Some(c.create_route_table(id_of(vpc)?, tags, &token).await?))
            }
            Op::Delete { route_table } => {
                c.delete_route_table(&route_table).await?;
                Ok(None)
            }
        }
    }
}
