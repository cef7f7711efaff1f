//! Topics of a news corpus, as BERTopic finds them but faster and reproducibly: embeddings
//! (cached), kNN, UMAP, HDBSCAN, c-TF-IDF words, KeyBERT-style keywords and MMR, and a 2-D map.
//!
//! ```text
//! scripts/fetch-models.sh minilm
//! cargo run --release --example topics -- --corpus PATH/TO/bbc-news.jsonl
//! ```
//! Prints the topics, the time of each stage, the noise fraction and, when the corpus has a
//! label field, the adjusted Rand index and NMI against it; writes `topics.json`,
//! `documents.csv`, `map.svg` and `map.png` to `--out`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use navab::core::{CorpusReader, ReadOptions};
use navab::embed::{CachedEmbedder, EmbedOptions, Embedder, RemoteEmbedder, SentenceEmbedder};
use navab::llm::openai::OpenAiConfig;
use navab::topics::hdbscan::ClusterSelection;
use navab::topics::metrics::{adjusted_rand_index, normalized_mutual_info};
use navab::topics::represent::Language;
use navab::topics::{fit_topics, TopicParams};

#[derive(Parser)]
#[command(
    about = "Find the topics of a news corpus (JSONL, CSV with a header row, or a directory of .txt files)",
    after_help = "Defaults are the NaVAB authors' settings: UMAP 15 neighbours, 5 components, \
                  min_dist 0, cosine, seed 42; HDBSCAN min_cluster_size 50 (the paper says 200), eom; \
                  1-2-gram c-TF-IDF with stop words and the 100 most frequent tokens dropped."
)]
struct Args {
    /// News corpus: JSONL (one object a line with the text field), CSV with a header row, or a
    /// directory of .txt files; e.g. the BBC News corpus (bbc-news.jsonl, 2,225 articles with
    /// a `category`).
    #[arg(long)]
    corpus: PathBuf,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Field holding a ground-truth label (scores printed when present).
    #[arg(long, default_value = "category")]
    label_field: String,
    /// Treat each paragraph (blank-line separated) as a document.
    #[arg(long)]
    paragraphs: bool,
    /// Use only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
    /// sentence-transformers model directory.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    embedder: PathBuf,
    /// Embed through an OpenAI-compatible `/v1/embeddings` server instead (vLLM,
    /// text-embeddings-inference, Ollama, `serve --embedder`), e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    embed_url: Option<String>,
    /// The model name the embeddings server knows (with --embed-url).
    #[arg(long, default_value = "default")]
    embed_model: String,
    /// Environment variable holding the embeddings server's API key (with --embed-url).
    #[arg(long)]
    embed_api_key_env: Option<String>,
    /// Cut texts to this many characters before embedding (the authors: 3000).
    #[arg(long, default_value_t = 3000)]
    char_limit: usize,
    /// Language of stop words and tokenisation: en, fr, de, zh.
    #[arg(long, default_value = "en")]
    language: String,
    /// HDBSCAN min_cluster_size.
    #[arg(long, default_value_t = 50)]
    min_cluster_size: usize,
    /// HDBSCAN min_samples (default: min_cluster_size).
    #[arg(long)]
    min_samples: Option<usize>,
    /// Cluster selection: eom or leaf.
    #[arg(long, default_value = "eom")]
    selection: String,
    /// UMAP seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "runs/topics")]
    out: PathBuf,
    /// Device for the embedder: cpu, cuda.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Embedder dtype: f32, or bf16 (bf16 matrix products on CPUs with AMX or AVX512-BF16;
    /// elsewhere the same cost as f32), f16 on a GPU.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Embedding batches run at once, each worker on its own core (0: one per core on the CPU,
    /// one on a GPU).
    #[arg(long, default_value_t = 0)]
    embed_workers: usize,
}

navab_alloc::global_allocator!();

