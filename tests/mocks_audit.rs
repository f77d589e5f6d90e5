//! `sagevpc audit`'s reads where no emulator shows the condition, with aws-smithy-mocks:
//! an endpoint service not offered in a subnet's AZ (LocalStack offers every service in
//! every AZ), and Studio domains (LocalStack has no SageMaker) with users, a
//! domain-level group that admits itself, and SageMaker Projects enabled.

use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
use aws_sdk_ec2::operation::describe_vpc_endpoint_services::DescribeVpcEndpointServicesOutput;
use aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, IpPermission, RouteTable, RouteTableAssociation, SecurityGroup,
    SecurityGroupIdentifier, ServiceDetail, ServiceType, ServiceTypeDetail, Subnet,
    UserIdGroupPair, Vpc, VpcAttributeName, VpcEndpoint, VpcEndpointType,
};
use aws_sdk_sagemaker::operation::describe_domain::DescribeDomainOutput;
use aws_sdk_sagemaker::operation::describe_user_profile::DescribeUserProfileOutput;
use aws_sdk_sagemaker::operation::get_sagemaker_servicecatalog_portfolio_status::GetSagemakerServicecatalogPortfolioStatusOutput;
use aws_sdk_sagemaker::operation::list_domains::ListDomainsOutput;
use aws_sdk_sagemaker::operation::list_user_profiles::ListUserProfilesOutput;
use aws_sdk_sagemaker::types::{
    AppNetworkAccessType, DomainDetails, DomainSettings, SagemakerServicecatalogStatus,
    UserProfileDetails, UserSettings,
};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use sagevpc::audit::{audit, RuleId, Status};
use sagevpc::aws::Aws;

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    let mut m = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        m = m.with_rule(r);
    }
    m
}

fn clients(ec2: &[Rule], sm: &[Rule]) -> Aws {
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    let creds = Credentials::new("test", "test", None, None, "mocks");
    let ec2 = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(creds.clone())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(ec2))
        .build();
    let sm = aws_sdk_sagemaker::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .http_client(create_mock_http_client())
        .interceptor(interceptor(sm))
        .build();
    Aws::from_clients(
        aws_sdk_ec2::Client::from_conf(ec2),
        aws_sdk_sagemaker::Client::from_conf(sm),
    )
}

fn subnet(id: &str, az: &str, cidr: &str) -> Subnet {
    Subnet::builder()
        .subnet_id(id)
        .vpc_id("vpc-1")
        .availability_zone(az)
        .cidr_block(cidr)
        .available_ip_address_count(200)
        .build()
}

fn self_ingress(id: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        .build()
}

