//! The plan's SageMaker Studio domain `studio_domain.main` (`[studio]`), always
//! `AppNetworkAccessType = VpcOnly`: in the plan's VPC and Studio subnets, its apps
//! carrying the plan's domain groups, run by the execution role. Its name, auth mode and
//! VPC are fixed at creation (a change replaces it, deleted first: the old domain's
//! apps must be gone before the subnets can be reused); subnets, groups, role and the
//! network access type are updated in place (`UpdateDomain`).
//!
//! Deleted before the subnets, groups and role it holds, with its home EFS volume
//! (`RetentionPolicy: HomeEfsFileSystem = Delete`); once the domain is gone, what
//! SageMaker made for it and leaves behind is removed too: the EFS volume if it is still
//! there (its mount targets first), and the two NFS security groups
//! `security-group-for-{inbound,outbound}-nfs-<domain id>`, which hold each other and
//! block the VPC's deletion. Its user profiles (`user_profile.*`) go first.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{attrs, id_of, ids_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched, Replacement, CHANGED_OUTSIDE, DIFFERS};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};
use crate::plan::{Ref, RoleChoice, StudioSpec};

pub const KEY: &str = "main";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedDomain {
    /// `d-...`
    pub id: String,
    pub arn: String,
    pub name: String,
    /// `InService`, `Pending`, `Updating`, `Deleting`, `Failed`...
    pub status: String,
    /// `IAM` or `SSO`.
    pub auth_mode: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub vpc_only: bool,
    /// The default user settings' execution role ARN.
    pub execution_role: String,
    /// The default user settings' security groups.
    pub security_groups: Vec<String>,
    pub home_efs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub tags: Tags,
}

impl Live for ObservedDomain {
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
        self.subnet_ids
            .iter()
            .chain(&self.security_groups)
            .map(String::as_str)
            .chain([self.execution_role.as_str(), self.vpc_id.as_str()])
            .filter(|id| !id.is_empty())
            .collect()
    }
    fn normalize(&mut self) {
        self.security_groups.sort();
    }
}

/// A domain to create, fully resolved at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDomain {
    pub name: String,
    pub auth_mode: String,
    pub vpc: IdRef,
    pub subnets: Vec<IdRef>,
    pub role: IdRef,
    pub groups: Vec<IdRef>,
    pub tags: Tags,
}

/// What `UpdateDomain` sends (always all of it: SageMaker keeps what is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainUpdate {
    pub domain: String,
    /// Re-sent with the subnets: VpcOnly domains need both (Terraform AWS #45528).
    pub vpc: String,
    pub subnets: Vec<IdRef>,
    pub role: IdRef,
    pub groups: Vec<IdRef>,
}

/// What a deleted domain leaves behind, removed once it is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteDomain {
    pub domain: String,
    pub vpc: String,
    pub home_efs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create(NewDomain),
    Update(DomainUpdate),
    Delete(DeleteDomain),
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create(d) => std::iter::once(&mut d.vpc)
                .chain(d.subnets.iter_mut())
                .chain(std::iter::once(&mut d.role))
                .chain(d.groups.iter_mut())
                .collect(),
            Op::Update(u) => u
                .subnets
                .iter_mut()
                .chain(std::iter::once(&mut u.role))
                .chain(u.groups.iter_mut())
                .collect(),
            Op::Delete(_) => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create(_) => "CreateDomain",
            Op::Update(_) => "UpdateDomain",
            Op::Delete(_) => "DeleteDomain",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create(_))
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete(d) => vec![&d.domain],
            _ => vec![],
        }
    }
    fn waits(&self) -> bool {
        true
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create(_) => None,
            Op::Update(u) => Some(&u.domain),
            Op::Delete(d) => Some(&d.domain),
        }
    }
}

