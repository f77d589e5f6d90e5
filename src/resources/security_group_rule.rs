//! Security-group rules, compared at the rule level: a child kind of the group, keyed
//! `<group>.<direction>.<protocol>.<ports>.<peer>`. A new group comes with AWS's default
//! allow-all egress rule; a plan that lists `egress` revokes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::security_group::{ObservedSecurityGroup, SecurityGroup};
use super::{attrs, id_of, Call, KindOp, Never, Perform, ResourceKind, Tagging};
use crate::changeset::{
    Action, Attrs, Cx, IdRef, Matched, ResourceChange, CHANGED_OUTSIDE, NOT_IN_PLAN,
};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Direction, Kind, Peer, Protocol, Rule};
use crate::observe::{owned_key, Observed};

/// A security-group permission as the executor sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOp {
    pub protocol: Protocol,
    pub ports: (Option<i32>, Option<i32>),
    pub cidr: Option<String>,
    pub group: Option<IdRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list: Option<String>,
}

/// A rule whose group peer is resolved to an id.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsRule {
    pub protocol: Protocol,
    pub ports: (Option<i32>, Option<i32>),
    pub cidr: Option<String>,
    pub group_id: Option<String>,
    pub prefix_list_id: Option<String>,
}

/// One call per group and direction carrying all of its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Authorize {
        group: IdRef,
        direction: Direction,
        rules: Vec<RuleOp>,
    },
    Revoke {
        group: IdRef,
        direction: Direction,
        rules: Vec<RuleOp>,
    },
}

impl Op {
    fn parts(&self) -> (&IdRef, Direction, &[RuleOp]) {
        match self {
            Op::Authorize {
                group,
                direction,
                rules,
            }
            | Op::Revoke {
                group,
                direction,
                rules,
            } => (group, *direction, rules),
        }
    }
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Authorize { group, rules, .. } | Op::Revoke { group, rules, .. } => {
                std::iter::once(group)
                    .chain(rules.iter_mut().filter_map(|r| r.group.as_mut()))
                    .collect()
            }
        }
    }
    fn api_name(&self) -> &'static str {
        match (self, self.parts().1) {
            (Op::Authorize { .. }, Direction::Ingress) => "AuthorizeSecurityGroupIngress",
            (Op::Authorize { .. }, Direction::Egress) => "AuthorizeSecurityGroupEgress",
            (Op::Revoke { .. }, Direction::Ingress) => "RevokeSecurityGroupIngress",
            (Op::Revoke { .. }, Direction::Egress) => "RevokeSecurityGroupEgress",
        }
    }
    /// A revoked rule no longer names its peer group: that group may then be deleted.
    fn releases(&self) -> Vec<String> {
        match self {
            Op::Revoke { rules, .. } => rules
                .iter()
                .filter_map(|r| r.group.as_ref().and_then(IdRef::id))
                .map(str::to_string)
                .collect(),
            Op::Authorize { .. } => vec![],
        }
    }
    fn removes(&self) -> bool {
        matches!(self, Op::Revoke { .. })
    }
    fn target(&self) -> Option<&str> {
        self.parts().0.id()
    }
}

/// The rule calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// Authorize (`grant`) or revoke permissions on a group, in one call.
    fn change_rules(
        &self,
        group_id: &str,
        direction: Direction,
        rules: &[AwsRule],
        grant: bool,
    ) -> impl Call<()>;
}

pub struct SecurityGroupRule;

impl ResourceKind for SecurityGroupRule {
    const KIND: Kind = Kind::SecurityGroupRule;
    const NAME: &'static str = "security_group_rule";
    const TAGGING: Tagging = Tagging::None;
    const OWNED_BY_TAG: bool = false;
    type Live = Never;
    type Op = Op;

    fn live(_obs: &Observed) -> Vec<&Never> {
        Vec::new()
    }

    fn check(cx: &mut Cx) {
        unresolved(cx);
    }

    fn reconcile(cx: &mut Cx, _live: &Matched<Never>) {
        let key_of = group_keys(cx);
        let plan = cx.plan;
        for key in plan.security_groups.keys() {
            plan_rules(cx, key, &key_of);
        }
        retire_doomed_groups(cx);
    }

    fn retire(cx: &mut Cx, _live: &Matched<Never>) {
        retire_doomed_groups(cx);
    }

    fn delete(o: &Never) -> Vec<super::Op> {
        match *o {}
    }
}

/// id -> key of the groups matched to the plan's keys, but for replaced ones: a rule
/// that names the old copy of a replaced group is not the plan's rule.
fn group_keys(cx: &Cx) -> BTreeMap<String, String> {
    cx.kept_ids(Kind::SecurityGroup)
        .filter(|(k, id)| cx.replaced_old(&Address::new(Kind::SecurityGroup, *k)) != Some(*id))
        .map(|(k, id)| (id.to_string(), k.to_string()))
        .collect()
}

