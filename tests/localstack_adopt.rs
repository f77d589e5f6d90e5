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
