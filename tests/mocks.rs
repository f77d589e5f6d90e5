//! Adapter error paths with aws-smithy-mocks: throttling and 5xx retried, NotFound right
//! after a create retried, errors retrying cannot fix failing at once with code, message
//! and hint, and the adapter's own translations (endpoint LastError, per-item delete
//! failures, NotFound meaning "gone").

use std::time::Duration;

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_subnet::{CreateSubnetError, CreateSubnetOutput};
use aws_sdk_ec2::operation::delete_security_group::{
    DeleteSecurityGroupError, DeleteSecurityGroupOutput,
};
use aws_sdk_ec2::operation::delete_vpc_endpoints::{
    DeleteVpcEndpointsError, DeleteVpcEndpointsOutput,
};
use aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput;
use aws_sdk_ec2::operation::describe_vpcs::{DescribeVpcsError, DescribeVpcsOutput};
use aws_sdk_ec2::types::{
    LastError, State, Subnet, UnsuccessfulItem, UnsuccessfulItemError, Vpc, VpcEndpoint,
    VpcEndpointType,
};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use sagevpc::aws::Aws;
use sagevpc::observe::Tags;
use sagevpc::resources::endpoint::Api as _;
use sagevpc::resources::security_group::Api as _;
use sagevpc::resources::subnet::Api as _;
use sagevpc::resources::vpc::Api as _;

fn err_meta(code: &str, msg: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(msg).build()
}

/// An EC2 client answered by `rules` (built by hand: aws-smithy-mocks' own macro needs
/// the SDK's `test-util` feature, which would make the test build compile the SDK again).
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
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
        .build();
    Client::from_conf(conf)
}

/// The adapters over a mocked EC2 (SageMaker unused).
fn aws(ec2: Client) -> Aws {
    let sagemaker = aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    Aws::from_clients(ec2, sagemaker)
}

macro_rules! client {
    ([$($rule:expr),* $(,)?]) => {
        aws(ec2_client(&[$($rule),*]))
    };
}

