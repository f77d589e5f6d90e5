//! VPC endpoints (gateway and interface), their services, and the waiter's poll.

use aws_sdk_ec2::types::{Filter, ResourceType, ServiceType, VpcEndpoint, VpcEndpointType};
use serde_json::Value;

use super::{filter, plan_filter, tag_spec, tags_of};
use crate::aws::{op_name, pages, retry_not_found, send, Aws, AwsError};
use crate::resources::endpoint::{
    Api, EndpointChanges, EndpointStatus, EndpointType, NewEndpoint, ObservedEndpoint, ServiceInfo,
};

fn parse_policy(doc: Option<&str>) -> Option<Value> {
    doc.and_then(|d| serde_json::from_str(d).ok())
}

fn endpoint_of(e: &VpcEndpoint) -> Option<ObservedEndpoint> {
    let endpoint_type = match e.vpc_endpoint_type()? {
        VpcEndpointType::Gateway => EndpointType::Gateway,
        VpcEndpointType::Interface => EndpointType::Interface,
        _ => return None,
    };
    Some(ObservedEndpoint {
        id: e.vpc_endpoint_id()?.to_string(),
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        endpoint_type,
        service_name: e.service_name().unwrap_or_default().to_string(),
        state: e
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        subnet_ids: e.subnet_ids().to_vec(),
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        route_table_ids: e.route_table_ids().to_vec(),
        private_dns: e.private_dns_enabled().unwrap_or(false),
        policy: parse_policy(e.policy_document()),
        tags: tags_of(e.tags()),
        dns_names: e
            .dns_entries()
            .iter()
            .filter_map(|d| d.dns_name().map(str::to_string))
            .collect(),
    })
}

/// Why an endpoint failed, when AWS says (`LastError`).
fn last_error(e: &VpcEndpoint) -> Option<String> {
    e.last_error().map(|le| {
        format!(
            "{}: {}",
            le.code().unwrap_or("unknown"),
            le.message().unwrap_or("")
        )
    })
}

fn is_gone(state: Option<&str>) -> bool {
    matches!(
        state.map(str::to_ascii_lowercase).as_deref(),
        Some("deleted") | Some("deleting") | Some("rejected") | Some("expired")
    )
}

