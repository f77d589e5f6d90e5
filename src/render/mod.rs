//! Stage 4: everything the user reads on stdout goes through here: the changeset
//! (human or JSON) and apply progress. Diagnostics go through `tracing` to stderr.

pub mod diagnostics;
pub mod graph;
pub mod human;
pub mod json;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::changeset::Action;
use crate::model::Address;

/// Thread-safe line printer for apply/destroy progress.
#[derive(Clone)]
pub struct Progress {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Progress {
    pub fn stdout() -> Progress {
        Progress::to(Box::new(std::io::stdout()))
    }

    pub fn to(w: Box<dyn Write + Send>) -> Progress {
        Progress {
            out: Arc::new(Mutex::new(w)),
        }
    }

    pub fn line(&self, s: &str) {
        let mut o = self.out.lock().expect("progress lock");
        let _ = writeln!(o, "{s}");
        let _ = o.flush();
    }

    fn verbs(action: Action) -> (&'static str, &'static str, &'static str) {
        match action {
            Action::Create => ("Creating...", "Still creating...", "Created"),
            Action::Update => ("Modifying...", "Still modifying...", "Modified"),
            Action::Replace => ("Replacing...", "Still replacing...", "Replaced"),
            Action::Delete => ("Destroying...", "Still destroying...", "Destroyed"),
            Action::NoOp => ("Reading...", "Still reading...", "Read"),
        }
    }

    pub fn started(&self, addr: &Address, action: Action) {
        self.line(&format!("{addr}: {}", Self::verbs(action).0));
    }

    pub fn still(&self, addr: &Address, action: Action, elapsed: Duration) {
        self.line(&format!(
            "{addr}: {} [{}s elapsed]",
            Self::verbs(action).1,
            elapsed.as_secs()
        ));
    }

    pub fn finished(&self, addr: &Address, action: Action, elapsed: Duration, id: Option<&str>) {
        let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
        self.line(&format!(
            "{addr}: {} after {:.1}s{id}",
            Self::verbs(action).2,
            elapsed.as_secs_f64()
        ));
    }

    pub fn failed(&self, addr: &Address, message: &str) {
        self.line(&format!("{addr}: Failed: {message}"));
    }
}

#[cfg(test)]
mod tests;
