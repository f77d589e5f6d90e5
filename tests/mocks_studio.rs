//! SageMaker adapter paths no emulator has, with aws-smithy-mocks (each mock answers in
//! the order written, so the order of the calls is asserted too): a user profile is
//! deleted after its apps are `Deleted` and its private spaces are gone; `CreateDomain`
//! is retried while IAM has not propagated the new role, then waited for until
//! `InService`; a domain that fails names SageMaker's reason.

use aws_sdk_sagemaker::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sagemaker::error::ErrorMetadata;
use aws_sdk_sagemaker::operation::create_domain::{CreateDomainError, CreateDomainOutput};
use aws_sdk_sagemaker::operation::delete_app::DeleteAppOutput;
use aws_sdk_sagemaker::operation::delete_space::DeleteSpaceOutput;
use aws_sdk_sagemaker::operation::delete_user_profile::DeleteUserProfileOutput;
use aws_sdk_sagemaker::operation::describe_domain::DescribeDomainOutput;
use aws_sdk_sagemaker::operation::describe_user_profile::{
    DescribeUserProfileError, DescribeUserProfileOutput,
};
use aws_sdk_sagemaker::operation::list_apps::ListAppsOutput;
use aws_sdk_sagemaker::operation::list_spaces::ListSpacesOutput;
use aws_sdk_sagemaker::types::{
    AppDetails, AppStatus, AppType, DomainStatus, OwnershipSettingsSummary, SpaceDetails,
};
use aws_sdk_sagemaker::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use sagevpc::aws::Aws;
use sagevpc::resources::studio_domain::{Api as _, NewDomainIds};
use sagevpc::resources::user_profile::Api as _;

fn sagemaker(rules: &[&Rule]) -> Aws {
    let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for r in rules {
        mocks = mocks.with_rule(r);
    }
    let conf = aws_sdk_sagemaker::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "mocks"))
        .http_client(create_mock_http_client())
        .interceptor(mocks)
        .build();
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build(),
    );
    Aws::from_clients(ec2, Client::from_conf(conf))
}

fn app(status: AppStatus) -> AppDetails {
    AppDetails::builder()
        .domain_id("d-1")
        .user_profile_name("alice")
        .app_type(AppType::JupyterServer)
        .app_name("default")
        .status(status)
        .build()
}

#[tokio::test]
async fn a_user_is_deleted_after_its_apps_and_its_private_spaces() {
    let running = mock!(Client::list_apps)
        .match_requests(|r| r.user_profile_name_equals() == Some("alice"))
        .then_output(|| {
            ListAppsOutput::builder()
                .apps(app(AppStatus::InService))
                .build()
        });
    let delete_app = mock!(Client::delete_app)
        .match_requests(|r| {
            r.app_name() == Some("default") && r.user_profile_name() == Some("alice")
        })
        .then_output(|| DeleteAppOutput::builder().build());
    let deleted = mock!(Client::list_apps).then_output(|| {
        ListAppsOutput::builder()
            .apps(app(AppStatus::Deleted))
            .build()
    });
    let spaces = mock!(Client::list_spaces).then_output(|| {
        let owned_by = |u: &str| {
            OwnershipSettingsSummary::builder()
                .owner_user_profile_name(u)
                .build()
        };
        ListSpacesOutput::builder()
            .spaces(
                SpaceDetails::builder()
                    .space_name("alice-space")
                    .ownership_settings_summary(owned_by("alice"))
                    .build(),
            )
            .spaces(
                SpaceDetails::builder()
                    .space_name("bob-space")
                    .ownership_settings_summary(owned_by("bob"))
                    .build(),
            )
            .build()
    });
    let space_apps = mock!(Client::list_apps)
        .match_requests(|r| r.space_name_equals() == Some("alice-space"))
        .then_output(|| ListAppsOutput::builder().build());
    let delete_space = mock!(Client::delete_space)
        .match_requests(|r| r.space_name() == Some("alice-space"))
        .then_output(|| DeleteSpaceOutput::builder().build());
    let delete_profile = mock!(Client::delete_user_profile)
        .match_requests(|r| r.user_profile_name() == Some("alice"))
        .then_output(|| DeleteUserProfileOutput::builder().build());
    let gone = mock!(Client::describe_user_profile).then_error(|| {
        DescribeUserProfileError::generic(
            ErrorMetadata::builder()
                .code("ResourceNotFound")
                .message("User profile does not exist")
                .build(),
        )
    });
    let aws = sagemaker(&[
        &running,
        &delete_app,
        &deleted,
        &spaces,
        &space_apps,
        &delete_space,
        &delete_profile,
        &gone,
    ]);
    aws.delete_user_profile("d-1", "alice")
        .await
        .expect("deleted in order");
    for r in [
        &running,
        &delete_app,
        &deleted,
        &spaces,
        &space_apps,
        &delete_space,
        &delete_profile,
        &gone,
    ] {
        assert_eq!(r.num_calls(), 1);
    }
}

