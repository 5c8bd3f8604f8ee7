//! Every YAML file in the repository reads as it did before YAML left the engine.
//!
//! `yaml_golden.json` was written by the `serde_yaml` 0.9 loader: for each file, `yaml` is the
//! file as a JSON value and `dataset` the native [`Dataset`] it loaded as (`null`: refused). Here
//! each file is read again with this crate and must give the same two values. A YAML file with no
//! entry fails the test, so a new file is noticed; `UPDATE_EXPECT=1` (never under `CI=true`) adds
//! the missing entries from this crate's reading, to be reviewed like any other change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use switchyard_import::native;
use switchyard_testkit as shared;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/yaml_golden.json");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's YAML files, tracked or new (not ignored), outside `node_modules`; `None`
/// when git cannot list them.
fn yaml_files(root: &Path) -> Option<Vec<String>> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .args(["--", "*.yaml", "*.yml"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let mut files: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|path| !path.is_empty() && !path.split('/').any(|part| part == "node_modules"))
        // Tracked but deleted in the working tree: no longer a file of the repository.
        .filter(|path| root.join(path).is_file())
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    Some(files)
}

/// What this crate makes of a file, in the golden file's shape.
fn reading(text: &str) -> Value {
    let yaml = serde_norway::from_str::<Value>(text).ok();
    let dataset = native::from_text(text)
        .ok()
        .map(|dataset| serde_json::to_value(dataset).unwrap());
    json!({"yaml": yaml, "dataset": dataset})
}

#[test]
fn every_yaml_file_reads_as_before() {
    let root = repo_root();
    let Some(files) = yaml_files(&root) else {
        shared::skip("git cannot list the repository's YAML files");
        return;
    };
    assert!(
        !files.is_empty(),
        "found no YAML file (examples/flags.yaml at least should be there)"
    );
    let mut golden: Value =
        serde_json::from_str(&std::fs::read_to_string(GOLDEN).unwrap()).unwrap();
    let update = std::env::var("UPDATE_EXPECT").as_deref() == Ok("1") && !shared::in_ci();
    let mut failures = Vec::new();
    for path in &files {
        let got = reading(&std::fs::read_to_string(root.join(path)).unwrap());
        match golden["files"].get(path) {
            Some(expected) if *expected == got => {}
            Some(expected) => {
                for part in ["yaml", "dataset"] {
                    if expected[part] != got[part] {
                        failures.push(format!(
                            "{path}: `{part}` differs\n   before {}\n   now    {}",
                            expected[part], got[part]
                        ));
                    }
                }
            }
            None if update => {
                golden["files"][path] = got;
            }
            None => failures.push(format!(
                "{path} has no entry in tests/yaml_golden.json: run with UPDATE_EXPECT=1 to add \
                 what it reads as now, and review that"
            )),
        }
    }
    for path in golden["files"].as_object().unwrap().keys() {
        if !files.contains(path) {
            failures.push(format!(
                "tests/yaml_golden.json lists {path}, which is not a YAML file of the repository"
            ));
        }
    }
    if update {
        let text = serde_json::to_string_pretty(&golden).unwrap() + "\n";
        std::fs::write(GOLDEN, text).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} YAML files checked against tests/yaml_golden.json:\n{}",
        files.len(),
        failures.join("\n")
    );
    eprintln!("{} YAML files read as before", files.len());
}
