//! Internet gateways: describe by plan tag, create, attach, detach, delete.

use aws_sdk_ec2::types::ResourceType;

use super::{plan_filter, tag_spec, tags_of};
use crate::aws::{gone_ok, op_name, pages, retry_dependency, retry_not_found, send, Aws, AwsError};
use crate::observe::Tags;
use crate::resources::internet_gateway::{Api, ObservedInternetGateway};

fn gateway_of(g: &aws_sdk_ec2::types::InternetGateway) -> Option<ObservedInternetGateway> {
    Some(ObservedInternetGateway {
        id: g.internet_gateway_id()?.to_string(),
        attached_to: g
            .attachments()
            .iter()
            .find_map(|a| a.vpc_id().map(str::to_string)),
        tags: tags_of(g.tags()),
    })
}

/// Detaching a gateway that is not attached (any more) is done.
fn not_attached_ok(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.code.as_deref() == Some("Gateway.NotAttached") => Ok(()),
        other => other,
    }
}

impl Api for Aws {
    async fn describe_internet_gateways_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedInternetGateway>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_internet_gateways()
            .filters(plan_filter(plan))
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.internet_gateways())
            .filter_map(gateway_of)
            .collect())
    }

    async fn create_internet_gateway(&self, tags: &Tags) -> Result<String, AwsError> {
        let req = self
            .ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, tags));
        let op = op_name(&req);
        let out = send!(req)?;
        out.internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "internet gateway id"))
    }

    async fn attach_internet_gateway(&self, gateway: &str, vpc_id: &str) -> Result<(), AwsError> {
        let req = self
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(gateway)
            .vpc_id(vpc_id);
        retry_not_found(self.not_found_window(), || async {
            send!(req.clone()).map(|_| ())
        })
        .await
    }

    async fn detach_internet_gateway(&self, gateway: &str, vpc_id: &str) -> Result<(), AwsError> {
        let req = self
            .ec2
            .detach_internet_gateway()
            .internet_gateway_id(gateway)
            .vpc_id(vpc_id);
        retry_dependency(self.dependency_window(), || async {
            not_attached_ok(send!(req.clone()).map(|_| ()))
        })
        .await
    }

    async fn delete_internet_gateway(&self, gateway: &str) -> Result<(), AwsError> {
        gone_ok(
            send!(self
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(gateway))
            .map(|_| ()),
        )
    }
}
