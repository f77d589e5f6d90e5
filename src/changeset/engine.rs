//! The generic diff engine: `(Plan, Observed) -> Changeset`. Pure: no SDK types, no
//! async, no I/O.
//!
//! It runs every kind (in the order of the kind list) through the same steps: match the
//! observed resources to the plan's by their `sagevpc:key` tag (keeping, per key, the
//! copy with the lowest id in the plan's VPC), let the kind reconcile them, and delete
//! what the kind neither kept nor replaced: leftovers, duplicates, and what lives in a
//! VPC that is replaced. Deletes run in reverse kind order, each after every node that
//! lets go of what it deletes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Action, Attrs, Changeset, IdRef, Node, ResourceChange};
use crate::model::{name_tag, Address, Kind, TAG_KEY, TAG_MANAGED, TAG_NAME, TAG_PLAN};
use crate::observe::{owned_key, Observed, Tags};
use crate::plan::Plan;
use crate::resources::{self, tags::SetTags, Live, Op, ResourceKind, Tagging};

/// Why no changeset can be computed: the live state conflicts with the plan in a way
/// sagevpc must not resolve on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffError {
    pub problems: Vec<String>,
}

impl fmt::Display for DiffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for DiffError {}

pub const CHANGED_OUTSIDE: &str = "changed outside sagevpc";
/// An attribute the plan file sets differs: without a state file, a plan edit and a
/// change made by hand look the same.
pub const DIFFERS: &str = "differs from the plan (plan edited, or changed outside sagevpc)";
pub const NOT_IN_PLAN: &str = "not in plan";
pub const DESTROYED: &str = "destroy: owned by the plan";

/// Deterministic client token: plan, key and a hash of the spec, at most 64 chars.
pub fn client_token(plan: &str, addr: &Address, spec: &str) -> String {
    let mut h = Sha256::new();
    h.update(plan.as_bytes());
    h.update([0]);
    h.update(addr.to_string().as_bytes());
    h.update([0]);
    h.update(spec.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sagevpc-{}", &hex[..48])
}

/// Compact JSON text of a value.
/// What `want` has that `have` lacks, and what `have` has that `want` lacks (a list of
/// attachments compared as a set).
pub fn set_changes<'a, T: PartialEq>(want: &'a [T], have: &'a [T]) -> (Vec<&'a T>, Vec<&'a T>) {
    let missing = want.iter().filter(|w| !have.contains(w)).collect();
    let extra = have.iter().filter(|h| !want.contains(h)).collect();
    (missing, extra)
}

pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).expect("json values serialise")
}

/// The plan's VPC as far as its children are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    /// Not decided yet (the VPC kind decides it), or the plan has none.
    Unknown,
    /// An existing VPC the plan keeps (owned or adopted).
    Id(String),
    /// The plan's VPC is replaced: what lives in the old one goes with it.
    Replaced(String),
    /// A new VPC: nothing observed is in it.
    New,
}

/// The observed resources of one kind, matched to the plan by key.
#[derive(Debug)]
pub struct Matched<'o, L> {
    /// Per key, the copy the plan keeps: the lowest id in the plan's VPC.
    pub keep: BTreeMap<String, &'o L>,
    /// Other copies (from interrupted or concurrent runs) and leftovers in other VPCs,
    /// with the reason they go.
    pub dups: Vec<(&'o L, String)>,
    /// Copies in a VPC that is being replaced: they go with it.
    pub shadow: BTreeMap<String, &'o L>,
}

impl<L> Default for Matched<'_, L> {
    fn default() -> Self {
        Matched {
            keep: BTreeMap::new(),
            dups: Vec::new(),
            shadow: BTreeMap::new(),
        }
    }
}

impl<'o, L> Matched<'o, L> {
    pub fn get(&self, key: &str) -> Option<&'o L> {
        self.keep.get(key).copied()
    }
}

