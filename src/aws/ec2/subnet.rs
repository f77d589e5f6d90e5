//! Subnets: describe (by plan tag, by id), create, delete.

use aws_sdk_ec2::types::{Filter, ResourceType};

use super::{plan_filter, tag_spec, tags_of};
use crate::aws::{op_name, pages, retry_dependency, retry_not_found, send, Aws, AwsError};
use crate::observe::Tags;
use crate::plan::zones::Zone;
use crate::resources::subnet::{Api, ObservedSubnet};

fn subnet_of(s: &aws_sdk_ec2::types::Subnet) -> Option<ObservedSubnet> {
    Some(ObservedSubnet {
        id: s.subnet_id()?.to_string(),
        vpc_id: s.vpc_id().unwrap_or_default().to_string(),
        availability_zone: s.availability_zone().unwrap_or_default().to_string(),
        availability_zone_id: s.availability_zone_id().map(str::to_string),
        cidr: s.cidr_block().unwrap_or_default().to_string(),
        tags: tags_of(s.tags()),
        available_ips: s
            .available_ip_address_count()
            .and_then(|n| u32::try_from(n).ok()),
    })
}

impl Aws {
    async fn describe_subnets(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<ObservedSubnet>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.subnets())
            .filter_map(subnet_of)
            .collect())
    }
}

impl Api for Aws {
    async fn describe_subnets_by_plan(&self, plan: &str) -> Result<Vec<ObservedSubnet>, AwsError> {
        self.describe_subnets(vec![plan_filter(plan)]).await
    }

    async fn describe_subnets_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<ObservedSubnet>, AwsError> {
        let f = Filter::builder()
            .name("subnet-id")
            .set_values(Some(ids.to_vec()))
            .build();
        self.describe_subnets(vec![f]).await
    }

    async fn describe_zones(&self) -> Result<Vec<Zone>, AwsError> {
        let out = send!(self
            .ec2
            .describe_availability_zones()
            .filters(super::filter("state", "available")))?;
        Ok(out
            .availability_zones()
            .iter()
            // Local and Wavelength zones left out: endpoints and SageMaker are not there.
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .filter_map(|z| {
                Some(Zone {
                    name: z.zone_name()?.to_string(),
                    id: z.zone_id()?.to_string(),
                })
            })
            .collect())
    }

    async fn describe_subnets_in_vpc(&self, vpc_id: &str) -> Result<Vec<ObservedSubnet>, AwsError> {
        self.describe_subnets(vec![super::filter("vpc-id", vpc_id)])
            .await
    }

    async fn create_subnet(
        &self,
        vpc_id: &str,
        az: &str,
        cidr: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let req = self
            .ec2
            .create_subnet()
            .vpc_id(vpc_id)
            .availability_zone(az)
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Subnet, tags));
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        out.subnet()
            .and_then(|s| s.subnet_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "subnet id"))
    }

    async fn delete_subnet(&self, id: &str) -> Result<(), AwsError> {
        retry_dependency(self.dependency_window(), || async {
            send!(self.ec2.delete_subnet().subnet_id(id)).map(|_| ())
        })
        .await
    }
}
