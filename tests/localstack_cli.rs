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
