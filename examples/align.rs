//! Align a model to a nation's values with DPO + LoRA and show the MC correct rate before and
//! after, on the same held-out items and methods (the NaVAB paper's Section 4.4 / Fig. 6).
//!
//!     cargo run --release --example align -- --data ../shared/data/navab-hk-sample --out runs/align-hk
//!     cargo run --release --example align -- --data mvpbench.jsonl --group-by country

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use navab::core::{
    read_navab_dir, read_preferences_jsonl, read_triples_jsonl, PreferenceFields, PreferenceItem,
    ReadOptions,
};
use navab::eval::{
    compare_runs, evaluate, write_reports, EvalOptions, EvalRun, LocalScorer, Method,
};
use navab::lm::{parse_device, parse_dtype, LanguageModel, LoadOptions};
use navab::train::{
    encode_pairs, merge_into, save_peft, train, DpoConfig, EncodeOptions, LoraConfig, LossKind,
    OptimConfig, RunFiles, Schedule, Target, TrainConfig, TrainableModel,
};
use navab::triples::{split_train_test, Split, SplitParams};

const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Evaluate a model on the test split, train LoRA adapters with DPO on the train split, and
/// evaluate the aligned model on the same items with the same methods.
///
/// Writes into --out: before/ and after/ (the evaluate example's reports), train/ (step log,
/// checkpoints: rerunning resumes), adapter/ (PEFT layout), split.json, and
/// before_after.{md,json,svg}: the rates per group with 95% intervals and the change.
#[derive(Debug, Parser)]
struct Args {
    /// A NaVAB dataset directory, JSONL of triples, or preference JSONL (MVPBench-style or
    /// LLaMA-Factory DPO).
    #[arg(long)]
    data: PathBuf,
    /// An existing split (split.json written with the DPO files: {"train": [ids], "test": [ids]})
    /// instead of a fresh one.
    #[arg(long)]
    split: Option<PathBuf>,
    /// Share of each nation × set group held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Seed of the split, the shuffle and the adapters' initialisation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Skip malformed records (and list them) instead of stopping at the first one.
    #[arg(long)]
    lenient: bool,
    /// Model: an HF-layout directory or a .gguf file.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// cpu, cuda or cuda:N (needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32, or bf16 on a GPU.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Evaluation methods, comma-separated (as the evaluate example's).
    #[arg(long, value_delimiter = ',', default_value = "paper,acc")]
    methods: Vec<String>,
    /// Metadata fields that define the table's groups.
    #[arg(long, value_delimiter = ',', default_value = "nation,set")]
    group_by: Vec<String>,
    /// Items scored at once in evaluation.
    #[arg(long, default_value_t = 8)]
    eval_batch_size: usize,
    /// Training epochs.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    /// Pairs per forward/backward pass.
    #[arg(long, default_value_t = 2)]
    batch_size: usize,
    /// Passes per optimizer step.
    #[arg(long, default_value_t = 8)]
    grad_accum: usize,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// LoRA α (default 2 × rank).
    #[arg(long)]
    alpha: Option<f64>,
    /// LoRA dropout.
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Adapted layers: q,k,v,o,gate,up,down.
    #[arg(long, value_delimiter = ',', default_value = "q,k,v,o")]
    targets: Vec<String>,
    /// DPO β.
    #[arg(long, default_value_t = 0.1)]
    beta: f64,
    /// sigmoid (DPO) or ipo.
    #[arg(long, default_value = "sigmoid")]
    loss: String,
    /// Label smoothing (conservative DPO).
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f64,
    /// cosine, linear or constant.
    #[arg(long, default_value = "cosine")]
    schedule: String,
    /// Share of steps warming up.
    #[arg(long, default_value_t = 0.1)]
    warmup_ratio: f64,
    /// Checkpoint every N optimizer steps.
    #[arg(long, default_value_t = 20)]
    checkpoint_every: usize,
    /// Output directory (default: runs/align-<model name>).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn load_items(path: &Path, lenient: bool) -> Result<Vec<PreferenceItem>> {
    let options = if lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    };
    let loaded = if path.is_dir() {
        let l = read_navab_dir(path, &options)?;
        (
            l.items.iter().map(|t| t.to_preference()).collect(),
            l.skipped.len(),
        )
    } else {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if text
            .lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.contains("\"reverse_statement\""))
        {
            let l = read_triples_jsonl(path, &options)?;
            (
                l.items.iter().map(|t| t.to_preference()).collect(),
                l.skipped.len(),
            )
        } else {
            let l = read_preferences_jsonl(path, &options, &PreferenceFields::default())?;
            (l.items, l.skipped.len())
        }
    };
    let (items, skipped): (Vec<PreferenceItem>, usize) = loaded;
    if skipped > 0 {
        eprintln!("skipped {skipped} malformed records");
    }
    Ok(items)
}

