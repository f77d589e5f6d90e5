//! End-to-end tests of the real `sagevpc` binary against LocalStack
//! (http://127.0.0.1:4566; `make localstack-up`). Results are checked with the AWS SDK,
//! by the ownership tags sagevpc puts on what it creates.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{IpPermission, SecurityGroup, VpcEndpoint, VpcEndpointType};
use aws_sdk_ec2::Client;
use common::*;
use serde_json::Value;

const STUDIO_SUBNETS: [(&str, &str, &str); 3] = [
    ("private-a", "us-east-1a", "10.20.0.0/20"),
    ("private-b", "us-east-1b", "10.20.16.0/20"),
    ("private-c", "us-east-1c", "10.20.32.0/20"),
];

/// (short name in the plan, AWS service name)
const STUDIO_INTERFACE: [(&str, &str); 5] = [
    ("sagemaker.api", "com.amazonaws.us-east-1.sagemaker.api"),
    (
        "sagemaker.runtime",
        "com.amazonaws.us-east-1.sagemaker.runtime",
    ),
    ("sts", "com.amazonaws.us-east-1.sts"),
    ("logs", "com.amazonaws.us-east-1.logs"),
    ("studio", "aws.sagemaker.us-east-1.studio"),
];

fn set<I: IntoIterator<Item = S>, S: Into<String>>(it: I) -> BTreeSet<String> {
    it.into_iter().map(Into::into).collect()
}

/// Assert the ownership tags of one resource; returns nothing, panics with context.
fn assert_tags(what: &str, tags: &[aws_sdk_ec2::types::Tag], plan: &str, address: &str) {
    assert_eq!(tag(tags, TAG_PLAN), Some(plan), "{what}: tag {TAG_PLAN}");
    assert_eq!(tag(tags, TAG_KEY), Some(address), "{what}: tag {TAG_KEY}");
    let key = address.split_once('.').map(|(_, k)| k).unwrap_or(address);
    let want_name = format!("{plan}-{key}");
    assert_eq!(
        tag(tags, "Name"),
        Some(want_name.as_str()),
        "{what}: tag Name"
    );
}

fn single_perm<'a>(what: &str, perms: &'a [IpPermission]) -> &'a IpPermission {
    assert_eq!(
        perms.len(),
        1,
        "{what}: expected exactly one permission, got {perms:#?}"
    );
    &perms[0]
}

fn assert_default_egress(what: &str, g: &SecurityGroup) {
    let p = single_perm(&format!("{what} egress"), g.ip_permissions_egress());
    assert_eq!(p.ip_protocol(), Some("-1"), "{what} egress protocol: {p:?}");
    let cidrs: Vec<&str> = p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect();
    assert_eq!(cidrs, vec!["0.0.0.0/0"], "{what} egress peers: {p:?}");
    assert!(
        p.user_id_group_pairs().is_empty(),
        "{what} egress group peers: {p:?}"
    );
    assert!(
        p.ipv6_ranges().is_empty(),
        "{what} egress ipv6 peers: {p:?}"
    );
}

fn group_peers(p: &IpPermission) -> Vec<&str> {
    p.user_id_group_pairs()
        .iter()
        .filter_map(|g| g.group_id())
        .collect()
}

fn endpoint_key(e: &VpcEndpoint) -> String {
    tag(e.tags(), TAG_KEY).unwrap_or_default().to_string()
}

