//! The Studio access policy `iam_policy.studio_access` (`[studio_access]`, seed 001): a
//! customer-managed IAM policy `<plan>-studio-access` on the path `/sagevpc/` that
//! allows `CreatePresignedDomainUrl` and `DescribeUserProfile` only from the VPC, its
//! endpoints or given ranges, attached to existing roles, groups and users.
//!
//! The document names the VPC's and the endpoints' ids: when one of them is created or
//! replaced in the same apply, the new document is written after it (a new default
//! version), with the oldest versions deleted first so that IAM's limit of five holds.
//! Compared by meaning. Deleted with every version and attachment on destroy; the
//! principals themselves are never modified beyond the attachment.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::policy_doc::{Doc, DocBuilder};
use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched, DIFFERS};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};
use crate::plan::access::{
    studio_access_document, AllowFrom, Caller, Principal, StudioAccessSpec, ACCESS_ENDPOINTS,
};
use crate::plan::{policy, Plan};

pub const KEY: &str = "studio_access";
pub const PATH: &str = "/sagevpc/";
/// IAM keeps at most five versions of a managed policy.
pub const MAX_VERSIONS: usize = 5;

/// The policy's name for `plan`.
pub fn policy_name(plan: &str) -> String {
    format!("{plan}-studio-access")
}

pub fn address() -> Address {
    Address::new(Kind::AccessPolicy, KEY)
}

/// The warning the guide gives with these policies.
pub const CONSOLE_WARNING: &str = "studio_access: with this policy its principals can no longer open Studio from the SageMaker console; they open it through a presigned URL (CreatePresignedDomainUrl) or the API, from where the policy allows (seed 001)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub id: String,
    /// As IAM gives it (ISO 8601): the order versions were made in.
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedPolicy {
    /// The policy's ARN.
    pub id: String,
    pub name: String,
    /// The default version's document.
    pub document: Value,
    /// The versions that are not the default one, oldest first.
    pub versions: Vec<PolicyVersion>,
    pub attached: Vec<Principal>,
    pub tags: Tags,
}

impl Live for ObservedPolicy {
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
        self.attached.sort();
        self.versions
            .sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        name: String,
        path: String,
        document: Doc,
        tags: Tags,
    },
    /// Delete the `prune` versions, then make `document` the new default version.
    SetDocument {
        policy: String,
        document: Doc,
        prune: Vec<String>,
    },
    Attach {
        policy: IdRef,
        principal: Principal,
    },
    Detach {
        policy: String,
        principal: Principal,
    },
    /// Delete the non-default `versions`, then the policy.
    Delete {
        policy: String,
        versions: Vec<String>,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create { document, .. } | Op::SetDocument { document, .. } => {
                document.refs_mut().collect()
            }
            Op::Attach { policy, .. } => vec![policy],
            Op::Detach { .. } | Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreatePolicy",
            Op::SetDocument { .. } => "CreatePolicyVersion",
            Op::Attach { principal, .. } => match principal.kind {
                crate::plan::access::PrincipalKind::Role => "AttachRolePolicy",
                crate::plan::access::PrincipalKind::Group => "AttachGroupPolicy",
                crate::plan::access::PrincipalKind::User => "AttachUserPolicy",
            },
            Op::Detach { principal, .. } => match principal.kind {
                crate::plan::access::PrincipalKind::Role => "DetachRolePolicy",
                crate::plan::access::PrincipalKind::Group => "DetachGroupPolicy",
                crate::plan::access::PrincipalKind::User => "DetachUserPolicy",
            },
            Op::Delete { .. } => "DeletePolicy",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { policy, .. } => vec![policy],
            _ => vec![],
        }
    }
    fn removes(&self) -> bool {
        matches!(self, Op::Detach { .. } | Op::Delete { .. })
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create { .. } => None,
            Op::Attach { policy, .. } => policy.id(),
            Op::SetDocument { policy, .. }
            | Op::Detach { policy, .. }
            | Op::Delete { policy, .. } => Some(policy),
        }
    }
}

