//! Planted contradictions on the real NaVAB Hong Kong sample, with the relation checks done by
//! an LLM (the embedded SmolLM2 by default, or any OpenAI-compatible endpoint) instead of an
//! oracle: how much of Conflict Reduction's recall and precision survives a real judge.
//!
//! ```text
//! cargo run --release --example conflict_llm -- --data PATH/TO/navab-hk-sample --fraction 0.3 --seed 1 --k 3
//! ```
//! Pool: every statement of the sample, plus the generated reverse statements of a seeded
//! fraction of them (contradictory by construction). Embeddings: all-MiniLM-L6-v2. Prints
//! recall and precision of the planted reverses' removal and the judge's relation counts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use navab::conflict::{reduce_conflicts, Article, ConflictParams, Corpus, Statement};
use navab::core::{read_navab_file, Nation, ReadOptions, StatementSet};
use navab::embed::{EmbedOptions, Embedder, SentenceEmbedder};
use navab::lm::{GenerateOptions, LanguageModel, LoadOptions, LocalChatModel};
use navab::triples::LlmRelationJudge;
use rand::seq::SliceRandom;
use rand::SeedableRng;

#[derive(Parser)]
#[command(about = "Conflict Reduction on planted contradictions with an LLM relation judge")]
struct Args {
    /// Directory with official_/human_statement_result.json, e.g. the NaVAB Hong Kong sample
    /// (navab-hk-sample/).
    #[arg(long)]
    data: PathBuf,
    /// Share of statements whose reverse is planted.
    #[arg(long, default_value_t = 0.3)]
    fraction: f64,
    /// Seed of the planting.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Neighbours per statement sent to the judge.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Local judge model.
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    /// sentence-transformers model for the embeddings.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    embedder: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut triples = Vec::new();
    for set in [StatementSet::Official, StatementSet::Quoted] {
        triples.extend(
            read_navab_file(
                args.data.join(set.file_name()),
                Nation::China,
                set,
                &ReadOptions::strict(),
            )?
            .items,
        );
    }
    let mut chosen: Vec<usize> = (0..triples.len()).collect();
    chosen.shuffle(&mut rand::rngs::StdRng::seed_from_u64(args.seed));
    chosen.truncate((triples.len() as f64 * args.fraction).round() as usize);
    chosen.sort_unstable();
    let mut corpus = Corpus::default();
    for t in &triples {
        corpus.articles.push(Article::new(t.id.clone()));
        corpus.statements.push(
            Statement::new(t.id.clone(), t.statement.clone())
                .with_article(t.id.clone())
                .with_speakers(t.source.clone())
                .with_support(2.0),
        );
    }
    let mut planted = BTreeSet::new();
    for &i in &chosen {
        let t = &triples[i];
        let id = format!("{}/reverse", t.id);
        corpus.statements.push(
            Statement::new(id.clone(), t.reverse_statement.clone()).with_speakers(t.source.clone()),
        );
        planted.insert(id);
    }
    let embedder = SentenceEmbedder::load(&args.embedder, EmbedOptions::default())
        .with_context(|| format!("loading {}", args.embedder.display()))?;
    let texts: Vec<&str> = corpus.statements.iter().map(|s| s.text.as_str()).collect();
    let vectors = embedder.embed(&texts)?;
    let flat: Vec<f32> = vectors.iter().copied().collect();
    let embeddings = corpus.embeddings_from_flat(&flat, vectors.ncols())?;
    let model = LanguageModel::load(&args.model, &LoadOptions::cpu())?;
    let name = model.name().to_string();
    let judge = LlmRelationJudge::new(LocalChatModel::new(
        Arc::new(model),
        GenerateOptions {
            max_new_tokens: 48,
            ..GenerateOptions::default()
        },
    ));
    let params = ConflictParams {
        k: args.k,
        similarity_threshold: 0.3,
        ..ConflictParams::default()
    };
    let start = Instant::now();
    let outcome = reduce_conflicts(&corpus, &embeddings, &judge, &params)?;
    let removed: BTreeSet<String> = outcome
        .report
        .removed
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let hits = removed.intersection(&planted).count();
    println!(
        "{} statements ({} planted reverses), judge {name}, k {}: removed {}, of them planted {hits}; \
         recall {:.3}, precision {:.3}; {:.1} s",
        corpus.statements.len(),
        planted.len(),
        args.k,
        removed.len(),
        hits as f64 / planted.len().max(1) as f64,
        if removed.is_empty() { 1.0 } else { hits as f64 / removed.len() as f64 },
        start.elapsed().as_secs_f64()
    );
    println!(
        "judge relations: {}",
        serde_json::to_string(&outcome.report.relations)?
    );
    Ok(())
}
