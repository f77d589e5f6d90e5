//! The VPC: owned (created with both DNS attributes on, found by tag) or adopted (named
//! by id in the plan: never deleted or retagged, its DNS attributes switched on only
//! with `manage_dns`). It decides the plan's home VPC for every other kind.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, Home, IdRef, Matched, Replacement};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};
use crate::plan::VpcSpec;

/// The key of the plan's one VPC: `vpc.main`.
pub const KEY: &str = "main";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedVpc {
    pub id: String,
    pub cidr: String,
    /// Every IPv4 CIDR block associated with the VPC (the primary one first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    pub dns_support: bool,
    pub dns_hostnames: bool,
    pub tags: Tags,
    /// `default` or `dedicated` (`None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenancy: Option<String>,
}

impl Live for ObservedVpc {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    fn vpc_id(&self) -> Option<&str> {
        None
    }
    fn holds(&self) -> Vec<&str> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        cidr: String,
        tags: Tags,
    },
    SetDns {
        vpc: IdRef,
        /// `true`: enableDnsHostnames; `false`: enableDnsSupport.
        hostnames: bool,
        value: bool,
    },
    Delete {
        vpc: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::SetDns { vpc, .. } => vec![vpc],
            Op::Create { .. } | Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateVpc",
            Op::SetDns { .. } => "ModifyVpcAttribute",
            Op::Delete { .. } => "DeleteVpc",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { vpc } => vec![vpc],
            _ => vec![],
        }
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::SetDns { vpc, .. } => vpc.id(),
            Op::Delete { vpc } => Some(vpc),
            Op::Create { .. } => None,
        }
    }
}

/// The VPC calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// Owned VPCs: tagged with the plan.
    fn describe_vpcs_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedVpc>>;
    /// VPCs of other sagevpc plans with this CIDR (a renamed plan leaves its VPC behind).
    fn describe_plan_vpcs_with_cidr(&self, cidr: &str) -> impl Call<Vec<ObservedVpc>>;
    /// An adopted VPC; `None` when it does not exist.
    fn describe_vpc_by_id(&self, id: &str) -> impl Call<Option<ObservedVpc>>;
    /// (enableDnsSupport, enableDnsHostnames)
    fn describe_vpc_dns(&self, vpc_id: &str) -> impl Call<(bool, bool)>;
    fn create_vpc(&self, cidr: &str, tags: &Tags) -> impl Call<String>;
    fn set_vpc_dns(&self, vpc_id: &str, hostnames: bool, value: bool) -> impl Call<()>;
    fn delete_vpc(&self, id: &str) -> impl Call<()>;
}

pub struct Vpc;

pub fn address() -> Address {
    Address::new(Kind::Vpc, KEY)
}

impl ResourceKind for Vpc {
    const KIND: Kind = Kind::Vpc;
    const NAME: &'static str = "vpc";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedVpc;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedVpc> {
        obs.vpcs.iter().collect()
    }

    fn check(cx: &mut Cx) {
        for v in &cx.obs.same_cidr {
            let owner = v
                .tags
                .get(crate::model::TAG_PLAN)
                .cloned()
                .unwrap_or_default();
            if owner != cx.plan.name {
                cx.warnings.push(format!(
                    "VPC {} with the same CIDR {} belongs to sagevpc plan {owner:?}: if this plan was renamed (or moved to another region), that VPC and everything in it is still there and no longer managed by this name; `sagevpc plans` lists what each plan owns. Destroy it under its old name, or give this plan another CIDR",
                    v.id, v.cidr
                ));
            }
        }
        let VpcSpec::Adopted { id, manage_dns } = &cx.plan.vpc else {
            return;
        };
        match cx.obs.vpcs.iter().find(|v| &v.id == id) {
            None => cx.problems.push(format!(
                "vpc.id: VPC {id} does not exist in {} (or the credentials cannot see it)",
                cx.plan.region
            )),
            Some(v)
                if cx.plan.needs_private_dns()
                    && !(v.dns_support && v.dns_hostnames)
                    && !manage_dns =>
            {
                cx.problems.push(format!(
                    "vpc.id: interface endpoints ask for private DNS, but VPC {id} has enableDnsSupport={} and enableDnsHostnames={}; private DNS needs both. Set `manage_dns = true` under [vpc] to let sagevpc switch them on, switch them on yourself, or set interface_endpoints.private_dns = false",
                    v.dns_support, v.dns_hostnames
                ));
            }
            Some(_) => {}
        }
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedVpc>) {
        match &cx.plan.vpc {
            VpcSpec::Owned { cidr } => owned(cx, live.get(KEY), *cidr),
            VpcSpec::Adopted { id, manage_dns } => {
                let id = id.clone();
                adopted(cx, &id, *manage_dns)
            }
        }
    }

    fn retire(cx: &mut Cx, live: &Matched<ObservedVpc>) {
        let home = match &cx.plan.vpc {
            VpcSpec::Adopted { id, .. } => Home::Id(id.clone()),
            VpcSpec::Owned { .. } => live
                .get(KEY)
                .map(|v| Home::Id(v.id.clone()))
                .unwrap_or(Home::Unknown),
        };
        if let (true, VpcSpec::Owned { .. }, Some(v)) = (cx.keep_vpc, &cx.plan.vpc, live.get(KEY)) {
            cx.claim(&v.id);
            cx.warnings.push(format!(
                "vpc.main ({}) is kept (--keep-vpc): it stays tagged with plan {:?}, so a later apply builds in it again and a later destroy without --keep-vpc deletes it",
                v.id, cx.plan.name
            ));
        }
        cx.set_home(home);
    }

    fn delete(o: &ObservedVpc) -> Vec<super::Op> {
        vec![Op::Delete { vpc: o.id.clone() }.into()]
    }
}