/// The SageMaker (and, for the leftovers, EC2 and EFS) calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// The domains tagged as this plan's (every domain is listed and described).
    fn describe_domains_by_plan(&self, plan: &str) -> impl Call<Vec<ObservedDomain>>;
    /// The new domain's id. Retries, for a bounded time, SageMaker's refusal of a role
    /// IAM has not yet propagated.
    fn create_domain(&self, d: &NewDomainIds) -> impl Call<String>;
    fn update_domain(&self, u: &DomainUpdateIds) -> impl Call<()>;
    /// Until the domain is `InService`; its failure reason when it fails.
    fn wait_domain_in_service(&self, id: &str) -> impl Call<()>;
    /// `DeleteDomain` with its home EFS volume, then until it is gone. Already gone is
    /// done.
    fn delete_domain(&self, id: &str) -> impl Call<()>;
    /// Remove what SageMaker left of the domain: its EFS volume (mount targets first)
    /// and its NFS security groups in `vpc`. What is already gone is done.
    fn delete_domain_leftovers(&self, d: &DeleteDomain) -> impl Call<()>;
    /// Tag what SageMaker made for the new domain in `vpc` (its NFS groups) with
    /// [`TAG_LEFT_BY`](crate::model::TAG_LEFT_BY) = `plan`.
    fn tag_domain_leftovers(&self, domain: &str, vpc: &str, plan: &str) -> impl Call<()>;
    /// What SageMaker left of the plan's domains (tagged by `tag_domain_leftovers`): the
    /// domain id each is for, and the VPC it is in.
    fn describe_domain_leftovers(&self, plan: &str) -> impl Call<Vec<(String, String)>>;
}

/// A deleted domain of the plan whose leftovers are still there (a destroy stopped
/// after `DeleteDomain`): matched under its own key, so that it is deleted again (a
/// domain already gone is done) and its leftovers with it, before the VPC.
pub fn orphan(plan: &str, domain: &str, vpc: &str) -> ObservedDomain {
    let key = Address::new(Kind::StudioDomain, format!("leftovers-{domain}"));
    ObservedDomain {
        id: domain.to_string(),
        arn: String::new(),
        name: String::new(),
        status: "Deleted".into(),
        auth_mode: String::new(),
        vpc_id: vpc.to_string(),
        subnet_ids: Vec::new(),
        vpc_only: false,
        execution_role: String::new(),
        security_groups: Vec::new(),
        home_efs: None,
        url: None,
        tags: [
            (crate::model::TAG_PLAN.to_string(), plan.to_string()),
            (crate::model::TAG_KEY.to_string(), key.to_string()),
        ]
        .into(),
    }
}

/// [`NewDomain`] with every reference resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDomainIds {
    pub name: String,
    pub auth_mode: String,
    pub vpc: String,
    pub subnets: Vec<String>,
    pub role: String,
    pub groups: Vec<String>,
    pub tags: Tags,
}

/// [`DomainUpdate`] with every reference resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainUpdateIds {
    pub domain: String,
    pub vpc: String,
    pub subnets: Vec<String>,
    pub role: String,
    pub groups: Vec<String>,
}

pub struct StudioDomain;

pub fn address() -> Address {
    Address::new(Kind::StudioDomain, KEY)
}

/// The references the domain's settings name: subnets, role, domain groups.
struct Wanted {
    subnets: Vec<IdRef>,
    role: IdRef,
    groups: Vec<IdRef>,
    /// As shown: addresses or ids.
    shown: Attrs,
}

/// References to the plan's groups named `groups` (validation made sure they exist).
pub(super) fn group_refs(cx: &Cx, groups: &[String]) -> Vec<IdRef> {
    groups
        .iter()
        .map(|g| {
            cx.reference(&Address::new(Kind::SecurityGroup, g))
                .unwrap_or_else(|| IdRef::Id(format!("(security_group.{g})")))
        })
        .collect()
}

fn subnet_ref(cx: &Cx, r: &Ref) -> IdRef {
    match r {
        Ref::Id(id) => IdRef::Id(id.clone()),
        Ref::Key(k) => cx
            .reference(&Address::new(Kind::Subnet, k))
            .unwrap_or_else(|| IdRef::Id(format!("(subnet.{k})"))),
    }
}

