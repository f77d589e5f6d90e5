//! Property tests: parsing and validating any text never panics, every rejection is
//! located, and every accepted plan is internally consistent.
//!
//! Case count: `PROPTEST_CASES` (per property), default below. The total number of
//! validator executions is printed at the end of each property (`--nocapture`).

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sagevpc::model::Peer;
use sagevpc::plan::{validate_source, Plan, Ref, VpcSpec};

/// Cases per property when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 2000;

thread_local! {
    /// Inputs checked by the current property (a runner runs on its test's thread).
    static EXECUTIONS: Cell<usize> = const { Cell::new(0) };
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// The shipped plans, validated as if they sat in `plans/` (so the studio plan's
/// policy file resolves and mutations reach the semantic checks).
fn plans_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plans")
}

const STUDIO: &str = include_str!("../plans/studio-vpc.toml");
const MINIMAL: &str = include_str!("../plans/minimal.toml");

/// Validate `text` (twice) and check the invariants of the outcome. `Ok(true)` when
/// the plan was accepted.
fn check(text: &str) -> Result<bool, TestCaseError> {
    EXECUTIONS.with(|n| n.set(n.get() + 1));
    let path = plans_dir().join("fuzz.toml");
    let first = validate_source(&path, text);
    // Deterministic: the same text gives the same answer.
    let again = validate_source(&path, text);
    match (&first, &again) {
        (Ok(a), Ok(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => prop_assert_eq!(&a.diagnostics, &b.diagnostics),
        _ => prop_assert!(false, "validation is not deterministic"),
    }
    let accepted = first.is_ok();
    match first {
        Err(e) => {
            prop_assert!(!e.diagnostics.is_empty(), "rejection without a diagnostic");
            let lines = text.split('\n').count();
            for d in &e.diagnostics {
                prop_assert!(!d.file.as_os_str().is_empty(), "no file: {d:?}");
                prop_assert_eq!(&d.file, &path);
                prop_assert!(d.line > 0 || !d.message.is_empty(), "unlocated: {d:?}");
                prop_assert!(!d.message.trim().is_empty(), "no message: {d:?}");
                // validate_source always has a position inside the text.
                prop_assert!(d.line >= 1 && d.line <= lines, "line out of range: {d:?}");
                let line_chars = text.split('\n').nth(d.line - 1).unwrap().chars().count();
                prop_assert!(
                    d.column >= 1 && d.column <= line_chars + 1,
                    "column out of range ({line_chars} chars): {d:?}"
                );
                prop_assert!(!d.field.contains("$__"), "serde internals leaked: {d:?}");
                // Display never panics and starts with the location.
                let shown = d.to_string();
                let location = format!("{}:{}:{}", path.display(), d.line, d.column);
                prop_assert!(shown.starts_with(&location), "{}", shown);
            }
        }
        Ok(plan) => consistent(&plan)?,
    }
    Ok(accepted)
}

/// What an accepted plan guarantees to the later stages.
fn consistent(p: &Plan) -> Result<(), TestCaseError> {
    prop_assert!(!p.name.is_empty() && p.name.trim() == p.name);
    let vpc_cidr = match &p.vpc {
        VpcSpec::Owned { cidr } => {
            prop_assert!((16..=28).contains(&cidr.prefix_len()));
            Some(*cidr)
        }
        VpcSpec::Adopted { id, .. } => {
            prop_assert!(id.starts_with("vpc-"));
            None
        }
    };
    let subnets: Vec<_> = p.subnets.iter().collect();
    for (i, (k, s)) in subnets.iter().enumerate() {
        prop_assert!(s.availability_zone.starts_with(&p.region), "{k}");
        prop_assert_eq!(s.cidr.trunc(), s.cidr);
        if let Some(v) = vpc_cidr {
            prop_assert!(v.contains(&s.cidr), "{k} outside the VPC");
        }
        for (k2, s2) in &subnets[i + 1..] {
            prop_assert!(
                !s.cidr.contains(&s2.cidr) && !s2.cidr.contains(&s.cidr),
                "{k} overlaps {k2}"
            );
        }
    }
    for (k, g) in &p.security_groups {
        prop_assert!(k != "self");
        for r in &g.rules {
            match &r.peer {
                Peer::Group(other) => {
                    prop_assert!(p.security_groups.contains_key(other), "{k}: {other}");
                    prop_assert!(other != k, "own group must be `self`");
                }
                Peer::ForeignGroup(_) => prop_assert!(false, "a plan names no foreign group"),
                Peer::SelfGroup | Peer::Cidr(_) | Peer::PrefixList(_) | Peer::VpcCidr => {}
            }
            if let Some((a, b)) = r.ports {
                prop_assert!(0 <= a && a <= b && b <= 65535);
            }
        }
    }
    if !p.gateway_endpoints.is_empty() {
        prop_assert!(p.has_route_table());
    }
    for (s, e) in &p.interface_endpoints {
        prop_assert!(!e.subnets.is_empty());
        let mut azs = BTreeSet::new();
        for r in &e.subnets {
            if let Ref::Key(k) = r {
                let sub = p.subnets.get(k);
                prop_assert!(sub.is_some(), "{s}: unknown subnet {k}");
                prop_assert!(azs.insert(&sub.unwrap().availability_zone), "{s}: AZ twice");
            }
        }
        for r in &e.security_groups {
            if let Ref::Key(k) = r {
                prop_assert!(p.security_groups.contains_key(k), "{s}: unknown group {k}");
            }
        }
        let expected = if s == "studio" {
            format!("aws.sagemaker.{}.studio", p.region)
        } else {
            format!("com.amazonaws.{}.{s}", p.region)
        };
        prop_assert_eq!(&e.service_name, &expected);
    }
    if p.interface_endpoints.contains_key("studio") {
        prop_assert!(p.interface_endpoints.contains_key("sagemaker.api"));
    }
    Ok(())
}

fn report(property: &str) {
    let n = EXECUTIONS.with(Cell::get);
    eprintln!(
        "fuzz_plan: {property}: {n} inputs checked ({} validator executions)",
        2 * n
    );
}

// ------------------------------------------------------------------- arbitrary text

#[test]
fn arbitrary_strings_never_panic() {
    let strategy = prop_oneof![
        // Any Unicode.
        any::<String>(),
        // Any bytes, made text.
        proptest::collection::vec(any::<u8>(), 0..600)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // TOML's own alphabet, so that the parser goes deep.
        "[\\[\\]{}=\"'.,#\n a-z0-9_/:+-]{0,400}",
    ];
    runner().run(&strategy, |s| check(&s).map(drop)).unwrap();
    report(&format!("arbitrary strings, {} cases", cases()));
}

// ------------------------------------------------------- mutations of a valid plan

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replace the value after `=` on a line.
    ReplaceValue(usize, String),
    /// Replace the key before `=` on a line.
    ReplaceKey(usize, String),
    /// Replace a line by a table header.
    Header(usize, String),
    InsertText(usize, String),
    TruncateAt(usize),
}

fn value_token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "\"\"", "\"x\"", "0", "-1", "70000", "443", "\"443\"", "\"443-80\"", "\"0-65535\"",
            "\"70000\"", "true", "false", "[]", "{}", "[1, \"a\"]", "{ a = 1 }", "nan", "inf",
            "1.5", "1979-05-27", "1979-05-27T07:32:00Z", "\"self\"", "\"nope\"", "\"workloads\"",
            "\"endpoints\"", "\"private-a\"", "\"10.20.0.0/16\"", "\"10.20.0.0/20\"",
            "\"10.20.0.1/20\"", "\"10.0.0.0/8\"", "\"0.0.0.0/0\"", "\"::/0\"", "\"us-east-1a\"",
            "\"us-west-2\"", "\"vpc-0123456789abcdef0\"", "\"sg-0123456789abcdef0\"",
            "\"subnet-0123456789abcdef0\"", "\"studio\"", "\"sagemaker.apii\"", "\"s3\"",
            "[\"studio\"]", "[\"s3\"]", "[\"private-a\", \"private-a\"]", "[\"nope\"]",
            "[{ from = \"self\", protocol = \"all\" }, { from = \"self\", protocol = \"all\" }]",
            "[{ to = \"nope\", protocol = \"tcp\", ports = 1 }]", "\"policies\"",
            "\"policies/missing.json\"", "\"../README.md\"", "\"/dev/null\"", "\"ünïcödé\"",
            "\"\\u0000\"", "\"\\ud7ff\"", "'''multi\nline'''", "\"a\\\"b\"", "0x1BB", "+443",
        ])
        .prop_map(str::to_string),
        1 => "\"[ -~]{0,20}\"",
        1 => any::<String>().prop_map(|s| format!("{s:?}")),
    ]
}