/// The IAM (and STS) calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// The account and partition of the caller (STS GetCallerIdentity).
    fn caller(&self) -> impl Call<Caller>;
    /// The managed policy at `arn`, if it exists, with its versions and attachments.
    fn get_policy(&self, arn: &str) -> impl Call<Option<ObservedPolicy>>;
    /// Those of `principals` that exist.
    fn existing_principals(&self, principals: &[Principal]) -> impl Call<Vec<Principal>>;
    /// The new policy's ARN.
    fn create_policy(&self, name: &str, path: &str, doc: &str, tags: &Tags) -> impl Call<String>;
    /// Delete `prune` (versions already gone are done), then a new default version.
    fn set_policy_document(&self, arn: &str, doc: &str, prune: &[String]) -> impl Call<()>;
    fn attach_policy(&self, arn: &str, to: &Principal) -> impl Call<()>;
    /// An attachment already gone is done.
    fn detach_policy(&self, arn: &str, from: &Principal) -> impl Call<()>;
    /// `versions` first; a policy already gone is done.
    fn delete_policy(&self, arn: &str, versions: &[String]) -> impl Call<()>;
}

pub struct AccessPolicy;

impl ResourceKind for AccessPolicy {
    const KIND: Kind = Kind::AccessPolicy;
    const NAME: &'static str = "iam_policy";
    const TAGGING: Tagging = Tagging::IamPolicy;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedPolicy;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedPolicy> {
        obs.access_policies.iter().collect()
    }

    fn check(cx: &mut Cx) {
        let Some(spec) = &cx.plan.studio_access else {
            return;
        };
        let name = policy_name(&cx.plan.name);
        if let Some(p) = cx.obs.foreign_policies.iter().find(|p| p.name == name) {
            cx.problems.push(format!(
                "studio_access: a policy named {name} already exists ({}) and is not this plan's (no sagevpc:plan = {:?} tag); delete it or rename the plan",
                p.id, cx.plan.name
            ));
        }
        let account = cx.obs.caller.as_ref().map_or("?", |c| c.account.as_str());
        for p in &spec.principals {
            if !cx.obs.principals.contains(p) {
                cx.problems.push(format!(
                    "studio_access.attach_to_{}s: IAM {p} does not exist in account {account}; create it first, or remove it from the list",
                    p.kind.as_str()
                ));
            }
        }
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedPolicy>) {
        let Some(spec) = &cx.plan.studio_access else {
            return;
        };
        let doc = document(cx, spec);
        match live.get(KEY) {
            Some(p) => update(cx, p, spec, doc),
            None => {
                let addr = address();
                let op = Op::Create {
                    name: policy_name(&cx.plan.name),
                    path: PATH.into(),
                    document: doc.clone(),
                    tags: cx.tags(&addr),
                };
                let n = cx.node(&addr, op, &[]);
                for p in &spec.principals {
                    let principal = p.clone();
                    cx.node(
                        &addr,
                        Op::Attach {
                            policy: IdRef::Node(n),
                            principal,
                        },
                        &[],
                    );
                }
                cx.warnings.push(CONSOLE_WARNING.into());
                cx.created(addr, n, want_attrs(cx.plan, spec, &doc));
            }
        }
    }

    fn delete(o: &ObservedPolicy) -> Vec<super::Op> {
        let mut steps: Vec<super::Op> = o
            .attached
            .iter()
            .map(|p| {
                Op::Detach {
                    policy: o.id.clone(),
                    principal: p.clone(),
                }
                .into()
            })
            .collect();
        steps.push(
            Op::Delete {
                policy: o.id.clone(),
                versions: o.versions.iter().map(|v| v.id.clone()).collect(),
            }
            .into(),
        );
        steps
    }

    fn shown(o: &ObservedPolicy) -> Option<Attrs> {
        Some(attrs([
            ("name", json!(o.name)),
            ("attached_to", json!(shown_principals(&o.attached))),
        ]))
    }
}

fn shown_principals(ps: &[Principal]) -> Vec<String> {
    ps.iter().map(ToString::to_string).collect()
}

