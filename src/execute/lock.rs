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
//!
//! Two guards make it safe where the key pair alone is not:
//! * **Confirmation.** A create that succeeded is confirmed by reading the key pair back
//!   (after [`CONFIRM_SETTLE`]) and checking that its id is ours. AWS never lets two
//!   creates of one name succeed, but LocalStack can (check and insert are not atomic;
//!   the later insert replaces the earlier): the run whose key pair was replaced lost
//!   and waits like any other. `commands` overlaps the confirmation with its re-read.
//! * **Fence.** The holder may write only while its lease is known to be held: the lock
//!   arms the EC2 adapter's [`Fence`](crate::aws::Fence) until the lease's expiry less a
//!   margin, and each renewal first checks that the key pair is still ours. A run that
//!   was paused past its lease (or whose lock was taken over) makes no further
//!   mutating call, even after it wakes up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::aws::{Aws, AwsError};
use crate::observe::Tags;

pub const TAG_EXPIRES: &str = "sagevpc:lock-expires";
pub const TAG_OWNER: &str = "sagevpc:lock-owner";
/// The holder's machine (host name and boot), to know whether its process can be seen.
pub const TAG_HOST: &str = "sagevpc:lock-host";
/// The holder's process: pid and start time (a pid alone can be reused).
pub const TAG_PROCESS: &str = "sagevpc:lock-process";

/// This machine, as long as it runs: its host name and, where the kernel says, its
/// boot (process start times count from it).
fn this_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    format!("{}/{}", name.trim(), boot.trim())
}

/// `pid:start` of a live process, where the kernel says (`/proc/<pid>/stat`, field 22);
/// `None` when there is no such process.
fn process(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    let start = after.split_whitespace().nth(19)?;
    Some(format!("{pid}:{start}"))
}

/// Whether the lock's holder is a process of this machine that no longer runs: its
/// lock can be taken over at once instead of waiting for the lease to expire. Never
/// true for another machine's holder, or where processes cannot be seen.
fn holder_is_gone(tags: &Tags) -> bool {
    let (Some(host), Some(proc_)) = (tags.get(TAG_HOST), tags.get(TAG_PROCESS)) else {
        return false;
    };
    let here = this_host();
    if host != &here || here.ends_with('/') || !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    let Some(pid) = proc_.split(':').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    process(pid).as_deref() != Some(proc_.as_str())
}

/// How long after a successful create the key pair is read back to confirm it is ours.
/// It must exceed an emulator's window between its duplicate check and its insert of a
/// concurrent create. Measured on LocalStack 4.13.1, four creates of one name at once:
/// two or more succeeded in 24 of 40 tries with RSA keys (key generation sits in the
/// window), 6 of 150 with ed25519 keys (only a thread switch does), and then the winners'
/// answers came at most 4.8 ms apart: this is ten times that.
pub const CONFIRM_SETTLE: Duration = Duration::from_millis(50);

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
    ec2: Aws,
    id: String,
    name: String,
    created_at: Instant,
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

/// The lease's expiry tag, `ttl` from now.
fn expiry_tags(ttl: Duration) -> Tags {
    let mut t = Tags::new();
    t.insert(
        TAG_EXPIRES.into(),
        (now() + ttl.as_secs().max(1)).to_string(),
    );
    t
}

/// How long a lease renewed (or taken) at `sent` lets this run write: the lease less a
/// quarter of it, for the expiry tag's whole-second rounding and for the time the
/// renewal itself took.
fn fence_until(sent: Instant, ttl: Duration) -> std::time::Instant {
    (sent + ttl - ttl / 4).into_std()
}

