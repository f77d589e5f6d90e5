//! The Studio domain's user profiles `user_profile.<name>` (`[studio.user_profiles.*]`).
//! Each user's apps carry the user's own security group (`security_group.user-<name>`,
//! and the shared client group when the endpoints admit one), so one user's apps cannot
//! reach another's. The name and the domain are fixed (a change replaces the profile);
//! the groups are updated in place (`UpdateUserProfile`).
//!
//! Deleted before the domain: first the user's apps (`DeleteApp`, until each is
//! `Deleted`) and private spaces, which SageMaker refuses to delete a profile with,
//! then the profile, until it is gone. A profile's id is `<domain id>/<name>`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{attrs, id_of, ids_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched, Replacement, DIFFERS};
use crate::execute::{NodeFailure, Run};
use crate::model::{Address, Kind};
use crate::observe::{Observed, Tags};
use crate::plan::UserProfileSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedUserProfile {
    /// `<domain id>/<name>`.
    pub id: String,
    pub arn: String,
    pub domain_id: String,
    pub name: String,
    pub status: String,
    pub security_groups: Vec<String>,
    pub tags: Tags,
}

impl Live for ObservedUserProfile {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
    /// A profile is the domain's child, not the VPC's: replaced with its domain.
    fn vpc_id(&self) -> Option<&str> {
        None
    }
    fn holds(&self) -> Vec<&str> {
        std::iter::once(self.domain_id.as_str())
            .chain(self.security_groups.iter().map(String::as_str))
            .collect()
    }
    fn normalize(&mut self) {
        self.security_groups.sort();
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        domain: IdRef,
        name: String,
        groups: Vec<IdRef>,
        tags: Tags,
    },
    Update {
        domain: String,
        name: String,
        groups: Vec<IdRef>,
    },
    Delete {
        id: String,
        domain: String,
        name: String,
    },
}

impl KindOp for Op {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        match self {
            Op::Create { domain, groups, .. } => {
                std::iter::once(domain).chain(groups.iter_mut()).collect()
            }
            Op::Update { groups, .. } => groups.iter_mut().collect(),
            Op::Delete { .. } => vec![],
        }
    }
    fn api_name(&self) -> &'static str {
        match self {
            Op::Create { .. } => "CreateUserProfile",
            Op::Update { .. } => "UpdateUserProfile",
            Op::Delete { .. } => "DeleteUserProfile",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { id, .. } => vec![id],
            _ => vec![],
        }
    }
    fn waits(&self) -> bool {
        true
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Create { .. } => None,
            Op::Update { name, .. } | Op::Delete { name, .. } => Some(name),
        }
    }
}

/// The user profile calls, in the tool's own types.
pub trait Api: Send + Sync {
    /// The profiles of `domains` (ids) tagged as this plan's.
    fn describe_user_profiles_by_plan(
        &self,
        plan: &str,
        domains: &[String],
    ) -> impl Call<Vec<ObservedUserProfile>>;
    /// Creates the profile and waits until it is `InService`; returns its id.
    fn create_user_profile(
        &self,
        domain: &str,
        name: &str,
        groups: &[String],
        tags: &Tags,
    ) -> impl Call<String>;
    /// Sets the groups and waits until it is `InService` again.
    fn update_user_profile(&self, domain: &str, name: &str, groups: &[String]) -> impl Call<()>;
    /// Deletes the user's apps (until each is `Deleted`) and private spaces, then the
    /// profile, until it is gone. Already gone is done.
    fn delete_user_profile(&self, domain: &str, name: &str) -> impl Call<()>;
}

pub struct UserProfile;

pub fn address(name: &str) -> Address {
    Address::new(Kind::UserProfile, name)
}

fn want_attrs(name: &str, u: &UserProfileSpec) -> Attrs {
    let groups: Vec<String> = u
        .security_groups
        .iter()
        .map(|g| format!("security_group.{g}"))
        .collect();
    attrs([
        ("name", json!(name)),
        ("domain", json!(super::studio_domain::address().to_string())),
        ("security_groups", json!(groups)),
    ])
}

