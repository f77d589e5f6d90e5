//! Subnets of the plan, private (`[subnets]`) and public (`[egress.public_subnets]`),
//! each associated with its route table. AZ and CIDR
//! force replacement; a new CIDR that overlaps the old one is created only after the old
//! subnet is deleted.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::vpc::ObservedVpc;
use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched, Replacement};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{owned_key, Observed, Tags};
use crate::plan::{SubnetSpec, VpcSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedSubnet {
    pub id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    /// The zone's ID (`use1-az1`), when AWS tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone_id: Option<String>,
    pub cidr: String,
    pub tags: Tags,
    /// Free IPv4 addresses (`AvailableIpAddressCount`), for Studio's capacity check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_ips: Option<u32>,
}

impl Live for ObservedSubnet {
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
        vec![&self.vpc_id]
    }
    /// Free addresses change with every ENI in the subnet (anyone's): not state a
    /// saved plan depends on.
    fn normalize(&mut self) {
        self.available_ips = None;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        vpc: IdRef,
        availability_zone: String,
        cidr: String,
        tags: Tags,
    },
    Delete {
        subnet: String,
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
            Op::Create { .. } => "CreateSubnet",
            Op::Delete { .. } => "DeleteSubnet",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { subnet } => vec![subnet],
            Op::Create { .. } => vec![],
        }
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Delete { subnet } => Some(subnet),
            Op::Create { vpc, .. } => vpc.id(),
        }
    }
}

/// The subnet calls, in the tool's own types.
pub trait Api: Send + Sync {
    fn describe_subnets_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedSubnet>>;
    /// Existing subnets the plan names by id.
    fn describe_subnets_by_ids(&self, ids: &[String]) -> impl Call<Vec<ObservedSubnet>>;
    /// Every subnet of a VPC (to check that new ones do not overlap them).
    fn describe_subnets_in_vpc(&self, vpc_id: &str) -> impl Call<Vec<ObservedSubnet>>;
    fn create_subnet(&self, vpc_id: &str, az: &str, cidr: &str, tags: &Tags) -> impl Call<String>;
    /// The region's available zones (names and IDs), read when the plan gives zones by ID.
    fn describe_zones(&self) -> impl Call<Vec<crate::plan::zones::Zone>>;
    /// Retries `DependencyViolation` for a bounded time; a subnet already gone is done.
    fn delete_subnet(&self, id: &str) -> impl Call<()>;
}

pub struct Subnet;

impl ResourceKind for Subnet {
    const KIND: Kind = Kind::Subnet;
    const NAME: &'static str = "subnet";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedSubnet;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedSubnet> {
        obs.subnets.iter().collect()
    }

    fn check(cx: &mut Cx) {
        let Some(vpc) = cx.obs.vpc_of(cx.plan) else {
            return;
        };
        // An owned VPC with another CIDR is replaced: the subnets go into the new one.
        if matches!(&cx.plan.vpc, VpcSpec::Owned { cidr } if cidr.to_string() != vpc.cidr) {
            return;
        }
        for (key, spec) in cx.plan.every_subnet() {
            if let Some(p) = placement_problem(cx, vpc, key, spec) {
                cx.problems.push(p);
            }
        }
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedSubnet>) {
        let plan = cx.plan;
        for (key, spec) in plan.every_subnet() {
            let addr = Address::new(Kind::Subnet, key);
            let want = want_attrs(spec);
            match live.get(key) {
                Some(s)
                    if s.cidr == spec.cidr.to_string()
                        && s.availability_zone == spec.availability_zone =>
                {
                    cx.tags_only(addr, s)
                }
                Some(s) => {
                    let n = create(cx, &addr, spec);
                    let r = replacement(s, spec, want);
                    cx.replaced::<Subnet>(addr, s, n, r);
                }
                None => {
                    let n = create(cx, &addr, spec);
                    cx.created(addr, n, want);
                }
            }
        }
    }

    fn delete(o: &ObservedSubnet) -> Vec<super::Op> {
        vec![Op::Delete {
            subnet: o.id.clone(),
        }
        .into()]
    }

    fn shown(o: &ObservedSubnet) -> Option<Attrs> {
        Some(attrs([
            ("availability_zone", json!(o.availability_zone)),
            ("cidr", json!(o.cidr)),
        ]))
    }
}

