//! The fake's IAM managed policies and principals. It enforces what IAM does: at most
//! five versions, attachments only to principals that exist, no delete while attached
//! or while versions other than the default remain.

use super::{err, FakeCloud};
use crate::aws::AwsError;
use crate::observe::{ObservedPolicy, Tags};
use crate::plan::access::{Caller, Principal};
use crate::resources::access_policy::{self, PolicyVersion, MAX_VERSIONS};

pub const ACCOUNT: &str = "000000000000";

impl FakeCloud {
    /// Make an IAM role, group or user exist.
    pub fn add_principal(&self, p: Principal) {
        self.world().principals.push(p);
    }
}

fn parse(doc: &str, op: &'static str) -> Result<serde_json::Value, AwsError> {
    serde_json::from_str(doc).map_err(|e| err(op, "MalformedPolicyDocument", e.to_string()))
}

impl access_policy::Api for FakeCloud {
    async fn caller(&self) -> Result<Caller, AwsError> {
        Ok(Caller {
            partition: "aws".into(),
            account: ACCOUNT.into(),
        })
    }

    async fn get_policy(&self, arn: &str) -> Result<Option<ObservedPolicy>, AwsError> {
        Ok(self.world().policies.iter().find(|p| p.id == arn).cloned())
    }

    async fn existing_principals(&self, ps: &[Principal]) -> Result<Vec<Principal>, AwsError> {
        let w = self.world();
        Ok(ps
            .iter()
            .filter(|p| w.principals.contains(p))
            .cloned()
            .collect())
    }

    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        doc: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let document = parse(doc, "CreatePolicy")?;
        let mut w = self.world();
        let arn = format!("arn:aws:iam::{ACCOUNT}:policy{path}{name}");
        if w.policies.iter().any(|p| p.id == arn) {
            return Err(err("CreatePolicy", "EntityAlreadyExists", name));
        }
        w.policies.push(ObservedPolicy {
            id: arn.clone(),
            name: name.into(),
            document,
            versions: Vec::new(),
            attached: Vec::new(),
            tags: tags.clone(),
        });
        Ok(arn)
    }

    async fn set_policy_document(
        &self,
        arn: &str,
        doc: &str,
        prune: &[String],
    ) -> Result<(), AwsError> {
        let document = parse(doc, "CreatePolicyVersion")?;
        let n = self.new_id("v");
        let mut w = self.world();
        let p = w
            .policies
            .iter_mut()
            .find(|p| p.id == arn)
            .ok_or_else(|| err("CreatePolicyVersion", "NoSuchEntity", arn))?;
        p.versions.retain(|v| !prune.contains(&v.id));
        // The default version stays as a non-default one beside the new default.
        if p.versions.len() + 2 > MAX_VERSIONS {
            return Err(err(
                "CreatePolicyVersion",
                "LimitExceeded",
                "a managed policy can have up to 5 versions",
            ));
        }
        p.document = document;
        p.versions.push(PolicyVersion {
            id: n.clone(),
            created: n,
        });
        Ok(())
    }

    async fn attach_policy(&self, arn: &str, to: &Principal) -> Result<(), AwsError> {
        let mut w = self.world();
        if !w.principals.contains(to) {
            return Err(err("AttachRolePolicy", "NoSuchEntity", to.to_string()));
        }
        let p = w
            .policies
            .iter_mut()
            .find(|p| p.id == arn)
            .ok_or_else(|| err("AttachRolePolicy", "NoSuchEntity", arn))?;
        if !p.attached.contains(to) {
            p.attached.push(to.clone());
        }
        Ok(())
    }

    async fn detach_policy(&self, arn: &str, from: &Principal) -> Result<(), AwsError> {
        if let Some(p) = self.world().policies.iter_mut().find(|p| p.id == arn) {
            p.attached.retain(|a| a != from);
        }
        Ok(())
    }

    async fn delete_policy(&self, arn: &str, versions: &[String]) -> Result<(), AwsError> {
        let mut w = self.world();
        let Some(i) = w.policies.iter().position(|p| p.id == arn) else {
            return Ok(());
        };
        let p = &mut w.policies[i];
        p.versions.retain(|v| !versions.contains(&v.id));
        if !p.attached.is_empty() {
            return Err(err(
                "DeletePolicy",
                "DeleteConflict",
                "the policy is attached",
            ));
        }
        if !p.versions.is_empty() {
            return Err(err(
                "DeletePolicy",
                "DeleteConflict",
                "the policy has versions other than the default",
            ));
        }
        w.policies.remove(i);
        Ok(())
    }
}
