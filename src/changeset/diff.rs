//! The pure diff: `(Plan, Observed) -> Changeset`. No SDK types, no async, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Action, Attrs, Changeset, IdRef, Node, Op, ResourceChange, RuleOp};
use crate::model::{name_tag, Address, Kind, Peer, Rule, TAG_KEY, TAG_MANAGED, TAG_NAME, TAG_PLAN};
use crate::observe::{
    owned_key, EndpointType, Observed, ObservedEndpoint, ObservedSecurityGroup, ObservedSubnet,
    Tags, VpcChild,
};
use crate::plan::{policy, InterfaceEndpointSpec, Plan, Ref, VpcSpec};

/// Why no changeset can be computed: the live state conflicts with the plan in a way
/// sagevpc must not resolve on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffError {
    pub problems: Vec<String>,
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DiffError {}

const CHANGED_OUTSIDE: &str = "changed outside sagevpc";
/// An attribute the plan file sets differs: without a state file, a plan edit and a
/// change made by hand look the same.
const DIFFERS: &str = "differs from the plan (plan edited, or changed outside sagevpc)";
const NOT_IN_PLAN: &str = "not in plan";

/// Deterministic client token: plan, key and a hash of the spec, at most 64 chars.
fn client_token(plan: &str, addr: &Address, spec: &str) -> String {
    let mut h = Sha256::new();
    h.update(plan.as_bytes());
    h.update([0]);
    h.update(addr.to_string().as_bytes());
    h.update([0]);
    h.update(spec.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sagevpc-{}", &hex[..48])
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).expect("json values serialise")
}

struct Builder<'a> {
    plan: &'a Plan,
    obs: &'a Observed,
    nodes: Vec<Node>,
    changes: Vec<ResourceChange>,
    warnings: Vec<String>,
    problems: Vec<String>,
    /// Whether the plan owns anything in AWS yet (to word reasons for missing resources).
    has_owned: bool,
    /// Subnet creates that must wait for the delete of the subnet they replace (the new
    /// CIDR overlaps the old one).
    late_subnets: BTreeSet<usize>,
    /// ModifyEndpoint nodes that add such a late subnet: they run after the old subnet's
    /// delete, so that delete must not wait for them.
    late_modifies: BTreeSet<usize>,
}

impl<'a> Builder<'a> {
    fn node(&mut self, address: &Address, op: Op, extra: &[usize]) -> usize {
        let mut deps = op.refs();
        deps.extend_from_slice(extra);
        deps.sort_unstable();
        deps.dedup();
        self.nodes.push(Node {
            address: address.clone(),
            op,
            deps,
        });
        self.nodes.len() - 1
    }

    fn tags(&self, addr: &Address) -> Tags {
        let mut t: Tags = self.plan.tags.clone();
        t.insert(TAG_NAME.into(), name_tag(&self.plan.name, addr));
        t.insert(TAG_PLAN.into(), self.plan.name.clone());
        t.insert(TAG_KEY.into(), addr.to_string());
        if !self.plan.tags.is_empty() {
            // Which extra tags are the plan's: a key later removed from the plan is
            // then removed from the resource (and no other tag ever is).
            let keys: Vec<&str> = self.plan.tags.keys().map(String::as_str).collect();
            t.insert(TAG_MANAGED.into(), keys.join(","));
        }
        t
    }

    fn missing_reason(&self) -> Vec<String> {
        if self.has_owned {
            vec![format!(
                "not found in AWS: new in the plan, or deleted ({CHANGED_OUTSIDE})"
            )]
        } else {
            Vec::new()
        }
    }

    // One argument per ResourceChange field: call sites read as the record they build.
    #[allow(clippy::too_many_arguments)]
    fn change(
        &mut self,
        address: Address,
        action: Action,
        id: Option<String>,
        reasons: Vec<String>,
        before: Option<Attrs>,
        after: Option<Attrs>,
        replace_paths: Vec<String>,
    ) {
        self.changes.push(ResourceChange {
            address,
            action,
            id,
            reasons,
            before,
            after,
            replace_paths,
        });
    }

    /// Why tags must be set: the plan's own `tags` may have been edited; the ownership
    /// tags (`Name`, `sagevpc:*`) can only have been changed by hand.
    fn tag_reason(&self, set: &Tags, remove: &[String]) -> String {
        if !remove.is_empty()
            || set
                .keys()
                .any(|k| self.plan.tags.contains_key(k) || k == TAG_MANAGED)
        {
            DIFFERS.into()
        } else {
            CHANGED_OUTSIDE.into()
        }
    }

    /// Tag drift on an owned resource: restore the keys sagevpc sets, and remove the
    /// plan's extra tags that the plan no longer has (the keys `sagevpc:tags` lists);
    /// leave any other tag (cost allocation, AWS-added, set by hand) alone.
    fn tag_drift(&self, addr: &Address, observed: &Tags) -> (Tags, Vec<String>, Attrs, Attrs) {
        let want = self.tags(addr);
        let mut set = Tags::new();
        let mut before = Attrs::new();
        let mut after = Attrs::new();
        for (k, v) in &want {
            if observed.get(k) != Some(v) {
                set.insert(k.clone(), v.clone());
                before.insert(
                    format!("tags.{k}"),
                    observed.get(k).map(|o| json!(o)).unwrap_or(Value::Null),
                );
                after.insert(format!("tags.{k}"), json!(v));
            }
        }
        let was_managed = observed
            .get(TAG_MANAGED)
            .into_iter()
            .flat_map(|keys| keys.split(','))
            .chain(observed.get(TAG_MANAGED).map(|_| TAG_MANAGED));
        let mut remove: Vec<String> = was_managed
            .filter(|k| !k.is_empty() && !want.contains_key(*k))
            .filter(|k| observed.contains_key(*k))
            .map(str::to_string)
            .collect();
        remove.sort();
        remove.dedup();
        for k in &remove {
            before.insert(format!("tags.{k}"), json!(observed[k]));
            after.insert(format!("tags.{k}"), Value::Null);
        }
        (set, remove, before, after)
    }

    /// Restore `addr`'s tags if they drifted: one SetTags node on `resource`; returns the
    /// reason and the attributes before and after, or `None` when the tags match.
    fn tag_update(
        &mut self,
        addr: &Address,
        resource: IdRef,
        observed: &Tags,
    ) -> Option<(String, Attrs, Attrs)> {
        let (set, remove, before, after) = self.tag_drift(addr, observed);
        if set.is_empty() && remove.is_empty() {
            return None;
        }
        let reason = self.tag_reason(&set, &remove);
        self.node(
            addr,
            Op::SetTags {
                resource,
                set,
                remove,
            },
            &[],
        );
        Some((reason, before, after))
    }

    /// The change of an existing resource whose only in-place attribute is its tags:
    /// no-op, or an update that restores them.
    fn tags_only(&mut self, addr: Address, id: &str, observed: &Tags) {
        match self.tag_update(&addr, IdRef::Id(id.to_string()), observed) {
            None => self.change(
                addr,
                Action::NoOp,
                Some(id.to_string()),
                vec![],
                None,
                None,
                vec![],
            ),
            Some((reason, tb, ta)) => self.change(
                addr,
                Action::Update,
                Some(id.to_string()),
                vec![reason],
                Some(tb),
                Some(ta),
                vec![],
            ),
        }
    }
}

/// Group owned resources of one kind by their logical key. Per key one is kept: the
/// lowest id among those in the plan's VPC (`home`); the others are duplicates (from
/// concurrent or interrupted runs) or leftovers in another VPC.
fn by_key<'o, T: VpcChild>(
    items: &'o [T],
    plan: &str,
    kind: Kind,
    home: Option<&str>,
) -> (BTreeMap<String, &'o T>, Vec<(&'o T, String)>) {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| {
        (Some(a.vpc_id()) != home, a.id()).cmp(&(Some(b.vpc_id()) != home, b.id()))
    });
    let mut keep: BTreeMap<String, &T> = BTreeMap::new();
    let mut dups = Vec::new();
    for it in sorted {
        let Some(addr) = owned_key(it.tags(), plan).and_then(Address::parse) else {
            continue;
        };
        if addr.kind != kind {
            continue;
        }
        if home.is_some() && Some(it.vpc_id()) != home {
            dups.push((it, format!("in VPC {} (not the plan's VPC)", it.vpc_id())));
            continue;
        }
        match keep.get(&addr.key) {
            Some(first) => dups.push((it, first.id().to_string())),
            None => {
                keep.insert(addr.key, it);
            }
        }
    }
    (keep, dups)
}

