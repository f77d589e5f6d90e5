//! VPCs: describe (by plan tag, by id), DNS attributes, create, delete.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};

use super::{plan_filter, tag_spec, tags_of};
use crate::aws::{gone_ok, op_name, pages, retry_not_found, send, Aws, AwsError};
use crate::observe::Tags;
use crate::resources::vpc::{Api, ObservedVpc};

pub(super) fn vpc_of(v: &aws_sdk_ec2::types::Vpc) -> Option<ObservedVpc> {
    Some(ObservedVpc {
        tenancy: v.instance_tenancy().map(|t| t.as_str().to_string()),
        id: v.vpc_id()?.to_string(),
        cidr: v.cidr_block().unwrap_or_default().to_string(),
        cidrs: v
            .cidr_block_association_set()
            .iter()
            .filter(|a| {
                a.cidr_block_state()
                    .and_then(|s| s.state())
                    .is_none_or(|s| s.as_str() == "associated")
            })
            .filter_map(|a| a.cidr_block().map(str::to_string))
            .collect(),
        dns_support: false,
        dns_hostnames: false,
        tags: tags_of(v.tags()),
    })
}

impl Api for Aws {
    async fn describe_vpcs_by_plan(&self, plan: &str) -> Result<Vec<ObservedVpc>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_vpcs()
            .filters(plan_filter(plan))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.vpcs())
            .filter_map(vpc_of)
            .collect())
    }

    async fn describe_plan_vpcs_with_cidr(&self, cidr: &str) -> Result<Vec<ObservedVpc>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_vpcs()
            .filters(super::filter("cidr-block", cidr))
            .filters(super::filter("tag-key", crate::model::TAG_PLAN))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.vpcs())
            .filter_map(vpc_of)
            .collect())
    }

    async fn describe_vpc_by_id(&self, id: &str) -> Result<Option<ObservedVpc>, AwsError> {
        match send!(self.ec2.describe_vpcs().vpc_ids(id)) {
            Ok(out) => Ok(out.vpcs().first().and_then(vpc_of)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn describe_vpc_dns(&self, vpc_id: &str) -> Result<(bool, bool), AwsError> {
        let attr = |a: VpcAttributeName| {
            self.ec2
                .describe_vpc_attribute()
                .vpc_id(vpc_id)
                .attribute(a)
        };
        let (support, hostnames) = tokio::join!(
            async { send!(attr(VpcAttributeName::EnableDnsSupport)) },
            async { send!(attr(VpcAttributeName::EnableDnsHostnames)) },
        );
        let support = support?
            .enable_dns_support()
            .and_then(|a| a.value())
            .unwrap_or(false);
        let hostnames = hostnames?
            .enable_dns_hostnames()
            .and_then(|a| a.value())
            .unwrap_or(false);
        Ok((support, hostnames))
    }

    async fn create_vpc(&self, cidr: &str, tags: &Tags) -> Result<String, AwsError> {
        let req = self
            .ec2
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Vpc, tags));
        let op = op_name(&req);
        let out = send!(req)?;
        out.vpc()
            .and_then(|v| v.vpc_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "VPC id"))
    }

    async fn set_vpc_dns(
        &self,
        vpc_id: &str,
        hostnames: bool,
        value: bool,
    ) -> Result<(), AwsError> {
        let attr = AttributeBooleanValue::builder().value(value).build();
        let req = self.ec2.modify_vpc_attribute().vpc_id(vpc_id);
        let req = if hostnames {
            req.enable_dns_hostnames(attr)
        } else {
            req.enable_dns_support(attr)
        };
        retry_not_found(self.not_found_window(), || async {
            send!(req.clone()).map(|_| ())
        })
        .await
    }

    async fn delete_vpc(&self, id: &str) -> Result<(), AwsError> {
        gone_ok(send!(self.ec2.delete_vpc().vpc_id(id)).map(|_| ()))
    }
}
