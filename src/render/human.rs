//! The changeset as infrastructure engineers read it: `+`, `~`, `-`, `-/+`, and a
//! closing `Plan: N to add, N to change, N to destroy.` Unchanged resources are left
//! out unless asked for; policies print as indented JSON, and a changed one as a line
//! diff; long lists and tag maps print one item a line.

use std::fmt::Write;

use anstyle::{AnsiColor, Style as Ansi};
use serde_json::Value;

use crate::changeset::{Action, Attrs, Changeset, ResourceChange};

/// How to render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// List unchanged resources too.
    pub show_unchanged: bool,
    /// ANSI colours (only for a terminal that wants them).
    pub color: bool,
}

impl Style {
    fn paint(&self, color: AnsiColor, text: &str) -> String {
        if self.color {
            let s = Ansi::new().fg_color(Some(color.into()));
            format!("{s}{text}{s:#}")
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            let s = Ansi::new().bold();
            format!("{s}{text}{s:#}")
        } else {
            text.to_string()
        }
    }

    /// A warning line, as every command prints them.
    pub fn warning(&self, text: &str) -> String {
        format!("{} {text}", self.paint(AnsiColor::Yellow, "Warning:"))
    }

    /// An error line, as every command prints them.
    pub fn error(&self, text: &str) -> String {
        format!("{} {text}", self.paint(AnsiColor::Red, "error:"))
    }
}

/// Longest one-line form of a list before it is printed one item a line.
const WRAP: usize = 60;

/// A value as printed: one line, or several.
fn lines(v: &Value) -> Vec<String> {
    match v {
        Value::Null => vec!["(none)".into()],
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(doc @ Value::Object(_)) if doc.get("Statement").is_some() => {
                serde_json::to_string_pretty(&doc)
                    .expect("json")
                    .lines()
                    .map(str::to_string)
                    .collect()
            }
            _ => vec![v.to_string()],
        },
        Value::Array(items) if v.to_string().len() > WRAP => {
            let mut out = vec!["[".to_string()];
            out.extend(items.iter().map(|i| format!("    {i},")));
            out.push("]".into());
            out
        }
        Value::Object(map) if !map.is_empty() => {
            let w = map.keys().map(|k| k.len() + 2).max().unwrap_or(0);
            let mut out = vec!["{".to_string()];
            out.extend(map.iter().map(|(k, x)| {
                let key = format!("{k:?}");
                format!("    {key:<w$} = {x}")
            }));
            out.push("}".into());
            out
        }
        other => vec![other.to_string()],
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

/// `      key = value` with continuation lines under the value.
fn attr(out: &mut String, mark: &str, key: &str, w: usize, v: &Value, tail: &str) {
    let ls = lines(v);
    let pad = " ".repeat(6);
    let _ = writeln!(out, "    {mark:1} {key:<w$} = {}{tail}", ls[0]);
    for l in &ls[1..] {
        let _ = writeln!(out, "{pad}{l}");
    }
}

/// A changed value: `~ key = a -> b`, or a line diff when either side has several
/// lines.
fn changed(out: &mut String, st: &Style, key: &str, w: usize, b: &Value, a: &Value, tail: &str) {
    let (lb, la) = (lines(b), lines(a));
    if lb.len() == 1 && la.len() == 1 {
        let line = format!("    ~ {key:<w$} = {} -> {}{tail}", lb[0], la[0]);
        let _ = writeln!(out, "{}", st.paint(AnsiColor::Yellow, &line));
        return;
    }
    let _ = writeln!(out, "    ~ {key:<w$} ={tail}");
    let (tb, ta) = (lb.join("\n") + "\n", la.join("\n") + "\n");
    let diff = similar::TextDiff::from_lines(&tb, &ta);
    let pad = " ".repeat(4);
    for change in diff.iter_all_changes() {
        let text = change.value().trim_end_matches('\n');
        let line = match change.tag() {
            similar::ChangeTag::Equal => format!("{pad}  {text}"),
            similar::ChangeTag::Delete => st.paint(AnsiColor::Red, &format!("{pad}- {text}")),
            similar::ChangeTag::Insert => st.paint(AnsiColor::Green, &format!("{pad}+ {text}")),
        };
        let _ = writeln!(out, "{line}");
    }
}

fn header(out: &mut String, st: &Style, c: &ResourceChange, sym: &str, color: AnsiColor) {
    let id =
        c.id.as_ref()
            .map(|i| format!(" [id={i}]"))
            .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {} {}{id}",
        st.paint(color, sym),
        st.bold(&c.address.to_string())
    );
    for r in &c.reasons {
        let _ = writeln!(out, "      # {r}");
    }
}

fn one_side(out: &mut String, attrs: Option<&Attrs>) {
    if let Some(a) = attrs {
        let w = width(&[a]);
        for (k, v) in a {
            attr(out, " ", k, w, v, "");
        }
    }
}

fn both_sides(out: &mut String, st: &Style, c: &ResourceChange) {
    let empty = Attrs::new();
    let before = c.before.as_ref().unwrap_or(&empty);
    let after = c.after.as_ref().unwrap_or(&empty);
    let w = width(&[before, after]);
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let forces = if c.replace_paths.iter().any(|p| p == k) {
            " # forces replacement"
        } else {
            ""
        };
        match (before.get(k), after.get(k)) {
            (Some(b), Some(a)) if b == a => attr(out, " ", k, w, a, ""),
            (Some(b), Some(a)) => changed(out, st, k, w, b, a, forces),
            (None, Some(a)) => attr(out, "+", k, w, a, forces),
            (Some(b), None) => attr(out, "-", k, w, b, forces),
            (None, None) => {}
        }
    }
}

/// Render the whole changeset, unchanged resources left out.
pub fn changeset(cs: &Changeset) -> String {
    changeset_with(cs, &Style::default())
}

pub fn changeset_with(cs: &Changeset, st: &Style) -> String {
    let mut out = String::new();
    for w in &cs.warnings {
        let _ = writeln!(out, "{}", st.warning(w));
    }
    for c in &cs.changes {
        match c.action {
            Action::NoOp if st.show_unchanged => {
                let id =
                    c.id.as_ref()
                        .map(|i| format!(" [id={i}]"))
                        .unwrap_or_default();
                let _ = writeln!(out, "    {}{id}", c.address);
            }
            Action::NoOp => {}
            Action::Create => {
                header(&mut out, st, c, "+", AnsiColor::Green);
                one_side(&mut out, c.after.as_ref());
            }
            Action::Delete => {
                header(&mut out, st, c, "-", AnsiColor::Red);
                one_side(&mut out, c.before.as_ref());
            }
            Action::Update => {
                header(&mut out, st, c, "~", AnsiColor::Yellow);
                both_sides(&mut out, st, c);
            }
            Action::Replace => {
                header(&mut out, st, c, "-/+", AnsiColor::Magenta);
                both_sides(&mut out, st, c);
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
            "\n{} {} to add, {} to change, {} to destroy.",
            st.bold("Plan:"),
            s.add,
            s.change,
            s.destroy
        );
    }
    out
}
