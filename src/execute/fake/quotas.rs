//! Service Quotas in the fake account: what `GetServiceQuota` answers per quota code.
//! A code with no answer set is `NoSuchResourceException` (no applied value).

use super::{err, FakeCloud};
use crate::aws::AwsError;
use crate::quotas::{Api, Quota};

/// The fake's answer for one quota code.
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaAnswer {
    Applied(f64),
    /// An error code (`AccessDeniedException`).
    Error(String),
}

impl FakeCloud {
    /// Service Quotas applies `value` to the account for `q`.
    pub fn set_quota(&self, q: Quota, value: u32) {
        let answer = QuotaAnswer::Applied(f64::from(value));
        self.world().quotas.insert(q.code().to_string(), answer);
    }

    /// Every `GetServiceQuota` is refused (a caller without the permission).
    pub fn deny_quotas(&self) {
        for q in Quota::ALL {
            let answer = QuotaAnswer::Error("AccessDeniedException".into());
            self.world().quotas.insert(q.code().to_string(), answer);
        }
    }
}

impl Api for FakeCloud {
    async fn service_quota(&self, code: &str) -> Result<Option<f64>, AwsError> {
        match self.world().quotas.get(code) {
            Some(QuotaAnswer::Applied(v)) => Ok(Some(*v)),
            Some(QuotaAnswer::Error(c)) => Err(err("GetServiceQuota", c, "not authorized")),
            None => Ok(None),
        }
    }
}
