//! Security groups and their rules.

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, UserIdGroupPair,
};

use super::{plan_filter, tag_spec, tags_of};
use crate::aws::{op_name, pages, retry_dependency, retry_not_found, send, Aws, AwsError};
use crate::model::{Direction, Peer, Protocol, Rule};
use crate::observe::Tags;
use crate::resources::security_group::{self, ObservedSecurityGroup};
use crate::resources::security_group_rule::{self, AwsRule};

fn rules_of(direction: Direction, perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let Some(protocol) = p.ip_protocol().and_then(Protocol::from_aws_code) else {
            continue;
        };
        let ports = match protocol {
            Protocol::All => None,
            Protocol::Icmp if p.from_port() == Some(-1) => None,
            _ => Some((p.from_port().unwrap_or(0), p.to_port().unwrap_or(65535))),
        };
        let cidrs = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip())
            .chain(p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6()))
            .filter_map(|c| c.parse().ok())
            .map(Peer::Cidr);
        let groups = p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id())
            .map(|id| Peer::ForeignGroup(id.to_string()));
        let lists = p
            .prefix_list_ids()
            .iter()
            .filter_map(|l| l.prefix_list_id())
            .map(|id| Peer::PrefixList(id.to_string()));
        out.extend(cidrs.chain(groups).chain(lists).map(|peer| Rule {
            direction,
            protocol,
            ports,
            peer,
        }));
    }
    out
}

pub(super) fn group_of(g: &aws_sdk_ec2::types::SecurityGroup) -> Option<ObservedSecurityGroup> {
    let mut rules = rules_of(Direction::Ingress, g.ip_permissions());
    rules.extend(rules_of(Direction::Egress, g.ip_permissions_egress()));
    Some(ObservedSecurityGroup {
        id: g.group_id()?.to_string(),
        vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        name: g.group_name().unwrap_or_default().to_string(),
        description: g.description().unwrap_or_default().to_string(),
        rules,
        tags: tags_of(g.tags()),
    })
}

fn permission(rule: &AwsRule) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(rule.protocol.aws_code());
    if let (Some(f), Some(t)) = rule.ports {
        b = b.from_port(f).to_port(t);
    }
    if let Some(c) = &rule.cidr {
        if c.contains(':') {
            b = b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build());
        } else {
            b = b.ip_ranges(IpRange::builder().cidr_ip(c).build());
        }
    }
    if let Some(g) = &rule.group_id {
        b = b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build());
    }
    if let Some(p) = &rule.prefix_list_id {
        b = b.prefix_list_ids(PrefixListId::builder().prefix_list_id(p).build());
    }
    b.build()
}

impl Aws {
    async fn groups_where(&self, f: Filter) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        let pages = pages!(self
            .ec2
            .describe_security_groups()
            .filters(f)
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.security_groups())
            .filter_map(group_of)
            .collect())
    }
}

impl security_group::Api for Aws {
    async fn describe_security_groups_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        let f = Filter::builder()
            .name("group-id")
            .set_values(Some(ids.to_vec()))
            .build();
        self.groups_where(f).await
    }

    async fn describe_security_groups_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        self.groups_where(plan_filter(plan)).await
    }

    async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let req = self
            .ec2
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags));
        let op = op_name(&req);
        let out = retry_not_found(self.not_found_window(), || async { send!(req.clone()) }).await?;
        out.group_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(op, "group id"))
    }

    async fn delete_security_group(&self, id: &str) -> Result<(), AwsError> {
        // A group still referenced by an ENI that is going away answers
        // DependencyViolation for a while.
        retry_dependency(self.dependency_window(), || async {
            send!(self.ec2.delete_security_group().group_id(id)).map(|_| ())
        })
        .await
    }

    async fn describe_prefix_lists(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, String)>, AwsError> {
        let f = aws_sdk_ec2::types::Filter::builder()
            .name("prefix-list-name")
            .set_values(Some(names.to_vec()))
            .build();
        let pages = pages!(self
            .ec2
            .describe_managed_prefix_lists()
            .filters(f)
            .into_paginator())?;
        Ok(pages
            .iter()
            .flat_map(|p| p.prefix_lists())
            .filter_map(|l| {
                Some((
                    l.prefix_list_name()?.to_string(),
                    l.prefix_list_id()?.to_string(),
                ))
            })
            .collect())
    }
}

impl security_group_rule::Api for Aws {
    async fn change_rules(
        &self,
        group_id: &str,
        direction: Direction,
        rules: &[AwsRule],
        grant: bool,
    ) -> Result<(), AwsError> {
        let perms = Some(rules.iter().map(permission).collect::<Vec<IpPermission>>());
        let c = &self.ec2;
        tracing::debug!(group_id, grant, ?direction, "security group rules");
        retry_not_found(self.not_found_window(), || async {
            let p = perms.clone();
            match (grant, direction) {
                (true, Direction::Ingress) => send!(c
                    .authorize_security_group_ingress()
                    .group_id(group_id)
                    .set_ip_permissions(p))
                .map(|_| ()),
                (true, Direction::Egress) => send!(c
                    .authorize_security_group_egress()
                    .group_id(group_id)
                    .set_ip_permissions(p))
                .map(|_| ()),
                (false, Direction::Ingress) => send!(c
                    .revoke_security_group_ingress()
                    .group_id(group_id)
                    .set_ip_permissions(p))
                .map(|_| ()),
                (false, Direction::Egress) => send!(c
                    .revoke_security_group_egress()
                    .group_id(group_id)
                    .set_ip_permissions(p))
                .map(|_| ()),
            }
        })
        .await
    }
}