/// The document for `spec`, with the ids the plan knows and placeholders for the rest.
pub fn document(cx: &Cx, spec: &StudioAccessSpec) -> Doc {
    let mut b = DocBuilder::default();
    let vpc = if spec.allow_from.needs_vpc() {
        b.id(&super::vpc::address().to_string(), cx.vpc_ref())
    } else {
        String::new()
    };
    let endpoints: Vec<String> = if spec.allow_from == AllowFrom::Endpoints {
        ACCESS_ENDPOINTS
            .iter()
            .map(|s| {
                let a = Address::new(Kind::InterfaceEndpoint, *s);
                // An endpoint the plan uses by id (`[existing_endpoints]`) is named as it is.
                let existing = cx.plan.existing.endpoints.get(*s).cloned().map(IdRef::Id);
                let r = existing
                    .or_else(|| cx.reference(&a))
                    .unwrap_or_else(|| IdRef::Id(format!("({a})")));
                b.id(&a.to_string(), r)
            })
            .collect()
    } else {
        Vec::new()
    };
    b.finish(&studio_access_document(&spec.allow_from, &vpc, &endpoints))
}

fn want_attrs(plan: &Plan, spec: &StudioAccessSpec, doc: &Doc) -> Attrs {
    attrs([
        ("name", json!(policy_name(&plan.name))),
        ("path", json!(PATH)),
        ("allow_from", json!(spec.allow_from.as_str())),
        ("document", json!(doc.text)),
        ("attached_to", json!(shown_principals(&spec.principals))),
    ])
}

/// The versions to delete before one more is made: the oldest, down to four.
pub fn prune(versions: &[PolicyVersion]) -> Vec<String> {
    let keep = MAX_VERSIONS - 1;
    let extra = (versions.len() + 1).saturating_sub(keep);
    versions.iter().take(extra).map(|v| v.id.clone()).collect()
}

fn update(cx: &mut Cx, p: &ObservedPolicy, spec: &StudioAccessSpec, doc: Doc) {
    let addr = address();
    let mut reasons = Vec::new();
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    let same = doc
        .known()
        .is_some_and(|v| policy::equivalent(Some(&v), Some(&p.document)));
    if !same {
        before.insert(
            "document".into(),
            json!(crate::changeset::compact(&p.document)),
        );
        after.insert("document".into(), json!(doc.text));
        reasons.push(format!("document: {DIFFERS}"));
        let op = Op::SetDocument {
            policy: p.id.clone(),
            document: doc,
            prune: prune(&p.versions),
        };
        cx.node(&addr, op, &[]);
    }
    let (missing, extra) = crate::changeset::set_changes(&spec.principals, &p.attached);
    for w in &missing {
        let op = Op::Attach {
            policy: IdRef::Id(p.id.clone()),
            principal: (*w).clone(),
        };
        cx.node(&addr, op, &[]);
    }
    for h in &extra {
        let op = Op::Detach {
            policy: p.id.clone(),
            principal: (*h).clone(),
        };
        cx.node(&addr, op, &[]);
    }
    if !missing.is_empty() || !extra.is_empty() {
        before.insert("attached_to".into(), json!(shown_principals(&p.attached)));
        after.insert(
            "attached_to".into(),
            json!(shown_principals(&spec.principals)),
        );
        reasons.push(format!("attachments: {DIFFERS}"));
    }
    if !missing.is_empty() {
        cx.warnings.push(CONSOLE_WARNING.into());
    }
    if let Some((reason, tb, ta)) = cx.tag_update(&addr, IdRef::Id(p.id.clone()), &p.tags) {
        reasons.push(reason);
        before.extend(tb);
        after.extend(ta);
    }
    cx.unchanged_or_changed(addr, &p.id, reasons.join("; "), before, after);
}

impl<C: Api + ?Sized + Sync> Perform<C> for AccessPolicy {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                name,
                path,
                document,
                tags,
            } => Ok(Some(
                c.create_policy(&name, &path, &document.resolve()?, &tags)
                    .await?,
            )),
            Op::SetDocument {
                policy,
                document,
                prune,
            } => {
                c.set_policy_document(&policy, &document.resolve()?, &prune)
                    .await?;
                Ok(None)
            }
            Op::Attach { policy, principal } => {
                c.attach_policy(id_of(&policy)?, &principal).await?;
                Ok(None)
            }
            Op::Detach { policy, principal } => {
                c.detach_policy(&policy, &principal).await?;
                Ok(None)
            }
            Op::Delete { policy, versions } => {
                c.delete_policy(&policy, &versions).await?;
                Ok(None)
            }
        }
    }
}
