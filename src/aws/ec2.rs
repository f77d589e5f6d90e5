//! EC2 adapter: VPCs, subnets, route tables, security groups, VPC endpoints.

use std::time::Duration;

use aws_sdk_ec2::config::{Intercept, RuntimeComponents};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag,
    TagSpecification, UserIdGroupPair, VpcAttributeName, VpcEndpointType,
};
use aws_sdk_ec2::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use super::{is_read_only, AwsError, CallCounter, CountCalls, Fence};
use crate::model::{Direction, Peer, Protocol, Rule, TAG_PLAN};
use crate::observe::{
    EndpointType, ObservedAssociation, ObservedEndpoint, ObservedRoute, ObservedRouteTable,
    ObservedSecurityGroup, ObservedSubnet, ObservedVpc, ServiceInfo, Tags,
};

/// Refuses every attempt of a mutating call while the apply lock's lease is not held
/// (see [`Fence`]). Checked right before the request is transmitted.
#[derive(Debug)]
struct FenceCalls(Fence);

impl Intercept for FenceCalls {
    fn name(&self) -> &'static str {
        "sagevpc-lease-fence"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(m) if !is_read_only(m.name()) => self.0.check().map_err(BoxError::from),
            _ => Ok(()),
        }
    }
}

/// Bounds of the adapter's own retry loops (the SDK's retries are bounded by
/// `--max-attempts`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long `*.NotFound` is retried for a call that refers to a just-created id.
    pub not_found_window: Duration,
    /// How long a delete answered `DependencyViolation` is retried (ENIs of a deleted
    /// endpoint take a while to go away).
    pub dependency_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            not_found_window: Duration::from_secs(30),
            dependency_window: Duration::from_secs(120),
        }
    }
}

/// The EC2 adapter.
#[derive(Clone, Debug)]
pub struct Ec2 {
    /// Every call but the apply lock's own; mutating calls pass the [`Fence`].
    client: Client,
    /// The apply lock's calls: not fenced (the lock is what arms the fence).
    lock_client: Client,
    pub calls: CallCounter,
    pub fence: Fence,
    pub limits: Limits,
}

/// A rule whose group peer is already resolved to an id.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsRule {
    pub protocol: Protocol,
    pub ports: (Option<i32>, Option<i32>),
    pub cidr: Option<String>,
    pub group_id: Option<String>,
}

/// Attributes of an endpoint to create.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    pub vpc_id: &'a str,
    pub service_name: &'a str,
    pub endpoint_type: EndpointType,
    pub subnet_ids: &'a [String],
    pub security_group_ids: &'a [String],
    pub route_table_ids: &'a [String],
    pub private_dns: Option<bool>,
    pub policy: Option<&'a str>,
    pub tags: &'a Tags,
    pub client_token: &'a str,
}

fn tag_spec(rt: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn plan_filter(plan: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_PLAN}"))
        .values(plan)
        .build()
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn parse_policy(doc: Option<&str>) -> Option<Value> {
    doc.and_then(|d| serde_json::from_str(d).ok())
}

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
        let mut push = |peer: Peer| {
            out.push(Rule {
                direction,
                protocol,
                ports,
                peer,
            })
        };
        for r in p.ip_ranges() {
            if let Some(n) = r.cidr_ip().and_then(|c| c.parse().ok()) {
                push(Peer::Cidr(n));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(n) = r.cidr_ipv6().and_then(|c| c.parse().ok()) {
                push(Peer::Cidr(n));
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                push(Peer::ForeignGroup(id.to_string()));
            }
        }
    }
    out
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
    b.build()
}

fn endpoint_of(e: &aws_sdk_ec2::types::VpcEndpoint) -> Option<ObservedEndpoint> {
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
    })
}

/// Why an endpoint failed, when AWS says (`LastError`).
fn endpoint_last_error(e: &aws_sdk_ec2::types::VpcEndpoint) -> Option<String> {
    e.last_error().map(|le| {
        format!(
            "{}: {}",
            le.code().unwrap_or("unknown"),
            le.message().unwrap_or("")
        )
    })
}

