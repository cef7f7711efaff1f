//! Evaluate a local language model on NaVAB triples (or MVPBench-style preference data) by
//! multiple-choice perplexity scoring, and write a Table-2-style report.
//!
//!     cargo run --release --example evaluate -- --demo
//!     cargo run --release --example evaluate -- --data NaVAB/ --model path/to/model-dir-or.gguf
//!     cargo run --release --example evaluate -- --data NaVAB/ \
//!         --model-url http://127.0.0.1:8000/v1 --model-name meta-llama/Llama-3.1-8B-Instruct

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use navab::core::{
    read_items, resolve_format, write_navab_dir, DataFormat, Loaded, PreferenceItem, ReadOptions,
};
use navab::eval::{
    evaluate_resumable, write_reports, EvalOptions, LocalScorer, Method, RemoteScorer,
    RemoteScorerConfig, Scorer,
};
use navab::lm::{parse_device, parse_dtype, LanguageModel, LoadOptions};

const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Guess from the path: a directory or *_statement_result.json is NaVAB, another *.json a
    /// JSON array of preference records (our LLaMA-Factory DPO files), *.jsonl of triples has a
    /// `reverse_statement` field, any other *.jsonl is preference data.
    Auto,
    /// The published NaVAB layout (<Nation>/{human,official}_statement_result.json).
    Navab,
    /// JSONL of triples as navab-core writes them.
    Triples,
    /// Preference JSONL (MVPBench-style or LLaMA-Factory DPO): prompt, chosen, rejected, metadata.
    Preferences,
    /// A JSON array of preference records (the LLaMA-Factory DPO file the pipeline writes).
    PreferencesJson,
}

impl From<Format> for DataFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Auto => DataFormat::Auto,
            Format::Navab => DataFormat::Navab,
            Format::Triples => DataFormat::Triples,
            Format::Preferences => DataFormat::Preferences,
            Format::PreferencesJson => DataFormat::PreferencesJson,
        }
    }
}

/// Score a language model's alignment with national values on NaVAB data.
///
/// Each item is a question Q with a statement S (the nation's stance) and its reverse RS; the
/// model is right when it finds S more likely than RS. Results: correct rate per nation, statement
/// set and method with 95% intervals, position bias for A/B prompts, item-level JSONL, CSV, JSON
/// and a Markdown table shaped like the NaVAB paper's Table 2.
#[derive(Debug, Parser)]
#[command(after_help = METHODS_HELP)]
struct Args {
    /// Evaluate the built-in demo set (30 triples over the five nations, written by this project).
    #[arg(long, conflicts_with = "data")]
    demo: bool,
    /// Data to evaluate: a NaVAB dataset directory, one *_statement_result.json, or a JSONL file.
    #[arg(long, required_unless_present = "demo")]
    data: Option<PathBuf>,
    /// How to read --data.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Skip malformed records (and list them) instead of stopping at the first one.
    #[arg(long)]
    lenient: bool,
    /// Model: an HF-layout directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Score through an OpenAI-compatible server instead of a local model: its base URL (vLLM:
    /// http://HOST:8000/v1; this project's `serve` example: http://127.0.0.1:8080/v1). Uses
    /// `/v1/completions` with echo + logprobs, --batch-size prompts per request and --workers
    /// requests in flight, each retried on 429, 5xx and dropped connections.
    #[arg(long, requires = "model_name")]
    model_url: Option<String>,
    /// The model name the server knows (with --model-url).
    #[arg(long)]
    model_name: Option<String>,
    /// Environment variable holding the server's API key (with --model-url).
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// A tokenizer.json to use instead of the model's own (a GGUF's is rebuilt from the file).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Methods, comma-separated (see below).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "paper,ab-swap,ab-both,acc-norm"
    )]
    methods: Vec<String>,
    /// Items (their prompts) run through the model at once (at least 1).
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    batch_size: usize,
    /// Batches scored at once on separate threads (CPU: one per core is fastest on small
    /// machines; sets RAYON_NUM_THREADS=1 unless you set it).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    workers: usize,
    /// cpu, cuda or cuda:N (needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// GGUF: keep matrices quantized (less memory, much slower on CPU prompts).
    #[arg(long)]
    keep_quantized: bool,
    /// Also report rates per value of these metadata fields (e.g. country,age,gender).
    #[arg(long, value_delimiter = ',')]
    group_by: Vec<String>,
    /// Groups smaller than this are left out of the best-to-worst spread.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    min_group_size: usize,
    /// Evaluate only the first N items (at least 1).
    #[arg(long, value_parser = at_least_one)]
    limit: Option<usize>,
    /// Output directory (default: runs/<model name>). Rerunning into it resumes: items already
    /// in its progress.jsonl are not scored again.
    #[arg(long)]
    out: Option<PathBuf>,
}