fn ec2_rules() -> Vec<Rule> {
    use aws_sdk_ec2::Client;
    let dns = |a: VpcAttributeName| {
        let on = || Some(AttributeBooleanValue::builder().value(true).build());
        mock!(Client::describe_vpc_attribute)
            .match_requests(move |r| r.attribute() == Some(&a))
            .then_output(move || {
                DescribeVpcAttributeOutput::builder()
                    .set_enable_dns_support(on())
                    .set_enable_dns_hostnames(on())
                    .build()
            })
    };
    vec![
        mock!(Client::describe_vpcs).then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(
                    Vpc::builder()
                        .vpc_id("vpc-1")
                        .cidr_block("10.0.0.0/16")
                        .build(),
                )
                .build()
        }),
        dns(VpcAttributeName::EnableDnsSupport),
        dns(VpcAttributeName::EnableDnsHostnames),
        mock!(Client::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(subnet("subnet-a", "us-east-1a", "10.0.1.0/24"))
                .subnets(subnet("subnet-b", "us-east-1b", "10.0.2.0/24"))
                .build()
        }),
        mock!(Client::describe_route_tables).then_output(|| {
            DescribeRouteTablesOutput::builder()
                .route_tables(
                    RouteTable::builder()
                        .route_table_id("rtb-1")
                        .vpc_id("vpc-1")
                        .associations(RouteTableAssociation::builder().main(true).build())
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_security_groups).then_output(|| {
            DescribeSecurityGroupsOutput::builder()
                .security_groups(
                    SecurityGroup::builder()
                        .group_id("sg-domain")
                        .group_name("studio")
                        .vpc_id("vpc-1")
                        .ip_permissions(self_ingress("sg-domain"))
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_vpc_endpoints).then_output(|| {
            DescribeVpcEndpointsOutput::builder()
                .vpc_endpoints(
                    VpcEndpoint::builder()
                        .vpc_endpoint_id("vpce-studio")
                        .vpc_id("vpc-1")
                        .vpc_endpoint_type(VpcEndpointType::Interface)
                        .service_name("aws.sagemaker.us-east-1.studio")
                        .state("available".into())
                        .subnet_ids("subnet-a")
                        .subnet_ids("subnet-b")
                        .groups(
                            SecurityGroupIdentifier::builder()
                                .group_id("sg-domain")
                                .build(),
                        )
                        .private_dns_enabled(true)
                        .build(),
                )
                .build()
        }),
        // The studio service is offered in us-east-1a only.
        mock!(Client::describe_vpc_endpoint_services)
            .match_requests(|r| r.service_names() == ["aws.sagemaker.us-east-1.studio"])
            .then_output(|| {
                DescribeVpcEndpointServicesOutput::builder()
                    .service_details(
                        ServiceDetail::builder()
                            .service_name("aws.sagemaker.us-east-1.studio")
                            .service_type(
                                ServiceTypeDetail::builder()
                                    .service_type(ServiceType::Interface)
                                    .build(),
                            )
                            .availability_zones("us-east-1a")
                            .build(),
                    )
                    .build()
            }),
    ]
}

fn sagemaker_rules() -> Vec<Rule> {
    use aws_sdk_sagemaker::Client;
    vec![
        mock!(Client::list_domains).then_output(|| {
            ListDomainsOutput::builder()
                .domains(DomainDetails::builder().domain_id("d-1").build())
                .build()
        }),
        mock!(Client::describe_domain)
            .match_requests(|r| r.domain_id() == Some("d-1"))
            .then_output(|| {
                DescribeDomainOutput::builder()
                    .domain_id("d-1")
                    .domain_name("ml")
                    .vpc_id("vpc-1")
                    .subnet_ids("subnet-a")
                    .subnet_ids("subnet-b")
                    .app_network_access_type(AppNetworkAccessType::VpcOnly)
                    .domain_settings(
                        DomainSettings::builder()
                            .security_group_ids("sg-domain")
                            .build(),
                    )
                    .build()
            }),
        mock!(Client::list_user_profiles).then_output(|| {
            let u = |n: &str| {
                UserProfileDetails::builder()
                    .domain_id("d-1")
                    .user_profile_name(n)
                    .build()
            };
            ListUserProfilesOutput::builder()
                .user_profiles(u("alice"))
                .user_profiles(u("bob"))
                .user_profiles(
                    UserProfileDetails::builder()
                        .domain_id("d-other")
                        .user_profile_name("carol")
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_user_profile).then_output(|| {
            DescribeUserProfileOutput::builder()
                .user_settings(UserSettings::builder().build())
                .build()
        }),
        mock!(Client::describe_user_profile).then_output(|| {
            DescribeUserProfileOutput::builder()
                .user_settings(UserSettings::builder().build())
                .build()
        }),
        mock!(Client::get_sagemaker_servicecatalog_portfolio_status).then_output(|| {
            GetSagemakerServicecatalogPortfolioStatusOutput::builder()
                .status(SagemakerServicecatalogStatus::Enabled)
                .build()
        }),
    ]
}

#[tokio::test]
async fn domains_users_projects_and_a_service_missing_from_an_az() {
    let aws = clients(&ec2_rules(), &sagemaker_rules());
    let (view, warnings) = sagevpc::aws::audit::read_view(&aws, "us-east-1", "vpc-1")
        .await
        .expect("read")
        .expect("the VPC exists");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(view.domains.len(), 1);
    assert_eq!(view.domains[0].users, 2, "carol is another domain's");
    assert_eq!(view.projects, Some(true));
    let r = audit(&view);
    assert!(r.clients.studio);
    assert_eq!(r.clients.groups, ["sg-domain"]);
    let fail = |rule: RuleId| {
        r.findings
            .iter()
            .find(|f| f.rule == rule && f.status == Status::Fail)
            .unwrap_or_else(|| panic!("{rule:?} does not fail: {:#?}", r.findings))
    };
    let f = fail(RuleId::ServiceOffered);
    assert!(f.detail.contains("subnet-b (us-east-1b)"), "{}", f.detail);
    let f = fail(RuleId::DomainSharedGroup);
    assert!(
        f.detail
            .contains("sg-domain admits itself, and the domain has 2 user profiles"),
        "{}",
        f.detail
    );
    assert!(r.findings.iter().any(|f| f.rule == RuleId::EndpointPresent
        && f.subject == "servicecatalog"
        && f.status == Status::Fail));
    assert!(r
        .findings
        .iter()
        .any(|f| f.rule == RuleId::DomainPrivateSubnets && f.status == Status::Pass));
}

#[tokio::test]
async fn sagemaker_unreadable_is_a_warning() {
    use aws_sdk_sagemaker::operation::list_domains::ListDomainsError;
    let denied = mock!(aws_sdk_sagemaker::Client::list_domains).then_error(|| {
        ListDomainsError::generic(
            aws_sdk_sagemaker::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: sagemaker:ListDomains")
                .build(),
        )
    });
    let aws = clients(&ec2_rules(), &[denied]);
    let (view, warnings) = sagevpc::aws::audit::read_view(&aws, "us-east-1", "vpc-1")
        .await
        .expect("read")
        .expect("the VPC exists");
    assert!(view.domains.is_empty());
    assert!(
        warnings[0].starts_with("could not read SageMaker Studio domains"),
        "{warnings:?}"
    );
    assert!(
        warnings[0].contains("sagemaker:ListDomains"),
        "{warnings:?}"
    );
    let r = audit(&view);
    assert!(!r.clients.studio);
    assert!(r
        .findings
        .iter()
        .any(|f| f.rule == RuleId::DomainSharedGroup && f.status == Status::NotApplicable));
}
