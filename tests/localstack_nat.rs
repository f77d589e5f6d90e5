//! NAT egress against LocalStack, in all three modes: apply, re-plan empty, the default
//! routes where they belong (public → internet gateway, private → the NAT gateway of
//! the AZ or the single one, none → nowhere), a mode switch, destroy leaves nothing and
//! every Elastic IP is released (DescribeAddresses).

mod common;

use aws_sdk_ec2::types::Filter;
use common::*;

const PUBLIC: &str = r#"
[egress.public_subnets.public-a]
availability_zone = "us-east-1a"
cidr = "10.20.240.0/24"

[egress.public_subnets.public-b]
availability_zone = "us-east-1b"
cidr = "10.20.241.0/24"

[egress.public_subnets.public-c]
availability_zone = "us-east-1c"
cidr = "10.20.242.0/24"
"#;

fn nat_text(mode: &str) -> String {
    let base = shipped("studio-vpc.toml");
    if mode == "none" {
        base
    } else {
        format!("{base}\n[egress]\nnat = \"{mode}\"\n{PUBLIC}")
    }
}

fn plan_filter(plan: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_PLAN}"))
        .values(plan)
        .build()
}

async fn addresses_of(c: &aws_sdk_ec2::Client, plan: &str) -> Vec<aws_sdk_ec2::types::Address> {
    c.describe_addresses()
        .filters(plan_filter(plan))
        .send()
        .await
        .expect("DescribeAddresses")
        .addresses()
        .to_vec()
}

/// The plan's NAT gateways (`deleted` ones too: `live`, only the others). LocalStack
/// ignores DescribeNatGateways' filters: the tag is checked here.
async fn all_nats_of(
    c: &aws_sdk_ec2::Client,
    plan: &str,
    live: bool,
) -> Vec<aws_sdk_ec2::types::NatGateway> {
    c.describe_nat_gateways()
        .filter(plan_filter(plan))
        .send()
        .await
        .expect("DescribeNatGateways")
        .nat_gateways()
        .iter()
        .filter(|g| tag(g.tags(), TAG_PLAN) == Some(plan))
        .filter(|g| !live || g.state().is_none_or(|s| s.as_str() != "deleted"))
        .cloned()
        .collect()
}

async fn nats_of(c: &aws_sdk_ec2::Client, plan: &str) -> Vec<aws_sdk_ec2::types::NatGateway> {
    all_nats_of(c, plan, true).await
}

/// LocalStack 4.13 keeps a deleted NAT gateway's network interface (AWS deletes it with
/// the gateway), and sagevpc would then rightly refuse to delete the VPC around an
/// interface it does not own: the test removes what the emulator left.
async fn remove_emulator_leftovers(c: &aws_sdk_ec2::Client, plan: &str) {
    for g in all_nats_of(c, plan, false).await {
        if g.state().map(|s| s.as_str()) != Some("deleted") {
            continue;
        }
        for a in g.nat_gateway_addresses() {
            if let Some(eni) = a.network_interface_id() {
                let _ = c
                    .delete_network_interface()
                    .network_interface_id(eni)
                    .send()
                    .await;
            }
        }
    }
}

/// LocalStack 4.13's ModifyVpcEndpoint adds a route table to a gateway endpoint without
/// adding the prefix-list route AWS adds (and DeleteVpcEndpoints then fails with
/// InvalidRoute.NotFound for it): after a NAT mode change moved the S3 endpoint to other
/// tables, the test adds the missing routes the way the emulator accepts them.
async fn add_missing_gateway_endpoint_routes(c: &aws_sdk_ec2::Client, plan: &str) {
    let lists = c
        .describe_prefix_lists()
        .send()
        .await
        .expect("DescribePrefixLists");
    let tables = route_tables_of(c, plan).await;
    for e in endpoints_of(c, plan).await {
        let gateway = e.vpc_endpoint_type().map(|t| t.as_str()) == Some("Gateway");
        let pl = lists
            .prefix_lists()
            .iter()
            .find(|p| {
                p.prefix_list_name()
                    .is_some_and(|n| Some(n) == e.service_name())
            })
            .and_then(|p| p.prefix_list_id());
        let (true, Some(id), Some(pl)) = (gateway, e.vpc_endpoint_id(), pl) else {
            continue;
        };
        for rt in e.route_table_ids() {
            let has = tables.iter().any(|t| {
                t.route_table_id() == Some(rt.as_str())
                    && t.routes()
                        .iter()
                        .any(|r| r.destination_prefix_list_id() == Some(pl))
            });
            if !has {
                c.create_route()
                    .route_table_id(rt)
                    .destination_prefix_list_id(pl)
                    .gateway_id(id)
                    .send()
                    .await
                    .expect("CreateRoute for the gateway endpoint");
            }
        }
    }
}