/// Check every resource of an applied studio plan through the SDK.
async fn verify_studio(c: &Client, plan: &str) {
    // --------------------------------------------------------------- VPC
    let vpcs = vpcs_of(c, plan).await;
    assert_eq!(vpcs.len(), 1, "VPCs tagged with {plan}: {vpcs:#?}");
    let vpc = &vpcs[0];
    let vpc_id = vpc.vpc_id().expect("vpc id").to_string();
    assert_eq!(vpc.cidr_block(), Some("10.20.0.0/16"), "VPC cidr");
    assert_tags("vpc", vpc.tags(), plan, "vpc.main");
    assert_eq!(
        vpc_dns(c, &vpc_id).await,
        (true, true),
        "VPC {vpc_id}: (enableDnsSupport, enableDnsHostnames)"
    );

    // --------------------------------------------------------------- subnets
    let subnets = subnets_of(c, plan).await;
    assert_eq!(subnets.len(), 3, "subnets tagged with {plan}: {subnets:#?}");
    let mut subnet_ids: BTreeMap<String, String> = BTreeMap::new();
    for (key, az, cidr) in STUDIO_SUBNETS {
        let addr = format!("subnet.{key}");
        let s = subnets
            .iter()
            .find(|s| tag(s.tags(), TAG_KEY) == Some(addr.as_str()))
            .unwrap_or_else(|| panic!("no subnet tagged {TAG_KEY}={addr}: {subnets:#?}"));
        assert_tags(&addr, s.tags(), plan, &addr);
        assert_eq!(s.vpc_id(), Some(vpc_id.as_str()), "{addr}: vpc");
        assert_eq!(s.availability_zone(), Some(az), "{addr}: availability zone");
        assert_eq!(s.cidr_block(), Some(cidr), "{addr}: cidr");
        subnet_ids.insert(
            key.to_string(),
            s.subnet_id().expect("subnet id").to_string(),
        );
    }
    let all_subnets = set(subnet_ids.values().cloned());

    // --------------------------------------------------------------- endpoints
    let endpoints = endpoints_of(c, plan).await;
    assert_eq!(
        endpoints.len(),
        6,
        "endpoints tagged with {plan}: {endpoints:#?}"
    );
    let gateways: Vec<&VpcEndpoint> = endpoints
        .iter()
        .filter(|e| e.vpc_endpoint_type() == Some(&VpcEndpointType::Gateway))
        .collect();
    assert_eq!(gateways.len(), 1, "gateway endpoints: {gateways:#?}");
    let gw = gateways[0];
    let gw_id = gw.vpc_endpoint_id().expect("endpoint id").to_string();

    // --------------------------------------------------------------- route table
    let rts = route_tables_of(c, plan).await;
    assert_eq!(rts.len(), 1, "route tables tagged with {plan}: {rts:#?}");
    let rt = &rts[0];
    let rt_id = rt.route_table_id().expect("route table id").to_string();
    assert_tags("route table", rt.tags(), plan, "route_table.private");
    assert_eq!(rt.vpc_id(), Some(vpc_id.as_str()), "route table vpc");
    let associated = set(rt
        .associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter_map(|a| a.subnet_id()));
    assert_eq!(associated, all_subnets, "route table associations: {rt:#?}");
    assert!(
        rt.associations().iter().all(|a| !a.main().unwrap_or(false)),
        "the plan's route table must not be the VPC's main table: {rt:#?}"
    );
    assert!(
        !rt.routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")),
        "private route table has a default route: {:#?}",
        rt.routes()
    );
    assert!(
        rt.routes()
            .iter()
            .any(|r| r.destination_prefix_list_id().is_some()
                && r.gateway_id() == Some(gw_id.as_str())),
        "no prefix-list route to the S3 gateway endpoint {gw_id}: {:#?}",
        rt.routes()
    );

    // --------------------------------------------------------------- security groups
    let sgs = security_groups_of(c, plan).await;
    assert_eq!(sgs.len(), 2, "security groups tagged with {plan}: {sgs:#?}");
    let find_sg = |key: &str| -> &SecurityGroup {
        let addr = format!("security_group.{key}");
        sgs.iter()
            .find(|g| tag(g.tags(), TAG_KEY) == Some(addr.as_str()))
            .unwrap_or_else(|| panic!("no group tagged {TAG_KEY}={addr}: {sgs:#?}"))
    };
    let workloads = find_sg("workloads");
    let endpoints_sg = find_sg("endpoints");
    let wl_id = workloads.group_id().expect("group id").to_string();
    let ep_sg_id = endpoints_sg.group_id().expect("group id").to_string();
    for (key, g, desc) in [
        (
            "workloads",
            workloads,
            "Studio apps, training and processing containers",
        ),
        ("endpoints", endpoints_sg, "Interface endpoints"),
    ] {
        let addr = format!("security_group.{key}");
        assert_tags(&addr, g.tags(), plan, &addr);
        assert_eq!(g.vpc_id(), Some(vpc_id.as_str()), "{addr}: vpc");
        assert_eq!(g.description(), Some(desc), "{addr}: description");
        let want_name = format!("{plan}-{key}");
        assert_eq!(
            g.group_name(),
            Some(want_name.as_str()),
            "{addr}: group name"
        );
        assert_default_egress(&addr, g);
    }
    let p = single_perm("workloads ingress", workloads.ip_permissions());
    assert_eq!(
        p.ip_protocol(),
        Some("-1"),
        "workloads ingress protocol: {p:?}"
    );
    assert_eq!(
        group_peers(p),
        vec![wl_id.as_str()],
        "workloads ingress peer: {p:?}"
    );
    assert!(p.ip_ranges().is_empty(), "workloads ingress cidrs: {p:?}");
    let p = single_perm("endpoints ingress", endpoints_sg.ip_permissions());
    assert_eq!(
        p.ip_protocol(),
        Some("tcp"),
        "endpoints ingress protocol: {p:?}"
    );
    assert_eq!(
        (p.from_port(), p.to_port()),
        (Some(443), Some(443)),
        "ports: {p:?}"
    );
    assert_eq!(
        group_peers(p),
        vec![wl_id.as_str()],
        "endpoints ingress peer: {p:?}"
    );
    assert!(p.ip_ranges().is_empty(), "endpoints ingress cidrs: {p:?}");

    // --------------------------------------------------------------- gateway endpoint
    assert_tags("gateway endpoint", gw.tags(), plan, "gateway_endpoint.s3");
    assert_eq!(gw.service_name(), Some("com.amazonaws.us-east-1.s3"));
    assert_eq!(gw.vpc_id(), Some(vpc_id.as_str()), "gateway endpoint vpc");
    assert_eq!(
        gw.route_table_ids(),
        std::slice::from_ref(&rt_id),
        "gateway endpoint route tables"
    );
    let live: Value = serde_json::from_str(gw.policy_document().expect("gateway policy"))
        .expect("gateway policy is JSON");
    let want = shipped_policy();
    assert!(
        same_statements(&live, &want),
        "gateway endpoint policy differs from the shipped file\nlive: {live:#}\nfile: {want:#}"
    );
    if let Some(v) = live.get("Version") {
        assert_eq!(v, &want["Version"], "policy Version");
    }
    assert_eq!(
        gw.state().map(|s| s.as_str()),
        Some("available"),
        "gateway state"
    );

    // --------------------------------------------------------------- interface endpoints
    let interfaces: Vec<&VpcEndpoint> = endpoints
        .iter()
        .filter(|e| e.vpc_endpoint_type() == Some(&VpcEndpointType::Interface))
        .collect();
    assert_eq!(interfaces.len(), 5, "interface endpoints: {interfaces:#?}");
    assert_eq!(
        set(interfaces.iter().filter_map(|e| e.service_name())),
        set(STUDIO_INTERFACE.iter().map(|(_, s)| *s)),
        "interface endpoint services"
    );
    for (short, service) in STUDIO_INTERFACE {
        let addr = format!("interface_endpoint.{short}");
        let e = interfaces
            .iter()
            .find(|e| e.service_name() == Some(service))
            .unwrap_or_else(|| panic!("no endpoint for {service}"));
        assert_eq!(endpoint_key(e), addr, "{service}: {TAG_KEY}");
        assert_tags(&addr, e.tags(), plan, &addr);
        assert_eq!(e.vpc_id(), Some(vpc_id.as_str()), "{addr}: vpc");
        assert_eq!(
            set(e.subnet_ids().iter().cloned()),
            all_subnets,
            "{addr}: subnets"
        );
        assert_eq!(
            set(e.groups().iter().filter_map(|g| g.group_id())),
            set([ep_sg_id.as_str()]),
            "{addr}: security groups"
        );
        assert_eq!(e.private_dns_enabled(), Some(true), "{addr}: private DNS");
        assert_eq!(
            e.state().map(|s| s.as_str()),
            Some("available"),
            "{addr}: state"
        );
    }
}

