//! The architecture invariants ARCHITECTURE.md states, checked on the source itself:
//! - the server's floors: every file uses only floors below its own, so `delivery/` and
//!   `releases/` never import the HTTP handler layer (`api`) nor each other;
//! - every background task is owned: nothing in the server spawns on the runtime directly,
//!   only through `tasks.rs`;
//! - no Rust module is over 600 lines unless ARCHITECTURE.md names it and says why.

use std::path::{Path, PathBuf};

/// The server's floors from the ground up. A file may use modules on floors below its own
/// (and its own module), never one above or beside it: `delivery` and `releases` know nothing
/// of each other, and neither knows `api`.
const FLOORS: &[&[&str]] = &[
    &["error", "tasks", "clock", "net"],
    &["records"],
    &["access"],
    &["delivery", "releases"],
    &["webhooks"],
    &["ops"],
    &["state", "serving", "bootstrap"],
    &["relay", "api"],
    &["console"],
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

const MAX_MODULE_LINES: usize = 600;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The top-level modules of this crate that `source` names through `crate::` (in `use`
/// declarations, grouped or not, and in paths in code), or through `super::super::` from a
/// file one folder down. Comments are skipped.
fn crate_modules_used(source: &str) -> Vec<String> {
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = Vec::new();
    for prefix in ["crate::", "super::super::"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inside = &group[..group.find('}').unwrap_or(group.len())];
                used.extend(inside.split(',').map(first_segment));
            } else {
                used.push(first_segment(rest));
            }
        }
    }
    used.retain(|module| !module.is_empty());
    used
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Each `(file, module)` where a file uses a module on its own floor or one above. A file's
/// module is its folder under `src/` or its own name (`lib.rs` stands above every floor).
fn floor_violations(files: &[(String, String)]) -> Vec<(String, String)> {
    let mut violations = Vec::new();
    for (path, source) in files {
        let own = path.split(['/', '.']).next().unwrap_or_default();
        let Some(floor) = floor_of(own) else {
            continue;
        };
        for module in crate_modules_used(source) {
            if module != own && floor_of(&module).is_some_and(|used| used >= floor) {
                violations.push((path.clone(), module));
            }
        }
    }
    violations
}

fn server_sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    rust_files(&src)
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (relative, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn delivery_and_releases_never_import_the_api_layer_and_floors_only_look_down() {
    let sources = server_sources();
    assert!(
        sources
            .iter()
            .any(|(path, _)| path.starts_with("delivery/"))
    );
    assert!(
        sources
            .iter()
            .any(|(path, _)| path.starts_with("releases/"))
    );
    assert_eq!(floor_violations(&sources), Vec::<(String, String)>::new());
}

#[test]
fn the_floor_check_sees_an_api_import_however_it_is_written() {
    for line in [
        "use crate::api::Ctx;",
        "use crate::{api::types::FlagView, records};",
        "    let ctx = crate::api::router();",
        "use super::super::api::Deleted;",
    ] {
        let files = [("delivery/ofrep.rs".to_owned(), line.to_owned())];
        assert_eq!(
            floor_violations(&files),
            [("delivery/ofrep.rs".to_owned(), "api".to_owned())],
            "{line}"
        );
    }
    let allowed = [(
        "delivery/ofrep.rs".to_owned(),
        "// see crate::api\nuse crate::records;".to_owned(),
    )];
    assert!(floor_violations(&allowed).is_empty());
}

#[test]
fn every_background_task_is_spawned_through_the_owners_tasks() {
    let spawns: Vec<String> = server_sources()
        .into_iter()
        .filter(|(path, source)| {
            path != "tasks.rs"
                && source.lines().any(|line| {
                    line.contains("tokio::spawn") || line.contains("tokio::task::spawn")
                })
        })
        .map(|(path, _)| path)
        .collect();
    assert!(spawns.is_empty(), "spawned outside Tasks: {spawns:?}");
}

#[test]
fn no_module_is_over_600_lines_unless_architecture_md_says_why() {
    let root = repo_root();
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    // Only the section that gives the reasons counts, not a passing mention elsewhere.
    let heading = "## Modules over 600 lines";
    let section = architecture
        .split_once(heading)
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no {heading:?} section"));
    let mut unexplained = Vec::new();
    for crate_dir in std::fs::read_dir(root.join("crates")).unwrap() {
        for path in rust_files(&crate_dir.unwrap().path()) {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if lines > MAX_MODULE_LINES && !section.contains(&format!("`{relative}`")) {
                unexplained.push(format!("{relative} ({lines} lines)"));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "modules over {MAX_MODULE_LINES} lines that ARCHITECTURE.md does not explain: {unexplained:?}"
    );
}
