//! SageMaker: Studio domains and user profiles, their tags, and what a deleted domain
//! leaves behind (its EFS volume and NFS security groups).
//!
//! Domains are read for two reasons: the plan's own (found by tag), and any domain in
//! the plan's VPC, which places ENIs, security groups and EFS mount targets in the
//! subnets and VPC it was created with, so that deleting those (destroy, a replacement,
//! a subnet dropped from the plan) would fail half-way; knowing them lets the plan
//! refuse such a change up front.

use std::time::Duration;

use aws_sdk_sagemaker::types::{
    AppNetworkAccessType, AuthMode, DefaultSpaceSettings, RetentionPolicy, RetentionType,
    UserSettings,
};

use super::poll::{self, next_delay, Look};
use super::{pages, send, Aws, AwsError};
use crate::observe::{ObservedDomain, StudioDomain, Tags};
use crate::resources::studio_domain::{self, DeleteDomain, DomainUpdateIds, NewDomainIds};

/// How long a domain or profile may take to become `InService` or go away.
const WAIT: Duration = Duration::from_secs(40 * 60);
/// How long `CreateDomain` retries a role IAM has not propagated yet.
const ROLE_PROPAGATION: Duration = Duration::from_secs(90);

pub(crate) fn sm_tags(tags: &Tags) -> Vec<aws_sdk_sagemaker::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_sagemaker::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// A domain as read: the plan's view of it and the check's.
fn observed_of(
    id: &str,
    d: &aws_sdk_sagemaker::operation::describe_domain::DescribeDomainOutput,
) -> ObservedDomain {
    let user = d.default_user_settings();
    ObservedDomain {
        id: id.to_string(),
        arn: d.domain_arn().unwrap_or_default().to_string(),
        name: d.domain_name().unwrap_or_default().to_string(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        auth_mode: d
            .auth_mode()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        vpc_id: d.vpc_id().unwrap_or_default().to_string(),
        subnet_ids: d.subnet_ids().to_vec(),
        vpc_only: d
            .app_network_access_type()
            .is_some_and(|t| t.as_str() == "VpcOnly"),
        execution_role: user
            .and_then(|u| u.execution_role())
            .unwrap_or_default()
            .to_string(),
        security_groups: user
            .map(|u| u.security_groups().to_vec())
            .unwrap_or_default(),
        home_efs: d.home_efs_file_system_id().map(str::to_string),
        url: d.url().map(str::to_string),
        tags: Tags::new(),
    }
}

impl Aws {
    /// The Studio domains whose VPC is `vpc_id`. `ListDomains` has no VPC in its answer
    /// (nor a filter), so each listed domain is described, concurrently.
    pub async fn domains_in_vpc(&self, vpc_id: &str) -> Result<Vec<StudioDomain>, AwsError> {
        let mut out: Vec<StudioDomain> = self
            .all_domains()
            .await?
            .into_iter()
            .filter(|(d, _)| d.vpc_id == vpc_id)
            .map(|(d, domain_groups)| StudioDomain {
                security_group_ids: domain_groups
                    .into_iter()
                    .chain(d.security_groups.iter().cloned())
                    .collect(),
                id: d.id,
                name: d.name,
                status: d.status,
                vpc_id: d.vpc_id,
                subnet_ids: d.subnet_ids,
                vpc_only: d.vpc_only,
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Every domain of the region, described (with the domain's own groups).
    pub(super) async fn all_domains(&self) -> Result<Vec<(ObservedDomain, Vec<String>)>, AwsError> {
        let pages = pages!(self.sagemaker.list_domains().into_paginator())?;
        let ids: Vec<String> = pages
            .iter()
            .flat_map(|p| p.domains())
            .filter_map(|d| d.domain_id().map(str::to_string))
            .collect();
        let described =
            futures::future::join_all(ids.iter().map(|id| self.describe_domain(id))).await;
        let mut out = Vec::new();
        for d in described {
            out.extend(d?);
        }
        Ok(out)
    }

    /// One domain; `None` when it was deleted between the list and the describe.
    async fn describe_domain(
        &self,
        id: &str,
    ) -> Result<Option<(ObservedDomain, Vec<String>)>, AwsError> {
        let d = match send!(self.sagemaker.describe_domain().domain_id(id)) {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let own = d
            .domain_settings()
            .map(|s| s.security_group_ids().to_vec())
            .unwrap_or_default();
        Ok(Some((observed_of(id, &d), own)))
    }

    /// A resource's tags.
    pub(crate) async fn sagemaker_tags_of(&self, arn: &str) -> Result<Tags, AwsError> {
        let pages = pages!(self
            .sagemaker
            .list_tags()
            .resource_arn(arn)
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.tags())
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    pub(crate) async fn sagemaker_add_tags(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        send!(self
            .sagemaker
            .add_tags()
            .resource_arn(arn)
            .set_tags(Some(sm_tags(tags))))
        .map(|_| ())
    }

    pub(crate) async fn sagemaker_delete_tags(
        &self,
        arn: &str,
        keys: &[String],
    ) -> Result<(), AwsError> {
        send!(self
            .sagemaker
            .delete_tags()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec())))
        .map(|_| ())
    }

    async fn send_create_domain(&self, d: &NewDomainIds) -> Result<String, AwsError> {
        let user = UserSettings::builder()
            .execution_role(&d.role)
            .set_security_groups(Some(d.groups.clone()))
            .build();
        let space = DefaultSpaceSettings::builder()
            .execution_role(&d.role)
            .set_security_groups(Some(d.groups.clone()))
            .build();
        let out = send!(self
            .sagemaker
            .create_domain()
            .domain_name(&d.name)
            .auth_mode(AuthMode::from(d.auth_mode.as_str()))
            .default_user_settings(user)
            .default_space_settings(space)
            .set_subnet_ids(Some(d.subnets.clone()))
            .vpc_id(&d.vpc)
            .app_network_access_type(AppNetworkAccessType::VpcOnly)
            .set_tags(Some(sm_tags(&d.tags))))?;
        let arn = out
            .domain_arn()
            .ok_or_else(|| AwsError::missing("CreateDomain", "domain ARN"))?;
        Ok(arn.rsplit('/').next().unwrap_or(arn).to_string())
    }
}

/// SageMaker refuses a role IAM has not made assumable yet (seconds after CreateRole)
/// with a ValidationException that names the role.
fn role_not_ready(e: &AwsError) -> bool {
    e.code.as_deref() == Some("ValidationException")
        && (e.message.contains("assume") || e.message.contains("role"))
}

impl studio_domain::Api for Aws {
    async fn describe_domains_by_plan(&self, plan: &str) -> Result<Vec<ObservedDomain>, AwsError> {
        let all = self.all_domains().await?;
        let tagged = futures::future::join_all(all.into_iter().map(|(mut d, _)| async move {
            d.tags = self.sagemaker_tags_of(&d.arn).await?;
            Ok::<_, AwsError>(d)
        }))
        .await;
        let mut out = Vec::new();
        for d in tagged {
            let d = d?;
            if crate::observe::owned_key(&d.tags, plan).is_some() {
                out.push(d);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn create_domain(&self, d: &NewDomainIds) -> Result<String, AwsError> {
        let deadline = tokio::time::Instant::now() + ROLE_PROPAGATION;
        let mut delay = Duration::from_secs(2);
        loop {
            match self.send_create_domain(d).await {
                Err(e) if role_not_ready(&e) && tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "retrying CreateDomain while the role propagates");
                    tokio::time::sleep(delay).await;
                    delay = next_delay(delay);
                }
                other => return other,
            }
        }
    }

    async fn update_domain(&self, u: &DomainUpdateIds) -> Result<(), AwsError> {
        let user = UserSettings::builder()
            .execution_role(&u.role)
            .set_security_groups(Some(u.groups.clone()))
            .build();
        send!(self
            .sagemaker
            .update_domain()
            .domain_id(&u.domain)
            .default_user_settings(user)
            .vpc_id(&u.vpc)
            .set_subnet_ids(Some(u.subnets.clone()))
            .app_network_access_type(AppNetworkAccessType::VpcOnly))
        .map(|_| ())
    }

    async fn wait_domain_in_service(&self, id: &str) -> Result<(), AwsError> {
        poll::until("DescribeDomain", &format!("domain {id}"), WAIT, || async {
            let d = send!(self.sagemaker.describe_domain().domain_id(id))?;
            match d.status().map(|s| s.as_str()).unwrap_or_default() {
                "InService" => Ok(Look::Done(())),
                s @ ("Failed" | "Update_Failed") => Err(AwsError::new(
                    "DescribeDomain",
                    Some(s),
                    format!(
                        "domain {id} is {s}: {}",
                        d.failure_reason().unwrap_or("no reason given")
                    ),
                )),
                s => Ok(Look::NotYet(s.to_string())),
            }
        })
        .await
    }

    async fn delete_domain(&self, id: &str) -> Result<(), AwsError> {
        let retention = RetentionPolicy::builder()
            .home_efs_file_system(RetentionType::Delete)
            .build();
        match send!(self
            .sagemaker
            .delete_domain()
            .domain_id(id)
            .retention_policy(retention))
        {
            Err(e) if e.is_not_found() => return Ok(()),
            other => other.map(|_| ())?,
        }
        poll::until("DescribeDomain", &format!("domain {id}"), WAIT, || async {
            let status = match send!(self.sagemaker.describe_domain().domain_id(id)) {
                Err(e) if e.is_not_found() => return Ok(Look::Done(())),
                d => d?
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            };
            if status == "Delete_Failed" {
                return Err(AwsError::new(
                    "DescribeDomain",
                    Some(status.as_str()),
                    format!("domain {id} was not deleted (status {status})"),
                ));
            }
            Ok(Look::NotYet(status))
        })
        .await
    }

    async fn delete_domain_leftovers(&self, d: &DeleteDomain) -> Result<(), AwsError> {
        let volumes = match &d.home_efs {
            Some(fs) => vec![fs.clone()],
            None => self.volumes_of_domain(&d.domain).await?,
        };
        for fs in &volumes {
            self.delete_home_efs(fs).await?;
        }
        self.delete_domain_interfaces(&d.domain, &d.vpc).await?;
        self.delete_nfs_groups(&d.domain, &d.vpc).await
    }

    async fn tag_domain_leftovers(
        &self,
        domain: &str,
        vpc: &str,
        plan: &str,
    ) -> Result<(), AwsError> {
        self.tag_nfs_groups(domain, vpc, plan).await
    }

    async fn describe_domain_leftovers(
        &self,
        plan: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        self.left_nfs_groups(plan).await
    }
}
