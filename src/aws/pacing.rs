//! Client-side pacing by EC2's request limits.
//!
//! EC2 throttles per API action, with a token bucket per account and region (the EC2
//! API reference, "Request throttling"). A client that sends faster than a bucket
//! refills gets `RequestLimitExceeded`, and the SDK's retries (seconds) run out long
//! before the slowest bucket refills (`CreateVpcEndpoint`: 4 calls, then one every
//! 3.3 s). So every EC2 request waits here for a token of its own action's bucket
//! before it is sent, and a throttled answer (HTTP 503) empties that bucket and is sent
//! again at its next token, for as long as the run allows: the SDK never sees it.
//!
//! Each action has its own bucket, so one slow action never slows another (unlike the
//! SDK's adaptive retry mode, which shares one limiter per retry partition). The
//! buckets reserve tokens in the order requests arrive, and the executor starts the
//! longest poles first, so endpoint creates get the first tokens.
//!
//! The pacing sits in the HTTP client the EC2 client uses: it applies to every attempt
//! and every page, and waiting for a token counts against no attempt timeout (the
//! connector's read timeout starts when the request is sent).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::time::Instant;

/// A token bucket's shape: how many calls at once, how many per second after that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub capacity: f64,
    pub refill: f64,
}

impl Rate {
    pub const fn new(capacity: f64, refill: f64) -> Rate {
        Rate { capacity, refill }
    }

    /// The least time `calls` calls take when the bucket starts full.
    pub fn bound(&self, calls: usize) -> Duration {
        let over = calls as f64 - self.capacity;
        Duration::from_secs_f64((over.max(0.0) / self.refill).max(0.0))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.capacity, self.refill)
    }
}

/// `CAP/REFILL`, e.g. `4/0.3`.
impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || format!("{s:?} is not CAPACITY/REFILL_PER_SECOND (e.g. 4/0.3)");
        let (c, r) = s.split_once('/').ok_or_else(bad)?;
        let capacity: f64 = c.trim().parse().map_err(|_| bad())?;
        let refill: f64 = r.trim().parse().map_err(|_| bad())?;
        if !(capacity >= 1.0 && refill > 0.0 && capacity.is_finite() && refill.is_finite()) {
            return Err(format!(
                "{s:?}: the bucket needs a capacity of at least 1 and a refill above 0"
            ));
        }
        Ok(Rate { capacity, refill })
    }
}

/// The documented default bucket of an EC2 action. `unfiltered` is a describe call
/// without filters, ids or pagination (only `DescribeSecurityGroups` and
/// `DescribeNetworkInterfaces` have a smaller bucket for those).
pub fn default_rate(action: &str, unfiltered: bool) -> Rate {
    match action {
        "CreateVpcEndpoint" | "ModifyVpcEndpoint" | "DeleteVpcEndpoints" => Rate::new(4.0, 0.3),
        "CreateNatGateway" | "DeleteNatGateway" => Rate::new(10.0, 1.0),
        "CreateTags" | "DeleteTags" => Rate::new(100.0, 10.0),
        "DescribeSecurityGroups" | "DescribeNetworkInterfaces" if unfiltered => {
            Rate::new(50.0, 10.0)
        }
        a if crate::aws::is_read_only(a) => Rate::new(100.0, 20.0),
        _ => Rate::new(50.0, 5.0),
    }
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    /// Tokens now; below zero when calls have reserved tokens yet to come.
    tokens: f64,
    updated: Instant,
    /// Tokens claimed ahead by the executor, for the next requests of the action.
    prepaid: u32,
}

/// Added to every wait for a token: the server's bucket starts when the first call
/// arrives, a little after ours, so a call sent at the exact refill instant can arrive
/// before the token it waited for (measured: 0.3-2 ms early, answered 503 and a full
/// refill lost). Under 1% of the slowest refill interval.
const MARGIN: Duration = Duration::from_millis(20);

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let dt = now.duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate.refill).min(self.rate.capacity);
        self.updated = now;
    }
}

