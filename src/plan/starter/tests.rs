use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ipnet::Ipv4Net;

use super::*;

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn zones(names: &[&str]) -> Vec<String> {
    names.iter().map(|z| z.to_string()).collect()
}

/// Every starter service offered in `azs`, and `sts` only in `sts_azs`.
fn offered(region: &str, azs: &[&str], sts_azs: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    INTERFACE_SERVICES
        .iter()
        .map(|s| {
            let set = if *s == "sts" { sts_azs } else { azs };
            (
                service_name(region, s),
                set.iter().map(|z| z.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn cidr_picker_skips_every_overlap() {
    assert_eq!(pick_cidr(&[]), Some(net("10.0.0.0/16")));
    // The default VPC's 172.31/16 is no obstacle.
    assert_eq!(
        pick_cidr(&[net("172.31.0.0/16"), net("10.0.0.0/16")]),
        Some(net("10.1.0.0/16"))
    );
    // A smaller block inside a /16 takes it; a larger one takes all it covers.
    assert_eq!(
        pick_cidr(&[net("10.0.5.0/24"), net("10.1.0.0/17"), net("10.2.0.0/15")]),
        Some(net("10.4.0.0/16"))
    );
    assert_eq!(pick_cidr(&[net("10.0.0.0/8")]), None);
    assert_eq!(pick_cidr(&[net("0.0.0.0/0")]), None);
    let all: Vec<Ipv4Net> = (0..=255u8)
        .filter(|&x| x != 200)
        .map(|x| Ipv4Net::new([10, x, 0, 0].into(), 16).unwrap())
        .collect();
    assert_eq!(pick_cidr(&all), Some(net("10.200.0.0/16")));
}

#[test]
fn zone_picker_keeps_zones_offering_every_service() {
    let region = "us-east-1";
    let all = [
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
        "us-east-1d",
        "us-east-1e",
    ];
    // sts is not in 1b: the first three of the others, in name order.
    let got = pick_zones(
        region,
        &zones(&[
            "us-east-1e",
            "us-east-1d",
            "us-east-1c",
            "us-east-1b",
            "us-east-1a",
        ]),
        &offered(
            region,
            &all,
            &["us-east-1a", "us-east-1c", "us-east-1d", "us-east-1e"],
        ),
    );
    assert_eq!(
        got.unwrap(),
        zones(&["us-east-1a", "us-east-1c", "us-east-1d"])
    );
    // A zone the services list but the region does not (unavailable) is left out.
    let got = pick_zones(
        region,
        &zones(&["us-east-1a", "us-east-1b"]),
        &offered(region, &all, &all),
    );
    assert_eq!(got.unwrap(), zones(&["us-east-1a", "us-east-1b"]));
}

#[test]
fn zone_picker_says_what_is_missing() {
    let region = "eu-west-3";
    let z = zones(&["eu-west-3a", "eu-west-3b"]);
    let mut o = offered(region, &["eu-west-3a", "eu-west-3b"], &["eu-west-3a"]);
    let e = pick_zones(region, &z, &o).unwrap_err();
    assert!(e.contains("1 availability zone offering all of"), "{e}");
    o.remove(&service_name(region, "studio"));
    let e = pick_zones(region, &z, &o).unwrap_err();
    assert!(
        e.contains("does not offer the endpoint service studio"),
        "{e}"
    );
    assert!(e.contains("sagevpc services --region eu-west-3"), "{e}");
}

fn starter() -> Starter {
    Starter {
        name: "ml-platform".into(),
        region: "eu-central-1".into(),
        vpc_cidr: net("10.3.0.0/16"),
        zones: zones(&["eu-central-1a", "eu-central-1b", "eu-central-1c"]),
    }
}

#[test]
fn starter_plan_validates() {
    for n in [2, 3] {
        let mut s = starter();
        s.zones.truncate(n);
        let text = render(&s);
        let plan = crate::plan::validate_source(Path::new("init.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(plan.subnets.len(), n);
        assert_eq!(plan.interface_endpoints.len(), INTERFACE_SERVICES.len());
        assert_eq!(plan.region, "eu-central-1");
        assert_eq!(
            plan.vpc,
            crate::plan::VpcSpec::Owned {
                cidr: net("10.3.0.0/16")
            }
        );
    }
}

#[test]
fn starter_plan_text() {
    insta::assert_snapshot!(render(&starter()));
}