/// id -> key of every group the plan owns, to name rules by plan keys everywhere.
fn all_group_names(cx: &Cx) -> BTreeMap<String, String> {
    cx.obs
        .security_groups
        .iter()
        .filter_map(|g| {
            let a = owned_key(&g.tags, &cx.plan.name).and_then(Address::parse)?;
            (a.kind == Kind::SecurityGroup).then(|| (g.id.clone(), a.key))
        })
        .collect()
}

/// Map an observed rule's group id back to the plan's vocabulary.
fn resolve_peer(r: &Rule, own_id: &str, key_of: &BTreeMap<String, String>) -> Rule {
    let peer = match &r.peer {
        Peer::ForeignGroup(id) if id == own_id => Peer::SelfGroup,
        Peer::ForeignGroup(id) => match key_of.get(id) {
            Some(k) => Peer::Group(k.clone()),
            None => Peer::ForeignGroup(id.clone()),
        },
        other => other.clone(),
    };
    Rule { peer, ..r.clone() }
}

pub fn rule_attrs(group: &str, r: &Rule) -> Attrs {
    attrs([
        ("security_group", json!(group)),
        ("direction", json!(r.direction.as_str())),
        ("protocol", json!(r.protocol.as_str())),
        (
            "ports",
            match r.ports {
                None => json!("all"),
                Some((x, y)) if x == y => json!(x.to_string()),
                Some((x, y)) => json!(format!("{x}-{y}")),
            },
        ),
        ("peer", json!(r.peer.to_string())),
    ])
}

/// The op's view of a rule. Authorize refers to the planned groups; revoke to the
/// groups AWS has now (`observed`: the group's own id, and key -> id of what exists).
fn rule_op(
    cx: &Cx,
    r: &Rule,
    own: &IdRef,
    observed: Option<(&str, &BTreeMap<String, String>)>,
) -> RuleOp {
    let (f, t) = r.aws_ports();
    let planned = |k: &str| cx.reference(&Address::new(Kind::SecurityGroup, k));
    if let Peer::PrefixList(id) = &r.peer {
        return RuleOp {
            protocol: r.protocol,
            ports: (f, t),
            cidr: None,
            group: None,
            prefix_list: Some(id.clone()),
        };
    }
    let (cidr, group) = match (&r.peer, observed) {
        (Peer::Cidr(n), _) => (Some(n.to_string()), None),
        (Peer::PrefixList(_) | Peer::VpcCidr, _) => (None, None),
        (Peer::SelfGroup, Some((own_id, _))) => (None, Some(IdRef::Id(own_id.to_string()))),
        (Peer::SelfGroup, None) => (None, Some(own.clone())),
        (Peer::Group(k), Some((_, ids))) => match ids.get(k) {
            Some(id) => (None, Some(IdRef::Id(id.clone()))),
            None => (None, planned(k)),
        },
        (Peer::Group(k), None) => (None, planned(k)),
        (Peer::ForeignGroup(id), _) => (None, Some(IdRef::Id(id.clone()))),
    };
    RuleOp {
        protocol: r.protocol,
        ports: (f, t),
        cidr,
        group,
        prefix_list: None,
    }
}

/// A planned rule in AWS's terms: a prefix list named by its service becomes its id,
/// the VPC's CIDR the CIDR (both read at plan time; `check` says when one is missing).
fn planned(cx: &Cx, r: &Rule) -> Rule {
    let peer = match &r.peer {
        Peer::PrefixList(name) if !name.starts_with("pl-") => match cx.obs.prefix_lists.get(name) {
            Some(id) => Peer::PrefixList(id.clone()),
            None => r.peer.clone(),
        },
        Peer::VpcCidr => match cx.obs.vpc_of(cx.plan).and_then(|v| v.cidr.parse().ok()) {
            Some(c) => Peer::Cidr(c),
            None => r.peer.clone(),
        },
        other => other.clone(),
    };
    Rule { peer, ..r.clone() }
}

/// Prefix lists the plan's rules name by service that the region does not have.
fn unresolved(cx: &mut Cx) {
    let mut missing = BTreeSet::new();
    for (key, g) in &cx.plan.security_groups {
        for r in &g.rules {
            if let Peer::PrefixList(name) = &r.peer {
                if !name.starts_with("pl-") && !cx.obs.prefix_lists.contains_key(name) {
                    missing.insert((key.clone(), name.clone()));
                }
            }
        }
    }
    for (key, name) in missing {
        cx.problems.push(format!(
            "security_groups.{key}: no managed prefix list for {name} in {} (DescribeManagedPrefixLists found none), so the rule that lets the group reach it cannot be written",
            cx.plan.region
        ));
    }
}

