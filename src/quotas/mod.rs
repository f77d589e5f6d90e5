//! The VPC quotas a plan can run into, checked before any write: interface endpoints
//! per VPC, subnets per VPC, inbound / outbound rules per security group, security
//! groups per network interface, and AWS's product rule (rules per group × groups per
//! interface ≤ 1,000).
//!
//! Where a quota's value comes from, first that answers:
//! 1. the value Service Quotas applies to the account (`GetServiceQuota`, read by
//!    `plan` and `apply`, never by `destroy`);
//! 2. the plan's `[quotas]` table;
//! 3. AWS's documented default.
//!
//! A quota Service Quotas could not be read for (no `servicequotas:GetServiceQuota`, an
//! emulator without the service) is a warning, never a failure; a plan value that
//! differs from what Service Quotas says is a warning too (the account's value is used).
//! Offline validation has only 2 and 3.
//!
//! What the plan makes is counted in [`usage`], once for both validation and the live
//! check (`changeset::quotas`), which adds what already exists.

pub mod usage;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aws::AwsError;
use crate::resources::Call;

/// Service Quotas' service code of every quota here.
pub const SERVICE_CODE: &str = "vpc";
/// AWS's bound on (rules per group quota) × (groups per interface quota), and so on the
/// rules of one direction and address family over a network interface's groups.
pub const RULES_PER_INTERFACE: u32 = 1000;
/// The most groups per network interface AWS raises the quota to.
pub const MAX_GROUPS_PER_INTERFACE: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    InterfaceEndpointsPerVpc,
    SubnetsPerVpc,
    /// Inbound, and separately outbound, rules per group (one quota for both).
    RulesPerSecurityGroup,
    SecurityGroupsPerNetworkInterface,
}

impl Quota {
    pub const ALL: [Quota; 4] = [
        Quota::InterfaceEndpointsPerVpc,
        Quota::SubnetsPerVpc,
        Quota::RulesPerSecurityGroup,
        Quota::SecurityGroupsPerNetworkInterface,
    ];

    /// The key of the plan's `[quotas]` table.
    pub fn key(self) -> &'static str {
        match self {
            Quota::InterfaceEndpointsPerVpc => "interface_endpoints_per_vpc",
            Quota::SubnetsPerVpc => "subnets_per_vpc",
            Quota::RulesPerSecurityGroup => "rules_per_security_group",
            Quota::SecurityGroupsPerNetworkInterface => "security_groups_per_network_interface",
        }
    }

    /// Service Quotas' code (service `vpc`).
    pub fn code(self) -> &'static str {
        match self {
            Quota::InterfaceEndpointsPerVpc => "L-29B6F2EB",
            Quota::SubnetsPerVpc => "L-407747CB",
            Quota::RulesPerSecurityGroup => "L-0EA8095F",
            Quota::SecurityGroupsPerNetworkInterface => "L-2AFB9258",
        }
    }

    /// The quota's name in Service Quotas.
    pub fn name(self) -> &'static str {
        match self {
            Quota::InterfaceEndpointsPerVpc => "Interface VPC endpoints per VPC",
            Quota::SubnetsPerVpc => "Subnets per VPC",
            Quota::RulesPerSecurityGroup => "Inbound or outbound rules per security group",
            Quota::SecurityGroupsPerNetworkInterface => "Security groups per network interface",
        }
    }

    /// AWS's default for a new account (Amazon VPC quotas).
    pub fn default_value(self) -> u32 {
        match self {
            Quota::InterfaceEndpointsPerVpc => 50,
            Quota::SubnetsPerVpc => 200,
            Quota::RulesPerSecurityGroup => 60,
            Quota::SecurityGroupsPerNetworkInterface => 5,
        }
    }

    pub fn parse_key(key: &str) -> Option<Quota> {
        Quota::ALL.into_iter().find(|q| q.key() == key)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({SERVICE_CODE}/{})", self.name(), self.code())
    }
}

/// What Service Quotas said about one quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// The value applied to the account.
    Applied(u32),
    /// Service Quotas has no value for it (`NoSuchResourceException`).
    NotApplied,
    /// The read failed (no permission, no such service): why.
    Failed(String),
}

/// Where a value in effect comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    ServiceQuotas,
    Plan,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ServiceQuotas => "applied to the account, read from Service Quotas",
            Source::Plan => "from the plan's [quotas]",
            Source::Default => "AWS's default",
        }
    }
}

/// One quota's value in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub quota: Quota,
    pub value: u32,
    pub source: Source,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} ({})",
            self.quota,
            self.value,
            self.source.as_str()
        )
    }
}

/// Every quota's value in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits(BTreeMap<Quota, Limit>);

impl Limits {
    /// Without Service Quotas: the plan's values, else the defaults.
    pub fn offline(plan: &BTreeMap<Quota, u32>) -> Limits {
        Limits::live(plan, &BTreeMap::new()).0
    }

