//! The real binary on invalid plans: exit code 1, a located diagnostic on stderr, and
//! not a single connection to the AWS endpoint. Also: confirmation without a terminal,
//! the shipped plans, and credentials never printed (even at -vv).
//!
//! Every run is hermetic: the environment is cleared, credentials are fake, config
//! files point nowhere, IMDS is off, and every AWS call goes to `--endpoint-url`, a
//! socket this test owns.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sagevpc");

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn studio_text() -> String {
    std::fs::read_to_string(manifest_dir().join("plans/studio-vpc.toml")).unwrap()
}

/// A listening socket that never accepts: any connection attempt the binary makes
/// stays queued in its backlog, so it can be counted after the process exits.
struct DeadListener {
    listener: TcpListener,
}

impl DeadListener {
    fn new() -> Self {
        DeadListener {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.listener.local_addr().unwrap())
    }

    /// Connections made so far (drains the backlog).
    fn connections(&self) -> usize {
        self.listener.set_nonblocking(true).unwrap();
        let mut n = 0;
        loop {
            match self.listener.accept() {
                Ok(_) => n += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Reply {
    /// 200 with an empty `<ActionResponse>`: every Describe finds nothing.
    Empty,
    /// 401 AuthFailure for every call.
    AuthFailure,
}

#[derive(Debug, Clone)]
struct Request {
    action: String,
    headers: BTreeMap<String, String>,
    raw: String,
}

/// A minimal EC2 Query-protocol server on 127.0.0.1 that records every request.
struct FakeEc2 {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeEc2 {
    fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let recorded = recorded.clone();
                thread::spawn(move || serve(stream, reply, &recorded));
            }
        });
        FakeEc2 { addr, requests }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, reply: Reply, recorded: &Mutex<Vec<Request>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // One request per connection (we answer `Connection: close`).
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let headers: BTreeMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[header_end..header_end + len]).to_string();
    // EC2's Query protocol names the action in the body; JSON protocols (Service
    // Quotas) in `X-Amz-Target: Service.Action`.
    let target = headers
        .get("x-amz-target")
        .and_then(|t| t.rsplit_once('.'))
        .map(|(_, a)| a);
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .or(target)
        .unwrap_or("")
        .to_string();
    recorded.lock().unwrap().push(Request {
        action: action.clone(),
        headers,
        raw: format!("{head}{body}"),
    });
    let (status, xml) = match reply {
            Reply::Empty => (
                "200 OK",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>00000000-0000-0000-0000-000000000000</requestId></{action}Response>"
                ),
            ),
            Reply::AuthFailure => (
                "401 Unauthorized",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>".to_string(),
            ),
        };
    let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
    let _ = stream.write_all(resp.as_bytes());
    let _ = stream.flush();
}

