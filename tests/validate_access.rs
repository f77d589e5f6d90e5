//! Validation of `[studio_access]` and `[interface_endpoints.access.<service>]`: every
//! refusal names the file, line and field, and no AWS call is made (validation has no
//! client). Built on plans/studio-access.toml.

use std::path::PathBuf;

use sagevpc::plan::access::{AllowFrom, EndpointIntent, Principal, PrincipalKind};
use sagevpc::plan::{validate_source, Diagnostic, Plan};

const BASE: &str = include_str!("../plans/studio-access.toml");

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plans/access-test.toml")
}

fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "test bug: {from:?} must occur once"
    );
    BASE.replacen(from, to, 1)
}

fn accept(text: &str) -> Plan {
    validate_source(&path(), text).unwrap_or_else(|e| panic!("must be valid:\n{e}"))
}

fn reject(text: &str) -> Vec<Diagnostic> {
    match validate_source(&path(), text) {
        Ok(_) => panic!("accepted but must be rejected:\n{text}"),
        Err(e) => e.diagnostics,
    }
}

/// The one diagnostic, at the line of `needle`, for `field`, saying `says`.
#[track_caller]
fn refused(text: &str, needle: &str, field: &str, says: &str) {
    let d = reject(text);
    assert_eq!(d.len(), 1, "expected one diagnostic: {d:#?}");
    let d = &d[0];
    let line = text[..text.find(needle).expect("needle")]
        .matches('\n')
        .count()
        + 1;
    assert_eq!((d.line, d.field.as_str()), (line, field), "{d}");
    assert!(d.message.contains(says), "{d} lacks {says:?}");
    assert!(d.file.ends_with("plans/access-test.toml"), "{d}");
}

#[test]
fn the_shipped_access_plan_is_valid_and_expands_each_intent() {
    let p = accept(BASE);
    let a = p.studio_access.expect("studio_access");
    assert_eq!(a.allow_from, AllowFrom::Endpoints);
    assert_eq!(
        a.principals,
        vec![Principal {
            kind: PrincipalKind::Role,
            name: "DataScientist".into()
        }]
    );
    let runtime = p.interface_endpoints["sagemaker.runtime"].intent.clone();
    assert_eq!(
        runtime,
        Some(EndpointIntent {
            invoke_endpoints: vec!["churn-model".into()],
            same_account_only: true,
            ..EndpointIntent::default()
        })
    );
    let studio = p.interface_endpoints["studio"].intent.clone().unwrap();
    assert!(studio.create_app);
    assert_eq!(studio.presigned_url_profiles, vec!["alice".to_string()]);
    assert_eq!(p.interface_endpoints["sts"].intent, None);
}

#[test]
fn sso_with_an_access_policy_is_refused() {
    let text = edit("auth_mode = \"iam\"", "auth_mode = \"sso\"");
    refused(&text, "[studio_access]", "studio_access", "IAM mode only");
}

#[test]
fn cidrs_must_be_given_not_empty_and_not_everything() {
    let mode = |m: &str, c: &str| {
        edit(
            "allow_from = \"endpoints\"        # or",
            &format!("allow_from = \"{m}\"{c}\n# or"),
        )
    };
    refused(
        &mode("cidrs", ""),
        "allow_from = \"cidrs\"",
        "studio_access.cidrs",
        "needs cidrs",
    );
    refused(
        &mode("cidrs", "\ncidrs = []"),
        "cidrs = []",
        "studio_access.cidrs",
        "let no one in",
    );
    refused(
        &mode("cidrs", "\ncidrs = [\"0.0.0.0/0\"]"),
        "cidrs = [",
        "studio_access.cidrs[0]",
        "every address",
    );
    refused(
        &mode("vpc", "\ncidrs = [\"192.0.2.0/24\"]"),
        "cidrs = [",
        "studio_access.cidrs",
        "not \"vpc\"",
    );
    refused(
        &mode("vpc_cidrs", "\ncidrs = [\"192.0.2.0/24\"]"),
        "cidrs = [",
        "studio_access.cidrs[0]",
        "not inside the VPC's 10.30.0.0/16",
    );
    let ok = accept(&mode("vpc_cidrs", "\ncidrs = [\"10.30.0.0/20\"]"));
    assert_eq!(
        ok.studio_access.unwrap().allow_from,
        AllowFrom::VpcCidrs(vec!["10.30.0.0/20".parse().unwrap()])
    );
    refused(
        &mode("vcp", ""),
        "allow_from = \"vcp\"",
        "studio_access.allow_from",
        "is not one of",
    );
}

#[test]
fn principals_are_names_each_once_and_at_least_one() {
    let text = edit(
        "attach_to_roles = [\"DataScientist\"]",
        "attach_to_roles = []",
    );
    refused(
        &text,
        "[studio_access]",
        "studio_access",
        "attach the policy to someone",
    );
    let arn = edit(
        "attach_to_roles = [\"DataScientist\"]",
        "attach_to_roles = [\"arn:aws:iam::123456789012:role/X\"]",
    );
    refused(
        &arn,
        "attach_to_roles",
        "studio_access.attach_to_roles[0]",
        "not its ARN",
    );
    let twice = edit(
        "attach_to_roles = [\"DataScientist\"]",
        "attach_to_roles = [\"DataScientist\", \"DataScientist\"]",
    );
    refused(
        &twice,
        "attach_to_roles",
        "studio_access.attach_to_roles[1]",
        "listed twice",
    );
    let groups = accept(&edit(
        "attach_to_roles = [\"DataScientist\"]",
        "attach_to_groups = [\"ml-team\"]\nattach_to_users = [\"carol\"]",
    ));
    assert_eq!(groups.studio_access.unwrap().principals.len(), 2);
}