/// The line of `out` that starts with `prefix`.
fn line_starting<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

fn position_of(out: &str, needle: &str) -> usize {
    out.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{out}"))
}

#[tokio::test]
async fn studio_plan_applies_and_replans_empty() {
    let c = ec2().await;
    let name = unique_name("studio");
    let (_dir, plan) = PlanDir::studio(&name);
    let plan = plan.to_string_lossy().to_string();

    let (out, err) = run_expect(0, &["apply", &plan, "--auto-approve", "--stats"]);
    assert!(
        out.contains("Apply complete! Resources: 18 added, 0 changed, 0 destroyed."),
        "apply summary:\n{out}"
    );
    assert!(err.contains("stats: "), "--stats prints on stderr:\n{err}");

    verify_studio(&c, &name).await;
    let before = owned(&c, &name).await;
    assert_eq!(
        before.total(),
        1 + 3 + 1 + 2 + 6,
        "owned after apply: {before:#?}"
    );

    let (out, _) = run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert!(out.contains("No changes."), "re-plan after apply:\n{out}");

    let (out, err) = run_expect(0, &["apply", &plan, "--auto-approve", "--stats"]);
    assert!(out.contains("No changes."), "second apply:\n{out}");
    assert!(
        !out.contains("Creating..."),
        "second apply created something:\n{out}"
    );
    let stats = line_starting(&err, "stats: ");
    assert!(
        stats.contains("(0 mutating)"),
        "second apply made mutating calls: {stats}\n{err}"
    );

    let after = owned(&c, &name).await;
    assert_eq!(
        after, before,
        "resources changed or duplicated by the second apply"
    );
    verify_studio(&c, &name).await;
}

