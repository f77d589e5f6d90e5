//! What a new user meets on the command line, against LocalStack: the region's
//! services, the plans found by tag, a renamed plan, a service the region lacks.

mod common;

use common::*;

#[tokio::test]
async fn services_lists_the_short_names_a_plan_takes() {
    ensure_localstack();
    let (out, _) = run_expect(0, &["services", "--region", REGION]);
    let lines: Vec<&str> = out.lines().collect();
    for want in ["sagemaker.api", "sagemaker.runtime", "sts", "logs", "s3"] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().next() == Some(want)),
            "{want} not listed:\n{out}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("s3 ") && l.contains("gateway")),
        "{out}"
    );
    let (json, _) = run_expect(0, &["services", "--region", REGION, "--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        doc.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "studio"),
        "{json}"
    );
}

#[tokio::test]
async fn plans_are_found_by_tag_and_a_renamed_plan_is_warned_about() {
    let name = unique_name("plans");
    let mut dir = PlanDir::new(&name);
    let cidr = "10.77.0.0/16";
    let text = shipped("studio-vpc.toml").replace("10.20.", "10.77.");
    let plan = dir.write("studio-vpc.toml", &text);
    let p = plan.to_string_lossy().to_string();
    run_expect(0, &["apply", &p, "--auto-approve"]);

    let (out, _) = run_expect(0, &["plans", "--region", REGION]);
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} not listed:\n{out}"));
    assert!(line.contains("13 resources"), "{line}");
    assert!(
        line.contains("5 interface_endpoint") && line.contains("1 vpc"),
        "{line}"
    );

    // The same plan under another name: its VPC is not found by the new name, and the
    // plan says whose VPC has that CIDR.
    let mut other = PlanDir::new(&unique_name("renamed"));
    let renamed = other.write("studio-vpc.toml", &text);
    other.keep();
    let (out, _) = run_expect(0, &["plan", &renamed.to_string_lossy()]);
    assert!(
        out.contains(&format!(
            "same CIDR {cidr} belongs to sagevpc plan \"{name}\""
        )),
        "{out}"
    );
    dir.keep();
    run_expect(0, &["destroy", &p, "--auto-approve"]);
}

#[tokio::test]
async fn a_service_the_region_does_not_offer_is_refused_at_plan_time_with_the_nearest() {
    let name = unique_name("svc");
    let mut dir = PlanDir::new(&name);
    let text = shipped("studio-vpc.toml").replace(
        "\"sts\", \"logs\"]",
        "\"sts\", \"logs\", \"com.amazonaws.us-east-1.ecr.dokr\"]",
    );
    let plan = dir.write("svc.toml", &text);
    dir.keep();
    // Offline it passes: a full name is the user's word.
    run_expect(0, &["validate", &plan.to_string_lossy()]);
    let (code, _, err) = run(&["plan", &plan.to_string_lossy()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("com.amazonaws.us-east-1.ecr.dokr is not offered as an interface endpoint service in us-east-1 (did you mean \"ecr.dkr\"?)"),
        "{err}"
    );
}

/// Reads a child's stdout on a thread, so that the test can wait for a line.
fn reader(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Wait until the child starts creating a resource whose address starts with `what`.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let hit = l.starts_with(what) && l.contains(": Creating...");
            seen.push(l);
            if hit {
                return seen;
            }
        }
    }
    panic!("no line with {what:?} in:\n{}", seen.join("\n"));
}

async fn lock_left(c: &aws_sdk_ec2::Client, plan: &str) -> bool {
    let lock = format!("sagevpc-lock-{plan}");
    let keys = c
        .describe_key_pairs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("key-name")
                .values(&lock)
                .build(),
        )
        .send()
        .await
        .expect("DescribeKeyPairs");
    !keys.key_pairs().is_empty()
}

