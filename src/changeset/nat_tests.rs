//! NAT egress against the in-memory cloud: all three modes converge and re-plan empty,
//! mode changes move subnets between tables in one call each, drift is repaired, and
//! destroy releases every address only after its NAT gateway is gone.

use std::sync::Arc;

use super::tests::{actions, converge, plan_from, quiet};
use super::*;
use crate::execute::fake::FakeCloud;
use crate::execute::{execute, ExecOptions};
use crate::plan::Plan;
use crate::resources::{internet_gateway, route_table_association};

const STUDIO: &str = include_str!("../../plans/studio-domain.toml");

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

/// The Studio domain plan with `nat = <mode>` (none: no `[egress]` at all).
fn nat_plan(name: &str, mode: &str) -> Plan {
    let base = STUDIO.replace("name = \"ml-studio-demo\"", &format!("name = \"{name}\""));
    assert!(
        base.contains(&format!("name = \"{name}\"")),
        "test bug: plan name"
    );
    if mode == "none" {
        return plan_from(&base);
    }
    plan_from(&format!("{base}\n[egress]\nnat = \"{mode}\"\n{PUBLIC}"))
}

fn world(cloud: &FakeCloud) -> crate::execute::fake::World {
    cloud.world.lock().unwrap().clone()
}

/// The default route of the table tagged `key`, and the ids of its subnets.
fn table(w: &crate::execute::fake::World, key: &str) -> (Option<String>, Vec<String>) {
    let rt = w
        .route_tables
        .iter()
        .find(|r| r.tags.get("sagevpc:key").map(String::as_str) == Some(key))
        .unwrap_or_else(|| panic!("no {key}"));
    (
        rt.routes
            .iter()
            .find(|r| r.destination == "0.0.0.0/0")
            .map(|r| r.target.clone()),
        rt.associations
            .iter()
            .map(|a| a.subnet_id.clone())
            .collect(),
    )
}

fn subnet_id(w: &crate::execute::fake::World, key: &str) -> String {
    let tag = format!("subnet.{key}");
    w.subnets
        .iter()
        .find(|s| s.tags["sagevpc:key"] == tag)
        .map(|s| s.id.clone())
        .unwrap()
}

fn nat_in(w: &crate::execute::fake::World, subnet: &str) -> String {
    w.nat_gateways
        .iter()
        .find(|n| n.subnet_id == subnet)
        .map(|n| n.id.clone())
        .unwrap_or_else(|| panic!("no NAT gateway in {subnet}"))
}

#[tokio::test]
async fn per_az_routes_each_azs_private_table_to_its_own_nat_and_replans_empty() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = nat_plan("nat1", "per_az");
    let cs = converge(&cloud, &plan).await;
    let added: Vec<String> = actions(&cs).into_iter().map(|(a, _)| a).collect();
    for a in [
        "internet_gateway.main",
        "subnet.public-b",
        "elastic_ip.public-b",
        "nat_gateway.public-b",
        "route_table.public",
        "route_table.private-us-east-1b",
        "route.public",
        "route.private-us-east-1b",
        "route_table_association.public-b",
    ] {
        assert!(added.contains(&a.to_string()), "{a} not in {added:?}");
    }
    let w = world(&cloud);
    assert_eq!((w.nat_gateways.len(), w.addresses.len()), (3, 3));
    for (az, private, public) in [
        ("a", "private-a", "public-a"),
        ("b", "private-b", "public-b"),
        ("c", "private-c", "public-c"),
    ] {
        let (route, subnets) = table(&w, &format!("route_table.private-us-east-1{az}"));
        assert_eq!(subnets, vec![subnet_id(&w, private)]);
        assert_eq!(route, Some(nat_in(&w, &subnet_id(&w, public))), "AZ {az}");
    }
    let (route, subnets) = table(&w, "route_table.public");
    assert_eq!(route, Some(w.internet_gateways[0].id.clone()));
    assert_eq!(subnets.len(), 3);
    // Every address is tagged with the plan, and serves its NAT gateway.
    for a in &w.addresses {
        assert_eq!(a.tags["sagevpc:plan"], "nat1");
        assert!(a.association_id.is_some(), "{a:?}");
    }
    // The S3 gateway endpoint is on every private table, not the public one.
    let s3 = w
        .endpoints
        .iter()
        .find(|e| e.service_name.ends_with(".s3"))
        .unwrap();
    assert_eq!(s3.route_table_ids.len(), 3);
    // NAT gateways are created only once the internet gateway is attached.
    let attach = cs
        .nodes
        .iter()
        .position(|n| {
            matches!(
                n.op,
                Op::InternetGateway(internet_gateway::Op::Attach { .. })
            )
        })
        .unwrap();
    for n in cs
        .nodes
        .iter()
        .filter(|n| n.op.api_name() == "CreateNatGateway")
    {
        assert!(n.deps.contains(&attach), "{n:?}");
    }
}

#[tokio::test]
async fn single_routes_every_private_subnet_to_the_first_azs_nat() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = nat_plan("nat2", "single");
    converge(&cloud, &plan).await;
    let w = world(&cloud);
    assert_eq!((w.nat_gateways.len(), w.addresses.len()), (1, 1));
    let (route, subnets) = table(&w, "route_table.private");
    assert_eq!(subnets.len(), 3);
    assert_eq!(route, Some(nat_in(&w, &subnet_id(&w, "public-a"))));
}

