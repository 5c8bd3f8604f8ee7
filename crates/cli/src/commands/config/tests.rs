//! The files without a server: written and read back to the same document, enums written as
//! mappings, every problem of every file named by file and field, keys that would leave their
//! folder refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::json;
use switchyard_client::types::ProjectConfig;

use super::files::{Problem, read_dir, write_dir};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn document() -> ProjectConfig {
    serde_json::from_value(json!({
        "format": 1,
        "project": {"key": "web", "name": "Web"},
        "environments": [{"key": "production", "name": "Production", "critical": true}],
        "flags": [{
            "key": "checkout", "kind": "boolean", "salt": "s1", "off_variation": "off",
            "variations": [{"key": "on", "value": true}, {"key": "off", "value": false}],
            "environments": {"production": {
                "on": true, "off_variation": 1,
                "rules": [{"id": "r1", "condition": {"attribute": "country", "op": "in",
                                                     "values": ["DE"]},
                           "serve": {"variation": 0}}],
                "fallthrough": {"rollout": {"variations": [
                    {"variation": 0, "weight": 10000}, {"variation": 1, "weight": 90000}]}}
            }}
        }],
        "segments": [{"environment": "production", "key": "staff", "salt": "s2",
                      "included": [{"kind": "user", "values": ["ann"]}]}]
    }))
    .unwrap()
}

fn problems(dir: &Path) -> Vec<Problem> {
    read_dir(dir).unwrap().expect_err("problems")
}

#[test]
fn written_files_read_back_as_the_same_document() {
    let dir = scratch("write-read");
    let config = document();
    let written = write_dir(&config, &dir).unwrap();
    assert_eq!(written.files, 6, "{written:?}");
    assert_eq!(read_dir(&dir).unwrap().unwrap(), config);
    let again = write_dir(&config, &dir).unwrap();
    assert!(
        again.changed.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );

    let flag = std::fs::read_to_string(dir.join("flags/checkout.yaml")).unwrap();
    assert!(
        flag.contains("      serve:\n        variation: 0\n"),
        "{flag}"
    );
    assert!(
        flag.contains("    fallthrough:\n      rollout:\n"),
        "{flag}"
    );
    assert!(!flag.contains('!'), "no YAML tags: {flag}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_problem_of_every_file_is_named_by_file_and_field() {
    let dir = scratch("problems");
    write_dir(&document(), &dir).unwrap();
    let flag = dir.join("flags/checkout.yaml");
    let text = std::fs::read_to_string(&flag).unwrap();
    let text = text
        .replace("      condition:", "      clauses:")
        .replace("weight: 10000", "weight: lots");
    std::fs::write(&flag, text).unwrap();
    std::fs::write(
        dir.join("flags/other.yaml"),
        "format: 1\nkey: renamed\nkind: boolean\n",
    )
    .unwrap();
    std::fs::write(dir.join("flags/new.yml"), "format: 1\n").unwrap();
    let segment = dir.join("segments/production/staff.yaml");
    let text = std::fs::read_to_string(&segment).unwrap();
    std::fs::write(&segment, text.replace("format: 1", "format: 2")).unwrap();

    let found: Vec<String> = problems(&dir).iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 5, "{found:#?}");
    let expected = [
        "flags/checkout.yaml: environments.production.rules[0].clauses: unknown field",
        "flags/new.yml: name the file *.yaml: *.yml files are not read",
        "flags/other.yaml: key: the file is named other.yaml but the key is \"renamed\"",
        "segments/production/staff.yaml: format: format 2 is not one this CLI reads (1)",
    ];
    for problem in expected {
        assert!(
            found.contains(&problem.to_owned()),
            "{problem} in {found:#?}"
        );
    }
    // The same file's type error is named by its path too.
    let weight =
        "flags/checkout.yaml: environments.production.fallthrough.rollout.variations[0].weight: ";
    assert!(found.iter().any(|p| p.starts_with(weight)), "{found:#?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn keys_that_would_leave_their_folder_are_not_written() {
    for key in ["../escape", "a/b", ".hidden", "c:d", ""] {
        let dir = scratch("escape");
        let mut config = document();
        config.flags[0].spec.key = key.to_owned();
        let refused = write_dir(&config, &dir).unwrap_err();
        assert!(
            refused.to_string().contains("file name"),
            "{key}: {refused}"
        );
        let mut config = document();
        config.segments[0].environment = key.to_owned();
        assert!(write_dir(&config, &dir).is_err(), "{key}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn a_directory_without_project_yaml_is_not_read() {
    let dir = scratch("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let refused = read_dir(&dir).unwrap_err().to_string();
    assert!(refused.contains("project.yaml"), "{refused}");
    std::fs::remove_dir_all(&dir).ok();
}
