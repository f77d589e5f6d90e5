//! Private DNS needs both VPC DNS attributes (seed 000).

use super::{list, Finding, RuleId, View};

pub fn check(v: &View) -> Vec<Finding> {
    let rule = RuleId::DnsAttributes;
    let private: Vec<String> = v
        .interface_endpoints()
        .filter(|e| e.private_dns)
        .map(|e| e.id.clone())
        .collect();
    if private.is_empty() {
        return vec![Finding::na(
            rule,
            &v.vpc.id,
            "no interface endpoint has private DNS on",
        )];
    }
    let off: Vec<String> = [
        (!v.vpc.dns_support).then(|| "enableDnsSupport".to_string()),
        (!v.vpc.dns_hostnames).then(|| "enableDnsHostnames".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let detail = if off.is_empty() {
        format!("both on; {} endpoint(s) with private DNS", private.len())
    } else {
        format!(
            "{} off, and {} endpoint(s) want private DNS ({})",
            list(&off),
            private.len(),
            list(&private)
        )
    };
    let f = Finding::check(rule, off.is_empty(), &v.vpc.id, detail);
    vec![f
        .with([v.vpc.id.clone()])
        .with(if off.is_empty() { vec![] } else { private })]
}
