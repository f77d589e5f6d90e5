//! NAT gateways and their Elastic IPs: describe by plan tag, allocate (tagged at
//! allocation), create (tagged at creation) and wait until `available`, delete and wait
//! until `deleted`, release. Terraform waits 10 min for a create, 30 min for a delete.

use std::time::Duration;

use aws_sdk_ec2::types::{ConnectivityType, DomainType, ResourceType};

use super::{plan_filter, tag_spec, tags_of};
use crate::aws::poll::{self, Look};
use crate::aws::{gone_ok, op_name, pages, retry_not_found, send, Aws, AwsError};
use crate::model::TAG_PLAN;
use crate::observe::Tags;
use crate::resources::elastic_ip::{self, ObservedAddress};
use crate::resources::nat_gateway::{self, ObservedNatGateway};

const CREATE_WAIT: Duration = Duration::from_secs(10 * 60);
const DELETE_WAIT: Duration = Duration::from_secs(30 * 60);

fn nat_of(g: &aws_sdk_ec2::types::NatGateway) -> Option<ObservedNatGateway> {
    let state = g
        .state()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if state == "deleted" {
        return None;
    }
    Some(ObservedNatGateway {
        id: g.nat_gateway_id()?.to_string(),
        vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        subnet_id: g.subnet_id().unwrap_or_default().to_string(),
        allocation_id: g
            .nat_gateway_addresses()
            .iter()
            .find_map(|a| a.allocation_id().map(str::to_string)),
        state,
        tags: tags_of(g.tags()),
        internet_gateway: None,
    })
}

/// The state of gateway `id` (`deleted` when AWS no longer knows it), and why it
/// failed when it did.
async fn state_of(aws: &Aws, id: &str) -> Result<(String, Option<String>), AwsError> {
    let out = match send!(aws.ec2.describe_nat_gateways().nat_gateway_ids(id)) {
        Err(e) if e.is_not_found() => return Ok(("deleted".into(), None)),
        other => other?,
    };
    let g = out.nat_gateways().first();
    Ok((
        g.and_then(|g| g.state())
            .map_or("deleted".into(), |s| s.as_str().to_string()),
        g.and_then(|g| g.failure_message()).map(str::to_string),
    ))
}

impl nat_gateway::Api for Aws {
    async fn describe_nat_gateways_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedNatGateway>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_nat_gateways()
            .filter(plan_filter(plan))
            .into_paginator())?;
        // LocalStack ignores DescribeNatGateways' filters: the plan tag is checked here
        // too.
        Ok(pages
            .iter()
            .flat_map(|p| p.nat_gateways())
            .filter_map(nat_of)
            .filter(|g| g.tags.get(TAG_PLAN).map(String::as_str) == Some(plan))
            .collect())
    }

    async fn create_nat_gateway(
        &self,
        subnet_id: &str,
        allocation_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError> {
        let req = self
            .ec2
            .create_nat_gateway()
            .subnet_id(subnet_id)
            .allocation_id(allocation_id)
            .connectivity_type(ConnectivityType::Public)
            .client_token(client_token)
            .tag_specifications(tag_spec(ResourceType::Natgateway, tags));
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        out.nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "NAT gateway id"))
    }

    async fn wait_nat_gateway_available(&self, id: &str) -> Result<(), AwsError> {
        let what = format!("NAT gateway {id}");
        poll::until("DescribeNatGateways", &what, CREATE_WAIT, || async {
            match state_of(self, id).await? {
                (s, _) if s == "available" => Ok(Look::Done(())),
                (s, why) if s == "failed" || s == "deleting" || s == "deleted" => {
                    Err(AwsError::new(
                        "DescribeNatGateways",
                        Some("NatGatewayFailed"),
                        format!(
                            "{what} is {s} instead of available: {}",
                            why.as_deref().unwrap_or("no reason given")
                        ),
                    ))
                }
                (s, _) => Ok(Look::NotYet(s)),
            }
        })
        .await
    }

    async fn delete_nat_gateway(&self, id: &str) -> Result<(), AwsError> {
        gone_ok(send!(self.ec2.delete_nat_gateway().nat_gateway_id(id)).map(|_| ()))?;
        let what = format!("NAT gateway {id}");
        poll::until("DescribeNatGateways", &what, DELETE_WAIT, || async {
            match state_of(self, id).await? {
                (s, _) if s == "deleted" => Ok(Look::Done(())),
                (s, _) => Ok(Look::NotYet(s)),
            }
        })
        .await
    }
}

impl elastic_ip::Api for Aws {
    async fn describe_addresses_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedAddress>, AwsError> {
        // DescribeAddresses has no pagination.
        let out = send!(self.ec2.describe_addresses().filters(plan_filter(plan)))?;
        Ok(out
            .addresses()
            .iter()
            .filter_map(|a| {
                Some(ObservedAddress {
                    id: a.allocation_id()?.to_string(),
                    public_ip: a.public_ip().unwrap_or_default().to_string(),
                    association_id: a
                        .association_id()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                    tags: tags_of(a.tags()),
                })
            })
            .collect())
    }

    async fn allocate_address(&self, tags: &Tags) -> Result<String, AwsError> {
        let req = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, tags));
        let op = op_name(&req);
        let out = send!(req)?;
        out.allocation_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "allocation id"))
    }

    async fn release_address(&self, allocation_id: &str) -> Result<(), AwsError> {
        gone_ok(send!(self.ec2.release_address().allocation_id(allocation_id)).map(|_| ()))
    }
}
