//! The fake's Elastic IPs, NAT gateways and default routes, with the AWS rules the
//! ordering depends on: an address serves one NAT gateway and is released only once
//! it is free; a NAT gateway in a VPC without an attached internet gateway fails
//! (`Gateway.NotAttached`); a route is created once and replaced only if it exists.

use super::{err, FakeCloud};
use crate::aws::AwsError;
use crate::model::TAG_PLAN;
use crate::observe::{ObservedAddress, ObservedNatGateway, ObservedRoute, Tags};
use crate::resources::route::{Via, DEFAULT};
use crate::resources::{elastic_ip, nat_gateway, route};

fn owned_by(tags: &Tags, plan: &str) -> bool {
    tags.get(TAG_PLAN).map(String::as_str) == Some(plan)
}

impl elastic_ip::Api for FakeCloud {
    async fn describe_addresses_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedAddress>, AwsError> {
        let w = self.world();
        Ok(w.addresses
            .iter()
            .filter(|a| owned_by(&a.tags, plan))
            .cloned()
            .collect())
    }

    async fn allocate_address(&self, tags: &Tags) -> Result<String, AwsError> {
        let id = self.new_id("eipalloc");
        let n = self.world().addresses.len();
        self.world().addresses.push(ObservedAddress {
            id: id.clone(),
            public_ip: format!("198.51.100.{}", n % 250 + 1),
            association_id: None,
            tags: tags.clone(),
        });
        Ok(id)
    }

    async fn release_address(&self, allocation_id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        if w.nat_gateways
            .iter()
            .any(|n| n.allocation_id.as_deref() == Some(allocation_id))
        {
            return Err(err(
                "ReleaseAddress",
                "InvalidIPAddress.InUse",
                format!("{allocation_id} is in use by a NAT gateway"),
            ));
        }
        w.addresses.retain(|a| a.id != allocation_id);
        Ok(())
    }
}

impl nat_gateway::Api for FakeCloud {
    async fn describe_nat_gateways_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedNatGateway>, AwsError> {
        let w = self.world();
        Ok(w.nat_gateways
            .iter()
            .filter(|n| owned_by(&n.tags, plan))
            .cloned()
            .collect())
    }

    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        _client_token: &str,
    ) -> Result<String, AwsError> {
        let op = "CreateNatGateway";
        let id = self.new_id("nat");
        let mut w = self.world();
        let vpc_id = w
            .subnets
            .iter()
            .find(|s| s.id == subnet_id)
            .map(|s| s.vpc_id.clone())
            .ok_or_else(|| err(op, "InvalidSubnetID.NotFound", subnet_id))?;
        if !w.addresses.iter().any(|a| a.id == allocation_id) {
            return Err(err(op, "InvalidAllocationID.NotFound", allocation_id));
        }
        if w.nat_gateways
            .iter()
            .any(|n| n.allocation_id.as_deref() == Some(allocation_id))
        {
            return Err(err(op, "Resource.AlreadyAssociated", allocation_id));
        }
        let igw = w
            .internet_gateways
            .iter()
            .any(|g| g.attached_to.as_deref() == Some(vpc_id.as_str()));
        if let Some(a) = w.addresses.iter_mut().find(|a| a.id == allocation_id) {
            a.association_id = Some(format!("eipassoc-{}", &id[4..]));
        }
        w.nat_gateways.push(ObservedNatGateway {
            id: id.clone(),
            vpc_id,
            subnet_id: subnet_id.into(),
            allocation_id: Some(allocation_id.into()),
            state: if igw { "available" } else { "failed" }.into(),
            tags: tags.clone(),
            internet_gateway: None,
        });
        Ok(id)
    }

    async fn wait_nat_gateway_available(&self, id: &str) -> Result<(), AwsError> {
        let w = self.world();
        match w.nat_gateways.iter().find(|n| n.id == id) {
            Some(n) if n.state == "available" => Ok(()),
            Some(n) => Err(err(
                "DescribeNatGateways",
                "NatGatewayFailed",
                format!("NAT gateway {id} is {}: Gateway.NotAttached", n.state),
            )),
            None => Err(err("DescribeNatGateways", "NatGatewayNotFound", id)),
        }
    }

    async fn delete_nat_gateway(&self, id: &str) -> Result<(), AwsError> {
        let mut w = self.world();
        let alloc = w
            .nat_gateways
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| n.allocation_id.clone());
        w.nat_gateways.retain(|n| n.id != id);
        if let Some(a) = w
            .addresses
            .iter_mut()
            .find(|a| Some(&a.id) == alloc.as_ref())
        {
            a.association_id = None;
        }
        Ok(())
    }
}

impl route::Api for FakeCloud {
    async fn create_route(
        &self,
        route_table: &str,
        _via: Via,
        target: &str,
    ) -> Result<(), AwsError> {
        let op = "CreateRoute";
        let mut w = self.world();
        let target_ok = w.nat_gateways.iter().any(|n| n.id == target)
            || w.internet_gateways.iter().any(|g| g.id == target);
        if !target_ok {
            return Err(err(op, "InvalidGatewayID.NotFound", target));
        }
        let rt = w
            .route_tables
            .iter_mut()
            .find(|r| r.id == route_table)
            .ok_or_else(|| err(op, "InvalidRouteTableID.NotFound", route_table))?;
        if rt.routes.iter().any(|r| r.destination == DEFAULT) {
            return Err(err(op, "RouteAlreadyExists", route_table));
        }
        rt.routes.push(ObservedRoute {
            destination: DEFAULT.into(),
            target: target.into(),
        });
        Ok(())
    }

    async fn replace_route(
        &self,
        route_table: &str,
        _via: Via,
        target: &str,
    ) -> Result<(), AwsError> {
        let op = "ReplaceRoute";
        let mut w = self.world();
        let r = w
            .route_tables
            .iter_mut()
            .find(|r| r.id == route_table)
            .and_then(|r| r.routes.iter_mut().find(|r| r.destination == DEFAULT))
            .ok_or_else(|| err(op, "InvalidRoute.NotFound", route_table))?;
        r.target = target.into();
        Ok(())
    }

    async fn delete_route(&self, route_table: &str) -> Result<(), AwsError> {
        if let Some(rt) = self
            .world()
            .route_tables
            .iter_mut()
            .find(|r| r.id == route_table)
        {
            rt.routes.retain(|r| r.destination != DEFAULT);
        }
        Ok(())
    }
}