/// Per route table key: its 0.0.0.0/0 target and its subnets' keys.
async fn routes(c: &aws_sdk_ec2::Client, plan: &str) -> Vec<(String, Option<String>, usize)> {
    let mut out: Vec<(String, Option<String>, usize)> = route_tables_of(c, plan)
        .await
        .iter()
        .map(|rt| {
            let target = rt
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
                .map(str::to_string);
            let key = tag(rt.tags(), TAG_KEY).unwrap_or_default().to_string();
            (key, target, rt.associations().len())
        })
        .collect();
    out.sort();
    out
}

/// `route_table.public` sends 0.0.0.0/0 to the internet gateway and holds the three
/// public subnets.
fn assert_public_table(rts: &[(String, Option<String>, usize)]) {
    let public = rts.iter().find(|r| r.0 == "route_table.public").unwrap();
    assert!(
        public.1.as_deref().is_some_and(|t| t.starts_with("igw-")) && public.2 == 3,
        "{rts:?}"
    );
}

/// The subnet id of the plan subnet `key`.
async fn subnet(c: &aws_sdk_ec2::Client, plan: &str, key: &str) -> String {
    let want = format!("subnet.{key}");
    subnets_of(c, plan)
        .await
        .into_iter()
        .find(|s| tag(s.tags(), TAG_KEY) == Some(want.as_str()))
        .and_then(|s| s.subnet_id().map(str::to_string))
        .expect("subnet")
}

fn nat_in(nats: &[aws_sdk_ec2::types::NatGateway], subnet: &str) -> String {
    nats.iter()
        .find(|n| n.subnet_id() == Some(subnet))
        .and_then(|n| n.nat_gateway_id().map(str::to_string))
        .expect("NAT gateway in subnet")
}

fn apply_and_replan(plan: &str) -> String {
    let (out, _) = run_expect(0, &["apply", plan, "--auto-approve"]);
    let (again, _) = run_expect(0, &["plan", plan, "--detailed-exitcode"]);
    assert!(again.contains("No changes."), "{again}");
    out
}

/// Destroy, then nothing of the plan is left: no NAT gateway, no address, no VPC.
async fn destroy_leaves_nothing(c: &aws_sdk_ec2::Client, plan: &str, name: &str) {
    let (out, _) = run_expect(0, &["destroy", plan, "--auto-approve"]);
    remove_emulator_leftovers(c, name).await;
    if let (Some(nat), Some(ip)) = (
        out.find("nat_gateway.public-a: Destroyed"),
        out.find("elastic_ip.public-a: Destroyed"),
    ) {
        assert!(
            nat < ip,
            "the address is released after its NAT gateway:\n{out}"
        );
    }
    assert!(nats_of(c, name).await.is_empty());
    assert!(addresses_of(c, name).await.is_empty(), "Elastic IPs left");
    assert!(vpcs_of(c, name).await.is_empty());
    assert_eq!(owned(c, name).await.total(), 0);
}

#[tokio::test]
async fn per_az_nat_routes_each_az_to_its_own_gateway_and_destroys_clean() {
    let c = ec2().await;
    let name = unique_name("natpaz");
    let mut dir = PlanDir::new(&name);
    let plan = dir
        .write("nat.toml", &nat_text("per_az"))
        .to_string_lossy()
        .to_string();
    let out = apply_and_replan(&plan);
    assert!(out.contains("nat_gateway.public-c: Created"), "{out}");
    let nats = nats_of(&c, &name).await;
    assert_eq!(nats.len(), 3, "{nats:?}");
    assert!(nats
        .iter()
        .all(|n| tag(n.tags(), TAG_PLAN) == Some(name.as_str())));
    let addrs = addresses_of(&c, &name).await;
    assert_eq!(addrs.len(), 3, "every address is tagged at allocation");
    let rts = routes(&c, &name).await;
    for az in ["a", "b", "c"] {
        let nat = nat_in(&nats, &subnet(&c, &name, &format!("public-{az}")).await);
        let key = format!("route_table.private-us-east-1{az}");
        assert!(rts.contains(&(key, Some(nat), 1)), "{rts:?}");
    }
    assert_public_table(&rts);

    // A route removed by hand is restored.
    let private_a = route_tables_of(&c, &name)
        .await
        .into_iter()
        .find(|r| tag(r.tags(), TAG_KEY) == Some("route_table.private-us-east-1a"))
        .unwrap();
    c.delete_route()
        .route_table_id(private_a.route_table_id().unwrap())
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .expect("delete route by hand");
    let (out, _) = run_expect(2, &["plan", &plan, "--detailed-exitcode"]);
    assert!(out.contains("+ route.private-us-east-1a"), "{out}");
    apply_and_replan(&plan);
    destroy_leaves_nothing(&c, &plan, &name).await;
    dir.keep();
}

