//! c-TF-IDF topic words for the BBC News corpus, using each article's category as its topic.
//!
//! ```text
//! cargo run --release -p navab-topics --example ctfidf_bbc -- --data PATH/TO/bbc-news.jsonl --drop-most-frequent 0
//! ```
//! Prints the top words per category, the representative articles, and the time of each step.
//! `--json FILE` writes the top words and their weights as JSON, for `scripts/reference/ctfidf_ref.py --compare FILE`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use navab_core::{CorpusReader, ReadOptions};
use navab_topics::represent::{CtfidfModel, Language, RepresentParams, ScoredTerm};

/// c-TF-IDF top words per BBC News category.
#[derive(Parser, Debug)]
struct Args {
    /// The corpus: JSONL with `category`, `title` and `text` per line, e.g. the BBC News
    /// corpus (bbc-news.jsonl).
    #[arg(long)]
    data: PathBuf,
    /// Drop the corpus's N most frequent tokens as stop words (the NaVAB authors used 100).
    #[arg(long, default_value_t = 100)]
    drop_most_frequent: usize,
    /// Words per category.
    #[arg(long, default_value_t = 10)]
    top_n: usize,
    /// BM25-style idf.
    #[arg(long)]
    bm25: bool,
    /// Square root of the term frequencies.
    #[arg(long)]
    reduce_frequent_words: bool,
    /// Use the stop words in this file (one a line) instead of NLTK's English list.
    #[arg(long)]
    stop_words: Option<PathBuf>,
    /// Write `{category: [{term, score}]}` as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let start = Instant::now();
    let loaded = CorpusReader::new("text")
        .label("category")
        .read(&args.data, &ReadOptions::strict())?;
    let mut docs = Vec::new();
    let mut categories = Vec::new();
    for doc in loaded.items {
        let (Some(category), Some(title)) = (doc.label, doc.title) else {
            anyhow::bail!(
                "{} line {}: missing category or title",
                args.data.display(),
                doc.line
            );
        };
        categories.push(category);
        docs.push(format!("{title}\n{}", doc.text));
    }
    let names: Vec<String> = categories
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labels: Vec<usize> = categories
        .iter()
        .map(|c| names.binary_search(c).unwrap_or(0))
        .collect();
    let loaded = start.elapsed();

    let mut params = RepresentParams::new(Language::English);
    params.vectorizer.drop_most_frequent = args.drop_most_frequent;
    params.ctfidf.bm25_weighting = args.bm25;
    params.ctfidf.reduce_frequent_words = args.reduce_frequent_words;
    params.top_n_words = args.top_n;
    if let Some(path) = &args.stop_words {
        let list =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        params.vectorizer.remove_stop_words = false;
        params.vectorizer.extra_stop_words = list
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
    }
    let fit_start = Instant::now();
    let model = CtfidfModel::fit(&docs, &labels, &params)?;
    let fitted = fit_start.elapsed();

    let words_start = Instant::now();
    let scored: Vec<Vec<ScoredTerm>> = (0..names.len()).map(|t| model.topic_words(t)).collect();
    let topic_words: Vec<Vec<String>> = scored
        .iter()
        .map(|ws| ws.iter().map(|w| w.term.clone()).collect())
        .collect();
    let repr: Vec<Vec<(usize, f64)>> = (0..names.len())
        .map(|t| model.default_representative_docs(t))
        .collect();
    let words_time = words_start.elapsed();

    println!(
        "{} documents, {} categories, vocabulary {} terms, {} non-zero counts",
        docs.len(),
        names.len(),
        model.vectorizer().vocabulary().len(),
        model.doc_counts().nnz()
    );
    if !model.vectorizer().dropped_frequent().is_empty() {
        let first: Vec<&str> = model
            .vectorizer()
            .dropped_frequent()
            .iter()
            .take(15)
            .map(String::as_str)
            .collect();
        println!(
            "dropped {} most frequent tokens, first: {}",
            model.vectorizer().dropped_frequent().len(),
            first.join(", ")
        );
    }
    for (t, name) in names.iter().enumerate() {
        println!("{name:>13}: {}", topic_words[t].join(", "));
        let titles: Vec<String> = repr[t]
            .iter()
            .take(3)
            .map(|&(d, s)| format!("{:.3} {}", s, docs[d].lines().next().unwrap_or("")))
            .collect();
        println!("{:>13}  representative: {}", "", titles.join(" | "));
    }
    println!(
        "timing: load {:.1} ms, fit (tokenise, vocabulary, counts, c-TF-IDF) {:.1} ms, top words + representative docs {:.1} ms",
        loaded.as_secs_f64() * 1e3,
        fitted.as_secs_f64() * 1e3,
        words_time.as_secs_f64() * 1e3
    );
    if let Some(path) = args.json {
        let map: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&scored)
            .map(|(n, w)| (n.clone(), serde_json::json!(w)))
            .collect();
        std::fs::write(&path, serde_json::to_string_pretty(&map)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
