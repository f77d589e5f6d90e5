//! Resources named by id under the plan's keys, against the in-memory cloud: each is
//! checked to exist in the plan's VPC (one message per cause, naming the key), and a
//! plan that uses them converges without creating, tagging or deleting any of them.

use std::sync::Arc;

use super::tests::{converge, plan_from};
use super::*;
use crate::execute::fake::FakeCloud;
use crate::observe::Tags;
use crate::resources::{route_table, security_group, subnet};

struct Fixture {
    cloud: Arc<FakeCloud>,
    vpc: String,
    other_vpc: String,
    subnet: String,
    group: String,
    table: String,
}

fn fixture() -> Fixture {
    let cloud = Arc::new(FakeCloud::default());
    let vpc = cloud.add_foreign_vpc("10.1.0.0/16", true);
    let other_vpc = cloud.add_foreign_vpc("10.2.0.0/16", true);
    let none = Tags::new();
    let c = &*cloud;
    let (subnet, group, table) = futures::executor::block_on(async {
        (
            subnet::Api::create_subnet(c, &vpc, "us-east-1a", "10.1.1.0/24", &none)
                .await
                .unwrap(),
            security_group::Api::create_security_group(c, &vpc, "hand", "by hand", &none)
                .await
                .unwrap(),
            route_table::Api::create_route_table(c, &vpc, &none, "t")
                .await
                .unwrap(),
        )
    });
    Fixture {
        cloud,
        vpc,
        other_vpc,
        subnet,
        group,
        table,
    }
}

fn plan(vpc: &str, subnet: &str, group: &str, table: &str) -> crate::plan::Plan {
    plan_from(&format!(
        r#"name = "byid"
region = "us-east-1"
[vpc]
id = "{vpc}"
[subnets.legacy]
id = "{subnet}"
[subnets.new-b]
availability_zone = "us-east-1b"
cidr = "10.1.2.0/24"
[security_groups.clients]
id = "{group}"
[security_groups.endpoints]
description = "Endpoints"
ingress = [{{ from = "clients", protocol = "tcp", ports = "443" }}]
[route_tables.legacy]
id = "{table}"
[gateway_endpoints.s3]
route_tables = ["legacy"]
[interface_endpoints]
services = ["sts"]
subnets = ["legacy", "new-b"]
security_groups = ["endpoints"]
"#
    ))
}

#[tokio::test]
async fn a_plan_using_existing_resources_converges_and_leaves_them_alone() {
    let f = fixture();
    let p = plan(&f.vpc, &f.subnet, &f.group, &f.table);
    let before = f.cloud.world.lock().unwrap().clone();
    converge(&f.cloud, &p).await;
    let w = f.cloud.world.lock().unwrap();
    let s = w.subnets.iter().find(|s| s.id == f.subnet).unwrap();
    assert_eq!(
        s.tags,
        before
            .subnets
            .iter()
            .find(|s| s.id == f.subnet)
            .unwrap()
            .tags
    );
    let g = w.security_groups.iter().find(|g| g.id == f.group).unwrap();
    assert_eq!(
        g,
        before
            .security_groups
            .iter()
            .find(|g| g.id == f.group)
            .unwrap()
    );
    let ep = w
        .endpoints
        .iter()
        .find(|e| e.service_name.ends_with(".sts"))
        .unwrap();
    assert!(ep.subnet_ids.contains(&f.subnet), "{ep:?}");
    let s3 = w
        .endpoints
        .iter()
        .find(|e| e.service_name.ends_with(".s3"))
        .unwrap();
    assert!(s3.route_table_ids.contains(&f.table), "{s3:?}");
    drop(w);
    // Destroy removes what the plan made, none of what it used.
    let obs = f.cloud.observe(&p);
    let cs = destroy(&p, &obs).unwrap();
    for c in &cs.changes {
        if let Some(id) = &c.id {
            assert!(
                ![&f.subnet, &f.group, &f.table, &f.vpc].contains(&id),
                "{c:?}"
            );
        }
    }
}

#[test]
fn each_existing_resource_is_checked_once_by_its_key() {
    let f = fixture();
    let elsewhere = futures::executor::block_on(subnet::Api::create_subnet(
        &*f.cloud,
        &f.other_vpc,
        "us-east-1a",
        "10.2.1.0/24",
        &Tags::new(),
    ))
    .unwrap();
    let p = plan(
        &f.vpc,
        &elsewhere,
        "sg-0123456789abcdef0",
        "rtb-0123456789abcdef0",
    );
    let msg = diff(&p, &f.cloud.observe(&p)).unwrap_err().to_string();
    assert!(
        msg.contains(&format!(
            "subnets.legacy: subnet {elsewhere} is in {}, not in the plan's VPC {}",
            f.other_vpc, f.vpc
        )),
        "{msg}"
    );
    assert!(
        msg.contains("security_groups.clients: security group sg-0123456789abcdef0 does not exist"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "route_tables.legacy: route table rtb-0123456789abcdef0 is not in the plan's VPC {}",
            f.vpc
        )),
        "{msg}"
    );
    assert!(
        !msg.contains("interface_endpoints.subnets: subnet"),
        "said twice: {msg}"
    );
}
