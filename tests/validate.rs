//! Plan validation through the library API: every bad input is rejected with a
//! diagnostic naming file, 1-based line and column, the field path and the problem;
//! the shipped example plans validate and expand to the expected resources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sagevpc::model::{Direction, Peer, Protocol, Rule};
use sagevpc::plan::{validate_source, Diagnostic, Plan, Ref, VpcSpec};

/// A small valid plan (no policy file, so it validates from any path).
const BASE: &str = r#"name = "t"
region = "us-east-1"

[vpc]
cidr = "10.0.0.0/16"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.0.0.0/24"

[subnets.b]
availability_zone = "us-east-1b"
cidr = "10.0.1.0/24"

[security_groups.workloads]
description = "Workloads"
ingress = [{ from = "self", protocol = "all" }]

[security_groups.endpoints]
description = "Endpoints"
ingress = [{ from = "workloads", protocol = "tcp", ports = "443" }]

[interface_endpoints]
services = ["sagemaker.api", "sagemaker.runtime"]
subnets = ["a", "b"]
security_groups = ["endpoints"]
"#;

const FILE: &str = "/plans/test-plan.toml";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `text` with the single occurrence of `from` replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "test bug: {from:?} must occur exactly once in the plan"
    );
    text.replacen(from, to, 1)
}

/// Every diagnostic of a plan that must be rejected.
fn reject(text: &str) -> Vec<Diagnostic> {
    match validate_source(Path::new(FILE), text) {
        Ok(p) => panic!("plan was accepted but must be rejected:\n{text}\n=> {p:#?}"),
        Err(e) => {
            assert!(!e.diagnostics.is_empty(), "an error without diagnostics");
            for d in &e.diagnostics {
                assert_eq!(d.file, Path::new(FILE), "{d}");
            }
            e.diagnostics
        }
    }
}

/// The only diagnostic of a plan that has exactly one problem.
fn reject_one(text: &str) -> Diagnostic {
    let d = reject(text);
    assert_eq!(d.len(), 1, "expected exactly one diagnostic, got:\n{d:#?}");
    d.into_iter().next().unwrap()
}

fn accept(text: &str) -> Plan {
    validate_source(Path::new(FILE), text)
        .unwrap_or_else(|e| panic!("plan must be valid:\n{text}\n=> {e}"))
}

/// 1-based (line, column in characters) of the `nth` (0-based) occurrence of `needle`.
fn pos_nth(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let (offset, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("test bug: {needle:?} occurrence {nth} not in text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

/// Position of the only occurrence of `needle`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(
        text.matches(needle).count(),
        1,
        "test bug: {needle:?} must occur once"
    );
    pos_nth(text, needle, 0)
}

#[track_caller]
fn assert_diag(d: &Diagnostic, at: (usize, usize), field: &str, message_has: &[&str]) {
    assert_eq!((d.line, d.column), at, "position of {d}");
    assert_eq!(d.field, field, "field of {d}");
    for m in message_has {
        assert!(d.message.contains(m), "message of {d} lacks {m:?}");
    }
}

fn find<'a>(diags: &'a [Diagnostic], field: &str) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| d.field == field)
        .unwrap_or_else(|| panic!("no diagnostic for {field}:\n{diags:#?}"))
}

fn rule(direction: Direction, protocol: Protocol, ports: Option<(i32, i32)>, peer: Peer) -> Rule {
    Rule {
        direction,
        protocol,
        ports,
        peer,
    }
}

// ---------------------------------------------------------------------------- base

#[test]
fn base_plan_is_valid() {
    let p = accept(BASE);
    assert_eq!(p.name, "t");
    assert_eq!(p.subnets.len(), 2);
    assert_eq!(p.security_groups.len(), 2);
    assert_eq!(p.interface_endpoints.len(), 2);
    assert_eq!(p.source, Path::new(FILE));
}

// ------------------------------------------------------------------ TOML and serde

#[test]
fn toml_syntax_errors_are_located() {
    // Unterminated string on line 1.
    let text = edit(BASE, "name = \"t\"", "name = \"t");
    let d = reject_one(&text);
    assert_eq!(d.line, 1, "{d}");
    assert!(d.column > 1, "{d}");
    assert_eq!(d.field, "");
    assert!(d.message.contains("string"), "{d}");

    // Unclosed table header on line 7.
    let text = edit(BASE, "[subnets.a]", "[subnets.a");
    let d = reject_one(&text);
    assert_eq!(d.line, 7, "{d}");
    assert!(!d.message.is_empty());

    // Unquoted CIDR on line 9 is not a TOML value.
    let text = edit(BASE, "cidr = \"10.0.0.0/24\"", "cidr = 10.0.0.0/24");
    let d = reject_one(&text);
    assert_eq!(d.line, 9, "{d}");
    assert!(d.column >= 8, "{d}");

    // A key defined twice.
    let text = edit(
        BASE,
        "region = \"us-east-1\"\n",
        "region = \"us-east-1\"\nregion = \"us-east-2\"\n",
    );
    let d = reject_one(&text);
    assert_eq!(d.line, 3, "{d}");
    assert!(d.message.contains("duplicate"), "{d}");
}

#[test]
fn syntax_errors_toml_leaves_without_a_message_get_one() {
    // toml reports a lone carriage return with an empty message.
    let text = edit(
        BASE,
        "region = \"us-east-1\"\n",
        "region = \"us-east-1\"\n\r\0\n",
    );
    let d = reject_one(&text);
    assert_diag(&d, (3, 1), "", &["invalid TOML", "'\\r'"]);
}

#[test]
fn unknown_top_level_field_is_named() {
    let text = edit(
        BASE,
        "region = \"us-east-1\"\n",
        "region = \"us-east-1\"\nregionn = \"x\"\n",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        (3, 1),
        "regionn",
        &["unknown field `regionn`", "`region`"],
    );
}

#[test]
fn unknown_nested_field_is_named_with_its_map_key() {
    // A typo in the second subnet: the path must name the subnet, not only `subnets`.
    let text = edit(BASE, "cidr = \"10.0.1.0/24\"", "cidrr = \"10.0.1.0/24\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        (13, 1),
        "subnets.b.cidrr",
        &["unknown field `cidrr`", "`cidr`"],
    );

    // Same in the first subnet (the map key is not simply the last one).
    let text = edit(BASE, "cidr = \"10.0.0.0/24\"", "cidrr = \"10.0.0.0/24\"");
    let d = reject_one(&text);
    assert_diag(&d, (9, 1), "subnets.a.cidrr", &["unknown field `cidrr`"]);
}

#[test]
fn unknown_field_inside_a_rule_is_named() {
    let text = edit(BASE, "ports = \"443\"", "ports = \"443\", port = 443");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "port = 443"),
        "security_groups.endpoints.ingress[0].port",
        &["unknown field `port`", "`ports`"],
    );
}

