//! Change management against LocalStack (http://127.0.0.1:4566; `make localstack-up`):
//! the scenarios of `src/changeset/tests.rs`, proven with the real binary and checked
//! with the AWS SDK. Every test uses its own plan name and ends with an empty re-plan
//! (`plan --detailed-exitcode` exiting 0), or for destroy with a second destroy that has
//! nothing to do.
//!
//! * plan edits: the human `plan` output is snapshotted (ids and the plan name redacted),
//!   applied, verified through the SDK;
//! * drift made by hand through the SDK: detected (exit 2, `changed outside sagevpc`),
//!   restored by `apply`;
//! * `plan --output json` of a replacement; saved plans (applied exactly, or refused as
//!   stale); destroy.
//!
//! Known LocalStack gap (4.13.1): its own `ModifyVpcEndpoint` handler
//! (`localstack/services/ec2/provider.py`) applies the policy, route tables, subnets and
//! private DNS but silently ignores `AddSecurityGroupIds` / `RemoveSecurityGroupIds`
//! (it answers `Return: true`). The assertions that need that behaviour go through
//! [`endpoints_carry_group`], which tells a product bug (the same call made directly
//! through the SDK works) from the gap (it does not either). When the gap is confirmed
//! at run time the test says so on stderr and checks what is left to check; set
//! `SAGEVPC_IT_STRICT_LOCALSTACK=1` to make the gap a failure instead.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, SecurityGroup, Subnet, Tag, VpcEndpoint,
    VpcEndpointType,
};
use aws_sdk_ec2::Client;
use common::*;
use serde_json::Value;

const STRICT_ENV: &str = "SAGEVPC_IT_STRICT_LOCALSTACK";

/// (plan key, AWS service name) of the studio plan's interface endpoints.
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

const ENDPOINT_SUBNETS_LINE: &str = r#"subnets = ["private-a", "private-b", "private-c"]"#;
const ENDPOINTS_INGRESS: &str =
    r#"ingress = [{ from = "workloads", protocol = "tcp", ports = "443" }]"#;

// ------------------------------------------------------------------------- text helpers

fn set<I: IntoIterator<Item = S>, S: Into<String>>(it: I) -> BTreeSet<String> {
    it.into_iter().map(Into::into).collect()
}

/// `text` with `from` replaced by `to`; `from` must occur exactly once.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the plan text must contain {from:?} exactly once:\n{text}"
    );
    text.replace(from, to)
}