fn rule_attrs(group: &str, r: &Rule) -> Attrs {
    let mut a = Attrs::new();
    a.insert("security_group".into(), json!(group));
    a.insert("direction".into(), json!(r.direction.as_str()));
    a.insert("protocol".into(), json!(r.protocol.as_str()));
    a.insert(
        "ports".into(),
        match r.ports {
            None => json!("all"),
            Some((x, y)) if x == y => json!(x.to_string()),
            Some((x, y)) => json!(format!("{x}-{y}")),
        },
    );
    a.insert("peer".into(), json!(r.peer.to_string()));
    a
}

/// Compute the changeset that brings `obs` to `plan`.
pub fn diff(plan: &Plan, obs: &Observed) -> Result<Changeset, DiffError> {
    diff_mode(plan, obs, false)
}

/// The changeset that deletes everything `plan` owns, in reverse dependency order. An
/// adopted VPC and anything not tagged with the plan are never touched.
pub fn destroy(plan: &Plan, obs: &Observed) -> Result<Changeset, DiffError> {
    let mut empty = plan.clone();
    empty.subnets.clear();
    empty.security_groups.clear();
    empty.gateway_endpoints.clear();
    empty.interface_endpoints.clear();
    diff_mode(&empty, obs, true)
}

fn diff_mode(plan: &Plan, obs: &Observed, destroying: bool) -> Result<Changeset, DiffError> {
    let name = plan.name.as_str();
    let home = obs.vpc.as_ref().map(|v| v.id.as_str());
    let (subnets_by_key, dup_subnets) = by_key(&obs.subnets, name, Kind::Subnet, home);
    let (rts_by_key, dup_rts) = by_key(&obs.route_tables, name, Kind::RouteTable, home);
    let (sgs_by_key, dup_sgs) = by_key(&obs.security_groups, name, Kind::SecurityGroup, home);
    let (gws_by_key, dup_gws) = by_key(&obs.endpoints, name, Kind::GatewayEndpoint, home);
    let (ifs_by_key, dup_ifs) = by_key(&obs.endpoints, name, Kind::InterfaceEndpoint, home);
    let mut b = Builder {
        plan,
        obs,
        nodes: Vec::new(),
        changes: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
        has_owned: obs
            .vpc
            .as_ref()
            .is_some_and(|v| owned_key(&v.tags, name).is_some())
            || !obs.subnets.is_empty()
            || !obs.security_groups.is_empty()
            || !obs.endpoints.is_empty()
            || !obs.route_tables.is_empty(),
        late_subnets: BTreeSet::new(),
        late_modifies: BTreeSet::new(),
    };

    // ---------------------------------------------------------------- conflicts
    if !destroying {
        check_conflicts(&mut b);
    }
    if !b.problems.is_empty() {
        return Err(DiffError {
            problems: b.problems,
        });
    }

    // ---------------------------------------------------------------- VPC
    let vpc_addr = Address::new(Kind::Vpc, "main");
    let mut dns_nodes: Vec<usize> = Vec::new();
    let vpc_ref: IdRef;
    let mut vpc_replaced_old: Option<String> = None;
    let mut vpc_destroyed: Option<String> = None;
    match &plan.vpc {
        _ if destroying => {
            vpc_ref = IdRef::Id(obs.vpc.as_ref().map(|v| v.id.clone()).unwrap_or_default());
            if let (VpcSpec::Owned { .. }, Some(v)) = (&plan.vpc, &obs.vpc) {
                vpc_destroyed = Some(v.id.clone());
            }
        }
        VpcSpec::Owned { cidr } => {
            let want_attrs = {
                let mut a = Attrs::new();
                a.insert("cidr".into(), json!(cidr.to_string()));
                a.insert("enable_dns_support".into(), json!(true));
                a.insert("enable_dns_hostnames".into(), json!(true));
                a
            };
            match &obs.vpc {
                Some(v) if v.cidr == cidr.to_string() => {
                    vpc_ref = IdRef::Id(v.id.clone());
                    let mut before = Attrs::new();
                    let mut after = Attrs::new();
                    for (hostnames, cur, key) in [
                        (false, v.dns_support, "enable_dns_support"),
                        (true, v.dns_hostnames, "enable_dns_hostnames"),
                    ] {
                        if !cur {
                            before.insert(key.into(), json!(false));
                            after.insert(key.into(), json!(true));
                            let n = b.node(
                                &vpc_addr,
                                Op::SetVpcDns {
                                    vpc: vpc_ref.clone(),
                                    hostnames,
                                    value: true,
                                },
                                &dns_nodes.clone(),
                            );
                            dns_nodes.push(n);
                        }
                    }
                    // DNS attributes of an owned VPC are always on in the plan: only
                    // a change by hand turns them off.
                    let mut reason = CHANGED_OUTSIDE.to_string();
                    if let Some((r, tb, ta)) = b.tag_update(&vpc_addr, vpc_ref.clone(), &v.tags) {
                        reason = r;
                        before.extend(tb);
                        after.extend(ta);
                    }
                    if before.is_empty() {
                        b.change(
                            vpc_addr.clone(),
                            Action::NoOp,
                            Some(v.id.clone()),
                            vec![],
                            None,
                            None,
                            vec![],
                        );
                    } else {
                        b.change(
                            vpc_addr.clone(),
                            Action::Update,
                            Some(v.id.clone()),
                            vec![reason],
                            Some(before),
                            Some(after),
                            vec![],
                        );
                    }
                }
                other => {
                    let mut reasons = b.missing_reason();
                    let mut action = Action::Create;
                    let mut before = None;
                    let mut replace_paths = vec![];
                    if let Some(v) = other {
                        action = Action::Replace;
                        reasons = vec![format!("cidr {} -> {cidr} forces replacement", v.cidr)];
                        replace_paths.push("cidr".into());
                        let mut a = Attrs::new();
                        a.insert("cidr".into(), json!(v.cidr));
                        a.insert("enable_dns_support".into(), json!(v.dns_support));
                        a.insert("enable_dns_hostnames".into(), json!(v.dns_hostnames));
                        before = Some(a);
                        vpc_replaced_old = Some(v.id.clone());
                    }
                    let n = b.node(
                        &vpc_addr,
                        Op::CreateVpc {
                            cidr: cidr.to_string(),
                            tags: b.tags(&vpc_addr),
                        },
                        &[],
                    );
                    vpc_ref = IdRef::Node(n);
                    // enableDnsSupport is on for every new VPC; hostnames is not.
                    let d = b.node(
                        &vpc_addr,
                        Op::SetVpcDns {
                            vpc: vpc_ref.clone(),
                            hostnames: true,
                            value: true,
                        },
                        &[],
                    );
                    dns_nodes.push(d);
                    b.change(
                        vpc_addr.clone(),
                        action,
                        other.as_ref().map(|v| v.id.clone()),
                        reasons,
                        before,
                        Some(want_attrs),
                        replace_paths,
                    );
                }
            }
        }
        VpcSpec::Adopted { id, manage_dns } => {
            vpc_ref = IdRef::Id(id.clone());
            let v = obs.vpc.as_ref().expect("checked in conflicts");
            let mut before = Attrs::new();
            let mut after = Attrs::new();
            if *manage_dns && plan.needs_private_dns() {
                for (hostnames, cur, key) in [
                    (false, v.dns_support, "enable_dns_support"),
                    (true, v.dns_hostnames, "enable_dns_hostnames"),
                ] {
                    if !cur {
                        before.insert(key.into(), json!(false));
                        after.insert(key.into(), json!(true));
                        let n = b.node(
                            &vpc_addr,
                            Op::SetVpcDns {
                                vpc: vpc_ref.clone(),
                                hostnames,
                                value: true,
                            },
                            &dns_nodes.clone(),
                        );
                        dns_nodes.push(n);
                    }
                }
            }
            if before.is_empty() {
                b.change(
                    vpc_addr.clone(),
                    Action::NoOp,
                    Some(id.clone()),
                    vec!["adopted: never modified or deleted".into()],
                    None,
                    None,
                    vec![],
                );
            } else {
                b.change(
                    vpc_addr.clone(),
                    Action::Update,
                    Some(id.clone()),
                    vec!["adopted VPC: private DNS needs DNS support and hostnames (vpc.manage_dns = true)".into()],
                    Some(before),
                    Some(after),
                    vec![],
                );
            }
        }
    }
    let vpc_is_new = matches!(vpc_ref, IdRef::Node(_));

    // ---------------------------------------------------------------- subnets
    let mut subnet_refs: BTreeMap<String, IdRef> = BTreeMap::new();
    // Old subnet ids being replaced: endpoints must leave them before they go.
    let mut replaced_subnets: BTreeMap<String, String> = BTreeMap::new();
    for (key, spec) in &plan.subnets {
        let addr = Address::new(Kind::Subnet, key);
        let mut want = Attrs::new();
        want.insert("availability_zone".into(), json!(spec.availability_zone));
        want.insert("cidr".into(), json!(spec.cidr.to_string()));
        let existing = subnets_by_key.get(key).filter(|_| !vpc_is_new);
        match existing {
            Some(s)
                if s.cidr == spec.cidr.to_string()
                    && s.availability_zone == spec.availability_zone =>
            {
                subnet_refs.insert(key.clone(), IdRef::Id(s.id.clone()));
                b.tags_only(addr, &s.id, &s.tags);
            }
            Some(s) => {
                let mut paths = Vec::new();
                let mut before = Attrs::new();
                before.insert("availability_zone".into(), json!(s.availability_zone));
                before.insert("cidr".into(), json!(s.cidr));
                if s.cidr != spec.cidr.to_string() {
                    paths.push("cidr".to_string());
                }
                if s.availability_zone != spec.availability_zone {
                    paths.push("availability_zone".to_string());
                }
                replaced_subnets.insert(key.clone(), s.id.clone());
                let n = b.node(
                    &addr,
                    Op::CreateSubnet {
                        vpc: vpc_ref.clone(),
                        availability_zone: spec.availability_zone.clone(),
                        cidr: spec.cidr.to_string(),
                        tags: b.tags(&addr),
                    },
                    &[],
                );
                subnet_refs.insert(key.clone(), IdRef::Node(n));
                b.change(
                    addr,
                    Action::Replace,
                    Some(s.id.clone()),
                    vec![format!("{} forces replacement", paths.join(", "))],
                    Some(before),
                    Some(want),
                    paths,
                );
            }
            None => {
                let n = b.node(
                    &addr,
                    Op::CreateSubnet {
                        vpc: vpc_ref.clone(),
                        availability_zone: spec.availability_zone.clone(),
                        cidr: spec.cidr.to_string(),
                        tags: b.tags(&addr),
                    },
                    &[],
                );
                subnet_refs.insert(key.clone(), IdRef::Node(n));
                let reasons = b.missing_reason();
                b.change(
                    addr,
                    Action::Create,
                    None,
                    reasons,
                    None,
                    Some(want),
                    vec![],
                );
            }
        }
    }
    // A replaced subnet whose new CIDR overlaps the old one can only be created after the
    // old one is gone: those creates wait for the delete (added below).
    let mut subnet_create_after_delete: BTreeMap<String, usize> = BTreeMap::new();
    for (key, old_id) in &replaced_subnets {
        let old = subnets_by_key[key];
        let new = &plan.subnets[key];
        let overlaps = old
            .cidr
            .parse::<ipnet::Ipv4Net>()
            .map(|o| o.contains(&new.cidr) || new.cidr.contains(&o))
            .unwrap_or(true);
        if overlaps {
            if let IdRef::Node(n) = subnet_refs[key] {
                subnet_create_after_delete.insert(old_id.clone(), n);
                b.late_subnets.insert(n);
            }
        }
    }

    // ---------------------------------------------------------------- route table
    let rt_addr = Address::new(Kind::RouteTable, "private");
    let mut rt_ref: Option<IdRef> = None;
    let observed_rt = rts_by_key.get("private").filter(|_| !vpc_is_new).copied();
    if plan.has_route_table() {
        match observed_rt {
            Some(rt) => {
                rt_ref = Some(IdRef::Id(rt.id.clone()));
                b.tags_only(rt_addr.clone(), &rt.id, &rt.tags);
            }
            None => {
                let tags = b.tags(&rt_addr);
                let n = b.node(
                    &rt_addr,
                    Op::CreateRouteTable {
                        vpc: vpc_ref.clone(),
                        client_token: client_token(name, &rt_addr, &format!("{vpc_ref:?}")),
                        tags,
                    },
                    &[],
                );
                rt_ref = Some(IdRef::Node(n));
                let mut want = Attrs::new();
                want.insert("routes".into(), json!(["local"]));
                let reasons = b.missing_reason();
                b.change(
                    rt_addr.clone(),
                    Action::Create,
                    None,
                    reasons,
                    None,
                    Some(want),
                    vec![],
                );
            }
        }
        // associations: one per plan subnet
        for key in plan.subnets.keys() {
            let addr = Address::new(Kind::RouteTableAssociation, key);
            let sref = subnet_refs[key].clone();
            let existing = match (&sref, observed_rt) {
                (IdRef::Id(sid), Some(rt)) => rt.associations.iter().find(|a| &a.subnet_id == sid),
                _ => None,
            };
            let mut want = Attrs::new();
            want.insert("route_table".into(), json!(rt_addr.to_string()));
            want.insert("subnet".into(), json!(format!("subnet.{key}")));
            match existing {
                Some(a) => b.change(
                    addr,
                    Action::NoOp,
                    Some(a.id.clone()),
                    vec![],
                    None,
                    None,
                    vec![],
                ),
                None => {
                    b.node(
                        &addr,
                        Op::AssociateRouteTable {
                            route_table: rt_ref.clone().expect("route table ref"),
                            subnet: sref,
                        },
                        &[],
                    );
                    let reasons = if replaced_subnets.contains_key(key) {
                        vec!["subnet is replaced".into()]
                    } else if subnets_by_key.contains_key(key) {
                        vec![format!("association removed ({CHANGED_OUTSIDE})")]
                    } else {
                        vec![]
                    };
                    b.change(
                        addr,
                        Action::Create,
                        None,
                        reasons,
                        None,
                        Some(want),
                        vec![],
                    );
                }
            }
        }
    }
    // Associations of the plan's table with subnets no longer in the plan (owned or
    // not), or with subnets being replaced: removed explicitly before any subnet goes.
    let mut disassoc_nodes: Vec<usize> = Vec::new();
    if let Some(rt) = observed_rt {
        let planned_ids: BTreeSet<&str> = subnet_refs
            .values()
            .filter_map(|r| match r {
                IdRef::Id(i) => Some(i.as_str()),
                IdRef::Node(_) => None,
            })
            .collect();
        for a in &rt.associations {
            if planned_ids.contains(a.subnet_id.as_str()) {
                continue;
            }
            let replaced = replaced_subnets.values().any(|o| o == &a.subnet_id);
            let key = obs
                .subnets
                .iter()
                .find(|s| s.id == a.subnet_id)
                .and_then(|s| owned_key(&s.tags, name))
                .and_then(Address::parse)
                .map(|ad| ad.key)
                .unwrap_or_else(|| a.subnet_id.clone());
            let addr = Address::new(Kind::RouteTableAssociation, key);
            if !replaced {
                b.change(
                    addr.clone(),
                    Action::Delete,
                    Some(a.id.clone()),
                    vec![NOT_IN_PLAN.into()],
                    Some(Attrs::from([("subnet".to_string(), json!(a.subnet_id))])),
                    None,
                    vec![],
                );
            }
            disassoc_nodes.push(b.node(
                &addr,
                Op::DisassociateRouteTable {
                    association_id: a.id.clone(),
                },
                &[],
            ));
        }
    }

    // ---------------------------------------------------------------- security groups
    let mut sg_refs: BTreeMap<String, IdRef> = BTreeMap::new();
    let mut sg_replaced_old: BTreeMap<String, String> = BTreeMap::new();
    let mut sg_is_new: BTreeSet<String> = BTreeSet::new();
    for (key, spec) in &plan.security_groups {
        let addr = Address::new(Kind::SecurityGroup, key);
        let group_name = name_tag(name, &addr);
        let mut want = Attrs::new();
        want.insert("name".into(), json!(group_name));
        want.insert("description".into(), json!(spec.description));
        let existing = sgs_by_key.get(key).filter(|_| !vpc_is_new);
        match existing {
            Some(g) if g.description == spec.description => {
                sg_refs.insert(key.clone(), IdRef::Id(g.id.clone()));
                b.tags_only(addr, &g.id, &g.tags);
            }
            other => {
                // AWS cannot change a group's description or reuse its name in a VPC: a
                // replacement gets a suffixed name while the old group still exists.
                let (action, reasons, before, paths, gname) = match other {
                    Some(g) => {
                        sg_replaced_old.insert(key.clone(), g.id.clone());
                        let alt = if g.name == group_name {
                            format!("{group_name}-r")
                        } else {
                            group_name.clone()
                        };
                        (
                            Action::Replace,
                            vec![
                                "description forces replacement (AWS cannot change it in place)"
                                    .to_string(),
                            ],
                            Some(Attrs::from([
                                ("name".to_string(), json!(g.name)),
                                ("description".to_string(), json!(g.description)),
                            ])),
                            vec!["description".to_string()],
                            alt,
                        )
                    }
                    None => (
                        Action::Create,
                        b.missing_reason(),
                        None,
                        vec![],
                        group_name.clone(),
                    ),
                };
                want.insert("name".into(), json!(gname));
                let n = b.node(
                    &addr,
                    Op::CreateSecurityGroup {
                        vpc: vpc_ref.clone(),
                        group_name: gname,
                        description: spec.description.clone(),
                        tags: b.tags(&addr),
                    },
                    &[],
                );
                sg_refs.insert(key.clone(), IdRef::Node(n));
                sg_is_new.insert(key.clone());
                b.change(
                    addr,
                    action,
                    other.map(|g| g.id.clone()),
                    reasons,
                    before,
                    Some(want),
                    paths,
                );
            }
        }
    }
    // id -> key for owned groups (rules refer to groups by id)
    let sg_key_of_id: BTreeMap<&str, &str> = sgs_by_key
        .iter()
        .map(|(k, g)| (g.id.as_str(), k.as_str()))
        .collect();
    for (key, spec) in &plan.security_groups {
        let gref = sg_refs[key].clone();
        let observed: BTreeSet<Rule> = if sg_is_new.contains(key) {
            BTreeSet::from([Rule::default_egress()])
        } else {
            let g: &ObservedSecurityGroup = sgs_by_key[key];
            g.rules
                .iter()
                .map(|r| resolve_peer(r, &g.id, &sg_key_of_id, key))
                .collect()
        };
        // Authorize refers to the planned groups; revoke to the groups AWS has now.
        let rule_op = |r: &Rule, observed_side: bool| -> RuleOp {
            let (f, t) = r.aws_ports();
            let (cidr, group) = match &r.peer {
                Peer::Cidr(n) => (Some(n.to_string()), None),
                Peer::SelfGroup if observed_side => {
                    (None, Some(IdRef::Id(sgs_by_key[key].id.clone())))
                }
                Peer::SelfGroup => (None, Some(gref.clone())),
                Peer::Group(k) => match (observed_side, sgs_by_key.get(k)) {
                    (true, Some(g)) => (None, Some(IdRef::Id(g.id.clone()))),
                    _ => (None, sg_refs.get(k).cloned()),
                },
                Peer::ForeignGroup(id) => (None, Some(IdRef::Id(id.clone()))),
            };
            RuleOp {
                direction: r.direction,
                protocol: r.protocol,
                ports: (f, t),
                cidr,
                group,
            }
        };
        for r in spec.rules.union(&observed) {
            let addr = Address::new(Kind::SecurityGroupRule, format!("{key}.{}", r.key()));
            let in_plan = spec.rules.contains(r);
            let in_aws = observed.contains(r);
            let attrs = rule_attrs(key, r);
            match (in_plan, in_aws) {
                (true, true) => {
                    // The default egress of a new group is created by AWS with it.
                    if !sg_is_new.contains(key) {
                        b.change(addr, Action::NoOp, None, vec![], None, None, vec![]);
                    }
                }
                (true, false) => {
                    let op = Op::AuthorizeRule {
                        group: gref.clone(),
                        rule: rule_op(r, false),
                    };
                    b.node(&addr, op, &[]);
                    let reasons = if sg_is_new.contains(key) {
                        vec![]
                    } else {
                        b.missing_reason()
                    };
                    b.change(
                        addr,
                        Action::Create,
                        None,
                        reasons,
                        None,
                        Some(attrs),
                        vec![],
                    );
                }
                (false, true) => {
                    let op = Op::RevokeRule {
                        group: gref.clone(),
                        rule: rule_op(r, true),
                    };
                    b.node(&addr, op, &[]);
                    let reason = if sg_is_new.contains(key) {
                        "AWS's default egress rule is not in the plan".to_string()
                    } else {
                        format!("{NOT_IN_PLAN} ({CHANGED_OUTSIDE}, or removed from the plan)")
                    };
                    b.change(
                        addr,
                        Action::Delete,
                        None,
                        vec![reason],
                        Some(attrs),
                        None,
                        vec![],
                    );
                }
                (false, false) => unreachable!("rule comes from one of the two sets"),
            }
        }
    }

    // ---------------------------------------------------------------- gateway endpoints
    let mut gateway_nodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut endpoint_replaced_old: Vec<(Address, String)> = Vec::new();
    for (key, spec) in &plan.gateway_endpoints {
        let addr = Address::new(Kind::GatewayEndpoint, key);
        let rts: Vec<IdRef> = rt_ref.iter().cloned().collect();
        let mut want = Attrs::new();
        want.insert("service_name".into(), json!(spec.service_name));
        want.insert("route_tables".into(), json!([rt_addr.to_string()]));
        want.insert("policy".into(), policy_attr(spec.policy.as_ref()));
        let existing = gws_by_key.get(key).filter(|_| !vpc_is_new).copied();
        match existing {
            Some(e) if e.service_name == spec.service_name && !is_failed(e) => {
                let mut before = Attrs::new();
                let mut after = Attrs::new();
                let rt_id = observed_rt.map(|r| r.id.clone());
                let has_rt = rt_id
                    .as_ref()
                    .is_some_and(|id| e.route_table_ids.contains(id));
                let add_rts: Vec<IdRef> = if has_rt { vec![] } else { rts.clone() };
                let remove_rts: Vec<String> = e
                    .route_table_ids
                    .iter()
                    .filter(|id| Some(*id) != rt_id.as_ref())
                    .cloned()
                    .collect();
                if !add_rts.is_empty() || !remove_rts.is_empty() {
                    before.insert("route_tables".into(), json!(e.route_table_ids));
                    after.insert("route_tables".into(), json!([rt_addr.to_string()]));
                }
                let mut policy_change = None;
                if !policy::equivalent(spec.policy.as_ref(), e.policy.as_ref()) {
                    before.insert("policy".into(), policy_attr(e.policy.as_ref()));
                    after.insert("policy".into(), policy_attr(spec.policy.as_ref()));
                    policy_change = Some(Some(compact(
                        spec.policy
                            .as_ref()
                            .unwrap_or(&policy::default_full_access()),
                    )));
                }
                if let Some((_, tb, ta)) = b.tag_update(&addr, IdRef::Id(e.id.clone()), &e.tags) {
                    before.extend(tb);
                    after.extend(ta);
                }
                if !add_rts.is_empty() || !remove_rts.is_empty() || policy_change.is_some() {
                    let n = b.node(
                        &addr,
                        Op::ModifyEndpoint {
                            endpoint: IdRef::Id(e.id.clone()),
                            add_subnets: vec![],
                            remove_subnets: vec![],
                            add_security_groups: vec![],
                            remove_security_groups: vec![],
                            add_route_tables: add_rts,
                            remove_route_tables: remove_rts,
                            private_dns: None,
                            policy: policy_change,
                        },
                        &[],
                    );
                    gateway_nodes.insert(key.clone(), n);
                }
                if before.is_empty() {
                    b.change(
                        addr,
                        Action::NoOp,
                        Some(e.id.clone()),
                        vec![],
                        None,
                        None,
                        vec![],
                    );
                } else {
                    b.change(
                        addr,
                        Action::Update,
                        Some(e.id.clone()),
                        vec![DIFFERS.into()],
                        Some(before),
                        Some(after),
                        vec![],
                    );
                }
            }
            other => {
                let n = b.node(
                    &addr,
                    Op::CreateEndpoint {
                        vpc: vpc_ref.clone(),
                        endpoint_type: EndpointType::Gateway,
                        service_name: spec.service_name.clone(),
                        subnets: vec![],
                        security_groups: vec![],
                        route_tables: rts,
                        private_dns: None,
                        policy: spec.policy.as_ref().map(compact),
                        client_token: client_token(
                            name,
                            &addr,
                            &format!("{vpc_ref:?}{:?}", spec.policy),
                        ),
                        tags: b.tags(&addr),
                    },
                    &[],
                );
                gateway_nodes.insert(key.clone(), n);
                let (action, reasons, before) = match other {
                    Some(e) => {
                        endpoint_replaced_old.push((addr.clone(), e.id.clone()));
                        (
                            Action::Replace,
                            vec![replace_reason(e)],
                            Some(Attrs::from([
                                ("service_name".to_string(), json!(e.service_name)),
                                ("state".to_string(), json!(e.state)),
                            ])),
                        )
                    }
                    None => (Action::Create, b.missing_reason(), None),
                };
                let paths = if other.is_some_and(|e| !is_failed(e)) {
                    vec!["service_name".to_string()]
                } else {
                    vec![]
                };
                b.change(
                    addr,
                    action,
                    other.map(|e| e.id.clone()),
                    reasons,
                    before,
                    Some(want),
                    paths,
                );
            }
        }
    }

    // ---------------------------------------------------------------- interface endpoints
    // Endpoint nodes that stop using a subnet/group id which is about to be deleted.
    let mut releases: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (key, spec) in &plan.interface_endpoints {
        let addr = Address::new(Kind::InterfaceEndpoint, key);
        let subnets: Vec<IdRef> = spec
            .subnets
            .iter()
            .map(|r| resolve_ref(r, &subnet_refs))
            .collect();
        let sgs: Vec<IdRef> = spec
            .security_groups
            .iter()
            .map(|r| resolve_ref(r, &sg_refs))
            .collect();
        let mut extra: Vec<usize> = if spec.private_dns {
            dns_nodes.clone()
        } else {
            vec![]
        };
        if key == "s3" {
            // The S3 gateway endpoint must exist before an S3 interface endpoint.
            extra.extend(gateway_nodes.get("s3"));
        }
        let want = interface_attrs(spec);
        let existing = ifs_by_key.get(key).filter(|_| !vpc_is_new).copied();
        match existing {
            Some(e) if e.service_name == spec.service_name && !is_failed(e) => {
                let (n, before, after) = modify_interface(
                    &mut b,
                    &addr,
                    e,
                    spec,
                    &subnets,
                    &sgs,
                    &subnet_refs,
                    &sg_refs,
                    &extra,
                );
                if let Some(n) = n {
                    for old in e.subnet_ids.iter().chain(&e.security_group_ids) {
                        releases.entry(old.clone()).or_default().push(n);
                    }
                }
                if before.is_empty() {
                    b.change(
                        addr,
                        Action::NoOp,
                        Some(e.id.clone()),
                        vec![],
                        None,
                        None,
                        vec![],
                    );
                } else {
                    b.change(
                        addr,
                        Action::Update,
                        Some(e.id.clone()),
                        vec![DIFFERS.into()],
                        Some(before),
                        Some(after),
                        vec![],
                    );
                }
            }
            other => {
                if let Some(e) = other {
                    endpoint_replaced_old.push((addr.clone(), e.id.clone()));
                }
                b.node(
                    &addr,
                    Op::CreateEndpoint {
                        vpc: vpc_ref.clone(),
                        endpoint_type: EndpointType::Interface,
                        service_name: spec.service_name.clone(),
                        subnets,
                        security_groups: sgs,
                        route_tables: vec![],
                        private_dns: Some(spec.private_dns),
                        policy: spec.policy.as_ref().map(compact),
                        client_token: client_token(name, &addr, &format!("{vpc_ref:?}{spec:?}")),
                        tags: b.tags(&addr),
                    },
                    &extra,
                );
                match other {
                    Some(e) => {
                        let paths = if is_failed(e) {
                            vec![]
                        } else {
                            vec!["service_name".to_string()]
                        };
                        b.change(
                            addr,
                            Action::Replace,
                            Some(e.id.clone()),
                            vec![replace_reason(e)],
                            Some(Attrs::from([
                                ("service_name".to_string(), json!(e.service_name)),
                                ("state".to_string(), json!(e.state)),
                            ])),
                            Some(want),
                            paths,
                        )
                    }
                    None => {
                        let reasons = b.missing_reason();
                        b.change(
                            addr,
                            Action::Create,
                            None,
                            reasons,
                            None,
                            Some(want),
                            vec![],
                        )
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- deletions
    // Endpoints first (they hold ENIs in subnets and reference groups), then rules that
    // reference groups to be deleted, groups, subnets, route tables, the VPC.
    let mut endpoint_deletes: Vec<usize> = Vec::new();
    let planned_gw: BTreeSet<&str> = plan.gateway_endpoints.keys().map(String::as_str).collect();
    let planned_if: BTreeSet<&str> = plan
        .interface_endpoints
        .keys()
        .map(String::as_str)
        .collect();
    let mut doomed_endpoints: Vec<(Address, &ObservedEndpoint, String)> = Vec::new();
    for (k, e) in &gws_by_key {
        if !planned_gw.contains(k.as_str()) || vpc_is_new {
            doomed_endpoints.push((
                Address::new(Kind::GatewayEndpoint, k),
                e,
                NOT_IN_PLAN.into(),
            ));
        }
    }
    for (k, e) in &ifs_by_key {
        if !planned_if.contains(k.as_str()) || vpc_is_new {
            doomed_endpoints.push((
                Address::new(Kind::InterfaceEndpoint, k),
                e,
                NOT_IN_PLAN.into(),
            ));
        }
    }
    for (e, keep) in dup_gws.iter().chain(dup_ifs.iter()) {
        let kind = if e.endpoint_type == EndpointType::Gateway {
            Kind::GatewayEndpoint
        } else {
            Kind::InterfaceEndpoint
        };
        let key = owned_key(&e.tags, name)
            .and_then(Address::parse)
            .map(|a| a.key)
            .unwrap_or_default();
        doomed_endpoints.push((Address::new(kind, key), e, dup_reason(keep)));
    }
    for (addr, e, reason) in &doomed_endpoints {
        if vpc_is_new
            && reason == NOT_IN_PLAN
            && (planned_gw.contains(addr.key.as_str()) || planned_if.contains(addr.key.as_str()))
        {
            // replaced with the VPC; shown as part of the VPC replacement
        }
        b.change(
            addr.clone(),
            Action::Delete,
            Some(e.id.clone()),
            vec![reason.clone()],
            Some(Attrs::from([(
                "service_name".to_string(),
                json!(e.service_name),
            )])),
            None,
            vec![],
        );
        let n = b.node(
            addr,
            Op::DeleteEndpoint {
                endpoint: e.id.clone(),
            },
            &[],
        );
        endpoint_deletes.push(n);
    }
    for (addr, old) in &endpoint_replaced_old {
        let n = b.node(
            addr,
            Op::DeleteEndpoint {
                endpoint: old.clone(),
            },
            &[],
        );
        endpoint_deletes.push(n);
    }

    // Groups to delete: not in plan, duplicates, replaced.
    let planned_sg: BTreeSet<&str> = plan.security_groups.keys().map(String::as_str).collect();
    let mut doomed_sgs: Vec<(Address, &ObservedSecurityGroup, String, bool)> = Vec::new();
    for (k, g) in &sgs_by_key {
        let addr = Address::new(Kind::SecurityGroup, k);
        if !planned_sg.contains(k.as_str()) || vpc_is_new {
            doomed_sgs.push((addr, g, NOT_IN_PLAN.into(), true));
        } else if sg_replaced_old.contains_key(k.as_str()) {
            doomed_sgs.push((addr, g, String::new(), false));
        }
    }
    for (g, keep) in &dup_sgs {
        let key = owned_key(&g.tags, name)
            .and_then(Address::parse)
            .map(|a| a.key)
            .unwrap_or_default();
        doomed_sgs.push((
            Address::new(Kind::SecurityGroup, key),
            g,
            dup_reason(keep),
            true,
        ));
    }
    let doomed_sg_ids: BTreeSet<&str> = doomed_sgs
        .iter()
        .map(|(_, g, _, _)| g.id.as_str())
        .collect();
    // Rules in surviving groups that reference a doomed group must go first (AWS refuses
    // to delete a referenced group). Rules inside doomed groups vanish with them.
    let mut unref_nodes: Vec<usize> = Vec::new();
    for g in &obs.security_groups {
        let is_planned = !doomed_sg_ids.contains(g.id.as_str())
            && owned_key(&g.tags, name)
                .and_then(Address::parse)
                .is_some_and(|a| sg_refs.get(&a.key) == Some(&IdRef::Id(g.id.clone())));
        if is_planned {
            continue; // the rule diff above already revokes what must go
        }
        for r in &g.rules {
            if let Peer::ForeignGroup(id) = &r.peer {
                if doomed_sg_ids.contains(id.as_str()) && id != &g.id {
                    let (f, t) = r.aws_ports();
                    let n = b.node(
                        &Address::new(Kind::SecurityGroupRule, format!("{}.{}", g.id, r.key())),
                        Op::RevokeRule {
                            group: IdRef::Id(g.id.clone()),
                            rule: RuleOp {
                                direction: r.direction,
                                protocol: r.protocol,
                                ports: (f, t),
                                cidr: None,
                                group: Some(IdRef::Id(id.clone())),
                            },
                        },
                        &[],
                    );
                    unref_nodes.push(n);
                }
            }
        }
    }
    // Revokes planned above for surviving groups (rules to doomed groups) also count.
    let revoke_nodes: Vec<usize> = b
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::RevokeRule { .. }))
        .map(|(i, _)| i)
        .collect();
    let mut sg_deletes: BTreeMap<String, usize> = BTreeMap::new();
    for (addr, g, reason, show) in &doomed_sgs {
        if *show {
            b.change(
                addr.clone(),
                Action::Delete,
                Some(g.id.clone()),
                vec![reason.clone()],
                Some(Attrs::from([
                    ("name".to_string(), json!(g.name)),
                    ("description".to_string(), json!(g.description)),
                ])),
                None,
                vec![],
            );
        }
        let mut deps = endpoint_deletes.clone();
        deps.extend(&unref_nodes);
        deps.extend(&revoke_nodes);
        deps.extend(releases.get(&g.id).into_iter().flatten());
        // Interface endpoints that switch groups must let go of the old one first; every
        // node that creates or modifies an endpoint is a potential holder.
        deps.extend(
            b.nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    matches!(n.op, Op::ModifyEndpoint { .. } | Op::CreateEndpoint { .. })
                })
                .map(|(i, _)| i),
        );
        let n = b.node(
            addr,
            Op::DeleteSecurityGroup {
                group: g.id.clone(),
            },
            &deps,
        );
        sg_deletes.insert(g.id.clone(), n);
    }

    // Route tables to delete; their associations go first.
    let mut doomed_rts: Vec<(Address, String, String)> = Vec::new();
    for (k, r) in &rts_by_key {
        if k != "private" || !plan.has_route_table() || vpc_is_new {
            doomed_rts.push((
                Address::new(Kind::RouteTable, k),
                r.id.clone(),
                NOT_IN_PLAN.into(),
            ));
        }
    }
    for (r, keep) in &dup_rts {
        doomed_rts.push((
            Address::new(Kind::RouteTable, "private"),
            r.id.clone(),
            dup_reason(keep),
        ));
    }
    for (addr, id, _) in &doomed_rts {
        if observed_rt.is_some_and(|o| &o.id == id) {
            continue; // its associations were handled above
        }
        let rt = obs
            .route_tables
            .iter()
            .find(|r| &r.id == id)
            .expect("observed");
        for a in &rt.associations {
            disassoc_nodes.push(b.node(
                addr,
                Op::DisassociateRouteTable {
                    association_id: a.id.clone(),
                },
                &[],
            ));
        }
    }

    // Subnets to delete.
    let planned_subnets: BTreeSet<&str> = plan.subnets.keys().map(String::as_str).collect();
    let mut doomed_subnets: Vec<(Address, &ObservedSubnet, String, bool)> = Vec::new();
    for (k, s) in &subnets_by_key {
        let addr = Address::new(Kind::Subnet, k);
        if !planned_subnets.contains(k.as_str()) || vpc_is_new {
            doomed_subnets.push((addr, s, NOT_IN_PLAN.into(), true));
        } else if replaced_subnets.contains_key(k.as_str()) {
            doomed_subnets.push((addr, s, String::new(), false));
        }
    }
    for (s, keep) in &dup_subnets {
        let key = owned_key(&s.tags, name)
            .and_then(Address::parse)
            .map(|a| a.key)
            .unwrap_or_default();
        doomed_subnets.push((Address::new(Kind::Subnet, key), s, dup_reason(keep), true));
    }
    let mut subnet_deletes: Vec<usize> = Vec::new();
    for (addr, s, reason, show) in &doomed_subnets {
        if *show {
            b.change(
                addr.clone(),
                Action::Delete,
                Some(s.id.clone()),
                vec![reason.clone()],
                Some(Attrs::from([
                    ("availability_zone".to_string(), json!(s.availability_zone)),
                    ("cidr".to_string(), json!(s.cidr)),
                ])),
                None,
                vec![],
            );
        }
        let mut deps = endpoint_deletes.clone();
        deps.extend(releases.get(&s.id).into_iter().flatten());
        deps.extend(
            b.nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| {
                    matches!(n.op, Op::ModifyEndpoint { .. }) && !b.late_modifies.contains(i)
                })
                .map(|(i, _)| i),
        );
        deps.extend(&disassoc_nodes);
        let n = b.node(
            addr,
            Op::DeleteSubnet {
                subnet: s.id.clone(),
            },
            &deps,
        );
        subnet_deletes.push(n);
        if let Some(&create) = subnet_create_after_delete.get(&s.id) {
            b.nodes[create].deps.push(n);
            // the create's dependants already wait on it; nothing else to rewire
        }
    }

    let mut rt_deletes = Vec::new();
    for (addr, id, reason) in doomed_rts {
        b.change(
            addr.clone(),
            Action::Delete,
            Some(id.clone()),
            vec![reason],
            None,
            None,
            vec![],
        );
        let mut deps = endpoint_deletes.clone();
        deps.extend(&subnet_deletes);
        deps.extend(&disassoc_nodes);
        // Gateway endpoints that move off this table must have done so.
        deps.extend(gateway_nodes.values());
        rt_deletes.push(b.node(&addr, Op::DeleteRouteTable { route_table: id }, &deps));
    }

    // VPCs to delete: a replaced one, or duplicates.
    let mut doomed_vpcs: Vec<(String, String)> = Vec::new();
    if let Some(old) = vpc_replaced_old {
        doomed_vpcs.push((old, String::new()));
    }
    if let Some(id) = vpc_destroyed {
        doomed_vpcs.push((id, "destroy: owned by the plan".into()));
    }
    if let Some(keep) = &obs.vpc {
        for v in &obs.extra_vpcs {
            let reason = if destroying {
                "destroy: owned by the plan".to_string()
            } else {
                format!("duplicate of {}", keep.id)
            };
            doomed_vpcs.push((v.id.clone(), reason));
        }
    }
    for (id, reason) in doomed_vpcs {
        if !reason.is_empty() {
            b.change(
                vpc_addr.clone(),
                Action::Delete,
                Some(id.clone()),
                vec![reason],
                None,
                None,
                vec![],
            );
        }
        let mut deps = endpoint_deletes.clone();
        deps.extend(sg_deletes.values());
        deps.extend(&subnet_deletes);
        deps.extend(&rt_deletes);
        b.node(&vpc_addr, Op::DeleteVpc { vpc: id }, &deps);
    }

    let cs = Changeset {
        plan: plan.name.clone(),
        region: plan.region.clone(),
        changes: b.changes,
        nodes: b.nodes,
        warnings: b.warnings,
    };
    if let Err(e) = cs.check_graph() {
        return Err(DiffError {
            problems: vec![format!(
                "the changes cannot be ordered safely ({e}); apply the plan edit in two steps (e.g. first move endpoints off a subnet, then change the subnet)"
            )],
        });
    }
    Ok(cs)
}