fn tags() -> Tags {
    [("sagevpc:plan".to_string(), "m".to_string())].into()
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    let rule = mock!(Client::describe_vpcs)
        .sequence()
        .error(|| {
            DescribeVpcsError::generic(err_meta("RequestLimitExceeded", "Request limit exceeded."))
        })
        .times(2)
        .output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(
                    Vpc::builder()
                        .vpc_id("vpc-1")
                        .cidr_block("10.0.0.0/16")
                        .build(),
                )
                .build()
        })
        .build();
    let ec2 = client!([&rule]);
    let vpcs = ec2
        .describe_vpcs_by_plan("m")
        .await
        .expect("retried to success");
    assert_eq!(vpcs.len(), 1);
    assert_eq!(vpcs[0].id, "vpc-1");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let rule = mock!(Client::describe_vpcs)
        .sequence()
        .http_status(503, None)
        .http_status(500, None)
        .output(|| DescribeVpcsOutput::builder().build())
        .build();
    let ec2 = client!([&rule]);
    assert!(ec2.describe_vpcs_by_plan("m").await.unwrap().is_empty());
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let rule = mock!(Client::describe_vpcs)
        .sequence()
        .error(|| DescribeVpcsError::generic(err_meta("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let ec2 = client!([&rule]);
    let e = ec2.describe_vpcs_by_plan("m").await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("Throttling"));
    assert_eq!(rule.num_calls(), 4, "max attempts");
}

#[tokio::test]
async fn not_found_right_after_create_is_retried() {
    let rule = mock!(Client::create_subnet)
        .sequence()
        .error(|| {
            CreateSubnetError::generic(err_meta(
                "InvalidVpcID.NotFound",
                "The vpc ID 'vpc-1' does not exist",
            ))
        })
        .times(2)
        .output(|| {
            CreateSubnetOutput::builder()
                .subnet(Subnet::builder().subnet_id("subnet-1").build())
                .build()
        })
        .build();
    let ec2 = client!([&rule]);
    let id = ec2
        .create_subnet("vpc-1", "us-east-1a", "10.0.0.0/24", &tags())
        .await
        .expect("eventually consistent");
    assert_eq!(id, "subnet-1");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn errors_retrying_cannot_fix_fail_at_once_with_a_hint() {
    let rule = mock!(Client::create_subnet)
        .sequence()
        .error(|| {
            CreateSubnetError::generic(err_meta(
                "InvalidSubnet.Conflict",
                "The CIDR '10.0.0.0/24' conflicts with another subnet",
            ))
        })
        .repeatedly()
        .build();
    let ec2 = client!([&rule]);
    let e = ec2
        .create_subnet("vpc-1", "us-east-1a", "10.0.0.0/24", &tags())
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(e.operation, "CreateSubnet");
    assert_eq!(e.code.as_deref(), Some("InvalidSubnet.Conflict"));
    assert!(e.message.contains("conflicts with another subnet"));
    assert!(e.hint().unwrap().contains("overlaps"));
    assert!(e
        .to_string()
        .starts_with("CreateSubnet failed: InvalidSubnet.Conflict"));
}

#[tokio::test]
async fn adopted_vpc_not_found_is_none() {
    let rule = mock!(Client::describe_vpcs).then_error(|| {
        DescribeVpcsError::generic(err_meta(
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-0123456789abcdef0' does not exist",
        ))
    });
    let ec2 = client!([&rule]);
    assert_eq!(
        ec2.describe_vpc_by_id("vpc-0123456789abcdef0")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn endpoint_status_carries_last_error_and_missing_means_deleted() {
    let rule = mock!(Client::describe_vpc_endpoints).then_output(|| {
        DescribeVpcEndpointsOutput::builder()
            .vpc_endpoints(
                VpcEndpoint::builder()
                    .vpc_endpoint_id("vpce-1")
                    .vpc_endpoint_type(VpcEndpointType::Interface)
                    .state(State::Failed)
                    .last_error(
                        LastError::builder()
                            .code("InsufficientFreeAddresses")
                            .message("subnet is full")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let ec2 = client!([&rule]);
    let st = ec2
        .endpoint_statuses(&["vpce-1".to_string(), "vpce-2".to_string()])
        .await
        .unwrap();
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].state, "failed");
    assert_eq!(
        st[0].last_error.as_deref(),
        Some("InsufficientFreeAddresses: subnet is full")
    );
    assert_eq!(st[1].id, "vpce-2");
    assert_eq!(st[1].state, "deleted");
}

#[tokio::test]
async fn endpoint_delete_reports_per_item_failures() {
    let gone = mock!(Client::delete_vpc_endpoints)
        .match_requests(|r| r.vpc_endpoint_ids() == ["vpce-gone"])
        .then_output(|| {
            DeleteVpcEndpointsOutput::builder()
                .unsuccessful(
                    UnsuccessfulItem::builder()
                        .resource_id("vpce-gone")
                        .error(
                            UnsuccessfulItemError::builder()
                                .code("InvalidVpcEndpoint.NotFound")
                                .message("gone")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let denied = mock!(Client::delete_vpc_endpoints)
        .match_requests(|r| r.vpc_endpoint_ids() == ["vpce-busy"])
        .then_output(|| {
            DeleteVpcEndpointsOutput::builder()
                .unsuccessful(
                    UnsuccessfulItem::builder()
                        .resource_id("vpce-busy")
                        .error(
                            UnsuccessfulItemError::builder()
                                .code("OperationNotPermitted")
                                .message("owned by another account")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    // A route of the gateway endpoint missing is not the endpoint missing (LocalStack
    // answers this way after a route table move): an error, per item or for the call.
    let route = mock!(Client::delete_vpc_endpoints)
        .match_requests(|r| r.vpc_endpoint_ids() == ["vpce-s3", "vpce-sts"])
        .then_output(|| {
            DeleteVpcEndpointsOutput::builder()
                .unsuccessful(
                    UnsuccessfulItem::builder()
                        .resource_id("vpce-s3")
                        .error(
                            UnsuccessfulItemError::builder()
                                .code("InvalidRoute.NotFound")
                                .message("no route with destination-cidr-block pl-1 in route table rtb-1")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let route_call = mock!(Client::delete_vpc_endpoints)
        .match_requests(|r| r.vpc_endpoint_ids() == ["vpce-s3"])
        .then_error(|| {
            DeleteVpcEndpointsError::generic(err_meta(
                "InvalidRoute.NotFound",
                "no route with destination-cidr-block pl-1 in route table rtb-1",
            ))
        });
    let ec2 = client!([&gone, &denied, &route, &route_call]);
    ec2.delete_endpoints(&["vpce-gone".to_string()])
        .await
        .expect("already gone is done");
    for ids in [&["vpce-s3", "vpce-sts"][..], &["vpce-s3"]] {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let e = ec2.delete_endpoints(&ids).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidRoute.NotFound"), "{ids:?}");
        assert!(e.message.contains("rtb-1"), "{e}");
    }
    let e = ec2
        .delete_endpoints(&["vpce-busy".to_string()])
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("OperationNotPermitted"));
    assert!(e.message.contains("another account"));
}

#[tokio::test]
async fn security_group_dependency_violation_is_retried_then_succeeds() {
    let rule = mock!(Client::delete_security_group)
        .sequence()
        .error(|| {
            DeleteSecurityGroupError::generic(err_meta(
                "DependencyViolation",
                "resource sg-1 has a dependent object",
            ))
        })
        .output(|| DeleteSecurityGroupOutput::builder().build())
        .build();
    let ec2 = client!([&rule]);
    ec2.delete_security_group("sg-1").await.expect("retried");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn not_found_retry_window_is_bounded() {
    let rule = mock!(Client::create_subnet)
        .sequence()
        .error(|| {
            CreateSubnetError::generic(err_meta(
                "InvalidVpcID.NotFound",
                "The vpc ID 'vpc-9' does not exist",
            ))
        })
        .repeatedly()
        .build();
    let mut ec2 = client!([&rule]);
    ec2.limits.not_found_window = Duration::from_millis(600);
    let started = std::time::Instant::now();
    let e = ec2
        .create_subnet("vpc-9", "us-east-1a", "10.0.0.0/24", &tags())
        .await
        .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("InvalidVpcID.NotFound"));
    assert!(rule.num_calls() >= 2, "retried at least once");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the window"
    );
}

/// A run whose apply-lock lease ran out (or was taken over) sends no mutating call: the
/// fence refuses the attempt before it is transmitted, while reads still go through.
#[tokio::test]
async fn a_lost_lease_refuses_mutating_calls_but_not_reads() {
    // An HTTP-level answer: the mock's modeled outputs would replace the attempt's
    // result after the fact, an HTTP answer comes only if the request is transmitted.
    let xml = r#"<CreateSubnetResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><subnet><subnetId>subnet-1</subnetId></subnet></CreateSubnetResponse>"#;
    let create = mock!(Client::create_subnet)
        .sequence()
        .http_status(200, Some(xml.to_string()))
        .times(2)
        .build();
    let read = mock!(Client::describe_vpcs).then_output(|| DescribeVpcsOutput::builder().build());
    let ec2 = client!([&create, &read]);

    // Held lease: the create goes out.
    ec2.fence
        .hold_until(std::time::Instant::now() + Duration::from_secs(60));
    ec2.create_subnet("vpc-1", "us-east-1a", "10.0.0.0/24", &tags())
        .await
        .expect("lease held");

    ec2.fence
        .lose("the apply lock was taken over by another run");
    let err = ec2
        .create_subnet("vpc-1", "us-east-1a", "10.0.1.0/24", &tags())
        .await
        .expect_err("a lost lease refuses the create");
    assert!(
        err.to_string().contains("taken over by another run"),
        "{err}"
    );
    ec2.describe_vpcs_by_plan("m")
        .await
        .expect("reads still pass");
    assert_eq!(read.num_calls(), 1);
}

/// An emulator that let another run's create of the same name replace ours: the read-back
/// shows another id, so the lock is not ours, writes stay forbidden, nothing is deleted.
#[tokio::test]
async fn a_lock_whose_key_pair_was_replaced_is_not_confirmed() {
    use aws_sdk_ec2::operation::create_key_pair::CreateKeyPairOutput;
    use aws_sdk_ec2::operation::describe_key_pairs::DescribeKeyPairsOutput;
    use aws_sdk_ec2::types::KeyPairInfo;
    use sagevpc::execute::lock::PlanLock;

    let create = mock!(Client::create_key_pair).then_output(|| {
        CreateKeyPairOutput::builder()
            .key_pair_id("key-ours")
            .key_name("sagevpc-lock-m")
            .build()
    });
    // DescribeKeyPairs answering that the lock's key pair has id `id`.
    fn lock_key_is(id: &'static str) -> DescribeKeyPairsOutput {
        DescribeKeyPairsOutput::builder()
            .key_pairs(
                KeyPairInfo::builder()
                    .key_pair_id(id)
                    .key_name("sagevpc-lock-m")
                    .build(),
            )
            .build()
    }
    let describe = mock!(Client::describe_key_pairs).then_output(|| lock_key_is("key-theirs"));
    let delete = mock!(Client::delete_key_pair).then_output(|| {
        aws_sdk_ec2::operation::delete_key_pair::DeleteKeyPairOutput::builder().build()
    });
    let ec2 = client!([&create, &describe, &delete]);
    let lock = PlanLock::acquire(
        &ec2,
        "m",
        Duration::from_secs(60),
        Duration::from_secs(5),
        |_, _| {},
    )
    .await
    .expect("create answered");
    assert_eq!(ec2.fence.check(), Ok(()), "armed while unconfirmed");
    assert!(!lock.confirm().await.expect("read back"), "not ours");
    assert!(ec2.fence.check().is_err(), "writes forbidden after losing");
    lock.forfeit();
    assert_eq!(
        delete.num_calls(),
        0,
        "the other run's key pair is not deleted"
    );

    // The same read-back showing our id confirms the lock.
    let mine = mock!(Client::describe_key_pairs).then_output(|| lock_key_is("key-ours"));
    let ec2 = client!([&create, &mine, &delete]);
    let lock = PlanLock::acquire(
        &ec2,
        "m",
        Duration::from_secs(60),
        Duration::from_secs(5),
        |_, _| {},
    )
    .await
    .expect("create answered");
    assert!(lock.confirm().await.expect("read back"), "ours");
    assert_eq!(ec2.fence.check(), Ok(()));
}