/// The binary with a cleared environment: fake static credentials, no config files,
/// no instance metadata, HOME in a scratch directory.
fn sagevpc(home: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_CONFIG_FILE", home.join("no-such-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-such-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["--endpoint-url", endpoint, "--max-attempts", "1"])
        .args(args)
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code().expect("killed by a signal"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

struct Bad {
    name: &'static str,
    text: String,
    /// `line:col` expected on stderr after `--> ` and the file name.
    located: &'static str,
    /// The field path the caret is labelled with.
    field: &'static str,
    message: &'static str,
    problems: usize,
}

fn bad_plans() -> Vec<Bad> {
    let studio = studio_text();
    vec![
        Bad {
            name: "unknown-field",
            text: studio.replacen("cidr = \"10.20.0.0/20\"", "cidrr = \"10.20.0.0/20\"", 1),
            located: "10:1",
            field: "subnets.private-a.cidrr",
            message: "unknown field `cidrr`",
            problems: 1,
        },
        Bad {
            name: "syntax",
            text: studio.replacen("[subnets.private-b]", "[subnets.private-b", 1),
            located: "12:",
            field: "",
            message: "",
            problems: 1,
        },
        Bad {
            name: "host-bits",
            text: studio.replacen("\"10.20.16.0/20\"", "\"10.20.16.1/20\"", 1),
            located: "14:8",
            field: "subnets.private-b.cidr",
            message: "host bits",
            problems: 1,
        },
        Bad {
            name: "unknown-group",
            text: studio.replacen("from = \"workloads\"", "from = \"nope\"", 1),
            located: "26:21",
            field: "security_groups.endpoints.ingress[0].from",
            message: "unknown security group reference \"nope\"",
            problems: 1,
        },
        Bad {
            name: "several",
            text: studio
                .replacen("\"sagemaker.api\",", "\"sagemaker.apii\",", 1)
                .replacen(
                    "region = \"us-east-1\"",
                    "region = \"us-east-1\"\n[tags]\nName = \"x\"",
                    1,
                ),
            located: "34:13",
            field: "interface_endpoints.services[0]",
            message: "did you mean \"sagemaker.api\"",
            problems: 3,
        },
    ]
}

/// Write `text` as `<dir>/<name>.toml` with the studio plan's policy next to it.
fn write_plan(dir: &Path, name: &str, text: &str) -> PathBuf {
    let policies = dir.join("policies");
    if !policies.exists() {
        std::fs::create_dir(&policies).unwrap();
        std::fs::copy(
            manifest_dir().join("plans/policies/s3-deny-amazon-linux-repos.json"),
            policies.join("s3-deny-amazon-linux-repos.json"),
        )
        .unwrap();
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn dead_listener_counts_connections() {
    // The zero-connection assertions below mean something only if a connection
    // would have been seen.
    let l = DeadListener::new();
    assert_eq!(l.connections(), 0);
    let addr = l.listener.local_addr().unwrap();
    let _a = TcpStream::connect(addr).unwrap();
    let _b = TcpStream::connect(addr).unwrap();
    assert_eq!(l.connections(), 2);
}

#[test]
fn invalid_plans_fail_without_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    for bad in bad_plans() {
        let path = write_plan(dir.path(), bad.name, &bad.text);
        let p = path.to_str().unwrap();
        for cmd in [
            &["validate", p][..],
            &["plan", p][..],
            &["plan", p, "--output", "json", "--detailed-exitcode"][..],
            &["apply", p, "--auto-approve"][..],
            &["destroy", p, "--auto-approve"][..],
        ] {
            let listener = DeadListener::new();
            let (code, stdout, stderr) = run(sagevpc(dir.path(), &listener.url(), cmd));
            let what = format!("{} {cmd:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", bad.name);
            assert_eq!(code, 1, "{what}");
            assert!(
                stderr.contains(&format!("--> {p}:{}", bad.located)),
                "stderr lacks --> {p}:{}: {what}",
                bad.located
            );
            assert!(stderr.contains(bad.field), "{what}");
            // Not a terminal: no escape codes.
            assert!(!stderr.contains('\x1b'), "{what}");
            assert!(stderr.contains(bad.message), "{what}");
            let summary = format!(
                "error: plan {p} is invalid ({} problem{}); nothing was sent to AWS",
                bad.problems,
                if bad.problems == 1 { "" } else { "s" }
            );
            assert!(stderr.contains(&summary), "{what}");
            // One block per problem, each `error: ...` then `--> file:line:col`, then
            // the summary.
            let located_lines = stderr
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("--> {p}:")))
                .count();
            assert_eq!(located_lines, bad.problems, "{what}");
            let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
            assert_eq!(errors, bad.problems + 1, "{what}");
            assert!(stdout.is_empty(), "{what}");
            assert_eq!(listener.connections(), 0, "AWS was contacted: {what}");
        }
    }
}