fn is_failed(e: &ObservedEndpoint) -> bool {
    e.state.eq_ignore_ascii_case("failed")
}

fn replace_reason(e: &ObservedEndpoint) -> String {
    if is_failed(e) {
        format!("endpoint {} is in state failed; it is replaced", e.id)
    } else {
        "service_name forces replacement".to_string()
    }
}

fn dup_reason(keep: &str) -> String {
    if keep.starts_with("in VPC") {
        format!("leftover {keep}")
    } else {
        format!("duplicate of {keep}")
    }
}

fn resolve_ref(r: &Ref, refs: &BTreeMap<String, IdRef>) -> IdRef {
    match r {
        Ref::Key(k) => refs[k].clone(),
        Ref::Id(id) => IdRef::Id(id.clone()),
    }
}

/// Map an observed rule's group id back to the plan's vocabulary.
fn resolve_peer(r: &Rule, own_id: &str, key_of: &BTreeMap<&str, &str>, _own_key: &str) -> Rule {
    let peer = match &r.peer {
        Peer::ForeignGroup(id) if id == own_id => Peer::SelfGroup,
        Peer::ForeignGroup(id) => match key_of.get(id.as_str()) {
            Some(k) => Peer::Group((*k).to_string()),
            None => Peer::ForeignGroup(id.clone()),
        },
        other => other.clone(),
    };
    Rule { peer, ..r.clone() }
}