impl ResourceKind for UserProfile {
    const KIND: Kind = Kind::UserProfile;
    const NAME: &'static str = "user_profile";
    const TAGGING: Tagging = Tagging::SageMaker;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedUserProfile;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedUserProfile> {
        obs.user_profiles.iter().collect()
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedUserProfile>) {
        let Some(s) = cx.plan.studio.as_ref() else {
            return;
        };
        let domain_addr = super::studio_domain::address();
        let Some(domain) = cx.reference(&domain_addr) else {
            return;
        };
        let fresh_domain = cx.is_fresh(&domain_addr);
        for (name, u) in &s.user_profiles {
            let addr = address(name);
            let groups = super::studio_domain::group_refs(cx, &u.security_groups);
            let old = live.get(name);
            match old {
                Some(p) if !fresh_domain && p.name == *name => update(cx, addr, p, groups),
                _ => {
                    let op = Op::Create {
                        domain: domain.clone(),
                        name: name.clone(),
                        groups,
                        tags: cx.tags(&addr),
                    };
                    let n = cx.node(&addr, op, &[]);
                    match old {
                        Some(p) => {
                            let replacement = Replacement {
                                reasons: vec![format!("its domain is replaced ({domain_addr})")],
                                paths: vec!["domain".into()],
                                before: UserProfile::shown(p),
                                after: want_attrs(name, u),
                                delete_first: false,
                            };
                            cx.replaced::<UserProfile>(addr, p, n, replacement);
                        }
                        None => cx.created(addr, n, want_attrs(name, u)),
                    }
                }
            }
        }
    }

    fn delete(o: &ObservedUserProfile) -> Vec<super::Op> {
        vec![Op::Delete {
            id: o.id.clone(),
            domain: o.domain_id.clone(),
            name: o.name.clone(),
        }
        .into()]
    }

    fn shown(o: &ObservedUserProfile) -> Option<Attrs> {
        Some(attrs([
            ("name", json!(o.name)),
            ("domain", json!(o.domain_id)),
            ("security_groups", json!(o.security_groups)),
        ]))
    }
}

fn update(cx: &mut Cx, addr: Address, p: &ObservedUserProfile, groups: Vec<IdRef>) {
    let mut reasons = Vec::new();
    let (mut before, mut after) = (Attrs::new(), Attrs::new());
    if !super::studio_domain::same(&groups, &p.security_groups) {
        before.insert("security_groups".into(), json!(p.security_groups));
        let shown: Vec<String> = groups
            .iter()
            .map(|g| g.id().unwrap_or("(new group)").to_string())
            .collect();
        after.insert("security_groups".into(), json!(shown));
        reasons.push(format!("security groups: {DIFFERS}"));
        let op = Op::Update {
            domain: p.domain_id.clone(),
            name: p.name.clone(),
            groups,
        };
        cx.node(&addr, op, &[]);
    }
    if let Some((reason, tb, ta)) = cx.tag_update(&addr, IdRef::Id(p.arn.clone()), &p.tags) {
        reasons.push(reason);
        before.extend(tb);
        after.extend(ta);
    }
    cx.unchanged_or_changed(addr, &p.id, reasons.join("; "), before, after);
}

impl<C: Api + ?Sized + Sync> Perform<C> for UserProfile {
    async fn perform(c: &C, op: Op, run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                domain,
                name,
                groups,
                tags,
            } => {
                let (domain, groups) = (id_of(&domain)?.to_string(), ids_of(&groups)?);
                run.slot.release();
                let id = c
                    .create_user_profile(&domain, &name, &groups, &tags)
                    .await?;
                Ok(Some(id))
            }
            Op::Update {
                domain,
                name,
                groups,
            } => {
                let groups = ids_of(&groups)?;
                run.slot.release();
                c.update_user_profile(&domain, &name, &groups).await?;
                Ok(None)
            }
            Op::Delete { domain, name, .. } => {
                run.slot.release();
                c.delete_user_profile(&domain, &name).await?;
                Ok(None)
            }
        }
    }
}
