//! Every whole plan in the documentation (a ```toml block of docs/*.md or README.md with
//! a top-level `name =`) and every shipped plans/*.toml validates. No AWS call.

use std::path::{Path, PathBuf};

use sagevpc::plan::{validate_source, Plan};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```toml blocks of a Markdown text, numbered from 1, with the line each starts on.
fn toml_blocks(md: &str) -> Vec<(usize, usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```toml") => current = Some((i + 1, String::new())),
            Some((start, text)) if fence.starts_with("```") => {
                blocks.push((blocks.len() + 1, *start, std::mem::take(text)));
                current = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```toml block");
    blocks
}

/// Whether a TOML text is a whole plan: `name =` before any table header.
fn is_whole_plan(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with('['))
        .any(|l| l.starts_with("name ") || l.starts_with("name="))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn block_extraction_finds_fenced_toml_only() {
    let md = "x\n```toml\nname = \"a\"\n```\n```sh\nname = 1\n```\n  ```toml\n[vpc]\n```\n";
    let blocks = toml_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].0, blocks[0].1), (1, 2));
    assert_eq!(blocks[0].2, "name = \"a\"\n");
    assert!(is_whole_plan(&blocks[0].2));
    assert!(!is_whole_plan(&blocks[1].2));
    assert!(!is_whole_plan("[tags]\nname = \"x\"\n"));
}

#[test]
fn every_whole_plan_in_the_docs_validates() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for md in markdown_files() {
        let text = std::fs::read_to_string(&md).unwrap();
        for (n, line, block) in toml_blocks(&text) {
            if !is_whole_plan(&block) {
                continue;
            }
            checked += 1;
            // As if the plan lived in plans/: policy paths resolve against the shipped
            // policies.
            let as_file = root().join("plans").join(format!("doc-example-{n}.toml"));
            if let Err(e) = validate_source(&as_file, &block) {
                failures.push(format!(
                    "{} block {n} (line {line}) does not validate:\n{e}",
                    md.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // docs/plan-reference.md alone has three whole plans.
    assert!(checked >= 3, "only {checked} whole plans found in the docs");
}

#[test]
fn every_shipped_plan_validates() {
    let mut plans: Vec<PathBuf> = std::fs::read_dir(root().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    plans.sort();
    assert!(plans.len() >= 2, "{plans:?}");
    let failures: Vec<String> = plans
        .iter()
        .filter_map(|p| {
            Plan::load(Path::new(p))
                .err()
                .map(|e| format!("{} does not validate:\n{e}", p.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
