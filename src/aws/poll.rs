//! Waiting for SageMaker and EFS (no SDK waiter for what sagevpc waits on): one polling
//! loop, shared by every wait, with one backoff and one timeout message.

use std::future::Future;
use std::time::Duration;

use super::AwsError;

/// What one look found.
pub(crate) enum Look<T> {
    Done(T),
    /// Not yet: the state it is in, for the timeout's message.
    NotYet(String),
}

/// The next poll delay: from 2 s, growing by half to 15 s.
pub(crate) fn next_delay(d: Duration) -> Duration {
    (d * 3 / 2).min(Duration::from_secs(15))
}

/// Look at once, then again after each delay, until `look` is done or fails, or `limit`
/// has passed: then a `Timeout` error of `op` saying what `what` is still.
pub(crate) async fn until<T, F, Fut>(
    op: &'static str,
    what: &str,
    limit: Duration,
    mut look: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Look<T>, AwsError>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut delay = Duration::from_secs(2);
    loop {
        let state = match look().await? {
            Look::Done(t) => return Ok(t),
            Look::NotYet(state) => state,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsError::new(
                op,
                Some("Timeout"),
                format!(
                    "{what} is still {state} after {} minutes",
                    limit.as_secs() / 60
                ),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = next_delay(delay);
    }
}
