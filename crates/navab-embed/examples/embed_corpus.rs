//! Embeds a news corpus (JSONL, CSV or a directory of text files) with a sentence-transformers
//! model and writes the vectors as raw little-endian f32 (`OUT.f32`, row-major) plus `OUT.json`
//! (`rows`, `dim`, `ids`, `labels`), printing documents/s and tokens/s.
//!
//! ```text
//! cargo run --release -p navab-embed --example embed_corpus -- \
//!     --corpus PATH/TO/bbc-news.jsonl --out /tmp/bbc/articles
//! cargo run --release -p navab-embed --example embed_corpus -- \
//!     --corpus PATH/TO/bbc-news.jsonl --paragraphs --out /tmp/bbc/paragraphs
//! ```
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use navab_core::{CorpusReader, ReadOptions};
use navab_embed::{CachedEmbedder, EmbedOptions, Embedder, SentenceEmbedder};

#[derive(Parser)]
#[command(
    about = "Embed a news corpus (JSONL, CSV with a header row, or a directory of .txt files) into an f32 matrix"
)]
struct Args {
    /// News corpus: JSONL (each line an object with `--text-field`, optionally id and label
    /// fields), CSV with a header row naming the same fields, or a directory of .txt files.
    #[arg(long)]
    corpus: PathBuf,
    /// sentence-transformers model directory.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    model: PathBuf,
    /// Output prefix: writes PREFIX.f32 and PREFIX.json.
    #[arg(long)]
    out: PathBuf,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Field holding a label (kept in the sidecar for clustering scores).
    #[arg(long, default_value = "category")]
    label_field: String,
    /// Embed each paragraph (blank-line separated) as its own document.
    #[arg(long)]
    paragraphs: bool,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Maximum tokens (default: the model's max_seq_length).
    #[arg(long)]
    max_seq_length: Option<usize>,
    /// Cut texts to this many characters first (the NaVAB authors used 3000).
    #[arg(long)]
    char_limit: Option<usize>,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// dtype: f32, f16, bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Optional cache file: a rerun computes nothing twice.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Batches embedded at once, each worker on its own core (0: one per core on the CPU, one
    /// on a GPU; 1: one batch at a time, its matrix products spread over the cores).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Run candle-transformers' BERT / XLM-R instead of the fused CPU encoder (to compare).
    #[arg(long)]
    unfused: bool,
    /// Embed only the first N documents.
    #[arg(long)]
    limit: Option<usize>,
}

navab_alloc::global_allocator!();

fn main() -> anyhow::Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let loaded = CorpusReader::new(&args.text_field)
        .label(&args.label_field)
        .paragraphs(args.paragraphs)
        .limit(args.limit)
        .read(&args.corpus, &ReadOptions::strict())?;
    let (mut ids, mut labels, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    for doc in loaded.items {
        ids.push(doc.id);
        labels.push(doc.label);
        texts.push(doc.text);
    }
    let options = EmbedOptions {
        device: navab_lm::parse_device(&args.device)?,
        dtype: navab_lm::parse_dtype(&args.dtype)?,
        batch_size: args.batch_size,
        max_seq_length: args.max_seq_length,
        char_limit: args.char_limit,
        normalize: None,
        workers: args.workers,
        fused: !args.unfused,
    };
    let load = Instant::now();
    let model = SentenceEmbedder::load(&args.model, options)?;
    eprintln!(
        "loaded {} in {:.2?}; {} worker(s)",
        model.model_id(),
        load.elapsed(),
        model.workers()
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = model.token_counts(&refs)?.iter().sum();
    let embedder: Box<dyn Embedder> = match &args.cache {
        Some(path) => Box::new(CachedEmbedder::open(model, path)?),
        None => Box::new(model),
    };
    let bar = ProgressBar::new(refs.len() as u64).with_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} docs {per_sec} eta {eta}",
    )?);
    let start = Instant::now();
    let vectors = embedder.embed_with_progress(&refs, &|done| bar.set_position(done as u64))?;
    let secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    println!(
        "{} docs, {} tokens (after truncation) in {:.2} s: {:.1} docs/s, {:.0} tokens/s",
        refs.len(),
        tokens,
        secs,
        refs.len() as f64 / secs,
        tokens as f64 / secs
    );
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut bytes = Vec::with_capacity(vectors.len() * 4);
    for v in vectors.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let f32_path = args.out.with_extension("f32");
    std::fs::File::create(&f32_path)?.write_all(&bytes)?;
    let meta = serde_json::json!({
        "rows": vectors.nrows(), "dim": vectors.ncols(), "model": embedder.model_id(),
        "ids": ids, "labels": labels,
    });
    std::fs::write(
        args.out.with_extension("json"),
        serde_json::to_string(&meta)?,
    )?;
    println!(
        "wrote {} and {}",
        f32_path.display(),
        args.out.with_extension("json").display()
    );
    Ok(())
}