#[test]
fn missing_policy_file_fails_without_any_aws_call() {
    // The shipped plan copied away from its policies/ directory.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("studio.toml");
    std::fs::write(&path, studio_text()).unwrap();
    let p = path.to_str().unwrap();
    for cmd in [
        &["validate", p][..],
        &["plan", p][..],
        &["apply", p, "--auto-approve"][..],
    ] {
        let listener = DeadListener::new();
        let (code, _, stderr) = run(sagevpc(dir.path(), &listener.url(), cmd));
        assert_eq!(code, 1, "{cmd:?}: {stderr}");
        assert!(
            stderr.contains("error: cannot read policy file")
                && stderr.contains(&format!("--> {p}:29:10\n"))
                && stderr.contains("gateway_endpoints.s3.policy"),
            "{cmd:?}: {stderr}"
        );
        assert_eq!(listener.connections(), 0, "{cmd:?}");
    }
}

#[test]
fn unreadable_plan_file_fails_without_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.toml");
    let p = p.to_str().unwrap();
    for cmd in [
        &["validate", p][..],
        &["plan", p][..],
        &["apply", p, "--auto-approve"][..],
    ] {
        let listener = DeadListener::new();
        let (code, _, stderr) = run(sagevpc(dir.path(), &listener.url(), cmd));
        assert_eq!(code, 1, "{cmd:?}: {stderr}");
        // `validate` and `plan` read it as a plan; `apply` first checks whether it is
        // a saved plan. Either way the file is named and nothing else happens.
        assert!(stderr.contains(&format!("{p}: cannot read")), "{stderr}");
        assert!(stderr.contains("No such file"), "{stderr}");
        assert_eq!(listener.connections(), 0, "{cmd:?}");
    }
}

#[test]
fn malformed_saved_plans_fail_without_any_aws_call() {
    // `apply FILE` takes a saved plan when FILE is JSON.
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("truncated.json", "{ \"kind\": ", "not a saved plan"),
        (
            "other.json",
            "{ \"kind\": \"something-else\" }",
            "is not a sagevpc saved plan",
        ),
        ("empty-object.json", "{}", "is not a sagevpc saved plan"),
        (
            "older.json",
            "{ \"kind\": \"sagevpc-saved-plan\", \"format_version\": 1 }",
            "was made by an older sagevpc",
        ),
        (
            "newer.json",
            "{ \"kind\": \"sagevpc-saved-plan\", \"format_version\": 99 }",
            "was made by a newer sagevpc",
        ),
    ];
    for (name, text, message) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        let listener = DeadListener::new();
        let (code, _, stderr) = run(sagevpc(
            dir.path(),
            &listener.url(),
            &["apply", p, "--auto-approve"],
        ));
        assert_eq!(code, 1, "{name}: {stderr}");
        assert!(
            stderr.contains(p) && stderr.contains(message),
            "{name}: {stderr}"
        );
        assert_eq!(listener.connections(), 0, "{name}");
    }
}

/// A saved plan whose changeset was edited by hand is refused before any AWS call,
/// rather than half-honoured (the same file unedited gets past the check and goes on to
/// read AWS); `plan` and `validate` on a saved plan say what it is.
#[test]
fn edited_saved_plans_are_refused_and_saved_plans_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let changeset: sagevpc::changeset::Changeset = serde_json::from_value(serde_json::json!({
        "plan": "t", "region": "us-east-1", "changes": [], "nodes": [], "warnings": []
    }))
    .unwrap();
    let digest = {
        use sha2::{Digest, Sha256};
        Sha256::digest(serde_json::to_vec(&changeset).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let doc = serde_json::json!({
        "kind": "sagevpc-saved-plan",
        "format_version": 2,
        "sagevpc_version": "0",
        "plan_file": dir.path().join("moved-away.toml"),
        "plan_text": "name = \"t\"\nregion = \"us-east-1\"\n[vpc]\ncidr = \"10.0.0.0/16\"\n",
        "plan_files": {},
        "observed_fingerprint": "x",
        "changeset": changeset,
        "changeset_sha256": digest,
    });
    let intact = dir.path().join("intact.json");
    std::fs::write(&intact, doc.to_string()).unwrap();
    let mut edited = doc.clone();
    edited["changeset"]["region"] = serde_json::json!("eu-west-1");
    let path = dir.path().join("edited.json");
    std::fs::write(&path, edited.to_string()).unwrap();
    let p = path.to_str().unwrap();
    for args in [
        vec!["apply", p, "--auto-approve"],
        vec!["plan", p],
        vec!["validate", p],
    ] {
        let listener = DeadListener::new();
        let (code, _, stderr) = run(sagevpc(dir.path(), &listener.url(), &args));
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let want = if args[0] == "apply" {
            "the saved changeset does not match its digest"
        } else {
            "this is a saved plan"
        };
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(listener.connections(), 0, "{args:?}");
    }
    // Nothing listens on this port: the read fails at once, after the checks passed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let args = ["apply", intact.to_str().unwrap(), "--auto-approve"];
    let (code, _, stderr) = run(sagevpc(dir.path(), &closed, &args));
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("digest"), "{stderr}");
    assert!(
        stderr.contains("reading live state failed"),
        "an intact saved plan goes on to read AWS: {stderr}"
    );
}

