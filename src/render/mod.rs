//! Stage 4: everything the user reads on stdout goes through here: the changeset
//! (human or JSON) and apply progress. Diagnostics go through `tracing` to stderr.

pub mod adopt;
pub mod audit;
pub mod diagnostics;
pub mod graph;
pub mod human;
pub mod json;
mod live;
pub mod outputs;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::changeset::Action;
use crate::model::Address;

/// Thread-safe printer for apply/destroy progress: plain lines, or on a terminal live
/// bars with the same lasting lines above them.
#[derive(Clone)]
pub struct Progress {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    live: Option<Arc<live::Live>>,
}

impl Progress {
    pub fn stdout() -> Progress {
        Progress::to(Box::new(std::io::stdout()))
    }

    pub fn to(w: Box<dyn Write + Send>) -> Progress {
        Progress {
            out: Arc::new(Mutex::new(w)),
            live: None,
        }
    }

    /// Live bars on stdout (a terminal) for a run of `resources` resources.
    pub fn terminal(resources: usize) -> Progress {
        let mut p = Progress::stdout();
        p.live = Some(Arc::new(live::Live::new(
            resources,
            indicatif::ProgressDrawTarget::stdout(),
        )));
        p
    }

    /// Clear the live bars, once the run is over (plain lines: nothing to do).
    pub fn close(&self) {
        if let Some(live) = &self.live {
            live.close();
        }
    }

    pub fn line(&self, s: &str) {
        if let Some(live) = &self.live {
            return live.println(s);
        }
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
        if let Some(live) = &self.live {
            return live.started(addr, Self::verbs(action).0);
        }
        self.line(&format!("{addr}: {}", Self::verbs(action).0));
    }

    pub fn still(&self, addr: &Address, action: Action, elapsed: Duration) {
        if let Some(live) = &self.live {
            return live.still(addr, Self::verbs(action).1);
        }
        self.line(&format!(
            "{addr}: {} [{}s elapsed]",
            Self::verbs(action).1,
            elapsed.as_secs()
        ));
    }

    pub fn finished(&self, addr: &Address, action: Action, elapsed: Duration, id: Option<&str>) {
        let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
        let line = format!(
            "{addr}: {} after {:.1}s{id}",
            Self::verbs(action).2,
            elapsed.as_secs_f64()
        );
        match &self.live {
            Some(live) => live.ended(addr, &line),
            None => self.line(&line),
        }
    }

    pub fn failed(&self, addr: &Address, message: &str) {
        let line = format!("{addr}: Failed: {message}");
        match &self.live {
            Some(live) => live.ended(addr, &line),
            None => self.line(&line),
        }
    }
}

#[cfg(test)]
mod tests;