fn split_items(args: &Args, items: &[PreferenceItem]) -> Result<Split<PreferenceItem>> {
    let Some(path) = &args.split else {
        let params = SplitParams {
            test_fraction: args.test_fraction,
            seed: args.seed,
            stratify: true,
        };
        return Ok(split_train_test(items, &params)?);
    };
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path)?)
        .with_context(|| format!("reading {}", path.display()))?;
    let ids = |part: &str| -> Result<std::collections::BTreeSet<String>> {
        let list = json
            .get(part)
            .and_then(Value::as_array)
            .with_context(|| format!("{}: no `{part}` list", path.display()))?;
        Ok(list
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect())
    };
    let (train, test) = (ids("train")?, ids("test")?);
    let split = Split {
        train: items
            .iter()
            .filter(|i| train.contains(&i.id))
            .cloned()
            .collect(),
        test: items
            .iter()
            .filter(|i| test.contains(&i.id))
            .cloned()
            .collect(),
    };
    let missing = train.len() + test.len() - split.train.len() - split.test.len();
    if missing > 0 {
        eprintln!("{missing} ids of {} are not in the data", path.display());
    }
    Ok(split)
}

fn train_config(args: &Args) -> Result<TrainConfig> {
    let targets = args
        .targets
        .iter()
        .map(|t| {
            Target::from_name(t)
                .with_context(|| format!("unknown target `{t}` (q,k,v,o,gate,up,down)"))
        })
        .collect::<Result<Vec<_>>>()?;
    let loss = match args.loss.as_str() {
        "sigmoid" | "dpo" => LossKind::Sigmoid,
        "ipo" => LossKind::Ipo,
        other => bail!("unknown loss `{other}` (sigmoid or ipo)"),
    };
    let schedule = match args.schedule.as_str() {
        "cosine" => Schedule::Cosine,
        "linear" => Schedule::Linear,
        "constant" => Schedule::Constant,
        other => bail!("unknown schedule `{other}` (cosine, linear or constant)"),
    };
    let config = TrainConfig {
        lora: LoraConfig {
            rank: args.rank,
            alpha: args.alpha.unwrap_or(2.0 * args.rank as f64),
            dropout: args.dropout,
            targets,
            seed: args.seed,
        },
        dpo: DpoConfig {
            beta: args.beta,
            loss,
            label_smoothing: args.label_smoothing,
        },
        optim: OptimConfig {
            learning_rate: args.lr,
            warmup_ratio: args.warmup_ratio,
            schedule,
            ..OptimConfig::default()
        },
        epochs: args.epochs,
        batch_size: args.batch_size,
        grad_accumulation: args.grad_accum,
        seed: args.seed,
        checkpoint_every: args.checkpoint_every,
    };
    config.check()?;
    Ok(config)
}

