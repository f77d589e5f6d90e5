//! `sagevpc adopt`: which existing resources, made without sagevpc, are the plan's
//! (subnets by CIDR and zone, the private route table by the plan subnets it is
//! associated with, groups by name, endpoints by service), and the live state as it
//! will be once they carry the plan's ownership tags. Pure: no SDK types, no I/O.
//!
//! A resource tagged with another plan is never taken (it is named, with its plan); nor
//! is what AWS makes with a VPC and removes only with it (its default group, its main
//! route table), nor a route table with a route to an internet gateway (the plan's
//! table is private). The diff of the plan against the adopted state is what the next
//! `plan` shows: only the real differences.

use std::collections::BTreeSet;

use serde_json::json;

use super::{Action, Changeset, IdRef, Node, ResourceChange};
use crate::model::{name_tag, Address, Kind, TAG_KEY, TAG_PLAN};
use crate::observe::unowned::Unowned;
use crate::observe::{owned_key, Observed, ObservedEndpoint, Tags};
use crate::plan::{Plan, VpcSpec};
use crate::resources::endpoint::EndpointType;
use crate::resources::tags::SetTags;
use crate::resources::{attrs, route_table, vpc, Live, Op};

/// One existing resource the plan takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub address: Address,
    pub id: String,
    /// How it matched: `10.20.1.0/24 in us-east-1a`.
    pub matched_by: String,
}

/// What `adopt` would do: the resources it takes, and the matches it does not take
/// (with why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adoption {
    pub takes: Vec<Take>,
    pub refused: Vec<String>,
}

/// The VPC whose resources may be adopted: the plan's (adopted by id, or owned), or
/// for a plan that creates its VPC the one untagged VPC with its CIDR.
pub fn home_id(
    plan: &Plan,
    obs: &Observed,
    vpcs: &[crate::observe::ObservedVpc],
) -> Option<String> {
    if let Some(v) = obs.vpc_of(plan) {
        return Some(v.id.clone());
    }
    let mut free = vpcs.iter().filter(|v| !v.tags.contains_key(TAG_PLAN));
    match (&plan.vpc, free.next(), free.next()) {
        (VpcSpec::Owned { .. }, Some(v), None) => Some(v.id.clone()),
        _ => None,
    }
}

/// Match the plan's resources that it does not own yet to `found`.
pub fn find(plan: &Plan, obs: &Observed, found: &Unowned) -> Adoption {
    let mut a = Adoption::default();
    take_vpc(plan, obs, found, &mut a);
    let Some(home) = home_id(plan, obs, &found.vpcs) else {
        return a;
    };
    let mut m = Matcher {
        plan,
        home: &home,
        a,
    };
    for (key, spec) in &plan.subnets {
        let (cidr, az) = (spec.cidr.to_string(), &spec.availability_zone);
        let hits = found
            .subnets
            .iter()
            .filter(|s| s.cidr == cidr && &s.availability_zone == az);
        let owned = &obs.subnets;
        m.consider(Address::new(Kind::Subnet, key), owned, hits, |s| {
            format!("{} in {}", s.cidr, s.availability_zone)
        });
    }
    m.route_table(obs, found);
    for key in plan.security_groups.keys() {
        let addr = Address::new(Kind::SecurityGroup, key);
        if key == "default" {
            m.a.refused.push(format!(
                "{addr}: the VPC's default group is never taken (AWS deletes it only with the VPC)"
            ));
            continue;
        }
        let ours = name_tag(&plan.name, &addr);
        // The name sagevpc would give it first, then the plan's key as the name.
        let mut hits: Vec<_> = found
            .security_groups
            .iter()
            .filter(|g| g.name == ours || &g.name == key)
            .collect();
        hits.sort_by_key(|g| g.name != ours);
        hits.truncate(1);
        m.consider(addr, &obs.security_groups, hits.into_iter(), |g| {
            format!("named {:?}", g.name)
        });
    }
    let services = plan
        .gateway_endpoints
        .iter()
        .map(|(k, g)| {
            (
                Kind::GatewayEndpoint,
                k,
                &g.service_name,
                EndpointType::Gateway,
            )
        })
        .chain(plan.interface_endpoints.iter().map(|(k, e)| {
            (
                Kind::InterfaceEndpoint,
                k,
                &e.service_name,
                EndpointType::Interface,
            )
        }));
    for (kind, key, service, ty) in services {
        let hits = found
            .endpoints
            .iter()
            .filter(|e| &e.service_name == service && e.endpoint_type == ty);
        m.consider(Address::new(kind, key), &obs.endpoints, hits, |e| {
            format!("{} endpoint for {}", kind_word(e), e.service_name)
        });
    }
    m.a
}

fn kind_word(e: &ObservedEndpoint) -> &'static str {
    match e.endpoint_type {
        EndpointType::Gateway => "gateway",
        EndpointType::Interface => "interface",
    }
}

