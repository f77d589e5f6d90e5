//! Interface (PrivateLink) endpoints: one per service, in the plan's subnets (one per
//! AZ) with the plan's groups. Subnets, groups, private DNS and the policy change in
//! place (one ModifyVpcEndpoint); the service forces replacement, and so does the
//! `failed` state. Compared only on what the plan declares: AWS attaching the VPC's
//! default group to an endpoint created without groups is not a change.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::endpoint::{self, EndpointChanges, EndpointType, NewEndpoint, ObservedEndpoint};
use super::policy_doc::{Doc, DocBuilder};
use super::{attrs, id_of, ids_of, vpc, KindOp, Perform, ResourceKind, Tagging};
use crate::changeset::{client_token, Attrs, Cx, IdRef, Matched, Replacement, DIFFERS};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{owned_key, Observed, Tags};
use crate::plan::{InterfaceEndpointSpec, Plan, Ref};

pub use super::endpoint::Api;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        vpc: IdRef,
        service_name: String,
        subnets: Vec<IdRef>,
        security_groups: Vec<IdRef>,
        private_dns: bool,
        policy: Option<Doc>,
        tags: Tags,
        client_token: String,
    },
    Modify {
        endpoint: IdRef,
        add_subnets: Vec<IdRef>,
        remove_subnets: Vec<String>,
        add_security_groups: Vec<IdRef>,
        remove_security_groups: Vec<String>,
        private_dns: Option<bool>,
        /// `Some(None)`: reset to AWS's default policy.
        policy: Option<Option<Doc>>,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create {
                vpc,
                subnets,
                security_groups,
                policy,
                ..
            } => std::iter::once(vpc)
                .chain(subnets.iter_mut())
                .chain(security_groups.iter_mut())
                .chain(policy.iter_mut().flat_map(Doc::refs_mut))
                .collect(),
            Op::Modify {
                endpoint,
                add_subnets,
                add_security_groups,
                policy,
                ..
            } => std::iter::once(endpoint)
                .chain(add_subnets.iter_mut())
                .chain(add_security_groups.iter_mut())
                .chain(policy.iter_mut().flatten().flat_map(Doc::refs_mut))
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
                remove_subnets,
                remove_security_groups,
                ..
            } => remove_subnets
                .iter()
                .chain(remove_security_groups)
                .cloned()
                .collect(),
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

pub struct InterfaceEndpoint;

