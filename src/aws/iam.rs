//! IAM: the Studio execution role (get by name, create, attach and detach managed
//! policies, trust policy, tags, delete). Roles are named by ARN in the tool; IAM's
//! calls take the name, which is the ARN's last part.

use serde_json::Value;

use super::{send, Aws, AwsError};
use crate::observe::Tags;
use crate::resources::iam_role::{name_of, Api, ObservedRole};

/// IAM answers a missing role or policy with `NoSuchEntity`.
pub(super) fn no_such_entity(e: &AwsError) -> bool {
    e.code.as_deref() == Some("NoSuchEntity")
}

/// A delete or detach of what is already gone is done.
pub(super) fn gone(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if no_such_entity(&e) => Ok(()),
        other => other,
    }
}

/// The trust policy as IAM returns it: URL-encoded JSON (LocalStack: plain JSON).
pub(super) fn trust_of(doc: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(Value::String(doc.to_string()))
}

pub(super) fn iam_tags(tags: &Tags) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

impl Aws {
    async fn attached_policies(&self, name: &str) -> Result<Vec<String>, AwsError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = send!(self
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .set_marker(marker.clone()))?;
            out.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_string)),
            );
            match page.marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    /// IAM: tag a role (named by ARN).
    pub(crate) async fn iam_tag_role(&self, role: &str, tags: &Tags) -> Result<(), AwsError> {
        send!(self
            .iam
            .tag_role()
            .role_name(name_of(role))
            .set_tags(Some(iam_tags(tags))))
        .map(|_| ())
    }

    pub(crate) async fn iam_untag_role(&self, role: &str, keys: &[String]) -> Result<(), AwsError> {
        send!(self
            .iam
            .untag_role()
            .role_name(name_of(role))
            .set_tag_keys(Some(keys.to_vec())))
        .map(|_| ())
    }
}

impl Api for Aws {
    async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        let out = match send!(self.iam.get_role().role_name(name)) {
            Ok(o) => o,
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(r) = out.role() else {
            return Ok(None);
        };
        let tags: Tags = r
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        Ok(Some(ObservedRole {
            id: r.arn().to_string(),
            name: r.role_name().to_string(),
            path: r.path().to_string(),
            trust: trust_of(r.assume_role_policy_document().unwrap_or("{}")),
            policies: self.attached_policies(name).await?,
            tags,
        }))
    }

    async fn create_role(
        &self,
        name: &str,
        path: &str,
        trust: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = send!(self
            .iam
            .create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(trust)
            .description("SageMaker Studio execution role (sagevpc)")
            .set_tags(Some(iam_tags(tags))))?;
        out.role()
            .map(|r| r.arn().to_string())
            .ok_or_else(|| AwsError::missing("CreateRole", "role ARN"))
    }

    async fn attach_role_policy(&self, role: &str, policy: &str) -> Result<(), AwsError> {
        send!(self
            .iam
            .attach_role_policy()
            .role_name(name_of(role))
            .policy_arn(policy))
        .map(|_| ())
    }

    async fn detach_role_policy(&self, role: &str, policy: &str) -> Result<(), AwsError> {
        gone(
            send!(self
                .iam
                .detach_role_policy()
                .role_name(name_of(role))
                .policy_arn(policy))
            .map(|_| ()),
        )
    }

    async fn update_trust(&self, role: &str, trust: &str) -> Result<(), AwsError> {
        send!(self
            .iam
            .update_assume_role_policy()
            .role_name(name_of(role))
            .policy_document(trust))
        .map(|_| ())
    }

    async fn delete_role(&self, role: &str) -> Result<(), AwsError> {
        gone(send!(self.iam.delete_role().role_name(name_of(role))).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_policy_is_read_url_encoded_or_plain() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(trust_of(plain), trust_of(encoded));
        assert_eq!(trust_of(plain)["Version"], "2012-10-17");
    }
}