#[test]
fn unknown_field_in_other_tables_is_named() {
    let cases = [
        (
            "cidr = \"10.0.0.0/16\"",
            "cidr = \"10.0.0.0/16\"\nmanage_dnss = true",
            "manage_dnss",
            "vpc.manage_dnss",
        ),
        (
            "security_groups = [\"endpoints\"]",
            "security_groups = [\"endpoints\"]\nservcies = []",
            "servcies",
            "interface_endpoints.servcies",
        ),
        (
            "description = \"Workloads\"",
            "description = \"Workloads\"\negres = []",
            "egres",
            "security_groups.workloads.egres",
        ),
        (
            "name = \"t\"\n",
            "name = \"t\"\n[tags]\nteam = \"ml\"\n[gateway_endpoints.s3]\npolcy = \"p.json\"\n",
            "polcy",
            "gateway_endpoints.s3.polcy",
        ),
    ];
    for (from, to, key, field) in cases {
        let text = edit(BASE, from, to);
        let d = reject_one(&text);
        assert_diag(
            &d,
            pos(&text, key),
            field,
            &[&format!("unknown field `{key}`")],
        );
    }
}

#[test]
fn unknown_field_in_split_array_of_tables_names_the_right_group() {
    // The second ingress rule of `w` is written after group `e` started.
    let text = r#"name = "t"
region = "us-east-1"
[vpc]
cidr = "10.0.0.0/16"
[security_groups.w]
description = "w"
[[security_groups.w.ingress]]
from = "self"
protocol = "all"
[security_groups.e]
description = "e"
[[security_groups.w.ingress]]
from = "e"
protocoll = "tcp"
"#;
    let d = reject_one(text);
    assert_diag(
        &d,
        (14, 1),
        "security_groups.w.ingress[1].protocoll",
        &["unknown field `protocoll`"],
    );
}

#[test]
fn unknown_field_in_inline_tables_names_the_right_key() {
    let text = r#"name = "t"
region = "us-east-1"
vpc = { cidr = "10.0.0.0/16" }
subnets = { a = { availability_zone = "us-east-1a", cidr = "10.0.0.0/24" }, b = { availability_zone = "us-east-1b", cidr = "10.0.1.0/24", zone = 1 } }
"#;
    let d = reject_one(text);
    assert_diag(
        &d,
        pos(text, "zone = 1"),
        "subnets.b.zone",
        &["unknown field `zone`"],
    );
}

#[test]
fn missing_required_fields_are_reported() {
    let text = edit(BASE, "cidr = \"10.0.1.0/24\"\n", "");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "[subnets.b]"),
        "subnets.b",
        &["missing field `cidr`"],
    );

    let text = edit(BASE, "name = \"t\"\n", "");
    let d = reject_one(&text);
    assert_eq!(d.line, 1);
    assert!(d.message.contains("missing field `name`"), "{d}");

    let d = reject_one("");
    assert!(d.message.contains("missing field"), "{d}");

    let text = edit(BASE, "description = \"Endpoints\"\n", "");
    let d = reject_one(&text);
    assert_eq!(d.field, "security_groups.endpoints", "{d}");
    assert!(d.message.contains("missing field `description`"), "{d}");
}

#[test]
fn wrong_value_types_are_located() {
    let text = edit(
        BASE,
        "security_groups = [\"endpoints\"]",
        "security_groups = [\"endpoints\"]\nprivate_dns = \"yes\"",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"yes\""),
        "interface_endpoints.private_dns",
        &["boolean"],
    );

    let text = edit(BASE, "\"sagemaker.runtime\"]", "5]");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "5]"),
        "interface_endpoints.services[1]",
        &["integer", "string"],
    );

    let text = edit(BASE, "ports = \"443\"", "ports = 1.5");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "1.5"),
        "security_groups.endpoints.ingress[0].ports",
        &[],
    );

    let text = edit(BASE, "name = \"t\"", "name = 7");
    let d = reject_one(&text);
    assert_diag(&d, (1, 8), "name", &["integer"]);
}

#[test]
fn dotted_key_tables_get_an_actionable_message() {
    let text = edit(
        BASE,
        "[vpc]\ncidr = \"10.0.0.0/16\"",
        "vpc.cidr = \"10.0.0.0/16\"",
    );
    let d = reject_one(&text);
    assert_eq!(d.line, pos(&text, "vpc.cidr").0, "{d}");
    assert!(d.field.starts_with("vpc"), "{d}");
    assert!(d.message.contains("[vpc]"), "{d}");
    assert!(!d.message.contains("borrowed"), "serde jargon leaked: {d}");
}

// ------------------------------------------------------------------ CIDRs and AZs

#[test]
fn invalid_cidrs_are_rejected() {
    for bad in ["10.0.0.300/24", "10.0.0.0", "banana", "10.0.0.0/33", "::/0"] {
        let text = edit(BASE, "\"10.0.1.0/24\"", &format!("\"{bad}\""));
        let d = reject_one(&text);
        assert_diag(
            &d,
            pos(&text, &format!("\"{bad}\"")),
            "subnets.b.cidr",
            &["invalid IPv4 CIDR", bad],
        );
    }
    let text = edit(BASE, "\"10.0.0.0/16\"", "\"10.0.0/16\"");
    let d = reject(&text);
    assert_diag(
        find(&d, "vpc.cidr"),
        pos(&text, "\"10.0.0/16\""),
        "vpc.cidr",
        &["invalid IPv4 CIDR"],
    );
}

#[test]
fn cidrs_with_host_bits_are_rejected_with_a_suggestion() {
    let text = edit(BASE, "\"10.0.1.0/24\"", "\"10.0.1.7/24\"");
    let d = reject_one(&text);
    assert_diag(&d, (13, 8), "subnets.b.cidr", &["host bits", "10.0.1.0/24"]);

    let text = edit(BASE, "\"10.0.0.0/16\"", "\"10.0.3.0/16\"");
    let d = reject(&text);
    assert_diag(
        find(&d, "vpc.cidr"),
        (5, 8),
        "vpc.cidr",
        &["host bits", "10.0.0.0/16"],
    );

    let text = edit(BASE, "from = \"workloads\"", "from = \"10.1.2.3/8\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"10.1.2.3/8\""),
        "security_groups.endpoints.ingress[0].from",
        &["host bits", "10.0.0.0/8"],
    );
}

#[test]
fn cidr_prefix_lengths_outside_aws_limits_are_rejected() {
    let text = edit(BASE, "\"10.0.0.0/16\"", "\"10.0.0.0/8\"");
    let d = reject(&text);
    assert_diag(
        find(&d, "vpc.cidr"),
        (5, 8),
        "vpc.cidr",
        &["/8", "/16 to /28"],
    );

    let text = edit(BASE, "\"10.0.1.0/24\"", "\"10.0.1.0/29\"");
    let d = reject_one(&text);
    assert_diag(&d, (13, 8), "subnets.b.cidr", &["/29", "/16 to /28"]);
}

#[test]
fn subnet_outside_the_vpc_is_rejected() {
    let text = edit(BASE, "\"10.0.1.0/24\"", "\"10.1.1.0/24\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        (13, 8),
        "subnets.b.cidr",
        &["10.1.1.0/24", "outside the VPC CIDR 10.0.0.0/16"],
    );
}

