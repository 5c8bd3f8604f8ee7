//! The project as a directory of YAML files a person reviews in Git, and back:
//!
//! ```text
//! project.yaml                    format, project, environments
//! flags/<flag>.yaml               format, the flag's settings, environments: {env: targeting}
//! segments/<env>/<segment>.yaml   format, the segment (without its version)
//! .schema/{project,flag,segment}.json
//! ```
//!
//! Writing is stable (struct field order, maps sorted, no versions or times), so the same project
//! gives the same bytes and a one-line change a one-line diff. Reading is strict: every problem
//! of every file is collected, named by file and field, before anything is sent.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use switchyard_client::types::{CONFIG_FORMAT, FlagConfig, ProjectConfig, SegmentConfig};
use switchyard_engine::model::{FlagSpec, Targeting};
use switchyard_engine::strict::JsonSchema;
use switchyard_engine::{Segment, strict};

use super::schema::{FlagFile, ProjectFile, SCHEMA_NAMES, SegmentFile, schema_text};

const PROJECT_FILE: &str = "project.yaml";
const FLAGS: &str = "flags";
const SEGMENTS: &str = "segments";
const SCHEMAS: &str = ".schema";

/// One thing wrong with the files: `flags/checkout.yaml: environments.production.rules[0]: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    /// The file, relative to the directory, with `/` separators.
    pub(super) file: String,
    /// The field's path in the file; empty when the problem is the whole file.
    pub(super) field: String,
    pub(super) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field.as_str() {
            "" => write!(f, "{}: {}", self.file, self.message),
            field => write!(f, "{}: {field}: {}", self.file, self.message),
        }
    }
}

fn problem(file: &str, field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_owned(),
        field: field.into(),
        message: message.into(),
    }
}

/// What an export did to the directory, as paths relative to it.
#[derive(Debug, Default, Serialize)]
pub(super) struct Written {
    /// Files whose bytes changed (or that are new).
    pub(super) changed: Vec<String>,
    /// Files of flags and segments no longer in the project.
    pub(super) removed: Vec<String>,
    /// Every file the export holds.
    pub(super) files: usize,
}

/// Writes `config` into `dir`: every file whose bytes differ, and removes the `*.yaml` files
/// under `flags/` and `segments/` that no longer stand for a flag or segment.
pub(super) fn write_dir(config: &ProjectConfig, dir: &Path) -> anyhow::Result<Written> {
    let mut files: Vec<(String, String)> = Vec::new();
    for name in SCHEMA_NAMES {
        let text = schema_text(name).with_context(|| format!("no schema named {name}"))?;
        files.push((format!("{SCHEMAS}/{name}.json"), text));
    }
    let project = ProjectFile {
        format: CONFIG_FORMAT,
        project: config.project.clone(),
        environments: config.environments.clone(),
    };
    files.push((PROJECT_FILE.into(), yaml("project", &project, &[])?));
    for flag in &config.flags {
        let file = format!("{FLAGS}/{}.yaml", file_stem(&flag.spec.key)?);
        let content = FlagFile {
            format: CONFIG_FORMAT,
            flag: flag.clone(),
        };
        files.push((file, yaml("flag", &content, &[])?));
    }
    for segment in &config.segments {
        let file = format!(
            "{SEGMENTS}/{}/{}.yaml",
            file_stem(&segment.environment)?,
            file_stem(&segment.segment.key)?
        );
        let content = SegmentFile {
            format: CONFIG_FORMAT,
            segment: segment.segment.clone(),
        };
        // A segment's version is the store's, not the segment's: it would change every export.
        files.push((file, yaml("segment", &content, &["version"])?));
    }

    let mut written = Written {
        files: files.len(),
        ..Written::default()
    };
    let kept: BTreeSet<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for (name, text) in &files {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.changed.push(name.clone());
    }
    for (name, path) in owned_files(dir)? {
        if !kept.contains(name.as_str()) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            written.removed.push(name);
        }
    }
    // An environment's folder the removals emptied goes too (Git does not keep empty folders).
    for folder in subfolders(&dir.join(SEGMENTS))? {
        let _ = std::fs::remove_dir(folder);
    }
    Ok(written)
}

/// A key as a file name; a key that would leave its folder cannot be one.
fn file_stem(key: &str) -> anyhow::Result<&str> {
    let safe = !key.is_empty()
        && !key.starts_with('.')
        && !key.contains(['/', '\\', '\0'])
        && !key.contains(':');
    if safe {
        Ok(key)
    } else {
        anyhow::bail!("{key:?} cannot be written as a file name")
    }
}

/// `value` as YAML, in its fields' order, minus `dropped` top-level fields, after the line that
/// points editors at the file's schema.
fn yaml(schema: &str, value: &impl Serialize, dropped: &[&str]) -> anyhow::Result<String> {
    let mut document = untagged(serde_norway::to_value(value)?);
    if let serde_norway::Value::Mapping(fields) = &mut document {
        for field in dropped {
            fields.shift_remove(*field);
        }
    }
    let up = match schema {
        "project" => "",
        "flag" => "../",
        _ => "../../",
    };
    Ok(format!(
        "# yaml-language-server: $schema={up}{SCHEMAS}/{schema}.json\n{}",
        serde_norway::to_string(&document)?
    ))
}

