//! SageMaker adapter: the Studio domains that live in a VPC.
//!
//! sagevpc creates no SageMaker resource. It reads domains for one reason: a Studio
//! domain places ENIs, security groups and EFS mount targets in the subnets and VPC it
//! was created with, so deleting those (destroy, a replacement, a subnet dropped from
//! the plan) would fail half-way on AWS after the endpoints are already gone. Knowing
//! the domains lets the diff refuse such a change up front.

use aws_sdk_sagemaker::Client;

use super::{endpoint_for, AwsError, CallCounter, CountCalls};
use crate::observe::StudioDomain;

/// The SageMaker adapter.
#[derive(Clone, Debug)]
pub struct SageMaker {
    client: Client,
}

impl SageMaker {
    /// A client sharing `calls` with the run's other adapters (for `--stats`).
    pub fn new(
        config: &aws_config::SdkConfig,
        endpoint_url: Option<&str>,
        calls: CallCounter,
    ) -> SageMaker {
        let mut builder =
            aws_sdk_sagemaker::config::Builder::from(config).interceptor(CountCalls(calls));
        if let Some(u) = endpoint_for(endpoint_url, "SAGEMAKER") {
            builder = builder.endpoint_url(u);
        }
        SageMaker {
            client: Client::from_conf(builder.build()),
        }
    }

    /// Wrap a pre-built client (tests with aws-smithy-mocks).
    pub fn from_client(client: Client) -> SageMaker {
        SageMaker { client }
    }

    /// The Studio domains whose VPC is `vpc_id`. `ListDomains` has no VPC in its answer
    /// (nor a filter), so each listed domain is described, concurrently.
    pub async fn domains_in_vpc(&self, vpc_id: &str) -> Result<Vec<StudioDomain>, AwsError> {
        let mut ids = Vec::new();
        let mut pages = self.client.list_domains().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListDomains", e))?;
            ids.extend(
                page.domains()
                    .iter()
                    .filter_map(|d| d.domain_id().map(str::to_string)),
            );
        }
        let described = futures::future::join_all(ids.iter().map(|id| async move {
            match self.client.describe_domain().domain_id(id).send().await {
                Ok(d) => Ok(Some(StudioDomain {
                    id: id.clone(),
                    name: d.domain_name().unwrap_or_default().to_string(),
                    status: d
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    vpc_id: d.vpc_id().unwrap_or_default().to_string(),
                    subnet_ids: d.subnet_ids().to_vec(),
                    security_group_ids: d
                        .domain_settings()
                        .map(|s| s.security_group_ids().to_vec())
                        .unwrap_or_default()
                        .into_iter()
                        .chain(
                            d.default_user_settings()
                                .map(|u| u.security_groups().to_vec())
                                .unwrap_or_default(),
                        )
                        .collect(),
                    vpc_only: d
                        .app_network_access_type()
                        .is_some_and(|t| t.as_str() == "VpcOnly"),
                })),
                Err(e) => {
                    let e = AwsError::from_sdk("DescribeDomain", e);
                    // Deleted between the list and the describe.
                    if e.code.as_deref() == Some("ResourceNotFound") {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                }
            }
        }))
        .await;
        let mut out = Vec::new();
        for d in described {
            if let Some(d) = d? {
                if d.vpc_id == vpc_id {
                    out.push(d);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
