//! Access that stays inside the VPC, against LocalStack (EC2, IAM, STS) with moto's
//! server for SageMaker and EFS: the IAM policy `<plan>-studio-access` and the endpoint
//! policies built from intents are read back with the SDK, a replaced endpoint is
//! followed by a new policy version in the same apply, re-plan is empty, and destroy
//! removes the policy but never the principal it was attached to.
//!
//! Neither emulator evaluates IAM conditions: what is proven here is the documents and
//! attachments AWS is given, not that AWS refuses a presigned URL from outside the VPC.

mod common;

use common::moto::{iam, Moto};
use common::*;
use serde_json::{json, Value};

const ACCOUNT: &str = "000000000000";

fn decoded(doc: &str) -> Value {
    let text = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    serde_json::from_str(&text).expect("a JSON policy")
}

async fn access_document(iam: &aws_sdk_iam::Client, arn: &str) -> (Value, usize) {
    let p = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .expect("the access policy");
    let version = p
        .policy()
        .unwrap()
        .default_version_id()
        .unwrap()
        .to_string();
    let v = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let versions = iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
    (
        decoded(v.policy_version().unwrap().document().unwrap()),
        versions.versions().len(),
    )
}

async fn endpoint_of(c: &aws_sdk_ec2::Client, plan: &str, key: &str) -> (String, Option<Value>) {
    let key = format!("interface_endpoint.{key}");
    let e = endpoints_of(c, plan)
        .await
        .into_iter()
        .find(|e| tag(e.tags(), TAG_KEY) == Some(key.as_str()))
        .unwrap_or_else(|| panic!("{key}"));
    (
        e.vpc_endpoint_id().unwrap().to_string(),
        e.policy_document().map(decoded),
    )
}

#[tokio::test]
async fn studio_access_and_endpoint_policies_are_written_from_live_ids_and_follow_a_replaced_endpoint(
) {
    let moto = Moto::start();
    let sm = moto.client().await;
    let env = [
        ("AWS_ENDPOINT_URL_SAGEMAKER", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_EFS", moto.url.as_str()),
    ];
    let (c, iam) = (ec2().await, iam().await);
    let name = unique_name("access");
    let scientist = format!("{name}-ds");
    iam.create_role()
        .role_name(&scientist)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .expect("the principal");
    let mut dir = PlanDir::new(&name);
    dir.keep(); // the cleanup on drop would not reach moto
    let text = shipped("studio-access.toml")
        .replace(
            "domain_name = \"ml-studio\"",
            &format!("domain_name = \"{name}\""),
        )
        .replace("\"DataScientist\"", &format!("{scientist:?}"));
    let plan = dir
        .write("studio-access.toml", &text)
        .to_string_lossy()
        .into_owned();

    let (code, out, err) = run_env(&["apply", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "apply\n{err}\n{out}");
    assert!(out.contains("+ iam_policy.studio_access"), "{out}");
    assert!(
        format!("{out}{err}").contains("can no longer open Studio from the SageMaker console"),
        "the guide's warning\n{out}\n{err}"
    );
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/sagevpc/{name}-studio-access");
    let (api, _) = endpoint_of(&c, &name, "sagemaker.api").await;
    let (studio, studio_policy) = endpoint_of(&c, &name, "studio").await;
    let (doc, versions) = access_document(&iam, &arn).await;
    assert_eq!(versions, 1);
    assert_eq!(
        doc["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:sourceVpce": [api, studio]}})
    );
    assert_eq!(
        doc["Statement"][0]["Action"],
        json!([
            "sagemaker:CreatePresignedDomainUrl",
            "sagemaker:DescribeUserProfile"
        ])
    );
    let attached = iam
        .list_entities_for_policy()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let roles: Vec<&str> = attached
        .policy_roles()
        .iter()
        .filter_map(|r| r.role_name())
        .collect();
    assert_eq!(roles, [scientist.as_str()]);

    let domain = sm.list_domains().send().await.unwrap().domains()[0]
        .domain_id()
        .unwrap()
        .to_string();
    let studio_policy = studio_policy.expect("the studio endpoint has the intent's policy");
    assert_eq!(
        studio_policy["Statement"][0]["Resource"],
        json!([
            format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:user-profile/{domain}/*"),
            format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:app/{domain}/*")
        ])
    );
    let (_, runtime) = endpoint_of(&c, &name, "sagemaker.runtime").await;
    let runtime = runtime.expect("the runtime endpoint has the intent's policy");
    assert_eq!(
        runtime["Statement"][0]["Action"],
        "sagemaker:InvokeEndpoint"
    );
    assert_eq!(
        runtime["Statement"][0]["Resource"],
        json!([format!(
            "arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/churn-model"
        )])
    );
    let (code, out, err) = run_env(&["plan", &plan, "--detailed-exitcode"], &env);
    assert_eq!(code, 0, "re-plan is empty\n{out}\n{err}");
    let (code, out, err) = run_env(&["output", &plan, "-o", "json"], &env);
    assert_eq!(code, 0, "{err}");
    let outputs: Value = serde_json::from_str(&out).expect("output is JSON");
    assert_eq!(outputs["studio_access_policy_arn"], arn.as_str());

    // The API endpoint deleted by hand: the next apply makes a new one and writes its
    // id into a new default version of the policy, in the same apply.
    c.delete_vpc_endpoints()
        .vpc_endpoint_ids(&api)
        .send()
        .await
        .unwrap();
    let (code, out, err) = run_env(&["apply", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "re-apply\n{err}\n{out}");
    let (new_api, _) = endpoint_of(&c, &name, "sagemaker.api").await;
    assert_ne!(new_api, api);
    let (doc, versions) = access_document(&iam, &arn).await;
    assert_eq!(versions, 2);
    assert_eq!(
        doc["Statement"][0]["Condition"]["StringEquals"]["aws:sourceVpce"],
        json!([new_api, studio])
    );
    let (code, out, err) = run_env(&["plan", &plan, "--detailed-exitcode"], &env);
    assert_eq!(
        code, 0,
        "re-plan is empty after the endpoint came back\n{out}\n{err}"
    );

    let (code, out, err) = run_env(&["destroy", &plan, "--auto-approve"], &env);
    assert_eq!(code, 0, "destroy\n{err}\n{out}");
    let gone = iam.get_policy().policy_arn(&arn).send().await;
    assert!(gone.is_err(), "the policy is deleted");
    iam.get_role()
        .role_name(&scientist)
        .send()
        .await
        .expect("the principal is never deleted");
    iam.delete_role()
        .role_name(&scientist)
        .send()
        .await
        .unwrap();
    assert_eq!(owned(&c, &name).await.total(), 0);
}