#[tokio::test]
async fn apply_output_reports_progress() {
    let c = ec2().await;
    let name = unique_name("progress");
    let (_dir, plan) = PlanDir::studio(&name);
    let plan = plan.to_string_lossy().to_string();

    let (out, _) = run_expect(2, &["plan", &plan, "--detailed-exitcode"]);
    assert!(
        out.contains("Plan: 18 to add, 0 to change, 0 to destroy."),
        "plan summary:\n{out}"
    );

    let (out, _) = run_expect(0, &["apply", &plan, "--auto-approve"]);
    // The plan comes first, then progress, then the summary.
    let plan_at = position_of(&out, "Plan: 18 to add, 0 to change, 0 to destroy.");
    let creating_at = position_of(&out, "vpc.main: Creating...");
    assert!(plan_at < creating_at, "plan printed after progress:\n{out}");

    let owned_now = owned(&c, &name).await;
    let vpc_line = line_starting(&out, "vpc.main: Created after ");
    assert_eq!(owned_now.vpcs.len(), 1, "{owned_now:#?}");
    assert!(
        vpc_line.ends_with(&format!("[id={}]", owned_now.vpcs[0])),
        "vpc.main line does not name the VPC {}: {vpc_line}",
        owned_now.vpcs[0]
    );
    position_of(&out, "interface_endpoint.sts: Creating...");
    let sts_line = line_starting(&out, "interface_endpoint.sts: Created after ");
    assert!(sts_line.contains("[id=vpce-"), "sts line: {sts_line}");
    let sts_id = sts_line
        .rsplit("[id=")
        .next()
        .and_then(|s| s.strip_suffix(']'))
        .expect("id in sts line");
    assert!(
        owned_now.endpoints.iter().any(|e| e == sts_id),
        "{sts_id} is not an endpoint of the plan: {owned_now:#?}"
    );
    for addr in [
        "subnet.private-a",
        "security_group.workloads",
        "gateway_endpoint.s3",
    ] {
        position_of(&out, &format!("{addr}: Creating..."));
        let l = line_starting(&out, &format!("{addr}: Created after "));
        assert!(l.contains("[id="), "{addr}: {l}");
        assert!(
            position_of(&out, &format!("{addr}: Creating...")) < position_of(&out, l),
            "{addr}: Created before Creating:\n{out}"
        );
    }
    let last = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert_eq!(
        last, "Apply complete! Resources: 18 added, 0 changed, 0 destroyed.",
        "closing line of apply:\n{out}"
    );
}

