//! What `sagevpc adopt` reads besides the plan's own resources: what already exists in
//! the plan's VPC, whoever made it, and for a plan that creates its VPC the VPCs that
//! have its CIDR. Read-only; which of them the plan takes is decided by the pure
//! `changeset::adopt::find`.

use serde::{Deserialize, Serialize};

use super::{Observed, ObservedEndpoint, ObservedRouteTable, ObservedSecurityGroup};
use super::{ObservedSubnet, ObservedVpc};
use crate::aws::{Aws, AwsError};
use crate::changeset::adopt;
use crate::plan::{Plan, VpcSpec};
use crate::resources::{endpoint, route_table, subnet, vpc};

/// Existing resources that may match the plan's. Everything in the VPC is listed,
/// tagged or not: the matcher tells the plan's own, another plan's and the unowned apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unowned {
    /// VPCs with the CIDR of the VPC the plan creates (read only while it owns none),
    /// with their DNS attributes.
    pub vpcs: Vec<ObservedVpc>,
    /// The rest: in the plan's VPC (the adopted one, the owned one, or the one VPC
    /// with its CIDR).
    pub subnets: Vec<ObservedSubnet>,
    pub route_tables: Vec<ObservedRouteTable>,
    pub security_groups: Vec<ObservedSecurityGroup>,
    pub endpoints: Vec<ObservedEndpoint>,
}

/// Read what `plan` could adopt, given what `observe` found (`obs`).
pub async fn read(aws: &Aws, plan: &Plan, obs: &Observed) -> Result<Unowned, AwsError> {
    let mut u = Unowned::default();
    if let (None, VpcSpec::Owned { cidr }) = (obs.vpc_of(plan), &plan.vpc) {
        u.vpcs = aws.vpcs_with_cidr(&cidr.to_string()).await?;
        for v in &mut u.vpcs {
            (v.dns_support, v.dns_hostnames) = vpc::Api::describe_vpc_dns(aws, &v.id).await?;
        }
    }
    let Some(home) = adopt::home_id(plan, obs, &u.vpcs) else {
        return Ok(u);
    };
    let (subnets, tables, groups, endpoints) = tokio::join!(
        subnet::Api::describe_subnets_in_vpc(aws, &home),
        route_table::Api::describe_route_tables_in_vpc(aws, &home),
        aws.security_groups_in_vpc(&home),
        endpoint::Api::describe_endpoints_in_vpc(aws, &home),
    );
    u.subnets = subnets?;
    u.route_tables = tables?;
    u.security_groups = groups?;
    u.endpoints = endpoints?;
    Ok(u)
}