#[test]
fn access_needs_studio_and_the_endpoints_it_names() {
    let no_studio = BASE
        .split("# A VpcOnly Studio domain")
        .next()
        .unwrap()
        .to_string()
        + "\n[studio_access]\nallow_from = \"vpc\"\nattach_to_roles = [\"R\"]\n";
    let d = reject(&no_studio);
    assert!(
        d.iter()
            .any(|d| d.field == "studio_access" && d.message.contains("add [studio]")),
        "{d:#?}"
    );
    assert!(
        d.iter()
            .any(|d| d.field == "interface_endpoints.access.studio"
                && d.message.contains("add [studio]")),
        "{d:#?}"
    );
}

#[test]
fn intents_go_on_their_own_endpoint_and_name_known_profiles() {
    let wrong = edit(
        "invoke_endpoints = [\"churn-model\"]",
        "presigned_url_profiles = [\"alice\"]",
    );
    refused(
        &wrong,
        "presigned_url_profiles = [\"alice\"]\nsame",
        "interface_endpoints.access.sagemaker.runtime.presigned_url_profiles",
        "for the studio endpoint only",
    );
    let stranger = edit(
        "presigned_url_profiles = [\"alice\"]",
        "presigned_url_profiles = [\"alicia\"]",
    );
    let d = reject(&stranger);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        d[0].field,
        "interface_endpoints.access.studio.presigned_url_profiles[0]"
    );
    assert_eq!(d[0].help.as_deref(), Some("did you mean \"alice\"?"));
    let unlisted = edit(
        "[interface_endpoints.access.studio]",
        "[interface_endpoints.access.sts]\nsame_account_only = true\n\n[interface_endpoints.access.studi]",
    );
    let d = reject(&unlisted);
    assert!(
        d.iter()
            .any(|d| d.field == "interface_endpoints.access.studi"),
        "{d:#?}"
    );
    let empty = edit(
        "invoke_endpoints = [\"churn-model\"]\nsame_account_only = true",
        "",
    );
    refused(
        &empty,
        "[interface_endpoints.access.\"sagemaker.runtime\"]",
        "interface_endpoints.access.sagemaker.runtime",
        "say what the endpoint allows",
    );
}

fn with_api_policy(doc: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.json"), doc).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    let s3 = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plans/policies/s3-deny-amazon-linux-repos.json");
    std::fs::copy(
        s3,
        dir.path().join("policies/s3-deny-amazon-linux-repos.json"),
    )
    .unwrap();
    let text = edit(
        "[interface_endpoints.access.studio]",
        "[interface_endpoints.access.\"sagemaker.api\"]\npolicy = \"api.json\"\n\n[interface_endpoints.access.studio]",
    );
    let plan = dir.path().join("plan.toml");
    (dir, plan, text)
}

#[test]
fn an_api_endpoint_policy_that_would_refuse_presigned_urls_is_an_error() {
    let deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sagemaker:InvokeEndpoint","Resource":"*"}]}"#;
    let (_dir, plan, text) = with_api_policy(deny);
    let e = validate_source(&plan, &text).unwrap_err().diagnostics;
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].message
            .contains("does not allow sagemaker:CreatePresignedDomainUrl"),
        "{}",
        e[0]
    );
    assert!(
        e[1].message
            .contains("does not allow sagemaker:DescribeUserProfile"),
        "{}",
        e[1]
    );
    assert_eq!(e[0].field, "studio_access.allow_from");
    let allow = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sagemaker:*","Resource":"*"}]}"#;
    let (_dir, plan, text) = with_api_policy(allow);
    let p = validate_source(&plan, &text).expect("an API policy that lets the calls through");
    assert!(p.interface_endpoints["sagemaker.api"].policy.is_some());
    let both = text.replace(
        "policy = \"api.json\"",
        "policy = \"api.json\"\nsame_account_only = true",
    );
    let e = validate_source(&plan, &both).unwrap_err().diagnostics;
    assert!(e[0].message.contains("not both"), "{}", e[0]);
}

#[test]
fn a_studio_endpoint_policy_file_without_create_app_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("all.json"),
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"sagemaker:CreateApp","Resource":"*"}]}"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/s3-deny-amazon-linux-repos.json"),
        "{\"Statement\":[]}",
    )
    .unwrap();
    let text = edit(
        "[interface_endpoints.access.studio]\npresigned_url_profiles = [\"alice\"]",
        "[interface_endpoints.access.studio]\npolicy = \"all.json\"",
    );
    let e = validate_source(&dir.path().join("p.toml"), &text)
        .unwrap_err()
        .diagnostics;
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].message.contains("does not allow sagemaker:CreateApp"),
        "{}",
        e[0]
    );
}
