//! `switchyard import`: a native, LaunchDarkly or Unleash data file into one environment.

use anyhow::Context as _;
use serde_json::json;
use switchyard_client::types::{FlagInput, FlagSpec, SegmentView, TargetingInput};
use switchyard_engine::Segment;

use super::{ClientArgs, Output};

/// Replaces the segment (at its current version) or creates it when the API says it is absent.
pub(super) async fn put_segment(
    args: &ClientArgs,
    env: &str,
    segment: &Segment,
    comment: Option<&str>,
) -> anyhow::Result<SegmentView> {
    let api = args.client();
    let project = args.project.as_str();
    Ok(match api.segment(project, env, &segment.key).await {
        Ok(current) => {
            let version = current.segment.version as i64;
            api.update_segment(project, env, segment, version, comment)
                .await?
        }
        Err(absent) if absent.is_not_found() => {
            api.create_segment(project, env, segment, comment).await?
        }
        Err(error) => return Err(error.into()),
    })
}

/// Replaces the flag's definition (at its current version) or creates it when absent.
async fn put_flag(args: &ClientArgs, spec: FlagSpec) -> anyhow::Result<()> {
    let api = args.client();
    let project = args.project.as_str();
    let mut input = FlagInput {
        spec,
        version: None,
        comment: None,
    };
    match api.flag(project, &input.spec.key).await {
        Ok(current) => {
            input.version = Some(current.version);
            // Archiving is the lifecycle routes' business: a re-import keeps the flag's state.
            input.spec.archived = current.spec.archived;
            api.update_flag(project, &input.spec.key, &input).await?;
        }
        Err(absent) if absent.is_not_found() => {
            api.create_flag(project, &input).await?;
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// Loads a data file (native, LaunchDarkly or Unleash) into a project and one of its
/// environments: segments, then every flag's definition, then every flag's targeting (so
/// prerequisites and segment references resolve). Existing flags and segments are replaced.
pub(crate) async fn run_import(
    args: &ClientArgs,
    data: &crate::eval::DataArgs,
    env: &str,
) -> anyhow::Result<()> {
    let dataset = crate::eval::load(data)?;
    let api = args.client();
    let project = args.project.as_str();
    for segment in &dataset.segments {
        put_segment(args, env, segment, None)
            .await
            .with_context(|| format!("segment {}", segment.key))?;
    }
    for flag in &dataset.flags {
        // The project-level definition: the flag without one environment's targeting.
        let mut spec = serde_json::to_value(flag)?;
        let targeting = serde_json::to_value(&flag.targeting)?;
        if let (Some(spec), Some(targeting)) = (spec.as_object_mut(), targeting.as_object()) {
            spec.retain(|field, _| !targeting.contains_key(field) && field != "version");
        }
        let mut spec: FlagSpec = serde_json::from_value(spec)?;
        // The environment's off variation becomes the flag's, by key. A flag whose origin
        // serves the caller's default when off (LaunchDarkly's `offVariation: null`) has none.
        spec.off_variation = (flag.targeting.off_variation)
            .and_then(|index| flag.variations.get(index))
            .map(|variation| variation.key.clone());
        put_flag(args, spec)
            .await
            .with_context(|| format!("flag {}", flag.key))?;
    }
    for flag in &dataset.flags {
        let current = api.targeting(project, env, &flag.key).await?;
        let input = TargetingInput {
            targeting: flag.targeting.clone(),
            version: Some(current.targeting.version),
            comment: None,
        };
        api.update_targeting(project, env, &flag.key, &input)
            .await
            .with_context(|| format!("targeting of flag {}", flag.key))?;
    }
    let summary = json!({
        "project": args.project,
        "environment": env,
        "flags": dataset.flags.len(),
        "segments": dataset.segments.len(),
    });
    if args.output == Output::Json {
        println!("{summary}");
    } else {
        println!(
            "imported {} flags and {} segments into {}/{env}",
            dataset.flags.len(),
            dataset.segments.len(),
            args.project
        );
    }
    Ok(())
}
