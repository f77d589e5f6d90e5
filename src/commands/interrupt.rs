//! Ctrl-C during `apply`/`destroy`: the first interrupt stops the run at the next safe
//! point (calls in flight finish, nothing new starts, the apply lock is released, what
//! was and was not done is said, exit 130); a second one stops at once (the lock then
//! expires after `--lock-ttl`, or is taken over by the next run on this machine).

use tokio::sync::watch;

/// Exit code of a run stopped by an interrupt (128 + SIGINT), as shells expect.
pub const INTERRUPTED: u8 = 130;

/// Whether the user asked the run to stop.
#[derive(Clone)]
pub struct Interrupt(watch::Receiver<bool>);

impl Interrupt {
    /// Listen for Ctrl-C (SIGINT) for the rest of the process.
    pub fn listen() -> Interrupt {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!("\nInterrupt received: stopping at the next safe point (Ctrl-C again stops at once).");
            let _ = tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Second interrupt: stopping now. The apply lock expires after --lock-ttl (a run on this machine takes it over at once).");
                std::process::exit(i32::from(INTERRUPTED));
            }
        });
        Interrupt(rx)
    }

    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once an interrupt is requested.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.0.clone()
    }
}
