//! Which release cohort a served variant identifies on its own, from the flag's current
//! targeting: a span without a context id can be attributed only this way.
//!
//! A running release puts a [`ReleaseLayer`] on one rule or the fallthrough: contexts in its
//! audience get the target variation outside both cohorts, treated contexts get the target,
//! control contexts get the layer's `previous` serving. A variant names the **treated** cohort
//! when the layer's target is the only way the flag can serve it (no audience, no individual
//! target, other rule, off variation or previous serving that can produce it), and the
//! **control** cohort when only the layer's previous serving can produce it. Anything else is
//! ambiguous and answered `None`: unattributed, never guessed.
//!
//! Pure: engine model in, answer out.

use switchyard_engine::model::{Flag, ReleaseLayer, Serve, Targeting};
use switchyard_store::events::ReleaseTag;

/// A layer's weight when every eligible context is treated (units of 0.001 %).
const ALL_TREATED: u32 = 100_000;

/// How a variation can be reached.
#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    /// Outside any release's cohorts: off, a prerequisite failing, an individual target, a
    /// rule or fallthrough without a release, a release's audience.
    Outside,
    Treated(&'a ReleaseLayer),
    Control(&'a ReleaseLayer),
}

impl Path<'_> {
    fn same(self, other: Path<'_>) -> bool {
        match (self, other) {
            (Path::Treated(a), Path::Treated(b)) | (Path::Control(a), Path::Control(b)) => {
                std::ptr::eq(a, b)
            }
            _ => false,
        }
    }
}

/// The release stage and cohort that serving `variant` (a variation key) implies under the
/// flag's current targeting, when only one cohort of one release can serve it.
pub(super) fn release_cohort(flag: &Flag, variant: &str) -> Option<ReleaseTag> {
    let variation = flag.variations.iter().position(|v| v.key == variant)?;
    let mut paths = Vec::new();
    reachable(&flag.targeting, &mut paths);
    let mut serving = paths
        .into_iter()
        .filter(|(v, _)| *v == variation)
        .map(|(_, path)| path);
    let first = serving.next()?;
    if !serving.all(|path| path.same(first)) {
        return None;
    }
    let (layer, cohort) = match first {
        Path::Treated(layer) => (layer, "treated"),
        Path::Control(layer) => (layer, "control"),
        Path::Outside => return None,
    };
    Some(ReleaseTag {
        stage: layer.stage.clone(),
        cohort: cohort.to_owned(),
    })
}

/// Whether a release layer sits on any rule or the fallthrough.
pub(super) fn has_release(targeting: &Targeting) -> bool {
    let layered = |serve: &Serve| matches!(serve, Serve::Release(_));
    targeting.rules.iter().any(|rule| layered(&rule.serve)) || layered(&targeting.fallthrough)
}

/// Every (variation, path) the targeting can serve.
fn reachable<'a>(targeting: &'a Targeting, paths: &mut Vec<(usize, Path<'a>)>) {
    if !targeting.on {
        // Off: the off variation for everyone, whatever the rules say.
        paths.extend(targeting.off_variation.map(|v| (v, Path::Outside)));
        return;
    }
    if !targeting.prerequisites.is_empty() {
        // A failing prerequisite serves the off variation.
        paths.extend(targeting.off_variation.map(|v| (v, Path::Outside)));
    }
    paths.extend(
        targeting
            .targets
            .iter()
            .map(|target| (target.variation, Path::Outside)),
    );
    for rule in &targeting.rules {
        serves(&rule.serve, Path::Outside, paths);
    }
    serves(&targeting.fallthrough, Path::Outside, paths);
}

