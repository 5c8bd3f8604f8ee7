//! Config as code (`docs/config-as-code.md`): `export`, `plan`, `apply` and `config schema`
//! against real servers. [`config_as_code`] runs each command in the shared server's busy
//! project; `round_trip` and `edits` follow one project through export, review, drift and
//! apply, and onto a second, empty server.

mod edits;
mod round_trip;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use switchyard_testkit::server::TestServer;

use super::{Cli, PROJECT};
use crate::{BIN, fresh_dir};

/// Every file under `dir` by its relative path (`/`-separated), with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(name.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The lines that differ between two versions of a file, as (before, after) pairs, for files
/// whose line count did not change.
fn changed_lines(before: &[u8], after: &[u8]) -> Vec<(String, String)> {
    let before = String::from_utf8_lossy(before);
    let after = String::from_utf8_lossy(after);
    let (before, after): (Vec<&str>, Vec<&str>) =
        (before.lines().collect(), after.lines().collect());
    assert_eq!(before.len(), after.len(), "line count changed");
    before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, a)| ((*b).to_owned(), (*a).to_owned()))
        .collect()
}

/// Replaces the one line of `dir/file` whose trimmed text is `from` by the same indentation and
/// `to`: what a person's one-line edit does. The file's text before.
fn edit_line(dir: &Path, file: &str, from: &str, to: &str) -> String {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let matching = text.lines().filter(|l| l.trim() == from).count();
    assert_eq!(matching, 1, "{file} has {matching} lines `{from}`:\n{text}");
    let edited: String = text
        .lines()
        .map(|line| {
            if line.trim() == from {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}{to}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    std::fs::write(&path, edited).unwrap();
    text
}

/// The live project's revision, from the API.
async fn revision(server: &TestServer) -> String {
    let export = server.admin_get(&format!("{PROJECT}/config")).await;
    export["revision"].as_str().unwrap().to_owned()
}

/// Each command once in the shared server's project, after every other command had its turn
/// (imports, releases, approvals in staging, schedules): an export plans as no change, applies
/// as nothing, and exports again as the same bytes.
pub(super) async fn config_as_code(cli: &Cli, server: &TestServer, dir: &Path) {
    let files = dir.join("config");
    let files = files.to_str().unwrap();
    let exported = cli.json(&["export", "--dir", files]);
    assert_eq!(exported["revision"], revision(server).await.as_str());
    let first = tree(Path::new(files));
    assert!(first.contains_key("project.yaml"), "{:?}", first.keys());

    let plan = cli.ran_code(&["plan", "--dir", files], 0);
    assert!(plan.contains("No changes"), "{plan}");
    let applied = cli.ok(&["apply", "--dir", files]);
    assert!(applied.contains("No changes"), "{applied}");
    cli.ok(&["export", "--dir", files]);
    assert!(
        tree(Path::new(files)) == first,
        "a second export wrote other bytes"
    );

    let schema: Value = serde_json::from_str(&cli.ok(&["config", "schema", "flag"])).unwrap();
    assert_eq!(
        schema,
        serde_json::from_slice::<Value>(&first[".schema/flag.json"]).unwrap()
    );
}

impl Cli {
    /// Runs `args`, failing the test unless it exits with `code`: what it printed on stdout.
    fn ran_code(&self, args: &[&str], code: i32) -> String {
        let ran = self.run(args);
        assert_eq!(
            ran.code,
            Some(code),
            "{args:?}: {}{}",
            ran.stdout,
            ran.stderr
        );
        ran.stdout
    }
}

/// `docs/config-schema/*.json` are what `switchyard config schema` generates, byte for byte
/// (regenerate them with `switchyard config schema --out docs/config-schema`).
#[test]
fn published_schemas_are_the_generated_ones() {
    let out = fresh_dir("config-schema");
    let ran = Command::new(BIN)
        .args(["config", "schema", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(ran.status.success(), "{ran:?}");
    let generated = tree(&out);
    let published = tree(Path::new(&super::repo("docs/config-schema")));
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        ["flag.json", "project.json", "segment.json"]
    );
    for (name, bytes) in &generated {
        assert!(
            published.get(name) == Some(bytes),
            "docs/config-schema/{name} is not the generated schema: \
             run `switchyard config schema --out docs/config-schema`"
        );
    }
    assert_eq!(published.len(), generated.len(), "{:?}", published.keys());
    let flag: Value = serde_json::from_slice(&generated["flag.json"]).unwrap();
    // Closed objects: an editor flags a misspelt field as the CLI does.
    assert_eq!(flag["additionalProperties"], false, "{flag}");
    assert!(flag["properties"]["environments"].is_object(), "{flag}");
    std::fs::remove_dir_all(&out).ok();
}