#[test]
fn overlapping_subnets_are_rejected_once() {
    for (b, desc) in [
        ("10.0.0.128/25", "inside a"),
        ("10.0.0.0/24", "equal to a"),
        ("10.0.0.0/23", "containing a"),
    ] {
        let text = edit(BASE, "\"10.0.1.0/24\"", &format!("\"{b}\""));
        let d = reject_one(&text);
        assert_diag(
            &d,
            (13, 8),
            "subnets.b.cidr",
            &[b, "overlaps subnet a (10.0.0.0/24)"],
        );
        let _ = desc;
    }
    // Adjacent subnets do not overlap.
    accept(&edit(BASE, "\"10.0.1.0/24\"", "\"10.0.2.0/23\""));
}

#[test]
fn availability_zone_must_belong_to_the_region() {
    for az in ["us-west-2a", "us-east-1", "us-east-1A", "a"] {
        let text = edit(BASE, "\"us-east-1b\"", &format!("\"{az}\""));
        let d = reject_one(&text);
        assert_diag(
            &d,
            (12, 21),
            "subnets.b.availability_zone",
            &[az, "region us-east-1"],
        );
    }
}

#[test]
fn interface_endpoint_subnets_in_the_same_az_are_rejected() {
    let text = edit(BASE, "\"us-east-1b\"", "\"us-east-1a\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"b\"]"),
        "interface_endpoints.subnets[1]",
        &[
            "subnets a and b are both in us-east-1a",
            "DuplicateSubnetsInSameZone",
        ],
    );
}

#[test]
fn interface_endpoint_subnet_references_are_checked() {
    let text = edit(BASE, "subnets = [\"a\", \"b\"]", "subnets = [\"a\", \"c\"]");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"c\""),
        "interface_endpoints.subnets[1]",
        &["unknown subnet \"c\"", "a, b"],
    );

    let text = edit(BASE, "subnets = [\"a\", \"b\"]", "subnets = [\"a\", \"a\"]");
    let d = reject_one(&text);
    assert_eq!(d.field, "interface_endpoints.subnets[1]");

    let text = edit(BASE, "subnets = [\"a\", \"b\"]", "subnets = []");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "[]"),
        "interface_endpoints.subnets",
        &["at least one subnet"],
    );

    // Existing subnets by id are fine.
    let p = accept(&edit(
        BASE,
        "subnets = [\"a\", \"b\"]",
        "subnets = [\"a\", \"subnet-0123456789abcdef0\"]",
    ));
    let subnets = &p.interface_endpoints["sagemaker.api"].subnets;
    assert!(subnets.contains(&Ref::Id("subnet-0123456789abcdef0".into())));
    assert!(subnets.contains(&Ref::Key("a".into())));
}

// ---------------------------------------------------------- security group references

#[test]
fn unknown_security_group_in_a_rule_is_rejected() {
    let text = edit(BASE, "from = \"workloads\"", "from = \"nope\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"nope\""),
        "security_groups.endpoints.ingress[0].from",
        &[
            "unknown security group reference \"nope\"",
            "endpoints, workloads",
        ],
    );

    let text = edit(
        BASE,
        "description = \"Workloads\"",
        "description = \"Workloads\"\negress = [{ to = \"nope\", protocol = \"tcp\", ports = 443 }]",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"nope\""),
        "security_groups.workloads.egress[0].to",
        &["\"nope\""],
    );
}

#[test]
fn unknown_security_group_in_interface_endpoints_is_rejected() {
    let text = edit(
        BASE,
        "security_groups = [\"endpoints\"]",
        "security_groups = [\"endpoints\", \"nope\"]",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"nope\""),
        "interface_endpoints.security_groups[1]",
        &[
            "unknown security group reference \"nope\"",
            "endpoints, workloads",
        ],
    );
    // An existing group by id is accepted.
    let p = accept(&edit(
        BASE,
        "security_groups = [\"endpoints\"]",
        "security_groups = [\"endpoints\", \"sg-0123456789abcdef0\"]",
    ));
    let sgs = &p.interface_endpoints["sagemaker.api"].security_groups;
    assert_eq!(
        sgs,
        &BTreeSet::from([
            Ref::Key("endpoints".into()),
            Ref::Id("sg-0123456789abcdef0".into())
        ])
    );
}

#[test]
fn rule_peer_keyword_must_match_the_direction() {
    let text = edit(BASE, "from = \"workloads\"", "to = \"workloads\"");
    let d = reject_one(&text);
    assert_eq!(d.field, "security_groups.endpoints.ingress[0]", "{d}");
    assert!(d.message.contains("`from`"), "{d}");

    let text = edit(BASE, "{ from = \"workloads\", ", "{ ");
    let d = reject_one(&text);
    assert_eq!(d.field, "security_groups.endpoints.ingress[0]", "{d}");
    assert!(d.message.contains("missing `from`"), "{d}");
}

#[test]
fn security_group_named_self_is_reserved() {
    let text = edit(
        BASE,
        "[security_groups.workloads]",
        "[security_groups.self]",
    );
    let text = edit(&text, "from = \"workloads\"", "from = \"self\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "self]"),
        "security_groups.self",
        &["reserved"],
    );
}

#[test]
fn a_group_naming_itself_is_the_same_rule_as_self() {
    // AWS stores a rule referencing its own group once, whichever spelling the plan uses.
    let text = edit(
        BASE,
        "ingress = [{ from = \"self\", protocol = \"all\" }]",
        "ingress = [{ from = \"workloads\", protocol = \"all\" }]",
    );
    let p = accept(&text);
    assert!(p.security_groups["workloads"].rules.contains(&rule(
        Direction::Ingress,
        Protocol::All,
        None,
        Peer::SelfGroup
    )));

    let text = edit(
        BASE,
        "ingress = [{ from = \"self\", protocol = \"all\" }]",
        "ingress = [{ from = \"self\", protocol = \"all\" }, { from = \"workloads\", protocol = \"all\" }]",
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "security_groups.workloads.ingress[1]");
    assert!(d.message.contains("duplicate rule"), "{d}");
}

#[test]
fn invalid_items_referenced_elsewhere_are_reported_once() {
    // The group itself is invalid; its reference must not add a bogus "unknown" error.
    let text = edit(BASE, "ports = \"443\"", "ports = \"70000\"");
    let d = reject_one(&text);
    assert_eq!(d.field, "security_groups.endpoints.ingress[0].ports");

    let text = edit(BASE, "\"10.0.1.0/24\"", "\"10.0.1.1/24\"");
    let d = reject_one(&text);
    assert_eq!(d.field, "subnets.b.cidr");
}

// ------------------------------------------------------------------------ services