fn policy_attr(p: Option<&Value>) -> Value {
    match p {
        None => json!("(AWS default: full access)"),
        Some(v) => json!(compact(&policy::normalize(v))),
    }
}

fn ref_label(r: &Ref, kind: Kind) -> String {
    match r {
        Ref::Key(k) => Address::new(kind, k).to_string(),
        Ref::Id(id) => id.clone(),
    }
}

fn interface_attrs(spec: &InterfaceEndpointSpec) -> Attrs {
    let mut a = Attrs::new();
    a.insert("service_name".into(), json!(spec.service_name));
    a.insert(
        "subnets".into(),
        json!(spec
            .subnets
            .iter()
            .map(|r| ref_label(r, Kind::Subnet))
            .collect::<Vec<_>>()),
    );
    if !spec.security_groups.is_empty() {
        a.insert(
            "security_groups".into(),
            json!(spec
                .security_groups
                .iter()
                .map(|r| ref_label(r, Kind::SecurityGroup))
                .collect::<Vec<_>>()),
        );
    }
    a.insert("private_dns_enabled".into(), json!(spec.private_dns));
    a.insert("policy".into(), policy_attr(spec.policy.as_ref()));
    a
}

/// In-place update of an interface endpoint: one ModifyVpcEndpoint with add/remove lists.
/// A new subnet that can exist only once the subnet it replaces is deleted (same or
/// overlapping CIDR, e.g. an AZ change) is added by a second ModifyVpcEndpoint after its
/// create: the first one moves the endpoint off the old subnet, which lets it be deleted.
#[allow(clippy::too_many_arguments)]
fn modify_interface(
    b: &mut Builder,
    addr: &Address,
    e: &ObservedEndpoint,
    spec: &InterfaceEndpointSpec,
    subnets: &[IdRef],
    sgs: &[IdRef],
    subnet_refs: &BTreeMap<String, IdRef>,
    sg_refs: &BTreeMap<String, IdRef>,
    extra: &[usize],
) -> (Option<usize>, Attrs, Attrs) {
    let mut before = Attrs::new();
    let mut after = Attrs::new();
    // Before: what AWS has, named by the plan's address where the plan owns it.
    let (obs, plan_name) = (b.obs, b.plan.name.clone());
    let label_of = |id: &str, _refs: &BTreeMap<String, IdRef>, _kind: Kind| -> String {
        let tags = obs
            .subnets
            .iter()
            .find(|s| s.id == id)
            .map(|s| &s.tags)
            .or_else(|| {
                obs.security_groups
                    .iter()
                    .find(|g| g.id == id)
                    .map(|g| &g.tags)
            });
        match tags.and_then(|t| owned_key(t, &plan_name)) {
            Some(a) => format!("{a} ({id})"),
            None => id.to_string(),
        }
    };
    // After: the plan's address and the id it will have.
    let after_label = |r: &Ref, refs: &BTreeMap<String, IdRef>, kind: Kind| -> String {
        match r {
            Ref::Key(k) => match refs.get(k) {
                Some(IdRef::Id(id)) => format!("{} ({id})", Address::new(kind, k)),
                _ => format!("{} (new)", Address::new(kind, k)),
            },
            Ref::Id(id) => id.clone(),
        }
    };
    let cur_subnets: BTreeSet<&str> = e.subnet_ids.iter().map(String::as_str).collect();
    let add_subnets: Vec<IdRef> = subnets
        .iter()
        .filter(|r| !matches!(r, IdRef::Id(id) if cur_subnets.contains(id.as_str())))
        .cloned()
        .collect();
    let want_subnet_ids: BTreeSet<&str> = subnets
        .iter()
        .filter_map(|r| match r {
            IdRef::Id(i) => Some(i.as_str()),
            _ => None,
        })
        .collect();
    let remove_subnets: Vec<String> = e
        .subnet_ids
        .iter()
        .filter(|id| !want_subnet_ids.contains(id.as_str()))
        .cloned()
        .collect();
    if !add_subnets.is_empty() || !remove_subnets.is_empty() {
        before.insert(
            "subnets".into(),
            json!(e
                .subnet_ids
                .iter()
                .map(|i| label_of(i, subnet_refs, Kind::Subnet))
                .collect::<Vec<_>>()),
        );
        after.insert(
            "subnets".into(),
            json!(spec
                .subnets
                .iter()
                .map(|r| after_label(r, subnet_refs, Kind::Subnet))
                .collect::<Vec<_>>()),
        );
    }
    let (add_sgs, remove_sgs) = if spec.security_groups.is_empty() {
        (vec![], vec![])
    } else {
        let cur: BTreeSet<&str> = e.security_group_ids.iter().map(String::as_str).collect();
        let add: Vec<IdRef> = sgs
            .iter()
            .filter(|r| !matches!(r, IdRef::Id(id) if cur.contains(id.as_str())))
            .cloned()
            .collect();
        let want: BTreeSet<&str> = sgs
            .iter()
            .filter_map(|r| match r {
                IdRef::Id(i) => Some(i.as_str()),
                _ => None,
            })
            .collect();
        let remove: Vec<String> = e
            .security_group_ids
            .iter()
            .filter(|id| !want.contains(id.as_str()))
            .cloned()
            .collect();
        (add, remove)
    };
    if !add_sgs.is_empty() || !remove_sgs.is_empty() {
        before.insert(
            "security_groups".into(),
            json!(e
                .security_group_ids
                .iter()
                .map(|i| label_of(i, sg_refs, Kind::SecurityGroup))
                .collect::<Vec<_>>()),
        );
        after.insert(
            "security_groups".into(),
            json!(spec
                .security_groups
                .iter()
                .map(|r| after_label(r, sg_refs, Kind::SecurityGroup))
                .collect::<Vec<_>>()),
        );
    }
    let private_dns = (e.private_dns != spec.private_dns).then_some(spec.private_dns);
    if private_dns.is_some() {
        before.insert("private_dns_enabled".into(), json!(e.private_dns));
        after.insert("private_dns_enabled".into(), json!(spec.private_dns));
    }
    let policy = (!policy::equivalent(spec.policy.as_ref(), e.policy.as_ref())).then(|| {
        before.insert("policy".into(), policy_attr(e.policy.as_ref()));
        after.insert("policy".into(), policy_attr(spec.policy.as_ref()));
        Some(compact(
            spec.policy
                .as_ref()
                .unwrap_or(&policy::default_full_access()),
        ))
    });
    if let Some((_, tb, ta)) = b.tag_update(addr, IdRef::Id(e.id.clone()), &e.tags) {
        before.extend(tb);
        after.extend(ta);
    }
    let (late, add_subnets): (Vec<IdRef>, Vec<IdRef>) = add_subnets
        .into_iter()
        .partition(|r| matches!(r, IdRef::Node(n) if b.late_subnets.contains(n)));
    let needs_modify = !add_subnets.is_empty()
        || !remove_subnets.is_empty()
        || !add_sgs.is_empty()
        || !remove_sgs.is_empty()
        || private_dns.is_some()
        || policy.is_some();
    let n = needs_modify.then(|| {
        b.node(
            addr,
            Op::ModifyEndpoint {
                endpoint: IdRef::Id(e.id.clone()),
                add_subnets,
                remove_subnets,
                add_security_groups: add_sgs,
                remove_security_groups: remove_sgs,
                add_route_tables: vec![],
                remove_route_tables: vec![],
                private_dns,
                policy,
            },
            extra,
        )
    });
    if !late.is_empty() {
        let first: Vec<usize> = n.into_iter().collect();
        let m = b.node(
            addr,
            Op::ModifyEndpoint {
                endpoint: IdRef::Id(e.id.clone()),
                add_subnets: late,
                remove_subnets: vec![],
                add_security_groups: vec![],
                remove_security_groups: vec![],
                add_route_tables: vec![],
                remove_route_tables: vec![],
                private_dns: None,
                policy: None,
            },
            &first,
        );
        b.late_modifies.insert(m);
    }
    (n, before, after)
}

