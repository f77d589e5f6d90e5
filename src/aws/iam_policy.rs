//! IAM: the Studio access policy (get with its versions and attachments, create, new
//! default version, attach and detach, tags, delete), whether principals exist, and
//! STS for the caller's account.

use super::iam::{gone, iam_tags, no_such_entity, trust_of};
use super::{send, Aws, AwsError};
use crate::observe::Tags;
use crate::plan::access::{Caller, Principal, PrincipalKind};
use crate::resources::access_policy::{Api, ObservedPolicy, PolicyVersion};

/// The name in an IAM ARN (`arn:aws:iam::1:policy/sagevpc/name` -> `name`).
fn name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The partition in an ARN (`arn:aws-cn:...` -> `aws-cn`).
fn partition_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(1).filter(|p| !p.is_empty())
}

impl Aws {
    pub(crate) async fn iam_tag_policy(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        send!(self
            .iam
            .tag_policy()
            .policy_arn(arn)
            .set_tags(Some(iam_tags(tags))))
        .map(|_| ())
    }

    pub(crate) async fn iam_untag_policy(
        &self,
        arn: &str,
        keys: &[String],
    ) -> Result<(), AwsError> {
        send!(self
            .iam
            .untag_policy()
            .policy_arn(arn)
            .set_tag_keys(Some(keys.to_vec())))
        .map(|_| ())
    }

    /// The non-default versions, oldest first, and the default version's id.
    async fn policy_versions(&self, arn: &str) -> Result<(Vec<PolicyVersion>, String), AwsError> {
        let out = send!(self.iam.list_policy_versions().policy_arn(arn))?;
        let mut default = String::new();
        let mut versions = Vec::new();
        for v in out.versions() {
            let id = v.version_id().unwrap_or_default().to_string();
            if v.is_default_version() {
                default = id;
            } else {
                let created = v.create_date().map(|d| d.to_string()).unwrap_or_default();
                versions.push(PolicyVersion { id, created });
            }
        }
        versions.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        Ok((versions, default))
    }

