//! Resources named by `id` under the plan's own keys (used, never owned): subnets,
//! security groups, route tables and endpoints. References to those keys become the
//! ids; every misuse is refused with file, line, column and field.

#[path = "support/validate.rs"]
mod support;

use sagevpc::model::Peer;
use sagevpc::plan::Ref;
use support::*;

/// An adopted VPC with one subnet, one group, one route table and the sts endpoint
/// that exist, beside a subnet and a group the plan creates.
const PLAN: &str = r#"name = "brown"
region = "us-east-1"

[vpc]
id = "vpc-0123456789abcdef0"

[subnets.legacy-a]
id = "subnet-0aaaaaaaaaaaaaaaa"

[subnets.new-b]
availability_zone = "us-east-1b"
cidr = "10.0.1.0/24"

[security_groups.clients]
id = "sg-0cccccccccccccccc"

[security_groups.endpoints]
description = "Endpoints"
ingress = [{ from = "clients", protocol = "tcp", ports = "443" }]

[route_tables.legacy]
id = "rtb-0dddddddddddddddd"

[gateway_endpoints.s3]
route_tables = ["legacy"]

[existing_endpoints]
sts = "vpce-0eeeeeeeeeeeeeeee"

[interface_endpoints]
services = ["sagemaker.api", "sagemaker.runtime"]
subnets = ["legacy-a", "new-b"]
security_groups = ["endpoints", "clients"]
"#;

#[test]
fn references_to_existing_keys_become_their_ids() {
    let p = accept(PLAN);
    assert_eq!(p.existing.subnets["legacy-a"], "subnet-0aaaaaaaaaaaaaaaa");
    assert_eq!(
        p.existing.security_groups["clients"],
        "sg-0cccccccccccccccc"
    );
    assert_eq!(p.existing.route_tables["legacy"], "rtb-0dddddddddddddddd");
    assert_eq!(p.existing.endpoints["sts"], "vpce-0eeeeeeeeeeeeeeee");
    // Not owned: neither created nor among the plan's own subnets and groups.
    assert!(!p.subnets.contains_key("legacy-a"));
    assert!(!p.security_groups.contains_key("clients"));
    let api = &p.interface_endpoints["sagemaker.api"];
    assert!(api
        .subnets
        .contains(&Ref::Id("subnet-0aaaaaaaaaaaaaaaa".into())));
    assert!(api.subnets.contains(&Ref::Key("new-b".into())));
    assert!(api
        .security_groups
        .contains(&Ref::Id("sg-0cccccccccccccccc".into())));
    let rule = p.security_groups["endpoints"].rules.iter().next().unwrap();
    assert_eq!(rule.peer, Peer::ForeignGroup("sg-0cccccccccccccccc".into()));
    assert_eq!(
        p.gateway_endpoints["s3"].route_tables,
        ["rtb-0dddddddddddddddd"]
    );
}

#[test]
fn an_existing_resource_needs_a_vpc_that_exists() {
    let text = edit(
        PLAN,
        "id = \"vpc-0123456789abcdef0\"",
        "cidr = \"10.0.0.0/16\"",
    );
    let d = reject(&text);
    // One error per existing resource, none for the references to them.
    assert_eq!(d.len(), 4, "{d:#?}");
    assert_diag(
        &d[0],
        pos(&text, "\"subnet-0aaaaaaaaaaaaaaaa\""),
        "subnets.legacy-a.id",
        "the plan creates its VPC, which holds only what the plan creates: name the VPC by id too",
    );
}

#[test]
fn a_subnet_by_id_takes_no_zone_or_cidr_and_a_new_one_needs_both() {
    let text = edit(
        PLAN,
        "id = \"subnet-0aaaaaaaaaaaaaaaa\"",
        "id = \"subnet-0aaaaaaaaaaaaaaaa\"\ncidr = \"10.0.9.0/24\"",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"10.0.9.0/24\""),
        "subnets.legacy-a.cidr",
        "a subnet named by id is used as it is: remove `cidr`",
    );

    let text = edit(PLAN, "cidr = \"10.0.1.0/24\"\n", "");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "[subnets.new-b]"),
        "subnets.new-b",
        "missing field `cidr`",
    );
    assert_eq!(
        d.help.as_deref(),
        Some("add `cidr = ...` to [subnets.new-b]")
    );
}

#[test]
fn a_group_by_id_has_no_rules_of_its_own() {
    let text = edit(
        PLAN,
        "id = \"sg-0cccccccccccccccc\"",
        "id = \"sg-0cccccccccccccccc\"\ningress = [{ from = \"self\", protocol = \"all\" }]",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "{ from = \"self\""),
        "security_groups.clients.ingress",
        "sagevpc never changes its rules",
    );

    let text = edit(PLAN, "description = \"Endpoints\"\n", "");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "[security_groups.endpoints]"),
        "security_groups.endpoints",
        "missing field `description`",
    );
}

#[test]
fn ids_must_look_like_ids_and_be_named_once() {
    let text = edit(PLAN, "rtb-0dddddddddddddddd", "rtb-nothex");
    let d = reject(&text);
    assert_diag(
        &d[0],
        pos(&text, "\"rtb-nothex\""),
        "route_tables.legacy.id",
        "is not a route table id",
    );

    let text = edit(
        PLAN,
        "[route_tables.legacy]",
        "[subnets.again]\nid = \"subnet-0aaaaaaaaaaaaaaaa\"\n\n[route_tables.legacy]",
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "subnets.legacy-a.id", "{d}");
    assert!(
        d.message
            .contains("subnet-0aaaaaaaaaaaaaaaa is named already by subnets.again.id"),
        "{d}"
    );
}

#[test]
fn an_existing_endpoint_is_a_known_service_the_plan_does_not_also_create() {
    // A name with a dot is quoted (TOML reads sagemaker.api = ... as a dotted key).
    let text = edit(PLAN, "sts = ", "\"sagemaker.api\" = ");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"sagemaker.api\" = "),
        "existing_endpoints.sagemaker.api",
        "the plan also creates an endpoint for sagemaker.api",
    );

    let text = edit(PLAN, "sts = ", "stss = ");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "stss = "),
        "existing_endpoints.stss",
        "unknown endpoint service \"stss\" (did you mean \"sts\"?)",
    );

    let text = edit(PLAN, "vpce-0eeeeeeeeeeeeeeee", "vpc-0eeeeeeeeeeeeeeee");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"vpc-0eeeeeeeeeeeeeeee\""),
        "existing_endpoints.sts",
        "is not an endpoint id",
    );
}

#[test]
fn an_unknown_route_table_key_is_refused() {
    let text = edit(
        PLAN,
        "route_tables = [\"legacy\"]",
        "route_tables = [\"legacyy\"]",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"legacyy\""),
        "gateway_endpoints.s3.route_tables[0]",
        "is neither a key of [route_tables] nor a route table id",
    );
}