/// What pacing did in a run, by action.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingStats {
    /// Time calls waited for a token.
    pub waited: BTreeMap<String, Duration>,
    /// Throttled answers (HTTP 503) seen, each answered by waiting and sending again.
    pub throttled: BTreeMap<String, u64>,
}

/// Every action's bucket, shared by every EC2 client of a run.
#[derive(Debug, Default)]
pub struct Pacer {
    overrides: HashMap<String, Rate>,
    buckets: Mutex<HashMap<String, Bucket>>,
    stats: Mutex<PacingStats>,
    /// How long a call may wait for its tokens and resend throttled answers in all.
    max_wait: Duration,
}

impl Pacer {
    /// Buckets with the documented defaults, but for `overrides` (by action).
    pub fn new(overrides: HashMap<String, Rate>, max_wait: Duration) -> Pacer {
        Pacer {
            overrides,
            max_wait,
            ..Pacer::default()
        }
    }

    /// The bucket an action uses here.
    pub fn rate(&self, action: &str, unfiltered: bool) -> Rate {
        self.overrides
            .get(action)
            .copied()
            .unwrap_or_else(|| default_rate(action, unfiltered))
    }

    fn key(action: &str, unfiltered: bool) -> String {
        if unfiltered && default_rate(action, true) != default_rate(action, false) {
            format!("{action}(unfiltered)")
        } else {
            action.to_string()
        }
    }

    /// Reserve the next token of `action`'s bucket; returns how long to wait for it.
    fn reserve(&self, action: &str, unfiltered: bool) -> Duration {
        let now = Instant::now();
        let rate = self.rate(action, unfiltered);
        let mut buckets = self.buckets.lock().expect("pacer lock");
        let b = buckets
            .entry(Pacer::key(action, unfiltered))
            .or_insert(Bucket {
                rate,
                tokens: rate.capacity,
                updated: now,
                prepaid: 0,
            });
        if b.prepaid > 0 {
            b.prepaid -= 1;
            return Duration::ZERO;
        }
        b.refill(now);
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / b.rate.refill) + MARGIN
        }
    }

    /// Take a token of `action`'s bucket now for a call about to be made (the next
    /// request of that action uses it without waiting), or say how long until one
    /// comes. The executor claims before it gives a node a parallelism slot, so that
    /// no slot is held by a call that would only wait.
    pub fn claim(&self, action: &str) -> Duration {
        let now = Instant::now();
        let rate = self.rate(action, false);
        let mut buckets = self.buckets.lock().expect("pacer lock");
        let b = buckets.entry(action.to_string()).or_insert(Bucket {
            rate,
            tokens: rate.capacity,
            updated: now,
            prepaid: 0,
        });
        b.refill(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.prepaid += 1;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - b.tokens) / b.rate.refill) + MARGIN
        }
    }

    /// Wait for a token of `action`'s bucket.
    pub async fn take(&self, action: &str, unfiltered: bool) {
        let wait = self.reserve(action, unfiltered);
        if !wait.is_zero() {
            tracing::debug!(
                action,
                wait_s = wait.as_secs_f64(),
                "waiting for a request token"
            );
            *self
                .stats
                .lock()
                .expect("pacer stats")
                .waited
                .entry(action.to_string())
                .or_default() += wait;
            tokio::time::sleep(wait).await;
        }
    }

    /// AWS said the bucket is empty: it is, here too (tokens others reserved stay
    /// reserved).
    pub fn throttled(&self, action: &str, unfiltered: bool) {
        let now = Instant::now();
        if let Some(b) = self
            .buckets
            .lock()
            .expect("pacer lock")
            .get_mut(&Pacer::key(action, unfiltered))
        {
            b.refill(now);
            b.tokens = b.tokens.min(0.0);
        }
        *self
            .stats
            .lock()
            .expect("pacer stats")
            .throttled
            .entry(action.to_string())
            .or_default() += 1;
    }

    pub fn stats(&self) -> PacingStats {
        self.stats.lock().expect("pacer stats").clone()
    }
}