fn matched<'o, L: Live>(
    mut items: Vec<&'o L>,
    plan: &str,
    kind: Kind,
    home: &Home,
) -> Matched<'o, L> {
    let home_id = match home {
        Home::Id(h) => Some(h.as_str()),
        _ => None,
    };
    items.sort_by(|a, b| {
        let away = |x: &L| x.vpc_id().is_some() && x.vpc_id() != home_id;
        (away(a), a.id()).cmp(&(away(b), b.id()))
    });
    let mut m = Matched::default();
    for it in items {
        let Some(addr) = owned_key(it.tags(), plan).and_then(Address::parse) else {
            continue;
        };
        if addr.kind != kind {
            continue;
        }
        let place = match (it.vpc_id(), home) {
            (None, _) | (_, Home::Unknown) => &mut m.keep,
            (Some(v), Home::Id(h)) if v == h => &mut m.keep,
            (Some(v), Home::Replaced(old)) if v == old => &mut m.shadow,
            (Some(v), _) => {
                m.dups
                    .push((it, format!("leftover in VPC {v} (not the plan's VPC)")));
                continue;
            }
        };
        match place.get(&addr.key) {
            Some(first) => m.dups.push((it, format!("duplicate of {}", first.id()))),
            None => {
                place.insert(addr.key, it);
            }
        }
    }
    m
}

/// How a replacement is recorded and ordered.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    pub reasons: Vec<String>,
    /// Attributes that force it.
    pub paths: Vec<String>,
    pub before: Option<Attrs>,
    pub after: Attrs,
    /// The old resource must be gone before the new one can be created (it would
    /// collide: an overlapping CIDR, say).
    pub delete_first: bool,
}

/// A resource to delete, emitted once every kind has run.
struct Doomed {
    order: usize,
    addr: Address,
    steps: Vec<Op>,
    holds: Vec<String>,
    record: Option<ResourceChange>,
    /// A create that may run only once this delete is done.
    create_after: Option<usize>,
}

/// The diff's working state, shared by the kinds as they run.
pub struct Cx<'a> {
    pub plan: &'a Plan,
    pub obs: &'a Observed,
    pub destroying: bool,
    /// Destroy everything but the VPC (`destroy --keep-vpc`).
    pub keep_vpc: bool,
    pub warnings: Vec<String>,
    /// Conflicts that stop planning (see `ResourceKind::check`).
    pub problems: Vec<String>,
    nodes: Vec<Node>,
    /// What each delete node's resource held (released when it is gone).
    holds: BTreeMap<usize, Vec<String>>,
    changes: Vec<ResourceChange>,
    doomed: Vec<Doomed>,
    doomed_ids: BTreeSet<String>,
    has_owned: bool,
    home: Home,
    refs: BTreeMap<Address, IdRef>,
    kept: BTreeMap<Address, String>,
    claimed: BTreeSet<String>,
    fresh: BTreeSet<Address>,
    replaced: BTreeMap<Address, String>,
    late: BTreeSet<usize>,
}

/// Compute the changeset that brings `obs` to `plan`.
pub fn diff(plan: &Plan, obs: &Observed) -> Result<Changeset, DiffError> {
    let (placed, notes) = super::placement::place_endpoints(plan, obs);
    let mut cx = Cx::new(&placed, obs, false);
    cx.warnings.extend(notes);
    resources::check_all(&mut cx);
    super::quotas::check(&mut cx);
    if !cx.problems.is_empty() {
        return Err(DiffError {
            problems: cx.problems,
        });
    }
    resources::reconcile_all(&mut cx);
    cx.finish()
}

/// The changeset that deletes everything `plan` owns, in reverse dependency order. An
/// adopted VPC and anything not tagged with the plan are never touched.
pub fn destroy(plan: &Plan, obs: &Observed) -> Result<Changeset, DiffError> {
    changes_for(plan, obs, Goal::Destroy { keep_vpc: false })
}

/// What a run is for: bring AWS to the plan, or remove what the plan owns (all of it,
/// or all but its VPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Apply,
    Destroy { keep_vpc: bool },
}

impl Goal {
    pub fn is_destroy(self) -> bool {
        matches!(self, Goal::Destroy { .. })
    }

    /// The command's name: `apply` or `destroy`.
    pub fn verb(self) -> &'static str {
        if self.is_destroy() {
            "destroy"
        } else {
            "apply"
        }
    }
}

/// The changeset for `goal`.
pub fn changes_for(plan: &Plan, obs: &Observed, goal: Goal) -> Result<Changeset, DiffError> {
    match goal {
        Goal::Apply => diff(plan, obs),
        Goal::Destroy { keep_vpc } => {
            let mut cx = Cx::new(plan, obs, true);
            cx.keep_vpc = keep_vpc;
            resources::reconcile_all(&mut cx);
            cx.finish()
        }
    }
}

