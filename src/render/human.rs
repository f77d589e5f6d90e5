//! The changeset as infrastructure engineers read it: `+`, `~`, `-`, `-/+`, and a
//! closing `Plan: N to add, N to change, N to destroy.`

use std::fmt::Write;

use serde_json::Value;

use crate::changeset::{Action, Attrs, Changeset};

fn value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    }
}

fn width(attrs: &[&Attrs]) -> usize {
    attrs
        .iter()
        .flat_map(|a| a.keys())
        .map(|k| k.len())
        .max()
        .unwrap_or(0)
}

/// Render the whole changeset.
pub fn changeset(cs: &Changeset) -> String {
    let mut out = String::new();
    for w in &cs.warnings {
        let _ = writeln!(out, "Warning: {w}");
    }
    for c in &cs.changes {
        let id =
            c.id.as_ref()
                .map(|i| format!(" [id={i}]"))
                .unwrap_or_default();
        match c.action {
            Action::NoOp => {
                let _ = writeln!(out, "    {}{id}", c.address);
            }
            Action::Create => {
                let _ = writeln!(out, "  + {}", c.address);
                for r in &c.reasons {
                    let _ = writeln!(out, "      # {r}");
                }
                if let Some(after) = &c.after {
                    let w = width(&[after]);
                    for (k, v) in after {
                        let _ = writeln!(out, "      {k:<w$} = {}", value(v));
                    }
                }
            }
            Action::Delete => {
                let _ = writeln!(out, "  - {}{id}", c.address);
                for r in &c.reasons {
                    let _ = writeln!(out, "      # {r}");
                }
                if let Some(before) = &c.before {
                    let w = width(&[before]);
                    for (k, v) in before {
                        let _ = writeln!(out, "      {k:<w$} = {}", value(v));
                    }
                }
            }
            Action::Update | Action::Replace => {
                let sym = if c.action == Action::Update {
                    "~"
                } else {
                    "-/+"
                };
                let _ = writeln!(out, "  {sym} {}{id}", c.address);
                for r in &c.reasons {
                    let _ = writeln!(out, "      # {r}");
                }
                let empty = Attrs::new();
                let before = c.before.as_ref().unwrap_or(&empty);
                let after = c.after.as_ref().unwrap_or(&empty);
                let w = width(&[before, after]);
                let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let b = before.get(k);
                    let a = after.get(k);
                    let forces = if c.replace_paths.iter().any(|p| p == k) {
                        " # forces replacement"
                    } else {
                        ""
                    };
                    match (b, a) {
                        (Some(b), Some(a)) if b == a => {
                            let _ = writeln!(out, "      {k:<w$} = {}", value(a));
                        }
                        (Some(b), Some(a)) => {
                            let _ = writeln!(
                                out,
                                "    ~ {k:<w$} = {} -> {}{forces}",
                                value(b),
                                value(a)
                            );
                        }
                        (None, Some(a)) => {
                            let _ = writeln!(out, "    + {k:<w$} = {}{forces}", value(a));
                        }
                        (Some(b), None) => {
                            let _ = writeln!(out, "    - {k:<w$} = {}{forces}", value(b));
                        }
                        (None, None) => {}
                    }
                }
            }
        }
    }
    let s = cs.summary();
    if s.add + s.change + s.destroy == 0 && cs.nodes.is_empty() {
        let _ = writeln!(
            out,
            "\nNo changes. AWS matches plan {:?} in {}.",
            cs.plan, cs.region
        );
    } else {
        let _ = writeln!(
            out,
            "\nPlan: {} to add, {} to change, {} to destroy.",
            s.add, s.change, s.destroy
        );
    }
    out
}
