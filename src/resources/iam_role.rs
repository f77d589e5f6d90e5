//! The Studio domain's execution role `iam_role.execution` (`[studio] execution_role =
//! "create"`): named `<plan>-sagemaker-execution`, on the path `/sagevpc/`, trusted by
//! `sagemaker.amazonaws.com` only, with the plan's managed policies attached. The trust
//! policy is compared semantically and updated in place; policies are attached and
//! detached one by one; the name is the role's identity (a rename is a replacement).
//! Deleted after the domain that uses it: its policies detached first, then the role.
//! An existing role named by ARN is used as it is and never modified.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{compact, Attrs, Cx, IdRef, Matched, Replacement, CHANGED_OUTSIDE, DIFFERS};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};
use crate::plan::{policy, Plan, RoleChoice};

pub const KEY: &str = "execution";
/// The path of every role sagevpc creates.
pub const PATH: &str = "/sagevpc/";

/// The role's name for `plan`.
pub fn role_name(plan: &str) -> String {
    format!("{plan}{}", crate::plan::validate::ROLE_SUFFIX)
}

/// Trusted by SageMaker only.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedRole {
    /// The role's ARN (what a domain names it by).
    pub id: String,
    pub name: String,
    pub path: String,
    pub trust: Value,
    /// ARNs of the attached managed policies.
    pub policies: Vec<String>,
    pub tags: Tags,
}

impl Live for ObservedRole {
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
    fn normalize(&mut self) {
        self.policies.sort();
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        name: String,
        path: String,
        trust: String,
        tags: Tags,
    },
    Attach {
        role: IdRef,
        policy: String,
    },
    Detach {
        role: String,
        policy: String,
    },
    SetTrust {
        role: String,
        trust: String,
    },
    Delete {
        role: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Attach { role, .. } => vec![role],
            _ => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateRole",
            Op::Attach { .. } => "AttachRolePolicy",
            Op::Detach { .. } => "DetachRolePolicy",
            Op::SetTrust { .. } => "UpdateAssumeRolePolicy",
            Op::Delete { .. } => "DeleteRole",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { role } => vec![role],
            _ => vec![],
        }
    }
    fn removes(&self) -> bool {
        matches!(self, Op::Detach { .. } | Op::Delete { .. })
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create { .. } => None,
            Op::Attach { role, .. } => role.id(),
            Op::Detach { role, .. } | Op::SetTrust { role, .. } | Op::Delete { role } => Some(role),
        }
    }
}

/// The IAM calls, in the tool's own types. Roles are named by ARN; the adapter takes
/// the name from it.
pub trait Api: Send + Sync {
    /// The role `name` on sagevpc's path, if it exists (with its attached policies).
    fn get_role(&self, name: &str) -> impl Call<Option<ObservedRole>>;
    /// The new role's ARN.
    fn create_role(&self, name: &str, path: &str, trust: &str, tags: &Tags) -> impl Call<String>;
    fn attach_role_policy(&self, role: &str, policy: &str) -> impl Call<()>;
    /// A policy no longer attached is done.
    fn detach_role_policy(&self, role: &str, policy: &str) -> impl Call<()>;
    fn update_trust(&self, role: &str, trust: &str) -> impl Call<()>;
    /// A role already gone is done.
    fn delete_role(&self, role: &str) -> impl Call<()>;
}

pub struct IamRole;

pub fn address() -> Address {
    Address::new(Kind::IamRole, KEY)
}

/// The managed policies of the role the plan creates; `None` when it creates none.
fn wanted(plan: &Plan) -> Option<&[String]> {
    let s = plan.studio.as_ref()?;
    matches!(s.execution_role, RoleChoice::Create).then_some(s.managed_policies.as_slice())
}

impl ResourceKind for IamRole {
    const KIND: Kind = Kind::IamRole;
    const NAME: &'static str = "iam_role";
    const TAGGING: Tagging = Tagging::Iam;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedRole;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedRole> {
        obs.roles.iter().collect()
    }