#[test]
fn unknown_interface_service_is_rejected_with_a_hint() {
    let text = edit(BASE, "\"sagemaker.api\"", "\"sagemaker.apii\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"sagemaker.apii\""),
        "interface_endpoints.services[0]",
        &[
            "unknown interface endpoint service \"sagemaker.apii\"",
            "did you mean \"sagemaker.api\"",
        ],
    );

    // Full names are taken, in the plan's region only.
    let text = edit(
        BASE,
        "\"sagemaker.runtime\"]",
        "\"com.amazonaws.us-east-1.sts\"]",
    );
    let p = accept(&text);
    assert_eq!(
        p.interface_endpoints["sts"].service_name,
        "com.amazonaws.us-east-1.sts"
    );
    let text = edit(
        BASE,
        "\"sagemaker.runtime\"]",
        "\"com.amazonaws.eu-west-1.sts\"]",
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "interface_endpoints.services[1]");
    assert!(d.message.contains("region eu-west-1"), "{d}");
    // A name unlike every known one is left for the region to judge at plan time.
    let text = edit(BASE, "\"sagemaker.runtime\"]", "\"bedrock-agentcore\"]");
    assert!(accept(&text)
        .interface_endpoints
        .contains_key("bedrock-agentcore"));
    let d = reject_one(&edit(
        BASE,
        "region = \"us-east-1\"",
        "region = \"us-eats-1\"",
    ));
    assert_eq!(d.field, "region");
    assert!(d.message.contains("did you mean \"us-east-1\""), "{d}");

    let text = edit(BASE, "\"sagemaker.runtime\"]", "\"sagemaker.api\"]");
    let d = reject_one(&text);
    assert_eq!(d.field, "interface_endpoints.services[1]");
    assert!(d.message.contains("listed twice"), "{d}");

    let text = edit(
        BASE,
        "services = [\"sagemaker.api\", \"sagemaker.runtime\"]",
        "services = []",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "[]"),
        "interface_endpoints.services",
        &["at least one service"],
    );
}

#[test]
fn unknown_gateway_service_is_rejected() {
    let text = edit(
        BASE,
        "[interface_endpoints]",
        "[gateway_endpoints.s4]\n\n[interface_endpoints]",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "s4"),
        "gateway_endpoints.s4",
        &["unknown gateway endpoint service \"s4\"", "s3, dynamodb"],
    );
}

#[test]
fn gateway_endpoint_needs_subnets() {
    let text = "name = \"t\"\nregion = \"us-east-1\"\n[vpc]\ncidr = \"10.0.0.0/16\"\n[gateway_endpoints.s3]\n";
    let d = reject_one(text);
    assert_diag(&d, (5, 20), "gateway_endpoints.s3", &["route table"]);
}

#[test]
fn studio_needs_sagemaker_api() {
    let text = edit(
        BASE,
        "services = [\"sagemaker.api\", \"sagemaker.runtime\"]",
        "services = [\"studio\", \"sagemaker.runtime\"]",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "[\"studio\""),
        "interface_endpoints.services",
        &["studio", "sagemaker.api"],
    );
    accept(&edit(BASE, "\"sagemaker.runtime\"]", "\"studio\"]"));
}

#[test]
fn s3_interface_private_dns_needs_the_gateway() {
    let text = edit(BASE, "\"sagemaker.runtime\"]", "\"s3\"]");
    let d = reject_one(&text);
    // private_dns defaults to true and is not written: point at the services list.
    assert_diag(
        &d,
        pos(&text, "[\"sagemaker.api\", \"s3\"]"),
        "interface_endpoints.private_dns",
        &["[gateway_endpoints.s3]"],
    );

    let text = edit(
        BASE,
        "\"sagemaker.runtime\"]",
        "\"s3\"]\nprivate_dns = true",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "true"),
        "interface_endpoints.private_dns",
        &["gateway"],
    );

    let p = accept(&edit(
        BASE,
        "\"sagemaker.runtime\"]",
        "\"s3\"]\nprivate_dns = false",
    ));
    assert!(!p.needs_private_dns());
}

#[test]
fn endpoint_groups_must_allow_https_in() {
    for ingress in [
        "{ from = \"workloads\", protocol = \"tcp\", ports = \"80\" }",
        "{ from = \"workloads\", protocol = \"udp\", ports = \"443\" }",
        "{ from = \"workloads\", protocol = \"tcp\", ports = \"444-1024\" }",
        "{ from = \"workloads\", protocol = \"icmp\" }",
    ] {
        let text = edit(
            BASE,
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }",
            ingress,
        );
        let d = reject_one(&text);
        assert_diag(
            &d,
            pos(&text, "[interface_endpoints]"),
            "interface_endpoints.security_groups",
            &["tcp 443"],
        );
    }
    let text = edit(
        BASE,
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
        "egress = [{ to = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "interface_endpoints.security_groups");

    // Port ranges covering 443, "all", and a second group that allows it are fine.
    for ok in [
        "{ from = \"workloads\", protocol = \"tcp\", ports = \"1-1024\" }",
        "{ from = \"workloads\", protocol = \"all\" }",
        "{ from = \"10.0.0.0/8\", protocol = \"tcp\" }",
    ] {
        accept(&edit(
            BASE,
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }",
            ok,
        ));
    }
    accept(&edit(
        BASE,
        "security_groups = [\"endpoints\"]",
        "security_groups = [\"endpoints\", \"workloads\"]",
    ));
}

// ---------------------------------------------------------------------- name etc.

#[test]
fn empty_plan_name_is_rejected() {
    for empty in ["\"\"", "\"   \""] {
        let text = edit(BASE, "name = \"t\"", &format!("name = {empty}"));
        let d = reject_one(&text);
        assert_diag(&d, (1, 8), "name", &["must not be empty"]);
    }
    for bad in ["my plan", "-lead", "ünï", " t"] {
        let text = edit(BASE, "name = \"t\"", &format!("name = \"{bad}\""));
        let d = reject_one(&text);
        assert_diag(&d, (1, 8), "name", &["may contain only"]);
    }
    let long = "a".repeat(65);
    let d = reject_one(&edit(BASE, "name = \"t\"", &format!("name = \"{long}\"")));
    assert_eq!(d.field, "name");
}

#[test]
fn bad_region_is_rejected() {
    for bad in [
        "",
        "us-east",
        "US-EAST-1",
        "useast1",
        "us-east-1a",
        "us--1",
        "u-east-1",
    ] {
        let text = edit(
            BASE,
            "region = \"us-east-1\"",
            &format!("region = \"{bad}\""),
        );
        let d = reject(&text);
        assert_diag(
            find(&d, "region"),
            (2, 10),
            "region",
            &["is not an AWS region name"],
        );
    }
    for ok in ["eu-central-2", "us-gov-west-1", "ap-southeast-4"] {
        let text = BASE.replace("us-east-1", ok);
        let p = accept(&text);
        assert_eq!(p.region, ok);
    }
}

#[test]
fn vpc_needs_exactly_one_of_cidr_and_id() {
    let text = edit(
        BASE,
        "cidr = \"10.0.0.0/16\"",
        "cidr = \"10.0.0.0/16\"\nid = \"vpc-0123456789abcdef0\"",
    );
    let d = reject(&text);
    assert_diag(
        find(&d, "vpc.id"),
        pos(&text, "\"vpc-0123456789abcdef0\""),
        "vpc.id",
        &["not both"],
    );

    let text = edit(BASE, "cidr = \"10.0.0.0/16\"\n", "");
    let d = reject(&text);
    assert_diag(find(&d, "vpc"), (4, 1), "vpc", &["missing `cidr`", "`id`"]);

    let text = edit(BASE, "cidr = \"10.0.0.0/16\"", "id = \"vpc-123\"");
    let d = reject(&text);
    assert_diag(
        find(&d, "vpc.id"),
        (5, 6),
        "vpc.id",
        &["\"vpc-123\"", "not a VPC id"],
    );

    let text = edit(
        BASE,
        "cidr = \"10.0.0.0/16\"",
        "cidr = \"10.0.0.0/16\"\nmanage_dns = true",
    );
    let d = reject_one(&text);
    assert_diag(&d, (6, 14), "vpc.manage_dns", &["adopted"]);
}