fn key_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "name", "region", "cidr", "id", "manage_dns", "availability_zone", "description",
            "ingress", "egress", "from", "to", "protocol", "ports", "policy", "services",
            "subnets", "security_groups", "private_dns", "tags", "vpc", "\"\"", "\"a.b\"",
            "Name", "\"sagevpc:plan\"", "a.b.c", "subnets.x.cidr", "cidrr",
        ])
        .prop_map(str::to_string),
        1 => "[a-z_]{1,12}",
    ]
}

fn header_token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "[vpc]", "[vpc.x]", "[tags]", "[subnets]", "[subnets.private-a]", "[subnets.\"ü\"]",
            "[subnets.self]", "[security_groups.self]", "[security_groups.workloads]",
            "[[security_groups.workloads.ingress]]", "[[security_groups.endpoints.egress]]",
            "[gateway_endpoints.s3]", "[gateway_endpoints.dynamodb]", "[gateway_endpoints.s4]",
            "[interface_endpoints]", "[[interface_endpoints]]", "[interface_endpoints.services]",
            "[name]", "[]", "[[]]", "[a.b.c.d.e.f]",
        ])
        .prop_map(str::to_string),
        1 => "\\[[a-z_.]{1,20}\\]",
    ]
}

fn unicode_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "é",
            "ü",
            "日本",
            "\u{0}",
            "\u{feff}",
            "\u{200b}",
            "\u{202e}",
            "😀",
            "\r",
            "\r\n",
            "\t",
            "\\",
            "\"",
            "'",
            "#",
            "=",
            "[",
            "]",
            "{",
            "}",
            "\n[",
            "\u{10ffff}",
            "\u{fffd}",
        ])
        .prop_map(str::to_string),
        "\\PC{1,8}",
        any::<String>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = any::<usize>();
    prop_oneof![
        1 => idx.prop_map(Mutation::DeleteLine),
        1 => idx.prop_map(Mutation::DuplicateLine),
        1 => (idx, idx).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        3 => (idx, value_token()).prop_map(|(i, v)| Mutation::ReplaceValue(i, v)),
        1 => (idx, key_token()).prop_map(|(i, k)| Mutation::ReplaceKey(i, k)),
        1 => (idx, header_token()).prop_map(|(i, h)| Mutation::Header(i, h)),
        2 => (idx, unicode_text()).prop_map(|(i, t)| Mutation::InsertText(i, t)),
        1 => idx.prop_map(Mutation::TruncateAt),
    ]
}