#[tokio::test]
async fn detailed_exitcode_is_2_with_changes() {
    let c = ec2().await;
    let name = unique_name("exit2");
    let (mut dir, plan) = PlanDir::studio(&name);
    dir.keep();
    let plan = plan.to_string_lossy().to_string();

    let (out, _) = run_expect(2, &["plan", &plan, "--detailed-exitcode"]);
    assert!(out.contains("Plan: 18 to add"), "plan output:\n{out}");
    // Without the flag, changes are not an error.
    run_expect(0, &["plan", &plan]);
    // plan is read-only.
    assert_eq!(
        owned(&c, &name).await,
        Owned::default(),
        "plan created resources"
    );
}

#[tokio::test]
async fn minimal_plan_into_adopted_vpc() {
    let c = ec2().await;
    let name = unique_name("adopt");
    let fx = Adopted::create(&c, &name, 61).await;
    assert!(!vpc_dns(&c, &fx.vpc_id).await.1, "fixture hostnames off");
    let mut dir = PlanDir::new(&name);
    let text = fx.minimal_plan();
    assert!(
        text.contains("manage_dns = true"),
        "minimal.toml sets manage_dns"
    );

    // Without manage_dns: the plan cannot be applied, and says why.
    let no_manage: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("manage_dns"))
        .map(|l| format!("{l}\n"))
        .collect();
    let plan = dir.write("no-manage-dns.toml", &no_manage);
    let (code, out, err) = run(&["plan", &plan.to_string_lossy()]);
    assert_eq!(
        code, 1,
        "plan without manage_dns\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    for needle in ["enableDnsSupport", "enableDnsHostnames", "manage_dns"] {
        assert!(
            err.contains(needle),
            "error does not mention {needle}:\n{err}"
        );
    }
    assert!(!vpc_dns(&c, &fx.vpc_id).await.1, "plan changed the VPC");
    assert!(endpoints_in_vpc(&c, &fx.vpc_id).await.is_empty());

    // With manage_dns = true (as shipped).
    let plan = dir.write("minimal.toml", &text);
    let plan = plan.to_string_lossy().to_string();
    let (out, _) = run_expect(0, &["apply", &plan, "--auto-approve"]);
    assert!(
        out.contains("Apply complete! Resources: 2 added, 1 changed, 0 destroyed."),
        "apply summary:\n{out}"
    );
    assert_eq!(
        vpc_dns(&c, &fx.vpc_id).await,
        (true, true),
        "adopted VPC DNS after apply"
    );

    let eps = endpoints_of(&c, &name).await;
    assert_eq!(eps.len(), 2, "endpoints tagged with {name}: {eps:#?}");
    for (short, service) in [
        ("sagemaker.api", "com.amazonaws.us-east-1.sagemaker.api"),
        (
            "sagemaker.runtime",
            "com.amazonaws.us-east-1.sagemaker.runtime",
        ),
    ] {
        let addr = format!("interface_endpoint.{short}");
        let e = eps
            .iter()
            .find(|e| e.service_name() == Some(service))
            .unwrap_or_else(|| panic!("no endpoint for {service}: {eps:#?}"));
        assert_tags(&addr, e.tags(), &name, &addr);
        assert_eq!(e.vpc_endpoint_type(), Some(&VpcEndpointType::Interface));
        assert_eq!(e.vpc_id(), Some(fx.vpc_id.as_str()), "{addr}: vpc");
        assert_eq!(
            set(e.subnet_ids().iter().cloned()),
            set([fx.subnet_a.as_str(), fx.subnet_b.as_str()]),
            "{addr}: subnets"
        );
        assert_eq!(
            set(e.groups().iter().filter_map(|g| g.group_id())),
            set([fx.sg.as_str()]),
            "{addr}: security groups"
        );
        assert_eq!(e.private_dns_enabled(), Some(true), "{addr}: private DNS");
    }

    // Adopted resources are not taken over.
    let vpc = vpc_by_id(&c, &fx.vpc_id).await.expect("adopted VPC exists");
    assert_eq!(
        tag(vpc.tags(), TAG_PLAN),
        None,
        "adopted VPC tagged: {vpc:#?}"
    );
    assert_eq!(
        tag(vpc.tags(), TAG_KEY),
        None,
        "adopted VPC tagged: {vpc:#?}"
    );
    assert_eq!(
        tag(vpc.tags(), "Name"),
        Some(name.as_str()),
        "adopted VPC renamed"
    );
    assert!(
        vpcs_of(&c, &name).await.is_empty(),
        "a VPC is tagged with the plan"
    );
    assert!(
        subnets_of(&c, &name).await.is_empty(),
        "subnets tagged with the plan"
    );
    assert!(
        security_groups_of(&c, &name).await.is_empty(),
        "groups tagged with the plan"
    );

    let (out, _) = run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert!(out.contains("No changes."), "re-plan:\n{out}");
    drop(dir); // destroy before the fixture goes
}

