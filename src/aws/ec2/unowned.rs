//! What `sagevpc adopt` reads besides the plan's own resources: VPCs by CIDR and every
//! security group of a VPC, whoever made them (see `observe::unowned`).

use super::{filter, security_group::group_of, vpc::vpc_of};
use crate::aws::{pages, Aws, AwsError};
use crate::resources::security_group::ObservedSecurityGroup;
use crate::resources::vpc::ObservedVpc;

impl Aws {
    /// Every VPC whose primary CIDR is `cidr`, tagged or not.
    pub async fn vpcs_with_cidr(&self, cidr: &str) -> Result<Vec<ObservedVpc>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_vpcs()
            .filters(filter("cidr-block", cidr))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.vpcs())
            .filter_map(vpc_of)
            .filter(|v| v.cidr == cidr)
            .collect())
    }

    /// Every security group of a VPC (its default group included), tagged or not.
    pub async fn security_groups_in_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", vpc_id))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.security_groups())
            .filter_map(group_of)
            .collect())
    }
}