impl ResourceKind for InterfaceEndpoint {
    const KIND: Kind = Kind::InterfaceEndpoint;
    const NAME: &'static str = "interface_endpoint";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedEndpoint;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedEndpoint> {
        obs.endpoints
            .iter()
            .filter(|e| e.endpoint_type == EndpointType::Interface)
            .collect()
    }

    fn check(cx: &mut Cx) {
        if cx.obs.caller.is_none()
            && cx
                .plan
                .interface_endpoints
                .values()
                .any(|e| e.intent.is_some())
        {
            cx.problems.push("interface_endpoints.access: the caller's account is needed for the endpoint policies' ARNs and was not read".into());
        }
        private_dns_conflicts(cx);
        service_availability(cx);
        subnets_by_id(cx);
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedEndpoint>) {
        let plan = cx.plan;
        for (key, spec) in &plan.interface_endpoints {
            let addr = Address::new(Kind::InterfaceEndpoint, key);
            let extra = ordering(cx, key, spec);
            match live.get(key) {
                Some(e) if e.service_name == spec.service_name && !endpoint::is_failed(e) => {
                    let (before, after) = modify(cx, &addr, e, spec, &extra);
                    cx.unchanged_or_changed(addr, &e.id, DIFFERS.into(), before, after);
                }
                other => create_or_replace(cx, addr, spec, other, &extra),
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

/// What an endpoint must wait for beyond its references: private DNS needs the VPC's
/// DNS attributes; an S3 interface endpoint needs the S3 gateway endpoint first.
fn ordering(cx: &Cx, key: &str, spec: &InterfaceEndpointSpec) -> Vec<usize> {
    let mut extra: Vec<usize> = Vec::new();
    if spec.private_dns {
        extra.extend(
            cx.nodes_for(&vpc::address())
                .into_iter()
                .filter(|&n| matches!(cx.op_of(n), super::Op::Vpc(vpc::Op::SetDns { .. }))),
        );
    }
    if key == "s3" {
        extra.extend(cx.nodes_for(&Address::new(Kind::GatewayEndpoint, "s3")));
    }
    extra
}

fn resolve(cx: &Cx, r: &Ref, kind: Kind) -> IdRef {
    match r {
        Ref::Key(k) => cx
            .reference(&Address::new(kind, k))
            .expect("referenced kinds run first"),
        Ref::Id(id) => IdRef::Id(id.clone()),
    }
}

fn ref_label(r: &Ref, kind: Kind) -> String {
    match r {
        Ref::Key(k) => Address::new(kind, k).to_string(),
        Ref::Id(id) => id.clone(),
    }
}

/// The policy the plan wants on the endpoint: from its file, or built from its intent
/// (with a placeholder for the domain's id when the domain is made in this apply).
fn wanted_policy(cx: &Cx, spec: &InterfaceEndpointSpec) -> Option<Doc> {
    if let Some(v) = &spec.policy {
        return Some(Doc::fixed(v));
    }
    let intent = spec.intent.as_ref()?;
    let fallback = crate::plan::access::Caller {
        partition: crate::plan::access::partition_of(&cx.plan.region).into(),
        account: "(account)".into(),
    };
    let caller = cx.obs.caller.as_ref().unwrap_or(&fallback);
    let mut b = DocBuilder::default();
    let domain = if intent.needs_domain() {
        let a = super::studio_domain::address();
        let r = cx
            .reference(&a)
            .unwrap_or_else(|| IdRef::Id(format!("({a})")));
        b.id(&a.to_string(), r)
    } else {
        String::new()
    };
    let doc = crate::plan::access::endpoint_document(intent, caller, &cx.plan.region, &domain);
    Some(b.finish(&doc))
}

/// A policy as the plan shows it.
fn policy_shown(doc: Option<&Doc>) -> serde_json::Value {
    match doc {
        None => endpoint::policy_attr(None),
        Some(d) => match d.known() {
            Some(v) => endpoint::policy_attr(Some(&v)),
            None => json!(d.text),
        },
    }
}

/// The policy to send when the plan's differs from AWS's (always when the plan's names
/// an id still to come).
fn policy_change(want: Option<Doc>, have: Option<&serde_json::Value>) -> Option<Option<Doc>> {
    let want = want.unwrap_or_else(|| Doc::fixed(&crate::plan::policy::default_full_access()));
    match want.known() {
        Some(v) if crate::plan::policy::equivalent(Some(&v), have) => None,
        _ => Some(Some(want)),
    }
}

fn want_attrs(cx: &Cx, spec: &InterfaceEndpointSpec) -> Attrs {
    let mut a = Attrs::new();
    a.insert("service_name".into(), json!(spec.service_name));
    let subnets: Vec<String> = spec
        .subnets
        .iter()
        .map(|r| ref_label(r, Kind::Subnet))
        .collect();
    a.insert("subnets".into(), json!(subnets));
    if !spec.security_groups.is_empty() {
        let groups: Vec<String> = spec
            .security_groups
            .iter()
            .map(|r| ref_label(r, Kind::SecurityGroup))
            .collect();
        a.insert("security_groups".into(), json!(groups));
    }
    a.insert("private_dns_enabled".into(), json!(spec.private_dns));
    a.insert(
        "policy".into(),
        policy_shown(wanted_policy(cx, spec).as_ref()),
    );
    a
}

fn create_or_replace(
    cx: &mut Cx,
    addr: Address,
    spec: &InterfaceEndpointSpec,
    old: Option<&ObservedEndpoint>,
    extra: &[usize],
) {
    let vpc = cx.vpc_ref();
    // A policy naming an id still to come is set once it exists, so that the endpoint
    // (the slowest resource to make) does not wait for it.
    let policy = wanted_policy(cx, spec);
    let later = policy.as_ref().is_some_and(|d| !d.slots.is_empty());
    let op = Op::Create {
        client_token: client_token(&cx.plan.name, &addr, &format!("{vpc:?}{spec:?}")),
        vpc,
        service_name: spec.service_name.clone(),
        subnets: spec
            .subnets
            .iter()
            .map(|r| resolve(cx, r, Kind::Subnet))
            .collect(),
        security_groups: spec
            .security_groups
            .iter()
            .map(|r| resolve(cx, r, Kind::SecurityGroup))
            .collect(),
        private_dns: spec.private_dns,
        policy: if later { None } else { policy.clone() },
        tags: cx.tags(&addr),
    };
    let n = cx.node(&addr, op, extra);
    if later {
        let set = Op::Modify {
            endpoint: IdRef::Node(n),
            add_subnets: vec![],
            remove_subnets: vec![],
            add_security_groups: vec![],
            remove_security_groups: vec![],
            private_dns: None,
            policy: Some(policy),
        };
        cx.node(&addr, set, &[]);
    }
    match old {
        Some(e) => {
            let r = Replacement {
                reasons: vec![endpoint::replace_reason(e)],
                paths: endpoint::replace_paths(e),
                before: Some(endpoint::replaced_attrs(e)),
                after: want_attrs(cx, spec),
                delete_first: false,
            };
            cx.replaced::<InterfaceEndpoint>(addr, e, n, r);
        }
        None => {
            let after = want_attrs(cx, spec);
            cx.created(addr, n, after)
        }
    }
}

/// Before: what AWS has, named by the plan's address where the plan owns it. After:
/// the plan's address and the id it will have.
fn labels(
    cx: &Cx,
    have: &[String],
    want: &BTreeSet<Ref>,
    kind: Kind,
) -> (Vec<String>, Vec<String>) {
    let tags_of = |id: &str| {
        cx.obs
            .subnets
            .iter()
            .find(|s| s.id == id)
            .map(|s| &s.tags)
            .or_else(|| {
                cx.obs
                    .security_groups
                    .iter()
                    .find(|g| g.id == id)
                    .map(|g| &g.tags)
            })
    };
    let before = have
        .iter()
        .map(
            |id| match tags_of(id).and_then(|t| owned_key(t, &cx.plan.name)) {
                Some(a) => format!("{a} ({id})"),
                None => id.clone(),
            },
        )
        .collect();
    let after = want
        .iter()
        .map(|r| match r {
            Ref::Key(k) => match cx.reference(&Address::new(kind, k)) {
                Some(IdRef::Id(id)) => format!("{} ({id})", Address::new(kind, k)),
                _ => format!("{} (new)", Address::new(kind, k)),
            },
            Ref::Id(id) => id.clone(),
        })
        .collect();
    (before, after)
}

/// In-place update of an interface endpoint: one ModifyVpcEndpoint with add/remove lists.
/// A new subnet that can exist only once the subnet it replaces is deleted (same or
/// overlapping CIDR, e.g. an AZ change) is added by a second ModifyVpcEndpoint after its
/// create: the first one moves the endpoint off the old subnet, which lets it be deleted.
fn modify(
    cx: &mut Cx,
    addr: &Address,
    e: &ObservedEndpoint,
    spec: &InterfaceEndpointSpec,
    extra: &[usize],
) -> (Attrs, Attrs) {
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    let subnets: Vec<IdRef> = spec
        .subnets
        .iter()
        .map(|r| resolve(cx, r, Kind::Subnet))
        .collect();
    let (add_subnets, remove_subnets) = endpoint::set_change(&e.subnet_ids, &subnets);
    if !add_subnets.is_empty() || !remove_subnets.is_empty() {
        let (b, a) = labels(cx, &e.subnet_ids, &spec.subnets, Kind::Subnet);
        before.insert("subnets".into(), json!(b));
        after.insert("subnets".into(), json!(a));
    }
    let (add_sgs, remove_sgs) = if spec.security_groups.is_empty() {
        (vec![], vec![])
    } else {
        let groups: Vec<IdRef> = spec
            .security_groups
            .iter()
            .map(|r| resolve(cx, r, Kind::SecurityGroup))
            .collect();
        endpoint::set_change(&e.security_group_ids, &groups)
    };
    if !add_sgs.is_empty() || !remove_sgs.is_empty() {
        let (b, a) = labels(
            cx,
            &e.security_group_ids,
            &spec.security_groups,
            Kind::SecurityGroup,
        );
        before.insert("security_groups".into(), json!(b));
        after.insert("security_groups".into(), json!(a));
    }
    let private_dns = (e.private_dns != spec.private_dns).then_some(spec.private_dns);
    if private_dns.is_some() {
        before.insert("private_dns_enabled".into(), json!(e.private_dns));
        after.insert("private_dns_enabled".into(), json!(spec.private_dns));
    }
    let want = wanted_policy(cx, spec);
    let shown = policy_shown(want.as_ref());
    let policy = policy_change(want, e.policy.as_ref());
    if policy.is_some() {
        before.insert("policy".into(), endpoint::policy_attr(e.policy.as_ref()));
        after.insert("policy".into(), shown);
    }
    if let Some((_, tb, ta)) = cx.tag_update(addr, IdRef::Id(e.id.clone()), &e.tags) {
        before.extend(tb);
        after.extend(ta);
    }
    let (late, add_subnets): (Vec<IdRef>, Vec<IdRef>) =
        add_subnets.into_iter().partition(|r| cx.is_late(r));
    let needs_first = !add_subnets.is_empty()
        || !remove_subnets.is_empty()
        || !add_sgs.is_empty()
        || !remove_sgs.is_empty()
        || private_dns.is_some()
        || policy.is_some();
    let first = Op::Modify {
        endpoint: IdRef::Id(e.id.clone()),
        add_subnets,
        remove_subnets,
        add_security_groups: add_sgs,
        remove_security_groups: remove_sgs,
        private_dns,
        policy,
    };
    let first: Vec<usize> = if needs_first {
        vec![cx.node(addr, first, extra)]
    } else {
        vec![]
    };
    if !late.is_empty() {
        let second = Op::Modify {
            endpoint: IdRef::Id(e.id.clone()),
            add_subnets: late,
            remove_subnets: vec![],
            add_security_groups: vec![],
            remove_security_groups: vec![],
            private_dns: None,
            policy: None,
        };
        cx.node(addr, second, &first);
    }
    (before, after)
}

// ------------------------------------------------------------------------ checks

/// An unowned endpoint for the same service with private DNS makes AWS refuse ours
/// ("conflicting DNS domain"); one per service per VPC.
fn private_dns_conflicts(cx: &mut Cx) {
    let (plan, obs) = (cx.plan, cx.obs);
    let vpc_id = obs.vpc_of(plan).map(|v| v.id.as_str());
    for (key, spec) in &plan.interface_endpoints {
        if !spec.private_dns {
            continue;
        }
        let Some(f) = obs.foreign_endpoints.iter().find(|f| {
            f.service_name == spec.service_name
                && f.private_dns
                && f.endpoint_type == EndpointType::Interface
        }) else {
            continue;
        };
        let owner = f
            .tags
            .get(crate::model::TAG_PLAN)
            .map(|p| format!("plan {p:?}"))
            .unwrap_or_else(|| "no sagevpc plan (created outside sagevpc)".into());
        cx.problems.push(format!(
            "interface_endpoints: {key}: VPC {} already has endpoint {} for {} with private DNS, owned by {owner}; AWS allows one private-DNS endpoint per service in a VPC (conflicting DNS domain). Remove {key} from this plan, set private_dns = false, or delete that endpoint",
            vpc_id.unwrap_or("?"), f.id, spec.service_name
        ));
    }
}

/// Each service must be offered in the region, in each subnet's AZ.
fn service_availability(cx: &mut Cx) {
    let (plan, obs) = (cx.plan, cx.obs);
    for (key, spec) in &plan.interface_endpoints {
        let Some(svc) = obs.services.iter().find(|s| {
            s.service_name == spec.service_name && s.endpoint_type == EndpointType::Interface
        }) else {
            if !obs.services.is_empty() || obs.vpc_of(plan).is_some() {
                let prefix = crate::plan::services::service_name(&plan.region, "");
                let short: Vec<&str> = obs
                    .offered
                    .iter()
                    .filter_map(|n| n.strip_prefix(&prefix))
                    .collect();
                let hint = crate::plan::services::nearest(key, short.iter().copied())
                    .map(|k| format!(" (did you mean {k:?}?)"))
                    .unwrap_or_default();
                cx.problems.push(format!(
                    "interface_endpoints.services: {key}: {} is not offered as an interface endpoint service in {}{hint}; `sagevpc services --region {}` lists those it offers",
                    spec.service_name, plan.region, plan.region
                ));
            }
            continue;
        };
        for r in &spec.subnets {
            let Some((az, id)) = zone_of(plan, obs, r) else {
                continue;
            };
            if !svc.offered_in(&az, id.as_deref()) {
                cx.problems.push(format!(
                    "interface_endpoints.subnets: {key}: {} is not offered in {az}{} (subnet {r}); it is offered in: {}{}",
                    spec.service_name,
                    id.map(|i| format!(" ({i})")).unwrap_or_default(),
                    svc.availability_zones.join(", "),
                    if spec.skip_unsupported_azs { "" } else { ". With skip_unsupported_azs = true under [interface_endpoints] the endpoint leaves such subnets out" }
                ));
            }
        }
    }
}

/// The zone (name, and ID when known) of a subnet an endpoint names.
pub fn zone_of(plan: &Plan, obs: &Observed, r: &Ref) -> Option<(String, Option<String>)> {
    match r {
        Ref::Key(k) => plan
            .subnets
            .get(k)
            .map(|s| (s.availability_zone.clone(), s.zone_id.clone())),
        Ref::Id(id) => obs
            .referenced_subnets
            .iter()
            .find(|s| &s.id == id)
            .map(|s| (s.availability_zone.clone(), s.availability_zone_id.clone())),
    }
}

/// Subnets named by id: they must exist, be in the VPC, one per AZ.
fn subnets_by_id(cx: &mut Cx) {
    let (plan, obs) = (cx.plan, cx.obs);
    let vpc_id = obs.vpc_of(plan).map(|v| v.id.as_str());
    let mut az_seen: BTreeMap<String, String> = BTreeMap::new();
    let ids: BTreeSet<&str> = plan
        .interface_endpoints
        .values()
        .flat_map(|e| e.subnets.iter())
        .filter_map(|r| match r {
            Ref::Id(i) => Some(i.as_str()),
            Ref::Key(_) => None,
        })
        .collect();
    for id in ids {
        // One named under a key is checked as such (resources/existing.rs).
        let keyed = plan.existing.subnets.values().any(|v| v == id);
        let Some(s) = obs.referenced_subnets.iter().find(|s| s.id == id) else {
            if !keyed {
                cx.problems.push(format!(
                    "interface_endpoints.subnets: subnet {id} does not exist"
                ));
            }
            continue;
        };
        if Some(s.vpc_id.as_str()) != vpc_id && !keyed {
            cx.problems.push(format!(
                "interface_endpoints.subnets: subnet {id} is in {}, not in the plan's VPC {}",
                s.vpc_id,
                vpc_id.unwrap_or("(new)")
            ));
        }
        if let Some(prev) = az_seen.insert(s.availability_zone.clone(), id.to_string()) {
            cx.problems.push(format!(
                "interface_endpoints.subnets: subnets {prev} and {id} are both in {}: an endpoint takes one subnet per availability zone (DuplicateSubnetsInSameZone)",
                s.availability_zone
            ));
        }
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for InterfaceEndpoint {
    async fn perform(c: &C, op: Op, run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                ref vpc,
                ref service_name,
                ref subnets,
                ref security_groups,
                private_dns,
                ref policy,
                ref tags,
                ref client_token,
            } => {
                let token = run.token(client_token, &op);
                let resolved = policy.as_ref().map(Doc::resolve).transpose()?;
                let ep = NewEndpoint {
                    vpc_id: id_of(vpc)?,
                    service_name,
                    endpoint_type: EndpointType::Interface,
                    subnet_ids: &ids_of(subnets)?,
                    security_group_ids: &ids_of(security_groups)?,
                    route_table_ids: &[],
                    private_dns: Some(private_dns),
                    policy: resolved.as_deref(),
                    tags,
                    client_token: &token,
                };
                endpoint::create(c, ep, run).await
            }
            Op::Modify {
                endpoint,
                add_subnets,
                remove_subnets,
                add_security_groups,
                remove_security_groups,
                private_dns,
                policy,
            } => {
                let changes = EndpointChanges {
                    add_subnets: ids_of(&add_subnets)?,
                    remove_subnets,
                    add_security_groups: ids_of(&add_security_groups)?,
                    remove_security_groups,
                    private_dns,
                    policy: match policy {
                        Some(Some(d)) => Some(Some(d.resolve()?)),
                        Some(None) => Some(None),
                        None => None,
                    },
                    ..EndpointChanges::default()
                };
                endpoint::modify(c, id_of(&endpoint)?, &changes, run).await
            }
        }
    }
}
