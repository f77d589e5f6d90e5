//! Apply/destroy progress on a terminal: one spinner per resource in flight (what it
//! is doing, running or waiting, and for how long), a total bar (done of all, how many
//! running, how many left), and the same finished lines the plain output prints,
//! printed above the bars. Only for a terminal; piped output stays plain lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::Address;

pub(super) struct Live {
    multi: MultiProgress,
    total: ProgressBar,
    running: Mutex<HashMap<Address, ProgressBar>>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("a valid progress template")
}

impl Live {
    /// Bars for `resources` resources, drawn to `target`.
    pub(super) fn new(resources: usize, target: ProgressDrawTarget) -> Live {
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(resources as u64));
        total.set_style(style(
            "[{elapsed_precise}] {bar:20} {pos}/{len} resources done{msg}",
        ));
        total.enable_steady_tick(Duration::from_millis(250));
        let live = Live {
            multi,
            total,
            running: Mutex::new(HashMap::new()),
        };
        live.count();
        live
    }

    /// `, 2 running, 5 left` on the total bar.
    fn count(&self) {
        let running = self.running.lock().expect("bars lock").len() as u64;
        let left = self
            .total
            .length()
            .unwrap_or(0)
            .saturating_sub(self.total.position() + running);
        self.total
            .set_message(format!(", {running} running, {left} left"));
    }

    /// A line above the bars (a lasting one: finished, failed, interrupted).
    pub(super) fn println(&self, line: &str) {
        if self.multi.println(line).is_err() {
            // The terminal went away: nothing to draw on.
        }
    }

    /// A spinner for `addr`, saying what it does (`Creating...`).
    pub(super) fn started(&self, addr: &Address, doing: &str) {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new_spinner());
        bar.set_style(style("{spinner} {msg} [{elapsed}]"));
        bar.set_message(format!("{addr}: {doing}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        self.running
            .lock()
            .expect("bars lock")
            .insert(addr.clone(), bar);
        self.count();
    }

    /// `addr` is still at it (waiting for AWS, a token, an endpoint).
    pub(super) fn still(&self, addr: &Address, doing: &str) {
        if let Some(bar) = self.running.lock().expect("bars lock").get(addr) {
            bar.set_message(format!("{addr}: {doing}"));
        }
    }

    /// `addr` is done (or failed): its spinner goes, `line` stays.
    pub(super) fn ended(&self, addr: &Address, line: &str) {
        let bar = self.running.lock().expect("bars lock").remove(addr);
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.println(line);
        self.total.inc(1);
        self.count();
    }

    /// Clear every bar (the run is over).
    pub(super) fn close(&self) {
        for (_, bar) in self.running.lock().expect("bars lock").drain() {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }

    #[cfg(test)]
    pub(super) fn state(&self) -> (u64, usize, String) {
        (
            self.total.position(),
            self.running.lock().expect("bars lock").len(),
            self.total.message(),
        )
    }
}
