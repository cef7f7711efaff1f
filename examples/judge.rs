//! Answer-judgment (AJ) evaluation: the model under test answers each question in its own
//! words, a judge model says whether the answer is closer to the statement or its reverse.
//!
//! ```text
//! # offline, everything local (SmolLM2-135M answers and judges: a smoke test, not a verdict):
//! cargo run --release --example judge -- --demo --limit 10
//! # the model under test local, a strong judge behind any OpenAI-compatible endpoint:
//! cargo run --release --example judge -- --data path/to/NaVAB --model path/to/model.gguf \
//!     --judge-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-72B-Instruct --judge-key-env JUDGE_KEY
//! ```
//! `--trials 3` runs AJ three times (sampled answers, temperature 0.7 unless `--temperature`
//! says otherwise, seed + t for trial t) and reports each cell's mean and standard deviation,
//! as the paper averages three trials.
//! Writes `OUT/aj_items.jsonl` and `OUT/aj_summary.json`; LLM calls are cached in `OUT/llm-cache`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use navab::core::{read_items, write_navab_dir, DataFormat, ReadOptions};
use navab::eval::judge::{evaluate_aj_trials, AjOptions, AjRun, AjSummary, AjTrialsSummary};
use navab::llm::cache::CachedChatModel;
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::llm::ChatModel;
use navab::lm::{GenerateOptions, LanguageModel, LoadOptions, LocalChatModel};

#[derive(Parser)]
#[command(
    about = "Answer-judgment (AJ) evaluation of a model on NaVAB triples or preference data, with an LLM judge"
)]
struct Args {
    /// NaVAB dataset directory or *_statement_result.json, JSONL of triples, preference JSONL
    /// (MVPBench-style: prompt/question, chosen, rejected) or a LLaMA-Factory DPO JSON array,
    /// read as `evaluate` reads them.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use the built-in demo triples instead of --data.
    #[arg(long)]
    demo: bool,
    /// Evaluate only the first N items.
    #[arg(long)]
    limit: Option<usize>,
    /// Model under test, local (GGUF or HF directory), when no --model-url is given.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// Model under test behind an OpenAI-compatible endpoint.
    #[arg(long)]
    model_url: Option<String>,
    /// Its model name.
    #[arg(long, default_value = "default")]
    model_name: String,
    /// Environment variable with the model endpoint's API key.
    #[arg(long)]
    model_key_env: Option<String>,
    /// Judge behind an OpenAI-compatible endpoint; without it the local model judges too.
    #[arg(long)]
    judge_url: Option<String>,
    /// The judge's model name.
    #[arg(long, default_value = "default")]
    judge_model: String,
    /// Environment variable with the judge endpoint's API key.
    #[arg(long)]
    judge_key_env: Option<String>,
    /// Seed of the per-item reference order and of the answers' sampling (trial t uses seed + t).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run AJ this many times and report each cell's mean accuracy and its spread (the paper
    /// averages three trials).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    trials: u64,
    /// Sampling temperature of the model under test's answers; default 0 (greedy) for one
    /// trial, 0.7 for several, so that the trials' answers differ.
    #[arg(long)]
    temperature: Option<f32>,
    /// Output directory.
    #[arg(long, default_value = "runs/aj")]
    out: PathBuf,
}

fn remote(url: &str, model: &str, key_env: &Option<String>) -> Result<Box<dyn ChatModel>> {
    let mut config = OpenAiConfig::new(url, model);
    if let Some(var) = key_env {
        config = config.with_api_key_env(var.clone());
    }
    Ok(Box::new(OpenAiChatModel::new(config)?))
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let mut items = if args.demo {
        let dir = args.out.join("demo-data");
        write_navab_dir(&dir, &navab::demo::demo_triples())?;
        read_items(&dir, DataFormat::Navab, &ReadOptions::default())?.items
    } else {
        let path = args.data.clone().context("--data or --demo is required")?;
        read_items(&path, DataFormat::Auto, &ReadOptions::default())
            .with_context(|| format!("reading {}", path.display()))?
            .items
    };
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _guard = runtime.enter();
    let local = || -> Result<Box<dyn ChatModel>> {
        let model = LanguageModel::load(&args.model, &LoadOptions::cpu()).with_context(|| {
            format!(
                "loading {} (run scripts/fetch-models.sh)",
                args.model.display()
            )
        })?;
        Ok(Box::new(LocalChatModel::new(
            Arc::new(model),
            GenerateOptions {
                max_new_tokens: 160,
                ..GenerateOptions::default()
            },
        )))
    };
    let model = match &args.model_url {
        Some(url) => remote(url, &args.model_name, &args.model_key_env)?,
        None => local()?,
    };
    let judge = match &args.judge_url {
        Some(url) => remote(url, &args.judge_model, &args.judge_key_env)?,
        None => local()?,
    };
    let model = CachedChatModel::open(model, args.out.join("llm-cache/model"))?;
    let judge = CachedChatModel::open(judge, args.out.join("llm-cache/judge"))?;
    let bar = ProgressBar::new(items.len() as u64).with_style(ProgressStyle::with_template(
        "judging {bar:40} {pos}/{len} items eta {eta}",
    )?);
    let trials = args.trials as usize;
    let mut options = AjOptions {
        seed: args.seed,
        ..AjOptions::default()
    };
    let temperature = args
        .temperature
        .unwrap_or(if trials > 1 { 0.7 } else { 0.0 });
    options.answer_sampling.temperature = Some(temperature);
    let runs = runtime.block_on(evaluate_aj_trials(
        &model,
        &judge,
        &items,
        &options,
        trials,
        &mut |done, _| bar.set_position(done as u64),
    ));
    bar.finish_and_clear();
    write_results(&args.out, &runs)
}

/// Prints the tables and writes `aj_items.jsonl` (a `trial` field on each record) and
/// `aj_summary.json` (one trial: its summary; several: the mean and spread over trials, and
/// each trial's summary).
fn write_results(out: &Path, runs: &[AjRun]) -> Result<()> {
    let mut items = std::io::BufWriter::new(std::fs::File::create(out.join("aj_items.jsonl"))?);
    for (trial, run) in runs.iter().enumerate() {
        for failure in run.failures.iter().take(5) {
            eprintln!(
                "failed (trial {trial}): {} at {}: {}",
                failure.item_id, failure.stage, failure.reason
            );
        }
        for record in &run.records {
            let mut line = serde_json::to_value(record)?;
            line["trial"] = trial.into();
            serde_json::to_writer(&mut items, &line)?;
            writeln!(items)?;
        }
    }
    items.flush()?;
    let per_trial: Vec<AjSummary> = runs.iter().map(AjSummary::from_run).collect();
    let summary = if let [one] = per_trial.as_slice() {
        println!("{}", one.markdown_table());
        serde_json::to_value(one)?
    } else {
        let trials = AjTrialsSummary::from_runs(runs);
        println!("{}", trials.markdown_table());
        serde_json::json!({"trials": trials, "per_trial": per_trial})
    };
    std::fs::write(
        out.join("aj_summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    println!(
        "wrote aj_items.jsonl and aj_summary.json to {}",
        out.display()
    );
    Ok(())
}