impl<'a> Cx<'a> {
    fn new(plan: &'a Plan, obs: &'a Observed, destroying: bool) -> Cx<'a> {
        Cx {
            plan,
            obs,
            destroying,
            keep_vpc: false,
            warnings: Vec::new(),
            problems: Vec::new(),
            nodes: Vec::new(),
            holds: BTreeMap::new(),
            changes: Vec::new(),
            doomed: Vec::new(),
            doomed_ids: BTreeSet::new(),
            has_owned: resources::any_owned(obs, &plan.name),
            home: Home::Unknown,
            refs: BTreeMap::new(),
            kept: BTreeMap::new(),
            claimed: BTreeSet::new(),
            fresh: BTreeSet::new(),
            replaced: BTreeMap::new(),
            late: BTreeSet::new(),
        }
    }

    /// Run one kind: match, reconcile (or retire), and doom what is left.
    pub(crate) fn run<K: ResourceKind>(&mut self) {
        let live: Matched<K::Live> = if K::OWNED_BY_TAG {
            matched(K::live(self.obs), &self.plan.name, K::KIND, &self.home)
        } else {
            Matched::default()
        };
        for (k, o) in &live.keep {
            self.kept
                .insert(Address::new(K::KIND, k), o.id().to_string());
        }
        if self.destroying {
            K::retire(self, &live);
        } else {
            K::reconcile(self, &live);
        }
        let reason = if self.destroying {
            DESTROYED
        } else {
            NOT_IN_PLAN
        };
        for (key, o) in &live.keep {
            if !self.claimed.contains(o.id()) && !self.doomed_ids.contains(o.id()) {
                self.doom::<K>(
                    Address::new(K::KIND, key),
                    o,
                    Some(vec![reason.into()]),
                    None,
                );
            }
        }
        for (key, o) in &live.shadow {
            self.retire_shadow::<K>(Address::new(K::KIND, key), o);
        }
        for (o, why) in &live.dups {
            let key = owned_key(o.tags(), &self.plan.name)
                .and_then(Address::parse)
                .map(|a| a.key)
                .unwrap_or_default();
            self.doom::<K>(Address::new(K::KIND, key), o, Some(vec![why.clone()]), None);
        }
    }

    /// A resource in a VPC that is replaced: if the plan has it, it is replaced with the
    /// VPC (its create becomes a replacement); if not, it is deleted.
    fn retire_shadow<K: ResourceKind>(&mut self, addr: Address, o: &K::Live) {
        let vpc = Address::new(Kind::Vpc, crate::resources::vpc::KEY);
        let created = self
            .changes
            .iter_mut()
            .find(|c| c.address == addr && c.action == Action::Create);
        match created {
            Some(c) => {
                // Shown as the plan's attributes, what AWS has where the kind shows it,
                // and the VPC that forces the replacement.
                if let Some(after) = c.after.as_mut() {
                    after.remove("tags"); // the same tags again: not a change to show
                    after.insert("vpc".into(), json!(format!("{vpc} (new)")));
                }
                let mut before = c.after.clone().unwrap_or_default();
                before.extend(K::shown(o).unwrap_or_default());
                before.insert("vpc".into(), json!(o.vpc_id()));
                c.action = Action::Replace;
                c.id = Some(o.id().to_string());
                c.reasons = vec![format!("its VPC is replaced ({vpc})")];
                c.before = Some(before);
                c.replace_paths = vec!["vpc".into()];
                self.replaced.insert(addr.clone(), o.id().to_string());
                self.doom::<K>(addr, o, None, None);
            }
            None => self.doom::<K>(addr, o, Some(vec![NOT_IN_PLAN.into()]), None),
        }
    }

    /// Delete `o` once every kind has run. `reasons`: the change record to show (none
    /// when it is part of a replacement).
    pub fn doom<K: ResourceKind>(
        &mut self,
        addr: Address,
        o: &K::Live,
        reasons: Option<Vec<String>>,
        create_after: Option<usize>,
    ) {
        let record = reasons.map(|reasons| ResourceChange {
            address: addr.clone(),
            action: Action::Delete,
            id: Some(o.id().to_string()),
            reasons,
            before: K::shown(o),
            after: None,
            replace_paths: vec![],
        });
        self.doomed_ids.insert(o.id().to_string());
        self.doomed.push(Doomed {
            order: K::KIND as usize,
            addr,
            steps: K::delete(o),
            holds: o.holds().into_iter().map(str::to_string).collect(),
            record,
            create_after,
        });
    }

    // ------------------------------------------------------------------ for the kinds

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn set_home(&mut self, home: Home) {
        self.home = home;
    }

    /// The plan's VPC, as a reference for its children's creates.
    pub fn vpc_ref(&self) -> IdRef {
        self.reference(&Address::new(Kind::Vpc, crate::resources::vpc::KEY))
            .unwrap_or_else(|| IdRef::Id(String::new()))
    }

    /// Whether the plan's VPC is created by this changeset (so all its children are).
    pub fn vpc_is_new(&self) -> bool {
        matches!(self.vpc_ref(), IdRef::Node(_))
    }

    /// The id (or the creating node) a resource of the plan has after this changeset.
    pub fn reference(&self, addr: &Address) -> Option<IdRef> {
        self.refs.get(addr).cloned()
    }

    pub fn set_ref(&mut self, addr: Address, r: IdRef) {
        self.refs.insert(addr, r);
    }

    /// Add a node; it depends on the nodes it refers to and on `extra`.
    pub fn node(&mut self, addr: &Address, op: impl Into<Op>, extra: &[usize]) -> usize {
        self.node_for(std::slice::from_ref(addr), op, extra)
    }

    /// Add one node (one call) that acts for several resources, the first named first.
    pub fn node_for(&mut self, addrs: &[Address], op: impl Into<Op>, extra: &[usize]) -> usize {
        let op = op.into();
        let mut deps = op.refs();
        deps.extend_from_slice(extra);
        deps.sort_unstable();
        deps.dedup();
        self.nodes.push(Node {
            address: addrs[0].clone(),
            op,
            deps,
            covers: addrs[1..].to_vec(),
        });
        self.nodes.len() - 1
    }

    /// The nodes emitted so far for `addr`.
    pub fn nodes_for(&self, addr: &Address) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| &self.nodes[i].address == addr)
            .collect()
    }

    pub fn op_of(&self, node: usize) -> &Op {
        &self.nodes[node].op
    }

    /// The tags a resource of the plan is created with.
    pub fn tags(&self, addr: &Address) -> Tags {
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

    /// Why a resource of the plan is created: nothing to say on a first apply.
    pub fn missing_reason(&self) -> Vec<String> {
        if self.has_owned {
            vec![format!(
                "not found in AWS: new in the plan, or deleted ({CHANGED_OUTSIDE})"
            )]
        } else {
            Vec::new()
        }
    }

    pub fn record(&mut self, change: ResourceChange) {
        self.changes.push(change);
    }

    /// Whether this changeset already has a record for `addr`.
    pub fn has_record(&self, addr: &Address) -> bool {
        self.changes.iter().any(|c| &c.address == addr)
    }

    /// Turn `addr`'s create record into a replacement of `old_id`, forced by `path`.
    pub fn record_replacement(
        &mut self,
        addr: &Address,
        old_id: &str,
        why: &str,
        attrs: Attrs,
        path: &str,
    ) {
        if let Some(c) = self.changes.iter_mut().rev().find(|c| &c.address == addr) {
            c.action = Action::Replace;
            c.id = Some(old_id.to_string());
            c.reasons = vec![why.to_string()];
            c.before = Some(attrs);
            c.replace_paths = vec![path.to_string()];
        }
    }

    /// Keep an observed resource: it is not deleted.
    pub fn claim(&mut self, id: &str) {
        self.claimed.insert(id.to_string());
    }

    /// An existing resource that stays as it is.
    pub fn unchanged(&mut self, addr: Address, id: &str, reasons: Vec<String>) {
        self.keep_ref(&addr, id);
        self.changes.push(ResourceChange {
            address: addr,
            action: Action::NoOp,
            id: Some(id.to_string()),
            reasons,
            before: None,
            after: None,
            replace_paths: vec![],
        });
    }

    /// An existing resource changed in place (its nodes are emitted by the kind).
    pub fn changed(
        &mut self,
        addr: Address,
        id: &str,
        reasons: Vec<String>,
        before: Attrs,
        after: Attrs,
    ) {
        self.keep_ref(&addr, id);
        self.changes.push(ResourceChange {
            address: addr,
            action: Action::Update,
            id: Some(id.to_string()),
            reasons,
            before: Some(before),
            after: Some(after),
            replace_paths: vec![],
        });
    }

    /// No-op, or an update with these attributes when `before` is not empty.
    pub fn unchanged_or_changed(
        &mut self,
        addr: Address,
        id: &str,
        reason: String,
        before: Attrs,
        after: Attrs,
    ) {
        if before.is_empty() {
            self.unchanged(addr, id, vec![]);
        } else {
            self.changed(addr, id, vec![reason], before, after);
        }
    }

    fn keep_ref(&mut self, addr: &Address, id: &str) {
        self.claim(id);
        self.refs
            .entry(addr.clone())
            .or_insert_with(|| IdRef::Id(id.to_string()));
    }

    /// A new resource created by `node`.
    pub fn created(&mut self, addr: Address, node: usize, after: Attrs) {
        let reasons = self.missing_reason();
        self.created_because(addr, node, reasons, after);
    }

    pub fn created_because(
        &mut self,
        addr: Address,
        node: usize,
        reasons: Vec<String>,
        mut after: Attrs,
    ) {
        self.refs.insert(addr.clone(), IdRef::Node(node));
        self.fresh.insert(addr.clone());
        if addr.kind.tagging() != Tagging::None {
            after.insert("tags".into(), json!(self.tags(&addr)));
        }
        self.changes.push(ResourceChange {
            address: addr,
            action: Action::Create,
            id: None,
            reasons,
            before: None,
            after: Some(after),
            replace_paths: vec![],
        });
    }

    /// `old` is replaced by what `node` creates.
    pub fn replaced<K: ResourceKind>(
        &mut self,
        addr: Address,
        old: &K::Live,
        node: usize,
        r: Replacement,
    ) {
        self.refs.insert(addr.clone(), IdRef::Node(node));
        self.fresh.insert(addr.clone());
        self.replaced.insert(addr.clone(), old.id().to_string());
        if r.delete_first {
            self.late.insert(node);
        }
        self.changes.push(ResourceChange {
            address: addr.clone(),
            action: Action::Replace,
            id: Some(old.id().to_string()),
            reasons: r.reasons,
            before: r.before,
            after: Some(r.after),
            replace_paths: r.paths,
        });
        self.doom::<K>(addr, old, None, r.delete_first.then_some(node));
    }

    /// Whether `addr` is created anew by this changeset (created or replaced).
    pub fn is_fresh(&self, addr: &Address) -> bool {
        self.fresh.contains(addr)
    }

    /// The id of the resource `addr` replaces.
    pub fn replaced_old(&self, addr: &Address) -> Option<&str> {
        self.replaced.get(addr).map(String::as_str)
    }

    /// Whether `r` is created only after the resource it replaces is deleted.
    pub fn is_late(&self, r: &IdRef) -> bool {
        matches!(r, IdRef::Node(n) if self.late.contains(n))
    }

    /// The observed resource the plan keeps at `kind.key`.
    pub fn existing<K: ResourceKind>(&self, key: &str) -> Option<&'a K::Live> {
        let id = self.kept.get(&Address::new(K::KIND, key))?;
        if !self.claimed.contains(id) {
            return None;
        }
        K::live(self.obs).into_iter().find(|l| l.id() == id)
    }

    /// Every observed copy matched for a kind's keys (kept or not): key and id.
    pub fn kept_ids(&self, kind: Kind) -> impl Iterator<Item = (&str, &str)> {
        self.kept
            .iter()
            .filter(move |(a, _)| a.kind == kind)
            .map(|(a, id)| (a.key.as_str(), id.as_str()))
    }

    /// Ids that this changeset deletes (so far: kinds run in order).
    pub fn doomed_ids(&self) -> &BTreeSet<String> {
        &self.doomed_ids
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

    /// Restore `addr`'s tags if they drifted: one tag node on `resource`; returns the
    /// reason and the attributes before and after, or `None` when the tags match.
    pub fn tag_update(
        &mut self,
        addr: &Address,
        resource: IdRef,
        observed: &Tags,
    ) -> Option<(String, Attrs, Attrs)> {
        if addr.kind.tagging() == Tagging::None {
            return None;
        }
        let (set, remove, before, after) = self.tag_drift(addr, observed);
        if set.is_empty() && remove.is_empty() {
            return None;
        }
        let reason = self.tag_reason(&set, &remove);
        let op = SetTags {
            tagging: addr.kind.tagging(),
            resource,
            set,
            remove,
        };
        self.node(addr, op, &[]);
        Some((reason, before, after))
    }

    /// An existing resource whose only in-place attribute is its tags: no-op, or an
    /// update that restores them.
    pub fn tags_only<L: Live>(&mut self, addr: Address, o: &L) {
        match self.tag_update(&addr, IdRef::Id(o.id().to_string()), o.tags()) {
            None => self.unchanged(addr, o.id(), vec![]),
            Some((reason, tb, ta)) => self.changed(addr, o.id(), vec![reason], tb, ta),
        }
    }

    // ------------------------------------------------------------------ the end

    fn finish(mut self) -> Result<Changeset, DiffError> {
        let mut doomed = std::mem::take(&mut self.doomed);
        // Deletes are listed, and emitted, in the order they run: children first.
        doomed.sort_by_key(|d| std::cmp::Reverse(d.order));
        for d in doomed {
            if let Some(r) = d.record {
                self.changes.push(r);
            }
            let mut prev: Vec<usize> = Vec::new();
            for op in d.steps {
                prev = vec![self.node(&d.addr, op, &prev)];
            }
            if let Some(&last) = prev.first() {
                self.holds.insert(last, d.holds);
                if let Some(c) = d.create_after {
                    self.nodes[c].deps.push(last);
                }
            }
        }
        self.order_deletes();
        self.coalesce();
        let cs = Changeset {
            plan: self.plan.name.clone(),
            region: self.plan.region.clone(),
            changes: self.changes,
            nodes: self.nodes,
            warnings: self.warnings,
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

    /// A delete waits for every node that lets go of what it deletes (the deletes of
    /// what held it, the updates that stop using it) or acts on it. This is the reverse
    /// of the create order, derived rather than listed.
    fn order_deletes(&mut self) {
        let mut letting_go: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let held = self.holds.get(&i).into_iter().flatten().cloned();
            // What acts on a resource (revokes a rule of a group, modifies an
            // endpoint) runs before that resource is deleted.
            let acted_on = n.op.target().map(str::to_string);
            for id in n.op.releases().into_iter().chain(held).chain(acted_on) {
                letting_go.entry(id).or_default().push(i);
            }
        }
        let nodes = &self.nodes;
        let mut all_waits: Vec<Vec<usize>> = Vec::with_capacity(nodes.len());
        for i in 0..nodes.len() {
            let deletes = nodes[i].op.deletes();
            let addr = &nodes[i].address;
            // A step that is not a delete (a detach) waits for what holds the resource,
            // not for the resource's own later steps.
            let waits: Vec<usize> = nodes[i]
                .op
                .awaits()
                .into_iter()
                .flat_map(|id| {
                    let not_deleted = !deletes.contains(&id);
                    letting_go
                        .get(id)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(move |&j| !not_deleted || &nodes[j].address != addr)
                })
                .filter(|&j| j != i)
                .collect();
            all_waits.push(waits);
        }
        for (i, waits) in all_waits.into_iter().enumerate() {
            let deps = &mut self.nodes[i].deps;
            deps.extend(waits);
            deps.sort_unstable();
            deps.dedup();
        }
    }

    /// One call where one can do for several nodes: nodes whose ops merge
    /// (`Op::absorb`) and that wait for the same nodes become one. Whatever waited for
    /// any of them waits for the merged one.
    fn coalesce(&mut self) {
        let n = self.nodes.len();
        let mut into: Vec<Option<usize>> = vec![None; n];
        let mut first_with: Vec<usize> = Vec::new();
        for (i, merged) in into.iter_mut().enumerate() {
            let host = first_with.iter().copied().find(|&f| {
                self.nodes[f].deps == self.nodes[i].deps && {
                    let other = self.nodes[i].op.clone();
                    let mut probe = self.nodes[f].op.clone();
                    probe.absorb(&other)
                }
            });
            match host {
                Some(f) => {
                    let other = self.nodes[i].clone();
                    self.nodes[f].op.absorb(&other.op);
                    self.nodes[f].covers.extend(other.addresses().cloned());
                    *merged = Some(f);
                }
                None => first_with.push(i),
            }
        }
        if into.iter().all(Option::is_none) {
            return;
        }
        let mut index = vec![0usize; n];
        let mut next = 0;
        for (i, host) in into.iter().enumerate() {
            if host.is_none() {
                index[i] = next;
                next += 1;
            }
        }
        for (i, host) in into.iter().enumerate() {
            if let Some(f) = host {
                index[i] = index[*f];
            }
        }
        let old = std::mem::take(&mut self.nodes);
        for (i, mut node) in old.into_iter().enumerate() {
            if into[i].is_some() {
                continue;
            }
            for d in &mut node.deps {
                *d = index[*d];
            }
            node.deps.sort_unstable();
            node.deps.dedup();
            for r in node.op.refs_mut() {
                if let IdRef::Node(x) = r {
                    *x = index[*x];
                }
            }
            self.nodes.push(node);
        }
    }
}
