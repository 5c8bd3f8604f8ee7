//! The plan of a config apply, pure: the document made ready (defaults filled in, what needs no
//! environment checked), the project as the apply will leave it, and what differs between the
//! live project and that, resource by resource and field by field, in words (variation keys,
//! never indices).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use switchyard_engine::model::{Dialect, FlagSpec, Targeting};

use super::document::{
    CONFIG_FORMAT, FieldChange, FlagConfig, PROJECT_FILE, ProjectConfig, ResourceChange, flag_file,
    segment_file,
};
use crate::access::resources as res;
use crate::error::Problem;
use crate::records::describe::targeting_changes_with;
use crate::records::normalize_flag_spec;

pub(super) fn problem(file: &str, field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_owned(),
        field: field.into(),
        message: message.into(),
    }
}

/// What a key must look like (`ctx::check_key`), as a problem of `file`.
fn check_key(problems: &mut Vec<Problem>, file: &str, field: &str, key: &str) {
    if let Err(error) = super::super::ctx::check_key(field, key) {
        problems.push(problem(file, field, error.message));
    }
}

/// Fills in what the document may leave out — names, salts (kept from the live project, new for
/// a new flag or segment), variation keys, off variations — sorts it, and checks what needs no
/// environment. Every problem is returned, not the first.
pub(super) fn prepare(
    project: &str,
    config: &mut ProjectConfig,
    live: Option<&ProjectConfig>,
    new_salt: &mut dyn FnMut() -> String,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if config.format != CONFIG_FORMAT {
        let message = format!(
            "format {} is not one this server reads (it reads {CONFIG_FORMAT})",
            config.format
        );
        problems.push(problem(PROJECT_FILE, "format", message));
    }
    if config.project.key != project {
        let message = format!(
            "the document is of project {:?}, not {project:?}",
            config.project.key
        );
        problems.push(problem(PROJECT_FILE, "project.key", message));
    }
    if config.project.name.is_empty() {
        config.project.name = config.project.key.clone();
    }
    config.environments.sort_by(|a, b| a.key.cmp(&b.key));
    config.flags.sort_by(|a, b| a.spec.key.cmp(&b.spec.key));
    config
        .segments
        .sort_by(|a, b| (&a.environment, &a.segment.key).cmp(&(&b.environment, &b.segment.key)));
    let mut seen = BTreeSet::new();
    for (i, env) in config.environments.iter_mut().enumerate() {
        let field = format!("environments[{i}]");
        check_key(
            &mut problems,
            PROJECT_FILE,
            &format!("{field}.key"),
            &env.key,
        );
        if !seen.insert(env.key.clone()) {
            let message = format!("environment {:?} is listed twice", env.key);
            problems.push(problem(PROJECT_FILE, format!("{field}.key"), message));
        }
        if env.name.is_empty() {
            env.name = env.key.clone();
        }
        let settings =
            super::super::projects::checked_approvals(env.required_approvals).and_then(|_| {
                super::super::projects::checked_origins(std::mem::take(&mut env.allowed_origins))
            });
        match settings {
            Ok(origins) => env.allowed_origins = origins,
            Err(error) => {
                let inner = error.field.unwrap_or_default();
                problems.push(problem(
                    PROJECT_FILE,
                    format!("{field}.{inner}"),
                    error.message,
                ));
            }
        }
    }
    let environments = seen;
    let live_flags: BTreeMap<&str, &FlagConfig> = live
        .map(|l| l.flags.iter().map(|f| (f.spec.key.as_str(), f)).collect())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    for flag in &mut config.flags {
        let file = flag_file(&flag.spec.key);
        check_key(&mut problems, &file, "key", &flag.spec.key);
        if !seen.insert(flag.spec.key.clone()) {
            let message = format!("flag {:?} is in the document twice", flag.spec.key);
            problems.push(problem(&file, "key", message));
        }
        let stored = live_flags.get(flag.spec.key.as_str()).map(|f| &f.spec);
        prepare_spec(&mut problems, &file, &mut flag.spec, stored, new_salt);
        for (env, targeting) in &mut flag.environments {
            if !environments.contains(env) {
                let message = format!("environment {env:?} is not in the document (project.yaml)");
                problems.push(problem(&file, format!("environments.{env}"), message));
            }
            // As `PUT …/flags/{flag}`: targeting without an off variation inherits the flag's.
            if targeting.off_variation.is_none() && flag.spec.dialect == Dialect::Native {
                targeting.off_variation = flag.spec.off_variation_index();
            }
        }
    }
    let live_segments: BTreeMap<(&str, &str), &str> = live
        .map(|l| {
            l.segments
                .iter()
                .map(|s| {
                    (
                        (s.environment.as_str(), s.segment.key.as_str()),
                        s.segment.salt.as_str(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    for segment in &mut config.segments {
        let (env, key) = (segment.environment.clone(), segment.segment.key.clone());
        let file = segment_file(&env, &key);
        check_key(&mut problems, &file, "key", &key);
        if !seen.insert((env.clone(), key.clone())) {
            let message = format!("segment {key:?} of {env:?} is in the document twice");
            problems.push(problem(&file, "key", message));
        }
        if !environments.contains(&env) {
            let message = format!("environment {env:?} is not in the document (project.yaml)");
            problems.push(problem(&file, "environment", message));
        }
        segment.segment.version = 0;
        let stored = live_segments.get(&(env.as_str(), key.as_str())).copied();
        match stored {
            _ if segment.segment.salt.is_empty() => {
                segment.segment.salt = stored.map_or_else(&mut *new_salt, str::to_owned);
            }
            Some(salt) if salt != segment.segment.salt => {
                problems.push(problem(&file, "salt", salt_changed(salt)));
            }
            _ => {}
        }
    }
    problems
}

/// A flag's definition made ready as `POST`/`PUT …/flags` would, except that the document's
/// salt is kept (so a project applied elsewhere buckets every context as before).
fn prepare_spec(
    problems: &mut Vec<Problem>,
    file: &str,
    spec: &mut FlagSpec,
    stored: Option<&FlagSpec>,
    new_salt: &mut dyn FnMut() -> String,
) {
    if let Err(invalid) = normalize_flag_spec(spec) {
        problems.push(problem(file, invalid.field, invalid.message));
    }
    match stored {
        _ if spec.salt.is_empty() => {
            spec.salt = stored.map_or_else(&mut *new_salt, |s| s.salt.clone());
        }
        Some(stored) if stored.salt != spec.salt => {
            problems.push(problem(file, "salt", salt_changed(&stored.salt)));
        }
        _ => {}
    }
    if let Some(stored) = stored
        && stored.dialect != spec.dialect
    {
        let message = "a flag's dialect cannot change (it decides how contexts are bucketed)";
        problems.push(problem(file, "dialect", message));
    }
}

fn salt_changed(salt: &str) -> String {
    format!(
        "the salt cannot change (it would move contexts between variations): it is {salt:?}; \
         leave it as exported, or out"
    )
}

/// The project as the apply leaves it: the document, plus (without `prune`) what the live
/// project has that the document leaves out.
pub(super) fn merged(
    live: Option<&ProjectConfig>,
    desired: &ProjectConfig,
    prune: bool,
) -> ProjectConfig {
    let mut after = desired.clone();
    let Some(live) = live.filter(|_| !prune) else {
        return after;
    };
    for env in &live.environments {
        if !after.environments.iter().any(|e| e.key == env.key) {
            after.environments.push(env.clone());
        }
    }
    for flag in &live.flags {
        match after.flags.iter_mut().find(|f| f.spec.key == flag.spec.key) {
            Some(kept) => {
                for (env, targeting) in &flag.environments {
                    kept.environments
                        .entry(env.clone())
                        .or_insert_with(|| targeting.clone());
                }
            }
            None => after.flags.push(flag.clone()),
        }
    }
    for segment in &live.segments {
        let listed = after
            .segments
            .iter()
            .any(|s| s.environment == segment.environment && s.segment.key == segment.segment.key);
        if !listed {
            after.segments.push(segment.clone());
        }
    }
    after.environments.sort_by(|a, b| a.key.cmp(&b.key));
    after.flags.sort_by(|a, b| a.spec.key.cmp(&b.spec.key));
    after
        .segments
        .sort_by(|a, b| (&a.environment, &a.segment.key).cmp(&(&b.environment, &b.segment.key)));
    after
}

/// Live resources the document leaves out (left alone without `prune`).
pub(super) fn unmanaged(
    project: &str,
    live: Option<&ProjectConfig>,
    desired: &ProjectConfig,
) -> Vec<String> {
    let Some(live) = live else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for env in &live.environments {
        if !desired.environments.iter().any(|e| e.key == env.key) {
            found.push(res::env(project, &env.key));
        }
    }
    for segment in &live.segments {
        let listed = desired
            .segments
            .iter()
            .any(|s| s.environment == segment.environment && s.segment.key == segment.segment.key);
        if !listed {
            found.push(res::segment(
                project,
                &segment.environment,
                &segment.segment.key,
            ));
        }
    }
    for flag in &live.flags {
        match desired.flags.iter().find(|f| f.spec.key == flag.spec.key) {
            None => found.push(res::flag(project, &flag.spec.key)),
            Some(kept) => {
                for env in flag.environments.keys() {
                    if !kept.environments.contains_key(env) {
                        found.push(res::env_flag(project, env, &flag.spec.key));
                    }
                }
            }
        }
    }
    found
}

/// What differs between `live` (`None`: no such project yet) and `after`, in the plan's order:
/// project, environments, segments, flags (definition, then each environment's targeting).
pub(super) fn changes(
    project: &str,
    live: Option<&ProjectConfig>,
    after: &ProjectConfig,
) -> Vec<ResourceChange> {
    let mut changes = Vec::new();
    let empty = ProjectConfig {
        format: CONFIG_FORMAT,
        project: after.project.clone(),
        environments: Vec::new(),
        flags: Vec::new(),
        segments: Vec::new(),
    };
    let (exists, live) = match live {
        Some(live) => (true, live),
        None => (false, &empty),
    };
    let project_value = |c: &ProjectConfig| encode(&c.project);
    let fields = value_fields(
        exists.then(|| project_value(live)),
        Some(project_value(after)),
        &["key"],
    );
    if let Some(action) = action_of(exists, true, &fields) {
        let place = (PROJECT_FILE.to_owned(), res::project(project));
        changes.push(resource_change(
            "project", place, None, project, action, fields,
        ));
    }
    let envs = keyed(&live.environments, &after.environments, |e| e.key.clone());
    for (key, (before, now)) in &envs {
        let fields = value_fields(before.map(encode), now.map(encode), &["key"]);
        if let Some(action) = action_of(before.is_some(), now.is_some(), &fields) {
            let place = (PROJECT_FILE.to_owned(), res::env(project, key));
            changes.push(resource_change(
                "environment",
                place,
                None,
                key,
                action,
                fields,
            ));
        }
    }
    let segments = keyed(&live.segments, &after.segments, |s| {
        (s.environment.clone(), s.segment.key.clone())
    });
    for ((env, key), (before, now)) in &segments {
        let value = |s: &super::document::SegmentConfig| encode(&s.segment);
        let fields = value_fields(before.map(value), now.map(value), &["key", "version"]);
        if let Some(action) = action_of(before.is_some(), now.is_some(), &fields) {
            let place = (segment_file(env, key), res::segment(project, env, key));
            changes.push(resource_change(
                "segment",
                place,
                Some(env),
                key,
                action,
                fields,
            ));
        }
    }
    let specs: BTreeMap<&str, &FlagSpec> = live
        .flags
        .iter()
        .chain(&after.flags)
        .map(|f| (f.spec.key.as_str(), &f.spec))
        .collect();
    let lookup = |key: &str| specs.get(key).copied();
    let flags = keyed(&live.flags, &after.flags, |f| f.spec.key.clone());
    for (key, (before, now)) in &flags {
        let fields = spec_fields(before.map(|f| &f.spec), now.map(|f| &f.spec));
        if let Some(action) = action_of(before.is_some(), now.is_some(), &fields) {
            let place = (flag_file(key), res::flag(project, key));
            changes.push(resource_change("flag", place, None, key, action, fields));
        }
        let Some(spec) = now.or(*before).map(|f| &f.spec) else {
            continue;
        };
        let targeting = |f: &Option<&FlagConfig>, env: &str| -> Option<Targeting> {
            f.and_then(|f| f.environments.get(env)).cloned()
        };
        let mut envs: BTreeSet<&String> = BTreeSet::new();
        envs.extend(before.iter().flat_map(|f| f.environments.keys()));
        envs.extend(now.iter().flat_map(|f| f.environments.keys()));
        for env in envs {
            let (old, new) = (targeting(before, env), targeting(now, env));
            if old == new {
                continue;
            }
            let fields = targeting_changes_with(spec, &lookup, old.as_ref(), new.as_ref());
            let action = action_of(old.is_some(), new.is_some(), &fields).unwrap_or("update");
            let place = (flag_file(key), res::env_flag(project, env, key));
            changes.push(resource_change(
                "targeting",
                place,
                Some(env),
                key,
                action,
                fields,
            ));
        }
    }
    changes
}

/// One resource's change; `place` is its file and its access-control resource.
fn resource_change(
    kind: &str,
    (file, resource): (String, String),
    env: Option<&str>,
    key: &str,
    action: &str,
    fields: Vec<FieldChange>,
) -> ResourceChange {
    ResourceChange {
        resource,
        file,
        kind: kind.to_owned(),
        environment: env.map(str::to_owned),
        key: key.to_owned(),
        action: action.to_owned(),
        fields,
    }
}

/// `create`, `update` or `delete` for a resource that exists before and after as given;
/// `None` when it is unchanged.
fn action_of(before: bool, after: bool, fields: &[FieldChange]) -> Option<&'static str> {
    match (before, after) {
        (false, true) => Some("create"),
        (true, false) => Some("delete"),
        (true, true) if !fields.is_empty() => Some("update"),
        _ => None,
    }
}

/// The items of two sorted lists by key: (before, after).
fn keyed<'a, T, K: Ord>(
    before: &'a [T],
    after: &'a [T],
    key: impl Fn(&T) -> K,
) -> BTreeMap<K, (Option<&'a T>, Option<&'a T>)> {
    let mut map: BTreeMap<K, (Option<&T>, Option<&T>)> = BTreeMap::new();
    for item in before {
        map.entry(key(item)).or_default().0 = Some(item);
    }
    for item in after {
        map.entry(key(item)).or_default().1 = Some(item);
    }
    map
}

fn encode<T: serde::Serialize>(value: &T) -> Value {
    crate::records::encode(value)
}

/// A value in words: text as it is, anything else as compact JSON.
fn words(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The top-level fields of two JSON objects that differ (a field left out is its default, so
/// absent and `null`, `false`, `""` or `[]` are the same); a default value written out is
/// shown as it is, one left out as absent.
fn value_fields(before: Option<Value>, after: Option<Value>, skip: &[&str]) -> Vec<FieldChange> {
    let object = |v: &Option<Value>| match v {
        Some(Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    let (old, new) = (object(&before), object(&after));
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|name| !skip.contains(&name.as_str()))
        .filter_map(|name| {
            let (b, a) = (old.get(name), new.get(name));
            // A default stays in words (`true` → `false`) where the field is written.
            (meaningful(b) != meaningful(a)).then(|| FieldChange {
                field: name.clone(),
                before: b.filter(|v| !v.is_null()).map(words),
                after: a.filter(|v| !v.is_null()).map(words),
            })
        })
        .collect()
}

/// A field's value unless it is its default (absent, `null`, `false`, `""` or `[]`).
fn meaningful(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| {
        !matches!(v, Value::Null | Value::Bool(false))
            && v.as_str() != Some("")
            && v.as_array().is_none_or(|a| !a.is_empty())
    })
}

/// A flag definition's differences; variations by key (`variations[key=on]`).
fn spec_fields(before: Option<&FlagSpec>, after: Option<&FlagSpec>) -> Vec<FieldChange> {
    let mut fields = value_fields(
        before.map(encode),
        after.map(encode),
        &["key", "variations"],
    );
    let variations = |spec: Option<&FlagSpec>| -> Vec<(String, Value)> {
        spec.map(|s| {
            s.variations
                .iter()
                .map(|v| {
                    let mut value = encode(v);
                    if let Some(map) = value.as_object_mut() {
                        map.remove("key");
                    }
                    (v.key.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let (old, new) = (variations(before), variations(after));
    let keys: BTreeSet<&String> = old.iter().chain(&new).map(|(k, _)| k).collect();
    for key in keys {
        let find =
            |list: &[(String, Value)]| list.iter().find(|(k, _)| k == key).map(|(_, v)| words(v));
        let (b, a) = (find(&old), find(&new));
        if b != a {
            fields.push(FieldChange {
                field: format!("variations[key={key}]"),
                before: b,
                after: a,
            });
        }
    }
    let order = |list: &[(String, Value)]| list.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let (old_order, new_order) = (order(&old), order(&new));
    if before.is_some() && after.is_some() && old_order != new_order {
        fields.push(FieldChange {
            field: "variations".into(),
            before: Some(old_order.join(", ")),
            after: Some(new_order.join(", ")),
        });
    }
    fields
}