#[test]
fn adopted_vpc_skips_the_containment_check() {
    let text = edit(
        BASE,
        "cidr = \"10.0.0.0/16\"",
        "id = \"vpc-0123456789abcdef0\"\nmanage_dns = true",
    );
    let text = edit(&text, "\"10.0.1.0/24\"", "\"172.16.0.0/24\"");
    let p = accept(&text);
    assert_eq!(
        p.vpc,
        VpcSpec::Adopted {
            id: "vpc-0123456789abcdef0".into(),
            manage_dns: true
        }
    );
}

#[test]
fn tag_keys_must_fit_the_record_of_the_plans_tags() {
    // A comma would break the comma-separated record in the sagevpc:tags tag.
    let text = edit(
        BASE,
        "name = \"t\"\n",
        "name = \"t\"\ntags = { \"a,b\" = \"v\" }\n",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"v\""),
        "tags.a,b",
        &["may not contain ','"],
    );
    // Three 100-character keys (302 with commas) do not fit one tag value.
    let keys: Vec<String> = ["x", "y", "z"].iter().map(|c| c.repeat(100)).collect();
    let table: Vec<String> = keys.iter().map(|k| format!("{k} = \"v\"")).collect();
    let text = edit(
        BASE,
        "name = \"t\"\n",
        &format!("name = \"t\"\ntags = {{ {} }}\n", table.join(", ")),
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "tags", "{d}");
    assert!(d.message.contains("302 characters"), "{d}");
    // Two of them (201) fit.
    let table2 = table[..2].join(", ");
    accept(&edit(
        BASE,
        "name = \"t\"\n",
        &format!("name = \"t\"\ntags = {{ {table2} }}\n"),
    ));
}

#[test]
fn reserved_and_oversized_tags_are_rejected() {
    for key in ["Name", "sagevpc:plan", "aws:cloudformation"] {
        let text = edit(
            BASE,
            "name = \"t\"\n",
            &format!("name = \"t\"\ntags = {{ \"{key}\" = \"v\" }}\n"),
        );
        let d = reject_one(&text);
        assert_diag(
            &d,
            pos(&text, "\"v\""),
            &format!("tags.{key}"),
            &["reserved"],
        );
    }
    let big = "v".repeat(257);
    let text = edit(
        BASE,
        "name = \"t\"\n",
        &format!("name = \"t\"\ntags = {{ team = \"{big}\" }}\n"),
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "tags.team");
    let p = accept(&edit(
        BASE,
        "name = \"t\"\n",
        "name = \"t\"\ntags = { team = \"ml\" }\n",
    ));
    assert_eq!(
        p.tags,
        BTreeMap::from([("team".to_string(), "ml".to_string())])
    );
}

#[test]
fn security_group_description_is_checked() {
    for bad in ["", "  ", "Intérface", "tab\there"] {
        let text = edit(
            BASE,
            "description = \"Endpoints\"",
            &format!("description = \"{bad}\""),
        );
        let d = reject(&text);
        assert_diag(
            find(&d, "security_groups.endpoints.description"),
            (20, 15),
            "security_groups.endpoints.description",
            &["1-255 characters"],
        );
    }
}

// ------------------------------------------------------------------------- ports

#[test]
fn bad_ports_are_rejected() {
    let field = "security_groups.endpoints.ingress[0].ports";
    let cases: &[(&str, &[&str])] = &[
        ("\"70000\"", &["\"70000\"", "0-65535"]),
        ("70000", &["\"70000\"", "0-65535"]),
        ("-1", &["\"-1\""]),
        ("\"abc\"", &["\"abc\""]),
        ("\"443-\"", &["\"443-\""]),
        ("\"1-2-3\"", &["\"1-2-3\""]),
        ("\"443-80\"", &["443-80", "reversed"]),
        ("\"\"", &["not a port"]),
    ];
    for (ports, msg) in cases {
        let text = edit(BASE, "ports = \"443\"", &format!("ports = {ports}"));
        let d = reject(&text);
        let (line, col) = pos(&text, &format!("ports = {ports}"));
        assert_diag(find(&d, field), (line, col + "ports = ".len()), field, msg);
    }
}

#[test]
fn ports_on_all_and_icmp_are_rejected() {
    let text = edit(
        BASE,
        "protocol = \"all\" }",
        "protocol = \"all\", ports = \"443\" }",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos_nth(&text, "\"443\"", 0),
        "security_groups.workloads.ingress[0].ports",
        &["protocol \"all\" covers every port"],
    );
    let text = edit(
        BASE,
        "protocol = \"all\" }",
        "protocol = \"icmp\", ports = 8 }",
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "8 }"),
        "security_groups.workloads.ingress[0].ports",
        &["icmp"],
    );
}

#[test]
fn unknown_protocol_is_rejected() {
    let text = edit(BASE, "protocol = \"tcp\"", "protocol = \"tcpp\"");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"tcpp\""),
        "security_groups.endpoints.ingress[0].protocol",
        &["unknown protocol \"tcpp\""],
    );
}

#[test]
fn duplicate_rules_are_rejected_however_written() {
    let variants = [
        (
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }",
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }",
        ),
        (
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }",
            "{ from = \"workloads\", protocol = \"tcp\", ports = 443 }",
        ),
        (
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }",
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"443-443\" }",
        ),
        (
            "{ from = \"workloads\", protocol = \"tcp\" }",
            "{ from = \"workloads\", protocol = \"tcp\", ports = \"0-65535\" }",
        ),
        (
            "{ from = \"workloads\", protocol = \"all\" }",
            "{ from = \"workloads\", protocol = \"-1\" }",
        ),
    ];
    for (first, second) in variants {
        let text = edit(
            BASE,
            "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
            &format!("ingress = [{first},\n  {second}]"),
        );
        let d = reject(&text);
        let dup = find(&d, "security_groups.endpoints.ingress[1]");
        assert_eq!((dup.line, dup.column), (22, 3), "{dup}");
        assert!(dup.message.contains("duplicate rule"), "{dup}");
    }
    // Same permission in egress twice, including the one AWS adds by default.
    let text = edit(
        BASE,
        "description = \"Workloads\"",
        "description = \"Workloads\"\negress = [{ to = \"0.0.0.0/0\", protocol = \"all\" }, { to = \"0.0.0.0/0\", protocol = \"all\" }]",
    );
    let d = reject_one(&text);
    assert_eq!(d.field, "security_groups.workloads.egress[1]");
    // Different peers or directions are different rules.
    accept(&edit(
        BASE,
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
        "ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }, { from = \"10.0.0.0/8\", protocol = \"tcp\", ports = \"443\" }]\negress = [{ to = \"workloads\", protocol = \"tcp\", ports = \"443\" }]",
    ));
}

// --------------------------------------------------------------------- policies

fn plan_with_gateway_policy(policy_line: &str) -> String {
    edit(
        BASE,
        "[interface_endpoints]",
        &format!("[gateway_endpoints.s3]\n{policy_line}\n\n[interface_endpoints]"),
    )
}