#[tokio::test]
async fn destroy_removes_only_what_the_plan_owns() {
    let c = ec2().await;
    let name_a = unique_name("destA");
    let name_b = unique_name("destB");

    let mut fx = Adopted::create(&c, &name_b, 62).await;
    let hand_subnet = fx.add_subnet(&c, "10.62.3.0/24").await;
    let hand_sg = fx
        .add_security_group(&c, &format!("{name_b}-handmade"))
        .await;
    let mut dir_b = PlanDir::new(&name_b);
    let plan_b = dir_b.write("minimal.toml", &fx.minimal_plan());
    let plan_b = plan_b.to_string_lossy().to_string();
    let (dir_a, plan_a) = PlanDir::studio(&name_a);
    let plan_a = plan_a.to_string_lossy().to_string();

    run_expect(0, &["apply", &plan_a, "--auto-approve"]);
    run_expect(0, &["apply", &plan_b, "--auto-approve"]);
    let a_before = owned(&c, &name_a).await;
    assert_eq!(a_before.total(), 13, "A applied: {a_before:#?}");
    let b_before = owned(&c, &name_b).await;
    assert_eq!(b_before.endpoints.len(), 2, "B applied: {b_before:#?}");

    // Destroy A.
    let (out, _) = run_expect(0, &["destroy", &plan_a, "--auto-approve"]);
    assert!(out.contains("Destroy complete!"), "destroy A:\n{out}");
    let a_after = owned(&c, &name_a).await;
    assert_eq!(
        a_after,
        Owned::default(),
        "left tagged with A after destroy"
    );
    assert!(
        vpc_by_id(&c, &a_before.vpcs[0]).await.is_none(),
        "A's VPC {} still exists",
        a_before.vpcs[0]
    );

    // B and everything made by hand are untouched.
    let b_after = owned(&c, &name_b).await;
    assert_eq!(b_after, b_before, "B changed by destroying A");
    assert!(
        vpc_by_id(&c, &fx.vpc_id).await.is_some(),
        "adopted VPC deleted"
    );
    for s in [&fx.subnet_a, &fx.subnet_b, &hand_subnet] {
        assert!(subnet_by_id(&c, s).await.is_some(), "subnet {s} deleted");
    }
    for g in [&fx.sg, &hand_sg] {
        assert!(
            security_group_by_id(&c, g).await.is_some(),
            "group {g} deleted"
        );
    }

    // Destroying A again does nothing.
    let (out, err) = run_expect(0, &["destroy", &plan_a, "--auto-approve", "--stats"]);
    assert!(out.contains("No changes."), "second destroy of A:\n{out}");
    assert!(
        line_starting(&err, "stats: ").contains("(0 mutating)"),
        "second destroy of A mutated:\n{err}"
    );
    drop(dir_a);

    // Destroy B: only its endpoints go.
    let (out, _) = run_expect(0, &["destroy", &plan_b, "--auto-approve"]);
    assert!(out.contains("Destroy complete!"), "destroy B:\n{out}");
    assert_eq!(
        owned(&c, &name_b).await,
        Owned::default(),
        "left tagged with B"
    );
    assert!(
        endpoints_in_vpc(&c, &fx.vpc_id).await.is_empty(),
        "endpoints left"
    );
    let vpc = vpc_by_id(&c, &fx.vpc_id)
        .await
        .expect("adopted VPC deleted by destroy B");
    assert_eq!(tag(vpc.tags(), TAG_PLAN), None, "adopted VPC tagged");
    for s in [&fx.subnet_a, &fx.subnet_b, &hand_subnet] {
        assert!(
            subnet_by_id(&c, s).await.is_some(),
            "subnet {s} deleted by destroy B"
        );
    }
    for g in [&fx.sg, &hand_sg] {
        assert!(
            security_group_by_id(&c, g).await.is_some(),
            "group {g} deleted by destroy B"
        );
    }
    dir_b.keep();
    drop(dir_b);
    drop(fx);
}

