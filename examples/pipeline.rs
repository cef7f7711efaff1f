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
//! answered come from `OUT/llm-cache`. A run whose LLM calls failed exits with status 2 (unless
//! `--allow-failures`); rerunning it retries exactly the failed calls.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use navab::embed::{CachedEmbedder, EmbedOptions, Embedder, RemoteEmbedder, SentenceEmbedder};
use navab::llm::cache::CachedChatModel;
use navab::llm::openai::{OpenAiChatModel, OpenAiConfig};
use navab::llm::ChatModel;
use navab::lm::{GenerateOptions, LanguageModel, LoadOptions, LocalChatModel};
use navab::pipeline::{
    run_pipeline, ConflictScope, Embedders, Executor, PipelineConfig, RunReport, Screening,
    StdExecutor,
};

#[derive(Parser)]
#[command(
    about = "Run NaVAB's pipeline on a news corpus (JSONL, CSV or a directory of .txt files), per nation and in each nation's \
             language: embeddings, topics, InsTag, labels, topic screening, extraction, source \
             judgment, Conflict Reduction within each nation, triples, dataset",
    after_help = "Corpus records (JSONL lines, or CSV columns named in a header row): id, text, \
                  nation, source, language, date, place (only text is required). A directory corpus \
                  is one article per .txt file, its id the file name; --nation, --source and \
                  --language say whose it is. Outputs in --out: stages/ (one file per stage), \
                  dataset/ (NaVAB layout: <Nation>/{human,official}_statement_result.json), \
                  dpo/ (LLaMA-Factory and TRL files, 80/20 split), verification.csv, \
                  maps/<nation>.svg (topic maps), report.md and report.json. Evaluate the dataset with \
                  `cargo run --release --example evaluate -- --data OUT/dataset`."
)]
struct Args {
    /// News corpus: a JSONL file, a CSV file with a header row (name ending in .csv), or a
    /// directory of .txt files, one article each.
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
    /// Source (outlet) of documents without a `source` field, e.g. for a directory corpus.
    #[arg(long)]
    source: Option<String>,
    /// Use only the first N documents (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// sentence-transformers directory for embeddings: `DIR` for every language, or
    /// `LANG=DIR` for one language (repeat: `--embedder zh=models/zh --embedder DIR`).
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    embedder: Vec<String>,
    /// Language of documents whose record has no `language` and whose nation has no known
    /// language (China, Hong Kong, Taiwan zh; US, UK en; France fr; Germany de).
    #[arg(long, default_value = "en")]
    language: String,
    /// A nation's language, `NATION=CODE` (repeat), e.g. `--nation-language Canada=fr`.
    #[arg(long)]
    nation_language: Vec<String>,
    /// Embed through an OpenAI-compatible `/v1/embeddings` server instead (vLLM,
    /// text-embeddings-inference, Ollama), e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    embed_url: Option<String>,
    /// The model name the embeddings server knows (with --embed-url).
    #[arg(long, default_value = "default")]
    embed_model: String,
    /// HDBSCAN min_cluster_size (authors' code 50, paper 200; use ~10 for 100 documents).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(2..))]
    min_cluster_size: u64,
    /// HDBSCAN leaf cluster selection instead of eom (finer topics; good for small corpora).
    #[arg(long)]
    leaf: bool,
    /// File with topics to keep, one label or id a line (the authors' hand-picked list).
    #[arg(long)]
    allow_topics: Option<PathBuf>,
    /// Send at most N documents to statement extraction (quick runs; at least 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_extraction_docs: Option<u64>,
    /// Write every statement in this language (default: each in its news' language, as the
    /// paper does).
    #[arg(long)]
    statement_language: Option<String>,
    /// Where value screening runs: topics (the paper's: each topic against the value-topic
    /// sets), statements (each extracted statement), or both.
    #[arg(long, value_enum, default_value_t = ScreeningArg::Topics)]
    screening: ScreeningArg,
    /// File with the value-topic sets to screen topics against, one a line (default: politics,
    /// law and rights, elections, sovereignty, social and economic policy, ethics, ...).
    #[arg(long)]
    value_topics: Option<PathBuf>,
    /// Model topics per source (outlet) within each nation.
    #[arg(long)]
    topics_per_source: bool,
    /// Ablation: leave HDBSCAN's outliers unplaced (no InsTag).
    #[arg(long)]
    no_instag: bool,
    /// Ablation: keep every judged statement (no Conflict Reduction).
    #[arg(long)]
    no_conflict_reduction: bool,
    /// One Conflict Reduction graph per nation, or per nation and source.
    #[arg(long, value_enum, default_value_t = ScopeArg::Nation)]
    conflict_scope: ScopeArg,
    /// LLM calls in flight per stage (remote endpoints).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
    /// Local model (GGUF file or HF directory) for the LLM steps, when no --llm-url is given.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// Most new tokens per local generation.
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u64).range(1..))]
    max_new_tokens: u64,
    /// Base URL of an OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1).
    #[arg(long)]
    llm_url: Option<String>,
    /// Model name at that endpoint.
    #[arg(long, default_value = "default")]
    llm_model: String,
    /// Environment variable holding the endpoint's API key (the key is never logged).
    #[arg(long)]
    api_key_env: Option<String>,
    /// Exit with status 0 even when LLM calls failed (the report still counts them).
    #[arg(long)]
    allow_failures: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScreeningArg {
    Topics,
    Statements,
    Both,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScopeArg {
    Nation,
    Source,
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
    // Retries and backoffs of the HTTP client, one line each (RUST_LOG overrides).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "navab_llm=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut config = PipelineConfig::new(&args.corpus, &args.out);
    config.text_field = args.text_field.clone();
    config.label_field = args.label_field.clone();
    config.default_nation = args.nation.clone();
    config.default_source = args.source.clone();
    config.limit = args.limit.map(|n| n as usize);
    let min_cluster_size = args.min_cluster_size as usize;
    config.topics.hdbscan.min_cluster_size = min_cluster_size;
    if args.leaf {
        config.topics.hdbscan.cluster_selection = navab::topics::hdbscan::ClusterSelection::Leaf;
    }
    config.instag.min_frequency = config.instag.min_frequency.min(min_cluster_size);
    config.max_extraction_docs = args.max_extraction_docs.map(|n| n as usize);
    config.statement_language = args.statement_language.clone();
    config.languages.default = args.language.clone();
    for pair in &args.nation_language {
        let (nation, code) = pair
            .split_once('=')
            .with_context(|| format!("--nation-language {pair}: expected NATION=CODE"))?;
        config
            .languages
            .by_nation
            .insert(nation.trim().to_lowercase(), code.trim().to_string());
    }
    config.screening = match args.screening {
        ScreeningArg::Topics => Screening::Topics,
        ScreeningArg::Statements => Screening::Statements,
        ScreeningArg::Both => Screening::Both,
    };
    if let Some(path) = &args.value_topics {
        config.value_topics = read_lines(path)?;
    }
    config.topics_per_source = args.topics_per_source;
    config.run_instag = !args.no_instag;
    config.run_conflict_reduction = !args.no_conflict_reduction;
    config.conflict_scope = match args.conflict_scope {
        ScopeArg::Nation => ConflictScope::Nation,
        ScopeArg::Source => ConflictScope::Source,
    };
    config.concurrency = args.concurrency as usize;
    if let Some(path) = &args.allow_topics {
        config.allow_topics = Some(read_lines(path)?);
    }
    if args.llm_url.is_none() {
        // The local model's replies depend on these too; an endpoint's model id says the rest.
        config.llm_settings = serde_json::json!({ "max_new_tokens": args.max_new_tokens });
    }
    // Settings, corpus and --out are checked before any model loads (seconds each).
    config.check()?;

    let embedders = load_embedders(&args)?;
    let mut embedder_set = Embedders::new(&embedders[0].1);
    for (language, e) in &embedders[1..] {
        embedder_set = embedder_set.with(language, e);
    }

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
            let client = Arc::new({
                let _guard = runtime.enter();
                OpenAiChatModel::new(oa)?
            });
            let llm = CachedChatModel::open(
                Box::new(client.clone()) as Box<dyn ChatModel>,
                args.out.join("llm-cache"),
            )?;
            eprintln!("LLM steps: {url} ({})", args.llm_model);
            run(
                &config,
                &llm,
                embedder_set,
                &TokioExecutor(runtime.handle().clone()),
                &|| client.stats().retries,
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
                    max_new_tokens: args.max_new_tokens as usize,
                    ..GenerateOptions::default()
                },
            );
            let llm = CachedChatModel::open(
                Box::new(local) as Box<dyn ChatModel>,
                args.out.join("llm-cache"),
            )?;
            run(&config, &llm, embedder_set, &StdExecutor, &|| 0)?
        }
    };
    println!("{}", report.markdown());
    println!("run directory: {}", args.out.display());
    if report.failed_calls > 0 && !args.allow_failures {
        eprintln!(
            "error: {} LLM calls failed; the run is incomplete. Rerun the same command to retry \
             them (answered calls come from the cache), or pass --allow-failures to accept it.",
            report.failed_calls
        );
        std::process::exit(2);
    }
    Ok(())
}