/// `value` with every enum written as JSON writes it (`serve: {variation: 1}`) instead of as a
/// YAML tag (`serve: !variation 1`), which other YAML tools and people read less well.
fn untagged(value: serde_norway::Value) -> serde_norway::Value {
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.strip_prefix('!').unwrap_or(&tag).to_owned();
            let mut mapping = serde_norway::Mapping::new();
            mapping.insert(Yaml::String(name), untagged(tagged.value));
            Yaml::Mapping(mapping)
        }
        Yaml::Mapping(fields) => Yaml::Mapping(
            fields
                .into_iter()
                .map(|(key, value)| (key, untagged(value)))
                .collect(),
        ),
        Yaml::Sequence(items) => Yaml::Sequence(items.into_iter().map(untagged).collect()),
        scalar => scalar,
    }
}

/// The `*.yaml` files under `flags/` and `segments/<env>/`: the files an export owns, as
/// (relative name, path), sorted.
fn owned_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for (name, path) in entries(&dir.join(FLAGS))? {
        if path.is_file() && name.ends_with(".yaml") {
            found.push((format!("{FLAGS}/{name}"), path));
        }
    }
    for folder in subfolders(&dir.join(SEGMENTS))? {
        let environment = folder.file_name().map(|n| n.to_string_lossy().into_owned());
        for (name, path) in entries(&folder)? {
            if path.is_file() && name.ends_with(".yaml") {
                let environment = environment.as_deref().unwrap_or_default();
                found.push((format!("{SEGMENTS}/{environment}/{name}"), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The entries of `dir` as (file name, path), sorted; none when it does not exist.
fn entries(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        found.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    found.sort();
    Ok(found)
}

fn subfolders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(entries(dir)?
        .into_iter()
        .map(|(_, path)| path)
        .filter(|path| path.is_dir())
        .collect())
}

/// Reads the project from `dir`: the document, or every problem found in any file (the
/// outer error is for a directory that cannot be read at all).
pub(super) fn read_dir(dir: &Path) -> anyhow::Result<Result<ProjectConfig, Vec<Problem>>> {
    let mut problems = Vec::new();
    let project_path = dir.join(PROJECT_FILE);
    if !project_path.is_file() {
        anyhow::bail!(
            "{} has no {PROJECT_FILE}: is it a directory `switchyard export` wrote?",
            dir.display()
        );
    }
    let project = read_file(dir, PROJECT_FILE, &mut problems, read_project);
    let mut flags = Vec::new();
    for (name, path) in entries(&dir.join(FLAGS))? {
        let file = format!("{FLAGS}/{name}");
        if let Some(stem) = yaml_stem(&name, &path, &file, &mut problems) {
            let read = |value| read_flag(value, stem);
            flags.extend(read_file(dir, &file, &mut problems, read));
        }
    }
    let mut segments = Vec::new();
    for folder in subfolders(&dir.join(SEGMENTS))? {
        let environment = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (name, path) in entries(&folder)? {
            let file = format!("{SEGMENTS}/{environment}/{name}");
            if let Some(stem) = yaml_stem(&name, &path, &file, &mut problems) {
                let read = |value| read_segment(value, &environment, stem);
                segments.extend(read_file(dir, &file, &mut problems, read));
            }
        }
    }
    let Some((format, project)) = project.filter(|_| problems.is_empty()) else {
        return Ok(Err(problems));
    };
    flags.sort_by(|a: &FlagConfig, b| a.spec.key.cmp(&b.spec.key));
    segments.sort_by(|a: &SegmentConfig, b| {
        (&a.environment, &a.segment.key).cmp(&(&b.environment, &b.segment.key))
    });
    let mut environments = project.environments;
    environments.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Ok(ProjectConfig {
        format,
        project: project.project,
        environments,
        flags,
        segments,
    }))
}

/// The key a file under `flags/` or `segments/<env>/` names: its stem when it is `*.yaml`;
/// other YAML-looking names are a problem (they would be skipped silently), the rest ignored.
fn yaml_stem<'n>(
    name: &'n str,
    path: &Path,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'n str> {
    if !path.is_file() {
        return None;
    }
    if let Some(stem) = name.strip_suffix(".yaml") {
        return Some(stem);
    }
    if name.ends_with(".yml") {
        problems.push(problem(
            file,
            "",
            "name the file *.yaml: *.yml files are not read",
        ));
    }
    None
}

/// Reads one file as YAML and hands its fields to `read`; problems go to `problems`.
fn read_file<T>(
    dir: &Path,
    file: &str,
    problems: &mut Vec<Problem>,
    read: impl FnOnce(Map<String, Value>) -> Result<T, Vec<(String, String)>>,
) -> Option<T> {
    let text = match std::fs::read_to_string(dir.join(file)) {
        Ok(text) => text,
        Err(e) => {
            problems.push(problem(file, "", format!("cannot read: {e}")));
            return None;
        }
    };
    let fields = match serde_norway::from_str::<Value>(&text) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => {
            problems.push(problem(file, "", "expected a mapping of fields"));
            return None;
        }
        Err(e) => {
            problems.push(problem(file, "", format!("not YAML: {e}")));
            return None;
        }
    };
    match read(fields) {
        Ok(value) => Some(value),
        Err(found) => {
            let named = found.into_iter().map(|(field, message)| Problem {
                file: file.to_owned(),
                field,
                message,
            });
            problems.extend(named);
            None
        }
    }
}

type Found = Vec<(String, String)>;

/// The fields `T` (the whole file) does not know, and the file's format, which must be this
/// CLI's: problems go to `found`, and reading goes on so that type errors are named as well.
fn check_file<T: JsonSchema>(fields: &Map<String, Value>, found: &mut Found) -> u32 {
    let document = Value::Object(fields.clone());
    let unknown = strict::unknown_fields::<T>(&document);
    found.extend(
        unknown
            .into_iter()
            .map(|field| (field, "unknown field".to_owned())),
    );
    match fields.get("format").map(|f| (f, f.as_u64())) {
        None => {
            let message = format!("missing (this CLI writes {CONFIG_FORMAT})");
            found.push(("format".into(), message));
        }
        Some((_, Some(n))) if n == u64::from(CONFIG_FORMAT) => {}
        Some((value, _)) => {
            let message = format!("format {value} is not one this CLI reads ({CONFIG_FORMAT})");
            found.push(("format".into(), message));
        }
    }
    CONFIG_FORMAT
}

/// `value` as `T`, a type error named by its path under `prefix`.
fn typed<T: DeserializeOwned>(value: Value, prefix: &str, found: &mut Found) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(typed) => Some(typed),
        Err(e) => {
            let path = e.path().to_string();
            let field = match (prefix, path.as_str()) {
                (prefix, ".") => prefix.trim_end_matches('.').to_owned(),
                (prefix, path) => format!("{prefix}{path}"),
            };
            found.push((field, e.into_inner().to_string()));
            None
        }
    }
}

