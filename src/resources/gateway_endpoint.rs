//! Gateway endpoints (S3, DynamoDB) on the plan's private route tables. Route tables and the
//! policy change in place; the service forces replacement, and so does the `failed`
//! state.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::endpoint::{
    self, policy_attr, policy_change, EndpointChanges, EndpointType, NewEndpoint, ObservedEndpoint,
};
use super::route_table;
use super::{attrs, id_of, ids_of, KindOp, Perform, ResourceKind, Tagging};
use crate::changeset::{client_token, compact, Attrs, Cx, IdRef, Matched, Replacement, DIFFERS};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};
use crate::plan::GatewayEndpointSpec;

pub use super::endpoint::Api;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        vpc: IdRef,
        service_name: String,
        route_tables: Vec<IdRef>,
        policy: Option<String>,
        tags: Tags,
        client_token: String,
    },
    Modify {
        endpoint: IdRef,
        add_route_tables: Vec<IdRef>,
        remove_route_tables: Vec<String>,
        /// `Some(None)`: reset to AWS's default policy.
        policy: Option<Option<String>>,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create {
                vpc, route_tables, ..
            } => std::iter::once(vpc)
                .chain(route_tables.iter_mut())
                .collect(),
            Op::Modify {
                endpoint,
                add_route_tables,
                ..
            } => std::iter::once(endpoint)
                .chain(add_route_tables.iter_mut())
                .collect(),
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateVpcEndpoint",
            Op::Modify { .. } => "ModifyVpcEndpoint",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn releases(&self) -> Vec<String> {
        match self {
            Op::Modify {
                remove_route_tables,
                ..
            } => remove_route_tables.clone(),
            _ => vec![],
        }
    }
    fn waits(&self) -> bool {
        matches!(self, Op::Modify { .. })
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create { vpc, .. } => vpc.id(),
            Op::Modify { endpoint, .. } => endpoint.id(),
        }
    }
}

pub struct GatewayEndpoint;

impl ResourceKind for GatewayEndpoint {
    const KIND: Kind = Kind::GatewayEndpoint;
    const NAME: &'static str = "gateway_endpoint";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedEndpoint;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedEndpoint> {
        obs.endpoints
            .iter()
            .filter(|e| e.endpoint_type == EndpointType::Gateway)
            .collect()
    }

    fn check(cx: &mut Cx) {
        adopted_subnets_off_the_endpoint(cx);
        let (plan, obs) = (cx.plan, cx.obs);
        if obs.services.is_empty() && plan.interface_endpoints.is_empty() {
            return;
        }
        for (key, spec) in &plan.gateway_endpoints {
            if !obs.services.iter().any(|s| {
                s.service_name == spec.service_name && s.endpoint_type == EndpointType::Gateway
            }) {
                cx.problems.push(format!(
                    "gateway_endpoints.{key}: {} is not offered as a gateway endpoint service in {}",
                    spec.service_name, plan.region
                ));
            }
        }
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedEndpoint>) {
        let plan = cx.plan;
        for (key, spec) in &plan.gateway_endpoints {
            let addr = Address::new(Kind::GatewayEndpoint, key);
            match live.get(key) {
                Some(e) if e.service_name == spec.service_name && !endpoint::is_failed(e) => {
                    update(cx, addr, e, spec)
                }
                other => create_or_replace(cx, addr, spec, other),
            }
        }
    }

    fn delete(o: &ObservedEndpoint) -> Vec<super::Op> {
        vec![endpoint::DeleteEndpoints::of(o).into()]
    }

    fn shown(o: &ObservedEndpoint) -> Option<Attrs> {
        Some(attrs([("service_name", json!(o.service_name))]))
    }
}

/// The route tables the endpoint should be on, as shown: the plan's (when it has
/// one), then the others.
fn route_table_labels(cx: &Cx, spec: &GatewayEndpointSpec) -> Vec<String> {
    cx.plan
        .private_table_keys()
        .iter()
        .map(|k| route_table::table(k).to_string())
        .chain(spec.route_tables.iter().cloned())
        .collect()
}

/// The route tables the endpoint should be on, as references.
fn route_table_refs(cx: &Cx, spec: &GatewayEndpointSpec) -> Vec<IdRef> {
    cx.plan
        .private_table_keys()
        .iter()
        .filter_map(|k| cx.reference(&route_table::table(k)))
        .chain(spec.route_tables.iter().map(|id| IdRef::Id(id.clone())))
        .collect()
}

