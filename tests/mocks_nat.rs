//! NAT gateway waits with aws-smithy-mocks, where LocalStack cannot show them (it
//! creates NAT gateways `available` at once): `pending` is waited through, `failed`
//! fails with AWS's reason, a delete waits until `deleted`, and an address already
//! released is done.

use std::time::Duration;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::delete_nat_gateway::DeleteNatGatewayOutput;
use aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput;
use aws_sdk_ec2::operation::release_address::ReleaseAddressError;
use aws_sdk_ec2::types::{NatGateway, NatGatewayState};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use sagevpc::aws::Aws;
use sagevpc::resources::elastic_ip::Api as _;
use sagevpc::resources::nat_gateway::Api as _;

fn ec2_client(rules: &[&Rule]) -> Client {
    let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for r in rules {
        mocks = mocks.with_rule(r);
    }
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "mocks"))
        .http_client(create_mock_http_client())
        .interceptor(mocks)
        .build();
    Client::from_conf(conf)
}

fn aws(rules: &[&Rule]) -> Aws {
    let sagemaker = aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    Aws::from_clients(ec2_client(rules), sagemaker)
}

fn state(s: NatGatewayState, why: Option<&str>) -> DescribeNatGatewaysOutput {
    DescribeNatGatewaysOutput::builder()
        .nat_gateways(
            NatGateway::builder()
                .nat_gateway_id("nat-1")
                .state(s)
                .set_failure_message(why.map(str::to_string))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_pending_nat_gateway_is_waited_for_until_available() {
    let rule = mock!(Client::describe_nat_gateways)
        .sequence()
        .output(|| state(NatGatewayState::Pending, None))
        .output(|| state(NatGatewayState::Available, None))
        .build();
    let started = std::time::Instant::now();
    aws(&[&rule])
        .wait_nat_gateway_available("nat-1")
        .await
        .expect("available after pending");
    assert_eq!(rule.num_calls(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "polled after a pause"
    );
}

#[tokio::test]
async fn a_failed_nat_gateway_fails_with_aws_reason() {
    let why = "Network vpc-1 has no Internet gateway attached";
    let rule = mock!(Client::describe_nat_gateways)
        .then_output(move || state(NatGatewayState::Failed, Some(why)));
    let e = aws(&[&rule])
        .wait_nat_gateway_available("nat-1")
        .await
        .expect_err("failed is an error");
    assert!(
        e.message
            .contains("NAT gateway nat-1 is failed instead of available"),
        "{e}"
    );
    assert!(e.message.contains(why), "{e}");
}

#[tokio::test]
async fn a_delete_waits_until_deleted_and_a_released_address_is_done() {
    let delete = mock!(Client::delete_nat_gateway).then_output(|| {
        DeleteNatGatewayOutput::builder()
            .nat_gateway_id("nat-1")
            .build()
    });
    let describe = mock!(Client::describe_nat_gateways)
        .sequence()
        .output(|| state(NatGatewayState::Deleting, None))
        .output(|| state(NatGatewayState::Deleted, None))
        .build();
    let release = mock!(Client::release_address).then_error(|| {
        ReleaseAddressError::generic(
            ErrorMetadata::builder()
                .code("InvalidAllocationID.NotFound")
                .message("The allocation ID 'eipalloc-1' does not exist")
                .build(),
        )
    });
    let a = aws(&[&delete, &describe, &release]);
    a.delete_nat_gateway("nat-1").await.expect("deleted");
    assert_eq!((delete.num_calls(), describe.num_calls()), (1, 2));
    a.release_address("eipalloc-1").await.expect("gone is done");
}
