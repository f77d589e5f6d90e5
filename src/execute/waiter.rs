//! VPC endpoint waiter. The SDK has none, so this one polls DescribeVpcEndpoints for
//! every pending endpoint in one call per poll, with backoff starting near 1 s.
//! `failed` reports AWS's `LastError`; a timeout names the endpoint and its last state.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Mutex, Notify};
use tokio::time::Instant;

use crate::aws::AwsError;
use crate::resources::endpoint::EndpointStatus;

/// The state an endpoint is waited into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Available,
    Deleted,
}

impl Target {
    fn word(self) -> &'static str {
        match self {
            Target::Available => "available",
            Target::Deleted => "deleted",
        }
    }
}

struct Pending {
    target: Target,
    label: String,
    deadline: Instant,
    started: Instant,
    last_state: String,
    done: oneshot::Sender<Result<(), String>>,
}

type PollFn = Arc<
    dyn Fn(
            Vec<String>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<EndpointStatus>, AwsError>> + Send>>
        + Send
        + Sync,
>;

/// Shared by every task of one apply.
#[derive(Clone)]
pub struct EndpointWaiter {
    inner: Arc<Mutex<Inner>>,
    /// Wakes the poll loop when an endpoint starts waiting, so that it is polled soon
    /// rather than at the loop's backed-off pace.
    arrived: Arc<Notify>,
    poll: PollFn,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Polls in a row that may fail (each already retried by the SDK) before every
    /// pending wait fails with the last error: a run that lost AWS gives up promptly
    /// instead of polling until each wait's timeout.
    pub max_failed_polls: u32,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<String, Pending>,
    running: bool,
}

impl EndpointWaiter {
    pub fn new<F, Fut>(poll: F) -> Self
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<EndpointStatus>, AwsError>> + Send + 'static,
    {
        EndpointWaiter {
            inner: Arc::new(Mutex::new(Inner::default())),
            arrived: Arc::new(Notify::new()),
            poll: Arc::new(move |ids| Box::pin(poll(ids))),
            initial_delay: Duration::from_millis(1000),
            max_delay: Duration::from_secs(10),
            max_failed_polls: 3,
        }
    }

    /// Wait until endpoint `id` reaches `target`, or fail with a message naming `label`.
    pub async fn wait(
        &self,
        id: &str,
        label: &str,
        target: Target,
        timeout: Duration,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let start_loop = {
            let mut inner = self.inner.lock().await;
            let now = Instant::now();
            inner.pending.insert(
                id.to_string(),
                Pending {
                    target,
                    label: label.to_string(),
                    deadline: now + timeout,
                    started: now,
                    last_state: "unknown".into(),
                    done: tx,
                },
            );
            !std::mem::replace(&mut inner.running, true)
        };
        if start_loop {
            let me = self.clone();
            tokio::spawn(async move { me.run().await });
        } else {
            self.arrived.notify_one();
        }
        rx.await
            .unwrap_or_else(|_| Err(format!("{label}: waiter stopped")))
    }

    async fn run(self) {
        // The first poll comes quickly: LocalStack and many real creates are fast.
        let quick = self.initial_delay / 4;
        let mut delay = quick;
        let mut failed_polls = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.arrived.notified() => tokio::time::sleep(quick).await,
            }
            let ids: Vec<String> = {
                let inner = self.inner.lock().await;
                inner.pending.keys().cloned().collect()
            };
            if ids.is_empty() {
                let mut inner = self.inner.lock().await;
                if inner.pending.is_empty() {
                    inner.running = false;
                    return;
                }
                continue;
            }
            let result = (self.poll)(ids).await;
            let mut inner = self.inner.lock().await;
            let now = Instant::now();
            match result {
                Ok(statuses) => {
                    failed_polls = 0;
                    for st in statuses {
                        let Some(p) = inner.pending.get_mut(&st.id) else {
                            continue;
                        };
                        p.last_state = st.state.clone();
                        let outcome = match (p.target, st.state.as_str()) {
                            (Target::Available, "available") => Some(Ok(())),
                            (Target::Available, "pendingacceptance") => Some(Err(format!(
                                "{} ({}) is pendingAcceptance: the service owner must accept the connection",
                                p.label, st.id
                            ))),
                            (Target::Available, "failed" | "rejected" | "deleted" | "deleting" | "expired") => {
                                Some(Err(format!(
                                    "{} ({}) entered state {} instead of available{}",
                                    p.label,
                                    st.id,
                                    st.state,
                                    st.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                                )))
                            }
                            (Target::Deleted, "deleted") => Some(Ok(())),
                            (Target::Deleted, "failed") => Some(Err(format!(
                                "{} ({}) failed to delete{}",
                                p.label,
                                st.id,
                                st.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                            ))),
                            _ => None,
                        };
                        if let Some(o) = outcome {
                            let p = inner.pending.remove(&st.id).expect("present");
                            let _ = p.done.send(o);
                        }
                    }
                }
                Err(e) => {
                    failed_polls += 1;
                    if failed_polls < self.max_failed_polls.max(1) {
                        tracing::warn!(error = %e, "polling endpoint states failed; will retry");
                    } else {
                        tracing::warn!(error = %e, "polling endpoint states failed {failed_polls} times in a row; giving up");
                        for (id, p) in inner.pending.drain() {
                            let _ = p.done.send(Err(format!(
                                "cannot read the state of {} ({id}), last seen {}: {failed_polls} polls in a row failed, the last with: {e}",
                                p.label, p.last_state
                            )));
                        }
                    }
                }
            }
            let expired: Vec<String> = inner
                .pending
                .iter()
                .filter(|(_, p)| now >= p.deadline)
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                let p = inner.pending.remove(&id).expect("present");
                let msg = format!(
                    "timed out after {:.0}s waiting for {} ({id}) to become {}; last state: {}",
                    now.duration_since(p.started).as_secs_f64(),
                    p.label,
                    p.target.word(),
                    p.last_state
                );
                let _ = p.done.send(Err(msg));
            }
            if inner.pending.is_empty() {
                inner.running = false;
                return;
            }
            delay = if delay < self.initial_delay {
                self.initial_delay
            } else {
                (delay * 3 / 2).min(self.max_delay)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Real time, scaled down: 1 s of production backoff is 40 ms here.
    fn fast(mut w: EndpointWaiter) -> EndpointWaiter {
        w.initial_delay = Duration::from_millis(40);
        w.max_delay = Duration::from_millis(400);
        w
    }

    fn status(id: &str, state: &str, err: Option<&str>) -> EndpointStatus {
        EndpointStatus {
            id: id.into(),
            state: state.into(),
            last_error: err.map(str::to_string),
        }
    }

    #[tokio::test]
    async fn polls_all_pending_endpoints_in_one_call() {
        let calls = Arc::new(AtomicUsize::new(0));
        let max_batch = Arc::new(AtomicUsize::new(0));
        let (c, m) = (calls.clone(), max_batch.clone());
        let w = fast(EndpointWaiter::new(move |ids: Vec<String>| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            m.fetch_max(ids.len(), Ordering::SeqCst);
            async move {
                Ok(ids
                    .iter()
                    .map(|id| status(id, if n >= 2 { "available" } else { "pending" }, None))
                    .collect())
            }
        }));
        let t = Duration::from_secs(600);
        let (a, b, c3) = tokio::join!(
            w.wait("vpce-1", "interface_endpoint.sts", Target::Available, t),
            w.wait("vpce-2", "interface_endpoint.logs", Target::Available, t),
            w.wait("vpce-3", "interface_endpoint.studio", Target::Available, t),
        );
        assert_eq!((a, b, c3), (Ok(()), Ok(()), Ok(())));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "one call per poll for all three"
        );
        assert_eq!(max_batch.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_late_arrival_is_polled_soon_not_at_the_backed_off_pace() {
        let w = fast(EndpointWaiter::new(|ids: Vec<String>| async move {
            Ok(ids
                .iter()
                .map(|id| {
                    status(
                        id,
                        if id == "vpce-slow" {
                            "pending"
                        } else {
                            "available"
                        },
                        None,
                    )
                })
                .collect())
        }));
        let slow = w.clone();
        let bg = tokio::spawn(async move {
            slow.wait(
                "vpce-slow",
                "a",
                Target::Available,
                Duration::from_millis(1500),
            )
            .await
        });
        // Let the loop back off (40 ms, 60, 90, 135, 202, ...).
        tokio::time::sleep(Duration::from_millis(600)).await;
        let t = Instant::now();
        w.wait("vpce-fast", "b", Target::Available, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );
        assert!(bg.await.unwrap().is_err(), "the slow one times out");
    }

    #[tokio::test]
    async fn failed_endpoint_reports_last_error() {
        let w = fast(EndpointWaiter::new(|ids: Vec<String>| async move {
            Ok(ids
                .iter()
                .map(|id| {
                    status(
                        id,
                        "failed",
                        Some("InvalidParameter: subnet has no free IPs"),
                    )
                })
                .collect())
        }));
        let err = w
            .wait(
                "vpce-9",
                "interface_endpoint.sts",
                Target::Available,
                Duration::from_secs(60),
            )
            .await
            .unwrap_err();
        assert!(err.contains("interface_endpoint.sts"), "{err}");
        assert!(err.contains("failed"), "{err}");
        assert!(err.contains("subnet has no free IPs"), "{err}");
    }

    #[tokio::test]
    async fn timeout_names_the_resource_and_its_state() {
        let w = fast(EndpointWaiter::new(|ids: Vec<String>| async move {
            Ok(ids.iter().map(|id| status(id, "pending", None)).collect())
        }));
        let err = w
            .wait(
                "vpce-7",
                "interface_endpoint.logs",
                Target::Available,
                Duration::from_millis(300),
            )
            .await
            .unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("interface_endpoint.logs (vpce-7)"), "{err}");
        assert!(err.contains("last state: pending"), "{err}");
    }

    #[tokio::test]
    async fn backoff_starts_near_one_second() {
        let times = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t2 = times.clone();
        let start = Instant::now();
        let w = fast(EndpointWaiter::new(move |ids: Vec<String>| {
            t2.lock().unwrap().push(start.elapsed());
            let n = t2.lock().unwrap().len();
            async move {
                Ok(ids
                    .iter()
                    .map(|id| status(id, if n >= 4 { "available" } else { "pending" }, None))
                    .collect())
            }
        }));
        w.wait("vpce-1", "x", Target::Available, Duration::from_secs(600))
            .await
            .unwrap();
        let t = times.lock().unwrap().clone();
        // First poll after a quarter of the initial delay, then the initial delay (the
        // scaled "near 1 s"), then growing.
        assert!(t[0] <= Duration::from_millis(30), "{t:?}");
        let gap = t[1] - t[0];
        assert!(
            gap >= Duration::from_millis(38) && gap <= Duration::from_millis(80),
            "{t:?}"
        );
        assert!(t[3] - t[2] > gap, "backoff grows: {t:?}");
    }

    #[tokio::test]
    async fn unreachable_aws_fails_every_wait_after_a_few_polls_not_at_the_timeout() {
        let polls = Arc::new(AtomicUsize::new(0));
        let p2 = polls.clone();
        let w = fast(EndpointWaiter::new(move |_ids: Vec<String>| {
            p2.fetch_add(1, Ordering::SeqCst);
            async move {
                Err(AwsError::new(
                    "DescribeVpcEndpoints",
                    None,
                    "dispatch failure: connection refused",
                ))
            }
        }));
        let start = Instant::now();
        let (a, b) = tokio::join!(
            w.wait(
                "vpce-1",
                "interface_endpoint.sts",
                Target::Deleted,
                Duration::from_secs(600)
            ),
            w.wait(
                "vpce-2",
                "interface_endpoint.logs",
                Target::Available,
                Duration::from_secs(600)
            ),
        );
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        assert_eq!(
            polls.load(Ordering::SeqCst),
            3,
            "gives up on the third failed poll"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(a.contains("interface_endpoint.sts (vpce-1)"), "{a}");
        assert!(a.contains("3 polls in a row failed"), "{a}");
        assert!(a.contains("connection refused"), "{a}");
        assert!(b.contains("interface_endpoint.logs (vpce-2)"), "{b}");
    }

    #[tokio::test]
    async fn a_failed_poll_between_good_ones_is_forgiven() {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let w = fast(EndpointWaiter::new(move |ids: Vec<String>| {
            let k = n2.fetch_add(1, Ordering::SeqCst);
            async move {
                match k {
                    // fail, fail, answer pending, fail, fail, answer available
                    0 | 1 | 3 | 4 => Err(AwsError::new("DescribeVpcEndpoints", None, "reset")),
                    2 => Ok(ids.iter().map(|id| status(id, "pending", None)).collect()),
                    _ => Ok(ids.iter().map(|id| status(id, "available", None)).collect()),
                }
            }
        }));
        w.wait("vpce-3", "x", Target::Available, Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 6);
    }
}