#[tokio::test]
async fn single_nat_serves_every_private_subnet_and_destroys_clean() {
    let c = ec2().await;
    let name = unique_name("natsgl");
    let mut dir = PlanDir::new(&name);
    let plan = dir
        .write("nat.toml", &nat_text("single"))
        .to_string_lossy()
        .to_string();
    let out = apply_and_replan(&plan);
    assert!(out.contains("nat_gateway.public-a: Created"), "{out}");
    assert!(!out.contains("nat_gateway.public-b"), "{out}");
    let nats = nats_of(&c, &name).await;
    assert_eq!((nats.len(), addresses_of(&c, &name).await.len()), (1, 1));
    let nat = nat_in(&nats, &subnet(&c, &name, "public-a").await);
    let rts = routes(&c, &name).await;
    assert!(
        rts.contains(&("route_table.private".into(), Some(nat), 3)),
        "every private subnet routes through the one gateway: {rts:?}"
    );
    assert_public_table(&rts);
    destroy_leaves_nothing(&c, &plan, &name).await;
    dir.keep();
}

#[tokio::test]
async fn single_nat_serves_every_private_subnet_then_moves_to_per_az() {
    let c = ec2().await;
    let name = unique_name("natone");
    let mut dir = PlanDir::new(&name);
    let plan = dir
        .write("nat.toml", &nat_text("single"))
        .to_string_lossy()
        .to_string();
    apply_and_replan(&plan);
    let nats = nats_of(&c, &name).await;
    assert_eq!((nats.len(), addresses_of(&c, &name).await.len()), (1, 1));
    let first = nat_in(&nats, &subnet(&c, &name, "public-a").await);
    let rts = routes(&c, &name).await;
    assert!(
        rts.contains(&("route_table.private".into(), Some(first.clone()), 3)),
        "{rts:?}"
    );

    // single -> per_az: subnets move table in one call each, the first NAT stays.
    let plan = dir
        .write("nat.toml", &nat_text("per_az"))
        .to_string_lossy()
        .to_string();
    let (out, _) = run_expect(2, &["plan", &plan, "--detailed-exitcode"]);
    assert!(
        out.contains("moves to route_table.private-us-east-1b"),
        "{out}"
    );
    assert!(!out.contains("+ nat_gateway.public-a"), "{out}");
    assert!(!out.contains("/+ nat_gateway.public-a"), "{out}");
    apply_and_replan(&plan);
    let nats = nats_of(&c, &name).await;
    assert_eq!(nats.len(), 3);
    assert!(nats
        .iter()
        .any(|n| n.nat_gateway_id() == Some(first.as_str())));
    add_missing_gateway_endpoint_routes(&c, &name).await;
    destroy_leaves_nothing(&c, &plan, &name).await;
    dir.keep();
}

#[tokio::test]
async fn no_nat_means_no_default_route_and_turning_nat_off_releases_everything() {
    let c = ec2().await;
    let name = unique_name("natoff");
    let mut dir = PlanDir::new(&name);
    let plan = dir
        .write("nat.toml", &nat_text("per_az"))
        .to_string_lossy()
        .to_string();
    apply_and_replan(&plan);
    let plan = dir
        .write("nat.toml", &nat_text("none"))
        .to_string_lossy()
        .to_string();
    apply_and_replan(&plan);
    remove_emulator_leftovers(&c, &name).await;
    assert!(nats_of(&c, &name).await.is_empty());
    assert!(
        addresses_of(&c, &name).await.is_empty(),
        "addresses released"
    );
    let rts = routes(&c, &name).await;
    assert_eq!(rts, vec![("route_table.private".to_string(), None, 3)]);
    add_missing_gateway_endpoint_routes(&c, &name).await;
    destroy_leaves_nothing(&c, &plan, &name).await;
    dir.keep();
}
