//! The whole NaVAB pipeline, from a news corpus to a benchmark dataset, resumably.
//!
//! ```text
//! scripts/fetch-models.sh
//! # the embedded local model (SmolLM2-135M-Instruct, in-process):
//! cargo run --release --example pipeline -- --corpus ../shared/data/bbc-news.jsonl \
//!     --limit 100 --min-cluster-size 10 --max-extraction-docs 20 --out runs/bbc
//! # any OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, or `--example serve`):
//! OPENAI_API_KEY=... cargo run --release --example pipeline -- --corpus news.jsonl \
//!     --llm-url http://127.0.0.1:8000/v1 --llm-model meta-llama/Meta-Llama-3-8B-Instruct \
//!     --api-key-env OPENAI_API_KEY --out runs/news
//! ```
//! Rerun the same command to resume: finished stages are read back, and LLM calls already
//! answered come from `OUT/llm-cache`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use navab::embed::{CachedEmbedder, EmbedOptions, SentenceEmbedder};
use navab::llm::cache::CachedChatModel;
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::llm::ChatModel;
use navab::lm::{GenerateOptions, LanguageModel, LoadOptions, LocalChatModel};
use navab::pipeline::{run_pipeline, Executor, PipelineConfig, RunReport, StdExecutor};

#[derive(Parser)]
#[command(
    about = "Run NaVAB's pipeline on a JSONL news corpus: embeddings, topics, InsTag, labels, \
             extraction, screening, source judgment, Conflict Reduction, triples, dataset",
    after_help = "Corpus lines: {\"id\", \"text\", \"nation\", \"source\", \"date\", \"place\"} \
                  (only text is required). Outputs in --out: stages/ (one file per stage), \
                  dataset/ (NaVAB layout: <Nation>/{human,official}_statement_result.json), \
                  dpo/ (LLaMA-Factory and TRL files, 80/20 split), verification.csv, \
                  report.md and report.json. Evaluate the dataset with \
                  `cargo run --release --example evaluate -- --data OUT/dataset`."
)]
struct Args {
    /// JSONL news corpus.
    #[arg(long)]
    corpus: PathBuf,
    /// Run directory; rerunning with the same settings resumes.
    #[arg(long, default_value = "runs/pipeline")]
    out: PathBuf,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Field with a ground-truth label, for clustering scores in the report.
    #[arg(long)]
    label_field: Option<String>,
    /// Nation of documents without a `nation` field (China, US, UK, France, Germany, or any).
    #[arg(long, default_value = "UK")]
    nation: String,
    /// Use only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
    /// sentence-transformers directory for embeddings.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    embedder: PathBuf,
    /// HDBSCAN min_cluster_size (authors' code 50, paper 200; use ~10 for 100 documents).
    #[arg(long, default_value_t = 50)]
    min_cluster_size: usize,
    /// HDBSCAN leaf cluster selection instead of eom (finer topics; good for small corpora).
    #[arg(long)]
    leaf: bool,
    /// File with topics to keep, one label or id a line (the authors' hand-picked list).
    #[arg(long)]
    allow_topics: Option<PathBuf>,
    /// Send at most N documents to statement extraction (quick runs).
    #[arg(long)]
    max_extraction_docs: Option<usize>,
    /// Language to write statements in.
    #[arg(long, default_value = "English")]
    statement_language: String,
    /// LLM calls in flight per stage (remote endpoints).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Local model (GGUF file or HF directory) for the LLM steps, when no --llm-url is given.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// Most new tokens per local generation.
    #[arg(long, default_value_t = 160)]
    max_new_tokens: usize,
    /// Base URL of an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1).
    #[arg(long)]
    llm_url: Option<String>,
    /// Model name at that endpoint.
    #[arg(long, default_value = "default")]
    llm_model: String,
    /// Environment variable holding the endpoint's API key (the key is never logged).
    #[arg(long)]
    api_key_env: Option<String>,
}

/// Drives futures on a tokio runtime, for the HTTP backend.
#[derive(Clone)]
struct TokioExecutor(tokio::runtime::Handle);