fn wanted(cx: &Cx, s: &StudioSpec) -> Wanted {
    let subnets = s.subnets.iter().map(|r| subnet_ref(cx, r)).collect();
    let (role, role_shown) = match &s.execution_role {
        RoleChoice::Existing(arn) => (IdRef::Id(arn.clone()), json!(arn)),
        RoleChoice::Create => {
            let a = super::iam_role::address();
            let r = cx.reference(&a).unwrap_or(IdRef::Id(String::new()));
            (r, json!(a.to_string()))
        }
    };
    let groups = group_refs(cx, &s.domain_groups);
    let shown_subnets: Vec<String> = s.subnets.iter().map(shown_ref).collect();
    let shown_groups: Vec<String> = s
        .domain_groups
        .iter()
        .map(|g| format!("security_group.{g}"))
        .collect();
    Wanted {
        subnets,
        role,
        groups,
        shown: attrs([
            ("domain_name", json!(s.domain_name)),
            ("auth_mode", json!(s.auth_mode.as_aws())),
            ("app_network_access_type", json!("VpcOnly")),
            ("subnets", json!(shown_subnets)),
            ("execution_role", role_shown),
            ("security_groups", json!(shown_groups)),
            ("endpoint_access", json!(endpoint_access(s))),
        ]),
    }
}

/// How the users' apps reach the interface endpoints (which groups the endpoints'
/// group admits 443 from), as the plan shows it.
fn endpoint_access(s: &StudioSpec) -> String {
    if s.shared_client_group {
        format!(
            "one shared client group (security_group.{}): {} users' own groups would pass the endpoints group's 60 inbound rules",
            crate::plan::validate::CLIENT_GROUP,
            s.user_profiles.len()
        )
    } else {
        "each user's own group (security_group.user-<name>)".into()
    }
}

fn shown_ref(r: &Ref) -> String {
    match r {
        Ref::Id(id) => id.clone(),
        Ref::Key(k) => format!("subnet.{k}"),
    }
}

/// Whether the references name exactly `ids` (in any order); a reference to what this
/// run creates never does.
pub(super) fn same(refs: &[IdRef], ids: &[String]) -> bool {
    let mut a: Vec<Option<&str>> = refs.iter().map(IdRef::id).collect();
    let mut b: Vec<Option<&str>> = ids.iter().map(|s| Some(s.as_str())).collect();
    a.sort();
    b.sort();
    a == b
}

impl ResourceKind for StudioDomain {
    const KIND: Kind = Kind::StudioDomain;
    const NAME: &'static str = "studio_domain";
    const TAGGING: Tagging = Tagging::SageMaker;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedDomain;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedDomain> {
        obs.domains.iter().collect()
    }

    fn check(cx: &mut Cx) {
        super::studio_network::check(cx);
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedDomain>) {
        let Some(s) = cx.plan.studio.as_ref() else {
            return;
        };
        let addr = address();
        let w = wanted(cx, s);
        let fixed = live.get(KEY).map(|d| fixed_changes(cx, s, d));
        match (live.get(KEY), fixed) {
            (Some(d), Some(paths)) if paths.is_empty() => update(cx, addr, d, w),
            (Some(d), Some(paths)) => {
                let n = create(cx, &addr, s, &w);
                let replacement = Replacement {
                    reasons: paths.iter().map(|p| format!("{p}: {DIFFERS}")).collect(),
                    paths,
                    before: StudioDomain::shown(d),
                    after: w.shown,
                    delete_first: true,
                };
                cx.replaced::<StudioDomain>(addr, d, n, replacement);
            }
            _ => {
                let n = create(cx, &addr, s, &w);
                cx.created(addr, n, w.shown);
            }
        }
    }

    fn delete(o: &ObservedDomain) -> Vec<super::Op> {
        vec![Op::Delete(DeleteDomain {
            domain: o.id.clone(),
            vpc: o.vpc_id.clone(),
            home_efs: o.home_efs.clone(),
        })
        .into()]
    }

    fn shown(o: &ObservedDomain) -> Option<Attrs> {
        Some(attrs([
            ("domain_name", json!(o.name)),
            ("auth_mode", json!(o.auth_mode)),
            (
                "app_network_access_type",
                json!(if o.vpc_only {
                    "VpcOnly"
                } else {
                    "PublicInternetOnly"
                }),
            ),
            ("subnets", json!(o.subnet_ids)),
            ("execution_role", json!(o.execution_role)),
            ("security_groups", json!(o.security_groups)),
            ("home_efs", json!(o.home_efs)),
        ]))
    }
}