    fn check(cx: &mut Cx) {
        if wanted(cx.plan).is_none() {
            return;
        }
        let name = role_name(&cx.plan.name);
        if let Some(r) = cx.obs.foreign_roles.iter().find(|r| r.name == name) {
            cx.problems.push(format!(
                "studio.execution_role: a role named {name} already exists ({}) and is not this plan's (no sagevpc:plan = {:?} tag); name an existing role by ARN, or rename the plan",
                r.id, cx.plan.name
            ));
        }
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedRole>) {
        let Some(policies) = wanted(cx.plan) else {
            return;
        };
        let addr = address();
        match live.get(KEY) {
            Some(r) if r.name == role_name(&cx.plan.name) => update(cx, addr, r, policies),
            Some(r) => {
                let n = create(cx, &addr, policies);
                let replacement = Replacement {
                    reasons: vec![format!("its name is {} ({CHANGED_OUTSIDE})", r.name)],
                    paths: vec!["name".into()],
                    before: IamRole::shown(r),
                    after: want_attrs(cx.plan, policies),
                    delete_first: false,
                };
                cx.replaced::<IamRole>(addr, r, n, replacement);
            }
            None => {
                let n = create(cx, &addr, policies);
                cx.created(addr, n, want_attrs(cx.plan, policies));
            }
        }
    }

    fn delete(o: &ObservedRole) -> Vec<super::Op> {
        let mut steps: Vec<super::Op> = o
            .policies
            .iter()
            .map(|p| {
                Op::Detach {
                    role: o.id.clone(),
                    policy: p.clone(),
                }
                .into()
            })
            .collect();
        steps.push(Op::Delete { role: o.id.clone() }.into());
        steps
    }

    fn shown(o: &ObservedRole) -> Option<Attrs> {
        Some(attrs([
            ("name", json!(o.name)),
            ("managed_policies", json!(o.policies)),
        ]))
    }
}

fn want_attrs(plan: &Plan, policies: &[String]) -> Attrs {
    attrs([
        ("name", json!(role_name(&plan.name))),
        ("path", json!(PATH)),
        ("trust", json!(compact(&trust_policy()))),
        ("managed_policies", json!(policies)),
    ])
}

/// The create, then one attach per policy; the node that makes the role.
fn create(cx: &mut Cx, addr: &Address, policies: &[String]) -> usize {
    let op = Op::Create {
        name: role_name(&cx.plan.name),
        path: PATH.into(),
        trust: compact(&trust_policy()),
        tags: cx.tags(addr),
    };
    let n = cx.node(addr, op, &[]);
    for p in policies {
        let attach = Op::Attach {
            role: IdRef::Node(n),
            policy: p.clone(),
        };
        cx.node(addr, attach, &[]);
    }
    n
}

/// An existing role: its trust policy, its policies, its tags.
fn update(cx: &mut Cx, addr: Address, r: &ObservedRole, policies: &[String]) {
    let mut reasons = Vec::new();
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    let trust = trust_policy();
    if !policy::equivalent(Some(&trust), Some(&r.trust)) {
        let op = Op::SetTrust {
            role: r.id.clone(),
            trust: compact(&trust),
        };
        cx.node(&addr, op, &[]);
        before.insert("trust".into(), json!(compact(&r.trust)));
        after.insert("trust".into(), json!(compact(&trust)));
        reasons.push(format!("trust policy: {CHANGED_OUTSIDE}"));
    }
    let (missing, extra) = crate::changeset::set_changes(policies, &r.policies);
    for p in &missing {
        let op = Op::Attach {
            role: IdRef::Id(r.id.clone()),
            policy: (*p).clone(),
        };
        cx.node(&addr, op, &[]);
    }
    for p in &extra {
        let op = Op::Detach {
            role: r.id.clone(),
            policy: (*p).clone(),
        };
        cx.node(&addr, op, &[]);
    }
    if !missing.is_empty() || !extra.is_empty() {
        before.insert("managed_policies".into(), json!(r.policies));
        after.insert("managed_policies".into(), json!(policies));
        reasons.push(format!("managed policies: {DIFFERS}"));
    }
    if let Some((reason, tb, ta)) = cx.tag_update(&addr, IdRef::Id(r.id.clone()), &r.tags) {
        reasons.push(reason);
        before.extend(tb);
        after.extend(ta);
    }
    cx.unchanged_or_changed(addr, &r.id, reasons.join("; "), before, after);
}

impl<C: Api + ?Sized + Sync> Perform<C> for IamRole {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                name,
                path,
                trust,
                tags,
            } => Ok(Some(c.create_role(&name, &path, &trust, &tags).await?)),
            Op::Attach { role, policy } => {
                c.attach_role_policy(id_of(&role)?, &policy).await?;
                Ok(None)
            }
            Op::Detach { role, policy } => {
                c.detach_role_policy(&role, &policy).await?;
                Ok(None)
            }
            Op::SetTrust { role, trust } => {
                c.update_trust(&role, &trust).await?;
                Ok(None)
            }
            Op::Delete { role } => {
                c.delete_role(&role).await?;
                Ok(None)
            }
        }
    }
}

/// The role's name in its ARN (`arn:aws:iam::123:role/sagevpc/name` -> `name`).
pub fn name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
