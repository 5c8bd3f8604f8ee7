//! `experiments results ID --env ENV`: an experiment's results as the results page reads them
//! (`docs/experiments.md`, "Reading the results"): warnings first, then each metric's verdict in
//! words and its numbers per variation; `--output json` prints the API's answer as it is.

use clap::{Args, Subcommand};
use serde_json::Value;
use switchyard_client::Method;

use super::{ClientArgs, Output, print_json};

/// `switchyard experiments …`. Only `results` lives here; the commands that manage experiment
/// documents join this enum.
#[derive(Debug, Subcommand)]
pub(crate) enum ExperimentsCommand {
    /// An experiment's results for its current phase: sample-ratio and data-quality warnings
    /// first, then per metric the verdict in words, each variation's lift with its interval and
    /// evidence, and (fixed horizon) the units and days the MDE needs.
    Results(ResultsArgs),
    /// List, create, show, start, stop, ship, and metric definitions (`experiments.rs`).
    #[command(flatten)]
    Manage(super::experiments::ManageCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ResultsArgs {
    /// The experiment's id.
    id: String,
    #[arg(long)]
    env: String,
}

pub(crate) async fn run_experiments(
    args: &ClientArgs,
    command: &ExperimentsCommand,
) -> anyhow::Result<()> {
    match command {
        ExperimentsCommand::Results(results) => {
            run_experiment_results(args, &results.env, &results.id).await
        }
        ExperimentsCommand::Manage(command) => super::experiments::run_manage(args, command).await,
    }
}

/// Prints the results of experiment `id` in `env`.
async fn run_experiment_results(args: &ClientArgs, env: &str, id: &str) -> anyhow::Result<()> {
    let path = format!(
        "/api/v1/projects/{}/environments/{env}/experiments/{id}/results",
        args.project
    );
    let (status, answer) = args.client().call(Method::GET, &path, None).await?;
    if !status.is_success() {
        let message = answer["error"]["message"]
            .as_str()
            .map_or_else(|| answer.to_string(), str::to_owned);
        anyhow::bail!("{status}: {message}");
    }
    if args.output == Output::Json {
        return print_json(&answer);
    }
    print!("{}", render(&answer));
    Ok(())
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A p-value with four decimals, or "< 0.0001".
fn p_text(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

fn percent(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(String::new, |v| format!("{:+.1} %", v * 100.0))
}

/// The results as a person reads them: header, warnings, units, then one block per metric.
fn render(results: &Value) -> String {
    let mut out = format!(
        "Experiment {} ({}) on flag {}: {}, phase {}, {} (alpha {}{})\n",
        text(&results["name"]),
        text(&results["experiment"]),
        text(&results["flag"]),
        text(&results["state"]),
        text(&results["phase"]),
        text(&results["method"]).replace('_', " "),
        text(&results["alpha"]),
        if results["cuped"] == Value::Bool(true) {
            ", CUPED"
        } else {
            ""
        },
    );
    let empty = Vec::new();
    let list = |v: &Value| v.as_array().unwrap_or(&empty).clone();
    for warning in list(&results["warnings"]) {
        out.push_str(&format!("WARNING: {}\n", text(&warning)));
    }
    let units: Vec<String> = list(&results["units"])
        .iter()
        .map(|u| {
            format!(
                "{} {} (planned {:.1} %)",
                text(&u["variation"]),
                text(&u["units"]),
                u["expected_percent"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    out.push_str(&format!(
        "Units: {}; excluded {}, over the bound {}",
        units.join(", "),
        text(&results["excluded"]),
        text(&results["overflow"])
    ));
    match results["srm"]["p_value"].as_f64() {
        Some(p) => out.push_str(&format!("; sample ratio p {}\n", p_text(p))),
        None => out.push('\n'),
    }
    for metric in list(&results["metrics"]) {
        out.push_str(&format!(
            "\n{} ({}, {}, {})\n  {}\n",
            text(&metric["name"]),
            text(&metric["role"]),
            text(&metric["kind"]),
            text(&metric["direction"]).replace('_', " "),
            text(&metric["verdict"])
        ));
        for variation in list(&metric["variations"]) {
            let lift = &variation["lift"];
            let relative = &lift["relative"];
            let evidence = if !lift["chance_to_beat_control"].is_null() {
                format!(
                    "chance to beat control {:.1} %",
                    lift["chance_to_beat_control"].as_f64().unwrap_or(0.0) * 100.0
                )
            } else if let Some(p) = lift["adjusted_p_value"].as_f64() {
                format!("adjusted p {}", p_text(p))
            } else if let Some(p) = lift["p_value"].as_f64() {
                format!("p {}", p_text(p))
            } else {
                String::new()
            };
            let interval = if relative.is_null() {
                String::new()
            } else {
                format!(
                    "  lift {} [{}, {}]  {evidence}",
                    percent(&relative["estimate"]),
                    percent(&relative["low"]),
                    percent(&relative["high"])
                )
            };
            out.push_str(&format!(
                "  {}: {} units, mean {:.4}{interval}\n",
                text(&variation["variation"]),
                text(&variation["units"]),
                variation["mean"].as_f64().unwrap_or(0.0),
            ));
        }
        let size = &metric["sample_size"];
        if !size.is_null() {
            let days = match (size["days"].as_u64(), size["remaining_days"].as_u64()) {
                (Some(days), Some(left)) => {
                    format!(", about {days} days at the current rate ({left} to go)")
                }
                _ => String::new(),
            };
            out.push_str(&format!(
                "  Sample size for a {:.1} % MDE: {} units per variation ({} in all){days}\n",
                size["mde"].as_f64().unwrap_or(0.0) * 100.0,
                text(&size["units_per_variation"]),
                text(&size["total_units"]),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn results_read_warnings_first_then_each_metric_in_words() {
        let results = json!({
            "experiment": "1a2b", "name": "New checkout", "flag": "new-checkout",
            "state": "running", "phase": 1, "method": "fixed_horizon", "alpha": 0.05,
            "cuped": true, "control": "a",
            "units": [{"variation": "a", "units": 5210, "expected_percent": 50.0},
                      {"variation": "b", "units": 4790, "expected_percent": 50.0}],
            "excluded": 3, "overflow": 0, "srm": {"p_value": 0.00003, "trustworthy": false},
            "trustworthy": false,
            "warnings": ["Sample ratio mismatch (p < 0.001): …"],
            "metrics": [{"metric": "checkout", "name": "checkout", "role": "primary",
                "kind": "proportion", "direction": "increase_is_good",
                "verdict": "b raised checkout by 5.0 % [1.8 %, 8.2 %], p = 0.002.",
                "variations": [
                    {"variation": "a", "units": 5210, "mean": 0.5, "lift": null},
                    {"variation": "b", "units": 4790, "mean": 0.525, "lift": {
                        "relative": {"estimate": 0.05, "low": 0.018, "high": 0.082},
                        "absolute": {"estimate": 0.025, "low": 0.009, "high": 0.041},
                        "p_value": 0.002, "adjusted_p_value": 0.002}}],
                "sample_size": {"mde": 0.05, "power": 0.8, "units_per_variation": 6272,
                    "total_units": 12544, "days": 7, "remaining_days": 2}}],
            "cumulative": []
        });
        let text = render(&results);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Experiment New checkout (1a2b) on flag new-checkout: running, phase 1, \
             fixed horizon (alpha 0.05, CUPED)"
        );
        assert_eq!(lines[1], "WARNING: Sample ratio mismatch (p < 0.001): …");
        assert_eq!(
            lines[2],
            "Units: a 5210 (planned 50.0 %), b 4790 (planned 50.0 %); excluded 3, over the \
             bound 0; sample ratio p < 0.0001"
        );
        assert_eq!(lines[4], "checkout (primary, proportion, increase is good)");
        assert_eq!(
            lines[5],
            "  b raised checkout by 5.0 % [1.8 %, 8.2 %], p = 0.002."
        );
        assert_eq!(lines[6], "  a: 5210 units, mean 0.5000");
        assert_eq!(
            lines[7],
            "  b: 4790 units, mean 0.5250  lift +5.0 % [+1.8 %, +8.2 %]  adjusted p 0.0020"
        );
        assert_eq!(
            lines[8],
            "  Sample size for a 5.0 % MDE: 6272 units per variation (12544 in all), about 7 \
             days at the current rate (2 to go)"
        );
    }
}
