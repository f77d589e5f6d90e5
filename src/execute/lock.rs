//! The apply lock: one run of a plan changes AWS at a time.
//!
//! There is no state store, so the lock is an EC2 key pair named
//! `sagevpc-lock-<plan>`: `CreateKeyPair` either creates it or fails with
//! `InvalidKeyPair.Duplicate`, atomically, in every region. The holder tags it with an
//! expiry (`sagevpc:lock-expires`, unix seconds) and renews it while it works; a run
//! that finds an expired lock (its holder was killed) deletes that exact key pair by id
//! and competes again. A run that finds a live lock waits for it.
//!
//! The lock is taken only when there is something to change, so a no-op `plan` or
//! `apply` makes no mutating call.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use crate::aws::{AwsError, Ec2};
use crate::observe::Tags;

pub const TAG_EXPIRES: &str = "sagevpc:lock-expires";
pub const TAG_OWNER: &str = "sagevpc:lock-owner";

pub fn lock_name(plan: &str) -> String {
    format!("sagevpc-lock-{plan}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub struct PlanLock {
    ec2: Ec2,
    id: String,
    name: String,
    heartbeat: JoinHandle<()>,
}

#[derive(Debug)]
pub enum LockError {
    Aws(AwsError),
    Busy { owner: String, expires: u64 },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Aws(e) => write!(f, "taking the apply lock failed: {e}"),
            LockError::Busy { owner, expires } => write!(
                f,
                "another run ({owner}) holds the apply lock of this plan and kept it past the wait limit; its lock expires in {}s unless renewed",
                expires.saturating_sub(now())
            ),
        }
    }
}

impl PlanLock {
    /// Take the lock of `plan`, waiting up to `wait` for a live holder. `on_wait` is
    /// called once when the run starts waiting.
    pub async fn acquire(
        ec2: &Ec2,
        plan: &str,
        ttl: Duration,
        wait: Duration,
        on_wait: impl FnOnce(&str),
    ) -> Result<PlanLock, LockError> {
        let name = lock_name(plan);
        let owner = format!(
            "pid {} on {}",
            std::process::id(),
            std::env::var("HOSTNAME").unwrap_or_else(|_| "this host".into())
        );
        let deadline = tokio::time::Instant::now() + wait;
        let mut on_wait = Some(on_wait);
        loop {
            let mut tags = Tags::new();
            tags.insert(crate::model::TAG_PLAN.into(), plan.into());
            tags.insert(TAG_OWNER.into(), owner.clone());
            tags.insert(
                TAG_EXPIRES.into(),
                (now() + ttl.as_secs().max(1)).to_string(),
            );
            if let Some(id) = ec2
                .create_lock_key(&name, &tags)
                .await
                .map_err(LockError::Aws)?
            {
                let hb_ec2 = ec2.clone();
                let hb_id = id.clone();
                let heartbeat = tokio::spawn(async move {
                    let every = (ttl / 3).max(Duration::from_millis(500));
                    loop {
                        tokio::time::sleep(every).await;
                        let mut t = Tags::new();
                        t.insert(
                            TAG_EXPIRES.into(),
                            (now() + ttl.as_secs().max(1)).to_string(),
                        );
                        if let Err(e) = hb_ec2.create_tags(&hb_id, &t).await {
                            tracing::warn!(error = %e, "renewing the apply lock failed");
                        }
                    }
                });
                return Ok(PlanLock {
                    ec2: ec2.clone(),
                    id,
                    name,
                    heartbeat,
                });
            }
            let Some((id, tags)) = ec2.describe_lock_key(&name).await.map_err(LockError::Aws)?
            else {
                continue; // released between our create and describe: try again
            };
            let expires: u64 = tags
                .get(TAG_EXPIRES)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let holder = tags
                .get(TAG_OWNER)
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            if tokio::time::Instant::now() >= deadline {
                return Err(LockError::Busy {
                    owner: holder,
                    expires,
                });
            }
            if expires < now() {
                tracing::warn!(lock = %name, holder = %holder, "taking over an expired apply lock (its holder stopped)");
                ec2.delete_lock_key(&id, &name)
                    .await
                    .map_err(LockError::Aws)?;
                let jitter = Duration::from_millis(rand::random::<u64>() % 200);
                tokio::time::sleep(Duration::from_millis(100) + jitter).await;
                continue;
            }
            if let Some(f) = on_wait.take() {
                f(&holder);
            }
            let jitter = Duration::from_millis(rand::random::<u64>() % 300);
            tokio::time::sleep(Duration::from_millis(700) + jitter).await;
        }
    }

    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.ec2.delete_lock_key(&self.id, &self.name).await {
            tracing::warn!(error = %e, "releasing the apply lock failed; it expires by itself");
        }
    }
}
