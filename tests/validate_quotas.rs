//! `[quotas]` and the plan's own counts against the quotas' values (the plan's, else
//! AWS's defaults), with no AWS call: exact messages, file, line, column and field.

#[path = "support/validate.rs"]
mod support;

use std::path::Path;

use sagevpc::plan::{validate_source, Diagnostic};
use sagevpc::quotas::Quota;
use support::{accept, pos, reject_one, FILE};

const BASE: &str = r#"name = "q"
region = "us-east-1"

[vpc]
cidr = "10.0.0.0/16"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.0.0.0/24"

[security_groups.endpoints]
description = "Interface endpoints"
ingress = [{ from = "10.0.0.0/16", protocol = "tcp", ports = "443" }]

[interface_endpoints]
services = ["sts", "logs"]
subnets = ["a"]
security_groups = ["endpoints"]
"#;

fn at(d: &Diagnostic, text: &str, needle: &str, field: &str) {
    assert_eq!((d.line, d.column), pos(text, needle), "{d}");
    assert_eq!(d.field, field, "{d}");
    assert_eq!(d.file, Path::new(FILE));
}

/// `n` inbound rules from distinct /32s.
fn ingress(n: usize) -> String {
    let rules: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{{ from = \"10.1.{}.{}/32\", protocol = \"tcp\", ports = \"443\" }}",
                i / 250,
                i % 250
            )
        })
        .collect();
    format!("ingress = [{}]", rules.join(", "))
}

fn with_endpoint_ingress(n: usize) -> String {
    BASE.replace(
        r#"ingress = [{ from = "10.0.0.0/16", protocol = "tcp", ports = "443" }]"#,
        &ingress(n),
    )
}

#[test]
fn the_quotas_table_is_read_into_the_plan() {
    let text = format!("{BASE}\n[quotas]\ninterface_endpoints_per_vpc = 100\nsubnets_per_vpc = 300\nrules_per_security_group = 100\nsecurity_groups_per_network_interface = 10\n");
    let p = accept(&text);
    assert_eq!(p.quotas[&Quota::InterfaceEndpointsPerVpc], 100);
    assert_eq!(p.quotas[&Quota::SubnetsPerVpc], 300);
    assert_eq!(p.quotas[&Quota::RulesPerSecurityGroup], 100);
    assert_eq!(p.quotas[&Quota::SecurityGroupsPerNetworkInterface], 10);
    assert!(accept(BASE).quotas.is_empty());
}

#[test]
fn an_unknown_quota_key_is_refused_with_the_one_meant() {
    let text = format!("{BASE}\n[quotas]\nsubnet_per_vpc = 300\n");
    let d = reject_one(&text);
    at(&d, &text, "subnet_per_vpc", "quotas.subnet_per_vpc");
    assert!(
        d.message.starts_with("unknown field `subnet_per_vpc`"),
        "{d}"
    );
    assert_eq!(d.help.as_deref(), Some("did you mean \"subnets_per_vpc\"?"));
}

#[test]
fn a_quota_must_be_a_positive_whole_number() {
    let text = format!("{BASE}\n[quotas]\nsubnets_per_vpc = 0\n");
    let d = reject_one(&text);
    at(&d, &text, "0\n", "quotas.subnets_per_vpc");
    assert_eq!(
        d.message,
        "0 is not a quota: give a positive whole number (AWS's default for \"Subnets per VPC\" (vpc/L-407747CB) is 200)"
    );
    let text = format!("{BASE}\n[quotas]\nsubnets_per_vpc = \"many\"\n");
    let d = reject_one(&text);
    assert!(d.message.contains("invalid type: string"), "{d}");
}

#[test]
fn groups_per_interface_stop_at_sixteen() {
    let text = format!("{BASE}\n[quotas]\nsecurity_groups_per_network_interface = 17\n");
    let d = reject_one(&text);
    at(
        &d,
        &text,
        "17",
        "quotas.security_groups_per_network_interface",
    );
    assert_eq!(
        d.message,
        "AWS raises \"Security groups per network interface\" (vpc/L-2AFB9258) to at most 16, not 17"
    );
}

#[test]
fn the_product_of_rules_and_groups_may_not_pass_1000() {
    let text = format!("{BASE}\n[quotas]\nrules_per_security_group = 250\n");
    let d = reject_one(&text);
    at(&d, &text, "[quotas]", "quotas");
    assert_eq!(
        d.message,
        "AWS keeps (rules per security group) × (security groups per network interface) at most 1000, but \"Inbound or outbound rules per security group\" (vpc/L-0EA8095F) is 250 (from the plan's [quotas]) and \"Security groups per network interface\" (vpc/L-2AFB9258) is 5 (AWS's default): 250 × 5 = 1250; raising one quota lowers the other"
    );
    let ok = format!("{BASE}\n[quotas]\nrules_per_security_group = 100\nsecurity_groups_per_network_interface = 10\n");
    accept(&ok);
}