/// What `serve` can produce, each reached by `path` unless a release layer says otherwise.
fn serves<'a>(serve: &'a Serve, path: Path<'a>, paths: &mut Vec<(usize, Path<'a>)>) {
    match serve {
        Serve::Variation(v) => paths.push((*v, path)),
        Serve::Rollout(rollout) => paths.extend(
            rollout
                .variations
                .iter()
                .filter(|slice| slice.weight > 0)
                .map(|slice| (slice.variation, path)),
        ),
        Serve::Release(layer) => {
            // Nested inside another layer's previous serving, everything this layer serves is
            // that layer's control.
            let inside = |own: Path<'a>| match path {
                Path::Outside => own,
                outer => outer,
            };
            if layer.audience.is_some() {
                paths.push((layer.variation, inside(Path::Outside)));
            }
            if layer.weight > 0 {
                paths.push((layer.variation, inside(Path::Treated(layer))));
            }
            if layer.weight < ALL_TREATED {
                serves(&layer.previous, inside(Path::Control(layer)), paths);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    /// A flag with variations `on`, `off`, `maybe` and the given targeting (JSON).
    fn flag(targeting: serde_json::Value) -> Flag {
        let mut flag = json!({
            "key": "checkout", "kind": "string",
            "variations": [{"key": "on", "value": "on"}, {"key": "off", "value": "off"},
                           {"key": "maybe", "value": "maybe"}],
        });
        for (name, value) in targeting.as_object().unwrap() {
            flag[name] = value.clone();
        }
        serde_json::from_value(flag).unwrap()
    }

    /// A release layer serving `on` to 20 % with `previous` for control.
    fn layer(previous: serde_json::Value) -> serde_json::Value {
        json!({"release": {"stage": "r1.0", "variation": 0, "weight": 20_000, "seed": "s",
                           "previous": previous}})
    }

    fn tag(cohort: &str) -> Option<ReleaseTag> {
        Some(ReleaseTag {
            stage: "r1.0".into(),
            cohort: cohort.into(),
        })
    }

    #[test]
    fn target_and_previous_each_name_their_cohort_when_nothing_else_serves_them() {
        let flag = flag(json!({"on": true, "off_variation": 1,
                               "fallthrough": layer(json!({"variation": 1}))}));
        assert_eq!(release_cohort(&flag, "on"), tag("treated"));
        assert_eq!(release_cohort(&flag, "off"), tag("control"));
        // Never served now: nothing to say.
        assert_eq!(release_cohort(&flag, "maybe"), None);
        // Not a variation at all (an error default).
        assert_eq!(release_cohort(&flag, "nope"), None);
        assert!(has_release(&flag.targeting));
    }

    #[test]
    fn an_audience_makes_the_target_ambiguous_but_not_the_control() {
        let mut with_audience = layer(json!({"variation": 1}));
        with_audience["release"]["audience"] =
            json!({"kind": "user", "attribute": "", "op": "segment_match", "values": ["staff"]});
        let flag = flag(json!({"on": true, "off_variation": 1, "fallthrough": with_audience}));
        assert_eq!(release_cohort(&flag, "on"), None);
        assert_eq!(release_cohort(&flag, "off"), tag("control"));
    }

    #[test]
    fn other_paths_to_the_same_variation_make_it_ambiguous() {
        let fallthrough = layer(json!({"variation": 1}));
        // An individual target serving the release's target.
        let targeted = flag(
            json!({"on": true, "off_variation": 1, "fallthrough": fallthrough,
                                   "targets": [{"variation": 0, "values": ["alice"]}]}),
        );
        assert_eq!(release_cohort(&targeted, "on"), None);
        assert_eq!(release_cohort(&targeted, "off"), tag("control"));
        // Another rule serving the previous variation.
        let ruled = flag(
            json!({"on": true, "off_variation": 2, "fallthrough": fallthrough,
            "rules": [{"id": "de", "condition": {"kind": "user", "attribute": "country",
                       "op": "in", "values": ["de"]}, "serve": {"variation": 1}}]}),
        );
        assert_eq!(release_cohort(&ruled, "on"), tag("treated"));
        assert_eq!(release_cohort(&ruled, "off"), None);
        // A prerequisite that can fail serves the off variation.
        let prerequisite = flag(
            json!({"on": true, "off_variation": 1, "fallthrough": fallthrough,
                                       "prerequisites": [{"key": "other", "variation": 0}]}),
        );
        assert_eq!(release_cohort(&prerequisite, "off"), None);
        assert_eq!(release_cohort(&prerequisite, "on"), tag("treated"));
        // Without prerequisites the off variation is not served while the flag is on.
        let plain = flag(json!({"on": true, "off_variation": 1, "fallthrough": fallthrough}));
        assert_eq!(release_cohort(&plain, "off"), tag("control"));
    }

    #[test]
    fn a_previous_serving_that_can_produce_the_target_makes_it_ambiguous() {
        let split = json!({"rollout": {"variations": [{"variation": 0, "weight": 50_000},
                                                      {"variation": 1, "weight": 50_000}]}});
        let flag = flag(json!({"on": true, "off_variation": 2, "fallthrough": layer(split)}));
        assert_eq!(release_cohort(&flag, "on"), None);
        assert_eq!(release_cohort(&flag, "off"), tag("control"));
        // A slice of weight zero is never served.
        let zero = json!({"rollout": {"variations": [{"variation": 0, "weight": 0},
                                                     {"variation": 1, "weight": 100_000}]}});
        let flag =
            super::tests::flag(json!({"on": true, "off_variation": 2, "fallthrough": layer(zero)}));
        assert_eq!(release_cohort(&flag, "on"), tag("treated"));
    }

    #[test]
    fn a_release_on_a_rule_competes_with_the_fallthrough() {
        let flag = flag(
            json!({"on": true, "off_variation": 2, "fallthrough": {"variation": 1},
            "rules": [{"id": "beta", "condition": {"kind": "user", "attribute": "beta",
                       "op": "in", "values": [true]}, "serve": layer(json!({"variation": 1}))}]}),
        );
        // Contexts outside the rule get `off` from the fallthrough too.
        assert_eq!(release_cohort(&flag, "off"), None);
        assert_eq!(release_cohort(&flag, "on"), tag("treated"));
    }

    #[test]
    fn an_off_flag_or_no_release_names_no_cohort() {
        let off = flag(json!({"on": false, "off_variation": 1,
                              "fallthrough": layer(json!({"variation": 1}))}));
        assert_eq!(release_cohort(&off, "off"), None);
        assert_eq!(release_cohort(&off, "on"), None);
        let plain = flag(json!({"on": true, "off_variation": 1, "fallthrough": {"variation": 0}}));
        assert_eq!(release_cohort(&plain, "on"), None);
        assert!(!has_release(&plain.targeting));
    }

    #[test]
    fn weights_at_the_ends_leave_one_cohort() {
        let mut none_treated = layer(json!({"variation": 1}));
        none_treated["release"]["weight"] = json!(0);
        let flag = flag(json!({"on": true, "off_variation": 1, "fallthrough": none_treated}));
        assert_eq!(release_cohort(&flag, "on"), None);
        assert_eq!(release_cohort(&flag, "off"), tag("control"));
        let mut all_treated = layer(json!({"variation": 1}));
        all_treated["release"]["weight"] = json!(100_000);
        let flag =
            super::tests::flag(json!({"on": true, "off_variation": 1, "fallthrough": all_treated}));
        assert_eq!(release_cohort(&flag, "on"), tag("treated"));
        assert_eq!(release_cohort(&flag, "off"), None);
    }
}
