//! DPO + LoRA training throughput on preference data: one pass, fixed settings, figures as
//! one JSON line (the same fields as `scripts/reference/trl_dpo_bench.py` prints for TRL).
//!
//!     cargo run --release --example dpo_bench -- --data ../shared/data/navab-hk-sample

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;

use navab::core::{read_navab_dir, ReadOptions};
use navab::lm::{LanguageModel, LoadOptions};
use navab::train::{
    encode_pairs, train, DpoConfig, EncodeOptions, LoraConfig, OptimConfig, Schedule, TrainConfig,
    TrainableModel,
};

/// Train LoRA adapters with DPO for one epoch and print tokens per second.
#[derive(Debug, Parser)]
struct Args {
    /// A NaVAB-layout dataset: every triple becomes a pair (Q, " S", " RS").
    #[arg(long)]
    data: PathBuf,
    /// Model: an HF-layout directory or a .gguf file (dequantized to f32).
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// Pairs per optimizer step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// LoRA rank (α = 2 × rank, on q, k, v, o).
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// Learning rate (constant, no warm-up).
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    /// Passes over the pairs.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Also write the pairs as text JSONL ({"prompt", "chosen", "rejected"}, completions with
    /// their separator) for scripts/reference/trl_dpo_bench.py, then exit.
    #[arg(long)]
    dump_pairs: Option<PathBuf>,
}

/// Peak resident memory of this process in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let items: Vec<_> = read_navab_dir(&args.data, &ReadOptions::default())
        .with_context(|| format!("reading {}", args.data.display()))?
        .items
        .iter()
        .map(|t| t.to_preference())
        .collect();
    if let Some(path) = &args.dump_pairs {
        let sep = EncodeOptions::default().separator;
        let mut text = String::new();
        for item in &items {
            let row = json!({"prompt": item.prompt, "chosen": format!("{sep}{}", item.chosen), "rejected": format!("{sep}{}", item.rejected)});
            text.push_str(&format!("{row}\n"));
        }
        std::fs::write(path, text)?;
        eprintln!("{} pairs written to {}", items.len(), path.display());
        return Ok(());
    }
    let load_start = Instant::now();
    let base = LanguageModel::load(&args.model, &LoadOptions::cpu())?;
    let model = TrainableModel::new(&base)?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let (pairs, skipped) = encode_pairs(base.tokenizer(), &items, &EncodeOptions::default())?;
    let config = TrainConfig {
        lora: LoraConfig {
            rank: args.rank,
            alpha: 2.0 * args.rank as f64,
            ..LoraConfig::default()
        },
        dpo: DpoConfig::default(),
        optim: OptimConfig {
            learning_rate: args.lr,
            warmup_ratio: 0.0,
            schedule: Schedule::Constant,
            ..OptimConfig::default()
        },
        epochs: args.epochs,
        batch_size: args.batch_size,
        grad_accumulation: 1,
        ..TrainConfig::default()
    };
    let outcome = train(&model, &pairs, &config, None, &mut |s| {
        eprintln!(
            "step {}/{}: loss {:.4}, {:.1} s",
            s.step, s.total_steps, s.loss, s.seconds
        );
    })?;
    let tokens: usize = outcome.log.iter().map(|s| s.policy_tokens).sum();
    // Reference log-probs are part of the work (TRL computes them with the adapters off).
    let seconds = outcome.train_seconds + outcome.reference_seconds;
    let figures = json!({
        "tool": "navab-train",
        "pairs": pairs.len(),
        "skipped": skipped.len(),
        "steps": outcome.log.len(),
        "policy_tokens": tokens,
        "seconds": seconds,
        "reference_seconds": outcome.reference_seconds,
        "policy_tokens_per_s": tokens as f64 / seconds,
        "loss_first": outcome.log.first().map(|s| s.loss),
        "loss_last": outcome.log.last().map(|s| s.loss),
        "load_seconds": load_seconds,
        "peak_rss_mib": peak_rss_mib(),
        "threads": rayon_threads(),
    });
    println!("{figures}");
    Ok(())
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
