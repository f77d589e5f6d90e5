//! The only place that touches the AWS SDK. Adapters take and return the tool's own
//! types; SDK types never leave this module. One [`Aws`] holds a client per service;
//! each kind's calls are implemented in `aws/<service>/<kind>.rs`, as that kind's `Api`
//! trait (`src/resources/<kind>.rs`).
//!
//! What every call shares is here: configuration, the error type, the call counter, the
//! lease fence, and the three retry helpers (`retry_not_found`, `gone_ok`,
//! `retry_dependency`).

pub mod audit;
pub mod ec2;
mod error;
mod iam;
mod iam_policy;
pub mod leftovers;
pub mod pacing;
mod poll;
mod sagemaker;
mod service_quotas;
mod user_profile;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

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

/// A named profile must exist in the shared config or credentials file (else the
/// credential chain would fall through to instance metadata and fail far from the
/// cause).
pub async fn check_profile(name: &str) -> Result<(), String> {
    use aws_types::os_shim_internal::{Env, Fs};
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .map_err(|e| format!("error: reading the AWS config files failed: {e}"))?;
    if set.get_profile(name).is_some() {
        return Ok(());
    }
    let home =
        |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_string());
    let known: Vec<&str> = set.profiles().collect();
    Err(format!(
        "error: profile {name:?} not found in {} or {} (profiles there: {})\nhint: check --profile / AWS_PROFILE, or create it with `aws configure --profile {name}`",
        home("AWS_CONFIG_FILE", "~/.aws/config"),
        home("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    ))
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
        // No attempt or operation timeout: an EC2 call may wait minutes for its
        // action's token (see `pacing`), and that wait must not count as a slow
        // answer. A connection that hangs is cut by the read timeout, which starts
        // when the request is sent.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(p) = &conn.profile {
        loader = loader.profile_name(p);
    }
    // `--endpoint-url` is applied per service client (see `endpoint_for`), so that a
    // service-specific AWS_ENDPOINT_URL_<SERVICE> can still point one service elsewhere.
    loader.load().await
}

pub use error::{AwsError, Failure};

/// The API operation a request builder sends, from its type name:
/// `…::CreateSubnetFluentBuilder` is `CreateSubnet`, `…::DescribeVpcsPaginator` is
/// `DescribeVpcs`. Operation names are never typed by hand.
pub(crate) fn op_name<B>(_: &B) -> &'static str {
    let full = std::any::type_name::<B>();
    let last = full.rsplit("::").next().unwrap_or(full);
    last.strip_suffix("FluentBuilder")
        .or_else(|| last.strip_suffix("Paginator"))
        .unwrap_or(last)
}

/// Send a request, naming its operation in the error.
macro_rules! send {
    ($req:expr) => {{
        let req = $req;
        let op = $crate::aws::op_name(&req);
        req.send()
            .await
            .map_err(|e| $crate::aws::AwsError::from_sdk(op, e))
    }};
}

/// Every page of a paginated request.
macro_rules! pages {
    ($paginator:expr) => {{
        let p = $paginator;
        let op = $crate::aws::op_name(&p);
        let pages: Vec<_> = p.send().collect().await;
        pages
            .into_iter()
            .map(|r| r.map_err(|e| $crate::aws::AwsError::from_sdk(op, e)))
            .collect::<Result<Vec<_>, $crate::aws::AwsError>>()
    }};
}
pub(crate) use {pages, send};

/// Bounds of the adapters' own retry loops (the SDK's retries are bounded by
/// `--max-attempts`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long `*.NotFound` is retried for a call that refers to a just-created id.
    pub not_found_window: Duration,
    /// How long a delete answered `DependencyViolation` is retried (ENIs of a deleted
    /// endpoint take a while to go away).
    pub dependency_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            not_found_window: Duration::from_secs(30),
            dependency_window: Duration::from_secs(120),
        }
    }
}