/// The rules of one plan group: authorize what is missing, revoke what the plan does
/// not have.
fn plan_rules(cx: &mut Cx, key: &str, key_of: &BTreeMap<String, String>) {
    let plan = cx.plan;
    let wanted: BTreeSet<Rule> = plan.security_groups[key]
        .rules
        .iter()
        .map(|r| planned(cx, r))
        .collect();
    let gaddr = Address::new(Kind::SecurityGroup, key);
    let gref = cx.reference(&gaddr).expect("groups run first");
    let is_new = cx.is_fresh(&gaddr);
    let group: Option<&ObservedSecurityGroup> = cx.existing::<SecurityGroup>(key);
    let observed: BTreeSet<Rule> = match group.filter(|_| !is_new) {
        None => BTreeSet::from([Rule::default_egress()]),
        Some(g) => g
            .rules
            .iter()
            .map(|r| resolve_peer(r, &g.id, key_of))
            .collect(),
    };
    let ids: BTreeMap<String, String> =
        key_of.iter().map(|(i, k)| (k.clone(), i.clone())).collect();
    // The rules of the copy this group replaces: they are replaced with it.
    let old_rules: BTreeSet<Rule> = cx
        .replaced_old(&gaddr)
        .and_then(|old| cx.obs.security_groups.iter().find(|g| g.id == old))
        .map(|g| {
            let names = all_group_names(cx);
            g.rules
                .iter()
                .map(|r| resolve_peer(r, &g.id, &names))
                .filter(|r| r != &Rule::default_egress())
                .collect()
        })
        .unwrap_or_default();
    for r in old_rules.difference(&wanted) {
        let addr = Address::new(Kind::SecurityGroupRule, format!("{key}.{}", r.key()));
        let why = format!("goes with the group it belongs to ({gaddr} is replaced)");
        cx.record(record(
            addr,
            Action::Delete,
            vec![why],
            Some(rule_attrs(key, r)),
            None,
        ));
    }
    let mut calls = Calls::default();
    for r in wanted.union(&observed) {
        let addr = Address::new(Kind::SecurityGroupRule, format!("{key}.{}", r.key()));
        let attrs = rule_attrs(key, r);
        match (wanted.contains(r), observed.contains(r)) {
            // The default egress of a new group is created by AWS with it.
            (true, true) if is_new => {}
            (true, true) => cx.record(record(addr, Action::NoOp, vec![], None, None)),
            (true, false) => {
                calls.add(true, r.direction, addr.clone(), rule_op(cx, r, &gref, None));
                if old_rules.contains(r) {
                    let why = format!("its group is replaced ({gaddr})");
                    let mut c = record(
                        addr,
                        Action::Replace,
                        vec![why],
                        Some(attrs.clone()),
                        Some(attrs),
                    );
                    c.replace_paths = vec!["security_group".into()];
                    cx.record(c);
                } else {
                    let reasons = if is_new { vec![] } else { cx.missing_reason() };
                    cx.record(record(addr, Action::Create, reasons, None, Some(attrs)));
                }
            }
            // AWS's default egress of a group created with egress rules in the plan:
            // revoking it is part of creating the group, not a destroy.
            (false, true) if is_new => {
                let own = group.map(|g| g.id.as_str()).unwrap_or_default();
                let op = rule_op(cx, r, &gref, Some((own, &ids)));
                calls.add(false, r.direction, gaddr.clone(), op);
            }
            (false, true) => {
                let own = group.map(|g| g.id.as_str()).unwrap_or_default();
                let op = rule_op(cx, r, &gref, Some((own, &ids)));
                calls.add(false, r.direction, addr.clone(), op);
                let reason = match &r.peer {
                    Peer::ForeignGroup(id) if cx.doomed_ids().contains(id) => {
                        format!("its peer group {id} is deleted or replaced")
                    }
                    _ => format!("{NOT_IN_PLAN} ({CHANGED_OUTSIDE}, or removed from the plan)"),
                };
                cx.record(record(
                    addr,
                    Action::Delete,
                    vec![reason],
                    Some(attrs),
                    None,
                ));
            }
            (false, false) => unreachable!("rule comes from one of the two sets"),
        }
    }
    calls.emit(cx, &gref);
}

/// The rules to authorize and revoke on one group, one call per direction each.
#[derive(Default)]
struct Calls(BTreeMap<(bool, Direction), (Vec<Address>, Vec<RuleOp>)>);

impl Calls {
    fn add(&mut self, grant: bool, direction: Direction, addr: Address, rule: RuleOp) {
        let (addrs, rules) = self.0.entry((grant, direction)).or_default();
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
        rules.push(rule);
    }

