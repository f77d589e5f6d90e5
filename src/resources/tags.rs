//! Tag updates, shared by every taggable kind: the engine emits one when an owned
//! resource's tags drifted from the plan (see `Cx::tag_update`).

use serde::{Deserialize, Serialize};

use super::{id_of, Call, KindOp, Tagging};
use crate::changeset::IdRef;
use crate::execute::NodeFailure;
use crate::observe::Tags;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetTags {
    pub tagging: Tagging,
    pub resource: IdRef,
    pub set: Tags,
    pub remove: Vec<String>,
}

impl KindOp for SetTags {
    fn refs_mut(&mut self) -> Vec<&mut IdRef> {
        vec![&mut self.resource]
    }
    fn api_name(&self) -> &'static str {
        match self.tagging {
            Tagging::Iam => "TagRole",
            Tagging::IamPolicy => "TagPolicy",
            Tagging::SageMaker => "AddTags",
            Tagging::Ec2 | Tagging::None => "CreateTags",
        }
    }
    fn target(&self) -> Option<&str> {
        self.resource.id()
    }
}

/// Tag calls, in the tool's own types.
pub trait Api: Send + Sync {
    fn create_tags(&self, id: &str, tags: &Tags) -> impl Call<()>;
    fn delete_tags(&self, id: &str, keys: &[String]) -> impl Call<()>;
    /// IAM: `role` is the role's ARN.
    fn tag_role(&self, role: &str, tags: &Tags) -> impl Call<()>;
    fn untag_role(&self, role: &str, keys: &[String]) -> impl Call<()>;
    /// IAM: `policy` is a managed policy's ARN.
    fn tag_policy(&self, policy: &str, tags: &Tags) -> impl Call<()>;
    fn untag_policy(&self, policy: &str, keys: &[String]) -> impl Call<()>;
    /// SageMaker: `arn` is a domain's or a user profile's ARN.
    fn add_sagemaker_tags(&self, arn: &str, tags: &Tags) -> impl Call<()>;
    fn delete_sagemaker_tags(&self, arn: &str, keys: &[String]) -> impl Call<()>;
}

pub async fn perform<C: Api + ?Sized>(c: &C, op: SetTags) -> Result<Option<String>, NodeFailure> {
    let id = id_of(&op.resource)?;
    match op.tagging {
        Tagging::Ec2 => {
            if !op.set.is_empty() {
                c.create_tags(id, &op.set).await?;
            }
            if !op.remove.is_empty() {
                c.delete_tags(id, &op.remove).await?;
            }
            Ok(None)
        }
        Tagging::Iam => {
            if !op.set.is_empty() {
                c.tag_role(id, &op.set).await?;
            }
            if !op.remove.is_empty() {
                c.untag_role(id, &op.remove).await?;
            }
            Ok(None)
        }
        Tagging::IamPolicy => {
            if !op.set.is_empty() {
                c.tag_policy(id, &op.set).await?;
            }
            if !op.remove.is_empty() {
                c.untag_policy(id, &op.remove).await?;
            }
            Ok(None)
        }
        Tagging::SageMaker => {
            if !op.set.is_empty() {
                c.add_sagemaker_tags(id, &op.set).await?;
            }
            if !op.remove.is_empty() {
                c.delete_sagemaker_tags(id, &op.remove).await?;
            }
            Ok(None)
        }
        Tagging::None => Err(NodeFailure::Wait(format!(
            "internal error: a tag update on {id}, which has no tags"
        ))),
    }
}
