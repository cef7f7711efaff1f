//! Evaluate a local language model on NaVAB triples (or MVPBench-style preference data) by
//! multiple-choice perplexity scoring, and write a Table-2-style report.
//!
//!     cargo run --release --example evaluate -- --demo
//!     cargo run --release --example evaluate -- --data NaVAB/ --model path/to/model-dir-or.gguf

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use navab::core::{
    read_navab_dir, read_navab_file, read_preferences_jsonl, read_triples_jsonl, write_navab_dir,
    Loaded, PreferenceFields, PreferenceItem, ReadOptions, StatementSet,
};
use navab::eval::{evaluate, write_reports, EvalOptions, LocalScorer, Method};
use navab::lm::{parse_device, parse_dtype, LanguageModel, LoadOptions};

const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Guess from the path: a directory or *_statement_result.json is NaVAB, *.jsonl of triples
    /// has a `reverse_statement` field, any other *.jsonl is preference data.
    Auto,
    /// The published NaVAB layout (<Nation>/{human,official}_statement_result.json).
    Navab,
    /// JSONL of triples as navab-core writes them.
    Triples,
    /// Preference JSONL (MVPBench-style or LLaMA-Factory DPO): prompt, chosen, rejected, metadata.
    Preferences,
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
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Batches scored at once on separate threads (CPU: one per core is fastest on small
    /// machines; sets RAYON_NUM_THREADS=1 unless you set it).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    workers: u64,
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
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    min_group_size: u64,
    /// Evaluate only the first N items (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Output directory (default: runs/<model name>).
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
    let triples_to_items = |loaded: Loaded<navab::core::Triple>| Loaded {
        items: loaded.items.iter().map(|t| t.to_preference()).collect(),
        skipped: loaded.skipped,
    };
    if args.demo {
        let demo_dir = out_dir.join("demo-data");
        write_navab_dir(&demo_dir, &navab::demo::demo_triples())?;
        eprintln!("demo data written to {}", demo_dir.display());
        return Ok(triples_to_items(read_navab_dir(&demo_dir, &options)?));
    }
    let path = args.data.clone().context("--data is required")?;
    let is_jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let format = match args.format {
        Format::Auto if path.is_dir() => Format::Navab,
        Format::Auto if !is_jsonl => Format::Navab,
        Format::Auto => guess_jsonl_format(&path)?,
        other => other,
    };
    let what = match format {
        Format::Navab => "the NaVAB layout",
        Format::Triples => "JSONL of triples",
        _ => "preference JSONL",
    };
    eprintln!("reading {} as {what}", path.display());
    let context = || {
        format!(
            "reading {} as {what} (pass --format to choose another reader)",
            path.display()
        )
    };
    Ok(match format {
        Format::Navab if path.is_dir() => {
            triples_to_items(read_navab_dir(&path, &options).with_context(context)?)
        }
        Format::Navab => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let set: StatementSet = name.parse().with_context(|| {
                format!(
                    "{}: expected human_statement_result.json or official_statement_result.json",
                    path.display()
                )
            })?;
            let nation = path
                .parent()
                .and_then(|p| p.canonicalize().ok())
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default()
                .parse()
                .unwrap_or_else(|never| match never {});
            triples_to_items(read_navab_file(&path, nation, set, &options).with_context(context)?)
        }
        Format::Triples => {
            triples_to_items(read_triples_jsonl(&path, &options).with_context(context)?)
        }
        Format::Preferences | Format::Auto => {
            read_preferences_jsonl(&path, &options, &PreferenceFields::default())
                .with_context(context)?
        }
    })
}

/// Triples or preferences, from the fields of the first record that parses (bytes that are
/// not UTF-8 are the reader's to report, with their line).
fn guess_jsonl_format(path: &std::path::Path) -> Result<Format> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    for line in std::io::BufReader::new(file).split(b'\n').take(100) {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&line) else {
            continue;
        };
        let has = |k: &str| fields.contains_key(k);
        if has("reverse_statement") || (has("statement") && has("question")) {
            return Ok(Format::Triples);
        }
        if has("chosen") || has("rejected") || has("conversations") {
            return Ok(Format::Preferences);
        }
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        bail!(
            "{}: cannot tell the format from the fields of its first record ({}): triples have \
             question, statement, reverse_statement; preferences have chosen and rejected. \
             Pass --format",
            path.display(),
            keys.join(", ")
        );
    }
    // Nothing parsed: let the preference reader name the first bad line.
    Ok(Format::Preferences)
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
        // Twice the same method would count each item twice and narrow the intervals.
        if methods[..k].contains(m) {
            bail!("--methods lists {m} twice");
        }
    }
    let model_name = args
        .model
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
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
        loaded.items.truncate(limit as usize);
    }
    if loaded.items.is_empty() {
        bail!("no items to evaluate");
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
    let (batch_size, workers) = (args.batch_size as usize, args.workers as usize);
    let scorer = LocalScorer::new(model, batch_size).with_workers(workers);

    let bar = ProgressBar::new(loaded.items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} scoring [{bar:40}] {pos}/{len} items  {per_sec}  eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let eval_options = EvalOptions {
        items_per_call: batch_size * workers,
        ..EvalOptions::default()
    };
    let started = Instant::now();
    let run = evaluate(
        &scorer,
        &loaded.items,
        &methods,
        &eval_options,
        &mut |done, _| bar.set_position(done as u64),
    );
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();

    let min_group_size = args.min_group_size as usize;
    let summary = write_reports(&out_dir, &run, &args.group_by, min_group_size)?;
    println!("{}", summary.text_table());
    println!("{}", summary.markdown_table());
    for field in &args.group_by {
        for report in navab::eval::group_by(&run, field, min_group_size) {
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