    /// Revokes first in the list: they may let another group go sooner.
    fn emit(self, cx: &mut Cx, group: &IdRef) {
        for ((grant, direction), (addrs, rules)) in self.0 {
            let group = group.clone();
            let op = if grant {
                Op::Authorize {
                    group,
                    direction,
                    rules,
                }
            } else {
                Op::Revoke {
                    group,
                    direction,
                    rules,
                }
            };
            cx.node_for(&addrs, op, &[]);
        }
    }
}

fn record(
    address: Address,
    action: Action,
    reasons: Vec<String>,
    before: Option<Attrs>,
    after: Option<Attrs>,
) -> ResourceChange {
    ResourceChange {
        address,
        action,
        id: None,
        reasons,
        before,
        after,
        replace_paths: vec![],
    }
}

/// Groups that are deleted take their rules with them. The rules are listed (they
/// were counted when they were created) when the group itself is removed, on destroy
/// or from the plan; rules that name another deleted group are revoked first: AWS
/// refuses to delete a group another group's rule names, even when both go.
fn retire_doomed_groups(cx: &mut Cx) {
    let plan = cx.plan;
    let doomed = cx.doomed_ids().clone();
    let names = all_group_names(cx);
    for g in &cx.obs.security_groups {
        let kept = !doomed.contains(&g.id)
            && names.get(&g.id).is_some_and(|k| {
                cx.reference(&Address::new(Kind::SecurityGroup, k)) == Some(IdRef::Id(g.id.clone()))
            });
        if kept {
            continue;
        }
        let Some(gkey) = names.get(&g.id) else {
            continue;
        };
        let gaddr = Address::new(Kind::SecurityGroup, gkey);
        // Removed, not replaced or a duplicate: its rules are listed.
        let listed = doomed.contains(&g.id)
            && (cx.destroying || !plan.security_groups.contains_key(gkey))
            && cx
                .kept_ids(Kind::SecurityGroup)
                .any(|(k, id)| k == gkey && id == g.id);
        let mut calls = Calls::default();
        for r in &g.rules {
            if r == &Rule::default_egress() {
                continue;
            }
            let named = resolve_peer(r, &g.id, &names);
            let addr = Address::new(Kind::SecurityGroupRule, format!("{gkey}.{}", named.key()));
            if listed {
                let why = if cx.destroying {
                    crate::changeset::DESTROYED.to_string()
                } else {
                    format!("goes with the group it belongs to ({gaddr})")
                };
                let attrs = rule_attrs(gkey, &named);
                cx.record(record(
                    addr.clone(),
                    Action::Delete,
                    vec![why],
                    Some(attrs),
                    None,
                ));
            }
            if let Peer::ForeignGroup(id) = &r.peer {
                if doomed.contains(id) && id != &g.id {
                    let (f, t) = r.aws_ports();
                    let rule = RuleOp {
                        protocol: r.protocol,
                        ports: (f, t),
                        cidr: None,
                        group: Some(IdRef::Id(id.clone())),
                        prefix_list: None,
                    };
                    calls.add(false, r.direction, addr, rule);
                }
            }
        }
        calls.emit(cx, &IdRef::Id(g.id.clone()));
    }
}

/// Already there / already gone (a concurrent or interrupted run, or a revoke in a
/// group that is gone itself): done.
fn already_done(grant: bool, code: Option<&str>) -> bool {
    match code {
        Some("InvalidPermission.Duplicate") => grant,
        Some("InvalidPermission.NotFound" | "InvalidGroup.NotFound") => !grant,
        _ => false,
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for SecurityGroupRule {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        let grant = matches!(op, Op::Authorize { .. });
        let (group, direction, rules) = op.parts();
        let group = id_of(group)?;
        let rules: Vec<AwsRule> = rules
            .iter()
            .map(|r| {
                Ok(AwsRule {
                    protocol: r.protocol,
                    ports: r.ports,
                    cidr: r.cidr.clone(),
                    group_id: r.group.as_ref().map(id_of).transpose()?.map(str::to_string),
                    prefix_list_id: r.prefix_list.clone(),
                })
            })
            .collect::<Result<_, NodeFailure>>()?;
        match c.change_rules(group, direction, &rules, grant).await {
            Ok(()) => Ok(None),
            Err(e) if !already_done(grant, e.code.as_deref()) => Err(e.into()),
            Err(_) if rules.len() == 1 => Ok(None),
            // AWS refuses the whole call when one rule is already there (or gone): the
            // others go one by one.
            Err(_) => {
                for r in &rules {
                    match c
                        .change_rules(group, direction, std::slice::from_ref(r), grant)
                        .await
                    {
                        Err(e) if !already_done(grant, e.code.as_deref()) => return Err(e.into()),
                        _ => {}
                    }
                }
                Ok(None)
            }
        }
    }
}