/// The attributes fixed at creation that differ (the VPC's replacement is the engine's).
fn fixed_changes(cx: &Cx, s: &StudioSpec, d: &ObservedDomain) -> Vec<String> {
    let mut paths = Vec::new();
    if d.name != s.domain_name {
        paths.push("domain_name".to_string());
    }
    if !d.auth_mode.eq_ignore_ascii_case(s.auth_mode.as_aws()) {
        paths.push("auth_mode".to_string());
    }
    if let IdRef::Id(vpc) = cx.vpc_ref() {
        if vpc != d.vpc_id {
            paths.push("vpc".to_string());
        }
    }
    paths
}

fn create(cx: &mut Cx, addr: &Address, s: &StudioSpec, w: &Wanted) -> usize {
    let op = Op::Create(NewDomain {
        name: s.domain_name.clone(),
        auth_mode: s.auth_mode.as_aws().into(),
        vpc: cx.vpc_ref(),
        subnets: w.subnets.clone(),
        role: w.role.clone(),
        groups: w.groups.clone(),
        tags: cx.tags(addr),
    });
    cx.node(addr, op, &[])
}

fn update(cx: &mut Cx, addr: Address, d: &ObservedDomain, w: Wanted) {
    let mut reasons = Vec::new();
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    let shown = StudioDomain::shown(d).unwrap_or_default();
    let mut differs = |name: &str, changed: bool, reason: String| {
        if changed {
            before.insert(name.into(), shown.get(name).cloned().unwrap_or(Value::Null));
            after.insert(name.into(), w.shown[name].clone());
            reasons.push(reason);
        }
    };
    differs(
        "subnets",
        !same(&w.subnets, &d.subnet_ids),
        format!("subnets: {DIFFERS}"),
    );
    differs(
        "security_groups",
        !same(&w.groups, &d.security_groups),
        format!("security groups: {DIFFERS}"),
    );
    differs(
        "execution_role",
        w.role.id() != Some(d.execution_role.as_str()),
        format!("execution role: {DIFFERS}"),
    );
    differs(
        "app_network_access_type",
        !d.vpc_only,
        format!("network access is not VpcOnly ({CHANGED_OUTSIDE})"),
    );
    if !reasons.is_empty() {
        let op = Op::Update(DomainUpdate {
            domain: d.id.clone(),
            vpc: d.vpc_id.clone(),
            subnets: w.subnets,
            role: w.role,
            groups: w.groups,
        });
        cx.node(&addr, op, &[]);
    }
    let tagged = IdRef::Id(d.arn.clone());
    if let Some((reason, tb, ta)) = cx.tag_update(&addr, tagged, &d.tags) {
        reasons.push(reason);
        before.extend(tb);
        after.extend(ta);
    }
    cx.unchanged_or_changed(addr, &d.id, reasons.join("; "), before, after);
}

impl<C: Api + ?Sized + Sync> Perform<C> for StudioDomain {
    async fn perform(c: &C, op: Op, run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create(d) => {
                let ids = NewDomainIds {
                    name: d.name,
                    auth_mode: d.auth_mode,
                    vpc: id_of(&d.vpc)?.to_string(),
                    subnets: ids_of(&d.subnets)?,
                    role: id_of(&d.role)?.to_string(),
                    groups: ids_of(&d.groups)?,
                    tags: d.tags,
                };
                let id = c.create_domain(&ids).await?;
                run.slot.release();
                c.wait_domain_in_service(&id).await?;
                let plan = ids
                    .tags
                    .get(crate::model::TAG_PLAN)
                    .cloned()
                    .unwrap_or_default();
                c.tag_domain_leftovers(&id, &ids.vpc, &plan).await?;
                Ok(Some(id))
            }
            Op::Update(u) => {
                let ids = DomainUpdateIds {
                    domain: u.domain,
                    vpc: u.vpc,
                    subnets: ids_of(&u.subnets)?,
                    role: id_of(&u.role)?.to_string(),
                    groups: ids_of(&u.groups)?,
                };
                c.update_domain(&ids).await?;
                run.slot.release();
                c.wait_domain_in_service(&ids.domain).await?;
                Ok(None)
            }
            Op::Delete(d) => {
                c.delete_domain(&d.domain).await?;
                run.slot.release();
                c.delete_domain_leftovers(&d).await?;
                Ok(None)
            }
        }
    }
}
