//! `sagevpc audit` of VPCs made by hand with the SDK (no sagevpc tags) on LocalStack:
//! a clean one passes (exit 0), then each rule is broken one at a time (exit 2, that
//! rule and no other fails in the JSON) and put back. LocalStack has no SageMaker: the
//! VPC is audited without domains (a warning says so); the Studio rules are proven by
//! the unit tests in src/audit/tests.rs.

mod common;

use aws_sdk_ec2::types::{AttributeBooleanValue, IpPermission, UserIdGroupPair, VpcEndpointType};
use aws_sdk_ec2::Client;
use common::*;
use serde_json::Value;

const SERVICES: [&str; 5] = [
    "com.amazonaws.us-east-1.sagemaker.api",
    "com.amazonaws.us-east-1.sagemaker.runtime",
    "aws.sagemaker.us-east-1.studio",
    "com.amazonaws.us-east-1.sts",
    "com.amazonaws.us-east-1.logs",
];

/// `sagevpc audit --vpc <vpc> --output json`: exit code and the report.
fn audit(vpc: &str) -> (i32, Value) {
    let (code, out, err) = run(&["audit", "--vpc", vpc, "--output", "json"]);
    assert!(code == 0 || code == 2, "audit exited {code}\n{err}\n{out}");
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
    )
}

/// The rules that fail, as `rule subject`.
fn failing(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .map(|f| {
            format!(
                "{} {}",
                f["rule"].as_str().unwrap(),
                f["subject"].as_str().unwrap()
            )
        })
        .collect()
}

/// Exit 2, and exactly the rules `want` (by id) fail.
fn fails_only(vpc: &str, want: &[&str]) -> Value {
    let (code, r) = audit(vpc);
    let got = failing(&r);
    let mut rules: Vec<&str> = got.iter().map(|f| f.split(' ').next().unwrap()).collect();
    rules.dedup();
    assert_eq!((code, rules), (2, want.to_vec()), "{got:#?}");
    r
}

fn clean(vpc: &str) {
    let (code, r) = audit(vpc);
    assert_eq!((code, failing(&r)), (0, Vec::<String>::new()));
    assert_eq!(r["summary"]["fail"], 0);
}

async fn interface(c: &Client, fx: &Adopted, service: &str, subnets: &[&str]) -> String {
    c.create_vpc_endpoint()
        .vpc_id(&fx.vpc_id)
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .service_name(service)
        .set_subnet_ids(Some(subnets.iter().map(|s| s.to_string()).collect()))
        .security_group_ids(&fx.sg)
        .private_dns_enabled(true)
        .send()
        .await
        .expect("CreateVpcEndpoint")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("endpoint id")
        .to_string()
}

