//! Prints the per-token log-probabilities of texts under a model, as JSON lines
//! `{"text", "ids", "logprobs"}` (`logprobs[i]` is log p(ids[i+1] | ids[..=i])).
//! Used with scripts/reference/compare_logprobs.py to check against HF transformers.
//!
//!     cargo run --release --example logprobs -- --model DIR_OR_GGUF --text "Hello there" > ours.jsonl

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

use navab::core::{CorpusReader, ReadOptions};
use navab::lm::{parse_device, parse_dtype, LanguageModel, LoadOptions};

#[derive(Debug, Parser)]
struct Args {
    /// Model directory or GGUF file.
    #[arg(long)]
    model: PathBuf,
    /// A tokenizer.json to use instead of the model's own.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Texts to score (repeatable).
    #[arg(long)]
    text: Vec<String>,
    /// JSONL file of {"text": ...} lines to score.
    #[arg(long)]
    texts: Option<PathBuf>,
    /// f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// cpu, cuda or cuda:N (needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Score all texts as one padded batch instead of one at a time.
    #[arg(long)]
    batched: bool,
}

navab_alloc::global_allocator!();

fn main() -> Result<()> {
    navab_alloc::keep_freed_memory();
    let args = Args::parse();
    let mut texts = args.text.clone();
    if let Some(path) = &args.texts {
        let loaded = CorpusReader::new("text").read(path, &ReadOptions::strict())?;
        texts.extend(loaded.items.into_iter().map(|d| d.text));
    }
    let options = LoadOptions {
        device: parse_device(&args.device)?,
        dtype: parse_dtype(&args.dtype)?,
        tokenizer: args.tokenizer.clone(),
        ..LoadOptions::cpu()
    };
    let model = LanguageModel::load(&args.model, &options)?;
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| model.tokenizer().encode(t, true).map(|e| e.ids))
        .collect::<navab::lm::Result<_>>()?;
    let logprobs = if args.batched {
        model.token_logprobs(&ids)?
    } else {
        ids.iter()
            .map(|s| {
                model
                    .token_logprobs(std::slice::from_ref(s))
                    .map(|mut v| v.remove(0))
            })
            .collect::<navab::lm::Result<_>>()?
    };
    let mut out = std::io::stdout().lock();
    for ((text, ids), lp) in texts.iter().zip(&ids).zip(&logprobs) {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({ "text": text, "ids": ids, "logprobs": lp }),
        )?;
        writeln!(out)?;
    }
    Ok(())
}