#[test]
fn shipped_plans_validate() {
    let dir = tempfile::tempdir().unwrap();
    let listener = DeadListener::new();
    let studio = manifest_dir().join("plans/studio-vpc.toml");
    // Run from an unrelated directory: the policy path is relative to the plan file.
    let mut c = sagevpc(
        dir.path(),
        &listener.url(),
        &["validate", studio.to_str().unwrap()],
    );
    c.current_dir(dir.path());
    let (code, stdout, stderr) = run(c);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "is valid: 3 subnets, 2 security groups, 1 gateway endpoint and 5 interface endpoints."
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\"ml-platform\""), "{stdout}");

    let minimal = manifest_dir().join("plans/minimal.toml");
    let (code, stdout, stderr) = run(sagevpc(
        dir.path(),
        &listener.url(),
        &["validate", minimal.to_str().unwrap()],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "is valid: 0 subnets, 0 security groups, 0 gateway endpoints and 2 interface endpoints."
        ),
        "{stdout}"
    );
    assert_eq!(listener.connections(), 0);
}

/// A valid plan whose live-state read needs no endpoint-service lookup.
const VPC_ONLY: &str = r#"name = "cli-test"
region = "us-east-1"

[vpc]
cidr = "10.0.0.0/16"

[subnets.a]
availability_zone = "us-east-1a"
cidr = "10.0.0.0/24"
"#;

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    // AWS (faked) reports that nothing exists, so there are changes to confirm.
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), "vpc-only", VPC_ONLY);
    let aws = FakeEc2::start(Reply::Empty);
    let (code, stdout, stderr) = run(sagevpc(
        dir.path(),
        &aws.url(),
        &["apply", path.to_str().unwrap()],
    ));
    let what = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(code, 1, "{what}");
    assert!(stderr.contains("stdin is not a terminal"), "{what}");
    assert!(stderr.contains("--auto-approve"), "{what}");
    assert!(
        stdout.contains("+ subnet.a"),
        "the changes are shown first: {what}"
    );
    let actions: Vec<String> = aws.requests().into_iter().map(|r| r.action).collect();
    assert!(!actions.is_empty(), "live state was read: {what}");
    assert!(
        actions
            .iter()
            .all(|a| a.starts_with("Describe") || a == "GetServiceQuota"),
        "nothing may change without confirmation: {actions:?}"
    );
}

const AKID: &str = "AKIDsentinel789";
const SECRET: &str = "SECRETsentinel123";
const TOKEN: &str = "TOKENsentinel456";

fn with_sentinels(mut c: Command) -> Command {
    c.env("AWS_ACCESS_KEY_ID", AKID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN);
    c
}

