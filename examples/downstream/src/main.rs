//! Scores one preference item with a local model through `navab-eval`'s public API, as a
//! downstream crate would: `cargo run -- [MODEL]` (default: SmolLM2 fetched by
//! `scripts/fetch-models.sh` into the repository's `models/`).

use std::path::PathBuf;

use navab_core::PreferenceItem;
use navab_eval::{evaluate, EvalOptions, LocalScorer, Method, Summary};
use navab_lm::{LanguageModel, LoadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    });
    let model = LanguageModel::load(&model, &LoadOptions::cpu())
        .map_err(|e| format!("{}: {e} (run scripts/fetch-models.sh)", model.display()))?;
    let item = PreferenceItem {
        id: "downstream/0".into(),
        prompt: "Should cities keep public libraries open on Sundays?".into(),
        chosen: "Yes, libraries should open on Sundays so that working people can use them.".into(),
        rejected: "No, libraries should stay closed on Sundays.".into(),
        metadata: [("country".to_string(), "UK".to_string())].into(),
    };
    let methods: Vec<Method> = vec!["paper".parse()?, "ab-both".parse()?];
    let scorer = LocalScorer::new(model, 4);
    let run = evaluate(&scorer, &[item], &methods, &EvalOptions::default(), &mut |_, _| {});
    if !run.failures.is_empty() {
        return Err(format!("scoring failed: {:?}", run.failures).into());
    }
    for record in &run.records {
        for decision in &record.outcome.decisions {
            for option in &decision.options {
                if !(option.logprob < 0.0 && option.logprob.is_finite()) {
                    return Err(format!("implausible log-probability: {option:?}").into());
                }
            }
        }
    }
    println!("{}", Summary::from_run(&run).text_table());
    Ok(())
}