/// Index of the `n`th line (mod count) that satisfies `pred`, if any.
fn pick(lines: &[String], n: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
    let matching: Vec<usize> = (0..lines.len()).filter(|&i| pred(&lines[i])).collect();
    (!matching.is_empty()).then(|| matching[n % matching.len()])
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceValue(i, v) => {
            if let Some(i) = pick(&lines, *i, |l| l.contains('=')) {
                let (k, _) = lines[i].split_once('=').unwrap();
                lines[i] = format!("{k}= {v}");
            }
        }
        Mutation::ReplaceKey(i, k) => {
            if let Some(i) = pick(&lines, *i, |l| l.contains('=')) {
                let (_, v) = lines[i].split_once('=').unwrap();
                lines[i] = format!("{k} ={v}");
            }
        }
        Mutation::Header(i, h) => {
            let i = pick(&lines, *i, |l| l.starts_with('[')).unwrap_or(i % n);
            lines[i] = h.clone();
        }
        Mutation::InsertText(at, t) => {
            let joined = lines.join("\n");
            let mut at = at % (joined.len() + 1);
            while !joined.is_char_boundary(at) {
                at -= 1;
            }
            return format!("{}{t}{}", &joined[..at], &joined[at..]);
        }
        Mutation::TruncateAt(at) => {
            // At any byte, even inside a character.
            let bytes = lines.join("\n").into_bytes();
            let at = at % (bytes.len() + 1);
            return String::from_utf8_lossy(&bytes[..at]).into_owned();
        }
    }
    lines.join("\n")
}

#[test]
fn the_shipped_plans_are_valid_before_mutation() {
    // Otherwise the mutation property below would start from a rejected plan.
    validate_source(&plans_dir().join("fuzz.toml"), STUDIO).unwrap();
    validate_source(&plans_dir().join("fuzz.toml"), MINIMAL).unwrap();
}

#[test]
fn mutated_plans_never_panic() {
    let strategy = (
        prop::sample::select(vec![STUDIO, STUDIO, STUDIO, MINIMAL]),
        proptest::collection::vec(mutation(), 1..6),
    );
    let accepted = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    runner()
        .run(&strategy, |(base, muts)| {
            let mut text = base.to_string();
            for m in &muts {
                text = apply(&text, m);
                // Every intermediate text is a test input too.
                if check(&text)? {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                total.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let (accepted, total) = (accepted.into_inner(), total.into_inner());
    eprintln!("fuzz_plan: mutated plans: {accepted} of {total} mutants accepted");
    // The generator must produce both outcomes, or it is not exploring anything.
    assert!(
        accepted > 0 && accepted < total,
        "{accepted} of {total} accepted"
    );
    report(&format!("mutated plans, {} cases", cases()));
}

#[test]
fn every_single_bad_value_is_reported_on_its_line() {
    // Exhaustive over the studio plan: each `key = value` line, each bad value.
    let lines: Vec<String> = STUDIO.split('\n').map(str::to_string).collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some((key_part, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) else {
            continue;
        };
        let key = key_part.trim();
        for v in [
            "70000",
            "{}",
            "\"\"",
            "\"nope\"",
            "[]",
            "\"ünï\"",
            "1979-05-27",
        ] {
            let mut changed = lines.clone();
            changed[i] = format!("{key_part}= {v}");
            let text = changed.join("\n");
            check(&text).unwrap();
            checked += 1;
            let Err(e) = validate_source(&plans_dir().join("fuzz.toml"), &text) else {
                // e.g. another description, or an empty list of security groups.
                continue;
            };
            // A value of the wrong type for every field, or a bad value for a field
            // nothing else refers to: reported on the line that was changed.
            let wrong_type = ["70000", "{}", "1979-05-27"].contains(&v);
            let local =
                ["cidr", "availability_zone", "region", "name", "description"].contains(&key);
            if wrong_type || local {
                assert!(
                    e.diagnostics.iter().any(|d| d.line == i + 1),
                    "{key} = {v} on line {}: {e}",
                    i + 1
                );
            }
        }
    }
    assert!(checked > 100, "{checked}");
    report("single bad values (exhaustive)");
}
