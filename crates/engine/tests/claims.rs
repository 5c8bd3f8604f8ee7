//! ARCHITECTURE.md's "Claims and their evidence" stays true to the tree: every file it names
//! exists, every `file::function` it names is defined in that file and runs (a test, or a
//! scenario some other code calls), an ignored test is said to be ignored, and every claim in
//! its tables names some evidence. Renaming or deleting a test the table cites fails here, so
//! the table cannot silently go stale. (It lives in the engine's tests only because that is the
//! cheapest test binary to build; it reads text and needs nothing from the engine.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

const SECTION: &str = "## Claims and their evidence";

/// Where evidence may live; a backticked path starting elsewhere is not a reference.
const EVIDENCE_ROOTS: &[&str] = &[
    "crates/",
    "benches/",
    "clients/",
    "tools/",
    "conformance/",
    ".ci/",
    "fuzz/",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The section's text, up to the next `## ` heading.
fn section(document: &str) -> Option<&str> {
    let start = document.find(&format!("{SECTION}\n"))?;
    let body = &document[start + SECTION.len()..];
    let end = body.find("\n## ").unwrap_or(body.len());
    Some(&body[..end])
}

/// The evidence references in `text`: backticked `path` or `path::function`.
fn references(text: &str) -> Vec<(String, Option<String>)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| EVIDENCE_ROOTS.iter().any(|root| span.starts_with(root)))
        .filter(|span| !span.contains(['*', ' ']))
        .map(|span| match span.split_once("::") {
            Some((path, function)) => (path.to_owned(), Some(function.to_owned())),
            None => (span.to_owned(), None),
        })
        .collect()
}

/// Rust files under `dir`, recursively.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir()
            && path
                .file_name()
                .is_some_and(|n| n != "target" && n != "node_modules")
        {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The crate directory holding `path` (`crates/x/...` → `crates/x`).
fn crate_dir(root: &Path, path: &str) -> PathBuf {
    let parts: Vec<&str> = path.split('/').collect();
    root.join(parts[..2.min(parts.len())].join("/"))
}

/// How `function` is defined in `source`: `None` when it is not; else whether it is marked
/// `#[test]`-like and whether it is `#[ignore]`d (attributes and doc comments above it).
fn definition(source: &str, function: &str) -> Option<(bool, bool)> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines.iter().position(|line| {
        let line = line.trim_start();
        [
            "fn ",
            "async fn ",
            "pub fn ",
            "pub async fn ",
            "pub(crate) async fn ",
            "pub(super) async fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
        ]
        .iter()
        .any(|prefix| {
            line.strip_prefix(prefix).is_some_and(|rest| {
                rest.strip_prefix(function)
                    .is_some_and(|after| after.starts_with(['(', '<']))
            })
        })
    })?;
    let (mut test, mut ignored) = (false, false);
    for line in lines[..at].iter().rev().map(|l| l.trim()) {
        if line.starts_with("#[") {
            test |= line.contains("test");
            ignored |= line.starts_with("#[ignore");
        } else if !line.starts_with("///") {
            break;
        }
    }
    Some((test, ignored))
}

/// Whether `function` is named anywhere in its crate besides its definition (a scenario listed
/// in `backend_tests!`, or a helper scenario a test calls).
fn called_in_crate(root: &Path, path: &str, function: &str) -> bool {
    let mut files = Vec::new();
    rust_files(&crate_dir(root, path), &mut files);
    let mentions: usize = files
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .map(|source| {
            source
                .match_indices(function)
                .filter(|(i, _)| {
                    let before = source[..*i].chars().next_back();
                    let after = source[i + function.len()..].chars().next();
                    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !word(before) && !word(after)
                })
                .count()
        })
        .sum();
    mentions >= 2
}

/// What is wrong with `text` (the section) against the tree at `root`.
fn problems(text: &str, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut subsection = "";
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            subsection = heading;
            continue;
        }
        let row =
            line.starts_with("| ") && !line.starts_with("| Claim") && !line.starts_with("|---");
        let found = references(line);
        if row && found.is_empty() {
            problems.push(format!("{subsection}: a claim without evidence: {line}"));
        }
        for (path, function) in found {
            let full = root.join(&path);
            if !full.exists() {
                problems.push(format!("{path} does not exist"));
                continue;
            }
            let Some(function) = function else { continue };
            let source = std::fs::read_to_string(&full).unwrap_or_default();
            match definition(&source, &function) {
                None => problems.push(format!("{path} defines no fn {function}")),
                Some((test, ignored)) => {
                    if ignored && !line.contains("#[ignore]") {
                        problems.push(format!(
                            "{path}::{function} is #[ignore]d: say so in its row"
                        ));
                    }
                    if !test && !called_in_crate(root, &path, &function) {
                        problems.push(format!(
                            "{path}::{function} is neither a test nor run by one"
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_named_test_and_benchmark_exists() {
    let root = repo_root();
    let document = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let text = section(&document).unwrap_or_else(|| panic!("ARCHITECTURE.md has no {SECTION:?}"));
    let cited = references(text).iter().filter(|(_, f)| f.is_some()).count();
    assert!(
        cited >= 50,
        "only {cited} tests cited: did the section's format change?"
    );
    let problems = problems(text, &root);
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's claims table is stale:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_missing_and_idle_evidence() {
    let root = std::env::temp_dir().join(format!("switchyard-claims-{}", std::process::id()));
    let tests = root.join("crates/x/tests");
    std::fs::create_dir_all(&tests).unwrap();
    let source = "backend_tests![listed];\n\
        async fn listed(url: String) {}\n\
        async fn idle(url: String) {}\n\
        /// A test.\n#[test]\nfn a_test() {}\n\
        #[test]\n#[ignore = \"slow\"]\nfn slow() {}\n";
    std::fs::write(tests.join("a.rs"), source).unwrap();
    let text = "\n### T\n\
        | Claim | Evidence | Runs |\n|---|---|---|\n\
        | fine | `crates/x/tests/a.rs::a_test`, `crates/x/tests/a.rs::listed` | CI |\n\
        | gone | `crates/x/tests/a.rs::a_test_that_never_was` | CI |\n\
        | no file | `crates/x/tests/nowhere.rs` | CI |\n\
        | idle | `crates/x/tests/a.rs::idle` | CI |\n\
        | nothing | a promise | CI |\n\
        | ignored | `crates/x/tests/a.rs::slow` | CI |\n\
        | said | `crates/x/tests/a.rs::slow` (`#[ignore]`) | bench |\n";
    let found = problems(text, &root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        found[0].contains("defines no fn a_test_that_never_was"),
        "{found:?}"
    );
    assert!(found[1].contains("nowhere.rs does not exist"), "{found:?}");
    assert!(
        found[2].contains("idle is neither a test nor run by one"),
        "{found:?}"
    );
    assert!(found[3].contains("without evidence"), "{found:?}");
    assert!(found[4].contains("#[ignore]d"), "{found:?}");
}