/// A new subnet must lie in one of the VPC's CIDR blocks (checked offline for an
/// owned VPC, whose CIDR the plan gives; here for an adopted one) and overlap none of the subnets already there
/// that the plan does not own: AWS would refuse the create half-way through an apply.
fn placement_problem(cx: &Cx, vpc: &ObservedVpc, key: &str, spec: &SubnetSpec) -> Option<String> {
    let ours = |s: &ObservedSubnet| owned_key(&s.tags, &cx.plan.name).is_some();
    let mut blocks: Vec<Ipv4Net> = Vec::new();
    for b in std::iter::once(&vpc.cidr).chain(&vpc.cidrs) {
        if let Ok(b) = b.parse() {
            if !blocks.contains(&b) {
                blocks.push(b);
            }
        }
    }
    let others: Vec<&ObservedSubnet> = cx.obs.vpc_subnets.iter().filter(|s| !ours(s)).collect();
    let taken: Vec<Ipv4Net> = others
        .iter()
        .filter_map(|s| s.cidr.parse().ok())
        .chain(cx.plan.every_subnet().map(|(_, s)| s.cidr))
        .collect();
    let field = if cx.plan.egress.public_subnets.contains_key(key) {
        format!("egress.public_subnets.{key}")
    } else {
        format!("subnets.{key}")
    };
    let free = || {
        free_block(&blocks, &taken, spec.cidr.prefix_len())
            .map(|b| format!("; {b} is free"))
            .unwrap_or_default()
    };
    if !blocks.is_empty() && !blocks.iter().any(|b| b.contains(&spec.cidr)) {
        let list: Vec<String> = blocks.iter().map(ToString::to_string).collect();
        return Some(format!(
            "{field}: cidr {} is outside VPC {} ({}){}",
            spec.cidr,
            vpc.id,
            list.join(", "),
            free()
        ));
    }
    let clash = others.iter().find(|s| {
        s.cidr
            .parse::<Ipv4Net>()
            .is_ok_and(|c| c.contains(&spec.cidr) || spec.cidr.contains(&c))
    })?;
    let owner = match clash.tags.get(crate::model::TAG_PLAN) {
        Some(p) => format!("sagevpc plan {p:?}"),
        None => "not made by sagevpc".to_string(),
    };
    Some(format!(
        "{field}: cidr {} overlaps subnet {} ({}, {}, {owner}) already in VPC {}: AWS would refuse to create it (InvalidSubnet.Conflict), and a re-run cannot fix that. Give the subnet a free range{}",
        spec.cidr,
        clash.id,
        clash.cidr,
        clash.availability_zone,
        vpc.id,
        free()
    ))
}

/// The first block of `prefix` bits inside `blocks` that overlaps nothing `taken`.
fn free_block(blocks: &[Ipv4Net], taken: &[Ipv4Net], prefix: u8) -> Option<Ipv4Net> {
    blocks
        .iter()
        .filter_map(|b| b.subnets(prefix).ok())
        .flatten()
        .find(|c| !taken.iter().any(|t| t.contains(c) || c.contains(t)))
}

fn want_attrs(spec: &SubnetSpec) -> Attrs {
    let mut a = attrs([
        ("availability_zone", json!(spec.availability_zone)),
        ("cidr", json!(spec.cidr.to_string())),
    ]);
    // The ID the plan gave the zone by, beside this account's name for it.
    if let Some(id) = &spec.zone_id {
        a.insert("availability_zone_id".into(), json!(id));
    }
    a
}

fn create(cx: &mut Cx, addr: &Address, spec: &SubnetSpec) -> usize {
    let op = Op::Create {
        vpc: cx.vpc_ref(),
        availability_zone: spec.availability_zone.clone(),
        cidr: spec.cidr.to_string(),
        tags: cx.tags(addr),
    };
    cx.node(addr, op, &[])
}

/// A subnet whose AZ or CIDR changed. A new CIDR that overlaps the old one can be
/// created only once the old subnet is gone.
fn replacement(s: &ObservedSubnet, spec: &SubnetSpec, want: Attrs) -> Replacement {
    let mut paths = Vec::new();
    if s.cidr != spec.cidr.to_string() {
        paths.push("cidr".to_string());
    }
    if s.availability_zone != spec.availability_zone {
        paths.push("availability_zone".to_string());
    }
    let overlaps = s
        .cidr
        .parse::<Ipv4Net>()
        .map(|o| o.contains(&spec.cidr) || spec.cidr.contains(&o))
        .unwrap_or(true);
    Replacement {
        reasons: vec![format!("{} forces replacement", paths.join(", "))],
        paths,
        before: Subnet::shown(s),
        after: want,
        delete_first: overlaps,
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for Subnet {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                vpc,
                availability_zone,
                cidr,
                tags,
            } => Ok(Some(
                c.create_subnet(id_of(&vpc)?, &availability_zone, &cidr, &tags)
                    .await?,
            )),
            Op::Delete { subnet } => {
                c.delete_subnet(&subnet).await?;
                Ok(None)
            }
        }
    }
}