fn want_attrs(cidr: Ipv4Net) -> Attrs {
    attrs([
        ("cidr", json!(cidr.to_string())),
        ("enable_dns_support", json!(true)),
        ("enable_dns_hostnames", json!(true)),
    ])
}

/// Switch on the DNS attributes that are off (support before hostnames).
fn dns_updates(cx: &mut Cx, v: &ObservedVpc, before: &mut Attrs, after: &mut Attrs) {
    let addr = address();
    let mut done: Vec<usize> = Vec::new();
    for (hostnames, cur, key) in [
        (false, v.dns_support, "enable_dns_support"),
        (true, v.dns_hostnames, "enable_dns_hostnames"),
    ] {
        if !cur {
            before.insert(key.into(), json!(false));
            after.insert(key.into(), json!(true));
            let op = Op::SetDns {
                vpc: IdRef::Id(v.id.clone()),
                hostnames,
                value: true,
            };
            done.push(cx.node(&addr, op, &done.clone()));
        }
    }
}

fn owned(cx: &mut Cx, found: Option<&ObservedVpc>, cidr: Ipv4Net) {
    let addr = address();
    match found {
        Some(v) if v.cidr == cidr.to_string() => {
            cx.set_home(Home::Id(v.id.clone()));
            let (mut before, mut after) = (Attrs::new(), Attrs::new());
            dns_updates(cx, v, &mut before, &mut after);
            // DNS attributes of an owned VPC are always on in the plan: only a change
            // by hand turns them off.
            let mut reason = crate::changeset::CHANGED_OUTSIDE.to_string();
            if let Some((r, tb, ta)) = cx.tag_update(&addr, IdRef::Id(v.id.clone()), &v.tags) {
                reason = r;
                before.extend(tb);
                after.extend(ta);
            }
            cx.unchanged_or_changed(addr, &v.id, reason, before, after);
        }
        other => {
            let create = Op::Create {
                cidr: cidr.to_string(),
                tags: cx.tags(&addr),
            };
            let n = cx.node(&addr, create, &[]);
            // enableDnsSupport is on for every new VPC; hostnames is not.
            let dns = Op::SetDns {
                vpc: IdRef::Node(n),
                hostnames: true,
                value: true,
            };
            cx.node(&addr, dns, &[]);
            match other {
                Some(v) => {
                    cx.set_home(Home::Replaced(v.id.clone()));
                    let r = Replacement {
                        reasons: vec![format!("cidr {} -> {cidr} forces replacement", v.cidr)],
                        paths: vec!["cidr".into()],
                        before: Some(attrs([
                            ("cidr", json!(v.cidr)),
                            ("enable_dns_support", json!(v.dns_support)),
                            ("enable_dns_hostnames", json!(v.dns_hostnames)),
                        ])),
                        after: want_attrs(cidr),
                        delete_first: false,
                    };
                    cx.replaced::<Vpc>(addr, v, n, r);
                }
                None => {
                    cx.set_home(Home::New);
                    cx.created(addr, n, want_attrs(cidr));
                }
            }
        }
    }
}

fn adopted(cx: &mut Cx, id: &str, manage_dns: bool) {
    cx.set_home(Home::Id(id.to_string()));
    let addr = address();
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    if let Some(v) = cx.obs.vpcs.iter().find(|v| v.id == id) {
        if manage_dns && cx.plan.needs_private_dns() {
            dns_updates(cx, v, &mut before, &mut after);
        }
    }
    if before.is_empty() {
        cx.unchanged(addr, id, vec!["adopted: never modified or deleted".into()]);
    } else {
        cx.changed(
            addr,
            id,
            vec![
                "adopted VPC: private DNS needs DNS support and hostnames (vpc.manage_dns = true)"
                    .into(),
            ],
            before,
            after,
        );
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for Vpc {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create { cidr, tags } => Ok(Some(c.create_vpc(&cidr, &tags).await?)),
            Op::SetDns {
                vpc,
                hostnames,
                value,
            } => {
                c.set_vpc_dns(id_of(&vpc)?, hostnames, value).await?;
                Ok(None)
            }
            Op::Delete { vpc } => {
                c.delete_vpc(&vpc).await?;
                Ok(None)
            }
        }
    }
}