#[test]
fn missing_policy_file_is_reported_relative_to_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    let text = plan_with_gateway_policy("policy = \"policies/none.json\"");
    std::fs::write(&path, &text).unwrap();
    let e = Plan::load(&path).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    let d = &e.diagnostics[0];
    assert_eq!(d.file, path);
    assert_diag(
        d,
        pos(&text, "\"policies/none.json\""),
        "gateway_endpoints.s3.policy",
        &["cannot read policy file"],
    );
    assert!(
        d.message
            .contains(&dir.path().join("policies/none.json").display().to_string()),
        "{d}"
    );

    // The same file next to the plan makes it valid.
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/none.json"),
        r#"{"Statement": []}"#,
    )
    .unwrap();
    let p = Plan::load(&path).unwrap();
    assert_eq!(
        p.gateway_endpoints["s3"].policy,
        Some(serde_json::json!({"Statement": []}))
    );
}

#[test]
fn invalid_policy_json_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\n  \"Statement\": [,]\n}\n").unwrap();
    std::fs::write(
        dir.path().join("nostatement.json"),
        "{\"Version\": \"2012-10-17\"}",
    )
    .unwrap();
    std::fs::write(dir.path().join("array.json"), "[1, 2]").unwrap();

    let path = dir.path().join("plan.toml");
    let text = plan_with_gateway_policy("policy = \"bad.json\"");
    std::fs::write(&path, &text).unwrap();
    let e = Plan::load(&path).unwrap_err();
    let d = &e.diagnostics[0];
    assert_diag(
        d,
        pos(&text, "\"bad.json\""),
        "gateway_endpoints.s3.policy",
        &["not valid JSON", "bad.json:2:"],
    );

    for f in ["nostatement.json", "array.json"] {
        let text = plan_with_gateway_policy(&format!("policy = \"{f}\""));
        std::fs::write(&path, &text).unwrap();
        let e = Plan::load(&path).unwrap_err();
        assert_diag(
            &e.diagnostics[0],
            pos(&text, &format!("\"{f}\"")),
            "gateway_endpoints.s3.policy",
            &["no \"Statement\""],
        );
    }

    // The interface endpoints' policy is checked the same way.
    let text = edit(
        BASE,
        "security_groups = [\"endpoints\"]",
        "security_groups = [\"endpoints\"]\npolicy = \"bad.json\"",
    );
    std::fs::write(&path, &text).unwrap();
    let e = Plan::load(&path).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    assert_diag(
        &e.diagnostics[0],
        pos(&text, "\"bad.json\""),
        "interface_endpoints.policy",
        &["not valid JSON"],
    );
}

/// `Plan::load`, failing the test instead of hanging when loading never ends.
fn load_within(path: &Path, limit: std::time::Duration) -> Result<Plan, sagevpc::plan::PlanError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(Plan::load(&path));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("Plan::load did not finish within {limit:?}"))
}

#[test]
fn policy_files_that_are_not_regular_files_are_rejected_without_reading() {
    // A device would never end (/dev/zero) and a FIFO would block: neither is read.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    for target in ["/dev/zero", "/dev/null", "."] {
        let text = plan_with_gateway_policy(&format!("policy = \"{target}\""));
        std::fs::write(&path, &text).unwrap();
        let e = load_within(&path, std::time::Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.diagnostics.len(), 1, "{e}");
        assert_diag(
            &e.diagnostics[0],
            pos(&text, &format!("\"{target}\"")),
            "gateway_endpoints.s3.policy",
            &["cannot read policy file"],
        );
    }
    let fifo = dir.path().join("fifo.json");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let text = plan_with_gateway_policy("policy = \"fifo.json\"");
        std::fs::write(&path, &text).unwrap();
        let e = load_within(&path, std::time::Duration::from_secs(5)).unwrap_err();
        assert!(
            e.diagnostics[0].message.contains("not a regular file"),
            "{e}"
        );
    }
}

#[test]
fn oversized_policies_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    let text = plan_with_gateway_policy("policy = \"p.json\"");
    std::fs::write(&path, &text).unwrap();
    let policy = |resources: usize, indent: usize| {
        let pad = " ".repeat(indent);
        let res: Vec<String> = (0..resources)
            .map(|i| format!("{pad}\"arn:aws:s3:::bucket-{i:05}/*\""))
            .collect();
        format!(
            "{{\"Statement\": [{{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"s3:GetObject\", \"Resource\": [\n{}\n]}}]}}",
            res.join(",\n")
        )
    };
    // Over AWS's 20,480 characters once whitespace is removed.
    std::fs::write(dir.path().join("p.json"), policy(800, 0)).unwrap();
    let e = Plan::load(&path).unwrap_err();
    assert_diag(
        &e.diagnostics[0],
        pos(&text, "\"p.json\""),
        "gateway_endpoints.s3.policy",
        &["20480"],
    );
    // Whitespace does not count: a large but indented policy under the limit is fine.
    let small = policy(300, 200);
    assert!(small.len() > 20_480);
    std::fs::write(dir.path().join("p.json"), &small).unwrap();
    let p = Plan::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.gateway_endpoints["s3"].policy.is_some());
    // A huge file is not read in full.
    let huge = format!(
        "{{\"Statement\": [], \"pad\": \"{}\"}}",
        "x".repeat(2 << 20)
    );
    std::fs::write(dir.path().join("p.json"), huge).unwrap();
    let e = Plan::load(&path).unwrap_err();
    assert!(
        e.diagnostics[0].message.contains("larger than 1 MiB"),
        "{e}"
    );
}

// ------------------------------------------------------------ several problems at once

#[test]
fn every_problem_is_reported() {
    let mut text = BASE.to_string();
    for (from, to) in [
        ("name = \"t\"", "name = \"\""),
        ("region = \"us-east-1\"", "region = \"mars\""),
        ("\"10.0.1.0/24\"", "\"10.9.1.0/24\""),
        ("from = \"workloads\"", "from = \"nope\""),
        ("\"sagemaker.api\"", "\"sagemaker.apii\""),
        (
            "protocol = \"all\" }",
            "protocol = \"all\", ports = \"1\" }",
        ),
    ] {
        text = edit(&text, from, to);
    }
    let e = validate_source(Path::new(FILE), &text).unwrap_err();
    let fields: Vec<&str> = e.diagnostics.iter().map(|d| d.field.as_str()).collect();
    for f in [
        "name",
        "region",
        "subnets.b.cidr",
        "security_groups.endpoints.ingress[0].from",
        "security_groups.workloads.ingress[0].ports",
        "interface_endpoints.services[0]",
    ] {
        assert!(fields.contains(&f), "{f} not reported; got {fields:?}");
    }
    // A bad region is one error: the AZs are not also reported as outside it.
    assert!(
        !fields.iter().any(|f| f.ends_with("availability_zone")),
        "{fields:?}"
    );
    // Every line of the rendered error is `file:line:col: field: message`.
    let rendered = e.to_string();
    assert_eq!(rendered.lines().count(), e.diagnostics.len());
    for (line, d) in rendered.lines().zip(&e.diagnostics) {
        assert!(
            line.starts_with(&format!("{FILE}:{}:{}: {}: ", d.line, d.column, d.field)),
            "{line}"
        );
        assert!(d.line > 0 && d.column > 0, "{d}");
    }
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = edit(
        BASE,
        "name = \"t\"\n",
        "name = \"t\"\ntags = { \"équipe\" = \"ü\", \"Name\" = \"x\" }\n",
    );
    let d = reject_one(&text);
    // `tags = { "équipe" = "ü", "Name" = ` is 34 characters but 36 bytes.
    assert_diag(&d, (2, 35), "tags.Name", &["reserved"]);
    assert_eq!(pos(&text, "\"x\""), (2, 35));
}

