//! Plan-file problems the way compilers print them: `error: what`, `--> file:line:col`,
//! the offending line with a caret under the value (labelled with the field), and a
//! `help:` line when a fix is known. Colour only when asked for (a terminal).

use std::fmt::Write;

use anstyle::{AnsiColor, Style as Ansi};

use crate::plan::{Diagnostic, PlanError};

struct Paint {
    color: bool,
}

impl Paint {
    fn with(&self, style: Ansi, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn fg(&self, c: AnsiColor, text: &str) -> String {
        self.with(Ansi::new().bold().fg_color(Some(c.into())), text)
    }
}

/// Every problem of `e`, each as a block; `source` is the plan text the positions refer
/// to (`None`: the blocks carry no source line).
pub fn plan_error(e: &PlanError, source: Option<&str>, color: bool) -> String {
    let p = Paint { color };
    let gutter = e
        .diagnostics
        .iter()
        .map(|d| d.line.to_string().len())
        .max()
        .unwrap_or(1);
    let blocks: Vec<String> = e
        .diagnostics
        .iter()
        .map(|d| one(d, source, gutter, &p))
        .collect();
    blocks.join("\n")
}

fn one(d: &Diagnostic, source: Option<&str>, gutter: usize, p: &Paint) -> String {
    let mut out = String::new();
    let error = p.fg(AnsiColor::Red, "error");
    // toml's syntax errors come on two lines ("invalid table header\nexpected ...").
    let one_line = d.message.trim().replace('\n', ", ");
    let message = p.with(Ansi::new().bold(), &format!(": {one_line}"));
    if d.line == 0 {
        let _ = writeln!(
            out,
            "{error}{}",
            p.with(
                Ansi::new().bold(),
                &format!(": {}: {}", d.file.display(), d.message)
            )
        );
        return out;
    }
    let _ = writeln!(out, "{error}{message}");
    let pad = " ".repeat(gutter);
    let bar = p.fg(AnsiColor::Blue, "|");
    let _ = writeln!(
        out,
        "{pad}{} {}:{}:{}",
        p.fg(AnsiColor::Blue, "-->"),
        d.file.display(),
        d.line,
        d.column
    );
    let text = source.and_then(|s| s.lines().nth(d.line - 1));
    if let Some(text) = text {
        // The caret keeps the line's tabs, so it lines up whatever the tab width.
        let lead: String = text
            .chars()
            .take(d.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = p.fg(AnsiColor::Red, &"^".repeat(d.width.max(1)));
        let label = if d.field.is_empty() {
            String::new()
        } else {
            format!(" {}", p.fg(AnsiColor::Red, &d.field))
        };
        let num = p.fg(AnsiColor::Blue, &format!("{:>gutter$}", d.line));
        let _ = writeln!(out, "{pad} {bar}");
        let _ = writeln!(out, "{num} {bar} {text}");
        let _ = writeln!(out, "{pad} {bar} {lead}{carets}{label}");
    } else if !d.field.is_empty() {
        let _ = writeln!(
            out,
            "{pad} {} field: {}",
            p.fg(AnsiColor::Blue, "="),
            d.field
        );
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{}: {help}", p.fg(AnsiColor::Cyan, "help"));
    }
    out
}
