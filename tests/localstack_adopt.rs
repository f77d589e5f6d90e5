//! `sagevpc adopt` against LocalStack: a network made by hand with the SDK (VPC,
//! subnets, a route table associated with them, a group whose rules differ from the
//! plan's, an S3 gateway endpoint) is adopted, not re-created: the dry run tags nothing,
//! the confirmed run tags each resource with the plan's ownership tags, `plan` then
//! shows only the real differences, `apply` makes them, the re-plan is empty, and
//! `destroy` removes what the plan now owns.

mod common;

use common::*;
use serde_json::Value;

fn plan_text(name: &str, cidr_octet: u8) -> String {
    format!(
        r#"name = "{name}"
region = "us-east-1"

[vpc]
cidr = "10.{o}.0.0/16"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.{o}.1.0/24"

[subnets.b]
availability_zone = "us-east-1b"
cidr = "10.{o}.2.0/24"

[security_groups.clients]
description = "made by hand by a sagevpc integration test"
ingress = [
  {{ from = "10.{o}.0.0/16", protocol = "tcp", ports = "443" }},
  {{ from = "self", protocol = "all" }},
]

[gateway_endpoints.s3]
"#,
        o = cidr_octet
    )
}

async fn s3_gateway(c: &aws_sdk_ec2::Client, vpc: &str, table: &str) -> String {
    c.create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
        .route_table_ids(table)
        .send()
        .await
        .expect("CreateVpcEndpoint (fixture)")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("endpoint id")
        .to_string()
}

fn changes(json: &str) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(json).expect("plan --output json");
    doc["resource_changes"]
        .as_array()
        .expect("resource_changes")
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .filter(|(_, action)| action != "no-op")
        .collect()
}

#[tokio::test]
async fn a_hand_made_network_is_adopted_then_applied_and_destroyed() {
    let c = ec2().await;
    let name = unique_name("adoptall");
    // Named like the plan would name its group: `<plan>-clients`.
    let mut fx = Adopted::create(&c, &name, 217).await;
    let table = fx.add_route_table(&c, &fx.subnet_a.clone()).await;
    c.associate_route_table()
        .route_table_id(&table)
        .subnet_id(&fx.subnet_b)
        .send()
        .await
        .expect("AssociateRouteTable (fixture)");
    let s3 = s3_gateway(&c, &fx.vpc_id, &table).await;
    let mut dir = PlanDir::new(&name);
    let plan = dir.write("adopt.toml", &plan_text(&name, 217));
    let plan = plan.to_string_lossy().to_string();

    // Dry run: no terminal, no --auto-approve: lists, asks, tags nothing.
    let (out, err) = run_expect(1, &["adopt", &plan]);
    assert!(err.contains("adopt needs confirmation"), "{err}");
    for (addr, id) in [
        ("vpc.main", fx.vpc_id.as_str()),
        ("subnet.a", fx.subnet_a.as_str()),
        ("subnet.b", fx.subnet_b.as_str()),
        ("route_table.private", table.as_str()),
        ("security_group.clients", fx.sg.as_str()),
        ("gateway_endpoint.s3", s3.as_str()),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("= adopt {addr} ")))
            .unwrap_or_else(|| panic!("{addr} not listed:\n{out}"));
        assert!(line.contains(id), "{line}");
    }
    assert!(out.contains("Once adopted, `sagevpc plan` shows"), "{out}");
    assert_eq!(
        owned(&c, &name).await.total(),
        0,
        "the dry run tagged something"
    );

    // Confirmed: every one is tagged with the plan and its key; nothing is created.
    let (out, _) = run_expect(0, &["adopt", &plan, "--auto-approve"]);
    assert!(
        out.contains("Adopt complete! Resources: 6 adopted."),
        "{out}"
    );
    let vpc = vpc_by_id(&c, &fx.vpc_id).await.expect("the VPC");
    assert_eq!(tag(vpc.tags(), TAG_PLAN), Some(name.as_str()));
    assert_eq!(tag(vpc.tags(), TAG_KEY), Some("vpc.main"));
    let subnet = subnet_by_id(&c, &fx.subnet_a).await.expect("subnet a");
    assert_eq!(tag(subnet.tags(), TAG_KEY), Some("subnet.a"));
    let group = security_group_by_id(&c, &fx.sg).await.expect("the group");
    assert_eq!(tag(group.tags(), TAG_KEY), Some("security_group.clients"));
    assert_eq!(route_tables_of(&c, &name).await.len(), 1);
    let eps = endpoints_of(&c, &name).await;
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].vpc_endpoint_id(), Some(s3.as_str()));
    assert_eq!(vpcs_of(&c, &name).await.len(), 1);
    assert_eq!(subnets_of(&c, &name).await.len(), 2);

    // The plan shows only the real differences: the missing self rule, DNS hostnames
    // (off in the fixture), and the plan's Name tags. Nothing is created but the rule.
    let (json, _) = run_expect(0, &["plan", &plan, "--output", "json"]);
    let diff = changes(&json);
    let created: Vec<&(String, String)> = diff.iter().filter(|(_, a)| a == "create").collect();
    assert_eq!(
        created,
        vec![&(
            "security_group_rule.clients.ingress.all.all.self".to_string(),
            "create".to_string()
        )],
        "{json}"
    );
    assert!(
        !diff.iter().any(|(_, a)| a == "delete" || a == "replace"),
        "{json}"
    );
    assert!(
        diff.contains(&("vpc.main".to_string(), "update".to_string())),
        "{json}"
    );

    // A second adopt finds nothing more to take.
    let (out, _) = run_expect(0, &["adopt", &plan, "--auto-approve"]);
    assert!(out.contains("Nothing to adopt"), "{out}");

    run_expect(0, &["apply", &plan, "--auto-approve"]);
    run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert!(
        vpc_dns(&c, &fx.vpc_id).await.1,
        "apply switched DNS hostnames on"
    );

    // Destroy removes what the plan owns now: the adopted VPC and everything in it.
    run_expect(0, &["destroy", &plan, "--auto-approve"]);
    assert!(
        vpc_by_id(&c, &fx.vpc_id).await.is_none(),
        "the VPC is still there"
    );
    assert_eq!(owned(&c, &name).await.total(), 0);
    // The fixture's own cleanup finds nothing left.
    fx.extra_route_tables.clear();
    dir.keep();
}

