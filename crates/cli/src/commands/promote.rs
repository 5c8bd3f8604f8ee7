//! Environments side by side: `envs compare FROM TO` prints each flag's differences in words,
//! `flags promote FLAG --from A --to B` copies its targeting (or `--parts` of it) through the
//! API's promote route, which validates, audits and holds it for approval like any targeting
//! write.

use anyhow::Context as _;
use clap::Args;
use serde_json::json;
use switchyard_client::Promoted;
use switchyard_client::types::{EnvironmentComparison, PromoteInput, TargetingPart};

use super::{ClientArgs, Output, print_json};

// (No doc comments on these argument structs: clap would show them as the commands' help.)
#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The environment compared from (`before` in JSON).
    from: String,
    /// The environment compared to (`after` in JSON).
    to: String,
    /// Compare this flag only.
    #[arg(long)]
    flag: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The flag whose targeting is copied.
    flag: String,
    /// The environment to copy from.
    #[arg(long)]
    from: String,
    /// The environment to copy into.
    #[arg(long)]
    to: String,
    /// What to copy, comma-separated: on, off_variation, prerequisites, targets, rules,
    /// fallthrough (default: everything).
    #[arg(long, value_delimiter = ',')]
    parts: Vec<String>,
    /// The version of the target's targeting being replaced (default: the one it is at now).
    #[arg(long)]
    version: Option<i64>,
    #[arg(long)]
    comment: Option<String>,
}

pub(crate) async fn run_compare(args: &ClientArgs, compare: &CompareArgs) -> anyhow::Result<()> {
    let api = args.client();
    let comparison = api
        .compare_environments(
            &args.project,
            &compare.from,
            &compare.to,
            compare.flag.as_deref(),
        )
        .await?;
    if args.output == Output::Json {
        return print_json(&comparison);
    }
    print!("{}", comparison_text(&comparison));
    Ok(())
}

/// The comparison for people: each flag that differs with its differences, then the ones that
/// do not.
fn comparison_text(comparison: &EnvironmentComparison) -> String {
    let (from, to) = (&comparison.from, &comparison.to);
    let width = from.len().max(to.len());
    let mut text = String::new();
    let mut same = Vec::new();
    for flag in &comparison.flags {
        if flag.same {
            same.push(flag.flag.as_str());
            continue;
        }
        let parts: Vec<&str> = flag.parts.iter().map(|p| p.as_str()).collect();
        text.push_str(&format!(
            "{} differs in {} ({from} v{}, {to} v{})\n",
            flag.flag,
            parts.join(", "),
            flag.from_version,
            flag.to_version
        ));
        for change in &flag.differences {
            let side = |words: &Option<String>| words.clone().unwrap_or_else(|| "(none)".into());
            text.push_str(&format!("  {}\n", change.field));
            text.push_str(&format!("    {from:width$}  {}\n", side(&change.before)));
            text.push_str(&format!("    {to:width$}  {}\n", side(&change.after)));
        }
    }
    match same.len() {
        0 => {}
        1 => text.push_str(&format!("the same in {from} and {to}: {}\n", same[0])),
        n => text.push_str(&format!(
            "{n} flags the same in {from} and {to}: {}\n",
            same.join(", ")
        )),
    }
    if comparison.flags.is_empty() {
        text.push_str(&format!("no flags to compare in {from} and {to}\n"));
    }
    if comparison.omitted > 0 {
        text.push_str(&format!(
            "{} flags left out: you may not read them in both environments\n",
            comparison.omitted
        ));
    }
    text
}

pub(crate) async fn run_promote(args: &ClientArgs, promote: &PromoteArgs) -> anyhow::Result<()> {
    let api = args.client();
    let parts = parse_parts(&promote.parts)?;
    let input = PromoteInput {
        from: promote.from.clone(),
        to: promote.to.clone(),
        parts,
        version: promote.version,
        comment: promote.comment.clone(),
    };
    match api
        .promote_flag(&args.project, &promote.flag, &input)
        .await?
    {
        Promoted::Done(view) => {
            if args.output == Output::Table {
                eprintln!(
                    "promoted {} from {} to {} (now version {})",
                    promote.flag, promote.from, promote.to, view.targeting.version
                );
            }
            print_json(&view)
        }
        Promoted::Held(held) => {
            if args.output == Output::Table {
                let id = &held.body.id;
                eprintln!(
                    "the promotion waits for approval as change request {id} \
                     (switchyard change-requests show {id})"
                );
            }
            print_json(&json!({ "change_request": held }))
        }
    }
}

/// `--parts` as the API names them; none given: everything (the server's default).
fn parse_parts(names: &[String]) -> anyhow::Result<Option<Vec<TargetingPart>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let known: Vec<&str> = TargetingPart::ALL.iter().map(|p| p.as_str()).collect();
    names
        .iter()
        .map(|name| {
            serde_json::from_value(json!(name.trim()))
                .with_context(|| format!("unknown part {name:?}: one of {}", known.join(", ")))
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_by_their_api_names() {
        let parts = parse_parts(&["rules".into(), " targets".into()]).unwrap_or_default();
        assert_eq!(
            parts,
            Some(vec![TargetingPart::Rules, TargetingPart::Targets])
        );
        assert_eq!(parse_parts(&[]).ok(), Some(None));
        let error = parse_parts(&["colours".into()]).map(|_| ()).unwrap_err();
        assert!(
            error.to_string().contains("one of on, off_variation"),
            "{error}"
        );
    }
}