fn read_project(mut fields: Map<String, Value>) -> Result<(u32, ProjectFile), Found> {
    let mut found = Found::new();
    let format = check_file::<ProjectFile>(&fields, &mut found);
    // Checked above; what is read is this CLI's format.
    fields.insert("format".into(), Value::from(format));
    let project = typed::<ProjectFile>(Value::Object(fields), "", &mut found);
    match project {
        Some(project) if found.is_empty() => Ok((format, project)),
        _ => Err(found),
    }
}

fn read_flag(mut fields: Map<String, Value>, stem: &str) -> Result<FlagConfig, Found> {
    let mut found = Found::new();
    check_file::<FlagFile>(&fields, &mut found);
    fields.remove("format");
    let environments = fields.remove("environments");
    // The parts one by one, so a type error says where it is (a flattened struct would not).
    let spec = typed::<FlagSpec>(Value::Object(fields), "", &mut found);
    let mut targeting = std::collections::BTreeMap::new();
    match environments {
        // No environment has targeting of its own: each serves the flag's defaults.
        None => {}
        Some(Value::Object(environments)) => {
            for (environment, value) in environments {
                let prefix = format!("environments.{environment}.");
                if let Some(one) = typed::<Targeting>(value, &prefix, &mut found) {
                    targeting.insert(environment, one);
                }
            }
        }
        Some(_) => found.push((
            "environments".into(),
            "expected a mapping of environment to targeting".into(),
        )),
    }
    if let Some(spec) = &spec
        && spec.key != stem
    {
        let message = format!(
            "the file is named {stem}.yaml but the key is {:?}",
            spec.key
        );
        found.push(("key".into(), message));
    }
    match spec {
        Some(spec) if found.is_empty() => Ok(FlagConfig {
            spec,
            environments: targeting,
        }),
        _ => Err(found),
    }
}

fn read_segment(
    mut fields: Map<String, Value>,
    environment: &str,
    stem: &str,
) -> Result<SegmentConfig, Found> {
    let mut found = Found::new();
    check_file::<SegmentFile>(&fields, &mut found);
    fields.remove("format");
    let segment = typed::<Segment>(Value::Object(fields), "", &mut found);
    if let Some(segment) = &segment
        && segment.key != stem
    {
        let message = format!(
            "the file is named {stem}.yaml but the key is {:?}",
            segment.key
        );
        found.push(("key".into(), message));
    }
    match segment {
        Some(mut segment) if found.is_empty() => {
            // The store's version is not the file's to say (and never written there).
            segment.version = 0;
            Ok(SegmentConfig {
                environment: environment.to_owned(),
                segment,
            })
        }
        _ => Err(found),
    }
}