impl Executor for TokioExecutor {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let mut config = PipelineConfig::new(&args.corpus, &args.out);
    config.text_field = args.text_field.clone();
    config.label_field = args.label_field.clone();
    config.default_nation = args.nation.clone();
    config.limit = args.limit;
    config.topics.hdbscan.min_cluster_size = args.min_cluster_size;
    if args.leaf {
        config.topics.hdbscan.cluster_selection = navab::topics::hdbscan::ClusterSelection::Leaf;
    }
    config.instag.min_frequency = config
        .instag
        .min_frequency
        .min(args.min_cluster_size.max(2));
    config.max_extraction_docs = args.max_extraction_docs;
    config.statement_language = args.statement_language.clone();
    config.concurrency = args.concurrency.max(1);
    if let Some(path) = &args.allow_topics {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config.allow_topics = Some(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        );
    }
    std::fs::create_dir_all(&args.out)?;

    let embedder = SentenceEmbedder::load(
        &args.embedder,
        EmbedOptions {
            char_limit: Some(3000),
            ..EmbedOptions::default()
        },
    )
    .with_context(|| {
        format!(
            "loading {} (run scripts/fetch-models.sh)",
            args.embedder.display()
        )
    })?;
    let embedder = CachedEmbedder::open(embedder, args.out.join("embeddings.cache"))?;

    let report = match &args.llm_url {
        Some(url) => {
            let mut oa = OpenAiConfig::new(url.clone(), args.llm_model.clone());
            if let Some(var) = &args.api_key_env {
                oa = oa.with_api_key_env(var.clone());
            }
            oa.max_concurrency = config.concurrency;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let client = {
                let _guard = runtime.enter();
                OpenAiChatModel::new(oa)?
            };
            let llm = CachedChatModel::open(
                Box::new(client) as Box<dyn ChatModel>,
                args.out.join("llm-cache"),
            )?;
            eprintln!("LLM steps: {url} ({})", args.llm_model);
            run(
                &config,
                &llm,
                &embedder,
                &TokioExecutor(runtime.handle().clone()),
            )?
        }
        None => {
            let model =
                LanguageModel::load(&args.model, &LoadOptions::cpu()).with_context(|| {
                    format!(
                        "loading {} (run scripts/fetch-models.sh)",
                        args.model.display()
                    )
                })?;
            eprintln!("LLM steps: local {} (in-process)", model.name());
            let local = LocalChatModel::new(
                Arc::new(model),
                GenerateOptions {
                    max_new_tokens: args.max_new_tokens,
                    ..GenerateOptions::default()
                },
            );
            let llm = CachedChatModel::open(
                Box::new(local) as Box<dyn ChatModel>,
                args.out.join("llm-cache"),
            )?;
            run(&config, &llm, &embedder, &StdExecutor)?
        }
    };
    println!("{}", report.markdown());
    println!("run directory: {}", args.out.display());
    Ok(())
}

fn run<X: Executor>(
    config: &PipelineConfig,
    llm: &CachedChatModel<Box<dyn ChatModel>>,
    embedder: &CachedEmbedder<SentenceEmbedder>,
    exec: &X,
) -> Result<RunReport> {
    let mut bar: Option<(String, ProgressBar)> = None;
    let style =
        ProgressStyle::with_template("{prefix:>9} {bar:40} {pos}/{len} {per_sec} eta {eta}")?;
    let report = run_pipeline(config, llm, embedder, exec, &mut |stage, done, total| {
        if bar.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            let b = ProgressBar::new(total as u64)
                .with_style(style.clone())
                .with_prefix(stage.to_string());
            bar = Some((stage.to_string(), b));
        }
        if let Some((_, b)) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    });
    if let Some((_, b)) = bar {
        b.finish();
    }
    let stats = llm.stats();
    eprintln!(
        "LLM cache: {} hits, {} misses, {} stored",
        stats.hits, stats.misses, stats.stores
    );
    Ok(report?)
}
