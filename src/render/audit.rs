//! `sagevpc audit`'s report: for a person, grouped by rule group with pass / fail /
//! n.a. counts, each failure with why it matters, the fix and the guide; and JSON
//! (`format_version` "1").

use std::fmt::Write;

use serde_json::{json, Value};

use crate::audit::texts::{Group, ALL};
use crate::audit::{Report, Status};

fn mark(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::NotApplicable => "n.a.",
    }
}

/// The report for a terminal or a log.
pub fn human(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Audit of {} ({}) against SageMaker's networking guides",
        r.vpc, r.region
    );
    let who = if r.clients.studio {
        "the Studio domains'"
    } else {
        "no Studio domain: the VPC's private subnets and the groups no interface endpoint carries"
    };
    let _ = writeln!(
        out,
        "Clients ({who}): subnets {}; groups {}",
        none_or(&r.clients.subnets),
        none_or(&r.clients.groups)
    );
    let mut groups: Vec<Group> = ALL.iter().map(|r| r.text().group).collect();
    groups.dedup();
    for g in groups {
        let in_group: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.rule.text().group == g)
            .collect();
        let n = |s| in_group.iter().filter(|f| f.status == s).count();
        let _ = writeln!(
            out,
            "\n{} ({} pass, {} fail, {} n.a.)",
            g.heading(),
            n(Status::Pass),
            n(Status::Fail),
            n(Status::NotApplicable)
        );
        for f in in_group {
            let t = f.rule.text();
            let _ = writeln!(
                out,
                "  {}  {}: {} — {}",
                mark(f.status),
                t.title,
                f.subject,
                f.detail
            );
            if f.status == Status::Fail {
                let _ = writeln!(out, "        why: {}", t.why);
                let _ = writeln!(out, "        fix: {}", t.fix);
                if !f.resources.is_empty() {
                    let _ = writeln!(out, "        resources: {}", f.resources.join(", "));
                }
                let _ = writeln!(
                    out,
                    "        guide: {} ({}, \"{}\")",
                    t.seed.title(),
                    t.seed.file(),
                    t.section
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nAudit: {} pass, {} fail, {} not applicable.",
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::NotApplicable)
    );
    out
}

fn none_or(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// The report as JSON: every finding with its rule's fixed text.
pub fn json(r: &Report) -> Value {
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let t = f.rule.text();
            json!({
                "rule": t.id,
                "group": t.group.heading(),
                "status": f.status,
                "title": t.title,
                "subject": f.subject,
                "resources": f.resources,
                "detail": f.detail,
                "why": t.why,
                "fix": t.fix,
                "guide": { "seed": t.seed.file(), "title": t.seed.title(), "section": t.section },
            })
        })
        .collect();
    json!({
        "format_version": "1",
        "vpc": r.vpc,
        "region": r.region,
        "clients": r.clients,
        "summary": {
            "pass": r.count(Status::Pass),
            "fail": r.count(Status::Fail),
            "not_applicable": r.count(Status::NotApplicable),
        },
        "findings": findings,
    })
}
