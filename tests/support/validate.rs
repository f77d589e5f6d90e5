//! Helpers the validation tests share: edit a plan text, accept or reject it, and
//! check where a diagnostic points. Included with `#[path]` (not a test of its own).

#![allow(dead_code)]

use std::path::Path;

use sagevpc::plan::{validate_source, Diagnostic, Plan};

/// The path every plan text is validated as.
pub const FILE: &str = "/plans/test-plan.toml";

/// `text` with the single occurrence of `from` replaced by `to`.
#[track_caller]
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "test bug: {from:?} must occur once"
    );
    text.replacen(from, to, 1)
}

#[track_caller]
pub fn accept(text: &str) -> Plan {
    validate_source(Path::new(FILE), text).unwrap_or_else(|e| panic!("rejected: {e}\n{text}"))
}

/// Every diagnostic of a plan that must be rejected.
#[track_caller]
pub fn reject(text: &str) -> Vec<Diagnostic> {
    match validate_source(Path::new(FILE), text) {
        Ok(_) => panic!("accepted but must be rejected:\n{text}"),
        Err(e) => {
            for d in &e.diagnostics {
                assert_eq!(d.file, Path::new(FILE), "{d}");
            }
            e.diagnostics
        }
    }
}

#[track_caller]
pub fn reject_one(text: &str) -> Diagnostic {
    let d = reject(text);
    assert_eq!(d.len(), 1, "expected one diagnostic, got:\n{d:#?}");
    d.into_iter().next().unwrap()
}

/// 1-based (line, column) of the first occurrence of `needle`.
#[track_caller]
pub fn pos(text: &str, needle: &str) -> (usize, usize) {
    let at = text.find(needle).expect("test bug: needle not in text");
    let line = text[..at].matches('\n').count() + 1;
    let start = text[..at].rfind('\n').map_or(0, |p| p + 1);
    (line, text[start..at].chars().count() + 1)
}

/// The diagnostic is at `at`, for `field`, and its message has `has`.
#[track_caller]
pub fn assert_diag(d: &Diagnostic, at: (usize, usize), field: &str, has: &str) {
    assert_eq!((d.line, d.column), at, "position of {d}");
    assert_eq!(d.field, field, "field of {d}");
    assert!(d.message.contains(has), "message of {d} lacks {has:?}");
}