fn new_domain() -> NewDomainIds {
    NewDomainIds {
        name: "ml".into(),
        auth_mode: "IAM".into(),
        vpc: "vpc-1".into(),
        subnets: vec!["subnet-1".into()],
        role: "arn:aws:iam::123456789012:role/sagevpc/p-sagemaker-execution".into(),
        groups: vec!["sg-1".into()],
        tags: Default::default(),
    }
}

fn domain_status(s: DomainStatus) -> DescribeDomainOutput {
    DescribeDomainOutput::builder()
        .domain_id("d-1")
        .status(s)
        .failure_reason("The subnets have no free addresses")
        .build()
}

#[tokio::test]
async fn create_domain_waits_for_the_new_role_and_then_for_in_service() {
    let not_yet = mock!(Client::create_domain)
        .sequence()
        .error(|| {
            CreateDomainError::generic(
                ErrorMetadata::builder()
                    .code("ValidationException")
                    .message("SageMaker is unable to assume the role; make sure the role exists and trusts sagemaker.amazonaws.com")
                    .build(),
            )
        })
        .output(|| {
            CreateDomainOutput::builder()
                .domain_arn("arn:aws:sagemaker:us-east-1:123456789012:domain/d-1")
                .build()
        })
        .build();
    let pending =
        mock!(Client::describe_domain).then_output(|| domain_status(DomainStatus::Pending));
    let ready =
        mock!(Client::describe_domain).then_output(|| domain_status(DomainStatus::InService));
    let aws = sagemaker(&[&not_yet, &pending, &ready]);
    let id = aws
        .create_domain(&new_domain())
        .await
        .expect("created once the role works");
    assert_eq!(id, "d-1");
    assert_eq!(not_yet.num_calls(), 2);
    aws.wait_domain_in_service(&id).await.expect("InService");
    assert_eq!((pending.num_calls(), ready.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_failed_domain_names_sagemakers_reason_and_other_errors_are_not_retried() {
    let failed = mock!(Client::describe_domain).then_output(|| domain_status(DomainStatus::Failed));
    let aws = sagemaker(&[&failed]);
    let e = aws.wait_domain_in_service("d-1").await.unwrap_err();
    assert!(e.to_string().contains("no free addresses"), "{e}");

    let quota = mock!(Client::create_domain).then_error(|| {
        CreateDomainError::generic(
            ErrorMetadata::builder()
                .code("ResourceLimitExceeded")
                .message("The account-level service limit 'Maximum number of domains' is 1")
                .build(),
        )
    });
    let aws = sagemaker(&[&quota]);
    let e = aws.create_domain(&new_domain()).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("ResourceLimitExceeded"));
    assert_eq!(quota.num_calls(), 1);
}

#[tokio::test]
async fn a_profile_that_fails_to_create_is_reported_with_its_status() {
    let created = mock!(Client::create_user_profile).then_output(|| {
        aws_sdk_sagemaker::operation::create_user_profile::CreateUserProfileOutput::builder()
            .user_profile_arn("arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-1/alice")
            .build()
    });
    let failed = mock!(Client::describe_user_profile).then_output(|| {
        DescribeUserProfileOutput::builder()
            .status(aws_sdk_sagemaker::types::UserProfileStatus::Failed)
            .build()
    });
    let aws = sagemaker(&[&created, &failed]);
    let e = aws
        .create_user_profile("d-1", "alice", &["sg-1".into()], &Default::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("alice") && e.to_string().contains("Failed"),
        "{e}"
    );
}