fn self_rule(group: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_of_a_hand_made_vpc_one_broken_rule_at_a_time() {
    let c = ec2().await;
    let name = unique_name("audit");
    let mut fx = Adopted::create(&c, &name, 97).await;
    let dns_on = AttributeBooleanValue::builder().value(true).build();
    c.modify_vpc_attribute()
        .vpc_id(&fx.vpc_id)
        .enable_dns_hostnames(dns_on.clone())
        .send()
        .await
        .unwrap();
    // Clients: a group that admits itself; the endpoints' group (fx.sg) admits 443 from
    // the VPC's CIDR, which holds the client subnets.
    let clients = fx.add_security_group(&c, &format!("{name}-jobs")).await;
    c.authorize_security_group_ingress()
        .group_id(&clients)
        .ip_permissions(self_rule(&clients))
        .send()
        .await
        .unwrap();
    let (a, b) = (fx.subnet_a.clone(), fx.subnet_b.clone());
    let mut ids = Vec::new();
    for s in SERVICES {
        ids.push(interface(&c, &fx, s, &[&a, &b]).await);
    }
    let main = fx.main_route_table(&c).await;
    let policy = shipped("policies/s3-deny-amazon-linux-repos.json");
    let s3 = c
        .create_vpc_endpoint()
        .vpc_id(&fx.vpc_id)
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .service_name("com.amazonaws.us-east-1.s3")
        .route_table_ids(&main)
        .policy_document(&policy)
        .send()
        .await
        .unwrap()
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .unwrap()
        .to_string();
    // The VPC's default group is a client too: AWS gives it a rule admitting itself,
    // LocalStack does not.
    let default = c
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&fx.vpc_id)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string();
    let (code, r) = audit(&fx.vpc_id);
    assert_eq!(
        (code, failing(&r)),
        (
            2,
            vec![format!("groups.clients_admit_themselves {default}")]
        )
    );
    let _ = c
        .authorize_security_group_ingress()
        .group_id(&default)
        .ip_permissions(self_rule(&default))
        .send()
        .await;
    clean(&fx.vpc_id);

    // 1. DNS hostnames off while endpoints want private DNS.
    let off = AttributeBooleanValue::builder().value(false).build();
    c.modify_vpc_attribute()
        .vpc_id(&fx.vpc_id)
        .enable_dns_hostnames(off)
        .send()
        .await
        .unwrap();
    let r = fails_only(&fx.vpc_id, &["dns.attributes"]);
    assert_eq!(
        r["findings"][0]["guide"]["seed"],
        "000_41234f0732acb64e.txt"
    );
    c.modify_vpc_attribute()
        .vpc_id(&fx.vpc_id)
        .enable_dns_hostnames(dns_on)
        .send()
        .await
        .unwrap();

    // 2. Private DNS off on the runtime endpoint.
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&ids[1])
        .private_dns_enabled(false)
        .send()
        .await
        .unwrap();
    let r = fails_only(&fx.vpc_id, &["endpoint.private_dns"]);
    assert_eq!(failing(&r), ["endpoint.private_dns sagemaker.runtime"]);
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&ids[1])
        .private_dns_enabled(true)
        .send()
        .await
        .unwrap();

    // 3. The runtime endpoint left out of us-east-1b, where clients run.
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&ids[1])
        .remove_subnet_ids(&b)
        .send()
        .await
        .unwrap();
    let r = fails_only(&fx.vpc_id, &["endpoint.client_azs"]);
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    assert!(f["detail"].as_str().unwrap().contains("us-east-1b"), "{f}");
    assert!(
        f["resources"]
            .as_array()
            .unwrap()
            .contains(&Value::from(b.clone())),
        "{f}"
    );
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&ids[1])
        .add_subnet_ids(&b)
        .send()
        .await
        .unwrap();

    // 4. No logs endpoint.
    c.delete_vpc_endpoints()
        .vpc_endpoint_ids(&ids[4])
        .send()
        .await
        .unwrap();
    fails_only(&fx.vpc_id, &["endpoint.present"]);
    ids[4] = interface(&c, &fx, SERVICES[4], &[&a, &b]).await;

    // 5. A second sts endpoint.
    let dup = interface(&c, &fx, SERVICES[3], &[&a]).await;
    let r = fails_only(&fx.vpc_id, &["placement.duplicate_endpoints"]);
    assert_eq!(failing(&r), ["placement.duplicate_endpoints sts"]);
    c.delete_vpc_endpoints()
        .vpc_endpoint_ids(&dup)
        .send()
        .await
        .unwrap();

    // 6. S3's policy back to AWS's default full access: the repositories are allowed again.
    // (LocalStack ignores ResetPolicy: the default's own text is sent instead.)
    let full = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&s3)
        .policy_document(full)
        .send()
        .await
        .unwrap();
    let r = fails_only(&fx.vpc_id, &["s3.repositories"]);
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "fail")
        .unwrap();
    assert!(
        f["detail"].as_str().unwrap().contains("Amazon Linux 2023"),
        "{f}"
    );
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&s3)
        .policy_document(&policy)
        .send()
        .await
        .unwrap();

    // 7. The gateway endpoint taken off the clients' route table.
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&s3)
        .remove_route_table_ids(&main)
        .send()
        .await
        .unwrap();
    fails_only(&fx.vpc_id, &["s3.endpoint"]);
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&s3)
        .add_route_table_ids(&main)
        .send()
        .await
        .unwrap();

    // 8. The endpoints' group no longer admits 443 (from the VPC's CIDR).
    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip(&fx.cidr)
                .build(),
        )
        .build();
    c.revoke_security_group_ingress()
        .group_id(&fx.sg)
        .ip_permissions(https.clone())
        .send()
        .await
        .unwrap();
    fails_only(&fx.vpc_id, &["groups.endpoint_admits_clients"]);
    c.authorize_security_group_ingress()
        .group_id(&fx.sg)
        .ip_permissions(https)
        .send()
        .await
        .unwrap();

    // 9. The jobs' group no longer admits itself (distributed jobs).
    c.revoke_security_group_ingress()
        .group_id(&clients)
        .ip_permissions(self_rule(&clients))
        .send()
        .await
        .unwrap();
    let r = fails_only(&fx.vpc_id, &["groups.clients_admit_themselves"]);
    assert_eq!(
        failing(&r),
        [format!("groups.clients_admit_themselves {clients}")]
    );
    c.authorize_security_group_ingress()
        .group_id(&clients)
        .ip_permissions(self_rule(&clients))
        .send()
        .await
        .unwrap();

    clean(&fx.vpc_id);
    // Human output: grouped, with the counts.
    let (code, out, err) = run(&["audit", "--vpc", &fx.vpc_id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Interface endpoints (") && out.contains("\nAudit: "),
        "{out}"
    );
    assert!(
        err.contains("could not read SageMaker Studio domains"),
        "{err}"
    );
}

#[test]
fn an_unknown_vpc_is_an_error() {
    let (code, out, err) = run(&["audit", "--vpc", "vpc-0000000000000dead"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("VPC vpc-0000000000000dead does not exist in us-east-1"),
        "{err}"
    );
    let (code, _, err) = run(&["audit", "--vpc", "subnet-1"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a VPC id"), "{err}");
}
