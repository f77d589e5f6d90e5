//! Everything in a VPC, whoever made it (see `observe::residents`).

use aws_sdk_ec2::types::Filter;

use super::{filter, tags_of};
use crate::aws::{pages, Aws, AwsError};
use crate::observe::residents::{Resident, ResidentKind};
use crate::observe::Tags;

fn resident(kind: ResidentKind, id: Option<&str>, tags: Tags, note: String) -> Option<Resident> {
    Some(Resident {
        kind,
        id: id?.to_string(),
        tags,
        subnet_id: None,
        groups: Vec::new(),
        interfaces: Vec::new(),
        note,
    })
}

impl Aws {
    /// The VPC's network interfaces, endpoints and NAT gateways (which name their
    /// interfaces) (`whole`: everything else too).
    pub async fn vpc_residents(
        &self,
        vpc_id: &str,
        whole: bool,
    ) -> Result<Vec<Resident>, AwsError> {
        let in_vpc = || filter("vpc-id", vpc_id);
        let (enis, eps, nats, rest) = tokio::join!(
            self.interfaces(in_vpc()),
            self.endpoints_in(in_vpc()),
            self.nat_gateways_in(vpc_id),
            async {
                if whole {
                    self.structure(vpc_id).await
                } else {
                    Ok(Vec::new())
                }
            }
        );
        Ok(enis?
            .into_iter()
            .chain(eps?)
            .chain(nats?)
            .chain(rest?)
            .collect())
    }

    async fn interfaces(&self, f: Filter) -> Result<Vec<Resident>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_network_interfaces()
            .filters(f)
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.network_interfaces())
            .filter_map(|n| {
                let note = [
                    n.interface_type().map(|t| t.as_str().to_string()),
                    n.description()
                        .filter(|d| !d.is_empty())
                        .map(str::to_string),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
                let mut r = resident(
                    ResidentKind::NetworkInterface,
                    n.network_interface_id(),
                    tags_of(n.tag_set()),
                    note,
                )?;
                r.subnet_id = n.subnet_id().map(str::to_string);
                r.groups = n
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect();
                Some(r)
            })
            .collect())
    }

    async fn endpoints_in(&self, f: Filter) -> Result<Vec<Resident>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_vpc_endpoints()
            .filters(f)
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.vpc_endpoints())
            .filter(|e| {
                !matches!(
                    e.state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .as_deref(),
                    Some("deleted" | "deleting")
                )
            })
            .filter_map(|e| {
                let mut r = resident(
                    ResidentKind::Endpoint,
                    e.vpc_endpoint_id(),
                    tags_of(e.tags()),
                    e.service_name().unwrap_or_default().to_string(),
                )?;
                r.interfaces = e.network_interface_ids().to_vec();
                Some(r)
            })
            .collect())
    }

    /// NAT gateways not deleted, with their interfaces (filtered by VPC here too:
    /// LocalStack ignores DescribeNatGateways' filters).
    async fn nat_gateways_in(&self, vpc_id: &str) -> Result<Vec<Resident>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_nat_gateways()
            .filter(filter("vpc-id", vpc_id))
            .into_paginator())?;
        let mut out = Vec::new();
        for n in pages.iter().flat_map(|p| p.nat_gateways()) {
            let state = n.state().map(|s| s.as_str()).unwrap_or_default();
            if matches!(state, "deleted" | "deleting" | "failed") || n.vpc_id() != Some(vpc_id) {
                continue;
            }
            let note = state.to_string();
            if let Some(mut r) = resident(
                ResidentKind::NatGateway,
                n.nat_gateway_id(),
                tags_of(n.tags()),
                note,
            ) {
                r.subnet_id = n.subnet_id().map(str::to_string);
                r.interfaces = n
                    .nat_gateway_addresses()
                    .iter()
                    .filter_map(|a| a.network_interface_id().map(str::to_string))
                    .collect();
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Subnets, groups (but the default one), route tables (but the main one) and
    /// internet gateways attached to the VPC.
    async fn structure(&self, vpc_id: &str) -> Result<Vec<Resident>, AwsError> {
        let c = &self.ec2;
        let in_vpc = || filter("vpc-id", vpc_id);
        let (subnets, groups, tables, igws) = tokio::join!(
            async { pages!(c.describe_subnets().filters(in_vpc()).into_paginator()) },
            async {
                pages!(c
                    .describe_security_groups()
                    .filters(in_vpc())
                    .into_paginator())
            },
            async { pages!(c.describe_route_tables().filters(in_vpc()).into_paginator()) },
            async {
                pages!(c
                    .describe_internet_gateways()
                    .filters(filter("attachment.vpc-id", vpc_id))
                    .into_paginator())
            },
        );
        let mut out: Vec<Resident> = Vec::new();
        for s in subnets?.iter().flat_map(|p| p.subnets()) {
            let note = format!(
                "{}, {}",
                s.cidr_block().unwrap_or_default(),
                s.availability_zone().unwrap_or_default()
            );
            out.extend(resident(
                ResidentKind::Subnet,
                s.subnet_id(),
                tags_of(s.tags()),
                note,
            ));
        }
        for g in groups?.iter().flat_map(|p| p.security_groups()) {
            if g.group_name() != Some("default") {
                let note = g.group_name().unwrap_or_default().to_string();
                out.extend(resident(
                    ResidentKind::SecurityGroup,
                    g.group_id(),
                    tags_of(g.tags()),
                    note,
                ));
            }
        }
        for t in tables?.iter().flat_map(|p| p.route_tables()) {
            if !t.associations().iter().any(|a| a.main() == Some(true)) {
                out.extend(resident(
                    ResidentKind::RouteTable,
                    t.route_table_id(),
                    tags_of(t.tags()),
                    String::new(),
                ));
            }
        }
        for g in igws?.iter().flat_map(|p| p.internet_gateways()) {
            out.extend(resident(
                ResidentKind::InternetGateway,
                g.internet_gateway_id(),
                tags_of(g.tags()),
                String::new(),
            ));
        }
        Ok(out)
    }
}
