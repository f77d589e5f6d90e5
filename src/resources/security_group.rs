//! Security groups of the plan, named `<plan>-<key>`. AWS cannot change a group's
//! description, so a new description replaces the group (under a suffixed name while
//! the old one still exists). Their rules are the `security_group_rule` kind.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{attrs, id_of, Call, KindOp, Live, Perform, ResourceKind, Tagging};
use crate::changeset::{Attrs, Cx, IdRef, Matched, Replacement};
use crate::execute::{NodeFailure, Run};
use crate::model::{name_tag, Address, Kind, Rule};
use crate::observe::{Observed, Tags};
use crate::plan::SecurityGroupSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedSecurityGroup {
    pub id: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    /// Peers that are groups carry the group id (`Peer::ForeignGroup(id)`); the rule kind
    /// maps them back to plan keys.
    #[serde(with = "crate::model::rules_serde")]
    pub rules: Vec<Rule>,
    pub tags: Tags,
}

impl Live for ObservedSecurityGroup {
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
    fn normalize(&mut self) {
        self.rules.sort();
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Create {
        vpc: IdRef,
        group_name: String,
        description: String,
        tags: Tags,
    },
    Delete {
        group: String,
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
            Op::Create { .. } => "CreateSecurityGroup",
            Op::Delete { .. } => "DeleteSecurityGroup",
        }
    }
    fn creates(&self) -> bool {
        matches!(self, Op::Create { .. })
    }
    fn deletes(&self) -> Vec<&str> {
        match self {
            Op::Delete { group } => vec![group],
            Op::Create { .. } => vec![],
        }
    }
    fn target(&self) -> Option<&str> {
        match self {
            Op::Delete { group } => Some(group),
            Op::Create { vpc, .. } => vpc.id(),
        }
    }
}

/// The security group calls, in the tool's own types.
pub trait Api: Send + Sync {
    fn describe_security_groups_by_plan(&self, plan: &str)
        -> impl Call<Vec<ObservedSecurityGroup>>;
    /// Existing groups the plan names by id (those that exist: a filter, not a list
    /// of ids AWS would refuse whole for one unknown).
    fn describe_security_groups_by_ids(
        &self,
        ids: &[String],
    ) -> impl Call<Vec<ObservedSecurityGroup>>;
    fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> impl Call<String>;
    /// Retries `DependencyViolation` for a bounded time; a group already gone is done.
    fn delete_security_group(&self, id: &str) -> impl Call<()>;
    /// The AWS-managed prefix lists with these names (a gateway service's, e.g.
    /// `com.amazonaws.us-east-1.s3`): (name, id).
    fn describe_prefix_lists(&self, names: &[String]) -> impl Call<Vec<(String, String)>>;
}

pub struct SecurityGroup;

impl ResourceKind for SecurityGroup {
    const KIND: Kind = Kind::SecurityGroup;
    const NAME: &'static str = "security_group";
    const TAGGING: Tagging = Tagging::Ec2;
    const OWNED_BY_TAG: bool = true;
    type Live = ObservedSecurityGroup;
    type Op = Op;

    fn live(obs: &Observed) -> Vec<&ObservedSecurityGroup> {
        obs.security_groups.iter().collect()
    }

    fn reconcile(cx: &mut Cx, live: &Matched<ObservedSecurityGroup>) {
        let plan = cx.plan;
        for (key, spec) in &plan.security_groups {
            let addr = Address::new(Kind::SecurityGroup, key);
            match live.get(key) {
                Some(g) if g.description == spec.description => cx.tags_only(addr, g),
                other => create_or_replace(cx, addr, spec, other),
            }
        }
    }

    fn delete(o: &ObservedSecurityGroup) -> Vec<super::Op> {
        vec![Op::Delete {
            group: o.id.clone(),
        }
        .into()]
    }

    fn shown(o: &ObservedSecurityGroup) -> Option<Attrs> {
        Some(attrs([
            ("name", json!(o.name)),
            ("description", json!(o.description)),
        ]))
    }
}

/// AWS cannot change a group's description or reuse its name in a VPC: a replacement
/// gets a suffixed name while the old group still exists.
fn create_or_replace(
    cx: &mut Cx,
    addr: Address,
    spec: &SecurityGroupSpec,
    old: Option<&ObservedSecurityGroup>,
) {
    let group_name = name_tag(&cx.plan.name, &addr);
    let group_name = match old {
        Some(g) if g.name == group_name => format!("{group_name}-r"),
        _ => group_name,
    };
    let want = attrs([
        ("name", json!(group_name)),
        ("description", json!(spec.description)),
    ]);
    let op = Op::Create {
        vpc: cx.vpc_ref(),
        group_name,
        description: spec.description.clone(),
        tags: cx.tags(&addr),
    };
    let n = cx.node(&addr, op, &[]);
    match old {
        Some(g) => {
            let r = Replacement {
                reasons: vec![
                    "description forces replacement (AWS cannot change it in place)".into(),
                ],
                paths: vec!["description".into()],
                before: SecurityGroup::shown(g),
                after: want,
                delete_first: false,
            };
            cx.replaced::<SecurityGroup>(addr, g, n, r);
        }
        None => cx.created(addr, n, want),
    }
}

impl<C: Api + ?Sized + Sync> Perform<C> for SecurityGroup {
    async fn perform(c: &C, op: Op, _run: &mut Run<'_>) -> Result<Option<String>, NodeFailure> {
        match op {
            Op::Create {
                vpc,
                group_name,
                description,
                tags,
            } => Ok(Some(
                c.create_security_group(id_of(&vpc)?, &group_name, &description, &tags)
                    .await?,
            )),
            Op::Delete { group } => {
                c.delete_security_group(&group).await?;
                Ok(None)
            }
        }
    }
}
