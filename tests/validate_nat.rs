//! `[egress] nat` and `[egress.public_subnets.*]` validation: every bad input is
//! rejected with file, line, column and field; the valid modes expand to the NAT
//! placement and route tables the resource kinds build.

#[path = "support/validate.rs"]
mod support;

use std::path::Path;

use sagevpc::plan::{validate_source, NatMode};
use support::{accept, assert_diag, edit, pos, reject, reject_one, FILE};

/// Two private subnets in two AZs, and a public subnet in each.
const NAT: &str = r#"name = "n"
region = "us-east-1"

[vpc]
cidr = "10.0.0.0/16"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.0.0.0/24"

[subnets.b]
availability_zone = "us-east-1b"
cidr = "10.0.1.0/24"

[egress]
nat = "per_az"

[egress.public_subnets.public-a]
availability_zone = "us-east-1a"
cidr = "10.0.100.0/24"

[egress.public_subnets.public-b]
availability_zone = "us-east-1b"
cidr = "10.0.101.0/24"
"#;

#[test]
fn per_az_puts_a_nat_in_every_public_subnet_and_a_private_table_per_az() {
    let p = accept(NAT);
    assert_eq!(p.egress.nat, NatMode::PerAz);
    assert!(
        p.wants_internet_gateway(),
        "NAT implies the internet gateway"
    );
    assert_eq!(p.nat_hosts(), vec!["public-a", "public-b"]);
    assert_eq!(
        p.route_table_keys(),
        vec!["private-us-east-1a", "private-us-east-1b", "public"]
    );
    assert_eq!(p.nat_of_table("private-us-east-1b"), Some("public-b"));
    assert_eq!(
        p.table_of_subnet("a").as_deref(),
        Some("private-us-east-1a")
    );
    assert_eq!(p.table_of_subnet("public-b").as_deref(), Some("public"));
    assert_eq!(p.every_subnet().count(), 4);
}

#[test]
fn single_uses_the_first_azs_nat_for_one_private_table() {
    let p = accept(&edit(NAT, "nat = \"per_az\"", "nat = \"single\""));
    assert_eq!(p.egress.nat, NatMode::Single);
    assert_eq!(p.nat_hosts(), vec!["public-a"]);
    assert_eq!(p.route_table_keys(), vec!["private", "public"]);
    assert_eq!(p.nat_of_table("private"), Some("public-a"));
}

#[test]
fn none_is_the_default_and_needs_no_public_subnet() {
    let text = NAT.split("[egress]").next().unwrap().to_string();
    let p = accept(&text);
    assert_eq!(p.egress.nat, NatMode::None);
    assert!(!p.wants_internet_gateway());
    assert!(p.nat_hosts().is_empty());
    assert_eq!(p.route_table_keys(), vec!["private"]);
    assert_eq!(p.nat_of_table("private"), None);
}

#[test]
fn an_unknown_mode_is_located_with_a_suggestion() {
    let text = edit(NAT, "nat = \"per_az\"", "nat = \"per-az\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"per-az\""),
        "egress.nat",
        "is not a NAT mode",
    );
    assert_eq!(d.help.as_deref(), Some("did you mean \"per_az\"?"));
}

#[test]
fn an_az_of_the_private_subnets_without_a_public_subnet_is_named() {
    let text = NAT
        .split("[egress.public_subnets.public-b]")
        .next()
        .unwrap()
        .to_string();
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"per_az\""),
        "egress.nat",
        "private subnet b in us-east-1b needs a public subnet in us-east-1b",
    );
}

#[test]
fn nat_without_any_public_subnet_names_every_az() {
    let text = NAT
        .split("[egress.public_subnets")
        .next()
        .unwrap()
        .to_string();
    match validate_source(Path::new(FILE), &text) {
        Ok(_) => panic!("accepted"),
        Err(e) => {
            assert_eq!(e.diagnostics.len(), 2, "{e}");
            assert!(e.diagnostics.iter().all(|d| d.field == "egress.nat"), "{e}");
        }
    }
}

#[test]
fn a_public_subnet_outside_the_vpc_is_located() {
    let text = edit(NAT, "cidr = \"10.0.101.0/24\"", "cidr = \"10.9.101.0/24\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"10.9.101.0/24\""),
        "egress.public_subnets.public-b.cidr",
        "outside the VPC CIDR 10.0.0.0/16",
    );
}

#[test]
fn a_public_subnet_overlapping_a_private_one_is_located() {
    let text = edit(NAT, "cidr = \"10.0.101.0/24\"", "cidr = \"10.0.1.0/25\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"10.0.1.0/25\""),
        "egress.public_subnets.public-b.cidr",
        "overlaps subnet b (10.0.1.0/24)",
    );
}

#[test]
fn two_public_subnets_overlapping_each_other_are_located() {
    let text = edit(
        NAT,
        "cidr = \"10.0.101.0/24\"",
        "cidr = \"10.0.100.128/25\"",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"10.0.100.128/25\""),
        "egress.public_subnets.public-b.cidr",
        "overlaps public subnet public-a",
    );
}