/// Retry a call that refers to an id AWS may not see yet (eventual consistency right
/// after a create): `*.NotFound` is retried with backoff and jitter for up to `window`.
pub(crate) async fn retry_not_found<T, F, Fut>(window: Duration, mut f: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut delay = Duration::from_millis(200);
    let start = tokio::time::Instant::now();
    loop {
        match f().await {
            Err(e) if e.is_not_found() && start.elapsed() < window => {
                tracing::debug!(error = %e, "retrying after NotFound (eventual consistency)");
                let jitter = Duration::from_millis(rand::random::<u64>() % 100);
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// A delete of something already gone counts as done (idempotent re-runs).
pub(crate) fn gone_ok(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// A delete that AWS refuses while dependants are still going away
/// (`DependencyViolation`) is retried with backoff for up to `window`; one of something
/// already gone is done.
pub(crate) async fn retry_dependency<F, Fut>(window: Duration, mut f: F) -> Result<(), AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let mut delay = Duration::from_millis(500);
    let deadline = tokio::time::Instant::now() + window;
    loop {
        match gone_ok(f().await) {
            Err(e)
                if e.code.as_deref() == Some("DependencyViolation")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Every AWS client of a run. Mutating calls pass the [`Fence`]; the apply lock's own
/// calls use a client without it (the lock is what arms the fence).
#[derive(Clone, Debug)]
pub struct Aws {
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) ec2_lock: aws_sdk_ec2::Client,
    pub(crate) sagemaker: aws_sdk_sagemaker::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) efs: aws_sdk_efs::Client,
    /// Read only (the caller's account): not fenced.
    pub(crate) sts: aws_sdk_sts::Client,
    /// Read only (the VPC quotas): not fenced.
    pub(crate) service_quotas: aws_sdk_servicequotas::Client,
    pub calls: CallCounter,
    pub fence: Fence,
    pub limits: Limits,
    /// EC2's request buckets, shared by both EC2 clients.
    pub pacer: Arc<pacing::Pacer>,
}

impl Aws {
    /// Clients for `config`'s region and credentials; `endpoint_url` is `--endpoint-url`
    /// (see [`endpoint_for`]).
    pub fn new(
        config: &aws_config::SdkConfig,
        endpoint_url: Option<&str>,
        pacer: pacing::Pacer,
    ) -> Aws {
        let calls = CallCounter::default();
        let fence = Fence::default();
        let pacer = Arc::new(pacer);
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        // A request waiting for its token is not a stalled upload.
        let stalls = aws_sdk_ec2::config::StalledStreamProtectionConfig::enabled()
            .upload_enabled(false)
            .build();
        let mut ec2 = aws_sdk_ec2::config::Builder::from(config)
            .http_client(pacing::PacedClient::shared(
                https.clone(),
                pacer.clone(),
                None,
            ))
            .stalled_stream_protection(stalls)
            .interceptor(CountCalls(calls.clone()))
            .interceptor(LogCalls);
        if let Some(u) = endpoint_for(endpoint_url, "EC2") {
            ec2 = ec2.endpoint_url(u);
        }
        let lock_conf = ec2.build();
        // The fence is checked before each attempt is sent, and again once a paced
        // request has its token (a run paused while it waited must not write).
        let fenced = pacing::PacedClient::shared(https, pacer.clone(), Some(fence.clone()));
        let ec2_conf = lock_conf
            .to_builder()
            .http_client(fenced)
            .interceptor(FenceCalls(fence.clone()))
            .build();
        let mut sm = aws_sdk_sagemaker::config::Builder::from(config)
            .interceptor(CountCalls(calls.clone()))
            .interceptor(LogCalls)
            .interceptor(FenceCalls(fence.clone()));
        if let Some(u) = endpoint_for(endpoint_url, "SAGEMAKER") {
            sm = sm.endpoint_url(u);
        }
        let mut iam = aws_sdk_iam::config::Builder::from(config)
            .interceptor(CountCalls(calls.clone()))
            .interceptor(LogCalls)
            .interceptor(FenceCalls(fence.clone()));
        if let Some(u) = endpoint_for(endpoint_url, "IAM") {
            iam = iam.endpoint_url(u);
        }
        let mut efs = aws_sdk_efs::config::Builder::from(config)
            .interceptor(CountCalls(calls.clone()))
            .interceptor(LogCalls)
            .interceptor(FenceCalls(fence.clone()));
        if let Some(u) = endpoint_for(endpoint_url, "EFS") {
            efs = efs.endpoint_url(u);
        }
        let mut sts = aws_sdk_sts::config::Builder::from(config)
            .interceptor(CountCalls(calls.clone()))
            .interceptor(LogCalls);
        if let Some(u) = endpoint_for(endpoint_url, "STS") {
            sts = sts.endpoint_url(u);
        }
        Aws {
            ec2: aws_sdk_ec2::Client::from_conf(ec2_conf),
            ec2_lock: aws_sdk_ec2::Client::from_conf(lock_conf),
            sagemaker: aws_sdk_sagemaker::Client::from_conf(sm.build()),
            iam: aws_sdk_iam::Client::from_conf(iam.build()),
            efs: aws_sdk_efs::Client::from_conf(efs.build()),
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            service_quotas: service_quotas::client(config, endpoint_url, &calls),
            calls,
            fence,
            limits: Limits::default(),
            pacer,
        }
    }

    /// Wrap pre-built clients (tests with aws-smithy-mocks): EC2 fenced like `new`, and
    /// used for the lock's calls too. IAM and EFS get clients that reach nothing (see
    /// [`Aws::with_iam`], [`Aws::with_efs`]).
    pub fn from_clients(ec2: aws_sdk_ec2::Client, sagemaker: aws_sdk_sagemaker::Client) -> Aws {
        let fence = Fence::default();
        let fenced = ec2
            .config()
            .to_builder()
            .interceptor(FenceCalls(fence.clone()))
            .build();
        Aws {
            ec2: aws_sdk_ec2::Client::from_conf(fenced),
            ec2_lock: ec2,
            sagemaker,
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::Config::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .endpoint_url("http://127.0.0.1:9")
                    .build(),
            ),
            efs: aws_sdk_efs::Client::from_conf(
                aws_sdk_efs::Config::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .region(aws_types::region::Region::new("us-east-1"))
                    .endpoint_url("http://127.0.0.1:9")
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::Config::builder()
                    .behavior_version(aws_config::BehaviorVersion::latest())
                    .region(aws_types::region::Region::new("us-east-1"))
                    .endpoint_url("http://127.0.0.1:9")
                    .build(),
            ),
            service_quotas: service_quotas::unreachable(),
            calls: CallCounter::default(),
            fence,
            limits: Limits::default(),
            pacer: Arc::default(),
        }
    }
}

impl Aws {
    /// Use this IAM client (tests with aws-smithy-mocks).
    pub fn with_iam(mut self, iam: aws_sdk_iam::Client) -> Aws {
        self.iam = iam;
        self
    }

    /// Use this STS client (tests with aws-smithy-mocks).
    pub fn with_sts(mut self, sts: aws_sdk_sts::Client) -> Aws {
        self.sts = sts;
        self
    }

    /// Use this Service Quotas client (tests with aws-smithy-mocks).
    pub fn with_service_quotas(mut self, c: aws_sdk_servicequotas::Client) -> Aws {
        self.service_quotas = c;
        self
    }

    /// Use this EFS client (tests with aws-smithy-mocks).
    pub fn with_efs(mut self, efs: aws_sdk_efs::Client) -> Aws {
        self.efs = efs;
        self
    }
}

impl crate::resources::Guard for Aws {
    fn may_write(&self) -> Result<(), String> {
        self.fence.check()
    }
    fn claim(&self, api: &str) -> Duration {
        self.pacer.claim(api)
    }
}

/// Refuses every attempt of a mutating call while the apply lock's lease is not held
/// (see [`Fence`]). Checked right before the request is transmitted.
#[derive(Debug)]
struct FenceCalls(Fence);

impl Intercept for FenceCalls {
    fn name(&self) -> &'static str {
        "sagevpc-lease-fence"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(m) if !is_read_only(m.name()) => self.0.check().map_err(BoxError::from),
            _ => Ok(()),
        }
    }
}

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

/// When an attempt started, for `-vv`.
#[derive(Debug, Clone)]
struct AttemptStarted(Instant);

impl aws_smithy_types::config_bag::Storable for AttemptStarted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// `-v`: every call with its status and AWS's request id; `-vv`: and how long it
/// took. Nothing of the request is logged (credentials never are).
#[derive(Debug)]
pub(crate) struct LogCalls;

impl Intercept for LogCalls {
    fn name(&self) -> &'static str {
        "sagevpc-call-log"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(AttemptStarted(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<
            '_,
        >,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let took = cfg.load::<AttemptStarted>().map(|t| t.0.elapsed());
        let (status, request_id) = match ctx.response() {
            Some(r) => (
                r.status().as_u16().to_string(),
                r.headers()
                    .get("x-amzn-requestid")
                    .or_else(|| r.headers().get("x-amz-request-id"))
                    .unwrap_or("-")
                    .to_string(),
            ),
            None => ("no answer".to_string(), "-".to_string()),
        };
        tracing::info!("call {op}: {status} (request id {request_id})");
        if let Some(t) = took {
            tracing::debug!("call {op}: {:.3}s", t.as_secs_f64());
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
