//! The fake's VPC endpoints: created `available`, every service offered in every AZ
//! (a..f) of the region.

use super::{err, FakeCloud, World};
use crate::aws::AwsError;
use crate::model::TAG_PLAN;
use crate::observe::{EndpointType, ObservedEndpoint, ObservedRoute, ServiceInfo};
use crate::plan::policy::default_full_access;
use crate::resources::endpoint::{Api, EndpointChanges, EndpointStatus, NewEndpoint};

/// What the waiter polls: present endpoints in their state, absent ones `deleted`.
pub(super) fn statuses(w: &World, ids: &[String]) -> Vec<EndpointStatus> {
    ids.iter()
        .map(|id| EndpointStatus {
            id: id.clone(),
            state: w
                .endpoints
                .iter()
                .find(|e| &e.id == id)
                .map(|e| e.state.clone())
                .unwrap_or_else(|| "deleted".into()),
            last_error: None,
        })
        .collect()
}

fn policy_of(p: Option<&str>) -> serde_json::Value {
    p.map(|p| serde_json::from_str(p).expect("json policy"))
        .unwrap_or_else(default_full_access)
}

impl Api for FakeCloud {
    async fn describe_endpoints_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedEndpoint>, AwsError> {
        let w = self.world();
        Ok(w.endpoints
            .iter()
            .filter(|e| e.tags.get(TAG_PLAN).map(String::as_str) == Some(plan))
            .cloned()
            .collect())
    }

    async fn describe_endpoints_in_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<ObservedEndpoint>, AwsError> {
        let w = self.world();
        Ok(w.endpoints
            .iter()
            .filter(|e| e.vpc_id == vpc_id)
            .cloned()
            .collect())
    }

    async fn endpoint_statuses(&self, ids: &[String]) -> Result<Vec<EndpointStatus>, AwsError> {
        Ok(statuses(&self.world(), ids))
    }

    async fn describe_endpoint_services(
        &self,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        let region = names
            .iter()
            .find_map(|n| {
                n.split('.')
                    .find(|p| p.contains('-') && p.ends_with(char::is_numeric))
            })
            .unwrap_or("us-east-1")
            .to_string();
        let all: Vec<String> = "abcdef".chars().map(|c| format!("{region}{c}")).collect();
        let w = self.world();
        let mut out = Vec::new();
        for n in names {
            let missing = w.services_missing.get(n);
            let azs: Vec<String> = all
                .iter()
                .filter(|z| missing.is_none_or(|m| !m.contains(z)))
                .cloned()
                .collect();
            let ids: Vec<String> = match w.service_zone_ids {
                true => azs
                    .iter()
                    .filter_map(|z| super::network::zone_id(z))
                    .collect(),
                false => Vec::new(),
            };
            let is_gateway = n.ends_with(".s3") || n.ends_with(".dynamodb");
            for endpoint_type in [EndpointType::Interface, EndpointType::Gateway] {
                if endpoint_type == EndpointType::Interface || is_gateway {
                    out.push(ServiceInfo {
                        service_name: n.clone(),
                        endpoint_type,
                        availability_zones: azs.clone(),
                        availability_zone_ids: ids.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    async fn describe_all_endpoint_services(&self) -> Result<Vec<ServiceInfo>, AwsError> {
        let names: Vec<String> = crate::plan::services::INTERFACE_SERVICES
            .iter()
            .map(|s| crate::plan::services::service_name("us-east-1", s))
            .collect();
        self.describe_endpoint_services(&names).await
    }

    async fn create_endpoint(&self, ep: NewEndpoint<'_>) -> Result<(String, String), AwsError> {
        let id = self.new_id("vpce");
        let mut w = self.world();
        let missing = w
            .services_missing
            .get(ep.service_name)
            .cloned()
            .unwrap_or_default();
        if let Some(s) = w
            .subnets
            .iter()
            .find(|s| ep.subnet_ids.contains(&s.id) && missing.contains(&s.availability_zone))
        {
            return Err(err(
                "CreateVpcEndpoint",
                "InvalidParameter",
                format!(
                    "The VPC endpoint service {} does not support the availability zone of the subnet: {}",
                    ep.service_name, s.id
                ),
            ));
        }
        if ep.endpoint_type == EndpointType::Gateway {
            for r in w
                .route_tables
                .iter_mut()
                .filter(|r| ep.route_table_ids.contains(&r.id))
            {
                r.routes.push(ObservedRoute {
                    destination: "pl-fake".into(),
                    target: id.clone(),
                });
            }
        }
        w.endpoints.push(ObservedEndpoint {
            dns_names: Vec::new(),
            id: id.clone(),
            vpc_id: ep.vpc_id.into(),
            endpoint_type: ep.endpoint_type,
            service_name: ep.service_name.into(),
            state: "available".into(),
            subnet_ids: ep.subnet_ids.to_vec(),
            security_group_ids: ep.security_group_ids.to_vec(),
            route_table_ids: ep.route_table_ids.to_vec(),
            private_dns: ep.private_dns.unwrap_or(false),
            policy: Some(policy_of(ep.policy)),
            tags: ep.tags.clone(),
        });
        Ok((id, "available".into()))
    }

    async fn modify_endpoint(&self, id: &str, c: &EndpointChanges) -> Result<(), AwsError> {
        let mut w = self.world();
        let e = w
            .endpoints
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| err("ModifyVpcEndpoint", "InvalidVpcEndpointId.NotFound", id))?;
        e.subnet_ids.retain(|s| !c.remove_subnets.contains(s));
        e.subnet_ids.extend(c.add_subnets.iter().cloned());
        e.security_group_ids
            .retain(|s| !c.remove_security_groups.contains(s));
        e.security_group_ids
            .extend(c.add_security_groups.iter().cloned());
        e.route_table_ids
            .retain(|s| !c.remove_route_tables.contains(s));
        e.route_table_ids.extend(c.add_route_tables.iter().cloned());
        if let Some(p) = c.private_dns {
            e.private_dns = p;
        }
        if let Some(p) = &c.policy {
            e.policy = Some(policy_of(p.as_deref()));
        }
        Ok(())
    }

    async fn delete_endpoints(&self, ids: &[String]) -> Result<(), AwsError> {
        let mut w = self.world();
        w.endpoints.retain(|e| !ids.contains(&e.id));
        for r in &mut w.route_tables {
            r.routes.retain(|x| !ids.contains(&x.target));
        }
        Ok(())
    }
}
