//! Every document an intent expands to, checked statement by statement.

use serde_json::json;

use super::*;

fn caller() -> Caller {
    Caller {
        partition: "aws".into(),
        account: "123456789012".into(),
    }
}

fn cidrs(c: &[&str]) -> Vec<Ipv4Net> {
    c.iter().map(|s| s.parse().unwrap()).collect()
}

#[test]
fn studio_access_from_the_vpc_is_the_guides_example_1() {
    let doc = studio_access_document(&AllowFrom::Vpc, "vpc-111bbaaa", &[]);
    assert_eq!(
        doc,
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "EnableSageMakerStudioAccess",
                "Effect": "Allow",
                "Action": ["sagemaker:CreatePresignedDomainUrl", "sagemaker:DescribeUserProfile"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-111bbaaa"}}
            }]
        })
    );
}

#[test]
fn studio_access_through_endpoints_names_each_endpoint() {
    let eps = vec!["vpce-111bbccc".to_string(), "vpce-111bbddd".to_string()];
    let doc = studio_access_document(&AllowFrom::Endpoints, "vpc-1", &eps);
    assert_eq!(
        doc["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:sourceVpce": ["vpce-111bbccc", "vpce-111bbddd"]}})
    );
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 1);
}

#[test]
fn studio_access_from_cidrs_uses_source_ip_and_vpc_cidrs_also_the_vpc() {
    let c = cidrs(&["192.0.2.0/24", "203.0.113.0/24"]);
    let doc = studio_access_document(&AllowFrom::Cidrs(c.clone()), "vpc-1", &[]);
    assert_eq!(
        doc["Statement"][0]["Condition"],
        json!({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}})
    );
    let doc = studio_access_document(&AllowFrom::VpcCidrs(c), "vpc-1", &[]);
    assert_eq!(
        doc["Statement"][0]["Condition"],
        json!({
            "IpAddress": {"aws:VpcSourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
            "StringEquals": {"aws:SourceVpc": "vpc-1"}
        })
    );
}

#[test]
fn runtime_intent_allows_only_invoke_endpoint_on_lowercased_endpoint_arns() {
    let i = EndpointIntent {
        invoke_endpoints: vec!["myEndpoint".into(), "other".into()],
        ..EndpointIntent::default()
    };
    let doc = endpoint_document(&i, &caller(), "us-west-2", "unused");
    assert_eq!(
        doc,
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": "*",
                "Action": "sagemaker:InvokeEndpoint",
                "Resource": [
                    "arn:aws:sagemaker:us-west-2:123456789012:endpoint/myendpoint",
                    "arn:aws:sagemaker:us-west-2:123456789012:endpoint/other"
                ]
            }]
        })
    );
}

#[test]
fn studio_intent_allows_create_app_in_the_domain_and_presigned_urls_for_named_profiles() {
    let i = EndpointIntent {
        create_app: true,
        presigned_url_profiles: vec!["alice".into()],
        ..EndpointIntent::default()
    };
    let doc = endpoint_document(&i, &caller(), "eu-west-1", "d-abc123");
    assert_eq!(
        doc["Statement"],
        json!([
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "sagemaker:CreateApp",
                "Resource": [
                    "arn:aws:sagemaker:eu-west-1:123456789012:user-profile/d-abc123/*",
                    "arn:aws:sagemaker:eu-west-1:123456789012:app/d-abc123/*"
                ]
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "sagemaker:CreatePresignedDomainUrl",
                "Resource": ["arn:aws:sagemaker:eu-west-1:123456789012:user-profile/d-abc123/alice"]
            }
        ])
    );
}

#[test]
fn same_account_only_conditions_every_statement_or_allows_all_of_the_account() {
    let only = EndpointIntent {
        same_account_only: true,
        ..EndpointIntent::default()
    };
    assert_eq!(
        endpoint_document(&only, &caller(), "us-east-1", "-"),
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}
            }]
        })
    );
    let both = EndpointIntent {
        invoke_endpoints: vec!["e".into()],
        same_account_only: true,
        ..EndpointIntent::default()
    };
    let doc = endpoint_document(&both, &caller(), "us-east-1", "-");
    assert_eq!(
        doc["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:PrincipalAccount": "123456789012"}})
    );
}

#[test]
fn arns_follow_the_partition_and_region() {
    let cn = Caller {
        partition: partition_of("cn-north-1").into(),
        account: "210987654321".into(),
    };
    let i = EndpointIntent {
        invoke_endpoints: vec!["e1".into()],
        ..EndpointIntent::default()
    };
    let doc = endpoint_document(&i, &cn, "cn-north-1", "-");
    assert_eq!(
        doc["Statement"][0]["Resource"],
        json!(["arn:aws-cn:sagemaker:cn-north-1:210987654321:endpoint/e1"])
    );
    assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    assert_eq!(partition_of("us-iso-east-1"), "aws-iso");
    assert_eq!(partition_of("us-isob-east-1"), "aws-iso-b");
    assert_eq!(partition_of("eu-central-2"), "aws");
    assert_eq!(
        cn.policy_arn("/sagevpc/", "p-studio-access"),
        "arn:aws-cn:iam::210987654321:policy/sagevpc/p-studio-access"
    );
}

#[test]
fn allows_reads_actions_wildcards_not_action_and_deny() {
    let full = crate::plan::policy::default_full_access();
    assert!(allows(&full, "sagemaker:CreatePresignedDomainUrl"));
    let only_invoke =
        json!({"Statement": {"Effect": "Allow", "Action": "sagemaker:Invoke*", "Resource": "*"}});
    assert!(allows(&only_invoke, "sagemaker:InvokeEndpoint"));
    assert!(!allows(&only_invoke, "sagemaker:CreatePresignedDomainUrl"));
    let not_action = json!({"Statement": [{"Effect": "Allow", "NotAction": "sagemaker:Create*", "Resource": "*"}]});
    assert!(!allows(&not_action, "sagemaker:CreatePresignedDomainUrl"));
    assert!(allows(&not_action, "sagemaker:DescribeUserProfile"));
    let denied = json!({"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sagemaker:createpresigneddomainurl", "Resource": "*"}
    ]});
    assert!(!allows(&denied, "sagemaker:CreatePresignedDomainUrl"));
    let conditional_deny = json!({"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    ]});
    assert!(allows(&conditional_deny, "sagemaker:CreateApp"));
    assert!(!allows(&json!({}), "sagemaker:CreateApp"));
    assert!(glob("sagemaker:?reateApp", "sagemaker:CreateApp"));
    assert!(!glob("sagemaker:Create", "sagemaker:CreateApp"));
}