#[test]
fn unreadable_plan_file_has_no_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let e = Plan::load(&path).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.column), (0, 0));
    assert_eq!(d.file, path);
    assert!(d.message.contains("cannot read plan file"), "{d}");
    assert_eq!(d.to_string(), format!("{}: {}", path.display(), d.message));
}

// ------------------------------------------------------------------ shipped plans

#[test]
fn shipped_studio_plan_expands_to_the_expected_resources() {
    let path = manifest_dir().join("plans/studio-vpc.toml");
    let p = Plan::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.name, "ml-platform");
    assert_eq!(p.region, "us-east-1");
    assert_eq!(p.source, path);
    assert!(p.tags.is_empty());
    assert_eq!(
        p.vpc,
        VpcSpec::Owned {
            cidr: "10.20.0.0/16".parse().unwrap()
        }
    );

    let subnets: Vec<(&str, &str, String)> = p
        .subnets
        .iter()
        .map(|(k, s)| (k.as_str(), s.availability_zone.as_str(), s.cidr.to_string()))
        .collect();
    assert_eq!(
        subnets,
        [
            ("private-a", "us-east-1a", "10.20.0.0/20".to_string()),
            ("private-b", "us-east-1b", "10.20.16.0/20".to_string()),
            ("private-c", "us-east-1c", "10.20.32.0/20".to_string()),
        ]
    );

    assert_eq!(p.security_groups.len(), 2);
    let w = &p.security_groups["workloads"];
    assert_eq!(
        w.description,
        "Studio apps, training and processing containers"
    );
    assert_eq!(
        w.rules,
        BTreeSet::from([
            rule(Direction::Ingress, Protocol::All, None, Peer::SelfGroup),
            Rule::default_egress(),
        ])
    );
    let e = &p.security_groups["endpoints"];
    assert_eq!(e.description, "Interface endpoints");
    assert_eq!(
        e.rules,
        BTreeSet::from([
            rule(
                Direction::Ingress,
                Protocol::Tcp,
                Some((443, 443)),
                Peer::Group("workloads".into())
            ),
            rule(
                Direction::Egress,
                Protocol::All,
                None,
                Peer::Cidr("0.0.0.0/0".parse().unwrap())
            ),
        ])
    );

    assert_eq!(p.gateway_endpoints.len(), 1);
    let s3 = &p.gateway_endpoints["s3"];
    assert_eq!(s3.service_name, "com.amazonaws.us-east-1.s3");
    let policy_text = std::fs::read_to_string(
        manifest_dir().join("plans/policies/s3-deny-amazon-linux-repos.json"),
    )
    .unwrap();
    let expected: serde_json::Value = serde_json::from_str(&policy_text).unwrap();
    assert_eq!(s3.policy.as_ref(), Some(&expected));
    assert_eq!(
        expected["Statement"][1]["Sid"],
        "DenyAmazonLinuxRepositories"
    );

    let names: BTreeMap<&str, &str> = p
        .interface_endpoints
        .iter()
        .map(|(k, e)| (k.as_str(), e.service_name.as_str()))
        .collect();
    assert_eq!(
        names,
        BTreeMap::from([
            ("logs", "com.amazonaws.us-east-1.logs"),
            ("sagemaker.api", "com.amazonaws.us-east-1.sagemaker.api"),
            (
                "sagemaker.runtime",
                "com.amazonaws.us-east-1.sagemaker.runtime"
            ),
            ("studio", "aws.sagemaker.us-east-1.studio"),
            ("sts", "com.amazonaws.us-east-1.sts"),
        ])
    );
    let subnet_refs: BTreeSet<Ref> = ["private-a", "private-b", "private-c"]
        .into_iter()
        .map(|k| Ref::Key(k.into()))
        .collect();
    for (k, ie) in &p.interface_endpoints {
        assert_eq!(ie.subnets, subnet_refs, "{k}");
        assert_eq!(
            ie.security_groups,
            BTreeSet::from([Ref::Key("endpoints".into())]),
            "{k}"
        );
        assert!(ie.private_dns, "{k}");
        assert_eq!(ie.policy, None, "{k}");
    }
    assert!(p.needs_private_dns());
    assert!(p.has_route_table());
}

#[test]
fn shipped_studio_plan_resolves_its_policy_next_to_the_plan_file() {
    // Copied without its policies/ directory, the plan is invalid; with it, valid.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(manifest_dir().join("plans/studio-vpc.toml")).unwrap();
    let path = dir.path().join("studio.toml");
    std::fs::write(&path, &text).unwrap();
    let e = Plan::load(&path).unwrap_err();
    assert_eq!(e.diagnostics.len(), 1, "{e}");
    assert_diag(
        &e.diagnostics[0],
        pos(&text, "\"policies/s3-deny-amazon-linux-repos.json\""),
        "gateway_endpoints.s3.policy",
        &["cannot read policy file"],
    );
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/s3-deny-amazon-linux-repos.json"),
        r#"{"Statement": [{"Effect": "Allow"}]}"#,
    )
    .unwrap();
    let p = Plan::load(&path).unwrap();
    assert_eq!(
        p.gateway_endpoints["s3"].policy,
        Some(serde_json::json!({"Statement": [{"Effect": "Allow"}]}))
    );
}