/// State of an endpoint as polled by the waiter.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStatus {
    pub id: String,
    pub state: String,
    pub last_error: Option<String>,
}

impl Ec2 {
    /// The adapter for `config`'s region and credentials; `endpoint_url` is `--endpoint-url`
    /// (see [`super::endpoint_for`]).
    pub fn new(config: &aws_config::SdkConfig, endpoint_url: Option<&str>) -> Ec2 {
        let calls = CallCounter::default();
        let fence = Fence::default();
        let mut builder =
            aws_sdk_ec2::config::Builder::from(config).interceptor(CountCalls(calls.clone()));
        if let Some(u) = super::endpoint_for(endpoint_url, "EC2") {
            builder = builder.endpoint_url(u);
        }
        let lock_conf = builder.build();
        let conf = lock_conf
            .to_builder()
            .interceptor(FenceCalls(fence.clone()))
            .build();
        Ec2 {
            client: Client::from_conf(conf),
            lock_client: Client::from_conf(lock_conf),
            calls,
            fence,
            limits: Limits::default(),
        }
    }

    /// Wrap a pre-built client (tests with aws-smithy-mocks): fenced like `new`, and
    /// used for the lock's calls too.
    pub fn from_client(client: Client) -> Ec2 {
        let fence = Fence::default();
        let conf = client
            .config()
            .to_builder()
            .interceptor(FenceCalls(fence.clone()))
            .build();
        Ec2 {
            client: Client::from_conf(conf),
            lock_client: client,
            calls: CallCounter::default(),
            fence,
            limits: Limits::default(),
        }
    }