#[track_caller]
fn assert_no_credentials(stdout: &str, stderr: &str) {
    for s in [AKID, SECRET, TOKEN] {
        assert!(
            !stdout.contains(s) && !stderr.contains(s),
            "{s} printed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}

#[test]
fn credentials_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let valid = write_plan(dir.path(), "vpc-only", VPC_ONLY);
    let valid = valid.to_str().unwrap();
    let invalid = write_plan(dir.path(), "bad", &bad_plans()[0].text);
    let invalid = invalid.to_str().unwrap();

    // Nothing listens on this port: connections are refused at once.
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for args in [
        &["-vv", "validate", valid][..],
        &["-vv", "validate", invalid][..],
        &["-vv", "plan", invalid][..],
        &["-vv", "--stats", "plan", valid][..],
        &["-vv", "apply", valid, "--auto-approve"][..],
    ] {
        let (code, stdout, stderr) = run(with_sentinels(sagevpc(dir.path(), &refused, args)));
        assert_no_credentials(&stdout, &stderr);
        if args.contains(&"plan") && args.contains(&valid) {
            assert_eq!(code, 1, "{args:?}: {stderr}");
            assert!(stderr.contains("reading live state failed"), "{stderr}");
        }
    }

    // AWS rejects the credentials; and AWS answers normally. In both cases the
    // credentials were really in use: the session token reached the endpoint.
    for (reply, expect_code) in [(Reply::AuthFailure, 1), (Reply::Empty, 0)] {
        let aws = FakeEc2::start(reply);
        let (code, stdout, stderr) = run(with_sentinels(sagevpc(
            dir.path(),
            &aws.url(),
            &["-vv", "--stats", "plan", valid],
        )));
        assert_eq!(code, expect_code, "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert_no_credentials(&stdout, &stderr);
        let reqs = aws.requests();
        assert!(!reqs.is_empty());
        for r in &reqs {
            assert_eq!(
                r.headers.get("x-amz-security-token").map(String::as_str),
                Some(TOKEN),
                "{}",
                r.raw
            );
            assert!(r.headers["authorization"].contains(AKID), "{}", r.raw);
            assert!(
                !r.raw.contains(SECRET),
                "the secret itself never leaves the process"
            );
        }
        if matches!(reply, Reply::AuthFailure) {
            assert!(stderr.contains("AuthFailure"), "{stderr}");
        } else {
            assert!(stdout.contains("+ subnet.a"), "{stdout}");
        }
    }
}

/// Failures before any answer are said in words a person can act on, never as an SDK
/// `Debug` dump: an endpoint nothing listens on, no credentials, a profile that does
/// not exist.
#[test]
fn errors_without_an_answer_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.toml", &studio_text());
    let p = plan.to_str().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (code, _, err) = run(sagevpc(dir.path(), &closed, &["plan", p]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach EC2 at {closed} (connection refused)"
        )),
        "{err}"
    );

    let mut c = sagevpc(dir.path(), &closed, &["plan", p]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no AWS credentials could be loaded"), "{err}");
    assert!(err.contains("Environment:"), "the sources tried: {err}");
    assert!(err.contains("export AWS_PROFILE=name"), "what to do: {err}");

    let (code, _, err) = run(sagevpc(
        dir.path(),
        &closed,
        &["--profile", "nope", "plan", p],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("profile \"nope\" not found in"), "{err}");
    assert!(
        !err.contains("DispatchFailure(") && !err.contains("ConnectorError {"),
        "{err}"
    );
}

/// The subcommands the binary offers (`help` aside), from its own definition.
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    sagevpc::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn every_subcommand_help_shows_an_example() {
    let dir = tempfile::tempdir().unwrap();
    let listener = DeadListener::new();
    let names = subcommands();
    assert!(names.len() >= 8, "{names:?}");
    for name in &names {
        let (code, stdout, stderr) = run(sagevpc(dir.path(), &listener.url(), &[name, "--help"]));
        assert_eq!(code, 0, "{name}: {stderr}");
        let example = stdout
            .lines()
            .position(|l| l == "Example:" || l == "Examples:")
            .unwrap_or_else(|| panic!("{name} --help has no Example line:\n{stdout}"));
        let next = stdout.lines().nth(example + 1).unwrap_or_default();
        assert!(
            next.starts_with(&format!("  sagevpc {name}")),
            "{name}: the example does not run {name}:\n{stdout}"
        );
    }
    let (code, top, _) = run(sagevpc(dir.path(), &listener.url(), &["--help"]));
    assert_eq!(code, 0);
    assert!(top.contains("Examples:\n  sagevpc init"), "{top}");
    assert_eq!(listener.connections(), 0);
}

#[test]
fn completion_scripts_name_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let listener = DeadListener::new();
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, stderr) = run(sagevpc(
            dir.path(),
            &listener.url(),
            &["completions", shell],
        ));
        assert_eq!(code, 0, "{shell}: {stderr}");
        for name in subcommands() {
            assert!(stdout.contains(&name), "{shell} script lacks {name}");
        }
    }
    let (_, bash, _) = run(sagevpc(
        dir.path(),
        &listener.url(),
        &["completions", "bash"],
    ));
    assert!(bash.contains("complete -F _sagevpc"), "{bash}");
    // Options of a subcommand are completed too.
    assert!(bash.contains("--detailed-exitcode"), "{bash}");
    let (code, _, stderr) = run(sagevpc(
        dir.path(),
        &listener.url(),
        &["completions", "tcsh"],
    ));
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(listener.connections(), 0);
}

