//! Reliability and safety ("Reliability and safety" issue): the real binary against
//! LocalStack (127.0.0.1:4566, or `SAGEVPC_IT_LOCALSTACK`), partly through the
//! fault-injecting proxies under `tests/faultproxy/`.
//!
//! * `random_faults_converge`: throttling, 500s and dropped connections on every call.
//! * `kill_at_every_mutating_call_then_reapply_converges`: the run "dies" after its k-th
//!   mutating call (whose answer it never sees), for every k; a re-apply must converge to
//!   exactly one copy of everything and leave no untagged (unfindable) resource behind.
//! * `two_applies_at_once_end_with_one_copy`: two applies of the same plan racing.
//! * `plans_sharing_an_adopted_vpc_are_isolated`: destroying one plan in a shared VPC
//!   leaves the other plan, the VPC and its default group alone.
//! * `endpoint_wait_fails_fast_when_aws_becomes_unreachable`: a run that loses AWS while
//!   it waits for an endpoint gives up promptly.
//! * `a_paused_lock_holder_does_not_write_after_its_lock_was_taken_over`: the apply lock
//!   is a lease; a holder that outlived it must stop writing.
//!
//! Every test uses its own plan name; resources are counted with the SDK, tagged or not.
//! Only `kill_at_every_...` creates VPCs with CIDR 10.20.0.0/16 in this binary (the other
//! tests shift the studio plan to 10.21-10.24 or tag their hand-made VPC), so its "no
//! untagged 10.20.0.0/16 VPC appeared" check can only be tripped by itself.
//! Run with `cargo test --test localstack_faults -- --nocapture` to see the numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, ResourceType, SecurityGroup, Tag,
    TagSpecification, VpcAttributeName, VpcEndpoint,
};
use aws_sdk_ec2::Client;
use serde_json::Value;

/// The LocalStack to test against: http://127.0.0.1:4566, or `SAGEVPC_IT_LOCALSTACK`
/// (e.g. a private, fresh instance: LocalStack keeps every deleted VPC endpoint and its
/// DescribeVpcEndpoints slows down with them, so a long-lived shared instance makes this
/// file slow).
fn localstack() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("SAGEVPC_IT_LOCALSTACK")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:4566".to_string())
            .trim_end_matches('/')
            .to_string()
    })
}
const REGION: &str = "us-east-1";
const TAG_PLAN: &str = "sagevpc:plan";
const TAG_FIXTURE: &str = "it:fixture";

/// What the studio plan owns: subnets, route tables (non-main), security groups (non-default),
/// VPC endpoints (1 gateway + 5 interface).
const STUDIO: Expected = Expected {
    subnets: 3,
    route_tables: 1,
    associations: 3,
    security_groups: 2,
    endpoints: 6,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expected {
    subnets: usize,
    route_tables: usize,
    associations: usize,
    security_groups: usize,
    endpoints: usize,
}

// =========================================================================== helpers

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unique_name(label: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        "it-flt-{label}-{}-{}{seq}",
        std::process::id(),
        nanos % 1_000_000_000_000
    );
    assert!(name.len() <= 64, "plan name {name:?} too long");
    name
}

fn ensure_localstack() {
    let hostport = localstack().trim_start_matches("http://").to_string();
    let ok = (|| -> Result<String, std::io::Error> {
        let addr: SocketAddr = hostport
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(
            format!("GET /_localstack/health HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes(),
        )?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    })();
    match ok {
        Ok(b) if b.contains(" 200 ") => {}
        Ok(b) => panic!(
            "LocalStack health at {} answered: {}",
            localstack(),
            b.lines().next().unwrap_or("")
        ),
        Err(e) => panic!(
            "LocalStack is not reachable at {} ({e}); start it with ./localstack/up.sh",
            localstack()
        ),
    }
}

/// Result of one run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    secs: f64,
}

impl Run {
    fn from_output(o: Output, secs: f64) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            secs,
        }
    }

    fn dump(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn expect(self, code: i32, what: &str) -> Run {
        assert_eq!(
            self.code,
            code,
            "{what}: expected exit {code}\n{}",
            self.dump()
        );
        self
    }

    /// `N` from the `--stats` line `stats: T API calls (N mutating)`.
    fn mutating_from_stats(&self) -> Option<u64> {
        self.stderr.lines().find_map(|l| {
            let rest = l.strip_prefix("stats: ")?;
            let open = rest.find('(')?;
            let n = rest[open + 1..].strip_suffix(" mutating)")?;
            n.trim().parse().ok()
        })
    }
}

