//! Shared helpers for the LocalStack integration tests: unique plan names, plan copies in
//! temp dirs, running the real binary, an SDK client, and SDK queries by ownership tag.
//!
//! Every test runs against ONE LocalStack (http://127.0.0.1:4566), in parallel with the
//! others: each test uses its own plan name, so tag-filtered queries only see its own
//! resources. LocalStack not running is a failure (with instructions), never a skip.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType, RouteTable, SecurityGroup,
    Subnet, Tag, TagSpecification, Vpc, VpcAttributeName, VpcEndpoint,
};
use aws_sdk_ec2::Client;
use serde_json::Value;

pub mod moto;

pub const ENDPOINT: &str = "http://127.0.0.1:4566";
pub const REGION: &str = "us-east-1";
pub const TAG_PLAN: &str = "sagevpc:plan";
pub const TAG_KEY: &str = "sagevpc:key";
/// Tag put on resources a test creates by hand (not sagevpc's), to find leftovers.
pub const TAG_FIXTURE: &str = "it:fixture";

const LOCALSTACK_HINT: &str = "start LocalStack: make localstack-up";

/// Repository root (where Cargo.toml, plans/ live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A plan name no other test (or earlier run) uses: `it-<label>-<pid>-<nanos>`.
/// Plan names are at most 64 characters: keep labels short.
pub fn unique_name(label: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    // The sequence number guards against two names taken in the same nanosecond.
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("it-{label}-{}-{nanos}{seq}", std::process::id());
    assert!(
        name.len() <= 64,
        "plan name {name:?} is longer than 64 chars; use a shorter label"
    );
    name
}

// ------------------------------------------------------------------------- LocalStack

/// Panic with a clear message unless LocalStack answers on 127.0.0.1:4566 with EC2 up.
/// Checked once per test process.
pub fn ensure_localstack() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        if let Err(why) = localstack_health() {
            panic!("LocalStack is not reachable at {ENDPOINT} ({why}); {LOCALSTACK_HINT}");
        }
    });
}

