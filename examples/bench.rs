//! Scoring throughput on the NaVAB sample: items/s and tokens/s per method and batch size.
//!
//!     cargo run --release --example bench -- --data PATH/TO/navab-hk-sample --dump runs/bench-requests
//!     scripts/reference/bench_hf.py runs/bench-requests   # HF transformers on the same texts
//!
//! Tokens are counted as the full sequences a naive scorer would run (context + option, per
//! option), so the figure compares directly with a reference that scores every text whole.
//!
//! `--synthetic-seq LEN` times raw scoring instead: random token ids, every sequence LEN tokens,
//! batches of `--batch-sizes`, one JSON line per batch size (tokens/s). It needs no data and
//! suits models with random weights made from a config (scripts/reference/make_random_lm.py):
//!
//!     cargo run --release --example bench -- --model DIR --synthetic-seq 128 --batch-sizes 8,32

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use navab::core::{read_navab_dir, ReadOptions};
use navab::eval::{evaluate, EvalOptions, LocalScorer, Method};
use navab::lm::{parse_device, parse_dtype, LanguageModel, LoadOptions};

#[derive(Debug, Parser)]
struct Args {
    /// NaVAB data to score: a folder in the published layout (`*_statement_result.json`), e.g.
    /// the NaVAB Hong Kong sample (navab-hk-sample/).
    #[arg(long, required_unless_present = "synthetic_seq")]
    data: Option<PathBuf>,
    /// Model directory or GGUF file.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// Methods to time, one at a time.
    #[arg(long, value_delimiter = ',', default_value = "ab-first,paper")]
    methods: Vec<String>,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batch_sizes: Vec<usize>,
    /// Worker threads to time (batches scored at once; see `LocalScorer::with_workers`). Run
    /// with RAYON_NUM_THREADS=1 so that each worker's matrix products stay on one core.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    workers: Vec<usize>,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Write the scored texts per method here (JSONL), for scripts/reference/bench_hf.py.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Time random sequences of exactly this many tokens instead of the NaVAB items.
    #[arg(long, conflicts_with = "data", value_parser = clap::value_parser!(u32).range(2..))]
    synthetic_seq: Option<u32>,
    /// Timed repetitions per batch size with `--synthetic-seq` (after one warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let options = LoadOptions {
        device: parse_device(&args.device)?,
        dtype: parse_dtype(&args.dtype)?,
        ..LoadOptions::cpu()
    };
    let model = LanguageModel::load(&args.model, &options).context("loading the model")?;
    if let Some(seq) = args.synthetic_seq {
        return synthetic(&model, &args, seq as usize);
    }
    let data = args.data.as_ref().context("--data is required")?;
    let triples = read_navab_dir(data, &ReadOptions::default())?.items;
    let items: Vec<_> = triples.iter().map(|t| t.to_preference()).collect();
    println!(
        "model {} on {} ({}), {} items, {} cores, RAYON_NUM_THREADS={}",
        model.name(),
        args.device,
        args.dtype,
        items.len(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "(unset)".into())
    );
    println!(
        "{:<10} {:>5} {:>7} {:>9} {:>10} {:>12}",
        "method", "batch", "workers", "seconds", "items/s", "tokens/s"
    );
    for name in &args.methods {
        let method: Method = name.parse()?;
        let texts: Vec<String> = items
            .iter()
            .flat_map(|item| {
                method
                    .plan(item)
                    .requests()
                    .map(|r| format!("{}{}", r.context, r.continuation))
                    .collect::<Vec<_>>()
            })
            .collect();
        let tokens: usize = texts
            .iter()
            .map(|t| model.tokenizer().encode(t, true).map(|e| e.ids.len()))
            .sum::<navab::lm::Result<usize>>()?;
        if let Some(dir) = &args.dump {
            std::fs::create_dir_all(dir)?;
            let mut out = std::io::BufWriter::new(std::fs::File::create(
                dir.join(format!("{method}.jsonl")),
            )?);
            for text in &texts {
                serde_json::to_writer(&mut out, &serde_json::json!({ "text": text }))?;
                writeln!(out)?;
            }
        }
        for (&batch, &workers) in args
            .batch_sizes
            .iter()
            .flat_map(|b| args.workers.iter().map(move |w| (b, w)))
        {
            let scorer = LocalScorer::new(model.clone(), batch).with_workers(workers);
            let eval_options = EvalOptions {
                // Enough items per call for every worker to get batches.
                items_per_call: batch.max(1) * workers.max(1) * 2,
                ..EvalOptions::default()
            };
            // Warm-up: allocations, thread pools.
            evaluate(
                &scorer,
                &items[..2.min(items.len())],
                &[method],
                &eval_options,
                &mut |_, _| {},
            );
            let started = Instant::now();
            let run = evaluate(&scorer, &items, &[method], &eval_options, &mut |_, _| {});
            let seconds = started.elapsed().as_secs_f64();
            anyhow::ensure!(
                run.failures.is_empty(),
                "scoring failed: {:?}",
                run.failures.first()
            );
            println!(
                "{:<10} {:>5} {:>7} {:>9.2} {:>10.2} {:>12.0}",
                method.to_string(),
                batch,
                workers,
                seconds,
                items.len() as f64 / seconds,
                tokens as f64 / seconds
            );
        }
    }
    Ok(())
}

/// Scoring throughput on random ids: `batch` sequences of `seq` tokens per call.
fn synthetic(model: &LanguageModel, args: &Args, seq: usize) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let vocab = model.config().vocab_size as u32;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for &batch in &args.batch_sizes {
        anyhow::ensure!(batch > 0, "batch sizes must be at least 1");
        let seqs: Vec<Vec<u32>> = (0..batch)
            .map(|_| (0..seq).map(|_| rng.random_range(0..vocab)).collect())
            .collect();
        // Warm-up: kernel loading, allocations.
        model.token_logprobs(&seqs)?;
        let started = Instant::now();
        for _ in 0..args.repeats {
            model.token_logprobs(&seqs)?;
        }
        let seconds = started.elapsed().as_secs_f64() / f64::from(args.repeats);
        println!(
            "{}",
            serde_json::json!({
                "bench": "score",
                "tool": "navab",
                "model": model.name(),
                "device": args.device,
                "dtype": args.dtype,
                "seq": seq,
                "batch": batch,
                "seconds": seconds,
                "tokens_per_s": (batch * seq) as f64 / seconds,
            })
        );
    }
    Ok(())
}