    /// Service Quotas' applied values, else the plan's, else the defaults; with a
    /// warning for each quota that could not be read and each plan value Service Quotas
    /// contradicts.
    pub fn live(
        plan: &BTreeMap<Quota, u32>,
        read: &BTreeMap<Quota, Reading>,
    ) -> (Limits, Vec<String>) {
        let mut warnings = Vec::new();
        let mut unread: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut limits = BTreeMap::new();
        for q in Quota::ALL {
            let fallback = match plan.get(&q) {
                Some(&v) => (v, Source::Plan),
                None => (q.default_value(), Source::Default),
            };
            let (value, source) = match read.get(&q) {
                Some(Reading::Applied(v)) => {
                    if let Some(p) = plan.get(&q).filter(|p| *p != v) {
                        warnings.push(format!(
                            "quota {q}: the plan's [quotas] {} = {p} differs from the {v} Service Quotas applies to the account; {v} is used",
                            q.key()
                        ));
                    }
                    (*v, Source::ServiceQuotas)
                }
                Some(Reading::Failed(why)) => {
                    unread.entry(why.as_str()).or_default().push(format!(
                        "{q}: {} ({})",
                        fallback.0,
                        fallback.1.as_str()
                    ));
                    fallback
                }
                Some(Reading::NotApplied) | None => fallback,
            };
            limits.insert(
                q,
                Limit {
                    quota: q,
                    value,
                    source,
                },
            );
        }
        // One line per cause: a caller without the permission (or an emulator without
        // the service) gets one warning, not one per quota.
        for (why, used) in unread {
            warnings.push(match used.as_slice() {
                [one] => {
                    let (q, v) = one.split_once(": ").unwrap_or((one, ""));
                    format!("quota {q} could not be read from Service Quotas ({why}); {v} is used")
                }
                _ => format!(
                    "{} quotas could not be read from Service Quotas ({why}); used instead: {}",
                    used.len(),
                    used.join("; ")
                ),
            });
        }
        (Limits(limits), warnings)
    }

    pub fn get(&self, q: Quota) -> Limit {
        self.0[&q]
    }

    pub fn value(&self, q: Quota) -> u32 {
        self.0[&q].value
    }

    /// AWS's product rule, when the values in effect break it: a message.
    pub fn product_rule(&self) -> Option<String> {
        let (r, g) = (
            self.get(Quota::RulesPerSecurityGroup),
            self.get(Quota::SecurityGroupsPerNetworkInterface),
        );
        let product = u64::from(r.value) * u64::from(g.value);
        (product > u64::from(RULES_PER_INTERFACE)).then(|| {
            format!(
                "AWS keeps (rules per security group) × (security groups per network interface) at most {RULES_PER_INTERFACE}, but {r} and {g}: {} × {} = {product}; raising one quota lowers the other",
                r.value, g.value
            )
        })
    }
}

/// Service Quotas, as the tool needs it.
pub trait Api: Send + Sync {
    /// The value Service Quotas applies to the account for `code` of service
    /// [`SERVICE_CODE`]; `None` when it has none (`NoSuchResourceException`).
    fn service_quota(&self, code: &str) -> impl Call<Option<f64>>;
}

/// Read every quota concurrently. Never fails: a quota that cannot be read is
/// [`Reading::Failed`].
pub async fn read<C: Api>(c: &C) -> BTreeMap<Quota, Reading> {
    let reads = Quota::ALL.map(|q| async move { (q, reading(c.service_quota(q.code()).await)) });
    futures::future::join_all(reads).await.into_iter().collect()
}

fn reading(r: Result<Option<f64>, AwsError>) -> Reading {
    match r {
        Ok(Some(v)) if v.is_finite() && v >= 0.0 => Reading::Applied(v.min(u32::MAX as f64) as u32),
        Ok(Some(v)) => Reading::Failed(format!("it answered the value {v}")),
        Ok(None) => Reading::NotApplied,
        Err(e) => Reading::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: &[(Quota, u32)]) -> BTreeMap<Quota, u32> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn service_quotas_wins_then_the_plan_then_the_default() {
        let read = BTreeMap::from([
            (Quota::InterfaceEndpointsPerVpc, Reading::Applied(120)),
            (Quota::SubnetsPerVpc, Reading::NotApplied),
            (
                Quota::RulesPerSecurityGroup,
                Reading::Failed("AccessDenied".into()),
            ),
        ]);
        let p = plan(&[
            (Quota::InterfaceEndpointsPerVpc, 100),
            (Quota::RulesPerSecurityGroup, 100),
        ]);
        let (l, warnings) = Limits::live(&p, &read);
        let got = |q| (l.get(q).value, l.get(q).source);
        assert_eq!(
            got(Quota::InterfaceEndpointsPerVpc),
            (120, Source::ServiceQuotas)
        );
        assert_eq!(got(Quota::SubnetsPerVpc), (200, Source::Default));
        assert_eq!(got(Quota::RulesPerSecurityGroup), (100, Source::Plan));
        assert_eq!(
            got(Quota::SecurityGroupsPerNetworkInterface),
            (5, Source::Default)
        );
        assert_eq!(
            warnings,
            [
                "quota \"Interface VPC endpoints per VPC\" (vpc/L-29B6F2EB): the plan's [quotas] interface_endpoints_per_vpc = 100 differs from the 120 Service Quotas applies to the account; 120 is used",
                "quota \"Inbound or outbound rules per security group\" (vpc/L-0EA8095F) could not be read from Service Quotas (AccessDenied); 100 (from the plan's [quotas]) is used",
            ]
        );
    }

    #[test]
    fn the_product_rule_is_broken_by_values_above_1000_together() {
        assert_eq!(Limits::offline(&BTreeMap::new()).product_rule(), None);
        let ok = plan(&[(Quota::RulesPerSecurityGroup, 200)]);
        assert_eq!(Limits::offline(&ok).product_rule(), None);
        let over = plan(&[(Quota::RulesPerSecurityGroup, 201)]);
        let msg = Limits::offline(&over).product_rule().unwrap();
        assert!(msg.contains("201 × 5 = 1005"), "{msg}");
    }
}
