//! IAM and STS adapter paths of the Studio access policy that the emulators do not show,
//! with aws-smithy-mocks: IAM's URL-encoded policy documents, versions and attachments
//! read into one state, the partition taken from the caller's ARN (`aws-cn`), a new
//! default version made only after the oldest versions are deleted, and deletes of what
//! is already gone treated as done.

use aws_sdk_iam::error::ErrorMetadata;
use aws_sdk_iam::operation::create_policy_version::CreatePolicyVersionOutput;
use aws_sdk_iam::operation::delete_policy::DeletePolicyError;
use aws_sdk_iam::operation::delete_policy_version::{
    DeletePolicyVersionError, DeletePolicyVersionOutput,
};
use aws_sdk_iam::operation::get_policy::{GetPolicyError, GetPolicyOutput};
use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
use aws_sdk_iam::operation::list_policy_versions::ListPolicyVersionsOutput;
use aws_sdk_iam::types::{Policy, PolicyGroup, PolicyRole, PolicyVersion, Tag};
use aws_sdk_iam::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::DateTime;
use sagevpc::aws::Aws;
use sagevpc::plan::access::{Principal, PrincipalKind};
use sagevpc::resources::access_policy::Api as _;
use serde_json::json;

const ARN: &str = "arn:aws:iam::123456789012:policy/sagevpc/p-studio-access";

fn aws(mode: RuleMode, iam: &[&Rule], sts: &[&Rule]) -> Aws {
    let interceptor = |rules: &[&Rule]| {
        let mut m = MockResponseInterceptor::new().rule_mode(mode);
        for r in rules {
            m = m.with_rule(r);
        }
        m
    };
    let iam = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "t", "t", None, None, "mocks",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(iam))
        .build();
    let sts = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("cn-north-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "t", "t", None, None, "mocks",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(sts))
        .build();
    let none = |b: aws_sdk_ec2::config::Builder| {
        b.behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .build()
    };
    let sm = aws_sdk_sagemaker::Config::builder()
        .behavior_version(aws_sdk_sagemaker::config::BehaviorVersion::latest())
        .build();
    Aws::from_clients(
        aws_sdk_ec2::Client::from_conf(none(aws_sdk_ec2::Config::builder())),
        aws_sdk_sagemaker::Client::from_conf(sm),
    )
    .with_iam(Client::from_conf(iam))
    .with_sts(aws_sdk_sts::Client::from_conf(sts))
}

fn no_such_entity() -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("NoSuchEntity")
        .message("not found")
        .build()
}

#[tokio::test]
async fn the_callers_partition_and_account_come_from_sts() {
    let who = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
            .account("210987654321")
            .arn("arn:aws-cn:iam::210987654321:user/ops")
            .build()
    });
    let c = aws(RuleMode::Sequential, &[], &[&who])
        .caller()
        .await
        .unwrap();
    assert_eq!(
        (c.partition.as_str(), c.account.as_str()),
        ("aws-cn", "210987654321")
    );
}

#[tokio::test]
async fn a_policy_is_read_with_its_decoded_document_older_versions_and_attachments() {
    let policy = mock!(Client::get_policy)
        .match_requests(|r| r.policy_arn() == Some(ARN))
        .then_output(|| {
            GetPolicyOutput::builder()
                .policy(
                    Policy::builder()
                        .arn(ARN)
                        .policy_name("p-studio-access")
                        .default_version_id("v3")
                        .tags(
                            Tag::builder()
                                .key("sagevpc:plan")
                                .value("p")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
        });
    let versions = mock!(Client::list_policy_versions).then_output(|| {
        let v = |id: &str, default: bool, secs: i64| {
            PolicyVersion::builder()
                .version_id(id)
                .is_default_version(default)
                .create_date(DateTime::from_secs(secs))
                .build()
        };
        ListPolicyVersionsOutput::builder()
            .versions(v("v3", true, 300))
            .versions(v("v2", false, 200))
            .versions(v("v1", false, 100))
            .build()
    });
    let attached = mock!(Client::list_entities_for_policy).then_output(|| {
        ListEntitiesForPolicyOutput::builder()
            .policy_roles(PolicyRole::builder().role_name("DataScientist").build())
            .policy_groups(PolicyGroup::builder().group_name("ml").build())
            .build()
    });
    let document = mock!(Client::get_policy_version)
        .match_requests(|r| r.version_id() == Some("v3"))
        .then_output(|| {
            GetPolicyVersionOutput::builder()
                .policy_version(
                    PolicyVersion::builder()
                        .document(
                            "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D",
                        )
                        .build(),
                )
                .build()
        });
    let aws = aws(
        RuleMode::MatchAny,
        &[&policy, &versions, &attached, &document],
        &[],
    );
    let p = aws.get_policy(ARN).await.unwrap().expect("the policy");
    assert_eq!(
        p.document,
        json!({"Version": "2012-10-17", "Statement": []})
    );
    let ids: Vec<&str> = p.versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["v1", "v2"], "non-default versions, oldest first");
    assert_eq!(
        p.attached,
        vec![
            Principal {
                kind: PrincipalKind::Role,
                name: "DataScientist".into()
            },
            Principal {
                kind: PrincipalKind::Group,
                name: "ml".into()
            },
        ]
    );
    assert_eq!(p.tags.get("sagevpc:plan").map(String::as_str), Some("p"));
}

#[tokio::test]
async fn a_missing_policy_is_none() {
    let missing =
        mock!(Client::get_policy).then_error(|| GetPolicyError::generic(no_such_entity()));
    let aws = aws(RuleMode::Sequential, &[&missing], &[]);
    assert_eq!(aws.get_policy(ARN).await.unwrap(), None);
}

#[tokio::test]
async fn a_new_default_version_comes_after_the_oldest_are_deleted() {
    let prune = mock!(Client::delete_policy_version)
        .match_requests(|r| r.version_id() == Some("v1"))
        .then_output(|| DeletePolicyVersionOutput::builder().build());
    let create = mock!(Client::create_policy_version)
        .match_requests(|r| r.set_as_default() == Some(true) && r.policy_document() == Some("{}"))
        .then_output(|| CreatePolicyVersionOutput::builder().build());
    let aws = aws(RuleMode::Sequential, &[&prune, &create], &[]);
    aws.set_policy_document(ARN, "{}", &["v1".to_string()])
        .await
        .unwrap();
    assert_eq!((prune.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn deleting_what_is_already_gone_is_done() {
    let version = mock!(Client::delete_policy_version)
        .then_error(|| DeletePolicyVersionError::generic(no_such_entity()));
    let policy =
        mock!(Client::delete_policy).then_error(|| DeletePolicyError::generic(no_such_entity()));
    let aws = aws(RuleMode::Sequential, &[&version, &policy], &[]);
    aws.delete_policy(ARN, &["v1".to_string()]).await.unwrap();
    assert_eq!((version.num_calls(), policy.num_calls()), (1, 1));
    let refused = mock!(Client::delete_policy).then_error(|| {
        DeletePolicyError::generic(
            ErrorMetadata::builder()
                .code("DeleteConflict")
                .message("attached")
                .build(),
        )
    });
    let aws2 = self::aws(RuleMode::Sequential, &[&refused], &[]);
    let e = aws2.delete_policy(ARN, &[]).await.unwrap_err();
    assert!(e.to_string().contains("DeleteConflict"), "{e}");
}