#[tokio::test]
async fn single_to_per_az_moves_subnets_in_one_call_each_and_keeps_the_first_nat() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &nat_plan("nat3", "single")).await;
    let first = world(&cloud).nat_gateways[0].id.clone();
    let plan = nat_plan("nat3", "per_az");
    let cs = converge(&cloud, &plan).await;
    let acts = actions(&cs);
    assert!(
        acts.contains(&("route_table_association.private-b".into(), Action::Update)),
        "{acts:?}"
    );
    assert!(
        acts.contains(&("route_table.private".into(), Action::Delete)),
        "{acts:?}"
    );
    assert!(
        !acts.iter().any(|(a, _)| a == "nat_gateway.public-a"),
        "{acts:?}"
    );
    // No subnet is ever left without a table: moves, never disassociate + associate.
    assert!(!cs.nodes.iter().any(|n| matches!(
        n.op,
        Op::RouteTableAssociation(route_table_association::Op::Disassociate { .. })
    )));
    let moves = cs
        .nodes
        .iter()
        .filter(|n| n.op.api_name() == "ReplaceRouteTableAssociation")
        .count();
    assert_eq!(moves, 3);
    let change = cs
        .changes
        .iter()
        .find(|c| c.address.to_string() == "route_table_association.private-a")
        .unwrap();
    assert!(
        change.reasons[0].contains("moves to route_table.private-us-east-1a"),
        "{change:?}"
    );
    let w = world(&cloud);
    assert!(w.nat_gateways.iter().any(|n| n.id == first));
    assert_eq!(w.nat_gateways.len(), 3);
    // And back: the extra NAT gateways go, their addresses are released.
    converge(&cloud, &nat_plan("nat3", "single")).await;
    let w = world(&cloud);
    assert_eq!((w.nat_gateways.len(), w.addresses.len()), (1, 1));
    assert_eq!(w.nat_gateways[0].id, first);
}

#[tokio::test]
async fn switching_nat_off_deletes_gateways_before_their_addresses_and_the_internet_gateway() {
    let cloud = Arc::new(FakeCloud::default());
    converge(&cloud, &nat_plan("nat4", "per_az")).await;
    let plan = nat_plan("nat4", "none");
    converge(&cloud, &plan).await;
    let w = world(&cloud);
    assert!(w.nat_gateways.is_empty() && w.addresses.is_empty() && w.internet_gateways.is_empty());
    assert_eq!(w.subnets.len(), 3);
    let (route, subnets) = table(&w, "route_table.private");
    assert_eq!((route, subnets.len()), (None, 3));
}

#[tokio::test]
async fn a_route_removed_and_a_nat_deleted_by_hand_are_restored() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = nat_plan("nat5", "per_az");
    converge(&cloud, &plan).await;
    {
        let mut w = cloud.world.lock().unwrap();
        let rt = w
            .route_tables
            .iter_mut()
            .find(|r| r.tags["sagevpc:key"] == "route_table.private-us-east-1a")
            .unwrap();
        rt.routes.retain(|r| r.destination != "0.0.0.0/0");
    }
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    assert_eq!(
        actions(&cs),
        vec![("route.private-us-east-1a".to_string(), Action::Create)]
    );
    assert!(cs
        .changes
        .iter()
        .any(|c| c.reasons.iter().any(|r| r.contains("route removed"))));
    converge(&cloud, &plan).await;
    // A NAT gateway deleted by hand: a new one, and the route goes to it in place.
    let gone = {
        let mut w = cloud.world.lock().unwrap();
        let n = w.nat_gateways.remove(1);
        for a in &mut w.addresses {
            if Some(&a.id) == n.allocation_id.as_ref() {
                a.association_id = None;
            }
        }
        n
    };
    let cs = converge(&cloud, &plan).await;
    let acts = actions(&cs);
    assert!(
        acts.iter()
            .any(|(a, act)| a.starts_with("nat_gateway.") && *act == Action::Create),
        "{acts:?}"
    );
    assert!(
        acts.iter()
            .any(|(a, act)| a.starts_with("route.private-") && *act == Action::Update),
        "{acts:?}"
    );
    assert!(cs.nodes.iter().any(|n| n.op.api_name() == "ReplaceRoute"));
    let w = world(&cloud);
    assert!(!w
        .route_tables
        .iter()
        .flat_map(|r| &r.routes)
        .any(|r| r.target == gone.id));
    assert_eq!(w.nat_gateways.len(), 3);
}

#[tokio::test]
async fn destroy_releases_every_address_and_leaves_nothing() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = nat_plan("nat6", "per_az");
    converge(&cloud, &plan).await;
    let cs = destroy(&plan, &cloud.observe(&plan)).unwrap();
    let report = execute(&cs, cloud.clone(), &ExecOptions::default(), &quiet()).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let w = world(&cloud);
    assert!(w.addresses.is_empty() && w.nat_gateways.is_empty(), "{w:?}");
    assert_eq!(cloud.counts(), [0, 0, 0, 0, 0]);
    assert!(w.internet_gateways.is_empty());
    assert!(destroy(&plan, &cloud.observe(&plan)).unwrap().is_empty());
    // A release waits for its NAT gateway's delete; the detach for every NAT gateway.
    let pos = |api: &str| {
        cs.nodes
            .iter()
            .position(|n| n.op.api_name() == api)
            .unwrap()
    };
    let release = &cs.nodes[pos("ReleaseAddress")];
    assert!(release
        .deps
        .iter()
        .any(|&d| cs.nodes[d].op.api_name() == "DeleteNatGateway"));
    let detach = &cs.nodes[pos("DetachInternetGateway")];
    let nat_deletes = detach
        .deps
        .iter()
        .filter(|&&d| cs.nodes[d].op.api_name() == "DeleteNatGateway")
        .count();
    assert_eq!(nat_deletes, 3, "{detach:?}");
}