/// The EC2 Query action of a request body, and whether it is an unfiltered,
/// unpaginated describe.
fn action_of(body: &[u8]) -> Option<(String, bool)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut action = None;
    let mut narrowed = false;
    for pair in text.split('&') {
        let key = pair.split('=').next().unwrap_or_default();
        if key == "Action" {
            action = pair.split_once('=').map(|(_, v)| v.to_string());
        } else if key.starts_with("Filter.")
            || key.starts_with("MaxResults")
            || key.starts_with("NextToken")
            || key.contains("Id.")
        {
            narrowed = true;
        }
    }
    action.map(|a| (a, !narrowed))
}

/// The HTTP client of the EC2 clients: the default one, behind the pacer.
#[derive(Debug, Clone)]
pub struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
    /// Checked again once a mutating request has its token, right before it goes out:
    /// a run paused while it waited must not write after its lease ran out.
    fence: Option<super::Fence>,
}

impl PacedClient {
    pub fn shared(
        inner: SharedHttpClient,
        pacer: Arc<Pacer>,
        fence: Option<super::Fence>,
    ) -> SharedHttpClient {
        SharedHttpClient::new(PacedClient {
            inner,
            pacer,
            fence,
        })
    }
}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            fence: self.fence.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
    fence: Option<super::Fence>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let pacer = self.pacer.clone();
        let fence = self.fence.clone();
        HttpConnectorFuture::new(async move {
            let Some((action, unfiltered)) = request.body().bytes().and_then(action_of) else {
                return inner.call(request).await;
            };
            let deadline = Instant::now() + pacer.max_wait;
            let mut backoff = Duration::from_millis(100);
            loop {
                pacer.take(&action, unfiltered).await;
                if let (Some(f), false) = (&fence, crate::aws::is_read_only(&action)) {
                    f.check().map_err(|why| ConnectorError::user(why.into()))?;
                }
                // In-memory bodies clone; a streaming one is sent once, unpaced again.
                let Some(attempt) = request.try_clone() else {
                    return inner.call(request).await;
                };
                let response = inner.call(attempt).await?;
                if response.status().as_u16() != 503 || Instant::now() >= deadline {
                    return Ok(response);
                }
                tracing::debug!(action, "throttled (503): waiting for the next token");
                pacer.throttled(&action, unfiltered);
                // Someone else may share the account's bucket: never resend faster
                // than a growing floor, whatever the local bucket says.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults() {
        assert_eq!(
            default_rate("CreateVpcEndpoint", false),
            Rate::new(4.0, 0.3)
        );
        assert_eq!(
            default_rate("DeleteVpcEndpoints", false),
            Rate::new(4.0, 0.3)
        );
        assert_eq!(
            default_rate("CreateNatGateway", false),
            Rate::new(10.0, 1.0)
        );
        assert_eq!(
            default_rate("AuthorizeSecurityGroupIngress", false),
            Rate::new(50.0, 5.0)
        );
        assert_eq!(default_rate("CreateSubnet", false), Rate::new(50.0, 5.0));
        assert_eq!(default_rate("CreateTags", false), Rate::new(100.0, 10.0));
        assert_eq!(default_rate("DescribeVpcs", true), Rate::new(100.0, 20.0));
        assert_eq!(
            default_rate("DescribeSecurityGroups", false),
            Rate::new(100.0, 20.0)
        );
        assert_eq!(
            default_rate("DescribeSecurityGroups", true),
            Rate::new(50.0, 10.0)
        );
    }

    #[test]
    fn the_bound_of_six_endpoint_creates_is_six_point_seven_seconds() {
        let b = default_rate("CreateVpcEndpoint", false).bound(6);
        assert!((b.as_secs_f64() - 6.667).abs() < 0.01, "{b:?}");
        assert_eq!(Rate::new(4.0, 0.3).bound(3), Duration::ZERO);
    }

    #[test]
    fn rates_parse_and_refuse_nonsense() {
        assert_eq!("4/0.3".parse::<Rate>(), Ok(Rate::new(4.0, 0.3)));
        assert_eq!(" 100 / 10 ".parse::<Rate>(), Ok(Rate::new(100.0, 10.0)));
        for bad in ["4", "x/1", "0/1", "4/0", "4/-1", "inf/1"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn actions_are_read_from_query_bodies() {
        assert_eq!(
            action_of(b"Action=CreateVpcEndpoint&Version=2016-11-15&VpcId=vpc-1"),
            Some(("CreateVpcEndpoint".into(), true))
        );
        assert_eq!(
            action_of(b"Action=DescribeSecurityGroups&Filter.1.Name=tag%3Ax&Version=2016-11-15"),
            Some(("DescribeSecurityGroups".into(), false))
        );
        assert_eq!(action_of(b"{\"json\": true}"), None);
    }

    #[tokio::test]
    async fn tokens_are_reserved_in_arrival_order_at_the_refill_rate() {
        let p = Pacer::new(HashMap::new(), Duration::from_secs(600));
        let waits: Vec<Duration> = (0..6)
            .map(|_| p.reserve("CreateVpcEndpoint", false))
            .collect();
        assert_eq!(&waits[..4], &[Duration::ZERO; 4]);
        assert!(
            (waits[4].as_secs_f64() - MARGIN.as_secs_f64() - 3.333).abs() < 0.01,
            "{waits:?}"
        );
        assert!(
            (waits[5].as_secs_f64() - MARGIN.as_secs_f64() - 6.667).abs() < 0.01,
            "{waits:?}"
        );
        // Another action's bucket is untouched.
        assert_eq!(p.reserve("CreateSubnet", false), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_claimed_token_is_used_by_the_next_request_without_waiting() {
        let p = Pacer::new(HashMap::new(), Duration::from_secs(600));
        for _ in 0..4 {
            assert_eq!(p.claim("CreateVpcEndpoint"), Duration::ZERO);
        }
        // The bucket is empty: a fifth claim says when, and takes nothing.
        let w = p.claim("CreateVpcEndpoint");
        assert!(
            (w.as_secs_f64() - MARGIN.as_secs_f64() - 3.333).abs() < 0.01,
            "{w:?}"
        );
        // The four claimed calls go at once; the one after them waits its turn.
        for _ in 0..4 {
            assert_eq!(p.reserve("CreateVpcEndpoint", false), Duration::ZERO);
        }
        let w = p.reserve("CreateVpcEndpoint", false);
        assert!(
            (w.as_secs_f64() - MARGIN.as_secs_f64() - 3.333).abs() < 0.01,
            "{w:?}"
        );
        assert_eq!(p.claim("CreateSubnet"), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_throttled_answer_empties_the_bucket() {
        let p = Pacer::new(HashMap::new(), Duration::from_secs(600));
        assert_eq!(p.reserve("CreateSubnet", false), Duration::ZERO);
        p.throttled("CreateSubnet", false);
        let w = p.reserve("CreateSubnet", false);
        assert!(
            (w.as_secs_f64() - MARGIN.as_secs_f64() - 0.2).abs() < 0.01,
            "{w:?}"
        );
        assert_eq!(p.stats().throttled["CreateSubnet"], 1);
    }

    #[tokio::test]
    async fn overrides_replace_the_default() {
        let p = Pacer::new(
            HashMap::from([("CreateVpcEndpoint".to_string(), Rate::new(1.0, 1.0))]),
            Duration::from_secs(600),
        );
        assert_eq!(p.reserve("CreateVpcEndpoint", false), Duration::ZERO);
        let w = p.reserve("CreateVpcEndpoint", false);
        assert!(
            (w.as_secs_f64() - MARGIN.as_secs_f64() - 1.0).abs() < 0.01,
            "{w:?}"
        );
    }

    /// An HTTP connector answering from a list, counting the calls.
    #[derive(Debug)]
    struct Answers(Mutex<Vec<u16>>, std::sync::atomic::AtomicUsize);

    impl HttpConnector for Answers {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = self.0.lock().unwrap().remove(0);
            HttpConnectorFuture::ready(Ok(aws_smithy_runtime_api::http::Response::new(
                status.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from("<Response/>"),
            )))
        }
    }

    fn connector(
        answers: &[u16],
        max_wait: Duration,
    ) -> (PacedConnector, Arc<Answers>, Arc<Pacer>) {
        let inner = Arc::new(Answers(
            Mutex::new(answers.to_vec()),
            std::sync::atomic::AtomicUsize::new(0),
        ));
        let pacer = Arc::new(Pacer::new(HashMap::new(), max_wait));
        let c = PacedConnector {
            inner: SharedHttpConnector::new(ArcConnector(inner.clone())),
            pacer: pacer.clone(),
            fence: None,
        };
        (c, inner, pacer)
    }

    #[derive(Debug)]
    struct ArcConnector(Arc<Answers>);
    impl HttpConnector for ArcConnector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            self.0.call(request)
        }
    }

    fn request(body: &'static str) -> HttpRequest {
        HttpRequest::new(aws_smithy_types::body::SdkBody::from(body))
    }

    #[tokio::test]
    async fn throttled_answers_are_sent_again_at_the_next_token_and_never_surface() {
        let (c, inner, pacer) = connector(&[503, 503, 200], Duration::from_secs(600));
        let r = c
            .call(request("Action=CreateSubnet&Version=2016-11-15"))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(inner.1.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(pacer.stats().throttled["CreateSubnet"], 2);
    }

    #[tokio::test]
    async fn past_the_deadline_a_throttled_answer_is_reported() {
        let (c, inner, _) = connector(&[503, 503], Duration::ZERO);
        let r = c
            .call(request("Action=CreateSubnet&Version=2016-11-15"))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(inner.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn requests_wait_for_their_own_action_only() {
        let (mut c, _, _) = connector(&[200; 8], Duration::from_secs(600));
        // A bucket of 4 refilled 20 times a second: the fifth call waits 50 ms.
        let pacer = Arc::new(Pacer::new(
            HashMap::from([("CreateVpcEndpoint".to_string(), Rate::new(4.0, 20.0))]),
            Duration::from_secs(600),
        ));
        c.pacer = pacer.clone();
        let t0 = Instant::now();
        for _ in 0..5 {
            c.call(request("Action=CreateVpcEndpoint&Version=2016-11-15"))
                .await
                .unwrap();
        }
        let endpoints = t0.elapsed();
        assert!(endpoints >= Duration::from_millis(45), "{endpoints:?}");
        let t1 = Instant::now();
        c.call(request("Action=CreateSubnet&Version=2016-11-15"))
            .await
            .unwrap();
        assert!(
            t1.elapsed() < Duration::from_millis(10),
            "{:?}",
            t1.elapsed()
        );
        assert!(pacer.stats().waited["CreateVpcEndpoint"] >= Duration::from_millis(45));
    }

    #[tokio::test]
    async fn a_write_whose_lease_ran_out_while_it_waited_is_not_sent() {
        let (mut c, inner, _) = connector(&[200, 200], Duration::from_secs(600));
        let fence = crate::aws::Fence::default();
        fence.lose("the apply lock was taken over");
        c.fence = Some(fence);
        let e = c
            .call(request("Action=CreateSubnet&Version=2016-11-15"))
            .await
            .unwrap_err();
        assert!(format!("{e:?}").contains("taken over"), "{e:?}");
        assert_eq!(inner.1.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Reads still go.
        c.call(request("Action=DescribeVpcs&Version=2016-11-15"))
            .await
            .unwrap();
        assert_eq!(inner.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