/// Replace AWS ids `(vpc|subnet|rtb|rtbassoc|sg|vpce)-[0-9a-f]{8,17}` by `$1-<id>` and
/// the plan's (unique) name by `<plan>`, for stable snapshots.
fn redact(out: &str, plan: &str) -> String {
    const PREFIXES: [&str; 6] = ["rtbassoc-", "subnet-", "vpce-", "vpc-", "rtb-", "sg-"];
    let s = out.replace(plan, "<plan>");
    let b = s.as_bytes();
    let mut res = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let hit = boundary
            .then(|| PREFIXES.iter().find(|p| b[i..].starts_with(p.as_bytes())))
            .flatten();
        if let Some(p) = hit {
            let start = i + p.len();
            let hex = b[start..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
                .count();
            if hex >= 8 {
                let n = hex.min(17);
                res.push_str(&s[copied..start]);
                res.push_str("<id>");
                i = start + n;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    res.push_str(&s[copied..]);
    res
}

fn is_header(l: &str) -> bool {
    ["  + ", "  - ", "  ~ ", "  -/+ "]
        .iter()
        .any(|p| l.starts_with(p))
        || (l.starts_with("    ") && l[4..].starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// The changes of a human plan output: (symbol, address), no-ops left out, sorted.
fn changes(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = out
        .lines()
        .filter(|l| is_header(l) && !l.starts_with("    "))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let sym = parts.next().expect("symbol").to_string();
            let addr = parts.next().expect("address").to_string();
            (sym, addr)
        })
        .collect();
    v.sort();
    v
}

fn ch(sym: &str, addr: &str) -> (String, String) {
    (sym.to_string(), addr.to_string())
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

/// `~` for each of the studio plan's five interface endpoints.
fn all_interface_updates() -> Vec<(String, String)> {
    STUDIO_INTERFACE
        .iter()
        .map(|(k, _)| ch("~", &format!("interface_endpoint.{k}")))
        .collect()
}

/// The block of the change `sym address` in a human plan output: its header line and
/// the lines under it.
fn block(out: &str, sym: &str, address: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            is_header(l) && {
                let mut p = l.split_whitespace();
                p.next() == Some(sym) && p.next() == Some(address)
            }
        })
        .unwrap_or_else(|| panic!("no `{sym} {address}` in the plan output:\n{out}"));
    let mut b = vec![lines[start]];
    for l in &lines[start + 1..] {
        if l.trim().is_empty() || is_header(l) {
            break;
        }
        b.push(l);
    }
    b.join("\n")
}

fn assert_contains(hay: &str, needle: &str, what: &str) {
    assert!(hay.contains(needle), "{what}: {needle:?} not in:\n{hay}");
}

/// The count of one API operation in a `--stats` report on stderr (0 when absent).
fn stats_count(err: &str, op: &str) -> u32 {
    err.lines()
        .filter_map(|l| l.strip_prefix("stats:"))
        .map(str::split_whitespace)
        .filter_map(|mut p| (p.next() == Some(op)).then(|| p.next()).flatten())
        .map(|n| n.parse().expect("count"))
        .next()
        .unwrap_or(0)
}

// ------------------------------------------------------------------------- SDK helpers

fn key_of(tags: &[Tag]) -> &str {
    tag(tags, TAG_KEY).unwrap_or_default()
}

async fn endpoint_by_key(c: &Client, plan: &str, address: &str) -> VpcEndpoint {
    let eps = endpoints_of(c, plan).await;
    let mut found: Vec<&VpcEndpoint> = eps.iter().filter(|e| key_of(e.tags()) == address).collect();
    assert_eq!(
        found.len(),
        1,
        "endpoints of {plan} tagged {TAG_KEY}={address} (not deleted): {eps:#?}"
    );
    found.remove(0).clone()
}

async fn interface_endpoints(c: &Client, plan: &str) -> Vec<VpcEndpoint> {
    endpoints_of(c, plan)
        .await
        .into_iter()
        .filter(|e| e.vpc_endpoint_type() == Some(&VpcEndpointType::Interface))
        .collect()
}

async fn subnet_by_key(c: &Client, plan: &str, address: &str) -> Subnet {
    let all = subnets_of(c, plan).await;
    let mut found: Vec<&Subnet> = all.iter().filter(|s| key_of(s.tags()) == address).collect();
    assert_eq!(
        found.len(),
        1,
        "subnets of {plan} tagged {address}: {all:#?}"
    );
    found.remove(0).clone()
}

async fn sg_by_key(c: &Client, plan: &str, address: &str) -> SecurityGroup {
    let all = security_groups_of(c, plan).await;
    let mut found: Vec<&SecurityGroup> =
        all.iter().filter(|g| key_of(g.tags()) == address).collect();
    assert_eq!(
        found.len(),
        1,
        "groups of {plan} tagged {address}: {all:#?}"
    );
    found.remove(0).clone()
}

fn id_of_endpoint(e: &VpcEndpoint) -> String {
    e.vpc_endpoint_id().expect("endpoint id").to_string()
}

fn groups_of(e: &VpcEndpoint) -> BTreeSet<String> {
    set(e.groups().iter().filter_map(|g| g.group_id()))
}

/// Every permission as one line `protocol from-to peer` (ports `*` when absent).
fn perms(list: &[IpPermission]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in list {
        let proto = p.ip_protocol().unwrap_or("?");
        let ports = match (p.from_port(), p.to_port()) {
            (Some(f), Some(t)) if proto != "-1" => format!("{f}-{t}"),
            _ => "*".to_string(),
        };
        for r in p.ip_ranges() {
            out.insert(format!("{proto} {ports} {}", r.cidr_ip().unwrap_or("?")));
        }
        for r in p.ipv6_ranges() {
            out.insert(format!("{proto} {ports} {}", r.cidr_ipv6().unwrap_or("?")));
        }
        for g in p.user_id_group_pairs() {
            out.insert(format!("{proto} {ports} {}", g.group_id().unwrap_or("?")));
        }
        for pl in p.prefix_list_ids() {
            out.insert(format!(
                "{proto} {ports} {}",
                pl.prefix_list_id().unwrap_or("?")
            ));
        }
    }
    out
}

/// The state of an endpoint by id; `None` when AWS no longer knows it.
async fn endpoint_state(c: &Client, id: &str) -> Option<String> {
    match c.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await {
        Ok(r) => r.vpc_endpoints().first().map(|e| {
            e.state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        }),
        Err(e) => {
            let msg = format!("{e:?}");
            assert!(
                msg.contains("NotFound"),
                "DescribeVpcEndpoints {id} failed: {msg}"
            );
            None
        }
    }
}

async fn assert_endpoint_gone(c: &Client, id: &str, what: &str) {
    let st = endpoint_state(c, id).await;
    assert!(
        st.is_none()
            || st
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("deleted")),
        "{what}: endpoint {id} still exists in state {st:?}"
    );
}

async fn route_table_exists(c: &Client, id: &str) -> bool {
    let f = Filter::builder().name("route-table-id").values(id).build();
    !c.describe_route_tables()
        .filters(f)
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables()
        .is_empty()
}

/// The test's own cleanup, made visible (the `PlanDir` drop only logs a failure): destroy
/// exits 0, nothing tagged with the plan is left, and the apply lock is released.
async fn teardown(c: &Client, dir: &mut PlanDir, plan: &str, name: &str) {
    let (code, out, err) = run(&["destroy", plan, "--auto-approve"]);
    assert_eq!(
        code, 0,
        "cleanup destroy of {name} exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    dir.keep();
    assert_eq!(
        owned(c, name).await,
        Owned::default(),
        "left after destroy of {name}"
    );
    let lock = format!("sagevpc-lock-{name}");
    let f = Filter::builder().name("key-name").values(&lock).build();
    let keys = c
        .describe_key_pairs()
        .filters(f)
        .send()
        .await
        .expect("DescribeKeyPairs");
    assert!(
        keys.key_pairs().is_empty(),
        "the apply lock {lock} was not released: {:#?}",
        keys.key_pairs()
    );
}

// ------------------------------------------------------------------------- the gap

/// Whether the interface endpoints of `plan` carry exactly the group `want` (after an
/// apply that should have put them there). If they do not, the same change is made
/// directly through the SDK on one of them: if LocalStack applies it, sagevpc did not
/// send it (a product bug: panic); if LocalStack ignores it too, that is LocalStack's
/// `ModifyVpcEndpoint` ignoring `AddSecurityGroupIds`: reported on stderr and `false`
/// returned (a panic with `SAGEVPC_IT_STRICT_LOCALSTACK` set).
async fn endpoints_carry_group(c: &Client, plan: &str, want: &str, scenario: &str) -> bool {
    let eps = interface_endpoints(c, plan).await;
    assert_eq!(eps.len(), 5, "interface endpoints of {plan}: {eps:#?}");
    let wrong: Vec<String> = eps
        .iter()
        .filter(|e| groups_of(e) != set([want]))
        .map(|e| format!("{} {:?}", key_of(e.tags()), groups_of(e)))
        .collect();
    if wrong.is_empty() {
        return true;
    }
    let probe = id_of_endpoint(&eps[0]);
    c.modify_vpc_endpoint()
        .vpc_endpoint_id(&probe)
        .add_security_group_ids(want)
        .send()
        .await
        .expect("ModifyVpcEndpoint AddSecurityGroupIds (direct probe)");
    let after = c
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&probe)
        .send()
        .await
        .expect("DescribeVpcEndpoints (probe)");
    let probe_groups = after
        .vpc_endpoints()
        .first()
        .map(groups_of)
        .unwrap_or_default();
    if probe_groups.contains(want) {
        panic!(
            "{scenario}: after apply the interface endpoints do not carry group {want}: {wrong:?}. \
             The same ModifyVpcEndpoint(AddSecurityGroupIds={want}) sent directly through the SDK \
             does take effect on LocalStack, so sagevpc did not make that change (product bug)."
        );
    }
    let msg = format!(
        "LOCALSTACK GAP ({scenario}): interface endpoints should carry only {want}, have {wrong:?}; \
         ModifyVpcEndpoint(AddSecurityGroupIds={want}) sent directly through the SDK to {probe} \
         answered Return=true and left its groups at {probe_groups:?}: LocalStack ignores \
         Add/RemoveSecurityGroupIds. The endpoint-groups assertion and the empty re-plan are \
         not checkable here (set {STRICT_ENV}=1 to fail instead)."
    );
    if std::env::var_os(STRICT_ENV).is_some() {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    false
}

/// The apply's read-back may find one thing AWS did not take: LocalStack's
/// ModifyVpcEndpoint ignoring security groups (see `endpoints_carry_group`). It must
/// say exactly that, interface endpoint by interface endpoint, and nothing else.
fn assert_only_the_group_gap_is_unverified(err: &str) {
    assert_contains(err, "error: AWS did not take", "apply read-back");
    let unverified: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(" (update): "))
        .collect();
    assert!(!unverified.is_empty(), "{err}");
    for l in &unverified {
        assert!(
            l.trim_start().starts_with("interface_endpoint.")
                && l.contains("security_groups is ")
                && !l.contains(';'),
            "not the LocalStack group gap: {l}\n{err}"
        );
    }
    eprintln!(
        "LOCALSTACK GAP (apply read-back names it): {}",
        unverified.join(" | ")
    );
}

/// Under the gap: the re-plan must show nothing but the endpoints' `security_groups`.
fn assert_replan_only_endpoint_groups(plan: &str) {
    let (out, _) = run_expect(2, &["plan", plan, "--detailed-exitcode"]);
    assert_eq!(
        changes(&out),
        sorted(all_interface_updates()),
        "re-plan (LocalStack gap):\n{out}"
    );
    for (_, addr) in all_interface_updates() {
        let b = block(&out, "~", &addr);
        let attrs: Vec<&str> = b
            .lines()
            .filter(|l| l.trim_start().starts_with("~ ") && !l.starts_with("  ~ "))
            .collect();
        assert!(
            attrs.len() == 1 && attrs[0].trim_start().starts_with("~ security_groups "),
            "{addr}: something other than security_groups is left to change:\n{b}"
        );
    }
}

// ------------------------------------------------------------------------- a studio plan

/// The shipped studio plan, applied under a unique name.
struct Studio {
    c: Client,
    name: String,
    dir: PlanDir,
    path: PathBuf,
}

impl Studio {
    async fn applied(label: &str) -> Studio {
        let c = ec2().await;
        let name = unique_name(label);
        let (dir, path) = PlanDir::studio(&name);
        let s = Studio { c, name, dir, path };
        let (out, _) = run_expect(0, &["apply", &s.plan(), "--auto-approve"]);
        assert_contains(
            &out,
            "Apply complete! Resources: 18 added, 0 changed, 0 destroyed.",
            "first apply",
        );
        s
    }

    fn plan(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Overwrite the plan file with `text` (its name set to this plan's).
    fn write(&mut self, text: &str) {
        self.path = self.dir.write("studio-vpc.toml", text);
    }

    /// `plan` (exit 0) and its stdout.
    fn plan_output(&self) -> String {
        run_expect(0, &["plan", &self.plan()]).0
    }

    /// `plan --detailed-exitcode` after a drift: exit 2; its stdout.
    fn plan_drift(&self) -> String {
        run_expect(2, &["plan", &self.plan(), "--detailed-exitcode"]).0
    }

    /// `apply --auto-approve --stats`, exit 0, the closing summary checked.
    fn apply(&self, summary: &str) -> (String, String) {
        let (code, out, err) = run(&["apply", &self.plan(), "--auto-approve", "--stats"]);
        assert_contains(
            &out,
            &format!("Apply complete! Resources: {summary}."),
            "apply",
        );
        if code != 0 {
            assert_only_the_group_gap_is_unverified(&err);
        }
        (out, err)
    }

    fn assert_replan_empty(&self) {
        let (out, _) = run_expect(0, &["plan", &self.plan(), "--detailed-exitcode"]);
        assert_contains(&out, "No changes.", "re-plan");
    }

    async fn teardown(mut self) {
        let plan = self.plan();
        teardown(&self.c, &mut self.dir, &plan, &self.name).await;
    }

    async fn vpc_id(&self) -> String {
        let v = vpcs_of(&self.c, &self.name).await;
        assert_eq!(v.len(), 1, "VPCs of {}: {v:#?}", self.name);
        v[0].vpc_id().expect("vpc id").to_string()
    }
}

fn studio_text() -> String {
    shipped("studio-vpc.toml")
}

// ========================================================================= 1. plan edits

#[tokio::test]
async fn edit_a_interface_endpoint_subnets() {
    let mut s = Studio::applied("chg-a").await;
    let c = &s.c.clone();
    let sub_a = subnet_by_key(c, &s.name, "subnet.private-a").await;
    let sub_b = subnet_by_key(c, &s.name, "subnet.private-b").await;
    let sub_c = subnet_by_key(c, &s.name, "subnet.private-c").await;
    s.write(&edit(
        &studio_text(),
        ENDPOINT_SUBNETS_LINE,
        r#"subnets = ["private-a", "private-b"]"#,
    ));

    let out = s.plan_output();
    assert_eq!(changes(&out), sorted(all_interface_updates()), "{out}");
    assert_contains(&out, "Plan: 0 to add, 5 to change, 0 to destroy.", "plan");
    let b = block(&out, "~", "interface_endpoint.sts");
    assert_contains(&b, "~ subnets =", "sts block");
    insta::assert_snapshot!("changes_a_endpoint_subnets", redact(&out, &s.name));

    let (_, err) = s.apply("0 added, 5 changed, 0 destroyed");
    assert_eq!(stats_count(&err, "ModifyVpcEndpoint"), 5, "{err}");
    let want = set([
        sub_a.subnet_id().unwrap_or_default(),
        sub_b.subnet_id().unwrap_or_default(),
    ]);
    for e in interface_endpoints(c, &s.name).await {
        assert_eq!(
            set(e.subnet_ids().iter().cloned()),
            want,
            "{}: subnets",
            key_of(e.tags())
        );
    }
    // The subnet itself stays (it is still in the plan), with its association.
    let sub_c_id = sub_c.subnet_id().expect("subnet id");
    assert!(
        subnet_by_id(c, sub_c_id).await.is_some(),
        "private-c deleted"
    );
    let rts = route_tables_of(c, &s.name).await;
    assert!(
        rts[0]
            .associations()
            .iter()
            .any(|a| a.subnet_id() == Some(sub_c_id)),
        "private-c lost its route table association: {rts:#?}"
    );
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_b_new_security_group_for_the_endpoints() {
    let mut s = Studio::applied("chg-b").await;
    let old_sg = sg_by_key(&s.c, &s.name, "security_group.endpoints").await;
    let workloads = sg_by_key(&s.c, &s.name, "security_group.workloads").await;
    let text = edit(
        &studio_text(),
        "[gateway_endpoints.s3]",
        "[security_groups.extra]\ndescription = \"Interface endpoints (extra)\"\n\
         ingress = [{ from = \"workloads\", protocol = \"tcp\", ports = \"443\" }]\n\n\
         [gateway_endpoints.s3]",
    );
    s.write(&edit(
        &text,
        r#"security_groups = ["endpoints"]"#,
        r#"security_groups = ["extra"]"#,
    ));

    let out = s.plan_output();
    let mut want = all_interface_updates();
    want.push(ch("+", "security_group.extra"));
    want.push(ch(
        "+",
        "security_group_rule.extra.ingress.tcp.443.workloads",
    ));
    assert_eq!(changes(&out), sorted(want), "{out}");
    assert_contains(&out, "Plan: 2 to add, 5 to change, 0 to destroy.", "plan");
    assert_contains(
        &block(&out, "~", "interface_endpoint.logs"),
        r#"~ security_groups = ["security_group.endpoints ("#,
        "logs block",
    );
    insta::assert_snapshot!("changes_b_new_endpoint_group", redact(&out, &s.name));

    let (_, err) = s.apply("2 added, 5 changed, 0 destroyed");
    assert_eq!(stats_count(&err, "ModifyVpcEndpoint"), 5, "{err}");
    let c = &s.c;
    let extra = sg_by_key(c, &s.name, "security_group.extra").await;
    let extra_id = extra.group_id().expect("group id").to_string();
    let wl_id = workloads.group_id().expect("group id");
    assert_eq!(extra.description(), Some("Interface endpoints (extra)"));
    assert_eq!(
        extra.group_name(),
        Some(format!("{}-extra", s.name).as_str())
    );
    assert_eq!(
        perms(extra.ip_permissions()),
        set([format!("tcp 443-443 {wl_id}")]),
        "extra ingress: {extra:#?}"
    );
    assert_eq!(
        perms(extra.ip_permissions_egress()),
        set(["-1 * 0.0.0.0/0"]),
        "extra egress"
    );
    // The old group stays: it is still in the plan.
    let old_id = old_sg.group_id().expect("group id");
    assert!(security_group_by_id(c, old_id).await.is_some());

    if endpoints_carry_group(c, &s.name, &extra_id, "edit b: new endpoint group").await {
        s.assert_replan_empty();
    } else {
        assert_replan_only_endpoint_groups(&s.plan());
    }
    s.teardown().await;
}

#[tokio::test]
async fn edit_c_gateway_policy_removed() {
    let mut s = Studio::applied("chg-c").await;
    let text = studio_text();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("policy ="))
        .collect();
    assert_eq!(kept.len() + 1, text.lines().count(), "one policy line");
    s.write(&(kept.join("\n") + "\n"));

    let out = s.plan_output();
    assert_eq!(changes(&out), vec![ch("~", "gateway_endpoint.s3")], "{out}");
    assert_contains(&out, "Plan: 0 to add, 1 to change, 0 to destroy.", "plan");
    assert_contains(
        &block(&out, "~", "gateway_endpoint.s3"),
        r#"+ "(AWS default: full access)""#,
        "gateway block",
    );
    insta::assert_snapshot!("changes_c_gateway_policy_removed", redact(&out, &s.name));

    s.apply("0 added, 1 changed, 0 destroyed");
    let gw = endpoint_by_key(&s.c, &s.name, "gateway_endpoint.s3").await;
    let live: Value = serde_json::from_str(gw.policy_document().expect("policy document"))
        .expect("policy is JSON");
    let full: Value = serde_json::json!({
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]
    });
    assert!(
        same_statements(&live, &full),
        "gateway policy is not full access: {live:#}"
    );
    let rts = route_tables_of(&s.c, &s.name).await;
    assert_eq!(
        gw.route_table_ids(),
        [rts[0].route_table_id().expect("rt id").to_string()],
        "gateway route tables"
    );
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_d_rule_added_and_another_removed() {
    let mut s = Studio::applied("chg-d").await;
    let before = sg_by_key(&s.c, &s.name, "security_group.endpoints").await;
    s.write(&edit(
        &studio_text(),
        ENDPOINTS_INGRESS,
        r#"ingress = [{ from = "10.20.0.0/16", protocol = "tcp", ports = "443" }]"#,
    ));

    let out = s.plan_output();
    assert_eq!(
        changes(&out),
        sorted(vec![
            ch(
                "+",
                "security_group_rule.endpoints.ingress.tcp.443.10.20.0.0/16"
            ),
            ch(
                "-",
                "security_group_rule.endpoints.ingress.tcp.443.workloads"
            ),
        ]),
        "{out}"
    );
    assert_contains(&out, "Plan: 1 to add, 0 to change, 1 to destroy.", "plan");
    insta::assert_snapshot!("changes_d_rules", redact(&out, &s.name));

    let (_, err) = s.apply("1 added, 0 changed, 1 destroyed");
    for (op, n) in [
        ("AuthorizeSecurityGroupIngress", 1),
        ("RevokeSecurityGroupIngress", 1),
        ("CreateSecurityGroup", 0),
        ("DeleteSecurityGroup", 0),
        ("ModifyVpcEndpoint", 0),
    ] {
        assert_eq!(stats_count(&err, op), n, "{op}\n{err}");
    }
    let after = sg_by_key(&s.c, &s.name, "security_group.endpoints").await;
    assert_eq!(after.group_id(), before.group_id(), "group replaced");
    assert_eq!(
        perms(after.ip_permissions()),
        set(["tcp 443-443 10.20.0.0/16"]),
        "endpoints ingress: {after:#?}"
    );
    assert_eq!(
        perms(after.ip_permissions_egress()),
        set(["-1 * 0.0.0.0/0"]),
        "endpoints egress: {after:#?}"
    );
    let wl = sg_by_key(&s.c, &s.name, "security_group.workloads").await;
    assert_eq!(
        perms(wl.ip_permissions()),
        set([format!("-1 * {}", wl.group_id().unwrap_or_default())]),
        "workloads ingress untouched"
    );
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_e_subnet_cidr_forces_replacement() {
    let mut s = Studio::applied("chg-e").await;
    let c = &s.c.clone();
    let old = subnet_by_key(c, &s.name, "subnet.private-c").await;
    let old_id = old.subnet_id().expect("subnet id").to_string();
    s.write(&edit(&studio_text(), "10.20.32.0/20", "10.20.48.0/20"));

    let out = s.plan_output();
    let mut want = all_interface_updates();
    want.push(ch("-/+", "subnet.private-c"));
    want.push(ch("-/+", "route_table_association.private-c"));
    assert_eq!(changes(&out), sorted(want), "{out}");
    assert_contains(&out, "Plan: 2 to add, 5 to change, 2 to destroy.", "plan");
    let b = block(&out, "-/+", "subnet.private-c");
    assert_contains(&b, "# cidr forces replacement", "subnet block");
    assert_contains(
        &b,
        r#""10.20.32.0/20" -> "10.20.48.0/20" # forces replacement"#,
        "subnet block",
    );
    insta::assert_snapshot!("changes_e_subnet_cidr", redact(&out, &s.name));

    s.apply("2 added, 5 changed, 2 destroyed");
    let new = subnet_by_key(c, &s.name, "subnet.private-c").await;
    let new_id = new.subnet_id().expect("subnet id").to_string();
    assert_ne!(new_id, old_id, "subnet not replaced");
    assert_eq!(new.cidr_block(), Some("10.20.48.0/20"));
    assert_eq!(new.availability_zone(), Some("us-east-1c"));
    assert!(
        subnet_by_id(c, &old_id).await.is_none(),
        "old subnet {old_id} still exists"
    );
    assert_eq!(subnets_of(c, &s.name).await.len(), 3);
    let a = subnet_by_key(c, &s.name, "subnet.private-a").await;
    let b = subnet_by_key(c, &s.name, "subnet.private-b").await;
    let all = set([
        a.subnet_id().unwrap_or_default(),
        b.subnet_id().unwrap_or_default(),
        new_id.as_str(),
    ]);
    for e in interface_endpoints(c, &s.name).await {
        assert_eq!(
            set(e.subnet_ids().iter().cloned()),
            all,
            "{}: subnets",
            key_of(e.tags())
        );
    }
    let rts = route_tables_of(c, &s.name).await;
    assert_eq!(
        set(rts[0].associations().iter().filter_map(|a| a.subnet_id())),
        all,
        "route table associations"
    );
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_f_security_group_description_forces_replacement() {
    let mut s = Studio::applied("chg-f").await;
    let c = &s.c.clone();
    let old = sg_by_key(c, &s.name, "security_group.endpoints").await;
    let old_id = old.group_id().expect("group id").to_string();
    let wl = sg_by_key(c, &s.name, "security_group.workloads").await;
    let wl_id = wl.group_id().expect("group id").to_string();
    s.write(&edit(
        &studio_text(),
        r#"description = "Interface endpoints""#,
        r#"description = "Interface endpoints (443 only)""#,
    ));

    let out = s.plan_output();
    let mut want = all_interface_updates();
    want.push(ch("-/+", "security_group.endpoints"));
    want.push(ch(
        "-/+",
        "security_group_rule.endpoints.ingress.tcp.443.workloads",
    ));
    assert_eq!(changes(&out), sorted(want), "{out}");
    assert_contains(&out, "Plan: 2 to add, 5 to change, 2 to destroy.", "plan");
    assert_contains(
        &block(&out, "-/+", "security_group.endpoints"),
        r#""Interface endpoints" -> "Interface endpoints (443 only)" # forces replacement"#,
        "group block",
    );
    insta::assert_snapshot!("changes_f_group_description", redact(&out, &s.name));

    s.apply("2 added, 5 changed, 2 destroyed");
    let new = sg_by_key(c, &s.name, "security_group.endpoints").await;
    let new_id = new.group_id().expect("group id").to_string();
    assert_ne!(new_id, old_id, "group not replaced");
    assert_eq!(new.description(), Some("Interface endpoints (443 only)"));
    assert_eq!(
        perms(new.ip_permissions()),
        set([format!("tcp 443-443 {wl_id}")]),
        "new group ingress"
    );
    assert!(
        security_group_by_id(c, &old_id).await.is_none(),
        "old group {old_id} still exists"
    );
    assert_eq!(security_groups_of(c, &s.name).await.len(), 2);

    if endpoints_carry_group(c, &s.name, &new_id, "edit f: group replaced").await {
        s.assert_replan_empty();
    } else {
        assert_replan_only_endpoint_groups(&s.plan());
    }
    s.teardown().await;
}

#[tokio::test]
async fn edit_g_service_removed() {
    let mut s = Studio::applied("chg-g").await;
    let logs = endpoint_by_key(&s.c, &s.name, "interface_endpoint.logs").await;
    let logs_id = id_of_endpoint(&logs);
    s.write(&edit(&studio_text(), r#", "logs"]"#, "]"));

    let out = s.plan_output();
    assert_eq!(
        changes(&out),
        vec![ch("-", "interface_endpoint.logs")],
        "{out}"
    );
    assert_contains(
        &block(&out, "-", "interface_endpoint.logs"),
        "# not in plan",
        "logs block",
    );
    assert_contains(&out, "Plan: 0 to add, 0 to change, 1 to destroy.", "plan");
    insta::assert_snapshot!("changes_g_service_removed", redact(&out, &s.name));

    s.apply("0 added, 0 changed, 1 destroyed");
    assert_endpoint_gone(&s.c, &logs_id, "logs endpoint").await;
    let vpc = s.vpc_id().await;
    let in_vpc = endpoints_in_vpc(&s.c, &vpc).await;
    assert!(
        !in_vpc
            .iter()
            .any(|e| e.service_name() == Some("com.amazonaws.us-east-1.logs")),
        "a logs endpoint is left in {vpc}: {in_vpc:#?}"
    );
    assert_eq!(endpoints_of(&s.c, &s.name).await.len(), 5);
    s.assert_replan_empty();
    s.teardown().await;
}

/// Every resource the studio plan tags (rules and associations carry no tags).
const TAGGED: [&str; 13] = [
    "vpc.main",
    "subnet.private-a",
    "subnet.private-b",
    "subnet.private-c",
    "route_table.private",
    "security_group.endpoints",
    "security_group.workloads",
    "gateway_endpoint.s3",
    "interface_endpoint.logs",
    "interface_endpoint.sagemaker.api",
    "interface_endpoint.sagemaker.runtime",
    "interface_endpoint.studio",
    "interface_endpoint.sts",
];

#[tokio::test]
async fn edit_h_interface_endpoint_policy_added_then_changed() {
    let mut s = Studio::applied("chg-h").await;
    let allow = |action: &str| {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": action, "Resource": "*"}]
        })
    };
    // A JSON file is written directly (PlanDir::write is for plan files).
    std::fs::write(
        s.dir.path().join("policies/endpoints.json"),
        serde_json::to_string_pretty(&allow("sagemaker:*")).unwrap(),
    )
    .unwrap();
    let with_policy = edit(
        &studio_text(),
        "private_dns = true",
        "private_dns = true\npolicy = \"policies/endpoints.json\"",
    );
    s.write(&with_policy);

    let out = s.plan_output();
    assert_eq!(changes(&out), sorted(all_interface_updates()), "{out}");
    assert_contains(&out, "Plan: 0 to add, 5 to change, 0 to destroy.", "plan");
    assert_contains(
        &block(&out, "~", "interface_endpoint.sts"),
        "~ policy =",
        "sts block",
    );
    insta::assert_snapshot!("changes_h_endpoint_policy", redact(&out, &s.name));
    let (_, err) = s.apply("0 added, 5 changed, 0 destroyed");
    assert_eq!(stats_count(&err, "ModifyVpcEndpoint"), 5, "{err}");
    for e in interface_endpoints(&s.c, &s.name).await {
        let live: Value = serde_json::from_str(e.policy_document().expect("policy")).unwrap();
        assert!(
            same_statements(&live, &allow("sagemaker:*")),
            "{}: {live:#}",
            key_of(e.tags())
        );
    }
    s.assert_replan_empty();

    // The same policy reformatted (key order, one statement instead of a list, a
    // one-element action list) is the same policy: no change.
    std::fs::write(
        s.dir.path().join("policies/endpoints.json"),
        r#"{"Statement": {"Resource": "*", "Action": ["sagemaker:*"], "Principal": "*", "Effect": "Allow"}, "Version": "2012-10-17"}"#,
    )
    .unwrap();
    s.assert_replan_empty();

    // A different policy is an update in place again.
    std::fs::write(
        s.dir.path().join("policies/endpoints.json"),
        serde_json::to_string(&allow("sagemaker:InvokeEndpoint")).unwrap(),
    )
    .unwrap();
    s.apply("0 added, 5 changed, 0 destroyed");
    for e in interface_endpoints(&s.c, &s.name).await {
        let live: Value = serde_json::from_str(e.policy_document().expect("policy")).unwrap();
        assert!(
            same_statements(&live, &allow("sagemaker:InvokeEndpoint")),
            "{}: {live:#}",
            key_of(e.tags())
        );
    }
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_i_plan_tags_added_then_changed() {
    let mut s = Studio::applied("chg-i").await;
    let tagged = |team: &str| {
        edit(
            &studio_text(),
            "region = \"us-east-1\"",
            &format!(
                "region = \"us-east-1\"\ntags = {{ team = \"{team}\", cost-center = \"42\" }}"
            ),
        )
    };
    s.write(&tagged("ml"));
    let out = s.plan_output();
    let want: Vec<(String, String)> = TAGGED.iter().map(|a| ch("~", a)).collect();
    assert_eq!(changes(&out), sorted(want.clone()), "{out}");
    assert_contains(&out, "Plan: 0 to add, 13 to change, 0 to destroy.", "plan");
    let b = block(&out, "~", "subnet.private-a");
    assert_contains(&b, "# differs from the plan (plan edited", "subnet block");
    assert!(
        b.lines()
            .any(|l| l.trim_start().starts_with("~ tags.team ")
                && l.ends_with(r#"= (none) -> "ml""#)),
        "subnet block:\n{b}"
    );
    insta::assert_snapshot!("changes_i_plan_tags", redact(&out, &s.name));
    s.apply("0 added, 13 changed, 0 destroyed");
    let (c, name) = (s.c.clone(), s.name.clone());
    let check = |team: &'static str, cost: Option<&'static str>| {
        let (c, name) = (c.clone(), name.clone());
        async move {
            let o = owned(&c, &name).await;
            let mut tag_sets: Vec<Vec<Tag>> = Vec::new();
            tag_sets.extend(vpcs_of(&c, &name).await.iter().map(|v| v.tags().to_vec()));
            tag_sets.extend(
                subnets_of(&c, &name)
                    .await
                    .iter()
                    .map(|v| v.tags().to_vec()),
            );
            tag_sets.extend(
                route_tables_of(&c, &name)
                    .await
                    .iter()
                    .map(|v| v.tags().to_vec()),
            );
            tag_sets.extend(
                security_groups_of(&c, &name)
                    .await
                    .iter()
                    .map(|v| v.tags().to_vec()),
            );
            tag_sets.extend(
                endpoints_of(&c, &name)
                    .await
                    .iter()
                    .map(|v| v.tags().to_vec()),
            );
            assert_eq!(tag_sets.len(), 13, "{o:?}");
            for t in &tag_sets {
                assert_eq!(tag(t, "team"), Some(team), "{t:?}");
                assert_eq!(tag(t, "cost-center"), cost, "{t:?}");
                assert_eq!(tag(t, "sagevpc:plan"), Some(name.as_str()), "{t:?}");
            }
        }
    };
    check("ml", Some("42")).await;
    s.assert_replan_empty();

    s.write(&tagged("ml-infra"));
    let out = s.plan_output();
    assert_eq!(changes(&out), sorted(want), "{out}");
    assert_contains(
        &block(&out, "~", "vpc.main"),
        r#"~ tags.team = "ml" -> "ml-infra""#,
        "vpc block",
    );
    s.apply("0 added, 13 changed, 0 destroyed");
    check("ml-infra", Some("42")).await;
    s.assert_replan_empty();

    // A key removed from the plan is removed from every resource; a tag added by hand
    // is left alone.
    let vpc = s.vpc_id().await;
    s.c.create_tags()
        .resources(&vpc)
        .tags(Tag::builder().key("owner").value("alice").build())
        .send()
        .await
        .expect("hand-made tag");
    s.write(&edit(
        &studio_text(),
        "region = \"us-east-1\"",
        "region = \"us-east-1\"\ntags = { team = \"ml-infra\" }",
    ));
    let out = s.plan_output();
    assert_contains(&out, "Plan: 0 to add, 13 to change, 0 to destroy.", "plan");
    let b = block(&out, "~", "vpc.main");
    assert!(
        b.lines()
            .any(|l| l.trim_start().starts_with("~ tags.cost-center ")
                && l.ends_with(r#"= "42" -> (none)"#)),
        "vpc block:\n{b}"
    );
    assert!(!b.contains("owner"), "vpc block:\n{b}");
    s.apply("0 added, 13 changed, 0 destroyed");
    check("ml-infra", None).await;
    let v = vpcs_of(&s.c, &s.name).await;
    assert_eq!(tag(v[0].tags(), "owner"), Some("alice"));
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_j_subnet_availability_zone_forces_replacement() {
    let mut s = Studio::applied("chg-j").await;
    let c = &s.c.clone();
    let old = subnet_by_key(c, &s.name, "subnet.private-c").await;
    let old_id = old.subnet_id().expect("subnet id").to_string();
    s.write(&edit(&studio_text(), "us-east-1c", "us-east-1d"));

    let out = s.plan_output();
    let b = block(&out, "-/+", "subnet.private-c");
    assert_contains(&b, "# availability_zone forces replacement", "subnet block");
    assert_contains(
        &b,
        r#""us-east-1c" -> "us-east-1d" # forces replacement"#,
        "subnet block",
    );
    insta::assert_snapshot!("changes_j_subnet_az", redact(&out, &s.name));

    // Same CIDR: the old subnet must go before the new one can exist; the endpoints
    // leave it first.
    s.apply("2 added, 5 changed, 2 destroyed");
    let new = subnet_by_key(c, &s.name, "subnet.private-c").await;
    assert_ne!(
        new.subnet_id(),
        Some(old_id.as_str()),
        "subnet not replaced"
    );
    assert_eq!(new.availability_zone(), Some("us-east-1d"));
    assert_eq!(new.cidr_block(), Some("10.20.32.0/20"));
    assert!(subnet_by_id(c, &old_id).await.is_none(), "old subnet left");
    let new_id = new.subnet_id().expect("id").to_string();
    for e in interface_endpoints(c, &s.name).await {
        assert!(
            e.subnet_ids().contains(&new_id) && !e.subnet_ids().contains(&old_id),
            "{}: {:?}",
            key_of(e.tags()),
            e.subnet_ids()
        );
    }
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_k_vpc_cidr_forces_replacement_of_everything() {
    let mut s = Studio::applied("chg-k").await;
    let old_vpc = s.vpc_id().await;
    s.write(&studio_text().replace("10.20.", "10.30."));

    let out = s.plan_output();
    let b = block(&out, "-/+", "vpc.main");
    assert_contains(
        &b,
        r#""10.20.0.0/16" -> "10.30.0.0/16" # forces replacement"#,
        "vpc block",
    );
    insta::assert_snapshot!("changes_k_vpc_cidr", redact(&out, &s.name));

    let (out, _) = run_expect(0, &["apply", &s.plan(), "--auto-approve"]);
    assert_contains(&out, "Apply complete!", "apply");
    let new_vpc = s.vpc_id().await;
    assert_ne!(new_vpc, old_vpc, "VPC not replaced");
    assert!(
        vpc_by_id(&s.c, &old_vpc).await.is_none(),
        "old VPC {old_vpc} left"
    );
    assert!(endpoints_in_vpc(&s.c, &old_vpc)
        .await
        .iter()
        .all(|e| { matches!(e.state(), Some(st) if st.as_str().eq_ignore_ascii_case("deleted")) }));
    let o = owned(&s.c, &s.name).await;
    assert_eq!(o.subnets.len(), 3, "{o:?}");
    assert_eq!(o.security_groups.len(), 2, "{o:?}");
    assert_eq!(o.endpoints.len(), 6, "{o:?}");
    for sub in subnets_of(&s.c, &s.name).await {
        assert_eq!(sub.vpc_id(), Some(new_vpc.as_str()));
        assert!(
            sub.cidr_block().unwrap_or_default().starts_with("10.30."),
            "{sub:?}"
        );
    }
    for e in endpoints_of(&s.c, &s.name).await {
        assert_eq!(e.vpc_id(), Some(new_vpc.as_str()), "{e:?}");
    }
    assert_eq!(vpc_dns(&s.c, &new_vpc).await, (true, true));
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn edit_l_private_dns_switched_off_in_the_plan() {
    let mut s = Studio::applied("chg-l").await;
    s.write(&edit(
        &studio_text(),
        "private_dns = true",
        "private_dns = false",
    ));
    let out = s.plan_output();
    assert_eq!(changes(&out), sorted(all_interface_updates()), "{out}");
    assert_contains(
        &block(&out, "~", "interface_endpoint.studio"),
        "~ private_dns_enabled = true -> false",
        "studio block",
    );
    insta::assert_snapshot!("changes_l_private_dns_off", redact(&out, &s.name));
    s.apply("0 added, 5 changed, 0 destroyed");
    for e in interface_endpoints(&s.c, &s.name).await {
        assert_eq!(e.private_dns_enabled(), Some(false), "{}", key_of(e.tags()));
    }
    s.assert_replan_empty();
    s.teardown().await;
}

// ========================================================================= 2. drift

fn assert_outside(out: &str, sym: &str, addr: &str) -> String {
    let b = block(out, sym, addr);
    assert_contains(&b, "changed outside sagevpc", "reason");
    b
}

#[tokio::test]
async fn drift_rule_added_by_hand_is_revoked() {
    let s = Studio::applied("dr-rule").await;
    let wl = sg_by_key(&s.c, &s.name, "security_group.workloads").await;
    let wl_id = wl.group_id().expect("group id").to_string();
    s.c.authorize_security_group_ingress()
        .group_id(&wl_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress by hand");

    let out = s.plan_drift();
    let addr = "security_group_rule.workloads.ingress.tcp.22.0.0.0.0/0";
    assert_eq!(changes(&out), vec![ch("-", addr)], "{out}");
    assert_outside(&out, "-", addr);

    let (_, err) = s.apply("0 added, 0 changed, 1 destroyed");
    assert_eq!(stats_count(&err, "RevokeSecurityGroupIngress"), 1, "{err}");
    let wl = security_group_by_id(&s.c, &wl_id).await.expect("workloads");
    assert_eq!(
        perms(wl.ip_permissions()),
        set([format!("-1 * {wl_id}")]),
        "workloads ingress after apply"
    );
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn drift_private_dns_switched_off_is_switched_on() {
    let s = Studio::applied("dr-dns").await;
    let sts = endpoint_by_key(&s.c, &s.name, "interface_endpoint.sts").await;
    let id = id_of_endpoint(&sts);
    s.c.modify_vpc_endpoint()
        .vpc_endpoint_id(&id)
        .private_dns_enabled(false)
        .send()
        .await
        .expect("ModifyVpcEndpoint PrivateDnsEnabled=false by hand");
    let e = endpoint_by_key(&s.c, &s.name, "interface_endpoint.sts").await;
    assert_eq!(
        e.private_dns_enabled(),
        Some(false),
        "drift not made: {e:#?}"
    );

    let out = s.plan_drift();
    assert_eq!(
        changes(&out),
        vec![ch("~", "interface_endpoint.sts")],
        "{out}"
    );
    let b = assert_outside(&out, "~", "interface_endpoint.sts");
    assert_contains(&b, "~ private_dns_enabled = false -> true", "sts block");

    s.apply("0 added, 1 changed, 0 destroyed");
    let e = endpoint_by_key(&s.c, &s.name, "interface_endpoint.sts").await;
    assert_eq!(id_of_endpoint(&e), id, "endpoint replaced");
    assert_eq!(e.private_dns_enabled(), Some(true));
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn drift_subnet_removed_from_an_endpoint_is_added_back() {
    let s = Studio::applied("dr-sub").await;
    let studio = endpoint_by_key(&s.c, &s.name, "interface_endpoint.studio").await;
    let id = id_of_endpoint(&studio);
    let all = set(studio.subnet_ids().iter().cloned());
    assert_eq!(all.len(), 3);
    let b_id = subnet_by_key(&s.c, &s.name, "subnet.private-b")
        .await
        .subnet_id()
        .expect("subnet id")
        .to_string();
    s.c.modify_vpc_endpoint()
        .vpc_endpoint_id(&id)
        .remove_subnet_ids(&b_id)
        .send()
        .await
        .expect("ModifyVpcEndpoint RemoveSubnetIds by hand");
    let e = endpoint_by_key(&s.c, &s.name, "interface_endpoint.studio").await;
    assert_eq!(e.subnet_ids().len(), 2, "drift not made: {e:#?}");

    let out = s.plan_drift();
    assert_eq!(
        changes(&out),
        vec![ch("~", "interface_endpoint.studio")],
        "{out}"
    );
    let b = assert_outside(&out, "~", "interface_endpoint.studio");
    assert_contains(
        &b,
        &format!("\"subnet.private-b ({b_id})\""),
        "studio block",
    );

    s.apply("0 added, 1 changed, 0 destroyed");
    let e = endpoint_by_key(&s.c, &s.name, "interface_endpoint.studio").await;
    assert_eq!(set(e.subnet_ids().iter().cloned()), all, "studio subnets");
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn drift_route_table_removed_from_the_gateway_endpoint_is_added_back() {
    let s = Studio::applied("dr-gwrt").await;
    let gw = endpoint_by_key(&s.c, &s.name, "gateway_endpoint.s3").await;
    let id = id_of_endpoint(&gw);
    let rt = route_tables_of(&s.c, &s.name).await[0]
        .route_table_id()
        .expect("rt id")
        .to_string();
    assert_eq!(gw.route_table_ids(), std::slice::from_ref(&rt));
    s.c.modify_vpc_endpoint()
        .vpc_endpoint_id(&id)
        .remove_route_table_ids(&rt)
        .send()
        .await
        .expect("ModifyVpcEndpoint RemoveRouteTableIds by hand");
    let gw = endpoint_by_key(&s.c, &s.name, "gateway_endpoint.s3").await;
    assert!(gw.route_table_ids().is_empty(), "drift not made: {gw:#?}");

    let out = s.plan_drift();
    assert_eq!(changes(&out), vec![ch("~", "gateway_endpoint.s3")], "{out}");
    let b = block(&out, "~", "gateway_endpoint.s3");
    assert_contains(
        &b,
        "~ route_tables = [] -> [\"route_table.private\"]",
        "gateway block",
    );

    s.apply("0 added, 1 changed, 0 destroyed");
    let gw = endpoint_by_key(&s.c, &s.name, "gateway_endpoint.s3").await;
    assert_eq!(gw.route_table_ids(), [rt], "gateway route tables");
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn drift_name_tag_edited_is_restored() {
    let s = Studio::applied("dr-tag").await;
    let sub = subnet_by_key(&s.c, &s.name, "subnet.private-a").await;
    let id = sub.subnet_id().expect("subnet id").to_string();
    s.c.create_tags()
        .resources(&id)
        .tags(Tag::builder().key("Name").value("renamed-by-hand").build())
        .tags(Tag::builder().key("team").value("ml").build())
        .send()
        .await
        .expect("CreateTags by hand");

    let out = s.plan_drift();
    assert_eq!(changes(&out), vec![ch("~", "subnet.private-a")], "{out}");
    let b = assert_outside(&out, "~", "subnet.private-a");
    assert_contains(
        &b,
        &format!(
            "~ tags.Name = \"renamed-by-hand\" -> \"{}-private-a\"",
            s.name
        ),
        "subnet block",
    );
    assert!(!b.contains("team"), "a foreign tag is shown as drift:\n{b}");

    s.apply("0 added, 1 changed, 0 destroyed");
    let sub = subnet_by_id(&s.c, &id).await.expect("subnet exists");
    let want_name = format!("{}-private-a", s.name);
    assert_eq!(tag(sub.tags(), "Name"), Some(want_name.as_str()));
    assert_eq!(tag(sub.tags(), TAG_KEY), Some("subnet.private-a"));
    assert_eq!(tag(sub.tags(), "team"), Some("ml"), "foreign tag removed");
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn drift_endpoint_deleted_by_hand_is_recreated() {
    let s = Studio::applied("dr-del").await;
    let logs = endpoint_by_key(&s.c, &s.name, "interface_endpoint.logs").await;
    let old_id = id_of_endpoint(&logs);
    s.c.delete_vpc_endpoints()
        .vpc_endpoint_ids(&old_id)
        .send()
        .await
        .expect("DeleteVpcEndpoints by hand");
    assert_endpoint_gone(&s.c, &old_id, "drift not made").await;

    let out = s.plan_drift();
    assert_eq!(
        changes(&out),
        vec![ch("+", "interface_endpoint.logs")],
        "{out}"
    );
    assert_outside(&out, "+", "interface_endpoint.logs");

    s.apply("1 added, 0 changed, 0 destroyed");
    let e = endpoint_by_key(&s.c, &s.name, "interface_endpoint.logs").await;
    assert_ne!(id_of_endpoint(&e), old_id);
    assert_eq!(e.service_name(), Some("com.amazonaws.us-east-1.logs"));
    assert_eq!(e.state().map(|s| s.as_str()), Some("available"));
    assert_eq!(e.private_dns_enabled(), Some(true));
    assert_eq!(e.subnet_ids().len(), 3);
    let ep_sg = sg_by_key(&s.c, &s.name, "security_group.endpoints").await;
    assert_eq!(
        groups_of(&e),
        set([ep_sg.group_id().unwrap_or_default()]),
        "logs groups"
    );
    assert_eq!(endpoints_of(&s.c, &s.name).await.len(), 6);
    s.assert_replan_empty();
    s.teardown().await;
}

#[tokio::test]
async fn drift_dns_hostnames_switched_off_is_switched_on() {
    let s = Studio::applied("dr-host").await;
    let vpc = s.vpc_id().await;
    s.c.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .expect("ModifyVpcAttribute enableDnsHostnames=false by hand");
    assert_eq!(vpc_dns(&s.c, &vpc).await, (true, false), "drift not made");

    let out = s.plan_drift();
    assert_eq!(changes(&out), vec![ch("~", "vpc.main")], "{out}");
    let b = assert_outside(&out, "~", "vpc.main");
    assert_contains(&b, "~ enable_dns_hostnames = false -> true", "vpc block");

    s.apply("0 added, 1 changed, 0 destroyed");
    assert_eq!(vpc_dns(&s.c, &vpc).await, (true, true));
    s.assert_replan_empty();
    s.teardown().await;
}

// ========================================================================= 3. JSON

#[tokio::test]
async fn json_plan_of_a_subnet_replacement() {
    let mut s = Studio::applied("json").await;
    let old_id = subnet_by_key(&s.c, &s.name, "subnet.private-c")
        .await
        .subnet_id()
        .expect("subnet id")
        .to_string();
    s.write(&edit(&studio_text(), "10.20.32.0/20", "10.20.48.0/20"));

    let (out, _) = run_expect(0, &["plan", &s.plan(), "--output", "json"]);
    let doc: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("plan --output json is not JSON ({e}):\n{out}"));
    assert_eq!(doc["format_version"], "2", "{doc:#}");
    assert_eq!(doc["plan"], s.name.as_str());
    assert_eq!(doc["region"], "us-east-1");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"add": 2, "change": 5, "destroy": 2})
    );
    let rcs = doc["resource_changes"]
        .as_array()
        .expect("resource_changes");
    let sub: Vec<&Value> = rcs
        .iter()
        .filter(|r| r["address"] == "subnet.private-c")
        .collect();
    assert_eq!(sub.len(), 1, "{doc:#}");
    let sub = sub[0];
    assert_eq!(sub["action"], "replace", "{sub:#}");
    assert_eq!(sub["kind"], "subnet", "{sub:#}");
    assert_eq!(sub["key"], "private-c", "{sub:#}");
    assert_eq!(sub["id"], old_id.as_str(), "{sub:#}");
    assert_eq!(sub["replace_paths"], serde_json::json!(["cidr"]), "{sub:#}");
    assert_eq!(sub["before"]["cidr"], "10.20.32.0/20", "{sub:#}");
    assert_eq!(sub["after"]["cidr"], "10.20.48.0/20", "{sub:#}");
    assert_eq!(sub["before"]["availability_zone"], "us-east-1c", "{sub:#}");
    assert_eq!(sub["after"]["availability_zone"], "us-east-1c", "{sub:#}");
    for (k, _) in STUDIO_INTERFACE {
        let addr = format!("interface_endpoint.{k}");
        let r = rcs
            .iter()
            .find(|r| r["address"] == addr.as_str())
            .unwrap_or_else(|| panic!("no {addr} in {doc:#}"));
        assert_eq!(r["action"], "update", "{r:#}");
    }

    s.apply("2 added, 5 changed, 2 destroyed");
    let (out, _) = run_expect(0, &["plan", &s.plan(), "--output", "json"]);
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"add": 0, "change": 0, "destroy": 0})
    );
    assert!(
        doc["resource_changes"]
            .as_array()
            .expect("resource_changes")
            .iter()
            .all(|r| r["action"] == "no-op"),
        "{doc:#}"
    );
    s.assert_replan_empty();
    s.teardown().await;
}

// ========================================================================= 4. saved plans

#[tokio::test]
async fn saved_plan_is_applied_exactly_and_only_once() {
    let c = ec2().await;
    let name = unique_name("saved");
    let (mut dir, path) = PlanDir::studio(&name);
    let plan = path.to_string_lossy().into_owned();
    let saved = dir.path().join("saved.json");
    let saved_s = saved.to_string_lossy().into_owned();

    let (plan_out, err) = run_expect(0, &["plan", &plan, "--out", &saved_s]);
    assert_contains(
        &plan_out,
        "Plan: 18 to add, 0 to change, 0 to destroy.",
        "plan",
    );
    assert_contains(&err, "Saved the changeset to", "plan --out");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved plan written"))
            .expect("saved plan is JSON");
    assert_eq!(doc["kind"], "sagevpc-saved-plan", "{doc:#}");
    assert_eq!(
        owned(&c, &name).await,
        Owned::default(),
        "plan --out created resources"
    );

    let (out, _) = run_expect(0, &["apply", &saved_s, "--auto-approve"]);
    assert!(
        out.starts_with(&plan_out),
        "apply of the saved plan does not show the saved changeset\n--- plan\n{plan_out}\n--- apply\n{out}"
    );
    assert_contains(
        &out,
        "Apply complete! Resources: 18 added, 0 changed, 0 destroyed.",
        "apply saved",
    );
    let o = owned(&c, &name).await;
    assert_eq!(
        (
            o.vpcs.len(),
            o.subnets.len(),
            o.route_tables.len(),
            o.security_groups.len(),
            o.endpoints.len()
        ),
        (1, 3, 1, 2, 6),
        "{o:#?}"
    );

    // The state it was made from is gone: the same file is now stale.
    let (code, out2, err2) = run(&["apply", &saved_s, "--auto-approve"]);
    assert_eq!(code, 1, "second apply of a saved plan\n{out2}\n{err2}");
    assert_contains(&err2, "saved plan is stale", "second apply of a saved plan");
    assert_eq!(
        owned(&c, &name).await,
        o,
        "the stale apply changed something"
    );

    let (out, _) = run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert_contains(&out, "No changes.", "re-plan");
    teardown(&c, &mut dir, &plan, &name).await;
}

/// A saved plan travels as a CI artifact: moved away from its plan file and the policy
/// file the plan names (both deleted), it still applies exactly its changes, with the
/// policy it was made with.
#[tokio::test]
async fn a_saved_plan_moved_away_from_its_plan_file_still_applies() {
    let c = ec2().await;
    let name = unique_name("moved");
    let (mut dir, path) = PlanDir::studio(&name);
    let plan = path.to_string_lossy().into_owned();
    let saved = dir.path().join("saved.json");
    run_expect(0, &["plan", &plan, "--out", &saved.to_string_lossy()]);

    let elsewhere = tempfile::tempdir().expect("temp dir");
    let moved = elsewhere.path().join("artifact.json");
    std::fs::copy(&saved, &moved).expect("copy the saved plan");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_dir_all(dir.path().join("policies")).unwrap();

    let (out, _) = run_expect(0, &["apply", &moved.to_string_lossy(), "--auto-approve"]);
    assert_contains(&out, "18 added", "apply of the moved saved plan");
    let gw = endpoint_by_key(&c, &name, "gateway_endpoint.s3").await;
    let policy: Value = serde_json::from_str(gw.policy_document().unwrap()).unwrap();
    assert!(
        policy.to_string().contains("al2023-repos"),
        "the policy the plan was made with: {policy}"
    );

    // Back in place, the plan file re-plans empty and tears down.
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::copy(
        common::repo_root().join("plans/policies/s3-deny-amazon-linux-repos.json"),
        dir.path().join("policies/s3-deny-amazon-linux-repos.json"),
    )
    .unwrap();
    std::fs::write(&path, text).unwrap();
    let (out, _) = run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert_contains(&out, "No changes.", "re-plan");
    teardown(&c, &mut dir, &plan, &name).await;
}

#[tokio::test]
async fn stale_saved_plan_is_refused_and_changes_nothing() {
    let c = ec2().await;
    let name = unique_name("stale");
    let mut dir = PlanDir::new(&name);
    let base = edit(&studio_text(), r#", "logs"]"#, "]");
    let path = dir.write("studio-vpc.toml", &base);
    let plan = path.to_string_lossy().into_owned();
    let (out, _) = run_expect(0, &["apply", &plan, "--auto-approve"]);
    assert_contains(&out, "Apply complete! Resources: 17 added", "first apply");

    // The full plan, saved: one endpoint to create.
    dir.write("studio-vpc.toml", &studio_text());
    let saved = dir.path().join("saved.json");
    let saved_s = saved.to_string_lossy().into_owned();
    let (out, _) = run_expect(0, &["plan", &plan, "--out", &saved_s]);
    assert_eq!(
        changes(&out),
        vec![ch("+", "interface_endpoint.logs")],
        "{out}"
    );

    // AWS changes by hand after the plan was saved.
    let wl = sg_by_key(&c, &name, "security_group.workloads").await;
    let wl_id = wl.group_id().expect("group id").to_string();
    c.authorize_security_group_ingress()
        .group_id(&wl_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress by hand");
    let before = owned(&c, &name).await;

    let (code, out, err) = run(&["apply", &saved_s, "--auto-approve"]);
    assert_eq!(code, 1, "apply of a stale saved plan\n{out}\n{err}");
    assert_contains(&err, "saved plan is stale", "stale apply");
    assert!(
        !out.contains("Creating..."),
        "the stale apply went ahead:\n{out}"
    );
    assert_eq!(
        owned(&c, &name).await,
        before,
        "the stale apply changed something"
    );
    let vpc = before.vpcs[0].clone();
    assert!(
        !endpoints_in_vpc(&c, &vpc)
            .await
            .iter()
            .any(|e| e.service_name() == Some("com.amazonaws.us-east-1.logs")),
        "the pending create of the logs endpoint happened"
    );
    let wl = security_group_by_id(&c, &wl_id).await.expect("workloads");
    assert!(
        perms(wl.ip_permissions()).contains("tcp 22-22 0.0.0.0/0"),
        "the hand-made rule was touched: {wl:#?}"
    );

    // A fresh apply converges.
    let (out, _) = run_expect(0, &["apply", &plan, "--auto-approve"]);
    assert_contains(
        &out,
        "Apply complete! Resources: 1 added, 0 changed, 1 destroyed.",
        "apply",
    );
    endpoint_by_key(&c, &name, "interface_endpoint.logs").await;
    let wl = security_group_by_id(&c, &wl_id).await.expect("workloads");
    assert_eq!(perms(wl.ip_permissions()), set([format!("-1 * {wl_id}")]));
    let (out, _) = run_expect(0, &["plan", &plan, "--detailed-exitcode"]);
    assert_contains(&out, "No changes.", "re-plan");
    teardown(&c, &mut dir, &plan, &name).await;
}

// ========================================================================= 5. destroy

#[tokio::test]
async fn destroy_leaves_nothing_and_twice_is_a_noop() {
    let s = Studio::applied("destroy").await;
    let c = &s.c;
    let before = owned(c, &s.name).await;
    assert_eq!(before.total(), 13, "{before:#?}");

    let (out, _) = run_expect(0, &["destroy", &s.plan(), "--auto-approve"]);
    // Counted as the apply counted them ("18 added"), and named by plan keys.
    assert_contains(
        &out,
        "Plan: 0 to add, 0 to change, 18 to destroy.",
        "destroy",
    );
    assert_contains(
        &out,
        "Destroy complete! Resources: 18 destroyed.",
        "destroy",
    );
    assert_contains(
        &out,
        "- security_group_rule.endpoints.ingress.tcp.443.workloads",
        "destroy",
    );
    assert!(
        !out.lines().any(|l| l.contains("security_group_rule.sg-")),
        "rules named by group ids:\n{out}"
    );
    assert_eq!(
        owned(c, &s.name).await,
        Owned::default(),
        "left tagged with the plan"
    );
    for v in &before.vpcs {
        assert!(vpc_by_id(c, v).await.is_none(), "VPC {v} not deleted");
    }
    for sn in &before.subnets {
        assert!(
            subnet_by_id(c, sn).await.is_none(),
            "subnet {sn} not deleted"
        );
    }
    for rt in &before.route_tables {
        assert!(
            !route_table_exists(c, rt).await,
            "route table {rt} not deleted"
        );
    }
    for g in &before.security_groups {
        assert!(
            security_group_by_id(c, g).await.is_none(),
            "group {g} not deleted"
        );
    }
    for e in &before.endpoints {
        assert_endpoint_gone(c, e, "destroy").await;
    }

    let (out, _) = run_expect(0, &["destroy", &s.plan(), "--auto-approve"]);
    assert_contains(&out, "No changes.", "second destroy");
    assert!(!out.contains("Destroying..."), "second destroy:\n{out}");
    // The product sees an empty account: everything is to be created again.
    let (out, _) = run_expect(2, &["plan", &s.plan(), "--detailed-exitcode"]);
    assert_contains(&out, "Plan: 18 to add, 0 to change, 0 to destroy.", "plan");
    s.teardown().await;
}

// ========================================================================= helpers' tests

#[test]
fn redaction_replaces_ids_and_the_plan_name() {
    let out = "  ~ x [id=vpce-0123456789abcdef0] subnet-abcdef12 (sg-1234567) rtbassoc-60072f9f7c31f879a \
               rtb-6dd271100025ed88e vpc-8e6f91d5a789af846 it-x-1-2-sg-endpoints mysg-12345678";
    assert_eq!(
        redact(out, "it-x-1-2"),
        "  ~ x [id=vpce-<id>] subnet-<id> (sg-1234567) rtbassoc-<id> rtb-<id> vpc-<id> \
         <plan>-sg-endpoints mysg-12345678"
    );
}

#[test]
fn plan_output_parsing() {
    let out = "    vpc.main [id=vpc-1]\n  -/+ subnet.private-c [id=subnet-2]\n      # cidr forces replacement\n    ~ cidr = \"a\" -> \"b\" # forces replacement\n  + route_table_association.private-c\n      subnet = \"x\"\n  - interface_endpoint.logs [id=vpce-3]\n      # not in plan\n\nPlan: 1 to add, 0 to change, 2 to destroy.\n";
    assert_eq!(
        changes(out),
        sorted(vec![
            ch("-/+", "subnet.private-c"),
            ch("+", "route_table_association.private-c"),
            ch("-", "interface_endpoint.logs"),
        ])
    );
    assert_eq!(
        block(out, "-/+", "subnet.private-c"),
        "  -/+ subnet.private-c [id=subnet-2]\n      # cidr forces replacement\n    ~ cidr = \"a\" -> \"b\" # forces replacement"
    );
    assert_eq!(
        stats_count(
            "stats:   ModifyVpcEndpoint                  5\n",
            "ModifyVpcEndpoint"
        ),
        5
    );
}