impl PlanLock {
    /// Take the lock of `plan`, waiting up to `wait` for a live holder. `on_wait` is
    /// called when the run starts waiting, then every 10 s, with the time waited. The caller must [`confirm`](Self::confirm)
    /// the lock before it writes.
    pub async fn acquire(
        ec2: &Aws,
        plan: &str,
        ttl: Duration,
        wait: Duration,
        mut on_wait: impl FnMut(&str, Duration),
    ) -> Result<PlanLock, LockError> {
        let name = lock_name(plan);
        let owner = format!(
            "pid {} on {}",
            std::process::id(),
            std::env::var("HOSTNAME").unwrap_or_else(|_| "this host".into())
        );
        let started = Instant::now();
        let deadline = started + wait;
        let mut said: Option<Instant> = None;
        loop {
            let mut tags = expiry_tags(ttl);
            tags.insert(crate::model::TAG_PLAN.into(), plan.into());
            tags.insert(TAG_OWNER.into(), owner.clone());
            tags.insert(TAG_HOST.into(), this_host());
            if let Some(p) = process(std::process::id()) {
                tags.insert(TAG_PROCESS.into(), p);
            }
            let sent = Instant::now();
            if let Some(id) = ec2
                .create_lock_key(&name, &tags)
                .await
                .map_err(LockError::Aws)?
            {
                ec2.fence.hold_until(fence_until(sent, ttl));
                let heartbeat = tokio::spawn(heartbeat(ec2.clone(), id.clone(), name.clone(), ttl));
                return Ok(PlanLock {
                    ec2: ec2.clone(),
                    id,
                    name,
                    created_at: Instant::now(),
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
            if Instant::now() >= deadline {
                return Err(LockError::Busy {
                    owner: holder,
                    expires,
                });
            }
            let gone = holder_is_gone(&tags);
            if expires < now() || gone {
                if gone {
                    eprintln!(
                        "Taking over the apply lock of a run that is no longer running ({holder})."
                    );
                }
                tracing::warn!(lock = %name, holder = %holder, "taking over an expired apply lock (its holder stopped)");
                ec2.delete_lock_key(&id, &name)
                    .await
                    .map_err(LockError::Aws)?;
                let jitter = Duration::from_millis(rand::random::<u64>() % 200);
                tokio::time::sleep(Duration::from_millis(100) + jitter).await;
                continue;
            }
            if said.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                on_wait(&holder, started.elapsed());
                said = Some(Instant::now());
            }
            let jitter = Duration::from_millis(rand::random::<u64>() % 300);
            tokio::time::sleep(Duration::from_millis(700) + jitter).await;
        }
    }

    /// Read the key pair back (no sooner than [`CONFIRM_SETTLE`] after it was created)
    /// and check that it is still ours. `Ok(false)`: another run's create of the same
    /// name replaced ours (an emulator's race); this lock is then given up without
    /// deleting anything, and writes stay forbidden.
    pub async fn confirm(&self) -> Result<bool, AwsError> {
        tokio::time::sleep_until(self.created_at + CONFIRM_SETTLE).await;
        let ours = matches!(
            self.ec2.describe_lock_key(&self.name).await?,
            Some((id, _)) if id == self.id
        );
        if !ours {
            self.heartbeat.abort();
            self.ec2
                .fence
                .lose("another run took the apply lock at the same moment");
        }
        Ok(ours)
    }

    /// Let go of a lock that [`confirm`](Self::confirm) found was not ours: nothing to
    /// delete (the key pair of that name belongs to the other run).
    pub fn forfeit(self) {
        self.heartbeat.abort();
        self.ec2.fence.disarm();
    }

    pub async fn release(self) {
        self.heartbeat.abort();
        // While the lease is held no other run can have replaced the key pair, so the
        // name is exact (one call); otherwise delete by id and check.
        let released = if self.ec2.fence.check().is_ok() {
            self.ec2.delete_lock_key_by_name(&self.name).await
        } else {
            self.ec2.delete_lock_key(&self.id, &self.name).await
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "releasing the apply lock failed; it expires by itself");
        }
        self.ec2.fence.disarm();
    }
}

/// Renew the lease every third of `ttl` while the run works. Each renewal first checks
/// that the key pair is still ours (an expired lease can be taken over), then moves the
/// expiry and extends the fence. Once the fence ran out nothing renews it.
async fn heartbeat(ec2: Aws, id: String, name: String, ttl: Duration) {
    let every = (ttl / 3).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(every).await;
        if ec2.fence.check().is_err() {
            return;
        }
        let sent = Instant::now();
        match ec2.describe_lock_key(&name).await {
            Ok(Some((cur, _))) if cur == id => {}
            Ok(_) => {
                tracing::warn!(lock = %name, "the apply lock was taken over by another run; making no further change");
                ec2.fence.lose(
                    "the apply lock was taken over by another run (this run's lease had expired); this run makes no further change",
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing the apply lock failed");
                continue;
            }
        }
        match ec2.renew_lock_key(&id, &expiry_tags(ttl)).await {
            Ok(()) => ec2.fence.hold_until(fence_until(sent, ttl)),
            Err(e) => tracing::warn!(error = %e, "renewing the apply lock failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: String, process: Option<String>) -> Tags {
        let mut t = Tags::new();
        t.insert(TAG_HOST.into(), host);
        if let Some(p) = process {
            t.insert(TAG_PROCESS.into(), p);
        }
        t
    }

    #[test]
    fn a_holder_that_no_longer_runs_here_is_gone_and_no_other_is() {
        let me = process(std::process::id()).expect("this process is seen");
        assert!(
            !holder_is_gone(&holder(this_host(), Some(me.clone()))),
            "alive"
        );
        // A pid that runs, but started at another time: the pid was reused.
        let reused = format!("{}:1", std::process::id());
        assert!(holder_is_gone(&holder(this_host(), Some(reused))));
        // No such process (pids stay below 2^22 on Linux).
        assert!(holder_is_gone(&holder(
            this_host(),
            Some("4194305:1".into())
        )));
        // Another machine's holder, or one without the tags, is never judged.
        assert!(!holder_is_gone(&holder(
            "elsewhere/boot".into(),
            Some("4194305:1".into())
        )));
        assert!(!holder_is_gone(&holder(this_host(), None)));
    }
}