    /// Retry a call that refers to an id AWS may not see yet (eventual consistency right
    /// after a create): `*.NotFound` is retried with backoff and jitter for up to
    /// `limits.not_found_window`.
    async fn retry_not_found<T, F, Fut>(&self, mut f: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let mut delay = Duration::from_millis(200);
        let start = tokio::time::Instant::now();
        loop {
            match f().await {
                Err(e) if e.is_not_found() && start.elapsed() < self.limits.not_found_window => {
                    tracing::debug!(error = %e, "retrying after NotFound (eventual consistency)");
                    let jitter = Duration::from_millis(rand::random::<u64>() % 100);
                    tokio::time::sleep(delay + jitter).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    // ----- reads -------------------------------------------------------------------

    fn vpc_of(v: &aws_sdk_ec2::types::Vpc) -> Option<ObservedVpc> {
        Some(ObservedVpc {
            id: v.vpc_id()?.to_string(),
            cidr: v.cidr_block().unwrap_or_default().to_string(),
            dns_support: false,
            dns_hostnames: false,
            tags: tags_of(v.tags()),
        })
    }

    pub async fn describe_vpcs_by_plan(&self, plan: &str) -> Result<Vec<ObservedVpc>, AwsError> {
        let pages: Vec<_> = self
            .client
            .describe_vpcs()
            .filters(plan_filter(plan))
            .into_paginator()
            .send()
            .collect()
            .await;
        let mut out = Vec::new();
        for page in pages {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeVpcs", e))?;
            out.extend(page.vpcs().iter().filter_map(Self::vpc_of));
        }
        Ok(out)
    }

    pub async fn describe_vpc_by_id(&self, id: &str) -> Result<Option<ObservedVpc>, AwsError> {
        match self.client.describe_vpcs().vpc_ids(id).send().await {
            Ok(out) => Ok(out.vpcs().first().and_then(Self::vpc_of)),
            Err(e) => {
                let e = AwsError::from_sdk("DescribeVpcs", e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// (enableDnsSupport, enableDnsHostnames)
    pub async fn describe_vpc_dns(&self, vpc_id: &str) -> Result<(bool, bool), AwsError> {
        let (support, hostnames) = tokio::join!(
            self.client
                .describe_vpc_attribute()
                .vpc_id(vpc_id)
                .attribute(VpcAttributeName::EnableDnsSupport)
                .send(),
            self.client
                .describe_vpc_attribute()
                .vpc_id(vpc_id)
                .attribute(VpcAttributeName::EnableDnsHostnames)
                .send(),
        );
        let support = support
            .map_err(|e| AwsError::from_sdk("DescribeVpcAttribute", e))?
            .enable_dns_support()
            .and_then(|a| a.value())
            .unwrap_or(false);
        let hostnames = hostnames
            .map_err(|e| AwsError::from_sdk("DescribeVpcAttribute", e))?
            .enable_dns_hostnames()
            .and_then(|a| a.value())
            .unwrap_or(false);
        Ok((support, hostnames))
    }

    fn subnet_of(s: &aws_sdk_ec2::types::Subnet) -> Option<ObservedSubnet> {
        Some(ObservedSubnet {
            id: s.subnet_id()?.to_string(),
            vpc_id: s.vpc_id().unwrap_or_default().to_string(),
            availability_zone: s.availability_zone().unwrap_or_default().to_string(),
            cidr: s.cidr_block().unwrap_or_default().to_string(),
            tags: tags_of(s.tags()),
        })
    }

    async fn describe_subnets(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<ObservedSubnet>, AwsError> {
        let pages: Vec<_> = self
            .client
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator()
            .send()
            .collect()
            .await;
        let mut out = Vec::new();
        for page in pages {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeSubnets", e))?;
            out.extend(page.subnets().iter().filter_map(Self::subnet_of));
        }
        Ok(out)
    }

    pub async fn describe_subnets_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedSubnet>, AwsError> {
        self.describe_subnets(vec![plan_filter(plan)]).await
    }

    pub async fn describe_subnets_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<ObservedSubnet>, AwsError> {
        let f = Filter::builder()
            .name("subnet-id")
            .set_values(Some(ids.to_vec()))
            .build();
        self.describe_subnets(vec![f]).await
    }

    pub async fn describe_route_tables_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedRouteTable>, AwsError> {
        let pages: Vec<_> = self
            .client
            .describe_route_tables()
            .filters(plan_filter(plan))
            .into_paginator()
            .send()
            .collect()
            .await;
        let mut out = Vec::new();
        for page in pages {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeRouteTables", e))?;
            for rt in page.route_tables() {
                let Some(id) = rt.route_table_id() else {
                    continue;
                };
                out.push(ObservedRouteTable {
                    id: id.to_string(),
                    vpc_id: rt.vpc_id().unwrap_or_default().to_string(),
                    associations: rt
                        .associations()
                        .iter()
                        .filter(|a| !a.main().unwrap_or(false))
                        .filter_map(|a| {
                            Some(ObservedAssociation {
                                id: a.route_table_association_id()?.to_string(),
                                subnet_id: a.subnet_id()?.to_string(),
                            })
                        })
                        .collect(),
                    routes: rt
                        .routes()
                        .iter()
                        .map(|r| ObservedRoute {
                            destination: r
                                .destination_cidr_block()
                                .or(r.destination_prefix_list_id())
                                .or(r.destination_ipv6_cidr_block())
                                .unwrap_or_default()
                                .to_string(),
                            target: r
                                .gateway_id()
                                .or(r.nat_gateway_id())
                                .or(r.network_interface_id())
                                .or(r.transit_gateway_id())
                                .or(r.vpc_peering_connection_id())
                                .unwrap_or_default()
                                .to_string(),
                        })
                        .collect(),
                    tags: tags_of(rt.tags()),
                });
            }
        }
        Ok(out)
    }

    pub async fn describe_security_groups_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedSecurityGroup>, AwsError> {
        let pages: Vec<_> = self
            .client
            .describe_security_groups()
            .filters(plan_filter(plan))
            .into_paginator()
            .send()
            .collect()
            .await;
        let mut out = Vec::new();
        for page in pages {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeSecurityGroups", e))?;
            for g in page.security_groups() {
                let Some(id) = g.group_id() else { continue };
                let mut rules = rules_of(Direction::Ingress, g.ip_permissions());
                rules.extend(rules_of(Direction::Egress, g.ip_permissions_egress()));
                out.push(ObservedSecurityGroup {
                    id: id.to_string(),
                    vpc_id: g.vpc_id().unwrap_or_default().to_string(),
                    name: g.group_name().unwrap_or_default().to_string(),
                    description: g.description().unwrap_or_default().to_string(),
                    rules,
                    tags: tags_of(g.tags()),
                });
            }
        }
        Ok(out)
    }

    async fn describe_endpoints(
        &self,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::VpcEndpoint>, AwsError> {
        let mut req = self.client.describe_vpc_endpoints();
        if !filters.is_empty() {
            req = req.set_filters(Some(filters));
        }
        if !ids.is_empty() {
            req = req.set_vpc_endpoint_ids(Some(ids));
        }
        let pages: Vec<_> = req.into_paginator().send().collect().await;
        let mut out = Vec::new();
        for page in pages {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeVpcEndpoints", e))?;
            out.extend(page.vpc_endpoints().iter().cloned());
        }
        Ok(out)
    }

    pub async fn describe_endpoints_by_plan(
        &self,
        plan: &str,
    ) -> Result<Vec<ObservedEndpoint>, AwsError> {
        Ok(self
            .describe_endpoints(vec![plan_filter(plan)], vec![])
            .await?
            .iter()
            .filter(|e| !is_gone(e.state().map(|s| s.as_str())))
            .filter_map(endpoint_of)
            .collect())
    }

    pub async fn describe_endpoints_in_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<ObservedEndpoint>, AwsError> {
        Ok(self
            .describe_endpoints(vec![filter("vpc-id", vpc_id)], vec![])
            .await?
            .iter()
            .filter(|e| !is_gone(e.state().map(|s| s.as_str())))
            .filter_map(endpoint_of)
            .collect())
    }

    /// One call for all the endpoints a waiter polls. Endpoints AWS no longer knows are
    /// reported in state `deleted`.
    pub async fn endpoint_statuses(&self, ids: &[String]) -> Result<Vec<EndpointStatus>, AwsError> {
        let found = match self.describe_endpoints(vec![], ids.to_vec()).await {
            Ok(f) => f,
            Err(e) if e.is_not_found() && ids.len() == 1 => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut out: Vec<EndpointStatus> = found
            .iter()
            .filter_map(|e| {
                Some(EndpointStatus {
                    id: e.vpc_endpoint_id()?.to_string(),
                    state: e
                        .state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .unwrap_or_default(),
                    last_error: endpoint_last_error(e),
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

    pub async fn describe_endpoint_services(
        &self,
        names: &[String],
    ) -> Result<Vec<ServiceInfo>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_vpc_endpoint_services()
                .set_service_names(Some(names.to_vec()))
                .set_next_token(token.take())
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                // Unknown names make AWS reject the whole call; report them as absent
                // so that the diff can name them.
                Err(e) => {
                    let e = AwsError::from_sdk("DescribeVpcEndpointServices", e);
                    if e.code.as_deref() == Some("InvalidServiceName") {
                        return Ok(out);
                    }
                    return Err(e);
                }
            };
            for d in resp.service_details() {
                let Some(name) = d.service_name() else {
                    continue;
                };
                for t in d.service_type() {
                    let endpoint_type = match t.service_type() {
                        Some(aws_sdk_ec2::types::ServiceType::Gateway) => EndpointType::Gateway,
                        Some(aws_sdk_ec2::types::ServiceType::Interface) => EndpointType::Interface,
                        _ => continue,
                    };
                    out.push(ServiceInfo {
                        service_name: name.to_string(),
                        endpoint_type,
                        availability_zones: d.availability_zones().to_vec(),
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

    // ----- writes ------------------------------------------------------------------

    pub async fn create_vpc(&self, cidr: &str, tags: &Tags) -> Result<String, AwsError> {
        let out = self
            .client
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Vpc, tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateVpc", e))?;
        out.vpc()
            .and_then(|v| v.vpc_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::new("CreateVpc", None, "response carried no VPC id"))
    }

    pub async fn set_vpc_dns(
        &self,
        vpc_id: &str,
        hostnames: bool,
        value: bool,
    ) -> Result<(), AwsError> {
        let attr = AttributeBooleanValue::builder().value(value).build();
        let mut req = self.client.modify_vpc_attribute().vpc_id(vpc_id);
        req = if hostnames {
            req.enable_dns_hostnames(attr)
        } else {
            req.enable_dns_support(attr)
        };
        self.retry_not_found(|| async {
            req.clone()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("ModifyVpcAttribute", e))
        })
        .await
    }

    pub async fn create_subnet(
        &self,
        vpc_id: &str,
        az: &str,
        cidr: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let req = self
            .client
            .create_subnet()
            .vpc_id(vpc_id)
            .availability_zone(az)
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Subnet, tags));
        let out = self
            .retry_not_found(|| async {
                req.clone()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("CreateSubnet", e))
            })
            .await?;
        out.subnet()
            .and_then(|s| s.subnet_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::new("CreateSubnet", None, "response carried no subnet id"))
    }

    pub async fn create_route_table(
        &self,
        vpc_id: &str,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, AwsError> {
        let req = self
            .client
            .create_route_table()
            .vpc_id(vpc_id)
            .client_token(client_token)
            .tag_specifications(tag_spec(ResourceType::RouteTable, tags));
        let out = self
            .retry_not_found(|| async {
                req.clone()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("CreateRouteTable", e))
            })
            .await?;
        out.route_table()
            .and_then(|r| r.route_table_id())
            .map(str::to_string)
            .ok_or_else(|| {
                AwsError::new(
                    "CreateRouteTable",
                    None,
                    "response carried no route table id",
                )
            })
    }

    pub async fn associate_route_table(
        &self,
        route_table_id: &str,
        subnet_id: &str,
    ) -> Result<String, AwsError> {
        let req = self
            .client
            .associate_route_table()
            .route_table_id(route_table_id)
            .subnet_id(subnet_id);
        let out = self
            .retry_not_found(|| async {
                req.clone()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("AssociateRouteTable", e))
            })
            .await?;
        out.association_id().map(str::to_string).ok_or_else(|| {
            AwsError::new(
                "AssociateRouteTable",
                None,
                "response carried no association id",
            )
        })
    }

    pub async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<String, AwsError> {
        let req = self
            .client
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags));
        let out = self
            .retry_not_found(|| async {
                req.clone()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("CreateSecurityGroup", e))
            })
            .await?;
        out.group_id().map(str::to_string).ok_or_else(|| {
            AwsError::new("CreateSecurityGroup", None, "response carried no group id")
        })
    }

    /// Authorize (`grant`) or revoke permissions on a group, in one call.
    pub async fn change_rules(
        &self,
        group_id: &str,
        direction: Direction,
        rules: &[AwsRule],
        grant: bool,
    ) -> Result<(), AwsError> {
        let perms = Some(rules.iter().map(permission).collect::<Vec<IpPermission>>());
        let c = &self.client;
        self.retry_not_found(|| async {
            let (name, r) = match (grant, direction) {
                (true, Direction::Ingress) => (
                    "AuthorizeSecurityGroupIngress",
                    c.authorize_security_group_ingress()
                        .group_id(group_id)
                        .set_ip_permissions(perms.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::from_sdk("AuthorizeSecurityGroupIngress", e)),
                ),
                (true, Direction::Egress) => (
                    "AuthorizeSecurityGroupEgress",
                    c.authorize_security_group_egress()
                        .group_id(group_id)
                        .set_ip_permissions(perms.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::from_sdk("AuthorizeSecurityGroupEgress", e)),
                ),
                (false, Direction::Ingress) => (
                    "RevokeSecurityGroupIngress",
                    c.revoke_security_group_ingress()
                        .group_id(group_id)
                        .set_ip_permissions(perms.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::from_sdk("RevokeSecurityGroupIngress", e)),
                ),
                (false, Direction::Egress) => (
                    "RevokeSecurityGroupEgress",
                    c.revoke_security_group_egress()
                        .group_id(group_id)
                        .set_ip_permissions(perms.clone())
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::from_sdk("RevokeSecurityGroupEgress", e)),
                ),
            };
            tracing::debug!(operation = name, group_id, "security group rules");
            r
        })
        .await
    }

    /// Create an endpoint; returns its id and the state the response reported (an
    /// endpoint already `available` needs no wait).
    pub async fn create_endpoint(&self, ep: NewEndpoint<'_>) -> Result<(String, String), AwsError> {
        let mut req = self
            .client
            .create_vpc_endpoint()
            .vpc_id(ep.vpc_id)
            .service_name(ep.service_name)
            .vpc_endpoint_type(match ep.endpoint_type {
                EndpointType::Gateway => VpcEndpointType::Gateway,
                EndpointType::Interface => VpcEndpointType::Interface,
            })
            .client_token(ep.client_token)
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, ep.tags));
        if !ep.subnet_ids.is_empty() {
            req = req.set_subnet_ids(Some(ep.subnet_ids.to_vec()));
        }
        if !ep.security_group_ids.is_empty() {
            req = req.set_security_group_ids(Some(ep.security_group_ids.to_vec()));
        }
        if !ep.route_table_ids.is_empty() {
            req = req.set_route_table_ids(Some(ep.route_table_ids.to_vec()));
        }
        if let Some(p) = ep.private_dns {
            req = req.private_dns_enabled(p);
        }
        if let Some(p) = ep.policy {
            req = req.policy_document(p);
        }
        let out = self
            .retry_not_found(|| async {
                req.clone()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("CreateVpcEndpoint", e))
            })
            .await?;
        let state = out
            .vpc_endpoint()
            .and_then(|v| v.state())
            .map(|s| s.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        out.vpc_endpoint()
            .and_then(|v| v.vpc_endpoint_id())
            .map(|id| (id.to_string(), state))
            .ok_or_else(|| {
                AwsError::new("CreateVpcEndpoint", None, "response carried no endpoint id")
            })
    }
}

fn is_gone(state: Option<&str>) -> bool {
    matches!(
        state.map(str::to_ascii_lowercase).as_deref(),
        Some("deleted") | Some("deleting") | Some("rejected") | Some("expired")
    )
}

/// Changes to an existing endpoint, sent as one ModifyVpcEndpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub add_subnets: Vec<String>,
    pub remove_subnets: Vec<String>,
    pub add_security_groups: Vec<String>,
    pub remove_security_groups: Vec<String>,
    pub add_route_tables: Vec<String>,
    pub remove_route_tables: Vec<String>,
    pub private_dns: Option<bool>,
    /// `Some(None)`: reset to AWS's default policy.
    pub policy: Option<Option<String>>,
}

/// A delete of something already gone counts as done (idempotent re-runs).
fn gone_ok(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

impl Ec2 {
    pub async fn modify_endpoint(&self, id: &str, c: &EndpointChanges) -> Result<(), AwsError> {
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let mut req = self
            .client
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
        self.retry_not_found(|| async {
            req.clone()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("ModifyVpcEndpoint", e))
        })
        .await
    }

    pub async fn create_tags(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        let req = self.client.create_tags().resources(id).set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ));
        self.retry_not_found(|| async {
            req.clone()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("CreateTags", e))
        })
        .await
    }

    pub async fn delete_tags(&self, id: &str, keys: &[String]) -> Result<(), AwsError> {
        self.client
            .delete_tags()
            .resources(id)
            .set_tags(Some(
                keys.iter().map(|k| Tag::builder().key(k).build()).collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteTags", e))
    }

    pub async fn disassociate_route_table(&self, association_id: &str) -> Result<(), AwsError> {
        gone_ok(
            self.client
                .disassociate_route_table()
                .association_id(association_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DisassociateRouteTable", e)),
        )
    }

    pub async fn delete_endpoint(&self, id: &str) -> Result<(), AwsError> {
        let out = self
            .client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteVpcEndpoints", e));
        let out = match out {
            Err(e) if e.is_not_found() => return Ok(()),
            other => other?,
        };
        // Failures come back per item, not as an error.
        if let Some(u) = out.unsuccessful().first() {
            let (code, msg) = u
                .error()
                .map(|e| {
                    (
                        e.code().unwrap_or_default().to_string(),
                        e.message().unwrap_or_default().to_string(),
                    )
                })
                .unwrap_or_default();
            if code.ends_with("NotFound") {
                return Ok(());
            }
            return Err(AwsError::new("DeleteVpcEndpoints", Some(&code), msg));
        }
        Ok(())
    }

    pub async fn delete_security_group(&self, id: &str) -> Result<(), AwsError> {
        // A group still referenced by an ENI that is going away answers DependencyViolation
        // for a while: retry that for a bounded time.
        let mut delay = Duration::from_millis(500);
        let deadline = tokio::time::Instant::now() + self.limits.dependency_window;
        loop {
            let r = gone_ok(
                self.client
                    .delete_security_group()
                    .group_id(id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::from_sdk("DeleteSecurityGroup", e)),
            );
            match r {
                Err(e)
                    if e.code.as_deref() == Some("DependencyViolation")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    pub async fn delete_subnet(&self, id: &str) -> Result<(), AwsError> {
        let mut delay = Duration::from_millis(500);
        let deadline = tokio::time::Instant::now() + self.limits.dependency_window;
        loop {
            let r = gone_ok(
                self.client
                    .delete_subnet()
                    .subnet_id(id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::from_sdk("DeleteSubnet", e)),
            );
            match r {
                Err(e)
                    if e.code.as_deref() == Some("DependencyViolation")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    pub async fn delete_route_table(&self, id: &str) -> Result<(), AwsError> {
        gone_ok(
            self.client
                .delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DeleteRouteTable", e)),
        )
    }

    pub async fn delete_vpc(&self, id: &str) -> Result<(), AwsError> {
        gone_ok(
            self.client
                .delete_vpc()
                .vpc_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DeleteVpc", e)),
        )
    }

    /// Create the key pair that serves as a plan's apply lock. `Ok(None)` when it
    /// already exists (someone else holds the lock).
    pub async fn create_lock_key(
        &self,
        name: &str,
        tags: &Tags,
    ) -> Result<Option<String>, AwsError> {
        let r = self
            .lock_client
            .create_key_pair()
            .key_name(name)
            // ed25519: no RSA key generation between an emulator's duplicate check and
            // its insert (LocalStack's window for two creates of one name to succeed).
            .key_type(aws_sdk_ec2::types::KeyType::Ed25519)
            .tag_specifications(tag_spec(ResourceType::KeyPair, tags))
            .send()
            .await;
        match r {
            Ok(out) => Ok(Some(out.key_pair_id().unwrap_or_default().to_string())),
            Err(e) => {
                let e = AwsError::from_sdk("CreateKeyPair", e);
                if e.code.as_deref() == Some("InvalidKeyPair.Duplicate") {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Renew the lease of the lock key pair `id` (its expiry tag).
    pub async fn renew_lock_key(&self, id: &str, tags: &Tags) -> Result<(), AwsError> {
        self.lock_client
            .create_tags()
            .resources(id)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("CreateTags", e))
    }

    /// The lock key pair of `name`, if it exists: (id, tags).
    pub async fn describe_lock_key(&self, name: &str) -> Result<Option<(String, Tags)>, AwsError> {
        match self
            .lock_client
            .describe_key_pairs()
            .key_names(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.key_pairs().first().map(|k| {
                (
                    k.key_pair_id().unwrap_or_default().to_string(),
                    tags_of(k.tags()),
                )
            })),
            Err(e) => {
                let e = AwsError::from_sdk("DescribeKeyPairs", e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Delete the lock key pair named `name` (only while this run's lease is held, or
    /// once it was checked to be ours).
    pub async fn delete_lock_key_by_name(&self, name: &str) -> Result<(), AwsError> {
        gone_ok(
            self.lock_client
                .delete_key_pair()
                .key_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DeleteKeyPair", e)),
        )
    }

    /// Delete a lock key pair by id (not by name: a stale lock that someone else just
    /// replaced must not be deleted by mistake). Emulators that ignore `KeyPairId`
    /// (LocalStack) are detected: if the same key pair is still there, it is deleted by
    /// name.
    pub async fn delete_lock_key(&self, id: &str, name: &str) -> Result<(), AwsError> {
        gone_ok(
            self.lock_client
                .delete_key_pair()
                .key_pair_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk("DeleteKeyPair", e)),
        )?;
        match self.describe_lock_key(name).await? {
            Some((still, _)) if still == id => self.delete_lock_key_by_name(name).await,
            _ => Ok(()),
        }
    }
}
