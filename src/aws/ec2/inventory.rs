//! What any sagevpc plan owns in a region, found by the ownership tag's key (for
//! `sagevpc plans`: a plan renamed, or looked for in the wrong region, is not lost).

use aws_sdk_ec2::types::{Filter, Tag};

use super::tags_of;
use crate::aws::{pages, Aws, AwsError};
use crate::model::{TAG_KEY, TAG_PLAN};

/// One owned resource: (plan, its `sagevpc:key`, id).
pub type Owned = (String, String, String);

fn any_plan() -> Filter {
    Filter::builder().name("tag-key").values(TAG_PLAN).build()
}

fn owned(id: Option<&str>, tags: &[Tag]) -> Option<Owned> {
    let t = tags_of(tags);
    Some((
        t.get(TAG_PLAN)?.clone(),
        t.get(TAG_KEY).cloned().unwrap_or_default(),
        id?.to_string(),
    ))
}

impl Aws {
    /// The region's availability zones that are up, by name (Local and Wavelength
    /// zones left out: endpoints and SageMaker are not there).
    pub async fn available_zones(&self) -> Result<Vec<String>, AwsError> {
        let zones = crate::resources::subnet::Api::describe_zones(self).await?;
        Ok(zones.into_iter().map(|z| z.name).collect())
    }

    /// The IPv4 CIDR blocks of every VPC in the region, whoever made it.
    pub async fn all_vpc_cidrs(&self) -> Result<Vec<String>, AwsError> {
        let pages = pages!(self.ec2.describe_vpcs().into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.vpcs())
            .flat_map(|v| {
                let extra = v
                    .cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.cidr_block().map(str::to_string));
                v.cidr_block().map(str::to_string).into_iter().chain(extra)
            })
            .collect())
    }

    /// Everything tagged by any plan: one paginated Describe per resource type.
    pub async fn owned_by_any_plan(&self) -> Result<Vec<Owned>, AwsError> {
        let c = &self.ec2;
        let (vpcs, igws, subnets, rts, sgs, eps) = tokio::join!(
            async { pages!(c.describe_vpcs().filters(any_plan()).into_paginator()) },
            async {
                pages!(c
                    .describe_internet_gateways()
                    .filters(any_plan())
                    .into_paginator())
            },
            async { pages!(c.describe_subnets().filters(any_plan()).into_paginator()) },
            async {
                pages!(c
                    .describe_route_tables()
                    .filters(any_plan())
                    .into_paginator())
            },
            async {
                pages!(c
                    .describe_security_groups()
                    .filters(any_plan())
                    .into_paginator())
            },
            async {
                pages!(c
                    .describe_vpc_endpoints()
                    .filters(any_plan())
                    .into_paginator())
            },
        );
        let mut out: Vec<Owned> = Vec::new();
        out.extend(
            vpcs?
                .iter()
                .flat_map(|p| p.vpcs())
                .filter_map(|v| owned(v.vpc_id(), v.tags())),
        );
        out.extend(
            igws?
                .iter()
                .flat_map(|p| p.internet_gateways())
                .filter_map(|g| owned(g.internet_gateway_id(), g.tags())),
        );
        out.extend(
            subnets?
                .iter()
                .flat_map(|p| p.subnets())
                .filter_map(|s| owned(s.subnet_id(), s.tags())),
        );
        out.extend(
            rts?.iter()
                .flat_map(|p| p.route_tables())
                .filter_map(|r| owned(r.route_table_id(), r.tags())),
        );
        out.extend(
            sgs?.iter()
                .flat_map(|p| p.security_groups())
                .filter_map(|g| owned(g.group_id(), g.tags())),
        );
        out.extend(
            eps?.iter()
                .flat_map(|p| p.vpc_endpoints())
                .filter(|e| {
                    !matches!(
                        e.state()
                            .map(|s| s.as_str().to_ascii_lowercase())
                            .as_deref(),
                        Some("deleted" | "deleting")
                    )
                })
                .filter_map(|e| owned(e.vpc_endpoint_id(), e.tags())),
        );
        Ok(out)
    }
}