fn state_of(e: &VpcEndpoint) -> String {
    e.state()
        .map(|s| s.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

impl Aws {
    async fn describe_endpoints(
        &self,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<VpcEndpoint>, AwsError> {
        let mut req = self.ec2.describe_vpc_endpoints();
        if !filters.is_empty() {
            req = req.set_filters(Some(filters));
        }
        if !ids.is_empty() {
            req = req.set_vpc_endpoint_ids(Some(ids));
        }
        let pages = pages!(req.into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.vpc_endpoints())
            .cloned()
            .collect())
    }

    async fn live_endpoints(&self, f: Filter) -> Result<Vec<ObservedEndpoint>, AwsError> {
        Ok(self
            .describe_endpoints(vec![f], vec![])
            .await?
            .iter()
            .filter(|e| !is_gone(e.state().map(|s| s.as_str())))
            .filter_map(endpoint_of)
            .collect())
    }
}

impl Aws {
    /// `DescribeVpcEndpointServices`, every page (it has no paginator); `None`: every
    /// service of the region.
    async fn endpoint_services(
        &self,
        names: Option<&[String]>,
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .ec2
                .describe_vpc_endpoint_services()
                .set_service_names(names.map(<[String]>::to_vec))
                .set_next_token(token.take());
            let resp = match send!(req) {
                Ok(r) => r,
                // Unknown names make AWS reject the whole call; report them as absent
                // so that the diff can name them.
                Err(e) if e.code.as_deref() == Some("InvalidServiceName") => return Ok(out),
                Err(e) => return Err(e),
            };
            for d in resp.service_details() {
                let Some(name) = d.service_name() else {
                    continue;
                };
                for t in d.service_type() {
                    let endpoint_type = match t.service_type() {
                        Some(ServiceType::Gateway) => EndpointType::Gateway,
                        Some(ServiceType::Interface) => EndpointType::Interface,
                        _ => continue,
                    };
                    out.push(ServiceInfo {
                        service_name: name.to_string(),
                        endpoint_type,
                        availability_zones: d.availability_zones().to_vec(),
                        availability_zone_ids: d.availability_zone_ids().to_vec(),
                    });
                }
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

impl Api for Aws {
    async fn describe_endpoints_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedEndpoint>, AwsError> {
        self.live_endpoints(plan_filter(plan)).await
    }

    async fn describe_endpoints_in_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<ObservedEndpoint>, AwsError> {
        self.live_endpoints(filter("vpc-id", vpc_id)).await
    }

    async fn endpoint_statuses(&self, ids: &[String]) -> Result<Vec<EndpointStatus>, AwsError> {
        let found = match self.describe_endpoints(vec![], ids.to_vec()).await {
            Ok(f) => f,
            Err(e) if endpoint_gone(e.code.as_deref()) && ids.len() == 1 => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut out: Vec<EndpointStatus> = found
            .iter()
            .filter_map(|e| {
                Some(EndpointStatus {
                    id: e.vpc_endpoint_id()?.to_string(),
                    state: state_of(e),
                    last_error: last_error(e),
                })
            })
            .collect();
        for id in ids {
            if !out.iter().any(|s| &s.id == id) {
                out.push(EndpointStatus {
                    id: id.clone(),
                    state: "deleted".into(),
                    last_error: None,
                });
            }
        }
        Ok(out)
    }

    async fn describe_endpoint_services(
        &self,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        self.endpoint_services(Some(names)).await
    }

    async fn describe_all_endpoint_services(&self) -> Result<Vec<ServiceInfo>, AwsError> {
        self.endpoint_services(None).await
    }

    async fn create_endpoint(&self, ep: NewEndpoint<'_>) -> Result<(String, String), AwsError> {
        let nonempty = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
        let req = self
            .ec2
            .create_vpc_endpoint()
            .vpc_id(ep.vpc_id)
            .service_name(ep.service_name)
            .vpc_endpoint_type(match ep.endpoint_type {
                EndpointType::Gateway => VpcEndpointType::Gateway,
                EndpointType::Interface => VpcEndpointType::Interface,
            })
            .client_token(ep.client_token)
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, ep.tags))
            .set_subnet_ids(nonempty(ep.subnet_ids))
            .set_security_group_ids(nonempty(ep.security_group_ids))
            .set_route_table_ids(nonempty(ep.route_table_ids))
            .set_private_dns_enabled(ep.private_dns)
            .set_policy_document(ep.policy.map(str::to_string));
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        let e = out.vpc_endpoint();
        let id = e
            .and_then(|v| v.vpc_endpoint_id())
            .ok_or_else(|| AwsError::missing(op, "endpoint id"))?;
        Ok((id.to_string(), e.map(state_of).unwrap_or_default()))
    }

    async fn modify_endpoint(&self, id: &str, c: &EndpointChanges) -> Result<(), AwsError> {
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let mut req = self
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(id)
            .set_add_subnet_ids(nonempty(&c.add_subnets))
            .set_remove_subnet_ids(nonempty(&c.remove_subnets))
            .set_add_security_group_ids(nonempty(&c.add_security_groups))
            .set_remove_security_group_ids(nonempty(&c.remove_security_groups))
            .set_add_route_table_ids(nonempty(&c.add_route_tables))
            .set_remove_route_table_ids(nonempty(&c.remove_route_tables))
            .set_private_dns_enabled(c.private_dns);
        match &c.policy {
            Some(Some(p)) => req = req.policy_document(p),
            Some(None) => req = req.reset_policy(true),
            None => {}
        }
        retry_not_found(self.not_found_window(), || async {
            send!(req.clone()).map(|_| ())
        })
        .await
    }

    async fn delete_endpoints(&self, ids: &[String]) -> Result<(), AwsError> {
        let req = self
            .ec2
            .delete_vpc_endpoints()
            .set_vpc_endpoint_ids(Some(ids.to_vec()));
        let op = op_name(&req);
        let out = match send!(req) {
            Err(e) if endpoint_gone(e.code.as_deref()) && ids.len() == 1 => return Ok(()),
            other => other?,
        };
        // Failures come back per item, not as an error; one already gone is done. Another
        // NotFound (`InvalidRoute.NotFound`: a route of a gateway endpoint) is a failure:
        // the endpoint is still there.
        for u in out.unsuccessful() {
            let (code, msg) = u
                .error()
                .map(|e| {
                    (
                        e.code().unwrap_or_default().to_string(),
                        e.message().unwrap_or_default().to_string(),
                    )
                })
                .unwrap_or_default();
            if !endpoint_gone(Some(&code)) {
                let which = u.resource_id().unwrap_or("an endpoint");
                return Err(AwsError::new(op, Some(&code), format!("{which}: {msg}")));
            }
        }
        Ok(())
    }
}

/// Whether an error code says the endpoint itself does not exist (deleted, or never
/// was): not any `*.NotFound`, which may name a route, a subnet or a group it refers to.
fn endpoint_gone(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidVpcEndpoint.NotFound" | "InvalidVpcEndpointId.NotFound")
    )
}