#[test]
fn graph_reads_live_state_and_prints_dot_or_mermaid() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), "vpc-only", VPC_ONLY);
    let p = path.to_str().unwrap();
    let aws = FakeEc2::start(Reply::Empty);
    let (code, dot, stderr) = run(sagevpc(dir.path(), &aws.url(), &["graph", p]));
    assert_eq!(code, 0, "{stderr}");
    assert!(dot.starts_with("digraph \"sagevpc cli-test\" {"), "{dot}");
    assert!(dot.contains("[label=\"+ vpc.main (CreateVpc)\""), "{dot}");
    assert!(
        dot.contains("[label=\"+ subnet.a (CreateSubnet)\""),
        "{dot}"
    );
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    let (code, mermaid, stderr) = run(sagevpc(
        dir.path(),
        &aws.url(),
        &["graph", p, "--format", "mermaid"],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(
        mermaid.contains("[\"+ subnet.a (CreateSubnet)\"]"),
        "{mermaid}"
    );
    let quota_reads = || {
        aws.requests()
            .iter()
            .filter(|r| r.action == "GetServiceQuota")
            .count()
    };
    // The two graphs of an apply read the four quotas each (the fake answers no JSON:
    // one warning for the one cause, naming each quota and the default used).
    assert_eq!(quota_reads(), 8);
    assert!(
        stderr.contains("warning: 4 quotas could not be read from Service Quotas (")
            && stderr.contains("\"Subnets per VPC\" (vpc/L-407747CB): 200 (AWS's default)"),
        "{stderr}"
    );
    // Nothing exists: destroy has nothing to do, and reads no quota.
    let (code, empty, stderr) = run(sagevpc(dir.path(), &aws.url(), &["graph", p, "--destroy"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!empty.contains("label="), "{empty}");
    assert_eq!(quota_reads(), 8, "destroy asks Service Quotas nothing");
    let actions: Vec<String> = aws.requests().into_iter().map(|r| r.action).collect();
    assert!(
        actions
            .iter()
            .all(|a| a.starts_with("Describe") || a == "GetServiceQuota"),
        "graph changes nothing: {actions:?}"
    );
}

#[test]
fn init_never_overwrites_and_says_what_the_region_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("taken.toml");
    std::fs::write(&existing, "keep me").unwrap();
    let listener = DeadListener::new();
    let (code, stdout, stderr) = run(sagevpc(
        dir.path(),
        &listener.url(),
        &[
            "init",
            "--region",
            "us-east-1",
            "--out",
            existing.to_str().unwrap(),
        ],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert_eq!(listener.connections(), 0, "refused before any AWS call");
    // A region (faked) that offers no endpoint service: nothing is written.
    let aws = FakeEc2::start(Reply::Empty);
    let out = dir.path().join("new.toml");
    let (code, _, stderr) = run(sagevpc(
        dir.path(),
        &aws.url(),
        &[
            "init",
            "--region",
            "us-east-1",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("region us-east-1 does not offer the endpoint services"),
        "{stderr}"
    );
    assert!(!out.exists());
}