#[tokio::test]
async fn another_plans_subnet_in_an_adopted_vpc_is_named_and_nothing_is_tagged() {
    let c = ec2().await;
    let name = unique_name("adoptother");
    let fx = Adopted::create(&c, &name, 218).await;
    // Subnet a belongs to another plan.
    c.create_tags()
        .resources(&fx.subnet_a)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key(TAG_PLAN)
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .expect("CreateTags (fixture)");
    let mut dir = PlanDir::new(&name);
    let text = plan_text(&name, 218).replace("[gateway_endpoints.s3]\n", "");
    let text = text.replace(
        "[vpc]\ncidr = \"10.218.0.0/16\"",
        &format!("[vpc]\nid = \"{}\"", fx.vpc_id),
    );
    let plan = dir.write("adopt.toml", &text);
    let plan = plan.to_string_lossy().to_string();
    // The plan would create subnet a where the other plan's is: adopt names what it
    // leaves alone, refuses (the plan could not be applied) and tags nothing.
    let (out, err) = run_expect(1, &["adopt", &plan, "--auto-approve"]);
    assert!(
        out.contains(&format!(
            "subnet.a: {} (10.218.1.0/24 in us-east-1a) is sagevpc plan \"someone-else\"'s: another plan's resource is never taken",
            fx.subnet_a
        )),
        "{out}"
    );
    assert!(
        !out.contains("= adopt vpc.main"),
        "an adopted VPC is never tagged:\n{out}"
    );
    assert!(
        err.contains("overlaps subnet") && err.contains("Nothing was tagged."),
        "{err}"
    );
    let a = subnet_by_id(&c, &fx.subnet_a).await.expect("subnet a");
    assert_eq!(tag(a.tags(), TAG_PLAN), Some("someone-else"));
    assert_eq!(owned(&c, &name).await.total(), 0, "something was tagged");
    let vpc = vpc_by_id(&c, &fx.vpc_id).await.expect("the VPC");
    assert_eq!(tag(vpc.tags(), TAG_PLAN), None);
    dir.keep();
}

async fn sts_endpoint(c: &aws_sdk_ec2::Client, fx: &Adopted) -> String {
    c.create_vpc_endpoint()
        .vpc_id(&fx.vpc_id)
        .service_name("com.amazonaws.us-east-1.sts")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .subnet_ids(&fx.subnet_a)
        .security_group_ids(&fx.sg)
        .private_dns_enabled(false)
        .send()
        .await
        .expect("CreateVpcEndpoint sts (fixture)")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("endpoint id")
        .to_string()
}

fn by_id_plan(name: &str, fx: &Adopted, table: &str, sts: &str) -> String {
    format!(
        r#"name = "{name}"
region = "us-east-1"

[vpc]
id = "{vpc}"

[subnets.a]
id = "{subnet_a}"

[subnets.new-c]
availability_zone = "us-east-1c"
cidr = "10.218.3.0/24"

[security_groups.clients]
id = "{sg}"

[security_groups.endpoints]
description = "Endpoints"
ingress = [{{ from = "clients", protocol = "tcp", ports = "443" }}]

[route_tables.legacy]
id = "{table}"

[gateway_endpoints.s3]
route_tables = ["legacy"]

[existing_endpoints]
sts = "{sts}"

[interface_endpoints]
services = ["sagemaker.api"]
subnets = ["a", "new-c"]
security_groups = ["endpoints"]
private_dns = false
"#,
        vpc = fx.vpc_id,
        subnet_a = fx.subnet_a,
        sg = fx.sg,
    )
}

