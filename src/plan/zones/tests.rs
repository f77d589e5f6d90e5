use std::path::Path;

use super::*;
use crate::plan::validate_source;

fn zones() -> Vec<Zone> {
    [
        ("us-east-1a", "use1-az6"),
        ("us-east-1b", "use1-az1"),
        ("us-east-1c", "use1-az2"),
    ]
    .iter()
    .map(|(n, i)| Zone {
        name: n.to_string(),
        id: i.to_string(),
    })
    .collect()
}

fn plan(az_a: &str, az_b: &str) -> Plan {
    let text = format!(
        r#"
name = "z"
region = "us-east-1"
[vpc]
cidr = "10.0.0.0/16"
[subnets.a]
availability_zone = "{az_a}"
cidr = "10.0.0.0/24"
[subnets.b]
availability_zone = "{az_b}"
cidr = "10.0.1.0/24"
[egress]
nat = "per_az"
[egress.public_subnets.pub-a]
availability_zone = "{az_a}"
cidr = "10.0.100.0/24"
[egress.public_subnets.pub-b]
availability_zone = "{az_b}"
cidr = "10.0.101.0/24"
"#
    );
    validate_source(Path::new("z.toml"), &text).unwrap()
}

#[test]
fn zone_ids_are_told_from_names() {
    assert!(is_zone_id("use1-az1"));
    assert!(is_zone_id("usw2-lax1-az1"));
    assert!(is_zone_id("apse2-az3"));
    assert!(!is_zone_id("us-east-1a"));
    assert!(!is_zone_id("use1-az"));
    assert!(!is_zone_id("use1-azx"));
    assert!(!is_zone_id("USE1-az1"));
}

#[test]
fn id_prefixes_follow_the_region_name() {
    assert_eq!(id_prefix("us-east-1").as_deref(), Some("use1"));
    assert_eq!(id_prefix("ap-southeast-2").as_deref(), Some("apse2"));
    assert_eq!(id_prefix("eu-central-1").as_deref(), Some("euc1"));
    assert_eq!(id_prefix("us-gov-west-1").as_deref(), Some("usgw1"));
    assert_eq!(id_prefix("xx-mars-1"), None);
}

#[test]
fn an_id_of_another_region_is_refused_with_the_right_prefix() {
    assert!(check("us-east-1", "use1-az4").is_ok());
    assert!(check("us-east-1", "us-east-1f").is_ok());
    let e = check("us-east-1", "usw2-az1").unwrap_err();
    assert!(e.contains("start with \"use1-\""), "{e}");
    let e = check("us-east-1", "eu-west-1a").unwrap_err();
    assert!(e.contains("use1-az1"), "{e}");
}

#[test]
fn ids_become_this_accounts_names_and_keep_the_id() {
    let mut p = plan("use1-az1", "use1-az2");
    assert!(uses_ids(&p));
    resolve(&mut p, &zones()).unwrap();
    assert!(!uses_ids(&p));
    assert_eq!(p.subnets["a"].availability_zone, "us-east-1b");
    assert_eq!(p.subnets["a"].zone_id.as_deref(), Some("use1-az1"));
    assert_eq!(p.subnets["b"].availability_zone, "us-east-1c");
    assert_eq!(
        p.egress.public_subnets["pub-b"].availability_zone,
        "us-east-1c"
    );
    // Per-AZ route tables are keyed by the name, however the plan wrote the zone.
    assert_eq!(
        p.route_table_keys(),
        ["private-us-east-1b", "private-us-east-1c", "public"]
    );
}

#[test]
fn an_unknown_id_names_the_field_and_lists_the_zones() {
    let mut p = plan("use1-az1", "use1-az9");
    let problems = resolve(&mut p, &zones()).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(
        problems[0],
        "subnets.b.availability_zone: use1-az9 is not an available zone of us-east-1 for this account; its zones are: use1-az1 (us-east-1b), use1-az2 (us-east-1c), use1-az6 (us-east-1a)"
    );
    assert!(problems[1].starts_with("egress.public_subnets.pub-b.availability_zone: use1-az9"));
}

#[test]
fn a_plan_of_names_is_left_as_it_is() {
    let mut p = plan("us-east-1a", "us-east-1b");
    let before = p.clone();
    assert!(!uses_ids(&p));
    resolve(&mut p, &zones()).unwrap();
    assert_eq!(p.subnets, before.subnets);
}
