//! Tag updates after creation (drift, or the plan's tags edited).

use super::tag_list;
use crate::aws::{retry_not_found, send, Aws, AwsError};
use crate::observe::Tags;
use crate::resources::tags::Api;
use aws_sdk_ec2::types::Tag;

impl Api for Aws {
    async fn create_tags(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        let req = self
            .ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(tag_list(tags)));
        retry_not_found(self.not_found_window(), || async {
            send!(req.clone()).map(|_| ())
        })
        .await
    }

    async fn delete_tags(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        let tags = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        send!(self.ec2.delete_tags().resources(id).set_tags(Some(tags))).map(|_| ())
    }

    async fn tag_role(&self, role: &str, tags: &Tags) -> Result<(), AwsError> {
        self.iam_tag_role(role, tags).await
    }

    async fn untag_role(&self, role: &str, keys: &[String]) -> Result<(), AwsError> {
        self.iam_untag_role(role, keys).await
    }

    async fn tag_policy(&self, policy: &str, tags: &Tags) -> Result<(), AwsError> {
        self.iam_tag_policy(policy, tags).await
    }

    async fn untag_policy(&self, policy: &str, keys: &[String]) -> Result<(), AwsError> {
        self.iam_untag_policy(policy, keys).await
    }

    async fn add_sagemaker_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.sagemaker_add_tags(arn, tags).await
    }

    async fn delete_sagemaker_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        self.sagemaker_delete_tags(arn, keys).await
    }
}