fn run<X: Executor>(
    config: &PipelineConfig,
    llm: &CachedChatModel<Box<dyn ChatModel>>,
    embedders: Embedders<'_>,
    exec: &X,
    retries: &(dyn Fn() -> u64 + Sync),
) -> Result<RunReport> {
    let mut bar: Option<(String, ProgressBar)> = None;
    let style =
        ProgressStyle::with_template("{prefix:>9} {bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")?;
    let report = run_pipeline(config, llm, embedders, exec, &mut |stage, done, total| {
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
            match retries() {
                0 => {}
                n => b.set_message(format!("({n} retries)")),
            }
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

/// The non-blank lines of a file, trimmed.
fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// An embedder with its on-disk cache.
type Cached = CachedEmbedder<Box<dyn Embedder>>;

/// The embedders of `--embedder` (or `--embed-url`), each with its own cache: the default first
/// (language `*`), then one per `LANG=DIR`.
fn load_embedders(args: &Args) -> Result<Vec<(String, Cached)>> {
    let mut default = PathBuf::from("models/all-MiniLM-L6-v2");
    let mut specs: Vec<(String, PathBuf)> = Vec::new();
    for spec in &args.embedder {
        match spec.split_once('=') {
            Some((lang, dir)) if !lang.is_empty() && !lang.contains(['/', '\\']) => {
                specs.push((lang.trim().to_string(), PathBuf::from(dir)));
            }
            _ => default = PathBuf::from(spec),
        }
    }
    specs.insert(0, ("*".into(), default));
    let mut out = Vec::new();
    for (k, (language, dir)) in specs.into_iter().enumerate() {
        let embedder: Box<dyn Embedder> = match &args.embed_url {
            Some(url) if k == 0 => {
                let mut oa = OpenAiConfig::new(url.clone(), args.embed_model.clone());
                if let Some(var) = &args.api_key_env {
                    oa = oa.with_api_key_env(var.clone());
                }
                eprintln!("embeddings: {url} ({})", args.embed_model);
                Box::new(RemoteEmbedder::new(oa, 64)?)
            }
            _ => {
                let options = EmbedOptions {
                    char_limit: Some(3000),
                    ..EmbedOptions::default()
                };
                let model = SentenceEmbedder::load(&dir, options).with_context(|| {
                    format!("loading {} (run scripts/fetch-models.sh)", dir.display())
                })?;
                eprintln!("embeddings ({language}): {}", dir.display());
                Box::new(model)
            }
        };
        let cache = match k {
            0 => args.out.join("embeddings.cache"),
            _ => args.out.join(format!("embeddings-{language}.cache")),
        };
        out.push((language, CachedEmbedder::open(embedder, cache)?));
    }
    Ok(out)
}