/// A slow apply: endpoints one every 4 s (a bucket of 1, refilled 0.25 a second).
const SLOW: [&str; 2] = ["--rate", "CreateVpcEndpoint=1/0.25"];

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_the_calls_in_flight_releases_the_lock_and_says_what_is_left() {
    let c = ec2().await;
    let name = unique_name("intr");
    let (mut dir, plan) = PlanDir::studio(&name);
    let p = plan.to_string_lossy().to_string();
    let mut child = command(&[SLOW[0], SLOW[1], "apply", &p, "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = reader(&mut child);
    wait_for(&rx, "interface_endpoint.");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let stdout: Vec<String> = rx.try_iter().collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{stderr}\n{}",
        stdout.join("\n")
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "stopped promptly"
    );
    assert!(stderr.contains("Interrupt received"), "{stderr}");
    assert!(
        stderr.contains("the apply lock released; not done: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("interface_endpoint."),
        "what is left is named: {stderr}"
    );
    assert!(!lock_left(&c, &name).await, "the lock was released");
    // The next apply finishes the job at once (no lock to wait for).
    let (out, _) = run_expect(0, &["apply", &p, "--auto-approve"]);
    assert!(!out.contains("Waiting for another run"), "{out}");
    let (out, _) = run_expect(0, &["plan", &p, "--detailed-exitcode"]);
    assert!(out.contains("No changes."), "{out}");
    run_expect(0, &["destroy", &p, "--auto-approve"]);
    dir.keep();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_a_dead_run_on_this_machine_is_taken_over_at_once() {
    let c = ec2().await;
    let name = unique_name("dead");
    let (mut dir, plan) = PlanDir::studio(&name);
    let p = plan.to_string_lossy().to_string();
    // A long lease: without the takeover, the next run would wait two minutes.
    let mut child = command(&[
        SLOW[0],
        SLOW[1],
        "apply",
        &p,
        "--auto-approve",
        "--lock-ttl",
        "120",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let rx = reader(&mut child);
    wait_for(&rx, "interface_endpoint.");
    child.kill().unwrap(); // SIGKILL: no chance to release anything
    child.wait().unwrap();
    assert!(lock_left(&c, &name).await, "the killed run left its lock");
    let t0 = std::time::Instant::now();
    let (out, err) = run_expect(0, &["apply", &p, "--auto-approve", "--lock-ttl", "120"]);
    assert!(
        err.contains("Taking over the apply lock of a run that is no longer running"),
        "{err}\n{out}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        t0.elapsed()
    );
    let (out, _) = run_expect(0, &["plan", &p, "--detailed-exitcode"]);
    assert!(out.contains("No changes."), "{out}");
    run_expect(0, &["destroy", &p, "--auto-approve"]);
    dir.keep();
}

#[tokio::test]
async fn init_writes_a_plan_that_validates_and_never_overwrites_one() {
    let c = ec2().await;
    let before: Vec<ipnet::Ipv4Net> = c
        .describe_vpcs()
        .send()
        .await
        .unwrap()
        .vpcs()
        .iter()
        .filter_map(|v| v.cidr_block()?.parse().ok())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("starter.toml");
    let out = out.to_str().unwrap();
    let name = unique_name("init");
    let args = ["init", "--region", REGION, "--name", &name, "--out", out];
    let (said, _) = run_expect(0, &args);
    assert!(said.contains(&format!("Wrote {out}")), "{said}");
    let text = std::fs::read_to_string(out).unwrap();
    assert!(text.contains(&format!("name = \"{name}\"")), "{text}");
    // Its VPC CIDR overlaps no VPC that was there before.
    let cidr_line = text.lines().find(|l| l.starts_with("cidr = ")).unwrap();
    let cidr: ipnet::Ipv4Net = cidr_line
        .trim_start_matches("cidr = ")
        .trim_matches('"')
        .parse()
        .unwrap();
    for v in &before {
        assert!(
            !v.contains(&cidr.network()) && !cidr.contains(&v.network()),
            "{cidr} overlaps {v}"
        );
    }
    let (valid, _) = run_expect(0, &["validate", out]);
    assert!(valid.contains("is valid: 3 subnets"), "{valid}");
    // A second init refuses, and leaves the file as it was.
    let (code, _, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(out).unwrap(), text);
}

/// `text` with what changes run to run made constant: AWS ids, timings, the plan name,
/// and without the warnings about the rest of the account.
fn normalized(text: &str, name: &str) -> Vec<String> {
    let ids = regex_lite_ids(&text.replace(name, "readme"));
    ids.lines()
        // Warnings depend on what else is in the account (another plan's VPC with the
        // same CIDR, from a concurrent test).
        .filter(|l| !l.contains("Still ") && !l.contains("elapsed") && !l.starts_with("Warning:"))
        .map(|l| {
            let mut l = l.to_string();
            if let Some(i) = l.find(" after ") {
                let end = l[i..].find('s').map_or(l.len(), |e| i + e + 1);
                l.replace_range(i..end, " after _s");
            }
            l
        })
        .collect()
}

/// AWS ids (`vpc-0abc...`) as `vpc-…`.
fn regex_lite_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('-') {
        let (head, tail) = rest.split_at(i);
        let prefix_start = head
            .rfind(|c: char| !c.is_ascii_lowercase())
            .map_or(0, |p| p + 1);
        let prefix = &head[prefix_start..];
        let hex = tail[1..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(tail.len() - 1);
        let known = [
            "vpc", "subnet", "sg", "rtb", "vpce", "rtbassoc", "igw", "pl", "sgr",
        ];
        out.push_str(head);
        if known.contains(&prefix) && hex >= 8 {
            out.push_str("-…");
            rest = &tail[1 + hex..];
        } else {
            out.push('-');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The README's `transcript:<block>` block.
fn readme_block(block: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let open = format!("<!-- transcript:{block} -->\n```\n");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("README.md has no transcript:{block}"))
        + open.len();
    let end = readme[start..].find("```\n<!-- /transcript:").unwrap() + start;
    readme[start..end].to_string()
}

/// The README's plan and apply transcripts are what the binary prints (regenerate them
/// with `make readme-transcripts`): the plan exactly, the apply's lines in any order
/// (its actions run concurrently).
#[tokio::test]
async fn the_readme_transcripts_are_what_the_binary_prints() {
    let c = ec2().await;
    let name = unique_name("readme");
    let (mut dir, path) = PlanDir::studio(&name);
    let plan = path.to_string_lossy().into_owned();
    let (planned, _) = run_expect(0, &["plan", &plan]);
    assert_eq!(
        normalized(&planned, &name),
        normalized(&readme_block("plan"), "readme"),
        "README.md's plan transcript is stale: run `make readme-transcripts`"
    );
    let (applied, _) = run_expect(0, &["apply", &plan, "--auto-approve"]);
    let mut got = normalized(&applied, &name);
    let mut want = normalized(&readme_block("apply"), "readme");
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "README.md's apply transcript is stale: run `make readme-transcripts`"
    );
    assert!(vpcs_of(&c, &name).await.len() == 1);
    dir.keep();
    run_expect(0, &["destroy", &plan, "--auto-approve"]);
}