/// Subnets, a group, a route table and an endpoint named by id are used and never
/// touched: the plan's endpoint goes into the existing subnet, its group admits the
/// existing group, the S3 gateway goes on the existing table, the existing endpoint
/// counts as the plan's sts endpoint; none of them is tagged, changed or deleted.
#[tokio::test]
async fn resources_named_by_id_are_used_and_never_touched() {
    let c = ec2().await;
    let name = unique_name("useid");
    let mut fx = Adopted::create(&c, &name, 218).await;
    let table = fx.add_route_table(&c, &fx.subnet_a.clone()).await;
    let sts = sts_endpoint(&c, &fx).await;
    let rules_before = security_group_by_id(&c, &fx.sg)
        .await
        .unwrap()
        .ip_permissions()
        .to_vec();
    let mut dir = PlanDir::new(&name);
    let text = by_id_plan(&name, &fx, &table, &sts);
    let plan = dir.write("byid.toml", &text).to_string_lossy().to_string();

    let (out, err) = run_expect(0, &["apply", &plan, "--auto-approve"]);
    let all = format!("{out}{err}");
    assert!(
        all.contains(&format!(
            "existing_endpoints.sts: endpoint {sts} has private DNS off"
        )),
        "{all}"
    );
    assert!(
        !all.contains("subnet.a"),
        "an existing subnet is no plan resource:\n{all}"
    );
    let api = endpoints_of(&c, &name).await;
    let api = api
        .iter()
        .find(|e| e.service_name() == Some("com.amazonaws.us-east-1.sagemaker.api"))
        .expect("api endpoint");
    assert!(api.subnet_ids().contains(&fx.subnet_a), "{api:?}");
    let s3 = endpoints_of(&c, &name).await;
    let s3 = s3
        .iter()
        .find(|e| e.service_name() == Some("com.amazonaws.us-east-1.s3"))
        .expect("s3");
    assert!(s3.route_table_ids().contains(&table), "{s3:?}");
    let groups = security_groups_of(&c, &name).await;
    let ep_group = groups
        .iter()
        .find(|g| g.group_name() == Some(&format!("{name}-endpoints")))
        .expect("group");
    assert!(
        ep_group.ip_permissions().iter().any(|p| p
            .user_id_group_pairs()
            .iter()
            .any(|g| g.group_id() == Some(fx.sg.as_str()))),
        "{ep_group:?}"
    );
    // The existing ones carry no ownership tag and are as they were.
    let owned_now = owned(&c, &name).await;
    for id in [&fx.subnet_a, &fx.sg, &table, &sts] {
        assert!(!owned_now.ids().contains(id), "{id} was tagged");
    }
    let after = security_group_by_id(&c, &fx.sg)
        .await
        .unwrap()
        .ip_permissions()
        .to_vec();
    assert_eq!(rules_before, after);
    let (out, _) = run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert!(out.contains("No changes."), "{out}");

    // Named wrongly: refused at plan time, naming the field; nothing is sent.
    let logs = c
        .create_vpc_endpoint()
        .vpc_id(&fx.vpc_id)
        .service_name("com.amazonaws.us-east-1.logs")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .subnet_ids(&fx.subnet_b)
        .private_dns_enabled(false)
        .send()
        .await
        .expect("CreateVpcEndpoint logs (fixture)")
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id().map(str::to_string))
        .expect("endpoint id");
    let wrong = dir.write(
        "wrong.toml",
        &text
            .replace(&sts, &logs)
            .replace(&fx.subnet_a, "subnet-0123456789abcdef0"),
    );
    let (_, err) = run_expect(1, &["plan", &wrong.to_string_lossy()]);
    assert!(err.contains(&format!("existing_endpoints.sts: endpoint {logs} is for com.amazonaws.us-east-1.logs, not com.amazonaws.us-east-1.sts")), "{err}");
    assert!(
        err.contains("subnets.a: subnet subnet-0123456789abcdef0 does not exist"),
        "{err}"
    );
    assert!(
        !err.contains("interface_endpoints.subnets: subnet subnet-0123456789abcdef0"),
        "said twice:\n{err}"
    );

    dir.write("byid.toml", &text);
    run_expect(0, &["destroy", &plan, "--auto-approve"]);
    assert_eq!(owned(&c, &name).await.total(), 0);
    assert!(subnet_by_id(&c, &fx.subnet_a).await.is_some());
    assert!(security_group_by_id(&c, &fx.sg).await.is_some());
    let left: Vec<String> = endpoints_in_vpc(&c, &fx.vpc_id)
        .await
        .iter()
        .filter(|e| {
            !matches!(
                e.state().map(|s| s.as_str()),
                Some("deleted") | Some("Deleted")
            )
        })
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
        .collect();
    left.iter()
        .for_each(|e| assert!(e == &sts || e == &logs, "{left:?}"));
    assert!(left.contains(&sts), "{left:?}");
}
