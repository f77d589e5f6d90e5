//! SageMaker: the Studio domains that live in a VPC.
//!
//! sagevpc reads domains for one reason so far: a Studio domain places ENIs, security
//! groups and EFS mount targets in the subnets and VPC it was created with, so deleting
//! those (destroy, a replacement, a subnet dropped from the plan) would fail half-way on
//! AWS after the endpoints are already gone. Knowing the domains lets the plan refuse
//! such a change up front.

use super::{pages, send, Aws, AwsError};
use crate::observe::StudioDomain;

impl Aws {
    /// The Studio domains whose VPC is `vpc_id`. `ListDomains` has no VPC in its answer
    /// (nor a filter), so each listed domain is described, concurrently.
    pub async fn domains_in_vpc(&self, vpc_id: &str) -> Result<Vec<StudioDomain>, AwsError> {
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
            if let Some(d) = d? {
                if d.vpc_id == vpc_id {
                    out.push(d);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One domain; `None` when it was deleted between the list and the describe.
    async fn describe_domain(&self, id: &str) -> Result<Option<StudioDomain>, AwsError> {
        let d = match send!(self.sagemaker.describe_domain().domain_id(id)) {
            Ok(d) => d,
            Err(e) if e.code.as_deref() == Some("ResourceNotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        let user_groups = d
            .default_user_settings()
            .map(|u| u.security_groups().to_vec())
            .unwrap_or_default();
        Ok(Some(StudioDomain {
            id: id.to_string(),
            name: d.domain_name().unwrap_or_default().to_string(),
            status: d
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            vpc_id: d.vpc_id().unwrap_or_default().to_string(),
            subnet_ids: d.subnet_ids().to_vec(),
            security_group_ids: d
                .domain_settings()
                .map(|s| s.security_group_ids().to_vec())
                .unwrap_or_default()
                .into_iter()
                .chain(user_groups)
                .collect(),
            vpc_only: d
                .app_network_access_type()
                .is_some_and(|t| t.as_str() == "VpcOnly"),
        }))
    }
}