#[tokio::test]
async fn apply_without_auto_approve_refuses_when_stdin_is_not_a_terminal() {
    let c = ec2().await;
    let name = unique_name("noapprove");
    let (_dir, plan) = PlanDir::studio(&name);
    let plan = plan.to_string_lossy().to_string();

    let (code, out, err) = run(&["apply", &plan]);
    assert_eq!(
        code, 1,
        "apply without --auto-approve\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    assert!(
        err.contains("--auto-approve"),
        "error does not mention --auto-approve:\n{err}"
    );
    assert!(!out.contains("Creating..."), "apply went ahead:\n{out}");
    assert!(
        vpcs_of(&c, &name).await.is_empty(),
        "a VPC tagged with the plan exists"
    );
    assert_eq!(
        owned(&c, &name).await,
        Owned::default(),
        "apply created resources"
    );
}

#[tokio::test]
async fn a_new_subnet_overlapping_a_hand_made_one_is_refused_at_plan_time() {
    let c = ec2().await;
    let name = unique_name("overlap");
    let fx = Adopted::create(&c, &name, 64).await;
    let mut dir = PlanDir::new(&name);
    let text = format!(
        "{}\n[subnets.extra]\navailability_zone = \"us-east-1c\"\ncidr = \"10.64.1.128/25\"\n",
        fx.minimal_plan()
    );
    let plan = dir
        .write("overlap.toml", &text)
        .to_string_lossy()
        .to_string();
    for cmd in ["plan", "apply"] {
        let (code, out, err) =
            run(&[cmd, &plan, "--auto-approve"][..if cmd == "plan" { 2 } else { 3 }]);
        assert_eq!(code, 1, "{cmd}\n--- stdout\n{out}\n--- stderr\n{err}");
        assert!(
            err.contains("subnets.extra: cidr 10.64.1.128/25 overlaps subnet")
                && err.contains(&fx.subnet_a)
                && err.contains("not made by sagevpc")
                && err.contains("10.64.0.0/25 is free"),
            "{cmd}: {err}"
        );
    }
    assert_eq!(
        owned(&c, &name).await,
        Owned::default(),
        "nothing was created"
    );
}