#[test]
fn a_group_with_61_inbound_rules_passes_the_default() {
    let text = with_endpoint_ingress(61);
    let d = reject_one(&text);
    at(&d, &text, "endpoints]", "security_groups.endpoints");
    assert_eq!(
        d.message,
        "inbound IPv4 rules of security group endpoints: 61, more than the 60 of quota \"Inbound or outbound rules per security group\" (vpc/L-0EA8095F) (AWS's default); AWS counts one rule per peer (each CIDR, group and prefix list)"
    );
    assert_eq!(
        d.help.as_deref(),
        Some("raise \"Inbound or outbound rules per security group\" (vpc/L-0EA8095F) in Service Quotas, then give the new value as `rules_per_security_group = ...` under [quotas]")
    );
    accept(&with_endpoint_ingress(60));
    accept(&format!(
        "{}\n[quotas]\nrules_per_security_group = 61\n",
        with_endpoint_ingress(61)
    ));
}

#[test]
fn more_than_five_groups_on_an_endpoint_pass_the_default() {
    let mut text = BASE.to_string();
    for g in ["g1", "g2", "g3", "g4", "g5"] {
        text.push_str(&format!("\n[security_groups.{g}]\ndescription = \"{g}\"\n"));
    }
    let text = text.replace(
        r#"security_groups = ["endpoints"]"#,
        r#"security_groups = ["endpoints", "g1", "g2", "g3", "g4", "g5"]"#,
    );
    let e = validate_source(Path::new(FILE), &text).unwrap_err();
    // One for each endpoint (every interface endpoint carries the same groups).
    assert_eq!(e.diagnostics.len(), 2, "{e}");
    let d = &e.diagnostics[0];
    at(
        d,
        &text,
        "\"endpoints\", \"g1\"",
        "interface_endpoints.security_groups",
    );
    assert_eq!(
        d.message,
        "security groups on interface endpoint logs's network interfaces: 6, more than the 5 of quota \"Security groups per network interface\" (vpc/L-2AFB9258) (AWS's default); security_group.endpoints, security_group.g1, security_group.g2, security_group.g3, security_group.g4, security_group.g5"
    );
    accept(&format!(
        "{text}\n[quotas]\nsecurity_groups_per_network_interface = 6\n"
    ));
}

#[test]
fn more_endpoints_than_a_vpc_holds_are_named() {
    let text = format!("{BASE}\n[quotas]\ninterface_endpoints_per_vpc = 1\n");
    let d = reject_one(&text);
    at(
        &d,
        &text,
        "[\"sts\", \"logs\"]",
        "interface_endpoints.services",
    );
    assert_eq!(
        d.message,
        "interface endpoints in the plan's VPC: 2, more than the 1 of quota \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB) (from the plan's [quotas]); the plan's 2 (interface_endpoint.logs, interface_endpoint.sts)"
    );
}

#[test]
fn more_subnets_than_a_vpc_holds_are_named() {
    let text = format!("{BASE}\n[subnets.b]\navailability_zone = \"us-east-1b\"\ncidr = \"10.0.1.0/24\"\n\n[quotas]\nsubnets_per_vpc = 1\n");
    let d = reject_one(&text);
    at(&d, &text, "a]", "subnets");
    assert_eq!(
        d.message,
        "subnets in the plan's VPC: 2, more than the 1 of quota \"Subnets per VPC\" (vpc/L-407747CB) (from the plan's [quotas]); the plan's 2 (subnet.a, subnet.b)"
    );
}

#[test]
fn a_studio_users_apps_carry_the_users_the_domains_and_sagemakers_groups() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/studio-domain.toml");
    let shipped = std::fs::read_to_string(&path).unwrap();
    let text = format!("{shipped}\n[quotas]\nsecurity_groups_per_network_interface = 2\n");
    let e = validate_source(&path, &text).unwrap_err();
    let d = e
        .diagnostics
        .iter()
        .find(|d| d.field == "studio.user_profiles.alice")
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!((d.line, d.column), pos(&text, "alice]"), "{d}");
    assert_eq!(
        d.message,
        "security groups on Studio user alice's apps' network interfaces: 3, more than the 2 of quota \"Security groups per network interface\" (vpc/L-2AFB9258) (from the plan's [quotas]); security_group.studio, security_group.user-alice, the NFS group SageMaker adds"
    );
}

#[test]
fn the_studio_client_group_is_shared_once_the_plans_rules_quota_would_pass() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/studio-domain.toml");
    let shipped = std::fs::read_to_string(&path).unwrap();
    assert!(
        !validate_source(&path, &shipped)
            .unwrap()
            .studio
            .unwrap()
            .shared_client_group
    );
    // Two users and the domain's group: 3 rules from Studio beside the group's own; at
    // the plan's 2 the endpoints admit one shared client group (which then has too
    // many outbound rules itself, like every other group here).
    let text = format!("{shipped}\n[quotas]\nrules_per_security_group = 2\n");
    let e = validate_source(&path, &text).unwrap_err().to_string();
    assert!(
        e.contains("rules of security group studio-clients: 3"),
        "{e}"
    );
}
