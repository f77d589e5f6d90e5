//! The reads of `sagevpc audit`: one VPC and everything in it, whoever made it (no
//! ownership tags), as an [`audit::View`]. EC2: a constant number of paginated calls
//! (the VPC, its two DNS attributes, subnets, route tables, groups, endpoints, and the
//! services those endpoints use). SageMaker: `ListDomains`, `ListUserProfiles` and the
//! Projects status, then one describe per domain and per user profile of the domains in
//! the VPC (SageMaker has no batch describe). SageMaker that cannot be read (no
//! permission, an emulator without it) is a warning: the VPC is then audited without
//! domains.

use std::collections::BTreeSet;

use super::{pages, send, Aws, AwsError};
use crate::audit::{Domain, View};
use crate::resources::{endpoint, route_table, subnet, vpc};

/// The view of `vpc_id`, or `None` when there is no such VPC; with the warnings of
/// what could not be read.
pub async fn read_view(
    aws: &Aws,
    region: &str,
    vpc_id: &str,
) -> Result<Option<(View, Vec<String>)>, AwsError> {
    let Some(mut found) = vpc::Api::describe_vpc_by_id(aws, vpc_id).await? else {
        return Ok(None);
    };
    let (dns, subnets, tables, groups, endpoints, studio) = tokio::join!(
        vpc::Api::describe_vpc_dns(aws, vpc_id),
        subnet::Api::describe_subnets_in_vpc(aws, vpc_id),
        route_table::Api::describe_route_tables_in_vpc(aws, vpc_id),
        aws.security_groups_in_vpc(vpc_id),
        endpoint::Api::describe_endpoints_in_vpc(aws, vpc_id),
        studio(aws, vpc_id),
    );
    (found.dns_support, found.dns_hostnames) = dns?;
    let endpoints = endpoints?;
    let names: Vec<String> = endpoints
        .iter()
        .map(|e| e.service_name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let services = if names.is_empty() {
        Vec::new()
    } else {
        endpoint::Api::describe_endpoint_services(aws, &names).await?
    };
    let mut warnings = Vec::new();
    let (domains, projects) = match studio {
        Ok(s) => s,
        Err(e) => {
            warnings.push(format!(
                "could not read SageMaker Studio domains ({e}); the VPC is audited as one without domains"
            ));
            (Vec::new(), None)
        }
    };
    let view = View {
        region: region.to_string(),
        vpc: found,
        subnets: subnets?,
        route_tables: tables?,
        security_groups: groups?,
        endpoints,
        services,
        domains,
        projects,
    };
    Ok(Some((view, warnings)))
}

/// The Studio domains of the VPC, with their users, and whether Projects is enabled
/// (`None` when that cannot be told).
async fn studio(aws: &Aws, vpc_id: &str) -> Result<(Vec<Domain>, Option<bool>), AwsError> {
    let all = aws.all_domains().await?;
    let mut domains: Vec<Domain> = all
        .into_iter()
        .filter(|(d, _)| d.vpc_id == vpc_id)
        .map(|(d, own)| {
            let mut domain_groups = own;
            domain_groups.extend(d.security_groups.iter().cloned());
            domain_groups.dedup();
            Domain {
                id: d.id,
                name: d.name,
                vpc_only: d.vpc_only,
                subnet_ids: d.subnet_ids,
                domain_groups,
                user_groups: Vec::new(),
                users: 0,
            }
        })
        .collect();
    domains.sort_by(|a, b| a.id.cmp(&b.id));
    if domains.is_empty() {
        return Ok((domains, None));
    }
    let (profiles, projects) = tokio::join!(
        async { pages!(aws.sagemaker.list_user_profiles().into_paginator()) },
        async {
            send!(aws
                .sagemaker
                .get_sagemaker_servicecatalog_portfolio_status())
        },
    );
    let profiles: Vec<(String, String)> = profiles?
        .iter()
        .flat_map(|p| p.user_profiles())
        .filter_map(|u| {
            Some((
                u.domain_id()?.to_string(),
                u.user_profile_name()?.to_string(),
            ))
        })
        .filter(|(d, _)| domains.iter().any(|x| &x.id == d))
        .collect();
    let described =
        futures::future::join_all(profiles.iter().map(|(d, u)| user_groups(aws, d, u))).await;
    for ((domain, _), groups) in profiles.iter().zip(described) {
        let groups = groups?;
        if let Some(d) = domains.iter_mut().find(|x| &x.id == domain) {
            d.users += 1;
            for g in groups.into_iter().filter(|g| !d.domain_groups.contains(g)) {
                if !d.user_groups.contains(&g) {
                    d.user_groups.push(g);
                }
            }
        }
    }
    let projects = projects
        .ok()
        .and_then(|p| p.status().map(|s| s.as_str() == "Enabled"));
    Ok((domains, projects))
}

/// A user profile's own groups (`UserSettings.SecurityGroups`); none when it went away
/// between the list and the describe.
async fn user_groups(aws: &Aws, domain: &str, user: &str) -> Result<Vec<String>, AwsError> {
    match send!(aws
        .sagemaker
        .describe_user_profile()
        .domain_id(domain)
        .user_profile_name(user))
    {
        Ok(p) => Ok(p
            .user_settings()
            .map(|s| s.security_groups().to_vec())
            .unwrap_or_default()),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
