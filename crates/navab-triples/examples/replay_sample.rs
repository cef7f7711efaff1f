//! Runs source judgment, triple construction, validation and every writer on the real HK sample,
//! replaying the authors' model replies (no model needed), and prints what it wrote.
//!
//! ```bash
//! cargo run -p navab-triples --example replay_sample -- --sample PATH/TO/navab-hk-sample --out runs/hk-triples
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use navab_core::Nation;
use navab_llm::testing::ScriptedChatModel;
use navab_triples::{
    block_on, build_triples, judge_sources, sample_for_verification, validate_all,
    write_dpo_dataset, write_navab, write_sheet_csv, BuildParams, ExtractedStatement, RunParams,
    SplitParams, ValidationParams, VerificationParams,
};
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Replay the authors' replies of the NaVAB HK sample through navab-triples")]
struct Args {
    /// Folder of the sample (`*_statement_result.json` files with `full_source` and
    /// `generated raw data`), e.g. the NaVAB Hong Kong sample (navab-hk-sample/).
    #[arg(long)]
    sample: PathBuf,
    /// Output folder: navab/, dpo/, verification.csv.
    #[arg(long, default_value = "runs/hk-triples")]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut statements = Vec::new();
    let (mut source_replies, mut triple_replies) = (Vec::new(), Vec::new());
    for file in [
        "human_statement_result.json",
        "official_statement_result.json",
    ] {
        let path = args.sample.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let Value::Array(records) = serde_json::from_str(&text)? else {
            bail!("{}: not a JSON array", path.display());
        };
        for (i, r) in records.iter().enumerate() {
            let text_of = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            statements.push(
                ExtractedStatement::new(format!("{file}#{i}"), Nation::China, text_of("statement"))
                    .with_raw_news(text_of("raw_news")),
            );
            source_replies.push(text_of("full_source"));
            triple_replies.push(text_of("generated raw data"));
        }
    }

    let judged = block_on(judge_sources(
        &ScriptedChatModel::new(source_replies),
        &statements,
        &RunParams::default(),
    ))?;
    let built = block_on(build_triples(
        &ScriptedChatModel::new(triple_replies),
        &judged.items,
        &BuildParams::default(),
    ))?;
    let checked = validate_all(&built.triples(), &ValidationParams::default())?;
    println!(
        "{} statements: {} judged ({} failed), {} triples ({} failed), {} kept after validation",
        statements.len(),
        judged.items.len(),
        judged.failures.len(),
        built.items.len(),
        built.failures.len(),
        checked.kept.len()
    );
    for r in &checked.reports {
        let verdict = if r.excluded { "excluded" } else { "kept" };
        println!("  {} ({verdict}): {:?}", r.id, r.issues);
    }

    write_navab(args.out.join("navab"), &checked.kept)?;
    let split = write_dpo_dataset(args.out.join("dpo"), &checked.kept, &SplitParams::default())?;
    let rows = sample_for_verification(&checked.kept, &VerificationParams::default())?;
    write_sheet_csv(args.out.join("verification.csv"), &rows)?;
    println!(
        "wrote {}: navab/ (NaVAB layout), dpo/ ({} train, {} test; LLaMA-Factory + TRL), \
         verification.csv ({} rows)",
        args.out.display(),
        split.train.len(),
        split.test.len(),
        rows.len()
    );
    Ok(())
}
