//! Service Quotas: the values applied to the account for the VPC quotas the plan is
//! checked against (`GetServiceQuota`, read only: not fenced).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use super::{endpoint_for, send, Aws, AwsError, CallCounter, CountCalls, LogCalls};
use crate::quotas::{Api, SERVICE_CODE};

/// The client: counted and logged like the others, with few attempts and a short
/// deadline, since a quota that cannot be read is only a warning.
pub(super) fn client(
    config: &aws_config::SdkConfig,
    endpoint_url: Option<&str>,
    calls: &CallCounter,
) -> aws_sdk_servicequotas::Client {
    let mut b = aws_sdk_servicequotas::config::Builder::from(config)
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(15))
                .build(),
        )
        .interceptor(CountCalls(calls.clone()))
        .interceptor(LogCalls);
    if let Some(u) = endpoint_for(endpoint_url, "SERVICE_QUOTAS") {
        b = b.endpoint_url(u);
    }
    aws_sdk_servicequotas::Client::from_conf(b.build())
}

/// A client that reaches nothing (tests that do not give one).
pub(super) fn unreachable() -> aws_sdk_servicequotas::Client {
    aws_sdk_servicequotas::Client::from_conf(
        aws_sdk_servicequotas::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    )
}

impl Api for Aws {
    async fn service_quota(&self, code: &str) -> Result<Option<f64>, AwsError> {
        let req = self
            .service_quotas
            .get_service_quota()
            .service_code(SERVICE_CODE)
            .quota_code(code);
        match send!(req) {
            Ok(out) => Ok(out.quota().and_then(|q| q.value())),
            Err(e) if e.code.as_deref() == Some("NoSuchResourceException") => Ok(None),
            Err(e) => Err(e),
        }
    }
}
