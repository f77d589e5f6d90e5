//! The Service Quotas adapter with aws-smithy-mocks (no emulator has the service): an
//! applied value is read for service `vpc` and the quota's code, AccessDenied becomes
//! a warning and the plan's value or AWS's default is used, NoSuchResource means no
//! applied value (the default, no warning).

use std::collections::BTreeMap;

use aws_sdk_servicequotas::error::ErrorMetadata;
use aws_sdk_servicequotas::operation::get_service_quota::{
    GetServiceQuotaError, GetServiceQuotaOutput,
};
use aws_sdk_servicequotas::types::ServiceQuota;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use sagevpc::aws::Aws;
use sagevpc::quotas::{self, Api as _, Limits, Quota, Reading, Source};

fn aws(rules: &[&Rule]) -> Aws {
    let mut m = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        m = m.with_rule(r);
    }
    let sq = aws_sdk_servicequotas::Config::builder()
        .behavior_version(aws_sdk_servicequotas::config::BehaviorVersion::latest())
        .region(aws_sdk_servicequotas::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_servicequotas::config::Credentials::new(
            "t", "t", None, None, "mocks",
        ))
        .http_client(create_mock_http_client())
        .interceptor(m)
        .build();
    let ec2 = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .build();
    let sm = aws_sdk_sagemaker::Config::builder()
        .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
        .build();
    Aws::from_clients(
        aws_sdk_ec2::Client::from_conf(ec2),
        aws_sdk_sagemaker::Client::from_conf(sm),
    )
    .with_service_quotas(aws_sdk_servicequotas::Client::from_conf(sq))
}

fn error(code: &str) -> GetServiceQuotaError {
    GetServiceQuotaError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message("User is not authorized to perform servicequotas:GetServiceQuota")
            .build(),
    )
}

#[tokio::test]
async fn an_applied_value_is_read_for_the_vpc_service_and_the_quotas_code() {
    let endpoints = mock!(aws_sdk_servicequotas::Client::get_service_quota)
        .match_requests(|r| r.service_code() == Some("vpc") && r.quota_code() == Some("L-29B6F2EB"))
        .then_output(|| {
            GetServiceQuotaOutput::builder()
                .quota(
                    ServiceQuota::builder()
                        .service_code("vpc")
                        .quota_code("L-29B6F2EB")
                        .value(120.0)
                        .build(),
                )
                .build()
        });
    let others = mock!(aws_sdk_servicequotas::Client::get_service_quota)
        .then_error(|| error("NoSuchResourceException"));
    let aws = aws(&[&endpoints, &others]);
    assert_eq!(aws.service_quota("L-29B6F2EB").await.unwrap(), Some(120.0));
    let read = quotas::read(&aws).await;
    assert_eq!(
        read[&Quota::InterfaceEndpointsPerVpc],
        Reading::Applied(120)
    );
    assert_eq!(read[&Quota::SubnetsPerVpc], Reading::NotApplied);
    let (limits, warnings) = Limits::live(&BTreeMap::new(), &read);
    assert_eq!(limits.value(Quota::InterfaceEndpointsPerVpc), 120);
    assert_eq!(
        limits.get(Quota::InterfaceEndpointsPerVpc).source,
        Source::ServiceQuotas
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    // One call per quota, made concurrently.
    assert_eq!(endpoints.num_calls(), 2);
    assert_eq!(others.num_calls(), 3);
}

#[tokio::test]
async fn access_denied_is_a_warning_and_the_default_is_used() {
    let denied = mock!(aws_sdk_servicequotas::Client::get_service_quota)
        .then_error(|| error("AccessDeniedException"));
    let aws = aws(&[&denied]);
    let read = quotas::read(&aws).await;
    assert_eq!(
        read[&Quota::RulesPerSecurityGroup],
        Reading::Failed("GetServiceQuota failed: AccessDeniedException: User is not authorized to perform servicequotas:GetServiceQuota".into())
    );
    let plan = BTreeMap::from([(Quota::SubnetsPerVpc, 300)]);
    let (limits, warnings) = Limits::live(&plan, &read);
    assert_eq!(limits.value(Quota::RulesPerSecurityGroup), 60);
    assert_eq!(
        limits.get(Quota::RulesPerSecurityGroup).source,
        Source::Default
    );
    assert_eq!(limits.get(Quota::SubnetsPerVpc).source, Source::Plan);
    // One cause, one warning, naming every quota and the value used for it.
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(
        warnings[0],
        "4 quotas could not be read from Service Quotas (GetServiceQuota failed: AccessDeniedException: User is not authorized to perform servicequotas:GetServiceQuota); used instead: \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB): 50 (AWS's default); \"Subnets per VPC\" (vpc/L-407747CB): 300 (from the plan's [quotas]); \"Inbound or outbound rules per security group\" (vpc/L-0EA8095F): 60 (AWS's default); \"Security groups per network interface\" (vpc/L-2AFB9258): 5 (AWS's default)"
    );
    assert_eq!(denied.num_calls(), 4, "AccessDenied is not retried");
}

#[tokio::test]
async fn no_such_resource_means_no_applied_value() {
    let none = mock!(aws_sdk_servicequotas::Client::get_service_quota)
        .then_error(|| error("NoSuchResourceException"));
    let aws = aws(&[&none]);
    assert_eq!(aws.service_quota("L-407747CB").await.unwrap(), None);
    let read = quotas::read(&aws).await;
    assert!(read.values().all(|r| *r == Reading::NotApplied), "{read:?}");
    let (limits, warnings) = Limits::live(&BTreeMap::new(), &read);
    assert_eq!(limits.value(Quota::SubnetsPerVpc), 200);
    assert_eq!(limits.value(Quota::SecurityGroupsPerNetworkInterface), 5);
    assert!(warnings.is_empty(), "{warnings:?}");
}
