//! One DPO step's numbers without the update, for `scripts/reference/trl_dpo_check.py`: the
//! loss and rewards of each pair and the gradient of the mean loss with respect to every LoRA
//! tensor, on token ids given from outside (so both tools see the very same sequences).
//!
//!     cargo run --release --example dpo_check -- --model M --adapter A --ids ids.jsonl --out DIR

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::{json, Value};

use navab::lm::{LanguageModel, LoadOptions};
use navab::train::{dpo_gradients, load_peft, save_peft, DpoConfig, EncodedPair, TrainableModel};

/// Compute DPO losses, rewards and LoRA gradients for a batch of tokenized pairs.
#[derive(Debug, Parser)]
struct Args {
    /// Model: an HF-layout directory or a .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// A PEFT LoRA folder.
    #[arg(long)]
    adapter: PathBuf,
    /// JSONL of {"prompt_ids", "chosen_ids", "rejected_ids"}.
    #[arg(long)]
    ids: PathBuf,
    /// DPO β.
    #[arg(long, default_value_t = 0.1)]
    beta: f64,
    /// Output directory: losses.json, and grads/ (the gradients as a PEFT-layout folder).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text =
        std::fs::read_to_string(&args.ids).with_context(|| args.ids.display().to_string())?;
    let ids = |v: &Value, key: &str| -> Result<Vec<u32>> {
        let list = v[key]
            .as_array()
            .with_context(|| format!("no `{key}` list"))?;
        Ok(list
            .iter()
            .filter_map(Value::as_u64)
            .map(|x| x as u32)
            .collect())
    };
    let mut pairs = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let v: Value = serde_json::from_str(line)?;
        pairs.push(EncodedPair {
            id: format!("{i}"),
            prompt: ids(&v, "prompt_ids")?,
            chosen: ids(&v, "chosen_ids")?,
            rejected: ids(&v, "rejected_ids")?,
        });
    }
    let base = LanguageModel::load(&args.model, &LoadOptions::cpu())?;
    let model = TrainableModel::new(&base)?;
    let adapters = load_peft(&model, &args.adapter)?;
    let dpo = DpoConfig {
        beta: args.beta,
        ..DpoConfig::default()
    };
    let step = dpo_gradients(&model, &adapters, &pairs, &dpo)?;
    // Each sequence's summed completion log-probability (chosen, rejected per pair), so that a
    // disagreement can be traced to the policy, the reference or the loss.
    let sums = |lp: candle_core::Tensor| -> Result<Vec<f64>> {
        Ok(lp.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?)
    };
    let policy = sums(model.pair_logprobs(&pairs, Some(&adapters))?)?;
    let reference = sums(model.pair_logprobs(&pairs, None)?)?;
    let (losses, grads) = (step.losses, step.gradients);
    // The gradients go out through the adapter writer, which owns the PEFT names and undoes
    // llama.cpp's row permutation.
    for ((_, var), (_, g)) in adapters.named_vars().iter().zip(&grads) {
        var.set(g)?;
    }
    save_peft(
        &adapters,
        model.config(),
        args.out.join("grads"),
        base.name(),
    )?;
    let n = losses.len() as f64;
    let report = json!({
        "loss": losses.iter().map(|l| l.loss).sum::<f64>() / n,
        "losses": losses.iter().map(|l| l.loss).collect::<Vec<_>>(),
        "chosen_rewards": losses.iter().map(|l| l.chosen_reward).collect::<Vec<_>>(),
        "rejected_rewards": losses.iter().map(|l| l.rejected_reward).collect::<Vec<_>>(),
        "policy_logps": policy,
        "reference_logps": reference,
    });
    std::fs::write(
        args.out.join("losses.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!("{report}");
    Ok(())
}