#[test]
fn shipped_minimal_plan_adopts_a_vpc() {
    let p =
        Plan::load(&manifest_dir().join("plans/minimal.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.name, "sagemaker-endpoints");
    assert_eq!(
        p.vpc,
        VpcSpec::Adopted {
            id: "vpc-0123456789abcdef0".into(),
            manage_dns: true
        }
    );
    assert!(p.subnets.is_empty());
    assert!(p.security_groups.is_empty());
    assert!(p.gateway_endpoints.is_empty());
    assert!(!p.has_route_table());
    let names: Vec<(&str, &str)> = p
        .interface_endpoints
        .iter()
        .map(|(k, e)| (k.as_str(), e.service_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("sagemaker.api", "com.amazonaws.us-east-1.sagemaker.api"),
            (
                "sagemaker.runtime",
                "com.amazonaws.us-east-1.sagemaker.runtime"
            ),
        ]
    );
    for ie in p.interface_endpoints.values() {
        assert_eq!(
            ie.subnets,
            BTreeSet::from([
                Ref::Id("subnet-0123456789abcdef0".into()),
                Ref::Id("subnet-0fedcba9876543210".into())
            ])
        );
        assert_eq!(
            ie.security_groups,
            BTreeSet::from([Ref::Id("sg-0123456789abcdef0".into())])
        );
        assert!(ie.private_dns);
    }
}

// ------------------------------------------------------------------------ egress

#[test]
fn egress_internet_gateway_is_read_and_typos_are_located() {
    let p = accept(&format!("{BASE}\n[egress]\ninternet_gateway = true\n"));
    assert!(p.wants_internet_gateway());
    assert!(!accept(BASE).wants_internet_gateway());
    let d = reject_one(&format!("{BASE}\n[egress]\ninternet_gatway = true\n"));
    assert_diag(
        &d,
        (29, 1),
        "egress.internet_gatway",
        &["unknown field `internet_gatway`", "`internet_gateway`"],
    );
    let d = reject_one(&format!("{BASE}\n[egress]\ninternet_gateway = \"yes\"\n"));
    assert_eq!(d.field, "egress.internet_gateway", "{d}");
    assert_eq!(d.line, 29, "{d}");
}

// ------------------------------------------------------------------------- [studio]

/// BASE with every endpoint a VpcOnly domain needs, and `[studio]` with `studio`.
fn with_studio(studio: &str) -> String {
    let text = edit(
        BASE,
        r#"services = ["sagemaker.api", "sagemaker.runtime"]"#,
        r#"services = ["sagemaker.api", "sagemaker.runtime", "studio", "sts", "logs"]"#,
    );
    format!("{text}\n[gateway_endpoints.s3]\n\n[studio]\ndomain_name = \"ml\"\nsubnets = [\"b\", \"a\"]\n{studio}")
}

#[test]
fn studio_adds_the_domain_group_and_one_group_per_user_with_their_rules() {
    let p = accept(&with_studio(
        "[studio.user_profiles.alice]\n[studio.user_profiles.bob]\n",
    ));
    let s = p.studio.as_ref().expect("studio");
    assert_eq!(s.domain_groups, vec!["studio".to_string()]);
    assert_eq!(
        s.user_profiles["alice"].security_groups,
        vec!["user-alice".to_string()]
    );
    assert!(!s.shared_client_group);
    assert_eq!(
        s.managed_policies,
        vec!["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess".to_string()]
    );
    let alice = &p.security_groups["user-alice"];
    let app = Rule {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        ports: Some((8192, 65535)),
        peer: Peer::SelfGroup,
    };
    assert!(alice.rules.contains(&app), "{:?}", alice.rules);
    assert!(alice
        .rules
        .iter()
        .any(|r| r.direction == Direction::Egress && r.ports == Some((2049, 2049))));
    // The endpoints admit 443 from the domain group and from each user's own group.
    let endpoints = &p.security_groups["endpoints"];
    for g in ["studio", "user-alice", "user-bob"] {
        assert!(
            endpoints
                .rules
                .iter()
                .any(|r| r.direction == Direction::Ingress
                    && r.ports == Some((443, 443))
                    && r.peer == Peer::Group(g.into())),
            "endpoints admit {g}: {:?}",
            endpoints.rules
        );
    }
}

#[test]
fn many_users_share_one_client_group_instead_of_passing_the_rules_quota() {
    let users: String = (0..70)
        .map(|i| format!("[studio.user_profiles.u{i}]\n"))
        .collect();
    let p = accept(&with_studio(&users));
    let s = p.studio.as_ref().unwrap();
    assert!(s.shared_client_group);
    assert!(s.user_profiles["u1"]
        .security_groups
        .contains(&"studio-clients".to_string()));
    let inbound = p.security_groups["endpoints"]
        .rules
        .iter()
        .filter(|r| r.direction == Direction::Ingress)
        .count();
    assert!(inbound <= 60, "{inbound} inbound rules");
}

#[test]
fn studio_without_a_required_endpoint_names_it_and_the_guide() {
    let text = edit(&with_studio(""), r#""sts", "#, "");
    let d = reject_one(&text);
    assert_eq!(d.field, "studio");
    assert!(
        d.message.contains("sts") && d.message.contains("seed 004"),
        "{d}"
    );
}

#[test]
fn studio_projects_need_the_service_catalog_endpoint() {
    let d = reject_one(&with_studio("projects = true\n"));
    assert!(d.message.contains("servicecatalog"), "{d}");
}

#[test]
fn studio_subnets_must_be_plan_subnets_or_ids() {
    let text = edit(
        &with_studio(""),
        r#"subnets = ["b", "a"]"#,
        r#"subnets = ["a", "nope"]"#,
    );
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"nope\""),
        "studio.subnets[1]",
        &["nope", "neither"],
    );
}

#[test]
fn studio_role_is_create_or_an_arn_and_policies_only_go_with_create() {
    let text = with_studio("execution_role = \"admin\"\n");
    let d = reject_one(&text);
    assert_diag(
        &d,
        pos(&text, "\"admin\""),
        "studio.execution_role",
        &["role ARN"],
    );
    let text = with_studio(
        "execution_role = \"arn:aws:iam::123456789012:role/x\"\nmanaged_policies = [\"arn:aws:iam::aws:policy/A\"]\n",
    );
    assert_eq!(reject_one(&text).field, "studio.managed_policies");
    let text = with_studio("managed_policies = [\"AmazonS3FullAccess\"]\n");
    assert_eq!(reject_one(&text).field, "studio.managed_policies[0]");
}

#[test]
fn studio_ips_per_user_auth_mode_and_names_are_checked() {
    let text = with_studio("ips_per_user = 9\n");
    assert_eq!(reject_one(&text).field, "studio.ips_per_user");
    let text = with_studio("auth_mode = \"saml\"\n");
    assert_eq!(reject_one(&text).field, "studio.auth_mode");
    let text = edit(
        &with_studio(""),
        "domain_name = \"ml\"",
        "domain_name = \"-ml\"",
    );
    assert_eq!(reject_one(&text).field, "studio.domain_name");
    let text = with_studio("[studio.user_profiles.al_ice]\n");
    assert_eq!(reject_one(&text).field, "studio.user_profiles.al_ice");
}

#[test]
fn a_plan_group_may_not_take_a_name_studio_makes() {
    let text = edit(
        &with_studio(""),
        "[security_groups.endpoints]",
        "[security_groups.studio]\ndescription = \"mine\"\n\n[security_groups.endpoints]",
    );
    assert_eq!(reject_one(&text).field, "security_groups.studio");
}

#[test]
fn the_shipped_studio_domain_plan_is_valid() {
    let path = manifest_dir().join("plans/studio-domain.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let p = validate_source(&path, &text).expect("plans/studio-domain.toml is valid");
    let s = p.studio.expect("studio");
    assert_eq!(s.user_profiles.len(), 2);
    assert_eq!(s.subnets.len(), 3);
}

#[test]
fn studio_subnets_too_small_for_the_users_are_refused_with_the_numbers() {
    // Two /24s: 251 addresses each, less 5 endpoint interfaces and 1 EFS mount target.
    let fits: String = (0..122)
        .map(|i| format!("[studio.user_profiles.u{i}]\n"))
        .collect();
    accept(&with_studio(&fits));
    let users: String = (0..123)
        .map(|i| format!("[studio.user_profiles.u{i}]\n"))
        .collect();
    let d = reject_one(&with_studio(&users));
    assert_eq!(d.field, "studio.subnets");
    assert!(
        d.message.contains("need 492") && d.message.contains("490 free"),
        "{d}"
    );
}