/// A plan that creates its VPC takes the one untagged VPC with its CIDR.
fn take_vpc(plan: &Plan, obs: &Observed, found: &Unowned, a: &mut Adoption) {
    let VpcSpec::Owned { cidr } = &plan.vpc else {
        return;
    };
    if obs.vpc_of(plan).is_some() {
        return;
    }
    let addr = vpc::address();
    for v in &found.vpcs {
        if let Some(p) = v.tags.get(TAG_PLAN) {
            a.refused.push(format!(
                "{addr}: {} has CIDR {cidr} but is sagevpc plan {p:?}'s",
                v.id
            ));
        }
    }
    let free: Vec<_> = found
        .vpcs
        .iter()
        .filter(|v| !v.tags.contains_key(TAG_PLAN))
        .collect();
    match free.as_slice() {
        [] => {}
        [v] => a.takes.push(Take {
            address: addr,
            id: v.id.clone(),
            matched_by: format!("CIDR {cidr}"),
        }),
        many => a.refused.push(format!(
            "{addr}: {} VPCs have CIDR {cidr} ({}): none is taken; name the one to use with `[vpc] id = ...`, or tag it with {TAG_PLAN} and {TAG_KEY} by hand",
            many.len(),
            many.iter().map(|v| v.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

struct Matcher<'a> {
    plan: &'a Plan,
    home: &'a str,
    a: Adoption,
}

impl Matcher<'_> {
    fn taken(&self) -> BTreeSet<&str> {
        self.a.takes.iter().map(|t| t.id.as_str()).collect()
    }

    /// Take the first untagged hit in the VPC for `addr`, unless the plan owns one
    /// already; name the hits that belong to another plan.
    fn consider<'o, L: Live + 'o>(
        &mut self,
        addr: Address,
        owned: &[L],
        hits: impl Iterator<Item = &'o L>,
        how: impl Fn(&L) -> String,
    ) {
        let me = addr.to_string();
        if owned
            .iter()
            .any(|o| owned_key(o.tags(), &self.plan.name) == Some(me.as_str()))
        {
            return;
        }
        let taken = self.taken();
        let mut hits: Vec<&L> = hits
            .filter(|h| h.vpc_id().is_none_or(|v| v == self.home))
            .filter(|h| !taken.contains(h.id()))
            .filter(|h| h.tags().get(TAG_PLAN) != Some(&self.plan.name))
            .collect();
        hits.sort_by(|x, y| x.id().cmp(y.id()));
        let mut chosen: Option<&L> = None;
        for h in hits {
            match (h.tags().get(TAG_PLAN), chosen) {
                (Some(p), _) => self.a.refused.push(format!(
                    "{addr}: {} ({}) is sagevpc plan {p:?}'s: another plan's resource is never taken",
                    h.id(),
                    how(h)
                )),
                (None, None) => chosen = Some(h),
                (None, Some(c)) => self.a.refused.push(format!(
                    "{addr}: {} ({}) also matches; {} is taken",
                    h.id(),
                    how(h),
                    c.id()
                )),
            }
        }
        if let Some(c) = chosen {
            self.a.takes.push(Take {
                address: addr,
                id: c.id().to_string(),
                matched_by: how(c),
            });
        }
    }

    /// The private route table: the untagged table associated with most of the plan's
    /// subnets (adopted or owned). The main table and a table with a route to an
    /// internet gateway are not taken.
    fn route_table(&mut self, obs: &Observed, found: &Unowned) {
        let addr = route_table::private();
        let key = addr.to_string();
        let owns = |tags: &Tags| owned_key(tags, &self.plan.name) == Some(key.as_str());
        if !self.plan.has_route_table() || obs.route_tables.iter().any(|r| owns(&r.tags)) {
            return;
        }
        let subnets = self.plan_subnets(obs);
        let score = |r: &&crate::observe::ObservedRouteTable| {
            r.associations
                .iter()
                .filter(|x| subnets.iter().any(|(id, _)| id == &x.subnet_id))
                .count()
        };
        let mut tables: Vec<_> = found
            .route_tables
            .iter()
            .filter(|r| r.tags.get(TAG_PLAN) != Some(&self.plan.name) && score(r) > 0)
            .collect();
        tables.sort_by(|x, y| score(y).cmp(&score(x)).then(x.id.cmp(&y.id)));
        let Some(rt) = tables.first() else { return };
        let names: Vec<&str> = subnets
            .iter()
            .filter(|(id, _)| rt.associations.iter().any(|x| &x.subnet_id == id))
            .map(|(_, k)| k.as_str())
            .collect();
        let how = format!("associated with {}", names.join(", "));
        let igw = rt.routes.iter().find(|r| r.target.starts_with("igw-"));
        let why_not = if rt.main {
            Some("is the VPC's main route table (AWS deletes it only with the VPC)".to_string())
        } else if let Some(r) = igw {
            Some(format!(
                "routes {} to internet gateway {}: the plan's table is private",
                r.destination, r.target
            ))
        } else {
            rt.tags
                .get(TAG_PLAN)
                .map(|p| format!("is sagevpc plan {p:?}'s: another plan's resource is never taken"))
        };
        match why_not {
            Some(why) => self
                .a
                .refused
                .push(format!("{addr}: {} ({how}) {why}", rt.id)),
            None => self.a.takes.push(Take {
                address: addr,
                id: rt.id.clone(),
                matched_by: how,
            }),
        }
    }

    /// The plan's subnets that exist: (id, address) of the owned and the taken.
    fn plan_subnets(&self, obs: &Observed) -> Vec<(String, String)> {
        let owned = obs.subnets.iter().filter_map(|s| {
            let key = owned_key(&s.tags, &self.plan.name)?;
            Some((s.id.clone(), key.to_string()))
        });
        let taken = self
            .a
            .takes
            .iter()
            .filter(|t| t.address.kind == Kind::Subnet)
            .map(|t| (t.id.clone(), t.address.to_string()));
        owned.chain(taken).collect()
    }
}

/// The ownership tags a take gets.
fn ownership(plan: &Plan, addr: &Address) -> Tags {
    Tags::from([
        (TAG_PLAN.to_string(), plan.name.clone()),
        (TAG_KEY.to_string(), addr.to_string()),
    ])
}

fn tagged<L: Live>(item: &L, plan: &Plan, addr: &Address, tags: impl Fn(&mut L) -> &mut Tags) -> L {
    let mut l = item.clone();
    tags(&mut l).extend(ownership(plan, addr));
    l
}

impl Adoption {
    pub fn is_empty(&self) -> bool {
        self.takes.is_empty()
    }

    /// The live state once every take carries the plan's tags: what `plan` will read
    /// after the adoption. What `observe` reads only in the plan's VPC (other
    /// subnets, route tables, foreign endpoints) comes from `found`, which read it.
    pub fn adopted(&self, plan: &Plan, obs: &Observed, found: &Unowned) -> Observed {
        let mut o = obs.clone();
        let take = |id: &str| self.takes.iter().find(|t| t.id == id);
        for v in &found.vpcs {
            if let Some(t) = take(&v.id) {
                o.vpcs.push(tagged(v, plan, &t.address, |x| &mut x.tags));
            }
        }
        for s in &found.subnets {
            if let Some(t) = take(&s.id) {
                o.subnets.push(tagged(s, plan, &t.address, |x| &mut x.tags));
            }
        }
        for r in &found.route_tables {
            if let Some(t) = take(&r.id) {
                o.route_tables
                    .push(tagged(r, plan, &t.address, |x| &mut x.tags));
            }
        }
        for g in &found.security_groups {
            if let Some(t) = take(&g.id) {
                o.security_groups
                    .push(tagged(g, plan, &t.address, |x| &mut x.tags));
            }
        }
        for e in &found.endpoints {
            if let Some(t) = take(&e.id) {
                o.endpoints
                    .push(tagged(e, plan, &t.address, |x| &mut x.tags));
            }
        }
        if self.takes.iter().any(|t| t.address.kind == Kind::Vpc) {
            o.vpc_subnets = found.subnets.clone();
            o.vpc_route_tables = found.route_tables.clone();
            for v in o.vpcs.iter_mut().filter(|v| take(&v.id).is_some()) {
                // `observe` reads the home VPC's DNS attributes; `found` has them.
                if let Some(f) = found.vpcs.iter().find(|f| f.id == v.id) {
                    (v.dns_support, v.dns_hostnames) = (f.dns_support, f.dns_hostnames);
                }
            }
            o.foreign_endpoints = found
                .endpoints
                .iter()
                .filter(|e| owned_key(&e.tags, &plan.name).is_none() && take(&e.id).is_none())
                .cloned()
                .collect();
        } else {
            o.foreign_endpoints.retain(|e| take(&e.id).is_none());
        }
        // The VPC's other subnets and tables, as read, carry the new tags too.
        for s in &mut o.vpc_subnets {
            if let Some(t) = take(&s.id) {
                s.tags.extend(ownership(plan, &t.address));
            }
        }
        for r in &mut o.vpc_route_tables {
            if let Some(t) = take(&r.id) {
                r.tags.extend(ownership(plan, &t.address));
            }
        }
        o
    }

    /// The tag writes that adopt: one `CreateTags` per take, none depending on another.
    pub fn changeset(&self, plan: &Plan) -> Changeset {
        let nodes = self
            .takes
            .iter()
            .map(|t| Node {
                address: t.address.clone(),
                op: Op::Tags(SetTags {
                    tagging: t.address.kind.tagging(),
                    resource: IdRef::Id(t.id.clone()),
                    set: ownership(plan, &t.address),
                    remove: Vec::new(),
                }),
                deps: Vec::new(),
                covers: Vec::new(),
            })
            .collect();
        let changes = self
            .takes
            .iter()
            .map(|t| ResourceChange {
                address: t.address.clone(),
                action: Action::Update,
                id: Some(t.id.clone()),
                reasons: vec![format!("adopt: {}", t.matched_by)],
                before: None,
                after: Some(attrs([("tags", json!(ownership(plan, &t.address)))])),
                replace_paths: Vec::new(),
            })
            .collect();
        Changeset {
            plan: plan.name.clone(),
            region: plan.region.clone(),
            changes,
            nodes,
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