/// Adopted subnets (named by id) reach S3 through the gateway endpoint only if their
/// route table carries it: say which ones do not, and how to put it there.
fn adopted_subnets_off_the_endpoint(cx: &mut Cx) {
    let (plan, obs) = (cx.plan, cx.obs);
    for (key, spec) in &plan.gateway_endpoints {
        for s in &obs.referenced_subnets {
            let table = obs
                .vpc_route_tables
                .iter()
                .find(|r| r.associations.iter().any(|a| a.subnet_id == s.id))
                .or_else(|| obs.vpc_route_tables.iter().find(|r| r.main));
            let Some(table) = table else { continue };
            if !spec.route_tables.contains(&table.id) {
                cx.warnings.push(format!(
                    "gateway_endpoints.{key}: adopted subnet {} uses route table {}, which the endpoint is not on: its traffic to {key} does not go through the endpoint. Add route_tables = [\"{}\"] under [gateway_endpoints.{key}] to put it there",
                    s.id, table.id, table.id
                ));
            }
        }
    }
}

fn want_attrs(cx: &Cx, spec: &GatewayEndpointSpec) -> Attrs {
    attrs([
        ("service_name", json!(spec.service_name)),
        ("route_tables", json!(route_table_labels(cx, spec))),
        ("policy", policy_attr(spec.policy.as_ref())),
    ])
}

/// The plan's route table as the endpoint's only one, and the plan's policy.
fn update(cx: &mut Cx, addr: Address, e: &ObservedEndpoint, spec: &GatewayEndpointSpec) {
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    let (add_route_tables, remove_route_tables) =
        endpoint::set_change(&e.route_table_ids, &route_table_refs(cx, spec));
    if !add_route_tables.is_empty() || !remove_route_tables.is_empty() {
        before.insert("route_tables".into(), json!(e.route_table_ids));
        after.insert("route_tables".into(), json!(route_table_labels(cx, spec)));
    }
    let policy = policy_change(spec.policy.as_ref(), e.policy.as_ref());
    if policy.is_some() {
        before.insert("policy".into(), policy_attr(e.policy.as_ref()));
        after.insert("policy".into(), policy_attr(spec.policy.as_ref()));
    }
    if let Some((_, tb, ta)) = cx.tag_update(&addr, IdRef::Id(e.id.clone()), &e.tags) {
        before.extend(tb);
        after.extend(ta);
    }
    if !add_route_tables.is_empty() || !remove_route_tables.is_empty() || policy.is_some() {
        let op = Op::Modify {
            endpoint: IdRef::Id(e.id.clone()),
            add_route_tables,
            remove_route_tables,
            policy,
        };
        cx.node(&addr, op, &[]);
    }
    cx.unchanged_or_changed(addr, &e.id, DIFFERS.into(), before, after);
}

fn create_or_replace(
    cx: &mut Cx,
    addr: Address,
    spec: &GatewayEndpointSpec,
    old: Option<&ObservedEndpoint>,
) {
    let vpc = cx.vpc_ref();
    let op = Op::Create {
        client_token: client_token(&cx.plan.name, &addr, &format!("{vpc:?}{:?}", spec.policy)),
        vpc,
        service_name: spec.service_name.clone(),
        route_tables: route_table_refs(cx, spec),
        policy: spec.policy.as_ref().map(compact),
        tags: cx.tags(&addr),
    };
    let n = cx.node(&addr, op, &[]);
    match old {
        Some(e) => {
            let r = Replacement {
                reasons: vec![endpoint::replace_reason(e)],
                paths: endpoint::replace_paths(e),
                before: Some(endpoint::replaced_attrs(e)),
                after: want_attrs(cx, spec),
                delete_first: false,
            };
            cx.replaced::<GatewayEndpoint>(addr, e, n, r);
        }
        None => cx.created(addr, n, want_attrs(cx, spec)),
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for GatewayEndpoint {
    async fn perform(c: &C, op: Op, run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                ref vpc,
                ref service_name,
                ref route_tables,
                ref policy,
                ref tags,
                ref client_token,
            } => {
                let token = run.token(client_token, &op);
                let ep = NewEndpoint {
                    vpc_id: id_of(vpc)?,
                    service_name,
                    endpoint_type: EndpointType::Gateway,
                    subnet_ids: &[],
                    security_group_ids: &[],
                    route_table_ids: &ids_of(route_tables)?,
                    private_dns: None,
                    policy: policy.as_deref(),
                    tags,
                    client_token: &token,
                };
                endpoint::create(c, ep, run).await
            }
            Op::Modify {
                endpoint,
                add_route_tables,
                remove_route_tables,
                policy,
            } => {
                let changes = EndpointChanges {
                    add_route_tables: ids_of(&add_route_tables)?,
                    remove_route_tables,
                    policy,
                    ..EndpointChanges::default()
                };
                endpoint::modify(c, id_of(&endpoint)?, &changes, run).await
            }
        }
    }
}