/// The binary with a clean AWS environment; every call goes to `endpoint`.
fn sagevpc_cmd(endpoint: &str, global: &[&str], args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sagevpc"));
    c.arg("--endpoint-url")
        .arg(endpoint)
        .args(global)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .env("AWS_CONFIG_FILE", "/nonexistent/sagevpc-it/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/sagevpc-it/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn sagevpc(endpoint: &str, global: &[&str], args: &[&str]) -> Run {
    let t = Instant::now();
    let o = sagevpc_cmd(endpoint, global, args)
        .output()
        .expect("run sagevpc");
    Run::from_output(o, t.elapsed().as_secs_f64())
}

/// Run the binary, killing it (by its own handle) once `give_up(elapsed)` says so (asked
/// every 250 ms). Returns the run and whether it finished by itself.
fn sagevpc_until(
    endpoint: &str,
    global: &[&str],
    args: &[&str],
    mut give_up: impl FnMut(Duration) -> bool,
) -> (Run, bool) {
    let t = Instant::now();
    let mut child = sagevpc_cmd(endpoint, global, args)
        .spawn()
        .expect("spawn sagevpc");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let h_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let h_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut finished = true;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if give_up(t.elapsed()) {
            finished = false;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let o = Output {
        status,
        stdout: h_out.join().unwrap(),
        stderr: h_err.join().unwrap(),
    };
    (Run::from_output(o, t.elapsed().as_secs_f64()), finished)
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn apply_direct(plan: &Path) -> Run {
    sagevpc(localstack(), &[], &["apply", &p(plan), "--auto-approve"])
}

fn replan_direct(plan: &Path) -> Run {
    sagevpc(
        localstack(),
        &[],
        &["plan", &p(plan), "--detailed-exitcode"],
    )
}

/// `--endpoint-timeout 120`: a cleanup must not hang for the default 600 s when an
/// endpoint never reaches `deleted`.
fn destroy_direct(plan: &Path) -> Run {
    sagevpc(
        localstack(),
        &[],
        &[
            "destroy",
            &p(plan),
            "--auto-approve",
            "--endpoint-timeout",
            "120",
        ],
    )
}

/// A copy of a plan in a temp dir (with the shipped policy), destroyed on drop unless
/// `destroyed` was set.
struct PlanDir {
    name: String,
    path: PathBuf,
    destroyed: bool,
    _dir: tempfile::TempDir,
}

impl PlanDir {
    /// `text` with its top-level `name = ...` replaced by a unique name.
    fn new(label: &str, text: &str) -> PlanDir {
        ensure_localstack();
        let name = unique_name(label);
        let dir = tempfile::Builder::new()
            .prefix("sagevpc-flt-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::copy(
            repo_root().join("plans/policies/s3-deny-amazon-linux-repos.json"),
            dir.path().join("policies/s3-deny-amazon-linux-repos.json"),
        )
        .expect("copy policy");
        let mut replaced = false;
        let body: Vec<String> = text
            .lines()
            .map(|l| {
                let t = l.trim_start();
                if !replaced && t.starts_with("name") && t[4..].trim_start().starts_with('=') {
                    replaced = true;
                    format!("name = \"{name}\"")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(replaced, "plan has no `name = ...` line");
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, body.join("\n") + "\n").unwrap();
        PlanDir {
            name,
            path,
            destroyed: false,
            _dir: dir,
        }
    }

    /// plans/studio-vpc.toml, with `10.20.` replaced by `10.<octet>.`.
    fn studio(label: &str, octet: u8) -> PlanDir {
        let text = std::fs::read_to_string(repo_root().join("plans/studio-vpc.toml")).unwrap();
        assert!(
            text.contains("name = \"ml-platform\""),
            "plans/studio-vpc.toml changed its name line"
        );
        PlanDir::new(label, &text.replace("10.20.", &format!("10.{octet}.")))
    }

    fn destroy(&mut self) -> Run {
        let r = destroy_direct(&self.path);
        if r.code == 0 {
            self.destroyed = true;
        }
        r
    }
}

impl Drop for PlanDir {
    fn drop(&mut self) {
        if !self.destroyed {
            let r = destroy_direct(&self.path);
            if r.code != 0 {
                eprintln!("cleanup: destroy of {} failed\n{}", self.name, r.dump());
            }
        }
    }
}

/// The fault proxy, killed (by its own handle) on drop.
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    fn start(args: &[&str]) -> Proxy {
        Proxy::start_script("faultproxy.py", args)
    }

    /// A proxy script under tests/faultproxy/.
    fn start_script(script: &str, args: &[&str]) -> Proxy {
        ensure_localstack();
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/faultproxy").join(script))
            .args(["--upstream", localstack(), "--max-seconds", "900"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 tests/faultproxy/faultproxy.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read proxy stdout");
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("fault proxy did not print LISTENING <port>: {line:?}")
            });
        Proxy { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stats(&self) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to proxy");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /__proxy/stats HTTP/1.0\r\nHost: proxy\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read proxy stats");
        let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("proxy stats not JSON ({e}): {resp}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn faults_of(stats: &Value) -> BTreeMap<String, u64> {
    stats["faults"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

// --------------------------------------------------------------------------- SDK

/// Blocking SDK access (one runtime per test; the binary runs outside of it).
struct Aws {
    rt: tokio::runtime::Runtime,
    c: Client,
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn f(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn ep_gone(e: &VpcEndpoint) -> bool {
    e.state()
        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
}

/// Everything in (and around) the VPCs of one plan, tagged or not.
#[derive(Debug, Default, Clone)]
struct Census {
    /// VPCs tagged with the plan.
    tagged_vpcs: Vec<String>,
    /// Inside those VPCs, everything (ids), and how many of them lack the plan tag.
    subnets: Vec<String>,
    route_tables: Vec<String>,
    associations: usize,
    security_groups: Vec<String>,
    endpoints: Vec<String>,
    untagged_inside: Vec<String>,
    /// Resources tagged with the plan outside its VPCs.
    tagged_outside: Vec<String>,
}

impl Census {
    fn matches(&self, e: Expected) -> bool {
        self.tagged_vpcs.len() == 1
            && self.subnets.len() == e.subnets
            && self.route_tables.len() == e.route_tables
            && self.associations == e.associations
            && self.security_groups.len() == e.security_groups
            && self.endpoints.len() == e.endpoints
            && self.untagged_inside.is_empty()
            && self.tagged_outside.is_empty()
    }

    /// Copies beyond one per resource.
    fn duplicates(&self, e: Expected) -> usize {
        let over = |n: usize, want: usize| n.saturating_sub(want);
        over(self.tagged_vpcs.len(), 1)
            + over(self.subnets.len(), e.subnets)
            + over(self.route_tables.len(), e.route_tables)
            + over(self.security_groups.len(), e.security_groups)
            + over(self.endpoints.len(), e.endpoints)
            + self.tagged_outside.len()
    }

    fn summary(&self) -> String {
        format!(
            "vpcs={} subnets={} route_tables={} (assocs={}) sgs={} endpoints={} untagged_inside={:?} tagged_outside={:?}",
            self.tagged_vpcs.len(),
            self.subnets.len(),
            self.route_tables.len(),
            self.associations,
            self.security_groups.len(),
            self.endpoints.len(),
            self.untagged_inside,
            self.tagged_outside
        )
    }
}

impl Aws {
    fn new() -> Aws {
        ensure_localstack();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let c = rt.block_on(async {
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .endpoint_url(localstack())
                .credentials_provider(Credentials::new("test", "test", None, None, "sagevpc-flt"))
                .load()
                .await;
            Client::new(&conf)
        });
        Aws { rt, c }
    }

    fn vpcs(&self, filters: Vec<Filter>) -> Vec<aws_sdk_ec2::types::Vpc> {
        self.rt.block_on(async {
            self.c
                .describe_vpcs()
                .set_filters(Some(filters))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeVpcs")
        })
    }

    fn subnets(&self, filters: Vec<Filter>) -> Vec<aws_sdk_ec2::types::Subnet> {
        self.rt.block_on(async {
            self.c
                .describe_subnets()
                .set_filters(Some(filters))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeSubnets")
        })
    }

    fn route_tables(&self, filters: Vec<Filter>) -> Vec<aws_sdk_ec2::types::RouteTable> {
        self.rt.block_on(async {
            self.c
                .describe_route_tables()
                .set_filters(Some(filters))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeRouteTables")
        })
    }

    fn security_groups(&self, filters: Vec<Filter>) -> Vec<SecurityGroup> {
        self.rt.block_on(async {
            self.c
                .describe_security_groups()
                .set_filters(Some(filters))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeSecurityGroups")
        })
    }

    fn endpoints(&self, filters: Vec<Filter>) -> Vec<VpcEndpoint> {
        self.rt.block_on(async {
            self.c
                .describe_vpc_endpoints()
                .set_filters(Some(filters))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeVpcEndpoints")
                .into_iter()
                .filter(|e| !ep_gone(e))
                .collect()
        })
    }

    fn vpc_dns(&self, vpc: &str) -> (bool, bool) {
        self.rt.block_on(async {
            let s = self
                .c
                .describe_vpc_attribute()
                .vpc_id(vpc)
                .attribute(VpcAttributeName::EnableDnsSupport)
                .send()
                .await
                .expect("DescribeVpcAttribute");
            let h = self
                .c
                .describe_vpc_attribute()
                .vpc_id(vpc)
                .attribute(VpcAttributeName::EnableDnsHostnames)
                .send()
                .await
                .expect("DescribeVpcAttribute");
            (
                s.enable_dns_support()
                    .and_then(|a| a.value())
                    .unwrap_or(false),
                h.enable_dns_hostnames()
                    .and_then(|a| a.value())
                    .unwrap_or(false),
            )
        })
    }

    /// The apply lock of `plan` (key pair `sagevpc-lock-<plan>`): (id, tags).
    fn lock_of(&self, plan: &str) -> Option<(String, Vec<Tag>)> {
        let name = format!("sagevpc-lock-{plan}");
        self.rt.block_on(async {
            self.c
                .describe_key_pairs()
                .send()
                .await
                .expect("DescribeKeyPairs")
                .key_pairs()
                .iter()
                .find(|k| k.key_name() == Some(name.as_str()))
                .map(|k| {
                    (
                        k.key_pair_id().unwrap_or_default().to_string(),
                        k.tags().to_vec(),
                    )
                })
        })
    }

    /// Make the lock a killed run left behind look expired, as if its TTL had passed.
    fn expire_lock(&self, plan: &str) -> bool {
        let Some((id, _)) = self.lock_of(plan) else {
            return false;
        };
        self.rt.block_on(async {
            self.c
                .create_tags()
                .resources(&id)
                .tags(
                    Tag::builder()
                        .key("sagevpc:lock-expires")
                        .value("1")
                        .build(),
                )
                .send()
                .await
                .expect("CreateTags on the lock key pair")
        });
        true
    }

    /// How many VPC endpoints LocalStack holds (it never forgets deleted ones) and how
    /// long one DescribeVpcEndpoints takes: the main factor in this file's wall time.
    fn endpoint_store_note(&self) -> String {
        let t = Instant::now();
        let all = self.rt.block_on(async {
            self.c
                .describe_vpc_endpoints()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeVpcEndpoints")
        });
        let deleted = all.iter().filter(|e| ep_gone(e)).count();
        format!(
            "LocalStack {} holds {} VPC endpoints ({deleted} deleted); listing them took {:.1}s",
            localstack(),
            all.len(),
            t.elapsed().as_secs_f64()
        )
    }

    /// Ids of VPCs with `cidr` that carry no `sagevpc:plan` tag.
    fn untagged_vpcs(&self, cidr: &str) -> BTreeSet<String> {
        self.vpcs(vec![f("cidr", cidr)])
            .iter()
            .filter(|v| v.cidr_block() == Some(cidr) && tag(v.tags(), TAG_PLAN).is_none())
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect()
    }

    /// Count what a plan that creates its VPC has, tagged or not.
    fn census(&self, plan: &str) -> Census {
        let by_plan = || vec![f(&format!("tag:{TAG_PLAN}"), plan)];
        let mut c = Census {
            tagged_vpcs: self
                .vpcs(by_plan())
                .iter()
                .filter_map(|v| v.vpc_id().map(str::to_string))
                .collect(),
            ..Census::default()
        };
        c.tagged_vpcs.sort();
        let owned = |tags: &[Tag]| tag(tags, TAG_PLAN) == Some(plan);
        for vpc in c.tagged_vpcs.clone() {
            for s in self.subnets(vec![f("vpc-id", &vpc)]) {
                let id = s.subnet_id().unwrap_or_default().to_string();
                if !owned(s.tags()) {
                    c.untagged_inside.push(id.clone());
                }
                c.subnets.push(id);
            }
            for r in self.route_tables(vec![f("vpc-id", &vpc)]) {
                if r.associations().iter().any(|a| a.main() == Some(true)) {
                    continue; // the VPC's main route table
                }
                let id = r.route_table_id().unwrap_or_default().to_string();
                if !owned(r.tags()) {
                    c.untagged_inside.push(id.clone());
                }
                c.associations += r
                    .associations()
                    .iter()
                    .filter(|a| a.main() != Some(true) && a.subnet_id().is_some())
                    .count();
                c.route_tables.push(id);
            }
            for g in self.security_groups(vec![f("vpc-id", &vpc)]) {
                if g.group_name() == Some("default") {
                    continue;
                }
                let id = g.group_id().unwrap_or_default().to_string();
                if !owned(g.tags()) {
                    c.untagged_inside.push(id.clone());
                }
                c.security_groups.push(id);
            }
            for e in self.endpoints(vec![f("vpc-id", &vpc)]) {
                let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
                if !owned(e.tags()) {
                    c.untagged_inside.push(id.clone());
                }
                c.endpoints.push(id);
            }
        }
        let inside = |v: Option<&str>| v.is_some_and(|v| c.tagged_vpcs.iter().any(|x| x == v));
        let mut outside = Vec::new();
        for s in self.subnets(by_plan()) {
            if !inside(s.vpc_id()) {
                outside.push(s.subnet_id().unwrap_or_default().to_string());
            }
        }
        for r in self.route_tables(by_plan()) {
            if !inside(r.vpc_id()) {
                outside.push(r.route_table_id().unwrap_or_default().to_string());
            }
        }
        for g in self.security_groups(by_plan()) {
            if !inside(g.vpc_id()) {
                outside.push(g.group_id().unwrap_or_default().to_string());
            }
        }
        // (Endpoints tagged with the plan outside its VPCs are not queried: an endpoint
        // cannot outlive its VPC, and an untagged copy of the VPC is caught by the
        // untagged-VPC checks. DescribeVpcEndpoints is LocalStack's slowest call.)
        c.tagged_outside = outside;
        c
    }
}

/// Apply a fresh studio plan (CIDR 10.<octet>.0.0/16) through a fault-free proxy: the
/// number of mutating calls of a clean apply (proxy count, cross-checked with `--stats`).
fn mutating_calls_of_clean_apply(aws: &Aws, octet: u8) -> u64 {
    let mut plan = PlanDir::studio("n", octet);
    let proxy = Proxy::start(&[]);
    let r = sagevpc(
        &proxy.url(),
        &["--stats"],
        // No lock heartbeat (a mutating CreateTags) however slow LocalStack is.
        &[
            "apply",
            &p(&plan.path),
            "--auto-approve",
            "--lock-ttl",
            "600",
        ],
    )
    .expect(0, "clean apply through the proxy");
    let from_proxy = proxy.stats()["mutating"].as_u64().expect("mutating count");
    let from_stats = r
        .mutating_from_stats()
        .expect("--stats prints `(N mutating)`");
    assert_eq!(
        from_proxy,
        from_stats,
        "proxy and --stats disagree on mutating calls\n{}",
        r.dump()
    );
    let c = aws.census(&plan.name);
    assert!(c.matches(STUDIO), "clean apply: {}", c.summary());
    plan.destroy().expect(0, "destroy after the clean apply");
    from_proxy
}

// =========================================================================== tests

/// Faults injected by kind, and what went wrong.
type SeedResult = (BTreeMap<String, u64>, Vec<String>);

/// For 3 fixed seeds: apply through throttling (15%), 500s (10%) and dropped connections
/// (5%) with --max-attempts 8; then apply directly; exactly the plan's resources exist and
/// a re-plan is empty. (The seeds run in parallel, each with its own proxy and plan.)
#[test]
fn random_faults_converge() {
    let t0 = Instant::now();
    let aws = Aws::new();
    let cidr = "10.21.0.0/16";
    let untagged_before = aws.untagged_vpcs(cidr);
    // One seed: the faults injected, or why it failed. A faulty apply that does not exit 0
    // is recorded (and asserted at the end) but the convergence checks still run.
    let one_seed = |seed: u64| -> SeedResult {
        let mut failures = Vec::new();
        let mut plan = PlanDir::studio(&format!("rf{seed}"), 21);
        let proxy = Proxy::start(&[
            "--throttle-rate",
            "0.15",
            "--error-rate",
            "0.1",
            "--drop-rate",
            "0.05",
            "--seed",
            &seed.to_string(),
        ]);
        let faulty = sagevpc(
            &proxy.url(),
            &["--max-attempts", "8", "--stats"],
            &["apply", &p(&plan.path), "--auto-approve"],
        );
        let stats = proxy.stats();
        drop(proxy);
        let faults = faults_of(&stats);
        let injected: u64 = faults.values().sum();
        let forwarded: u64 = stats["calls"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        println!(
            "random_faults_converge: seed {seed}: faulty apply exit {} in {:.1}s; {injected} faults injected {faults:?} over {} calls ({forwarded} forwarded, {} mutating)",
            faulty.code,
            faulty.secs,
            injected + forwarded,
            stats["mutating"]
        );
        if faulty.code != 0 {
            failures.push(format!(
                "seed {seed}: apply through faults exited {}\n{}",
                faulty.code,
                faulty.dump()
            ));
        }
        if injected == 0 {
            failures.push(format!("seed {seed}: the proxy injected no fault"));
        }
        let again = apply_direct(&plan.path);
        let noop = again.code == 0 && again.stdout.contains("No changes.");
        println!(
            "random_faults_converge: seed {seed}: direct re-apply exit {} ({})",
            again.code,
            if noop { "no-op" } else { "made changes" }
        );
        if again.code != 0 {
            failures.push(format!(
                "seed {seed}: direct apply after the faulty one failed\n{}",
                again.dump()
            ));
        }
        let c = aws.census(&plan.name);
        println!("random_faults_converge: seed {seed}: {}", c.summary());
        if !c.matches(STUDIO) {
            failures.push(format!(
                "seed {seed}: not exactly the plan's resources: {}",
                c.summary()
            ));
        }
        let rp = replan_direct(&plan.path);
        if rp.code != 0 {
            failures.push(format!(
                "seed {seed}: re-plan --detailed-exitcode\n{}",
                rp.dump()
            ));
        }
        let d = plan.destroy();
        if d.code != 0 {
            failures.push(format!("seed {seed}: destroy\n{}", d.dump()));
        }
        (faults, failures)
    };
    let results: Vec<(u64, SeedResult)> = std::thread::scope(|s| {
        let handles: Vec<_> = [11u64, 42, 1337]
            .into_iter()
            .map(|seed| (seed, s.spawn(move || one_seed(seed))))
            .collect();
        handles
            .into_iter()
            .map(|(seed, h)| {
                let r = h.join().unwrap_or_else(|e| {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    (
                        BTreeMap::new(),
                        vec![format!("seed {seed} panicked: {msg}")],
                    )
                });
                (seed, r)
            })
            .collect()
    });
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for (seed, (faults, f)) in results {
        println!(
            "random_faults_converge: SEED {seed}: {} faults injected {faults:?}",
            faults.values().sum::<u64>()
        );
        for (k, v) in faults {
            *totals.entry(k).or_default() += v;
        }
        failures.extend(f);
    }
    let untagged_after = aws.untagged_vpcs(cidr);
    let new_untagged: Vec<_> = untagged_after.difference(&untagged_before).collect();
    println!(
        "random_faults_converge: total faults injected {totals:?}; new untagged {cidr} VPCs: {}; {:.1}s",
        new_untagged.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        new_untagged.is_empty(),
        "untagged VPCs appeared: {new_untagged:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Crash the apply right after its k-th mutating call (the caller never sees the answer;
/// everything after is refused), for every k; a direct re-apply must converge to exactly
/// one copy of everything, with nothing untagged left behind.
///
/// The crashed run holds the plan's apply lock (an EC2 key pair) when it dies. It runs
/// with `--lock-ttl 600` so that no lock heartbeat (`CreateTags`, a mutating call) shifts
/// the kill points; afterwards the test rewrites the abandoned lock's expiry tag into the
/// past, as if the TTL had elapsed, so the re-apply goes through the real takeover path
/// without waiting for it.
#[test]
fn kill_at_every_mutating_call_then_reapply_converges() {
    let t0 = Instant::now();
    let aws = Aws::new();
    let cidr = "10.20.0.0/16";
    println!("kill: {}", aws.endpoint_store_note());
    let n = mutating_calls_of_clean_apply(&aws, 20);
    println!("kill: a clean apply of the studio plan makes {n} mutating calls");
    assert!(n >= 10, "suspiciously few mutating calls: {n}");

    // Re-plan and destroy of iteration k run in the background while k+1 runs (they
    // create no VPC, so they cannot disturb the untagged-VPC snapshots).
    let (tx, rx) = std::sync::mpsc::channel::<(u64, PlanDir)>();
    let cleaner = std::thread::spawn(move || {
        let aws = Aws::new();
        let mut problems = Vec::new();
        for (k, mut plan) in rx {
            let rp = replan_direct(&plan.path);
            if rp.code != 0 {
                problems.push(format!(
                    "k={k}: re-plan after the re-apply is not empty\n{}",
                    rp.dump()
                ));
            }
            let d = plan.destroy();
            if d.code != 0 {
                problems.push(format!("k={k}: destroy failed\n{}", d.dump()));
            }
            if let Some((id, tags)) = aws.lock_of(&plan.name) {
                problems.push(format!(
                    "k={k}: an apply lock is left after the destroy: {id} {tags:?}\n{}",
                    d.dump()
                ));
            }
        }
        problems
    });

    let mut tried = 0;
    let mut duplicates = 0;
    let mut leaks = 0;
    let mut problems: Vec<String> = Vec::new();
    let mut hung_in_waiter: Vec<u64> = Vec::new();
    let mut locks_expired = 0;
    for k in 1..=n {
        let before = aws.untagged_vpcs(cidr);
        let plan = PlanDir::studio(&format!("k{k}"), 20);
        let proxy = Proxy::start(&["--kill-after", &k.to_string()]);
        let crashed = sagevpc(
            &proxy.url(),
            &["--max-attempts", "2"],
            // --endpoint-timeout bounds a wait on an unreachable AWS (see
            // endpoint_wait_fails_fast_when_aws_becomes_unreachable).
            &[
                "apply",
                &p(&plan.path),
                "--auto-approve",
                "--lock-ttl",
                "600",
                "--endpoint-timeout",
                "8",
            ],
        );
        if crashed.stderr.contains("polling endpoint states failed") {
            hung_in_waiter.push(k);
        }
        let stats = proxy.stats();
        drop(proxy);
        let forwarded = stats["mutating"].as_u64().unwrap_or(0);
        let refused = faults_of(&stats).get("killed").copied().unwrap_or(0);
        assert_eq!(
            forwarded,
            k,
            "k={k}: the proxy forwarded {forwarded} mutating calls (not killed?)\n{}",
            crashed.dump()
        );
        tried += 1;
        // The call the run was stopped in (as the run reports it).
        let first_error = crashed
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or("")
            .chars()
            .take(110)
            .collect::<String>();
        if crashed.code == 0 {
            // A run that says it succeeded must have finished the job (a kill in the lock
            // release only costs a warning).
            let c = aws.census(&plan.name);
            if !c.matches(STUDIO) {
                problems.push(format!(
                    "k={k}: the killed apply exited 0 but left: {}\n{}",
                    c.summary(),
                    crashed.dump()
                ));
            }
        }
        let expired = aws.expire_lock(&plan.name);
        if expired {
            locks_expired += 1;
        }
        let reapply = apply_direct(&plan.path);
        // A re-apply that changes something takes the lock (over) and releases it; a no-op
        // one takes no lock (README), so the dead run's expired lock may stay until the
        // next changing run (the destroy below, which checks it is gone afterwards).
        let reapply_changed = !reapply.stdout.contains("No changes.");
        if reapply_changed {
            if let Some((id, tags)) = aws.lock_of(&plan.name) {
                problems.push(format!(
                    "k={k}: the re-apply left an apply lock behind: {id} {tags:?}\n{}",
                    reapply.dump()
                ));
            }
        }

        let c = aws.census(&plan.name);
        let after = aws.untagged_vpcs(cidr);
        let new_untagged: Vec<String> = after.difference(&before).cloned().collect();
        let dups = c.duplicates(STUDIO);
        let leak = new_untagged.len() + c.untagged_inside.len();
        duplicates += dups;
        leaks += leak;
        println!(
            "kill: k={k:>2}: crashed apply exit {} in {:.1}s ({refused} calls refused{}) [{first_error}]; re-apply exit {} in {:.1}s; {}; dups {dups}; leaks {leak}",
            crashed.code,
            crashed.secs,
            if expired { "; its lock expired by the test" } else { "" },
            reapply.code,
            reapply.secs,
            c.summary(),
        );
        if reapply.code != 0 {
            problems.push(format!("k={k}: re-apply failed\n{}", reapply.dump()));
        }
        if !c.matches(STUDIO) || !new_untagged.is_empty() {
            problems.push(format!(
                "k={k}: after the re-apply: {}; new untagged VPCs {new_untagged:?}\n--- crashed run\n{}\n--- re-apply\n{}",
                c.summary(),
                crashed.dump(),
                reapply.dump()
            ));
        }
        // Whatever destroy cannot find (untagged copies) is removed by hand so that
        // LocalStack stays small; it was already counted as a leak.
        for id in &new_untagged {
            let _ = aws.rt.block_on(aws.c.delete_vpc().vpc_id(id).send());
        }
        tx.send((k, plan)).expect("cleaner thread alive");
    }
    drop(tx);
    problems.extend(cleaner.join().expect("cleaner thread"));
    println!(
        "kill: SUMMARY kill points tried {tried} (a clean apply makes {n} mutating calls), duplicates found {duplicates}, leaks found {leaks}, other problems {}; abandoned locks expired by the test {locks_expired}; crashed runs that kept polling endpoints after the kill (bounded by --endpoint-timeout 8): {hung_in_waiter:?}; {:.1}s",
        problems.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert_eq!(duplicates, 0, "duplicates found");
    assert_eq!(leaks, 0, "leaks found");
    assert!(
        tried >= n,
        "only {tried} kill points tried, a clean apply makes {n} mutating calls"
    );
}

/// Two applies of the same fresh plan started at the same moment (through 30 ms of
/// latency, to widen the race) end with one copy of everything.
#[test]
fn two_applies_at_once_end_with_one_copy() {
    let t0 = Instant::now();
    let aws = Aws::new();
    let cidr = "10.22.0.0/16";
    let untagged_before = aws.untagged_vpcs(cidr);
    let plan = PlanDir::studio("race", 22);
    let proxy = Proxy::start(&["--latency-ms", "30"]);
    let args = ["apply", &p(&plan.path), "--auto-approve"];
    let a = sagevpc_cmd(&proxy.url(), &[], &args)
        .spawn()
        .expect("spawn apply A");
    let b = sagevpc_cmd(&proxy.url(), &[], &args)
        .spawn()
        .expect("spawn apply B");
    let ra = Run::from_output(a.wait_with_output().unwrap(), t0.elapsed().as_secs_f64());
    let rb = Run::from_output(b.wait_with_output().unwrap(), t0.elapsed().as_secs_f64());
    let stats = proxy.stats();
    drop(proxy);
    let copies_removed = |r: &Run| {
        if r.stdout
            .contains("Removing copies created by a concurrent run")
        {
            "removed copies of the other run"
        } else if r.stdout.contains("Waiting for another run") {
            if r.stdout.contains("No changes left") {
                "waited for the lock, then found nothing left to do"
            } else {
                "waited for the lock"
            }
        } else {
            "did the work"
        }
    };
    println!(
        "race: apply A exit {} ({:.1}s, {}), apply B exit {} ({:.1}s, {}); proxy saw {} mutating calls: {}",
        ra.code, ra.secs, copies_removed(&ra), rb.code, rb.secs, copies_removed(&rb), stats["mutating"], stats["calls"]
    );
    let both_ok = ra.code == 0 && rb.code == 0;
    let mut report = String::new();
    if !both_ok {
        for (n, r) in [("A", &ra), ("B", &rb)] {
            if r.code != 0 {
                report.push_str(&format!("apply {n} failed:\n{}\n", r.dump()));
            }
        }
        println!("race: FINDING: a racing apply failed:\n{report}");
    }
    let c = aws.census(&plan.name);
    println!("race: right after both: {}", c.summary());
    if !both_ok || !c.matches(STUDIO) {
        // The weaker promise: a follow-up apply converges.
        let fix = apply_direct(&plan.path);
        let c2 = aws.census(&plan.name);
        println!("race: follow-up apply exit {}; {}", fix.code, c2.summary());
        fix.expect(0, "follow-up apply after the race");
        assert!(
            c2.matches(STUDIO),
            "after a follow-up apply: {}",
            c2.summary()
        );
    }
    replan_direct(&plan.path).expect(0, "re-plan after the race");
    let new_untagged: Vec<_> = aws
        .untagged_vpcs(cidr)
        .difference(&untagged_before)
        .cloned()
        .collect();
    println!(
        "race: new untagged VPCs {new_untagged:?}; {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        new_untagged.is_empty(),
        "untagged VPCs appeared: {new_untagged:?}"
    );
    assert!(c.matches(STUDIO), "two racing applies did not end with one copy of everything: {}\n{report}\n--- A\n{}\n--- B\n{}", c.summary(), ra.dump(), rb.dump());
    assert!(both_ok, "both racing applies must exit 0\n{report}");
    drop(plan);
}

/// AWS becomes unreachable right after the first `DeleteVpcEndpoints` of a destroy
/// succeeded: the run waits for that endpoint to be `deleted`, but every call now fails.
/// With `--max-attempts 2` it must give up within seconds (each poll already had its SDK
/// retries), not keep polling until `--endpoint-timeout` (600 s by default) while its
/// lock renewals fail too. (On apply, LocalStack answers creates with `available`, so
/// the same wait is reached there only on real AWS, where interface endpoints start
/// `pending`.)
#[test]
fn endpoint_wait_fails_fast_when_aws_becomes_unreachable() {
    let aws = Aws::new();
    let mut plan = PlanDir::studio("cut", 23);
    apply_direct(&plan.path).expect(0, "apply");
    let proxy = Proxy::start_script("cutoff.py", &["--after-action", "DeleteVpcEndpoints"]);
    // Give it 30 s from the cut (the phases before it take what LocalStack takes).
    let limit = Duration::from_secs(30);
    let mut cut_at: Option<Duration> = None;
    let (run, finished) = sagevpc_until(
        &proxy.url(),
        &["--max-attempts", "2"],
        &[
            "destroy",
            &p(&plan.path),
            "--auto-approve",
            "--lock-ttl",
            "600",
        ],
        |elapsed| {
            if cut_at.is_none() && proxy.stats()["cut"] == Value::Bool(true) {
                cut_at = Some(elapsed);
            }
            cut_at.is_some_and(|c| elapsed > c + limit) || elapsed > Duration::from_secs(300)
        },
    );
    let stats = proxy.stats();
    drop(proxy);
    let polls_failed = run.stderr.matches("polling endpoint states failed").count();
    let renewals_failed = run.stderr.matches("renewing the apply lock failed").count();
    println!(
        "cutoff: destroy {} after {:.1}s (exit {}); calls refused after the cut: {}; waiter polls that failed: {polls_failed}; lock renewals that failed: {renewals_failed}",
        if finished { "ended by itself" } else { "was still running and was killed" },
        run.secs,
        run.code,
        stats["refused"]
    );
    assert_eq!(
        stats["cut"],
        Value::Bool(true),
        "the proxy never saw a DeleteVpcEndpoints answer\n{}",
        run.dump()
    );
    // Whatever happened, a direct destroy finishes the job (the dead run's lock is made
    // to look expired first, as after its TTL).
    aws.expire_lock(&plan.name);
    let fix = plan.destroy();
    let c = aws.census(&plan.name);
    println!(
        "cutoff: direct destroy exit {} in {:.1}s; left: {}",
        fix.code,
        fix.secs,
        c.summary()
    );
    fix.expect(0, "direct destroy after the cut-off run");
    assert!(
        c.tagged_vpcs.is_empty() && c.tagged_outside.is_empty(),
        "after the direct destroy: {}",
        c.summary()
    );
    assert!(
        finished,
        "BUG: destroy was still running {}s after AWS became unreachable ({polls_failed} failed endpoint polls, {renewals_failed} failed lock renewals logged): the endpoint waiter (src/execute/waiter.rs) retries failed polls until --endpoint-timeout instead of failing\n--- stderr (first 3000 chars)\n{}",
        limit.as_secs(),
        run.stderr.chars().take(3000).collect::<String>()
    );
    assert_ne!(
        run.code,
        0,
        "a run that lost AWS mid-destroy claims success\n{}",
        run.dump()
    );
}

/// A child process that is resumed (SIGCONT) and killed, by its own pid/handle, if the
/// test ends while it is still running (e.g. stopped by the test and a panic came first).
struct Guarded(Child);

impl Guarded {
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig} {} failed", self.0.id());
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.id().to_string()])
                .status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The apply lock is a lease: a holder that is paused (laptop sleep, VM migration, GC,
/// SIGSTOP) longer than `--lock-ttl` loses it to a run that takes the expired lock over.
/// When the paused run wakes up it must notice that its lease ran out and stop, instead
/// of carrying on with the changes it planned before the pause: otherwise both runs
/// write, and the account ends with two copies (or conflicting errors).
///
/// R1 (`--lock-ttl 2`) is stopped with SIGSTOP right after it created the VPC; R2
/// applies the same plan (it takes the expired lock over, reads the frozen state and
/// does the rest); then R1 is resumed.
#[test]
fn a_paused_lock_holder_does_not_write_after_its_lock_was_taken_over() {
    let t0 = Instant::now();
    let aws = Aws::new();
    // Without the S3 gateway endpoint: two S3 gateway endpoints on one route table (which
    // this bug creates) share one route in LocalStack, and the survivor can then never be
    // deleted there (DeleteVpcEndpoints answers InvalidRoute.NotFound).
    let text = std::fs::read_to_string(repo_root().join("plans/studio-vpc.toml"))
        .unwrap()
        .replace("10.20.", "10.24.");
    let text: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("[gateway_endpoints.s3]") && !l.starts_with("policy = \"policies/")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !text.contains("gateway_endpoints"),
        "could not drop the gateway endpoint from the studio plan"
    );
    let plan = PlanDir::new("pause", &text);
    let want = Expected {
        endpoints: 5,
        ..STUDIO
    };
    let mut child = sagevpc_cmd(
        localstack(),
        &[],
        &["apply", &p(&plan.path), "--auto-approve", "--lock-ttl", "2"],
    )
    .spawn()
    .expect("spawn R1");
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let r1 = Guarded(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let h_out = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let h_err = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = err.read_to_string(&mut v);
        v
    });
    // Wait until R1 holds the lock and has created the VPC, then freeze it.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with("vpc.main: Created") => break,
            Ok(_) => continue,
            Err(e) => panic!("R1 never reported creating the VPC ({e})"),
        }
    }
    r1.signal("-STOP");
    let paused_at = Instant::now();
    println!(
        "pause: R1 (pid {}) stopped right after creating the VPC",
        r1.0.id()
    );
    let r2 = apply_direct(&plan.path);
    let after_r2 = aws.census(&plan.name);
    println!(
        "pause: R2 exit {} in {:.1}s ({}); state with R1 still stopped: {}",
        r2.code,
        r2.secs,
        if r2.stdout.contains("Waiting for another run") {
            "waited for R1's lock, then took it over"
        } else {
            "did not wait"
        },
        after_r2.summary()
    );
    // R1's lease (2 s) is long gone; give it a moment more, then wake it up.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(paused_at.elapsed()));
    r1.signal("-CONT");
    let mut r1 = r1;
    let mut finished = true;
    let status = loop {
        if let Some(st) = r1.0.try_wait().expect("try_wait") {
            break st;
        }
        if paused_at.elapsed() > Duration::from_secs(240) {
            finished = false;
            let _ = r1.0.kill();
            break r1.0.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let r1_out = Run {
        code: status.code().unwrap_or(-1),
        stdout: h_out.join().unwrap(),
        stderr: h_err.join().unwrap(),
        secs: t0.elapsed().as_secs_f64(),
    };
    let after_r1 = aws.census(&plan.name);
    let r1_created: Vec<&str> = r1_out
        .stdout
        .lines()
        .filter(|l| l.contains(": Created after"))
        .filter(|l| !l.starts_with("vpc.main"))
        .collect();
    println!(
        "pause: R1 resumed: exit {}{}; it reported {} creates after it was resumed (calls in flight at the pause included): {:?}",
        r1_out.code,
        if finished { "" } else { " (did not end; killed)" },
        r1_created.len(),
        r1_created
    );
    println!(
        "pause: after both: {}; duplicates {}",
        after_r1.summary(),
        after_r1.duplicates(want)
    );
    // Whatever happened, a follow-up apply converges (it removes copies, lowest id wins).
    let fix = apply_direct(&plan.path);
    let fixed = aws.census(&plan.name);
    println!(
        "pause: follow-up apply exit {}; {}",
        fix.code,
        fixed.summary()
    );
    r2.expect(0, "R2 (took over the expired lock)");
    fix.expect(0, "follow-up apply");
    assert!(
        fixed.matches(want),
        "after the follow-up apply: {}",
        fixed.summary()
    );
    assert!(
        after_r1.matches(want),
        "BUG: R1 kept applying its changeset after its lock expired and was taken over by R2: {} duplicates; state: {}\n--- R1 stdout\n{}\n--- R1 stderr (first 3000 chars)\n{}",
        after_r1.duplicates(want),
        after_r1.summary(),
        r1_out.stdout,
        r1_out.stderr.chars().take(3000).collect::<String>()
    );
    assert_ne!(
        r1_out.code,
        0,
        "R1 lost its lock mid-apply but exits 0\n{}",
        r1_out.dump()
    );
    drop(plan);
}

/// A VPC made with the SDK and deleted (with anything left in it) on drop.
struct HandVpc<'a> {
    aws: &'a Aws,
    id: String,
}

impl Drop for HandVpc<'_> {
    fn drop(&mut self) {
        let a = self.aws;
        let eps: Vec<String> = a
            .endpoints(vec![f("vpc-id", &self.id)])
            .iter()
            .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
            .collect();
        a.rt.block_on(async {
            if !eps.is_empty() {
                let _ =
                    a.c.delete_vpc_endpoints()
                        .set_vpc_endpoint_ids(Some(eps))
                        .send()
                        .await;
            }
        });
        for g in a.security_groups(vec![f("vpc-id", &self.id)]) {
            if g.group_name() != Some("default") {
                let _ = a.rt.block_on(
                    a.c.delete_security_group()
                        .group_id(g.group_id().unwrap_or_default())
                        .send(),
                );
            }
        }
        for r in a.route_tables(vec![f("vpc-id", &self.id)]) {
            if r.associations().iter().any(|x| x.main() == Some(true)) {
                continue;
            }
            for x in r.associations() {
                if let Some(id) = x.route_table_association_id() {
                    let _ =
                        a.rt.block_on(a.c.disassociate_route_table().association_id(id).send());
                }
            }
            let _ = a.rt.block_on(
                a.c.delete_route_table()
                    .route_table_id(r.route_table_id().unwrap_or_default())
                    .send(),
            );
        }
        for s in a.subnets(vec![f("vpc-id", &self.id)]) {
            let _ = a.rt.block_on(
                a.c.delete_subnet()
                    .subnet_id(s.subnet_id().unwrap_or_default())
                    .send(),
            );
        }
        if let Err(e) = a.rt.block_on(a.c.delete_vpc().vpc_id(&self.id).send()) {
            eprintln!("cleanup: hand-made VPC {} not deleted: {e:?}", self.id);
        }
    }
}

fn shared_plan(vpc: &str, subnet_key: &str, az: &str, cidr: &str, service: &str) -> String {
    format!(
        r#"name = "placeholder"
region = "us-east-1"

[vpc]
id = "{vpc}"

[subnets.{subnet_key}]
availability_zone = "{az}"
cidr = "{cidr}"

[security_groups.https]
description = "HTTPS from the private network"
ingress = [{{ from = "10.0.0.0/8", protocol = "tcp", ports = "443" }}]

[interface_endpoints]
services = ["{service}"]
subnets = ["{subnet_key}"]
security_groups = ["https"]
private_dns = false
"#
    )
}

fn sorted_tags(tags: &[Tag]) -> Vec<(String, String)> {
    let mut v: Vec<_> = tags
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// What one plan owns in the shared VPC, by tag.
#[derive(Debug, PartialEq)]
struct Owned {
    subnets: Vec<String>,
    route_tables: Vec<(String, Vec<String>)>,
    security_groups: Vec<(String, Vec<IpPermission>)>,
    endpoints: Vec<OwnedEndpoint>,
}

/// (id, service, subnets, groups, state)
type OwnedEndpoint = (String, String, Vec<String>, Vec<String>, String);

fn owned_by(aws: &Aws, plan: &str) -> Owned {
    let by = || vec![f(&format!("tag:{TAG_PLAN}"), plan)];
    let mut o = Owned {
        subnets: aws
            .subnets(by())
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_string))
            .collect(),
        route_tables: aws
            .route_tables(by())
            .iter()
            .map(|r| {
                let mut subs: Vec<String> = r
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_string))
                    .collect();
                subs.sort();
                (r.route_table_id().unwrap_or_default().to_string(), subs)
            })
            .collect(),
        security_groups: aws
            .security_groups(by())
            .iter()
            .map(|g| {
                (
                    g.group_id().unwrap_or_default().to_string(),
                    g.ip_permissions().to_vec(),
                )
            })
            .collect(),
        endpoints: aws
            .endpoints(by())
            .iter()
            .map(|e| {
                let mut subs = e.subnet_ids().to_vec();
                subs.sort();
                let mut gs: Vec<String> = e
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect();
                gs.sort();
                (
                    e.vpc_endpoint_id().unwrap_or_default().to_string(),
                    e.service_name().unwrap_or_default().to_string(),
                    subs,
                    gs,
                    e.state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    };
    o.subnets.sort();
    o.route_tables.sort();
    o.security_groups.sort_by(|a, b| a.0.cmp(&b.0));
    o.endpoints.sort();
    o
}

/// Plans A and B share an adopted VPC; destroying A leaves B, the VPC and its default
/// group untouched.
#[test]
fn plans_sharing_an_adopted_vpc_are_isolated() {
    let t0 = Instant::now();
    let aws = Aws::new();
    let label = unique_name("shared");
    let vpc_id = aws.rt.block_on(async {
        let spec = TagSpecification::builder()
            .resource_type(ResourceType::Vpc)
            .tags(Tag::builder().key(TAG_FIXTURE).value(&label).build())
            .tags(Tag::builder().key("Name").value(&label).build())
            .build();
        let id = aws
            .c
            .create_vpc()
            .cidr_block("10.77.0.0/16")
            .tag_specifications(spec)
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        for hostnames in [false, true] {
            let on = AttributeBooleanValue::builder().value(true).build();
            let req = aws.c.modify_vpc_attribute().vpc_id(&id);
            let req = if hostnames {
                req.enable_dns_hostnames(on)
            } else {
                req.enable_dns_support(on)
            };
            req.send().await.expect("ModifyVpcAttribute");
        }
        id
    });
    let vpc = HandVpc {
        aws: &aws,
        id: vpc_id.clone(),
    };
    let vpc_before = aws.vpcs(vec![f("vpc-id", &vpc.id)]);
    assert_eq!(vpc_before.len(), 1);
    let vpc_tags_before = sorted_tags(vpc_before[0].tags());
    let default_sg = |aws: &Aws| -> SecurityGroup {
        let gs = aws.security_groups(vec![f("vpc-id", &vpc_id), f("group-name", "default")]);
        assert_eq!(gs.len(), 1, "the VPC's default security group: {gs:?}");
        gs[0].clone()
    };
    let default_before = default_sg(&aws);
    assert_eq!(aws.vpc_dns(&vpc.id), (true, true));

    let mut a = PlanDir::new(
        "shA",
        &shared_plan(&vpc.id, "a", "us-east-1a", "10.77.1.0/24", "sts"),
    );
    let mut b = PlanDir::new(
        "shB",
        &shared_plan(&vpc.id, "b", "us-east-1b", "10.77.2.0/24", "logs"),
    );
    apply_direct(&a.path).expect(0, "apply plan A into the shared VPC");
    apply_direct(&b.path).expect(0, "apply plan B into the shared VPC");
    replan_direct(&a.path).expect(0, "re-plan A");
    replan_direct(&b.path).expect(0, "re-plan B");

    let oa = owned_by(&aws, &a.name);
    let ob = owned_by(&aws, &b.name);
    println!("shared: plan A owns {oa:?}");
    println!("shared: plan B owns {ob:?}");
    for (n, o, svc) in [
        ("A", &oa, "com.amazonaws.us-east-1.sts"),
        ("B", &ob, "com.amazonaws.us-east-1.logs"),
    ] {
        assert_eq!(o.subnets.len(), 1, "plan {n}: subnets {o:?}");
        assert_eq!(o.route_tables.len(), 1, "plan {n}: route tables {o:?}");
        assert_eq!(
            o.route_tables[0].1, o.subnets,
            "plan {n}: its route table serves its subnet"
        );
        assert_eq!(o.security_groups.len(), 1, "plan {n}: groups {o:?}");
        assert_eq!(o.endpoints.len(), 1, "plan {n}: endpoints {o:?}");
        assert_eq!(o.endpoints[0].1, svc, "plan {n}: endpoint service");
        assert_eq!(o.endpoints[0].2, o.subnets, "plan {n}: endpoint subnets");
        assert_eq!(
            o.endpoints[0].3,
            vec![o.security_groups[0].0.clone()],
            "plan {n}: endpoint groups"
        );
    }

    a.destroy().expect(0, "destroy plan A");

    let oa_after = owned_by(&aws, &a.name);
    let ob_after = owned_by(&aws, &b.name);
    println!("shared: after destroying A: A owns {oa_after:?}; B owns {ob_after:?}");
    assert!(
        oa_after.subnets.is_empty()
            && oa_after.route_tables.is_empty()
            && oa_after.security_groups.is_empty()
            && oa_after.endpoints.is_empty(),
        "plan A still owns something after destroy: {oa_after:?}"
    );
    assert_eq!(ob_after, ob, "destroying plan A changed plan B's resources");
    // Nothing of A is left untagged either: what remains in the VPC is B's, the default
    // group and the main route table.
    let left_subnets: Vec<String> = aws
        .subnets(vec![f("vpc-id", &vpc.id)])
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    assert_eq!(left_subnets, ob.subnets, "subnets left in the shared VPC");
    let left_eps: Vec<String> = aws
        .endpoints(vec![f("vpc-id", &vpc.id)])
        .iter()
        .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
        .collect();
    assert_eq!(
        left_eps,
        vec![ob.endpoints[0].0.clone()],
        "endpoints left in the shared VPC"
    );
    replan_direct(&b.path).expect(0, "re-plan B after destroying A");

    let vpc_after = aws.vpcs(vec![f("vpc-id", &vpc.id)]);
    assert_eq!(vpc_after.len(), 1, "the adopted VPC is gone");
    assert_eq!(
        sorted_tags(vpc_after[0].tags()),
        vpc_tags_before,
        "the adopted VPC's tags changed"
    );
    assert!(tag(vpc_after[0].tags(), TAG_PLAN).is_none());
    assert_eq!(vpc_after[0].cidr_block(), Some("10.77.0.0/16"));
    assert_eq!(
        aws.vpc_dns(&vpc.id),
        (true, true),
        "the adopted VPC's DNS attributes changed"
    );
    let default_after = default_sg(&aws);
    assert_eq!(
        default_after.group_id(),
        default_before.group_id(),
        "default group replaced"
    );
    assert_eq!(
        default_after.ip_permissions(),
        default_before.ip_permissions(),
        "default group ingress changed"
    );
    assert_eq!(
        default_after.ip_permissions_egress(),
        default_before.ip_permissions_egress(),
        "default group egress changed"
    );
    assert_eq!(
        sorted_tags(default_after.tags()),
        sorted_tags(default_before.tags()),
        "default group tags changed"
    );

    b.destroy().expect(0, "destroy plan B");
    assert!(
        aws.vpcs(vec![f("vpc-id", &vpc.id)]).len() == 1,
        "destroy B removed the adopted VPC"
    );
    println!(
        "shared: A destroyed, B intact ({} subnet, {} route table, {} group, {} endpoint), VPC and default group untouched; {:.1}s",
        ob.subnets.len(),
        ob.route_tables.len(),
        ob.security_groups.len(),
        ob.endpoints.len(),
        t0.elapsed().as_secs_f64()
    );
    drop(a);
    drop(b);
    drop(vpc);
}