/// The local sentence-transformers model, or the `--embed-url` server.
fn load_embedder(args: &Args) -> Result<Box<dyn Embedder>> {
    if let Some(url) = &args.embed_url {
        let mut config = OpenAiConfig::new(url.clone(), args.embed_model.clone());
        if let Some(var) = &args.embed_api_key_env {
            config = config.with_api_key_env(var.clone());
        }
        eprintln!("embedding through {url} ({})", args.embed_model);
        return Ok(Box::new(RemoteEmbedder::new(config, 64)?));
    }
    let model = SentenceEmbedder::load(
        &args.embedder,
        EmbedOptions {
            device: navab::lm::parse_device(&args.device)?,
            dtype: navab::lm::parse_dtype(&args.dtype)?,
            char_limit: Some(args.char_limit),
            workers: args.embed_workers,
            ..EmbedOptions::default()
        },
    )
    .with_context(|| {
        format!(
            "loading {} (scripts/fetch-models.sh minilm)",
            args.embedder.display()
        )
    })?;
    Ok(Box::new(model))
}

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let (texts, labels) = read_corpus(&args)?;
    if texts.is_empty() {
        bail!("{}: no documents", args.corpus.display());
    }
    std::fs::create_dir_all(&args.out)?;
    let total = Instant::now();

    let model = load_embedder(&args)?;
    let embedder = CachedEmbedder::open(model, args.out.join("embeddings.cache"))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let bar = ProgressBar::new(refs.len() as u64).with_style(ProgressStyle::with_template(
        "embedding {bar:40} {pos}/{len} docs {per_sec} eta {eta}",
    )?);
    let start = Instant::now();
    let embeddings = embedder.embed_with_progress(&refs, &|done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let embed_time = start.elapsed();
    let stats = embedder.stats();

    let mut params = TopicParams::default();
    params.umap.seed = args.seed;
    params.hdbscan.min_cluster_size = args.min_cluster_size;
    params.hdbscan.min_samples = args.min_samples;
    params.hdbscan.cluster_selection = match args.selection.as_str() {
        "eom" => ClusterSelection::Eom,
        "leaf" => ClusterSelection::Leaf,
        other => bail!("--selection {other}: expected eom or leaf"),
    };
    params.represent =
        navab::topics::represent::RepresentParams::new(Language::from_code(&args.language));
    eprintln!("fitting topics on {} documents ...", refs.len());
    let mut model = fit_topics(&refs, embeddings.view(), &params)?;
    let start = Instant::now();
    model.rerank_keywords(embeddings.view(), |words| {
        embedder.inner().embed(words).map_err(|e| e.to_string())
    })?;
    let keyword_time = start.elapsed();

    println!(
        "{} documents, {} topics, {:.1}% outliers\n",
        refs.len(),
        model.topics.len(),
        100.0 * model.noise_fraction()
    );
    println!(
        "{:>5} {:>6}  {:<60}  KeyBERT + MMR keywords",
        "topic", "size", "c-TF-IDF words"
    );
    for topic in &model.topics {
        let words: Vec<&str> = topic
            .words
            .iter()
            .take(8)
            .map(|w| w.term.as_str())
            .collect();
        let keys: Vec<&str> = topic
            .mmr_keywords
            .iter()
            .take(5)
            .map(|w| w.term.as_str())
            .collect();
        println!(
            "{:>5} {:>6}  {:<60}  {}",
            topic.id,
            topic.size,
            words.join(", "),
            keys.join(", ")
        );
    }
    let t = model.timings;
    println!(
        "\ntimes: embed {:.2}s ({} cached, {} computed), kNN {:.2}s, UMAP {:.2}s, HDBSCAN {:.2}s, \
         c-TF-IDF {:.2}s, keywords {:.2}s, 2-D map {:.2}s; total {:.2}s",
        embed_time.as_secs_f64(),
        stats.hits,
        stats.misses,
        t.knn.as_secs_f64(),
        t.umap.as_secs_f64(),
        t.hdbscan.as_secs_f64(),
        t.represent.as_secs_f64(),
        keyword_time.as_secs_f64(),
        t.map.as_secs_f64(),
        total.elapsed().as_secs_f64()
    );
    for note in &model.notes {
        println!("note: {note}");
    }
    let mut scores = serde_json::Map::new();
    if labels.iter().all(Option::is_some) {
        let truth: Vec<&str> = labels.iter().map(|l| l.as_deref().unwrap_or("")).collect();
        let predicted: Vec<i64> = model
            .labels
            .iter()
            .map(|l| l.map_or(-1, |c| c as i64))
            .collect();
        let ari = adjusted_rand_index(&truth, &predicted)?;
        let nmi = normalized_mutual_info(&truth, &predicted)?;
        println!(
            "against `{}`: ARI {ari:.3}, NMI {nmi:.3} (outliers as one cluster)",
            args.label_field
        );
        scores.insert("ari".into(), ari.into());
        scores.insert("nmi".into(), nmi.into());
    }

    let names: Vec<String> = model
        .topics
        .iter()
        .map(|t| {
            t.words
                .iter()
                .take(4)
                .map(|w| w.term.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    if let Some(map) = &model.map {
        let title = format!(
            "{}: {} documents, {} topics, {:.0}% outliers",
            args.corpus
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            refs.len(),
            model.topics.len(),
            100.0 * model.noise_fraction()
        );
        navab::topics::map::write_map_svg(
            &args.out.join("map.svg"),
            map.view(),
            &model.labels,
            &names,
            &title,
        )?;
        navab::topics::map::write_map_png_labeled(
            &args.out.join("map.png"),
            map.view(),
            &model.labels,
            &names,
            &title,
            900,
        )?;
    }
    let report = serde_json::json!({
        "documents": refs.len(), "noise_fraction": model.noise_fraction(),
        "topics": model.topics, "scores": scores, "timings": model.timings,
    });
    std::fs::write(
        args.out.join("topics.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let mut csv = std::io::BufWriter::new(std::fs::File::create(args.out.join("documents.csv"))?);
    writeln!(csv, "index,topic,probability,label")?;
    for (i, l) in model.labels.iter().enumerate() {
        writeln!(
            csv,
            "{i},{},{:.4},{}",
            l.map_or(-1, |c| c as i64),
            model.probabilities[i],
            labels[i].as_deref().unwrap_or("")
        )?;
    }
    println!(
        "wrote topics.json, documents.csv, map.svg, map.png to {}",
        args.out.display()
    );
    Ok(())
}

/// Texts and labels of the corpus (lenient: bad lines are reported and skipped).
fn read_corpus(args: &Args) -> Result<(Vec<String>, Vec<Option<String>>)> {
    let loaded = CorpusReader::new(&args.text_field)
        .label(&args.label_field)
        .paragraphs(args.paragraphs)
        .limit(args.limit)
        .read(&args.corpus, &ReadOptions::lenient())?;
    for skipped in &loaded.skipped {
        eprintln!("skipping {skipped}");
    }
    Ok(loaded.items.into_iter().map(|d| (d.text, d.label)).unzip())
}
