//! `sagevpc audit` of VPCs made by hand with the SDK (no sagevpc tags) on LocalStack:
//! a clean one passes (exit 0), then each rule is broken one at a time (exit 2, that
//! rule and no other fails in the JSON) and put back. LocalStack has no SageMaker: that
//! VPC is audited without domains (a warning says so); a second VPC gets a VpcOnly
//! domain and a user in moto's SageMaker, whose subnets and groups the Studio rules
//! then check.

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
    let (code, report, _) = audit_env(vpc, &[]);
    (code, report)
}

/// `audit` with extra environment variables; its stderr too.
fn audit_env(vpc: &str, env: &[(&str, &str)]) -> (i32, Value, String) {
    let (code, out, err) = run_env(&["audit", "--vpc", vpc, "--output", "json"], env);
    assert!(code == 0 || code == 2, "audit exited {code}\n{err}\n{out}");
    let report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, report, err)
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

/// `rule subject` → status of the report's findings for `rule`.
fn statuses(report: &Value, rule: &str) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| {
            (
                f["subject"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding: {report}"))
}

/// A VpcOnly Studio domain in a hand-made VPC (moto's SageMaker, LocalStack's EC2): the
/// domain's own subnets and groups are what the Studio rules check. A public subnet, a
/// domain-level group that admits itself while a user exists and a user group that does
/// not admit itself on Studio's app ports each fail, naming the resources; fixed, each
/// passes.
#[tokio::test(flavor = "multi_thread")]
async fn audit_of_a_vpc_with_a_studio_domain_checks_the_domains_subnets_and_groups() {
    use aws_sdk_sagemaker::types::{AppNetworkAccessType, AuthMode, DomainSettings, UserSettings};
    let moto = common::moto::Moto::start();
    let sm = moto.client().await;
    let env = [
        ("AWS_ENDPOINT_URL_SAGEMAKER", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_EFS", moto.url.as_str()),
    ];
    let audit_studio = |vpc: &str| -> Value {
        let (_, report, err) = audit_env(vpc, &env);
        assert!(!err.contains("could not read SageMaker"), "{err}");
        report
    };
    let c = ec2().await;
    let name = unique_name("auditsm");
    let mut fx = Adopted::create(&c, &name, 96).await;
    let (a, b) = (fx.subnet_a.clone(), fx.subnet_b.clone());
    let studio = fx.add_security_group(&c, &format!("{name}-studio")).await;
    c.authorize_security_group_ingress()
        .group_id(&studio)
        .ip_permissions(self_rule(&studio))
        .send()
        .await
        .unwrap();
    let user = fx
        .add_security_group(&c, &format!("{name}-user-alice"))
        .await;
    // subnet a routes to an internet gateway.
    let igw = c
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap()
        .to_string();
    c.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&fx.vpc_id)
        .send()
        .await
        .unwrap();
    let public = fx.add_route_table(&c, &a).await;
    c.create_route()
        .route_table_id(&public)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let domain = sm
        .create_domain()
        .domain_name(&name)
        .auth_mode(AuthMode::Iam)
        .default_user_settings(
            UserSettings::builder()
                .execution_role("arn:aws:iam::000000000000:role/sagevpc-it")
                .security_groups(&studio)
                .build(),
        )
        .domain_settings(
            DomainSettings::builder()
                .security_group_ids(&studio)
                .build(),
        )
        .subnet_ids(&a)
        .subnet_ids(&b)
        .vpc_id(&fx.vpc_id)
        .app_network_access_type(AppNetworkAccessType::VpcOnly)
        .send()
        .await
        .expect("CreateDomain (moto)")
        .domain_arn()
        .and_then(|arn| arn.rsplit('/').next())
        .expect("domain id")
        .to_string();
    sm.create_user_profile()
        .domain_id(&domain)
        .user_profile_name("alice")
        .user_settings(UserSettings::builder().security_groups(&user).build())
        .send()
        .await
        .expect("CreateUserProfile (moto)");
    let subject = format!("{domain} ({name})");

    let r = audit_studio(&fx.vpc_id);
    let fail = |s: &str| vec![(s.to_string(), "fail".to_string())];
    let pass = |s: &str| vec![(s.to_string(), "pass".to_string())];
    assert_eq!(statuses(&r, "domain.private_subnets"), fail(&subject));
    let f = finding(&r, "domain.private_subnets");
    let detail = f["detail"].as_str().unwrap();
    assert!(
        detail.contains(&a) && detail.contains(&igw) && !detail.contains(&b),
        "{f}"
    );
    assert_eq!(statuses(&r, "domain.shared_group"), fail(&subject));
    let f = finding(&r, "domain.shared_group");
    assert!(
        f["resources"]
            .as_array()
            .unwrap()
            .contains(&Value::from(studio.clone())),
        "{f}"
    );
    assert!(
        f["detail"].as_str().unwrap().contains("1 user profiles"),
        "{f}"
    );
    assert_eq!(statuses(&r, "domain.capacity"), pass(&subject));
    assert!(finding(&r, "domain.capacity")["detail"]
        .as_str()
        .unwrap()
        .contains("for 1 users"));
    // Studio's rule for user groups (apps on TCP 8192-65535), not the jobs' all-TCP one.
    assert_eq!(statuses(&r, "groups.clients_admit_themselves"), fail(&user));

    // Fixed one by one: no internet route, no self rule on the domain's group, the
    // user's group admits itself on the apps' ports.
    c.delete_route()
        .route_table_id(&public)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    c.revoke_security_group_ingress()
        .group_id(&studio)
        .ip_permissions(self_rule(&studio))
        .send()
        .await
        .unwrap();
    c.authorize_security_group_ingress()
        .group_id(&user)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(8192)
                .to_port(65535)
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(&user).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = audit_studio(&fx.vpc_id);
    assert_eq!(statuses(&r, "domain.private_subnets"), pass(&subject));
    assert_eq!(statuses(&r, "domain.shared_group"), pass(&subject));
    assert_eq!(statuses(&r, "groups.clients_admit_themselves"), pass(&user));

    c.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&fx.vpc_id)
        .send()
        .await
        .unwrap();
    c.delete_internet_gateway()
        .internet_gateway_id(&igw)
        .send()
        .await
        .unwrap();
}