#[tokio::test]
async fn destroy_refuses_before_the_first_delete_when_the_vpc_holds_what_the_plan_does_not_own() {
    let c = ec2().await;
    let name = unique_name("residents");
    let mut dir = PlanDir::new(&name);
    let plan = dir
        .write("studio.toml", &shipped("studio-vpc.toml"))
        .to_string_lossy()
        .to_string();
    run_expect(0, &["apply", &plan, "--auto-approve"]);
    let before = owned(&c, &name).await;
    let vpc = before.vpcs[0].clone();
    let sid = |out: aws_sdk_ec2::operation::create_subnet::CreateSubnetOutput| {
        out.subnet()
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_string()
    };
    let hand_subnet = sid(c
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.20.200.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await
        .expect("CreateSubnet (by hand)"));
    let hand_sg = c
        .create_security_group()
        .vpc_id(&vpc)
        .group_name(format!("{name}-by-hand"))
        .description("made by hand")
        .send()
        .await
        .expect("CreateSecurityGroup (by hand)")
        .group_id()
        .unwrap()
        .to_string();

    let (code, _, err) = run(&["destroy", &plan, "--auto-approve"]);
    assert_eq!(code, 1, "{err}");
    for needle in [
        format!("AWS would refuse to delete VPC {vpc}"),
        format!("subnet {hand_subnet} (10.20.200.0/24, us-east-1a): not made by sagevpc"),
        format!("security group {hand_sg} ({name}-by-hand): not made by sagevpc"),
        "Nothing was changed".into(),
        "--keep-vpc".into(),
    ] {
        assert!(err.contains(&needle), "no {needle:?} in:\n{err}");
    }
    assert_eq!(owned(&c, &name).await, before, "destroy deleted something");

    // A network interface in one of the plan's subnets: even --keep-vpc cannot help.
    let plan_subnet = before.subnets[0].clone();
    let eni = c
        .create_network_interface()
        .subnet_id(&plan_subnet)
        .description("a hand-made interface")
        .send()
        .await
        .expect("CreateNetworkInterface")
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .unwrap()
        .to_string();
    let (code, _, err) = run(&["destroy", &plan, "--auto-approve", "--keep-vpc"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("network interface {eni}")) && err.contains("a hand-made interface"),
        "{err}"
    );
    assert!(!err.contains("run `sagevpc destroy --keep-vpc`"), "{err}");
    assert_eq!(owned(&c, &name).await, before, "destroy deleted something");
    c.delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .expect("DeleteNetworkInterface");

    // --keep-vpc: everything of the plan but its VPC.
    let (out, _) = run_expect(0, &["destroy", &plan, "--auto-approve", "--keep-vpc"]);
    assert!(out.contains("is kept (--keep-vpc)"), "{out}");
    let left = owned(&c, &name).await;
    assert_eq!(left.vpcs, std::slice::from_ref(&vpc), "{left:?}");
    assert_eq!(left.total(), 1, "{left:?}");

    // With the hand-made things gone, destroy takes the VPC too.
    c.delete_subnet()
        .subnet_id(&hand_subnet)
        .send()
        .await
        .expect("DeleteSubnet");
    c.delete_security_group()
        .group_id(&hand_sg)
        .send()
        .await
        .expect("DeleteSecurityGroup");
    run_expect(0, &["destroy", &plan, "--auto-approve"]);
    assert_eq!(owned(&c, &name).await, Owned::default());
}