#[test]
fn two_public_subnets_in_one_az_are_refused() {
    let text = format!(
        "{NAT}\n[egress.public_subnets.public-c]\navailability_zone = \"us-east-1a\"\ncidr = \"10.0.102.0/24\"\n"
    );
    let d = reject_one(&text);
    let at = text.rfind("\"us-east-1a\"").unwrap();
    let line = text[..at].matches('\n').count() + 1;
    assert_eq!(
        (d.line, d.field.as_str()),
        (line, "egress.public_subnets.public-c.availability_zone"),
        "{d}"
    );
    assert!(
        d.message
            .contains("public subnet public-a is already in us-east-1a"),
        "{d}"
    );
}

#[test]
fn a_public_subnet_in_an_az_without_private_subnets_is_refused() {
    let text = edit(
        NAT,
        "availability_zone = \"us-east-1b\"\ncidr = \"10.0.101.0/24\"",
        "availability_zone = \"us-east-1c\"\ncidr = \"10.0.101.0/24\"",
    );
    let diags = validate_source(Path::new(FILE), &text)
        .unwrap_err()
        .diagnostics;
    assert!(
        diags.iter().any(
            |d| d.field == "egress.public_subnets.public-b.availability_zone"
                && d.message.contains("no private subnet is in us-east-1c")
                && (d.line, d.column) == pos(&text, "\"us-east-1c\"")
        ),
        "{diags:?}"
    );
}

#[test]
fn a_public_subnet_may_not_reuse_a_private_subnets_name() {
    let text = edit(
        NAT,
        "[egress.public_subnets.public-b]",
        "[egress.public_subnets.b]",
    );
    let diags = validate_source(Path::new(FILE), &text)
        .unwrap_err()
        .diagnostics;
    assert!(
        diags.iter().any(|d| d.field == "egress.public_subnets.b"
            && d.message.contains("already the name of a private subnet")),
        "{diags:?}"
    );
}

#[test]
fn nat_with_the_internet_gateway_switched_off_is_refused() {
    let text = edit(
        NAT,
        "nat = \"per_az\"",
        "nat = \"per_az\"\ninternet_gateway = false",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "false"),
        "egress.internet_gateway",
        "through the VPC's internet gateway",
    );
}

#[test]
fn public_subnets_without_a_gateway_are_refused() {
    let text = edit(NAT, "nat = \"per_az\"", "nat = \"none\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "public-a]"),
        "egress.public_subnets.public-a",
        "route to an internet gateway",
    );
}

#[test]
fn public_subnets_with_only_an_internet_gateway_are_accepted() {
    let p = accept(&edit(NAT, "nat = \"per_az\"", "internet_gateway = true"));
    assert_eq!(p.egress.nat, NatMode::None);
    assert_eq!(p.route_table_keys(), vec!["private", "public"]);
    assert!(p.nat_hosts().is_empty());
}

// ------------------------------------------------------------ zones by ID

#[test]
fn zones_may_be_given_by_id_and_keep_it_until_resolved() {
    let text = NAT
        .replace("\"us-east-1a\"", "\"use1-az4\"")
        .replace("\"us-east-1b\"", "\"use1-az6\"");
    let p = accept(&text);
    assert_eq!(p.subnets["a"].availability_zone, "use1-az4");
    assert!(sagevpc::plan::zones::uses_ids(&p));
    // The per-AZ checks work on IDs alike: one public subnet per AZ still holds.
    assert_eq!(p.nat_hosts(), vec!["public-a", "public-b"]);
}

#[test]
fn an_id_of_another_region_is_refused_at_its_line() {
    let text = edit(
        NAT,
        "\"us-east-1a\"\ncidr = \"10.0.0.0/24\"",
        "\"usw2-az1\"\ncidr = \"10.0.0.0/24\"",
    );
    let d = reject(&text).remove(0);
    assert_diag(
        &d,
        pos(&text, "\"usw2-az1\""),
        "subnets.a.availability_zone",
        "is not an availability zone ID of region us-east-1 (its IDs start with \"use1-\"",
    );
}

#[test]
fn names_and_ids_are_not_mixed_in_one_plan() {
    let text = edit(
        NAT,
        "\"us-east-1b\"\ncidr = \"10.0.101.0/24\"",
        "\"use1-az6\"\ncidr = \"10.0.101.0/24\"",
    );
    // First the cause; the per-AZ NAT checks that follow from it come after.
    let d = reject(&text).remove(0);
    assert_diag(
        &d,
        pos(&text, "\"use1-az6\""),
        "egress.public_subnets.public-b.availability_zone",
        "gives the zone by ID but subnets.a gives it by name (\"us-east-1a\"): write every availability zone of the plan the same way",
    );
}

#[test]
fn a_name_of_another_region_suggests_both_forms() {
    let text = edit(
        NAT,
        "\"us-east-1a\"\ncidr = \"10.0.0.0/24\"",
        "\"eu-west-1a\"\ncidr = \"10.0.0.0/24\"",
    );
    let d = reject(&text).remove(0);
    assert_diag(
        &d,
        pos(&text, "\"eu-west-1a\""),
        "subnets.a.availability_zone",
        "(give a name such as us-east-1a or an AZ ID such as use1-az1)",
    );
}