fn run_eval(
    model: LanguageModel,
    items: &[PreferenceItem],
    methods: &[Method],
    args: &Args,
    label: &str,
) -> EvalRun {
    let bar = ProgressBar::new(items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{label:>6} [{{bar:30}}] {{pos}}/{{len}} items {{elapsed}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let scorer = LocalScorer::new(model, args.eval_batch_size);
    let run = evaluate(
        &scorer,
        items,
        methods,
        &EvalOptions::default(),
        &mut |done, _| bar.set_position(done as u64),
    );
    bar.finish();
    run
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let config = train_config(&args)?;
    let methods = Method::parse_list(&args.methods.join(","))?;
    let items = load_items(&args.data, args.lenient)?;
    let split = split_items(&args, &items)?;
    if split.train.is_empty() || split.test.is_empty() {
        bail!(
            "the split has {} train and {} test items: both parts need items",
            split.train.len(),
            split.test.len()
        );
    }
    let options = LoadOptions {
        device: parse_device(&args.device)?,
        dtype: parse_dtype(&args.dtype)?,
        ..LoadOptions::cpu()
    };
    let base = LanguageModel::load(&args.model, &options)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("align-{}", base.name())));
    std::fs::create_dir_all(&out)?;
    let ids = |part: &[PreferenceItem]| part.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    let split_json = serde_json::json!({"data": args.data, "test_fraction": args.test_fraction, "seed": args.seed, "train": ids(&split.train), "test": ids(&split.test)});
    std::fs::write(
        out.join("split.json"),
        serde_json::to_string_pretty(&split_json)? + "\n",
    )?;
    eprintln!(
        "{} items: {} train, {} test; model {}",
        items.len(),
        split.train.len(),
        split.test.len(),
        base.name()
    );

    let before = run_eval(base.clone(), &split.test, &methods, &args, "before");
    write_reports(&out.join("before"), &before, &args.group_by, 1)?;

    let (pairs, skipped) = encode_pairs(base.tokenizer(), &split.train, &EncodeOptions::default())?;
    for s in &skipped {
        eprintln!("not trained on {}: {}", s.id, s.reason);
    }
    let model = TrainableModel::new(&base)?;
    let steps = config.steps_per_epoch(pairs.len()) * config.epochs;
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template(" train [{bar:30}] {pos}/{len} steps {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let outcome = train(
        &model,
        &pairs,
        &config,
        Some(&RunFiles::new(out.join("train"))),
        &mut |s| {
            bar.set_position(s.step as u64);
            bar.set_message(format!(
                "loss {:.4} margin {:+.3} acc {:.2}",
                s.loss, s.reward_margin, s.reward_accuracy
            ));
        },
    )?;
    bar.finish();
    save_peft(
        &outcome.adapters,
        model.config(),
        out.join("adapter"),
        base.name(),
    )?;
    let aligned = merge_into(
        &base,
        &model,
        &outcome.adapters,
        format!("{}+dpo", base.name()),
    )?;

    let after = run_eval(aligned, &split.test, &methods, &args, "after");
    write_reports(&out.join("after"), &after, &args.group_by, 1)?;
    let comparison = compare_runs(&before, &after, &args.group_by);
    let table = comparison.markdown_table();
    std::fs::write(out.join("before_after.md"), &table)?;
    std::fs::write(
        out.join("before_after.json"),
        serde_json::to_string_pretty(&comparison)? + "\n",
    )?;
    let title = format!(
        "{}: MC correct rate before and after DPO (test split)",
        base.name()
    );
    std::fs::write(out.join("before_after.svg"), comparison.svg_plot(&title))?;

    let (first, last) = (outcome.log.first(), outcome.log.last());
    if let (Some(first), Some(last)) = (first, last) {
        // Speed of this call's steps only: a resumed run's earlier steps took no time here.
        let new_steps = &outcome.log[outcome.resumed_from.min(outcome.log.len())..];
        let tokens: usize = new_steps.iter().map(|s| s.policy_tokens).sum();
        let speed = if new_steps.is_empty() {
            "no new steps (resumed at the end)".to_string()
        } else {
            format!(
                "{:.1} policy tokens/s",
                tokens as f64 / outcome.train_seconds.max(1e-9)
            )
        };
        println!(
            "trained {} pairs, {} steps: loss {:.4} -> {:.4}, reward accuracy {:.2} -> {:.2}, {speed}",
            pairs.len(), outcome.log.len(), first.loss, last.loss, first.reward_accuracy, last.reward_accuracy,
        );
    }
    println!("\n{table}");
    println!("written to {}", out.display());
    Ok(())
}