    async fn policy_attachments(&self, arn: &str) -> Result<Vec<Principal>, AwsError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = send!(self
                .iam
                .list_entities_for_policy()
                .policy_arn(arn)
                .set_marker(marker.clone()))?;
            let of = |kind, name: Option<&str>| Principal {
                kind,
                name: name.unwrap_or_default().to_string(),
            };
            out.extend(
                page.policy_roles()
                    .iter()
                    .map(|r| of(PrincipalKind::Role, r.role_name())),
            );
            out.extend(
                page.policy_groups()
                    .iter()
                    .map(|g| of(PrincipalKind::Group, g.group_name())),
            );
            out.extend(
                page.policy_users()
                    .iter()
                    .map(|u| of(PrincipalKind::User, u.user_name())),
            );
            match page.marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn principal_exists(&self, p: &Principal) -> Result<bool, AwsError> {
        let r = match p.kind {
            PrincipalKind::Role => send!(self.iam.get_role().role_name(&p.name)).map(|_| ()),
            PrincipalKind::Group => send!(self.iam.get_group().group_name(&p.name)).map(|_| ()),
            PrincipalKind::User => send!(self.iam.get_user().user_name(&p.name)).map(|_| ()),
        };
        match r {
            Ok(()) => Ok(true),
            Err(e) if no_such_entity(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Api for Aws {
    async fn caller(&self) -> Result<Caller, AwsError> {
        let out = send!(self.sts.get_caller_identity())?;
        let account = out
            .account()
            .ok_or_else(|| AwsError::missing("GetCallerIdentity", "Account"))?;
        let partition = out.arn().and_then(partition_of_arn).unwrap_or("aws");
        Ok(Caller {
            partition: partition.to_string(),
            account: account.to_string(),
        })
    }

    async fn get_policy(&self, arn: &str) -> Result<Option<ObservedPolicy>, AwsError> {
        let out = match send!(self.iam.get_policy().policy_arn(arn)) {
            Ok(o) => o,
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(p) = out.policy() else {
            return Ok(None);
        };
        let tags: Tags = p
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let ((versions, default), attached) =
            tokio::try_join!(self.policy_versions(arn), self.policy_attachments(arn))?;
        let default = p
            .default_version_id()
            .map(str::to_string)
            .unwrap_or(default);
        let version = send!(self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(&default))?;
        let doc = version
            .policy_version()
            .and_then(|v| v.document())
            .unwrap_or("{}");
        Ok(Some(ObservedPolicy {
            id: p.arn().unwrap_or(arn).to_string(),
            name: p.policy_name().unwrap_or_else(|| name_of(arn)).to_string(),
            document: trust_of(doc),
            versions,
            attached,
            tags,
        }))
    }

    async fn existing_principals(
        &self,
        principals: &[Principal],
    ) -> Result<Vec<Principal>, AwsError> {
        let found =
            futures::future::try_join_all(principals.iter().map(|p| self.principal_exists(p)))
                .await?;
        Ok(principals
            .iter()
            .zip(found)
            .filter(|(_, f)| *f)
            .map(|(p, _)| p.clone())
            .collect())
    }

    async fn create_policy(
        &self,
        name: &str,
        path: &str,
        doc: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let out = send!(self
            .iam
            .create_policy()
            .policy_name(name)
            .path(path)
            .policy_document(doc)
            .description("SageMaker Studio only from inside the VPC (sagevpc)")
            .set_tags(Some(iam_tags(tags))))?;
        out.policy()
            .and_then(|p| p.arn())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing("CreatePolicy", "policy ARN"))
    }

    async fn set_policy_document(
        &self,
        arn: &str,
        doc: &str,
        prune: &[String],
    ) -> Result<(), AwsError> {
        for v in prune {
            gone(
                send!(self
                    .iam
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(v))
                .map(|_| ()),
            )?;
        }
        send!(self
            .iam
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(doc)
            .set_as_default(true))
        .map(|_| ())
    }

    async fn attach_policy(&self, arn: &str, to: &Principal) -> Result<(), AwsError> {
        let n = &to.name;
        match to.kind {
            PrincipalKind::Role => {
                send!(self.iam.attach_role_policy().role_name(n).policy_arn(arn)).map(|_| ())
            }
            PrincipalKind::Group => {
                send!(self.iam.attach_group_policy().group_name(n).policy_arn(arn)).map(|_| ())
            }
            PrincipalKind::User => {
                send!(self.iam.attach_user_policy().user_name(n).policy_arn(arn)).map(|_| ())
            }
        }
    }

    async fn detach_policy(&self, arn: &str, from: &Principal) -> Result<(), AwsError> {
        let n = &from.name;
        gone(match from.kind {
            PrincipalKind::Role => {
                send!(self.iam.detach_role_policy().role_name(n).policy_arn(arn)).map(|_| ())
            }
            PrincipalKind::Group => {
                send!(self.iam.detach_group_policy().group_name(n).policy_arn(arn)).map(|_| ())
            }
            PrincipalKind::User => {
                send!(self.iam.detach_user_policy().user_name(n).policy_arn(arn)).map(|_| ())
            }
        })
    }

    async fn delete_policy(&self, arn: &str, versions: &[String]) -> Result<(), AwsError> {
        for v in versions {
            gone(
                send!(self
                    .iam
                    .delete_policy_version()
                    .policy_arn(arn)
                    .version_id(v))
                .map(|_| ()),
            )?;
        }
        gone(send!(self.iam.delete_policy().policy_arn(arn)).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_comes_from_the_callers_arn() {
        assert_eq!(
            partition_of_arn("arn:aws-cn:iam::123456789012:user/x"),
            Some("aws-cn")
        );
        assert_eq!(partition_of_arn("nonsense"), None);
        assert_eq!(
            name_of("arn:aws:iam::1:policy/sagevpc/p-studio-access"),
            "p-studio-access"
        );
    }
}