const METHODS_HELP: &str = "Methods:
  paper      the paper's: Q, then \"My answer is S\" vs \"My answer is RS\"; lower perplexity wins
  paper-seq  the same, perplexity over the whole text (what the authors' code compares)
  ab-first   A/B multiple-choice prompt with S always at A (rewards always answering A)
  ab-swap    A/B prompt with S and RS swapped on a deterministic half (authors' code)
  ab-both    A/B prompt in both orders; an item is right only if right in both
  acc        lm-evaluation-harness acc: higher log-likelihood of \" S\" vs \" RS\"
  acc-norm   lm-evaluation-harness acc_norm: log-likelihood per character
  Add -seq to ab-* for whole-sequence perplexity.

Models: run scripts/fetch-models.sh once for the default (SmolLM2-135M-Instruct).";

fn load_items(args: &Args, out_dir: &std::path::Path) -> Result<Loaded<PreferenceItem>> {
    let options = if args.lenient {
        ReadOptions::lenient()
    } else {
        ReadOptions::default()
    };
    if args.demo {
        let demo_dir = out_dir.join("demo-data");
        write_navab_dir(&demo_dir, &navab::demo::demo_triples())?;
        eprintln!("demo data written to {}", demo_dir.display());
        return Ok(read_items(&demo_dir, DataFormat::Navab, &options)?);
    }
    let path = args.data.clone().context("--data is required")?;
    let format = resolve_format(&path, args.format.into())?;
    eprintln!("reading {} as {}", path.display(), format.describe());
    read_items(&path, format, &options).with_context(|| {
        format!(
            "reading {} as {} (pass --format to choose another reader)",
            path.display(),
            format.describe()
        )
    })
}

/// A count that must be at least 1 (0 would mean "nothing" or "forever").
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The local model, or the `--model-url` server.
fn make_scorer(args: &Args) -> Result<Box<dyn Scorer>> {
    if let Some(url) = &args.model_url {
        let name = args
            .model_name
            .clone()
            .context("--model-url needs --model-name")?;
        let mut config =
            RemoteScorerConfig::new(url.clone(), name).with_batching(args.batch_size, args.workers);
        if let Some(var) = &args.api_key_env {
            let key = std::env::var(var)
                .with_context(|| format!("--api-key-env {var}: the variable is not set"))?;
            config = config.with_api_key(key);
        }
        eprintln!("scoring through {} ({})", config.endpoint(), config.model);
        return Ok(Box::new(RemoteScorer::new(config)?));
    }
    let options = LoadOptions {
        device: parse_device(&args.device)?,
        dtype: parse_dtype(&args.dtype)?,
        dequantize: !args.keep_quantized,
        tokenizer: args.tokenizer.clone(),
        ..LoadOptions::cpu()
    };
    let started = Instant::now();
    let model = LanguageModel::load(&args.model, &options)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    eprintln!(
        "model {} ({:?}, {} layers, vocab {}) loaded in {:.1}s",
        model.name(),
        model.config().architecture,
        model.config().num_layers,
        model.config().vocab_size,
        started.elapsed().as_secs_f64()
    );
    Ok(Box::new(
        LocalScorer::new(model, args.batch_size).with_workers(args.workers),
    ))
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    if args.workers > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Before any thread exists: each worker's matrix products then stay on its own core.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let methods: Vec<Method> = args
        .methods
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, _>>()?;
    if methods.is_empty() {
        bail!("no methods given");
    }
    for (k, m) in methods.iter().enumerate() {
        // The same method twice would count each item twice and narrow the intervals.
        if methods[..k].contains(m) {
            bail!("--methods lists {m} twice");
        }
    }
    let model_name = match (&args.model_url, &args.model_name) {
        // A hub-style name (org/model) becomes one path component.
        (Some(_), Some(name)) => name.replace(['/', '\\', ':'], "_"),
        _ => args
            .model
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into()),
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&model_name));

    // Before any data or model is read: an unwritable --out fails now, not after the run.
    let probe = out_dir.join(".write-check");
    std::fs::create_dir_all(&out_dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("--out {} is not writable", out_dir.display()))?;

    let mut loaded = load_items(&args, &out_dir)?;
    for skipped in &loaded.skipped {
        eprintln!("skipped {skipped}");
    }
    if let Some(limit) = args.limit {
        loaded.items.truncate(limit);
    }
    if loaded.items.is_empty() {
        bail!("no items to evaluate");
    }

    let scorer = make_scorer(&args)?;
    let bar = ProgressBar::new(loaded.items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} scoring [{bar:40}] {pos}/{len} items  {per_sec}  eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let eval_options = EvalOptions {
        items_per_call: args.batch_size * args.workers,
        ..EvalOptions::default()
    };
    let started = Instant::now();
    // Item results go to progress.jsonl as they finish; rerunning the same command into the
    // same --out scores only what is missing (a crash loses at most the call in flight).
    let run = evaluate_resumable(
        scorer.as_ref(),
        &loaded.items,
        &methods,
        &eval_options,
        &out_dir.join("progress.jsonl"),
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();

    let summary = write_reports(&out_dir, &run, &args.group_by, args.min_group_size)?;
    println!("{}", summary.text_table());
    println!("{}", summary.markdown_table());
    for field in &args.group_by {
        for report in navab::eval::group_by(&run, field, args.min_group_size) {
            println!("by {field} ({}):", report.method);
            for (group, rate) in &report.groups {
                println!("  {group:<24} {:.3}  (n={})", rate.rate, rate.n);
            }
            if let Some(s) = &report.spread {
                println!(
                    "  spread: {:.3} (best {} {:.3}, worst {} {:.3})",
                    s.gap, s.best.0, s.best.1, s.worst.0, s.worst.1
                );
            }
        }
    }
    if !run.failures.is_empty() {
        eprintln!(
            "{} item(s) could not be scored; see items.jsonl",
            run.failures.len()
        );
    }
    if let Some(reason) = &run.stopped_early {
        eprintln!("stopped early: {reason}");
    }
    println!(
        "{} items x {} methods in {:.1}s ({:.2} items/s); results in {}",
        loaded.items.len(),
        methods.len(),
        seconds,
        loaded.items.len() as f64 / seconds,
        out_dir.display()
    );
    Ok(())
}
