//! The only place that touches the AWS SDK. Adapters take and return the tool's own
//! types; SDK types never leave this module.

pub mod ec2;
pub mod sagemaker;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub use ec2::Ec2;
pub use sagemaker::SageMaker;

use aws_sdk_ec2::config::{Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;

/// How to reach AWS: the standard aws-config chain, with the plan's region winning.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub region: String,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Maximum attempts per call for retryable errors (throttling, 5xx, resets).
    pub max_attempts: u32,
}

/// Load the SDK configuration. Credentials are resolved lazily, on the first call.
pub async fn load_config(conn: &Connection) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(conn.region.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(conn.max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(250))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(300))
                .build(),
        );
    if let Some(p) = &conn.profile {
        loader = loader.profile_name(p);
    }
    // `--endpoint-url` is applied per service client (see `endpoint_for`), so that a
    // service-specific AWS_ENDPOINT_URL_<SERVICE> can still point one service elsewhere.
    loader.load().await
}

/// An AWS call that failed, in the tool's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub operation: &'static str,
    /// AWS error code, e.g. `InvalidVpcID.NotFound`; `None` for transport failures.
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn new(operation: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            code: code.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.ends_with(".NotFound") || c.ends_with("NotFound"))
    }

    /// A hint for errors a user can act on.
    pub fn hint(&self) -> Option<&'static str> {
        let code = self.code.as_deref()?;
        Some(match code {
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
                "the credentials in use lack this permission; check the IAM policy of the caller"
            }
            "AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
                "AWS rejected the credentials; check --profile or the AWS_* variables"
            }
            "VpcLimitExceeded" | "SecurityGroupLimitExceeded" | "VpcEndpointLimitExceeded" => {
                "an account quota is reached; raise it in Service Quotas or remove unused resources"
            }
            "InvalidSubnet.Conflict" => {
                "the subnet CIDR overlaps a subnet that already exists in the VPC"
            }
            "DuplicateSubnetsInSameZone" => "an endpoint takes one subnet per availability zone",
            "InvalidParameter" if self.message.contains("private DNS") => {
                "private DNS needs enableDnsSupport and enableDnsHostnames on the VPC"
            }
            _ => return None,
        })
    }

    pub(crate) fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_string);
        let message = match err.message() {
            Some(m) => m.to_string(),
            None => DisplayErrorContext(&err).to_string(),
        };
        AwsError {
            operation,
            code,
            message,
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{} failed: {c}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

/// API calls made, by operation (each page and each retry attempt counts).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    pub fn record(&self, operation: &str) {
        let mut m = self.0.lock().expect("counter lock");
        *m.entry(operation.to_string()).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("counter lock").clone()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Calls whose operation changes something (not Describe*/List*/Get*).
    pub fn mutating(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(k, _)| !is_read_only(k))
            .map(|(_, v)| v)
            .sum()
    }
}

/// Counts every attempt (retries included) by operation name; one counter is shared by
/// every service's client of a run.
#[derive(Debug)]
pub(crate) struct CountCalls(pub(crate) CallCounter);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "sagevpc-call-counter"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.0.record(m.name());
        }
        Ok(())
    }
}

/// The endpoint a service's client should be given explicitly: `--endpoint-url`, unless
/// the standard `AWS_ENDPOINT_URL_<SERVICE>` variable names one for that service (then
/// the SDK's own configuration uses it). Without `--endpoint-url` the SDK's standard
/// chain decides (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, profile, AWS).
pub fn endpoint_for(endpoint_url: Option<&str>, service_env: &str) -> Option<String> {
    let specific = std::env::var(format!("AWS_ENDPOINT_URL_{service_env}"))
        .ok()
        .filter(|v| !v.is_empty());
    match (endpoint_url, specific) {
        (Some(u), None) => Some(u.to_string()),
        _ => None,
    }
}

pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// Where a fence stands: writes allowed until an instant, or lost for good.
#[derive(Debug, Clone)]
enum Lease {
    Until(Instant),
    Lost(String),
}

/// Mutating calls are allowed only while the apply lock's lease is known to be held.
///
/// The lock (`execute::lock`) arms the fence when it is taken and extends it after each
/// renewal that confirmed the lock is still this run's. A run that was paused (SIGSTOP,
/// a suspended laptop, a starved CI runner) past its lease, or whose lock was taken
/// over, must not write again: another run may be applying the same plan by then. The
/// fence is one-way: once the lease ran out, no renewal restores it. Every attempt of
/// every mutating call is checked right before it is transmitted (the EC2 adapter's
/// interceptor), retries included. An unarmed fence allows everything (no lock taken:
/// tests, or runs that make no change).
#[derive(Debug, Clone, Default)]
pub struct Fence(Arc<Mutex<Option<Lease>>>);

impl Fence {
    /// Allow writes until `until`, unless the fence was lost or has already run out.
    pub fn hold_until(&self, until: Instant) {
        let mut g = self.0.lock().expect("fence lock");
        match &*g {
            Some(Lease::Lost(_)) => {}
            Some(Lease::Until(t)) if *t <= Instant::now() => {
                *g = Some(Lease::Lost(lease_ran_out()));
            }
            _ => *g = Some(Lease::Until(until)),
        }
    }

    /// Forbid writes for good, saying why.
    pub fn lose(&self, why: impl Into<String>) {
        *self.0.lock().expect("fence lock") = Some(Lease::Lost(why.into()));
    }

    /// Allow everything again (the lock was released).
    pub fn disarm(&self) {
        *self.0.lock().expect("fence lock") = None;
    }

    /// `Err(reason)` when a mutating call must not be sent now.
    pub fn check(&self) -> Result<(), String> {
        let mut g = self.0.lock().expect("fence lock");
        match &*g {
            None => Ok(()),
            Some(Lease::Lost(why)) => Err(why.clone()),
            Some(Lease::Until(t)) if *t <= Instant::now() => {
                let why = lease_ran_out();
                *g = Some(Lease::Lost(why.clone()));
                Err(why)
            }
            Some(Lease::Until(_)) => Ok(()),
        }
    }
}

fn lease_ran_out() -> String {
    "the apply lock's lease ran out before it could be renewed (this run was paused or could not reach AWS); another run may hold the lock now, so this run makes no further change".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unarmed_fence_allows_everything() {
        assert_eq!(Fence::default().check(), Ok(()));
    }

    #[test]
    fn a_held_fence_allows_until_its_lease_runs_out_and_never_again() {
        let f = Fence::default();
        f.hold_until(Instant::now() + Duration::from_secs(60));
        assert_eq!(f.check(), Ok(()));
        f.hold_until(Instant::now() - Duration::from_millis(1));
        let err = f.check().unwrap_err();
        assert!(err.contains("lease ran out"), "{err}");
        // One-way: a renewal that comes after the lease ran out restores nothing.
        f.hold_until(Instant::now() + Duration::from_secs(60));
        assert!(f.check().is_err());
    }

    #[test]
    fn a_renewal_after_the_lease_ran_out_does_not_restore_it() {
        let f = Fence::default();
        f.hold_until(Instant::now() + Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(10));
        // No check in between: the renewal itself notices.
        f.hold_until(Instant::now() + Duration::from_secs(60));
        assert!(f.check().is_err());
    }

    #[test]
    fn a_lost_fence_says_why_until_disarmed() {
        let f = Fence::default();
        f.hold_until(Instant::now() + Duration::from_secs(60));
        f.lose("taken over");
        assert_eq!(f.check(), Err("taken over".to_string()));
        f.disarm();
        assert_eq!(f.check(), Ok(()));
    }
}
