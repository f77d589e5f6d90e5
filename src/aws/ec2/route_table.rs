//! Route tables and their subnet associations.

use aws_sdk_ec2::types::ResourceType;

use super::{plan_filter, tag_spec, tags_of};
use crate::aws::{gone_ok, op_name, pages, retry_not_found, send, Aws, AwsError};
use crate::observe::Tags;
use crate::resources::route_table::{self, ObservedRoute, ObservedRouteTable};
use crate::resources::route_table_association::{self, ObservedAssociation};

fn route_of(r: &aws_sdk_ec2::types::Route) -> ObservedRoute {
    ObservedRoute {
        destination: r
            .destination_cidr_block()
            .or(r.destination_prefix_list_id())
            .or(r.destination_ipv6_cidr_block())
            .unwrap_or_default()
            .to_string(),
        target: r
            .gateway_id()
            .or(r.nat_gateway_id())
            .or(r.network_interface_id())
            .or(r.transit_gateway_id())
            .or(r.vpc_peering_connection_id())
            .unwrap_or_default()
            .to_string(),
    }
}

fn route_table_of(rt: &aws_sdk_ec2::types::RouteTable) -> Option<ObservedRouteTable> {
    Some(ObservedRouteTable {
        id: rt.route_table_id()?.to_string(),
        vpc_id: rt.vpc_id().unwrap_or_default().to_string(),
        associations: rt
            .associations()
            .iter()
            .filter(|a| !a.main().unwrap_or(false))
            .filter_map(|a| {
                Some(ObservedAssociation {
                    id: a.route_table_association_id()?.to_string(),
                    subnet_id: a.subnet_id()?.to_string(),
                })
            })
            .collect(),
        routes: rt.routes().iter().map(route_of).collect(),
        tags: tags_of(rt.tags()),
        main: rt.associations().iter().any(|a| a.main().unwrap_or(false)),
    })
}

impl route_table::Api for Aws {
    async fn describe_route_tables_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedRouteTable>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_route_tables()
            .filters(plan_filter(plan))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.route_tables())
            .filter_map(route_table_of)
            .collect())
    }

    async fn describe_route_tables_in_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<ObservedRouteTable>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_route_tables()
            .filters(super::filter("vpc-id", vpc_id))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.route_tables())
            .filter_map(route_table_of)
            .collect())
    }

    async fn create_route_table(
        &self,
        vpc_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError> {
        let req = self
            .ec2
            .create_route_table()
            .vpc_id(vpc_id)
            .client_token(client_token)
            .tag_specifications(tag_spec(ResourceType::RouteTable, tags));
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        out.route_table()
            .and_then(|r| r.route_table_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "route table id"))
    }

    async fn delete_route_table(&self, id: &str) -> Result<(), AwsError> {
        gone_ok(send!(self.ec2.delete_route_table().route_table_id(id)).map(|_| ()))
    }
}

impl route_table_association::Api for Aws {
    async fn associate_route_table(
        &self,
        route_table_id: &str,
        subnet_id: &str,
    ) -> Result<String, AwsError> {
        let req = self
            .ec2
            .associate_route_table()
            .route_table_id(route_table_id)
            .subnet_id(subnet_id);
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        out.association_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "association id"))
    }

    async fn replace_route_table_association(
        &self,
        association_id: &str,
        route_table_id: &str,
    ) -> Result<String, AwsError> {
        let req = self
            .ec2
            .replace_route_table_association()
            .association_id(association_id)
            .route_table_id(route_table_id);
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        out.new_association_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "association id"))
    }

    async fn disassociate_route_table(&self, association_id: &str) -> Result<(), AwsError> {
        gone_ok(
            send!(self
                .ec2
                .disassociate_route_table()
                .association_id(association_id))
            .map(|_| ()),
        )
    }
}