fn localstack_health() -> Result<(), String> {
    let addr: SocketAddr = "127.0.0.1:4566".parse().expect("static address");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("cannot connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"GET /_localstack/health HTTP/1.0\r\nHost: 127.0.0.1:4566\r\n\r\n")
        .map_err(|e| format!("cannot send the health request: {e}"))?;
    let mut body = String::new();
    s.read_to_string(&mut body)
        .map_err(|e| format!("cannot read the health response: {e}"))?;
    if !body.starts_with("HTTP/1.") || !body.contains(" 200 ") {
        return Err(format!(
            "unexpected health response: {}",
            body.lines().next().unwrap_or("")
        ));
    }
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if !(compact.contains("\"ec2\":\"running\"") || compact.contains("\"ec2\":\"available\"")) {
        return Err("EC2 is not enabled in LocalStack's health report".into());
    }
    Ok(())
}

// ------------------------------------------------------------------------- plan files

/// Replace the top-level `name = ...` line of a plan file.
pub fn with_name(text: &str, name: &str) -> String {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let is_name =
                !done && t.starts_with("name") && t["name".len()..].trim_start().starts_with('=');
            if is_name {
                done = true;
                format!("name = \"{name}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "plan text has no top-level `name = ...` line");
    out.join("\n") + "\n"
}

/// Read a file under the repository's plans/ directory.
pub fn shipped(rel: &str) -> String {
    let p = repo_root().join("plans").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The shipped S3 policy, parsed.
pub fn shipped_policy() -> Value {
    serde_json::from_str(&shipped("policies/s3-deny-amazon-linux-repos.json"))
        .expect("shipped policy is JSON")
}

/// A temp dir holding copies of plan files (with the policies they refer to). On drop,
/// the last written plan is destroyed (`destroy --auto-approve`, best effort) so that
/// tests leave LocalStack clean even when they fail.
pub struct PlanDir {
    pub name: String,
    dir: tempfile::TempDir,
    last: Option<PathBuf>,
    destroy_on_drop: bool,
}

impl PlanDir {
    pub fn new(name: &str) -> PlanDir {
        ensure_localstack();
        let dir = tempfile::Builder::new()
            .prefix("sagevpc-it-")
            .tempdir()
            .expect("temp dir");
        let pol = dir.path().join("policies");
        std::fs::create_dir_all(&pol).expect("policies dir");
        std::fs::copy(
            repo_root().join("plans/policies/s3-deny-amazon-linux-repos.json"),
            pol.join("s3-deny-amazon-linux-repos.json"),
        )
        .expect("copy policy");
        PlanDir {
            name: name.to_string(),
            dir,
            last: None,
            destroy_on_drop: true,
        }
    }

    /// A copy of plans/studio-vpc.toml named `name`.
    pub fn studio(name: &str) -> (PlanDir, PathBuf) {
        let mut d = PlanDir::new(name);
        let p = d.write("studio-vpc.toml", &shipped("studio-vpc.toml"));
        (d, p)
    }

    /// Write `text` (with its `name = ...` replaced by this dir's plan name) as `file`.
    pub fn write(&mut self, file: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(file);
        std::fs::write(&p, with_name(text, &self.name)).expect("write plan");
        self.last = Some(p.clone());
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Do not destroy on drop (e.g. a plan that was never applied).
    pub fn keep(&mut self) {
        self.destroy_on_drop = false;
    }
}

impl Drop for PlanDir {
    fn drop(&mut self) {
        if !self.destroy_on_drop {
            return;
        }
        if let Some(p) = &self.last {
            let (code, out, err) = run(&["destroy", &p.to_string_lossy(), "--auto-approve"]);
            if code != 0 {
                eprintln!(
                    "cleanup: destroy of plan {} exited {code}\n{out}\n{err}",
                    self.name
                );
            }
        }
    }
}

// ------------------------------------------------------------------------- the binary

/// Run the real `sagevpc` binary against LocalStack with `args`; stdin is null.
/// Returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_env(args, &[])
}

/// The `sagevpc` binary set up for LocalStack, not started.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sagevpc"));
    c.args(args)
        .env_remove("AWS_ENDPOINT_URL_SAGEMAKER")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", ENDPOINT)
        .env("AWS_REGION", REGION)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .env("AWS_CONFIG_FILE", "/nonexistent/sagevpc-it/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/sagevpc-it/credentials",
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// `run` with extra environment variables.
pub fn run_env(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    ensure_localstack();
    let out = command(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run the sagevpc binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `run`, asserting the exit code; stderr and the end of stdout are in the panic message.
pub fn run_expect(code: i32, args: &[&str]) -> (String, String) {
    let (c, out, err) = run(args);
    // stderr first (CI logs keep the head of a long message), stdout's tail after it.
    let tail: Vec<&str> = out.lines().rev().take(60).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert_eq!(
        c,
        code,
        "`sagevpc {}` exited {c}, expected {code}\n--- stderr\n{err}\n--- stdout (last 60 lines)\n{}",
        args.join(" "),
        tail.join("\n")
    );
    (out, err)
}

// ------------------------------------------------------------------------- SDK

/// An EC2 client for LocalStack (us-east-1, static test credentials).
pub async fn ec2() -> Client {
    ensure_localstack();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(ENDPOINT)
        .credentials_provider(Credentials::new("test", "test", None, None, "sagevpc-it"))
        .load()
        .await;
    Client::new(&conf)
}

pub fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn plan_filter(plan: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_PLAN}"))
        .values(plan)
        .build()
}

pub async fn vpcs_of(c: &Client, plan: &str) -> Vec<Vpc> {
    c.describe_vpcs()
        .filters(plan_filter(plan))
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()
        .to_vec()
}

pub async fn vpc_by_id(c: &Client, id: &str) -> Option<Vpc> {
    let f = Filter::builder().name("vpc-id").values(id).build();
    c.describe_vpcs()
        .filters(f)
        .send()
        .await
        .expect("DescribeVpcs")
        .vpcs()
        .first()
        .cloned()
}

pub async fn subnets_of(c: &Client, plan: &str) -> Vec<Subnet> {
    c.describe_subnets()
        .filters(plan_filter(plan))
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .to_vec()
}

pub async fn subnet_by_id(c: &Client, id: &str) -> Option<Subnet> {
    let f = Filter::builder().name("subnet-id").values(id).build();
    c.describe_subnets()
        .filters(f)
        .send()
        .await
        .expect("DescribeSubnets")
        .subnets()
        .first()
        .cloned()
}

pub async fn route_tables_of(c: &Client, plan: &str) -> Vec<RouteTable> {
    c.describe_route_tables()
        .filters(plan_filter(plan))
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables()
        .to_vec()
}

pub async fn security_groups_of(c: &Client, plan: &str) -> Vec<SecurityGroup> {
    c.describe_security_groups()
        .filters(plan_filter(plan))
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()
        .to_vec()
}

pub async fn security_group_by_id(c: &Client, id: &str) -> Option<SecurityGroup> {
    let f = Filter::builder().name("group-id").values(id).build();
    c.describe_security_groups()
        .filters(f)
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()
        .first()
        .cloned()
}

fn endpoint_gone(e: &VpcEndpoint) -> bool {
    e.state()
        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
}

/// Endpoints tagged with the plan, not in the `deleted` state.
pub async fn endpoints_of(c: &Client, plan: &str) -> Vec<VpcEndpoint> {
    c.describe_vpc_endpoints()
        .filters(plan_filter(plan))
        .send()
        .await
        .expect("DescribeVpcEndpoints")
        .vpc_endpoints()
        .iter()
        .filter(|e| !endpoint_gone(e))
        .cloned()
        .collect()
}

/// Endpoints in a VPC (any owner), not in the `deleted` state.
pub async fn endpoints_in_vpc(c: &Client, vpc_id: &str) -> Vec<VpcEndpoint> {
    let f = Filter::builder().name("vpc-id").values(vpc_id).build();
    c.describe_vpc_endpoints()
        .filters(f)
        .send()
        .await
        .expect("DescribeVpcEndpoints")
        .vpc_endpoints()
        .iter()
        .filter(|e| !endpoint_gone(e))
        .cloned()
        .collect()
}

/// (enableDnsSupport, enableDnsHostnames) as DescribeVpcAttribute reports them.
pub async fn vpc_dns(c: &Client, vpc_id: &str) -> (bool, bool) {
    let support = c
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .expect("DescribeVpcAttribute enableDnsSupport")
        .enable_dns_support()
        .and_then(|a| a.value())
        .unwrap_or(false);
    let hostnames = c
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("DescribeVpcAttribute enableDnsHostnames")
        .enable_dns_hostnames()
        .and_then(|a| a.value())
        .unwrap_or(false);
    (support, hostnames)
}

/// Ids of everything tagged with the plan, by kind (sorted), for "nothing duplicated".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owned {
    pub vpcs: Vec<String>,
    pub subnets: Vec<String>,
    pub route_tables: Vec<String>,
    pub security_groups: Vec<String>,
    pub endpoints: Vec<String>,
}

impl Owned {
    /// Every owned id.
    pub fn ids(&self) -> Vec<String> {
        [
            &self.vpcs,
            &self.subnets,
            &self.route_tables,
            &self.security_groups,
            &self.endpoints,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    pub fn total(&self) -> usize {
        self.vpcs.len()
            + self.subnets.len()
            + self.route_tables.len()
            + self.security_groups.len()
            + self.endpoints.len()
    }
}

pub async fn owned(c: &Client, plan: &str) -> Owned {
    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }
    Owned {
        vpcs: sorted(
            vpcs_of(c, plan)
                .await
                .iter()
                .filter_map(|v| v.vpc_id().map(str::to_string))
                .collect(),
        ),
        subnets: sorted(
            subnets_of(c, plan)
                .await
                .iter()
                .filter_map(|s| s.subnet_id().map(str::to_string))
                .collect(),
        ),
        route_tables: sorted(
            route_tables_of(c, plan)
                .await
                .iter()
                .filter_map(|r| r.route_table_id().map(str::to_string))
                .collect(),
        ),
        security_groups: sorted(
            security_groups_of(c, plan)
                .await
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect(),
        ),
        endpoints: sorted(
            endpoints_of(c, plan)
                .await
                .iter()
                .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
                .collect(),
        ),
    }
}

// ------------------------------------------------------------------------- policies

/// The statements of a policy document, normalised for a semantic comparison: a single
/// statement object becomes a list, and in every statement a string `Action`,
/// `NotAction`, `Resource` or `NotResource` becomes a one-element list and lists are
/// sorted. `Version` is ignored (LocalStack drops it).
pub fn policy_statements(doc: &Value) -> Vec<Value> {
    let st = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        other => panic!("policy has no Statement: {other:?} in {doc}"),
    };
    st.into_iter()
        .map(|s| {
            let Value::Object(mut m) = s else {
                panic!("statement is not an object: {s}")
            };
            for k in ["Action", "NotAction", "Resource", "NotResource"] {
                if let Some(v) = m.get_mut(k) {
                    let mut list: Vec<Value> = match v.take() {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    list.sort_by_key(|x| x.to_string());
                    *v = Value::Array(list);
                }
            }
            Value::Object(m)
        })
        .collect()
}

/// Whether two policy documents have the same statements (order-insensitive).
pub fn same_statements(a: &Value, b: &Value) -> bool {
    let a = policy_statements(a);
    let mut b = policy_statements(b);
    if a.len() != b.len() {
        return false;
    }
    for s in &a {
        match b.iter().position(|x| x == s) {
            Some(i) => {
                b.remove(i);
            }
            None => return false,
        }
    }
    true
}

// ------------------------------------------------------------------------- fixtures

/// A VPC made by hand for plans that adopt one: DNS hostnames off, two subnets (a, b),
/// a security group allowing 443, optional extras. Deleted on drop (best effort, after
/// any `PlanDir` declared later has destroyed its endpoints).
pub struct Adopted {
    pub label: String,
    pub cidr: String,
    pub vpc_id: String,
    pub subnet_a: String,
    pub subnet_b: String,
    pub sg: String,
    pub extra_subnets: Vec<String>,
    pub extra_sgs: Vec<String>,
    pub extra_route_tables: Vec<String>,
}

fn fixture_tags(rt: ResourceType, label: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .tags(Tag::builder().key(TAG_FIXTURE).value(label).build())
        .tags(Tag::builder().key("Name").value(label).build())
        .build()
}

impl Adopted {
    /// `second_octet`: the VPC is 10.<second_octet>.0.0/16.
    pub async fn create(c: &Client, label: &str, second_octet: u8) -> Adopted {
        let cidr = format!("10.{second_octet}.0.0/16");
        let vpc_id = c
            .create_vpc()
            .cidr_block(&cidr)
            .tag_specifications(fixture_tags(ResourceType::Vpc, label))
            .send()
            .await
            .expect("CreateVpc (fixture)")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        c.modify_vpc_attribute()
            .vpc_id(&vpc_id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
            .send()
            .await
            .expect("ModifyVpcAttribute enableDnsHostnames=false (fixture)");
        let mut a = Adopted {
            label: label.to_string(),
            cidr,
            vpc_id,
            subnet_a: String::new(),
            subnet_b: String::new(),
            sg: String::new(),
            extra_subnets: vec![],
            extra_sgs: vec![],
            extra_route_tables: vec![],
        };
        a.subnet_a = a
            .subnet(c, "us-east-1a", &format!("10.{second_octet}.1.0/24"))
            .await;
        a.subnet_b = a
            .subnet(c, "us-east-1b", &format!("10.{second_octet}.2.0/24"))
            .await;
        a.sg = a.security_group(c, &format!("{label}-clients"), true).await;
        a
    }

    async fn subnet(&self, c: &Client, az: &str, cidr: &str) -> String {
        c.create_subnet()
            .vpc_id(&self.vpc_id)
            .availability_zone(az)
            .cidr_block(cidr)
            .tag_specifications(fixture_tags(ResourceType::Subnet, &self.label))
            .send()
            .await
            .expect("CreateSubnet (fixture)")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string()
    }

    async fn security_group(&self, c: &Client, name: &str, allow_443: bool) -> String {
        let id = c
            .create_security_group()
            .vpc_id(&self.vpc_id)
            .group_name(name)
            .description("made by hand by a sagevpc integration test")
            .tag_specifications(fixture_tags(ResourceType::SecurityGroup, &self.label))
            .send()
            .await
            .expect("CreateSecurityGroup (fixture)")
            .group_id()
            .expect("group id")
            .to_string();
        if allow_443 {
            c.authorize_security_group_ingress()
                .group_id(&id)
                .ip_permissions(
                    IpPermission::builder()
                        .ip_protocol("tcp")
                        .from_port(443)
                        .to_port(443)
                        .ip_ranges(IpRange::builder().cidr_ip(&self.cidr).build())
                        .build(),
                )
                .send()
                .await
                .expect("AuthorizeSecurityGroupIngress (fixture)");
        }
        id
    }

    /// An extra, untagged-by-sagevpc subnet in us-east-1c.
    pub async fn add_subnet(&mut self, c: &Client, cidr: &str) -> String {
        let id = self.subnet(c, "us-east-1c", cidr).await;
        self.extra_subnets.push(id.clone());
        id
    }

    /// An extra security group (no rules).
    pub async fn add_security_group(&mut self, c: &Client, name: &str) -> String {
        let id = self.security_group(c, name, false).await;
        self.extra_sgs.push(id.clone());
        id
    }

    /// A hand-made route table, associated with `subnet`.
    pub async fn add_route_table(&mut self, c: &Client, subnet: &str) -> String {
        let id = c
            .create_route_table()
            .vpc_id(&self.vpc_id)
            .tag_specifications(fixture_tags(ResourceType::RouteTable, &self.label))
            .send()
            .await
            .expect("CreateRouteTable (fixture)")
            .route_table()
            .and_then(|r| r.route_table_id())
            .expect("route table id")
            .to_string();
        c.associate_route_table()
            .route_table_id(&id)
            .subnet_id(subnet)
            .send()
            .await
            .expect("AssociateRouteTable (fixture)");
        self.extra_route_tables.push(id.clone());
        id
    }

    /// The VPC's main route table.
    pub async fn main_route_table(&self, c: &Client) -> String {
        let out = c
            .describe_route_tables()
            .filters(
                Filter::builder()
                    .name("vpc-id")
                    .values(&self.vpc_id)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("association.main")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .expect("DescribeRouteTables (fixture)");
        out.route_tables()
            .first()
            .and_then(|r| r.route_table_id())
            .expect("main route table")
            .to_string()
    }

    /// plans/minimal.toml with this VPC's ids substituted (name is set by `PlanDir`).
    pub fn minimal_plan(&self) -> String {
        let text = shipped("minimal.toml");
        for placeholder in [
            "vpc-0123456789abcdef0",
            "subnet-0123456789abcdef0",
            "subnet-0fedcba9876543210",
            "sg-0123456789abcdef0",
        ] {
            assert!(
                text.contains(placeholder),
                "plans/minimal.toml no longer contains {placeholder}"
            );
        }
        text.replace("vpc-0123456789abcdef0", &self.vpc_id)
            .replace("subnet-0123456789abcdef0", &self.subnet_a)
            .replace("subnet-0fedcba9876543210", &self.subnet_b)
            .replace("sg-0123456789abcdef0", &self.sg)
    }

    async fn delete(self_ids: AdoptedIds, c: &Client) {
        // Endpoints left in the VPC (a failed test) hold ENIs: remove them first.
        let eps: Vec<String> = endpoints_in_vpc(c, &self_ids.vpc_id)
            .await
            .iter()
            .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
            .collect();
        if !eps.is_empty() {
            let _ = c
                .delete_vpc_endpoints()
                .set_vpc_endpoint_ids(Some(eps))
                .send()
                .await;
        }
        for rt in &self_ids.route_tables {
            let assoc = c
                .describe_route_tables()
                .route_table_ids(rt)
                .send()
                .await
                .ok()
                .into_iter()
                .flat_map(|o| o.route_tables.unwrap_or_default())
                .flat_map(|r| r.associations.unwrap_or_default())
                .filter_map(|a| a.route_table_association_id);
            for a in assoc {
                let _ = c.disassociate_route_table().association_id(a).send().await;
            }
            let _ = c.delete_route_table().route_table_id(rt).send().await;
        }
        for sg in &self_ids.sgs {
            let _ = c.delete_security_group().group_id(sg).send().await;
        }
        for s in &self_ids.subnets {
            let _ = c.delete_subnet().subnet_id(s).send().await;
        }
        if let Err(e) = c.delete_vpc().vpc_id(&self_ids.vpc_id).send().await {
            eprintln!(
                "cleanup: fixture VPC {} not deleted: {e:?}",
                self_ids.vpc_id
            );
        }
    }
}

struct AdoptedIds {
    vpc_id: String,
    subnets: Vec<String>,
    sgs: Vec<String>,
    route_tables: Vec<String>,
}

impl Drop for Adopted {
    fn drop(&mut self) {
        let ids = AdoptedIds {
            vpc_id: self.vpc_id.clone(),
            subnets: [self.subnet_a.clone(), self.subnet_b.clone()]
                .into_iter()
                .chain(self.extra_subnets.iter().cloned())
                .filter(|s| !s.is_empty())
                .collect(),
            sgs: std::iter::once(self.sg.clone())
                .chain(self.extra_sgs.iter().cloned())
                .filter(|s| !s.is_empty())
                .collect(),
            route_tables: self.extra_route_tables.clone(),
        };
        // Drop may run inside a test's tokio runtime: use a fresh one on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async {
                let c = ec2().await;
                Adopted::delete(ids, &c).await;
            });
        })
        .join();
    }
}
