//! What a deleted Studio domain leaves behind, removed so that the subnets and the VPC
//! can go (Terraform's AWS provider issue #20986): the home EFS volume, when SageMaker
//! has not removed it (its mount targets hold ENIs in the subnets), and the two NFS
//! security groups SageMaker creates in the VPC, `security-group-for-inbound-nfs-<id>`
//! and `security-group-for-outbound-nfs-<id>`, which refer to each other (their rules
//! go first), and network interfaces SageMaker left detached in the VPC.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;

use super::poll::{self, Look};
use super::{gone_ok, pages, send, Aws, AwsError};
use crate::resources::security_group::Api as _;

/// How long the mount targets and the volume may take to go away.
const WAIT: Duration = Duration::from_secs(15 * 60);

/// The names of the NFS groups SageMaker makes for `domain`.
pub fn nfs_group_names(domain: &str) -> [String; 2] {
    [
        format!("security-group-for-inbound-nfs-{domain}"),
        format!("security-group-for-outbound-nfs-{domain}"),
    ]
}

impl Aws {
    /// The EFS volumes SageMaker made for `domain` (tagged
    /// `ManagedByAmazonSageMakerResource` with the domain's ARN): for a domain already
    /// gone, whose description (and so its home volume's id) can no longer be read.
    pub(crate) async fn volumes_of_domain(&self, domain: &str) -> Result<Vec<String>, AwsError> {
        let pages = pages!(self.efs.describe_file_systems().into_paginator())?;
        let suffix = format!("/{domain}");
        Ok(pages
            .iter()
            .flat_map(|p| p.file_systems())
            .filter(|f| {
                f.tags().iter().any(|t| {
                    t.key() == "ManagedByAmazonSageMakerResource" && t.value().ends_with(&suffix)
                })
            })
            .map(|f| f.file_system_id().to_string())
            .collect())
    }

    /// The volume's mount targets, then (once they are gone) the volume. A volume or
    /// mount target already gone (`FileSystemNotFound`, `MountTargetNotFound`) is done.
    pub(crate) async fn delete_home_efs(&self, fs: &str) -> Result<(), AwsError> {
        let what = format!("a mount target of {fs}");
        let gone = poll::until("DescribeMountTargets", &what, WAIT, || async {
            let targets = match send!(self.efs.describe_mount_targets().file_system_id(fs)) {
                Err(e) if e.is_not_found() => return Ok(Look::Done(true)),
                t => t?,
            };
            let ids: Vec<String> = targets
                .mount_targets()
                .iter()
                .map(|m| m.mount_target_id().to_string())
                .collect();
            if ids.is_empty() {
                return Ok(Look::Done(false));
            }
            for id in &ids {
                gone_ok(send!(self.efs.delete_mount_target().mount_target_id(id)).map(|_| ()))?;
            }
            Ok(Look::NotYet("there".into()))
        })
        .await?;
        if gone {
            return Ok(());
        }
        gone_ok(send!(self.efs.delete_file_system().file_system_id(fs)).map(|_| ()))
    }

    /// Network interfaces SageMaker left in `vpc` for the domain (their descriptions
    /// name it) once they are detached; attached ones belong to something still going
    /// away, which deletes them.
    pub(crate) async fn delete_domain_interfaces(
        &self,
        domain: &str,
        vpc: &str,
    ) -> Result<(), AwsError> {
        let pages = pages!(self
            .ec2
            .describe_network_interfaces()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .filters(
                Filter::builder()
                    .name("description")
                    .values(format!("*{domain}*"))
                    .build()
            )
            .into_paginator())?;
        let idle: Vec<String> = pages
            .iter()
            .flat_map(|p| p.network_interfaces())
            .filter(|n| n.status().is_some_and(|s| s.as_str() == "available"))
            .filter_map(|n| n.network_interface_id().map(str::to_string))
            .collect();
        for id in idle {
            gone_ok(
                send!(self
                    .ec2
                    .delete_network_interface()
                    .network_interface_id(&id))
                .map(|_| ()),
            )?;
        }
        Ok(())
    }

    /// The domain's NFS groups in `vpc`.
    async fn nfs_groups(
        &self,
        domain: &str,
        vpc: &str,
    ) -> Result<Vec<aws_sdk_ec2::types::SecurityGroup>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .filters(
                Filter::builder()
                    .name("group-name")
                    .set_values(Some(nfs_group_names(domain).to_vec()))
                    .build(),
            )
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.security_groups())
            .cloned()
            .collect())
    }

    /// Tag the new domain's NFS groups as left by `plan` (see `TAG_LEFT_BY`).
    pub(crate) async fn tag_nfs_groups(
        &self,
        domain: &str,
        vpc: &str,
        plan: &str,
    ) -> Result<(), AwsError> {
        let ids: Vec<String> = self
            .nfs_groups(domain, vpc)
            .await?
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let tag = aws_sdk_ec2::types::Tag::builder()
            .key(crate::model::TAG_LEFT_BY)
            .value(plan)
            .build();
        send!(self.ec2.create_tags().set_resources(Some(ids)).tags(tag)).map(|_| ())
    }

    /// The NFS groups tagged as left by `plan`: (domain id, VPC id) of each.
    pub(crate) async fn left_nfs_groups(
        &self,
        plan: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name(format!("tag:{}", crate::model::TAG_LEFT_BY))
                    .values(plan)
                    .build(),
            )
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.security_groups())
            .filter_map(|g| {
                let name = g.group_name()?;
                let domain = name
                    .strip_prefix("security-group-for-inbound-nfs-")
                    .or_else(|| name.strip_prefix("security-group-for-outbound-nfs-"))?;
                Some((domain.to_string(), g.vpc_id()?.to_string()))
            })
            .collect())
    }

    /// The domain's NFS groups in `vpc`: every rule first (they name each other), then
    /// the groups, retried while the volume's ENIs go away.
    pub(crate) async fn delete_nfs_groups(&self, domain: &str, vpc: &str) -> Result<(), AwsError> {
        let groups = self.nfs_groups(domain, vpc).await?;
        for g in &groups {
            let id = g.group_id().unwrap_or_default();
            if !g.ip_permissions().is_empty() {
                let r = self
                    .ec2
                    .revoke_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(g.ip_permissions().to_vec()));
                gone_ok(send!(r).map(|_| ()))?;
            }
            if !g.ip_permissions_egress().is_empty() {
                let r = self
                    .ec2
                    .revoke_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(Some(g.ip_permissions_egress().to_vec()));
                gone_ok(send!(r).map(|_| ()))?;
            }
        }
        // Retried while the volume's interfaces go away (DependencyViolation).
        for g in &groups {
            self.delete_security_group(g.group_id().unwrap_or_default())
                .await?;
        }
        Ok(())
    }
}