/// Problems that stop planning: the plan cannot be applied to this account as it is.
fn check_conflicts(b: &mut Builder) {
    let plan = b.plan;
    let obs = b.obs;
    match (&plan.vpc, &obs.vpc) {
        (VpcSpec::Adopted { id, .. }, None) => {
            b.problems.push(format!(
                "vpc.id: VPC {id} does not exist in {} (or the credentials cannot see it)",
                plan.region
            ));
            return;
        }
        (VpcSpec::Adopted { id, manage_dns }, Some(v))
            if plan.needs_private_dns() && !(v.dns_support && v.dns_hostnames) && !manage_dns =>
        {
            b.problems.push(format!(
                    "vpc.id: interface endpoints ask for private DNS, but VPC {id} has enableDnsSupport={} and enableDnsHostnames={}; private DNS needs both. Set `manage_dns = true` under [vpc] to let sagevpc switch them on, switch them on yourself, or set interface_endpoints.private_dns = false",
                    v.dns_support, v.dns_hostnames
                ));
        }
        _ => {}
    }
    let vpc_id = obs.vpc.as_ref().map(|v| v.id.as_str());

    // An unowned endpoint for the same service with private DNS makes AWS refuse ours
    // ("conflicting DNS domain"); one per service per VPC.
    for (key, spec) in &plan.interface_endpoints {
        if !spec.private_dns {
            continue;
        }
        if let Some(f) = obs.foreign_endpoints.iter().find(|f| {
            f.service_name == spec.service_name
                && f.private_dns
                && f.endpoint_type == EndpointType::Interface
        }) {
            let owner = f
                .tags
                .get(TAG_PLAN)
                .map(|p| format!("plan {p:?}"))
                .unwrap_or_else(|| "no sagevpc plan (created outside sagevpc)".into());
            b.problems.push(format!(
                "interface_endpoints: {key}: VPC {} already has endpoint {} for {} with private DNS, owned by {owner}; AWS allows one private-DNS endpoint per service in a VPC (conflicting DNS domain). Remove {key} from this plan, set private_dns = false, or delete that endpoint",
                vpc_id.unwrap_or("?"), f.id, spec.service_name
            ));
        }
    }

    // Service availability per AZ, when the region told us.
    if !obs.services.is_empty() || !plan.interface_endpoints.is_empty() {
        for (key, spec) in &plan.interface_endpoints {
            let Some(svc) = obs.services.iter().find(|s| {
                s.service_name == spec.service_name && s.endpoint_type == EndpointType::Interface
            }) else {
                if !obs.services.is_empty() || b.obs.vpc.is_some() {
                    b.problems.push(format!(
                        "interface_endpoints.services: {key}: {} is not offered as an interface endpoint service in {}",
                        spec.service_name, plan.region
                    ));
                }
                continue;
            };
            for r in &spec.subnets {
                let az = match r {
                    Ref::Key(k) => plan.subnets.get(k).map(|s| s.availability_zone.clone()),
                    Ref::Id(id) => obs
                        .referenced_subnets
                        .iter()
                        .find(|s| &s.id == id)
                        .map(|s| s.availability_zone.clone()),
                };
                if let Some(az) = az {
                    if !svc.availability_zones.is_empty() && !svc.availability_zones.contains(&az) {
                        b.problems.push(format!(
                            "interface_endpoints.subnets: {key}: {} is not offered in {az} (subnet {r}); it is offered in: {}",
                            spec.service_name,
                            svc.availability_zones.join(", ")
                        ));
                    }
                }
            }
        }
        for (key, spec) in &plan.gateway_endpoints {
            if !obs.services.iter().any(|s| {
                s.service_name == spec.service_name && s.endpoint_type == EndpointType::Gateway
            }) {
                b.problems.push(format!(
                    "gateway_endpoints.{key}: {} is not offered as a gateway endpoint service in {}",
                    spec.service_name, plan.region
                ));
            }
        }
    }

    // Subnets named by id: they must exist, be in the VPC, one per AZ.
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
        match obs.referenced_subnets.iter().find(|s| s.id == id) {
            None => b.problems.push(format!(
                "interface_endpoints.subnets: subnet {id} does not exist"
            )),
            Some(s) => {
                if Some(s.vpc_id.as_str()) != vpc_id {
                    b.problems.push(format!(
                        "interface_endpoints.subnets: subnet {id} is in {}, not in the plan's VPC {}",
                        s.vpc_id,
                        vpc_id.unwrap_or("(new)")
                    ));
                }
                if let Some(prev) = az_seen.insert(s.availability_zone.clone(), id.to_string()) {
                    b.problems.push(format!(
                        "interface_endpoints.subnets: subnets {prev} and {id} are both in {}: an endpoint takes one subnet per availability zone (DuplicateSubnetsInSameZone)",
                        s.availability_zone
                    ));
                }
            }
        }
    }
}
